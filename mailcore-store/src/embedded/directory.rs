//! Directory persistence ([`DirectoryStore`]).
//!
//! The `addresses` table is the single address namespace: every account address, alias and
//! group claims its [`address_key`] there first, so a taken address fails on its primary key
//! whatever kind holds it.

use async_trait::async_trait;
use mailcore::address::{Domain, EmailAddress};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{Db, Embedded, corrupt, exists_as};
use crate::directory::{
    Account, AccountKind, DirectoryStore, DomainRecord, Edition, Group, NewAccount, OrgId,
    Organisation, Resolved, address_key,
};
use crate::error::{Result, StoreError};
use crate::mailbox::AccountId;

const ORG_SELECT: &str = "SELECT id, name, edition, created FROM orgs";
const DOMAIN_SELECT: &str = "SELECT display, org, verified, created FROM domains";
const ACCOUNT_SELECT: &str = "SELECT id, org, address, display_name, password_hash, enabled, quota_bytes, kind, created \
     FROM accounts";
const GROUP_SELECT: &str = "SELECT address, org, name, members, representatives FROM mail_groups";

type OrgRow = (i64, String, String, i64);
type DomainRow = (String, i64, bool, i64);
type AccountRow = (
    i64,
    i64,
    String,
    Option<String>,
    Option<String>,
    bool,
    Option<u64>,
    String,
    i64,
);
type GroupRow = (String, i64, Option<String>, String, String);

fn org_row(r: &Row<'_>) -> rusqlite::Result<OrgRow> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
}

fn org_from((id, name, edition, created): OrgRow) -> Result<Organisation> {
    Ok(Organisation {
        id: OrgId(id),
        name,
        edition: Edition::parse(&edition).ok_or_else(|| corrupt(format!("edition {edition:?}")))?,
        created,
    })
}

fn domain_row(r: &Row<'_>) -> rusqlite::Result<DomainRow> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
}

fn domain_from((display, org, verified, created): DomainRow) -> Result<DomainRecord> {
    Ok(DomainRecord {
        name: Domain::parse(&display).map_err(|e| corrupt(format!("domain {display:?}: {e}")))?,
        org: OrgId(org),
        verified,
        created,
    })
}

fn account_row(r: &Row<'_>) -> rusqlite::Result<AccountRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
    ))
}

fn address(s: &str) -> Result<EmailAddress> {
    EmailAddress::parse(s).map_err(|e| corrupt(format!("address {s:?}: {e}")))
}

fn account_from(row: AccountRow) -> Result<Account> {
    let (id, org, addr, display_name, password_hash, enabled, quota_bytes, kind, created) = row;
    Ok(Account {
        id: AccountId(id),
        org: OrgId(org),
        address: address(&addr)?,
        display_name,
        password_hash,
        enabled,
        quota_bytes,
        kind: AccountKind::parse(&kind).ok_or_else(|| corrupt(format!("account kind {kind:?}")))?,
        created,
    })
}

fn group_row(r: &Row<'_>) -> rusqlite::Result<GroupRow> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
}

fn group_from((addr, org, name, members, representatives): GroupRow) -> Result<Group> {
    let list = |json: &str| -> Result<Vec<EmailAddress>> {
        serde_json::from_str(json).map_err(|e| corrupt(format!("group {addr:?} addresses: {e}")))
    };
    Ok(Group {
        address: address(&addr)?,
        org: OrgId(org),
        name,
        members: list(&members)?,
        representatives: list(&representatives)?,
    })
}

fn json(list: &[EmailAddress]) -> Result<String> {
    serde_json::to_string(list).map_err(|e| StoreError::Invalid(format!("address list: {e}")))
}

fn account_by_id(conn: &Connection, id: AccountId) -> Result<Option<Account>> {
    let row = conn
        .prepare_cached(&format!("{ACCOUNT_SELECT} WHERE id = ?1"))
        .db()?
        .query_row([id.0], account_row)
        .optional()
        .db()?;
    row.map(account_from).transpose()
}

