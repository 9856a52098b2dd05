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
///
/// Build one with [`LogQuery::all`] and the builder methods:
///
/// ```
/// use mailcore_store::directory::OrgId;
/// use mailcore_store::log::{LogKind, LogQuery};
/// let q = LogQuery::all(LogKind::Mail, 50)
///     .org(OrgId(7))
///     .since(1_700_000_000)
///     .contains("invoice")
///     .newest_first(true)
///     .offset(50);
/// assert_eq!(q.limit, 50);
/// assert_eq!(q.contains.as_deref(), Some("invoice"));
/// ```
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
    /// At most this many records.
    pub limit: usize,
    /// Skips this many matching records (in the query's order) before the first returned.
    pub offset: usize,
    /// Newest first (time, then id, descending) instead of oldest first.
    pub newest_first: bool,
    /// Only records whose details, as JSON text, contain this text; ASCII letters match
    /// regardless of case, everything else exactly. Characters JSON escapes (`"`, `\`,
    /// control characters such as a newline) match their escaped form in the stored text, so
    /// the text is given as the user sees it.
    pub contains: Option<String>,
}

impl LogQuery {
    /// Everything in one log, up to `limit` records, oldest first.
    pub fn all(kind: LogKind, limit: usize) -> LogQuery {
        LogQuery {
            kind,
            org: None,
            account: None,
            since: None,
            until: None,
            limit,
            offset: 0,
            newest_first: false,
            contains: None,
        }
    }

    /// Only records of this organisation.
    pub fn org(mut self, org: OrgId) -> LogQuery {
        self.org = Some(org);
        self
    }

    /// Only records of this member (the stored address, matched exactly).
    pub fn account(mut self, account: impl Into<String>) -> LogQuery {
        self.account = Some(account.into());
        self
    }

    /// Only records from this time on (inclusive).
    pub fn since(mut self, since: i64) -> LogQuery {
        self.since = Some(since);
        self
    }

    /// Only records before this time (exclusive).
    pub fn until(mut self, until: i64) -> LogQuery {
        self.until = Some(until);
        self
    }

    /// At most this many records.
    pub fn limit(mut self, limit: usize) -> LogQuery {
        self.limit = limit;
        self
    }

    /// Skips this many matching records first (paging).
    pub fn offset(mut self, offset: usize) -> LogQuery {
        self.offset = offset;
        self
    }

    /// Newest first (`true`) or oldest first (`false`, the default).
    pub fn newest_first(mut self, newest_first: bool) -> LogQuery {
        self.newest_first = newest_first;
        self
    }

    /// Only records whose details contain `text` (matched as the `contains` field says).
    pub fn contains(mut self, text: impl Into<String>) -> LogQuery {
        self.contains = Some(text.into());
        self
    }

    /// What backends look for in the stored JSON text once its ASCII letters are lowered:
    /// `contains` escaped as inside a JSON string, its ASCII letters lowered too.
    pub(crate) fn contains_pattern(&self) -> Option<String> {
        let text = self.contains.as_deref()?;
        let quoted = serde_json::Value::String(text.to_owned()).to_string();
        let escaped = quoted
            .strip_prefix('"')
            .and_then(|s| s.strip_suffix('"'))
            .unwrap_or(&quoted);
        Some(escaped.to_ascii_lowercase())
    }
}

/// Log storage.
#[async_trait]
pub trait LogStore: Send + Sync {
    /// Appends a record; returns its id.
    async fn append_log(&self, record: NewLogRecord) -> Result<i64>;

    /// Records matching the query, in its order (oldest first unless
    /// [`newest_first`](LogQuery::newest_first)); ties in time are in append order.
    async fn query_logs(&self, query: &LogQuery) -> Result<Vec<LogRecord>>;

    /// How many records match the query's filters (`limit`, `offset` and order ignored).
    async fn count_logs(&self, query: &LogQuery) -> Result<u64>;

    /// Deletes records of a log older than `before`; returns how many.
    async fn purge_logs(&self, kind: LogKind, before: i64) -> Result<u64>;

