//! The session state machine driven in memory: RFC 1939 transcripts and hostile input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use mailcore_pop3::response::{ResponseCode, UniqueId};
use mailcore_pop3::session::{
    Answer, Entry, Event, Mechanism, Phase, Refusal, Session, SessionConfig,
};
use proptest::prelude::*;

/// A fake maildrop: the password is `secret`; messages are given in order.
struct Driver {
    session: Session,
    messages: Vec<Vec<u8>>,
    events: Vec<Event>,
    out: String,
}

impl Driver {
    fn new(tls: bool, messages: &[&[u8]]) -> Driver {
        Driver::with(SessionConfig::new("pop.example.com"), tls, messages)
    }

    fn with(config: SessionConfig, tls: bool, messages: &[&[u8]]) -> Driver {
        let mut session = Session::new(Arc::new(config), tls);
        let out = String::from_utf8(session.take_output()).unwrap();
        Driver {
            session,
            messages: messages.iter().map(|m| m.to_vec()).collect(),
            events: Vec::new(),
            out,
        }
    }

    fn answer(&self, event: &Event) -> Answer {
        match event {
            Event::Login { password, .. } if password == "secret" => Answer::Accept,
            Event::Login { .. } => Answer::Reject(Refusal::credentials()),
            Event::Load => Answer::Maildrop(
                self.messages
                    .iter()
                    .enumerate()
                    .map(|(i, m)| Entry {
                        uid: UniqueId::from_parts(1234, i as u32 + 1),
                        size: m.len() as u64,
                    })
                    .collect(),
            ),
            Event::Retrieve { index } => {
                Answer::Message(Bytes::from(self.messages[*index].clone()))
            }
            Event::Commit { .. } | Event::Stls => Answer::Accept,
            _ => Answer::Accept,
        }
    }

    fn send_bytes(&mut self, input: &[u8]) -> String {
        self.session.handle_input(input);
        while let Some(ev) = self.session.poll_event() {
            let answer = self.answer(&ev);
            let tls = ev == Event::Stls;
            self.events.push(ev);
            if tls {
                self.session.tls_established();
            } else {
                self.session.answer(answer);
            }
        }
        let out = String::from_utf8(self.session.take_output()).unwrap();
        self.out.push_str(&out);
        out
    }

    fn send(&mut self, input: &str) -> String {
        self.send_bytes(input.as_bytes())
    }

    fn login(&mut self) {
        self.send("USER mrose\r\n");
        let out = self.send("PASS secret\r\n");
        assert!(out.starts_with("+OK maildrop has"), "{out}");
    }

    fn commits(&self) -> Vec<&Vec<usize>> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Commit { deleted } => Some(deleted),
                _ => None,
            })
            .collect()
    }
}

/// A message of exactly `len` octets: `head`, then one filler line.
fn sized(head: &[u8], len: usize) -> Vec<u8> {
    let mut m = head.to_vec();
    m.extend(std::iter::repeat_n(b'x', len - head.len() - 2));
    m.extend_from_slice(b"\r\n");
    m
}

/// Two messages of 120 and 200 octets, as in RFC 1939 §10.
fn rfc_messages() -> (Vec<u8>, Vec<u8>) {
    let one = sized(b"From: a@example.com\r\nSubject: one\r\n\r\n", 120);
    let two = sized(
        b"From: b@example.com\r\nSubject: two\r\n\r\n.starts with a dot\r\n",
        200,
    );
    (one, two)
}

fn stuffed(m: &[u8]) -> String {
    let text = String::from_utf8(m.to_vec()).unwrap();
    text.split_inclusive("\r\n")
        .map(|l| {
            if l.starts_with('.') {
                format!(".{l}")
            } else {
                l.to_owned()
            }
        })
        .collect()
}

