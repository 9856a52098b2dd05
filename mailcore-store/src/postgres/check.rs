//! Integrity check and repair.
//!
//! The analysis reads one consistent snapshot (a read-only repeatable-read transaction); each
//! repair then runs in its own transaction, taking the same locks as normal writers, so the
//! check can run while other processes serve mail.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;

use super::mailbox::{blob_id, tombstones};
use super::{Postgres, col, db_error, exec, query, query_one};
use crate::blob::{BlobId, BlobStore};
use crate::check::{CheckReport, Maintenance, Problem};
use crate::error::Result;
use crate::mailbox::{AccountId, MailboxChange, MailboxId, ModSeq};

/// Blobs hashed per round trip.
const BLOB_PAGE: i64 = 32;

/// A message whose blob is missing or damaged.
struct BadMessage {
    mailbox: i64,
    uid: i64,
    blob: BlobId,
    missing: bool,
}

/// A mailbox counter below what its messages need.
struct BadCounter {
    mailbox: i64,
    uid_next: i64,
    need_uid_next: i64,
    highest_modseq: i64,
    need_modseq: i64,
}

/// What the snapshot shows.
#[derive(Default)]
struct Findings {
    messages: u64,
    mailboxes: u64,
    bad_messages: Vec<BadMessage>,
    bad_queue: Vec<(i64, BlobId, bool)>,
    counters: Vec<BadCounter>,
    orphans: Vec<Vec<u8>>,
}

fn problem(kind: &str, detail: String, repaired: bool) -> Problem {
    Problem {
        kind: kind.to_owned(),
        detail,
        repaired,
    }
}

impl Postgres {
    async fn analyse(&self) -> Result<Findings> {
        let mut client = self.client().await?;
        let tx = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(db_error)?;
        let mut f = Findings::default();
        let row = query_one(
            &tx,
            "SELECT (SELECT count(*) FROM mailboxes), (SELECT count(*) FROM messages)",
            &[],
        )
        .await?;
        f.mailboxes = u64::try_from(col::<i64>(&row, 0)?).unwrap_or(0);
        f.messages = u64::try_from(col::<i64>(&row, 1)?).unwrap_or(0);

        // Every blob: present, and its content hashing to its id?
        let mut present = BTreeSet::new();
        let mut damaged = BTreeSet::new();
        let mut after: Vec<u8> = Vec::new();
        loop {
            let rows = query(
                &tx,
                "SELECT id, data FROM blobs WHERE id > $1 ORDER BY id LIMIT $2",
                &[&after, &BLOB_PAGE],
            )
            .await?;
            let Some(last) = rows.last() else { break };
            after = col(last, 0)?;
            for r in &rows {
                let raw_id: Vec<u8> = col(r, 0)?;
                let data: Vec<u8> = col(r, 1)?;
                let id = blob_id(&raw_id).unwrap_or(BlobId([0; 32]));
                if raw_id.len() != 32 || BlobId::of(&data) != id {
                    damaged.insert(raw_id.clone());
                }
                present.insert(raw_id);
            }
        }

        // References from messages and queue entries.
        let mut referenced = BTreeSet::new();
        for r in query(
            &tx,
            "SELECT mailbox, uid, blob FROM messages ORDER BY mailbox, uid",
            &[],
        )
        .await?
        {
            let blob: Vec<u8> = col(&r, 2)?;
            let missing = !present.contains(&blob);
            if missing || damaged.contains(&blob) {
                f.bad_messages.push(BadMessage {
                    mailbox: col(&r, 0)?,
                    uid: col(&r, 1)?,
                    blob: blob_id(&blob).unwrap_or(BlobId([0; 32])),
                    missing,
                });
            }
            referenced.insert(blob);
        }
        for r in query(&tx, "SELECT id, blob FROM queue ORDER BY id", &[]).await? {
            let blob: Vec<u8> = col(&r, 1)?;
            let missing = !present.contains(&blob);
            if missing || damaged.contains(&blob) {
                f.bad_queue.push((
                    col(&r, 0)?,
                    blob_id(&blob).unwrap_or(BlobId([0; 32])),
                    missing,
                ));
            }
            referenced.insert(blob);
        }
        f.orphans = present.difference(&referenced).cloned().collect();

        // Counters: UIDNEXT above every UID ever used, HIGHESTMODSEQ at least every MODSEQ.
        let rows = query(
            &tx,
            "SELECT b.id, b.uid_next, b.highest_modseq,
                    greatest((SELECT max(uid) FROM messages m WHERE m.mailbox = b.id),
                             (SELECT max(uid) FROM expunged e WHERE e.mailbox = b.id), 0),
                    greatest((SELECT max(modseq) FROM messages m WHERE m.mailbox = b.id),
                             (SELECT max(modseq) FROM expunged e WHERE e.mailbox = b.id), 0)
               FROM mailboxes b ORDER BY b.id",
            &[],
        )
        .await?;
        for r in &rows {
            let c = BadCounter {
                mailbox: col(r, 0)?,
                uid_next: col(r, 1)?,
                highest_modseq: col(r, 2)?,
                need_uid_next: col::<i64>(r, 3)? + 1,
                need_modseq: col(r, 4)?,
            };
            if c.uid_next < c.need_uid_next || c.highest_modseq < c.need_modseq {
                f.counters.push(c);
            }
        }
        tx.commit().await.map_err(db_error)?;
        Ok(f)
    }

