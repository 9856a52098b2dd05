//! Administrative records ([`RecordStore`]): one table of versioned JSON documents.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::{Db, Embedded, corrupt};
use crate::directory::OrgId;
use crate::error::{Result, StoreError};
use crate::record::{Expect, Record, RecordStore};

type RecordRow = (String, String, Option<i64>, i64, String);

fn record_from((kind, key, org, version, value): RecordRow) -> Result<Record> {
    Ok(Record {
        value: serde_json::from_str(&value)
            .map_err(|e| corrupt(format!("record {kind}/{key}: {e}")))?,
        kind,
        key,
        org: org.map(OrgId),
        version,
    })
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RecordRow> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
}

#[async_trait]
impl RecordStore for Embedded {
    async fn get_record(&self, kind: &str, key: &str) -> Result<Option<Record>> {
        let (kind, key) = (kind.to_owned(), key.to_owned());
        self.read(move |conn| {
            let found = conn
                .prepare_cached(
                    "SELECT kind, key, org, version, value FROM records WHERE kind = ?1 AND key = ?2",
                )
                .db()?
                .query_row(params![kind, key], row)
                .optional()
                .db()?;
            found.map(record_from).transpose()
        })
        .await
    }

    async fn put_record(
        &self,
        kind: &str,
        key: &str,
        org: Option<OrgId>,
        value: &serde_json::Value,
        expect: Expect,
    ) -> Result<i64> {
        let (kind, key) = (kind.to_owned(), key.to_owned());
        let value = serde_json::to_string(value)
            .map_err(|e| StoreError::Invalid(format!("record value: {e}")))?;
        self.write(move |tx| {
            let current: Option<i64> = tx
                .query_row(
                    "SELECT version FROM records WHERE kind = ?1 AND key = ?2",
                    params![kind, key],
                    |r| r.get(0),
                )
                .optional()
                .db()?;
            match (expect, current) {
                (Expect::Absent, Some(_)) => {
                    return Err(StoreError::AlreadyExists(format!("{kind} {key}")));
                }
                (Expect::Version(v), c) if c != Some(v) => {
                    return Err(StoreError::Conflict(format!(
                        "{kind} {key} changed concurrently"
                    )));
                }
                _ => {}
            }
            let version = current.unwrap_or(0) + 1;
            tx.execute(
                "INSERT INTO records (kind, key, org, version, value) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (kind, key) DO UPDATE SET org = ?3, version = ?4, value = ?5",
                params![kind, key, org.map(|o| o.0), version, value],
            )
            .db()?;
            Ok(version)
        })
        .await
    }

    async fn delete_record(&self, kind: &str, key: &str) -> Result<bool> {
        let (kind, key) = (kind.to_owned(), key.to_owned());
        self.write(move |tx| {
            let n = tx
                .execute(
                    "DELETE FROM records WHERE kind = ?1 AND key = ?2",
                    params![kind, key],
                )
                .db()?;
            Ok(n > 0)
        })
        .await
    }

    async fn list_records(&self, kind: &str, org: Option<OrgId>) -> Result<Vec<Record>> {
        let kind = kind.to_owned();
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT kind, key, org, version, value FROM records
                     WHERE kind = ?1 AND (?2 IS NULL OR org = ?2) ORDER BY key",
                )
                .db()?;
            let rows = stmt
                .query_map(params![kind, org.map(|o| o.0)], row)
                .db()?
                .collect::<rusqlite::Result<Vec<_>>>()
                .db()?;
            rows.into_iter().map(record_from).collect()
        })
        .await
    }
}
