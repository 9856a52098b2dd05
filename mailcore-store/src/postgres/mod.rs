//! The PostgreSQL backend: several mailcore processes share one database.
//!
//! ```text
//!  process A ─┐                         ┌─ schema_migrations (versioned, advisory-locked)
//!  process B ─┼─ pool ─► PostgreSQL ────┤  mailboxes  (uid_next / highest_modseq row locks)
//!  process C ─┘    ▲                    │  messages · expunged (tombstones) · blobs
//!                  │                    │  queue (FOR UPDATE SKIP LOCKED leases)
//!   LISTEN ◄───────┴── pg_notify ◄──────┘  orgs · domains · addresses · accounts · …
//! ```
//!
//! * **UIDs and MODSEQs** come from the mailbox row: every append, flag change, copy, move and
//!   expunge runs `UPDATE mailboxes … RETURNING` inside its transaction, so the row lock
//!   serialises writers across processes without any in-process lock.
//! * **UIDVALIDITY** comes from a meta row: `max(epoch seconds, last + 1)`, so it never repeats.
//! * **Blobs** are content-addressed rows (`INSERT … ON CONFLICT DO NOTHING`). Writers that
//!   reference blobs hold a shared advisory lock; garbage collection holds it exclusively, so a
//!   blob is never collected between being stored and being referenced.
//! * **Queue leases** use `FOR UPDATE SKIP LOCKED`, so two processes never get one entry.
//! * **Change notifications**: each committed change calls `pg_notify` on a channel named after
//!   the schema; one dedicated connection per [`Postgres`] listens and forwards them to
//!   [`MailStore::subscribe_changes`](crate::mailbox::MailStore::subscribe_changes). Changes of
//!   the instance itself are forwarded directly, at commit.
//! * **Isolation**: every instance works in one schema (`mailcore` by default), so tests and
//!   tenants can share one database.

mod blob;
mod check;
mod directory;
mod log;
mod mailbox;
mod queue;
mod record;
mod schema;
#[cfg(test)]
mod tests;

use std::future::poll_fn;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio::sync::{broadcast, oneshot};
use tokio::task::JoinHandle;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{AsyncMessage, NoTls, Row};

use crate::error::{Result, StoreError};
use crate::mailbox::{AccountId, MailboxChange, MailboxId, ModSeq};

/// The schema [`Postgres::connect`] uses.
pub const DEFAULT_SCHEMA: &str = "mailcore";

/// Longest schema name accepted (the notification channel name must stay within PostgreSQL's
/// 63-byte identifier limit).
pub const MAX_SCHEMA_NAME: usize = 46;

/// Connections kept in the pool of one [`Postgres`] (plus one for notifications).
pub const POOL_SIZE: usize = 8;

/// How many change notifications a slow subscriber may lag behind before it misses some.
const CHANGE_BACKLOG: usize = 1024;

/// How long the listener waits before reconnecting after losing its connection.
const LISTEN_RETRY: Duration = Duration::from_secs(1);

/// A mail store in a PostgreSQL database, shareable by several processes.
///
/// Implements every store trait ([`crate::Backend`]).
pub struct Postgres {
    pool: Pool,
    schema: String,
    channel: String,
    /// Identifies this instance in notification payloads, so it skips its own.
    instance: u64,
    changes: broadcast::Sender<MailboxChange>,
    listener: JoinHandle<()>,
}

impl std::fmt::Debug for Postgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Postgres")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

impl Postgres {
    /// Connects to `url` (e.g. `postgres://user@host:5432/db`) using the schema
    /// [`DEFAULT_SCHEMA`]; creates or migrates the tables.
    pub async fn connect(url: &str) -> Result<Postgres> {
        Postgres::connect_schema(url, DEFAULT_SCHEMA).await
    }

