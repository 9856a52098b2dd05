//! Unit tests of the embedded backend (the shared conformance suite runs on top of these).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use bytes::Bytes;

use super::{Db, Embedded};
use crate::blob::{BlobId, BlobStore};
use crate::check::Maintenance;
use crate::directory::{AccountKind, DirectoryStore, Edition, Group, NewAccount, Resolved};
use crate::error::StoreError;
use crate::log::{LogKind, LogQuery, LogStore, NewLogRecord};
use crate::mailbox::{
    AccountId, DeliveryTarget, FlagChange, Flags, INBOX, MailStore, MailboxId, ModSeq, NewMessage,
    SpecialUse, Uid,
};
use crate::queue::{NewQueueEntry, QueueRecipient, QueueStore, RecipientStatus};

/// A directory removed when the test ends.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "mailcore-embedded-{name}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        TempDir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const A: AccountId = AccountId(1);

fn msg(body: &str) -> NewMessage {
    NewMessage {
        raw: Bytes::from(format!("Subject: test\r\n\r\n{body}\r\n")),
        flags: Flags::default(),
        internal_date: 1_700_000_000,
    }
}

fn seen() -> Flags {
    Flags {
        seen: true,
        ..Flags::default()
    }
}

fn deleted() -> Flags {
    Flags {
        deleted: true,
        ..Flags::default()
    }
}

/// Opens a store with one organisation and the accounts u1..u3 (ids 1 to 3).
async fn open(dir: &TempDir) -> Embedded {
    let store = Embedded::open(dir.path()).await.unwrap();
    let org = store.create_org("Org", Edition::Basic).await.unwrap();
    store
        .add_domain(org.id, &"example.org".parse().unwrap())
        .await
        .unwrap();
    for n in 1..=3 {
        let account = store
            .create_account(NewAccount {
                org: org.id,
                address: format!("u{n}@example.org").parse().unwrap(),
                display_name: None,
                password_hash: None,
                quota_bytes: None,
                kind: AccountKind::Member,
            })
            .await
            .unwrap();
        assert_eq!(account.id, AccountId(n));
    }
    store
}

async fn inbox(store: &Embedded) -> MailboxId {
    store.ensure_default_mailboxes(A).await.unwrap();
    store.mailbox(A, "inbox").await.unwrap().unwrap().id
}

#[tokio::test]
async fn reopen_keeps_data_and_uid_validity() {
    let dir = TempDir::new("reopen");
    let (validity, raw, id) = {
        let store = open(&dir).await;
        assert!(dir.path().join("mailcore.db").exists());
        let id = inbox(&store).await;
        let done = store.append(id, msg("one")).await.unwrap();
        assert_eq!(done.uid, Uid(1));
        let info = store.mailbox_by_id(id).await.unwrap().unwrap();
        (info.uid_validity, msg("one").raw, id)
    };
    let store = Embedded::open(dir.path()).await.unwrap();
    assert_eq!(
        store.account(A).await.unwrap().unwrap().address.to_string(),
        "u1@example.org"
    );
    let info = store.mailbox(A, INBOX).await.unwrap().unwrap();
    assert_eq!(info.id, id);
    assert_eq!(info.uid_validity, validity);
    assert_eq!(info.uid_next, Uid(2));
    assert_eq!(info.messages, 1);
    assert_eq!(info.unseen, 1);
    assert_eq!(info.size, raw.len() as u64);
    assert_eq!(store.read_message(id, Uid(1)).await.unwrap(), Some(raw));
    let names: Vec<String> = store
        .list_mailboxes(A)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.name)
        .collect();
    assert_eq!(
        names,
        ["Archive", "Drafts", "INBOX", "Junk", "Sent", "Trash"]
    );
    let sent = store.mailbox(A, "Sent").await.unwrap().unwrap();
    assert_eq!(sent.role, Some(SpecialUse::Sent));
}

