//! Authenticated- and selected-state commands run against the store: the mailbox
//! [`Selection`] (sequence numbers ↔ UIDs, known flags, pending expunges — pure state) and the
//! [`Mailboxes`] executor that turns a [`Command`] into responses.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use mailcore::message::Message;
use mailcore_store::mailbox::{
    AccountId, DELIMITER, FlagChange, Flags, INBOX, MailboxChange, MailboxId, MailboxInfo,
    MessageMeta, ModSeq, NewMessage, Uid,
};
use mailcore_store::{Backend, StoreError};

use crate::command::{
    AppendMessage, Command, FetchItem, Flag, ListOptions, Qresync, SearchKey, SearchReturn,
    Section, SectionText, SequenceSet, StatusItem, StoreMode, Tag,
};
use crate::response::{
    Status, status, write_flags, write_literal, write_literal8, write_mailbox_as, write_string,
};

/// The selected mailbox as the client knows it.
#[derive(Clone, Debug)]
pub struct Selection {
    /// The mailbox.
    pub id: MailboxId,
    /// Its name.
    pub name: String,
    /// EXAMINE, or SELECT.
    pub read_only: bool,
    /// UIDVALIDITY.
    pub uid_validity: u32,
    /// UIDs in sequence order (index + 1 is the sequence number).
    uids: Vec<u32>,
    /// Flags the client was told, by UID.
    flags: HashMap<u32, Flags>,
    /// Changes up to this MODSEQ are known.
    modseq: ModSeq,
    /// Expunged in the store but not yet reported (EXPUNGE is not allowed during FETCH,
    /// STORE and SEARCH).
    pending_expunge: BTreeSet<u32>,
    /// Whether CONDSTORE is in use (MODSEQ in unsolicited FETCH).
    condstore: bool,
    /// Whether QRESYNC is enabled (VANISHED instead of EXPUNGE).
    qresync: bool,
    /// UIDs saved by `SEARCH RETURN (SAVE)`, ascending: what `$` names (RFC 5182). It lives
    /// with the selection, so SELECT, EXAMINE, UNSELECT and CLOSE reset it.
    saved: Vec<u32>,
}

impl Selection {
    /// Number of messages the client knows.
    pub fn exists(&self) -> u32 {
        self.uids.len() as u32
    }

    /// The sequence number of a UID.
    pub fn seq_of(&self, uid: u32) -> Option<u32> {
        self.uids.binary_search(&uid).ok().map(|i| i as u32 + 1)
    }

    /// The `(seq, uid)` pairs a set names; `None` if a sequence number is out of range. `$`
    /// names the saved search result, less the messages expunged since (RFC 5182 §2.1).
    pub fn resolve(&self, set: &SequenceSet, uid: bool) -> Option<Vec<(u32, u32)>> {
        if set.is_saved() {
            Some(
                self.saved
                    .iter()
                    .filter_map(|&u| self.seq_of(u).map(|s| (s, u)))
                    .collect(),
            )
        } else if uid {
            Some(
                set.select(&self.uids)
                    .into_iter()
                    .filter_map(|u| self.seq_of(u).map(|s| (s, u)))
                    .collect(),
            )
        } else {
            let n = self.exists();
            for &(a, b) in &set.0 {
                for x in [a, b] {
                    if let crate::command::SeqNum::Value(v) = x
                        && v > n
                    {
                        return None;
                    }
                }
            }
            let seqs: Vec<u32> = (1..=n).collect();
            Some(
                set.select(&seqs)
                    .into_iter()
                    .map(|s| (s, self.uids[s as usize - 1]))
                    .collect(),
            )
        }
    }

    /// Removes UIDs (ascending), reporting them with one `EXPUNGE` each or, once QRESYNC is
    /// enabled, one `VANISHED` (RFC 7162 §3.2.10).
    fn expunge_uids(&mut self, uids: impl IntoIterator<Item = u32>, out: &mut Vec<u8>) {
        let mut vanished = Vec::new();
        for uid in uids {
            if let Some(seq) = self.seq_of(uid) {
                self.uids.remove(seq as usize - 1);
                self.flags.remove(&uid);
                if self.qresync {
                    vanished.push(uid);
                } else {
                    out.extend_from_slice(format!("* {seq} EXPUNGE\r\n").as_bytes());
                }
            }
        }
        if !vanished.is_empty() {
            vanished.sort_unstable();
            let set = SequenceSet::from_sorted(&vanished);
            out.extend_from_slice(format!("* VANISHED {set}\r\n").as_bytes());
        }
    }

    /// Applies store changes: new messages (EXISTS), flag changes (FETCH), and expunges
    /// (EXPUNGE, only when `allow_expunge`; otherwise kept pending).
    pub fn apply(
        &mut self,
        changes: &mailcore_store::mailbox::Changes,
        allow_expunge: bool,
    ) -> Vec<u8> {
        let mut out = Vec::new();
        for u in &changes.expunged {
            if self.seq_of(u.0).is_some() {
                self.pending_expunge.insert(u.0);
            }
        }
        let last = self.uids.last().copied().unwrap_or(0);
        let mut grew = false;
        for m in &changes.changed {
            if self.pending_expunge.contains(&m.uid.0) {
                continue;
            }
            if m.uid.0 > last {
                self.uids.push(m.uid.0);
                grew = true;
                self.flags.insert(m.uid.0, m.flags.clone());
            } else if let Some(seq) = self.seq_of(m.uid.0)
                && self.flags.get(&m.uid.0) != Some(&m.flags)
            {
                self.flags.insert(m.uid.0, m.flags.clone());
                out.extend_from_slice(format!("* {seq} FETCH (").as_bytes());
                if self.condstore {
                    out.extend_from_slice(format!("MODSEQ ({}) ", m.modseq.0).as_bytes());
                }
                out.extend_from_slice(format!("UID {} FLAGS ", m.uid.0).as_bytes());
                write_flags(&mut out, &m.flags);
                out.extend_from_slice(b")\r\n");
            }
        }
        self.uids.sort_unstable();
        self.uids.dedup();
        if allow_expunge {
            let pending = std::mem::take(&mut self.pending_expunge);
            self.expunge_uids(pending, &mut out);
        }
        if grew {
            out.extend_from_slice(format!("* {} EXISTS\r\n", self.uids.len()).as_bytes());
        }
        if changes.highest_modseq > self.modseq {
            self.modseq = changes.highest_modseq;
        }
        out
    }
}

/// Maps a store error to a `NO` (or `BAD`) response.
fn store_error(tag: &Tag, e: &StoreError) -> Vec<u8> {
    let t = Some(tag.as_str());
    match e {
        StoreError::NotFound(_) => status(
            t,
            Status::No,
            Some("NONEXISTENT"),
            "No such mailbox or message",
        ),
        StoreError::AlreadyExists(_) => status(
            t,
            Status::No,
            Some("ALREADYEXISTS"),
            "Mailbox already exists",
        ),
        StoreError::Invalid(m) => status(t, Status::No, Some("CANNOT"), m),
        e if e.is_transient() => status(
            t,
            Status::No,
            Some("UNAVAILABLE"),
            "Temporary failure, try again",
        ),
        _ => status(t, Status::No, Some("SERVERBUG"), "Internal error"),
    }
}