#[test]
fn rfc1939_sample_session() {
    let (one, two) = rfc_messages();
    let mut d = Driver::new(true, &[&one, &two]);
    assert_eq!(d.out, "+OK pop.example.com POP3 server ready\r\n");
    // APOP is refused (no plaintext passwords are kept); USER/PASS stands in for it.
    assert_eq!(
        d.send("APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\n"),
        "-ERR APOP not supported\r\n"
    );
    assert_eq!(d.send("USER mrose\r\n"), "+OK send PASS\r\n");
    assert_eq!(
        d.send("PASS secret\r\n"),
        "+OK maildrop has 2 messages (320 octets)\r\n"
    );
    assert_eq!(
        d.events[0],
        Event::Login {
            user: "mrose".into(),
            password: "secret".into(),
            mechanism: Mechanism::User,
            authzid: None,
        }
    );
    assert_eq!(d.session.phase(), Phase::Transaction);
    assert_eq!(d.send("STAT\r\n"), "+OK 2 320\r\n");
    assert_eq!(
        d.send("LIST\r\n"),
        "+OK 2 messages (320 octets)\r\n1 120\r\n2 200\r\n.\r\n"
    );
    assert_eq!(
        d.send("RETR 1\r\n"),
        format!("+OK 120 octets\r\n{}.\r\n", stuffed(&one))
    );
    assert_eq!(d.send("DELE 1\r\n"), "+OK message 1 deleted\r\n");
    let retr2 = d.send("RETR 2\r\n");
    assert_eq!(retr2, format!("+OK 200 octets\r\n{}.\r\n", stuffed(&two)));
    assert!(retr2.contains("\r\n..starts with a dot\r\n"));
    assert_eq!(d.send("DELE 2\r\n"), "+OK message 2 deleted\r\n");
    assert!(d.commits().is_empty(), "nothing removed before QUIT");
    assert_eq!(
        d.send("QUIT\r\n"),
        "+OK pop.example.com POP3 server signing off (maildrop empty)\r\n"
    );
    assert_eq!(d.commits(), [&vec![0, 1]]);
    assert!(d.session.is_closed());
}

#[test]
fn rfc1939_command_examples() {
    let (one, two) = rfc_messages();
    let mut d = Driver::new(true, &[&one, &two]);
    assert_eq!(
        d.send("STAT\r\n"),
        "-ERR Command not valid before login\r\n"
    );
    assert_eq!(d.send("PASS secret\r\n"), "-ERR USER first\r\n");
    d.login();
    assert_eq!(d.send("LIST 2\r\n"), "+OK 2 200\r\n");
    assert_eq!(
        d.send("LIST 3\r\n"),
        "-ERR no such message, only 2 messages in maildrop\r\n"
    );
    assert_eq!(d.send("UIDL 2\r\n"), "+OK 2 1234.2\r\n");
    assert_eq!(d.send("UIDL\r\n"), "+OK\r\n1 1234.1\r\n2 1234.2\r\n.\r\n");
    assert_eq!(d.send("NOOP\r\n"), "+OK\r\n");
    assert_eq!(d.send("DELE 1\r\n"), "+OK message 1 deleted\r\n");
    assert_eq!(d.send("DELE 1\r\n"), "-ERR message 1 already deleted\r\n");
    assert_eq!(d.send("RETR 1\r\n"), "-ERR message 1 already deleted\r\n");
    assert_eq!(d.send("STAT\r\n"), "+OK 1 200\r\n");
    assert_eq!(
        d.send("LIST\r\n"),
        "+OK 1 messages (200 octets)\r\n2 200\r\n.\r\n"
    );
    assert_eq!(d.send("UIDL\r\n"), "+OK\r\n2 1234.2\r\n.\r\n");
    assert_eq!(
        d.send("RSET\r\n"),
        "+OK maildrop has 2 messages (320 octets)\r\n"
    );
    assert_eq!(d.send("STAT\r\n"), "+OK 2 320\r\n");
    assert_eq!(
        d.send("TOP 100 3\r\n"),
        "-ERR no such message, only 2 messages in maildrop\r\n"
    );
    assert_eq!(
        d.send("USER x\r\n"),
        "-ERR Command not valid after login\r\n"
    );
    assert_eq!(
        d.send("QUIT\r\n"),
        "+OK pop.example.com POP3 server signing off (2 messages left)\r\n"
    );
    assert_eq!(
        d.commits(),
        [&Vec::<usize>::new()],
        "RSET undid the deletion"
    );
}

#[test]
fn top_sends_header_and_n_lines() {
    let msg = b"Subject: t\r\nFrom: a@b\r\n\r\nline 1\r\n.line 2\r\nline 3\r\n";
    let mut d = Driver::new(true, &[msg]);
    d.login();
    assert_eq!(
        d.send("TOP 1 2\r\n"),
        "+OK\r\nSubject: t\r\nFrom: a@b\r\n\r\nline 1\r\n..line 2\r\n.\r\n"
    );
    assert_eq!(
        d.send("TOP 1 0\r\n"),
        "+OK\r\nSubject: t\r\nFrom: a@b\r\n\r\n.\r\n"
    );
    assert_eq!(
        d.send("TOP 1 10\r\n"),
        format!("+OK\r\n{}.\r\n", stuffed(msg))
    );
    assert_eq!(d.events.last(), Some(&Event::Retrieve { index: 0 }));
}

