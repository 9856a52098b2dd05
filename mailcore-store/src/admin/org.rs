//! Organisations, editions, settings and domains.

use mailcore::address::{Domain, EmailAddress};
use serde::{Deserialize, Serialize};

use super::access::{IpRestriction, ProtocolSwitches};
use super::roles::{ADMIN_KIND, AdminGrant, Role};
use super::{
    Admin, AdminError, AdminResult, Caller, EditionLimits, ErrorCode, Right, Versioned, load, save,
};
use crate::directory::{AccountKind, DomainRecord, Edition, NewAccount, OrgId, Organisation};
use crate::record::Expect;

pub(crate) const SETTINGS_KIND: &str = "org_settings";

/// The welcome letter a new member receives at first login.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WelcomeLetter {
    /// Whether new members get one.
    pub enabled: bool,
    /// Custom subject (`None`: the built-in one). `{name}`, `{address}` and `{org}` are
    /// replaced.
    pub subject: Option<String>,
    /// Custom plain-text body (`None`: the built-in one), with the same placeholders.
    pub body: Option<String>,
}

impl Default for WelcomeLetter {
    fn default() -> WelcomeLetter {
        WelcomeLetter {
            enabled: true,
            subject: None,
            body: None,
        }
    }
}

/// An organisation's settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct OrgSettings {
    /// VIP seats bought.
    pub vip_seats: u32,
    /// Most members (`None`: unlimited).
    pub max_members: Option<u32>,
    /// Secure login for the whole organisation: clients must use app passwords.
    pub secure_login: bool,
    /// Members (account ids) with secure login forced individually.
    pub secure_login_members: Vec<i64>,
    /// Which client protocols members may use (departments and members may override).
    pub protocols: ProtocolSwitches,
    /// IP login restriction (professional edition).
    pub ip_restriction: Option<IpRestriction>,
    /// Members may set up automatic forwarding.
    pub allow_auto_forward: bool,
    /// Members may restore permanently deleted mail.
    pub allow_restore_deleted: bool,
    /// The welcome letter.
    pub welcome: WelcomeLetter,
    /// Whether joining by invitation needs an administrator's approval by default.
    pub invitation_approval: bool,
    /// The organisation's trial domain while it has one.
    pub trial_domain: Option<String>,
}

impl Default for OrgSettings {
    fn default() -> OrgSettings {
        OrgSettings {
            vip_seats: 0,
            max_members: None,
            secure_login: false,
            secure_login_members: Vec::new(),
            protocols: ProtocolSwitches::default(),
            ip_restriction: None,
            allow_auto_forward: true,
            allow_restore_deleted: true,
            welcome: WelcomeLetter::default(),
            invitation_approval: false,
            trial_domain: None,
        }
    }
}

/// A partial update of [`OrgSettings`]: absent fields are left as they are.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default, deny_unknown_fields)]
pub struct SettingsPatch {
    /// VIP seats bought.
    pub vip_seats: Option<u32>,
    /// Most members (0: unlimited).
    pub max_members: Option<u32>,
    /// Organisation-wide secure login.
    pub secure_login: Option<bool>,
    /// Members with secure login forced.
    pub secure_login_members: Option<Vec<i64>>,
    /// Protocol switches.
    pub protocols: Option<ProtocolSwitches>,
    /// IP restriction; an empty `allowed` list turns it off.
    pub ip_restriction: Option<IpRestriction>,
    /// Members may auto-forward.
    pub allow_auto_forward: Option<bool>,
    /// Members may restore deleted mail.
    pub allow_restore_deleted: Option<bool>,
    /// Welcome letter.
    pub welcome: Option<WelcomeLetter>,
    /// Invitation approval default.
    pub invitation_approval: Option<bool>,
}

/// An organisation with its edition's limits and usage.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OrgInfo {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// `basic` or `professional`.
    pub edition: String,
    /// Creation time (seconds since the epoch).
    pub created: i64,
    /// The edition's limits.
    pub limits: EditionLimits,
    /// Members (enabled or not, recycle bin excluded).
    pub members: usize,
    /// Business mailboxes.
    pub shared_mailboxes: usize,
    /// VIP seats bought.
    pub vip_seats: u32,
    /// VIP seats in use.
    pub vip_seats_used: u32,
    /// Domains (trial domain included).
    pub domains: usize,
    /// The creator's address.
    pub creator: Option<String>,
}