fn account_by_key(conn: &Connection, key: &str) -> Result<Option<Account>> {
    let row = conn
        .prepare_cached(&format!("{ACCOUNT_SELECT} WHERE key = ?1"))
        .db()?
        .query_row([key], account_row)
        .optional()
        .db()?;
    row.map(account_from).transpose()
}

fn group_by_key(conn: &Connection, key: &str) -> Result<Option<Group>> {
    let row = conn
        .prepare_cached(&format!("{GROUP_SELECT} WHERE key = ?1"))
        .db()?
        .query_row([key], group_row)
        .optional()
        .db()?;
    row.map(group_from).transpose()
}

fn require_org(conn: &Connection, org: OrgId) -> Result<()> {
    let found = conn
        .prepare_cached("SELECT 1 FROM orgs WHERE id = ?1")
        .db()?
        .exists([org.0])
        .db()?;
    if found {
        Ok(())
    } else {
        Err(StoreError::NotFound(format!("organisation {}", org.0)))
    }
}

/// Refuses an address whose domain is not one of the organisation's.
fn require_org_domain(conn: &Connection, org: OrgId, address: &EmailAddress) -> Result<()> {
    require_org(conn, org)?;
    let owner: Option<i64> = conn
        .prepare_cached("SELECT org FROM domains WHERE name = ?1")
        .db()?
        .query_row([address.domain().as_ascii()], |r| r.get(0))
        .optional()
        .db()?;
    if owner == Some(org.0) {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "{address}: {} is not a domain of organisation {}",
            address.domain(),
            org.0
        )))
    }
}

/// Claims an address in the single namespace.
fn claim(conn: &Connection, address: &EmailAddress, kind: &str) -> Result<String> {
    let key = address_key(address);
    conn.prepare_cached("INSERT INTO addresses (key, kind) VALUES (?1, ?2)")
        .db()?
        .execute(params![key, kind])
        .map_err(exists_as(format!("address {address}")))?;
    Ok(key)
}

fn release(conn: &Connection, key: &str) -> Result<()> {
    conn.prepare_cached("DELETE FROM addresses WHERE key = ?1")
        .db()?
        .execute([key])
        .db()?;
    Ok(())
}

fn collect<T>(rows: impl Iterator<Item = rusqlite::Result<T>>) -> Result<Vec<T>> {
    rows.collect::<rusqlite::Result<Vec<_>>>().db()
}

#[async_trait]
impl DirectoryStore for Embedded {
    async fn create_org(&self, name: &str, edition: Edition) -> Result<Organisation> {
        let name = name.trim().to_owned();
        if name.is_empty() {
            return Err(StoreError::Invalid("empty organisation name".into()));
        }
        self.write(move |tx| {
            let created = crate::now();
            tx.execute(
                "INSERT INTO orgs (name, edition, created) VALUES (?1, ?2, ?3)",
                params![name, edition.as_str(), created],
            )
            .map_err(exists_as(format!("organisation {name:?}")))?;
            Ok(Organisation {
                id: OrgId(tx.last_insert_rowid()),
                name,
                edition,
                created,
            })
        })
        .await
    }

    async fn org(&self, id: OrgId) -> Result<Option<Organisation>> {
        self.read(move |conn| {
            let row = conn
                .prepare_cached(&format!("{ORG_SELECT} WHERE id = ?1"))
                .db()?
                .query_row([id.0], org_row)
                .optional()
                .db()?;
            row.map(org_from).transpose()
        })
        .await
    }

    async fn org_by_name(&self, name: &str) -> Result<Option<Organisation>> {
        let name = name.trim().to_owned();
        self.read(move |conn| {
            let row = conn
                .prepare_cached(&format!("{ORG_SELECT} WHERE name = ?1"))
                .db()?
                .query_row([name], org_row)
                .optional()
                .db()?;
            row.map(org_from).transpose()
        })
        .await
    }