/// Matches a LIST pattern (`*` anything, `%` anything but the delimiter), `INBOX`
/// case-insensitively.
pub fn pattern_matches(pattern: &str, name: &str) -> bool {
    /// Dynamic programming over (pattern, name) suffixes: O(|p| * |n|), no backtracking.
    fn m(p: &[char], n: &[char]) -> bool {
        if p.len() > 4 * mailcore_store::mailbox::MAX_MAILBOX_NAME {
            return false;
        }
        // next[j]: p[i+1..] matches n[j..]; cur[j]: p[i..] matches n[j..].
        let mut next: Vec<bool> = (0..=n.len()).map(|j| j == n.len()).collect();
        for &pc in p.iter().rev() {
            let mut cur = vec![false; n.len() + 1];
            for j in (0..=n.len()).rev() {
                cur[j] = match pc {
                    '*' => next[j] || (j < n.len() && cur[j + 1]),
                    '%' => next[j] || (j < n.len() && n[j] != DELIMITER && cur[j + 1]),
                    c => j < n.len() && n[j] == c && next[j + 1],
                };
            }
            next = cur;
        }
        next[0]
    }
    // Collapse runs of wildcards to bound backtracking.
    let mut p: Vec<char> = Vec::new();
    for c in pattern.chars() {
        if (c == '*' || c == '%') && matches!(p.last(), Some('*')) {
            continue;
        }
        if c == '*' && matches!(p.last(), Some('%')) {
            p.pop();
        }
        p.push(c);
    }
    let norm = |s: &str| -> Vec<char> {
        let (first, rest) = match s.split_once(DELIMITER) {
            Some((a, b)) => (a, Some(b)),
            None => (s, None),
        };
        let mut out: Vec<char> = if first.eq_ignore_ascii_case(INBOX) {
            INBOX.chars().collect()
        } else {
            first.chars().collect()
        };
        if let Some(r) = rest {
            out.push(DELIMITER);
            out.extend(r.chars());
        }
        out
    };
    let ps: String = p.into_iter().collect();
    m(&norm(&ps), &norm(name))
}

/// Runs authenticated-state commands for one logged-in user.
pub struct Mailboxes {
    store: Arc<dyn Backend>,
    account: AccountId,
    selected: Option<Selection>,
    /// CONDSTORE is in use (enabled by ENABLE or by a CONDSTORE-enabling command).
    condstore: bool,
    /// QRESYNC is enabled (RFC 7162 §3.2.3).
    qresync: bool,
    /// Extensions turned on by `ENABLE` (RFC 5161).
    enabled: BTreeSet<&'static str>,
}

/// Extensions `ENABLE` can turn on. `IMAP4rev2` (RFC 9051) switches SEARCH to ESEARCH
/// responses, drops the `RECENT` response and the `UNSEEN` code from SELECT, adds SELECT's
/// `LIST` response, and implies UTF-8 mailbox names like `UTF8=ACCEPT` (RFC 6855).
pub const ENABLEABLE: &[&str] = &["CONDSTORE", "QRESYNC", "IMAP4rev2", "UTF8=ACCEPT"];

impl std::fmt::Debug for Mailboxes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailboxes")
            .field("account", &self.account)
            .field("selected", &self.selected.as_ref().map(|s| &s.name))
            .finish()
    }
}

fn ok(tag: &Tag, code: Option<&str>, text: &str) -> Vec<u8> {
    status(Some(tag.as_str()), Status::Ok, code, text)
}

fn no(tag: &Tag, code: Option<&str>, text: &str) -> Vec<u8> {
    status(Some(tag.as_str()), Status::No, code, text)
}

fn bad(tag: &Tag, text: &str) -> Vec<u8> {
    status(Some(tag.as_str()), Status::Bad, None, text)
}

fn wants_content(items: &[FetchItem]) -> bool {
    items.iter().any(|i| {
        matches!(
            i,
            FetchItem::Envelope
                | FetchItem::Body
                | FetchItem::BodyStructure
                | FetchItem::Rfc822
                | FetchItem::Rfc822Header
                | FetchItem::Rfc822Text
                | FetchItem::Section { .. }
                | FetchItem::Binary { .. }
                | FetchItem::BinarySize { .. }
        )
    })
}

fn sets_seen(items: &[FetchItem]) -> bool {
    items.iter().any(|i| {
        matches!(
            i,
            FetchItem::Rfc822
                | FetchItem::Rfc822Text
                | FetchItem::Section { peek: false, .. }
                | FetchItem::Binary { peek: false, .. }
        )
    })
}

impl Mailboxes {
    /// Commands for `account` on `store`.
    pub fn new(store: Arc<dyn Backend>, account: AccountId) -> Mailboxes {
        Mailboxes {
            store,
            account,
            selected: None,
            condstore: false,
            qresync: false,
            enabled: BTreeSet::new(),
        }
    }

    /// Turns CONDSTORE on for the rest of the session (RFC 7162 §3.1: MODSEQ in every
    /// FETCH caused by a flag change from now on).
    fn enable_condstore(&mut self) {
        self.condstore = true;
        if let Some(sel) = self.selected.as_mut() {
            sel.condstore = true;
        }
    }

    /// Whether CONDSTORE is in use.
    pub fn condstore(&self) -> bool {
        self.condstore
    }

    /// Empties the saved search result `$` (a `SEARCH RETURN (SAVE)` failed to parse,
    /// RFC 5182 §2.1).
    pub fn forget_saved(&mut self) {
        if let Some(sel) = self.selected.as_mut() {
            sel.saved.clear();
        }
    }

    /// Whether `ENABLE IMAP4rev2` was accepted (RFC 9051 behaviour).
    pub fn imap4rev2(&self) -> bool {
        self.enabled.contains("IMAP4rev2")
    }

    /// Whether mailbox names are UTF-8 rather than modified UTF-7: `UTF8=ACCEPT` or
    /// `IMAP4rev2` is enabled. The session's decoder must follow
    /// ([`crate::session::Session::set_utf8_names`]).
    pub fn utf8_names(&self) -> bool {
        self.imap4rev2() || self.enabled.contains("UTF8=ACCEPT")
    }

    /// The account's storage quota as `(used KiB, limit KiB)`; `None` without a limit.
    async fn storage_quota(&self) -> Result<Option<(u64, u64)>, StoreError> {
        let Some(limit) = self
            .store
            .account(self.account)
            .await?
            .and_then(|a| a.quota_bytes)
        else {
            return Ok(None);
        };
        let used = self.store.quota_usage(self.account).await?.bytes;
        Ok(Some((used.div_ceil(1024), limit / 1024)))
    }

    /// Whether adding `bytes` would exceed the account's quota.
    async fn over_quota(&self, bytes: u64) -> Result<bool, StoreError> {
        let Some(limit) = self
            .store
            .account(self.account)
            .await?
            .and_then(|a| a.quota_bytes)
        else {
            return Ok(false);
        };
        let used = self.store.quota_usage(self.account).await?.bytes;
        Ok(used.saturating_add(bytes) > limit)
    }

    /// `(DELETED, DELETED-STORAGE)` of a mailbox when `items` ask for them.
    async fn deleted_counts(
        &self,
        id: MailboxId,
        items: &[StatusItem],
    ) -> Result<Deleted, StoreError> {
        if !items
            .iter()
            .any(|i| matches!(i, StatusItem::Deleted | StatusItem::DeletedStorage))
        {
            return Ok(Deleted::default());
        }
        let metas = self.store.messages(id, 1..=u32::MAX).await?;
        let deleted = metas.iter().filter(|m| m.flags.deleted);
        Ok(Deleted {
            messages: deleted.clone().count() as u64,
            bytes: deleted.map(|m| m.size).sum(),
        })
    }

    /// The selected mailbox.
    pub fn selected(&self) -> Option<&Selection> {
        self.selected.as_ref()
    }

    /// Whether a change notification concerns the selected mailbox.
    pub fn concerns(&self, change: &MailboxChange) -> bool {
        self.selected
            .as_ref()
            .is_some_and(|s| s.id == change.mailbox && change.modseq > s.modseq)
    }

    /// Unsolicited updates for the selected mailbox (EXISTS, EXPUNGE, FETCH FLAGS).
    pub async fn updates(&mut self, allow_expunge: bool) -> Vec<u8> {
        let Some(sel) = self.selected.as_mut() else {
            return Vec::new();
        };
        match self.store.changes_since(sel.id, sel.modseq).await {
            Ok(changes) => sel.apply(&changes, allow_expunge),
            Err(e) if e.is_not_found() => {
                self.selected = None;
                status(None, Status::Bye, None, "Selected mailbox was deleted")
            }
            Err(_) => Vec::new(),
        }
    }

    /// Ends an IDLE.
    pub async fn idle_done(&mut self, tag: &Tag) -> Vec<u8> {
        let mut out = self.updates(true).await;
        out.extend(ok(tag, None, "IDLE terminated"));
        out
    }

