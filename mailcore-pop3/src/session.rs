//! The POP3 server session: a deterministic state machine that takes bytes in and gives
//! response bytes and [`Event`]s out. It does no I/O and reads no clock.
//!
//! ```text
//!  handle_input(bytes) ─► line framing (length limit, NUL) ─► command::parse
//!                              │
//!            poll_event() ◄────┤ Login, Stls, Load, Retrieve, Commit: the shell decides
//!      answer(Answer) ────────►│ (credentials, hooks, store) and answers
//!                              ▼
//!                       take_output() ─► response bytes for the socket
//!
//!  AUTHORIZATION ──Login ok──► Load ──maildrop──► TRANSACTION ──QUIT──► Commit ──► closed
//!        │  (USER/PASS, AUTH PLAIN,                 (STAT LIST RETR TOP UIDL
//!        │   only under TLS unless allowed)          DELE RSET NOOP CAPA)
//!        └── STLS ─► Stls ─► tls_established()
//! ```
//!
//! Deletions are only marks until `QUIT`: the shell removes them when it answers
//! [`Event::Commit`], and a connection that ends any other way removes nothing (RFC 1939 §6).
//!
//! ```
//! use std::sync::Arc;
//! use bytes::Bytes;
//! use mailcore_pop3::response::UniqueId;
//! use mailcore_pop3::session::{Answer, Entry, Event, Session, SessionConfig};
//!
//! let mut s = Session::new(Arc::new(SessionConfig::new("pop.example.com")), true);
//! s.handle_input(b"USER tom@example.com\r\nPASS secret\r\nRETR 1\r\n");
//! assert!(matches!(s.poll_event(), Some(Event::Login { .. })));
//! s.answer(Answer::Accept);
//! assert_eq!(s.poll_event(), Some(Event::Load));
//! s.answer(Answer::Maildrop(vec![Entry { uid: UniqueId::from_parts(1, 7), size: 11 }]));
//! assert_eq!(s.poll_event(), Some(Event::Retrieve { index: 0 }));
//! s.answer(Answer::Message(Bytes::from_static(b".hi\r\n\r\nyo\r\n")));
//! let out = String::from_utf8(s.take_output()).unwrap();
//! assert!(out.starts_with("+OK pop.example.com POP3 server ready\r\n+OK send PASS\r\n"));
//! assert!(out.ends_with("+OK 11 octets\r\n..hi\r\n\r\nyo\r\n.\r\n"));
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use mailcore_smtp::sasl;

use crate::command::{self, Command};
use crate::response::{ResponseCode, UniqueId, write_err, write_message, write_ok};

/// Named limits of a session; every one is on by default.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Limits {
    /// Longest command line in octets, CRLF included (default 255, RFC 2449 §4).
    pub max_line_length: usize,
    /// Longest SASL response line after `AUTH PLAIN` in octets, CRLF included (default 4,098).
    pub max_sasl_line_length: usize,
    /// Protocol errors before the session is closed (default 10).
    pub max_errors: u32,
    /// Failed logins before the session is closed (default 3).
    pub max_auth_failures: u32,
    /// Base of the growing delay after a failed login (default 1 s; doubles each time, at most
    /// 64 times the base).
    pub auth_failure_delay: Duration,
    /// Time allowed from connecting to a successful login; the TLS handshake counts (default
    /// 60 s).
    pub login_timeout: Duration,
    /// Idle time allowed after login (default 10 min, the minimum of RFC 1939 §3).
    pub idle_timeout: Duration,
    /// Most messages offered in one session; older ones beyond it wait for the next session
    /// (default 100,000).
    pub max_messages: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_line_length: 255,
            max_sasl_line_length: sasl::MAX_RESPONSE_LEN + 2,
            max_errors: 10,
            max_auth_failures: 3,
            auth_failure_delay: Duration::from_secs(1),
            login_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(600),
            max_messages: 100_000,
        }
    }
}

/// Configuration shared by the sessions of one listener.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SessionConfig {
    /// Our host name, for the greeting and sign-off.
    pub hostname: String,
    /// Whether `STLS` is offered (a certificate is configured and the listener is plaintext).
    pub stls: bool,
    /// Whether `USER`/`PASS` and `AUTH` are allowed without TLS (default false: they are
    /// refused with `-ERR [AUTH]` and not advertised in `CAPA` until `STLS`).
    pub allow_plaintext_auth: bool,
    /// Limits.
    pub limits: Limits,
}

