//! # mailcore-pop3
//!
//! POP3 for mailcore (RFC 1939 with RFC 2449 CAPA and RFC 5034 SASL): a sans-I/O session and
//! a thin tokio + rustls shell, reading the store's INBOX.
//!
//! This crate will own the POP3 command parser and session state machine (CAPA, STLS,
//! USER/PASS, AUTH PLAIN, STAT, LIST, RETR, TOP, UIDL, DELE, RSET, NOOP, QUIT), the rule that
//! deletions happen only at QUIT, its limits, and the POP3/POP3S listeners. Logins go through
//! the [`mailcore::hook::Stage::Login`] hooks like every protocol.
//!
//! ```text
//!  socket ─► line framing ─► session ─► store (INBOX snapshot, UIDL = stable ids)
//! ```
