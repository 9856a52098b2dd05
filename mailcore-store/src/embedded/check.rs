//! Integrity checking and repair ([`Maintenance`]).
//!
//! The scan runs on a read connection (writers go on meanwhile); repairs then run as one write
//! job that re-verifies each finding against the current state before fixing it.

use std::collections::BTreeMap;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};

use super::mail::{Head, collect_garbage, remove_messages};
use super::{Db, Embedded};
use crate::blob::BlobId;
use crate::check::{CheckReport, Maintenance, Problem};
use crate::error::Result;
use crate::mailbox::{MailboxChange, MailboxId};

/// Most `PRAGMA integrity_check` / `foreign_key_check` lines reported.
const MAX_SQLITE_PROBLEMS: usize = 100;

/// What is wrong with a blob that something references.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BlobFault {
    Missing,
    Damaged,
}

impl BlobFault {
    fn kind(self) -> &'static str {
        match self {
            BlobFault::Missing => "missing-blob",
            BlobFault::Damaged => "damaged-blob",
        }
    }
}

/// A fault of a blob, if it has one.
fn blob_fault(conn: &Connection, id: &BlobId) -> Result<Option<BlobFault>> {
    let row: Option<(u64, Vec<u8>)> = conn
        .prepare_cached("SELECT size, data FROM blobs WHERE id = ?1")
        .db()?
        .query_row([id.0], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
        .db()?;
    Ok(match row {
        None => Some(BlobFault::Missing),
        Some((size, data)) if size != data.len() as u64 || BlobId::of(&data) != *id => {
            Some(BlobFault::Damaged)
        }
        Some(_) => None,
    })
}

/// What references a blob: messages as (mailbox, uid), and queue entry ids.
type Referrers = (Vec<(i64, u32)>, Vec<i64>);

/// Messages and queue entries that reference a blob.
fn referrers(conn: &Connection, id: &BlobId) -> Result<Referrers> {
    let messages = {
        let mut stmt = conn
            .prepare_cached(
                "SELECT mailbox, uid FROM messages WHERE blob = ?1 ORDER BY mailbox, uid",
            )
            .db()?;
        let rows = stmt
            .query_map([id.0], |r| Ok((r.get(0)?, r.get(1)?)))
            .db()?;
        rows.collect::<rusqlite::Result<Vec<_>>>().db()?
    };
    let entries = {
        let mut stmt = conn
            .prepare_cached("SELECT id FROM queue WHERE blob = ?1 ORDER BY id")
            .db()?;
        let rows = stmt.query_map([id.0], |r| r.get(0)).db()?;
        rows.collect::<rusqlite::Result<Vec<_>>>().db()?
    };
    Ok((messages, entries))
}

/// Mailboxes whose UIDNEXT is not above every UID given (kept or expunged): (id, uid_next, max).
const UID_NEXT_BAD: &str = "SELECT b.id, b.uid_next, u.top FROM mailboxes b JOIN \
     (SELECT mailbox, max(uid) AS top FROM (SELECT mailbox, uid FROM messages UNION ALL SELECT mailbox, uid FROM expunged) \
      GROUP BY mailbox) u ON u.mailbox = b.id WHERE u.top >= b.uid_next";

/// Mailboxes whose HIGHESTMODSEQ is below some MODSEQ: (id, highest_modseq, max).
const MODSEQ_BAD: &str = "SELECT b.id, b.highest_modseq, s.top FROM mailboxes b JOIN \
     (SELECT mailbox, max(modseq) AS top FROM (SELECT mailbox, modseq FROM messages UNION ALL SELECT mailbox, modseq FROM expunged) \
      GROUP BY mailbox) s ON s.mailbox = b.id WHERE s.top > b.highest_modseq";

const ORPHANS: &str = "SELECT count(*), coalesce(sum(size), 0) FROM blobs WHERE \
     NOT EXISTS (SELECT 1 FROM messages m WHERE m.blob = blobs.id) AND NOT EXISTS (SELECT 1 FROM queue q WHERE q.blob = blobs.id)";

fn triples(conn: &Connection, sql: &str) -> Result<Vec<(i64, i64, i64)>> {
    let mut stmt = conn.prepare_cached(sql).db()?;
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .db()?;
    rows.collect::<rusqlite::Result<Vec<_>>>().db()
}

/// What a scan found.
#[derive(Debug, Default)]
struct Findings {
    report: CheckReport,
    bad_blobs: Vec<BlobId>,
    counters: bool,
    orphans: bool,
}

fn problem(kind: &str, detail: String) -> Problem {
    Problem {
        kind: kind.to_owned(),
        detail,
        repaired: false,
    }
}

/// Reads everything and reports, changing nothing.
fn scan(conn: &Connection) -> Result<Findings> {
    let mut found = Findings::default();
    let report = &mut found.report;
    report.mailboxes = conn
        .query_row("SELECT count(*) FROM mailboxes", [], |r| r.get(0))
        .db()?;
    report.messages = conn
        .query_row("SELECT count(*) FROM messages", [], |r| r.get(0))
        .db()?;

    {
        let mut stmt = conn.prepare("PRAGMA integrity_check").db()?;
        let lines = stmt.query_map([], |r| r.get::<_, String>(0)).db()?;
        for line in lines.take(MAX_SQLITE_PROBLEMS) {
            let line = line.db()?;
            if line != "ok" {
                report.problems.push(problem("integrity", line));
            }
        }
    }
    {
        let mut stmt = conn.prepare("PRAGMA foreign_key_check").db()?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<i64>>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })
            .db()?;
        for row in rows.take(MAX_SQLITE_PROBLEMS) {
            let (table, rowid, parent) = row.db()?;
            let at = rowid.map_or_else(String::new, |r| format!(" row {r}"));
            report.problems.push(problem(
                "foreign-key",
                format!("{table}{at} refers to a missing {parent} row"),
            ));
        }
    }

    for (id, uid_next, top) in triples(conn, UID_NEXT_BAD)? {
        report.problems.push(problem(
            "uid-next",
            format!("mailbox {id}: UIDNEXT {uid_next} is not above UID {top}"),
        ));
        found.counters = true;
    }
    for (id, modseq, top) in triples(conn, MODSEQ_BAD)? {
        report.problems.push(problem(
            "counter",
            format!("mailbox {id}: HIGHESTMODSEQ {modseq} is below MODSEQ {top}"),
        ));
        found.counters = true;
    }

    let referenced: Vec<[u8; 32]> = {
        let mut stmt = conn
            .prepare("SELECT blob FROM messages UNION SELECT blob FROM queue")
            .db()?;
        let rows = stmt.query_map([], |r| r.get(0)).db()?;
        rows.collect::<rusqlite::Result<Vec<_>>>().db()?
    };
    for id in referenced.into_iter().map(BlobId) {
        let Some(fault) = blob_fault(conn, &id)? else {
            continue;
        };
        let (messages, entries) = referrers(conn, &id)?;
        let what = match fault {
            BlobFault::Missing => "is missing",
            BlobFault::Damaged => "does not match its hash",
        };
        for (mailbox, uid) in messages {
            report.problems.push(problem(
                fault.kind(),
                format!("mailbox {mailbox} UID {uid}: blob {id} {what}"),
            ));
        }
        for entry in entries {
            report.problems.push(problem(
                fault.kind(),
                format!("queue entry {entry}: blob {id} {what}"),
            ));
        }
        found.bad_blobs.push(id);
    }

    let (orphans, bytes): (u64, u64) = conn
        .query_row(ORPHANS, [], |r| Ok((r.get(0)?, r.get(1)?)))
        .db()?;
    if orphans > 0 {
        report.problems.push(problem(
            "orphan-blob",
            format!("{orphans} blobs ({bytes} bytes) referenced by no message or queue entry"),
        ));
        found.orphans = true;
    }
    Ok(found)
}

