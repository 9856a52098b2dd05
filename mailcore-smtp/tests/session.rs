//! The session state machine driven in memory: RFC 5321 transcripts and hostile input.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use mailcore::reply::Reply;
use mailcore_smtp::session::{Answer, Event, Mode, Session, SessionConfig};

/// Drives a session: feeds input, answers every event with `decide`, returns the output and
/// the events seen.
struct Driver {
    session: Session,
    events: Vec<Event>,
    out: String,
}

impl Driver {
    fn new(mode: Mode, tls: bool) -> Driver {
        Driver::with(SessionConfig::new("mx.example.com", mode), tls)
    }

    fn with(config: SessionConfig, tls: bool) -> Driver {
        let mut session = Session::new(Arc::new(config), tls);
        let out = String::from_utf8(session.take_output()).unwrap();
        Driver {
            session,
            events: Vec::new(),
            out,
        }
    }

    fn send(&mut self, input: &[u8], decide: &dyn Fn(&Event) -> Answer) -> String {
        self.session.handle_input(input);
        while let Some(ev) = self.session.poll_event() {
            let answer = decide(&ev);
            let tls = matches!(ev, Event::StartTls);
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

    fn accept(&mut self, input: &str) -> String {
        self.send(input.as_bytes(), &|_| Answer::Accept)
    }

    fn messages(&self) -> Vec<&Vec<u8>> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Message { data, .. } => Some(data),
                _ => None,
            })
            .collect()
    }
}

fn codes(out: &str) -> Vec<&str> {
    out.lines().map(|l| &l[..3]).collect()
}

#[test]
fn rfc5321_d1_transcript() {
    let mut d = Driver::new(Mode::Mx, false);
    assert!(d.out.starts_with("220 mx.example.com ESMTP"));
    let ehlo = d.accept("EHLO bar.com\r\n");
    for ext in [
        "PIPELINING",
        "SIZE 52428800",
        "8BITMIME",
        "SMTPUTF8",
        "ENHANCEDSTATUSCODES",
        "CHUNKING",
        "STARTTLS",
        "DSN",
    ] {
        assert!(ehlo.contains(ext), "{ext} missing from {ehlo}");
    }
    assert!(!ehlo.contains("AUTH"), "no AUTH on MX");
    assert_eq!(
        d.accept("MAIL FROM:<Smith@bar.com>\r\n"),
        "250 2.1.0 Sender OK\r\n"
    );
    assert_eq!(
        d.accept("RCPT TO:<Jones@foo.com>\r\n"),
        "250 2.1.5 Recipient OK\r\n"
    );
    assert_eq!(
        d.accept("RCPT TO:<Green@foo.com>\r\n"),
        "250 2.1.5 Recipient OK\r\n"
    );
    assert_eq!(
        d.accept("DATA\r\n"),
        "354 End data with <CR><LF>.<CR><LF>\r\n"
    );
    assert_eq!(
        d.accept("Blah blah blah...\r\n...etc. etc. etc.\r\n.\r\n"),
        "250 2.0.0 Message accepted\r\n"
    );
    assert_eq!(d.accept("QUIT\r\n"), "221 2.0.0 Bye\r\n");
    assert!(d.session.is_closed());
    assert_eq!(
        d.messages(),
        [&b"Blah blah blah...\r\n..etc. etc. etc.\r\n".to_vec()]
    );
    let Some(Event::Message { envelope, .. }) = d.events.last() else {
        panic!()
    };
    assert_eq!(envelope.recipients.len(), 2);
}

#[test]
fn pipelined_transaction_in_one_write() {
    let mut d = Driver::new(Mode::Mx, false);
    let out = d.accept(
        "EHLO c\r\nMAIL FROM:<a@b.org>\r\nRCPT TO:<x@example.com>\r\nDATA\r\nhi\r\n.\r\nQUIT\r\n",
    );
    assert_eq!(codes(&out).last(), Some(&"221"));
    assert!(out.contains("354") && out.contains("250 2.0.0"));
    assert_eq!(d.messages().len(), 1);
}

