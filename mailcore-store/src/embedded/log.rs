//! Logs ([`LogStore`]): one table, appends batched by the writer's group commit.

use async_trait::async_trait;
use rusqlite::params_from_iter;
use rusqlite::types::Value;

use super::{Db, Embedded, corrupt};
use crate::directory::OrgId;
use crate::error::{Result, StoreError};
use crate::log::{LogKind, LogQuery, LogRecord, LogStore, NewLogRecord};

type LogRow = (i64, String, i64, Option<i64>, Option<String>, String);

fn record_from((id, kind, time, org, account, data): LogRow) -> Result<LogRecord> {
    Ok(LogRecord {
        id,
        kind: LogKind::parse(&kind).ok_or_else(|| corrupt(format!("log {id}: kind {kind:?}")))?,
        time,
        org: org.map(OrgId),
        account,
        data: serde_json::from_str(&data).map_err(|e| corrupt(format!("log {id}: data: {e}")))?,
    })
}

#[async_trait]
impl LogStore for Embedded {
    async fn append_log(&self, record: NewLogRecord) -> Result<i64> {
        let data = serde_json::to_string(&record.data)
            .map_err(|e| StoreError::Invalid(format!("log data: {e}")))?;
        self.write(move |tx| {
            tx.prepare_cached(
                "INSERT INTO logs (kind, time, org, account, data) VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .db()?
            .execute(rusqlite::params![
                record.kind.as_str(),
                record.time,
                record.org.map(|o| o.0),
                record.account,
                data
            ])
            .db()?;
            Ok(tx.last_insert_rowid())
        })
        .await
    }

    async fn query_logs(&self, query: &LogQuery) -> Result<Vec<LogRecord>> {
        let mut sql =
            String::from("SELECT id, kind, time, org, account, data FROM logs WHERE kind = ?");
        let mut args = vec![Value::Text(query.kind.as_str().to_owned())];
        if let Some(org) = query.org {
            sql.push_str(" AND org = ?");
            args.push(Value::Integer(org.0));
        }
        if let Some(account) = &query.account {
            sql.push_str(" AND account = ?");
            args.push(Value::Text(account.clone()));
        }
        if let Some(since) = query.since {
            sql.push_str(" AND time >= ?");
            args.push(Value::Integer(since));
        }
        if let Some(until) = query.until {
            sql.push_str(" AND time < ?");
            args.push(Value::Integer(until));
        }
        sql.push_str(" ORDER BY time, id LIMIT ?");
        args.push(Value::Integer(
            i64::try_from(query.limit).unwrap_or(i64::MAX),
        ));
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(&sql).db()?;
            let rows = stmt
                .query_map(params_from_iter(args), |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                    ))
                })
                .db()?;
            let rows = rows.collect::<rusqlite::Result<Vec<LogRow>>>().db()?;
            rows.into_iter().map(record_from).collect()
        })
        .await
    }

    async fn purge_logs(&self, kind: LogKind, before: i64) -> Result<u64> {
        self.write(move |tx| {
            let n = tx
                .execute(
                    "DELETE FROM logs WHERE kind = ?1 AND time < ?2",
                    rusqlite::params![kind.as_str(), before],
                )
                .db()?;
            Ok(n as u64)
        })
        .await
    }
}