    /// Connects to `url` using `schema` (lowercase ASCII letters, digits and `_`, starting with
    /// a letter or `_`, at most [`MAX_SCHEMA_NAME`] bytes); creates the schema if missing and
    /// runs the migrations. Every pooled connection has its `search_path` set to the schema.
    pub async fn connect_schema(url: &str, schema: &str) -> Result<Postgres> {
        check_schema_name(schema)?;
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Invalid(format!("database url: {e}")))?;
        let options = match config.get_options() {
            Some(o) if !o.is_empty() => format!("{o} -c search_path={schema}"),
            _ => format!("-c search_path={schema}"),
        };
        config.options(options);
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .build()
            .map_err(|e| StoreError::Backend(format!("connection pool: {e}")))?;
        {
            let mut client = pool.get().await.map_err(pool_error)?;
            schema::migrate(&mut client, schema).await?;
        }
        let channel = format!("mailcore_changes_{schema}");
        let instance = random_u64();
        let (changes, _) = broadcast::channel(CHANGE_BACKLOG);
        let (ready_tx, ready_rx) = oneshot::channel();
        let listener = tokio::spawn(listen(
            config,
            channel.clone(),
            instance,
            changes.clone(),
            ready_tx,
        ));
        match ready_rx.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                listener.abort();
                return Err(e);
            }
            Err(_) => return Err(StoreError::Backend("notification listener stopped".into())),
        }
        Ok(Postgres {
            pool,
            schema: schema.to_owned(),
            channel,
            instance,
            changes,
            listener,
        })
    }

    /// The schema this instance works in.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// Drops the schema with everything in it (for tests and the conformance suite). The
    /// instance is unusable afterwards.
    pub async fn drop_schema(&self) -> Result<()> {
        let client = self.pool.get().await.map_err(pool_error)?;
        client
            .batch_execute(&format!(
                "DROP SCHEMA IF EXISTS \"{}\" CASCADE",
                self.schema
            ))
            .await
            .map_err(db_error)?;
        Ok(())
    }

    /// A pooled connection.
    async fn client(&self) -> Result<deadpool_postgres::Client> {
        self.pool.get().await.map_err(pool_error)
    }

    /// Queues a change notification inside `tx`; PostgreSQL delivers it to other instances
    /// when the transaction commits.
    async fn notify<C: GenericClient>(&self, tx: &C, change: &MailboxChange) -> Result<()> {
        let payload = format!(
            "{}:{}:{}:{}",
            change.account.0, change.mailbox.0, change.modseq.0, self.instance
        );
        exec(tx, "SELECT pg_notify($1, $2)", &[&self.channel, &payload]).await?;
        Ok(())
    }

    /// Tells this instance's subscribers about committed changes.
    fn announce(&self, changes: &[MailboxChange]) {
        for c in changes {
            // No receiver is not an error.
            let _ = self.changes.send(*c);
        }
    }

    /// The advisory lock key that serialises blob garbage collection against writers.
    fn blob_lock_key(&self) -> String {
        format!("mailcore-blobs:{}", self.schema)
    }

    /// Takes the shared blob lock for the rest of `tx` (writers that reference blobs).
    async fn lock_blobs_shared<C: GenericClient>(&self, tx: &C) -> Result<()> {
        exec(
            tx,
            "SELECT pg_advisory_xact_lock_shared(hashtext($1))",
            &[&self.blob_lock_key()],
        )
        .await?;
        Ok(())
    }

    /// Takes the exclusive blob lock for the rest of `tx` (garbage collection).
    async fn lock_blobs_exclusive<C: GenericClient>(&self, tx: &C) -> Result<()> {
        exec(
            tx,
            "SELECT pg_advisory_xact_lock(hashtext($1))",
            &[&self.blob_lock_key()],
        )
        .await?;
        Ok(())
    }
}

/// Refuses schema names that would need quoting.
fn check_schema_name(schema: &str) -> Result<()> {
    let ok = !schema.is_empty()
        && schema.len() <= MAX_SCHEMA_NAME
        && schema
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !schema.as_bytes()[0].is_ascii_digit()
        && !schema.starts_with("pg_");
    if ok {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "schema name {schema:?}: use 1 to {MAX_SCHEMA_NAME} of a-z, 0-9 and _, not starting with a digit or pg_"
        )))
    }
}

/// A random number (std's hasher keys are random per process and per call).
pub(crate) fn random_u64() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}

/// The notification listener: one dedicated connection running `LISTEN`, reconnecting when it
/// is lost. Reports the first `LISTEN`'s outcome through `ready`.
async fn listen(
    config: tokio_postgres::Config,
    channel: String,
    instance: u64,
    changes: broadcast::Sender<MailboxChange>,
    ready: oneshot::Sender<Result<()>>,
) {
    let mut ready = Some(ready);
    loop {
        match config.connect(NoTls).await {
            Ok((client, mut conn)) => {
                let sql = format!("LISTEN \"{channel}\"");
                let listen = client.batch_execute(&sql);
                tokio::pin!(listen);
                let mut listening = false;
                loop {
                    tokio::select! {
                        r = &mut listen, if !listening => {
                            listening = true;
                            match r {
                                Ok(()) => {
                                    if let Some(tx) = ready.take() {
                                        let _ = tx.send(Ok(()));
                                    }
                                }
                                Err(e) => {
                                    if let Some(tx) = ready.take() {
                                        let _ = tx.send(Err(db_error(e)));
                                        return;
                                    }
                                    break;
                                }
                            }
                        }
                        msg = poll_fn(|cx| conn.poll_message(cx)) => match msg {
                            Some(Ok(AsyncMessage::Notification(n))) => {
                                if let Some(change) = parse_payload(n.payload(), instance) {
                                    let _ = changes.send(change);
                                }
                            }
                            Some(Ok(_)) => {}
                            Some(Err(_)) | None => break,
                        }
                    }
                }
            }
            Err(e) => {
                if let Some(tx) = ready.take() {
                    let _ = tx.send(Err(db_error(e)));
                    return;
                }
            }
        }
        tokio::time::sleep(LISTEN_RETRY).await;
    }
}