    /// Runs one command; returns every response, the tagged one last.
    pub async fn run(&mut self, tag: &Tag, command: Command) -> Vec<u8> {
        let name = command.name();
        let allow_expunge = !matches!(
            command,
            Command::Fetch { uid: false, .. }
                | Command::Store { uid: false, .. }
                | Command::Search { uid: false, .. }
                | Command::Copy { uid: false, .. }
        );
        let needs_selection = matches!(
            command,
            Command::Check
                | Command::Close
                | Command::Unselect
                | Command::Expunge(_)
                | Command::Fetch { .. }
                | Command::Store { .. }
                | Command::Copy { .. }
                | Command::Move { .. }
                | Command::Search { .. }
        );
        if needs_selection && self.selected.is_none() {
            return bad(tag, "No mailbox selected");
        }
        let mut out = Vec::new();
        let result = self.execute(tag, command, &mut out).await;
        let tagged = match result {
            Ok(t) => t,
            Err(e) => store_error(tag, &e),
        };
        if self.selected.is_some() && !matches!(name, "SELECT" | "EXAMINE") {
            out.extend(self.updates(allow_expunge).await);
        }
        out.extend(tagged);
        out
    }

    async fn execute(
        &mut self,
        tag: &Tag,
        command: Command,
        out: &mut Vec<u8>,
    ) -> Result<Vec<u8>, StoreError> {
        let name = command.name();
        match command {
            Command::Noop | Command::Check => Ok(ok(tag, None, &format!("{name} completed"))),
            Command::Select {
                mailbox,
                condstore,
                qresync,
            }
            | Command::Examine {
                mailbox,
                condstore,
                qresync,
            } => {
                if qresync.is_some() && !self.qresync {
                    return Ok(bad(tag, "ENABLE QRESYNC first"));
                }
                let read_only = name == "EXAMINE";
                self.select(tag, &mailbox, read_only, condstore, qresync.as_ref(), out)
                    .await
            }
            Command::Create(name) => self.create(tag, &name).await,
            Command::Delete(name) => {
                if name.eq_ignore_ascii_case(INBOX) {
                    return Ok(no(tag, Some("CANNOT"), "INBOX cannot be deleted"));
                }
                self.store.delete_mailbox(self.account, &name).await?;
                if self.selected.as_ref().is_some_and(|s| s.name == name) {
                    self.selected = None;
                }
                Ok(ok(tag, None, "DELETE completed"))
            }
            Command::Rename(from, to) => self.rename(tag, &from, &to).await,
            Command::Subscribe(name) => {
                self.store.set_subscribed(self.account, &name, true).await?;
                Ok(ok(tag, None, "SUBSCRIBE completed"))
            }
            Command::Unsubscribe(name) => {
                match self.store.set_subscribed(self.account, &name, false).await {
                    Err(e) if !e.is_not_found() => return Err(e),
                    _ => {}
                }
                Ok(ok(tag, None, "UNSUBSCRIBE completed"))
            }
            Command::List {
                reference,
                patterns,
                options,
            } => {
                self.list(tag, &reference, &patterns, &options, false, out)
                    .await
            }
            Command::Lsub { reference, pattern } => {
                let options = ListOptions {
                    select_subscribed: true,
                    ..Default::default()
                };
                self.list(tag, &reference, &[pattern], &options, true, out)
                    .await
            }
            Command::Status { mailbox, items } => {
                let Some(info) = self.store.mailbox(self.account, &mailbox).await? else {
                    return Ok(no(tag, Some("NONEXISTENT"), "No such mailbox"));
                };
                if items.contains(&StatusItem::HighestModSeq) {
                    self.enable_condstore();
                }
                let deleted = self.deleted_counts(info.id, &items).await?;
                write_status(out, &info, &items, deleted, self.utf8_names());
                Ok(ok(tag, None, "STATUS completed"))
            }
            Command::Append {
                mailbox,
                flags,
                date,
                message,
                more,
            } => {
                let Some(info) = self.store.mailbox(self.account, &mailbox).await? else {
                    return Ok(no(tag, Some("TRYCREATE"), "No such mailbox"));
                };
                let messages: Vec<AppendMessage> = std::iter::once(AppendMessage {
                    flags,
                    date,
                    message,
                })
                .chain(more)
                .collect();
                if messages.iter().any(|m| m.message.is_empty()) {
                    return Ok(no(tag, None, "Empty message"));
                }
                let total: u64 = messages.iter().map(|m| m.message.len() as u64).sum();
                if self.over_quota(total).await? {
                    return Ok(no(tag, Some("OVERQUOTA"), "Quota exceeded"));
                }
                let now = mailcore_store::now();
                let new: Vec<NewMessage> = messages
                    .into_iter()
                    .map(|m| NewMessage {
                        raw: m.message.into(),
                        flags: Flag::to_store(&m.flags),
                        internal_date: m.date.unwrap_or(now),
                    })
                    .collect();
                // One message or several, all or none (MULTIAPPEND, RFC 3502).
                let done = self.store.append_many(info.id, new).await?;
                let (Some(first), Some(last)) = (done.first(), done.last()) else {
                    return Ok(no(tag, None, "Nothing appended"));
                };
                let uids = if first.uid == last.uid {
                    first.uid.0.to_string()
                } else {
                    format!("{}:{}", first.uid.0, last.uid.0)
                };
                Ok(ok(
                    tag,
                    Some(&format!("APPENDUID {} {uids}", first.uid_validity)),
                    "APPEND completed",
                ))
            }
            Command::Close | Command::Unselect => {
                if let Some(sel) = self.selected.take()
                    && name == "CLOSE"
                    && !sel.read_only
                {
                    self.store.expunge(sel.id, None).await?;
                }
                Ok(ok(tag, None, &format!("{name} completed")))
            }
            Command::Expunge(set) => self.expunge(tag, set.as_ref(), out).await,
            Command::Fetch {
                uid,
                set,
                items,
                changed_since,
                vanished,
            } => {
                if vanished && !self.qresync {
                    return Ok(bad(tag, "ENABLE QRESYNC first"));
                }
                self.fetch(tag, uid, &set, items, changed_since, vanished, out)
                    .await
            }
            Command::Store {
                uid,
                set,
                mode,
                silent,
                flags,
                unchanged_since,
            } => {
                self.store_flags(tag, uid, &set, mode, silent, &flags, unchanged_since, out)
                    .await
            }
            Command::Copy { uid, set, mailbox } => {
                self.copy(tag, uid, &set, &mailbox, false, out).await
            }
            Command::Move { uid, set, mailbox } => {
                self.copy(tag, uid, &set, &mailbox, true, out).await
            }
            Command::Search {
                uid,
                ret,
                charset,
                key,
            } => self.search(tag, uid, ret, charset, &key, out).await,
            Command::Enable(caps) => {
                if self.selected.is_some() {
                    return Ok(bad(tag, "ENABLE is only valid before SELECT"));
                }
                out.extend_from_slice(b"* ENABLED");
                for cap in caps {
                    let Some(&known) = ENABLEABLE.iter().find(|c| c.eq_ignore_ascii_case(&cap))
                    else {
                        continue;
                    };
                    if self.enabled.insert(known) {
                        out.push(b' ');
                        out.extend_from_slice(known.as_bytes());
                    }
                    match known {
                        "QRESYNC" => {
                            // QRESYNC implies CONDSTORE (RFC 7162 §3.2.3).
                            self.qresync = true;
                            self.enable_condstore();
                        }
                        "CONDSTORE" => self.enable_condstore(),
                        _ => {}
                    }
                }
                out.extend_from_slice(b"\r\n");
                Ok(ok(tag, None, "ENABLE completed"))
            }
            Command::GetQuotaRoot(mailbox) => {
                let Some(info) = self.store.mailbox(self.account, &mailbox).await? else {
                    return Ok(no(tag, Some("NONEXISTENT"), "No such mailbox"));
                };
                let quota = self.storage_quota().await?;
                out.extend_from_slice(b"* QUOTAROOT ");
                write_mailbox_as(out, &info.name, self.utf8_names());
                if quota.is_some() {
                    out.extend_from_slice(b" \"\"");
                }
                out.extend_from_slice(b"\r\n");
                if let Some((used, limit)) = quota {
                    out.extend_from_slice(
                        format!("* QUOTA \"\" (STORAGE {used} {limit})\r\n").as_bytes(),
                    );
                }
                Ok(ok(tag, None, "GETQUOTAROOT completed"))
            }
            Command::GetQuota(root) => match self.storage_quota().await? {
                Some((used, limit)) if root.is_empty() => {
                    out.extend_from_slice(
                        format!("* QUOTA \"\" (STORAGE {used} {limit})\r\n").as_bytes(),
                    );
                    Ok(ok(tag, None, "GETQUOTA completed"))
                }
                _ => Ok(no(tag, Some("NONEXISTENT"), "No such quota root")),
            },
            Command::SetQuota { .. } => Ok(no(
                tag,
                Some("NOPERM"),
                "Quotas are set by the administrator",
            )),
            _ => Ok(bad(tag, "Command not valid here")),
        }
    }

