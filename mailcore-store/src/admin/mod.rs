//! The administrator's half of the product (SPEC §1–3, §5): organisations and editions,
//! domains, departments, members, aliases, groups, business mailboxes, the recycle bin,
//! access rules (app passwords, secure login, protocol switches, IP restriction), administrator
//! roles and API tokens.
//!
//! ```text
//!  HTTP API / CLI / embedding product
//!        │  Caller (who, which role)         every call: authorise ─► validate ─► write ─► op log
//!        ▼
//!  Admin ──► DirectoryStore (accounts, aliases, groups: the hot mail path)
//!        └─► RecordStore    (settings, departments, profiles, app passwords, roles, tokens,
//!                            invitations, recycle bin: versioned JSON documents)
//! ```
//!
//! [`Admin`] is the typed API. Every operation takes the [`Caller`] it acts for and checks the
//! caller's [`Role`] first: the creator and super administrators may do everything in their
//! organisation, a tiered administrator only what their [`Right`]s allow, and only for members
//! of the departments in their scope. Every change is written to the operation log with its
//! before and after state.
//!
//! The protocols use [`access::check_login`] (through [`crate::auth::login`]) so that IMAP,
//! POP3 and SMTP AUTH honour the same rules.

pub mod access;
pub mod directory;
pub mod logs;
pub mod org;
pub mod recycle;
pub mod roles;

use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::Backend;
use crate::directory::{Edition, OrgId};
use crate::error::StoreError;
use crate::log::{LogKind, NewLogRecord};
use crate::mailbox::AccountId;
use crate::record::{Expect, Record};

pub use access::{AppPassword, IpRestriction, NewAppPassword, ProtocolSwitches};
pub use directory::{
    CreatedMember, Department, DepartmentId, GroupInfo, GroupSpec, ImportReport, ImportRowError,
    Invitation, JoinRequest, MAX_DEPARTMENT_DEPTH, Member, MemberPatch, MemberProfile, NewMember,
    NewSharedMailbox, SharedMailbox, first_login, group_department_members, shared_mailbox_users,
};
pub use org::{DomainInfo, OrgInfo, OrgSettings, SettingsPatch, WelcomeLetter};
pub use recycle::{RecycleEntry, RecycledKind};
pub use roles::{AdminGrant, Caller, Right, Role};

/// Limits of one edition; every figure is a default that a deployment may change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EditionLimits {
    /// Most domains an organisation may have (the trial domain not counted).
    pub max_domains: usize,
    /// Quota of a normal member, in bytes.
    pub member_quota_bytes: u64,
    /// Quota of a VIP member (`None`: unlimited).
    pub vip_quota_bytes: Option<u64>,
    /// Quota of a business mailbox (`None`: unlimited).
    pub shared_quota_bytes: Option<u64>,
    /// Business mailboxes allowed before unassigned VIP seats are added.
    pub base_shared_mailboxes: usize,
    /// Whether unassigned VIP seats raise the business-mailbox limit.
    pub shared_mailboxes_use_vip_seats: bool,
    /// Days logs are kept.
    pub log_retention_days: u32,
    /// Whether IP login restriction may be used.
    pub ip_restriction: bool,
}

impl EditionLimits {
    /// SPEC §1 defaults of an edition.
    pub fn defaults(edition: Edition) -> EditionLimits {
        const GIB: u64 = 1 << 30;
        match edition {
            Edition::Professional => EditionLimits {
                max_domains: 20,
                member_quota_bytes: GIB,
                vip_quota_bytes: None,
                shared_quota_bytes: None,
                base_shared_mailboxes: 3,
                shared_mailboxes_use_vip_seats: true,
                log_retention_days: 183,
                ip_restriction: true,
            },
            _ => EditionLimits {
                max_domains: 1,
                member_quota_bytes: GIB,
                vip_quota_bytes: None,
                shared_quota_bytes: Some(GIB),
                base_shared_mailboxes: 3,
                shared_mailboxes_use_vip_seats: false,
                log_retention_days: 92,
                ip_restriction: false,
            },
        }
    }
}

/// Deployment-wide settings of the administration layer.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct AdminConfig {
    /// Limits of the basic edition.
    pub basic: EditionLimits,
    /// Limits of the professional edition.
    pub professional: EditionLimits,
    /// Suffix of trial domains: an organisation `acme` gets `acme.<suffix>`.
    pub trial_suffix: String,
    /// Most aliases per account.
    pub max_aliases: usize,
    /// Days a deleted member stays in the recycle bin.
    pub recycle_member_days: u32,
    /// Days a reclaimed business mailbox stays in the recycle bin.
    pub recycle_shared_days: u32,
    /// Most app passwords per account.
    pub max_app_passwords: usize,
    /// Most rows in one CSV import.
    pub max_import_rows: usize,
    /// Days an invitation stays valid.
    pub invitation_days: u32,
}

