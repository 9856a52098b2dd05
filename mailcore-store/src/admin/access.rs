//! Login access rules: app (client-specific) passwords, secure login, protocol switches and
//! IP restriction, and the one check every protocol runs at login ([`check_login`]).
//!
//! Order of the checks, so that the login log says the most useful reason:
//!
//! ```text
//!  credentials ─► main password or app password? ─► account enabled, not in the recycle bin
//!      ─► protocol allowed (member override ▸ nearest department ▸ organisation)
//!      ─► secure login on? then only an app password will do
//!      ─► IP restriction (professional; exempt members pass)
//! ```

use std::net::IpAddr;

use mailcore::hook::Protocol;
use mailcore::net::Network;
use serde::{Deserialize, Serialize};

use super::directory::{DEPARTMENT_KIND, Department, MEMBER_KIND, MemberProfile};
use super::org::{OrgSettings, SETTINGS_KIND};
use super::{Admin, AdminError, AdminResult, Caller, Right, secret_digest};
use crate::Backend;
use crate::auth::LoginFailure;
use crate::directory::Account;
use crate::error::Result;
use crate::mailbox::AccountId;
use crate::record::Expect;

pub(crate) const APP_PASSWORD_KIND: &str = "app_password";
/// Index from an app password's digest to its account, so a login costs one lookup.
pub(crate) const APP_DIGEST_KIND: &str = "app_password_digest";

/// Which client protocols are allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProtocolSwitches {
    /// IMAP.
    pub imap: bool,
    /// POP3.
    pub pop3: bool,
    /// SMTP submission (AUTH).
    pub smtp: bool,
}

impl Default for ProtocolSwitches {
    fn default() -> ProtocolSwitches {
        ProtocolSwitches {
            imap: true,
            pop3: true,
            smtp: true,
        }
    }
}

impl ProtocolSwitches {
    /// Whether `protocol` is allowed (the HTTP API is not a mail client protocol).
    pub fn allows(&self, protocol: Protocol) -> bool {
        match protocol {
            Protocol::Imap => self.imap,
            Protocol::Pop3 => self.pop3,
            Protocol::Smtp | Protocol::Submission => self.smtp,
            _ => true,
        }
    }
}

/// IP login restriction.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IpRestriction {
    /// Networks (CIDR or single addresses) members may log in from.
    pub allowed: Vec<String>,
    /// Members (account ids) not restricted.
    #[serde(default)]
    pub exempt: Vec<i64>,
}

impl IpRestriction {
    /// Checks every network parses.
    pub fn validate(&self) -> AdminResult<()> {
        for n in &self.allowed {
            if Network::parse(n).is_none() {
                return Err(AdminError::invalid(format!("{n:?} is not an IP network")));
            }
        }
        Ok(())
    }

    /// Whether `ip` is allowed for `account`.
    pub fn allows(&self, account: AccountId, ip: Option<IpAddr>) -> bool {
        if self.exempt.contains(&account.0) {
            return true;
        }
        let Some(ip) = ip else { return false };
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.allowed
            .iter()
            .filter_map(|n| Network::parse(n))
            .any(|n| n.contains(ip))
    }
}

/// A client-specific password (the secret itself is shown once, at creation).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AppPassword {
    /// Id (unique per account).
    pub id: String,
    /// The account it opens.
    pub account: i64,
    /// What it is for ("phone", "Thunderbird at home").
    pub name: String,
    /// Creation time.
    pub created: i64,
}

/// A newly created app password with its secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewAppPassword {
    /// The stored description.
    pub info: AppPassword,
    /// The password to type into the client (not stored; shown once).
    pub password: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct AppPasswordRecord {
    info: AppPassword,
    digest: String,
}

/// The formatted secret: 16 lowercase letters and digits in four groups.
fn app_secret() -> String {
    use argon2::password_hash::rand_core::{OsRng, RngCore};
    // 80 random bits as 16 characters of a 32-letter alphabet without look-alikes.
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";
    let mut bytes = [0u8; 10];
    OsRng.fill_bytes(&mut bytes);
    let bits = bytes
        .iter()
        .fold(0u128, |acc, b| (acc << 8) | u128::from(*b));
    let mut out = String::with_capacity(19);
    for i in 0..16 {
        if i > 0 && i % 4 == 0 {
            out.push('-');
        }
        let idx = ((bits >> (5 * (15 - i))) & 31) as usize;
        out.push(char::from(ALPHABET[idx]));
    }
    out
}