#[test]
fn refusals_are_reported_with_the_hooks_reply() {
    let mut d = Driver::new(Mode::Mx, false);
    d.accept("EHLO c\r\nMAIL FROM:<a@b.org>\r\n");
    let unknown = |e: &Event| match e {
        Event::Rcpt { .. } => {
            Answer::Reject(Reply::new(550, Some("5.1.1"), "No such user").unwrap())
        }
        _ => Answer::Accept,
    };
    assert_eq!(
        d.send(b"RCPT TO:<nobody@example.com>\r\n", &unknown),
        "550 5.1.1 No such user\r\n"
    );
    assert_eq!(d.accept("DATA\r\n"), "554 5.5.1 No valid recipients\r\n");
}

#[test]
fn every_smuggling_ending_is_refused_and_closes() {
    for ending in [
        &b"\n.\n"[..],
        b"\r.\r",
        b"\n.\r\n",
        b"\r\n.\n",
        b"\r.\r\n",
        b"\n.\r",
    ] {
        let mut d = Driver::new(Mode::Mx, false);
        d.accept("EHLO c\r\nMAIL FROM:<a@b.org>\r\nRCPT TO:<x@example.com>\r\nDATA\r\n");
        let mut payload = b"Subject: one\r\n\r\nfirst".to_vec();
        payload.extend_from_slice(ending);
        payload.extend_from_slice(
            b"MAIL FROM:<evil@b.org>\r\nRCPT TO:<y@example.com>\r\nDATA\r\nsmuggled\r\n.\r\n",
        );
        let out = d.send(&payload, &|_| Answer::Accept);
        assert!(out.starts_with("554 5.5.2"), "{ending:?}: {out}");
        assert!(d.session.is_closed(), "{ending:?}");
        assert!(d.messages().is_empty(), "{ending:?}: a message got through");
        assert!(!d.events.iter().any(
            |e| matches!(e, Event::Mail { sender, .. } if sender.to_string().contains("evil"))
        ));
    }
}

#[test]
fn plaintext_pipelined_after_starttls_is_discarded() {
    let mut d = Driver::new(Mode::Submission, false);
    d.accept("EHLO c\r\n");
    let out = d.accept("STARTTLS\r\nMAIL FROM:<a@example.com>\r\n");
    assert_eq!(out, "220 2.0.0 Ready to start TLS\r\n");
    assert!(d.session.is_tls());
    assert!(!d.events.iter().any(|e| matches!(e, Event::Mail { .. })));
    // After TLS the client must say EHLO again; AUTH is now offered.
    assert!(d.accept("MAIL FROM:<a@example.com>\r\n").starts_with("503"));
    assert!(d.accept("EHLO c\r\n").contains("AUTH PLAIN LOGIN"));
}

#[test]
fn auth_only_after_tls_and_only_on_submission() {
    let mut d = Driver::new(Mode::Submission, false);
    let ehlo = d.accept("EHLO c\r\n");
    assert!(!ehlo.contains("AUTH"), "AUTH advertised before TLS");
    assert!(
        d.accept("AUTH PLAIN AHRvbQBwdw==\r\n")
            .starts_with("538 5.7.11")
    );
    assert!(
        d.accept("MAIL FROM:<tom@example.com>\r\n")
            .starts_with("530 5.7.0")
    );
    assert!(!d.events.iter().any(|e| matches!(e, Event::Auth { .. })));

    let mut mx = Driver::new(Mode::Mx, true);
    mx.accept("EHLO c\r\n");
    assert!(mx.accept("AUTH PLAIN AHRvbQBwdw==\r\n").starts_with("502"));

    let mut d = Driver::new(Mode::Submission, true);
    d.accept("EHLO c\r\n");
    assert!(
        d.accept("MAIL FROM:<tom@example.com>\r\n")
            .starts_with("530 5.7.0 Authentication required")
    );
    assert_eq!(
        d.accept("AUTH PLAIN AHRvbQBwdw==\r\n"),
        "235 2.7.0 Authentication successful\r\n"
    );
    assert_eq!(d.session.authenticated(), Some("tom"));
    let Some(Event::Auth { credentials, .. }) = d.events.last() else {
        panic!()
    };
    assert_eq!(
        (credentials.authcid.as_str(), credentials.password.as_str()),
        ("tom", "pw")
    );
    assert!(
        d.accept("MAIL FROM:<tom@example.com>\r\n")
            .starts_with("250")
    );
}