/// A domain and whether it is the trial domain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DomainInfo {
    /// The domain (U-label form as added).
    pub name: String,
    /// Organisation id.
    pub org: i64,
    /// Whether DNS verification succeeded.
    pub verified: bool,
    /// Whether this is the organisation's trial domain.
    pub trial: bool,
    /// Creation time.
    pub created: i64,
}

fn parse_edition(s: &str) -> AdminResult<Edition> {
    Edition::parse(s).ok_or_else(|| {
        AdminError::invalid(format!("unknown edition {s:?} (basic or professional)"))
    })
}

/// A trial-domain label from an organisation name: lowercase letters, digits and hyphens.
fn trial_label(name: &str) -> String {
    let mut label: String = name
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    label = label.trim_matches('-').to_owned();
    label.truncate(40);
    if label.is_empty() {
        label.push_str("org");
    }
    label
}

impl Admin {
    /// An organisation's settings (defaults if never set).
    pub(crate) async fn settings_versioned(
        &self,
        org: OrgId,
    ) -> AdminResult<Versioned<OrgSettings>> {
        Ok(load(self.store.as_ref(), SETTINGS_KIND, &org.0.to_string())
            .await?
            .unwrap_or(Versioned {
                value: OrgSettings::default(),
                version: None,
            }))
    }

    /// An organisation's settings.
    pub async fn settings(&self, caller: &Caller, org: OrgId) -> AdminResult<OrgSettings> {
        caller.require_org(org)?;
        Ok(self.settings_versioned(org).await?.value)
    }

    /// The organisation's record, or `NotFound`.
    pub(crate) async fn org_record(&self, org: OrgId) -> AdminResult<Organisation> {
        self.store
            .org(org)
            .await?
            .ok_or_else(|| AdminError::not_found(format!("organisation {}", org.0)))
    }

    /// The limits that apply to an organisation.
    pub async fn limits(&self, org: OrgId) -> AdminResult<EditionLimits> {
        let o = self.org_record(org).await?;
        Ok(self.config.limits(o.edition).clone())
    }

    /// Refuses with `edition_required` unless the organisation is professional.
    pub(crate) async fn require_professional(&self, org: OrgId, feature: &str) -> AdminResult<()> {
        let o = self.org_record(org).await?;
        if o.edition == Edition::Professional {
            Ok(())
        } else {
            Err(AdminError::new(
                ErrorCode::EditionRequired,
                format!("{feature} needs the professional edition"),
            ))
        }
    }

    /// Creates an organisation (operator only) with its trial domain `<name>.<trial suffix>`
    /// and its creator's mailbox `<creator_local>@<trial domain>`, which holds the creator role.
    pub async fn create_org(
        &self,
        caller: &Caller,
        name: &str,
        edition: &str,
        creator_local: &str,
        creator_password: &str,
    ) -> AdminResult<OrgInfo> {
        if !caller.is_operator() {
            return Err(AdminError::forbidden(
                "only the deployment operator creates organisations",
            ));
        }
        let edition = parse_edition(edition)?;
        let trial: Domain = format!("{}.{}", trial_label(name), self.config.trial_suffix)
            .parse()
            .map_err(|e| AdminError::invalid(format!("trial domain: {e}")))?;
        let creator: EmailAddress = format!("{creator_local}@{trial}")
            .parse()
            .map_err(|e| AdminError::invalid(format!("creator address: {e}")))?;
        let hash = crate::password::hash_password_async(creator_password).await?;
        // Everything that can be refused is checked before the first write.
        if self.store.org_by_name(name.trim()).await?.is_some() {
            return Err(AdminError::new(
                ErrorCode::AlreadyExists,
                format!("organisation {name:?} already exists"),
            ));
        }
        if self.store.domain(&trial).await?.is_some() {
            return Err(AdminError::new(
                ErrorCode::AlreadyExists,
                format!("trial domain {trial} is taken; choose another organisation name"),
            ));
        }
        let org = self.store.create_org(name, edition).await?;
        self.store.add_domain(org.id, &trial).await?;
        self.store.set_domain_verified(&trial, true).await?;
        let account = self
            .store
            .create_account(NewAccount {
                org: org.id,
                address: creator.clone(),
                display_name: None,
                password_hash: Some(hash),
                quota_bytes: Some(self.config.limits(edition).member_quota_bytes),
                kind: AccountKind::Member,
            })
            .await?;
        self.store.ensure_default_mailboxes(account.id).await?;
        let settings = OrgSettings {
            trial_domain: Some(trial.to_string()),
            ..OrgSettings::default()
        };
        self.store
            .put_record(
                SETTINGS_KIND,
                &org.id.0.to_string(),
                Some(org.id),
                &super::encode(&settings)?,
                Expect::Any,
            )
            .await?;
        self.store
            .put_record(
                ADMIN_KIND,
                &account.id.0.to_string(),
                Some(org.id),
                &super::encode(&AdminGrant {
                    account: account.id.0,
                    address: creator.to_string(),
                    org: org.id.0,
                    role: Role::Creator,
                })?,
                Expect::Any,
            )
            .await?;
        self.op_log(
            caller,
            org.id,
            "org.create",
            name,
            None,
            Some(serde_json::json!({"edition": edition.as_str(), "creator": creator.to_string()})),
        )
        .await?;
        self.org_info(caller, org.id).await
    }