    async fn select(
        &mut self,
        tag: &Tag,
        name: &str,
        read_only: bool,
        condstore: bool,
        qresync: Option<&Qresync>,
        out: &mut Vec<u8>,
    ) -> Result<Vec<u8>, StoreError> {
        if self.selected.take().is_some() {
            out.extend_from_slice(b"* OK [CLOSED] Previous mailbox closed\r\n");
        }
        let Some(info) = self.store.mailbox(self.account, name).await? else {
            return Ok(no(tag, Some("NONEXISTENT"), "No such mailbox"));
        };
        let metas = self.store.messages(info.id, 1..=u32::MAX).await?;
        if condstore {
            self.enable_condstore();
        }
        let mut keywords: BTreeSet<String> = BTreeSet::new();
        for m in &metas {
            keywords.extend(m.flags.keywords.iter().cloned());
        }
        let uids: Vec<u32> = metas.iter().map(|m| m.uid.0).collect();
        let uid_next = info
            .uid_next
            .0
            .max(uids.last().map_or(1, |u| u.saturating_add(1)));
        let modseq = metas
            .iter()
            .map(|m| m.modseq)
            .max()
            .unwrap_or_default()
            .max(info.highest_modseq);
        let kw: String = keywords
            .iter()
            .filter(|k| {
                k.bytes()
                    .all(|c| (0x21..0x7f).contains(&c) && !b"(){%*\"\\]".contains(&c))
            })
            .map(|k| format!(" {k}"))
            .collect();
        out.extend_from_slice(
            format!("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft{kw})\r\n").as_bytes(),
        );
        if read_only {
            out.extend_from_slice(b"* OK [PERMANENTFLAGS ()] Read-only mailbox\r\n");
        } else {
            out.extend_from_slice(
                format!("* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft{kw} \\*)] Flags permitted\r\n")
                    .as_bytes(),
            );
        }
        let rev2 = self.imap4rev2();
        out.extend_from_slice(format!("* {} EXISTS\r\n", uids.len()).as_bytes());
        if rev2 {
            // RFC 9051 §6.3.2: no RECENT, no UNSEEN code; a LIST response with the name.
            let boxes = self.store.list_mailboxes(self.account).await?;
            let prefix = format!("{}{DELIMITER}", info.name);
            let mut attrs = vec![if boxes.iter().any(|b| b.name.starts_with(&prefix)) {
                "\\HasChildren"
            } else {
                "\\HasNoChildren"
            }];
            if let Some(role) = info.role {
                attrs.push(role.attribute());
            }
            out.extend_from_slice(format!("* LIST ({}) \"/\" ", attrs.join(" ")).as_bytes());
            write_mailbox_as(out, &info.name, self.utf8_names());
            out.extend_from_slice(b"\r\n");
        } else {
            out.extend_from_slice(b"* 0 RECENT\r\n");
            if let Some(pos) = metas.iter().position(|m| !m.flags.seen) {
                out.extend_from_slice(
                    format!("* OK [UNSEEN {}] First unseen\r\n", pos + 1).as_bytes(),
                );
            }
        }
        out.extend_from_slice(
            format!(
                "* OK [UIDVALIDITY {}] UIDs valid\r\n* OK [UIDNEXT {uid_next}] Predicted next UID\r\n* OK [HIGHESTMODSEQ {}] Highest\r\n",
                info.uid_validity, modseq.0
            )
            .as_bytes(),
        );
        if let Some(q) = qresync
            && q.uid_validity == info.uid_validity
        {
            // RFC 7162 §3.2.5.2: what the client missed since its MODSEQ, limited to the
            // UIDs it says it knows.
            let largest = uid_next.saturating_sub(1);
            let known = |u: u32| q.known_uids.as_ref().is_none_or(|k| k.contains(u, largest));
            let changes = self.store.changes_since(info.id, ModSeq(q.modseq)).await?;
            let mut vanished: Vec<u32> = changes
                .expunged
                .iter()
                .map(|u| u.0)
                .filter(|&u| known(u) && uids.binary_search(&u).is_err())
                .collect();
            vanished.sort_unstable();
            vanished.dedup();
            if !vanished.is_empty() {
                let set = SequenceSet::from_sorted(&vanished);
                out.extend_from_slice(format!("* VANISHED (EARLIER) {set}\r\n").as_bytes());
            }
            for (i, m) in metas.iter().enumerate() {
                if m.modseq.0 > q.modseq && known(m.uid.0) {
                    out.extend_from_slice(
                        format!("* {} FETCH (UID {} FLAGS ", i + 1, m.uid.0).as_bytes(),
                    );
                    write_flags(out, &m.flags);
                    out.extend_from_slice(format!(" MODSEQ ({}))\r\n", m.modseq.0).as_bytes());
                }
            }
        }
        self.selected = Some(Selection {
            id: info.id,
            name: info.name.clone(),
            read_only,
            uid_validity: info.uid_validity,
            flags: metas.into_iter().map(|m| (m.uid.0, m.flags)).collect(),
            uids,
            modseq,
            pending_expunge: BTreeSet::new(),
            condstore: self.condstore,
            qresync: self.qresync,
            saved: Vec::new(),
        });
        let code = if read_only { "READ-ONLY" } else { "READ-WRITE" };
        Ok(ok(
            tag,
            Some(code),
            if read_only {
                "EXAMINE completed"
            } else {
                "SELECT completed"
            },
        ))
    }

    async fn create(&mut self, tag: &Tag, name: &str) -> Result<Vec<u8>, StoreError> {
        let name = name.trim_end_matches(DELIMITER);
        if name.eq_ignore_ascii_case(INBOX) {
            return Ok(no(tag, Some("ALREADYEXISTS"), "INBOX exists"));
        }
        mailcore_store::mailbox::normalize_mailbox_name(name)?;
        // Create missing parents (RFC 9051 §6.3.4).
        let parts: Vec<&str> = name.split(DELIMITER).collect();
        for i in 1..parts.len() {
            let parent = parts[..i].join(&DELIMITER.to_string());
            match self.store.create_mailbox(self.account, &parent, None).await {
                Ok(_) | Err(StoreError::AlreadyExists(_)) => {}
                Err(e) => return Err(e),
            }
        }
        self.store.create_mailbox(self.account, name, None).await?;
        Ok(ok(tag, None, "CREATE completed"))
    }

    async fn rename(&mut self, tag: &Tag, from: &str, to: &str) -> Result<Vec<u8>, StoreError> {
        if from.eq_ignore_ascii_case(INBOX) {
            // RFC 9051 §6.3.6: move INBOX's messages to the new mailbox; INBOX stays, empty.
            let Some(inbox) = self.store.mailbox(self.account, INBOX).await? else {
                return Ok(no(tag, Some("NONEXISTENT"), "No INBOX"));
            };
            let target = self.store.create_mailbox(self.account, to, None).await?;
            let uids: Vec<Uid> = self
                .store
                .messages(inbox.id, 1..=u32::MAX)
                .await?
                .into_iter()
                .map(|m| m.uid)
                .collect();
            self.store.move_messages(inbox.id, &uids, target.id).await?;
            return Ok(ok(tag, None, "RENAME completed"));
        }
        self.store.rename_mailbox(self.account, from, to).await?;
        if let Some(sel) = self.selected.as_mut()
            && sel.name == from
        {
            sel.name = to.to_owned();
        }
        Ok(ok(tag, None, "RENAME completed"))
    }

