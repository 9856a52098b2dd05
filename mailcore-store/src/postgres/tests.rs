//! Tests against a live PostgreSQL, each in a fresh schema (skipped unless `MAILCORE_TEST_PG`
//! is set, e.g. `postgres://postgres@127.0.0.1:5432/test`).

use std::collections::BTreeSet;
use std::time::Duration;

use bytes::Bytes;

use super::*;
use crate::blob::{BlobId, BlobStore};
use crate::check::Maintenance;
use crate::directory::{AccountKind, DirectoryStore, Edition, Group, NewAccount, Resolved};
use crate::mailbox::{DeliveryTarget, FlagChange, Flags, INBOX, MailStore, NewMessage, Uid};
use crate::queue::{NewQueueEntry, QueueStore};

fn url() -> Option<String> {
    match std::env::var("MAILCORE_TEST_PG") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            eprintln!("MAILCORE_TEST_PG not set; skipping PostgreSQL test");
            None
        }
    }
}

fn fresh_schema() -> String {
    format!("t_{:016x}", random_u64())
}

/// A store in a fresh schema, and the URL.
async fn fresh() -> Option<(Postgres, String)> {
    let url = url()?;
    let pg = Postgres::connect_schema(&url, &fresh_schema())
        .await
        .unwrap();
    Some((pg, url))
}

fn msg(body: &str) -> NewMessage {
    NewMessage {
        raw: Bytes::from(format!("Subject: test\r\n\r\n{body}\r\n")),
        flags: Flags::default(),
        internal_date: 1_700_000_000,
    }
}

/// Creates an account (mailboxes need an owner) and returns its id.
async fn account(pg: &Postgres) -> AccountId {
    let org = pg.create_org("Test", Edition::Basic).await.unwrap();
    let domain = "example.org".parse().unwrap();
    pg.add_domain(org.id, &domain).await.unwrap();
    let new = NewAccount {
        org: org.id,
        address: "owner@example.org".parse().unwrap(),
        display_name: None,
        password_hash: None,
        quota_bytes: None,
        kind: AccountKind::Member,
    };
    pg.create_account(new).await.unwrap().id
}

#[test]
fn schema_names() {
    assert!(check_schema_name("mailcore").is_ok());
    assert!(check_schema_name("t_0123abcd").is_ok());
    assert!(check_schema_name("").is_err());
    assert!(check_schema_name("Upper").is_err());
    assert!(check_schema_name("1abc").is_err());
    assert!(check_schema_name("pg_temp").is_err());
    assert!(check_schema_name("a\"; drop").is_err());
    assert!(check_schema_name(&"a".repeat(MAX_SCHEMA_NAME + 1)).is_err());
}

#[test]
fn payloads() {
    let c = parse_payload("3:4:5:99", 1).unwrap();
    assert_eq!(
        (c.account, c.mailbox, c.modseq),
        (AccountId(3), MailboxId(4), ModSeq(5))
    );
    assert!(
        parse_payload("3:4:5:1", 1).is_none(),
        "own changes are skipped"
    );
    assert!(parse_payload("3:4:x:9", 1).is_none());
    assert!(parse_payload("3:4:5", 1).is_none());
}

#[tokio::test]
async fn migrations_are_idempotent() {
    let Some(url) = url() else { return };
    let schema = fresh_schema();
    let a = Postgres::connect_schema(&url, &schema).await.unwrap();
    let owner = account(&a).await;
    let b = Postgres::connect_schema(&url, &schema).await.unwrap();
    let client = b.client().await.unwrap();
    let rows = query(
        &client,
        "SELECT version FROM schema_migrations ORDER BY version",
        &[],
    )
    .await
    .unwrap();
    let versions: Vec<i32> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(versions, (1..=schema::latest_version()).collect::<Vec<_>>());
    // Both instances see the same data.
    let mb = a.create_mailbox(owner, INBOX, None).await.unwrap();
    assert_eq!(b.mailbox(owner, "inbox").await.unwrap().unwrap().id, mb.id);
    drop(client);
    a.drop_schema().await.unwrap();
}

#[tokio::test]
async fn concurrent_connects_migrate_once() {
    let Some(url) = url() else { return };
    let schema = fresh_schema();
    let (a, b) = tokio::join!(
        Postgres::connect_schema(&url, &schema),
        Postgres::connect_schema(&url, &schema)
    );
    let (a, _b) = (a.unwrap(), b.unwrap());
    a.drop_schema().await.unwrap();
}