#[tokio::test]
async fn recreated_mailbox_gets_new_uid_validity() {
    let dir = TempDir::new("validity");
    let store = open(&dir).await;
    let first = store.create_mailbox(A, "Work", None).await.unwrap();
    assert!(matches!(
        store.create_mailbox(A, "Work", None).await,
        Err(StoreError::AlreadyExists(_))
    ));
    store.delete_mailbox(A, "Work").await.unwrap();
    let second = store.create_mailbox(A, "Work", None).await.unwrap();
    assert!(second.uid_validity > first.uid_validity);
    assert!(second.id > first.id);
    assert!(store.delete_mailbox(A, "inbox").await.is_err());
    assert!(
        store
            .delete_mailbox(A, "Nope")
            .await
            .unwrap_err()
            .is_not_found()
    );
}

#[tokio::test]
async fn append_read_and_ranges() {
    let dir = TempDir::new("append");
    let store = open(&dir).await;
    let id = inbox(&store).await;
    let m = NewMessage {
        flags: seen(),
        ..msg("hello")
    };
    let done = store.append(id, m.clone()).await.unwrap();
    let metas = store.messages(id, 1..=u32::MAX).await.unwrap();
    assert_eq!(metas.len(), 1);
    assert_eq!(metas[0].uid, done.uid);
    assert_eq!(metas[0].modseq, done.modseq);
    assert_eq!(metas[0].flags, seen());
    assert_eq!(metas[0].size, m.raw.len() as u64);
    assert_eq!(metas[0].blob, BlobId::of(&m.raw));
    assert_eq!(
        store.get_blob(&metas[0].blob).await.unwrap(),
        Some(m.raw.clone())
    );
    let part = store
        .get_blob_range(&metas[0].blob, 0..7)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&part[..], b"Subject");
    let tail = store
        .get_blob_range(&metas[0].blob, 18..10_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&tail[..], &m.raw[18..]);
    let none = store
        .get_blob_range(&metas[0].blob, 5_000..6_000)
        .await
        .unwrap()
        .unwrap();
    assert!(none.is_empty());
    assert_eq!(store.read_message(id, Uid(9)).await.unwrap(), None);
    assert!(
        store
            .append(MailboxId(9999), msg("x"))
            .await
            .unwrap_err()
            .is_not_found()
    );
    let info = store.mailbox_by_id(id).await.unwrap().unwrap();
    assert_eq!((info.messages, info.unseen), (1, 0));
    let usage = store.quota_usage(A).await.unwrap();
    assert_eq!((usage.bytes, usage.messages), (m.raw.len() as u64, 1));
}

