//! Mail data: mailboxes and the messages in them, with IMAP's numbering (UIDVALIDITY, UIDs,
//! MODSEQ), flags, copy/move/expunge, change notifications and quota usage.

use std::collections::BTreeSet;
use std::ops::RangeInclusive;

use async_trait::async_trait;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::blob::BlobId;
use crate::error::Result;

/// An account's id (see [`crate::directory`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AccountId(pub i64);

/// A mailbox's id, unique in the store and never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MailboxId(pub i64);

/// A message's UID within its mailbox (RFC 9051 §2.3.1.1): assigned in strictly increasing
/// order, never reused while the mailbox's UIDVALIDITY stays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Uid(pub u32);

/// A modification sequence (RFC 7162): every change to a mailbox gets a higher one.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct ModSeq(pub u64);

/// The name of the inbox, matched case-insensitively.
pub const INBOX: &str = "INBOX";
/// The hierarchy delimiter of mailbox names.
pub const DELIMITER: char = '/';
/// Longest mailbox name, in bytes.
pub const MAX_MAILBOX_NAME: usize = 1024;

/// Special-use roles (RFC 6154) that every account has a mailbox for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum SpecialUse {
    /// `\Drafts`.
    Drafts,
    /// `\Sent`.
    Sent,
    /// `\Trash`.
    Trash,
    /// `\Junk`.
    Junk,
    /// `\Archive`.
    Archive,
}

impl SpecialUse {
    /// Every role with the default folder name.
    pub const DEFAULTS: [(SpecialUse, &'static str); 5] = [
        (SpecialUse::Drafts, "Drafts"),
        (SpecialUse::Sent, "Sent"),
        (SpecialUse::Trash, "Trash"),
        (SpecialUse::Junk, "Junk"),
        (SpecialUse::Archive, "Archive"),
    ];

    /// The IMAP attribute, e.g. `\Sent`.
    pub fn attribute(&self) -> &'static str {
        match self {
            SpecialUse::Drafts => "\\Drafts",
            SpecialUse::Sent => "\\Sent",
            SpecialUse::Trash => "\\Trash",
            SpecialUse::Junk => "\\Junk",
            SpecialUse::Archive => "\\Archive",
        }
    }

    /// Parses an IMAP attribute (case-insensitive).
    pub fn from_attribute(s: &str) -> Option<SpecialUse> {
        SpecialUse::DEFAULTS
            .iter()
            .map(|(r, _)| *r)
            .find(|r| r.attribute().eq_ignore_ascii_case(s))
    }
}

/// Checks a mailbox name: non-empty, at most [`MAX_MAILBOX_NAME`] bytes, no control
/// characters, no empty hierarchy levels. Returns the canonical form (`INBOX` uppercased).
pub fn normalize_mailbox_name(name: &str) -> Result<String> {
    let bad =
        |why: &str| crate::error::StoreError::Invalid(format!("mailbox name {name:?}: {why}"));
    if name.is_empty() || name.len() > MAX_MAILBOX_NAME {
        return Err(bad("empty or too long"));
    }
    if name.chars().any(char::is_control) {
        return Err(bad("control character"));
    }
    if name.split(DELIMITER).any(str::is_empty) {
        return Err(bad("empty hierarchy level"));
    }
    let mut parts = name.splitn(2, DELIMITER);
    let first = parts.next().unwrap_or_default();
    if first.eq_ignore_ascii_case(INBOX) {
        return Ok(match parts.next() {
            Some(rest) => format!("{INBOX}{DELIMITER}{rest}"),
            None => INBOX.to_owned(),
        });
    }
    Ok(name.to_owned())
}

/// Message flags: the system flags and keywords.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Flags {
    /// `\Seen`.
    pub seen: bool,
    /// `\Answered`.
    pub answered: bool,
    /// `\Flagged`.
    pub flagged: bool,
    /// `\Deleted`.
    pub deleted: bool,
    /// `\Draft`.
    pub draft: bool,
    /// Keywords (e.g. `$Forwarded`, `$Junk`), case preserved.
    pub keywords: BTreeSet<String>,
}

