//! The SMTP server session: a deterministic state machine that takes bytes in and gives reply
//! bytes and [`Event`]s out. It does no I/O and reads no clock.
//!
//! ```text
//!  handle_input(bytes) ─► line framing / DATA unstuffing / BDAT chunks
//!                              │
//!            poll_event() ◄────┤ EHLO, STARTTLS, AUTH, MAIL, RCPT, message: the shell decides
//!      answer(Answer) ────────►│ (hooks, directory, delivery) and answers
//!                              ▼
//!                       take_output() ─► reply bytes for the socket
//! ```
//!
//! ```
//! use std::sync::Arc;
//! use mailcore_smtp::session::{Answer, Event, Mode, Session, SessionConfig};
//! let mut s = Session::new(Arc::new(SessionConfig::new("mx.example.com", Mode::Mx)), false);
//! s.handle_input(b"EHLO client.example\r\nMAIL FROM:<a@example.org>\r\n");
//! assert!(matches!(s.poll_event(), Some(Event::Ehlo { .. })));
//! s.answer(Answer::Accept);
//! assert!(matches!(s.poll_event(), Some(Event::Mail { .. })));
//! s.answer(Answer::Accept);
//! let out = String::from_utf8(s.take_output()).unwrap();
//! assert!(out.starts_with("220 mx.example.com"));
//! assert!(out.ends_with("250 2.1.0 Sender OK\r\n"));
//! ```

use std::sync::Arc;
use std::time::Duration;

use mailcore::address::{ForwardPath, ReversePath};
use mailcore::envelope::{BodyType, Envelope, MailParameters, Recipient};
use mailcore::reply::Reply;

use crate::command::{self, Command};
use crate::data::{DotUnstuffer, Progress};
use crate::sasl::{self, Credentials};

/// Named limits of a session; every one is on by default.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Limits {
    /// Longest command line in bytes, CRLF included (default 2,048; RFC 5321 requires 512).
    pub max_line_length: usize,
    /// Most recipients per message (default 100, the RFC 5321 minimum).
    pub max_recipients: usize,
    /// Largest message in bytes (default 50 MiB), checked at `MAIL SIZE=` and while receiving.
    pub max_message_size: usize,
    /// Protocol errors before the session is closed (default 10).
    pub max_errors: u32,
    /// Failed authentications before the session is closed (default 3).
    pub max_auth_failures: u32,
    /// Base of the growing delay after a failed authentication (default 1 s; doubles each time).
    pub auth_failure_delay: Duration,
    /// Idle time allowed while waiting for a command or data (default 5 min, RFC 5321 §4.5.3.2).
    pub idle_timeout: Duration,
    /// Longest total session (default 30 min).
    pub session_timeout: Duration,
    /// Most `Received:` headers before the message is taken for a loop (default 50).
    pub max_received_headers: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_line_length: 2048,
            max_recipients: 100,
            max_message_size: 50 * 1024 * 1024,
            max_errors: 10,
            max_auth_failures: 3,
            auth_failure_delay: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(300),
            session_timeout: Duration::from_secs(1800),
            max_received_headers: 50,
        }
    }
}

/// What a listener is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mode {
    /// Inbound MX: no AUTH; the shell accepts only local recipients (and relays for trusted
    /// networks only).
    Mx,
    /// Submission: TLS and AUTH required before `MAIL`.
    Submission,
}

/// Configuration shared by the sessions of one listener.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SessionConfig {
    /// Our host name (greeting, `EHLO` reply).
    pub hostname: String,
    /// What the listener is for.
    pub mode: Mode,
    /// Whether `STARTTLS` is offered (a certificate is configured).
    pub starttls: bool,
    /// Limits.
    pub limits: Limits,
}

impl SessionConfig {
    /// A configuration with default limits and STARTTLS offered.
    pub fn new(hostname: &str, mode: Mode) -> SessionConfig {
        SessionConfig {
            hostname: hostname.to_owned(),
            mode,
            starttls: true,
            limits: Limits::default(),
        }
    }
}