    /// Organisations the caller may see.
    pub async fn list_orgs(&self, caller: &Caller) -> AdminResult<Vec<OrgInfo>> {
        let mut out = Vec::new();
        for o in self.store.list_orgs().await? {
            if caller.require_org(o.id).is_ok() {
                out.push(self.org_info(caller, o.id).await?);
            }
        }
        Ok(out)
    }

    /// An organisation with limits and usage.
    pub async fn org_info(&self, caller: &Caller, org: OrgId) -> AdminResult<OrgInfo> {
        caller.require_org(org)?;
        let o = self.org_record(org).await?;
        let settings = self.settings_versioned(org).await?.value;
        let accounts = self.store.list_accounts(Some(org)).await?;
        let recycled = self.recycled_ids(org).await?;
        let members = accounts
            .iter()
            .filter(|a| a.kind == AccountKind::Member && !recycled.contains(&a.id.0))
            .count();
        let shared = accounts
            .iter()
            .filter(|a| a.kind == AccountKind::Shared && !recycled.contains(&a.id.0))
            .count();
        let vip_used = self.vip_seats_used(org).await?;
        let domains = self.store.list_domains(Some(org)).await?.len();
        let admins: Vec<AdminGrant> =
            super::list(self.store.as_ref(), ADMIN_KIND, Some(org)).await?;
        Ok(OrgInfo {
            id: o.id.0,
            name: o.name,
            edition: o.edition.as_str().into(),
            created: o.created,
            limits: self.config.limits(o.edition).clone(),
            members,
            shared_mailboxes: shared,
            vip_seats: settings.vip_seats,
            vip_seats_used: vip_used,
            domains,
            creator: admins
                .into_iter()
                .find(|g| g.role == Role::Creator)
                .map(|g| g.address),
        })
    }

    /// Changes an organisation's edition (operator only). Downgrading is refused while the
    /// organisation uses more domains than the basic edition allows.
    pub async fn set_edition(
        &self,
        caller: &Caller,
        org: OrgId,
        edition: &str,
    ) -> AdminResult<OrgInfo> {
        if !caller.is_operator() {
            return Err(AdminError::forbidden(
                "only the deployment operator changes editions",
            ));
        }
        let edition = parse_edition(edition)?;
        let before = self.org_record(org).await?;
        let real_domains = self.real_domain_count(org).await?;
        if real_domains > self.config.limits(edition).max_domains {
            return Err(AdminError::limit(format!(
                "the organisation has {real_domains} domains; the {} edition allows {}",
                edition.as_str(),
                self.config.limits(edition).max_domains
            )));
        }
        self.store.set_edition(org, edition).await?;
        self.op_log(
            caller,
            org,
            "org.edition",
            &before.name,
            Some(serde_json::json!(before.edition.as_str())),
            Some(serde_json::json!(edition.as_str())),
        )
        .await?;
        self.org_info(caller, org).await
    }

