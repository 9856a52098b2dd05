//! # mailcore-imap
//!
//! IMAP for mailcore: an IMAP4rev2 server (RFC 9051, IMAP4rev1 clients too) over the store,
//! and the IMAP client that migration from an old provider uses.
//!
//! This crate will own:
//! - an **IMAP codec** without I/O for both directions (commands and responses): framing kept
//!   apart from parsing, literals (synchronising, LITERAL+/LITERAL-) with limits, a decoder
//!   whose outcomes are explicit (need more bytes / literal announced / malformed), modified
//!   UTF-7 and UTF8=ACCEPT mailbox names;
//! - a **server session** state machine: SELECT/EXAMINE, FETCH (ENVELOPE, BODYSTRUCTURE and
//!   sections from [`mailcore::message::Message::sections`]), SEARCH over decoded headers and
//!   bodies, STORE, COPY/MOVE, IDLE, UIDPLUS, CONDSTORE/QRESYNC, QUOTA, SPECIAL-USE;
//! - a thin tokio + rustls shell with STARTTLS and implicit-TLS listeners.
//!
//! ```text
//!  socket ─► framing ─► command decoder ─► session ─► store (mailboxes, messages, changes)
//!                                             │
//!                       response encoder ◄────┘
//! ```