/// Something the shell must decide or do. Until it calls [`Session::answer`] (or
/// [`Session::tls_established`] after [`Event::StartTls`]), the session processes no further
/// input.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// `EHLO`/`HELO`: accept or refuse the client's name.
    Ehlo {
        /// The name given.
        name: String,
    },
    /// The `220` is queued and pipelined plaintext discarded: flush the output, run the TLS
    /// handshake, then call [`Session::tls_established`].
    StartTls,
    /// Check these credentials.
    Auth {
        /// `PLAIN` or `LOGIN`.
        mechanism: &'static str,
        /// What the client presented.
        credentials: Credentials,
    },
    /// `MAIL FROM`: check the sender (send-as rules, hooks).
    Mail {
        /// The reverse path.
        sender: ReversePath,
        /// Its parameters.
        params: MailParameters,
    },
    /// `RCPT TO`: check the recipient (directory, relay rules, hooks).
    Rcpt {
        /// The recipient.
        recipient: Recipient,
    },
    /// The message is complete: run the message hooks and deliver; answer only once it is
    /// durable.
    Message {
        /// The envelope.
        envelope: Envelope,
        /// The message as received (unstuffed).
        data: Vec<u8>,
    },
}

/// The shell's answer to an event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// Accept with the default reply.
    Accept,
    /// Accept with this (2xx) reply, e.g. `250 2.0.0 Ok: queued as …`.
    AcceptWith(Reply),
    /// Refuse with this (4xx/5xx) reply.
    Reject(Reply),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    Command,
    Data,
    Bdat { remaining: u64, last: bool },
    AuthPlain,
    AuthLoginUser,
    AuthLoginPassword { user: String },
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Pending {
    Ehlo {
        name: String,
        esmtp: bool,
    },
    Tls,
    Auth {
        user: String,
    },
    Mail {
        sender: ReversePath,
        params: MailParameters,
    },
    Rcpt {
        recipient: Recipient,
    },
    Message,
}

/// One SMTP server session.
#[derive(Debug)]
pub struct Session {
    config: Arc<SessionConfig>,
    input: Vec<u8>,
    output: Vec<u8>,
    state: State,
    pending: Option<Pending>,
    tls: bool,
    helo: Option<String>,
    esmtp: bool,
    authenticated: Option<String>,
    envelope: Option<Envelope>,
    data: Option<DotUnstuffer>,
    chunks: Vec<u8>,
    chunk_failure: Option<Reply>,
    errors: u32,
    auth_failures: u32,
    penalty: Duration,
    skipping_line: bool,
    closed: bool,
}

/// Builds one of this module's constant replies (always valid; a bad one would degrade to a
/// generic temporary failure rather than panic).
pub(crate) fn reply(code: u16, status: &str, text: &str) -> Reply {
    let status = (!status.is_empty()).then_some(status);
    Reply::new(code, status, text).unwrap_or_else(|_| Reply::internal_error())
}

