//! The IMAP server session: a deterministic state machine over bytes. It frames and parses
//! commands, answers what needs no store (CAPABILITY, NOOP and LOGOUT before login, STARTTLS,
//! ID, NAMESPACE), runs the AUTHENTICATE exchange, holds IDLE, enforces states and
//! limits — and hands every store command to the shell as an [`Event`]. It does no I/O and
//! reads no clock.
//!
//! ```text
//!  handle_input(bytes) ─► Decoder (framing ─► parsing) ─► state checks
//!                                                              │
//!            poll_event() ◄── Event::{StartTls, Login, Command, IdleStarted, IdleDone}
//!      answer(Answer) ───────► tagged / untagged responses
//!                                                              ▼
//!                                           take_output() ─► bytes for the socket
//! ```
//!
//! ```
//! use std::sync::Arc;
//! use mailcore_imap::session::{Answer, Event, Session, SessionConfig};
//! let mut s = Session::new(Arc::new(SessionConfig::default()), true);
//! s.handle_input(b"a1 LOGIN bob@example.com secret\r\na2 SELECT INBOX\r\n");
//! assert!(matches!(s.poll_event(), Some(Event::Login { .. })));
//! s.answer(Answer::LoggedIn);
//! assert!(matches!(s.poll_event(), Some(Event::Command { .. })));
//! s.answer(Answer::Responses(b"a2 OK [READ-WRITE] SELECT completed\r\n".to_vec()));
//! let out = String::from_utf8(s.take_output()).unwrap();
//! assert!(out.starts_with("* OK [CAPABILITY "));
//! assert!(out.contains("a1 OK [CAPABILITY "));
//! assert!(out.ends_with("a2 OK [READ-WRITE] SELECT completed\r\n"));
//! ```

use std::sync::Arc;
use std::time::Duration;

use crate::command::{Command, Decoded, Decoder, Tag};
use crate::literal::FramerLimits;
use crate::response::{Status, status, write_string};

/// Named limits of a session; every one is on by default.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Limits {
    /// Longest command line (between literals), in bytes (default 64 KiB).
    pub max_line_length: usize,
    /// Largest literal before login (default 8 KiB).
    pub max_literal_before_login: u32,
    /// Largest literal after login, i.e. largest APPEND (default 50 MiB).
    pub max_literal: u32,
    /// Protocol errors (BAD responses) before the connection is closed (default 20).
    pub max_errors: u32,
    /// Failed logins before the connection is closed (default 3).
    pub max_auth_failures: u32,
    /// Base of the growing delay after a failed login (default 1 s; doubles each time).
    pub auth_failure_delay: Duration,
    /// Idle time before login (default 1 min).
    pub idle_timeout_before_login: Duration,
    /// Idle time after login, IDLE included (default 30 min, RFC 9051 §5.4).
    pub idle_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_line_length: 64 * 1024,
            max_literal_before_login: 8 * 1024,
            max_literal: 50 * 1024 * 1024,
            max_errors: 20,
            max_auth_failures: 3,
            auth_failure_delay: Duration::from_secs(1),
            idle_timeout_before_login: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(30 * 60),
        }
    }
}

/// Configuration shared by the sessions of one listener.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SessionConfig {
    /// Whether STARTTLS is offered (a certificate is configured and TLS is not implicit).
    pub starttls: bool,
    /// Whether LOGIN/AUTHENTICATE are allowed without TLS (default false: `LOGINDISABLED`).
    pub allow_plaintext_auth: bool,
    /// Limits.
    pub limits: Limits,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            starttls: true,
            allow_plaintext_auth: false,
            limits: Limits::default(),
        }
    }
}

