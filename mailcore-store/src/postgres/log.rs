//! Append-only logs in one table, the record details as JSON text.

use async_trait::async_trait;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::{Postgres, col, exec, query, query_one, to_u64};
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

/// A count or position as a PostgreSQL bigint (saturating: beyond `i64::MAX` means "all").
fn sql_int(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Query arguments, numbered in the order they are added.
#[derive(Default)]
struct Args(Vec<Box<dyn ToSql + Sync + Send>>);

impl Args {
    /// Adds an argument; returns its placeholder (`$n`).
    fn push(&mut self, value: impl ToSql + Sync + Send + 'static) -> String {
        self.0.push(Box::new(value));
        format!("${}", self.0.len())
    }

    fn refs(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.0
            .iter()
            .map(|a| a.as_ref() as &(dyn ToSql + Sync))
            .collect()
    }
}

/// The `WHERE` clause of a query's filters and its arguments. Only the filters set appear,
/// so the planner sees plain comparisons it can use the indexes for.
fn filters(q: &LogQuery) -> (String, Args) {
    let mut args = Args::default();
    let mut sql = format!(" WHERE kind = {}", args.push(q.kind.as_str()));
    if let Some(org) = q.org {
        sql.push_str(&format!(" AND org = {}", args.push(org.0)));
    }
    if let Some(account) = &q.account {
        sql.push_str(&format!(" AND account = {}", args.push(account.clone())));
    }
    if let Some(since) = q.since {
        sql.push_str(&format!(" AND time >= {}", args.push(since)));
    }
    if let Some(until) = q.until {
        sql.push_str(&format!(" AND time < {}", args.push(until)));
    }
    if let Some(pattern) = q.contains_pattern() {
        // translate() folds ASCII letters only, whatever the database's collation, as
        // `LogQuery::contains` specifies (lower() would depend on the collation).
        sql.push_str(&format!(
            " AND strpos(translate(data, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', \
             'abcdefghijklmnopqrstuvwxyz'), {}) > 0",
            args.push(pattern)
        ));
    }
    (sql, args)
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
        let (filters, mut args) = filters(q);
        let order = if q.newest_first {
            "time DESC, id DESC"
        } else {
            "time, id"
        };
        let limit = args.push(sql_int(q.limit));
        let offset = args.push(sql_int(q.offset));
        let sql = format!(
            "SELECT id, kind, time, org, account, data FROM logs{filters} \
             ORDER BY {order} LIMIT {limit} OFFSET {offset}"
        );
        let client = self.client().await?;
        let rows = query(&client, &sql, &args.refs()).await?;
        rows.iter().map(record_from_row).collect()
    }

    async fn count_logs(&self, q: &LogQuery) -> Result<u64> {
        let (filters, args) = filters(q);
        let sql = format!("SELECT count(*) FROM logs{filters}");
        let client = self.client().await?;
        let row = query_one(&client, &sql, &args.refs()).await?;
        to_u64(col(&row, 0)?, "log count")
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

    async fn purge_org_logs(&self, kind: LogKind, org: Option<OrgId>, before: i64) -> Result<u64> {
        let client = self.client().await?;
        match org {
            Some(org) => {
                exec(
                    &client,
                    "DELETE FROM logs WHERE kind = $1 AND org = $2 AND time < $3",
                    &[&kind.as_str(), &org.0, &before],
                )
                .await
            }
            None => {
                exec(
                    &client,
                    "DELETE FROM logs WHERE kind = $1 AND org IS NULL AND time < $2",
                    &[&kind.as_str(), &before],
                )
                .await
            }
        }
    }
}