/// Normalises a typed app password (case, spaces and hyphens do not matter).
fn normalise_app_password(p: &str) -> String {
    p.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

fn app_key(account: AccountId, id: &str) -> String {
    format!("{}:{id}", account.0)
}

impl Admin {
    /// Creates an app password for an account. Members create their own (`caller` is then the
    /// member, see [`Caller`]); administrators with the security right may create them for
    /// members and business mailboxes.
    pub async fn create_app_password(
        &self,
        caller: &Caller,
        account: AccountId,
        name: &str,
    ) -> AdminResult<NewAppPassword> {
        let acc = self
            .account_in_scope(caller, account, Right::Security)
            .await?;
        let existing = self.list_app_passwords_unchecked(&acc).await?;
        if existing.len() >= self.config.max_app_passwords {
            return Err(AdminError::limit(format!(
                "at most {} app passwords per account",
                self.config.max_app_passwords
            )));
        }
        let name = name.trim();
        if name.is_empty() || name.len() > 100 {
            return Err(AdminError::invalid(
                "an app password needs a name (1–100 characters)",
            ));
        }
        let id = super::next_id(self.store.as_ref(), Some(acc.org), "app_password")
            .await?
            .to_string();
        let password = app_secret();
        let info = AppPassword {
            id: id.clone(),
            account: account.0,
            name: name.to_owned(),
            created: crate::now(),
        };
        let record = AppPasswordRecord {
            info: info.clone(),
            digest: secret_digest(&normalise_app_password(&password)),
        };
        self.store
            .put_record(
                APP_DIGEST_KIND,
                &record.digest,
                Some(acc.org),
                &serde_json::json!({ "account": account.0, "id": id }),
                Expect::Absent,
            )
            .await?;
        self.store
            .put_record(
                APP_PASSWORD_KIND,
                &app_key(account, &id),
                Some(acc.org),
                &super::encode(&record)?,
                Expect::Absent,
            )
            .await?;
        self.op_log(
            caller,
            acc.org,
            "app_password.create",
            &acc.address.to_string(),
            None,
            Some(serde_json::json!({"id": id, "name": name})),
        )
        .await?;
        Ok(NewAppPassword { info, password })
    }

    async fn list_app_passwords_unchecked(&self, acc: &Account) -> AdminResult<Vec<AppPassword>> {
        let prefix = format!("{}:", acc.id.0);
        Ok(self
            .store
            .list_records(APP_PASSWORD_KIND, Some(acc.org))
            .await?
            .iter()
            .filter(|r| r.key.starts_with(&prefix))
            .map(super::decode::<AppPasswordRecord>)
            .collect::<AdminResult<Vec<_>>>()?
            .into_iter()
            .map(|r| r.info)
            .collect())
    }

    /// An account's app passwords (without secrets).
    pub async fn list_app_passwords(
        &self,
        caller: &Caller,
        account: AccountId,
    ) -> AdminResult<Vec<AppPassword>> {
        let acc = self
            .account_in_scope(caller, account, Right::Security)
            .await?;
        self.list_app_passwords_unchecked(&acc).await
    }

    /// Revokes an app password; clients using it fail at their next login.
    pub async fn revoke_app_password(
        &self,
        caller: &Caller,
        account: AccountId,
        id: &str,
    ) -> AdminResult<()> {
        let acc = self
            .account_in_scope(caller, account, Right::Security)
            .await?;
        let key = app_key(account, id);
        let Some(record) = self.store.get_record(APP_PASSWORD_KIND, &key).await? else {
            return Err(AdminError::not_found(format!("app password {id}")));
        };
        if let Some(digest) = record.value.get("digest").and_then(|d| d.as_str()) {
            self.store.delete_record(APP_DIGEST_KIND, digest).await?;
        }
        self.store.delete_record(APP_PASSWORD_KIND, &key).await?;
        self.op_log(
            caller,
            acc.org,
            "app_password.revoke",
            &acc.address.to_string(),
            Some(serde_json::json!({"id": id})),
            None,
        )
        .await
    }
}

/// How a login was proved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Credential {
    /// The account's main password.
    MainPassword,
    /// One of its app passwords.
    AppPassword,
}

/// Whether `password` is one of the account's app passwords.
pub async fn matches_app_password(
    store: &dyn Backend,
    account: &Account,
    password: &str,
) -> Result<bool> {
    let typed = normalise_app_password(password);
    if typed.len() != 16 {
        return Ok(false);
    }
    let digest = secret_digest(&typed);
    Ok(store
        .get_record(APP_DIGEST_KIND, &digest)
        .await?
        .and_then(|r| r.value.get("account").and_then(serde_json::Value::as_i64))
        == Some(account.id.0))
}