    async fn list(
        &mut self,
        tag: &Tag,
        reference: &str,
        patterns: &[String],
        options: &ListOptions,
        lsub: bool,
        out: &mut Vec<u8>,
    ) -> Result<Vec<u8>, StoreError> {
        let cmd = if lsub { "LSUB" } else { "LIST" };
        if patterns.len() == 1 && patterns[0].is_empty() && !lsub {
            out.extend_from_slice(b"* LIST (\\Noselect) \"/\" \"\"\r\n");
            return Ok(ok(tag, None, "LIST completed"));
        }
        let boxes = self.store.list_mailboxes(self.account).await?;
        let existing: HashMap<&str, &MailboxInfo> =
            boxes.iter().map(|b| (b.name.as_str(), b)).collect();
        // Every name and every ancestor (ancestors that do not exist are \NonExistent).
        let mut names: BTreeSet<String> = BTreeSet::new();
        for b in &boxes {
            let mut prefix = String::new();
            for (i, part) in b.name.split(DELIMITER).enumerate() {
                if i > 0 {
                    prefix.push(DELIMITER);
                }
                prefix.push_str(part);
                names.insert(prefix.clone());
            }
        }
        let has_children = |n: &str| {
            let p = format!("{n}{DELIMITER}");
            names.iter().any(|x| x.starts_with(&p))
        };
        // RECURSIVEMATCH (RFC 5258 §3.5): a subscribed mailbox below this one.
        let has_subscribed_child = |n: &str| {
            let p = format!("{n}{DELIMITER}");
            boxes.iter().any(|b| b.subscribed && b.name.starts_with(&p))
        };
        for name in &names {
            let full_patterns = patterns.iter().map(|p| {
                if reference.is_empty() || p.starts_with(DELIMITER) {
                    p.clone()
                } else {
                    format!("{reference}{p}")
                }
            });
            let mut matched = false;
            for p in full_patterns {
                matched |= pattern_matches(&p, name);
            }
            if !matched {
                continue;
            }
            let info = existing.get(name.as_str()).copied();
            let subscribed = info.is_some_and(|i| i.subscribed);
            let child_info = options.recursive_match && !lsub && has_subscribed_child(name);
            if options.select_subscribed && !subscribed && !child_info {
                continue;
            }
            if options.select_special_use && info.and_then(|i| i.role).is_none() {
                continue;
            }
            let mut attrs: Vec<&str> = Vec::new();
            if info.is_none() {
                attrs.push(if lsub { "\\Noselect" } else { "\\NonExistent" });
                if !lsub {
                    attrs.push("\\Noselect");
                }
            }
            attrs.push(if has_children(name) {
                "\\HasChildren"
            } else {
                "\\HasNoChildren"
            });
            if subscribed && (options.return_subscribed || options.select_subscribed) && !lsub {
                attrs.push("\\Subscribed");
            }
            if let Some(role) = info.and_then(|i| i.role) {
                attrs.push(role.attribute());
            }
            if name.eq_ignore_ascii_case(INBOX) && attrs.contains(&"\\HasNoChildren") {
                // Nothing more to say.
            }
            out.extend_from_slice(format!("* {cmd} ({}) \"/\" ", attrs.join(" ")).as_bytes());
            write_mailbox_as(out, name, self.utf8_names());
            if child_info {
                out.extend_from_slice(b" (\"CHILDINFO\" (\"SUBSCRIBED\"))");
            }
            out.extend_from_slice(b"\r\n");
            if let Some(info) = info
                && !options.return_status.is_empty()
            {
                let deleted = self.deleted_counts(info.id, &options.return_status).await?;
                write_status(
                    out,
                    info,
                    &options.return_status,
                    deleted,
                    self.utf8_names(),
                );
            }
        }
        Ok(ok(tag, None, &format!("{cmd} completed")))
    }

    async fn expunge(
        &mut self,
        tag: &Tag,
        set: Option<&SequenceSet>,
        out: &mut Vec<u8>,
    ) -> Result<Vec<u8>, StoreError> {
        let Some(sel) = self.selected.as_mut() else {
            return Ok(bad(tag, "No mailbox selected"));
        };
        if sel.read_only {
            return Ok(no(tag, Some("READ-ONLY"), "Mailbox is read-only"));
        }
        let only: Option<Vec<Uid>> = set.map(|set| {
            sel.resolve(set, true)
                .unwrap_or_default()
                .into_iter()
                .map(|(_, u)| Uid(u))
                .collect()
        });
        let gone = self.store.expunge(sel.id, only.as_deref()).await?;
        for u in &gone {
            sel.pending_expunge.remove(&u.0);
        }
        sel.expunge_uids(gone.iter().map(|u| u.0), out);
        if sel.condstore {
            // The expunges raised HIGHESTMODSEQ without a FETCH to carry it (RFC 7162).
            let id = sel.id;
            if let Some(info) = self.store.mailbox_by_id(id).await? {
                let code = format!("HIGHESTMODSEQ {}", info.highest_modseq.0);
                return Ok(ok(tag, Some(&code), "EXPUNGE completed"));
            }
        }
        Ok(ok(tag, None, "EXPUNGE completed"))
    }

    #[allow(clippy::too_many_arguments)]
    async fn fetch(
        &mut self,
        tag: &Tag,
        uid: bool,
        set: &SequenceSet,
        mut items: Vec<FetchItem>,
        changed_since: Option<u64>,
        vanished: bool,
        out: &mut Vec<u8>,
    ) -> Result<Vec<u8>, StoreError> {
        let Some(sel) = self.selected.as_mut() else {
            return Ok(bad(tag, "No mailbox selected"));
        };
        let Some(targets) = sel.resolve(set, uid) else {
            return Ok(bad(tag, "Invalid message sequence number"));
        };
        let saved_set;
        let set = if set.is_saved() {
            saved_set = SequenceSet::from_sorted(&sel.saved);
            &saved_set
        } else {
            set
        };
        if let (true, Some(since)) = (vanished, changed_since) {
            // RFC 7162 §3.2.6: UIDs of the set expunged after CHANGEDSINCE (those the client
            // has not been told about yet stay for the unsolicited VANISHED).
            let expunged = self
                .store
                .changes_since(sel.id, ModSeq(since))
                .await?
                .expunged;
            let largest = expunged
                .iter()
                .map(|u| u.0)
                .chain(sel.uids.last().copied())
                .max()
                .unwrap_or(0);
            let mut gone: Vec<u32> = expunged
                .iter()
                .map(|u| u.0)
                .filter(|&u| set.contains(u, largest) && sel.seq_of(u).is_none())
                .collect();
            gone.sort_unstable();
            gone.dedup();
            if !gone.is_empty() {
                let gone = SequenceSet::from_sorted(&gone);
                out.extend_from_slice(format!("* VANISHED (EARLIER) {gone}\r\n").as_bytes());
            }
        }
        if uid && !items.contains(&FetchItem::Uid) {
            items.insert(0, FetchItem::Uid);
        }
        if changed_since.is_some() || items.contains(&FetchItem::ModSeq) {
            self.condstore = true;
            sel.condstore = true;
        }
        let condstore = sel.condstore;
        let Some((first, last)) = targets.first().zip(targets.last()) else {
            return Ok(ok(tag, None, "FETCH completed"));
        };
        let metas = self.store.messages(sel.id, first.1..=last.1).await?;
        let metas: HashMap<u32, MessageMeta> = metas.into_iter().map(|m| (m.uid.0, m)).collect();
        let content = wants_content(&items);
        let mark_seen = sets_seen(&items) && !sel.read_only;
        for (seq, u) in targets {
            let Some(meta) = metas.get(&u) else { continue };
            if changed_since.is_some_and(|c| meta.modseq.0 <= c) {
                continue;
            }
            let mut meta = meta.clone();
            let message = if content {
                match self.store.read_message(sel.id, meta.uid).await? {
                    Some(raw) => Some(Message::parse(raw)),
                    None => continue,
                }
            } else {
                None
            };
            if let Some(m) = &message {
                for item in &items {
                    if let FetchItem::Binary { part, .. } | FetchItem::BinarySize { part } = item
                        && let Err(e) = crate::fetch::binary_bytes(m, part)
                    {
                        return Ok(no(tag, Some("UNKNOWN-CTE"), &e.to_string()));
                    }
                }
            }
            let mut flags_changed = false;
            if mark_seen && !meta.flags.seen {
                let change = FlagChange::Add(Flags {
                    seen: true,
                    ..Default::default()
                });
                let stored = self
                    .store
                    .store_flags(sel.id, &[meta.uid], &change, None)
                    .await?;
                if let Some((_, f, m)) = stored.updated.into_iter().next() {
                    meta.flags = f;
                    meta.modseq = m;
                    flags_changed = true;
                }
            }
            sel.flags.insert(u, meta.flags.clone());
            write_fetch(
                out,
                seq,
                &meta,
                message.as_ref(),
                &items,
                flags_changed,
                condstore,
            );
        }
        Ok(ok(tag, None, "FETCH completed"))
    }

