//! Versioned schema migrations, kept in `PRAGMA user_version`.
//!
//! Migration *n* (1-based) brings the schema from version *n − 1* to *n*. Migrations are only
//! ever appended; a database newer than this code is refused.

use rusqlite::Connection;

use super::Db;
use crate::error::{Result, StoreError};

/// Every migration, in order.
const MIGRATIONS: &[&str] = &[V1, V2];

/// Version 2: administrative records; log indexes for per-organisation queries.
const V2: &str = r#"
CREATE TABLE records (
    kind    TEXT NOT NULL,
    key     TEXT NOT NULL,
    org     INTEGER,
    version INTEGER NOT NULL,
    value   TEXT NOT NULL,
    PRIMARY KEY (kind, key)
);
CREATE INDEX records_org ON records(kind, org, key);
CREATE INDEX logs_org ON logs(kind, org, time);
"#;

/// Version 1: everything.
const V1: &str = r#"
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);

CREATE TABLE orgs (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    name    TEXT NOT NULL UNIQUE,
    edition TEXT NOT NULL,
    created INTEGER NOT NULL
);

-- name: lowercase A-labels; display: the form it was added in.
CREATE TABLE domains (
    name     TEXT PRIMARY KEY,
    display  TEXT NOT NULL,
    org      INTEGER NOT NULL REFERENCES orgs(id),
    verified INTEGER NOT NULL DEFAULT 0,
    created  INTEGER NOT NULL
);
CREATE INDEX domains_org ON domains(org);

-- The single address namespace: one row per account address, alias and group, keyed by
-- directory::address_key.
CREATE TABLE addresses (
    key  TEXT PRIMARY KEY,
    kind TEXT NOT NULL
);

CREATE TABLE accounts (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    org           INTEGER NOT NULL REFERENCES orgs(id),
    key           TEXT NOT NULL UNIQUE,
    address       TEXT NOT NULL,
    domain        TEXT NOT NULL REFERENCES domains(name),
    display_name  TEXT,
    password_hash TEXT,
    enabled       INTEGER NOT NULL,
    quota_bytes   INTEGER,
    kind          TEXT NOT NULL,
    created       INTEGER NOT NULL
);
CREATE INDEX accounts_org ON accounts(org, key);
CREATE INDEX accounts_domain ON accounts(domain);

CREATE TABLE aliases (
    key     TEXT PRIMARY KEY,
    address TEXT NOT NULL,
    domain  TEXT NOT NULL REFERENCES domains(name),
    account INTEGER NOT NULL REFERENCES accounts(id)
);
CREATE INDEX aliases_account ON aliases(account, key);
CREATE INDEX aliases_domain ON aliases(domain);

-- members, representatives: JSON arrays of addresses.
CREATE TABLE mail_groups (
    key             TEXT PRIMARY KEY,
    address         TEXT NOT NULL,
    domain          TEXT NOT NULL REFERENCES domains(name),
    org             INTEGER NOT NULL REFERENCES orgs(id),
    name            TEXT,
    members         TEXT NOT NULL,
    representatives TEXT NOT NULL
);
CREATE INDEX groups_org ON mail_groups(org, key);
CREATE INDEX groups_domain ON mail_groups(domain);

-- DirectoryStore::delete_account removes an account's mailboxes first.
CREATE TABLE mailboxes (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    account        INTEGER NOT NULL REFERENCES accounts(id),
    name           TEXT NOT NULL,
    role           TEXT,
    subscribed     INTEGER NOT NULL,
    uid_validity   INTEGER NOT NULL,
    uid_next       INTEGER NOT NULL,
    highest_modseq INTEGER NOT NULL,
    UNIQUE (account, name)
);

-- flags: Flags::system_bits; keywords: Flags::keywords_for_storage; blob: BlobId bytes.
-- No foreign key to blobs: Maintenance::check finds and repairs missing blobs.
CREATE TABLE messages (
    mailbox       INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    uid           INTEGER NOT NULL,
    modseq        INTEGER NOT NULL,
    flags         INTEGER NOT NULL,
    keywords      TEXT NOT NULL,
    internal_date INTEGER NOT NULL,
    size          INTEGER NOT NULL,
    blob          BLOB NOT NULL,
    PRIMARY KEY (mailbox, uid)
) WITHOUT ROWID;
CREATE INDEX messages_modseq ON messages(mailbox, modseq);
CREATE INDEX messages_blob ON messages(blob);

-- Expunge tombstones for QRESYNC / changes_since.
CREATE TABLE expunged (
    mailbox INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    uid     INTEGER NOT NULL,
    modseq  INTEGER NOT NULL,
    PRIMARY KEY (mailbox, uid)
) WITHOUT ROWID;
CREATE INDEX expunged_modseq ON expunged(mailbox, modseq);

-- Content-addressed blobs (id = SHA-256 of data); data last so that reading size does not
-- walk the overflow pages.
CREATE TABLE blobs (
    id   BLOB PRIMARY KEY,
    size INTEGER NOT NULL,
    data BLOB NOT NULL
);

-- recipients: JSON array of QueueRecipient.
CREATE TABLE queue (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    sender       TEXT NOT NULL,
    recipients   TEXT NOT NULL,
    blob         BLOB NOT NULL,
    size         INTEGER NOT NULL,
    created      INTEGER NOT NULL,
    next_attempt INTEGER NOT NULL,
    lease_owner  TEXT,
    lease_until  INTEGER
);
CREATE INDEX queue_due ON queue(next_attempt);
CREATE INDEX queue_blob ON queue(blob);

CREATE TABLE logs (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    kind    TEXT NOT NULL,
    time    INTEGER NOT NULL,
    org     INTEGER,
    account TEXT,
    data    TEXT NOT NULL
);
CREATE INDEX logs_time ON logs(kind, time);
CREATE INDEX logs_account ON logs(kind, account, time);
"#;

/// The schema version this code writes.
pub(super) const VERSION: usize = MIGRATIONS.len();

/// Applies the migrations the database lacks, each in its own transaction.
pub(super) fn migrate(conn: &mut Connection) -> Result<()> {
    let current: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .db()?;
    let current = usize::try_from(current)
        .map_err(|_| StoreError::Corrupt(format!("schema version {current}")))?;
    if current > VERSION {
        return Err(StoreError::Backend(format!(
            "the store has schema version {current}, newer than this software ({VERSION}); upgrade mailcore"
        )));
    }
    for (done, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        let tx = conn.transaction().db()?;
        tx.execute_batch(sql).db()?;
        tx.pragma_update(None, "user_version", done as i64 + 1)
            .db()?;
        tx.commit().db()?;
    }
    Ok(())
}
