//! # mailcore-store
//!
//! Everything mailcore keeps across restarts, behind small async traits split by
//! responsibility, with two backends and one conformance suite that both pass.
//!
//! ```text
//!  smtp / imap / pop3 / admin / cli
//!        │
//!        ▼
//!  MailStore · BlobStore · DirectoryStore · QueueStore · LogStore · Maintenance   (traits)
//!        │                                   = Backend
//!        ├──► embedded::Embedded  — SQLite (WAL, synchronous=FULL) in one local file,
//!        │                          blobs inside it, a single writer thread with group commit
//!        └──► postgres::Postgres  — several server processes on one PostgreSQL:
//!                                   row-locked UID counters, FOR UPDATE SKIP LOCKED queue
//!                                   leases, LISTEN/NOTIFY change notifications
//! ```
//!
//! Every write returns only once it is durable. Backends grow by adding methods and tables;
//! versioned schema migrations run at open.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use mailcore_store::{open, mailbox::{NewMessage, INBOX}, directory::{Edition, NewAccount, AccountKind}};
//! let dir = std::env::temp_dir().join(format!("mailcore-doc-{}", std::process::id()));
//! let store = open(dir.to_str().unwrap()).await.unwrap();
//! let org = store.create_org("Example", Edition::Basic).await.unwrap();
//! store.add_domain(org.id, &"example.com".parse().unwrap()).await.unwrap();
//! let tom = store.create_account(NewAccount {
//!     org: org.id, address: "tom@example.com".parse().unwrap(), display_name: None,
//!     password_hash: None, quota_bytes: None, kind: AccountKind::Member,
//! }).await.unwrap();
//! store.ensure_default_mailboxes(tom.id).await.unwrap();
//! let inbox = store.mailbox(tom.id, INBOX).await.unwrap().unwrap();
//! let raw = bytes::Bytes::from_static(b"Subject: hi\r\n\r\nhello\r\n");
//! let done = store.append(inbox.id, NewMessage { raw: raw.clone(), flags: Default::default(), internal_date: 0 }).await.unwrap();
//! assert_eq!(store.read_message(inbox.id, done.uid).await.unwrap(), Some(raw));
//! # drop(store); std::fs::remove_dir_all(&dir).ok();
//! # });
//! ```

pub mod admin;
pub mod auth;
pub mod blob;
pub mod check;
pub mod conformance;
pub mod directory;
pub mod embedded;
pub mod error;
pub mod log;
pub mod mailbox;
pub mod password;
pub mod postgres;
pub mod provision;
pub mod queue;
pub mod record;
pub mod stats;

pub use error::{Result, StoreError};

/// Everything a store does: one object implementing every trait.
pub trait Backend:
    mailbox::MailStore
    + blob::BlobStore
    + directory::DirectoryStore
    + queue::QueueStore
    + log::LogStore
    + check::Maintenance
    + record::RecordStore
{
}

impl<T> Backend for T where
    T: mailbox::MailStore
        + blob::BlobStore
        + directory::DirectoryStore
        + queue::QueueStore
        + log::LogStore
        + check::Maintenance
        + record::RecordStore
{
}

/// Opens a store: a `postgres://` (or `postgresql://`) URL opens the PostgreSQL backend,
/// anything else is a directory for the embedded backend (created if missing).
pub async fn open(location: &str) -> Result<std::sync::Arc<dyn Backend>> {
    if location.starts_with("postgres://") || location.starts_with("postgresql://") {
        Ok(std::sync::Arc::new(
            postgres::Postgres::connect(location).await?,
        ))
    } else {
        Ok(std::sync::Arc::new(
            embedded::Embedded::open(std::path::Path::new(location)).await?,
        ))
    }
}

/// Seconds since the epoch, now.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
