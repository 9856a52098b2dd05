//! Administrator roles, rights, scopes and API tokens.
//!
//! - The **creator** of an organisation has every right; there is exactly one, and the role
//!   can be transferred to another member.
//! - **Super administrators** have every right except managing the creator role.
//! - **Tiered administrators** have a chosen set of [`Right`]s, limited to members of the
//!   departments in their scope (and those departments' sub-departments).
//! - The **deployment operator** ([`Caller::operator`]) acts across organisations (the CLI,
//!   creating organisations).

use serde::{Deserialize, Serialize};

use super::{
    AdminError, AdminResult, ErrorCode, Versioned, account_key, load, random_token, save,
    secret_digest,
};
use crate::directory::OrgId;
use crate::mailbox::AccountId;

/// One administrative right.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Right {
    /// Create, edit, disable, delete members; aliases; CSV import; invitations.
    Members,
    /// Create, rename, move, delete departments.
    Departments,
    /// Mail groups.
    Groups,
    /// Business (shared) mailboxes.
    SharedMailboxes,
    /// Domains and their verification.
    Domains,
    /// Login security: secure login, protocol switches, IP restriction, app passwords.
    Security,
    /// Organisation settings (welcome letter, member permissions).
    Settings,
    /// The recycle bin.
    RecycleBin,
    /// Mail, login and operation logs.
    Logs,
    /// Statistics.
    Statistics,
}

impl Right {
    /// The right's wire name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Right::Members => "members",
            Right::Departments => "departments",
            Right::Groups => "groups",
            Right::SharedMailboxes => "shared_mailboxes",
            Right::Domains => "domains",
            Right::Security => "security",
            Right::Settings => "settings",
            Right::RecycleBin => "recycle_bin",
            Right::Logs => "logs",
            Right::Statistics => "statistics",
        }
    }

    /// Every right.
    pub const ALL: [Right; 10] = [
        Right::Members,
        Right::Departments,
        Right::Groups,
        Right::SharedMailboxes,
        Right::Domains,
        Right::Security,
        Right::Settings,
        Right::RecycleBin,
        Right::Logs,
        Right::Statistics,
    ];
}

/// An administrator's role.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case", tag = "role")]
pub enum Role {
    /// The organisation's creator: every right.
    Creator,
    /// Every right except transferring the creator role.
    Super,
    /// The listed rights, for members of the listed departments (empty: the whole
    /// organisation).
    Tiered {
        /// Rights granted.
        rights: Vec<Right>,
        /// Department scope (ids); empty means the whole organisation.
        departments: Vec<i64>,
    },
}

/// The stored grant of an administrator role to an account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AdminGrant {
    /// The administrator's account id.
    pub account: i64,
    /// The administrator's address.
    pub address: String,
    /// Organisation.
    pub org: i64,
    /// The role.
    #[serde(flatten)]
    pub role: Role,
}

/// Who an operation is performed for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// Name for the operation log (an address, or `operator`).
    pub name: String,
    /// The administrator's account (`None`: the deployment operator).
    pub account: Option<AccountId>,
    /// The organisation the caller administers (`None`: every organisation).
    pub org: Option<OrgId>,
    /// Role within that organisation (`None` for the operator).
    pub role: Option<Role>,
}

impl Caller {
    /// The deployment operator: every right in every organisation (CLI, embedding code).
    pub fn operator() -> Caller {
        Caller {
            name: "operator".into(),
            account: None,
            org: None,
            role: None,
        }
    }

    /// Whether this is the deployment operator.
    pub fn is_operator(&self) -> bool {
        self.account.is_none() && self.org.is_none()
    }

    /// Checks that the caller may act in `org`.
    pub fn require_org(&self, org: OrgId) -> AdminResult<()> {
        match self.org {
            None if self.is_operator() => Ok(()),
            Some(o) if o == org => Ok(()),
            _ => Err(AdminError::forbidden(
                "the organisation is outside your administration",
            )),
        }
    }

    /// Checks that the caller holds `right` in `org` (any scope).
    pub fn require(&self, org: OrgId, right: Right) -> AdminResult<()> {
        self.require_org(org)?;
        match &self.role {
            None if self.is_operator() => Ok(()),
            Some(Role::Creator | Role::Super) => Ok(()),
            Some(Role::Tiered { rights, .. }) if rights.contains(&right) => Ok(()),
            _ => Err(AdminError::forbidden(format!(
                "your role lacks the {} right",
                right.as_str()
            ))),
        }
    }

