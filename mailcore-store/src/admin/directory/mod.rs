//! Departments, members, aliases, mail groups, business mailboxes, CSV import, invitations,
//! first-login activation and the welcome letter.
//!
//! This file holds the types and the checks every part shares; each part is a submodule.

mod departments;
mod groups;
mod import;
mod members;
mod onboarding;

pub use groups::{group_department_members, shared_mailbox_users};
pub use onboarding::first_login;

use std::collections::{BTreeSet, HashMap, HashSet};

use base64::Engine as _;
use bytes::Bytes;
use mailcore::address::{Domain, EmailAddress};
use serde::{Deserialize, Serialize};

use super::access::{NewAppPassword, ProtocolSwitches};
use super::org::OrgSettings;
use super::{
    Admin, AdminError, AdminResult, Caller, ErrorCode, Right, Versioned, account_key, list, load,
    save, secret_digest,
};
use crate::Backend;
use crate::directory::{Account, AccountKind, Group, NewAccount, OrgId, Resolved, address_key};
use crate::mailbox::{AccountId, DeliveryTarget, INBOX};
use crate::record::Expect;

pub(crate) const DEPARTMENT_KIND: &str = "department";
pub(crate) const MEMBER_KIND: &str = "member";
const GROUP_EXT_KIND: &str = "group_ext";
const INVITATION_KIND: &str = "invitation";
const JOIN_KIND: &str = "join_request";
const ACTIVATION_KIND: &str = "activation";
/// Deepest department tree accepted.
pub const MAX_DEPARTMENT_DEPTH: usize = 32;

/// A department id.
pub type DepartmentId = i64;

/// A department (node of the organisation's tree).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Department {
    /// Id (unique in the organisation).
    pub id: DepartmentId,
    /// Organisation id.
    pub org: i64,
    /// Name (unique among its siblings).
    pub name: String,
    /// Parent department (`None`: top level).
    pub parent: Option<DepartmentId>,
    /// Protocol switches for this department and its sub-departments (`None`: inherited).
    #[serde(default)]
    pub protocols: Option<ProtocolSwitches>,
}

/// What the directory keeps about a member beyond the account itself.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MemberProfile {
    /// Account id.
    pub account: i64,
    /// The organisation's own id for the person (unique in the organisation).
    pub employee_id: Option<String>,
    /// Phone number.
    pub phone: Option<String>,
    /// Departments.
    pub departments: Vec<DepartmentId>,
    /// VIP (consumes a seat; unlimited quota).
    pub vip: bool,
    /// Whether the local part has been renamed (allowed once).
    pub renamed: bool,
    /// Member-level protocol switches (`None`: inherited).
    pub protocols: Option<ProtocolSwitches>,
    /// Whether the member has logged in (or activated) at least once.
    pub activated: bool,
    /// Users of a business mailbox (account ids).
    pub shared_users: Vec<i64>,
}

impl MemberProfile {
    /// The profile of an account the directory has no record for (one made below the
    /// administration layer, e.g. by an embedding product through the store directly).
    pub fn unrecorded(account: i64) -> MemberProfile {
        MemberProfile {
            account,
            activated: true,
            ..MemberProfile::default()
        }
    }
}

/// A member as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Member {
    /// Account id.
    pub id: i64,
    /// Organisation id.
    pub org: i64,
    /// Primary address.
    pub address: String,
    /// Display name.
    pub display_name: Option<String>,
    /// Employee id (unique in the organisation).
    pub employee_id: Option<String>,
    /// Phone.
    pub phone: Option<String>,
    /// Department ids.
    pub departments: Vec<DepartmentId>,
    /// VIP.
    pub vip: bool,
    /// Quota in bytes (`None`: unlimited).
    pub quota_bytes: Option<u64>,
    /// Enabled.
    pub enabled: bool,
    /// `member` or `shared`.
    pub kind: String,
    /// Aliases.
    pub aliases: Vec<String>,
    /// Whether the local part was renamed already.
    pub renamed: bool,
    /// Whether the member has activated the account.
    pub activated: bool,
    /// Member-level protocol switches.
    pub protocols: Option<ProtocolSwitches>,
    /// Creation time.
    pub created: i64,
}

