//! Statistics of one organisation over a time range, per UTC day: logins, mail sent and
//! received (internal vs external), spam blocked, rejections, and the members whose quota is
//! nearly used up.
//!
//! ```text
//!  login log ─┐  pages of LOG_PAGE records     ┌─► days: one DayStatistics per UTC day
//!  mail log  ─┴─ (org, since ≤ time < until) ──┤   totals
//!  accounts + quota_usage ─────────────────────┴─► quota_alerts (usage ≥ threshold, now)
//! ```
//!
//! The figures come from the records the servers write (see [`crate::log`]): a login record's
//! `result` is `"success"` or not; a mail record has `direction` (`"sent"` or `"received"`),
//! `internal` (both parties in the organisation) and `result` (`"spam"`, `"rejected"`, …).

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::Backend;
use crate::directory::OrgId;
use crate::error::{Result, StoreError};
use crate::log::{LogKind, LogQuery, LogRecord};

/// Quota usage (percent of the quota) from which a member is listed in
/// [`Statistics::quota_alerts`] by [`statistics`].
pub const QUOTA_ALERT_PERCENT: u32 = 90;

/// Log records read per query while computing statistics, so a large log is never loaded
/// at once.
pub const LOG_PAGE: usize = 1000;

/// Longest range [`statistics`] accepts, in days (ten years).
pub const MAX_STATISTICS_DAYS: i64 = 3660;

/// Seconds in a day.
const DAY: i64 = 86_400;

/// Statistics of one organisation over `since ≤ time < until`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Statistics {
    /// Start of the range, seconds since the epoch (inclusive).
    pub since: i64,
    /// End of the range, seconds since the epoch (exclusive).
    pub until: i64,
    /// Every UTC day the range touches, oldest first (days without activity included).
    pub days: Vec<DayStatistics>,
    /// The whole range (`day` is `"total"`); `distinct_members_logged_in` counts each member
    /// once over the range, the other figures are the sums of `days`.
    pub totals: DayStatistics,
    /// Accounts with a quota whose usage has reached the threshold, now (not as of `until`);
    /// fullest first.
    pub quota_alerts: Vec<QuotaAlert>,
}

/// The figures of one day (or of a whole range).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DayStatistics {
    /// `YYYY-MM-DD` (UTC), or `"total"`.
    pub day: String,
    /// Successful login attempts.
    pub logins: u64,
    /// Members with at least one successful login.
    pub distinct_members_logged_in: u64,
    /// Login attempts that did not succeed.
    pub failed_logins: u64,
    /// Messages sent by members to addresses of the organisation.
    pub sent_internal: u64,
    /// Messages sent by members to outside addresses.
    pub sent_external: u64,
    /// Messages members received from addresses of the organisation.
    pub received_internal: u64,
    /// Messages members received from outside.
    pub received_external: u64,
    /// Mail records with result `"spam"`.
    pub spam_blocked: u64,
    /// Mail records with result `"rejected"`.
    pub rejected: u64,
}

/// An account whose mailbox is nearly full.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QuotaAlert {
    /// The account's address.
    pub address: String,
    /// Its quota.
    pub quota_bytes: u64,
    /// Bytes used.
    pub used_bytes: u64,
    /// Bytes left (0 when over quota).
    pub free_bytes: u64,
    /// Usage in percent of the quota, rounded to one decimal (may exceed 100; 100 for an
    /// empty zero quota).
    pub percent: f64,
}

/// Statistics of `org` over `since ≤ time < until`, listing accounts whose quota usage is at
/// least [`QUOTA_ALERT_PERCENT`] percent.
pub async fn statistics(
    store: &dyn Backend,
    org: OrgId,
    since: i64,
    until: i64,
) -> Result<Statistics> {
    statistics_with_threshold(store, org, since, until, QUOTA_ALERT_PERCENT).await
}

