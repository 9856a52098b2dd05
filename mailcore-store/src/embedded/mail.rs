//! Mail data ([`MailStore`]) and blobs ([`BlobStore`]).
//!
//! Counters (messages, unseen, size) are computed from the message rows on every read, so
//! they cannot drift; UIDNEXT and HIGHESTMODSEQ are stored on the mailbox row and advanced by
//! the single writer in the same transaction as the change they number.

use std::collections::BTreeSet;
use std::ops::{Range, RangeInclusive};

use async_trait::async_trait;
use bytes::Bytes;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{Db, Embedded, corrupt};
use crate::blob::{BlobId, BlobStore};
use crate::error::{Result, StoreError};
use crate::mailbox::{
    AccountId, Appended, Changes, DELIMITER, DeliveryTarget, FlagChange, Flags, FlagsStored, INBOX,
    MailStore, MailboxChange, MailboxId, MailboxInfo, MessageMeta, ModSeq, NewMessage, QuotaUsage,
    SpecialUse, Uid, normalize_mailbox_name,
};

/// Blobs at least this large are hashed on the blocking pool rather than on the caller's task.
const HASH_INLINE_MAX: usize = 256 * 1024;

const MAILBOX_SELECT: &str = "SELECT b.id, b.account, b.name, b.role, b.subscribed, b.uid_validity, b.uid_next, \
     b.highest_modseq, count(m.uid), coalesce(sum((m.flags & 1) = 0), 0), coalesce(sum(m.size), 0) \
     FROM mailboxes b LEFT JOIN messages m ON m.mailbox = b.id";

const MESSAGE_SELECT: &str =
    "SELECT uid, modseq, flags, keywords, internal_date, size, blob FROM messages";

fn mailbox_info(row: &Row<'_>) -> rusqlite::Result<MailboxInfo> {
    let role: Option<String> = row.get(3)?;
    Ok(MailboxInfo {
        id: MailboxId(row.get(0)?),
        account: AccountId(row.get(1)?),
        name: row.get(2)?,
        role: role.as_deref().and_then(SpecialUse::from_attribute),
        subscribed: row.get(4)?,
        uid_validity: row.get(5)?,
        uid_next: Uid(row.get(6)?),
        highest_modseq: ModSeq(row.get(7)?),
        messages: row.get(8)?,
        unseen: row.get(9)?,
        size: row.get(10)?,
    })
}

fn message_meta(row: &Row<'_>) -> rusqlite::Result<MessageMeta> {
    let flags: i64 = row.get(2)?;
    let keywords: String = row.get(3)?;
    Ok(MessageMeta {
        uid: Uid(row.get(0)?),
        modseq: ModSeq(row.get(1)?),
        flags: Flags::from_storage(flags, &keywords),
        internal_date: row.get(4)?,
        size: row.get(5)?,
        blob: BlobId(row.get(6)?),
    })
}

pub(super) fn mailbox_by_name(
    conn: &Connection,
    account: AccountId,
    name: &str,
) -> Result<Option<MailboxInfo>> {
    conn.prepare_cached(&format!(
        "{MAILBOX_SELECT} WHERE b.account = ?1 AND b.name = ?2 GROUP BY b.id"
    ))
    .db()?
    .query_row(params![account.0, name], mailbox_info)
    .optional()
    .db()
}

fn mailbox_by_id(conn: &Connection, id: MailboxId) -> Result<Option<MailboxInfo>> {
    conn.prepare_cached(&format!("{MAILBOX_SELECT} WHERE b.id = ?1 GROUP BY b.id"))
        .db()?
        .query_row([id.0], mailbox_info)
        .optional()
        .db()
}

/// The numbering state of a mailbox, as the writer advances it.
#[derive(Debug)]
pub(super) struct Head {
    pub(super) id: MailboxId,
    pub(super) account: AccountId,
    pub(super) uid_validity: u32,
    pub(super) uid_next: u32,
    pub(super) modseq: u64,
}

