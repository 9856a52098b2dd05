//! # mailcore-smtp
//!
//! The SMTP side of mailcore (RFC 5321): the inbound MX and submission server and, later, the
//! client used for outbound delivery.
//!
//! This crate will own:
//! - a sans-I/O **protocol core**: command and ESMTP parameter parsing (SIZE, BODY, SMTPUTF8,
//!   RET, ENVID, NOTIFY, ORCPT, AUTH=), replies with enhanced status codes, streaming DATA
//!   dot-unstuffing and BDAT/CHUNKING, and a session state machine that takes bytes in and gives
//!   replies and events out — fed and tested without a runtime;
//! - the named, on-by-default **limits** (line length, recipients, message size, errors, auth
//!   failures, timeouts, hop count) and the SMTP-smuggling defences;
//! - a thin **tokio + rustls shell** with MX, submission and implicit-TLS listeners;
//! - **local delivery** through [`mailcore::hook::HookChain`] at every
//!   [`mailcore::hook::Stage`], and the hand-off of external recipients to the outbound queue;
//! - the outbound **SMTP client** (MX resolution, opportunistic STARTTLS, retries, DSNs).
//!
//! ```text
//!  socket ─► shell (tokio/rustls) ─► session core ─► events ─► hooks ─► store / queue
//!                   ▲                     │
//!                   └──── replies ◄───────┘
//! ```
//!
//! Envelope values it produces are the core types in [`mailcore::envelope`].
