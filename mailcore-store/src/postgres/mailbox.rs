//! Mailboxes and messages.
//!
//! The mailbox row is the lock of everything in the mailbox: every write takes it first
//! (`UPDATE … RETURNING` or `SELECT … FOR UPDATE`), which hands out UIDs and MODSEQs in order
//! across processes. Writes touching two mailboxes lock them in id order.

use std::ops::RangeInclusive;

use async_trait::async_trait;
use bytes::Bytes;
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::blob::insert_blob;
use super::{Postgres, col, db_error, exec, query, query_one, query_opt, to_u32, to_u64};
use crate::blob::BlobId;
use crate::error::{Result, StoreError};
use crate::mailbox::{
    AccountId, Appended, Changes, DELIMITER, DeliveryTarget, FlagChange, Flags, FlagsStored, INBOX,
    MailStore, MailboxChange, MailboxId, MailboxInfo, MessageMeta, ModSeq, NewMessage, QuotaUsage,
    SpecialUse, Uid, normalize_mailbox_name,
};

/// Columns of [`mailbox_from_row`], from `mailboxes b` with its message statistics.
const MAILBOX_SELECT: &str =
    "SELECT b.id, b.account, b.name, b.role, b.subscribed, b.uid_validity, b.uid_next,
        b.highest_modseq, s.n, s.unseen, s.size
   FROM mailboxes b
   CROSS JOIN LATERAL (
       SELECT count(*) AS n, count(*) FILTER (WHERE m.flags & 1 = 0) AS unseen,
              coalesce(sum(m.size), 0)::bigint AS size
         FROM messages m WHERE m.mailbox = b.id) s";

/// Columns of [`meta_from_row`].
const MESSAGE_COLUMNS: &str = "uid, modseq, flags, keywords, internal_date, size, blob";

fn mailbox_from_row(row: &Row) -> Result<MailboxInfo> {
    let role: Option<String> = col(row, 3)?;
    Ok(MailboxInfo {
        id: MailboxId(col(row, 0)?),
        account: AccountId(col(row, 1)?),
        name: col(row, 2)?,
        role: role.as_deref().and_then(SpecialUse::from_attribute),
        subscribed: col(row, 4)?,
        uid_validity: to_u32(col(row, 5)?, "uid validity")?,
        uid_next: Uid(to_u32(col(row, 6)?, "uid next")?),
        highest_modseq: ModSeq(to_u64(col(row, 7)?, "highest modseq")?),
        messages: to_u32(col(row, 8)?, "message count")?,
        unseen: to_u32(col(row, 9)?, "unseen count")?,
        size: to_u64(col(row, 10)?, "mailbox size")?,
    })
}

/// Reads a stored blob id.
pub(super) fn blob_id(bytes: &[u8]) -> Result<BlobId> {
    <[u8; 32]>::try_from(bytes)
        .map(BlobId)
        .map_err(|_| StoreError::Corrupt(format!("blob id of {} bytes", bytes.len())))
}

fn meta_from_row(row: &Row) -> Result<MessageMeta> {
    let keywords: String = col(row, 3)?;
    let blob: Vec<u8> = col(row, 6)?;
    Ok(MessageMeta {
        uid: Uid(to_u32(col(row, 0)?, "uid")?),
        modseq: ModSeq(to_u64(col(row, 1)?, "modseq")?),
        flags: Flags::from_storage(col(row, 2)?, &keywords),
        internal_date: col(row, 4)?,
        size: to_u64(col(row, 5)?, "message size")?,
        blob: blob_id(&blob)?,
    })
}

fn uid_list(uids: &[Uid]) -> Vec<i64> {
    uids.iter().map(|u| i64::from(u.0)).collect()
}

fn modseq_param(m: ModSeq) -> i64 {
    i64::try_from(m.0).unwrap_or(i64::MAX)
}

/// A locked mailbox row.
struct Locked {
    account: AccountId,
}

