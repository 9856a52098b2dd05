//! Directory persistence: organisations, domains, accounts, aliases and groups.
//!
//! One address namespace: an address belongs to at most one account, alias or group.
//! Addresses are matched by [`address_key`] (lowercase local part, A-label domain), so
//! `Tom@Example.COM` and `tom@example.com` are the same mailbox.

use async_trait::async_trait;
use mailcore::address::{Domain, EmailAddress};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::mailbox::AccountId;

/// The key an address is stored and looked up under.
pub fn address_key(address: &EmailAddress) -> String {
    format!(
        "{}@{}",
        address.local_part().as_str().to_lowercase(),
        address.domain().as_ascii()
    )
}

/// An organisation's id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct OrgId(pub i64);

/// The edition an organisation has bought; it decides limits and features.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Edition {
    /// Basic.
    Basic,
    /// Professional.
    Professional,
}

impl Edition {
    /// Storage name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Edition::Basic => "basic",
            Edition::Professional => "professional",
        }
    }

    /// Parses a storage name.
    pub fn parse(s: &str) -> Option<Edition> {
        match s {
            "basic" => Some(Edition::Basic),
            "professional" => Some(Edition::Professional),
            _ => None,
        }
    }
}

/// An organisation (tenant).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Organisation {
    /// Id.
    pub id: OrgId,
    /// Display name (unique).
    pub name: String,
    /// Edition.
    pub edition: Edition,
    /// Creation time, seconds since the epoch.
    pub created: i64,
}

/// A mail domain of an organisation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainRecord {
    /// The domain.
    pub name: Domain,
    /// Owner.
    pub org: OrgId,
    /// Whether DNS verification succeeded.
    pub verified: bool,
    /// Creation time.
    pub created: i64,
}

/// What kind of mailbox an account is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum AccountKind {
    /// A member's personal account.
    Member,
    /// A business (shared) mailbox.
    Shared,
}

impl AccountKind {
    /// Storage name.
    pub fn as_str(&self) -> &'static str {
        match self {
            AccountKind::Member => "member",
            AccountKind::Shared => "shared",
        }
    }

    /// Parses a storage name.
    pub fn parse(s: &str) -> Option<AccountKind> {
        match s {
            "member" => Some(AccountKind::Member),
            "shared" => Some(AccountKind::Shared),
            _ => None,
        }
    }
}

/// An account: something that logs in and has mailboxes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// Id.
    pub id: AccountId,
    /// Organisation.
    pub org: OrgId,
    /// Primary address.
    pub address: EmailAddress,
    /// Display name.
    pub display_name: Option<String>,
    /// PHC-format password hash (argon2id), if a password is set.
    pub password_hash: Option<String>,
    /// Disabled accounts cannot log in and refuse mail permanently.
    pub enabled: bool,
    /// Quota in bytes; `None` is unlimited.
    pub quota_bytes: Option<u64>,
    /// Member or shared mailbox.
    pub kind: AccountKind,
    /// Creation time.
    pub created: i64,
}

/// The fields of a new account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewAccount {
    /// Organisation.
    pub org: OrgId,
    /// Primary address; its domain must belong to the organisation.
    pub address: EmailAddress,
    /// Display name.
    pub display_name: Option<String>,
    /// PHC-format password hash.
    pub password_hash: Option<String>,
    /// Quota in bytes.
    pub quota_bytes: Option<u64>,
    /// Kind.
    pub kind: AccountKind,
}

/// A mail group (distribution list).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    /// The group's address.
    pub address: EmailAddress,
    /// Organisation.
    pub org: OrgId,
    /// Display name.
    pub name: Option<String>,
    /// Member addresses: accounts, aliases, other groups, or external addresses.
    pub members: Vec<EmailAddress>,
    /// Accounts that may send as the group.
    pub representatives: Vec<EmailAddress>,
}

/// What an address is.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Resolved {
    /// An account's primary address.
    Account(Account),
    /// An alias of this account.
    Alias(Account),
    /// A group.
    Group(Group),
    /// Nothing known.
    Unknown,
}

/// Directory persistence.
#[async_trait]
pub trait DirectoryStore: Send + Sync {
    /// Creates an organisation (names are unique).
    async fn create_org(&self, name: &str, edition: Edition) -> Result<Organisation>;

    /// An organisation by id.
    async fn org(&self, id: OrgId) -> Result<Option<Organisation>>;

    /// An organisation by name.
    async fn org_by_name(&self, name: &str) -> Result<Option<Organisation>>;

    /// Changes an organisation's edition.
    async fn set_edition(&self, id: OrgId, edition: Edition) -> Result<()>;

    /// All organisations.
    async fn list_orgs(&self) -> Result<Vec<Organisation>>;

    /// Adds a domain to an organisation (domains are unique across the store).
    async fn add_domain(&self, org: OrgId, domain: &Domain) -> Result<DomainRecord>;

    /// Removes a domain; refused with `Conflict` while accounts, aliases or groups use it.
    async fn remove_domain(&self, domain: &Domain) -> Result<()>;

    /// A domain's record.
    async fn domain(&self, domain: &Domain) -> Result<Option<DomainRecord>>;

    /// Domains, of one organisation or all.
    async fn list_domains(&self, org: Option<OrgId>) -> Result<Vec<DomainRecord>>;

    /// Marks a domain verified or not.
    async fn set_domain_verified(&self, domain: &Domain, verified: bool) -> Result<()>;

    /// Creates an account; its address must be free and its domain the organisation's.
    async fn create_account(&self, account: NewAccount) -> Result<Account>;

    /// An account by id.
    async fn account(&self, id: AccountId) -> Result<Option<Account>>;

    /// An account by primary address.
    async fn account_by_address(&self, address: &EmailAddress) -> Result<Option<Account>>;

    /// Accounts, of one organisation or all, ordered by address.
    async fn list_accounts(&self, org: Option<OrgId>) -> Result<Vec<Account>>;

    /// Saves changed display name, password hash, enabled flag and quota of an account.
    async fn update_account(&self, account: &Account) -> Result<()>;

    /// Changes an account's primary address (the new address must be free and on one of the
    /// organisation's domains; the old one is released).
    async fn rename_account(&self, id: AccountId, address: &EmailAddress) -> Result<Account>;

    /// Deletes an account, its aliases and its mailboxes.
    async fn delete_account(&self, id: AccountId) -> Result<()>;

    /// Adds an alias address for an account (the address must be free, on one of the
    /// organisation's domains).
    async fn add_alias(&self, alias: &EmailAddress, account: AccountId) -> Result<()>;

    /// Removes an alias.
    async fn remove_alias(&self, alias: &EmailAddress) -> Result<()>;

    /// An account's aliases, ordered.
    async fn aliases(&self, account: AccountId) -> Result<Vec<EmailAddress>>;

    /// Creates a group (its address must be free, on one of the organisation's domains).
    async fn create_group(&self, group: &Group) -> Result<()>;

    /// Replaces a group's name, members and representatives.
    async fn update_group(&self, group: &Group) -> Result<()>;

    /// Deletes a group.
    async fn delete_group(&self, address: &EmailAddress) -> Result<()>;

    /// A group by address.
    async fn group(&self, address: &EmailAddress) -> Result<Option<Group>>;

    /// Groups, of one organisation or all, ordered by address.
    async fn list_groups(&self, org: Option<OrgId>) -> Result<Vec<Group>>;

    /// What an address is: account, alias, group or unknown.
    async fn resolve(&self, address: &EmailAddress) -> Result<Resolved>;
}
