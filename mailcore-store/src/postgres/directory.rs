//! Directory: organisations, domains, accounts, aliases and groups.
//!
//! The table `addresses` is the one address namespace: every account, alias and group address
//! has a row there keyed by [`address_key`], so the primary key refuses a second owner, and
//! its foreign key to `domains` keeps a used domain from being removed.

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use mailcore::address::{Domain, EmailAddress};
use tokio_postgres::Row;

use super::{Postgres, col, db_error, exec, query, query_opt, to_i64, to_u64};
use crate::directory::{
    Account, AccountKind, DirectoryStore, DomainRecord, Edition, Group, NewAccount, OrgId,
    Organisation, Resolved, address_key,
};
use crate::error::{Result, StoreError};
use crate::mailbox::AccountId;

const ORG_COLUMNS: &str = "id, name, edition, created";
const DOMAIN_COLUMNS: &str = "display, org, verified, created";
const ACCOUNT_COLUMNS: &str =
    "id, org, address, display_name, password_hash, enabled, quota_bytes, kind, created";
const GROUP_COLUMNS: &str = "address, org, name, members, representatives";

fn org_from_row(row: &Row) -> Result<Organisation> {
    let edition: String = col(row, 2)?;
    Ok(Organisation {
        id: OrgId(col(row, 0)?),
        name: col(row, 1)?,
        edition: Edition::parse(&edition)
            .ok_or_else(|| StoreError::Corrupt(format!("edition {edition:?}")))?,
        created: col(row, 3)?,
    })
}

fn parse_domain(s: &str) -> Result<Domain> {
    Domain::parse(s).map_err(|e| StoreError::Corrupt(format!("stored domain {s:?}: {e}")))
}

fn parse_address(s: &str) -> Result<EmailAddress> {
    EmailAddress::parse(s).map_err(|e| StoreError::Corrupt(format!("stored address {s:?}: {e}")))
}

fn domain_from_row(row: &Row) -> Result<DomainRecord> {
    let name: String = col(row, 0)?;
    Ok(DomainRecord {
        name: parse_domain(&name)?,
        org: OrgId(col(row, 1)?),
        verified: col(row, 2)?,
        created: col(row, 3)?,
    })
}

fn account_from_row(row: &Row) -> Result<Account> {
    let address: String = col(row, 2)?;
    let quota: Option<i64> = col(row, 6)?;
    let kind: String = col(row, 7)?;
    Ok(Account {
        id: AccountId(col(row, 0)?),
        org: OrgId(col(row, 1)?),
        address: parse_address(&address)?,
        display_name: col(row, 3)?,
        password_hash: col(row, 4)?,
        enabled: col(row, 5)?,
        quota_bytes: quota.map(|q| to_u64(q, "quota")).transpose()?,
        kind: AccountKind::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("account kind {kind:?}")))?,
        created: col(row, 8)?,
    })
}

fn group_from_row(row: &Row) -> Result<Group> {
    let address: String = col(row, 0)?;
    let members: Vec<String> = col(row, 3)?;
    let representatives: Vec<String> = col(row, 4)?;
    Ok(Group {
        address: parse_address(&address)?,
        org: OrgId(col(row, 1)?),
        name: col(row, 2)?,
        members: members
            .iter()
            .map(|m| parse_address(m))
            .collect::<Result<_>>()?,
        representatives: representatives
            .iter()
            .map(|m| parse_address(m))
            .collect::<Result<_>>()?,
    })
}

fn address_strings(list: &[EmailAddress]) -> Vec<String> {
    list.iter().map(ToString::to_string).collect()
}

