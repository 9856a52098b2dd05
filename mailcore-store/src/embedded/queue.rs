//! The outbound queue ([`QueueStore`]).
//!
//! Leases are taken by the single writer thread, so two callers can never lease one entry;
//! a lease is held by its owner until released or taken over by someone else after it expired.

use async_trait::async_trait;
use mailcore::address::ReversePath;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::mail::{blob_id, insert_blob};
use super::{Db, Embedded, corrupt};
use crate::blob::BlobId;
use crate::error::{Result, StoreError};
use crate::queue::{
    NewQueueEntry, QueueEntry, QueueId, QueueRecipient, QueueStore, RecipientStatus,
};

const ENTRY_SELECT: &str =
    "SELECT id, sender, recipients, blob, size, created, next_attempt FROM queue";

type EntryRow = (i64, String, String, [u8; 32], u64, i64, i64);

fn entry_row(r: &Row<'_>) -> rusqlite::Result<EntryRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
    ))
}

fn entry_from(
    (id, sender, recipients, blob, size, created, next_attempt): EntryRow,
) -> Result<QueueEntry> {
    Ok(QueueEntry {
        id: QueueId(id),
        sender: ReversePath::parse(&sender)
            .map_err(|e| corrupt(format!("queue entry {id}: sender {sender:?}: {e}")))?,
        recipients: serde_json::from_str(&recipients)
            .map_err(|e| corrupt(format!("queue entry {id}: recipients: {e}")))?,
        blob: BlobId(blob),
        size,
        created,
        next_attempt,
    })
}

fn recipients_json(recipients: &[QueueRecipient]) -> Result<String> {
    serde_json::to_string(recipients)
        .map_err(|e| StoreError::Invalid(format!("queue recipients: {e}")))
}

fn entry_by_id(conn: &Connection, id: QueueId) -> Result<Option<QueueEntry>> {
    let row = conn
        .prepare_cached(&format!("{ENTRY_SELECT} WHERE id = ?1"))
        .db()?
        .query_row([id.0], entry_row)
        .optional()
        .db()?;
    row.map(entry_from).transpose()
}

/// Fails unless `owner` holds the lease on entry `id`.
fn require_lease(conn: &Connection, id: QueueId, owner: &str) -> Result<()> {
    let holder: Option<Option<String>> = conn
        .prepare_cached("SELECT lease_owner FROM queue WHERE id = ?1")
        .db()?
        .query_row([id.0], |r| r.get(0))
        .optional()
        .db()?;
    match holder {
        None => Err(StoreError::NotFound(format!("queue entry {}", id.0))),
        Some(Some(holder)) if holder == owner => Ok(()),
        Some(_) => Err(StoreError::Conflict(format!(
            "queue entry {}: lease not held by {owner}",
            id.0
        ))),
    }
}

#[async_trait]
impl QueueStore for Embedded {
    async fn enqueue(&self, entry: NewQueueEntry) -> Result<QueueId> {
        let blob = blob_id(&entry.raw).await?;
        let recipients: Vec<QueueRecipient> = entry
            .recipients
            .iter()
            .map(|address| QueueRecipient {
                address: address.clone(),
                status: RecipientStatus::Pending,
                attempts: 0,
                last_error: None,
            })
            .collect();
        let recipients = recipients_json(&recipients)?;
        self.write(move |tx| {
            insert_blob(tx, &blob, &entry.raw)?;
            tx.execute(
                "INSERT INTO queue (sender, recipients, blob, size, created, next_attempt) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    entry.sender.to_string(),
                    recipients,
                    blob.0,
                    entry.raw.len(),
                    crate::now(),
                    entry.next_attempt
                ],
            )
            .db()?;
            Ok(QueueId(tx.last_insert_rowid()))
        })
        .await
    }

    async fn lease_due(
        &self,
        now: i64,
        owner: &str,
        lease_secs: i64,
        max: usize,
    ) -> Result<Vec<QueueEntry>> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let owner = owner.to_owned();
        let max = i64::try_from(max).unwrap_or(i64::MAX);
        self.write(move |tx| {
            let rows = {
                let mut stmt = tx
                    .prepare_cached(&format!(
                        "{ENTRY_SELECT} WHERE next_attempt <= ?1 AND (lease_owner IS NULL OR lease_until <= ?1) \
                         ORDER BY next_attempt, id LIMIT ?2"
                    ))
                    .db()?;
                let rows = stmt.query_map(params![now, max], entry_row).db()?;
                rows.collect::<rusqlite::Result<Vec<_>>>().db()?
            };
            let mut lease = tx
                .prepare_cached("UPDATE queue SET lease_owner = ?2, lease_until = ?3 WHERE id = ?1")
                .db()?;
            let until = now.saturating_add(lease_secs);
            let mut entries = Vec::with_capacity(rows.len());
            for row in rows {
                lease.execute(params![row.0, owner, until]).db()?;
                entries.push(entry_from(row)?);
            }
            Ok(entries)
        })
        .await
    }

    async fn update_entry(
        &self,
        id: QueueId,
        owner: &str,
        recipients: &[QueueRecipient],
        next_attempt: i64,
    ) -> Result<()> {
        let owner = owner.to_owned();
        let recipients = recipients_json(recipients)?;
        self.write(move |tx| {
            require_lease(tx, id, &owner)?;
            tx.execute(
                "UPDATE queue SET recipients = ?2, next_attempt = ?3, lease_owner = NULL, lease_until = NULL \
                 WHERE id = ?1",
                params![id.0, recipients, next_attempt],
            )
            .db()?;
            Ok(())
        })
        .await
    }

    async fn remove_entry(&self, id: QueueId, owner: &str) -> Result<()> {
        let owner = owner.to_owned();
        self.write(move |tx| {
            require_lease(tx, id, &owner)?;
            // The blob is left to garbage collection (another entry or message may share it).
            tx.execute("DELETE FROM queue WHERE id = ?1", [id.0]).db()?;
            Ok(())
        })
        .await
    }

    async fn queue_entry(&self, id: QueueId) -> Result<Option<QueueEntry>> {
        self.read(move |conn| entry_by_id(conn, id)).await
    }

    async fn list_queue(&self) -> Result<Vec<QueueEntry>> {
        self.read(|conn| {
            let mut stmt = conn
                .prepare_cached(&format!("{ENTRY_SELECT} ORDER BY id"))
                .db()?;
            let rows = stmt.query_map([], entry_row).db()?;
            let rows = rows.collect::<rusqlite::Result<Vec<_>>>().db()?;
            rows.into_iter().map(entry_from).collect()
        })
        .await
    }
}