#[tokio::test]
async fn deliver_is_one_blob_and_all_or_nothing() {
    let dir = TempDir::new("deliver");
    let store = open(&dir).await;
    let mut targets = Vec::new();
    for account in 1..=3 {
        let info = store
            .create_mailbox(AccountId(account), INBOX, None)
            .await
            .unwrap();
        targets.push(DeliveryTarget {
            mailbox: info.id,
            flags: Flags::default(),
        });
    }
    let raw = msg("to three").raw;
    let done = store.deliver(raw.clone(), 5, &targets).await.unwrap();
    assert_eq!(done.len(), 3);
    let blobs: i64 = store
        .read(|c| {
            c.query_row("SELECT count(*) FROM blobs", [], |r| r.get(0))
                .db()
        })
        .await
        .unwrap();
    assert_eq!(blobs, 1);
    for (t, a) in targets.iter().zip(&done) {
        assert_eq!(a.mailbox, t.mailbox);
        assert_eq!(
            store.read_message(a.mailbox, a.uid).await.unwrap(),
            Some(raw.clone())
        );
    }
    // One bad target: nothing is stored anywhere.
    let mut bad = targets.clone();
    bad.push(DeliveryTarget {
        mailbox: MailboxId(4242),
        flags: Flags::default(),
    });
    let other = msg("never").raw;
    assert!(
        store
            .deliver(other.clone(), 5, &bad)
            .await
            .unwrap_err()
            .is_not_found()
    );
    for t in &targets {
        assert_eq!(
            store.messages(t.mailbox, 1..=u32::MAX).await.unwrap().len(),
            1
        );
    }
    assert_eq!(store.get_blob(&BlobId::of(&other)).await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_get_unique_increasing_uids() {
    let dir = TempDir::new("concurrent");
    let store = Arc::new(open(&dir).await);
    let id = inbox(&store).await;
    let mut tasks = Vec::new();
    for i in 0..32 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store.append(id, msg(&format!("n{i}"))).await.unwrap()
        }));
    }
    let mut uids = Vec::new();
    for t in tasks {
        let a = t.await.unwrap();
        uids.push((a.uid, a.modseq));
    }
    uids.sort();
    let only: Vec<u32> = uids.iter().map(|(u, _)| u.0).collect();
    assert_eq!(only, (1..=32).collect::<Vec<_>>());
    // UIDs and MODSEQs grow together.
    assert!(uids.windows(2).all(|w| w[0].1 < w[1].1));
    let info = store.mailbox_by_id(id).await.unwrap().unwrap();
    assert_eq!(info.uid_next, Uid(33));
    assert_eq!(info.messages, 32);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_writes_share_one_commit() {
    let dir = TempDir::new("group");
    let store = Arc::new(open(&dir).await);
    let id = inbox(&store).await;
    // Hold the writer busy so that the next 32 jobs queue up behind it.
    let blocker = {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .write(|_| {
                    std::thread::sleep(Duration::from_millis(300));
                    Ok(())
                })
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let before = store.commits();
    let mut tasks = Vec::new();
    for i in 0..32 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store.append(id, msg(&format!("g{i}"))).await
        }));
    }
    // One of the jobs fails: it rolls back alone.
    let failing = store.write(|tx| {
        tx.execute("INSERT INTO meta (key, value) VALUES ('doomed', 1)", [])
            .db()?;
        Err::<(), _>(StoreError::Invalid("refused".into()))
    });
    let (failing, ()) = tokio::join!(failing, async {
        for t in tasks {
            t.await.unwrap().unwrap();
        }
    });
    assert!(matches!(failing, Err(StoreError::Invalid(_))));
    blocker.await.unwrap().unwrap();
    let commits = store.commits() - before;
    assert!(commits <= 2, "{commits} commits for 33 queued writes");
    assert_eq!(store.mailbox_by_id(id).await.unwrap().unwrap().messages, 32);
    let doomed: Option<i64> = store
        .read(|c| {
            use rusqlite::OptionalExtension;
            c.query_row("SELECT value FROM meta WHERE key = 'doomed'", [], |r| {
                r.get(0)
            })
            .optional()
            .db()
        })
        .await
        .unwrap();
    assert_eq!(doomed, None);
}

#[tokio::test]
async fn flags_and_condstore() {
    let dir = TempDir::new("flags");
    let store = open(&dir).await;
    let id = inbox(&store).await;
    let a = store.append(id, msg("a")).await.unwrap();
    let b = store.append(id, msg("b")).await.unwrap();
    let mut changes = store.subscribe_changes();

    let out = store
        .store_flags(id, &[a.uid, b.uid, Uid(77)], &FlagChange::Add(seen()), None)
        .await
        .unwrap();
    assert_eq!(out.updated.len(), 2);
    assert!(out.modified.is_empty());
    let m1 = out.updated[0].2;
    assert!(m1 > b.modseq);
    assert_eq!(out.updated[0].1, seen());
    let note = changes.recv().await.unwrap();
    assert_eq!((note.mailbox, note.modseq), (id, m1));

    // No change: listed with the old MODSEQ, HIGHESTMODSEQ stays.
    let out = store
        .store_flags(id, &[a.uid], &FlagChange::Add(seen()), None)
        .await
        .unwrap();
    assert_eq!(out.updated, vec![(a.uid, seen(), m1)]);
    assert_eq!(
        store
            .mailbox_by_id(id)
            .await
            .unwrap()
            .unwrap()
            .highest_modseq,
        m1
    );

    // b changes again; then an UNCHANGEDSINCE older than b's MODSEQ leaves b alone.
    let flagged = Flags {
        flagged: true,
        ..Flags::default()
    };
    let out = store
        .store_flags(id, &[b.uid], &FlagChange::Add(flagged.clone()), None)
        .await
        .unwrap();
    let m2 = out.updated[0].2;
    assert!(m2 > m1);
    let out = store
        .store_flags(
            id,
            &[a.uid, b.uid],
            &FlagChange::Replace(flagged.clone()),
            Some(m1),
        )
        .await
        .unwrap();
    assert_eq!(out.modified, vec![b.uid]);
    assert_eq!(out.updated.len(), 1);
    assert_eq!(out.updated[0].0, a.uid);
    assert_eq!(out.updated[0].1, flagged);
    assert!(out.updated[0].2 > m2);

    let mut kw = Flags::default();
    kw.keywords.insert("$Forwarded".into());
    store
        .store_flags(id, &[a.uid], &FlagChange::Add(kw), None)
        .await
        .unwrap();
    let metas = store.messages(id, a.uid.0..=a.uid.0).await.unwrap();
    assert!(metas[0].flags.flagged && metas[0].flags.keywords.contains("$Forwarded"));
    let info = store.mailbox_by_id(id).await.unwrap().unwrap();
    assert_eq!(info.unseen, 1);
    assert_eq!(info.highest_modseq, metas[0].modseq);
}

