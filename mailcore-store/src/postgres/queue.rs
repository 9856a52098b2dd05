//! The outbound queue with leases: `FOR UPDATE SKIP LOCKED` picks due entries nobody holds,
//! so concurrent workers in any process never get the same entry.
//!
//! Times are the caller's (`now` of [`QueueStore::lease_due`]); the store reads no clock for
//! leases. A lease is held by the owner recorded on the entry until another owner takes it
//! over after it expired, or until [`QueueStore::update_entry`] releases it.

use async_trait::async_trait;
use mailcore::address::{EmailAddress, ReversePath};
use tokio_postgres::Row;

use super::blob::insert_blob;
use super::mailbox::blob_id;
use super::{Postgres, col, db_error, exec, query, query_one, query_opt, to_u64};
use crate::error::{Result, StoreError};
use crate::queue::{
    NewQueueEntry, QueueEntry, QueueId, QueueRecipient, QueueStore, RecipientStatus,
};

const ENTRY_COLUMNS: &str = "id, sender, recipients, blob, size, created, next_attempt";

fn entry_from_row(row: &Row) -> Result<QueueEntry> {
    let sender: String = col(row, 1)?;
    let recipients: String = col(row, 2)?;
    let blob: Vec<u8> = col(row, 3)?;
    Ok(QueueEntry {
        id: QueueId(col(row, 0)?),
        sender: ReversePath::parse(&sender)
            .map_err(|e| StoreError::Corrupt(format!("queued sender {sender:?}: {e}")))?,
        recipients: serde_json::from_str(&recipients)
            .map_err(|e| StoreError::Corrupt(format!("queued recipients: {e}")))?,
        blob: blob_id(&blob)?,
        size: to_u64(col(row, 4)?, "queued size")?,
        created: col(row, 5)?,
        next_attempt: col(row, 6)?,
    })
}

fn recipients_json(recipients: &[QueueRecipient]) -> Result<String> {
    serde_json::to_string(recipients).map_err(|e| StoreError::Invalid(format!("recipients: {e}")))
}

fn new_recipients(addresses: Vec<EmailAddress>) -> Vec<QueueRecipient> {
    addresses
        .into_iter()
        .map(|address| QueueRecipient {
            address,
            status: RecipientStatus::Pending,
            attempts: 0,
            last_error: None,
        })
        .collect()
}

impl Postgres {
    /// Checks inside `tx` that `owner` holds the lease on `id` (locking the row).
    async fn check_lease(
        &self,
        tx: &deadpool_postgres::Transaction<'_>,
        id: QueueId,
        owner: &str,
    ) -> Result<()> {
        let row = query_opt(
            tx,
            "SELECT lease_owner FROM queue WHERE id = $1 FOR UPDATE",
            &[&id.0],
        )
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("queue entry {}", id.0)))?;
        let holder: Option<String> = col(&row, 0)?;
        if holder.as_deref() != Some(owner) {
            return Err(StoreError::Conflict(format!(
                "{owner} does not hold the lease on queue entry {}",
                id.0
            )));
        }
        Ok(())
    }
}

#[async_trait]
impl QueueStore for Postgres {
    async fn enqueue(&self, entry: NewQueueEntry) -> Result<QueueId> {
        let recipients = recipients_json(&new_recipients(entry.recipients))?;
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        self.lock_blobs_shared(&tx).await?;
        let blob = insert_blob(&tx, &entry.raw).await?;
        let row = query_one(
            &tx,
            "INSERT INTO queue (sender, recipients, blob, size, created, next_attempt)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            &[
                &entry.sender.to_string(),
                &recipients,
                &&blob.0[..],
                &(entry.raw.len() as i64),
                &crate::now(),
                &entry.next_attempt,
            ],
        )
        .await?;
        let id = QueueId(col(&row, 0)?);
        tx.commit().await.map_err(db_error)?;
        Ok(id)
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
        let limit = i64::try_from(max).unwrap_or(i64::MAX);
        let until = now.saturating_add(lease_secs);
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        let sql = format!(
            "UPDATE queue SET lease_owner = $3, lease_until = $4
              WHERE id IN (SELECT id FROM queue
                            WHERE next_attempt <= $1 AND (lease_owner IS NULL OR lease_until <= $1)
                            ORDER BY next_attempt, id LIMIT $2 FOR UPDATE SKIP LOCKED)
             RETURNING {ENTRY_COLUMNS}"
        );
        let rows = query(&tx, &sql, &[&now, &limit, &owner, &until]).await?;
        let mut entries = rows
            .iter()
            .map(entry_from_row)
            .collect::<Result<Vec<_>>>()?;
        tx.commit().await.map_err(db_error)?;
        entries.sort_by_key(|e| (e.next_attempt, e.id));
        Ok(entries)
    }

    async fn update_entry(
        &self,
        id: QueueId,
        owner: &str,
        recipients: &[QueueRecipient],
        next_attempt: i64,
    ) -> Result<()> {
        let recipients = recipients_json(recipients)?;
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        self.check_lease(&tx, id, owner).await?;
        exec(
            &tx,
            "UPDATE queue SET recipients = $2, next_attempt = $3, lease_owner = NULL, lease_until = NULL WHERE id = $1",
            &[&id.0, &recipients, &next_attempt],
        )
        .await?;
        tx.commit().await.map_err(db_error)?;
        Ok(())
    }

    async fn remove_entry(&self, id: QueueId, owner: &str) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        self.check_lease(&tx, id, owner).await?;
        exec(&tx, "DELETE FROM queue WHERE id = $1", &[&id.0]).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(())
    }

    async fn queue_entry(&self, id: QueueId) -> Result<Option<QueueEntry>> {
        let client = self.client().await?;
        let sql = format!("SELECT {ENTRY_COLUMNS} FROM queue WHERE id = $1");
        query_opt(&client, &sql, &[&id.0])
            .await?
            .as_ref()
            .map(entry_from_row)
            .transpose()
    }

    async fn list_queue(&self) -> Result<Vec<QueueEntry>> {
        let client = self.client().await?;
        let sql = format!("SELECT {ENTRY_COLUMNS} FROM queue ORDER BY id");
        query(&client, &sql, &[])
            .await?
            .iter()
            .map(entry_from_row)
            .collect()
    }
}