/// Locks the mailboxes `ids` (in id order) for the rest of `tx`; `NotFound` if one is missing.
async fn lock_mailboxes<C: GenericClient>(
    tx: &C,
    ids: &[MailboxId],
) -> Result<Vec<(MailboxId, Locked)>> {
    let list: Vec<i64> = ids.iter().map(|m| m.0).collect();
    let rows = query(
        tx,
        "SELECT id, account FROM mailboxes WHERE id = ANY($1) ORDER BY id FOR UPDATE",
        &[&list],
    )
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        out.push((
            MailboxId(col(r, 0)?),
            Locked {
                account: AccountId(col(r, 1)?),
            },
        ));
    }
    for id in ids {
        if !out.iter().any(|(m, _)| m == id) {
            return Err(StoreError::NotFound(format!("mailbox {}", id.0)));
        }
    }
    Ok(out)
}

/// Allocates `n` UIDs and one MODSEQ in `mailbox` (taking its row lock); returns the first UID,
/// the MODSEQ, the UIDVALIDITY and the owner.
async fn allocate<C: GenericClient>(
    tx: &C,
    mailbox: MailboxId,
    n: i64,
) -> Result<(i64, i64, u32, AccountId)> {
    let row = query_opt(
        tx,
        "UPDATE mailboxes SET uid_next = uid_next + $2, highest_modseq = highest_modseq + 1 WHERE id = $1
         RETURNING uid_next - $2, highest_modseq, uid_validity, account",
        &[&mailbox.0, &n],
    )
    .await?
    .ok_or_else(|| StoreError::NotFound(format!("mailbox {}", mailbox.0)))?;
    let first: i64 = col(&row, 0)?;
    if first + n - 1 > i64::from(u32::MAX) {
        return Err(StoreError::Invalid(format!(
            "mailbox {} has run out of UIDs",
            mailbox.0
        )));
    }
    Ok((
        first,
        col(&row, 1)?,
        to_u32(col(&row, 2)?, "uid validity")?,
        AccountId(col(&row, 3)?),
    ))
}

/// Bumps the MODSEQ of a mailbox whose row `tx` holds; returns it.
async fn bump_modseq<C: GenericClient>(tx: &C, mailbox: MailboxId) -> Result<i64> {
    let row = query_one(
        tx,
        "UPDATE mailboxes SET highest_modseq = highest_modseq + 1 WHERE id = $1 RETURNING highest_modseq",
        &[&mailbox.0],
    )
    .await?;
    col(&row, 0)
}

/// Appends one message whose blob is stored; returns where it landed.
async fn insert_message<C: GenericClient>(
    tx: &C,
    mailbox: MailboxId,
    flags: &Flags,
    internal_date: i64,
    size: i64,
    blob: &BlobId,
) -> Result<(Appended, AccountId)> {
    let (uid, modseq, uid_validity, account) = allocate(tx, mailbox, 1).await?;
    exec(
        tx,
        "INSERT INTO messages (mailbox, uid, modseq, flags, keywords, internal_date, size, blob)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[
            &mailbox.0,
            &uid,
            &modseq,
            &flags.system_bits(),
            &flags.keywords_for_storage(),
            &internal_date,
            &size,
            &&blob.0[..],
        ],
    )
    .await?;
    let appended = Appended {
        mailbox,
        uid_validity,
        uid: Uid(to_u32(uid, "uid")?),
        modseq: ModSeq(to_u64(modseq, "modseq")?),
    };
    Ok((appended, account))
}

/// Records expunged UIDs with their MODSEQ (for QRESYNC).
pub(super) async fn tombstones<C: GenericClient>(
    tx: &C,
    mailbox: MailboxId,
    uids: &[i64],
    modseq: i64,
) -> Result<()> {
    exec(
        tx,
        "INSERT INTO expunged (mailbox, uid, modseq) SELECT $1, u, $3 FROM unnest($2::bigint[]) AS u
         ON CONFLICT (mailbox, uid) DO UPDATE SET modseq = EXCLUDED.modseq",
        &[&mailbox.0, &uids, &modseq],
    )
    .await?;
    Ok(())
}

fn change(account: AccountId, mailbox: MailboxId, modseq: i64) -> MailboxChange {
    MailboxChange {
        account,
        mailbox,
        modseq: ModSeq(u64::try_from(modseq).unwrap_or(0)),
    }
}