impl Default for AdminConfig {
    fn default() -> AdminConfig {
        AdminConfig {
            basic: EditionLimits::defaults(Edition::Basic),
            professional: EditionLimits::defaults(Edition::Professional),
            trial_suffix: "trial.mailcore.test".into(),
            max_aliases: 5,
            recycle_member_days: 30,
            recycle_shared_days: 60,
            max_app_passwords: 20,
            max_import_rows: 10_000,
            invitation_days: 14,
        }
    }
}

impl AdminConfig {
    /// Whether `domain` is a trial domain (current or retired): it never counts against the
    /// domain limit and is never the default for new addresses while a real one is verified.
    pub fn is_trial_domain(&self, domain: &mailcore::address::Domain) -> bool {
        let suffix = self.trial_suffix.trim_matches('.').to_ascii_lowercase();
        domain
            .as_ascii()
            .strip_suffix(suffix.as_str())
            .is_some_and(|rest| rest.ends_with('.'))
    }

    /// The limits of an edition.
    pub fn limits(&self, edition: Edition) -> &EditionLimits {
        match edition {
            Edition::Professional => &self.professional,
            _ => &self.basic,
        }
    }
}

/// A stable, machine-readable error code (the HTTP API returns it as `code`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// The named thing does not exist.
    NotFound,
    /// The named thing exists already.
    AlreadyExists,
    /// The request is malformed or breaks a rule.
    Invalid,
    /// The state changed concurrently or forbids the change now.
    Conflict,
    /// A configured limit would be exceeded.
    LimitExceeded,
    /// The feature needs the professional edition.
    EditionRequired,
    /// The caller's role does not allow this.
    Forbidden,
    /// No valid credentials.
    Unauthenticated,
    /// The store failed; retrying later may work.
    Unavailable,
    /// Too many failed attempts from this client; retry later.
    RateLimited,
}

impl ErrorCode {
    /// The code's wire name.
    pub fn as_str(&self) -> &'static str {
        match self {
            ErrorCode::NotFound => "not_found",
            ErrorCode::AlreadyExists => "already_exists",
            ErrorCode::Invalid => "invalid",
            ErrorCode::Conflict => "conflict",
            ErrorCode::LimitExceeded => "limit_exceeded",
            ErrorCode::EditionRequired => "edition_required",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::Unauthenticated => "unauthenticated",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::RateLimited => "rate_limited",
        }
    }
}

/// Why an administrative operation failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", code.as_str())]
pub struct AdminError {
    /// Machine-readable code.
    pub code: ErrorCode,
    /// Human-readable explanation.
    pub message: String,
}