/// Fields of a new member.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewMember {
    /// Local part of the address.
    pub local_part: String,
    /// Domain (default: the organisation's first verified domain).
    #[serde(default)]
    pub domain: Option<String>,
    /// Display name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// Initial password; without one the member activates the account with the returned
    /// activation token.
    #[serde(default)]
    pub password: Option<String>,
    /// Employee id.
    #[serde(default)]
    pub employee_id: Option<String>,
    /// Phone.
    #[serde(default)]
    pub phone: Option<String>,
    /// Department ids.
    #[serde(default)]
    pub departments: Vec<DepartmentId>,
    /// VIP.
    #[serde(default)]
    pub vip: bool,
    /// Quota in bytes (default: the edition's member quota; at most that unless VIP).
    #[serde(default)]
    pub quota_bytes: Option<u64>,
}

/// A partial update of a member: absent fields are left alone.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default, deny_unknown_fields)]
pub struct MemberPatch {
    /// Display name.
    pub display_name: Option<String>,
    /// New password.
    pub password: Option<String>,
    /// Employee id.
    pub employee_id: Option<String>,
    /// Phone.
    pub phone: Option<String>,
    /// Department ids.
    pub departments: Option<Vec<DepartmentId>>,
    /// VIP.
    pub vip: Option<bool>,
    /// Quota in bytes (0: the edition default).
    pub quota_bytes: Option<u64>,
    /// Enabled.
    pub enabled: Option<bool>,
    /// Member-level protocol switches.
    pub protocols: Option<ProtocolSwitches>,
}

/// One rejected row of a CSV import.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportRowError {
    /// Row number in the file (the header is row 1).
    pub row: usize,
    /// Why.
    pub error: String,
}

/// The outcome of a CSV import: all rows created, or none and the reasons.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportReport {
    /// Whether the members were created.
    pub imported: bool,
    /// Members created.
    pub created: Vec<String>,
    /// Rejected rows (when any, nothing was created).
    pub errors: Vec<ImportRowError>,
}

/// An invitation to join an organisation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Invitation {
    /// Id.
    pub id: i64,
    /// Organisation id.
    pub org: i64,
    /// Domain of the addresses created.
    pub domain: String,
    /// Department new members join.
    pub department: Option<DepartmentId>,
    /// Whether an administrator must approve each join.
    pub approval: bool,
    /// Expiry (seconds since the epoch).
    pub expires: i64,
    /// The secret token (returned only when the invitation is created).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// A pending request to join through an invitation that needs approval.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JoinRequest {
    /// Id.
    pub id: i64,
    /// Organisation id.
    pub org: i64,
    /// Requested address.
    pub address: String,
    /// Display name.
    pub display_name: Option<String>,
    /// Department.
    pub department: Option<DepartmentId>,
    /// When requested.
    pub created: i64,
}

/// A business (shared) mailbox and its users.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SharedMailbox {
    /// The mailbox.
    pub mailbox: Member,
    /// Addresses of the members who use it.
    pub users: Vec<String>,
}

/// Fields of a new business mailbox.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewSharedMailbox {
    /// Local part.
    pub local_part: String,
    /// Domain (default: the organisation's first verified domain).
    #[serde(default)]
    pub domain: Option<String>,
    /// Display name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// Member account ids who use it.
    #[serde(default)]
    pub users: Vec<i64>,
}

/// The result of creating a member: the member and, without an initial password, the
/// activation token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedMember {
    /// The member.
    pub member: Member,
    /// Token for [`Admin::activate`] (first-login password setting).
    pub activation_token: Option<String>,
}

fn clean(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

fn parse_address(s: &str) -> AdminResult<EmailAddress> {
    s.trim()
        .parse()
        .map_err(|e| AdminError::invalid(format!("address {s:?}: {e}")))
}

fn dept_key(org: OrgId, id: DepartmentId) -> String {
    format!("{}:{id}", org.0)
}

/// The departments `roots` and every department below them.
fn descendants(all: &[Department], roots: &[DepartmentId]) -> HashSet<DepartmentId> {
    let mut set: HashSet<DepartmentId> = roots.iter().copied().collect();
    for _ in 0..MAX_DEPARTMENT_DEPTH {
        let before = set.len();
        for d in all {
            if d.parent.is_some_and(|p| set.contains(&p)) {
                set.insert(d.id);
            }
        }
        if set.len() == before {
            break;
        }
    }
    set
}

/// A mail group as the API shows and takes it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GroupSpec {
    /// The group's address.
    pub address: String,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// Member addresses: members, aliases, other groups or external addresses.
    #[serde(default)]
    pub members: Vec<String>,
    /// Departments whose members (sub-departments included) receive the group's mail.
    #[serde(default)]
    pub departments: Vec<DepartmentId>,
    /// Members who may send as the group.
    #[serde(default)]
    pub representatives: Vec<String>,
}