impl Flags {
    /// Bit mask of the system flags (seen 1, answered 2, flagged 4, deleted 8, draft 16), as
    /// backends store them.
    pub fn system_bits(&self) -> i64 {
        (self.seen as i64)
            | (self.answered as i64) << 1
            | (self.flagged as i64) << 2
            | (self.deleted as i64) << 3
            | (self.draft as i64) << 4
    }

    /// Rebuilds flags from [`Flags::system_bits`] and a space-separated keyword list.
    pub fn from_storage(bits: i64, keywords: &str) -> Flags {
        Flags {
            seen: bits & 1 != 0,
            answered: bits & 2 != 0,
            flagged: bits & 4 != 0,
            deleted: bits & 8 != 0,
            draft: bits & 16 != 0,
            keywords: keywords.split_whitespace().map(str::to_owned).collect(),
        }
    }

    /// Keywords as one space-separated string, for storage.
    pub fn keywords_for_storage(&self) -> String {
        self.keywords
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Applies a change, returning the new flags.
    pub fn apply(&self, change: &FlagChange) -> Flags {
        match change {
            FlagChange::Replace(f) => f.clone(),
            FlagChange::Add(f) => Flags {
                seen: self.seen || f.seen,
                answered: self.answered || f.answered,
                flagged: self.flagged || f.flagged,
                deleted: self.deleted || f.deleted,
                draft: self.draft || f.draft,
                keywords: self.keywords.union(&f.keywords).cloned().collect(),
            },
            FlagChange::Remove(f) => Flags {
                seen: self.seen && !f.seen,
                answered: self.answered && !f.answered,
                flagged: self.flagged && !f.flagged,
                deleted: self.deleted && !f.deleted,
                draft: self.draft && !f.draft,
                keywords: self.keywords.difference(&f.keywords).cloned().collect(),
            },
        }
    }
}

/// How to change flags (IMAP `STORE FLAGS`, `+FLAGS`, `-FLAGS`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FlagChange {
    /// Add these.
    Add(Flags),
    /// Remove these.
    Remove(Flags),
    /// Replace with these.
    Replace(Flags),
}

/// A mailbox and its counters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailboxInfo {
    /// Id.
    pub id: MailboxId,
    /// Owner.
    pub account: AccountId,
    /// Full name with [`DELIMITER`] between levels.
    pub name: String,
    /// Special-use role.
    pub role: Option<SpecialUse>,
    /// Whether the owner subscribed to it.
    pub subscribed: bool,
    /// UIDVALIDITY: fixed for the life of the mailbox, never reused for the same name.
    pub uid_validity: u32,
    /// The UID the next message will get.
    pub uid_next: Uid,
    /// The highest MODSEQ of any change.
    pub highest_modseq: ModSeq,
    /// Number of messages.
    pub messages: u32,
    /// Messages without `\Seen`.
    pub unseen: u32,
    /// Total size of the messages in bytes.
    pub size: u64,
}

/// A message's metadata.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageMeta {
    /// UID.
    pub uid: Uid,
    /// MODSEQ of its last change.
    pub modseq: ModSeq,
    /// Flags.
    pub flags: Flags,
    /// INTERNALDATE, seconds since the epoch.
    pub internal_date: i64,
    /// Size in bytes (RFC822.SIZE).
    pub size: u64,
    /// Where its bytes are.
    pub blob: BlobId,
}

/// A message to append.
#[derive(Clone, Debug)]
pub struct NewMessage {
    /// The raw message.
    pub raw: Bytes,
    /// Initial flags.
    pub flags: Flags,
    /// INTERNALDATE, seconds since the epoch.
    pub internal_date: i64,
}

/// One mailbox a delivered message goes into.
#[derive(Clone, Debug)]
pub struct DeliveryTarget {
    /// The mailbox.
    pub mailbox: MailboxId,
    /// Initial flags.
    pub flags: Flags,
}

/// Where an appended message landed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Appended {
    /// The mailbox.
    pub mailbox: MailboxId,
    /// Its UIDVALIDITY (for UIDPLUS `APPENDUID`).
    pub uid_validity: u32,
    /// The new UID.
    pub uid: Uid,
    /// The MODSEQ of the append.
    pub modseq: ModSeq,
}