impl SessionConfig {
    /// A configuration with default limits, `STLS` offered and plaintext logins refused.
    pub fn new(hostname: &str) -> SessionConfig {
        SessionConfig {
            hostname: hostname.to_owned(),
            stls: true,
            allow_plaintext_auth: false,
            limits: Limits::default(),
        }
    }
}

/// How the client logged in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Mechanism {
    /// `USER` then `PASS` (RFC 1939 §7).
    User,
    /// `AUTH PLAIN` (RFC 5034, RFC 4616).
    Plain,
}

impl Mechanism {
    /// The name for logs and login hooks: `USER` or `PLAIN`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Mechanism::User => "USER",
            Mechanism::Plain => "PLAIN",
        }
    }
}

/// Something the shell must decide or do. Until it calls [`Session::answer`] (or
/// [`Session::tls_established`] after [`Event::Stls`]), the session processes no further
/// input.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// Check these credentials (and run the login hooks). Answer [`Answer::Accept`] or
    /// [`Answer::Reject`]; an accepted login is followed by [`Event::Load`].
    Login {
        /// The user name as given.
        user: String,
        /// The password.
        password: String,
        /// How it was given.
        mechanism: Mechanism,
        /// The SASL authorization identity when it differs from `user` (AUTH PLAIN only): the
        /// mailbox to open instead of the user's own, if the handler allows it.
        authzid: Option<String>,
    },
    /// `+OK` to `STLS` is queued and pipelined plaintext discarded: flush the output, run the
    /// TLS handshake, then call [`Session::tls_established`].
    Stls,
    /// The login succeeded: lock the maildrop and answer [`Answer::Maildrop`] with its messages
    /// in order (message number n is entry n − 1), or [`Answer::Reject`] (e.g.
    /// [`ResponseCode::InUse`]).
    Load,
    /// `RETR` or `TOP`: answer [`Answer::Message`] with the raw bytes of the message at this
    /// 0-based index of the maildrop; the session stuffs, cuts and terminates it.
    Retrieve {
        /// Index into the entries given with [`Answer::Maildrop`].
        index: usize,
    },
    /// `QUIT` in the TRANSACTION state (the UPDATE state): remove these messages (0-based
    /// indexes into the maildrop, possibly none) and release the maildrop; answer
    /// [`Answer::Accept`] only once the removal is durable. The session then closes.
    Commit {
        /// Indexes of the messages marked with `DELE`, ascending.
        deleted: Vec<usize>,
    },
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Login {
                user, mechanism, ..
            } => f
                .debug_struct("Login")
                .field("user", user)
                .field("password", &"<hidden>")
                .field("mechanism", mechanism)
                .finish(),
            Event::Stls => f.write_str("Stls"),
            Event::Load => f.write_str("Load"),
            Event::Retrieve { index } => f.debug_struct("Retrieve").field("index", index).finish(),
            Event::Commit { deleted } => {
                f.debug_struct("Commit").field("deleted", deleted).finish()
            }
        }
    }
}

/// One message of the maildrop snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Its unique-id for `UIDL`.
    pub uid: UniqueId,
    /// Its size in octets, as `LIST` and `STAT` report it.
    pub size: u64,
}

/// A refusal: `-ERR`, an optional extended response code and a text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The response code.
    pub code: Option<ResponseCode>,
    /// Human-readable text (control characters are replaced when written).
    pub text: String,
}

impl Refusal {
    /// A refusal with this code and text.
    pub fn new(code: Option<ResponseCode>, text: &str) -> Refusal {
        Refusal {
            code,
            text: text.to_owned(),
        }
    }

    /// `[AUTH] Invalid credentials`: what a client is told about any refused login.
    pub fn credentials() -> Refusal {
        Refusal::new(Some(ResponseCode::Auth), "Invalid credentials")
    }

    /// `[SYS/TEMP]` with this text.
    pub fn temporary(text: &str) -> Refusal {
        Refusal::new(Some(ResponseCode::SysTemp), text)
    }
}

