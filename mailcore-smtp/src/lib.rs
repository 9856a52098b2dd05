//! # mailcore-smtp
//!
//! The SMTP side of mailcore (RFC 5321): a sans-I/O server session for MX and submission
//! listeners, its command and DATA codecs, and (later) the client for outbound delivery.
//!
//! ```text
//!  socket ─► shell (tokio/rustls) ─► session core ─► events ─► hooks ─► store / queue
//!                   ▲                     │
//!                   └──── replies ◄───────┘
//! ```
//!
//! - [`command`]: commands and ESMTP parameters (SIZE, BODY, SMTPUTF8, RET, ENVID, NOTIFY,
//!   ORCPT, AUTH=), parsed with nom and formatted back;
//! - [`data`]: streaming dot-unstuffing that only ends at `<CRLF>.<CRLF>` (smuggling-safe);
//! - [`sasl`]: PLAIN and LOGIN;
//! - [`session`]: the state machine with named, on-by-default limits;
//! - [`server`]: the thin tokio + rustls shell (listeners, TLS, timeouts, connection limits)
//!   that hands session events to a [`server::Handler`];
//! - [`delivery`]: the handler for local delivery through the store and the hook chain.
//!
//! Envelope values are the core types of [`mailcore::envelope`]; hooks from
//! [`mailcore::hook`] run in the shell at every stage the session reports.

pub mod command;
pub mod data;
#[cfg(feature = "server")]
pub mod delivery;
pub mod sasl;
#[cfg(feature = "server")]
pub mod server;
pub mod session;
