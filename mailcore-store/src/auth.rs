//! Password login against the directory, shared by SMTP AUTH, IMAP and POP3.

use mailcore::address::EmailAddress;

use crate::Backend;
use crate::directory::{Account, Resolved};
use crate::error::Result;

/// Why a login failed (for the login log; clients are only told "invalid credentials").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LoginFailure {
    /// The user name is not an address, or no account has it (as address or alias).
    UnknownUser,
    /// The account is disabled.
    Disabled,
    /// The password does not match, or the account has none.
    BadPassword,
}

impl LoginFailure {
    /// A short reason for logs.
    pub fn as_str(&self) -> &'static str {
        match self {
            LoginFailure::UnknownUser => "unknown user",
            LoginFailure::Disabled => "account disabled",
            LoginFailure::BadPassword => "wrong password",
        }
    }
}

/// Checks `user` (an account address or alias) and `password`. The argon2id verification runs
/// on the bounded verification pool (`password::VERIFY_THREADS` threads). `Err` is a store failure; `Ok(Err(..))` a refused login.
pub async fn login(
    store: &dyn Backend,
    user: &str,
    password: &str,
) -> Result<std::result::Result<Account, LoginFailure>> {
    let Ok(address) = EmailAddress::parse(user.trim()) else {
        return Ok(Err(LoginFailure::UnknownUser));
    };
    let account = match store.resolve(&address).await? {
        Resolved::Account(a) | Resolved::Alias(a) => a,
        _ => return Ok(Err(LoginFailure::UnknownUser)),
    };
    let Some(hash) = account.password_hash.clone() else {
        return Ok(Err(LoginFailure::BadPassword));
    };
    let ok = crate::password::verify_password_async(password, &hash).await;
    if !ok {
        return Ok(Err(LoginFailure::BadPassword));
    }
    if !account.enabled {
        return Ok(Err(LoginFailure::Disabled));
    }
    Ok(Ok(account))
}
