//! # mailcore-store
//!
//! Everything mailcore keeps across restarts, behind small async traits, with two backends.
//!
//! This crate will own:
//! - the **traits**, split by responsibility: mail data (mailboxes with special-use roles,
//!   messages with UID, flags, MODSEQ, change notifications, quota), content-addressed blobs,
//!   the directory (organisations, domains, accounts, aliases, groups, credentials), the
//!   outbound queue (per-recipient state, leases shared by several processes) and logs with
//!   retention;
//! - the **embedded default backend** (durable: fsync before a message is acknowledged, with
//!   group commit), used with zero setup by the reference server;
//! - the **PostgreSQL backend** for several server processes on one database;
//! - one **conformance suite** that every backend passes.
//!
//! ```text
//!  smtp / imap / pop3 / admin ─► traits ─┬─► embedded backend (local disk)
//!                                        └─► PostgreSQL backend
//! ```
//!
//! Messages are stored as the raw bytes that [`mailcore::message::Message`] parses.