/// Parses `account:mailbox:modseq:instance`; `None` for malformed payloads and for changes
/// this instance made itself (those were announced at commit).
fn parse_payload(payload: &str, instance: u64) -> Option<MailboxChange> {
    let mut parts = payload.split(':');
    let account = parts.next()?.parse().ok()?;
    let mailbox = parts.next()?.parse().ok()?;
    let modseq = parts.next()?.parse().ok()?;
    let origin: u64 = parts.next()?.parse().ok()?;
    if origin == instance || parts.next().is_some() {
        return None;
    }
    Some(MailboxChange {
        account: AccountId(account),
        mailbox: MailboxId(mailbox),
        modseq: ModSeq(modseq),
    })
}

/// Maps a database error: unique violation → `AlreadyExists`, foreign key violation →
/// `NotFound`, anything else → `Backend`.
pub(crate) fn db_error(e: tokio_postgres::Error) -> StoreError {
    let detail = match e.as_db_error() {
        Some(db) => match db.detail() {
            Some(d) => format!("{}: {d}", db.message()),
            None => db.message().to_owned(),
        },
        None => e.to_string(),
    };
    match e.code() {
        Some(c) if *c == SqlState::UNIQUE_VIOLATION => StoreError::AlreadyExists(detail),
        Some(c) if *c == SqlState::FOREIGN_KEY_VIOLATION => StoreError::NotFound(detail),
        _ => StoreError::Backend(detail),
    }
}

/// Maps a pool error.
fn pool_error(e: deadpool_postgres::PoolError) -> StoreError {
    match e {
        deadpool_postgres::PoolError::Backend(e) => db_error(e),
        e => StoreError::Backend(format!("connection pool: {e}")),
    }
}

/// Runs a query with a cached prepared statement.
pub(crate) async fn query<C: GenericClient>(
    c: &C,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<Row>> {
    let st = c.prepare_cached(sql).await.map_err(db_error)?;
    c.query(&st, params).await.map_err(db_error)
}

/// Runs a query expected to return at most one row.
pub(crate) async fn query_opt<C: GenericClient>(
    c: &C,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Option<Row>> {
    let st = c.prepare_cached(sql).await.map_err(db_error)?;
    c.query_opt(&st, params).await.map_err(db_error)
}

/// Runs a query expected to return exactly one row.
pub(crate) async fn query_one<C: GenericClient>(
    c: &C,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Row> {
    let st = c.prepare_cached(sql).await.map_err(db_error)?;
    c.query_one(&st, params).await.map_err(db_error)
}

/// Runs a statement; returns the number of rows affected.
pub(crate) async fn exec<C: GenericClient>(
    c: &C,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<u64> {
    let st = c.prepare_cached(sql).await.map_err(db_error)?;
    c.execute(&st, params).await.map_err(db_error)
}

/// Reads a column, mapping conversion failures to `Backend`.
pub(crate) fn col<'a, T: tokio_postgres::types::FromSql<'a>>(
    row: &'a Row,
    idx: usize,
) -> Result<T> {
    row.try_get(idx).map_err(db_error)
}

/// Converts a stored non-negative integer, reporting out-of-range values as corruption.
pub(crate) fn to_u32(v: i64, what: &str) -> Result<u32> {
    u32::try_from(v).map_err(|_| StoreError::Corrupt(format!("{what} {v} out of range")))
}

/// Converts a stored non-negative integer, reporting out-of-range values as corruption.
pub(crate) fn to_u64(v: i64, what: &str) -> Result<u64> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("{what} {v} out of range")))
}

/// Converts a caller's unsigned integer for storage.
pub(crate) fn to_i64(v: u64, what: &str) -> Result<i64> {
    i64::try_from(v).map_err(|_| StoreError::Invalid(format!("{what} {v} out of range")))
}
