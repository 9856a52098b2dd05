//! # mailcore-pop3
//!
//! POP3 for mailcore (RFC 1939, with RFC 2449 `CAPA` and response codes, RFC 5034 `AUTH
//! PLAIN` and RFC 2595 `STLS`): a sans-I/O session and a thin tokio + rustls shell that serves
//! each account's `INBOX` from the store.
//!
//! ```text
//!  socket ─► shell (tokio/rustls, timeouts, connection limits)
//!              │  bytes                         ▲ response bytes
//!              ▼                                │
//!           session core: framing ─► command ─► state machine ─► events
//!                                                                  │
//!   Login ─► auth::login + hooks (Stage::Login) + login log        │
//!   Load ─► lock + INBOX snapshot (UIDL = "<uidvalidity>.<uid>") ◄─┤  answered by the shell
//!   Retrieve ─► read_message (session dot-stuffs, TOP cuts)      ◄─┤
//!   Commit (QUIT only) ─► \Deleted + expunge those UIDs          ◄─┘
//! ```
//!
//! - [`command`]: the command parser (borrowing, case-insensitive, NUL refused);
//! - [`response`]: status lines with response codes, unique-ids, dot-stuffed message bodies;
//! - [`session`]: the AUTHORIZATION → TRANSACTION → UPDATE state machine with named,
//!   on-by-default [`session::Limits`];
//! - [`server`]: the listener ([`server::serve`]) over a [`mailcore_store::Backend`] and a
//!   [`mailcore::hook::HookChain`].
//!
//! Deletions are marks until `QUIT`; a connection that drops, times out or fails removes
//! nothing. Without TLS, logins are refused and not advertised until `STLS`.
//!
//! # Example: the session core, without a network
//!
//! ```
//! use std::sync::Arc;
//! use bytes::Bytes;
//! use mailcore_pop3::response::UniqueId;
//! use mailcore_pop3::session::{Answer, Entry, Event, Session, SessionConfig};
//!
//! // An implicit-TLS session (`true`): logins are allowed at once.
//! let mut s = Session::new(Arc::new(SessionConfig::new("pop.example.com")), true);
//! s.handle_input(b"USER tom@example.com\r\nPASS secret\r\nSTAT\r\nDELE 1\r\nQUIT\r\n");
//! let mut events = Vec::new();
//! while let Some(event) = s.poll_event() {
//!     let answer = match &event {
//!         Event::Load => Answer::Maildrop(vec![Entry { uid: UniqueId::from_parts(9, 1), size: 20 }]),
//!         Event::Retrieve { .. } => Answer::Message(Bytes::from_static(b"Subject: hi\r\n\r\nhello\r\n")),
//!         _ => Answer::Accept,
//!     };
//!     events.push(event);
//!     s.answer(answer);
//! }
//! assert_eq!(events.last(), Some(&Event::Commit { deleted: vec![0] }));
//! let out = String::from_utf8(s.take_output()).unwrap();
//! assert!(out.contains("+OK maildrop has 1 messages (20 octets)\r\n+OK 1 20\r\n"));
//! assert!(out.ends_with("+OK pop.example.com POP3 server signing off (maildrop empty)\r\n"));
//! assert!(s.is_closed());
//! ```

pub mod command;
pub mod response;
pub mod server;
pub mod session;