#[tokio::test]
async fn append_and_read() {
    let Some((pg, _)) = fresh().await else { return };
    let owner = account(&pg).await;
    let mb = pg.create_mailbox(owner, INBOX, None).await.unwrap();
    assert_eq!((mb.uid_next, mb.messages), (Uid(1), 0));
    let m = msg("hello");
    let done = pg.append(mb.id, m.clone()).await.unwrap();
    assert_eq!(done.uid, Uid(1));
    assert_eq!(done.uid_validity, mb.uid_validity);
    assert!(done.modseq > mb.highest_modseq);
    assert_eq!(
        pg.read_message(mb.id, done.uid).await.unwrap(),
        Some(m.raw.clone())
    );
    assert_eq!(pg.read_message(mb.id, Uid(2)).await.unwrap(), None);
    let metas = pg.messages(mb.id, 1..=u32::MAX).await.unwrap();
    assert_eq!(metas.len(), 1);
    assert_eq!(metas[0].blob, BlobId::of(&m.raw));
    assert_eq!(metas[0].size, m.raw.len() as u64);
    let info = pg.mailbox_by_id(mb.id).await.unwrap().unwrap();
    assert_eq!((info.messages, info.unseen, info.uid_next), (1, 1, Uid(2)));
    assert_eq!(info.size, m.raw.len() as u64);
    // The same bytes again share the blob; ranges clamp.
    let again = pg.append(mb.id, m.clone()).await.unwrap();
    assert_eq!(again.uid, Uid(2));
    let id = pg.put_blob(m.raw.clone()).await.unwrap();
    assert_eq!(
        pg.get_blob_range(&id, 0..9).await.unwrap().unwrap(),
        Bytes::from_static(b"Subject: ")
    );
    assert_eq!(
        pg.get_blob_range(&id, 1000..2000).await.unwrap().unwrap(),
        Bytes::new()
    );
    assert!(pg.get_blob(&BlobId([0; 32])).await.unwrap().is_none());
    assert_eq!(pg.quota_usage(owner).await.unwrap().messages, 2);
    pg.drop_schema().await.unwrap();
}

#[tokio::test]
async fn mailbox_names_and_uidvalidity() {
    let Some((pg, _)) = fresh().await else { return };
    let owner = account(&pg).await;
    pg.ensure_default_mailboxes(owner).await.unwrap();
    let a = pg.create_mailbox(owner, "Projects", None).await.unwrap();
    pg.create_mailbox(owner, "Projects/x", None).await.unwrap();
    pg.create_mailbox(owner, "Projects/x/y", None)
        .await
        .unwrap();
    assert!(matches!(
        pg.create_mailbox(owner, "Projects", None).await,
        Err(StoreError::AlreadyExists(_))
    ));
    pg.rename_mailbox(owner, "Projects", "Work").await.unwrap();
    let names: Vec<String> = pg
        .list_mailboxes(owner)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.name)
        .collect();
    assert!(
        names.contains(&"Work/x/y".to_owned()) && !names.iter().any(|n| n.starts_with("Projects"))
    );
    let w = pg.mailbox(owner, "Work").await.unwrap().unwrap();
    assert_eq!((w.id, w.uid_validity), (a.id, a.uid_validity));
    // Below itself.
    pg.rename_mailbox(owner, "Work", "Work/old").await.unwrap();
    assert!(pg.mailbox(owner, "Work/old/x/y").await.unwrap().is_some());
    assert!(pg.rename_mailbox(owner, INBOX, "X").await.is_err());
    assert!(pg.delete_mailbox(owner, "inbox").await.is_err());
    assert!(
        pg.delete_mailbox(owner, "Nope")
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert!(
        pg.create_mailbox(AccountId(i64::MAX), "X", None)
            .await
            .unwrap_err()
            .is_not_found()
    );
    // A re-created name gets a new UIDVALIDITY.
    pg.delete_mailbox(owner, "Work/old").await.unwrap();
    let again = pg.create_mailbox(owner, "Work/old", None).await.unwrap();
    assert!(again.uid_validity > a.uid_validity);
    pg.drop_schema().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_from_two_instances() {
    let Some((a, url)) = fresh().await else {
        return;
    };
    let owner = account(&a).await;
    let b = Postgres::connect_schema(&url, a.schema()).await.unwrap();
    let mb = a.create_mailbox(owner, INBOX, None).await.unwrap();
    let a = std::sync::Arc::new(a);
    let b = std::sync::Arc::new(b);
    let mut tasks = Vec::new();
    for i in 0..40 {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            store
                .append(mb.id, msg(&format!("message {i}")))
                .await
                .unwrap()
        }));
    }
    let mut uids = BTreeSet::new();
    let mut modseqs = BTreeSet::new();
    for t in tasks {
        let done = t.await.unwrap();
        assert!(uids.insert(done.uid), "duplicate UID {:?}", done.uid);
        assert!(modseqs.insert(done.modseq), "duplicate MODSEQ");
    }
    assert_eq!(uids, (1..=40).map(Uid).collect());
    let info = b.mailbox_by_id(mb.id).await.unwrap().unwrap();
    assert_eq!((info.uid_next, info.messages), (Uid(41), 40));
    // UIDs increase with MODSEQ: the row lock orders appends.
    let metas = a.messages(mb.id, 1..=40).await.unwrap();
    assert!(metas.windows(2).all(|w| w[0].modseq < w[1].modseq));
    a.drop_schema().await.unwrap();
}

