//! Departments, members, aliases, mail groups, business mailboxes, CSV import, invitations,
//! first-login activation and the welcome letter.

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
    #[serde(default, skip_serializing)]
    #[cfg_attr(feature = "openapi", schema(ignore))]
    password_hash: String,
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

/// The built-in welcome letter.
const WELCOME_SUBJECT: &str = "Welcome to {org}";
const WELCOME_BODY: &str = "Hello {name},\r\n\r\nyour mailbox {address} at {org} is ready.\r\n\
Use any IMAP, POP3 or SMTP client, or ask your administrator for client settings.\r\n";

fn fill(template: &str, name: &str, address: &str, org: &str) -> String {
    template
        .replace("{name}", name)
        .replace("{address}", address)
        .replace("{org}", org)
}

/// Expands the departments of a group to their members' addresses (sub-departments
/// included), for delivery.
pub async fn group_department_members(
    store: &dyn Backend,
    group: &Group,
) -> crate::error::Result<Vec<EmailAddress>> {
    let key = address_key(&group.address);
    let Some(rec) = store.get_record(GROUP_EXT_KIND, &key).await? else {
        return Ok(Vec::new());
    };
    let departments: Vec<DepartmentId> = rec
        .value
        .get("departments")
        .and_then(|d| serde_json::from_value(d.clone()).ok())
        .unwrap_or_default();
    if departments.is_empty() {
        return Ok(Vec::new());
    }
    let all: Vec<Department> = store
        .list_records(DEPARTMENT_KIND, Some(group.org))
        .await?
        .into_iter()
        .filter_map(|r| serde_json::from_value(r.value).ok())
        .collect();
    let wanted = descendants(&all, &departments);
    let profiles: HashMap<i64, MemberProfile> = store
        .list_records(MEMBER_KIND, Some(group.org))
        .await?
        .into_iter()
        .filter_map(|r| serde_json::from_value::<MemberProfile>(r.value).ok())
        .map(|p| (p.account, p))
        .collect();
    let mut out = Vec::new();
    for account in store.list_accounts(Some(group.org)).await? {
        if profiles
            .get(&account.id.0)
            .is_some_and(|p| p.departments.iter().any(|d| wanted.contains(d)))
        {
            out.push(account.address);
        }
    }
    Ok(out)
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
                    value: MemberProfile {
                        account: account.0,
                        activated: true,
                        ..MemberProfile::default()
                    },
                    version: None,
                }),
        )
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
        let suffix = format!(".{}", self.config.trial_suffix.to_ascii_lowercase());
        let domains = self.store.list_domains(Some(org)).await?;
        let is_trial = |d: &crate::directory::DomainRecord| d.name.as_ascii().ends_with(&suffix);
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

    // ---------------------------------------------------------------------------------------
    // Departments

    /// The organisation's departments.
    pub async fn list_departments(
        &self,
        caller: &Caller,
        org: OrgId,
    ) -> AdminResult<Vec<Department>> {
        caller.require_org(org)?;
        self.departments(org).await
    }

    /// Creates a department under `parent` (or at the top).
    pub async fn create_department(
        &self,
        caller: &Caller,
        org: OrgId,
        name: &str,
        parent: Option<DepartmentId>,
    ) -> AdminResult<Department> {
        caller.require(org, Right::Departments)?;
        self.org_record(org).await?;
        if let Some(scope) = caller.scope() {
            let all = self.departments(org).await?;
            if !parent.is_some_and(|p| descendants(&all, scope).contains(&p)) {
                return Err(AdminError::forbidden(
                    "departments can only be created inside your scope",
                ));
            }
        }
        let name = name.trim();
        if name.is_empty() || name.len() > 200 {
            return Err(AdminError::invalid(
                "a department needs a name (1–200 characters)",
            ));
        }
        let all = self.departments(org).await?;
        if let Some(p) = parent {
            if !all.iter().any(|d| d.id == p) {
                return Err(AdminError::not_found(format!("department {p}")));
            }
            if depth(&all, p) + 1 >= MAX_DEPARTMENT_DEPTH {
                return Err(AdminError::limit(format!(
                    "departments nest at most {MAX_DEPARTMENT_DEPTH} deep"
                )));
            }
        }
        if all
            .iter()
            .any(|d| d.parent == parent && d.name.eq_ignore_ascii_case(name))
        {
            return Err(AdminError::new(
                ErrorCode::AlreadyExists,
                format!("department {name:?} already exists there"),
            ));
        }
        let id = super::next_id(self.store.as_ref(), Some(org), "department").await?;
        let d = Department {
            id,
            org: org.0,
            name: name.to_owned(),
            parent,
            protocols: None,
        };
        self.store
            .put_record(
                DEPARTMENT_KIND,
                &dept_key(org, id),
                Some(org),
                &super::encode(&d)?,
                Expect::Absent,
            )
            .await?;
        self.op_log(
            caller,
            org,
            "department.create",
            name,
            None,
            Some(super::encode(&d)?),
        )
        .await?;
        Ok(d)
    }

    /// Renames, moves or sets the protocol switches of a department.
    pub async fn update_department(
        &self,
        caller: &Caller,
        org: OrgId,
        id: DepartmentId,
        name: Option<String>,
        parent: Option<Option<DepartmentId>>,
        protocols: Option<Option<ProtocolSwitches>>,
    ) -> AdminResult<Department> {
        caller.require(org, Right::Departments)?;
        if protocols.is_some() {
            caller.require(org, Right::Security)?;
        }
        self.require_scope(caller, org, &[id]).await?;
        let key = dept_key(org, id);
        let mut current: Versioned<Department> = load(self.store.as_ref(), DEPARTMENT_KIND, &key)
            .await?
            .ok_or_else(|| AdminError::not_found(format!("department {id}")))?;
        let before = current.value.clone();
        let all = self.departments(org).await?;
        if let Some(name) = name {
            let name = name.trim().to_owned();
            if name.is_empty() || name.len() > 200 {
                return Err(AdminError::invalid(
                    "a department needs a name (1–200 characters)",
                ));
            }
            current.value.name = name;
        }
        if let Some(parent) = parent {
            if let Some(p) = parent {
                if !all.iter().any(|d| d.id == p) {
                    return Err(AdminError::not_found(format!("department {p}")));
                }
                if descendants(&all, &[id]).contains(&p) {
                    return Err(AdminError::invalid("a department cannot move below itself"));
                }
            }
            current.value.parent = parent;
        }
        if let Some(p) = protocols {
            current.value.protocols = p;
        }
        save(
            self.store.as_ref(),
            DEPARTMENT_KIND,
            &key,
            Some(org),
            &current,
        )
        .await?;
        self.op_log(
            caller,
            org,
            "department.update",
            &before.name,
            Some(super::encode(&before)?),
            Some(super::encode(&current.value)?),
        )
        .await?;
        Ok(current.value)
    }

    /// Deletes an empty department (no sub-departments, no members).
    pub async fn delete_department(
        &self,
        caller: &Caller,
        org: OrgId,
        id: DepartmentId,
    ) -> AdminResult<()> {
        caller.require(org, Right::Departments)?;
        self.require_scope(caller, org, &[id]).await?;
        let all = self.departments(org).await?;
        let Some(d) = all.iter().find(|d| d.id == id) else {
            return Err(AdminError::not_found(format!("department {id}")));
        };
        if all.iter().any(|c| c.parent == Some(id)) {
            return Err(AdminError::new(
                ErrorCode::Conflict,
                "the department has sub-departments",
            ));
        }
        let profiles: Vec<MemberProfile> =
            list(self.store.as_ref(), MEMBER_KIND, Some(org)).await?;
        if profiles.iter().any(|p| p.departments.contains(&id)) {
            return Err(AdminError::new(
                ErrorCode::Conflict,
                "the department has members",
            ));
        }
        self.store
            .delete_record(DEPARTMENT_KIND, &dept_key(org, id))
            .await?;
        self.op_log(
            caller,
            org,
            "department.delete",
            &d.name,
            Some(super::encode(d)?),
            None,
        )
        .await
    }

    // ---------------------------------------------------------------------------------------
    // Members

    /// Members (and business mailboxes) of the organisation that the caller may see, recycle
    /// bin excluded.
    pub async fn list_members(&self, caller: &Caller, org: OrgId) -> AdminResult<Vec<Member>> {
        caller.require_org(org)?;
        let recycled = self.recycled_ids(org).await?;
        let allowed = match caller.scope() {
            Some(scope) => Some(descendants(&self.departments(org).await?, scope)),
            None => None,
        };
        let mut out = Vec::new();
        for acc in self.store.list_accounts(Some(org)).await? {
            if recycled.contains(&acc.id.0) {
                continue;
            }
            let m = self.member_view(&acc).await?;
            if let Some(allowed) = &allowed
                && !m.departments.iter().any(|d| allowed.contains(d))
            {
                continue;
            }
            out.push(m);
        }
        Ok(out)
    }

    /// One member.
    pub async fn member(&self, caller: &Caller, account: AccountId) -> AdminResult<Member> {
        let acc = self
            .store
            .account(account)
            .await?
            .ok_or_else(|| AdminError::not_found(format!("account {}", account.0)))?;
        caller.require_org(acc.org)?;
        if caller.scope().is_some() {
            let profile = self.profile(account).await?.value;
            self.require_scope(caller, acc.org, &profile.departments)
                .await?;
        }
        self.member_view(&acc).await
    }

    /// Creates a member with default mailboxes.
    pub async fn create_member(
        &self,
        caller: &Caller,
        org: OrgId,
        new: NewMember,
    ) -> AdminResult<CreatedMember> {
        caller.require(org, Right::Members)?;
        let (account, token) = self.create_member_unchecked(caller, org, new, true).await?;
        let member = self.member_view(&account).await?;
        self.op_log(
            caller,
            org,
            "member.create",
            &member.address,
            None,
            Some(super::encode(&member)?),
        )
        .await?;
        Ok(CreatedMember {
            member,
            activation_token: token,
        })
    }

    /// Validates a new member (`check_free`: also that the address is free) and returns the
    /// account to create.
    async fn validate_member(
        &self,
        caller: &Caller,
        org: OrgId,
        new: &NewMember,
        settings: &OrgSettings,
    ) -> AdminResult<(NewAccount, MemberProfile)> {
        self.require_scope(caller, org, &new.departments).await?;
        let limits = self.limits(org).await?;
        let address = self
            .address_for(org, &new.local_part, new.domain.as_deref())
            .await?;
        if new.local_part.trim().is_empty() {
            return Err(AdminError::invalid("empty local part"));
        }
        self.check_departments(org, &new.departments).await?;
        let employee_id = clean(new.employee_id.clone());
        self.check_employee_id(org, employee_id.as_deref(), None)
            .await?;
        if let Some(max) = settings.max_members {
            let info = self.org_info(&Caller::operator(), org).await?;
            if info.members >= max as usize {
                return Err(AdminError::limit(format!(
                    "the organisation allows {max} members"
                )));
            }
        }
        if new.vip && self.vip_seats_used(org).await? >= settings.vip_seats {
            return Err(AdminError::limit("no VIP seat is free"));
        }
        let quota = if new.vip {
            new.quota_bytes.or(limits.vip_quota_bytes)
        } else {
            match new.quota_bytes {
                Some(q) if q > limits.member_quota_bytes => {
                    return Err(AdminError::limit(format!(
                        "a normal member's quota is at most {} bytes",
                        limits.member_quota_bytes
                    )));
                }
                Some(q) => Some(q),
                None => Some(limits.member_quota_bytes),
            }
        };
        let password_hash = match &new.password {
            Some(p) => Some(crate::password::hash_password(p)?),
            None => None,
        };
        Ok((
            NewAccount {
                org,
                address,
                display_name: clean(new.display_name.clone()),
                password_hash,
                quota_bytes: quota,
                kind: AccountKind::Member,
            },
            MemberProfile {
                account: 0,
                employee_id,
                phone: clean(new.phone.clone()),
                departments: new.departments.clone(),
                vip: new.vip,
                renamed: false,
                protocols: None,
                activated: false,
                shared_users: Vec::new(),
            },
        ))
    }

    async fn create_member_unchecked(
        &self,
        caller: &Caller,
        org: OrgId,
        new: NewMember,
        _log: bool,
    ) -> AdminResult<(Account, Option<String>)> {
        let settings = self.settings_versioned(org).await?.value;
        let (account, mut profile) = self.validate_member(caller, org, &new, &settings).await?;
        let needs_activation = account.password_hash.is_none();
        let account = self.store.create_account(account).await?;
        self.store.ensure_default_mailboxes(account.id).await?;
        profile.account = account.id.0;
        self.store
            .put_record(
                MEMBER_KIND,
                &account_key(account.id),
                Some(org),
                &super::encode(&profile)?,
                Expect::Any,
            )
            .await?;
        let token = if needs_activation {
            let token = super::random_token(16);
            self.store
                .put_record(
                    ACTIVATION_KIND,
                    &secret_digest(&token),
                    Some(org),
                    &serde_json::json!({ "account": account.id.0 }),
                    Expect::Absent,
                )
                .await?;
            Some(token)
        } else {
            None
        };
        Ok((account, token))
    }

    /// Applies a patch to a member.
    pub async fn update_member(
        &self,
        caller: &Caller,
        account: AccountId,
        patch: MemberPatch,
    ) -> AdminResult<Member> {
        let mut acc = self
            .account_in_scope(caller, account, Right::Members)
            .await?;
        let org = acc.org;
        if patch.protocols.is_some() {
            caller.require(org, Right::Security)?;
        }
        let before = self.member_view(&acc).await?;
        let mut profile = self.profile(account).await?;
        let limits = self.limits(org).await?;
        if let Some(d) = &patch.departments {
            self.require_scope(caller, org, d).await?;
            self.check_departments(org, d).await?;
            profile.value.departments = d.clone();
        }
        if let Some(e) = patch.employee_id.clone() {
            let e = clean(Some(e));
            self.check_employee_id(org, e.as_deref(), Some(account))
                .await?;
            profile.value.employee_id = e;
        }
        if let Some(p) = patch.phone.clone() {
            profile.value.phone = clean(Some(p));
        }
        if let Some(p) = patch.protocols {
            profile.value.protocols = Some(p);
        }
        if let Some(vip) = patch.vip
            && vip != profile.value.vip
        {
            if vip {
                let settings = self.settings_versioned(org).await?.value;
                if self.vip_seats_used(org).await? >= settings.vip_seats {
                    return Err(AdminError::limit("no VIP seat is free"));
                }
                acc.quota_bytes = limits.vip_quota_bytes;
            } else {
                acc.quota_bytes = Some(limits.member_quota_bytes);
            }
            profile.value.vip = vip;
        }
        if let Some(q) = patch.quota_bytes {
            let q = if q == 0 { None } else { Some(q) };
            match q {
                Some(q) if !profile.value.vip && q > limits.member_quota_bytes => {
                    return Err(AdminError::limit(format!(
                        "a normal member's quota is at most {} bytes",
                        limits.member_quota_bytes
                    )));
                }
                Some(q) => acc.quota_bytes = Some(q),
                None if profile.value.vip => acc.quota_bytes = limits.vip_quota_bytes,
                None => acc.quota_bytes = Some(limits.member_quota_bytes),
            }
        }
        if let Some(n) = patch.display_name {
            acc.display_name = clean(Some(n));
        }
        if let Some(p) = &patch.password {
            acc.password_hash = Some(crate::password::hash_password(p)?);
        }
        if let Some(e) = patch.enabled {
            if !e
                && self
                    .role_of(account)
                    .await?
                    .is_some_and(|g| g.role == super::Role::Creator)
            {
                return Err(AdminError::new(
                    ErrorCode::Conflict,
                    "the creator cannot be disabled",
                ));
            }
            acc.enabled = e;
        }
        save(
            self.store.as_ref(),
            MEMBER_KIND,
            &account_key(account),
            Some(org),
            &profile,
        )
        .await?;
        self.store.update_account(&acc).await?;
        let after = self.member_view(&acc).await?;
        let action = match patch.enabled {
            Some(false) if before.enabled => "member.disable",
            Some(true) if !before.enabled => "member.enable",
            _ => "member.update",
        };
        self.op_log(
            caller,
            org,
            action,
            &after.address,
            Some(super::encode(&before)?),
            Some(super::encode(&after)?),
        )
        .await?;
        Ok(after)
    }

    /// Renames a member's local part; allowed once per member.
    pub async fn rename_member(
        &self,
        caller: &Caller,
        account: AccountId,
        local_part: &str,
    ) -> AdminResult<Member> {
        let acc = self
            .account_in_scope(caller, account, Right::Members)
            .await?;
        let mut profile = self.profile(account).await?;
        if profile.value.renamed {
            return Err(AdminError::new(
                ErrorCode::Conflict,
                "the local part was renamed once already",
            ));
        }
        let new = parse_address(&format!("{}@{}", local_part.trim(), acc.address.domain()))?;
        let renamed = self.store.rename_account(account, &new).await?;
        profile.value.renamed = true;
        save(
            self.store.as_ref(),
            MEMBER_KIND,
            &account_key(account),
            Some(acc.org),
            &profile,
        )
        .await?;
        if let Some(mut grant) = load::<super::AdminGrant>(
            self.store.as_ref(),
            super::roles::ADMIN_KIND,
            &account_key(account),
        )
        .await?
        {
            grant.value.address = new.to_string();
            save(
                self.store.as_ref(),
                super::roles::ADMIN_KIND,
                &account_key(account),
                Some(acc.org),
                &grant,
            )
            .await?;
        }
        self.op_log(
            caller,
            acc.org,
            "member.rename",
            &new.to_string(),
            Some(serde_json::json!(acc.address.to_string())),
            Some(serde_json::json!(new.to_string())),
        )
        .await?;
        self.member_view(&renamed).await
    }

    /// Adds an alias (at most [`super::AdminConfig::max_aliases`] per account).
    pub async fn add_alias(
        &self,
        caller: &Caller,
        account: AccountId,
        alias: &str,
    ) -> AdminResult<Member> {
        let acc = self
            .account_in_scope(caller, account, Right::Members)
            .await?;
        let alias = parse_address(alias)?;
        let existing = self.store.aliases(account).await?;
        if existing.len() >= self.config.max_aliases {
            return Err(AdminError::limit(format!(
                "an account has at most {} aliases",
                self.config.max_aliases
            )));
        }
        match self.store.domain(alias.domain()).await? {
            Some(d) if d.org == acc.org => {}
            _ => {
                return Err(AdminError::invalid(format!(
                    "{} is not a domain of this organisation",
                    alias.domain()
                )));
            }
        }
        self.store.add_alias(&alias, account).await?;
        self.op_log(
            caller,
            acc.org,
            "alias.add",
            &acc.address.to_string(),
            None,
            Some(serde_json::json!(alias.to_string())),
        )
        .await?;
        self.member_view(&acc).await
    }

    /// Removes an alias.
    pub async fn remove_alias(
        &self,
        caller: &Caller,
        account: AccountId,
        alias: &str,
    ) -> AdminResult<Member> {
        let acc = self
            .account_in_scope(caller, account, Right::Members)
            .await?;
        let alias = parse_address(alias)?;
        if !self
            .store
            .aliases(account)
            .await?
            .iter()
            .any(|a| address_key(a) == address_key(&alias))
        {
            return Err(AdminError::not_found(format!("alias {alias}")));
        }
        self.store.remove_alias(&alias).await?;
        self.op_log(
            caller,
            acc.org,
            "alias.remove",
            &acc.address.to_string(),
            Some(serde_json::json!(alias.to_string())),
            None,
        )
        .await?;
        self.member_view(&acc).await
    }

    // ---------------------------------------------------------------------------------------
    // CSV import

    /// Imports members from CSV with the header
    /// `local_part,domain,display_name,password,employee_id,phone,department,vip,quota_mb`
    /// (only `local_part` is required; `department` is a department name, `vip` is
    /// `yes`/`no`). All or nothing: if any row is invalid, no member is created and every
    /// invalid row is reported.
    pub async fn import_members_csv(
        &self,
        caller: &Caller,
        org: OrgId,
        csv_text: &str,
    ) -> AdminResult<ImportReport> {
        caller.require(org, Right::Members)?;
        let settings = self.settings_versioned(org).await?.value;
        let departments = self.departments(org).await?;
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .flexible(false)
            .from_reader(csv_text.as_bytes());
        let headers: Vec<String> = reader
            .headers()
            .map_err(|e| AdminError::invalid(format!("CSV header: {e}")))?
            .iter()
            .map(|h| h.to_ascii_lowercase())
            .collect();
        const KNOWN: [&str; 9] = [
            "local_part",
            "domain",
            "display_name",
            "password",
            "employee_id",
            "phone",
            "department",
            "vip",
            "quota_mb",
        ];
        if let Some(h) = headers.iter().find(|h| !KNOWN.contains(&h.as_str())) {
            return Err(AdminError::invalid(format!("unknown CSV column {h:?}")));
        }
        if !headers.iter().any(|h| h == "local_part") {
            return Err(AdminError::invalid("the CSV needs a local_part column"));
        }
        let mut errors = Vec::new();
        let mut rows: Vec<(usize, NewMember)> = Vec::new();
        let mut seen_addresses = HashSet::new();
        let mut seen_employee_ids = HashSet::new();
        let mut vips = 0u32;
        for (i, record) in reader.records().enumerate() {
            let row = i + 2;
            if rows.len() + errors.len() >= self.config.max_import_rows {
                return Err(AdminError::limit(format!(
                    "at most {} rows per import",
                    self.config.max_import_rows
                )));
            }
            let record = match record {
                Ok(r) => r,
                Err(e) => {
                    errors.push(ImportRowError {
                        row,
                        error: format!("unreadable row: {e}"),
                    });
                    continue;
                }
            };
            let field = |name: &str| -> Option<String> {
                headers
                    .iter()
                    .position(|h| h == name)
                    .and_then(|i| record.get(i))
                    .map(str::to_owned)
                    .filter(|s| !s.is_empty())
            };
            let department = match field("department") {
                Some(name) => match departments
                    .iter()
                    .find(|d| d.name.eq_ignore_ascii_case(&name))
                {
                    Some(d) => vec![d.id],
                    None => {
                        errors.push(ImportRowError {
                            row,
                            error: format!("unknown department {name:?}"),
                        });
                        continue;
                    }
                },
                None => Vec::new(),
            };
            let vip = match field("vip")
                .as_deref()
                .map(str::to_ascii_lowercase)
                .as_deref()
            {
                None | Some("no" | "false" | "0") => false,
                Some("yes" | "true" | "1") => true,
                Some(other) => {
                    errors.push(ImportRowError {
                        row,
                        error: format!("vip must be yes or no, not {other:?}"),
                    });
                    continue;
                }
            };
            let quota_bytes = match field("quota_mb") {
                None => None,
                Some(q) => match q.parse::<u64>() {
                    Ok(mb) => Some(mb.saturating_mul(1 << 20)),
                    Err(_) => {
                        errors.push(ImportRowError {
                            row,
                            error: format!("quota_mb {q:?} is not a number"),
                        });
                        continue;
                    }
                },
            };
            let new = NewMember {
                local_part: field("local_part").unwrap_or_default(),
                domain: field("domain"),
                display_name: field("display_name"),
                password: field("password"),
                employee_id: field("employee_id"),
                phone: field("phone"),
                departments: department,
                vip: false,
                quota_bytes,
            };
            // VIP seats are counted over the whole file, not row by row.
            let mut check = new.clone();
            check.vip = false;
            match self.validate_member(caller, org, &check, &settings).await {
                Err(e) => errors.push(ImportRowError {
                    row,
                    error: e.message,
                }),
                Ok((account, _)) => {
                    let key = address_key(&account.address);
                    if self.store.resolve(&account.address).await? != Resolved::Unknown {
                        errors.push(ImportRowError {
                            row,
                            error: format!("{} is already taken", account.address),
                        });
                        continue;
                    }
                    if !seen_addresses.insert(key) {
                        errors.push(ImportRowError {
                            row,
                            error: format!("{} appears twice in the file", account.address),
                        });
                        continue;
                    }
                    if let Some(e) = &new.employee_id
                        && !seen_employee_ids.insert(e.clone())
                    {
                        errors.push(ImportRowError {
                            row,
                            error: format!("employee id {e:?} appears twice in the file"),
                        });
                        continue;
                    }
                    if vip {
                        vips += 1;
                    }
                    rows.push((row, NewMember { vip, ..new }));
                }
            }
        }
        if vips > 0 && self.vip_seats_used(org).await? + vips > settings.vip_seats {
            errors.push(ImportRowError {
                row: 1,
                error: format!("{vips} VIP members but not enough free VIP seats"),
            });
        }
        if let Some(max) = settings.max_members {
            let info = self.org_info(&Caller::operator(), org).await?;
            if info.members + rows.len() > max as usize {
                errors.push(ImportRowError {
                    row: 1,
                    error: format!("the organisation allows {max} members"),
                });
            }
        }
        if !errors.is_empty() {
            errors.sort_by_key(|e| e.row);
            return Ok(ImportReport {
                imported: false,
                created: Vec::new(),
                errors,
            });
        }
        let mut created: Vec<Account> = Vec::new();
        for (row, new) in rows {
            match self.create_member_unchecked(caller, org, new, false).await {
                Ok((acc, _)) => created.push(acc),
                Err(e) => {
                    // Something changed under us: undo this file's members.
                    for acc in &created {
                        let _ = self.store.delete_account(acc.id).await;
                        let _ = self
                            .store
                            .delete_record(MEMBER_KIND, &account_key(acc.id))
                            .await;
                    }
                    return Ok(ImportReport {
                        imported: false,
                        created: Vec::new(),
                        errors: vec![ImportRowError {
                            row,
                            error: e.message,
                        }],
                    });
                }
            }
        }
        let names: Vec<String> = created.iter().map(|a| a.address.to_string()).collect();
        self.op_log(
            caller,
            org,
            "member.import",
            &format!("{} members", names.len()),
            None,
            Some(serde_json::json!(names)),
        )
        .await?;
        Ok(ImportReport {
            imported: true,
            created: names,
            errors: Vec::new(),
        })
    }

    // ---------------------------------------------------------------------------------------
    // Invitations, activation, welcome letter

    /// Creates an invitation; its token is in the result (and only there).
    pub async fn create_invitation(
        &self,
        caller: &Caller,
        org: OrgId,
        domain: Option<&str>,
        department: Option<DepartmentId>,
        approval: Option<bool>,
    ) -> AdminResult<Invitation> {
        caller.require(org, Right::Members)?;
        if let Some(d) = department {
            self.check_departments(org, &[d]).await?;
            self.require_scope(caller, org, &[d]).await?;
        } else if caller.scope().is_some() {
            return Err(AdminError::forbidden(
                "choose a department inside your scope",
            ));
        }
        let domain = self
            .address_for(org, "x", domain)
            .await?
            .domain()
            .to_string();
        let settings = self.settings_versioned(org).await?.value;
        let id = super::next_id(self.store.as_ref(), Some(org), "invitation").await?;
        let token = super::random_token(16);
        let inv = Invitation {
            id,
            org: org.0,
            domain,
            department,
            approval: approval.unwrap_or(settings.invitation_approval),
            expires: crate::now() + i64::from(self.config.invitation_days) * 86_400,
            token: None,
        };
        self.store
            .put_record(
                INVITATION_KIND,
                &secret_digest(&token),
                Some(org),
                &super::encode(&inv)?,
                Expect::Absent,
            )
            .await?;
        self.op_log(
            caller,
            org,
            "invitation.create",
            &id.to_string(),
            None,
            Some(super::encode(&inv)?),
        )
        .await?;
        Ok(Invitation {
            token: Some(token),
            ..inv
        })
    }

    /// Uses an invitation: creates the member at once, or files a join request when the
    /// invitation needs approval. Returns the member, or `None` while approval is pending.
    pub async fn accept_invitation(
        &self,
        token: &str,
        local_part: &str,
        display_name: Option<&str>,
        password: &str,
    ) -> AdminResult<Option<Member>> {
        let inv: Invitation = load(self.store.as_ref(), INVITATION_KIND, &secret_digest(token))
            .await?
            .ok_or_else(|| AdminError::new(ErrorCode::Unauthenticated, "invalid invitation"))?
            .value;
        if inv.expires < crate::now() {
            return Err(AdminError::new(
                ErrorCode::Unauthenticated,
                "the invitation has expired",
            ));
        }
        let org = OrgId(inv.org);
        let system = Caller {
            name: format!("invitation {}", inv.id),
            ..Caller::operator()
        };
        let new = NewMember {
            local_part: local_part.to_owned(),
            domain: Some(inv.domain.clone()),
            display_name: display_name.map(str::to_owned),
            password: Some(password.to_owned()),
            departments: inv.department.into_iter().collect(),
            ..NewMember::default()
        };
        if inv.approval {
            let settings = self.settings_versioned(org).await?.value;
            let (account, _) = self.validate_member(&system, org, &new, &settings).await?;
            if self.store.resolve(&account.address).await? != Resolved::Unknown {
                return Err(AdminError::new(
                    ErrorCode::AlreadyExists,
                    format!("{} is taken", account.address),
                ));
            }
            let id = super::next_id(self.store.as_ref(), Some(org), "join_request").await?;
            let req = JoinRequest {
                id,
                org: org.0,
                address: account.address.to_string(),
                display_name: account.display_name,
                department: inv.department,
                created: crate::now(),
                password_hash: account.password_hash.unwrap_or_default(),
            };
            self.store
                .put_record(
                    JOIN_KIND,
                    &format!("{}:{id}", org.0),
                    Some(org),
                    &serde_json::to_value(&req).map_err(|e| AdminError::invalid(e.to_string()))?,
                    Expect::Absent,
                )
                .await?;
            // JoinRequest skips the hash when serialised for the API; keep it in the record.
            self.store
                .put_record(JOIN_KIND, &format!("{}:{id}", org.0), Some(org), &serde_json::json!({"request": serde_json::to_value(&req).map_err(|e| AdminError::invalid(e.to_string()))?, "password_hash": req.password_hash}), Expect::Any)
                .await?;
            return Ok(None);
        }
        let (acc, _) = self
            .create_member_unchecked(&system, org, new, true)
            .await?;
        self.op_log(
            &system,
            org,
            "member.join",
            &acc.address.to_string(),
            None,
            None,
        )
        .await?;
        Ok(Some(self.member_view(&acc).await?))
    }

    /// Pending join requests.
    pub async fn list_join_requests(
        &self,
        caller: &Caller,
        org: OrgId,
    ) -> AdminResult<Vec<JoinRequest>> {
        caller.require(org, Right::Members)?;
        let mut out = Vec::new();
        for r in self.store.list_records(JOIN_KIND, Some(org)).await? {
            if let Some(req) = r.value.get("request") {
                let mut req: JoinRequest = serde_json::from_value(req.clone())
                    .map_err(|e| AdminError::invalid(e.to_string()))?;
                req.password_hash = String::new();
                out.push(req);
            }
        }
        Ok(out)
    }

    /// Approves (creating the member) or rejects a join request.
    pub async fn decide_join_request(
        &self,
        caller: &Caller,
        org: OrgId,
        id: i64,
        approve: bool,
    ) -> AdminResult<Option<Member>> {
        caller.require(org, Right::Members)?;
        let key = format!("{}:{id}", org.0);
        let rec = self
            .store
            .get_record(JOIN_KIND, &key)
            .await?
            .ok_or_else(|| AdminError::not_found(format!("join request {id}")))?;
        let req: JoinRequest = rec
            .value
            .get("request")
            .and_then(|r| serde_json::from_value(r.clone()).ok())
            .ok_or_else(|| AdminError::not_found(format!("join request {id}")))?;
        let hash = rec
            .value
            .get("password_hash")
            .and_then(|h| h.as_str())
            .unwrap_or_default()
            .to_owned();
        if let Some(d) = req.department {
            self.require_scope(caller, org, &[d]).await?;
        }
        self.store.delete_record(JOIN_KIND, &key).await?;
        if !approve {
            self.op_log(caller, org, "member.join_reject", &req.address, None, None)
                .await?;
            return Ok(None);
        }
        let address = parse_address(&req.address)?;
        let limits = self.limits(org).await?;
        let acc = self
            .store
            .create_account(NewAccount {
                org,
                address,
                display_name: req.display_name.clone(),
                password_hash: (!hash.is_empty()).then_some(hash),
                quota_bytes: Some(limits.member_quota_bytes),
                kind: AccountKind::Member,
            })
            .await?;
        self.store.ensure_default_mailboxes(acc.id).await?;
        let profile = MemberProfile {
            account: acc.id.0,
            departments: req.department.into_iter().collect(),
            ..MemberProfile::default()
        };
        self.store
            .put_record(
                MEMBER_KIND,
                &account_key(acc.id),
                Some(org),
                &super::encode(&profile)?,
                Expect::Any,
            )
            .await?;
        self.op_log(caller, org, "member.join_approve", &req.address, None, None)
            .await?;
        Ok(Some(self.member_view(&acc).await?))
    }

    /// First-login activation: the member sets a password with the activation token, the
    /// account is activated and the welcome letter delivered.
    pub async fn activate(&self, token: &str, password: &str) -> AdminResult<Member> {
        let digest = secret_digest(token);
        let rec = self
            .store
            .get_record(ACTIVATION_KIND, &digest)
            .await?
            .ok_or_else(|| {
                AdminError::new(ErrorCode::Unauthenticated, "invalid activation token")
            })?;
        let id = rec
            .value
            .get("account")
            .and_then(serde_json::Value::as_i64)
            .ok_or_else(|| {
                AdminError::new(ErrorCode::Unauthenticated, "invalid activation token")
            })?;
        let mut acc = self.store.account(AccountId(id)).await?.ok_or_else(|| {
            AdminError::new(ErrorCode::Unauthenticated, "invalid activation token")
        })?;
        acc.password_hash = Some(crate::password::hash_password(password)?);
        self.store.update_account(&acc).await?;
        self.store.delete_record(ACTIVATION_KIND, &digest).await?;
        first_login(self.store.as_ref(), &acc).await?;
        self.member_view(&acc).await
    }

    // ---------------------------------------------------------------------------------------
    // Groups

    /// Creates a group of member addresses, external addresses and departments.
    pub async fn create_group(&self, caller: &Caller, spec: GroupSpec) -> AdminResult<GroupInfo> {
        let address = parse_address(&spec.address)?;
        let org = self.domain_org(caller, address.domain()).await?;
        caller.require(org, Right::Groups)?;
        let (group, departments) = self.build_group(org, address, &spec).await?;
        self.store.create_group(&group).await?;
        self.store
            .put_record(
                GROUP_EXT_KIND,
                &address_key(&group.address),
                Some(org),
                &serde_json::json!({ "departments": departments }),
                Expect::Any,
            )
            .await?;
        let info = group_info(&group, departments);
        self.op_log(
            caller,
            org,
            "group.create",
            &info.address,
            None,
            Some(super::encode(&info)?),
        )
        .await?;
        Ok(info)
    }

    async fn build_group(
        &self,
        org: OrgId,
        address: EmailAddress,
        spec: &GroupSpec,
    ) -> AdminResult<(Group, Vec<DepartmentId>)> {
        let members = spec
            .members
            .iter()
            .map(|m| parse_address(m))
            .collect::<AdminResult<Vec<_>>>()?;
        let mut representatives = Vec::new();
        for r in &spec.representatives {
            let r = parse_address(r)?;
            match self.store.resolve(&r).await? {
                Resolved::Account(a) | Resolved::Alias(a) if a.org == org => {
                    representatives.push(a.address)
                }
                _ => return Err(AdminError::not_found(format!("representative account {r}"))),
            }
        }
        self.check_departments(org, &spec.departments).await?;
        let departments: Vec<DepartmentId> = spec
            .departments
            .iter()
            .copied()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        Ok((
            Group {
                address,
                org,
                name: clean(spec.name.clone()),
                members,
                representatives,
            },
            departments,
        ))
    }

    /// Replaces a group's name, members, departments and representatives.
    pub async fn update_group(&self, caller: &Caller, spec: GroupSpec) -> AdminResult<GroupInfo> {
        let address = parse_address(&spec.address)?;
        let org = self.domain_org(caller, address.domain()).await?;
        caller.require(org, Right::Groups)?;
        let before = self.group_info_unchecked(&address).await?;
        let (group, departments) = self.build_group(org, address, &spec).await?;
        self.store.update_group(&group).await?;
        self.store
            .put_record(
                GROUP_EXT_KIND,
                &address_key(&group.address),
                Some(org),
                &serde_json::json!({ "departments": departments }),
                Expect::Any,
            )
            .await?;
        let info = group_info(&group, departments);
        self.op_log(
            caller,
            org,
            "group.update",
            &info.address,
            Some(super::encode(&before)?),
            Some(super::encode(&info)?),
        )
        .await?;
        Ok(info)
    }

    async fn group_info_unchecked(&self, address: &EmailAddress) -> AdminResult<GroupInfo> {
        let group = self
            .store
            .group(address)
            .await?
            .ok_or_else(|| AdminError::not_found(format!("group {address}")))?;
        let departments = self
            .store
            .get_record(GROUP_EXT_KIND, &address_key(address))
            .await?
            .and_then(|r| {
                r.value
                    .get("departments")
                    .and_then(|d| serde_json::from_value(d.clone()).ok())
            })
            .unwrap_or_default();
        Ok(group_info(&group, departments))
    }

    /// One group.
    pub async fn group(&self, caller: &Caller, address: &str) -> AdminResult<GroupInfo> {
        let address = parse_address(address)?;
        let info = self.group_info_unchecked(&address).await?;
        caller.require_org(OrgId(info.org))?;
        Ok(info)
    }

    /// The organisation's groups.
    pub async fn list_groups(&self, caller: &Caller, org: OrgId) -> AdminResult<Vec<GroupInfo>> {
        caller.require_org(org)?;
        let mut out = Vec::new();
        for g in self.store.list_groups(Some(org)).await? {
            out.push(self.group_info_unchecked(&g.address).await?);
        }
        Ok(out)
    }

    /// Deletes a group.
    pub async fn delete_group(&self, caller: &Caller, address: &str) -> AdminResult<()> {
        let address = parse_address(address)?;
        let org = self.domain_org(caller, address.domain()).await?;
        caller.require(org, Right::Groups)?;
        let before = self.group_info_unchecked(&address).await?;
        self.store.delete_group(&address).await?;
        self.store
            .delete_record(GROUP_EXT_KIND, &address_key(&address))
            .await?;
        self.op_log(
            caller,
            org,
            "group.delete",
            &before.address,
            Some(super::encode(&before)?),
            None,
        )
        .await
    }

    // ---------------------------------------------------------------------------------------
    // Business mailboxes

    /// How many business mailboxes the organisation may have.
    pub async fn shared_mailbox_limit(&self, org: OrgId) -> AdminResult<usize> {
        let limits = self.limits(org).await?;
        let mut limit = limits.base_shared_mailboxes;
        if limits.shared_mailboxes_use_vip_seats {
            let settings = self.settings_versioned(org).await?.value;
            limit += settings
                .vip_seats
                .saturating_sub(self.vip_seats_used(org).await?) as usize;
        }
        Ok(limit)
    }

    /// Creates a business mailbox and its first client password (returned once).
    pub async fn create_shared_mailbox(
        &self,
        caller: &Caller,
        org: OrgId,
        new: NewSharedMailbox,
    ) -> AdminResult<(SharedMailbox, NewAppPassword)> {
        caller.require(org, Right::SharedMailboxes)?;
        let limit = self.shared_mailbox_limit(org).await?;
        let info = self.org_info(&Caller::operator(), org).await?;
        if info.shared_mailboxes >= limit {
            return Err(AdminError::limit(format!(
                "the organisation may have {limit} business mailboxes"
            )));
        }
        let address = self
            .address_for(org, &new.local_part, new.domain.as_deref())
            .await?;
        let users = self.check_users(org, &new.users).await?;
        let limits = self.limits(org).await?;
        let acc = self
            .store
            .create_account(NewAccount {
                org,
                address,
                display_name: clean(new.display_name),
                password_hash: None,
                quota_bytes: limits.shared_quota_bytes,
                kind: AccountKind::Shared,
            })
            .await?;
        self.store.ensure_default_mailboxes(acc.id).await?;
        let profile = MemberProfile {
            account: acc.id.0,
            activated: true,
            shared_users: new.users.clone(),
            ..MemberProfile::default()
        };
        self.store
            .put_record(
                MEMBER_KIND,
                &account_key(acc.id),
                Some(org),
                &super::encode(&profile)?,
                Expect::Any,
            )
            .await?;
        let password = self
            .create_app_password(&Caller::operator(), acc.id, "business mailbox")
            .await?;
        let shared = SharedMailbox {
            mailbox: self.member_view(&acc).await?,
            users,
        };
        self.op_log(
            caller,
            org,
            "shared.create",
            &shared.mailbox.address,
            None,
            Some(super::encode(&shared)?),
        )
        .await?;
        Ok((shared, password))
    }

    async fn check_users(&self, org: OrgId, users: &[i64]) -> AdminResult<Vec<String>> {
        let mut out = Vec::new();
        for u in users {
            match self.store.account(AccountId(*u)).await? {
                Some(a) if a.org == org && a.kind == AccountKind::Member => {
                    out.push(a.address.to_string())
                }
                _ => return Err(AdminError::not_found(format!("member {u}"))),
            }
        }
        Ok(out)
    }

    /// Business mailboxes and their users.
    pub async fn list_shared_mailboxes(
        &self,
        caller: &Caller,
        org: OrgId,
    ) -> AdminResult<Vec<SharedMailbox>> {
        caller.require_org(org)?;
        let recycled = self.recycled_ids(org).await?;
        let mut out = Vec::new();
        for acc in self.store.list_accounts(Some(org)).await? {
            if acc.kind != AccountKind::Shared || recycled.contains(&acc.id.0) {
                continue;
            }
            let profile = self.profile(acc.id).await?.value;
            let users = self
                .check_users(org, &profile.shared_users)
                .await
                .unwrap_or_default();
            out.push(SharedMailbox {
                mailbox: self.member_view(&acc).await?,
                users,
            });
        }
        Ok(out)
    }

    /// Replaces the users of a business mailbox.
    pub async fn set_shared_users(
        &self,
        caller: &Caller,
        account: AccountId,
        users: Vec<i64>,
    ) -> AdminResult<SharedMailbox> {
        let acc = self
            .account_in_scope(caller, account, Right::SharedMailboxes)
            .await?;
        if acc.kind != AccountKind::Shared {
            return Err(AdminError::invalid(format!(
                "{} is not a business mailbox",
                acc.address
            )));
        }
        let names = self.check_users(acc.org, &users).await?;
        let mut profile = self.profile(account).await?;
        let before = profile.value.shared_users.clone();
        profile.value.shared_users = users;
        save(
            self.store.as_ref(),
            MEMBER_KIND,
            &account_key(account),
            Some(acc.org),
            &profile,
        )
        .await?;
        self.op_log(
            caller,
            acc.org,
            "shared.users",
            &acc.address.to_string(),
            Some(serde_json::json!(before)),
            Some(serde_json::json!(names)),
        )
        .await?;
        Ok(SharedMailbox {
            mailbox: self.member_view(&acc).await?,
            users: names,
        })
    }
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

