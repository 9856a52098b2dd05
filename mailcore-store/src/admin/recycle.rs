//! The recycle bin: deleted members (30 days) and reclaimed business mailboxes (60 days) wait
//! here, disabled, with their mail, until restored, reassigned or purged.
//!
//! While an account is in the bin it cannot log in and its addresses refuse mail with a
//! permanent error; its addresses stay reserved so that nobody else receives its mail.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::directory::MEMBER_KIND;
use super::{Admin, AdminError, AdminResult, Caller, ErrorCode, Right, account_key, list};
use crate::directory::{AccountKind, OrgId};
use crate::mailbox::{AccountId, INBOX, NewMessage};
use crate::record::Expect;

pub(crate) const RECYCLE_KIND: &str = "recycle";

/// What kind of account is in the bin.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RecycledKind {
    /// A deleted member.
    Member,
    /// A reclaimed business mailbox.
    Shared,
}

/// An account in the recycle bin.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RecycleEntry {
    /// Account id.
    pub account: i64,
    /// Organisation id.
    pub org: i64,
    /// Address.
    pub address: String,
    /// Kind.
    pub kind: RecycledKind,
    /// When it was deleted.
    pub deleted: i64,
    /// When it is purged automatically.
    pub purge_at: i64,
    /// Who deleted it.
    pub deleted_by: String,
    /// Whether it was enabled before (restored as it was).
    pub was_enabled: bool,
}

impl Admin {
    pub(crate) async fn recycled_ids(&self, org: OrgId) -> AdminResult<HashSet<i64>> {
        Ok(
            list::<RecycleEntry>(self.store.as_ref(), RECYCLE_KIND, Some(org))
                .await?
                .into_iter()
                .map(|e| e.account)
                .collect(),
        )
    }

    async fn entry(&self, account: AccountId) -> AdminResult<RecycleEntry> {
        super::load::<RecycleEntry>(self.store.as_ref(), RECYCLE_KIND, &account_key(account))
            .await?
            .map(|v| v.value)
            .ok_or_else(|| {
                AdminError::not_found(format!("account {} in the recycle bin", account.0))
            })
    }

    /// Deletes a member or reclaims a business mailbox: it moves to the recycle bin.
    pub async fn delete_member(
        &self,
        caller: &Caller,
        account: AccountId,
    ) -> AdminResult<RecycleEntry> {
        let right = match self.store.account(account).await?.map(|a| a.kind) {
            Some(AccountKind::Shared) => Right::SharedMailboxes,
            _ => Right::Members,
        };
        let mut acc = self.account_in_scope(caller, account, right).await?;
        if self
            .role_of(account)
            .await?
            .is_some_and(|g| g.role == super::Role::Creator)
        {
            return Err(AdminError::new(
                ErrorCode::Conflict,
                "the creator cannot be deleted; transfer the creator role first",
            ));
        }
        let key = account_key(account);
        if self.store.get_record(RECYCLE_KIND, &key).await?.is_some() {
            return Err(AdminError::new(
                ErrorCode::Conflict,
                "already in the recycle bin",
            ));
        }
        let (kind, days) = match acc.kind {
            AccountKind::Shared => (RecycledKind::Shared, self.config.recycle_shared_days),
            _ => (RecycledKind::Member, self.config.recycle_member_days),
        };
        let now = crate::now();
        let entry = RecycleEntry {
            account: account.0,
            org: acc.org.0,
            address: acc.address.to_string(),
            kind,
            deleted: now,
            purge_at: now + i64::from(days) * 86_400,
            deleted_by: caller.name.clone(),
            was_enabled: acc.enabled,
        };
        self.store
            .put_record(
                RECYCLE_KIND,
                &key,
                Some(acc.org),
                &super::encode(&entry)?,
                Expect::Absent,
            )
            .await?;
        acc.enabled = false;
        self.store.update_account(&acc).await?;
        // An administrator role ends with the membership.
        self.store
            .delete_record(super::roles::ADMIN_KIND, &key)
            .await?;
        self.op_log(
            caller,
            acc.org,
            match kind {
                RecycledKind::Shared => "shared.reclaim",
                RecycledKind::Member => "member.delete",
            },
            &entry.address,
            None,
            Some(super::encode(&entry)?),
        )
        .await?;
        Ok(entry)
    }