    /// Checks that the caller has every right in `org` (creator, super admin or operator).
    pub fn require_full(&self, org: OrgId) -> AdminResult<()> {
        self.require_org(org)?;
        match &self.role {
            None if self.is_operator() => Ok(()),
            Some(Role::Creator | Role::Super) => Ok(()),
            _ => Err(AdminError::forbidden(
                "only the creator or a super administrator may do this",
            )),
        }
    }

    /// The department scope of a tiered administrator (`None`: unrestricted).
    pub fn scope(&self) -> Option<&[i64]> {
        match &self.role {
            Some(Role::Tiered { departments, .. }) if !departments.is_empty() => Some(departments),
            _ => None,
        }
    }
}

/// A stored API token (only its digest is kept).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct TokenRecord {
    account: Option<i64>,
    org: Option<i64>,
    name: String,
    created: i64,
}

pub(crate) const ADMIN_KIND: &str = "admin";
const TOKEN_KIND: &str = "api_token";
const TOKEN_PREFIX: &str = "mct_";

impl super::Admin {
    /// The role of an account, if it administers its organisation.
    pub async fn role_of(&self, account: AccountId) -> AdminResult<Option<AdminGrant>> {
        Ok(
            load::<AdminGrant>(self.store.as_ref(), ADMIN_KIND, &account_key(account))
                .await?
                .map(|v| v.value),
        )
    }

    /// The administrators of an organisation.
    pub async fn list_admins(&self, caller: &Caller, org: OrgId) -> AdminResult<Vec<AdminGrant>> {
        caller.require_org(org)?;
        super::list(self.store.as_ref(), ADMIN_KIND, Some(org)).await
    }

    /// Grants (or changes) an administrator role. Only the creator, super administrators and
    /// the operator may; the creator role itself is only given by [`Self::transfer_creator`].
    pub async fn grant_admin(
        &self,
        caller: &Caller,
        account: AccountId,
        role: Role,
    ) -> AdminResult<AdminGrant> {
        let acc = self
            .store
            .account(account)
            .await?
            .ok_or_else(|| AdminError::not_found(format!("account {}", account.0)))?;
        caller.require_full(acc.org)?;
        if role == Role::Creator {
            return Err(AdminError::invalid(
                "the creator role is transferred, not granted",
            ));
        }
        if let Role::Tiered { rights, .. } = &role
            && rights.is_empty()
        {
            return Err(AdminError::invalid("a tiered administrator needs rights"));
        }
        let key = account_key(account);
        let current: Option<Versioned<AdminGrant>> =
            load(self.store.as_ref(), ADMIN_KIND, &key).await?;
        if current
            .as_ref()
            .is_some_and(|c| c.value.role == Role::Creator)
        {
            return Err(AdminError::new(
                ErrorCode::Conflict,
                "the creator keeps every right; transfer the creator role first",
            ));
        }
        let grant = AdminGrant {
            account: account.0,
            address: acc.address.to_string(),
            org: acc.org.0,
            role,
        };
        let before = current.as_ref().map(|c| c.value.clone());
        let version = current.and_then(|c| c.version);
        save(
            self.store.as_ref(),
            ADMIN_KIND,
            &key,
            Some(acc.org),
            &Versioned {
                value: grant.clone(),
                version,
            },
        )
        .await?;
        self.op_log(
            caller,
            acc.org,
            "admin.grant",
            &grant.address,
            before.map(|b| super::encode(&b)).transpose()?,
            Some(super::encode(&grant)?),
        )
        .await?;
        Ok(grant)
    }

    /// Removes an account's administrator role (never the creator's).
    pub async fn revoke_admin(&self, caller: &Caller, account: AccountId) -> AdminResult<()> {
        let key = account_key(account);
        let current: Versioned<AdminGrant> = load(self.store.as_ref(), ADMIN_KIND, &key)
            .await?
            .ok_or_else(|| AdminError::not_found(format!("administrator {}", account.0)))?;
        caller.require_full(OrgId(current.value.org))?;
        if current.value.role == Role::Creator {
            return Err(AdminError::new(
                ErrorCode::Conflict,
                "the creator role cannot be revoked, only transferred",
            ));
        }
        self.store.delete_record(ADMIN_KIND, &key).await?;
        self.op_log(
            caller,
            OrgId(current.value.org),
            "admin.revoke",
            &current.value.address,
            Some(super::encode(&current.value)?),
            None,
        )
        .await
    }