#[test]
fn dot_stuffing_and_line_endings() {
    let msg: &[u8] = b".\r\n..\r\nok\n.lf only\nno newline at end";
    let mut d = Driver::new(true, &[msg]);
    d.login();
    let out = d.send("RETR 1\r\n");
    assert_eq!(
        out,
        format!(
            "+OK {} octets\r\n..\r\n...\r\nok\r\n..lf only\r\nno newline at end\r\n.\r\n",
            msg.len()
        )
    );
}

#[test]
fn dropped_connection_deletes_nothing() {
    let mut d = Driver::new(true, &[b"a\r\n", b"b\r\n"]);
    d.login();
    d.send("DELE 1\r\nDELE 2\r\n");
    // The connection drops (or times out) here: the shell stops; no QUIT.
    d.session.close_with("Timeout, closing connection");
    assert!(d.session.poll_event().is_none());
    d.send("QUIT\r\n");
    assert!(d.commits().is_empty());
    assert!(!d.events.iter().any(|e| matches!(e, Event::Commit { .. })));
}

#[test]
fn quit_before_login_commits_nothing() {
    let mut d = Driver::new(true, &[b"a\r\n"]);
    assert_eq!(
        d.send("QUIT\r\n"),
        "+OK pop.example.com POP3 server signing off\r\n"
    );
    assert!(d.session.is_closed() && d.events.is_empty());
}

#[test]
fn failed_commit_is_reported() {
    let mut session = Session::new(Arc::new(SessionConfig::new("h")), true);
    session.handle_input(b"USER u\r\nPASS p\r\nDELE 1\r\nQUIT\r\n");
    assert!(matches!(session.poll_event(), Some(Event::Login { .. })));
    session.answer(Answer::Accept);
    assert_eq!(session.poll_event(), Some(Event::Load));
    session.answer(Answer::Maildrop(vec![Entry {
        uid: UniqueId::new("abc").unwrap(),
        size: 3,
    }]));
    assert_eq!(
        session.poll_event(),
        Some(Event::Commit { deleted: vec![0] })
    );
    assert_eq!(session.phase(), Phase::Update);
    session.answer(Answer::Reject(Refusal::temporary("disk full")));
    let out = String::from_utf8(session.take_output()).unwrap();
    assert!(
        out.ends_with("-ERR [SYS/TEMP] some deleted messages not removed: disk full\r\n"),
        "{out}"
    );
    assert!(session.is_closed());
}

#[test]
fn maildrop_in_use() {
    let mut session = Session::new(Arc::new(SessionConfig::new("h")), true);
    session.handle_input(b"USER u\r\nPASS p\r\n");
    session.poll_event();
    session.answer(Answer::Accept);
    assert_eq!(session.poll_event(), Some(Event::Load));
    session.answer(Answer::Reject(Refusal::new(
        Some(ResponseCode::InUse),
        "Maildrop already locked",
    )));
    let out = String::from_utf8(session.take_output()).unwrap();
    assert!(out.ends_with("-ERR [IN-USE] Maildrop already locked\r\n"));
    assert_eq!(session.phase(), Phase::Authorization);
    assert_eq!(session.authenticated(), None);
    assert!(!session.is_closed());
}

#[test]
fn plaintext_listener_refuses_logins_before_stls() {
    let mut d = Driver::new(false, &[b"a\r\n"]);
    let capa = d.send("CAPA\r\n");
    assert!(capa.starts_with("+OK"), "{capa}");
    assert!(capa.contains("\r\nSTLS\r\n"));
    assert!(!capa.contains("USER") && !capa.contains("SASL"), "{capa}");
    for cmd in [
        "USER mrose\r\n",
        "PASS secret\r\n",
        "AUTH PLAIN AG1yb3NlAHNlY3JldA==\r\n",
    ] {
        assert_eq!(
            d.send(cmd),
            "-ERR [AUTH] Plaintext authentication disallowed on non-secure connections; use STLS\r\n"
        );
    }
    assert!(d.events.is_empty(), "no credentials reached the shell");
    assert_eq!(d.send("STLS\r\n"), "+OK Begin TLS negotiation\r\n");
    assert!(d.session.is_tls());
    let capa = d.send("CAPA\r\n");
    assert!(capa.contains("\r\nUSER\r\n") && capa.contains("\r\nSASL PLAIN\r\n"));
    assert!(!capa.contains("STLS"), "{capa}");
    assert_eq!(d.send("STLS\r\n"), "-ERR Already using TLS\r\n");
    d.login();
}