    /// Applies a settings patch.
    pub async fn update_settings(
        &self,
        caller: &Caller,
        org: OrgId,
        patch: SettingsPatch,
    ) -> AdminResult<OrgSettings> {
        let security = patch.secure_login.is_some()
            || patch.secure_login_members.is_some()
            || patch.protocols.is_some()
            || patch.ip_restriction.is_some();
        let general = patch.allow_auto_forward.is_some()
            || patch.allow_restore_deleted.is_some()
            || patch.welcome.is_some()
            || patch.invitation_approval.is_some();
        if patch.vip_seats.is_some() || patch.max_members.is_some() {
            caller.require_full(org)?;
        }
        if security {
            caller.require(org, Right::Security)?;
        }
        if general {
            caller.require(org, Right::Settings)?;
        }
        caller.require_org(org)?;
        if let Some(ip) = &patch.ip_restriction
            && !ip.allowed.is_empty()
        {
            self.require_professional(org, "IP login restriction")
                .await?;
            ip.validate()?;
        }
        let mut current = self.settings_versioned(org).await?;
        let before = current.value.clone();
        let s = &mut current.value;
        if let Some(v) = patch.vip_seats {
            let used = self.vip_seats_used(org).await?;
            if v < used {
                return Err(AdminError::limit(format!(
                    "{used} VIP seats are assigned; cannot reduce to {v}"
                )));
            }
            s.vip_seats = v;
        }
        if let Some(v) = patch.max_members {
            s.max_members = (v > 0).then_some(v);
        }
        if let Some(v) = patch.secure_login {
            s.secure_login = v;
        }
        if let Some(v) = patch.secure_login_members {
            s.secure_login_members = v;
        }
        if let Some(v) = patch.protocols {
            s.protocols = v;
        }
        if let Some(v) = patch.ip_restriction {
            s.ip_restriction = (!v.allowed.is_empty()).then_some(v);
        }
        if let Some(v) = patch.allow_auto_forward {
            s.allow_auto_forward = v;
        }
        if let Some(v) = patch.allow_restore_deleted {
            s.allow_restore_deleted = v;
        }
        if let Some(v) = patch.welcome {
            s.welcome = v;
        }
        if let Some(v) = patch.invitation_approval {
            s.invitation_approval = v;
        }
        save(
            self.store.as_ref(),
            SETTINGS_KIND,
            &org.0.to_string(),
            Some(org),
            &current,
        )
        .await?;
        self.op_log(
            caller,
            org,
            "settings.update",
            &org.0.to_string(),
            Some(super::encode(&before)?),
            Some(super::encode(&current.value)?),
        )
        .await?;
        Ok(current.value)
    }

    async fn real_domain_count(&self, org: OrgId) -> AdminResult<usize> {
        Ok(self
            .store
            .list_domains(Some(org))
            .await?
            .iter()
            .filter(|d| !self.config.is_trial_domain(&d.name))
            .count())
    }

    fn domain_info(d: &DomainRecord, trial: Option<&str>) -> DomainInfo {
        DomainInfo {
            name: d.name.to_string(),
            org: d.org.0,
            verified: d.verified,
            trial: trial.is_some_and(|t| t.eq_ignore_ascii_case(&d.name.to_string())),
            created: d.created,
        }
    }

    /// An organisation's domains.
    pub async fn list_domains(&self, caller: &Caller, org: OrgId) -> AdminResult<Vec<DomainInfo>> {
        caller.require_org(org)?;
        let trial = self.settings_versioned(org).await?.value.trial_domain;
        Ok(self
            .store
            .list_domains(Some(org))
            .await?
            .iter()
            .map(|d| Self::domain_info(d, trial.as_deref()))
            .collect())
    }

    /// Adds a domain (unverified) within the edition's domain limit.
    pub async fn add_domain(
        &self,
        caller: &Caller,
        org: OrgId,
        domain: &str,
    ) -> AdminResult<DomainInfo> {
        caller.require(org, Right::Domains)?;
        let domain: Domain = domain
            .parse()
            .map_err(|e| AdminError::invalid(format!("domain {domain:?}: {e}")))?;
        let limits = self.limits(org).await?;
        if self.real_domain_count(org).await? >= limits.max_domains {
            return Err(AdminError::limit(format!(
                "the edition allows {} domain(s)",
                limits.max_domains
            )));
        }
        let rec = self.store.add_domain(org, &domain).await?;
        self.op_log(caller, org, "domain.add", &domain.to_string(), None, None)
            .await?;
        Ok(Self::domain_info(&rec, None))
    }