/// Something the shell must do or decide. Until it calls [`Session::answer`] (or
/// [`Session::tls_established`]) the session processes no further input.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The `OK Begin TLS` is queued and pipelined plaintext discarded: flush the output, run
    /// the handshake, then call [`Session::tls_established`].
    StartTls,
    /// Check credentials (LOGIN or AUTHENTICATE PLAIN); answer [`Answer::LoggedIn`] or
    /// [`Answer::Refused`].
    Login {
        /// `LOGIN`, `PLAIN`.
        mechanism: &'static str,
        /// The user name.
        user: String,
        /// The password.
        password: String,
        /// The PLAIN authorization identity, if one different from `user` was given.
        authzid: Option<String>,
    },
    /// An authenticated-state command: run it against the store and answer
    /// [`Answer::Responses`] with every response, the tagged one last.
    Command {
        /// The tag.
        tag: Tag,
        /// The command.
        command: Command,
    },
    /// `+ idling` is queued: the shell may now push updates with [`Session::push_untagged`]
    /// until [`Event::IdleDone`]. No answer is expected.
    IdleStarted,
    /// A `SEARCH RETURN (SAVE)` was answered `BAD`: empty the saved result `$`
    /// ([`crate::mailbox::Mailboxes::forget_saved`], RFC 5182 §2.1). No answer is expected.
    ForgetSavedSearch,
    /// `DONE` ended the IDLE: answer [`Answer::Responses`] with pending updates and the tagged
    /// `OK`.
    IdleDone {
        /// The tag of the IDLE command.
        tag: Tag,
    },
}