#[test]
fn plaintext_logins_when_allowed() {
    let mut config = SessionConfig::new("h");
    config.allow_plaintext_auth = true;
    config.stls = false;
    let mut d = Driver::with(config, false, &[]);
    assert!(d.send("CAPA\r\n").contains("\r\nUSER\r\n"));
    assert_eq!(d.send("STLS\r\n"), "-ERR STLS not available\r\n");
    d.login();
}

#[test]
fn stls_discards_pipelined_plaintext() {
    let mut d = Driver::new(false, &[b"a\r\n"]);
    // An attacker injects commands after STLS in the same plaintext segment.
    let out = d.send("STLS\r\nUSER evil\r\nPASS secret\r\n");
    assert_eq!(out, "+OK Begin TLS negotiation\r\n");
    assert_eq!(d.events, [Event::Stls]);
    // The injected USER was forgotten: PASS now needs a USER sent under TLS.
    assert_eq!(d.send("PASS secret\r\n"), "-ERR USER first\r\n");
}

#[test]
fn user_from_plaintext_phase_is_forgotten() {
    let mut config = SessionConfig::new("h");
    config.allow_plaintext_auth = true;
    let mut d = Driver::with(config, false, &[]);
    d.send("USER someone\r\n");
    d.send("STLS\r\n");
    assert_eq!(d.send("PASS secret\r\n"), "-ERR USER first\r\n");
}

#[test]
fn auth_plain_initial_and_continuation() {
    let mut d = Driver::new(true, &[]);
    assert_eq!(
        d.send("AUTH\r\n"),
        "+OK methods supported:\r\nPLAIN\r\n.\r\n"
    );
    // "\0mrose\0secret"
    assert_eq!(
        d.send("AUTH PLAIN AG1yb3NlAHNlY3JldA==\r\n"),
        "+OK maildrop has 0 messages (0 octets)\r\n"
    );
    assert_eq!(
        d.events[0],
        Event::Login {
            user: "mrose".into(),
            password: "secret".into(),
            mechanism: Mechanism::Plain,
            authzid: None,
        }
    );
    let mut d = Driver::new(true, &[]);
    assert_eq!(d.send("AUTH plain\r\n"), "+ \r\n");
    assert_eq!(
        d.send("AG1yb3NlAHNlY3JldA==\r\n"),
        "+OK maildrop has 0 messages (0 octets)\r\n"
    );
    let mut d = Driver::new(true, &[]);
    d.send("AUTH PLAIN\r\n");
    assert_eq!(d.send("*\r\n"), "-ERR Authentication cancelled\r\n");
    assert_eq!(
        d.send("AUTH PLAIN !!!!\r\n"),
        "-ERR Cannot decode the SASL response\r\n"
    );
    assert_eq!(
        d.send("AUTH CRAM-MD5\r\n"),
        "-ERR Unrecognized authentication type\r\n"
    );
    assert!(d.events.is_empty());
}

#[test]
fn failed_logins_delay_grows_then_close() {
    let mut d = Driver::new(true, &[]);
    let mut delays = Vec::new();
    for _ in 0..3 {
        d.send("USER mrose\r\n");
        let out = d.send("PASS wrong\r\n");
        assert_eq!(out, "-ERR [AUTH] Invalid credentials\r\n");
        delays.push(d.session.take_penalty());
    }
    assert_eq!(
        delays,
        [
            Duration::from_secs(1),
            Duration::from_secs(2),
            Duration::from_secs(4)
        ]
    );
    assert!(d.session.is_closed(), "closed after max_auth_failures");
    assert_eq!(d.send("USER mrose\r\nPASS secret\r\n"), "");
}

#[test]
fn successful_login_has_no_delay() {
    let mut d = Driver::new(true, &[]);
    d.login();
    assert_eq!(d.session.take_penalty(), Duration::ZERO);
    assert_eq!(d.session.authenticated(), Some("mrose"));
}