    /// Makes `account` its organisation's creator; the previous creator becomes a super
    /// administrator. Only the current creator or the operator may.
    pub async fn transfer_creator(&self, caller: &Caller, account: AccountId) -> AdminResult<()> {
        let acc = self
            .store
            .account(account)
            .await?
            .ok_or_else(|| AdminError::not_found(format!("account {}", account.0)))?;
        caller.require_org(acc.org)?;
        if !caller.is_operator() && caller.role != Some(Role::Creator) {
            return Err(AdminError::forbidden(
                "only the creator may transfer the creator role",
            ));
        }
        if acc.kind != crate::directory::AccountKind::Member || !acc.enabled {
            return Err(AdminError::invalid("the creator must be an enabled member"));
        }
        let grants: Vec<AdminGrant> =
            super::list(self.store.as_ref(), ADMIN_KIND, Some(acc.org)).await?;
        let previous = grants.iter().find(|g| g.role == Role::Creator).cloned();
        if let Some(p) = &previous {
            if p.account == account.0 {
                return Ok(());
            }
            self.store
                .put_record(
                    ADMIN_KIND,
                    &p.account.to_string(),
                    Some(acc.org),
                    &super::encode(&AdminGrant {
                        role: Role::Super,
                        ..p.clone()
                    })?,
                    crate::record::Expect::Any,
                )
                .await?;
        }
        let grant = AdminGrant {
            account: account.0,
            address: acc.address.to_string(),
            org: acc.org.0,
            role: Role::Creator,
        };
        self.store
            .put_record(
                ADMIN_KIND,
                &account_key(account),
                Some(acc.org),
                &super::encode(&grant)?,
                crate::record::Expect::Any,
            )
            .await?;
        self.op_log(
            caller,
            acc.org,
            "admin.transfer_creator",
            &grant.address,
            previous.map(|p| serde_json::json!(p.address)),
            Some(serde_json::json!(grant.address)),
        )
        .await
    }

    /// Creates an API token acting as the administrator `account` (or, with `None`, as the
    /// deployment operator). The secret is returned once; only its digest is stored.
    pub async fn create_token(
        &self,
        account: Option<AccountId>,
        name: &str,
    ) -> AdminResult<String> {
        let org = match account {
            Some(a) => {
                let acc = self
                    .store
                    .account(a)
                    .await?
                    .ok_or_else(|| AdminError::not_found(format!("account {}", a.0)))?;
                if self.role_of(a).await?.is_none() {
                    return Err(AdminError::invalid(format!(
                        "{} is not an administrator",
                        acc.address
                    )));
                }
                Some(acc.org.0)
            }
            None => None,
        };
        let secret = format!("{TOKEN_PREFIX}{}", random_token(24));
        let record = TokenRecord {
            account: account.map(|a| a.0),
            org,
            name: name.to_owned(),
            created: crate::now(),
        };
        self.store
            .put_record(
                TOKEN_KIND,
                &secret_digest(&secret),
                org.map(OrgId),
                &super::encode(&record)?,
                crate::record::Expect::Absent,
            )
            .await?;
        Ok(secret)
    }

    /// Revokes a token by its secret; returns whether it existed.
    pub async fn revoke_token(&self, secret: &str) -> AdminResult<bool> {
        Ok(self
            .store
            .delete_record(TOKEN_KIND, &secret_digest(secret))
            .await?)
    }

    /// The caller a bearer token stands for. The role is read now, so a revoked role or a
    /// disabled administrator stops working at once.
    pub async fn authenticate_token(&self, secret: &str) -> AdminResult<Caller> {
        let unauthenticated =
            || AdminError::new(ErrorCode::Unauthenticated, "invalid or revoked token");
        if !secret.starts_with(TOKEN_PREFIX) || secret.len() > 128 {
            return Err(unauthenticated());
        }
        let record: TokenRecord = load(self.store.as_ref(), TOKEN_KIND, &secret_digest(secret))
            .await?
            .ok_or_else(unauthenticated)?
            .value;
        let Some(account) = record.account else {
            return Ok(Caller::operator());
        };
        let account = AccountId(account);
        let acc = self
            .store
            .account(account)
            .await?
            .ok_or_else(unauthenticated)?;
        if !acc.enabled {
            return Err(unauthenticated());
        }
        let grant = self.role_of(account).await?.ok_or_else(unauthenticated)?;
        Ok(Caller {
            name: acc.address.to_string(),
            account: Some(account),
            org: Some(acc.org),
            role: Some(grant.role),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::Right;

    #[test]
    fn wire_names_match_serde() {
        for r in Right::ALL {
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
        }
    }
}