/// Result of a flag change.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FlagsStored {
    /// Messages whose flags were set, with their new flags and MODSEQ (messages whose flags did
    /// not change are listed too, with their old MODSEQ).
    pub updated: Vec<(Uid, Flags, ModSeq)>,
    /// Messages left alone because they changed after `unchanged_since` (CONDSTORE).
    pub modified: Vec<Uid>,
}

/// What changed in a mailbox after a MODSEQ (QRESYNC/CONDSTORE resync).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// Messages added or changed, by UID.
    pub changed: Vec<MessageMeta>,
    /// UIDs expunged.
    pub expunged: Vec<Uid>,
    /// The mailbox's highest MODSEQ now.
    pub highest_modseq: ModSeq,
}

/// A notification that a mailbox changed (an IMAP IDLE on another connection wakes on it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MailboxChange {
    /// The owner.
    pub account: AccountId,
    /// The mailbox.
    pub mailbox: MailboxId,
    /// Its highest MODSEQ after the change.
    pub modseq: ModSeq,
}

/// Usage counted against an account's quota.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaUsage {
    /// Bytes of all messages in all the account's mailboxes (a message in two mailboxes
    /// counts twice, as IMAP QUOTA does).
    pub bytes: u64,
    /// Number of messages.
    pub messages: u64,
}

/// Mailboxes and messages.
///
/// Every write returns only after it is durable. Names are normalised with
/// [`normalize_mailbox_name`]; `INBOX` matches case-insensitively. Calls naming an account or
/// mailbox that does not exist fail with `NotFound` (`create_mailbox` too: a mailbox always
/// belongs to an existing account). New mailboxes start unsubscribed. Each operation (one
/// append, one flag change, one expunge, one copy or move) takes one new MODSEQ.
#[async_trait]
pub trait MailStore: Send + Sync {
    /// Creates a mailbox (parents need not exist). Fails with `AlreadyExists`.
    async fn create_mailbox(
        &self,
        account: AccountId,
        name: &str,
        role: Option<SpecialUse>,
    ) -> Result<MailboxInfo>;

    /// Deletes a mailbox and its messages (children stay). `INBOX` cannot be deleted.
    async fn delete_mailbox(&self, account: AccountId, name: &str) -> Result<()>;

    /// Renames a mailbox and every mailbox below it; messages, UIDs and UIDVALIDITY stay.
    /// Renaming a hierarchy level that exists only through its children (`Work` when only
    /// `Work/项目` exists) renames the children. `INBOX` cannot be renamed (the IMAP layer
    /// implements RFC 9051's move-all semantics); the target must be free.
    async fn rename_mailbox(&self, account: AccountId, from: &str, to: &str) -> Result<()>;

    /// All mailboxes of an account, sorted by name.
    async fn list_mailboxes(&self, account: AccountId) -> Result<Vec<MailboxInfo>>;

    /// A mailbox by name.
    async fn mailbox(&self, account: AccountId, name: &str) -> Result<Option<MailboxInfo>>;

    /// A mailbox by id.
    async fn mailbox_by_id(&self, id: MailboxId) -> Result<Option<MailboxInfo>>;

    /// Sets the subscription flag of a mailbox.
    async fn set_subscribed(&self, account: AccountId, name: &str, subscribed: bool) -> Result<()>;

    /// Appends one message; returns after it is durable.
    async fn append(&self, mailbox: MailboxId, message: NewMessage) -> Result<Appended>;

    /// Appends several messages to one mailbox atomically: all or none, durable on return,
    /// with consecutive UIDs in the given order (IMAP MULTIAPPEND, RFC 3502).
    async fn append_many(
        &self,
        mailbox: MailboxId,
        messages: Vec<NewMessage>,
    ) -> Result<Vec<Appended>>;

    /// Stores one message (one blob) into several mailboxes atomically: all or none, durable
    /// on return. This is local delivery to several recipients.
    async fn deliver(
        &self,
        raw: Bytes,
        internal_date: i64,
        targets: &[DeliveryTarget],
    ) -> Result<Vec<Appended>>;