    /// The organisation that owns `domain`, checked against the caller.
    pub(crate) async fn domain_org(&self, caller: &Caller, domain: &Domain) -> AdminResult<OrgId> {
        let rec = self
            .store
            .domain(domain)
            .await?
            .ok_or_else(|| AdminError::not_found(format!("domain {domain}")))?;
        caller.require_org(rec.org)?;
        Ok(rec.org)
    }

    /// Removes a domain no address uses any more.
    pub async fn remove_domain(&self, caller: &Caller, domain: &str) -> AdminResult<()> {
        let domain: Domain = domain
            .parse()
            .map_err(|e| AdminError::invalid(format!("domain {domain:?}: {e}")))?;
        let org = self.domain_org(caller, &domain).await?;
        caller.require(org, Right::Domains)?;
        self.store.remove_domain(&domain).await?;
        let mut settings = self.settings_versioned(org).await?;
        if settings
            .value
            .trial_domain
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case(&domain.to_string()))
        {
            settings.value.trial_domain = None;
            save(
                self.store.as_ref(),
                SETTINGS_KIND,
                &org.0.to_string(),
                Some(org),
                &settings,
            )
            .await?;
        }
        self.op_log(
            caller,
            org,
            "domain.remove",
            &domain.to_string(),
            None,
            None,
        )
        .await
    }

    /// Records the outcome of a DNS verification. When a real domain becomes verified, the
    /// trial domain is retired: every address on it moves to the verified domain (the old
    /// address stays as an alias while the alias limit allows).
    pub async fn mark_domain_verified(
        &self,
        caller: &Caller,
        domain: &str,
        verified: bool,
    ) -> AdminResult<DomainInfo> {
        let domain: Domain = domain
            .parse()
            .map_err(|e| AdminError::invalid(format!("domain {domain:?}: {e}")))?;
        let org = self.domain_org(caller, &domain).await?;
        caller.require(org, Right::Domains)?;
        self.store.set_domain_verified(&domain, verified).await?;
        self.op_log(
            caller,
            org,
            "domain.verify",
            &domain.to_string(),
            None,
            Some(serde_json::json!({ "verified": verified })),
        )
        .await?;
        let mut settings = self.settings_versioned(org).await?;
        if let Some(trial) = settings.value.trial_domain.clone()
            && verified
            && !trial.eq_ignore_ascii_case(&domain.to_string())
        {
            self.retire_trial(org, &trial, &domain).await?;
            settings.value.trial_domain = None;
            save(
                self.store.as_ref(),
                SETTINGS_KIND,
                &org.0.to_string(),
                Some(org),
                &settings,
            )
            .await?;
        }
        let rec = self
            .store
            .domain(&domain)
            .await?
            .ok_or_else(|| AdminError::not_found(format!("domain {domain}")))?;
        Ok(Self::domain_info(&rec, None))
    }

    /// Moves the accounts of the trial domain to `real`, keeping the trial address as an
    /// alias; the trial domain itself stays (old addresses keep receiving).
    async fn retire_trial(&self, org: OrgId, trial: &str, real: &Domain) -> AdminResult<()> {
        for account in self.store.list_accounts(Some(org)).await? {
            if !account
                .address
                .domain()
                .to_string()
                .eq_ignore_ascii_case(trial)
            {
                continue;
            }
            let new: EmailAddress = format!("{}@{real}", account.address.local_part())
                .parse()
                .map_err(|e| AdminError::invalid(format!("{e}")))?;
            if self.store.resolve(&new).await? != crate::directory::Resolved::Unknown {
                continue;
            }
            let old = account.address.clone();
            self.store.rename_account(account.id, &new).await?;
            self.store.add_alias(&old, account.id).await?;
            let key = super::account_key(account.id);
            if let Some(mut grant) =
                load::<AdminGrant>(self.store.as_ref(), ADMIN_KIND, &key).await?
            {
                grant.value.address = new.to_string();
                save(self.store.as_ref(), ADMIN_KIND, &key, Some(org), &grant).await?;
            }
        }
        Ok(())
    }
}
