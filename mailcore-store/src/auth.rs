//! Password login against the directory, shared by SMTP AUTH, IMAP and POP3: the password
//! (main or app password), then the organisation's access rules
//! ([`crate::admin::access::check_login`]), then first-login activation (the welcome letter).

use std::net::IpAddr;

use mailcore::address::EmailAddress;
use mailcore::hook::Protocol;

use crate::Backend;
use crate::admin::access::{self, Credential};
use crate::directory::{Account, AccountKind, Resolved};
use crate::error::Result;

/// Why a login failed (for the login log; clients are only told "invalid credentials", or
/// that the protocol or address is not allowed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LoginFailure {
    /// The user name is not an address, or no account has it (as address or alias).
    UnknownUser,
    /// The account is disabled or in the recycle bin.
    Disabled,
    /// The password does not match, or the account has none.
    BadPassword,
    /// The protocol is switched off for this member.
    ProtocolDisabled,
    /// Secure login is on: only an app password is accepted.
    AppPasswordRequired,
    /// The client's IP address is not in the organisation's allowed list.
    IpNotAllowed,
    /// The user may not act as the requested authorization identity.
    NotAuthorized,
}

impl LoginFailure {
    /// A short reason for logs.
    pub fn as_str(&self) -> &'static str {
        match self {
            LoginFailure::UnknownUser => "unknown user",
            LoginFailure::Disabled => "account disabled",
            LoginFailure::BadPassword => "wrong password",
            LoginFailure::ProtocolDisabled => "protocol disabled",
            LoginFailure::AppPasswordRequired => "secure login requires an app password",
            LoginFailure::IpNotAllowed => "IP address not allowed",
            LoginFailure::NotAuthorized => "not a user of the requested mailbox",
        }
    }

    /// Whether the client may be told the specific reason (the password was right).
    pub fn is_policy(&self) -> bool {
        matches!(
            self,
            LoginFailure::ProtocolDisabled
                | LoginFailure::AppPasswordRequired
                | LoginFailure::IpNotAllowed
        )
    }
}

/// One login attempt.
#[derive(Clone, Copy, Debug)]
pub struct LoginRequest<'a> {
    /// User name (an account address or alias).
    pub user: &'a str,
    /// Password (main or app password).
    pub password: &'a str,
    /// The protocol logged in over.
    pub protocol: Protocol,
    /// The client's address.
    pub ip: Option<IpAddr>,
    /// The SASL authorization identity, when it differs from `user`: a business mailbox
    /// that `user` is one of the users of (RFC 4616 `authzid`).
    pub authzid: Option<&'a str>,
}

impl<'a> LoginRequest<'a> {
    /// A login as `user` with `password` over `protocol` from `ip`.
    pub fn new(
        user: &'a str,
        password: &'a str,
        protocol: Protocol,
        ip: Option<IpAddr>,
    ) -> LoginRequest<'a> {
        LoginRequest {
            user,
            password,
            protocol,
            ip,
            authzid: None,
        }
    }

    /// The same login acting as `authzid` (ignored when empty or equal to the user).
    pub fn acting_as(mut self, authzid: Option<&'a str>) -> LoginRequest<'a> {
        self.authzid = authzid.filter(|z| !z.trim().is_empty());
        self
    }
}

/// Checks a login: the password (main, or one of the account's app passwords — business
/// mailboxes only have app passwords), the account state and the access rules. With an
/// `authzid` naming a business mailbox the user is a user of, the result is that mailbox
/// (whose own state and rules are checked too). The argon2id
/// verification runs on the bounded verification pool (`password::VERIFY_THREADS` threads).
/// `Err` is a store failure; `Ok(Err(..))` a refused login.
pub async fn login(
    store: &dyn Backend,
    request: &LoginRequest<'_>,
) -> Result<std::result::Result<Account, LoginFailure>> {
    let Ok(address) = EmailAddress::parse(request.user.trim()) else {
        return Ok(Err(LoginFailure::UnknownUser));
    };
    let account = match store.resolve(&address).await? {
        Resolved::Account(a) | Resolved::Alias(a) => a,
        _ => return Ok(Err(LoginFailure::UnknownUser)),
    };
    let credential = if access::matches_app_password(store, &account, request.password).await? {
        Credential::AppPassword
    } else {
        let Some(hash) = account.password_hash.clone() else {
            return Ok(Err(LoginFailure::BadPassword));
        };
        if account.kind == AccountKind::Shared
            || !crate::password::verify_password_async(request.password, &hash).await
        {
            return Ok(Err(LoginFailure::BadPassword));
        }
        Credential::MainPassword
    };
    let rules = match access::check_login(store, &account, credential, request.protocol, request.ip)
        .await?
    {
        Ok(rules) => rules,
        Err(f) => return Ok(Err(f)),
    };
    if rules.first_login {
        crate::admin::first_login(store, &account).await?;
    }
    match request.authzid {
        Some(z) if !same_address(z, &account) => act_as(store, &account, z, request).await,
        _ => Ok(Ok(account)),
    }
}