    /// The recycle bin of an organisation.
    pub async fn recycle_bin(&self, caller: &Caller, org: OrgId) -> AdminResult<Vec<RecycleEntry>> {
        caller.require(org, Right::RecycleBin)?;
        list(self.store.as_ref(), RECYCLE_KIND, Some(org)).await
    }

    /// Restores an account from the bin, with its mail, as enabled as it was.
    pub async fn restore(&self, caller: &Caller, account: AccountId) -> AdminResult<super::Member> {
        let entry = self.entry(account).await?;
        caller.require(OrgId(entry.org), Right::RecycleBin)?;
        let mut acc = self
            .store
            .account(account)
            .await?
            .ok_or_else(|| AdminError::not_found(format!("account {}", account.0)))?;
        acc.enabled = entry.was_enabled;
        self.store.update_account(&acc).await?;
        self.store
            .delete_record(RECYCLE_KIND, &account_key(account))
            .await?;
        self.op_log(
            caller,
            acc.org,
            "recycle.restore",
            &entry.address,
            Some(super::encode(&entry)?),
            None,
        )
        .await?;
        self.member_view(&acc).await
    }

    /// The account's mail as an mbox file (mboxrd quoting), every mailbox in turn with an
    /// `X-Mailcore-Folder` header line naming it.
    pub async fn export_mbox(&self, caller: &Caller, account: AccountId) -> AdminResult<Vec<u8>> {
        let acc = self
            .store
            .account(account)
            .await?
            .ok_or_else(|| AdminError::not_found(format!("account {}", account.0)))?;
        caller.require(acc.org, Right::RecycleBin)?;
        let mut out = Vec::new();
        for mailbox in self.store.list_mailboxes(account).await? {
            for meta in self.store.messages(mailbox.id, 1..=u32::MAX).await? {
                let Some(raw) = self.store.read_message(mailbox.id, meta.uid).await? else {
                    continue;
                };
                let date = mailcore::message::date::DateTime {
                    timestamp: meta.internal_date,
                    offset_minutes: 0,
                };
                let from_line = format!("From {} {}\n", acc.address, asctime(date.timestamp));
                out.extend_from_slice(from_line.as_bytes());
                out.extend_from_slice(format!("X-Mailcore-Folder: {}\n", mailbox.name).as_bytes());
                for line in raw.split_inclusive(|&b| b == b'\n') {
                    let body = line.strip_suffix(b"\n").unwrap_or(line);
                    let body = body.strip_suffix(b"\r").unwrap_or(body);
                    if body
                        .iter()
                        .skip_while(|&&b| b == b'>')
                        .take(5)
                        .eq(b"From ".iter())
                    {
                        out.push(b'>');
                    }
                    out.extend_from_slice(body);
                    out.push(b'\n');
                }
                out.push(b'\n');
            }
        }
        Ok(out)
    }