/// Checks that `org` exists and owns the domain of `address` (locking the domain row against
/// removal until the transaction ends).
async fn check_org_domain<C: GenericClient>(
    tx: &C,
    org: OrgId,
    address: &EmailAddress,
) -> Result<()> {
    if query_opt(tx, "SELECT 1 FROM orgs WHERE id = $1", &[&org.0])
        .await?
        .is_none()
    {
        return Err(StoreError::NotFound(format!("organisation {}", org.0)));
    }
    let domain = address.domain().as_ascii();
    let owner = query_opt(
        tx,
        "SELECT org FROM domains WHERE name = $1 FOR SHARE",
        &[&domain],
    )
    .await?;
    match owner {
        Some(r) if col::<i64>(&r, 0)? == org.0 => Ok(()),
        _ => Err(StoreError::Invalid(format!(
            "{address}: domain {} is not one of organisation {}'s",
            address.domain(),
            org.0
        ))),
    }
}

/// Claims `address` in the namespace; `AlreadyExists` if it is taken.
async fn claim_address<C: GenericClient>(
    tx: &C,
    address: &EmailAddress,
    kind: &str,
    account: Option<AccountId>,
) -> Result<()> {
    let key = address_key(address);
    let claimed = query_opt(
        tx,
        "INSERT INTO addresses (key, kind, domain, account) VALUES ($1, $2, $3, $4)
         ON CONFLICT (key) DO NOTHING RETURNING key",
        &[
            &key,
            &kind,
            &address.domain().as_ascii(),
            &account.map(|a| a.0),
        ],
    )
    .await?;
    match claimed {
        Some(_) => Ok(()),
        None => Err(StoreError::AlreadyExists(format!("address {address}"))),
    }
}

async fn account_by_id<C: GenericClient>(c: &C, id: i64) -> Result<Option<Account>> {
    let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = $1");
    query_opt(c, &sql, &[&id])
        .await?
        .as_ref()
        .map(account_from_row)
        .transpose()
}

#[async_trait]
impl DirectoryStore for Postgres {
    async fn create_org(&self, name: &str, edition: Edition) -> Result<Organisation> {
        let name = name.trim();
        if name.is_empty() {
            return Err(StoreError::Invalid("empty organisation name".into()));
        }
        let client = self.client().await?;
        let sql = format!(
            "INSERT INTO orgs (name, edition, created) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO NOTHING RETURNING {ORG_COLUMNS}"
        );
        let row = query_opt(&client, &sql, &[&name, &edition.as_str(), &crate::now()])
            .await?
            .ok_or_else(|| StoreError::AlreadyExists(format!("organisation {name:?}")))?;
        org_from_row(&row)
    }

    async fn org(&self, id: OrgId) -> Result<Option<Organisation>> {
        let client = self.client().await?;
        let sql = format!("SELECT {ORG_COLUMNS} FROM orgs WHERE id = $1");
        query_opt(&client, &sql, &[&id.0])
            .await?
            .as_ref()
            .map(org_from_row)
            .transpose()
    }

    async fn org_by_name(&self, name: &str) -> Result<Option<Organisation>> {
        let client = self.client().await?;
        let sql = format!("SELECT {ORG_COLUMNS} FROM orgs WHERE name = $1");
        query_opt(&client, &sql, &[&name])
            .await?
            .as_ref()
            .map(org_from_row)
            .transpose()
    }

