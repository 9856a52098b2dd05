//! Append-only logs (mail, login, operation) with retention.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::directory::OrgId;
use crate::error::Result;

/// Which log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum LogKind {
    /// Every message in and out.
    Mail,
    /// Every login attempt.
    Login,
    /// Every admin action.
    Operation,
}

impl LogKind {
    /// Storage name.
    pub fn as_str(&self) -> &'static str {
        match self {
            LogKind::Mail => "mail",
            LogKind::Login => "login",
            LogKind::Operation => "operation",
        }
    }

    /// Parses a storage name.
    pub fn parse(s: &str) -> Option<LogKind> {
        match s {
            "mail" => Some(LogKind::Mail),
            "login" => Some(LogKind::Login),
            "operation" => Some(LogKind::Operation),
            _ => None,
        }
    }
}

/// A record to append.
#[derive(Clone, Debug, PartialEq)]
pub struct NewLogRecord {
    /// Which log.
    pub kind: LogKind,
    /// When, seconds since the epoch.
    pub time: i64,
    /// Organisation concerned.
    pub org: Option<OrgId>,
    /// The member concerned (address), for per-member queries.
    pub account: Option<String>,
    /// The details.
    pub data: serde_json::Value,
}

/// A stored record.
#[derive(Clone, Debug, PartialEq)]
pub struct LogRecord {
    /// Id, increasing in append order.
    pub id: i64,
    /// Which log.
    pub kind: LogKind,
    /// When.
    pub time: i64,
    /// Organisation.
    pub org: Option<OrgId>,
    /// Member.
    pub account: Option<String>,
    /// Details.
    pub data: serde_json::Value,
}

/// A query; unset fields do not filter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogQuery {
    /// Which log.
    pub kind: LogKind,
    /// Organisation.
    pub org: Option<OrgId>,
    /// Member.
    pub account: Option<String>,
    /// From this time (inclusive).
    pub since: Option<i64>,
    /// Before this time (exclusive).
    pub until: Option<i64>,
    /// At most this many records, oldest first.
    pub limit: usize,
}

impl LogQuery {
    /// Everything in one log, up to `limit` records.
    pub fn all(kind: LogKind, limit: usize) -> LogQuery {
        LogQuery {
            kind,
            org: None,
            account: None,
            since: None,
            until: None,
            limit,
        }
    }
}

/// Log storage.
#[async_trait]
pub trait LogStore: Send + Sync {
    /// Appends a record; returns its id.
    async fn append_log(&self, record: NewLogRecord) -> Result<i64>;

    /// Records matching the query, oldest first.
    async fn query_logs(&self, query: &LogQuery) -> Result<Vec<LogRecord>>;

    /// Deletes records of a log older than `before`; returns how many.
    async fn purge_logs(&self, kind: LogKind, before: i64) -> Result<u64>;
}
