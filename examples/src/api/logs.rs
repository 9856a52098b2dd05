//! Mail, login and operation logs; statistics.

use axum::Json;
use axum::extract::State;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use mailcore_store::admin::logs::LogEntry;
use mailcore_store::directory::OrgId;
use mailcore_store::log::{LogKind, LogQuery};
use mailcore_store::stats::Statistics;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::extract::{Auth, PathParams, QueryParams};

/// The latest time the API accepts: 9999-12-31T23:59:59Z.
pub const LATEST_TIME: i64 = 253_402_300_799;

/// Which log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Every message in and out.
    Mail,
    /// Every login attempt.
    Login,
    /// Every administrative action.
    Operation,
}

impl From<Kind> for LogKind {
    fn from(k: Kind) -> LogKind {
        match k {
            Kind::Mail => LogKind::Mail,
            Kind::Login => LogKind::Login,
            Kind::Operation => LogKind::Operation,
        }
    }
}

/// Log filters.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LogFilter {
    /// From this time, seconds since the epoch (inclusive).
    pub since: Option<i64>,
    /// Before this time (exclusive).
    pub until: Option<i64>,
    /// Only records of this member (address).
    pub account: Option<String>,
    /// Only records whose details contain this text (ASCII case-insensitive).
    pub contains: Option<String>,
    /// Skip this many records (ignored by the export).
    pub offset: Option<u32>,
    /// At most this many records, 1-1000 (default 100; ignored by the export).
    pub limit: Option<u32>,
    /// Newest first instead of oldest first.
    pub newest_first: Option<bool>,
}

impl LogFilter {
    fn query(self, kind: Kind) -> LogQuery {
        let mut q = LogQuery::all(kind.into(), self.limit.unwrap_or(100) as usize);
        q.since = self.since;
        q.until = self.until;
        q.account = self.account;
        q.contains = self.contains;
        q.offset = self.offset.unwrap_or(0) as usize;
        q.newest_first = self.newest_first.unwrap_or(false);
        q
    }
}

/// One page of a log.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct LogPage {
    /// Records matching the filters (all pages).
    pub total: u64,
    /// This page.
    pub records: Vec<LogEntry>,
}

/// A statistics range.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct Range {
    /// Start, seconds since the epoch (inclusive; default 30 days before `until`).
    #[param(minimum = 0, maximum = 253_402_300_799.0)]
    pub since: Option<i64>,
    /// End (exclusive; default now).
    #[param(minimum = 0, maximum = 253_402_300_799.0)]
    pub until: Option<i64>,
}

/// Queries one log of an organisation.
#[utoipa::path(get, path = "/orgs/{org}/logs/{kind}", tag = "logs",
    params(("org" = i64, Path, description = "Organisation id"),
           ("kind" = Kind, Path, description = "Which log"), LogFilter),
    responses((status = 200, body = LogPage)), security(("bearerAuth" = [])))]
pub async fn query(
    State(s): State<AppState>,
    Auth(c): Auth,
    PathParams((org, kind)): PathParams<(i64, Kind)>,
    QueryParams(f): QueryParams<LogFilter>,
) -> ApiResult<Json<LogPage>> {
    let (total, records) = s.admin.query_logs(&c, OrgId(org), f.query(kind)).await?;
    Ok(Json(LogPage { total, records }))
}

/// Exports one log of an organisation as CSV (every matching record).
#[utoipa::path(get, path = "/orgs/{org}/logs/{kind}/export", tag = "logs",
    params(("org" = i64, Path, description = "Organisation id"),
           ("kind" = Kind, Path, description = "Which log"), LogFilter),
    responses((status = 200, content_type = "text/csv", body = String)),
    security(("bearerAuth" = [])))]
pub async fn export(
    State(s): State<AppState>,
    Auth(c): Auth,
    PathParams((org, kind)): PathParams<(i64, Kind)>,
    QueryParams(f): QueryParams<LogFilter>,
) -> ApiResult<Response> {
    let csv = s
        .admin
        .export_logs_csv(&c, OrgId(org), f.query(kind))
        .await?;
    Ok((
        [
            (CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"{}-log.csv\"",
                    LogKind::from(kind).as_str()
                ),
            ),
        ],
        csv,
    )
        .into_response())
}

/// Statistics per day and over the range, with quota alerts.
#[utoipa::path(get, path = "/orgs/{org}/statistics", tag = "statistics",
    params(("org" = i64, Path, description = "Organisation id"), Range),
    responses((status = 200, body = Statistics)), security(("bearerAuth" = [])))]
pub async fn statistics(
    State(s): State<AppState>,
    Auth(c): Auth,
    PathParams(org): PathParams<i64>,
    QueryParams(r): QueryParams<Range>,
) -> ApiResult<Json<Statistics>> {
    let until = r.until.unwrap_or_else(mailcore_store::now);
    let since = r.since.unwrap_or_else(|| until.saturating_sub(30 * 86_400));
    for t in [since, until] {
        if !(0..=LATEST_TIME).contains(&t) {
            return Err(ApiError::invalid(format!(
                "time {t} is outside 0..={LATEST_TIME} (seconds since the epoch)"
            )));
        }
    }
    Ok(Json(
        s.admin.statistics(&c, OrgId(org), since, until).await?,
    ))
}