    #[allow(clippy::too_many_arguments)]
    async fn store_flags(
        &mut self,
        tag: &Tag,
        uid: bool,
        set: &SequenceSet,
        mode: StoreMode,
        silent: bool,
        flags: &[Flag],
        unchanged_since: Option<u64>,
        out: &mut Vec<u8>,
    ) -> Result<Vec<u8>, StoreError> {
        let Some(sel) = self.selected.as_mut() else {
            return Ok(bad(tag, "No mailbox selected"));
        };
        if sel.read_only {
            return Ok(no(tag, Some("READ-ONLY"), "Mailbox is read-only"));
        }
        let Some(targets) = sel.resolve(set, uid) else {
            return Ok(bad(tag, "Invalid message sequence number"));
        };
        if unchanged_since.is_some() {
            self.condstore = true;
            sel.condstore = true;
        }
        let f = Flag::to_store(flags);
        let change = match mode {
            StoreMode::Add => FlagChange::Add(f),
            StoreMode::Remove => FlagChange::Remove(f),
            StoreMode::Replace => FlagChange::Replace(f),
        };
        let uids: Vec<Uid> = targets.iter().map(|&(_, u)| Uid(u)).collect();
        let stored = self
            .store
            .store_flags(sel.id, &uids, &change, unchanged_since.map(ModSeq))
            .await?;
        for (u, flags, modseq) in stored.updated {
            let Some(seq) = sel.seq_of(u.0) else { continue };
            sel.flags.insert(u.0, flags.clone());
            // With CONDSTORE a FETCH carrying the new MODSEQ is sent even for .SILENT
            // (RFC 7162 §3.1.3); FLAGS only without .SILENT.
            if silent && !sel.condstore {
                continue;
            }
            let mut parts = Vec::new();
            if uid {
                parts.push(format!("UID {}", u.0));
            }
            if sel.condstore {
                parts.push(format!("MODSEQ ({})", modseq.0));
            }
            out.extend_from_slice(format!("* {seq} FETCH ({}", parts.join(" ")).as_bytes());
            if !silent {
                if !parts.is_empty() {
                    out.push(b' ');
                }
                out.extend_from_slice(b"FLAGS ");
                write_flags(out, &flags);
            }
            out.extend_from_slice(b")\r\n");
        }
        if !stored.modified.is_empty() {
            let mut nums: Vec<u32> = if uid {
                stored.modified.iter().map(|u| u.0).collect()
            } else {
                stored
                    .modified
                    .iter()
                    .filter_map(|u| sel.seq_of(u.0))
                    .collect()
            };
            nums.sort_unstable();
            let set = SequenceSet::from_sorted(&nums);
            return Ok(ok(
                tag,
                Some(&format!("MODIFIED {set}")),
                "Conditional STORE failed",
            ));
        }
        Ok(ok(tag, None, "STORE completed"))
    }

    async fn copy(
        &mut self,
        tag: &Tag,
        uid: bool,
        set: &SequenceSet,
        mailbox: &str,
        is_move: bool,
        out: &mut Vec<u8>,
    ) -> Result<Vec<u8>, StoreError> {
        let name = if is_move { "MOVE" } else { "COPY" };
        let Some(sel) = self.selected.as_mut() else {
            return Ok(bad(tag, "No mailbox selected"));
        };
        if is_move && sel.read_only {
            return Ok(no(tag, Some("READ-ONLY"), "Mailbox is read-only"));
        }
        let Some(targets) = sel.resolve(set, uid) else {
            return Ok(bad(tag, "Invalid message sequence number"));
        };
        let Some(dest) = self.store.mailbox(self.account, mailbox).await? else {
            return Ok(no(tag, Some("TRYCREATE"), "No such mailbox"));
        };
        let uids: Vec<Uid> = targets.iter().map(|&(_, u)| Uid(u)).collect();
        if uids.is_empty() {
            return Ok(ok(tag, None, &format!("{name} completed")));
        }
        if !is_move {
            let (lo, hi) = (uids[0].0, uids[uids.len() - 1].0);
            let bytes: u64 = self
                .store
                .messages(sel.id, lo..=hi)
                .await?
                .iter()
                .filter(|m| uids.binary_search(&m.uid).is_ok())
                .map(|m| m.size)
                .sum();
            if self.over_quota(bytes).await? {
                return Ok(no(tag, Some("OVERQUOTA"), "Quota exceeded"));
            }
        }
        let Some(sel) = self.selected.as_mut() else {
            return Ok(bad(tag, "No mailbox selected"));
        };
        let pairs = if is_move {
            self.store.move_messages(sel.id, &uids, dest.id).await?
        } else {
            self.store.copy_messages(sel.id, &uids, dest.id).await?
        };
        let mut pairs = pairs;
        pairs.sort_unstable();
        let src = SequenceSet::from_sorted(&pairs.iter().map(|p| p.0.0).collect::<Vec<_>>());
        let dst: Vec<String> = pairs.iter().map(|p| p.1.0.to_string()).collect();
        let code = format!("COPYUID {} {src} {}", dest.uid_validity, dst.join(","));
        if !is_move {
            return Ok(ok(tag, Some(&code), "COPY completed"));
        }
        if !pairs.is_empty() {
            out.extend(status(None, Status::Ok, Some(&code), "Moved"));
        }
        for (from, _) in &pairs {
            sel.pending_expunge.remove(&from.0);
        }
        sel.expunge_uids(pairs.iter().map(|p| p.0.0), out);
        Ok(ok(tag, None, "MOVE completed"))
    }