/// The shell's answer to an event. An answer of the wrong kind for the event is taken as a
/// temporary failure.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Answer {
    /// [`Event::Login`] or [`Event::Commit`] succeeded.
    Accept,
    /// The event failed: refused login, maildrop unavailable, message gone, removal failed.
    Reject(Refusal),
    /// The maildrop snapshot, for [`Event::Load`].
    Maildrop(Vec<Entry>),
    /// The raw message, for [`Event::Retrieve`].
    Message(Bytes),
}

/// The RFC 1939 state a session is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Phase {
    /// Before a successful login (and while the maildrop is being loaded).
    Authorization,
    /// Logged in, with the maildrop loaded.
    Transaction,
    /// `QUIT` was given in TRANSACTION: the deletions are being committed.
    Update,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Authorization,
    /// `AUTH PLAIN` sent `+ `; the next line is the response.
    SaslPlain,
    Transaction,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pending {
    Login,
    Tls,
    Load,
    Retrieve { index: usize, lines: Option<u32> },
    Commit { remaining: usize },
}

/// One POP3 server session.
pub struct Session {
    config: Arc<SessionConfig>,
    input: Vec<u8>,
    output: Vec<u8>,
    state: State,
    pending: Option<Pending>,
    queued: Option<Event>,
    tls: bool,
    user: Option<String>,
    login_user: Option<String>,
    authenticated: Option<String>,
    maildrop: Vec<Entry>,
    deleted: Vec<bool>,
    errors: u32,
    auth_failures: u32,
    penalty: Duration,
    skipping_line: bool,
    discard_input: bool,
    closed: bool,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("state", &self.state)
            .field("pending", &self.pending)
            .field("tls", &self.tls)
            .field("authenticated", &self.authenticated)
            .field("messages", &self.maildrop.len())
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// A new session; `tls` is true on implicit-TLS listeners. The greeting is queued.
    pub fn new(config: Arc<SessionConfig>, tls: bool) -> Session {
        let mut output = Vec::new();
        write_ok(
            &mut output,
            &format!("{} POP3 server ready", config.hostname),
        );
        Session {
            config,
            input: Vec::new(),
            output,
            state: State::Authorization,
            pending: None,
            queued: None,
            tls,
            user: None,
            login_user: None,
            authenticated: None,
            maildrop: Vec::new(),
            deleted: Vec::new(),
            errors: 0,
            auth_failures: 0,
            penalty: Duration::ZERO,
            skipping_line: false,
            discard_input: false,
            closed: false,
        }
    }

    /// The limits in force (the shell applies the timeouts).
    pub fn limits(&self) -> &Limits {
        &self.config.limits
    }

    /// The RFC 1939 state.
    pub fn phase(&self) -> Phase {
        match (self.state, self.pending) {
            (_, Some(Pending::Commit { .. })) => Phase::Update,
            (State::Transaction, _) => Phase::Transaction,
            _ => Phase::Authorization,
        }
    }

    /// Whether the session is over: flush the output and close the connection.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Whether the connection is encrypted.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// The user whose login was accepted (set before the maildrop is loaded).
    pub fn authenticated(&self) -> Option<&str> {
        self.authenticated.as_deref()
    }

    /// How long the shell should wait before sending the output (grows with failed logins).
    pub fn take_penalty(&mut self) -> Duration {
        std::mem::take(&mut self.penalty)
    }

    /// Feeds bytes read from the connection.
    pub fn handle_input(&mut self, bytes: &[u8]) {
        if !self.closed {
            self.input.extend_from_slice(bytes);
        }
    }

