//! The embedded backend: one SQLite file (`mailcore.db`) in a directory, for a single server
//! process.
//!
//! ```text
//!  async callers ──write job──► mpsc ──► writer thread: BEGIN IMMEDIATE
//!        │                                 SAVEPOINT / job / RELEASE  (× up to 256 queued jobs)
//!        │                                 COMMIT  (one fsync for the batch)
//!        │ ◄──────────── oneshot reply ────┘ then MailboxChange broadcast
//!        └──read──► spawn_blocking ► pooled read-only connection (WAL snapshot)
//! ```
//!
//! - The database runs in WAL mode with `synchronous=FULL`: a write returns once its commit is
//!   on disk. Blobs live in the same file, so a message's bytes and its metadata commit in one
//!   transaction and a torn write is never visible.
//! - One writer thread owns the only write connection. It drains every job queued, runs each
//!   inside its own savepoint (a failing job rolls back alone and returns its error) and commits
//!   the batch once: 32 concurrent appends cost one fsync, not 32. The single writer also
//!   serialises UID and MODSEQ allocation and queue leases.
//! - Reads run on a small pool of read-only connections on the blocking thread pool; each read
//!   sees one consistent snapshot.
//! - The schema is versioned (`PRAGMA user_version`); migrations run at open.

mod check;
mod directory;
mod log;
mod mail;
mod queue;
mod record;
mod schema;
#[cfg(test)]
mod tests;
mod writer;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, Transaction};
use tokio::sync::{Semaphore, broadcast};

use crate::error::{Result, StoreError};
use crate::mailbox::MailboxChange;

use writer::Writer;

/// Name of the database file inside the store directory.
pub const DATABASE_FILE: &str = "mailcore.db";

/// How long a connection waits for a lock held by another connection before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Most read connections open at once.
const MAX_READERS: usize = 8;
/// Size the WAL file is truncated to after a checkpoint, in bytes.
const WAL_SIZE_LIMIT: i64 = 64 * 1024 * 1024;
/// Capacity of the change-notification channel (slow receivers see `Lagged`).
const CHANGE_CAPACITY: usize = 1024;

/// The embedded store: SQLite in WAL mode, blobs inside it, a single writer thread with group
/// commit and a pool of read connections.
pub struct Embedded {
    path: PathBuf,
    writer: Writer,
    readers: Arc<ReadPool>,
    changes: broadcast::Sender<MailboxChange>,
}

impl fmt::Debug for Embedded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Embedded")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Embedded {
    /// Opens (creating if needed) the store in `dir`, whose database is `dir/mailcore.db`, and
    /// brings its schema up to date.
    pub async fn open(dir: &Path) -> Result<Embedded> {
        let dir = dir.to_path_buf();
        tokio::task::spawn_blocking(move || Embedded::open_blocking(&dir))
            .await
            .map_err(joined)?
    }

    fn open_blocking(dir: &Path) -> Result<Embedded> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Backend(format!("creating {}: {e}", dir.display())))?;
        let path = dir.join(DATABASE_FILE);
        let mut conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .db()?;
        conn.busy_timeout(BUSY_TIMEOUT).db()?;
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
            .db()?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Backend(format!(
                "{}: cannot enable WAL (journal mode {mode})",
                path.display()
            )));
        }
        conn.pragma_update(None, "synchronous", "FULL").db()?;
        conn.pragma_update(None, "foreign_keys", true).db()?;
        // Truncate the WAL back to this size after a checkpoint instead of keeping its peak.
        conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT)
            .db()?;
        conn.set_prepared_statement_cache_capacity(64);
        schema::migrate(&mut conn)?;
        let readers = Arc::new(ReadPool::new(path.clone()));
        // Open one reader now so that a store that cannot be read fails at open.
        let first = readers.connect()?;
        readers.put(first);
        let writer = Writer::start(conn)?;
        let (changes, _) = broadcast::channel(CHANGE_CAPACITY);
        Ok(Embedded {
            path,
            writer,
            readers,
            changes,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many transactions the writer thread has committed since open (one per batch of
    /// write jobs, so usually far fewer than the writes made).
    pub fn commits(&self) -> u64 {
        self.writer.commits()
    }

    /// Runs `job` on the writer thread inside the next batch's transaction and returns its
    /// result once the batch is durable.
    async fn write<T, F>(&self, job: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T> + Send + 'static,
    {
        self.writer.run(job).await
    }

    /// Runs `read` on a pooled read-only connection, inside one read transaction (a single
    /// consistent snapshot).
    async fn read<T, F>(&self, read: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let permit = self
            .readers
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Backend("store is closed".into()))?;
        let pool = self.readers.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let conn = pool.take()?;
            let result = match conn.unchecked_transaction() {
                Ok(tx) => read(&tx),
                Err(e) => Err(e.into_store()),
            };
            pool.put(conn);
            result
        })
        .await
        .map_err(joined)?
    }

    /// Announces changed mailboxes (after their changes committed).
    fn notify(&self, changes: impl IntoIterator<Item = MailboxChange>) {
        for change in changes {
            // No receiver is not an error.
            let _ = self.changes.send(change);
        }
    }
}

/// Idle read-only connections, opened on demand, at most [`MAX_READERS`] in use.
struct ReadPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
}

impl ReadPool {
    fn new(path: PathBuf) -> ReadPool {
        ReadPool {
            path,
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(MAX_READERS)),
        }
    }

    fn connect(&self) -> Result<Connection> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .db()?;
        conn.busy_timeout(BUSY_TIMEOUT).db()?;
        conn.set_prepared_statement_cache_capacity(64);
        Ok(conn)
    }

    fn take(&self) -> Result<Connection> {
        let idle = self.idle.lock().map_err(poisoned)?.pop();
        match idle {
            Some(conn) => Ok(conn),
            None => self.connect(),
        }
    }

    fn put(&self, conn: Connection) {
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < MAX_READERS
        {
            idle.push(conn);
        }
    }
}

/// Converts SQLite errors into [`StoreError`]s.
trait IntoStore {
    fn into_store(self) -> StoreError;
}

impl IntoStore for rusqlite::Error {
    fn into_store(self) -> StoreError {
        if is_unique_violation(&self) {
            return StoreError::AlreadyExists(self.to_string());
        }
        StoreError::Backend(format!("sqlite: {self}"))
    }
}

/// `.db()?` on rusqlite results.
trait Db<T> {
    fn db(self) -> Result<T>;
}

impl<T> Db<T> for rusqlite::Result<T> {
    fn db(self) -> Result<T> {
        self.map_err(IntoStore::into_store)
    }
}

/// Whether the error is a UNIQUE or PRIMARY KEY constraint violation.
fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
    )
}

/// Maps a UNIQUE violation to `AlreadyExists(what)`, anything else as usual.
fn exists_as(what: impl fmt::Display) -> impl FnOnce(rusqlite::Error) -> StoreError {
    move |e| {
        if is_unique_violation(&e) {
            StoreError::AlreadyExists(what.to_string())
        } else {
            e.into_store()
        }
    }
}

fn poisoned<T>(_: std::sync::PoisonError<T>) -> StoreError {
    StoreError::Backend("a store lock was poisoned by a panic".into())
}

fn joined(e: tokio::task::JoinError) -> StoreError {
    StoreError::Backend(format!("store task failed: {e}"))
}

/// Data read back from the database that does not parse.
fn corrupt(what: impl fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}