    async fn set_edition(&self, id: OrgId, edition: Edition) -> Result<()> {
        self.write(move |tx| {
            let n = tx
                .execute(
                    "UPDATE orgs SET edition = ?2 WHERE id = ?1",
                    params![id.0, edition.as_str()],
                )
                .db()?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("organisation {}", id.0)));
            }
            Ok(())
        })
        .await
    }

    async fn list_orgs(&self) -> Result<Vec<Organisation>> {
        self.read(|conn| {
            let mut stmt = conn
                .prepare_cached(&format!("{ORG_SELECT} ORDER BY id"))
                .db()?;
            let rows = collect(stmt.query_map([], org_row).db()?)?;
            rows.into_iter().map(org_from).collect()
        })
        .await
    }

    async fn add_domain(&self, org: OrgId, domain: &Domain) -> Result<DomainRecord> {
        let domain = domain.clone();
        self.write(move |tx| {
            require_org(tx, org)?;
            let created = crate::now();
            tx.execute(
                "INSERT INTO domains (name, display, org, verified, created) VALUES (?1, ?2, ?3, 0, ?4)",
                params![domain.as_ascii(), domain.to_string(), org.0, created],
            )
            .map_err(exists_as(format!("domain {domain}")))?;
            Ok(DomainRecord {
                name: domain,
                org,
                verified: false,
                created,
            })
        })
        .await
    }

    async fn remove_domain(&self, domain: &Domain) -> Result<()> {
        let name = domain.as_ascii().to_owned();
        let shown = domain.to_string();
        self.write(move |tx| {
            let used: i64 = tx
                .query_row(
                    "SELECT (SELECT count(*) FROM accounts WHERE domain = ?1) \
                          + (SELECT count(*) FROM aliases WHERE domain = ?1) \
                          + (SELECT count(*) FROM mail_groups WHERE domain = ?1)",
                    [&name],
                    |r| r.get(0),
                )
                .db()?;
            if used > 0 {
                return Err(StoreError::Conflict(format!(
                    "domain {shown} is used by {used} accounts, aliases or groups"
                )));
            }
            let n = tx
                .execute("DELETE FROM domains WHERE name = ?1", [&name])
                .db()?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("domain {shown}")));
            }
            Ok(())
        })
        .await
    }

    async fn domain(&self, domain: &Domain) -> Result<Option<DomainRecord>> {
        let name = domain.as_ascii().to_owned();
        self.read(move |conn| {
            let row = conn
                .prepare_cached(&format!("{DOMAIN_SELECT} WHERE name = ?1"))
                .db()?
                .query_row([name], domain_row)
                .optional()
                .db()?;
            row.map(domain_from).transpose()
        })
        .await
    }

    async fn list_domains(&self, org: Option<OrgId>) -> Result<Vec<DomainRecord>> {
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "{DOMAIN_SELECT} WHERE ?1 IS NULL OR org = ?1 ORDER BY name"
                ))
                .db()?;
            let rows = collect(stmt.query_map([org.map(|o| o.0)], domain_row).db()?)?;
            rows.into_iter().map(domain_from).collect()
        })
        .await
    }

    async fn set_domain_verified(&self, domain: &Domain, verified: bool) -> Result<()> {
        let name = domain.as_ascii().to_owned();
        let shown = domain.to_string();
        self.write(move |tx| {
            let n = tx
                .execute(
                    "UPDATE domains SET verified = ?2 WHERE name = ?1",
                    params![name, verified],
                )
                .db()?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("domain {shown}")));
            }
            Ok(())
        })
        .await
    }

    async fn create_account(&self, account: NewAccount) -> Result<Account> {
        self.write(move |tx| {
            require_org_domain(tx, account.org, &account.address)?;
            let key = claim(tx, &account.address, "account")?;
            let created = crate::now();
            tx.execute(
                "INSERT INTO accounts (org, key, address, domain, display_name, password_hash, enabled, quota_bytes, \
                 kind, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, ?7, ?8, ?9)",
                params![
                    account.org.0,
                    key,
                    account.address.to_string(),
                    account.address.domain().as_ascii(),
                    account.display_name,
                    account.password_hash,
                    account.quota_bytes,
                    account.kind.as_str(),
                    created
                ],
            )
            .map_err(exists_as(format!("address {}", account.address)))?;
            Ok(Account {
                id: AccountId(tx.last_insert_rowid()),
                org: account.org,
                address: account.address,
                display_name: account.display_name,
                password_hash: account.password_hash,
                enabled: true,
                quota_bytes: account.quota_bytes,
                kind: account.kind,
                created,
            })
        })
        .await
    }

    async fn account(&self, id: AccountId) -> Result<Option<Account>> {
        self.read(move |conn| account_by_id(conn, id)).await
    }

    async fn account_by_address(&self, address: &EmailAddress) -> Result<Option<Account>> {
        let key = address_key(address);
        self.read(move |conn| account_by_key(conn, &key)).await
    }

    async fn list_accounts(&self, org: Option<OrgId>) -> Result<Vec<Account>> {
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "{ACCOUNT_SELECT} WHERE ?1 IS NULL OR org = ?1 ORDER BY key"
                ))
                .db()?;
            let rows = collect(stmt.query_map([org.map(|o| o.0)], account_row).db()?)?;
            rows.into_iter().map(account_from).collect()
        })
        .await
    }

    async fn update_account(&self, account: &Account) -> Result<()> {
        let account = account.clone();
        self.write(move |tx| {
            let n = tx
                .execute(
                    "UPDATE accounts SET display_name = ?2, password_hash = ?3, enabled = ?4, quota_bytes = ?5 \
                     WHERE id = ?1",
                    params![
                        account.id.0,
                        account.display_name,
                        account.password_hash,
                        account.enabled,
                        account.quota_bytes
                    ],
                )
                .db()?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("account {}", account.id.0)));
            }
            Ok(())
        })
        .await
    }

    async fn rename_account(&self, id: AccountId, address: &EmailAddress) -> Result<Account> {
        let address = address.clone();
        self.write(move |tx| {
            let mut account = account_by_id(tx, id)?
                .ok_or_else(|| StoreError::NotFound(format!("account {}", id.0)))?;
            require_org_domain(tx, account.org, &address)?;
            let old = address_key(&account.address);
            let key = if old == address_key(&address) {
                old.clone()
            } else {
                let key = claim(tx, &address, "account")?;
                release(tx, &old)?;
                key
            };
            tx.execute(
                "UPDATE accounts SET key = ?2, address = ?3, domain = ?4 WHERE id = ?1",
                params![id.0, key, address.to_string(), address.domain().as_ascii()],
            )
            .db()?;
            account.address = address;
            Ok(account)
        })
        .await
    }

    async fn delete_account(&self, id: AccountId) -> Result<()> {
        self.write(move |tx| {
            let key: String = tx
                .query_row("SELECT key FROM accounts WHERE id = ?1", [id.0], |r| {
                    r.get(0)
                })
                .optional()
                .db()?
                .ok_or_else(|| StoreError::NotFound(format!("account {}", id.0)))?;
            tx.execute(
                "DELETE FROM addresses WHERE key IN (SELECT key FROM aliases WHERE account = ?1)",
                [id.0],
            )
            .db()?;
            tx.execute("DELETE FROM aliases WHERE account = ?1", [id.0])
                .db()?;
            // Messages and tombstones go with their mailboxes (ON DELETE CASCADE); their blobs
            // are left to garbage collection.
            tx.execute("DELETE FROM mailboxes WHERE account = ?1", [id.0])
                .db()?;
            tx.execute("DELETE FROM accounts WHERE id = ?1", [id.0])
                .db()?;
            release(tx, &key)
        })
        .await
    }

    async fn add_alias(&self, alias: &EmailAddress, account: AccountId) -> Result<()> {
        let alias = alias.clone();
        self.write(move |tx| {
            let owner = account_by_id(tx, account)?
                .ok_or_else(|| StoreError::NotFound(format!("account {}", account.0)))?;
            require_org_domain(tx, owner.org, &alias)?;
            let key = claim(tx, &alias, "alias")?;
            tx.execute(
                "INSERT INTO aliases (key, address, domain, account) VALUES (?1, ?2, ?3, ?4)",
                params![key, alias.to_string(), alias.domain().as_ascii(), account.0],
            )
            .map_err(exists_as(format!("address {alias}")))?;
            Ok(())
        })
        .await
    }

    async fn remove_alias(&self, alias: &EmailAddress) -> Result<()> {
        let key = address_key(alias);
        let shown = alias.to_string();
        self.write(move |tx| {
            let n = tx
                .execute("DELETE FROM aliases WHERE key = ?1", [&key])
                .db()?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("alias {shown}")));
            }
            release(tx, &key)
        })
        .await
    }

    async fn aliases(&self, account: AccountId) -> Result<Vec<EmailAddress>> {
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached("SELECT address FROM aliases WHERE account = ?1 ORDER BY key")
                .db()?;
            let rows = collect(
                stmt.query_map([account.0], |r| r.get::<_, String>(0))
                    .db()?,
            )?;
            rows.iter().map(|s| address(s)).collect()
        })
        .await
    }

    async fn create_group(&self, group: &Group) -> Result<()> {
        let group = group.clone();
        self.write(move |tx| {
            require_org_domain(tx, group.org, &group.address)?;
            let key = claim(tx, &group.address, "group")?;
            tx.execute(
                "INSERT INTO mail_groups (key, address, domain, org, name, members, representatives) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    key,
                    group.address.to_string(),
                    group.address.domain().as_ascii(),
                    group.org.0,
                    group.name,
                    json(&group.members)?,
                    json(&group.representatives)?
                ],
            )
            .map_err(exists_as(format!("address {}", group.address)))?;
            Ok(())
        })
        .await
    }

    async fn update_group(&self, group: &Group) -> Result<()> {
        let group = group.clone();
        self.write(move |tx| {
            let n = tx
                .execute(
                    "UPDATE mail_groups SET name = ?2, members = ?3, representatives = ?4 WHERE key = ?1",
                    params![
                        address_key(&group.address),
                        group.name,
                        json(&group.members)?,
                        json(&group.representatives)?
                    ],
                )
                .db()?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("group {}", group.address)));
            }
            Ok(())
        })
        .await
    }

    async fn delete_group(&self, address: &EmailAddress) -> Result<()> {
        let key = address_key(address);
        let shown = address.to_string();
        self.write(move |tx| {
            let n = tx
                .execute("DELETE FROM mail_groups WHERE key = ?1", [&key])
                .db()?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("group {shown}")));
            }
            release(tx, &key)
        })
        .await
    }

    async fn group(&self, address: &EmailAddress) -> Result<Option<Group>> {
        let key = address_key(address);
        self.read(move |conn| group_by_key(conn, &key)).await
    }

    async fn list_groups(&self, org: Option<OrgId>) -> Result<Vec<Group>> {
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "{GROUP_SELECT} WHERE ?1 IS NULL OR org = ?1 ORDER BY key"
                ))
                .db()?;
            let rows = collect(stmt.query_map([org.map(|o| o.0)], group_row).db()?)?;
            rows.into_iter().map(group_from).collect()
        })
        .await
    }

    async fn resolve(&self, address: &EmailAddress) -> Result<Resolved> {
        let key = address_key(address);
        self.read(move |conn| {
            if let Some(account) = account_by_key(conn, &key)? {
                return Ok(Resolved::Account(account));
            }
            let owner: Option<i64> = conn
                .prepare_cached("SELECT account FROM aliases WHERE key = ?1")
                .db()?
                .query_row([&key], |r| r.get(0))
                .optional()
                .db()?;
            if let Some(owner) = owner {
                return match account_by_id(conn, AccountId(owner))? {
                    Some(account) => Ok(Resolved::Alias(account)),
                    None => Err(corrupt(format!("alias {key} of missing account {owner}"))),
                };
            }
            Ok(match group_by_key(conn, &key)? {
                Some(group) => Resolved::Group(group),
                None => Resolved::Unknown,
            })
        })
        .await
    }
}