impl Postgres {
    /// Queues notifications for `changes` in `tx`, commits, and announces them locally.
    async fn commit_changes(
        &self,
        tx: deadpool_postgres::Transaction<'_>,
        changes: &[MailboxChange],
    ) -> Result<()> {
        for c in changes {
            self.notify(&tx, c).await?;
        }
        tx.commit().await.map_err(db_error)?;
        self.announce(changes);
        Ok(())
    }

    async fn copy_or_move(
        &self,
        from: MailboxId,
        uids: &[Uid],
        to: MailboxId,
        remove: bool,
    ) -> Result<Vec<(Uid, Uid)>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        self.lock_blobs_shared(&tx).await?;
        let locked = lock_mailboxes(&tx, &[from, to]).await?;
        let rows = query(
            &tx,
            "SELECT uid, flags, keywords, internal_date, size, blob FROM messages
              WHERE mailbox = $1 AND uid = ANY($2) ORDER BY uid",
            &[&from.0, &uid_list(uids)],
        )
        .await?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let n = rows.len() as i64;
        let (first, modseq, _, to_account) = allocate(&tx, to, n).await?;
        let mut old = Vec::with_capacity(rows.len());
        let mut new = Vec::with_capacity(rows.len());
        let mut flags = Vec::with_capacity(rows.len());
        let mut keywords = Vec::with_capacity(rows.len());
        let mut dates = Vec::with_capacity(rows.len());
        let mut sizes = Vec::with_capacity(rows.len());
        let mut blobs = Vec::with_capacity(rows.len());
        for (i, r) in rows.iter().enumerate() {
            old.push(col::<i64>(r, 0)?);
            new.push(first + i as i64);
            flags.push(col::<i64>(r, 1)?);
            keywords.push(col::<String>(r, 2)?);
            dates.push(col::<i64>(r, 3)?);
            sizes.push(col::<i64>(r, 4)?);
            blobs.push(col::<Vec<u8>>(r, 5)?);
        }
        exec(
            &tx,
            "INSERT INTO messages (mailbox, uid, modseq, flags, keywords, internal_date, size, blob)
             SELECT $1, u.uid, $2, u.flags, u.keywords, u.internal_date, u.size, u.blob
               FROM unnest($3::bigint[], $4::bigint[], $5::text[], $6::bigint[], $7::bigint[], $8::bytea[])
                    AS u(uid, flags, keywords, internal_date, size, blob)",
            &[&to.0, &modseq, &new, &flags, &keywords, &dates, &sizes, &blobs],
        )
        .await?;
        let mut changes = vec![change(to_account, to, modseq)];
        if remove {
            exec(
                &tx,
                "DELETE FROM messages WHERE mailbox = $1 AND uid = ANY($2)",
                &[&from.0, &old],
            )
            .await?;
            let from_modseq = bump_modseq(&tx, from).await?;
            tombstones(&tx, from, &old, from_modseq).await?;
            let from_account = locked
                .iter()
                .find(|(m, _)| *m == from)
                .map_or(to_account, |(_, l)| l.account);
            changes.push(change(from_account, from, from_modseq));
        }
        self.commit_changes(tx, &changes).await?;
        let mut pairs = Vec::with_capacity(old.len());
        for (o, n) in old.iter().zip(&new) {
            pairs.push((Uid(to_u32(*o, "uid")?), Uid(to_u32(*n, "uid")?)));
        }
        Ok(pairs)
    }
}