fn same_address(name: &str, account: &Account) -> bool {
    EmailAddress::parse(name.trim()).is_ok_and(|a| {
        crate::directory::address_key(&a) == crate::directory::address_key(&account.address)
    })
}

/// The business mailbox `authzid`, if `user` is one of its users and it may log in now.
async fn act_as(
    store: &dyn Backend,
    user: &Account,
    authzid: &str,
    request: &LoginRequest<'_>,
) -> Result<std::result::Result<Account, LoginFailure>> {
    let Ok(address) = EmailAddress::parse(authzid.trim()) else {
        return Ok(Err(LoginFailure::NotAuthorized));
    };
    let shared = match store.resolve(&address).await? {
        Resolved::Account(a) | Resolved::Alias(a)
            if a.kind == AccountKind::Shared && a.org == user.org =>
        {
            a
        }
        _ => return Ok(Err(LoginFailure::NotAuthorized)),
    };
    if !crate::admin::shared_mailbox_users(store, &shared)
        .await?
        .contains(&user.id.0)
    {
        return Ok(Err(LoginFailure::NotAuthorized));
    }
    // The user's own rules were checked; the mailbox's state and rules apply as well.
    if let Err(f) = access::check_login(
        store,
        &shared,
        Credential::AppPassword,
        request.protocol,
        request.ip,
    )
    .await?
    {
        return Ok(Err(f));
    }
    Ok(Ok(shared))
}

/// Appends the login-log record of an attempt (every protocol writes the same fields). A
/// refused attempt is filed under the account it named, when there is one, so that
/// per-member and per-organisation queries see failures too.
pub async fn record_login(
    store: &dyn Backend,
    request: &LoginRequest<'_>,
    mechanism: &str,
    result: &std::result::Result<Account, LoginFailure>,
    refused_by_policy: bool,
    tls: Option<bool>,
) {
    let account = match result {
        Ok(a) => Some(a.clone()),
        Err(_) => match EmailAddress::parse(request.user.trim()) {
            Ok(address) => match store.resolve(&address).await {
                Ok(Resolved::Account(a) | Resolved::Alias(a)) => Some(a),
                _ => None,
            },
            Err(_) => None,
        },
    };
    let success = result.is_ok() && !refused_by_policy;
    let mut data = serde_json::json!({
        "protocol": request.protocol.to_string(),
        "user": request.user,
        "ip": request.ip.map(|r| r.to_string()),
        "mechanism": mechanism,
        "result": if success { "success" } else { "failure" },
        "reason": match (result, refused_by_policy) {
            (Err(f), _) => f.as_str(),
            (Ok(_), true) => "refused by policy",
            (Ok(_), false) => "",
        },
    });
    if let Some(map) = data.as_object_mut() {
        if let Some(tls) = tls {
            map.insert("tls".into(), serde_json::Value::Bool(tls));
        }
        if let Some(z) = request.authzid {
            map.insert("authzid".into(), serde_json::Value::from(z));
        }
    }
    let _ = store
        .append_log(crate::log::NewLogRecord {
            kind: crate::log::LogKind::Login,
            time: crate::now(),
            org: account.as_ref().map(|a| a.org),
            account: account.as_ref().map(|a| a.address.to_string()),
            data,
        })
        .await;
}