    async fn search(
        &mut self,
        tag: &Tag,
        uid: bool,
        ret: Option<Vec<SearchReturn>>,
        charset: Option<String>,
        key: &SearchKey,
        out: &mut Vec<u8>,
    ) -> Result<Vec<u8>, StoreError> {
        let save = ret
            .as_ref()
            .is_some_and(|r| r.contains(&SearchReturn::Save));
        let saved = match self.selected.as_mut() {
            // RFC 5182 §2.1: a SEARCH ... SAVE that fails leaves `$` empty; the key may
            // still use the previous `$`.
            Some(sel) if save => std::mem::take(&mut sel.saved),
            Some(sel) => sel.saved.clone(),
            None => Vec::new(),
        };
        let key = &substitute_saved(key, &saved);
        if let Some(c) = &charset
            && !c.eq_ignore_ascii_case("UTF-8")
            && !c.eq_ignore_ascii_case("US-ASCII")
        {
            return Ok(no(
                tag,
                Some("BADCHARSET (UTF-8 US-ASCII)"),
                "Unsupported charset",
            ));
        }
        let has_modseq = contains_modseq(key);
        if has_modseq {
            self.enable_condstore();
        }
        let Some(sel) = self.selected.as_ref() else {
            return Ok(bad(tag, "No mailbox selected"));
        };
        let metas = self.store.messages(sel.id, 1..=u32::MAX).await?;
        let content = crate::search::needs_content(key);
        let largest_uid = sel.uids.last().copied().unwrap_or(0);
        let mut found: Vec<(u32, u32, ModSeq)> = Vec::new();
        for meta in &metas {
            let Some(seq) = sel.seq_of(meta.uid.0) else {
                continue;
            };
            let message = if content {
                match self.store.read_message(sel.id, meta.uid).await? {
                    Some(raw) => Some(Message::parse(raw)),
                    None => continue,
                }
            } else {
                None
            };
            let c = crate::search::Candidate {
                seq,
                meta,
                message: message.as_ref(),
                largest_seq: sel.exists(),
                largest_uid,
            };
            if crate::search::matches(key, &c) {
                found.push((seq, meta.uid.0, meta.modseq));
            }
        }
        let nums: Vec<u32> = found.iter().map(|f| if uid { f.1 } else { f.0 }).collect();
        let max_modseq = found.iter().map(|f| f.2).max().unwrap_or_default();
        let mut ret = ret;
        if let Some(opts) = ret.as_mut() {
            if save {
                // RFC 5182 §2.4: with MIN and/or MAX only those are saved, otherwise all.
                let min = opts.contains(&SearchReturn::Min);
                let max = opts.contains(&SearchReturn::Max);
                let mut uids: Vec<u32> = if min || max {
                    let first = found.first().filter(|_| min).map(|f| f.1);
                    let last = found.last().filter(|_| max).map(|f| f.1);
                    first.into_iter().chain(last).collect()
                } else {
                    found.iter().map(|f| f.1).collect()
                };
                uids.sort_unstable();
                uids.dedup();
                if let Some(sel) = self.selected.as_mut() {
                    sel.saved = uids;
                }
                opts.retain(|o| *o != SearchReturn::Save);
                if opts.is_empty() {
                    // SAVE alone: no ESEARCH response (RFC 5182 §2.1).
                    return Ok(ok(tag, None, "SEARCH completed"));
                }
            }
        } else if self.imap4rev2() {
            // RFC 9051 §6.4.4: IMAP4rev2 clients get ESEARCH, never SEARCH.
            ret = Some(vec![SearchReturn::All]);
        }
        match ret {
            None => {
                out.extend_from_slice(b"* SEARCH");
                for n in &nums {
                    out.extend_from_slice(format!(" {n}").as_bytes());
                }
                if has_modseq && !nums.is_empty() {
                    out.extend_from_slice(format!(" (MODSEQ {})", max_modseq.0).as_bytes());
                }
                out.extend_from_slice(b"\r\n");
            }
            Some(opts) => {
                let opts = if opts.is_empty() {
                    vec![SearchReturn::All]
                } else {
                    opts
                };
                out.extend_from_slice(b"* ESEARCH (TAG ");
                write_string(out, tag.as_str().as_bytes());
                out.push(b')');
                if uid {
                    out.extend_from_slice(b" UID");
                }
                for o in opts {
                    match o {
                        SearchReturn::Min => {
                            if let Some(n) = nums.first() {
                                out.extend_from_slice(format!(" MIN {n}").as_bytes());
                            }
                        }
                        SearchReturn::Max => {
                            if let Some(n) = nums.last() {
                                out.extend_from_slice(format!(" MAX {n}").as_bytes());
                            }
                        }
                        SearchReturn::Count => {
                            out.extend_from_slice(format!(" COUNT {}", nums.len()).as_bytes());
                        }
                        SearchReturn::Save => {}
                        SearchReturn::All => {
                            if !nums.is_empty() {
                                let mut sorted = nums.clone();
                                sorted.sort_unstable();
                                out.extend_from_slice(
                                    format!(" ALL {}", SequenceSet::from_sorted(&sorted))
                                        .as_bytes(),
                                );
                            }
                        }
                    }
                }
                if has_modseq && !nums.is_empty() {
                    out.extend_from_slice(format!(" MODSEQ {}", max_modseq.0).as_bytes());
                }
                out.extend_from_slice(b"\r\n");
            }
        }
        Ok(ok(tag, None, "SEARCH completed"))
    }
}

/// The key with `$` (in a sequence set or `UID $`) replaced by the saved UIDs.
fn substitute_saved(key: &SearchKey, saved: &[u32]) -> SearchKey {
    match key {
        SearchKey::Seq(set) | SearchKey::Uid(set) if set.is_saved() => {
            // An empty result stays `$`, which matches nothing.
            SearchKey::Uid(SequenceSet::from_sorted(saved))
        }
        SearchKey::And(k) => SearchKey::And(k.iter().map(|k| substitute_saved(k, saved)).collect()),
        SearchKey::Not(k) => SearchKey::Not(Box::new(substitute_saved(k, saved))),
        SearchKey::Or(a, b) => SearchKey::Or(
            Box::new(substitute_saved(a, saved)),
            Box::new(substitute_saved(b, saved)),
        ),
        k => k.clone(),
    }
}

fn contains_modseq(key: &SearchKey) -> bool {
    match key {
        SearchKey::ModSeq(_) => true,
        SearchKey::And(k) => k.iter().any(contains_modseq),
        SearchKey::Not(k) => contains_modseq(k),
        SearchKey::Or(a, b) => contains_modseq(a) || contains_modseq(b),
        _ => false,
    }
}

/// `DELETED` and `DELETED-STORAGE` of a mailbox.
#[derive(Clone, Copy, Debug, Default)]
struct Deleted {
    messages: u64,
    bytes: u64,
}

fn write_status(
    out: &mut Vec<u8>,
    info: &MailboxInfo,
    items: &[StatusItem],
    deleted: Deleted,
    utf8: bool,
) {
    out.extend_from_slice(b"* STATUS ");
    write_mailbox_as(out, &info.name, utf8);
    out.extend_from_slice(b" (");
    let values: Vec<String> = items
        .iter()
        .map(|i| {
            let v = match i {
                StatusItem::Messages => u64::from(info.messages),
                StatusItem::Recent => 0,
                StatusItem::UidNext => u64::from(info.uid_next.0),
                StatusItem::UidValidity => u64::from(info.uid_validity),
                StatusItem::Unseen => u64::from(info.unseen),
                StatusItem::Size => info.size,
                StatusItem::HighestModSeq => info.highest_modseq.0,
                StatusItem::Deleted => deleted.messages,
                StatusItem::DeletedStorage => deleted.bytes.div_ceil(1024),
            };
            format!("{} {v}", i.as_str())
        })
        .collect();
    out.extend_from_slice(values.join(" ").as_bytes());
    out.extend_from_slice(b")\r\n");
}