    /// Deletes records of a log older than `before` that belong to `org` (`None`: the records
    /// of no organisation); returns how many. Other organisations' records stay.
    async fn purge_org_logs(&self, kind: LogKind, org: Option<OrgId>, before: i64) -> Result<u64>;
}

/// The CSV columns of [`to_csv`] for each log.
pub fn csv_columns(kind: LogKind) -> &'static [&'static str] {
    match kind {
        LogKind::Mail => &[
            "time",
            "from",
            "to",
            "subject",
            "size",
            "result",
            "direction",
            "internal",
        ],
        LogKind::Login => &[
            "time",
            "account",
            "user",
            "protocol",
            "ip",
            "mechanism",
            "result",
            "reason",
        ],
        LogKind::Operation => &["time", "actor", "action", "target", "before", "after"],
    }
}

/// Exports records as CSV (RFC 4180: comma-separated, CRLF line ends, fields with commas,
/// quotes or line breaks quoted, quotes doubled): a header row of [`csv_columns`] for `kind`, then
/// one row per record.
///
/// `time` is RFC 3339 UTC (`2024-03-01T08:00:00Z`). The other columns come from the record's
/// details by name: text as is, numbers and booleans in JSON form, a missing field or `null`
/// empty. Mail `to` is the recipients joined with `"; "`; login `account` is the record's
/// member; operation `before` and `after` are JSON text. A record of another log is written
/// with `kind`'s columns all the same.
///
/// ```
/// use mailcore_store::log::{to_csv, LogKind, LogRecord};
/// let r = LogRecord {
///     id: 1, kind: LogKind::Operation, time: 0, org: None, account: None,
///     data: serde_json::json!({"actor": "admin@example.com", "action": "rename",
///                              "target": "tom", "before": "tom", "after": null}),
/// };
/// assert_eq!(
///     to_csv(LogKind::Operation, &[r]),
///     "time,actor,action,target,before,after\r\n\
///      1970-01-01T00:00:00Z,admin@example.com,rename,tom,\"\"\"tom\"\"\",\r\n"
/// );
/// ```
pub fn to_csv(kind: LogKind, records: &[LogRecord]) -> String {
    let columns = csv_columns(kind);
    let mut out = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    // Writing rows of one width into memory cannot fail; should it anyway, the rows written
    // so far are returned rather than a panic.
    let _ = out.write_record(columns);
    for record in records {
        let row = columns.iter().map(|c| csv_cell(kind, c, record));
        if out.write_record(row).is_err() {
            break;
        }
    }
    let bytes = match out.into_inner() {
        Ok(bytes) => bytes,
        Err(e) => e.into_inner().get_ref().clone(),
    };
    // Every cell is a Rust string, so the output is UTF-8.
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// One CSV cell of `record` in `column`.
fn csv_cell(kind: LogKind, column: &str, record: &LogRecord) -> String {
    let field = record.data.get(column);
    match (kind, column) {
        (_, "time") => rfc3339(record.time),
        (LogKind::Login, "account") => record.account.clone().unwrap_or_default(),
        (LogKind::Mail, "to") => match field {
            Some(serde_json::Value::Array(to)) => {
                to.iter().map(plain_text).collect::<Vec<_>>().join("; ")
            }
            other => other.map(plain_text).unwrap_or_default(),
        },
        (LogKind::Operation, "before" | "after") => match field {
            None | Some(serde_json::Value::Null) => String::new(),
            Some(v) => v.to_string(),
        },
        _ => field.map(plain_text).unwrap_or_default(),
    }
}

/// A JSON value as a cell: text unquoted, `null` empty, anything else as JSON.
fn plain_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Seconds since the epoch as RFC 3339 UTC, e.g. `2024-03-01T08:00:00Z`.
fn rfc3339(time: i64) -> String {
    let (y, m, d) = mailcore::message::date::civil_from_days(time.div_euclid(86_400));
    let secs = time.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}
