//! # mailcore-migrate
//!
//! Migration from an old mail provider: jobs that copy every member's mail (folders, flags,
//! internal dates) over IMAP or POP3 into mailcore, resumably.
//!
//! This crate will own: migration jobs (which accounts, which provider preset or custom host,
//! protocol and TLS, a verification step before starting), credentials entered by members or
//! the admin, delegated (admin-on-behalf) IMAP login, checkpoints so that re-runs fetch only
//! what is new and nothing is imported twice, pause/resume/stop surviving a restart,
//! per-member progress and logs, completion notices by mail, and import from mbox and Maildir
//! files.
//!
//! ```text
//!  old provider (IMAP/POP3) ─► client (mailcore-imap codec) ─► checkpoint ─► store
//! ```