#[test]
fn long_lines_are_refused_without_desync() {
    let mut d = Driver::new(true, &[b"a\r\n"]);
    let long = format!("USER {}\r\n", "x".repeat(300));
    assert_eq!(d.send(&long), "-ERR Line too long\r\n");
    // Exactly at the limit (255 with CRLF) is fine.
    let max = format!("USER {}\r\n", "y".repeat(255 - 7));
    assert_eq!(d.send(&max), "+OK send PASS\r\n");
    // A huge line in pieces, without a line end yet: one error, the rest skipped.
    assert_eq!(d.send(&"z".repeat(1000)), "-ERR Line too long\r\n");
    assert_eq!(d.send(&"z".repeat(1000)), "");
    assert_eq!(
        d.send("zzz\r\nNOOP\r\n"),
        "-ERR Command not valid before login\r\n"
    );
    assert!(!d.session.is_closed());
}

#[test]
fn nul_and_garbage_are_refused() {
    let mut d = Driver::new(true, &[]);
    assert_eq!(
        d.send_bytes(b"USER mr\0se\r\n"),
        "-ERR NUL or control character in command\r\n"
    );
    assert_eq!(
        d.send_bytes(b"USER \xff\xfe\r\n"),
        "-ERR command is not valid UTF-8\r\n"
    );
    assert_eq!(d.send("HELO x\r\n"), "-ERR unknown command\r\n");
    assert_eq!(d.send("RETR x\r\n"), "-ERR syntax error in RETR\r\n");
    assert!(d.events.is_empty());
}

#[test]
fn too_many_errors_close() {
    let mut d = Driver::new(true, &[]);
    let out = d.send(&"BOGUS\r\n".repeat(20));
    assert_eq!(out.matches("-ERR unknown command").count(), 10);
    assert!(out.ends_with("-ERR unknown command\r\n-ERR Too many errors, closing connection\r\n"));
    assert!(d.session.is_closed());
}

#[test]
fn pipelined_commands_in_one_write() {
    let mut d = Driver::new(true, &[b"Subject: x\r\n\r\nbody\r\n"]);
    let out = d.send("USER mrose\r\nPASS secret\r\nSTAT\r\nUIDL 1\r\nRETR 1\r\nDELE 1\r\nQUIT\r\n");
    assert_eq!(
        out,
        "+OK send PASS\r\n+OK maildrop has 1 messages (20 octets)\r\n+OK 1 20\r\n\
         +OK 1 1234.1\r\n+OK 20 octets\r\nSubject: x\r\n\r\nbody\r\n.\r\n\
         +OK message 1 deleted\r\n+OK pop.example.com POP3 server signing off (maildrop empty)\r\n"
    );
    assert_eq!(d.commits(), [&vec![0]]);
}

#[test]
fn bare_lf_commands_and_byte_at_a_time() {
    let mut d = Driver::new(true, &[b"a\r\n"]);
    let mut out = String::new();
    for b in b"USER mrose\nPASS secret\r\nSTAT\r\n" {
        out.push_str(&d.send_bytes(&[*b]));
    }
    assert_eq!(
        out,
        "+OK send PASS\r\n+OK maildrop has 1 messages (3 octets)\r\n+OK 1 3\r\n"
    );
}

#[test]
fn max_messages_limits_the_snapshot() {
    let mut config = SessionConfig::new("h");
    config.limits.max_messages = 1;
    let mut d = Driver::with(config, true, &[b"a\r\n", b"bb\r\n"]);
    d.login();
    assert_eq!(d.send("STAT\r\n"), "+OK 1 3\r\n");
}

#[test]
fn auth_plain_passes_a_different_authorization_identity_to_the_handler() {
    // "desk\0mrose\0secret": mrose asks to open the mailbox desk.
    let mut d = Driver::new(true, &[]);
    assert_eq!(
        d.send("AUTH PLAIN ZGVzawBtcm9zZQBzZWNyZXQ=\r\n"),
        "+OK maildrop has 0 messages (0 octets)\r\n"
    );
    assert_eq!(
        d.events[0],
        Event::Login {
            user: "mrose".into(),
            password: "secret".into(),
            mechanism: Mechanism::Plain,
            authzid: Some("desk".into()),
        }
    );
    // The same identity twice is no request to act as someone else.
    let mut d = Driver::new(true, &[]);
    d.send("AUTH PLAIN bXJvc2UAbXJvc2UAc2VjcmV0\r\n");
    assert!(
        matches!(&d.events[0], Event::Login { authzid: None, .. }),
        "{:?}",
        d.events
    );
}

