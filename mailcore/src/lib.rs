//! # mailcore
//!
//! The core of the mailcore crates: the types every other crate speaks (addresses, domains,
//! envelopes, message ids, replies), the message parser, and the hook model through which
//! policies and embedding products take part in mail handling.
//!
//! ```text
//!             ┌──────────────── mailcore (this crate) ────────────────┐
//!             │ address · envelope · message (parser) · hook · reply  │
//!             └───────▲─────────────▲──────────────▲──────────▲───────┘
//!   mailcore-smtp ────┘             │              │          │
//!   mailcore-imap / mailcore-pop3 ──┘              │          │
//!   mailcore-policy (hooks) ───────────────────────┘          │
//!   mailcore-store · mailcore-migrate ────────────────────────┘
//!
//!   SMTP bytes ─► Envelope + Message ─► HookChain at each Stage ─► store ─► IMAP/POP3
//! ```
//!
//! Nothing here does I/O: parsing takes bytes, hooks take borrowed events. The protocol
//! crates own sockets and TLS.
//!
//! ```
//! use mailcore::{address::EmailAddress, message::Message, summary::Summary};
//! let to: EmailAddress = "tom@example.com".parse().unwrap();
//! let msg = Message::parse(&b"To: Tom <tom@example.com>\r\nSubject: hi\r\n\r\nbody"[..]);
//! assert_eq!(msg.to().mailboxes().next().unwrap().address, to);
//! assert_eq!(Summary::of(&msg).subject.as_deref(), Some("hi"));
//! ```

pub mod address;
pub mod charset;
pub mod connection;
pub mod envelope;
pub mod hook;
pub mod message;
pub mod message_id;
pub mod net;
pub mod reply;
pub mod summary;