/// The shell's answer to an event.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Answer {
    /// The credentials were right and hooks allowed the login.
    LoggedIn,
    /// The login was refused (wrong credentials or a hook's refusal).
    Refused,
    /// The login could not be checked now (store unavailable).
    Unavailable,
    /// Responses to write, ending with the tagged completion.
    Responses(Vec<u8>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    Commands,
    /// Waiting for the client's SASL PLAIN response line.
    AuthPlain {
        tag: Tag,
    },
    Idle {
        tag: Tag,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Pending {
    Tls,
    Login { tag: Tag },
    Command,
    IdleDone,
}

/// One IMAP server session. See the [module docs](self).
#[derive(Debug)]
pub struct Session {
    config: Arc<SessionConfig>,
    decoder: Decoder,
    output: Vec<u8>,
    state: State,
    pending: Option<Pending>,
    tls: bool,
    authenticated: bool,
    errors: u32,
    auth_failures: u32,
    penalty: Duration,
    closed: bool,
}

impl Session {
    /// A new session; `tls` is true on implicit-TLS listeners. The greeting is queued.
    pub fn new(config: Arc<SessionConfig>, tls: bool) -> Session {
        let decoder = Decoder::new(FramerLimits {
            max_line_length: config.limits.max_line_length,
            max_literal: config.limits.max_literal_before_login,
            max_command: config.limits.max_literal as usize + 2 * config.limits.max_line_length,
        });
        let mut s = Session {
            config,
            decoder,
            output: Vec::new(),
            state: State::Commands,
            pending: None,
            tls,
            authenticated: false,
            errors: 0,
            auth_failures: 0,
            penalty: Duration::ZERO,
            closed: false,
        };
        let caps = s.capabilities();
        s.output = status(
            None,
            Status::Ok,
            Some(&format!("CAPABILITY {caps}")),
            "mailcore IMAP ready",
        );
        s
    }

    /// The capabilities advertised now (they depend on TLS and login).
    pub fn capabilities(&self) -> String {
        let mut caps = vec![
            "IMAP4rev1",
            "IMAP4rev2",
            "LITERAL+",
            "SASL-IR",
            "ID",
            "ENABLE",
            "IDLE",
            "NAMESPACE",
        ];
        if !self.authenticated {
            if self.config.starttls && !self.tls {
                caps.push("STARTTLS");
            }
            if self.login_allowed() {
                caps.push("AUTH=PLAIN");
            } else {
                caps.push("LOGINDISABLED");
            }
        } else {
            // Each is covered end to end in tests/imap_e2e.rs (`extensions_over_raw_socket`,
            // `imap4rev2_over_raw_socket`) and tests/imap/imaplib_client.py. LITERAL- is not
            // listed: IMAP4rev2 implies it (RFC 9051 §4.3) and LITERAL+, its superset, is
            // advertised (RFC 7888 §4).
            caps.extend([
                "UIDPLUS",
                "MULTIAPPEND",
                "MOVE",
                "CHILDREN",
                "SPECIAL-USE",
                "UNSELECT",
                "STATUS=SIZE",
                "ESEARCH",
                "LIST-EXTENDED",
                "LIST-STATUS",
                "CONDSTORE",
                "QRESYNC",
                "QUOTA",
                "QUOTA=RES-STORAGE",
                "BINARY",
                "SEARCHRES",
                "UTF8=ACCEPT",
            ]);
        }
        caps.join(" ")
    }

    fn login_allowed(&self) -> bool {
        self.tls || self.config.allow_plaintext_auth
    }

    /// The limits in force (the shell applies the timeouts).
    pub fn limits(&self) -> &Limits {
        &self.config.limits
    }

    /// Whether the session is over: flush the output and close the connection.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Whether the connection is encrypted.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// Whether a user is logged in.
    pub fn is_authenticated(&self) -> bool {
        self.authenticated
    }

    /// Whether the session is in IDLE (the shell watches for mailbox changes).
    pub fn is_idling(&self) -> bool {
        matches!(self.state, State::Idle { .. }) && self.pending.is_none()
    }

    /// How long the shell should wait before sending the output (grows with failed logins).
    pub fn take_penalty(&mut self) -> Duration {
        std::mem::take(&mut self.penalty)
    }

    /// Feeds bytes read from the connection.
    pub fn handle_input(&mut self, bytes: &[u8]) {
        if !self.closed {
            self.decoder.push(bytes);
        }
    }

    /// Takes the bytes to write to the connection.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.output)
    }

    /// Queues unsolicited responses (mailbox updates during IDLE).
    pub fn push_untagged(&mut self, bytes: &[u8]) {
        if !self.closed {
            self.output.extend_from_slice(bytes);
        }
    }

    /// Reads mailbox names in later commands as UTF-8 instead of modified UTF-7; the shell
    /// calls this once `ENABLE UTF8=ACCEPT` or `ENABLE IMAP4rev2` succeeded
    /// ([`crate::mailbox::Mailboxes::utf8_names`]). Commands are decoded only after the
    /// previous one is answered, so a pipelined command after the ENABLE is read correctly.
    pub fn set_utf8_names(&mut self, on: bool) {
        self.decoder.set_utf8_names(on);
    }

    /// The TLS handshake after [`Event::StartTls`] succeeded.
    pub fn tls_established(&mut self) {
        if self.pending == Some(Pending::Tls) {
            self.pending = None;
        }
        self.tls = true;
        self.decoder.framer().clear();
    }

    /// Ends the session with an untagged `BYE` (timeout, shutdown).
    pub fn close_with(&mut self, text: &str) {
        self.output.extend(status(None, Status::Bye, None, text));
        self.closed = true;
    }

    fn bad(&mut self, tag: Option<&str>, text: &str) {
        self.output.extend(status(tag, Status::Bad, None, text));
        self.errors += 1;
        if self.errors >= self.config.limits.max_errors {
            self.close_with("Too many errors");
        }
    }

    fn ok(&mut self, tag: &Tag, code: Option<&str>, text: &str) {
        self.output
            .extend(status(Some(tag.as_str()), Status::Ok, code, text));
    }

    /// Processes buffered input until an event needs the shell, or the input runs out.
    pub fn poll_event(&mut self) -> Option<Event> {
        while !self.closed && self.pending.is_none() {
            match self.state.clone() {
                State::Idle { tag } => {
                    let line = self.decoder.framer().next_line()?;
                    match line {
                        Ok(l) if l.eq_ignore_ascii_case(b"DONE") => {
                            self.state = State::Commands;
                            self.pending = Some(Pending::IdleDone);
                            return Some(Event::IdleDone { tag });
                        }
                        _ => {
                            self.state = State::Commands;
                            self.bad(Some(tag.as_str()), "Expected DONE");
                        }
                    }
                }
                State::AuthPlain { tag } => {
                    let line = self.decoder.framer().next_line()?;
                    self.state = State::Commands;
                    match line {
                        Ok(l) if l == b"*" => {
                            self.bad(Some(tag.as_str()), "Authentication cancelled")
                        }
                        Ok(l) => {
                            if let Some(e) = self.plain_response(&tag, &l) {
                                return Some(e);
                            }
                        }
                        Err(_) => self.bad(Some(tag.as_str()), "Response too long"),
                    }
                }
                State::Commands => match self.decoder.next() {
                    Decoded::NeedMore => return None,
                    Decoded::LiteralAnnounced { .. } => self
                        .output
                        .extend_from_slice(b"+ Ready for literal data\r\n"),
                    Decoded::Malformed {
                        tag,
                        reason,
                        fatal,
                        forgets_saved,
                    } => {
                        self.bad(tag.as_deref(), &reason);
                        if fatal {
                            self.close_with("Cannot resynchronise after an invalid literal");
                        } else if forgets_saved && self.authenticated {
                            return Some(Event::ForgetSavedSearch);
                        }
                    }
                    Decoded::Command { tag, command } => {
                        if let Some(e) = self.command(tag, command) {
                            return Some(e);
                        }
                    }
                },
            }
        }
        None
    }

    fn command(&mut self, tag: Tag, command: Command) -> Option<Event> {
        match command {
            Command::Capability => {
                let caps = self.capabilities();
                self.output
                    .extend_from_slice(format!("* CAPABILITY {caps}\r\n").as_bytes());
                self.ok(&tag, None, "CAPABILITY completed");
            }
            Command::Logout => {
                self.output
                    .extend(status(None, Status::Bye, None, "Logging out"));
                self.ok(&tag, None, "LOGOUT completed");
                self.closed = true;
            }
            Command::Noop if !self.authenticated => self.ok(&tag, None, "NOOP completed"),
            Command::Id(_) => {
                self.output
                    .extend_from_slice(b"* ID (\"name\" \"mailcore\" \"version\" ");
                write_string(&mut self.output, env!("CARGO_PKG_VERSION").as_bytes());
                self.output.extend_from_slice(b")\r\n");
                self.ok(&tag, None, "ID completed");
            }
            Command::StartTls => {
                if self.tls || !self.config.starttls {
                    self.bad(Some(tag.as_str()), "STARTTLS not available");
                } else if self.authenticated {
                    self.bad(Some(tag.as_str()), "Already logged in");
                } else {
                    self.ok(&tag, None, "Begin TLS negotiation now");
                    // Anything pipelined after STARTTLS was sent in plaintext: drop it.
                    self.decoder.framer().clear();
                    self.pending = Some(Pending::Tls);
                    return Some(Event::StartTls);
                }
            }
            Command::Login { user, password } => {
                if let Some(e) = self.check_login(&tag) {
                    return e;
                }
                self.pending = Some(Pending::Login { tag });
                return Some(Event::Login {
                    mechanism: "LOGIN",
                    user,
                    password,
                    authzid: None,
                });
            }
            Command::Authenticate { mechanism, initial } => {
                if let Some(e) = self.check_login(&tag) {
                    return e;
                }
                if mechanism != "PLAIN" {
                    self.output.extend(status(
                        Some(tag.as_str()),
                        Status::No,
                        None,
                        "Unsupported authentication mechanism",
                    ));
                    return None;
                }
                match initial {
                    Some(resp) => return self.plain_response(&tag, resp.as_bytes()),
                    None => {
                        self.output.extend_from_slice(b"+ \r\n");
                        self.state = State::AuthPlain { tag };
                    }
                }
            }
            _ if !self.authenticated => self.bad(Some(tag.as_str()), "Log in first"),
            Command::Namespace => {
                self.output
                    .extend_from_slice(b"* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n");
                self.ok(&tag, None, "NAMESPACE completed");
            }
            Command::Idle => {
                self.output.extend_from_slice(b"+ idling\r\n");
                self.state = State::Idle { tag };
                return Some(Event::IdleStarted);
            }
            command => {
                self.pending = Some(Pending::Command);
                return Some(Event::Command { tag, command });
            }
        }
        None
    }

    /// `Some(None)` if refused (response written).
    fn check_login(&mut self, tag: &Tag) -> Option<Option<Event>> {
        if self.authenticated {
            self.bad(Some(tag.as_str()), "Already logged in");
            Some(None)
        } else if !self.login_allowed() {
            self.output.extend(status(
                Some(tag.as_str()),
                Status::No,
                Some("PRIVACYREQUIRED"),
                "Use STARTTLS first",
            ));
            Some(None)
        } else {
            None
        }
    }

    fn plain_response(&mut self, tag: &Tag, line: &[u8]) -> Option<Event> {
        let decoded = std::str::from_utf8(line)
            .ok()
            .and_then(mailcore_smtp::sasl::decode_base64);
        let Some(decoded) = decoded else {
            self.bad(Some(tag.as_str()), "Invalid base64");
            return None;
        };
        let Some(c) = mailcore_smtp::sasl::parse_plain(&decoded) else {
            self.bad(Some(tag.as_str()), "Malformed PLAIN response");
            return None;
        };
        self.pending = Some(Pending::Login { tag: tag.clone() });
        Some(Event::Login {
            mechanism: "PLAIN",
            user: c.authcid,
            password: c.password,
            authzid: c.authzid,
        })
    }

    /// Answers the event returned by [`Session::poll_event`].
    pub fn answer(&mut self, answer: Answer) {
        let Some(pending) = self.pending.take() else {
            return;
        };
        match (pending, answer) {
            (Pending::Login { tag }, Answer::LoggedIn) => {
                self.authenticated = true;
                let max = self.config.limits.max_literal;
                self.decoder.framer().set_max_literal(max);
                let caps = self.capabilities();
                self.ok(&tag, Some(&format!("CAPABILITY {caps}")), "Logged in");
            }
            (Pending::Login { tag }, Answer::Unavailable) => {
                self.output.extend(status(
                    Some(tag.as_str()),
                    Status::No,
                    Some("UNAVAILABLE"),
                    "Try again later",
                ));
            }
            (Pending::Login { tag }, _) => {
                self.auth_failures += 1;
                let exp = self.auth_failures.saturating_sub(1).min(6);
                self.penalty = self.config.limits.auth_failure_delay * (1u32 << exp);
                self.output.extend(status(
                    Some(tag.as_str()),
                    Status::No,
                    Some("AUTHENTICATIONFAILED"),
                    "Invalid credentials",
                ));
                if self.auth_failures >= self.config.limits.max_auth_failures {
                    self.close_with("Too many failed logins");
                }
            }
            (Pending::Tls, _) => {}
            (Pending::Command | Pending::IdleDone, Answer::Responses(bytes)) => {
                self.output.extend(bytes)
            }
            (Pending::Command | Pending::IdleDone, _) => {
                self.close_with("Internal error");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn session(tls: bool) -> Session {
        let mut s = Session::new(Arc::new(SessionConfig::default()), tls);
        s.take_output();
        s
    }

    fn out(s: &mut Session) -> String {
        String::from_utf8_lossy(&s.take_output()).into_owned()
    }

    #[test]
    fn greeting_and_capabilities() {
        let mut s = Session::new(Arc::new(SessionConfig::default()), false);
        let g = out(&mut s);
        assert!(g.starts_with("* OK [CAPABILITY IMAP4rev1"), "{g}");
        assert!(g.contains("STARTTLS") && g.contains("LOGINDISABLED") && !g.contains("AUTH=PLAIN"));
        s.handle_input(b"a LOGIN u p\r\nb AUTHENTICATE PLAIN AHUAcA==\r\nc SELECT INBOX\r\n");
        assert_eq!(s.poll_event(), None);
        let o = out(&mut s);
        assert!(
            o.contains("a NO [PRIVACYREQUIRED]") && o.contains("b NO [PRIVACYREQUIRED]"),
            "{o}"
        );
        assert!(o.contains("c BAD Log in first"));
    }

    #[test]
    fn starttls_discards_pipelined_plaintext() {
        let mut s = session(false);
        s.handle_input(b"a STARTTLS\r\nb LOGIN evil pw\r\n");
        assert_eq!(s.poll_event(), Some(Event::StartTls));
        assert_eq!(out(&mut s), "a OK Begin TLS negotiation now\r\n");
        s.tls_established();
        assert_eq!(s.poll_event(), None);
        assert_eq!(out(&mut s), "");
        s.handle_input(b"c CAPABILITY\r\n");
        assert_eq!(s.poll_event(), None);
        let o = out(&mut s);
        assert!(
            o.contains("AUTH=PLAIN") && !o.contains("STARTTLS") && !o.contains("LOGINDISABLED"),
            "{o}"
        );
    }

    #[test]
    fn authenticate_plain_with_continuation_and_failures() {
        let mut s = session(true);
        s.handle_input(b"a AUTHENTICATE PLAIN\r\n");
        assert_eq!(s.poll_event(), None);
        assert_eq!(out(&mut s), "+ \r\n");
        s.handle_input(b"AGJvYgBwdw==\r\n");
        match s.poll_event() {
            Some(Event::Login {
                user,
                password,
                mechanism: "PLAIN",
                ..
            }) => {
                assert_eq!((user.as_str(), password.as_str()), ("bob", "pw"));
            }
            other => panic!("{other:?}"),
        }
        s.answer(Answer::Refused);
        assert_eq!(s.take_penalty(), Duration::from_secs(1));
        assert!(out(&mut s).starts_with("a NO [AUTHENTICATIONFAILED]"));
        s.handle_input(b"b LOGIN x y\r\n");
        s.poll_event();
        s.answer(Answer::Refused);
        assert_eq!(s.take_penalty(), Duration::from_secs(2));
        s.handle_input(b"c LOGIN x y\r\n");
        s.poll_event();
        s.answer(Answer::Refused);
        assert!(s.is_closed());
        assert!(out(&mut s).contains("* BYE"));
    }

    #[test]
    fn literal_limit_before_login() {
        let mut s = session(true);
        s.handle_input(b"a LOGIN {9000}\r\n");
        assert_eq!(s.poll_event(), None);
        assert_eq!(out(&mut s), "a BAD literal too large\r\n");
        s.handle_input(b"b LOGIN {3}\r\n");
        assert_eq!(s.poll_event(), None);
        assert_eq!(out(&mut s), "+ Ready for literal data\r\n");
        s.handle_input(b"bob pw\r\n");
        assert!(matches!(s.poll_event(), Some(Event::Login { .. })));
        s.answer(Answer::LoggedIn);
        s.handle_input(b"c APPEND INBOX {9000}\r\n");
        assert_eq!(s.poll_event(), None);
        assert!(out(&mut s).ends_with("+ Ready for literal data\r\n"));
    }

    #[test]
    fn hostile_input() {
        let mut s = session(true);
        s.handle_input(b"a LOGIN {4294967296}\r\nb LOGIN {99999999999999999999}\r\nc LOGIN \"x\0\" y\r\nd NOOP\r\n");
        assert_eq!(s.poll_event(), None);
        let o = out(&mut s);
        assert!(
            o.contains("a BAD") && o.contains("b BAD") && o.contains("c BAD") && o.contains("d OK"),
            "{o}"
        );
        let deep = format!("e SEARCH {}ALL{}\r\n", "(".repeat(4000), ")".repeat(4000));
        s.handle_input(deep.as_bytes());
        s.handle_input(&vec![b'x'; 1024 * 1024]);
        s.handle_input(b"\r\nf NOOP\r\n");
        assert_eq!(s.poll_event(), None);
        let o = out(&mut s);
        assert!(
            o.contains("e BAD") && o.contains("* BAD line too long") && o.contains("f OK"),
            "{o}"
        );
        s.handle_input(b"g LOGIN {5+}\r\n");
        s.handle_input(b"h LOGIN {99999999999999999999+}\r\n");
        assert_eq!(s.poll_event(), None);
        assert!(s.is_closed() || out(&mut s).contains("BAD"));
    }

    #[test]
    fn enable_goes_to_the_store_side_and_capabilities_grow_after_login() {
        let mut s = session(true);
        s.handle_input(b"a ENABLE CONDSTORE\r\n");
        assert_eq!(s.poll_event(), None);
        assert!(out(&mut s).starts_with("a BAD Log in first"));
        let before = s.capabilities();
        assert!(!before.contains("CONDSTORE") && !before.contains("UNSELECT"));
        s.handle_input(b"b LOGIN u p\r\nc ENABLE condstore\r\n");
        s.poll_event();
        s.answer(Answer::LoggedIn);
        let o = out(&mut s);
        for cap in [
            "UNSELECT",
            "STATUS=SIZE",
            "ESEARCH",
            "LIST-EXTENDED",
            "LIST-STATUS",
            "CONDSTORE",
            "QUOTA=RES-STORAGE",
            "BINARY",
        ] {
            assert!(o.contains(&format!(" {cap}")), "{cap}: {o}");
        }
        assert!(
            o.contains(" IMAP4rev2 ") && o.contains(" SEARCHRES") && o.contains(" UTF8=ACCEPT"),
            "{o}"
        );
        assert!(!o.contains("LITERAL-"), "{o}");
        match s.poll_event() {
            Some(Event::Command {
                command: Command::Enable(caps),
                ..
            }) => assert_eq!(caps, ["CONDSTORE"]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn failed_search_save_and_utf8_names() {
        let mut s = session(true);
        s.handle_input(b"a SEARCH RETURN (SAVE) NONSENSE\r\n");
        assert_eq!(s.poll_event(), None, "not logged in: no event");
        assert!(out(&mut s).starts_with("a BAD"));
        s.handle_input(b"b LOGIN u p\r\n");
        s.poll_event();
        s.answer(Answer::LoggedIn);
        s.take_output();
        s.handle_input(b"c SEARCH RETURN (SAVE) NONSENSE\r\nd NOOP\r\n");
        assert_eq!(s.poll_event(), Some(Event::ForgetSavedSearch));
        assert!(out(&mut s).starts_with("c BAD"));
        assert!(matches!(s.poll_event(), Some(Event::Command { .. })));
        s.answer(Answer::Responses(b"d OK NOOP completed\r\n".to_vec()));
        s.handle_input(b"e SEARCH RETURN (COUNT) NONSENSE\r\n");
        assert_eq!(s.poll_event(), None);
        assert!(out(&mut s).contains("e BAD"));
        s.set_utf8_names(true);
        s.handle_input(b"f CREATE \"a&b\"\r\n");
        match s.poll_event() {
            Some(Event::Command {
                command: Command::Create(name),
                ..
            }) => assert_eq!(name, "a&b"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn idle() {
        let mut s = session(true);
        s.handle_input(b"a LOGIN u p\r\n");
        s.poll_event();
        s.answer(Answer::LoggedIn);
        s.take_output();
        s.handle_input(b"b IDLE\r\n");
        assert_eq!(s.poll_event(), Some(Event::IdleStarted));
        assert!(s.is_idling());
        s.push_untagged(b"* 3 EXISTS\r\n");
        assert_eq!(out(&mut s), "+ idling\r\n* 3 EXISTS\r\n");
        s.handle_input(b"DONE\r\n");
        assert_eq!(
            s.poll_event(),
            Some(Event::IdleDone {
                tag: Tag::new("b").unwrap()
            })
        );
        s.answer(Answer::Responses(b"b OK IDLE terminated\r\n".to_vec()));
        assert_eq!(out(&mut s), "b OK IDLE terminated\r\n");
    }
}