/// Marks a member activated on first login and delivers the welcome letter when the
/// organisation has it on. Returns whether this was the first login.
pub async fn first_login(store: &dyn Backend, account: &Account) -> crate::error::Result<bool> {
    let key = account_key(account.id);
    let Some(rec) = store.get_record(MEMBER_KIND, &key).await? else {
        return Ok(false);
    };
    let Ok(mut profile) = serde_json::from_value::<MemberProfile>(rec.value.clone()) else {
        return Ok(false);
    };
    if profile.activated || account.kind != AccountKind::Member {
        return Ok(false);
    }
    profile.activated = true;
    let value = serde_json::to_value(&profile)
        .map_err(|e| crate::error::StoreError::Invalid(e.to_string()))?;
    match store
        .put_record(
            MEMBER_KIND,
            &key,
            Some(account.org),
            &value,
            Expect::Version(rec.version),
        )
        .await
    {
        Ok(_) => {}
        // Another login of the same member got there first.
        Err(crate::error::StoreError::Conflict(_)) => return Ok(false),
        Err(e) => return Err(e),
    }
    let settings: OrgSettings = store
        .get_record(super::org::SETTINGS_KIND, &account.org.0.to_string())
        .await?
        .and_then(|r| serde_json::from_value(r.value).ok())
        .unwrap_or_default();
    if settings.welcome.enabled {
        let org = store
            .org(account.org)
            .await?
            .map(|o| o.name)
            .unwrap_or_default();
        let name = account
            .display_name
            .clone()
            .unwrap_or_else(|| account.address.local_part().to_string());
        let address = account.address.to_string();
        let subject = fill(
            settings
                .welcome
                .subject
                .as_deref()
                .unwrap_or(WELCOME_SUBJECT),
            &name,
            &address,
            &org,
        );
        let body = fill(
            settings.welcome.body.as_deref().unwrap_or(WELCOME_BODY),
            &name,
            &address,
            &org,
        );
        let raw = welcome_message(&subject, &body, &address, crate::now());
        store.ensure_default_mailboxes(account.id).await?;
        if let Some(inbox) = store.mailbox(account.id, INBOX).await? {
            store
                .deliver(
                    Bytes::from(raw),
                    crate::now(),
                    &[DeliveryTarget {
                        mailbox: inbox.id,
                        flags: Default::default(),
                    }],
                )
                .await?;
        }
    }
    Ok(true)
}