/// Writes one `* n FETCH (...)` response.
pub fn write_fetch(
    out: &mut Vec<u8>,
    seq: u32,
    meta: &MessageMeta,
    message: Option<&Message>,
    items: &[FetchItem],
    flags_changed: bool,
    condstore: bool,
) {
    out.extend_from_slice(format!("* {seq} FETCH (").as_bytes());
    let mut first = true;
    let mut sep = |out: &mut Vec<u8>| {
        if !first {
            out.push(b' ');
        }
        first = false;
    };
    let mut flags_written = false;
    let mut modseq_written = false;
    for item in items {
        sep(out);
        match item {
            FetchItem::Flags => {
                out.extend_from_slice(b"FLAGS ");
                write_flags(out, &meta.flags);
                flags_written = true;
            }
            FetchItem::Uid => out.extend_from_slice(format!("UID {}", meta.uid.0).as_bytes()),
            FetchItem::ModSeq => {
                out.extend_from_slice(format!("MODSEQ ({})", meta.modseq.0).as_bytes());
                modseq_written = true;
            }
            FetchItem::Binary { part, partial, .. } => {
                let path = crate::command::part_path(part);
                out.extend_from_slice(format!("BINARY[{path}]").as_bytes());
                if let Some((start, _)) = partial {
                    out.extend_from_slice(format!("<{start}>").as_bytes());
                }
                out.push(b' ');
                match message.and_then(|m| crate::fetch::binary_bytes(m, part).ok().flatten()) {
                    Some(d) => write_literal8(out, slice_partial(&d, *partial)),
                    None => out.extend_from_slice(b"NIL"),
                }
            }
            FetchItem::BinarySize { part } => {
                let path = crate::command::part_path(part);
                let size = message
                    .and_then(|m| crate::fetch::binary_bytes(m, part).ok().flatten())
                    .map_or(0, |d| d.len());
                out.extend_from_slice(format!("BINARY.SIZE[{path}] {size}").as_bytes());
            }
            FetchItem::InternalDate => {
                out.extend_from_slice(b"INTERNALDATE ");
                write_string(
                    out,
                    crate::datetime::format_date_time(meta.internal_date).as_bytes(),
                );
            }
            FetchItem::Rfc822Size => {
                out.extend_from_slice(format!("RFC822.SIZE {}", meta.size).as_bytes())
            }
            FetchItem::Envelope => {
                out.extend_from_slice(b"ENVELOPE ");
                match message {
                    Some(m) => crate::fetch::write_envelope(out, &m.root()),
                    None => out.extend_from_slice(b"NIL"),
                }
            }
            FetchItem::Body | FetchItem::BodyStructure => {
                let ext = matches!(item, FetchItem::BodyStructure);
                out.extend_from_slice(if ext { b"BODYSTRUCTURE " } else { b"BODY " });
                match message {
                    Some(m) => crate::fetch::write_body_structure(out, &m.root(), ext),
                    None => out.extend_from_slice(b"NIL"),
                }
            }
            FetchItem::Rfc822 | FetchItem::Rfc822Header | FetchItem::Rfc822Text => {
                let (label, section) = match item {
                    FetchItem::Rfc822 => ("RFC822", Section::default()),
                    FetchItem::Rfc822Header => (
                        "RFC822.HEADER",
                        Section {
                            part: vec![],
                            text: Some(SectionText::Header),
                        },
                    ),
                    _ => (
                        "RFC822.TEXT",
                        Section {
                            part: vec![],
                            text: Some(SectionText::Text),
                        },
                    ),
                };
                out.extend_from_slice(label.as_bytes());
                out.push(b' ');
                let data = message.and_then(|m| crate::fetch::section_bytes(m, &section));
                match data {
                    Some(d) => write_literal(out, &d),
                    None => out.extend_from_slice(b"NIL"),
                }
            }
            FetchItem::Section {
                section, partial, ..
            } => {
                out.extend_from_slice(format!("BODY[{section}]").as_bytes());
                let data = message.and_then(|m| crate::fetch::section_bytes(m, section));
                if let Some((start, _)) = partial {
                    out.extend_from_slice(format!("<{start}>").as_bytes());
                }
                out.push(b' ');
                match data {
                    Some(d) => write_literal(out, slice_partial(&d, *partial)),
                    None => out.extend_from_slice(b"NIL"),
                }
            }
        }
    }
    if flags_changed && !flags_written {
        sep(out);
        out.extend_from_slice(b"FLAGS ");
        write_flags(out, &meta.flags);
    }
    if flags_changed && condstore && !modseq_written {
        sep(out);
        out.extend_from_slice(format!("MODSEQ ({})", meta.modseq.0).as_bytes());
    }
    out.extend_from_slice(b")\r\n");
}

/// The `<start.length>` slice of `d` (clamped to its end).
fn slice_partial(d: &[u8], partial: Option<(u32, u32)>) -> &[u8] {
    match partial {
        Some((start, len)) => {
            let s = (start as usize).min(d.len());
            let e = s.saturating_add(len as usize).min(d.len());
            &d[s..e]
        }
        None => d,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use mailcore_store::blob::BlobId;
    use mailcore_store::mailbox::Changes;

    #[test]
    fn patterns() {
        assert!(pattern_matches("*", "a/b/c"));
        assert!(pattern_matches("%", "a"));
        assert!(!pattern_matches("%", "a/b"));
        assert!(pattern_matches("a/%", "a/b"));
        assert!(pattern_matches("inbox", "INBOX"));
        assert!(pattern_matches("INBOX/*", "INBOX/x"));
        assert!(!pattern_matches("Inbox", "Inboxes"));
        assert!(!pattern_matches(
            "*%*%*%*%*%*%*%*%*%*%*%*%*%*%*x",
            &"a".repeat(200)
        ));
        assert!(!pattern_matches(
            &format!("{}b", "*a".repeat(500)),
            &"a".repeat(999)
        ));
        assert!(pattern_matches(&"*a".repeat(50), &"a".repeat(1000)));
    }

    fn meta(uid: u32, modseq: u64, seen: bool) -> MessageMeta {
        MessageMeta {
            uid: Uid(uid),
            modseq: ModSeq(modseq),
            flags: Flags {
                seen,
                ..Default::default()
            },
            internal_date: 0,
            size: 1,
            blob: BlobId([0; 32]),
        }
    }

    #[test]
    fn selection_updates() {
        let mut sel = Selection {
            id: MailboxId(1),
            name: "INBOX".into(),
            read_only: false,
            uid_validity: 1,
            uids: vec![3, 5, 9],
            flags: [3, 5, 9]
                .into_iter()
                .map(|u| (u, Flags::default()))
                .collect(),
            modseq: ModSeq(10),
            pending_expunge: BTreeSet::new(),
            condstore: false,
            qresync: false,
            saved: Vec::new(),
        };
        assert_eq!(
            sel.resolve(&SequenceSet::from_sorted(&[2, 3]), false)
                .unwrap(),
            [(2, 5), (3, 9)]
        );
        assert!(
            sel.resolve(&SequenceSet::from_sorted(&[4]), false)
                .is_none()
        );
        assert_eq!(
            sel.resolve(&SequenceSet::from_sorted(&[4, 5, 6]), true)
                .unwrap(),
            [(2, 5)]
        );
        let changes = Changes {
            changed: vec![meta(5, 11, true), meta(12, 12, false)],
            expunged: vec![Uid(3)],
            highest_modseq: ModSeq(13),
        };
        // During FETCH: no EXPUNGE yet.
        let out = String::from_utf8(sel.apply(&changes, false)).unwrap();
        assert_eq!(out, "* 2 FETCH (UID 5 FLAGS (\\Seen))\r\n* 4 EXISTS\r\n");
        let out = String::from_utf8(sel.apply(
            &Changes {
                highest_modseq: ModSeq(13),
                ..Default::default()
            },
            true,
        ))
        .unwrap();
        assert_eq!(out, "* 1 EXPUNGE\r\n");
        assert_eq!(sel.seq_of(12), Some(3));
        // With QRESYNC, expunges are reported by UID in one VANISHED (RFC 7162 §3.2.10).
        sel.qresync = true;
        let changes = Changes {
            expunged: vec![Uid(5), Uid(12)],
            highest_modseq: ModSeq(14),
            ..Default::default()
        };
        let out = String::from_utf8(sel.apply(&changes, true)).unwrap();
        assert_eq!(out, "* VANISHED 5,12\r\n");
        assert_eq!(sel.exists(), 1);
        // `$` (RFC 5182) resolves through the saved UIDs, less those expunged since.
        sel.saved = vec![9, 12];
        assert_eq!(sel.resolve(&SequenceSet::saved(), false).unwrap(), [(1, 9)]);
        assert_eq!(sel.resolve(&SequenceSet::saved(), true).unwrap(), [(1, 9)]);
        let key = SearchKey::Not(Box::new(SearchKey::Seq(SequenceSet::saved())));
        assert_eq!(
            substitute_saved(&key, &[9, 12]),
            SearchKey::Not(Box::new(SearchKey::Uid(SequenceSet::from_sorted(&[9, 12]))))
        );
    }
}