    /// Takes the bytes to write to the connection.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.output)
    }

    /// How many output bytes are waiting (the shell may flush early when this grows).
    pub fn output_len(&self) -> usize {
        self.output.len()
    }

    /// The TLS handshake after [`Event::Stls`] succeeded: the session starts over in the
    /// AUTHORIZATION state with nothing remembered from the plaintext phase (RFC 2595 §4).
    pub fn tls_established(&mut self) {
        if self.pending == Some(Pending::Tls) {
            self.pending = None;
        }
        self.tls = true;
        self.input.clear();
        self.user = None;
        self.skipping_line = false;
        if self.state == State::SaslPlain {
            self.state = State::Authorization;
        }
    }

    /// Ends the session with `-ERR` and this text (e.g. on a timeout or shutdown). Nothing is
    /// deleted: this is not a `QUIT`.
    pub fn close_with(&mut self, text: &str) {
        if !self.closed {
            write_err(&mut self.output, None, text);
            self.closed = true;
        }
    }

    /// Processes buffered input until an event needs the shell, or the input runs out.
    pub fn poll_event(&mut self) -> Option<Event> {
        if let Some(event) = self.queued.take() {
            return Some(event);
        }
        let mut input = std::mem::take(&mut self.input);
        let mut at = 0;
        let mut event = None;
        while event.is_none() && !self.closed && self.pending.is_none() {
            let rest = &input[at..];
            let limit = match self.state {
                State::SaslPlain => self.config.limits.max_sasl_line_length,
                _ => self.config.limits.max_line_length,
            };
            let Some(nl) = memchr::memchr(b'\n', rest) else {
                if rest.len() >= limit {
                    at = input.len();
                    if !self.skipping_line {
                        self.skipping_line = true;
                        self.line_too_long();
                    }
                }
                break;
            };
            at += nl + 1;
            if self.skipping_line {
                self.skipping_line = false;
                continue;
            }
            let line = &rest[..nl];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.len() + 2 > limit {
                self.line_too_long();
                continue;
            }
            event = self.line(line);
        }
        if self.discard_input || self.closed {
            self.discard_input = false;
            input.clear();
        } else {
            input.drain(..at);
        }
        self.input = input;
        event
    }

    fn line_too_long(&mut self) {
        if self.state == State::SaslPlain {
            self.state = State::Authorization;
        }
        self.error("Line too long");
    }

    fn ok(&mut self, text: &str) {
        write_ok(&mut self.output, text);
    }

    fn err(&mut self, code: Option<ResponseCode>, text: &str) {
        write_err(&mut self.output, code, text);
    }

    /// A protocol error: counted, and the session closes after too many.
    fn error(&mut self, text: &str) {
        self.err(None, text);
        self.errors += 1;
        if self.errors >= self.config.limits.max_errors {
            self.close_with("Too many errors, closing connection");
        }
    }

    fn line(&mut self, line: &[u8]) -> Option<Event> {
        if self.state == State::SaslPlain {
            self.state = State::Authorization;
            return self.plain_response(line);
        }
        let command = match command::parse(line) {
            Ok(c) => c,
            Err(e) => {
                self.error(&e.to_string());
                return None;
            }
        };
        match self.state {
            State::Transaction => self.transaction(command),
            _ => self.authorization(command),
        }
    }

    fn auth_allowed(&self) -> bool {
        self.tls || self.config.allow_plaintext_auth
    }

    fn refuse_plaintext(&mut self) {
        self.err(
            Some(ResponseCode::Auth),
            "Plaintext authentication disallowed on non-secure connections; use STLS",
        );
        self.errors += 1;
        if self.errors >= self.config.limits.max_errors {
            self.close_with("Too many errors, closing connection");
        }
    }

    fn authorization(&mut self, command: Command<'_>) -> Option<Event> {
        match command {
            Command::Capa => self.capa(),
            Command::Quit => {
                let text = format!("{} POP3 server signing off", self.config.hostname);
                self.ok(&text);
                self.closed = true;
            }
            Command::Stls => {
                if !self.config.stls {
                    self.error("STLS not available");
                } else if self.tls {
                    self.error("Already using TLS");
                } else {
                    self.ok("Begin TLS negotiation");
                    // Anything pipelined after STLS was sent in plaintext: drop it.
                    self.discard_input = true;
                    self.pending = Some(Pending::Tls);
                    return Some(Event::Stls);
                }
            }
            Command::User(_) | Command::Pass(_) | Command::Auth { .. } if !self.auth_allowed() => {
                self.refuse_plaintext();
            }
            Command::User(user) => {
                self.user = Some(user.to_owned());
                self.ok("send PASS");
            }
            Command::Pass(password) => match self.user.take() {
                None => self.error("USER first"),
                Some(user) => {
                    return Some(self.login(user, password.to_owned(), Mechanism::User, None));
                }
            },
            Command::Apop => self.error("APOP not supported"),
            Command::Auth {
                mechanism: None, ..
            } => {
                self.ok("methods supported:");
                self.output.extend_from_slice(b"PLAIN\r\n.\r\n");
            }
            Command::Auth {
                mechanism: Some(m),
                initial,
            } => {
                self.user = None;
                if !m.eq_ignore_ascii_case("PLAIN") {
                    self.error("Unrecognized authentication type");
                } else if let Some(initial) = initial {
                    return self.plain_response(initial.as_bytes());
                } else {
                    self.output.extend_from_slice(b"+ \r\n");
                    self.state = State::SaslPlain;
                }
            }
            _ => self.error("Command not valid before login"),
        }
        None
    }

    fn login(
        &mut self,
        user: String,
        password: String,
        mechanism: Mechanism,
        authzid: Option<String>,
    ) -> Event {
        self.login_user = Some(user.clone());
        self.pending = Some(Pending::Login);
        Event::Login {
            user,
            password,
            mechanism,
            authzid,
        }
    }

    fn plain_response(&mut self, line: &[u8]) -> Option<Event> {
        if line == b"*" {
            self.error("Authentication cancelled");
            return None;
        }
        let decoded = std::str::from_utf8(line).ok().and_then(sasl::decode_base64);
        let Some(decoded) = decoded else {
            self.error("Cannot decode the SASL response");
            return None;
        };
        let Some(credentials) = sasl::parse_plain(&decoded) else {
            self.error("Malformed PLAIN response");
            return None;
        };
        let authzid = credentials.authzid.filter(|z| *z != credentials.authcid);
        Some(self.login(
            credentials.authcid,
            credentials.password,
            Mechanism::Plain,
            authzid,
        ))
    }

    fn login_failed(&mut self, refusal: Refusal) {
        self.auth_failures += 1;
        let exp = self.auth_failures.saturating_sub(1).min(6);
        self.penalty = self.config.limits.auth_failure_delay * (1u32 << exp);
        self.err(refusal.code, &refusal.text);
        if self.auth_failures >= self.config.limits.max_auth_failures {
            // The -ERR above is the last response; a second one would answer no command.
            self.closed = true;
        }
    }

    fn capa(&mut self) {
        let mut lines = vec![
            "CAPA",
            "TOP",
            "UIDL",
            "RESP-CODES",
            "AUTH-RESP-CODE",
            "PIPELINING",
        ];
        if self.state != State::Transaction {
            if self.config.stls && !self.tls {
                lines.push("STLS");
            }
            if self.auth_allowed() {
                lines.extend(["USER", "SASL PLAIN"]);
            }
        }
        lines.push("IMPLEMENTATION mailcore");
        self.ok("Capability list follows");
        for l in lines {
            self.output.extend_from_slice(l.as_bytes());
            self.output.extend_from_slice(b"\r\n");
        }
        self.output.extend_from_slice(b".\r\n");
    }

    /// Message count and octets of the messages not marked deleted.
    fn totals(&self) -> (usize, u64) {
        self.maildrop
            .iter()
            .zip(&self.deleted)
            .filter(|(_, d)| !**d)
            .fold((0, 0), |(n, s), (e, _)| (n + 1, s + e.size))
    }

    fn maildrop_summary(&mut self) {
        let (n, octets) = self.totals();
        self.ok(&format!("maildrop has {n} messages ({octets} octets)"));
    }

    /// The index of message number `n`, or `-ERR` written.
    fn message(&mut self, n: u32) -> Option<usize> {
        let index = (n as usize).wrapping_sub(1);
        match self.deleted.get(index) {
            None => {
                let total = self.maildrop.len();
                self.err(
                    None,
                    &format!("no such message, only {total} messages in maildrop"),
                );
                None
            }
            Some(true) => {
                self.err(None, &format!("message {n} already deleted"));
                None
            }
            Some(false) => Some(index),
        }
    }

    fn transaction(&mut self, command: Command<'_>) -> Option<Event> {
        match command {
            Command::Capa => self.capa(),
            Command::Stat => {
                let (n, octets) = self.totals();
                self.ok(&format!("{n} {octets}"));
            }
            Command::List(Some(n)) => {
                if let Some(i) = self.message(n) {
                    let size = self.maildrop[i].size;
                    self.ok(&format!("{n} {size}"));
                }
            }
            Command::List(None) => {
                let (n, octets) = self.totals();
                self.ok(&format!("{n} messages ({octets} octets)"));
                self.listing(|e| e.size.to_string());
            }
            Command::Uidl(Some(n)) => {
                if let Some(i) = self.message(n) {
                    let uid = self.maildrop[i].uid.to_string();
                    self.ok(&format!("{n} {uid}"));
                }
            }
            Command::Uidl(None) => {
                self.ok("");
                self.listing(|e| e.uid.to_string());
            }
            Command::Retr(n) => return self.retrieve(n, None),
            Command::Top { message, lines } => return self.retrieve(message, Some(lines)),
            Command::Dele(n) => {
                if let Some(i) = self.message(n) {
                    self.deleted[i] = true;
                    self.ok(&format!("message {n} deleted"));
                }
            }
            Command::Rset => {
                self.deleted.iter_mut().for_each(|d| *d = false);
                self.maildrop_summary();
            }
            Command::Noop => self.ok(""),
            Command::Quit => {
                let deleted: Vec<usize> = (0..self.deleted.len())
                    .filter(|&i| self.deleted[i])
                    .collect();
                let (remaining, _) = self.totals();
                self.pending = Some(Pending::Commit { remaining });
                return Some(Event::Commit { deleted });
            }
            _ => self.error("Command not valid after login"),
        }
        None
    }

    fn listing(&mut self, column: impl Fn(&Entry) -> String) {
        for (i, e) in self.maildrop.iter().enumerate() {
            if !self.deleted[i] {
                self.output
                    .extend_from_slice(format!("{} {}\r\n", i + 1, column(e)).as_bytes());
            }
        }
        self.output.extend_from_slice(b".\r\n");
    }

    fn retrieve(&mut self, n: u32, lines: Option<u32>) -> Option<Event> {
        let index = self.message(n)?;
        self.pending = Some(Pending::Retrieve { index, lines });
        Some(Event::Retrieve { index })
    }

    /// Answers the event returned by [`Session::poll_event`].
    pub fn answer(&mut self, answer: Answer) {
        let Some(pending) = self.pending.take() else {
            return;
        };
        match (pending, answer) {
            (Pending::Tls, _) => self.pending = Some(Pending::Tls),
            (Pending::Login, Answer::Accept) => {
                self.authenticated = self.login_user.take();
                self.pending = Some(Pending::Load);
                self.queued = Some(Event::Load);
            }
            (Pending::Login, answer) => {
                self.login_user = None;
                self.login_failed(refusal(answer));
            }
            (Pending::Load, Answer::Maildrop(mut entries)) => {
                entries.truncate(self.config.limits.max_messages);
                self.deleted = vec![false; entries.len()];
                self.maildrop = entries;
                self.state = State::Transaction;
                self.maildrop_summary();
            }
            (Pending::Load, answer) => {
                self.authenticated = None;
                let r = refusal(answer);
                self.err(r.code, &r.text);
            }
            (Pending::Retrieve { index, lines }, Answer::Message(bytes)) => {
                match lines {
                    None => {
                        let size = self.maildrop.get(index).map_or(0, |e| e.size);
                        self.ok(&format!("{size} octets"));
                    }
                    Some(_) => self.ok(""),
                }
                write_message(&mut self.output, &bytes, lines);
            }
            (Pending::Retrieve { .. }, answer) => {
                let r = refusal(answer);
                self.err(r.code, &r.text);
            }
            (Pending::Commit { remaining }, Answer::Accept) => {
                let host = &self.config.hostname;
                let text = if remaining == 0 {
                    format!("{host} POP3 server signing off (maildrop empty)")
                } else {
                    format!("{host} POP3 server signing off ({remaining} messages left)")
                };
                self.ok(&text);
                self.closed = true;
            }
            (Pending::Commit { .. }, answer) => {
                let r = refusal(answer);
                let text = format!("some deleted messages not removed: {}", r.text);
                self.err(r.code.or(Some(ResponseCode::SysTemp)), &text);
                self.closed = true;
            }
        }
    }
}

/// The refusal in an answer; any other answer is a temporary failure.
fn refusal(answer: Answer) -> Refusal {
    match answer {
        Answer::Reject(r) => r,
        _ => Refusal::temporary("Internal error"),
    }
}