impl Head {
    pub(super) fn load(conn: &Connection, id: MailboxId) -> Result<Head> {
        conn.prepare_cached(
            "SELECT account, uid_validity, uid_next, highest_modseq FROM mailboxes WHERE id = ?1",
        )
        .db()?
        .query_row([id.0], |r| {
            Ok(Head {
                id,
                account: AccountId(r.get(0)?),
                uid_validity: r.get(1)?,
                uid_next: r.get(2)?,
                modseq: r.get(3)?,
            })
        })
        .optional()
        .db()?
        .ok_or_else(|| StoreError::NotFound(format!("mailbox {}", id.0)))
    }

    /// The MODSEQ for a new change.
    pub(super) fn bump(&mut self) -> u64 {
        self.modseq += 1;
        self.modseq
    }

    /// Takes the next UID.
    fn take_uid(&mut self) -> Result<u32> {
        let uid = self.uid_next;
        self.uid_next = uid.checked_add(1).ok_or_else(|| {
            StoreError::Invalid(format!("mailbox {} has used every UID", self.id.0))
        })?;
        Ok(uid)
    }

    pub(super) fn save(&self, conn: &Connection) -> Result<()> {
        conn.prepare_cached(
            "UPDATE mailboxes SET uid_next = ?2, highest_modseq = ?3 WHERE id = ?1",
        )
        .db()?
        .execute(params![self.id.0, self.uid_next, self.modseq])
        .db()?;
        Ok(())
    }

    pub(super) fn change(&self) -> MailboxChange {
        MailboxChange {
            account: self.account,
            mailbox: self.id,
            modseq: ModSeq(self.modseq),
        }
    }
}

/// Stores a blob unless present.
pub(super) fn insert_blob(conn: &Connection, id: &BlobId, data: &[u8]) -> Result<()> {
    conn.prepare_cached("INSERT OR IGNORE INTO blobs (id, size, data) VALUES (?1, ?2, ?3)")
        .db()?
        .execute(params![id.0, data.len(), data])
        .db()?;
    Ok(())
}

/// A message row to insert.
struct Row0<'a> {
    flags: &'a Flags,
    internal_date: i64,
    size: u64,
    blob: &'a BlobId,
}

/// Inserts a message with the next UID of `head`, numbered `modseq`.
fn insert_message(conn: &Connection, head: &mut Head, modseq: u64, m: &Row0<'_>) -> Result<u32> {
    let uid = head.take_uid()?;
    conn.prepare_cached(
        "INSERT INTO messages (mailbox, uid, modseq, flags, keywords, internal_date, size, blob) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )
    .db()?
    .execute(params![
        head.id.0,
        uid,
        modseq,
        m.flags.system_bits(),
        m.flags.keywords_for_storage(),
        m.internal_date,
        m.size,
        m.blob.0
    ])
    .db()?;
    Ok(uid)
}

/// Deletes messages of a mailbox and leaves tombstones numbered `modseq`.
pub(super) fn remove_messages(
    conn: &Connection,
    mailbox: MailboxId,
    uids: &[u32],
    modseq: u64,
) -> Result<()> {
    let mut delete = conn
        .prepare_cached("DELETE FROM messages WHERE mailbox = ?1 AND uid = ?2")
        .db()?;
    let mut tombstone = conn
        .prepare_cached(
            "INSERT OR REPLACE INTO expunged (mailbox, uid, modseq) VALUES (?1, ?2, ?3)",
        )
        .db()?;
    for uid in uids {
        delete.execute(params![mailbox.0, uid]).db()?;
        tombstone.execute(params![mailbox.0, uid, modseq]).db()?;
    }
    Ok(())
}

/// A fresh UIDVALIDITY: the current time in seconds, but always above the last one given.
fn next_uid_validity(conn: &Connection) -> Result<u32> {
    let last: Option<i64> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'uid_validity'",
            [],
            |r| r.get(0),
        )
        .optional()
        .db()?;
    let next = crate::now().max(last.unwrap_or(0) + 1);
    let value = u32::try_from(next)
        .map_err(|_| StoreError::Backend("UIDVALIDITY space exhausted".into()))?;
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('uid_validity', ?1) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [value],
    )
    .db()?;
    Ok(value)
}

