//! Low-level provisioning for tests, benchmarks and embedders that bootstrap a store without
//! the administration layer. Everything an administrator does (with its limits, rights and
//! operation log) goes through [`crate::admin::Admin`] instead.

use mailcore::address::{Domain, EmailAddress};

use crate::Backend;
use crate::directory::{Account, AccountKind, DomainRecord, Edition, NewAccount};
use crate::error::{Result, StoreError};

/// The organisation the CLI provisions into when none is named.
pub const DEFAULT_ORG: &str = "default";

/// Adds `domain` to the organisation named `org` (created, professional edition, if missing).
pub async fn add_domain(store: &dyn Backend, org: &str, domain: &Domain) -> Result<DomainRecord> {
    let org = match store.org_by_name(org).await? {
        Some(o) => o,
        None => store.create_org(org, Edition::Professional).await?,
    };
    store.add_domain(org.id, domain).await
}

async fn domain_org(
    store: &dyn Backend,
    address: &EmailAddress,
) -> Result<crate::directory::OrgId> {
    store
        .domain(address.domain())
        .await?
        .map(|d| d.org)
        .ok_or_else(|| StoreError::NotFound(format!("domain {} (add it first)", address.domain())))
}

/// Creates a member account with an argon2id-hashed password and its default mailboxes.
pub async fn add_account(
    store: &dyn Backend,
    address: &EmailAddress,
    password: &str,
    display_name: Option<&str>,
    quota_bytes: Option<u64>,
) -> Result<Account> {
    let org = domain_org(store, address).await?;
    let account = store
        .create_account(NewAccount {
            org,
            address: address.clone(),
            display_name: display_name.map(str::to_owned),
            password_hash: Some(crate::password::hash_password_async(password).await?),
            quota_bytes,
            kind: AccountKind::Member,
        })
        .await?;
    store.ensure_default_mailboxes(account.id).await?;
    Ok(account)
}