/// A stored group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GroupInfo {
    /// Address.
    pub address: String,
    /// Organisation id.
    pub org: i64,
    /// Display name.
    pub name: Option<String>,
    /// Member addresses.
    pub members: Vec<String>,
    /// Department ids.
    pub departments: Vec<DepartmentId>,
    /// Representatives.
    pub representatives: Vec<String>,
}

fn group_info(g: &Group, departments: Vec<DepartmentId>) -> GroupInfo {
    GroupInfo {
        address: g.address.to_string(),
        org: g.org.0,
        name: g.name.clone(),
        members: g.members.iter().map(ToString::to_string).collect(),
        departments,
        representatives: g.representatives.iter().map(ToString::to_string).collect(),
    }
}

fn depth(all: &[Department], id: DepartmentId) -> usize {
    let mut d = 0;
    let mut cur = all.iter().find(|x| x.id == id).and_then(|x| x.parent);
    while let Some(p) = cur {
        d += 1;
        if d > MAX_DEPARTMENT_DEPTH {
            break;
        }
        cur = all.iter().find(|x| x.id == p).and_then(|x| x.parent);
    }
    d
}

impl Admin {
    // ---------------------------------------------------------------------------------------
    // Helpers

    pub(crate) async fn profile(
        &self,
        account: AccountId,
    ) -> AdminResult<Versioned<MemberProfile>> {
        Ok(
            load(self.store.as_ref(), MEMBER_KIND, &account_key(account))
                .await?
                .unwrap_or(Versioned {
                    value: MemberProfile::unrecorded(account.0),
                    version: None,
                }),
        )
    }

    /// Writes a member's profile (whatever version is stored).
    pub(crate) async fn put_profile(&self, org: OrgId, profile: &MemberProfile) -> AdminResult<()> {
        self.store
            .put_record(
                MEMBER_KIND,
                &profile.account.to_string(),
                Some(org),
                &crate::admin::encode(profile)?,
                Expect::Any,
            )
            .await?;
        Ok(())
    }

    pub(crate) async fn departments(&self, org: OrgId) -> AdminResult<Vec<Department>> {
        list(self.store.as_ref(), DEPARTMENT_KIND, Some(org)).await
    }

    /// Checks that a tiered administrator's scope covers these departments.
    async fn require_scope(
        &self,
        caller: &Caller,
        org: OrgId,
        departments: &[DepartmentId],
    ) -> AdminResult<()> {
        let Some(scope) = caller.scope() else {
            return Ok(());
        };
        let all = self.departments(org).await?;
        let allowed = descendants(&all, scope);
        if departments.is_empty() || departments.iter().any(|d| !allowed.contains(d)) {
            return Err(AdminError::forbidden(
                "the member is outside your department scope",
            ));
        }
        Ok(())
    }

    /// Loads an account and checks the caller may act on it with `right` (members may act on
    /// themselves for [`Right::Security`] self-service such as app passwords).
    pub(crate) async fn account_in_scope(
        &self,
        caller: &Caller,
        account: AccountId,
        right: Right,
    ) -> AdminResult<Account> {
        let acc = self
            .store
            .account(account)
            .await?
            .ok_or_else(|| AdminError::not_found(format!("account {}", account.0)))?;
        if caller.account == Some(account) && right == Right::Security {
            return Ok(acc);
        }
        caller.require(acc.org, right)?;
        if caller.scope().is_some() {
            let profile = self.profile(account).await?.value;
            self.require_scope(caller, acc.org, &profile.departments)
                .await?;
        }
        Ok(acc)
    }

    pub(crate) async fn member_view(&self, acc: &Account) -> AdminResult<Member> {
        let profile = self.profile(acc.id).await?.value;
        self.member_view_with(acc, profile).await
    }

