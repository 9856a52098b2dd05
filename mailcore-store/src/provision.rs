//! Provisioning operations shared by the CLI and (later) the admin API: each validates its
//! input, applies the directory rules and writes through the store traits.

use mailcore::address::{Domain, EmailAddress};

use crate::Backend;
use crate::directory::{Account, AccountKind, DomainRecord, Edition, Group, NewAccount, Resolved};
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

/// Adds `alias` as another address of the account whose address (or alias) is `target`.
pub async fn add_alias(
    store: &dyn Backend,
    alias: &EmailAddress,
    target: &EmailAddress,
) -> Result<()> {
    let account = match store.resolve(target).await? {
        Resolved::Account(a) | Resolved::Alias(a) => a,
        _ => return Err(StoreError::NotFound(format!("account {target}"))),
    };
    if domain_org(store, alias).await? != account.org {
        return Err(StoreError::Invalid(format!(
            "{alias} is not on a domain of {}'s organisation",
            account.address
        )));
    }
    store.add_alias(alias, account.id).await
}

/// Creates a mail group with members (local or external addresses) and representatives (local
/// accounts that may send as the group).
pub async fn add_group(
    store: &dyn Backend,
    address: &EmailAddress,
    name: Option<&str>,
    members: &[EmailAddress],
    representatives: &[EmailAddress],
) -> Result<Group> {
    let org = domain_org(store, address).await?;
    for r in representatives {
        if !matches!(
            store.resolve(r).await?,
            Resolved::Account(_) | Resolved::Alias(_)
        ) {
            return Err(StoreError::NotFound(format!("representative account {r}")));
        }
    }
    let group = Group {
        address: address.clone(),
        org,
        name: name.map(str::to_owned),
        members: members.to_vec(),
        representatives: representatives.to_vec(),
    };
    store.create_group(&group).await?;
    Ok(group)
}