fn sorted(uids: &[Uid]) -> Vec<u32> {
    uids.iter()
        .map(|u| u.0)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// UID pairs (source, new) and the mailboxes changed.
type Transferred = (Vec<(Uid, Uid)>, Vec<MailboxChange>);

/// Copies (and with `remove`, moves) messages; returns the UID pairs and changed mailboxes.
fn transfer(
    conn: &Connection,
    from: MailboxId,
    uids: &[Uid],
    to: MailboxId,
    remove: bool,
) -> Result<Transferred> {
    Head::load(conn, from)?;
    let mut dest = Head::load(conn, to)?;
    let mut rows = Vec::new();
    {
        let mut get = conn
            .prepare_cached("SELECT flags, keywords, internal_date, size, blob FROM messages WHERE mailbox = ?1 AND uid = ?2")
            .db()?;
        for uid in sorted(uids) {
            let row = get
                .query_row(params![from.0, uid], |r| {
                    let flags: i64 = r.get(0)?;
                    let keywords: String = r.get(1)?;
                    Ok((
                        Flags::from_storage(flags, &keywords),
                        r.get::<_, i64>(2)?,
                        r.get::<_, u64>(3)?,
                        BlobId(r.get(4)?),
                    ))
                })
                .optional()
                .db()?;
            if let Some(row) = row {
                rows.push((uid, row));
            }
        }
    }
    if rows.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let modseq = dest.bump();
    let mut pairs = Vec::with_capacity(rows.len());
    for (uid, (flags, internal_date, size, blob)) in &rows {
        let new = insert_message(
            conn,
            &mut dest,
            modseq,
            &Row0 {
                flags,
                internal_date: *internal_date,
                size: *size,
                blob,
            },
        )?;
        pairs.push((Uid(*uid), Uid(new)));
    }
    dest.save(conn)?;
    let mut changes = vec![dest.change()];
    if remove {
        // Loaded again: `from` may be `to`.
        let mut source = Head::load(conn, from)?;
        let modseq = source.bump();
        let gone: Vec<u32> = rows.iter().map(|(uid, _)| *uid).collect();
        remove_messages(conn, from, &gone, modseq)?;
        source.save(conn)?;
        changes.push(source.change());
    }
    Ok((pairs, changes))
}

/// Hashes a blob, off the async worker when it is large.
pub(super) async fn blob_id(raw: &Bytes) -> Result<BlobId> {
    if raw.len() < HASH_INLINE_MAX {
        return Ok(BlobId::of(raw));
    }
    let raw = raw.clone();
    tokio::task::spawn_blocking(move || BlobId::of(&raw))
        .await
        .map_err(super::joined)
}

fn ensure_mailbox(conn: &Connection, id: MailboxId) -> Result<()> {
    Head::load(conn, id).map(|_| ())
}

#[async_trait]
impl MailStore for Embedded {
    async fn create_mailbox(
        &self,
        account: AccountId,
        name: &str,
        role: Option<SpecialUse>,
    ) -> Result<MailboxInfo> {
        let name = normalize_mailbox_name(name)?;
        self.write(move |tx| {
            let known = tx
                .prepare_cached("SELECT 1 FROM accounts WHERE id = ?1")
                .db()?
                .exists([account.0])
                .db()?;
            if !known {
                return Err(StoreError::NotFound(format!("account {}", account.0)));
            }
            if mailbox_by_name(tx, account, &name)?.is_some() {
                return Err(StoreError::AlreadyExists(format!("mailbox {name:?}")));
            }
            let uid_validity = next_uid_validity(tx)?;
            tx.execute(
                "INSERT INTO mailboxes (account, name, role, subscribed, uid_validity, uid_next, highest_modseq) \
                 VALUES (?1, ?2, ?3, 0, ?4, 1, 1)",
                params![account.0, name, role.map(|r| r.attribute()), uid_validity],
            )
            .map_err(super::exists_as(format!("mailbox {name:?}")))?;
            let id = MailboxId(tx.last_insert_rowid());
            mailbox_by_id(tx, id)?.ok_or_else(|| StoreError::Backend("created mailbox vanished".into()))
        })
        .await
    }

    async fn delete_mailbox(&self, account: AccountId, name: &str) -> Result<()> {
        let name = normalize_mailbox_name(name)?;
        if name == INBOX {
            return Err(StoreError::Invalid("INBOX cannot be deleted".into()));
        }
        self.write(move |tx| {
            let n = tx
                .execute(
                    "DELETE FROM mailboxes WHERE account = ?1 AND name = ?2",
                    params![account.0, name],
                )
                .db()?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("mailbox {name:?}")));
            }
            Ok(())
        })
        .await
    }

    async fn rename_mailbox(&self, account: AccountId, from: &str, to: &str) -> Result<()> {
        let from = normalize_mailbox_name(from)?;
        let to = normalize_mailbox_name(to)?;
        if from == INBOX {
            return Err(StoreError::Invalid("INBOX cannot be renamed".into()));
        }
        self.write(move |tx| {
            if mailbox_by_name(tx, account, &to)?.is_some() {
                return Err(StoreError::AlreadyExists(format!("mailbox {to:?}")));
            }
            let prefix = format!("{from}{DELIMITER}");
            let mut renames: Vec<(i64, String)> = Vec::new();
            {
                let mut list = tx
                    .prepare_cached("SELECT id, name FROM mailboxes WHERE account = ?1")
                    .db()?;
                let rows = list
                    .query_map([account.0], |r| {
                        Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
                    })
                    .db()?;
                for row in rows {
                    let (id, name) = row.db()?;
                    if name == from {
                        renames.push((id, to.clone()));
                    } else if let Some(rest) = name.strip_prefix(&prefix) {
                        let new = format!("{to}{DELIMITER}{rest}");
                        normalize_mailbox_name(&new)?;
                        renames.push((id, new));
                    }
                }
            }
            // `from` itself need not exist when mailboxes below it do (parents are optional).
            if renames.is_empty() {
                return Err(StoreError::NotFound(format!("mailbox {from:?}")));
            }
            // Two passes so that renamed mailboxes never collide with each other midway
            // (e.g. `a` → `a/b` while `a/b` is being renamed to `a/b/b`).
            let mut set = tx
                .prepare_cached("UPDATE mailboxes SET name = ?2 WHERE id = ?1")
                .db()?;
            for (id, _) in &renames {
                set.execute(params![id, format!("\u{1}renaming {id}")])
                    .db()?;
            }
            for (id, name) in &renames {
                set.execute(params![id, name])
                    .map_err(super::exists_as(format!("mailbox {name:?}")))?;
            }
            Ok(())
        })
        .await
    }

    async fn list_mailboxes(&self, account: AccountId) -> Result<Vec<MailboxInfo>> {
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "{MAILBOX_SELECT} WHERE b.account = ?1 GROUP BY b.id ORDER BY b.name"
                ))
                .db()?;
            let rows = stmt.query_map([account.0], mailbox_info).db()?;
            rows.collect::<rusqlite::Result<Vec<_>>>().db()
        })
        .await
    }

    async fn mailbox(&self, account: AccountId, name: &str) -> Result<Option<MailboxInfo>> {
        let name = normalize_mailbox_name(name)?;
        self.read(move |conn| mailbox_by_name(conn, account, &name))
            .await
    }

    async fn mailbox_by_id(&self, id: MailboxId) -> Result<Option<MailboxInfo>> {
        self.read(move |conn| mailbox_by_id(conn, id)).await
    }

    async fn set_subscribed(&self, account: AccountId, name: &str, subscribed: bool) -> Result<()> {
        let name = normalize_mailbox_name(name)?;
        self.write(move |tx| {
            let n = tx
                .execute(
                    "UPDATE mailboxes SET subscribed = ?3 WHERE account = ?1 AND name = ?2",
                    params![account.0, name, subscribed],
                )
                .db()?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("mailbox {name:?}")));
            }
            Ok(())
        })
        .await
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
        let mut ids = Vec::with_capacity(messages.len());
        for m in &messages {
            ids.push(blob_id(&m.raw).await?);
        }
        let (appended, change) = self
            .write(move |tx| {
                let mut head = Head::load(tx, mailbox)?;
                let mut appended = Vec::with_capacity(messages.len());
                for (message, id) in messages.iter().zip(&ids) {
                    insert_blob(tx, id, &message.raw)?;
                    let modseq = head.bump();
                    let row = Row0 {
                        flags: &message.flags,
                        internal_date: message.internal_date,
                        size: message.raw.len() as u64,
                        blob: id,
                    };
                    let uid = insert_message(tx, &mut head, modseq, &row)?;
                    appended.push(Appended {
                        mailbox,
                        uid_validity: head.uid_validity,
                        uid: Uid(uid),
                        modseq: ModSeq(modseq),
                    });
                }
                head.save(tx)?;
                Ok((appended, head.change()))
            })
            .await?;
        self.notify([change]);
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
        let id = blob_id(&raw).await?;
        let targets = targets.to_vec();
        let (appended, changes) = self
            .write(move |tx| {
                insert_blob(tx, &id, &raw)?;
                let mut appended = Vec::with_capacity(targets.len());
                let mut changes = Vec::with_capacity(targets.len());
                for target in &targets {
                    let mut head = Head::load(tx, target.mailbox)?;
                    let modseq = head.bump();
                    let row = Row0 {
                        flags: &target.flags,
                        internal_date,
                        size: raw.len() as u64,
                        blob: &id,
                    };
                    let uid = insert_message(tx, &mut head, modseq, &row)?;
                    head.save(tx)?;
                    appended.push(Appended {
                        mailbox: target.mailbox,
                        uid_validity: head.uid_validity,
                        uid: Uid(uid),
                        modseq: ModSeq(modseq),
                    });
                    changes.push(head.change());
                }
                Ok((appended, changes))
            })
            .await?;
        self.notify(changes);
        Ok(appended)
    }

    async fn messages(
        &self,
        mailbox: MailboxId,
        uids: RangeInclusive<u32>,
    ) -> Result<Vec<MessageMeta>> {
        self.read(move |conn| {
            ensure_mailbox(conn, mailbox)?;
            let mut stmt = conn
                .prepare_cached(&format!(
                    "{MESSAGE_SELECT} WHERE mailbox = ?1 AND uid BETWEEN ?2 AND ?3 ORDER BY uid"
                ))
                .db()?;
            let rows = stmt
                .query_map(params![mailbox.0, uids.start(), uids.end()], message_meta)
                .db()?;
            rows.collect::<rusqlite::Result<Vec<_>>>().db()
        })
        .await
    }

    async fn read_message(&self, mailbox: MailboxId, uid: Uid) -> Result<Option<Bytes>> {
        self.read(move |conn| {
            let row = conn
                .prepare_cached(
                    "SELECT m.blob, b.data FROM messages m LEFT JOIN blobs b ON b.id = m.blob \
                     WHERE m.mailbox = ?1 AND m.uid = ?2",
                )
                .db()?
                .query_row(params![mailbox.0, uid.0], |r| {
                    Ok((r.get::<_, [u8; 32]>(0)?, r.get::<_, Option<Vec<u8>>>(1)?))
                })
                .optional()
                .db()?;
            match row {
                None => Ok(None),
                Some((_, Some(data))) => Ok(Some(Bytes::from(data))),
                Some((blob, None)) => Err(corrupt(format!(
                    "blob {} of message {} in mailbox {} is missing",
                    BlobId(blob),
                    uid.0,
                    mailbox.0
                ))),
            }
        })
        .await
    }

    async fn store_flags(
        &self,
        mailbox: MailboxId,
        uids: &[Uid],
        change: &FlagChange,
        unchanged_since: Option<ModSeq>,
    ) -> Result<FlagsStored> {
        let uids = sorted(uids);
        let change = change.clone();
        let (stored, notice) = self
            .write(move |tx| {
                let mut head = Head::load(tx, mailbox)?;
                let modseq = head.modseq + 1;
                let mut stored = FlagsStored::default();
                let mut changed = false;
                let mut get = tx
                    .prepare_cached("SELECT flags, keywords, modseq FROM messages WHERE mailbox = ?1 AND uid = ?2")
                    .db()?;
                let mut set = tx
                    .prepare_cached("UPDATE messages SET flags = ?3, keywords = ?4, modseq = ?5 WHERE mailbox = ?1 AND uid = ?2")
                    .db()?;
                for uid in uids {
                    let row = get
                        .query_row(params![mailbox.0, uid], |r| {
                            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, u64>(2)?))
                        })
                        .optional()
                        .db()?;
                    let Some((bits, keywords, old_modseq)) = row else {
                        continue;
                    };
                    if unchanged_since.is_some_and(|since| old_modseq > since.0) {
                        stored.modified.push(Uid(uid));
                        continue;
                    }
                    let old = Flags::from_storage(bits, &keywords);
                    let new = old.apply(&change);
                    if new == old {
                        stored.updated.push((Uid(uid), old, ModSeq(old_modseq)));
                        continue;
                    }
                    set.execute(params![mailbox.0, uid, new.system_bits(), new.keywords_for_storage(), modseq])
                        .db()?;
                    stored.updated.push((Uid(uid), new, ModSeq(modseq)));
                    changed = true;
                }
                if !changed {
                    return Ok((stored, None));
                }
                head.bump();
                head.save(tx)?;
                Ok((stored, Some(head.change())))
            })
            .await?;
        self.notify(notice);
        Ok(stored)
    }

    async fn copy_messages(
        &self,
        from: MailboxId,
        uids: &[Uid],
        to: MailboxId,
    ) -> Result<Vec<(Uid, Uid)>> {
        let uids = uids.to_vec();
        let (pairs, changes) = self
            .write(move |tx| transfer(tx, from, &uids, to, false))
            .await?;
        self.notify(changes);
        Ok(pairs)
    }

    async fn move_messages(
        &self,
        from: MailboxId,
        uids: &[Uid],
        to: MailboxId,
    ) -> Result<Vec<(Uid, Uid)>> {
        let uids = uids.to_vec();
        let (pairs, changes) = self
            .write(move |tx| transfer(tx, from, &uids, to, true))
            .await?;
        self.notify(changes);
        Ok(pairs)
    }

    async fn expunge(&self, mailbox: MailboxId, uids: Option<&[Uid]>) -> Result<Vec<Uid>> {
        let only: Option<BTreeSet<u32>> = uids.map(|u| u.iter().map(|u| u.0).collect());
        let (gone, notice) = self
            .write(move |tx| {
                let mut head = Head::load(tx, mailbox)?;
                let deleted: Vec<u32> = {
                    let mut stmt = tx
                        .prepare_cached("SELECT uid FROM messages WHERE mailbox = ?1 AND (flags & 8) != 0 ORDER BY uid")
                        .db()?;
                    let rows = stmt.query_map([mailbox.0], |r| r.get::<_, u32>(0)).db()?;
                    rows.collect::<rusqlite::Result<Vec<_>>>().db()?
                };
                let gone: Vec<u32> = deleted
                    .into_iter()
                    .filter(|uid| only.as_ref().is_none_or(|only| only.contains(uid)))
                    .collect();
                if gone.is_empty() {
                    return Ok((Vec::new(), None));
                }
                let modseq = head.bump();
                remove_messages(tx, mailbox, &gone, modseq)?;
                head.save(tx)?;
                Ok((gone.into_iter().map(Uid).collect(), Some(head.change())))
            })
            .await?;
        self.notify(notice);
        Ok(gone)
    }

    async fn changes_since(&self, mailbox: MailboxId, since: ModSeq) -> Result<Changes> {
        self.read(move |conn| {
            let head = Head::load(conn, mailbox)?;
            let changed = {
                let mut stmt = conn
                    .prepare_cached(&format!(
                        "{MESSAGE_SELECT} WHERE mailbox = ?1 AND modseq > ?2 ORDER BY uid"
                    ))
                    .db()?;
                let rows = stmt
                    .query_map(params![mailbox.0, since.0], message_meta)
                    .db()?;
                rows.collect::<rusqlite::Result<Vec<_>>>().db()?
            };
            let expunged = {
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT uid FROM expunged WHERE mailbox = ?1 AND modseq > ?2 ORDER BY uid",
                    )
                    .db()?;
                let rows = stmt
                    .query_map(params![mailbox.0, since.0], |r| Ok(Uid(r.get(0)?)))
                    .db()?;
                rows.collect::<rusqlite::Result<Vec<_>>>().db()?
            };
            Ok(Changes {
                changed,
                expunged,
                highest_modseq: ModSeq(head.modseq),
            })
        })
        .await
    }

    fn subscribe_changes(&self) -> tokio::sync::broadcast::Receiver<MailboxChange> {
        self.changes.subscribe()
    }

    async fn quota_usage(&self, account: AccountId) -> Result<QuotaUsage> {
        self.read(move |conn| {
            conn.prepare_cached(
                "SELECT coalesce(sum(m.size), 0), count(m.uid) FROM mailboxes b JOIN messages m ON m.mailbox = b.id \
                 WHERE b.account = ?1",
            )
            .db()?
            .query_row([account.0], |r| {
                Ok(QuotaUsage {
                    bytes: r.get(0)?,
                    messages: r.get(1)?,
                })
            })
            .db()
        })
        .await
    }
}