#[tokio::test]
async fn expunge_and_changes_since() {
    let dir = TempDir::new("expunge");
    let store = open(&dir).await;
    let id = inbox(&store).await;
    let mut uids = Vec::new();
    for i in 0..4 {
        uids.push(store.append(id, msg(&format!("m{i}"))).await.unwrap().uid);
    }
    let base = store
        .mailbox_by_id(id)
        .await
        .unwrap()
        .unwrap()
        .highest_modseq;
    store
        .store_flags(
            id,
            &[uids[0], uids[1], uids[2]],
            &FlagChange::Add(deleted()),
            None,
        )
        .await
        .unwrap();
    // Only the given subset goes.
    assert_eq!(
        store.expunge(id, Some(&[uids[1], uids[3]])).await.unwrap(),
        vec![uids[1]]
    );
    assert_eq!(
        store.expunge(id, None).await.unwrap(),
        vec![uids[0], uids[2]]
    );
    assert!(store.expunge(id, None).await.unwrap().is_empty());

    let changes = store.changes_since(id, base).await.unwrap();
    assert_eq!(changes.expunged, vec![uids[0], uids[1], uids[2]]);
    assert!(changes.changed.is_empty());
    let info = store.mailbox_by_id(id).await.unwrap().unwrap();
    assert_eq!(changes.highest_modseq, info.highest_modseq);
    assert_eq!(info.messages, 1);

    let after_first = store.changes_since(id, ModSeq(base.0 + 2)).await.unwrap();
    assert_eq!(after_first.expunged, vec![uids[0], uids[2]]);
    let all = store.changes_since(id, ModSeq(0)).await.unwrap();
    assert_eq!(all.changed.len(), 1);
    assert_eq!(all.changed[0].uid, uids[3]);
    // UIDs are never reused.
    assert_eq!(store.append(id, msg("new")).await.unwrap().uid, Uid(5));
}

#[tokio::test]
async fn copy_and_move() {
    let dir = TempDir::new("move");
    let store = open(&dir).await;
    let src = inbox(&store).await;
    let dst = store.mailbox(A, "Archive").await.unwrap().unwrap().id;
    let a = store
        .append(
            src,
            NewMessage {
                flags: seen(),
                ..msg("a")
            },
        )
        .await
        .unwrap();
    let b = store.append(src, msg("b")).await.unwrap();
    let copied = store
        .copy_messages(src, &[b.uid, a.uid, Uid(50)], dst)
        .await
        .unwrap();
    assert_eq!(copied, vec![(a.uid, Uid(1)), (b.uid, Uid(2))]);
    let moved = store.move_messages(src, &[a.uid], dst).await.unwrap();
    assert_eq!(moved, vec![(a.uid, Uid(3))]);
    let src_info = store.mailbox_by_id(src).await.unwrap().unwrap();
    let dst_info = store.mailbox_by_id(dst).await.unwrap().unwrap();
    assert_eq!((src_info.messages, dst_info.messages), (1, 3));
    let moved_meta = store.messages(dst, 3..=3).await.unwrap();
    assert_eq!(moved_meta[0].flags, seen());
    assert_eq!(moved_meta[0].internal_date, 1_700_000_000);
    let gone = store.changes_since(src, b.modseq).await.unwrap();
    assert_eq!(gone.expunged, vec![a.uid]);
    let blobs: i64 = store
        .read(|c| {
            c.query_row("SELECT count(*) FROM blobs", [], |r| r.get(0))
                .db()
        })
        .await
        .unwrap();
    assert_eq!(blobs, 2);
    assert_eq!(store.quota_usage(A).await.unwrap().messages, 4);
}