/// [`statistics`] with quota alerts from `alert_percent` percent of usage on.
///
/// Fails with `Invalid` when the range is empty or longer than [`MAX_STATISTICS_DAYS`].
pub async fn statistics_with_threshold(
    store: &dyn Backend,
    org: OrgId,
    since: i64,
    until: i64,
    alert_percent: u32,
) -> Result<Statistics> {
    if until <= since {
        return Err(StoreError::Invalid(format!(
            "statistics range {since}..{until} is empty"
        )));
    }
    let first_day = since.div_euclid(DAY);
    let last_day = (until - 1).div_euclid(DAY);
    if last_day - first_day >= MAX_STATISTICS_DAYS {
        return Err(StoreError::Invalid(format!(
            "statistics range longer than {MAX_STATISTICS_DAYS} days"
        )));
    }
    let mut days: BTreeMap<i64, Day> = (first_day..=last_day)
        .map(|d| (d, Day::default()))
        .collect();
    let mut members = HashSet::new();

    let logins = LogQuery::all(LogKind::Login, LOG_PAGE)
        .org(org)
        .since(since)
        .until(until);
    for_each_record(store, logins, |r| {
        let Some(day) = days.get_mut(&r.time.div_euclid(DAY)) else {
            return;
        };
        if text(r, "result") == Some("success") {
            day.figures.logins += 1;
            if let Some(member) = member(r) {
                members.insert(member.clone());
                day.members.insert(member);
            }
        } else {
            day.figures.failed_logins += 1;
        }
    })
    .await?;

    let mail = LogQuery::all(LogKind::Mail, LOG_PAGE)
        .org(org)
        .since(since)
        .until(until);
    for_each_record(store, mail, |r| {
        let Some(day) = days.get_mut(&r.time.div_euclid(DAY)) else {
            return;
        };
        let f = &mut day.figures;
        let internal = r.data.get("internal").and_then(serde_json::Value::as_bool) == Some(true);
        match (text(r, "direction"), internal) {
            (Some("sent" | "outbound"), true) => f.sent_internal += 1,
            (Some("sent" | "outbound"), false) => f.sent_external += 1,
            (Some("received" | "inbound"), true) => f.received_internal += 1,
            (Some("received" | "inbound"), false) => f.received_external += 1,
            _ => {}
        }
        match text(r, "result") {
            Some("spam") => f.spam_blocked += 1,
            Some("rejected") => f.rejected += 1,
            _ => {}
        }
    })
    .await?;

    let mut totals = DayStatistics {
        day: "total".to_owned(),
        distinct_members_logged_in: members.len() as u64,
        ..DayStatistics::default()
    };
    let days = days
        .into_iter()
        .map(|(n, day)| {
            let mut f = day.figures;
            f.day = day_name(n);
            f.distinct_members_logged_in = day.members.len() as u64;
            totals.logins += f.logins;
            totals.failed_logins += f.failed_logins;
            totals.sent_internal += f.sent_internal;
            totals.sent_external += f.sent_external;
            totals.received_internal += f.received_internal;
            totals.received_external += f.received_external;
            totals.spam_blocked += f.spam_blocked;
            totals.rejected += f.rejected;
            f
        })
        .collect();

    Ok(Statistics {
        since,
        until,
        days,
        totals,
        quota_alerts: quota_alerts(store, org, alert_percent).await?,
    })
}

/// Accounts of `org` with a quota used to at least `percent` percent, fullest first.
pub async fn quota_alerts(
    store: &dyn Backend,
    org: OrgId,
    percent: u32,
) -> Result<Vec<QuotaAlert>> {
    let mut alerts = Vec::new();
    for account in store.list_accounts(Some(org)).await? {
        let Some(quota) = account.quota_bytes else {
            continue;
        };
        let used = store.quota_usage(account.id).await?.bytes;
        // Exact integer comparison: used / quota ≥ percent / 100.
        if u128::from(used) * 100 < u128::from(quota) * u128::from(percent) {
            continue;
        }
        let ratio = if quota == 0 {
            100.0
        } else {
            (used as f64 * 1000.0 / quota as f64).round() / 10.0
        };
        alerts.push(QuotaAlert {
            address: account.address.to_string(),
            quota_bytes: quota,
            used_bytes: used,
            free_bytes: quota.saturating_sub(used),
            percent: ratio,
        });
    }
    alerts.sort_by(|a, b| {
        b.percent
            .total_cmp(&a.percent)
            .then_with(|| a.address.cmp(&b.address))
    });
    Ok(alerts)
}

/// One day being counted.
#[derive(Default)]
struct Day {
    figures: DayStatistics,
    members: HashSet<String>,
}

/// Calls `f` with every record matching `query` (oldest first, `query.limit` at a time).
///
/// Pages are keyed by time rather than by an ever-growing offset: the next page starts at the
/// last record's time, skipping the records of that second already seen, so each page costs
/// the same however deep into the log it is.
async fn for_each_record(
    store: &dyn Backend,
    mut query: LogQuery,
    mut f: impl FnMut(&LogRecord),
) -> Result<()> {
    query.newest_first = false;
    query.offset = 0;
    let page_size = query.limit.max(1);
    query.limit = page_size;
    loop {
        let page = store.query_logs(&query).await?;
        page.iter().for_each(&mut f);
        let Some(last) = page.last() else {
            return Ok(());
        };
        if page.len() < page_size {
            return Ok(());
        }
        let same_second = page
            .iter()
            .rev()
            .take_while(|r| r.time == last.time)
            .count();
        if query.since == Some(last.time) {
            // The whole page shared the second the page started at.
            query.offset += same_second;
        } else {
            query.since = Some(last.time);
            query.offset = same_second;
        }
    }
}

/// A text field of a record's details.
fn text<'a>(record: &'a LogRecord, field: &str) -> Option<&'a str> {
    record.data.get(field).and_then(serde_json::Value::as_str)
}

/// Who logged in: the record's member, else the user name given, lowercased.
fn member(record: &LogRecord) -> Option<String> {
    record
        .account
        .as_deref()
        .or_else(|| text(record, "user"))
        .filter(|m| !m.is_empty())
        .map(str::to_lowercase)
}

/// `YYYY-MM-DD` of a day number (days since 1970-01-01).
fn day_name(day: i64) -> String {
    let (y, m, d) = mailcore::message::date::civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}