/// The rowid and size of a blob.
fn blob_locate(conn: &Connection, id: &BlobId) -> Result<Option<(i64, u64)>> {
    conn.prepare_cached("SELECT rowid, size FROM blobs WHERE id = ?1")
        .db()?
        .query_row([id.0], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
        .db()
}

/// Deletes blobs that no message or queue entry references.
pub(super) fn collect_garbage(conn: &Connection) -> Result<u64> {
    let n = conn
        .execute(
            "DELETE FROM blobs WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.blob = blobs.id) \
             AND NOT EXISTS (SELECT 1 FROM queue q WHERE q.blob = blobs.id)",
            [],
        )
        .db()?;
    Ok(n as u64)
}

#[async_trait]
impl BlobStore for Embedded {
    async fn put_blob(&self, data: Bytes) -> Result<BlobId> {
        let id = blob_id(&data).await?;
        self.write(move |tx| insert_blob(tx, &id, &data).map(|()| id))
            .await
    }

    async fn get_blob(&self, id: &BlobId) -> Result<Option<Bytes>> {
        let id = *id;
        self.read(move |conn| {
            conn.prepare_cached("SELECT data FROM blobs WHERE id = ?1")
                .db()?
                .query_row([id.0], |r| r.get::<_, Vec<u8>>(0))
                .optional()
                .db()
                .map(|d| d.map(Bytes::from))
        })
        .await
    }

    async fn get_blob_range(&self, id: &BlobId, range: Range<u64>) -> Result<Option<Bytes>> {
        let id = *id;
        self.read(move |conn| {
            let Some((rowid, size)) = blob_locate(conn, &id)? else {
                return Ok(None);
            };
            let start = range.start.min(size);
            let end = range.end.clamp(start, size);
            if start == end {
                return Ok(Some(Bytes::new()));
            }
            let blob = conn
                .blob_open(rusqlite::MAIN_DB, "blobs", "data", rowid, true)
                .db()?;
            let len = usize::try_from(end - start)
                .map_err(|_| StoreError::Invalid("range too large".into()))?;
            let offset = usize::try_from(start)
                .map_err(|_| StoreError::Invalid("range too large".into()))?;
            let mut buf = vec![0u8; len];
            blob.read_at_exact(&mut buf, offset).db()?;
            Ok(Some(Bytes::from(buf)))
        })
        .await
    }

    async fn collect_garbage(&self) -> Result<u64> {
        self.write(|tx| collect_garbage(tx)).await
    }
}