#[tokio::test]
async fn rename_moves_children() {
    let dir = TempDir::new("rename");
    let store = open(&dir).await;
    let parent = store.create_mailbox(A, "Projects", None).await.unwrap();
    let child = store
        .create_mailbox(A, "Projects/2024", None)
        .await
        .unwrap();
    let grandchild = store
        .create_mailbox(A, "Projects/2024/Q1", None)
        .await
        .unwrap();
    let other = store.create_mailbox(A, "ProjectsOld", None).await.unwrap();
    store.append(child.id, msg("c")).await.unwrap();
    store
        .rename_mailbox(A, "Projects", "Work/Projects")
        .await
        .unwrap();
    let names: Vec<(String, MailboxId)> = store
        .list_mailboxes(A)
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.name, m.id))
        .collect();
    assert_eq!(
        names,
        vec![
            ("ProjectsOld".to_owned(), other.id),
            ("Work/Projects".to_owned(), parent.id),
            ("Work/Projects/2024".to_owned(), child.id),
            ("Work/Projects/2024/Q1".to_owned(), grandchild.id),
        ]
    );
    let moved = store
        .mailbox(A, "Work/Projects/2024")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(moved.uid_validity, child.uid_validity);
    assert_eq!(moved.messages, 1);
    // Into its own subtree.
    store
        .rename_mailbox(A, "Work/Projects", "Work/Projects/Old")
        .await
        .unwrap();
    assert!(
        store
            .mailbox(A, "Work/Projects/Old/2024/Q1")
            .await
            .unwrap()
            .is_some()
    );
    assert!(matches!(
        store
            .rename_mailbox(A, "ProjectsOld", "Work/Projects/Old")
            .await,
        Err(StoreError::AlreadyExists(_))
    ));
    assert!(
        store
            .rename_mailbox(A, "Missing", "X")
            .await
            .unwrap_err()
            .is_not_found()
    );
    store.create_mailbox(A, INBOX, None).await.unwrap();
    assert!(matches!(
        store.rename_mailbox(A, "inbox", "Old").await,
        Err(StoreError::Invalid(_))
    ));
    // A parent that does not exist itself: its children are renamed.
    store.create_mailbox(A, "Work2/Sub", None).await.unwrap();
    store.rename_mailbox(A, "Work2", "Job").await.unwrap();
    assert!(store.mailbox(A, "Job/Sub").await.unwrap().is_some());
    assert!(store.mailbox(A, "Work2/Sub").await.unwrap().is_none());
    assert!(
        store
            .create_mailbox(AccountId(99), "X", None)
            .await
            .unwrap_err()
            .is_not_found()
    );
    store.set_subscribed(A, "ProjectsOld", true).await.unwrap();
    assert!(
        store
            .mailbox(A, "ProjectsOld")
            .await
            .unwrap()
            .unwrap()
            .subscribed
    );
}