    /// [`Self::member_view`] with the profile already at hand (listing reads them all at once).
    pub(crate) async fn member_view_with(
        &self,
        acc: &Account,
        profile: MemberProfile,
    ) -> AdminResult<Member> {
        let aliases = self
            .store
            .aliases(acc.id)
            .await?
            .iter()
            .map(ToString::to_string)
            .collect();
        Ok(Member {
            id: acc.id.0,
            org: acc.org.0,
            address: acc.address.to_string(),
            display_name: acc.display_name.clone(),
            employee_id: profile.employee_id,
            phone: profile.phone,
            departments: profile.departments,
            vip: profile.vip,
            quota_bytes: acc.quota_bytes,
            enabled: acc.enabled,
            kind: acc.kind.as_str().into(),
            aliases,
            renamed: profile.renamed,
            activated: profile.activated,
            protocols: profile.protocols,
            created: acc.created,
        })
    }

    /// The default domain of new addresses: the first verified non-trial domain, else the
    /// trial domain.
    async fn default_domain(&self, org: OrgId) -> AdminResult<Domain> {
        let domains = self.store.list_domains(Some(org)).await?;
        let is_trial = |d: &crate::directory::DomainRecord| self.config.is_trial_domain(&d.name);
        domains
            .iter()
            .find(|d| d.verified && !is_trial(d))
            .or_else(|| domains.iter().find(|d| d.verified))
            .or_else(|| domains.first())
            .map(|d| d.name.clone())
            .ok_or_else(|| AdminError::invalid("the organisation has no domain"))
    }

    async fn address_for(
        &self,
        org: OrgId,
        local: &str,
        domain: Option<&str>,
    ) -> AdminResult<EmailAddress> {
        let domain = match domain.map(str::trim).filter(|d| !d.is_empty()) {
            Some(d) => d
                .parse::<Domain>()
                .map_err(|e| AdminError::invalid(format!("domain {d:?}: {e}")))?,
            None => self.default_domain(org).await?,
        };
        match self.store.domain(&domain).await? {
            Some(d) if d.org == org => {}
            _ => {
                return Err(AdminError::invalid(format!(
                    "{domain} is not a domain of this organisation"
                )));
            }
        }
        parse_address(&format!("{}@{domain}", local.trim()))
    }

    pub(crate) async fn vip_seats_used(&self, org: OrgId) -> AdminResult<u32> {
        let profiles: Vec<MemberProfile> =
            list(self.store.as_ref(), MEMBER_KIND, Some(org)).await?;
        let recycled = self.recycled_ids(org).await?;
        Ok(profiles
            .iter()
            .filter(|p| p.vip && !recycled.contains(&p.account))
            .count() as u32)
    }

    async fn check_employee_id(
        &self,
        org: OrgId,
        id: Option<&str>,
        except: Option<AccountId>,
    ) -> AdminResult<()> {
        let Some(id) = id else { return Ok(()) };
        let profiles: Vec<MemberProfile> =
            list(self.store.as_ref(), MEMBER_KIND, Some(org)).await?;
        if profiles
            .iter()
            .any(|p| p.employee_id.as_deref() == Some(id) && Some(AccountId(p.account)) != except)
        {
            return Err(AdminError::new(
                ErrorCode::AlreadyExists,
                format!("employee id {id:?} is already used in the organisation"),
            ));
        }
        Ok(())
    }

    async fn check_departments(&self, org: OrgId, ids: &[DepartmentId]) -> AdminResult<()> {
        let all = self.departments(org).await?;
        for id in ids {
            if !all.iter().any(|d| d.id == *id) {
                return Err(AdminError::not_found(format!("department {id}")));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn descendants_and_depth_follow_the_tree() {
        let d = |id, parent| Department {
            id,
            org: 1,
            name: format!("d{id}"),
            parent,
            protocols: None,
        };
        let all = vec![d(1, None), d(2, Some(1)), d(3, Some(2)), d(4, None)];
        let mut got: Vec<_> = descendants(&all, &[1]).into_iter().collect();
        got.sort();
        assert_eq!(got, vec![1, 2, 3]);
        assert_eq!(depth(&all, 3), 2);
        assert_eq!(depth(&all, 4), 0);
    }
}
