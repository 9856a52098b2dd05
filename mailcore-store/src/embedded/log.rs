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

/// A count or position as an SQLite integer (saturating: beyond `i64::MAX` means "all").
fn sql_int(n: usize) -> Value {
    Value::Integer(i64::try_from(n).unwrap_or(i64::MAX))
}

/// The `WHERE` clause of a query's filters and its arguments.
fn filters(query: &LogQuery) -> (String, Vec<Value>) {
    let mut sql = String::from(" WHERE kind = ?");
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
    if let Some(pattern) = query.contains_pattern() {
        // SQLite's lower() folds ASCII letters only, as `LogQuery::contains` specifies.
        sql.push_str(" AND instr(lower(data), ?) > 0");
        args.push(Value::Text(pattern));
    }
    (sql, args)
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
        let (filters, mut args) = filters(query);
        let order = if query.newest_first {
            "time DESC, id DESC"
        } else {
            "time, id"
        };
        let sql = format!(
            "SELECT id, kind, time, org, account, data FROM logs{filters} \
             ORDER BY {order} LIMIT ? OFFSET ?"
        );
        args.push(sql_int(query.limit));
        args.push(sql_int(query.offset));
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

    async fn count_logs(&self, query: &LogQuery) -> Result<u64> {
        let (filters, args) = filters(query);
        let sql = format!("SELECT count(*) FROM logs{filters}");
        self.read(move |conn| {
            let n: i64 = conn
                .prepare_cached(&sql)
                .db()?
                .query_row(params_from_iter(args), |r| r.get(0))
                .db()?;
            u64::try_from(n).map_err(|_| corrupt(format!("log count {n}")))
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

    async fn purge_org_logs(&self, kind: LogKind, org: Option<OrgId>, before: i64) -> Result<u64> {
        self.write(move |tx| {
            let n = match org {
                Some(org) => tx.execute(
                    "DELETE FROM logs WHERE kind = ?1 AND org = ?2 AND time < ?3",
                    rusqlite::params![kind.as_str(), org.0, before],
                ),
                None => tx.execute(
                    "DELETE FROM logs WHERE kind = ?1 AND org IS NULL AND time < ?2",
                    rusqlite::params![kind.as_str(), before],
                ),
            }
            .db()?;
            Ok(n as u64)
        })
        .await
    }
}