#[tokio::test]
async fn change_on_one_instance_reaches_another() {
    let Some((a, url)) = fresh().await else {
        return;
    };
    let owner = account(&a).await;
    let b = Postgres::connect_schema(&url, a.schema()).await.unwrap();
    let mb = a.create_mailbox(owner, INBOX, None).await.unwrap();
    let mut on_b = b.subscribe_changes();
    let mut on_a = a.subscribe_changes();
    let done = a.append(mb.id, msg("ping")).await.unwrap();
    // The writer's own subscribers hear at commit, once.
    let local = on_a.try_recv().unwrap();
    assert_eq!((local.mailbox, local.modseq), (mb.id, done.modseq));
    let remote = tokio::time::timeout(Duration::from_secs(5), on_b.recv())
        .await
        .expect("notification within 5 s")
        .unwrap();
    assert_eq!(remote.account, owner);
    assert_eq!(remote.mailbox, mb.id);
    assert_eq!(remote.modseq, done.modseq);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(on_a.try_recv().is_err(), "own change not delivered twice");
    // Another schema does not hear it.
    let other = Postgres::connect_schema(&url, &fresh_schema())
        .await
        .unwrap();
    let mut on_other = other.subscribe_changes();
    a.append(mb.id, msg("pong")).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), on_b.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(on_other.try_recv().is_err());
    other.drop_schema().await.unwrap();
    a.drop_schema().await.unwrap();
}