/// Builds the welcome message (RFC 5322, UTF-8 with encoded-word subject when needed).
fn welcome_message(subject: &str, body: &str, to: &str, now: i64) -> Vec<u8> {
    let subject = if subject.is_ascii() {
        subject.to_owned()
    } else {
        format!(
            "=?UTF-8?B?{}?=",
            base64::engine::general_purpose::STANDARD.encode(subject.as_bytes())
        )
    };
    let body = body.replace("\r\n", "\n").replace('\n', "\r\n");
    let date = mailcore::message::date::DateTime {
        timestamp: now,
        offset_minutes: 0,
    }
    .to_rfc5322();
    format!(
        "From: postmaster <postmaster@{domain}>\r\nTo: <{to}>\r\nSubject: {subject}\r\nDate: {date}\r\n\
         Message-ID: <welcome.{now}.{rand}@{domain}>\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}",
        domain = to.rsplit('@').next().unwrap_or("localhost"),
        rand = super::random_token(4),
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn welcome_message_parses_back_with_a_unicode_subject() {
        let raw = welcome_message("欢迎 {x}", "第一行\n second", "张三@example.com", 0);
        let msg = mailcore::message::Message::parse(Bytes::from(raw.clone()));
        assert_eq!(msg.subject().as_deref(), Some("欢迎 {x}"));
        let text = String::from_utf8(raw).unwrap();
        assert!(text.contains("\r\n\r\n第一行\r\n second"), "{text}");
        assert!(
            text.contains("Date: Thu, 01 Jan 1970 00:00:00 +0000"),
            "{text}"
        );
    }

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