    /// Metadata of the messages whose UIDs are in `uids`, in UID order.
    async fn messages(
        &self,
        mailbox: MailboxId,
        uids: RangeInclusive<u32>,
    ) -> Result<Vec<MessageMeta>>;

    /// The raw bytes of a message.
    async fn read_message(&self, mailbox: MailboxId, uid: Uid) -> Result<Option<Bytes>>;

    /// Changes flags of the given messages (missing UIDs are ignored). With
    /// `unchanged_since`, messages whose MODSEQ is higher are left alone and reported.
    async fn store_flags(
        &self,
        mailbox: MailboxId,
        uids: &[Uid],
        change: &FlagChange,
        unchanged_since: Option<ModSeq>,
    ) -> Result<FlagsStored>;

    /// Copies messages to another mailbox (sharing blobs); returns `(source, new)` UID pairs.
    async fn copy_messages(
        &self,
        from: MailboxId,
        uids: &[Uid],
        to: MailboxId,
    ) -> Result<Vec<(Uid, Uid)>>;

    /// Moves messages atomically; returns `(source, new)` UID pairs.
    async fn move_messages(
        &self,
        from: MailboxId,
        uids: &[Uid],
        to: MailboxId,
    ) -> Result<Vec<(Uid, Uid)>>;

    /// Removes messages flagged `\Deleted` (only those in `uids` when given); returns the
    /// removed UIDs in order.
    async fn expunge(&self, mailbox: MailboxId, uids: Option<&[Uid]>) -> Result<Vec<Uid>>;

    /// What changed after `since`.
    async fn changes_since(&self, mailbox: MailboxId, since: ModSeq) -> Result<Changes>;

    /// Change notifications for every mailbox of the store (including changes made by other
    /// processes sharing it, where the backend supports that).
    fn subscribe_changes(&self) -> tokio::sync::broadcast::Receiver<MailboxChange>;

    /// Usage of an account's mailboxes.
    async fn quota_usage(&self, account: AccountId) -> Result<QuotaUsage>;

    /// Creates `INBOX` and the special-use folders ([`SpecialUse::DEFAULTS`]) that are missing.
    async fn ensure_default_mailboxes(&self, account: AccountId) -> Result<()> {
        if self.mailbox(account, INBOX).await?.is_none() {
            self.create_mailbox(account, INBOX, None).await?;
        }
        let existing = self.list_mailboxes(account).await?;
        for (role, name) in SpecialUse::DEFAULTS {
            if !existing
                .iter()
                .any(|m| m.role == Some(role) || m.name == name)
            {
                self.create_mailbox(account, name, Some(role)).await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(normalize_mailbox_name("inbox").unwrap(), "INBOX");
        assert_eq!(normalize_mailbox_name("Inbox/Sub").unwrap(), "INBOX/Sub");
        assert_eq!(
            normalize_mailbox_name("收件箱/项目").unwrap(),
            "收件箱/项目"
        );
        assert!(normalize_mailbox_name("a//b").is_err());
        assert!(normalize_mailbox_name("/a").is_err());
        assert!(normalize_mailbox_name("a\0").is_err());
        assert!(normalize_mailbox_name("").is_err());
    }

    #[test]
    fn flags() {
        let mut f = Flags {
            seen: true,
            ..Default::default()
        };
        f.keywords.insert("$Forwarded".into());
        assert_eq!(
            Flags::from_storage(f.system_bits(), &f.keywords_for_storage()),
            f
        );
        let add = Flags {
            flagged: true,
            ..Default::default()
        };
        let g = f.apply(&FlagChange::Add(add.clone()));
        assert!(g.seen && g.flagged);
        let h = g.apply(&FlagChange::Remove(Flags {
            seen: true,
            ..Default::default()
        }));
        assert!(!h.seen && h.flagged && h.keywords.contains("$Forwarded"));
        assert_eq!(h.apply(&FlagChange::Replace(add.clone())), add);
    }
}