#[test]
fn auth_login_and_cancel() {
    let mut d = Driver::new(Mode::Submission, true);
    d.accept("EHLO c\r\n");
    assert_eq!(d.accept("AUTH LOGIN\r\n"), "334 VXNlcm5hbWU6\r\n");
    assert_eq!(d.accept("dG9t\r\n"), "334 UGFzc3dvcmQ6\r\n");
    assert_eq!(
        d.accept("cHc=\r\n"),
        "235 2.7.0 Authentication successful\r\n"
    );
    let mut d = Driver::new(Mode::Submission, true);
    d.accept("EHLO c\r\n");
    d.accept("AUTH PLAIN\r\n");
    assert!(d.accept("*\r\n").starts_with("501"));
    assert!(d.accept("AUTH PLAIN !!!!\r\n").starts_with("501"));
}

#[test]
fn failed_logins_slow_down_then_close() {
    let mut d = Driver::new(Mode::Submission, true);
    d.accept("EHLO c\r\n");
    let refuse = |_: &Event| {
        Answer::Reject(
            Reply::new(535, Some("5.7.8"), "Authentication credentials invalid").unwrap(),
        )
    };
    let mut delays = Vec::new();
    for _ in 0..3 {
        d.send(b"AUTH PLAIN AHRvbQB3cm9uZw==\r\n", &refuse);
        delays.push(d.session.take_penalty());
    }
    assert!(delays[0] < delays[1] && delays[1] < delays[2], "{delays:?}");
    assert!(d.out.contains("421 4.7.0"));
    assert!(d.session.is_closed());
}

#[test]
fn limits_are_enforced() {
    let mut d = Driver::new(Mode::Mx, false);
    d.accept("EHLO c\r\n");
    // Over-long line, then the session goes on.
    let long = format!("NOOP {}\r\n", "x".repeat(5000));
    assert!(d.accept(&long).starts_with("500 5.5.6"));
    assert!(d.accept("NOOP\r\n").starts_with("250"));
    // SIZE= over the limit.
    assert!(
        d.accept("MAIL FROM:<a@b.org> SIZE=999999999999\r\n")
            .starts_with("552 5.3.4")
    );
    // Too many recipients.
    let mut config = SessionConfig::new("mx.example.com", Mode::Mx);
    config.limits.max_recipients = 2;
    let mut d = Driver::with(config, false);
    d.accept(
        "EHLO c\r\nMAIL FROM:<a@b.org>\r\nRCPT TO:<a@example.com>\r\nRCPT TO:<b@example.com>\r\n",
    );
    assert!(
        d.accept("RCPT TO:<c@example.com>\r\n")
            .starts_with("452 4.5.3")
    );
    // NUL bytes.
    assert!(d.accept("NOOP\0\r\n").starts_with("500 5.5.2"));
    // Empty quoted local part.
    assert!(
        d.accept("RCPT TO:<\"\"@example.com>\r\n")
            .starts_with("501 5.1.3")
    );
}

#[test]
fn message_over_the_size_limit_is_refused_after_data() {
    let mut config = SessionConfig::new("mx.example.com", Mode::Mx);
    config.limits.max_message_size = 100;
    let mut d = Driver::with(config, false);
    d.accept("EHLO c\r\nMAIL FROM:<a@b.org>\r\nRCPT TO:<x@example.com>\r\nDATA\r\n");
    let body = format!("{}\r\n.\r\n", "y".repeat(500));
    assert!(d.accept(&body).starts_with("552 5.3.4"));
    assert!(d.messages().is_empty());
    assert!(d.accept("NOOP\r\n").starts_with("250"), "session continues");
}