    async fn set_edition(&self, id: OrgId, edition: Edition) -> Result<()> {
        let client = self.client().await?;
        let n = exec(
            &client,
            "UPDATE orgs SET edition = $2 WHERE id = $1",
            &[&id.0, &edition.as_str()],
        )
        .await?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("organisation {}", id.0)));
        }
        Ok(())
    }

    async fn list_orgs(&self) -> Result<Vec<Organisation>> {
        let client = self.client().await?;
        let sql = format!("SELECT {ORG_COLUMNS} FROM orgs ORDER BY id");
        query(&client, &sql, &[])
            .await?
            .iter()
            .map(org_from_row)
            .collect()
    }

    async fn add_domain(&self, org: OrgId, domain: &Domain) -> Result<DomainRecord> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        if query_opt(&tx, "SELECT 1 FROM orgs WHERE id = $1 FOR SHARE", &[&org.0])
            .await?
            .is_none()
        {
            return Err(StoreError::NotFound(format!("organisation {}", org.0)));
        }
        let sql = format!(
            "INSERT INTO domains (name, display, org, created) VALUES ($1, $2, $3, $4)
             ON CONFLICT (name) DO NOTHING RETURNING {DOMAIN_COLUMNS}"
        );
        let row = query_opt(
            &tx,
            &sql,
            &[
                &domain.as_ascii(),
                &domain.to_string(),
                &org.0,
                &crate::now(),
            ],
        )
        .await?
        .ok_or_else(|| StoreError::AlreadyExists(format!("domain {domain}")))?;
        let record = domain_from_row(&row)?;
        tx.commit().await.map_err(db_error)?;
        Ok(record)
    }

    async fn remove_domain(&self, domain: &Domain) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        let name = domain.as_ascii();
        if query_opt(
            &tx,
            "SELECT 1 FROM domains WHERE name = $1 FOR UPDATE",
            &[&name],
        )
        .await?
        .is_none()
        {
            return Err(StoreError::NotFound(format!("domain {domain}")));
        }
        let in_use = || {
            StoreError::Conflict(format!(
                "domain {domain} is used by accounts, aliases or groups"
            ))
        };
        if query_opt(
            &tx,
            "SELECT 1 FROM addresses WHERE domain = $1 LIMIT 1",
            &[&name],
        )
        .await?
        .is_some()
        {
            return Err(in_use());
        }
        exec(&tx, "DELETE FROM domains WHERE name = $1", &[&name])
            .await
            .map_err(|e| match e {
                StoreError::NotFound(_) => in_use(),
                e => e,
            })?;
        tx.commit().await.map_err(db_error)?;
        Ok(())
    }

    async fn domain(&self, domain: &Domain) -> Result<Option<DomainRecord>> {
        let client = self.client().await?;
        let sql = format!("SELECT {DOMAIN_COLUMNS} FROM domains WHERE name = $1");
        query_opt(&client, &sql, &[&domain.as_ascii()])
            .await?
            .as_ref()
            .map(domain_from_row)
            .transpose()
    }

    async fn list_domains(&self, org: Option<OrgId>) -> Result<Vec<DomainRecord>> {
        let client = self.client().await?;
        let sql = format!(
            "SELECT {DOMAIN_COLUMNS} FROM domains WHERE ($1::bigint IS NULL OR org = $1) ORDER BY name COLLATE \"C\""
        );
        query(&client, &sql, &[&org.map(|o| o.0)])
            .await?
            .iter()
            .map(domain_from_row)
            .collect()
    }

    async fn set_domain_verified(&self, domain: &Domain, verified: bool) -> Result<()> {
        let client = self.client().await?;
        let n = exec(
            &client,
            "UPDATE domains SET verified = $2 WHERE name = $1",
            &[&domain.as_ascii(), &verified],
        )
        .await?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("domain {domain}")));
        }
        Ok(())
    }

    async fn create_account(&self, account: NewAccount) -> Result<Account> {
        let quota = account
            .quota_bytes
            .map(|q| to_i64(q, "quota"))
            .transpose()?;
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        check_org_domain(&tx, account.org, &account.address).await?;
        claim_address(&tx, &account.address, "account", None).await?;
        let key = address_key(&account.address);
        let sql = format!(
            "INSERT INTO accounts (org, address, address_key, display_name, password_hash, quota_bytes, kind, created)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {ACCOUNT_COLUMNS}"
        );
        let row = super::query_one(
            &tx,
            &sql,
            &[
                &account.org.0,
                &account.address.to_string(),
                &key,
                &account.display_name,
                &account.password_hash,
                &quota,
                &account.kind.as_str(),
                &crate::now(),
            ],
        )
        .await?;
        let created = account_from_row(&row)?;
        exec(
            &tx,
            "UPDATE addresses SET account = $2 WHERE key = $1",
            &[&key, &created.id.0],
        )
        .await?;
        tx.commit().await.map_err(db_error)?;
        Ok(created)
    }

    async fn account(&self, id: AccountId) -> Result<Option<Account>> {
        let client = self.client().await?;
        account_by_id(&client, id.0).await
    }

    async fn account_by_address(&self, address: &EmailAddress) -> Result<Option<Account>> {
        let client = self.client().await?;
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE address_key = $1");
        query_opt(&client, &sql, &[&address_key(address)])
            .await?
            .as_ref()
            .map(account_from_row)
            .transpose()
    }

    async fn list_accounts(&self, org: Option<OrgId>) -> Result<Vec<Account>> {
        let client = self.client().await?;
        let sql = format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE ($1::bigint IS NULL OR org = $1)
              ORDER BY address_key COLLATE \"C\""
        );
        query(&client, &sql, &[&org.map(|o| o.0)])
            .await?
            .iter()
            .map(account_from_row)
            .collect()
    }

    async fn update_account(&self, account: &Account) -> Result<()> {
        let quota = account
            .quota_bytes
            .map(|q| to_i64(q, "quota"))
            .transpose()?;
        let client = self.client().await?;
        let n = exec(
            &client,
            "UPDATE accounts SET display_name = $2, password_hash = $3, enabled = $4, quota_bytes = $5 WHERE id = $1",
            &[&account.id.0, &account.display_name, &account.password_hash, &account.enabled, &quota],
        )
        .await?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("account {}", account.id.0)));
        }
        Ok(())
    }

    async fn rename_account(&self, id: AccountId, address: &EmailAddress) -> Result<Account> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        if query_opt(
            &tx,
            "SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE",
            &[&id.0],
        )
        .await?
        .is_none()
        {
            return Err(StoreError::NotFound(format!("account {}", id.0)));
        }
        let mut account = account_by_id(&tx, id.0)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("account {}", id.0)))?;
        check_org_domain(&tx, account.org, address).await?;
        let old = address_key(&account.address);
        let new = address_key(address);
        if old != new {
            claim_address(&tx, address, "account", Some(id)).await?;
            exec(&tx, "DELETE FROM addresses WHERE key = $1", &[&old]).await?;
        }
        exec(
            &tx,
            "UPDATE accounts SET address = $2, address_key = $3 WHERE id = $1",
            &[&id.0, &address.to_string(), &new],
        )
        .await?;
        tx.commit().await.map_err(db_error)?;
        account.address = address.clone();
        Ok(account)
    }

    async fn delete_account(&self, id: AccountId) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        if query_opt(
            &tx,
            "SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE",
            &[&id.0],
        )
        .await?
        .is_none()
        {
            return Err(StoreError::NotFound(format!("account {}", id.0)));
        }
        exec(&tx, "DELETE FROM aliases WHERE account = $1", &[&id.0]).await?;
        exec(&tx, "DELETE FROM addresses WHERE account = $1", &[&id.0]).await?;
        exec(&tx, "DELETE FROM mailboxes WHERE account = $1", &[&id.0]).await?;
        exec(&tx, "DELETE FROM accounts WHERE id = $1", &[&id.0]).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(())
    }

    async fn add_alias(&self, alias: &EmailAddress, account: AccountId) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        let row = query_opt(
            &tx,
            "SELECT org FROM accounts WHERE id = $1 FOR SHARE",
            &[&account.0],
        )
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("account {}", account.0)))?;
        let org = OrgId(col(&row, 0)?);
        check_org_domain(&tx, org, alias).await?;
        claim_address(&tx, alias, "alias", Some(account)).await?;
        exec(
            &tx,
            "INSERT INTO aliases (address_key, address, account) VALUES ($1, $2, $3)",
            &[&address_key(alias), &alias.to_string(), &account.0],
        )
        .await?;
        tx.commit().await.map_err(db_error)?;
        Ok(())
    }

    async fn remove_alias(&self, alias: &EmailAddress) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        let key = address_key(alias);
        let n = exec(
            &tx,
            "DELETE FROM addresses WHERE key = $1 AND kind = 'alias'",
            &[&key],
        )
        .await?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("alias {alias}")));
        }
        exec(&tx, "DELETE FROM aliases WHERE address_key = $1", &[&key]).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(())
    }

    async fn aliases(&self, account: AccountId) -> Result<Vec<EmailAddress>> {
        let client = self.client().await?;
        let rows = query(
            &client,
            "SELECT address FROM aliases WHERE account = $1 ORDER BY address_key COLLATE \"C\"",
            &[&account.0],
        )
        .await?;
        rows.iter()
            .map(|r| parse_address(&col::<String>(r, 0)?))
            .collect()
    }

    async fn create_group(&self, group: &Group) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        check_org_domain(&tx, group.org, &group.address).await?;
        claim_address(&tx, &group.address, "group", None).await?;
        exec(
            &tx,
            "INSERT INTO groups (address_key, address, org, name, members, representatives)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &address_key(&group.address),
                &group.address.to_string(),
                &group.org.0,
                &group.name,
                &address_strings(&group.members),
                &address_strings(&group.representatives),
            ],
        )
        .await?;
        tx.commit().await.map_err(db_error)?;
        Ok(())
    }

    async fn update_group(&self, group: &Group) -> Result<()> {
        let client = self.client().await?;
        let n = exec(
            &client,
            "UPDATE groups SET name = $2, members = $3, representatives = $4 WHERE address_key = $1",
            &[
                &address_key(&group.address),
                &group.name,
                &address_strings(&group.members),
                &address_strings(&group.representatives),
            ],
        )
        .await?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("group {}", group.address)));
        }
        Ok(())
    }

    async fn delete_group(&self, address: &EmailAddress) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        let key = address_key(address);
        let n = exec(
            &tx,
            "DELETE FROM addresses WHERE key = $1 AND kind = 'group'",
            &[&key],
        )
        .await?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("group {address}")));
        }
        exec(&tx, "DELETE FROM groups WHERE address_key = $1", &[&key]).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(())
    }

    async fn group(&self, address: &EmailAddress) -> Result<Option<Group>> {
        let client = self.client().await?;
        let sql = format!("SELECT {GROUP_COLUMNS} FROM groups WHERE address_key = $1");
        query_opt(&client, &sql, &[&address_key(address)])
            .await?
            .as_ref()
            .map(group_from_row)
            .transpose()
    }

    async fn list_groups(&self, org: Option<OrgId>) -> Result<Vec<Group>> {
        let client = self.client().await?;
        let sql = format!(
            "SELECT {GROUP_COLUMNS} FROM groups WHERE ($1::bigint IS NULL OR org = $1) ORDER BY address_key COLLATE \"C\""
        );
        query(&client, &sql, &[&org.map(|o| o.0)])
            .await?
            .iter()
            .map(group_from_row)
            .collect()
    }

    async fn resolve(&self, address: &EmailAddress) -> Result<Resolved> {
        let client = self.client().await?;
        let key = address_key(address);
        let Some(row) = query_opt(
            &client,
            "SELECT kind, account FROM addresses WHERE key = $1",
            &[&key],
        )
        .await?
        else {
            return Ok(Resolved::Unknown);
        };
        let kind: String = col(&row, 0)?;
        let account: Option<i64> = col(&row, 1)?;
        let owner = || async {
            let id = account
                .ok_or_else(|| StoreError::Corrupt(format!("address {address} has no account")))?;
            account_by_id(&client, id).await?.ok_or_else(|| {
                StoreError::Corrupt(format!("address {address}: account {id} missing"))
            })
        };
        match kind.as_str() {
            "account" => Ok(Resolved::Account(owner().await?)),
            "alias" => Ok(Resolved::Alias(owner().await?)),
            "group" => {
                let sql = format!("SELECT {GROUP_COLUMNS} FROM groups WHERE address_key = $1");
                match query_opt(&client, &sql, &[&key]).await? {
                    Some(r) => Ok(Resolved::Group(group_from_row(&r)?)),
                    None => Err(StoreError::Corrupt(format!("group {address} missing"))),
                }
            }
            other => Err(StoreError::Corrupt(format!("address kind {other:?}"))),
        }
    }
}
