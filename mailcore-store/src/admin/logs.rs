//! Logs, statistics and retention behind the administrator's rights.

use serde::{Deserialize, Serialize};

use super::{Admin, AdminError, AdminResult, Caller, Right};
use crate::directory::OrgId;
use crate::log::{LogKind, LogQuery, LogRecord};
use crate::stats::Statistics;

/// Most records one query returns.
pub const MAX_LOG_PAGE: usize = 1000;

/// A log record as the API shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LogEntry {
    /// Id, increasing in append order.
    pub id: i64,
    /// `mail`, `login` or `operation`.
    pub kind: String,
    /// Seconds since the epoch.
    pub time: i64,
    /// Organisation id.
    pub org: Option<i64>,
    /// The member concerned.
    pub account: Option<String>,
    /// The record's fields.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub data: serde_json::Value,
}

impl From<LogRecord> for LogEntry {
    fn from(r: LogRecord) -> LogEntry {
        LogEntry {
            id: r.id,
            kind: r.kind.as_str().into(),
            time: r.time,
            org: r.org.map(|o| o.0),
            account: r.account,
            data: r.data,
        }
    }
}

/// Parses a log kind name.
pub fn parse_kind(kind: &str) -> AdminResult<LogKind> {
    LogKind::parse(kind).ok_or_else(|| {
        AdminError::invalid(format!("unknown log {kind:?} (mail, login or operation)"))
    })
}

impl Admin {
    /// Queries one log of an organisation (the query's organisation is forced to `org`; at
    /// most [`MAX_LOG_PAGE`] records).
    pub async fn query_logs(
        &self,
        caller: &Caller,
        org: OrgId,
        query: LogQuery,
    ) -> AdminResult<(u64, Vec<LogEntry>)> {
        caller.require(org, Right::Logs)?;
        let query = query.org(org);
        let query = LogQuery {
            limit: query.limit.clamp(1, MAX_LOG_PAGE),
            ..query
        };
        let total = self.store.count_logs(&query).await?;
        let records = self.store.query_logs(&query).await?;
        Ok((total, records.into_iter().map(LogEntry::from).collect()))
    }

    /// Exports one log of an organisation as CSV (all matching records, in pages).
    pub async fn export_logs_csv(
        &self,
        caller: &Caller,
        org: OrgId,
        query: LogQuery,
    ) -> AdminResult<String> {
        caller.require(org, Right::Logs)?;
        let kind = query.kind;
        let mut all = Vec::new();
        let mut q = LogQuery {
            limit: MAX_LOG_PAGE,
            offset: 0,
            ..query.org(org)
        };
        loop {
            let page = self.store.query_logs(&q).await?;
            let n = page.len();
            all.extend(page);
            if n < MAX_LOG_PAGE {
                break;
            }
            q.offset += n;
        }
        Ok(crate::log::to_csv(kind, &all))
    }

    /// Statistics of an organisation over `[since, until)`.
    pub async fn statistics(
        &self,
        caller: &Caller,
        org: OrgId,
        since: i64,
        until: i64,
    ) -> AdminResult<Statistics> {
        caller.require(org, Right::Statistics)?;
        Ok(crate::stats::statistics(self.store.as_ref(), org, since, until).await?)
    }

    /// Deletes log records older than each organisation's edition retention (records without
    /// an organisation keep the longest retention); returns how many were deleted.
    pub async fn purge_expired_logs(&self, now: i64) -> AdminResult<u64> {
        let mut purged = 0;
        let kinds = [LogKind::Mail, LogKind::Login, LogKind::Operation];
        let mut longest = 0u32;
        for org in self.store.list_orgs().await? {
            let days = self.config.limits(org.edition).log_retention_days;
            longest = longest.max(days);
            let before = now - i64::from(days) * 86_400;
            for kind in kinds {
                purged += self
                    .store
                    .purge_org_logs(kind, Some(org.id), before)
                    .await?;
            }
        }
        let longest = longest
            .max(self.config.basic.log_retention_days)
            .max(self.config.professional.log_retention_days);
        let before = now - i64::from(longest) * 86_400;
        for kind in kinds {
            purged += self.store.purge_org_logs(kind, None, before).await?;
        }
        Ok(purged)
    }

    /// The token a domain's owner publishes to prove ownership (created on first use).
    pub async fn domain_verification_token(
        &self,
        caller: &Caller,
        domain: &str,
    ) -> AdminResult<String> {
        let parsed: mailcore::address::Domain = domain
            .parse()
            .map_err(|e| AdminError::invalid(format!("domain {domain:?}: {e}")))?;
        let org = self.domain_org(caller, &parsed).await?;
        caller.require(org, Right::Domains)?;
        let key = parsed.as_ascii().to_string();
        if let Some(r) = self.store.get_record("domain_token", &key).await?
            && let Some(t) = r.value.as_str()
        {
            return Ok(t.to_owned());
        }
        let token = format!("mc{}", super::random_token(10));
        match self
            .store
            .put_record(
                "domain_token",
                &key,
                Some(org),
                &serde_json::json!(token),
                crate::record::Expect::Absent,
            )
            .await
        {
            Ok(_) => Ok(token),
            Err(crate::error::StoreError::AlreadyExists(_)) => self
                .store
                .get_record("domain_token", &key)
                .await?
                .and_then(|r| r.value.as_str().map(str::to_owned))
                .ok_or_else(|| AdminError::not_found("verification token")),
            Err(e) => Err(e.into()),
        }
    }
}
