//! Administrative records ([`RecordStore`]): one table of versioned JSON documents; writes are
//! compare-and-swap on the version, so concurrent server processes never lose an update.

use async_trait::async_trait;
use tokio_postgres::Row;

use super::{Postgres, col, exec, query, query_opt};
use crate::directory::OrgId;
use crate::error::{Result, StoreError};
use crate::record::{Expect, Record, RecordStore};

const COLUMNS: &str = "kind, key, org, version, value";

fn record_from_row(row: &Row) -> Result<Record> {
    let kind: String = col(row, 0)?;
    let key: String = col(row, 1)?;
    let org: Option<i64> = col(row, 2)?;
    let value: String = col(row, 4)?;
    Ok(Record {
        value: serde_json::from_str(&value)
            .map_err(|e| StoreError::Corrupt(format!("record {kind}/{key}: {e}")))?,
        kind,
        key,
        org: org.map(OrgId),
        version: col(row, 3)?,
    })
}

#[async_trait]
impl RecordStore for Postgres {
    async fn get_record(&self, kind: &str, key: &str) -> Result<Option<Record>> {
        let client = self.client().await?;
        let sql = format!("SELECT {COLUMNS} FROM records WHERE kind = $1 AND key = $2");
        query_opt(&client, &sql, &[&kind, &key])
            .await?
            .as_ref()
            .map(record_from_row)
            .transpose()
    }

    async fn put_record(
        &self,
        kind: &str,
        key: &str,
        org: Option<OrgId>,
        value: &serde_json::Value,
        expect: Expect,
    ) -> Result<i64> {
        let value = serde_json::to_string(value)
            .map_err(|e| StoreError::Invalid(format!("record value: {e}")))?;
        let org = org.map(|o| o.0);
        let client = self.client().await?;
        let row = match expect {
            Expect::Absent => query_opt(
                &client,
                "INSERT INTO records (kind, key, org, version, value) VALUES ($1, $2, $3, 1, $4)
                 ON CONFLICT (kind, key) DO NOTHING RETURNING version",
                &[&kind, &key, &org, &value],
            )
            .await?
            .ok_or_else(|| StoreError::AlreadyExists(format!("{kind} {key}")))?,
            Expect::Version(v) => query_opt(
                &client,
                "UPDATE records SET org = $3, value = $4, version = version + 1
                 WHERE kind = $1 AND key = $2 AND version = $5 RETURNING version",
                &[&kind, &key, &org, &value, &v],
            )
            .await?
            .ok_or_else(|| StoreError::Conflict(format!("{kind} {key} changed concurrently")))?,
            Expect::Any => query_opt(
                &client,
                "INSERT INTO records (kind, key, org, version, value) VALUES ($1, $2, $3, 1, $4)
                 ON CONFLICT (kind, key) DO UPDATE
                 SET org = $3, value = $4, version = records.version + 1 RETURNING version",
                &[&kind, &key, &org, &value],
            )
            .await?
            .ok_or_else(|| StoreError::Backend("upsert returned no row".into()))?,
        };
        col(&row, 0)
    }

    async fn delete_record(&self, kind: &str, key: &str) -> Result<bool> {
        let client = self.client().await?;
        let n = exec(
            &client,
            "DELETE FROM records WHERE kind = $1 AND key = $2",
            &[&kind, &key],
        )
        .await?;
        Ok(n > 0)
    }

    async fn list_records(&self, kind: &str, org: Option<OrgId>) -> Result<Vec<Record>> {
        let client = self.client().await?;
        let sql = format!(
            "SELECT {COLUMNS} FROM records WHERE kind = $1 AND ($2::bigint IS NULL OR org = $2)
             ORDER BY key"
        );
        query(&client, &sql, &[&kind, &org.map(|o| o.0)])
            .await?
            .iter()
            .map(record_from_row)
            .collect()
    }
}