impl Session {
    /// A new session; `tls` is true on implicit-TLS listeners. The greeting is queued.
    pub fn new(config: Arc<SessionConfig>, tls: bool) -> Session {
        let mut s = Session {
            output: format!("220 {} ESMTP mailcore\r\n", config.hostname).into_bytes(),
            config,
            input: Vec::new(),
            state: State::Command,
            pending: None,
            tls,
            helo: None,
            esmtp: false,
            authenticated: None,
            envelope: None,
            data: None,
            chunks: Vec::new(),
            chunk_failure: None,
            errors: 0,
            auth_failures: 0,
            penalty: Duration::ZERO,
            skipping_line: false,
            closed: false,
        };
        s.output.shrink_to_fit();
        s
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

    /// The name given in `EHLO`/`HELO`.
    pub fn helo(&self) -> Option<&str> {
        self.helo.as_deref()
    }

    /// The authenticated user.
    pub fn authenticated(&self) -> Option<&str> {
        self.authenticated.as_deref()
    }

    /// Whether `EHLO` (not `HELO`) was used.
    pub fn is_esmtp(&self) -> bool {
        self.esmtp
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

    /// The TLS handshake after [`Event::StartTls`] succeeded: the session starts over
    /// (RFC 3207 §4.2), waiting for a new `EHLO`.
    pub fn tls_established(&mut self) {
        if self.pending == Some(Pending::Tls) {
            self.pending = None;
        }
        self.tls = true;
        self.input.clear();
        self.helo = None;
        self.esmtp = false;
        self.authenticated = None;
        self.reset_transaction();
    }

    /// Ends the session with `421` (e.g. on a timeout or shutdown).
    pub fn close_with(&mut self, status: &str, text: &str) {
        self.write(&reply(421, status, text));
        self.closed = true;
    }

    fn write(&mut self, r: &Reply) {
        self.output.extend_from_slice(r.to_string().as_bytes());
        self.output.extend_from_slice(b"\r\n");
    }

    fn write_line(&mut self, code: u16, status: &str, text: &str) {
        let r = reply(code, status, text);
        self.write(&r);
    }

    fn reset_transaction(&mut self) {
        self.envelope = None;
        self.data = None;
        self.chunks = Vec::new();
        self.chunk_failure = None;
        if !matches!(self.state, State::Bdat { .. }) {
            self.state = State::Command;
        }
    }

    fn error(&mut self, code: u16, status: &str, text: &str) {
        self.write_line(code, status, text);
        self.errors += 1;
        if self.errors >= self.config.limits.max_errors {
            self.write_line(421, "4.7.0", "Too many errors, closing connection");
            self.closed = true;
        }
    }

    /// Processes buffered input until an event needs the shell, or the input runs out.
    pub fn poll_event(&mut self) -> Option<Event> {
        while !self.closed && self.pending.is_none() {
            match self.state.clone() {
                State::Data => {
                    let data = self.data.get_or_insert_with(|| {
                        DotUnstuffer::new(self.config.limits.max_message_size)
                    });
                    match data.feed(&self.input) {
                        Progress::NeedMore => {
                            self.input.clear();
                            return None;
                        }
                        Progress::Done { consumed } => {
                            self.input.drain(..consumed);
                            self.state = State::Command;
                            let data = self
                                .data
                                .take()
                                .map_or(Ok(Vec::new()), DotUnstuffer::into_message_checked);
                            if let Some(event) = self.finish_message(data) {
                                return Some(event);
                            }
                        }
                        Progress::BareLineEnding { .. } => {
                            self.input.clear();
                            self.write_line(
                                554,
                                "5.5.2",
                                "Bare CR or LF in message data is not allowed (RFC 5321 2.3.8); closing",
                            );
                            self.closed = true;
                        }
                    }
                }
                State::Bdat { remaining, last } => {
                    let take = (remaining.min(self.input.len() as u64)) as usize;
                    let room = self
                        .config
                        .limits
                        .max_message_size
                        .saturating_sub(self.chunks.len());
                    if self.chunk_failure.is_none() {
                        if take > room {
                            self.chunk_failure =
                                Some(reply(552, "5.3.4", "Message exceeds the size limit"));
                            self.chunks = Vec::new();
                        } else {
                            self.chunks.extend_from_slice(&self.input[..take]);
                        }
                    }
                    self.input.drain(..take);
                    let remaining = remaining - take as u64;
                    if remaining > 0 {
                        self.state = State::Bdat { remaining, last };
                        return None;
                    }
                    self.state = State::Command;
                    if let Some(failure) = self.chunk_failure.clone() {
                        if last {
                            self.reset_transaction();
                        }
                        self.write(&failure);
                        continue;
                    }
                    if !last {
                        let n = self.chunks.len();
                        self.write_line(250, "2.0.0", &format!("{n} octets received"));
                        continue;
                    }
                    let data = std::mem::take(&mut self.chunks);
                    if let Some(event) = self.finish_message(Ok(data)) {
                        return Some(event);
                    }
                }
                _ => {
                    let Some(nl) = memchr::memchr(b'\n', &self.input) else {
                        if self.input.len() > self.config.limits.max_line_length {
                            self.input.clear();
                            if !self.skipping_line {
                                self.skipping_line = true;
                                self.error(500, "5.5.6", "Line too long");
                            }
                        }
                        return None;
                    };
                    let mut line: Vec<u8> = self.input.drain(..=nl).collect();
                    if self.skipping_line {
                        self.skipping_line = false;
                        continue;
                    }
                    line.pop();
                    if line.last() == Some(&b'\r') {
                        line.pop();
                    }
                    if line.len() + 2 > self.config.limits.max_line_length {
                        self.error(500, "5.5.6", "Line too long");
                        continue;
                    }
                    let event = match self.state.clone() {
                        State::Command => self.command(&line),
                        State::AuthPlain => self.auth_plain_response(&line),
                        State::AuthLoginUser => self.auth_login_user(&line),
                        State::AuthLoginPassword { user } => self.auth_login_password(&line, user),
                        State::Data | State::Bdat { .. } => None,
                    };
                    if event.is_some() {
                        return event;
                    }
                }
            }
        }
        None
    }

    fn finish_message(&mut self, data: Result<Vec<u8>, u64>) -> Option<Event> {
        let data = match data {
            Ok(d) => d,
            Err(_) => {
                self.reset_transaction();
                self.write_line(552, "5.3.4", "Message exceeds the size limit");
                return None;
            }
        };
        if received_headers(&data) > self.config.limits.max_received_headers {
            self.reset_transaction();
            self.write_line(
                554,
                "5.4.6",
                "Too many Received headers: mail loop suspected",
            );
            return None;
        }
        let envelope = self.envelope.clone()?;
        self.pending = Some(Pending::Message);
        Some(Event::Message { envelope, data })
    }

    fn command(&mut self, line: &[u8]) -> Option<Event> {
        let cmd = match command::parse(line) {
            Ok(c) => c,
            Err(e) => {
                let (code, status) = e.code();
                self.error(code, status, &e.to_string());
                return None;
            }
        };
        match cmd {
            Command::Ehlo(name) | Command::Helo(name) if name.is_empty() => {
                self.error(501, "5.5.4", "Name required");
                None
            }
            Command::Ehlo(name) => self.hello(name, true),
            Command::Helo(name) => self.hello(name, false),
            Command::StartTls => {
                if !self.config.starttls {
                    self.error(502, "5.5.1", "STARTTLS not available");
                } else if self.tls {
                    self.error(503, "5.5.1", "Already using TLS");
                } else {
                    self.write_line(220, "2.0.0", "Ready to start TLS");
                    // Anything pipelined after STARTTLS was sent in plaintext: drop it.
                    self.input.clear();
                    self.pending = Some(Pending::Tls);
                    return Some(Event::StartTls);
                }
                None
            }
            Command::Auth { mechanism, initial } => self.auth(&mechanism, initial),
            Command::Mail(sender, params) => self.mail(sender, params),
            Command::Rcpt(path, params) => self.rcpt(Recipient { path, params }),
            Command::Data => {
                match &self.envelope {
                    None => self.error(503, "5.5.1", "Need MAIL command"),
                    Some(e) if e.recipients.is_empty() => {
                        self.error(554, "5.5.1", "No valid recipients")
                    }
                    Some(e) if e.params.body == Some(BodyType::BinaryMime) => {
                        self.error(503, "5.5.1", "BINARYMIME requires BDAT")
                    }
                    Some(_) if !self.chunks.is_empty() => {
                        self.error(503, "5.5.1", "DATA after BDAT")
                    }
                    Some(_) => {
                        self.write_line(354, "", "End data with <CR><LF>.<CR><LF>");
                        self.state = State::Data;
                    }
                }
                None
            }
            Command::Bdat { size, last } => {
                self.chunk_failure = match &self.envelope {
                    None => Some(reply(503, "5.5.1", "Need MAIL command")),
                    Some(e) if e.recipients.is_empty() => {
                        Some(reply(554, "5.5.1", "No valid recipients"))
                    }
                    _ => self.chunk_failure.take(),
                };
                if self.chunk_failure.is_none()
                    && self.chunks.len() as u64 + size > self.config.limits.max_message_size as u64
                {
                    self.chunk_failure =
                        Some(reply(552, "5.3.4", "Message exceeds the size limit"));
                    self.chunks = Vec::new();
                }
                // The chunk's bytes are read (and discarded on failure) either way, so they are
                // never taken for commands.
                self.state = State::Bdat {
                    remaining: size,
                    last,
                };
                None
            }
            Command::Rset => {
                self.reset_transaction();
                self.write_line(250, "2.0.0", "Reset OK");
                None
            }
            Command::Noop => {
                self.write_line(250, "2.0.0", "OK");
                None
            }
            Command::Quit => {
                self.write_line(221, "2.0.0", "Bye");
                self.closed = true;
                None
            }
            Command::Vrfy(_) => {
                self.write_line(
                    252,
                    "2.5.0",
                    "Cannot VRFY user, but will accept message and attempt delivery",
                );
                None
            }
            Command::Expn(_) => {
                self.error(502, "5.5.1", "EXPN not available");
                None
            }
            Command::Help => {
                self.write_line(214, "2.0.0", "See RFC 5321");
                None
            }
        }
    }

    fn hello(&mut self, name: String, esmtp: bool) -> Option<Event> {
        if !valid_helo(&name) {
            self.error(501, "5.5.4", "Invalid domain name in EHLO/HELO");
            return None;
        }
        self.pending = Some(Pending::Ehlo {
            name: name.clone(),
            esmtp,
        });
        Some(Event::Ehlo { name })
    }

    fn ehlo_reply(&mut self, name: &str, esmtp: bool) {
        let host = self.config.hostname.clone();
        if !esmtp {
            self.output
                .extend_from_slice(format!("250 {host} Hello {name}\r\n").as_bytes());
            return;
        }
        let mut lines = vec![
            format!("{host} Hello {name}"),
            "PIPELINING".to_owned(),
            format!("SIZE {}", self.config.limits.max_message_size),
            "8BITMIME".to_owned(),
            "SMTPUTF8".to_owned(),
            "ENHANCEDSTATUSCODES".to_owned(),
            "CHUNKING".to_owned(),
            "BINARYMIME".to_owned(),
            "DSN".to_owned(),
        ];
        if self.config.starttls && !self.tls {
            lines.push("STARTTLS".to_owned());
        }
        if self.config.mode == Mode::Submission && self.tls {
            lines.push("AUTH PLAIN LOGIN".to_owned());
        }
        for (i, l) in lines.iter().enumerate() {
            let sep = if i + 1 == lines.len() { ' ' } else { '-' };
            self.output
                .extend_from_slice(format!("250{sep}{l}\r\n").as_bytes());
        }
    }

    fn auth(&mut self, mechanism: &str, initial: Option<String>) -> Option<Event> {
        if self.config.mode != Mode::Submission {
            self.error(502, "5.5.1", "AUTH not available on this port");
        } else if !self.tls {
            self.error(
                538,
                "5.7.11",
                "Encryption required for requested authentication mechanism",
            );
        } else if self.helo.is_none() || !self.esmtp {
            self.error(503, "5.5.1", "Send EHLO first");
        } else if self.authenticated.is_some() {
            self.error(503, "5.5.1", "Already authenticated");
        } else if self.envelope.is_some() {
            self.error(503, "5.5.1", "AUTH not allowed during a mail transaction");
        } else {
            match (mechanism, initial) {
                ("PLAIN", Some(resp)) => return self.auth_plain_response(resp.as_bytes()),
                ("PLAIN", None) => {
                    self.output.extend_from_slice(b"334 \r\n");
                    self.state = State::AuthPlain;
                }
                ("LOGIN", Some(user)) => return self.auth_login_user(user.as_bytes()),
                ("LOGIN", None) => {
                    self.output.extend_from_slice(b"334 VXNlcm5hbWU6\r\n");
                    self.state = State::AuthLoginUser;
                }
                _ => self.error(504, "5.5.4", "Unrecognized authentication type"),
            }
        }
        None
    }

    fn sasl_line(&mut self, line: &[u8]) -> Option<Vec<u8>> {
        self.state = State::Command;
        if line == b"*" {
            self.error(501, "5.0.0", "Authentication cancelled");
            return None;
        }
        let decoded = std::str::from_utf8(line).ok().and_then(sasl::decode_base64);
        if decoded.is_none() {
            self.error(501, "5.5.2", "Cannot decode response");
        }
        decoded
    }

    fn auth_plain_response(&mut self, line: &[u8]) -> Option<Event> {
        let decoded = self.sasl_line(line)?;
        match sasl::parse_plain(&decoded) {
            Some(credentials) => {
                self.pending = Some(Pending::Auth {
                    user: credentials.authcid.clone(),
                });
                Some(Event::Auth {
                    mechanism: "PLAIN",
                    credentials,
                })
            }
            None => {
                self.error(501, "5.5.2", "Malformed PLAIN response");
                None
            }
        }
    }

    fn auth_login_user(&mut self, line: &[u8]) -> Option<Event> {
        let decoded = self.sasl_line(line)?;
        match String::from_utf8(decoded) {
            Ok(user) if !user.is_empty() => {
                self.output.extend_from_slice(b"334 UGFzc3dvcmQ6\r\n");
                self.state = State::AuthLoginPassword { user };
            }
            _ => self.error(501, "5.5.2", "Malformed user name"),
        }
        None
    }

    fn auth_login_password(&mut self, line: &[u8], user: String) -> Option<Event> {
        let decoded = self.sasl_line(line)?;
        match String::from_utf8(decoded) {
            Ok(password) => {
                self.pending = Some(Pending::Auth { user: user.clone() });
                Some(Event::Auth {
                    mechanism: "LOGIN",
                    credentials: Credentials {
                        authzid: None,
                        authcid: user,
                        password,
                    },
                })
            }
            Err(_) => {
                self.error(501, "5.5.2", "Malformed password");
                None
            }
        }
    }

    fn mail(&mut self, sender: ReversePath, params: MailParameters) -> Option<Event> {
        let limits = &self.config.limits;
        if self.helo.is_none() {
            self.error(503, "5.5.1", "Send EHLO/HELO first");
        } else if self.envelope.is_some() {
            self.error(503, "5.5.1", "Nested MAIL command");
        } else if self.config.mode == Mode::Submission && !self.tls {
            self.error(530, "5.7.0", "Must issue a STARTTLS command first");
        } else if self.config.mode == Mode::Submission && self.authenticated.is_none() {
            self.error(530, "5.7.0", "Authentication required");
        } else if !self.esmtp && params != MailParameters::default() {
            self.error(555, "5.5.4", "ESMTP parameters need EHLO");
        } else if params
            .size
            .is_some_and(|s| s > limits.max_message_size as u64)
        {
            self.error(
                552,
                "5.3.4",
                "Message size exceeds fixed maximum message size",
            );
        } else if sender.address().is_some_and(|a| !a.is_ascii_local()) && !params.smtputf8 {
            self.error(553, "5.6.7", "SMTPUTF8 required for a non-ASCII address");
        } else {
            self.pending = Some(Pending::Mail {
                sender: sender.clone(),
                params: params.clone(),
            });
            return Some(Event::Mail { sender, params });
        }
        None
    }

    fn rcpt(&mut self, recipient: Recipient) -> Option<Event> {
        let Some(envelope) = &self.envelope else {
            self.error(503, "5.5.1", "Need MAIL command");
            return None;
        };
        let smtputf8 = envelope.params.smtputf8;
        if envelope.recipients.len() >= self.config.limits.max_recipients {
            self.write_line(452, "4.5.3", "Too many recipients");
        } else if matches!(&recipient.path, ForwardPath::Address(a) if !a.is_ascii_local())
            && !smtputf8
        {
            self.error(553, "5.6.7", "SMTPUTF8 required for a non-ASCII address");
        } else {
            self.pending = Some(Pending::Rcpt {
                recipient: recipient.clone(),
            });
            return Some(Event::Rcpt { recipient });
        }
        None
    }

    /// Answers the event returned by [`Session::poll_event`].
    pub fn answer(&mut self, answer: Answer) {
        let Some(pending) = self.pending.take() else {
            return;
        };
        let refused = match &answer {
            Answer::Reject(r) => Some(r.clone()),
            Answer::AcceptWith(r) if r.code() >= 400 => Some(r.clone()),
            _ => None,
        };
        let custom = match &answer {
            Answer::AcceptWith(r) => Some(r.clone()),
            _ => None,
        };
        if let Some(r) = refused {
            match pending {
                Pending::Auth { .. } => {
                    self.auth_failures += 1;
                    let exp = self.auth_failures.saturating_sub(1).min(6);
                    self.penalty = self.config.limits.auth_failure_delay * (1u32 << exp);
                    self.write(&r);
                    if self.auth_failures >= self.config.limits.max_auth_failures {
                        self.write_line(421, "4.7.0", "Too many authentication failures, closing");
                        self.closed = true;
                    }
                }
                Pending::Message => {
                    self.reset_transaction();
                    self.write(&r);
                }
                Pending::Tls => self.closed = true,
                _ => self.write(&r),
            }
            if r.code() == 421 {
                self.closed = true;
            }
            return;
        }
        let ok = |default: Reply| custom.clone().unwrap_or(default);
        match pending {
            Pending::Ehlo { name, esmtp } => {
                self.reset_transaction();
                self.helo = Some(name.clone());
                self.esmtp = esmtp;
                self.ehlo_reply(&name, esmtp);
            }
            Pending::Tls => {}
            Pending::Auth { user } => {
                self.authenticated = Some(user);
                self.write(&ok(reply(235, "2.7.0", "Authentication successful")));
            }
            Pending::Mail { sender, params } => {
                self.envelope = Some(Envelope::new(sender, params));
                self.write(&ok(reply(250, "2.1.0", "Sender OK")));
            }
            Pending::Rcpt { recipient } => {
                if let Some(e) = self.envelope.as_mut() {
                    e.recipients.push(recipient);
                }
                self.write(&ok(reply(250, "2.1.5", "Recipient OK")));
            }
            Pending::Message => {
                self.reset_transaction();
                self.write(&ok(reply(250, "2.0.0", "Message accepted")));
            }
        }
    }
}

impl DotUnstuffer {
    fn into_message_checked(self) -> Result<Vec<u8>, u64> {
        if self.too_big() {
            Err(self.size())
        } else {
            Ok(self.into_message())
        }
    }
}

/// Whether an `EHLO`/`HELO` argument is a plausible domain or address literal (it is copied
/// into `Received:`, so nothing else is accepted): letters, digits, `.`, `-`, `_`, or a
/// bracketed literal of hex digits, `.`, `:` and `IPv6:`.
fn valid_helo(name: &str) -> bool {
    if name.len() > 255 {
        return false;
    }
    match name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
        Some(lit) => {
            let lit = lit.strip_prefix("IPv6:").unwrap_or(lit);
            !lit.is_empty()
                && lit
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() || b == b'.' || b == b':')
        }
        None => name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_'),
    }
}

/// Counts `Received:` fields in the header section of a message.
fn received_headers(data: &[u8]) -> usize {
    let mut count = 0;
    for line in data.split(|&b| b == b'\n') {
        if line.is_empty() || line == b"\r" {
            break;
        }
        if line.len() >= 9 && line[..9].eq_ignore_ascii_case(b"received:") {
            count += 1;
        }
    }
    count
}