#[test]
fn debug_output_hides_passwords() {
    let e = Event::Login {
        user: "u".into(),
        password: "hunter2".into(),
        mechanism: Mechanism::User,
        authzid: None,
    };
    assert!(!format!("{e:?}").contains("hunter2"));
}

/// One answer of any kind, chosen by `pick`.
fn any_answer(pick: u8, message: &[u8]) -> Answer {
    match pick % 5 {
        0 => Answer::Accept,
        1 => Answer::Reject(Refusal::temporary("no")),
        2 => Answer::Maildrop(vec![
            Entry {
                uid: UniqueId::from_parts(1, 1),
                size: 5,
            },
            Entry {
                uid: UniqueId::from_parts(1, 2),
                size: 0,
            },
        ]),
        3 => Answer::Message(Bytes::from(message.to_vec())),
        _ => Answer::Reject(Refusal::credentials()),
    }
}

proptest! {
    /// The session never panics, whatever the input, however it is cut, whatever the shell
    /// answers; every response line ends in CRLF and output stays bounded by the input.
    #[test]
    fn arbitrary_input_never_panics(
        chunks in proptest::collection::vec(
            proptest::collection::vec(any::<u8>(), 0..64), 0..32),
        commands in proptest::collection::vec(
            proptest::sample::select(vec![
                "USER u\r\n", "PASS secret\r\n", "STAT\r\n", "LIST\r\n", "LIST 2\r\n",
                "RETR 1\r\n", "TOP 2 1\r\n", "UIDL\r\n", "DELE 1\r\n", "RSET\r\n", "NOOP\r\n",
                "QUIT\r\n", "CAPA\r\n", "STLS\r\n", "AUTH PLAIN\r\n", "AUTH\r\n", "*\r\n",
                "AUTH PLAIN AHUAc2VjcmV0\r\n", "\r\n", ".\r\n",
            ]), 0..24),
        answers in proptest::collection::vec(any::<u8>(), 1..16),
        message in proptest::collection::vec(any::<u8>(), 0..200),
        tls in any::<bool>(),
    ) {
        let mut input: Vec<u8> = Vec::new();
        for (i, c) in commands.iter().enumerate() {
            input.extend_from_slice(c.as_bytes());
            if let Some(chunk) = chunks.get(i) {
                input.extend_from_slice(chunk);
            }
        }
        let mut session = Session::new(Arc::new(SessionConfig::new("h")), tls);
        let mut out = session.take_output();
        let mut k = 0;
        let cuts: Vec<usize> = chunks.iter().map(|c| c.len() % 17 + 1).collect();
        let mut at = 0;
        let mut cut = 0;
        while at < input.len() {
            let n = cuts.get(cut % cuts.len().max(1)).copied().unwrap_or(7).min(input.len() - at);
            session.handle_input(&input[at..at + n]);
            at += n;
            cut += 1;
            while let Some(event) = session.poll_event() {
                if event == Event::Stls {
                    session.tls_established();
                } else {
                    session.answer(any_answer(answers[k % answers.len()], &message));
                }
                k += 1;
            }
            let _ = session.take_penalty();
            out.extend(session.take_output());
        }
        prop_assert!(out.ends_with(b"\r\n"));
        let text = String::from_utf8_lossy(&out);
        for line in text.split_inclusive('\n') {
            prop_assert!(line.ends_with("\r\n"), "line without CRLF: {:?}", line);
        }
    }

    /// Any bytes, any cuts: no panic, and nothing is ever committed without a QUIT line.
    #[test]
    fn random_bytes_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..2048),
        cut in 1usize..97,
    ) {
        let mut session = Session::new(Arc::new(SessionConfig::new("h")), true);
        for chunk in bytes.chunks(cut) {
            session.handle_input(chunk);
            while let Some(event) = session.poll_event() {
                if let Event::Commit { .. } = event {
                    let upper = bytes.to_ascii_uppercase();
                    prop_assert!(upper.windows(4).any(|w| w == b"QUIT"));
                }
                session.answer(any_answer(bytes.len() as u8, &bytes));
            }
            let _ = session.take_output();
        }
    }
}