#[async_trait]
impl MailStore for Postgres {
    async fn create_mailbox(
        &self,
        account: AccountId,
        name: &str,
        role: Option<SpecialUse>,
    ) -> Result<MailboxInfo> {
        let name = normalize_mailbox_name(name)?;
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        // The account row is locked against deletion until the mailbox exists.
        if query_opt(
            &tx,
            "SELECT 1 FROM accounts WHERE id = $1 FOR SHARE",
            &[&account.0],
        )
        .await?
        .is_none()
        {
            return Err(StoreError::NotFound(format!("account {}", account.0)));
        }
        if query_opt(
            &tx,
            "SELECT 1 FROM mailboxes WHERE account = $1 AND name = $2",
            &[&account.0, &name],
        )
        .await?
        .is_some()
        {
            return Err(StoreError::AlreadyExists(format!("mailbox {name}")));
        }
        let row = query_one(
            &tx,
            "UPDATE meta SET value = greatest(extract(epoch from clock_timestamp())::bigint, value + 1)
              WHERE key = 'uid_validity' RETURNING value",
            &[],
        )
        .await?;
        let uid_validity: i64 = col(&row, 0)?;
        let role_name = role.map(|r| r.attribute());
        let row = query_opt(
            &tx,
            "INSERT INTO mailboxes (account, name, role, uid_validity) VALUES ($1, $2, $3, $4)
             ON CONFLICT (account, name) DO NOTHING RETURNING id, highest_modseq",
            &[&account.0, &name, &role_name, &uid_validity],
        )
        .await?
        .ok_or_else(|| StoreError::AlreadyExists(format!("mailbox {name}")))?;
        let info = MailboxInfo {
            id: MailboxId(col(&row, 0)?),
            account,
            name,
            role,
            subscribed: false,
            uid_validity: to_u32(uid_validity, "uid validity")?,
            uid_next: Uid(1),
            highest_modseq: ModSeq(to_u64(col(&row, 1)?, "highest modseq")?),
            messages: 0,
            unseen: 0,
            size: 0,
        };
        tx.commit().await.map_err(db_error)?;
        Ok(info)
    }