    /// Raises a mailbox's counters to what its messages need.
    async fn repair_counter(&self, c: &BadCounter) -> Result<()> {
        let client = self.client().await?;
        exec(
            &client,
            "UPDATE mailboxes SET uid_next = greatest(uid_next, $2), highest_modseq = greatest(highest_modseq, $3)
              WHERE id = $1",
            &[&c.mailbox, &c.need_uid_next, &c.need_modseq],
        )
        .await?;
        Ok(())
    }

    /// Removes messages of one mailbox whose blobs are missing or damaged (expunging them, so
    /// clients learn of it); returns whether the mailbox still existed.
    async fn remove_bad_messages(&self, mailbox: i64, bad: &[&BadMessage]) -> Result<bool> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        let Some(row) = super::query_opt(
            &tx,
            "SELECT account FROM mailboxes WHERE id = $1 FOR UPDATE",
            &[&mailbox],
        )
        .await?
        else {
            return Ok(false);
        };
        let account = AccountId(col(&row, 0)?);
        let mut gone = Vec::new();
        for m in bad {
            let rows = query(
                &tx,
                "DELETE FROM messages WHERE mailbox = $1 AND uid = $2 AND blob = $3 RETURNING uid",
                &[&mailbox, &m.uid, &&m.blob.0[..]],
            )
            .await?;
            gone.extend(
                rows.iter()
                    .map(|r| col::<i64>(r, 0))
                    .collect::<Result<Vec<_>>>()?,
            );
        }
        if gone.is_empty() {
            return Ok(true);
        }
        let row = query_one(
            &tx,
            "UPDATE mailboxes SET highest_modseq = highest_modseq + 1 WHERE id = $1 RETURNING highest_modseq",
            &[&mailbox],
        )
        .await?;
        let modseq: i64 = col(&row, 0)?;
        tombstones(&tx, MailboxId(mailbox), &gone, modseq).await?;
        let change = MailboxChange {
            account,
            mailbox: MailboxId(mailbox),
            modseq: ModSeq(u64::try_from(modseq).unwrap_or(0)),
        };
        self.notify(&tx, &change).await?;
        tx.commit().await.map_err(db_error)?;
        self.announce(&[change]);
        Ok(true)
    }
}

#[async_trait]
impl Maintenance for Postgres {
    async fn check(&self, repair: bool) -> Result<CheckReport> {
        let f = self.analyse().await?;
        let mut report = CheckReport {
            messages: f.messages,
            mailboxes: f.mailboxes,
            problems: Vec::new(),
        };

        for c in &f.counters {
            if repair {
                self.repair_counter(c).await?;
            }
            if c.uid_next < c.need_uid_next {
                report.problems.push(problem(
                    "uid-next",
                    format!(
                        "mailbox {}: UIDNEXT {} but UID {} is used",
                        c.mailbox,
                        c.uid_next,
                        c.need_uid_next - 1
                    ),
                    repair,
                ));
            }
            if c.highest_modseq < c.need_modseq {
                report.problems.push(problem(
                    "counter",
                    format!(
                        "mailbox {}: HIGHESTMODSEQ {} below MODSEQ {}",
                        c.mailbox, c.highest_modseq, c.need_modseq
                    ),
                    repair,
                ));
            }
        }

        // Damaged blob rows go first, so that delivering the same bytes again stores a good copy.
        if repair {
            let damaged: BTreeSet<BlobId> = f
                .bad_messages
                .iter()
                .filter(|m| !m.missing)
                .map(|m| m.blob)
                .chain(f.bad_queue.iter().filter(|q| !q.2).map(|q| q.1))
                .collect();
            let client = self.client().await?;
            for b in &damaged {
                exec(&client, "DELETE FROM blobs WHERE id = $1", &[&&b.0[..]]).await?;
            }
        }
        let mut by_mailbox: BTreeMap<i64, Vec<&BadMessage>> = BTreeMap::new();
        for m in &f.bad_messages {
            by_mailbox.entry(m.mailbox).or_default().push(m);
        }
        for (mailbox, bad) in &by_mailbox {
            if repair {
                self.remove_bad_messages(*mailbox, bad).await?;
            }
            for m in bad {
                let kind = if m.missing {
                    "missing-blob"
                } else {
                    "damaged-blob"
                };
                report.problems.push(problem(
                    kind,
                    format!("mailbox {} UID {}: blob {}", m.mailbox, m.uid, m.blob),
                    repair,
                ));
            }
        }
        for (id, blob, missing) in &f.bad_queue {
            if repair {
                let client = self.client().await?;
                exec(
                    &client,
                    "DELETE FROM queue WHERE id = $1 AND blob = $2",
                    &[id, &&blob.0[..]],
                )
                .await?;
            }
            let kind = if *missing {
                "missing-blob"
            } else {
                "damaged-blob"
            };
            report.problems.push(problem(
                kind,
                format!("queue entry {id}: blob {blob} (entry removed on repair)"),
                repair,
            ));
        }

        if !f.orphans.is_empty() {
            let count = f.orphans.len();
            let detail = if repair {
                let collected = self.collect_garbage().await?;
                format!(
                    "{count} blobs referenced by no message or queue entry; {collected} collected"
                )
            } else {
                format!("{count} blobs referenced by no message or queue entry")
            };
            report.problems.push(problem("orphan-blob", detail, repair));
        }
        Ok(report)
    }
}