fn entry(to: &[&str]) -> NewQueueEntry {
    NewQueueEntry {
        sender: mailcore::address::ReversePath::parse("<tom@example.com>").unwrap(),
        recipients: to.iter().map(|a| a.parse().unwrap()).collect(),
        raw: Bytes::from_static(b"Subject: out\r\n\r\nbody\r\n"),
        next_attempt: 100,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_are_exclusive() {
    let dir = TempDir::new("lease");
    let store = Arc::new(open(&dir).await);
    for _ in 0..20 {
        store
            .enqueue(entry(&["a@remote.example", "b@remote.example"]))
            .await
            .unwrap();
    }
    assert!(
        store
            .lease_due(50, "early", 60, 100)
            .await
            .unwrap()
            .is_empty()
    );
    let mut tasks = Vec::new();
    for w in 0..4 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let owner = format!("w{w}");
            let mut got = Vec::new();
            loop {
                let batch = store.lease_due(200, &owner, 60, 3).await.unwrap();
                if batch.is_empty() {
                    break got;
                }
                got.extend(batch.into_iter().map(|e| e.id));
            }
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort();
    let n = all.len();
    all.dedup();
    assert_eq!((n, all.len()), (20, 20));

    let list = store.list_queue().await.unwrap();
    let first = &list[0];
    assert_eq!(first.recipients[0].status, RecipientStatus::Pending);
    assert_eq!(first.sender.to_string(), "<tom@example.com>");
    // Find who holds the first entry by trying to update as each worker.
    let mut recips: Vec<QueueRecipient> = first.recipients.clone();
    recips[0].status = RecipientStatus::Delivered("250 ok".into());
    recips[1].attempts = 1;
    recips[1].last_error = Some("451 later".into());
    let mut owner = None;
    for w in ["w0", "w1", "w2", "w3"] {
        match store.update_entry(first.id, w, &recips, 500).await {
            Ok(()) => owner = Some(w),
            Err(e) => assert!(matches!(e, StoreError::Conflict(_)), "{e}"),
        }
    }
    let owner = owner.unwrap();
    // Released: the next update by the same owner is a conflict.
    assert!(matches!(
        store.update_entry(first.id, owner, &recips, 500).await,
        Err(StoreError::Conflict(_))
    ));
    let saved = store.queue_entry(first.id).await.unwrap().unwrap();
    assert_eq!(saved.recipients, recips);
    assert_eq!(saved.next_attempt, 500);
    // Due again at 500: leased, expires, taken over; the first holder lost it.
    let got = store.lease_due(500, "x", 10, 100).await.unwrap();
    assert!(got.iter().any(|e| e.id == first.id));
    assert!(
        !store
            .lease_due(505, "y", 10, 100)
            .await
            .unwrap()
            .iter()
            .any(|e| e.id == first.id)
    );
    assert!(
        store
            .lease_due(511, "y", 10, 100)
            .await
            .unwrap()
            .iter()
            .any(|e| e.id == first.id)
    );
    assert!(matches!(
        store.remove_entry(first.id, "x").await,
        Err(StoreError::Conflict(_))
    ));
    store.remove_entry(first.id, "y").await.unwrap();
    assert_eq!(store.queue_entry(first.id).await.unwrap(), None);
    // The blob is shared by the 19 other entries: nothing to collect.
    assert_eq!(store.collect_garbage().await.unwrap(), 0);
}

#[tokio::test]
async fn logs_query_and_purge() {
    let dir = TempDir::new("logs");
    let store = open(&dir).await;
    for t in 0..10 {
        store
            .append_log(NewLogRecord {
                kind: if t % 2 == 0 {
                    LogKind::Login
                } else {
                    LogKind::Mail
                },
                time: 1000 + t,
                org: None,
                account: Some(format!("u{}@example.com", t % 3)),
                data: serde_json::json!({"t": t}),
            })
            .await
            .unwrap();
    }
    let logins = store
        .query_logs(&LogQuery::all(LogKind::Login, 100))
        .await
        .unwrap();
    assert_eq!(logins.len(), 5);
    assert!(logins.windows(2).all(|w| w[0].id < w[1].id));
    assert_eq!(logins[0].data, serde_json::json!({"t": 0}));
    let q = LogQuery {
        account: Some("u0@example.com".into()),
        since: Some(1001),
        until: Some(1009),
        ..LogQuery::all(LogKind::Login, 100)
    };
    let some = store.query_logs(&q).await.unwrap();
    assert_eq!(some.iter().map(|r| r.time).collect::<Vec<_>>(), vec![1006]);
    assert_eq!(
        store
            .query_logs(&LogQuery::all(LogKind::Login, 2))
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(store.purge_logs(LogKind::Login, 1004).await.unwrap(), 2);
    assert_eq!(
        store
            .query_logs(&LogQuery::all(LogKind::Login, 100))
            .await
            .unwrap()
            .len(),
        3
    );
    assert_eq!(
        store
            .query_logs(&LogQuery::all(LogKind::Mail, 100))
            .await
            .unwrap()
            .len(),
        5
    );
}

#[tokio::test]
async fn check_finds_and_repairs() {
    let dir = TempDir::new("check");
    let store = open(&dir).await;
    let id = inbox(&store).await;
    let keep = store.append(id, msg("keep")).await.unwrap();
    let lost = store.append(id, msg("lost")).await.unwrap();
    let report = store.check(false).await.unwrap();
    assert!(report.problems.is_empty(), "{report:?}");
    assert_eq!((report.messages, report.mailboxes), (2, 6));

    let lost_blob = BlobId::of(&msg("lost").raw);
    store
        .write(move |tx| {
            tx.execute("DELETE FROM blobs WHERE id = ?1", [lost_blob.0])
                .db()?;
            tx.execute(
                "UPDATE mailboxes SET uid_next = 2, highest_modseq = 1 WHERE id = ?1",
                [id.0],
            )
            .db()?;
            Ok(())
        })
        .await
        .unwrap();
    store.put_blob(Bytes::from_static(b"orphan")).await.unwrap();
    assert!(matches!(
        store.read_message(id, lost.uid).await,
        Err(StoreError::Corrupt(_))
    ));

    let report = store.check(false).await.unwrap();
    let kinds: Vec<&str> = report.problems.iter().map(|p| p.kind.as_str()).collect();
    assert!(kinds.contains(&"missing-blob"), "{kinds:?}");
    assert!(kinds.contains(&"uid-next"), "{kinds:?}");
    assert!(kinds.contains(&"counter"), "{kinds:?}");
    assert!(kinds.contains(&"orphan-blob"), "{kinds:?}");
    assert!(report.is_damaged());

    let report = store.check(true).await.unwrap();
    assert!(!report.is_damaged(), "{report:?}");
    let report = store.check(false).await.unwrap();
    assert!(report.problems.is_empty(), "{report:?}");
    let info = store.mailbox_by_id(id).await.unwrap().unwrap();
    assert_eq!(info.messages, 1);
    assert_eq!(info.uid_next, Uid(3));
    assert!(info.highest_modseq > lost.modseq);
    assert_eq!(store.read_message(id, lost.uid).await.unwrap(), None);
    assert!(store.read_message(id, keep.uid).await.unwrap().is_some());
    assert_eq!(
        store.changes_since(id, lost.modseq).await.unwrap().expunged,
        vec![lost.uid]
    );

    // A damaged blob (bytes that no longer match the hash) is found too.
    let keep_blob = BlobId::of(&msg("keep").raw);
    store
        .write(move |tx| {
            tx.execute("UPDATE blobs SET data = x'00' WHERE id = ?1", [keep_blob.0])
                .db()?;
            Ok(())
        })
        .await
        .unwrap();
    let report = store.check(false).await.unwrap();
    assert_eq!(report.problems.len(), 1);
    assert_eq!(report.problems[0].kind, "damaged-blob");
}

#[tokio::test]
async fn directory_namespace_and_cascades() {
    let dir = TempDir::new("directory");
    let store = Embedded::open(dir.path()).await.unwrap();
    let org = store.create_org("Example", Edition::Basic).await.unwrap();
    assert!(matches!(
        store.create_org("Example", Edition::Professional).await,
        Err(StoreError::AlreadyExists(_))
    ));
    let other = store
        .create_org("Other", Edition::Professional)
        .await
        .unwrap();
    store
        .add_domain(org.id, &"example.com".parse().unwrap())
        .await
        .unwrap();
    store
        .add_domain(other.id, &"other.example".parse().unwrap())
        .await
        .unwrap();
    assert!(matches!(
        store
            .add_domain(other.id, &"EXAMPLE.com".parse().unwrap())
            .await,
        Err(StoreError::AlreadyExists(_))
    ));
    let new = |addr: &str, org| NewAccount {
        org,
        address: addr.parse().unwrap(),
        display_name: Some("Tom".into()),
        password_hash: None,
        quota_bytes: Some(1 << 30),
        kind: AccountKind::Member,
    };
    let tom = store
        .create_account(new("Tom@Example.com", org.id))
        .await
        .unwrap();
    assert!(
        store
            .create_account(new("x@other.example", org.id))
            .await
            .is_err()
    );
    assert!(matches!(
        store.create_account(new("tom@example.COM", org.id)).await,
        Err(StoreError::AlreadyExists(_))
    ));
    store
        .add_alias(&"thomas@example.com".parse().unwrap(), tom.id)
        .await
        .unwrap();
    assert!(matches!(
        store
            .add_alias(&"TOM@example.com".parse().unwrap(), tom.id)
            .await,
        Err(StoreError::AlreadyExists(_))
    ));
    let group = Group {
        address: "team@example.com".parse().unwrap(),
        org: org.id,
        name: Some("Team".into()),
        members: vec![
            tom.address.clone(),
            "ext@elsewhere.example".parse().unwrap(),
        ],
        representatives: vec![tom.address.clone()],
    };
    store.create_group(&group).await.unwrap();
    assert!(matches!(
        store
            .add_alias(&"Team@example.com".parse().unwrap(), tom.id)
            .await,
        Err(StoreError::AlreadyExists(_))
    ));
    assert_eq!(
        store.group(&group.address).await.unwrap(),
        Some(group.clone())
    );
    assert!(matches!(
        store.resolve(&"THOMAS@example.com".parse().unwrap()).await.unwrap(),
        Resolved::Alias(a) if a.id == tom.id
    ));
    assert!(matches!(
        store
            .resolve(&"tom@example.com".parse().unwrap())
            .await
            .unwrap(),
        Resolved::Account(_)
    ));
    assert!(matches!(
        store.resolve(&group.address).await.unwrap(),
        Resolved::Group(_)
    ));
    assert!(matches!(
        store
            .resolve(&"no@example.com".parse().unwrap())
            .await
            .unwrap(),
        Resolved::Unknown
    ));
    assert_eq!(store.account(tom.id).await.unwrap(), Some(tom.clone()));
    assert_eq!(
        store
            .account_by_address(&"tom@example.com".parse().unwrap())
            .await
            .unwrap(),
        Some(tom.clone())
    );
    let mut changed = tom.clone();
    changed.enabled = false;
    changed.display_name = None;
    store.update_account(&changed).await.unwrap();
    assert_eq!(store.account(tom.id).await.unwrap(), Some(changed));

    assert!(matches!(
        store.remove_domain(&"example.com".parse().unwrap()).await,
        Err(StoreError::Conflict(_))
    ));
    store.ensure_default_mailboxes(tom.id).await.unwrap();
    store.delete_account(tom.id).await.unwrap();
    assert!(store.list_mailboxes(tom.id).await.unwrap().is_empty());
    assert!(store.aliases(tom.id).await.unwrap().is_empty());
    assert!(matches!(
        store
            .resolve(&"thomas@example.com".parse().unwrap())
            .await
            .unwrap(),
        Resolved::Unknown
    ));
    // The freed addresses can be taken again.
    let again = store
        .create_account(new("thomas@example.com", org.id))
        .await
        .unwrap();
    assert!(again.id > tom.id);
    store.delete_account(again.id).await.unwrap();
    store.delete_group(&group.address).await.unwrap();
    store
        .remove_domain(&"example.com".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(store.list_domains(None).await.unwrap().len(), 1);
    assert_eq!(store.list_orgs().await.unwrap().len(), 2);
}

#[tokio::test]
async fn newer_schema_is_refused() {
    let dir = TempDir::new("schema");
    drop(Embedded::open(dir.path()).await.unwrap());
    {
        let conn = rusqlite::Connection::open(dir.path().join("mailcore.db")).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
    }
    assert!(Embedded::open(dir.path()).await.is_err());
}