    async fn delete_mailbox(&self, account: AccountId, name: &str) -> Result<()> {
        let name = normalize_mailbox_name(name)?;
        if name == INBOX {
            return Err(StoreError::Invalid("INBOX cannot be deleted".into()));
        }
        let client = self.client().await?;
        let n = exec(
            &client,
            "DELETE FROM mailboxes WHERE account = $1 AND name = $2",
            &[&account.0, &name],
        )
        .await?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("mailbox {name}")));
        }
        Ok(())
    }

    async fn rename_mailbox(&self, account: AccountId, from: &str, to: &str) -> Result<()> {
        let from = normalize_mailbox_name(from)?;
        let to = normalize_mailbox_name(to)?;
        if from == INBOX {
            return Err(StoreError::Invalid("INBOX cannot be renamed".into()));
        }
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        if query_opt(
            &tx,
            "SELECT 1 FROM mailboxes WHERE account = $1 AND name = $2 FOR UPDATE",
            &[&account.0, &from],
        )
        .await?
        .is_none()
        {
            return Err(StoreError::NotFound(format!("mailbox {from}")));
        }
        if query_opt(
            &tx,
            "SELECT 1 FROM mailboxes WHERE account = $1 AND name = $2",
            &[&account.0, &to],
        )
        .await?
        .is_some()
        {
            return Err(StoreError::AlreadyExists(format!("mailbox {to}")));
        }
        let prefix = format!("{from}{DELIMITER}");
        let rows = query(
            &tx,
            "SELECT id, name FROM mailboxes WHERE account = $1 AND (name = $2 OR starts_with(name, $3)) FOR UPDATE",
            &[&account.0, &from, &prefix],
        )
        .await?;
        let mut ids = Vec::with_capacity(rows.len());
        let mut names = Vec::with_capacity(rows.len());
        for r in &rows {
            let name: String = col(r, 1)?;
            let new = match name.strip_prefix(&prefix) {
                Some(rest) => normalize_mailbox_name(&format!("{to}{DELIMITER}{rest}"))?,
                None => to.clone(),
            };
            ids.push(col::<i64>(r, 0)?);
            names.push(new);
        }
        // Two passes, so that renamed mailboxes never collide with each other midway
        // (`a` → `a/b` while `a/b/c` becomes `a/b/b/c`).
        exec(
            &tx,
            "UPDATE mailboxes SET name = chr(1) || 'renaming ' || id WHERE id = ANY($1)",
            &[&ids],
        )
        .await?;
        exec(
            &tx,
            "UPDATE mailboxes m SET name = u.name FROM unnest($1::bigint[], $2::text[]) AS u(id, name)
              WHERE m.id = u.id",
            &[&ids, &names],
        )
        .await
        .map_err(|e| match e {
            StoreError::AlreadyExists(_) => StoreError::AlreadyExists(format!("a mailbox below {to}")),
            e => e,
        })?;
        tx.commit().await.map_err(db_error)?;
        Ok(())
    }

    async fn list_mailboxes(&self, account: AccountId) -> Result<Vec<MailboxInfo>> {
        let client = self.client().await?;
        let sql = format!("{MAILBOX_SELECT} WHERE b.account = $1 ORDER BY b.name COLLATE \"C\"");
        query(&client, &sql, &[&account.0])
            .await?
            .iter()
            .map(mailbox_from_row)
            .collect()
    }

    async fn mailbox(&self, account: AccountId, name: &str) -> Result<Option<MailboxInfo>> {
        let name = normalize_mailbox_name(name)?;
        let client = self.client().await?;
        let sql = format!("{MAILBOX_SELECT} WHERE b.account = $1 AND b.name = $2");
        query_opt(&client, &sql, &[&account.0, &name])
            .await?
            .as_ref()
            .map(mailbox_from_row)
            .transpose()
    }

    async fn mailbox_by_id(&self, id: MailboxId) -> Result<Option<MailboxInfo>> {
        let client = self.client().await?;
        let sql = format!("{MAILBOX_SELECT} WHERE b.id = $1");
        query_opt(&client, &sql, &[&id.0])
            .await?
            .as_ref()
            .map(mailbox_from_row)
            .transpose()
    }

    async fn set_subscribed(&self, account: AccountId, name: &str, subscribed: bool) -> Result<()> {
        let name = normalize_mailbox_name(name)?;
        let client = self.client().await?;
        let n = exec(
            &client,
            "UPDATE mailboxes SET subscribed = $3 WHERE account = $1 AND name = $2",
            &[&account.0, &name, &subscribed],
        )
        .await?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("mailbox {name}")));
        }
        Ok(())
    }

    async fn append(&self, mailbox: MailboxId, message: NewMessage) -> Result<Appended> {
        self.append_many(mailbox, vec![message])
            .await?
            .pop()
            .ok_or_else(|| StoreError::Backend("append stored nothing".into()))
    }

    async fn append_many(
        &self,
        mailbox: MailboxId,
        messages: Vec<NewMessage>,
    ) -> Result<Vec<Appended>> {
        if messages.is_empty() {
            return Ok(Vec::new());
        }
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        self.lock_blobs_shared(&tx).await?;
        let mut appended = Vec::with_capacity(messages.len());
        let mut last = None;
        for message in &messages {
            let blob = insert_blob(&tx, &message.raw).await?;
            let size = message.raw.len() as i64;
            let (a, account) = insert_message(
                &tx,
                mailbox,
                &message.flags,
                message.internal_date,
                size,
                &blob,
            )
            .await?;
            last = Some(change(account, mailbox, modseq_param(a.modseq)));
            appended.push(a);
        }
        let changes: Vec<_> = last.into_iter().collect();
        self.commit_changes(tx, &changes).await?;
        Ok(appended)
    }

    async fn deliver(
        &self,
        raw: Bytes,
        internal_date: i64,
        targets: &[DeliveryTarget],
    ) -> Result<Vec<Appended>> {
        if targets.is_empty() {
            return Ok(Vec::new());
        }
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        self.lock_blobs_shared(&tx).await?;
        let blob = insert_blob(&tx, &raw).await?;
        let size = raw.len() as i64;
        // Lock mailboxes in id order so concurrent deliveries cannot deadlock.
        let mut order: Vec<usize> = (0..targets.len()).collect();
        order.sort_by_key(|&i| targets[i].mailbox);
        let mut results: Vec<Option<Appended>> = vec![None; targets.len()];
        let mut changes = Vec::with_capacity(targets.len());
        for i in order {
            let t = &targets[i];
            let (appended, account) =
                insert_message(&tx, t.mailbox, &t.flags, internal_date, size, &blob).await?;
            changes.push(change(account, t.mailbox, modseq_param(appended.modseq)));
            results[i] = Some(appended);
        }
        self.commit_changes(tx, &changes).await?;
        Ok(results.into_iter().flatten().collect())
    }

    async fn messages(
        &self,
        mailbox: MailboxId,
        uids: RangeInclusive<u32>,
    ) -> Result<Vec<MessageMeta>> {
        let client = self.client().await?;
        if query_opt(
            &client,
            "SELECT 1 FROM mailboxes WHERE id = $1",
            &[&mailbox.0],
        )
        .await?
        .is_none()
        {
            return Err(StoreError::NotFound(format!("mailbox {}", mailbox.0)));
        }
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE mailbox = $1 AND uid BETWEEN $2 AND $3 ORDER BY uid"
        );
        let (lo, hi) = (i64::from(*uids.start()), i64::from(*uids.end()));
        query(&client, &sql, &[&mailbox.0, &lo, &hi])
            .await?
            .iter()
            .map(meta_from_row)
            .collect()
    }

    async fn read_message(&self, mailbox: MailboxId, uid: Uid) -> Result<Option<Bytes>> {
        let client = self.client().await?;
        let row = query_opt(
            &client,
            "SELECT b.data FROM messages m LEFT JOIN blobs b ON b.id = m.blob WHERE m.mailbox = $1 AND m.uid = $2",
            &[&mailbox.0, &i64::from(uid.0)],
        )
        .await?;
        match row {
            None => Ok(None),
            Some(r) => match col::<Option<Vec<u8>>>(&r, 0)? {
                Some(data) => Ok(Some(Bytes::from(data))),
                None => Err(StoreError::Corrupt(format!(
                    "message {} in mailbox {} has no blob",
                    uid.0, mailbox.0
                ))),
            },
        }
    }

    async fn store_flags(
        &self,
        mailbox: MailboxId,
        uids: &[Uid],
        change_: &FlagChange,
        unchanged_since: Option<ModSeq>,
    ) -> Result<FlagsStored> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        let locked = lock_mailboxes(&tx, &[mailbox]).await?;
        let account = locked.first().map_or(AccountId(0), |(_, l)| l.account);
        let rows = query(
            &tx,
            "SELECT uid, modseq, flags, keywords FROM messages WHERE mailbox = $1 AND uid = ANY($2) ORDER BY uid",
            &[&mailbox.0, &uid_list(uids)],
        )
        .await?;
        let mut out = FlagsStored::default();
        // (uid, new flags) of the messages whose flags change; they share one new MODSEQ.
        let mut changed: Vec<(usize, Flags)> = Vec::new();
        for r in &rows {
            let uid = Uid(to_u32(col(r, 0)?, "uid")?);
            let modseq = ModSeq(to_u64(col(r, 1)?, "modseq")?);
            let keywords: String = col(r, 3)?;
            let old = Flags::from_storage(col(r, 2)?, &keywords);
            if unchanged_since.is_some_and(|since| modseq > since) {
                out.modified.push(uid);
                continue;
            }
            let new = old.apply(change_);
            if new != old {
                changed.push((out.updated.len(), new.clone()));
            }
            out.updated.push((uid, new, modseq));
        }
        if changed.is_empty() {
            return Ok(out);
        }
        let modseq = bump_modseq(&tx, mailbox).await?;
        let new_modseq = ModSeq(to_u64(modseq, "modseq")?);
        let mut uids = Vec::with_capacity(changed.len());
        let mut bits = Vec::with_capacity(changed.len());
        let mut keywords = Vec::with_capacity(changed.len());
        for (i, f) in &changed {
            if let Some(entry) = out.updated.get_mut(*i) {
                entry.2 = new_modseq;
                uids.push(i64::from(entry.0.0));
            }
            bits.push(f.system_bits());
            keywords.push(f.keywords_for_storage());
        }
        exec(
            &tx,
            "UPDATE messages m SET flags = u.flags, keywords = u.keywords, modseq = $2
               FROM unnest($3::bigint[], $4::bigint[], $5::text[]) AS u(uid, flags, keywords)
              WHERE m.mailbox = $1 AND m.uid = u.uid",
            &[&mailbox.0, &modseq, &uids, &bits, &keywords],
        )
        .await?;
        self.commit_changes(tx, &[change(account, mailbox, modseq)])
            .await?;
        Ok(out)
    }

    async fn copy_messages(
        &self,
        from: MailboxId,
        uids: &[Uid],
        to: MailboxId,
    ) -> Result<Vec<(Uid, Uid)>> {
        self.copy_or_move(from, uids, to, false).await
    }

    async fn move_messages(
        &self,
        from: MailboxId,
        uids: &[Uid],
        to: MailboxId,
    ) -> Result<Vec<(Uid, Uid)>> {
        self.copy_or_move(from, uids, to, true).await
    }

    async fn expunge(&self, mailbox: MailboxId, uids: Option<&[Uid]>) -> Result<Vec<Uid>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        let locked = lock_mailboxes(&tx, &[mailbox]).await?;
        let account = locked.first().map_or(AccountId(0), |(_, l)| l.account);
        let only: Option<Vec<i64>> = uids.map(uid_list);
        let rows = query(
            &tx,
            "DELETE FROM messages WHERE mailbox = $1 AND flags & 8 <> 0 AND ($2::bigint[] IS NULL OR uid = ANY($2))
             RETURNING uid",
            &[&mailbox.0, &only],
        )
        .await?;
        let mut gone = rows
            .iter()
            .map(|r| col::<i64>(r, 0))
            .collect::<Result<Vec<_>>>()?;
        if gone.is_empty() {
            return Ok(Vec::new());
        }
        gone.sort_unstable();
        let modseq = bump_modseq(&tx, mailbox).await?;
        tombstones(&tx, mailbox, &gone, modseq).await?;
        self.commit_changes(tx, &[change(account, mailbox, modseq)])
            .await?;
        gone.into_iter()
            .map(|u| to_u32(u, "uid").map(Uid))
            .collect()
    }

    async fn changes_since(&self, mailbox: MailboxId, since: ModSeq) -> Result<Changes> {
        let mut client = self.client().await?;
        // One snapshot for the counter, the changes and the tombstones.
        let tx = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(db_error)?;
        let row = query_opt(
            &tx,
            "SELECT highest_modseq FROM mailboxes WHERE id = $1",
            &[&mailbox.0],
        )
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("mailbox {}", mailbox.0)))?;
        let highest_modseq = ModSeq(to_u64(col(&row, 0)?, "highest modseq")?);
        let since = modseq_param(since);
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE mailbox = $1 AND modseq > $2 ORDER BY uid"
        );
        let changed = query(&tx, &sql, &[&mailbox.0, &since])
            .await?
            .iter()
            .map(meta_from_row)
            .collect::<Result<Vec<_>>>()?;
        let expunged = query(
            &tx,
            "SELECT uid FROM expunged WHERE mailbox = $1 AND modseq > $2 ORDER BY uid",
            &[&mailbox.0, &since],
        )
        .await?
        .iter()
        .map(|r| to_u32(col(r, 0)?, "uid").map(Uid))
        .collect::<Result<Vec<_>>>()?;
        tx.commit().await.map_err(db_error)?;
        Ok(Changes {
            changed,
            expunged,
            highest_modseq,
        })
    }

    fn subscribe_changes(&self) -> tokio::sync::broadcast::Receiver<MailboxChange> {
        self.changes.subscribe()
    }

    async fn quota_usage(&self, account: AccountId) -> Result<QuotaUsage> {
        let client = self.client().await?;
        let row = query_one(
            &client,
            "SELECT count(*), coalesce(sum(m.size), 0)::bigint
               FROM messages m JOIN mailboxes b ON b.id = m.mailbox WHERE b.account = $1",
            &[&account.0],
        )
        .await?;
        Ok(QuotaUsage {
            messages: to_u64(col(&row, 0)?, "message count")?,
            bytes: to_u64(col(&row, 1)?, "quota bytes")?,
        })
    }
}