/// Fixes what the scan found, re-verifying each finding first. Returns the changed mailboxes.
fn repair(tx: &Connection, found: &Findings) -> Result<Vec<MailboxChange>> {
    if found.counters {
        for (id, _, top) in triples(tx, UID_NEXT_BAD)? {
            tx.execute(
                "UPDATE mailboxes SET uid_next = ?2 WHERE id = ?1",
                params![id, top + 1],
            )
            .db()?;
        }
        for (id, _, top) in triples(tx, MODSEQ_BAD)? {
            tx.execute(
                "UPDATE mailboxes SET highest_modseq = ?2 WHERE id = ?1",
                params![id, top],
            )
            .db()?;
        }
    }
    let mut changed: BTreeMap<i64, Head> = BTreeMap::new();
    for id in &found.bad_blobs {
        if blob_fault(tx, id)?.is_none() {
            continue;
        }
        let (messages, entries) = referrers(tx, id)?;
        let mut by_mailbox: BTreeMap<i64, Vec<u32>> = BTreeMap::new();
        for (mailbox, uid) in messages {
            by_mailbox.entry(mailbox).or_default().push(uid);
        }
        for (mailbox, uids) in by_mailbox {
            let head = match changed.entry(mailbox) {
                std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::btree_map::Entry::Vacant(e) => {
                    e.insert(Head::load(tx, MailboxId(mailbox))?)
                }
            };
            let modseq = head.bump();
            remove_messages(tx, MailboxId(mailbox), &uids, modseq)?;
            head.save(tx)?;
        }
        for entry in entries {
            tx.execute("DELETE FROM queue WHERE id = ?1", [entry])
                .db()?;
        }
        tx.execute("DELETE FROM blobs WHERE id = ?1", [id.0]).db()?;
    }
    if found.orphans {
        collect_garbage(tx)?;
    }
    Ok(changed.values().map(Head::change).collect())
}

#[async_trait]
impl Maintenance for Embedded {
    async fn check(&self, repair_it: bool) -> Result<CheckReport> {
        let mut found = self.read(scan).await?;
        let repairable = found.counters || found.orphans || !found.bad_blobs.is_empty();
        if !repair_it || !repairable {
            return Ok(found.report);
        }
        let (found, changes) = self
            .write(move |tx| {
                let changes = repair(tx, &found)?;
                for p in &mut found.report.problems {
                    p.repaired = matches!(
                        p.kind.as_str(),
                        "uid-next" | "counter" | "missing-blob" | "damaged-blob" | "orphan-blob"
                    );
                }
                Ok((found, changes))
            })
            .await?;
        self.notify(changes);
        Ok(found.report)
    }
}
