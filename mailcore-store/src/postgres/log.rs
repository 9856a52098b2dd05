//! Append-only logs in one table, the record details as JSON text.

use async_trait::async_trait;
use tokio_postgres::Row;

use super::{Postgres, col, exec, query, query_one};
use crate::directory::OrgId;
use crate::error::{Result, StoreError};
use crate::log::{LogKind, LogQuery, LogRecord, LogStore, NewLogRecord};

fn record_from_row(row: &Row) -> Result<LogRecord> {
    let kind: String = col(row, 1)?;
    let org: Option<i64> = col(row, 3)?;
    let data: String = col(row, 5)?;
    Ok(LogRecord {
        id: col(row, 0)?,
        kind: LogKind::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("log kind {kind:?}")))?,
        time: col(row, 2)?,
        org: org.map(OrgId),
        account: col(row, 4)?,
        data: serde_json::from_str(&data)
            .map_err(|e| StoreError::Corrupt(format!("log record data: {e}")))?,
    })
}

#[async_trait]
impl LogStore for Postgres {
    async fn append_log(&self, record: NewLogRecord) -> Result<i64> {
        let data = serde_json::to_string(&record.data)
            .map_err(|e| StoreError::Invalid(format!("log data: {e}")))?;
        let client = self.client().await?;
        let row = query_one(
            &client,
            "INSERT INTO logs (kind, time, org, account, data) VALUES ($1, $2, $3, $4, $5) RETURNING id",
            &[&record.kind.as_str(), &record.time, &record.org.map(|o| o.0), &record.account, &data],
        )
        .await?;
        col(&row, 0)
    }

    async fn query_logs(&self, q: &LogQuery) -> Result<Vec<LogRecord>> {
        let limit = i64::try_from(q.limit).unwrap_or(i64::MAX);
        let client = self.client().await?;
        let rows = query(
            &client,
            "SELECT id, kind, time, org, account, data FROM logs
              WHERE kind = $1
                AND ($2::bigint IS NULL OR org = $2)
                AND ($3::text IS NULL OR account = $3)
                AND ($4::bigint IS NULL OR time >= $4)
                AND ($5::bigint IS NULL OR time < $5)
              ORDER BY time, id LIMIT $6",
            &[
                &q.kind.as_str(),
                &q.org.map(|o| o.0),
                &q.account,
                &q.since,
                &q.until,
                &limit,
            ],
        )
        .await?;
        rows.iter().map(record_from_row).collect()
    }

    async fn purge_logs(&self, kind: LogKind, before: i64) -> Result<u64> {
        let client = self.client().await?;
        exec(
            &client,
            "DELETE FROM logs WHERE kind = $1 AND time < $2",
            &[&kind.as_str(), &before],
        )
        .await
    }
}