impl AdminError {
    /// An error with a code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> AdminError {
        AdminError {
            code,
            message: message.into(),
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> AdminError {
        AdminError::new(ErrorCode::Invalid, message)
    }

    pub(crate) fn not_found(what: impl std::fmt::Display) -> AdminError {
        AdminError::new(ErrorCode::NotFound, format!("{what} not found"))
    }

    pub(crate) fn forbidden(message: impl Into<String>) -> AdminError {
        AdminError::new(ErrorCode::Forbidden, message)
    }

    pub(crate) fn limit(message: impl Into<String>) -> AdminError {
        AdminError::new(ErrorCode::LimitExceeded, message)
    }
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> AdminError {
        let code = match &e {
            StoreError::NotFound(_) => ErrorCode::NotFound,
            StoreError::AlreadyExists(_) => ErrorCode::AlreadyExists,
            StoreError::Invalid(_) => ErrorCode::Invalid,
            StoreError::Conflict(_) => ErrorCode::Conflict,
            _ => ErrorCode::Unavailable,
        };
        let message = match e {
            StoreError::NotFound(m) => format!("{m} not found"),
            StoreError::AlreadyExists(m) => format!("{m} already exists"),
            StoreError::Invalid(m) | StoreError::Conflict(m) => m,
            other => other.to_string(),
        };
        AdminError { code, message }
    }
}

/// Result of an administrative operation.
pub type AdminResult<T> = std::result::Result<T, AdminError>;

/// The administration service over a store.
#[derive(Clone)]
pub struct Admin {
    store: Arc<dyn Backend>,
    config: Arc<AdminConfig>,
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Admin {
    /// The service over `store` with `config`.
    pub fn new(store: Arc<dyn Backend>, config: AdminConfig) -> Admin {
        Admin {
            store,
            config: Arc::new(config),
        }
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Backend> {
        &self.store
    }

    /// The configuration.
    pub fn config(&self) -> &AdminConfig {
        &self.config
    }

    /// Appends an operation-log record.
    pub(crate) async fn op_log(
        &self,
        caller: &Caller,
        org: OrgId,
        action: &str,
        target: &str,
        before: Option<serde_json::Value>,
        after: Option<serde_json::Value>,
    ) -> AdminResult<()> {
        self.store
            .append_log(NewLogRecord {
                kind: LogKind::Operation,
                time: crate::now(),
                org: Some(org),
                account: Some(caller.name.clone()),
                data: serde_json::json!({
                    "actor": caller.name,
                    "action": action,
                    "target": target,
                    "before": before,
                    "after": after,
                }),
            })
            .await?;
        Ok(())
    }
}

// -------------------------------------------------------------------------------------------
// Typed records

/// A typed record and the version it was read at.
#[derive(Clone, Debug)]
pub(crate) struct Versioned<T> {
    pub value: T,
    pub version: Option<i64>,
}

impl<T> Versioned<T> {
    pub fn expect(&self) -> Expect {
        self.version.map_or(Expect::Absent, Expect::Version)
    }
}

pub(crate) fn decode<T: DeserializeOwned>(r: &Record) -> AdminResult<T> {
    serde_json::from_value(r.value.clone()).map_err(|e| {
        AdminError::from(StoreError::Corrupt(format!(
            "record {}/{}: {e}",
            r.kind, r.key
        )))
    })
}

pub(crate) fn decode_value<T: DeserializeOwned>(v: &serde_json::Value) -> AdminResult<T> {
    serde_json::from_value(v.clone())
        .map_err(|e| AdminError::from(StoreError::Corrupt(format!("record value: {e}"))))
}

pub(crate) fn encode<T: Serialize>(v: &T) -> AdminResult<serde_json::Value> {
    serde_json::to_value(v).map_err(|e| AdminError::invalid(format!("encoding: {e}")))
}

pub(crate) async fn load<T: DeserializeOwned>(
    store: &dyn Backend,
    kind: &str,
    key: &str,
) -> AdminResult<Option<Versioned<T>>> {
    match store.get_record(kind, key).await? {
        Some(r) => Ok(Some(Versioned {
            value: decode(&r)?,
            version: Some(r.version),
        })),
        None => Ok(None),
    }
}

pub(crate) async fn save<T: Serialize>(
    store: &dyn Backend,
    kind: &str,
    key: &str,
    org: Option<OrgId>,
    v: &Versioned<T>,
) -> AdminResult<()> {
    store
        .put_record(kind, key, org, &encode(&v.value)?, v.expect())
        .await?;
    Ok(())
}

pub(crate) async fn list<T: DeserializeOwned>(
    store: &dyn Backend,
    kind: &str,
    org: Option<OrgId>,
) -> AdminResult<Vec<T>> {
    store
        .list_records(kind, org)
        .await?
        .iter()
        .map(decode)
        .collect()
}

/// The next id of a per-organisation sequence (departments, app passwords, …).
pub(crate) async fn next_id(
    store: &dyn Backend,
    org: Option<OrgId>,
    name: &str,
) -> AdminResult<i64> {
    let key = format!("{}:{name}", org.map_or(0, |o| o.0));
    for _ in 0..100 {
        let current: Option<Versioned<i64>> = load(store, "sequence", &key).await?;
        let (next, expect) = match current {
            Some(v) => (v.value + 1, Expect::Version(v.version.unwrap_or(0))),
            None => (1, Expect::Absent),
        };
        match store
            .put_record("sequence", &key, org, &serde_json::json!(next), expect)
            .await
        {
            Ok(_) => return Ok(next),
            Err(StoreError::Conflict(_) | StoreError::AlreadyExists(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(AdminError::new(
        ErrorCode::Conflict,
        format!("sequence {name} is too contended"),
    ))
}

/// A random secret of `bytes` bytes, hex-encoded.
pub(crate) fn random_token(bytes: usize) -> String {
    use argon2::password_hash::rand_core::{OsRng, RngCore};
    let mut buf = vec![0u8; bytes];
    OsRng.fill_bytes(&mut buf);
    hex::encode(buf)
}

/// SHA-256 of a high-entropy secret (tokens, app passwords), hex-encoded: such secrets need no
/// slow KDF, and hashing them lets them be looked up by value.
pub(crate) fn secret_digest(secret: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(secret.as_bytes()))
}

/// The account id of a record key.
pub(crate) fn account_key(id: AccountId) -> String {
    id.0.to_string()
}