#[tokio::test]
async fn flags_expunge_and_changes() {
    let Some((pg, _)) = fresh().await else { return };
    let owner = account(&pg).await;
    let mb = pg.create_mailbox(owner, INBOX, None).await.unwrap();
    for i in 0..4 {
        pg.append(mb.id, msg(&format!("m{i}"))).await.unwrap();
    }
    let before = pg
        .mailbox_by_id(mb.id)
        .await
        .unwrap()
        .unwrap()
        .highest_modseq;
    let deleted = Flags {
        deleted: true,
        ..Flags::default()
    };
    let stored = pg
        .store_flags(
            mb.id,
            &[Uid(2), Uid(3), Uid(99)],
            &FlagChange::Add(deleted.clone()),
            None,
        )
        .await
        .unwrap();
    assert_eq!(stored.updated.len(), 2);
    let after_flags = stored.updated[0].2;
    assert!(after_flags > before);
    // CONDSTORE: UID 2 changed after `before`, so it is reported, UID 1 is not.
    let cond = pg
        .store_flags(
            mb.id,
            &[Uid(1), Uid(2)],
            &FlagChange::Add(Flags {
                seen: true,
                ..Flags::default()
            }),
            Some(before),
        )
        .await
        .unwrap();
    assert_eq!(cond.modified, vec![Uid(2)]);
    assert_eq!(cond.updated.len(), 1);
    // Unchanged flags keep their MODSEQ.
    let same = pg
        .store_flags(mb.id, &[Uid(3)], &FlagChange::Add(deleted.clone()), None)
        .await
        .unwrap();
    assert_eq!(same.updated[0].2, after_flags);
    assert_eq!(
        pg.expunge(mb.id, Some(&[Uid(3)])).await.unwrap(),
        vec![Uid(3)]
    );
    assert_eq!(pg.expunge(mb.id, None).await.unwrap(), vec![Uid(2)]);
    let changes = pg.changes_since(mb.id, before).await.unwrap();
    assert_eq!(changes.expunged, vec![Uid(2), Uid(3)]);
    assert_eq!(
        changes.changed.iter().map(|m| m.uid).collect::<Vec<_>>(),
        vec![Uid(1)]
    );
    assert!(changes.highest_modseq > after_flags);
    // Copy and move.
    let trash = pg.create_mailbox(owner, "Trash", None).await.unwrap();
    assert_eq!(
        pg.copy_messages(mb.id, &[Uid(1)], trash.id).await.unwrap(),
        vec![(Uid(1), Uid(1))]
    );
    assert_eq!(
        pg.move_messages(mb.id, &[Uid(1), Uid(4)], trash.id)
            .await
            .unwrap(),
        vec![(Uid(1), Uid(2)), (Uid(4), Uid(3))]
    );
    assert_eq!(pg.mailbox_by_id(mb.id).await.unwrap().unwrap().messages, 0);
    let moved = pg.messages(trash.id, 1..=10).await.unwrap();
    assert!(moved[0].flags.seen);
    // Delivery is all or nothing.
    let targets = [
        DeliveryTarget {
            mailbox: mb.id,
            flags: Flags::default(),
        },
        DeliveryTarget {
            mailbox: MailboxId(-1),
            flags: Flags::default(),
        },
    ];
    assert!(
        pg.deliver(Bytes::from_static(b"x\r\n"), 0, &targets)
            .await
            .is_err()
    );
    assert_eq!(pg.mailbox_by_id(mb.id).await.unwrap().unwrap().messages, 0);
    pg.drop_schema().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_are_exclusive_across_instances() {
    let Some((a, url)) = fresh().await else {
        return;
    };
    let b = Postgres::connect_schema(&url, a.schema()).await.unwrap();
    for i in 0..30 {
        a.enqueue(NewQueueEntry {
            sender: mailcore::address::ReversePath::parse("<s@example.com>").unwrap(),
            recipients: vec![format!("r{i}@example.net").parse().unwrap()],
            raw: Bytes::from(format!("message {i}\r\n")),
            next_attempt: 100,
        })
        .await
        .unwrap();
    }
    let mut got = Vec::new();
    for _ in 0..5 {
        let (x, y) = tokio::join!(a.lease_due(100, "a", 60, 4), b.lease_due(100, "b", 60, 4));
        got.extend(x.unwrap().into_iter().map(|e| (e.id, "a")));
        got.extend(y.unwrap().into_iter().map(|e| (e.id, "b")));
    }
    let ids: BTreeSet<_> = got.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids.len(), got.len(), "an entry was leased twice");
    assert_eq!(got.len(), 30);
    let (id, holder) = got[0];
    let other = if holder == "a" { "b" } else { "a" };
    let entry = a.queue_entry(id).await.unwrap().unwrap();
    assert!(matches!(
        b.update_entry(id, other, &entry.recipients, 200).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        b.remove_entry(id, other).await,
        Err(StoreError::Conflict(_))
    ));
    // Nothing is due for anyone until the leases expire.
    assert!(b.lease_due(150, "c", 60, 100).await.unwrap().is_empty());
    let expired = b.lease_due(161, "c", 60, 100).await.unwrap();
    assert_eq!(expired.len(), 30);
    assert!(matches!(
        a.remove_entry(id, holder).await,
        Err(StoreError::Conflict(_))
    ));
    b.update_entry(id, "c", &entry.recipients, 500)
        .await
        .unwrap();
    assert_eq!(a.queue_entry(id).await.unwrap().unwrap().next_attempt, 500);
    b.remove_entry(expired[1].id, "c").await.unwrap();
    assert_eq!(a.list_queue().await.unwrap().len(), 29);
    a.drop_schema().await.unwrap();
}

