//! # mailcore-imap
//!
//! The IMAP server of mailcore: IMAP4rev1 (RFC 3501) with the IMAP4rev2 (RFC 9051) extensions
//! it folds in that are implemented here, over the [`mailcore_store`] traits.
//!
//! The crate is layered like the SMTP one: a codec and a session that do no I/O, and a thin
//! tokio + rustls shell.
//!
//! ```text
//!  socket ─► server (tokio, rustls: STARTTLS / implicit TLS, timeouts, IDLE wake-ups)
//!              │ bytes                                        ▲ bytes
//!              ▼                                              │
//!  session ─► command::Decoder = literal::Framer (lines, {n} / {n+} literals, limits)
//!              │                 + command::parse (types that refuse invalid values)
//!              │ Event::{StartTls, Login, Command, IdleStarted, IdleDone}
//!              ▼
//!  server ─► auth::login + Stage::Login hooks        mailbox::Mailboxes (SELECT … SEARCH)
//!                                                      │  fetch (ENVELOPE, BODYSTRUCTURE,
//!                                                      │  sections), search, response encoder
//!                                                      ▼
//!                                           mailcore_store::MailStore
//! ```
//!
//! Both IMAP4rev1 and IMAP4rev2 (RFC 9051) are advertised. Extensions advertised after login,
//! each exercised end to end in `tests/imap_e2e.rs` and `tests/imap/imaplib_client.py`:
//! LITERAL+ (RFC 7888), SASL-IR, ID, ENABLE, IDLE, NAMESPACE, UIDPLUS, MULTIAPPEND, MOVE, CHILDREN,
//! SPECIAL-USE, UNSELECT (RFC 3691), STATUS=SIZE (RFC 8438), ESEARCH (RFC 4731),
//! LIST-EXTENDED (RFC 5258), LIST-STATUS (RFC 5819), CONDSTORE and QRESYNC (RFC 7162), QUOTA
//! with QUOTA=RES-STORAGE (RFC 9208; limits come from `Account::quota_bytes`, SETQUOTA is
//! refused), BINARY (RFC 3516), SEARCHRES (RFC 5182: `SEARCH RETURN (SAVE)` and `$`) and
//! UTF8=ACCEPT (RFC 6855: UTF-8 mailbox names once enabled, APPEND's `UTF8` data item).
//! LITERAL- is not listed: IMAP4rev2 implies it and LITERAL+ is its superset.
//!
//! `ENABLE IMAP4rev2` switches a session to RFC 9051 behaviour: SEARCH is answered with
//! ESEARCH, SELECT/EXAMINE send no `RECENT` response and no `UNSEEN` code but a `LIST`
//! response for the mailbox, and mailbox names are UTF-8 (as after `ENABLE UTF8=ACCEPT`).
//!
//! Decoding has an explicit contract ([`command::Decoded`]): need more bytes, a literal was
//! announced (answer `+`), a command, or a malformed command that is answered `BAD` without
//! losing the stream.
//!
//! ```
//! use std::sync::Arc;
//! use mailcore_imap::session::{Answer, Event, Session, SessionConfig};
//!
//! // A session on an implicit-TLS connection.
//! let mut session = Session::new(Arc::new(SessionConfig::default()), true);
//! session.handle_input(b"a1 CAPABILITY\r\na2 LOGIN {15}\r\n");
//! assert_eq!(session.poll_event(), None); // CAPABILITY answered; waiting for the literal
//! let out = String::from_utf8(session.take_output()).unwrap();
//! assert!(out.contains("a1 OK CAPABILITY completed\r\n"));
//! assert!(out.ends_with("+ Ready for literal data\r\n"));
//! session.handle_input(b"tom@example.com secret\r\n");
//! match session.poll_event() {
//!     Some(Event::Login { user, .. }) => assert_eq!(user, "tom@example.com"),
//!     other => panic!("{other:?}"),
//! }
//! session.answer(Answer::LoggedIn);
//! assert!(session.is_authenticated());
//! ```
//!
//! To run a listener, see [`server::serve`]:
//!
//! ```no_run
//! # async fn run(store: std::sync::Arc<dyn mailcore_store::Backend>, tls: tokio_rustls::TlsAcceptor) -> std::io::Result<()> {
//! use mailcore_imap::server::{serve, ListenerConfig};
//! let listener = tokio::net::TcpListener::bind("0.0.0.0:143").await?;
//! let config = ListenerConfig::new(false, Some(tls), Default::default());
//! serve(listener, config, store, mailcore::hook::HookChain::new()).await
//! # }
//! ```

pub mod command;
pub mod datetime;
pub mod decode;
pub mod fetch;
pub mod literal;
pub mod mailbox;
pub mod response;
pub mod search;
pub mod server;
pub mod session;
pub mod utf7;