#[test]
fn too_many_errors_close_the_session() {
    let mut d = Driver::new(Mode::Mx, false);
    let out = d.accept(&"BOGUS\r\n".repeat(20));
    assert_eq!(codes(&out).iter().filter(|c| **c == "500").count(), 10);
    assert!(out.ends_with("421 4.7.0 Too many errors, closing connection\r\n"));
    assert!(d.session.is_closed());
}

#[test]
fn mail_loops_are_detected() {
    let mut d = Driver::new(Mode::Mx, false);
    d.accept("EHLO c\r\nMAIL FROM:<a@b.org>\r\nRCPT TO:<x@example.com>\r\nDATA\r\n");
    let msg = format!(
        "{}Subject: loop\r\n\r\nbody\r\n.\r\n",
        "Received: from a by b\r\n".repeat(51)
    );
    assert!(d.accept(&msg).starts_with("554 5.4.6"));
    assert!(d.messages().is_empty());
}

#[test]
fn bdat_chunks_and_failures_never_become_commands() {
    let mut d = Driver::new(Mode::Mx, false);
    d.accept("EHLO c\r\nMAIL FROM:<a@b.org> BODY=BINARYMIME\r\nRCPT TO:<x@example.com>\r\n");
    assert!(
        d.accept("DATA\r\n").starts_with("503"),
        "BINARYMIME needs BDAT"
    );
    assert_eq!(
        d.accept("BDAT 6\r\nhello\n"),
        "250 2.0.0 6 octets received\r\n"
    );
    assert_eq!(
        d.accept("BDAT 8 LAST\r\n\r\nQUIT\r\n"),
        "250 2.0.0 Message accepted\r\n"
    );
    assert_eq!(d.messages(), [&b"hello\n\r\nQUIT\r\n".to_vec()]);
    assert!(!d.session.is_closed());
    // A BDAT without MAIL: the chunk is swallowed, not executed.
    let mut d = Driver::new(Mode::Mx, false);
    d.accept("EHLO c\r\n");
    let out = d.accept("BDAT 6 LAST\r\nQUIT\r\nNOOP\r\n");
    assert_eq!(codes(&out), ["503", "250"]);
    assert!(!d.session.is_closed());
}

#[test]
fn smtputf8_addresses_need_the_parameter() {
    let mut d = Driver::new(Mode::Mx, false);
    d.accept("EHLO c\r\n");
    assert!(
        d.accept("MAIL FROM:<用户@example.com>\r\n")
            .starts_with("553 5.6.7")
    );
    assert!(
        d.accept("MAIL FROM:<用户@example.com> SMTPUTF8\r\n")
            .starts_with("250")
    );
    assert!(
        d.accept("RCPT TO:<收件人@例子.测试>\r\n")
            .starts_with("250")
    );
}

#[test]
fn slow_drip_input_is_reassembled() {
    let mut d = Driver::new(Mode::Mx, false);
    let script = b"EHLO c\r\nMAIL FROM:<a@b.org>\r\nRCPT TO:<x@example.com>\r\nDATA\r\nSubject: drip\r\n\r\nbody\r\n.\r\nQUIT\r\n";
    for b in script {
        d.send(&[*b], &|_| Answer::Accept);
    }
    assert_eq!(d.messages(), [&b"Subject: drip\r\n\r\nbody\r\n".to_vec()]);
    assert!(d.session.is_closed());
}

#[test]
fn ehlo_names_must_be_domains_or_literals() {
    let mut d = Driver::new(Mode::Mx, false);
    assert!(d.accept("EHLO héllo;(x)\r\n").starts_with("501 5.5.4"));
    assert!(d.accept("EHLO [192.0.2.1]\r\n").starts_with("250"));
    assert!(d.accept("EHLO [IPv6:2001:db8::1]\r\n").starts_with("250"));
    assert!(d.accept("HELO mail.example.org\r\n").starts_with("250"));
}