#[tokio::test]
async fn directory_namespace() {
    let Some((pg, _)) = fresh().await else { return };
    let org = pg.create_org("Example", Edition::Basic).await.unwrap();
    assert!(matches!(
        pg.create_org("Example", Edition::Basic).await,
        Err(StoreError::AlreadyExists(_))
    ));
    let domain = "example.com".parse().unwrap();
    pg.add_domain(org.id, &domain).await.unwrap();
    let tom = pg
        .create_account(NewAccount {
            org: org.id,
            address: "Tom@Example.com".parse().unwrap(),
            display_name: Some("Tom".into()),
            password_hash: None,
            quota_bytes: Some(1000),
            kind: AccountKind::Member,
        })
        .await
        .unwrap();
    let same = "tom@example.com".parse().unwrap();
    assert_eq!(
        pg.account_by_address(&same).await.unwrap().unwrap().id,
        tom.id
    );
    assert!(matches!(
        pg.add_alias(&same, tom.id).await,
        Err(StoreError::AlreadyExists(_))
    ));
    let alias = "t@example.com".parse().unwrap();
    pg.add_alias(&alias, tom.id).await.unwrap();
    assert!(matches!(pg.resolve(&alias).await.unwrap(), Resolved::Alias(a) if a.id == tom.id));
    let group = Group {
        address: "all@example.com".parse().unwrap(),
        org: org.id,
        name: None,
        members: vec![same.clone()],
        representatives: vec![],
    };
    pg.create_group(&group).await.unwrap();
    assert!(matches!(pg.resolve(&group.address).await.unwrap(), Resolved::Group(g) if g == group));
    assert!(matches!(
        pg.create_group(&Group {
            address: alias.clone(),
            ..group.clone()
        })
        .await,
        Err(StoreError::AlreadyExists(_))
    ));
    assert!(pg.remove_domain(&domain).await.is_err());
    pg.ensure_default_mailboxes(tom.id).await.unwrap();
    pg.delete_group(&group.address).await.unwrap();
    pg.delete_account(tom.id).await.unwrap();
    assert!(matches!(
        pg.resolve(&alias).await.unwrap(),
        Resolved::Unknown
    ));
    assert!(pg.list_mailboxes(tom.id).await.unwrap().is_empty());
    pg.remove_domain(&domain).await.unwrap();
    pg.drop_schema().await.unwrap();
}

#[tokio::test]
async fn check_and_repair() {
    let Some((pg, _)) = fresh().await else { return };
    let owner = account(&pg).await;
    let mb = pg.create_mailbox(owner, INBOX, None).await.unwrap();
    let good = pg.append(mb.id, msg("good")).await.unwrap();
    let lost = pg.append(mb.id, msg("lost")).await.unwrap();
    let bent = pg.append(mb.id, msg("bent")).await.unwrap();
    let clean = pg.check(false).await.unwrap();
    assert!(clean.problems.is_empty(), "{:?}", clean.problems);
    assert_eq!((clean.messages, clean.mailboxes), (3, 1));

    // Damage: one blob gone, one altered, counters lowered, one orphan.
    let client = pg.client().await.unwrap();
    let metas = pg.messages(mb.id, 1..=3).await.unwrap();
    exec(
        &client,
        "DELETE FROM blobs WHERE id = $1",
        &[&&metas[1].blob.0[..]],
    )
    .await
    .unwrap();
    exec(
        &client,
        "UPDATE blobs SET data = 'x' WHERE id = $1",
        &[&&metas[2].blob.0[..]],
    )
    .await
    .unwrap();
    exec(
        &client,
        "UPDATE mailboxes SET uid_next = 2, highest_modseq = 1 WHERE id = $1",
        &[&mb.id.0],
    )
    .await
    .unwrap();
    pg.put_blob(Bytes::from_static(b"orphan")).await.unwrap();

    let report = pg.check(false).await.unwrap();
    let kinds: BTreeSet<&str> = report.problems.iter().map(|p| p.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "missing-blob",
            "damaged-blob",
            "uid-next",
            "counter",
            "orphan-blob"
        ]
        .into_iter()
        .collect()
    );
    assert!(report.is_damaged());

    let repaired = pg.check(true).await.unwrap();
    assert!(!repaired.is_damaged(), "{:?}", repaired.problems);
    let after = pg.check(false).await.unwrap();
    assert!(after.problems.is_empty(), "{:?}", after.problems);
    let left: Vec<Uid> = pg
        .messages(mb.id, 1..=10)
        .await
        .unwrap()
        .iter()
        .map(|m| m.uid)
        .collect();
    assert_eq!(left, vec![good.uid]);
    let info = pg.mailbox_by_id(mb.id).await.unwrap().unwrap();
    assert_eq!(info.uid_next, Uid(4));
    let changes = pg.changes_since(mb.id, good.modseq).await.unwrap();
    assert_eq!(changes.expunged, vec![lost.uid, bent.uid]);
    // A new append never reuses a UID.
    assert_eq!(pg.append(mb.id, msg("new")).await.unwrap().uid, Uid(4));
    drop(client);
    pg.drop_schema().await.unwrap();
}