/// The access rules that apply to one account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Effective {
    /// Protocols allowed.
    pub protocols: ProtocolSwitches,
    /// Whether only app passwords are accepted.
    pub secure_login: bool,
    /// IP restriction in force (professional edition only).
    pub ip_restriction: Option<IpRestriction>,
    /// Whether the account is in the recycle bin.
    pub recycled: bool,
    /// Whether the member has never logged in (the next login activates them and delivers
    /// the welcome letter).
    pub first_login: bool,
}

/// Works out the rules for an account: member override, else the nearest department (walking
/// up the tree) that sets protocols, else the organisation.
pub async fn effective_access(store: &dyn Backend, account: &Account) -> Result<Effective> {
    let settings: OrgSettings = store
        .get_record(SETTINGS_KIND, &account.org.0.to_string())
        .await?
        .and_then(|r| serde_json::from_value(r.value).ok())
        .unwrap_or_default();
    let profile: Option<MemberProfile> = store
        .get_record(MEMBER_KIND, &account.id.0.to_string())
        .await?
        .and_then(|r| serde_json::from_value(r.value).ok());
    let recycled = store
        .get_record(super::recycle::RECYCLE_KIND, &account.id.0.to_string())
        .await?
        .is_some();
    let mut protocols = settings.protocols;
    if let Some(p) = profile.as_ref().and_then(|p| p.protocols) {
        protocols = p;
    } else if let Some(profile) = &profile {
        'depts: for dept in &profile.departments {
            let mut id = Some(*dept);
            let mut hops = 0;
            while let Some(d) = id {
                hops += 1;
                if hops > 64 {
                    break;
                }
                let key = format!("{}:{d}", account.org.0);
                let Some(rec) = store.get_record(DEPARTMENT_KIND, &key).await? else {
                    break;
                };
                let Ok(department) = serde_json::from_value::<Department>(rec.value) else {
                    break;
                };
                if let Some(p) = department.protocols {
                    protocols = p;
                    break 'depts;
                }
                id = department.parent;
            }
        }
    }
    let secure_login =
        settings.secure_login || settings.secure_login_members.contains(&account.id.0);
    let professional = store
        .org(account.org)
        .await?
        .is_some_and(|o| o.edition == crate::directory::Edition::Professional);
    Ok(Effective {
        protocols,
        secure_login,
        ip_restriction: settings.ip_restriction.filter(|_| professional),
        recycled,
        first_login: profile.as_ref().is_some_and(|p| !p.activated),
    })
}

/// The access check every protocol runs once the password is known to match; on success, the
/// rules that were applied.
pub async fn check_login(
    store: &dyn Backend,
    account: &Account,
    credential: Credential,
    protocol: Protocol,
    ip: Option<IpAddr>,
) -> Result<std::result::Result<Effective, LoginFailure>> {
    let rules = effective_access(store, account).await?;
    if rules.recycled || !account.enabled {
        return Ok(Err(LoginFailure::Disabled));
    }
    if !rules.protocols.allows(protocol) {
        return Ok(Err(LoginFailure::ProtocolDisabled));
    }
    if rules.secure_login
        && credential == Credential::MainPassword
        && matches!(
            protocol,
            Protocol::Imap | Protocol::Pop3 | Protocol::Smtp | Protocol::Submission
        )
    {
        return Ok(Err(LoginFailure::AppPasswordRequired));
    }
    if let Some(r) = &rules.ip_restriction
        && !r.allows(account.id, ip)
    {
        return Ok(Err(LoginFailure::IpNotAllowed));
    }
    Ok(Ok(rules))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn app_secret_shape_and_normalisation() {
        let s = app_secret();
        assert_eq!(s.len(), 19);
        assert_eq!(s.matches('-').count(), 3);
        assert_eq!(normalise_app_password(&s).len(), 16);
        assert_eq!(
            normalise_app_password(&s.to_uppercase().replace('-', " ")),
            normalise_app_password(&s)
        );
        assert_ne!(app_secret(), app_secret());
    }

    #[test]
    fn ip_restriction_with_exemptions_and_mapped_addresses() {
        let r = IpRestriction {
            allowed: vec!["10.0.0.0/8".into(), "192.0.2.7".into()],
            exempt: vec![7],
        };
        r.validate().unwrap();
        assert!(r.allows(AccountId(1), Some("10.9.8.7".parse().unwrap())));
        assert!(r.allows(AccountId(1), Some("::ffff:192.0.2.7".parse().unwrap())));
        assert!(!r.allows(AccountId(1), Some("127.0.0.1".parse().unwrap())));
        assert!(!r.allows(AccountId(1), None));
        assert!(r.allows(AccountId(7), Some("127.0.0.1".parse().unwrap())));
        assert!(
            IpRestriction {
                allowed: vec!["10.0.0.0/99".into()],
                exempt: vec![]
            }
            .validate()
            .is_err()
        );
    }
}