    /// Moves the mail of a binned account into a folder `Recycled/<address>` of another
    /// member, then purges the binned account.
    pub async fn reassign(
        &self,
        caller: &Caller,
        account: AccountId,
        to: AccountId,
    ) -> AdminResult<usize> {
        let entry = self.entry(account).await?;
        let org = OrgId(entry.org);
        caller.require(org, Right::RecycleBin)?;
        let target = self
            .store
            .account(to)
            .await?
            .filter(|a| a.org == org && a.id != account)
            .ok_or_else(|| AdminError::not_found(format!("member {}", to.0)))?;
        let base = format!("Recycled/{}", entry.address);
        let mut moved = 0;
        for mailbox in self.store.list_mailboxes(account).await? {
            let metas = self.store.messages(mailbox.id, 1..=u32::MAX).await?;
            if metas.is_empty() {
                continue;
            }
            let name = if mailbox.name == INBOX {
                base.clone()
            } else {
                format!("{base}/{}", mailbox.name)
            };
            let dest = match self.store.mailbox(target.id, &name).await? {
                Some(m) => m,
                None => self.store.create_mailbox(target.id, &name, None).await?,
            };
            let mut batch = Vec::new();
            for meta in &metas {
                if let Some(raw) = self.store.read_message(mailbox.id, meta.uid).await? {
                    batch.push(NewMessage {
                        raw,
                        flags: meta.flags.clone(),
                        internal_date: meta.internal_date,
                    });
                }
            }
            moved += batch.len();
            self.store.append_many(dest.id, batch).await?;
        }
        self.purge_unchecked(account, &entry).await?;
        self.op_log(
            caller,
            org,
            "recycle.reassign",
            &entry.address,
            Some(super::encode(&entry)?),
            Some(serde_json::json!({"to": target.address.to_string(), "messages": moved})),
        )
        .await?;
        Ok(moved)
    }

    /// Purges an account from the bin for good: account, addresses, mail, records.
    pub async fn purge(&self, caller: &Caller, account: AccountId) -> AdminResult<()> {
        let entry = self.entry(account).await?;
        caller.require(OrgId(entry.org), Right::RecycleBin)?;
        self.purge_unchecked(account, &entry).await?;
        self.op_log(
            caller,
            OrgId(entry.org),
            "recycle.purge",
            &entry.address,
            Some(super::encode(&entry)?),
            None,
        )
        .await
    }

    async fn purge_unchecked(&self, account: AccountId, entry: &RecycleEntry) -> AdminResult<()> {
        let key = account_key(account);
        match self.store.delete_account(account).await {
            Ok(()) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e.into()),
        }
        self.store.delete_record(MEMBER_KIND, &key).await?;
        let prefix = format!("{}:", account.0);
        for r in self
            .store
            .list_records(super::access::APP_PASSWORD_KIND, Some(OrgId(entry.org)))
            .await?
        {
            if r.key.starts_with(&prefix) {
                if let Some(digest) = r.value.get("digest").and_then(|d| d.as_str()) {
                    self.store
                        .delete_record(super::access::APP_DIGEST_KIND, digest)
                        .await?;
                }
                self.store.delete_record(&r.kind, &r.key).await?;
            }
        }
        self.store.delete_record(RECYCLE_KIND, &key).await?;
        Ok(())
    }

    /// Purges every bin entry whose period ended before `now`; returns the addresses purged.
    /// The server runs this periodically.
    pub async fn purge_expired(&self, now: i64) -> AdminResult<Vec<String>> {
        let mut purged = Vec::new();
        for entry in list::<RecycleEntry>(self.store.as_ref(), RECYCLE_KIND, None).await? {
            if entry.purge_at > now {
                continue;
            }
            self.purge_unchecked(AccountId(entry.account), &entry)
                .await?;
            let system = Caller {
                name: "retention".into(),
                ..Caller::operator()
            };
            self.op_log(
                &system,
                OrgId(entry.org),
                "recycle.expire",
                &entry.address,
                Some(super::encode(&entry)?),
                None,
            )
            .await?;
            purged.push(entry.address);
        }
        Ok(purged)
    }
}

/// `Thu Nov 26 23:52:04 2026` (the mbox separator's date format), UTC.
fn asctime(ts: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = ts.div_euclid(86_400);
    let secs = ts.rem_euclid(86_400);
    let (y, m, d) = mailcore::message::date::civil_from_days(days);
    format!(
        "{} {} {:2} {:02}:{:02}:{:02} {}",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(m.clamp(1, 12) - 1) as usize],
        d,
        secs / 3600,
        secs % 3600 / 60,
        secs % 60,
        y
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn asctime_format() {
        assert_eq!(super::asctime(0), "Thu Jan  1 00:00:00 1970");
        assert_eq!(super::asctime(1_795_737_124), "Thu Nov 26 23:52:04 2026");
    }
}
