//! End-to-end SMTP tests of `mailcore-server serve` through real sockets with real clients:
//! Python's smtplib (helper scripts in `tests/smtp/`), swaks, and raw `TcpStream`s for hostile
//! input.
//!
//! Every test starts its own server over a fresh data dir provisioned with the CLI, on free
//! loopback ports, with `[authentication] enabled = false` (no DNS here). Storage is checked with
//! `message list` / `message get` while the server runs. A [`Server`] kills its process when
//! dropped, so a failing test leaks nothing. Every wait is bounded.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{CLIENT, Serve, bounded, cli, fresh_dir};
use serde_json::{Value, json};

const SCRIPTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/smtp");
const PYTHON: &str = "/usr/bin/python3";
const TOM_PW: &str = "tom-Secret-1";
const ANN_PW: &str = "ann-Secret-2";
/// Longest wait for one reply on a raw socket.
const IO: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------
// The server under test

/// A running `mailcore-server serve` with three SMTP listeners.
struct Server {
    serve: Serve,
    mx: u16,
    submission: u16,
    submissions: u16,
}

/// One line of `message list`.
#[derive(Debug)]
struct Listed {
    uid: u32,
    subject: String,
}

impl Server {
    /// Provisions example.com (tom, ann, the alias thomas -> tom, the group team = tom + ann +
    /// ext@other.org with tom as representative) and starts the server with only the three
    /// SMTP listeners (POP3 and IMAP off: their default ports are fixed, and tests run in
    /// parallel); `smtp` is extra TOML for the `[smtp]` table.
    fn start(smtp: &str) -> Server {
        let dir = fresh_dir("e2e");
        let data = dir.join("data");
        cli(&data, &["domain", "add", "example.com"]);
        cli(
            &data,
            &["account", "add", "tom@example.com", "--password", TOM_PW],
        );
        cli(
            &data,
            &["account", "add", "ann@example.com", "--password", ANN_PW],
        );
        cli(
            &data,
            &["alias", "add", "thomas@example.com", "tom@example.com"],
        );
        cli(
            &data,
            &[
                "group",
                "add",
                "team@example.com",
                "--member",
                "tom@example.com",
                "--member",
                "ann@example.com",
                "--member",
                "ext@other.org",
                "--representative",
                "tom@example.com",
            ],
        );
        let (serve, [mx, submission, submissions]) = Serve::start(
            dir,
            |[mx, submission, submissions]| {
                format!(
                    "hostname = \"localhost\"\n\
                 [smtp]\n{smtp}\n\
                 [[smtp.listeners]]\naddress = \"127.0.0.1:{mx}\"\nkind = \"mx\"\n\
                 [[smtp.listeners]]\naddress = \"127.0.0.1:{submission}\"\nkind = \"submission\"\n\
                 [[smtp.listeners]]\naddress = \"127.0.0.1:{submissions}\"\nkind = \"submissions\"\n\
                 [authentication]\nenabled = false\n\
                 [pop3]\nlisteners = []\n\
                 [imap]\nlisteners = []\n\
                 [api]\nenabled = false\n"
                )
            },
        );
        Server {
            serve,
            mx,
            submission,
            submissions,
        }
    }

    fn data(&self) -> PathBuf {
        self.serve.data()
    }

    /// The self-signed dev certificate the server created.
    fn cert(&self) -> String {
        self.data()
            .join("tls")
            .join("cert.pem")
            .display()
            .to_string()
    }

    /// `message list ADDRESS` (INBOX).
    fn list(&self, address: &str) -> Vec<Listed> {
        let out = cli(&self.data(), &["message", "list", address]);
        String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.splitn(4, '\t').collect();
                assert_eq!(f.len(), 4, "bad message list line {l:?}");
                Listed {
                    uid: f[0].parse().unwrap(),
                    subject: f[3].to_owned(),
                }
            })
            .collect()
    }

    /// Messages in the INBOX of `address`, apart from the welcome letter its first login
    /// delivered.
    fn count(&self, address: &str) -> usize {
        self.list(address)
            .iter()
            .filter(|m| !m.subject.starts_with("Welcome to "))
            .count()
    }

    /// The last message in the INBOX of `address`, which must have `subject`; its raw bytes.
    fn last(&self, address: &str, subject: &str) -> Vec<u8> {
        let list = self.list(address);
        let last = list
            .last()
            .unwrap_or_else(|| panic!("no message for {address}"));
        assert_eq!(last.subject, subject, "{address}: {list:?}");
        cli(
            &self.data(),
            &["message", "get", address, &last.uid.to_string()],
        )
    }
}

/// Checks that `stored` is exactly one `Received:` field followed by the `original` bytes, and
/// returns that field.
fn received_then(stored: &[u8], original: &[u8]) -> String {
    assert!(
        stored.ends_with(original),
        "stored message does not end with the original bytes:\nstored:   {:?}\noriginal: {:?}",
        String::from_utf8_lossy(stored),
        String::from_utf8_lossy(original)
    );
    let prefix = std::str::from_utf8(&stored[..stored.len() - original.len()]).unwrap();
    assert!(prefix.starts_with("Received: "), "prefix {prefix:?}");
    assert!(prefix.ends_with("\r\n"), "prefix {prefix:?}");
    for line in prefix.split_inclusive("\r\n").skip(1) {
        assert!(
            line.starts_with('\t') || line.starts_with(' '),
            "more than a Received: field was prepended: {prefix:?}"
        );
    }
    prefix.to_owned()
}

/// A message with CRLF line endings, a unique subject and a dot-leading line (to check
/// transparency).
fn message(subject: &str) -> String {
    format!(
        "From: <sender@other.org>\r\nTo: <tom@example.com>\r\nSubject: {subject}\r\n\
         Message-ID: <{}@client.test>\r\n\r\nHello,\r\n.a line that starts with a dot\r\n\
         ..and two\r\nbye\r\n",
        subject.replace(' ', "-")
    )
}

/// A session up to the 354 of DATA for one recipient.
fn open_data_to(port: u16, rcpt: &str) -> Raw {
    let mut raw = Raw::greeted(port);
    raw.ehlo();
    raw.expect("MAIL FROM:<mallory@other.org>", 250);
    raw.expect(&format!("RCPT TO:<{rcpt}>"), 250);
    raw.expect("DATA", 354);
    raw
}

/// A session on the MX port up to the 354 of DATA for tom.
fn open_data(port: u16) -> Raw {
    open_data_to(port, "tom@example.com")
}

// ---------------------------------------------------------------------------------------------
// Clients

/// Runs `tests/smtp/smtplib_send.py` with a request; returns its JSON report.
fn smtplib(request: &Value) -> Value {
    let mut cmd = Command::new(PYTHON);
    cmd.arg(format!("{SCRIPTS}/smtplib_send.py"))
        .arg(request.to_string());
    let out = bounded(cmd, CLIENT);
    assert!(
        out.status.success(),
        "smtplib_send.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "bad output from smtplib_send.py ({e}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn send_request(port: u16, security: &str, sender: &str, to: &[&str], message: &str) -> Value {
    json!({
        "host": "127.0.0.1",
        "port": port,
        "security": security,
        "sender": sender,
        "recipients": to,
        "message": message,
    })
}

fn auth(mechanism: &str, user: &str, password: &str, initial_response: bool) -> Value {
    json!({
        "mechanism": mechanism,
        "user": user,
        "password": password,
        "initial_response": initial_response,
    })
}

/// Asserts a report says the message was accepted; returns the reply to the final dot.
fn accepted(report: &Value) -> String {
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["refused"], json!({}), "{report}");
    assert_eq!(report["data"][0], 250, "{report}");
    report["data"][1].as_str().unwrap().to_owned()
}

/// Asserts a report ended with an SMTP error reply; returns its text.
fn refused(report: &Value, exception: &str, code: u16, status: &str) -> String {
    assert_eq!(report["ok"], false, "{report}");
    assert_eq!(report["exception"], exception, "{report}");
    assert_eq!(report["code"], code, "{report}");
    let text = report["text"].as_str().unwrap();
    assert!(text.starts_with(status), "{report}");
    text.to_owned()
}

/// One SMTP reply.
#[derive(Debug)]
struct Reply {
    code: u16,
    /// The lines' texts (after `NNN-`/`NNN `), joined with `\n`.
    text: String,
}

/// A plain TCP SMTP client that sends exactly the bytes it is given.
struct Raw {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Raw {
    fn connect(port: u16) -> Raw {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.set_read_timeout(Some(IO)).unwrap();
        stream.set_write_timeout(Some(IO)).unwrap();
        stream.set_nodelay(true).unwrap();
        Raw {
            stream,
            buf: Vec::new(),
        }
    }

    /// Connects and reads the 220 greeting.
    fn greeted(port: u16) -> Raw {
        let mut raw = Raw::connect(port);
        let greeting = raw.reply();
        assert_eq!(greeting.code, 220, "{greeting:?}");
        raw
    }

    fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// The next reply, or `None` when the server closed the connection first.
    fn try_reply(&mut self) -> std::io::Result<Option<Reply>> {
        let mut lines: Vec<String> = Vec::new();
        loop {
            if let Some(end) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line: Vec<u8> = self.buf.drain(..end + 2).collect();
                let line = String::from_utf8_lossy(&line[..end]).into_owned();
                assert!(
                    line.len() >= 3 && line.as_bytes()[..3].iter().all(u8::is_ascii_digit),
                    "not a reply line: {line:?}"
                );
                let more = line.as_bytes().get(3) == Some(&b'-');
                lines.push(line);
                if !more {
                    let code = lines[0][..3].parse().unwrap();
                    let text = lines
                        .iter()
                        .map(|l| l.get(4..).unwrap_or(""))
                        .collect::<Vec<_>>()
                        .join("\n");
                    return Ok(Some(Reply { code, text }));
                }
                continue;
            }
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                assert!(
                    self.buf.is_empty() && lines.is_empty(),
                    "connection closed inside a reply: {:?} {lines:?}",
                    String::from_utf8_lossy(&self.buf)
                );
                return Ok(None);
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    fn reply(&mut self) -> Reply {
        self.try_reply()
            .unwrap_or_else(|e| panic!("reading a reply: {e}"))
            .expect("connection closed instead of a reply")
    }

    /// Sends one command line and reads its reply.
    fn cmd(&mut self, line: &str) -> Reply {
        self.send(format!("{line}\r\n").as_bytes());
        self.reply()
    }

    /// Sends one command line and checks the reply code.
    fn expect(&mut self, line: &str, code: u16) -> Reply {
        let reply = self.cmd(line);
        assert_eq!(reply.code, code, "{line:?} got {reply:?}");
        reply
    }

    /// Reads a reply and checks its code and enhanced status.
    fn expect_reply(&mut self, code: u16, status: &str) -> Reply {
        let reply = self.reply();
        assert_eq!(reply.code, code, "{reply:?}");
        assert!(reply.text.starts_with(status), "{reply:?}");
        reply
    }

    fn ehlo(&mut self) -> Reply {
        self.expect("EHLO client.test", 250)
    }

    /// Asserts the server closes the connection without sending anything more.
    fn assert_closed(&mut self) {
        assert!(
            self.buf.is_empty(),
            "unexpected bytes: {:?}",
            String::from_utf8_lossy(&self.buf)
        );
        let mut chunk = [0u8; 4096];
        match self.stream.read(&mut chunk) {
            Ok(0) => {}
            Ok(n) => panic!(
                "expected the connection to close, got {:?}",
                String::from_utf8_lossy(&chunk[..n])
            ),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
            Err(e) => panic!("expected the connection to close: {e}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 1. MX with smtplib

#[test]
fn mx_smtplib_delivers_to_account_alias_and_group_and_refuses_unknown_users() {
    let s = Server::start("");
    let sender = "alice@other.org";

    // An account.
    let m = message("to tom");
    let r = smtplib(&send_request(
        s.mx,
        "plain",
        sender,
        &["tom@example.com"],
        &m,
    ));
    assert!(accepted(&r).contains("delivered to 1 mailbox(es), 0 queued"));
    assert_eq!(s.count("tom@example.com"), 1);
    let received = received_then(&s.last("tom@example.com", "to tom"), m.as_bytes());
    assert!(
        received.starts_with("Received: from client.test ([127.0.0.1])"),
        "{received}"
    );
    assert!(received.contains("with ESMTP id"), "{received}");
    assert!(received.contains("for <tom@example.com>;"), "{received}");

    // An alias lands in its account's inbox.
    let m = message("to the alias");
    accepted(&smtplib(&send_request(
        s.mx,
        "plain",
        sender,
        &["thomas@example.com"],
        &m,
    )));
    assert_eq!(s.count("tom@example.com"), 2);
    let received = received_then(&s.last("tom@example.com", "to the alias"), m.as_bytes());
    assert!(received.contains("for <thomas@example.com>;"), "{received}");

    // A group: each local member's inbox; the member on another domain is queued.
    let m = message("to the group");
    let r = smtplib(&send_request(
        s.mx,
        "plain",
        sender,
        &["team@example.com"],
        &m,
    ));
    let text = accepted(&r);
    assert!(
        text.contains("delivered to 2 mailbox(es), 1 queued"),
        "{text}"
    );
    assert_eq!(s.count("tom@example.com"), 3);
    assert_eq!(s.count("ann@example.com"), 1);
    received_then(&s.last("tom@example.com", "to the group"), m.as_bytes());
    received_then(&s.last("ann@example.com", "to the group"), m.as_bytes());

    // An unknown user: 550 5.1.1, nothing stored.
    let r = smtplib(&send_request(
        s.mx,
        "plain",
        sender,
        &["nobody@example.com"],
        &message("to nobody"),
    ));
    assert_eq!(r["exception"], "SMTPRecipientsRefused", "{r}");
    assert_eq!(r["recipients"]["nobody@example.com"][0], 550, "{r}");
    assert!(
        r["recipients"]["nobody@example.com"][1]
            .as_str()
            .unwrap()
            .starts_with("5.1.1"),
        "{r}"
    );

    // Known and unknown together: the known one gets it, the unknown one is reported.
    let m = message("one of two");
    let r = smtplib(&send_request(
        s.mx,
        "plain",
        sender,
        &["nobody@example.com", "ann@example.com"],
        &m,
    ));
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["refused"]["nobody@example.com"][0], 550, "{r}");
    assert_eq!(r["data"][0], 250, "{r}");
    assert_eq!(s.count("tom@example.com"), 3);
    assert_eq!(s.count("ann@example.com"), 2);
    received_then(&s.last("ann@example.com", "one of two"), m.as_bytes());
}

// ---------------------------------------------------------------------------------------------
// 2. Submission: STARTTLS + AUTH

#[test]
fn submission_starttls_auth_plain_and_login_with_send_as_rules() {
    let s = Server::start("");
    let cert = s.cert();
    let send = |sender: &str, to: &[&str], subject: &str, auth: Value| {
        let mut req = send_request(s.submission, "starttls", sender, to, &message(subject));
        req["cafile"] = json!(cert);
        req["auth"] = auth;
        smtplib(&req)
    };
    let tom_plain = || auth("PLAIN", "tom@example.com", TOM_PW, true);
    let tom_login = || auth("LOGIN", "tom@example.com", TOM_PW, false);

    // Own address, AUTH PLAIN (initial response).
    let r = send(
        "tom@example.com",
        &["ann@example.com"],
        "as tom",
        tom_plain(),
    );
    accepted(&r);
    assert_eq!(r["auth"][0], 235, "{r}");
    let features = r["features"].as_array().unwrap();
    assert!(features.contains(&json!("auth")), "{r}");
    assert!(!features.contains(&json!("starttls")), "{r}");
    let received = received_then(
        &s.last("ann@example.com", "as tom"),
        message("as tom").as_bytes(),
    );
    assert!(received.contains("with ESMTPSA id"), "{received}");

    // An alias of the account, AUTH LOGIN (two challenges).
    let r = send(
        "thomas@example.com",
        &["ann@example.com"],
        "as alias",
        tom_login(),
    );
    accepted(&r);
    assert_eq!(r["auth"][0], 235, "{r}");
    received_then(
        &s.last("ann@example.com", "as alias"),
        message("as alias").as_bytes(),
    );

    // The group, as its representative; also AUTH LOGIN with the user as initial response.
    let r = send(
        "team@example.com",
        &["ann@example.com"],
        "as group",
        auth("LOGIN", "tom@example.com", TOM_PW, true),
    );
    accepted(&r);
    received_then(
        &s.last("ann@example.com", "as group"),
        message("as group").as_bytes(),
    );

    // An external recipient is queued, not refused.
    let r = send(
        "tom@example.com",
        &["someone@other.org"],
        "outbound",
        tom_plain(),
    );
    let text = accepted(&r);
    assert!(
        text.contains("delivered to 0 mailbox(es), 1 queued"),
        "{text}"
    );
    assert_eq!(s.count("ann@example.com"), 3);

    // Someone else's address: 553 5.7.1.
    let r = send(
        "ann@example.com",
        &["tom@example.com"],
        "forged",
        tom_plain(),
    );
    refused(&r, "SMTPSenderRefused", 553, "5.7.1");
    // A group by a member who is not its representative.
    let r = send(
        "team@example.com",
        &["tom@example.com"],
        "not a rep",
        auth("PLAIN", "ann@example.com", ANN_PW, true),
    );
    refused(&r, "SMTPSenderRefused", 553, "5.7.1");
    // The null sender.
    let r = send("", &["tom@example.com"], "null sender", tom_plain());
    refused(&r, "SMTPSenderRefused", 553, "5.7.1");
    // Apart from the welcome letters, nothing refused reached tom, and ann has her three.
    assert_eq!(s.count("tom@example.com"), 0);
    assert_eq!(s.count("ann@example.com"), 3);
}

#[test]
fn submission_refuses_bad_password_mail_before_auth_and_auth_before_starttls() {
    let s = Server::start("");
    let cert = s.cert();
    let base = |security: &str| {
        let mut req = send_request(
            s.submission,
            security,
            "tom@example.com",
            &["ann@example.com"],
            &message("refused"),
        );
        req["cafile"] = json!(cert);
        req
    };

    // Wrong password: 535 5.7.8 (one attempt only; each failure costs a growing delay).
    let mut req = base("starttls");
    req["auth"] = auth("PLAIN", "tom@example.com", "wrong", true);
    let r = smtplib(&req);
    refused(&r, "SMTPAuthenticationError", 535, "5.7.8");
    assert_eq!(r["stage"], "auth", "{r}");
    // Unknown user: the same answer.
    req["auth"] = auth("LOGIN", "nobody@example.com", "x", false);
    refused(&smtplib(&req), "SMTPAuthenticationError", 535, "5.7.8");

    // MAIL before AUTH (TLS done): 530.
    let r = smtplib(&base("starttls"));
    refused(&r, "SMTPSenderRefused", 530, "5.7.0");
    // MAIL before STARTTLS: 530 as well.
    let r = smtplib(&base("plain"));
    refused(&r, "SMTPSenderRefused", 530, "5.7.0");

    // AUTH before STARTTLS: not advertised, and refused with 538 (smtplib will not send it).
    let mut raw = Raw::greeted(s.submission);
    let ehlo = raw.ehlo();
    assert!(ehlo.text.contains("STARTTLS"), "{ehlo:?}");
    assert!(!ehlo.text.contains("AUTH"), "{ehlo:?}");
    // AUTH PLAIN \0tom@example.com\0password
    raw.send(b"AUTH PLAIN AHRvbUBleGFtcGxlLmNvbQB0b20tU2VjcmV0LTE=\r\n");
    raw.expect_reply(538, "5.7.11");
    raw.send(b"AUTH LOGIN\r\n");
    raw.expect_reply(538, "5.7.11");
    raw.expect("MAIL FROM:<tom@example.com>", 530);
    raw.expect("QUIT", 221);

    // AUTH on the MX port: not available.
    let mut raw = Raw::greeted(s.mx);
    let ehlo = raw.ehlo();
    assert!(!ehlo.text.contains("AUTH"), "{ehlo:?}");
    raw.send(b"AUTH PLAIN AHRvbUBleGFtcGxlLmNvbQB0b20tU2VjcmV0LTE=\r\n");
    raw.expect_reply(502, "5.5.1");
    raw.expect("QUIT", 221);

    assert_eq!(s.count("ann@example.com"), 0);
    assert_eq!(s.count("tom@example.com"), 0);
}

// ---------------------------------------------------------------------------------------------
// 3. Implicit TLS

#[test]
fn submissions_implicit_tls_with_auth() {
    let s = Server::start("");
    let m = message("over implicit tls");
    let mut req = send_request(
        s.submissions,
        "ssl",
        "tom@example.com",
        &["ann@example.com"],
        &m,
    );
    req["cafile"] = json!(s.cert());
    req["auth"] = auth("PLAIN", "tom@example.com", TOM_PW, true);
    let r = smtplib(&req);
    accepted(&r);
    let features = r["features"].as_array().unwrap();
    assert!(features.contains(&json!("auth")), "{r}");
    assert!(!features.contains(&json!("starttls")), "{r}");
    let received = received_then(
        &s.last("ann@example.com", "over implicit tls"),
        m.as_bytes(),
    );
    assert!(received.contains("with ESMTPSA id"), "{received}");

    // AUTH LOGIN too; and without AUTH, MAIL is refused.
    req["auth"] = auth("LOGIN", "tom@example.com", TOM_PW, false);
    accepted(&smtplib(&req));
    req.as_object_mut().unwrap().remove("auth");
    refused(&smtplib(&req), "SMTPSenderRefused", 530, "5.7.0");
    assert_eq!(s.count("ann@example.com"), 2);
}

// ---------------------------------------------------------------------------------------------
// 4. SMTPUTF8

#[test]
fn smtputf8_message_from_utf8_local_part_is_stored_byte_identical() {
    let s = Server::start("");
    let subject = "Grüße aus Köln ✉ 日本語";
    let m = format!(
        "From: Jörg <jörg@other.org>\r\nTo: <tom@example.com>\r\nSubject: {subject}\r\n\
         Message-ID: <utf8@client.test>\r\n\r\nÄpfel, Birnen und Straßenbahn.\r\n.λ\r\n"
    );
    let mut req = send_request(s.mx, "plain", "jörg@other.org", &["tom@example.com"], &m);
    req["mail_options"] = json!(["SMTPUTF8"]);
    let r = smtplib(&req);
    accepted(&r);
    assert!(
        r["features"]
            .as_array()
            .unwrap()
            .contains(&json!("smtputf8"))
    );
    let stored = s.last("tom@example.com", subject);
    let received = received_then(&stored, m.as_bytes());
    assert!(received.contains("with UTF8SMTP id"), "{received}");

    // Without the SMTPUTF8 parameter a UTF-8 address is refused (raw: smtplib would not send).
    let mut raw = Raw::greeted(s.mx);
    raw.ehlo();
    raw.send("MAIL FROM:<jörg@other.org>\r\n".as_bytes());
    raw.expect_reply(553, "5.6.7");
    raw.expect("QUIT", 221);
    assert_eq!(s.count("tom@example.com"), 1);

    // A UTF-8 account on an IDN domain (provisioned while the server runs), addressed with the
    // U-label and with the A-label form of its domain.
    cli(&s.data(), &["domain", "add", "例子.测试"]);
    cli(
        &s.data(),
        &["account", "add", "用户@例子.测试", "--password", "pw"],
    );
    for (to, subject) in [
        ("用户@例子.测试", "U-label 你好"),
        ("用户@xn--fsqu00a.xn--0zwm56d", "A-label 你好"),
    ] {
        let m =
            format!("From: <jörg@other.org>\r\nTo: <{to}>\r\nSubject: {subject}\r\n\r\n正文\r\n");
        let mut req = send_request(s.mx, "plain", "jörg@other.org", &[to], &m);
        req["mail_options"] = json!(["SMTPUTF8"]);
        accepted(&smtplib(&req));
        received_then(&s.last("用户@例子.测试", subject), m.as_bytes());
    }
    assert_eq!(s.count("用户@例子.测试"), 2);
}

// ---------------------------------------------------------------------------------------------
// 5. Pipelining

#[test]
fn pipelining_two_transactions_in_one_write() {
    let s = Server::start("");
    let first = message("pipelined one");
    let second = message("pipelined two");
    let mut raw = Raw::greeted(s.mx);
    let mut wire = Vec::new();
    wire.extend_from_slice(
        b"EHLO client.test\r\n\
          MAIL FROM:<pipe@other.org>\r\n\
          RCPT TO:<tom@example.com>\r\n\
          RCPT TO:<nobody@example.com>\r\n\
          RCPT TO:<ann@example.com>\r\n\
          DATA\r\n",
    );
    wire.extend_from_slice(&dot_stuff(first.as_bytes()));
    wire.extend_from_slice(
        b"MAIL FROM:<pipe@other.org>\r\n\
          RCPT TO:<ann@example.com>\r\n\
          DATA\r\n",
    );
    wire.extend_from_slice(&dot_stuff(second.as_bytes()));
    wire.extend_from_slice(b"QUIT\r\n");
    raw.send(&wire);

    let ehlo = raw.expect_reply(250, "localhost Hello client.test");
    assert!(ehlo.text.contains("\nPIPELINING\n"), "{ehlo:?}");
    raw.expect_reply(250, "2.1.0");
    raw.expect_reply(250, "2.1.5");
    raw.expect_reply(550, "5.1.1");
    raw.expect_reply(250, "2.1.5");
    raw.expect_reply(354, "End data");
    let r = raw.expect_reply(250, "2.0.0");
    assert!(r.text.contains("delivered to 2 mailbox(es)"), "{r:?}");
    raw.expect_reply(250, "2.1.0");
    raw.expect_reply(250, "2.1.5");
    raw.expect_reply(354, "End data");
    let r = raw.expect_reply(250, "2.0.0");
    assert!(r.text.contains("delivered to 1 mailbox(es)"), "{r:?}");
    raw.expect_reply(221, "2.0.0");
    raw.assert_closed();

    received_then(
        &s.last("tom@example.com", "pipelined one"),
        first.as_bytes(),
    );
    let ann = s.list("ann@example.com");
    assert_eq!(ann.len(), 2, "{ann:?}");
    received_then(
        &s.last("ann@example.com", "pipelined two"),
        second.as_bytes(),
    );
}

/// Dot-stuffs a CRLF message and appends the terminator (what a client puts on the wire).
fn dot_stuff(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for line in message.split_inclusive(|&b| b == b'\n') {
        if line.starts_with(b".") {
            out.push(b'.');
        }
        out.extend_from_slice(line);
    }
    out.extend_from_slice(b".\r\n");
    out
}

// ---------------------------------------------------------------------------------------------
// More delivery paths: CHUNKING, concurrent clients, quota

#[test]
fn chunking_bdat_is_stored_byte_identical() {
    let s = Server::start("");
    let mut raw = Raw::greeted(s.mx);
    let ehlo = raw.ehlo();
    assert!(ehlo.text.contains("\nCHUNKING\n"), "{ehlo:?}");
    // Chunks are octets: a dot line, a bare LF and a NUL are content, not framing.
    let first: &[u8] = b"Subject: chunked\r\n\r\nline one\r\n.\r\nbare\nlf";
    let second: &[u8] = b" and \0 nul\r\n";
    raw.expect("MAIL FROM:<bdat@other.org> BODY=BINARYMIME", 250);
    raw.expect("RCPT TO:<tom@example.com>", 250);
    // First chunk with the next command pipelined behind it.
    let mut wire = format!("BDAT {}\r\n", first.len()).into_bytes();
    wire.extend_from_slice(first);
    wire.extend_from_slice(format!("BDAT {} LAST\r\n", second.len()).as_bytes());
    wire.extend_from_slice(second);
    wire.extend_from_slice(b"QUIT\r\n");
    raw.send(&wire);
    raw.expect_reply(250, "2.0.0");
    let r = raw.expect_reply(250, "2.0.0");
    assert!(r.text.contains("delivered to 1 mailbox(es)"), "{r:?}");
    raw.expect_reply(221, "2.0.0");
    raw.assert_closed();
    let original = [first, second].concat();
    received_then(&s.last("tom@example.com", "chunked"), &original);
}

#[test]
fn concurrent_clients_all_get_stored_with_distinct_uids() {
    let s = Server::start("");
    let port = s.mx;
    let threads: Vec<_> = (0..6)
        .map(|t| {
            std::thread::spawn(move || {
                let mut raw = Raw::greeted(port);
                raw.ehlo();
                for i in 0..3 {
                    raw.expect("MAIL FROM:<crowd@other.org>", 250);
                    raw.expect("RCPT TO:<tom@example.com>", 250);
                    raw.expect("RCPT TO:<ann@example.com>", 250);
                    raw.expect("DATA", 354);
                    raw.send(&dot_stuff(message(&format!("crowd {t} {i}")).as_bytes()));
                    raw.expect_reply(250, "2.0.0");
                }
                raw.expect("QUIT", 221);
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    for account in ["tom@example.com", "ann@example.com"] {
        let list = s.list(account);
        assert_eq!(list.len(), 18, "{account}: {list:?}");
        let mut uids: Vec<u32> = list.iter().map(|l| l.uid).collect();
        uids.dedup();
        assert_eq!(uids.len(), 18, "{account}: {list:?}");
        let mut subjects: Vec<&str> = list.iter().map(|l| l.subject.as_str()).collect();
        subjects.sort_unstable();
        subjects.dedup();
        assert_eq!(subjects.len(), 18, "{account}: {list:?}");
    }
}

/// Adds full@example.com with a 600-byte quota and the group list@example.com = tom + full.
fn provision_full_mailbox(s: &Server) {
    cli(
        &s.data(),
        &[
            "account",
            "add",
            "full@example.com",
            "--password",
            "pw",
            "--quota",
            "600",
        ],
    );
    cli(
        &s.data(),
        &[
            "group",
            "add",
            "list@example.com",
            "--member",
            "tom@example.com",
            "--member",
            "full@example.com",
        ],
    );
}

#[test]
fn quota_refuses_a_message_that_does_not_fit() {
    let s = Server::start("");
    provision_full_mailbox(&s);
    let mut big = message("over quota");
    big.push_str(&"x".repeat(800));
    big.push_str("\r\n");
    let mut raw = open_data_to(s.mx, "full@example.com");
    raw.send(&dot_stuff(big.as_bytes()));
    raw.expect_reply(452, "4.2.2");
    raw.expect("QUIT", 221);
    assert_eq!(s.count("full@example.com"), 0);
    // A small one fits.
    let small = "Subject: fits\r\n\r\nok\r\n";
    let mut raw = open_data_to(s.mx, "full@example.com");
    raw.send(&dot_stuff(small.as_bytes()));
    raw.expect_reply(250, "2.0.0");
    raw.expect("QUIT", 221);
    received_then(&s.last("full@example.com", "fits"), small.as_bytes());
}

#[test]
fn group_delivery_is_not_blocked_by_one_full_mailbox() {
    let s = Server::start("");
    provision_full_mailbox(&s);
    let mut big = message("to the list");
    big.push_str(&"x".repeat(800));
    big.push_str("\r\n");
    let mut raw = open_data_to(s.mx, "list@example.com");
    raw.send(&dot_stuff(big.as_bytes()));
    // The message is accepted for the members it fits (tom); the full mailbox is skipped (or
    // bounced), not a reason to hold back everyone's copy.
    let r = raw.reply();
    assert_eq!(r.code, 250, "{r:?}");
    raw.expect("QUIT", 221);
    received_then(&s.last("tom@example.com", "to the list"), big.as_bytes());
    assert_eq!(s.count("full@example.com"), 0);
}

// ---------------------------------------------------------------------------------------------
// 6. swaks

fn swaks(args: &[&str]) -> String {
    let mut cmd = Command::new("swaks");
    cmd.args([
        "--server",
        "127.0.0.1",
        "--helo",
        "client.test",
        "--timeout",
        "10",
    ])
    .args(args);
    let out = bounded(cmd, CLIENT);
    let transcript = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "swaks {args:?} failed:\n{transcript}");
    transcript
}

#[test]
fn swaks_mx_submission_and_submissions() {
    if Command::new("swaks").arg("--version").output().is_err() {
        assert!(
            std::env::var_os("MAILCORE_REQUIRE_PEERS").is_none(),
            "swaks is required: MAILCORE_REQUIRE_PEERS is set"
        );
        eprintln!(
            "SKIPPED: swaks not installed (set MAILCORE_REQUIRE_PEERS to make this a failure)"
        );
        return;
    }
    let s = Server::start("");
    let mx = s.mx.to_string();
    let t = swaks(&[
        "--port",
        &mx,
        "--from",
        "swaks@other.org",
        "--to",
        "tom@example.com",
        "--header",
        "Subject: swaks to mx",
        "--body",
        "hello from swaks",
    ]);
    assert!(t.contains("<-  250 2.0.0 Ok"), "{t}");
    let stored = String::from_utf8(s.last("tom@example.com", "swaks to mx")).unwrap();
    assert!(stored.contains("\r\n\r\nhello from swaks\r\n"), "{stored}");

    let submission = s.submission.to_string();
    for mechanism in ["PLAIN", "LOGIN"] {
        let subject = format!("Subject: swaks {mechanism}");
        let t = swaks(&[
            "--port",
            &submission,
            "--tls",
            "--auth",
            mechanism,
            "--auth-user",
            "tom@example.com",
            "--auth-password",
            TOM_PW,
            "--from",
            "tom@example.com",
            "--to",
            "ann@example.com",
            "--header",
            &subject,
            "--body",
            "submitted with swaks",
        ]);
        assert!(t.contains("<~  235 2.7.0"), "{t}");
        assert!(t.contains("<~  250 2.0.0 Ok"), "{t}");
        s.last("ann@example.com", &subject["Subject: ".len()..]);
    }

    let submissions = s.submissions.to_string();
    let t = swaks(&[
        "--port",
        &submissions,
        "--tls-on-connect",
        "--auth",
        "PLAIN",
        "--auth-user",
        "tom@example.com",
        "--auth-password",
        TOM_PW,
        "--from",
        "tom@example.com",
        "--to",
        "ann@example.com",
        "--header",
        "Subject: swaks on connect",
        "--body",
        "implicit TLS",
    ]);
    assert!(t.contains("<~  250 2.0.0 Ok"), "{t}");
    s.last("ann@example.com", "swaks on connect");
    assert_eq!(s.count("ann@example.com"), 3);
    assert_eq!(s.count("tom@example.com"), 1);
}

// ---------------------------------------------------------------------------------------------
// 7. Hostile input

/// Delivers one proper message to tom on a fresh connection, proving the storage check can
/// see what arrives.
fn control_message(s: &Server, subject: &str) {
    let m = message(subject);
    let mut raw = open_data(s.mx);
    raw.send(&dot_stuff(m.as_bytes()));
    raw.expect_reply(250, "2.0.0");
    raw.expect("QUIT", 221);
    received_then(&s.last("tom@example.com", subject), m.as_bytes());
}

#[test]
fn smtp_smuggling_endings_are_refused_and_nothing_is_stored() {
    let s = Server::start("");
    let endings: [&[u8]; 5] = [b"\n.\n", b"\r.\r", b"\n.\r\n", b"\r\n.\n", b"\r.\r\n"];
    for ending in endings {
        let mut raw = open_data(s.mx);
        let mut wire = b"Subject: first\r\n\r\nfirst message".to_vec();
        wire.extend_from_slice(ending);
        wire.extend_from_slice(
            b"MAIL FROM:<smuggled@other.org>\r\n\
              RCPT TO:<tom@example.com>\r\n\
              DATA\r\n\
              Subject: smuggled\r\n\r\nsmuggled\r\n.\r\n",
        );
        raw.send(&wire);
        let r = raw.reply();
        assert_eq!(r.code, 554, "ending {ending:?}: {r:?}");
        assert!(r.text.starts_with("5.5.2"), "ending {ending:?}: {r:?}");
        raw.assert_closed();
        assert_eq!(s.count("tom@example.com"), 0, "ending {ending:?}");
    }
    control_message(&s, "control");
    assert_eq!(s.count("tom@example.com"), 1);
}

#[test]
fn commands_pipelined_after_starttls_are_not_executed() {
    let s = Server::start("");
    let mut cmd = Command::new(PYTHON);
    cmd.arg(format!("{SCRIPTS}/starttls_injection.py"))
        .arg("127.0.0.1")
        .arg(s.mx.to_string())
        .arg(s.cert());
    let out = bounded(cmd, CLIENT);
    assert!(
        out.status.success(),
        "starttls_injection.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    let code = |k: &str| r[k][0].as_u64().unwrap_or_else(|| panic!("{k}: {r}"));
    let text = |k: &str| r[k][1].as_str().unwrap_or_default().to_owned();
    assert_eq!(code("starttls"), 220, "{r}");
    assert_eq!(r["plaintext_after_220"], "", "{r}");
    assert_eq!(r["unsolicited"], "", "{r}");
    assert!(r["tls_version"].as_str().unwrap().starts_with("TLSv1."));
    // The injected MAIL did not open a transaction, the injected EHLO did not count.
    assert_eq!(code("rcpt_without_mail"), 503, "{r}");
    assert_eq!(code("mail_without_ehlo"), 503, "{r}");
    assert_eq!(code("ehlo_after_tls"), 250, "{r}");
    assert!(!text("ehlo_after_tls").contains("STARTTLS"), "{r}");
    for k in ["mail", "rcpt", "message"] {
        assert_eq!(code(k), 250, "{k}: {r}");
    }
    assert_eq!(code("data"), 354, "{r}");
    assert_eq!(code("quit"), 221, "{r}");
    let list = s.list("tom@example.com");
    assert_eq!(list.len(), 1, "{list:?}");
    let stored = String::from_utf8(s.last("tom@example.com", "after starttls")).unwrap();
    assert!(
        stored.starts_with("Received: from client.test ([127.0.0.1])"),
        "{stored}"
    );
    assert!(stored.contains("with ESMTPS id"), "{stored}");
    assert!(!stored.contains("evil"), "{stored}");
}

#[test]
fn over_long_line_is_refused_and_the_session_goes_on() {
    let s = Server::start("");
    let mut raw = Raw::greeted(s.mx);
    raw.ehlo();
    let mut line = b"NOOP ".to_vec();
    line.resize(1024 * 1024, b'a');
    line.extend_from_slice(b"\r\n");
    raw.send(&line);
    raw.expect_reply(500, "5.5.6");
    // Exactly one error, and the next command is read from the right place.
    raw.expect("NOOP", 250);
    // A long MAIL line is refused the same way and opens no transaction.
    let mut mail = b"MAIL FROM:<".to_vec();
    mail.resize(1024 * 1024, b'x');
    mail.extend_from_slice(b"@other.org>\r\n");
    raw.send(&mail);
    raw.expect_reply(500, "5.5.6");
    raw.expect("RCPT TO:<tom@example.com>", 503);
    assert_eq!(s.count("tom@example.com"), 0);
    // The same connection still delivers.
    let m = message("after the long line");
    raw.expect("MAIL FROM:<long@other.org>", 250);
    raw.expect("RCPT TO:<tom@example.com>", 250);
    raw.expect("DATA", 354);
    raw.send(&dot_stuff(m.as_bytes()));
    raw.expect_reply(250, "2.0.0");
    raw.expect("QUIT", 221);
    received_then(
        &s.last("tom@example.com", "after the long line"),
        m.as_bytes(),
    );
}

#[test]
fn size_parameter_of_twenty_digits_is_too_big_not_malformed() {
    let s = Server::start("");
    let mut raw = Raw::greeted(s.mx);
    raw.ehlo();
    // RFC 1870: size-value ::= 1*20DIGIT; 18446744073709551615 (u64::MAX) is fine to parse,
    // one more is still a valid size-value, and simply too big.
    raw.send(b"MAIL FROM:<big@other.org> SIZE=18446744073709551615\r\n");
    raw.expect_reply(552, "5.3.4");
    raw.send(b"MAIL FROM:<big@other.org> SIZE=99999999999999999999\r\n");
    raw.expect_reply(552, "5.3.4");
    raw.expect("QUIT", 221);
}

const LIMITS: &str = "max_recipients = 3\nmax_message_size = 10000";

#[test]
fn message_size_limit_refuses_size_parameter_data_and_bdat() {
    let s = Server::start(LIMITS);
    let mut raw = Raw::greeted(s.mx);
    let ehlo = raw.ehlo();
    assert!(ehlo.text.contains("\nSIZE 10000\n"), "{ehlo:?}");
    // SIZE= over the limit.
    raw.send(b"MAIL FROM:<big@other.org> SIZE=10001\r\n");
    raw.expect_reply(552, "5.3.4");
    // At the limit is fine.
    raw.expect("MAIL FROM:<big@other.org> SIZE=10000", 250);
    raw.expect("RSET", 250);
    // DATA over the limit (no SIZE= announced).
    raw.expect("MAIL FROM:<big@other.org>", 250);
    raw.expect("RCPT TO:<tom@example.com>", 250);
    raw.expect("DATA", 354);
    let mut big = b"Subject: too big\r\n\r\n".to_vec();
    for _ in 0..400 {
        big.extend_from_slice(b"0123456789012345678901234567890123456789012345678\r\n");
    }
    raw.send(&dot_stuff(&big));
    raw.expect_reply(552, "5.3.4");
    raw.expect("NOOP", 250);
    // BDAT over the limit.
    raw.expect("MAIL FROM:<big@other.org>", 250);
    raw.expect("RCPT TO:<tom@example.com>", 250);
    let mut chunk = format!("BDAT {} LAST\r\n", big.len()).into_bytes();
    chunk.extend_from_slice(&big);
    raw.send(&chunk);
    raw.expect_reply(552, "5.3.4");
    raw.expect("NOOP", 250);
    raw.expect("QUIT", 221);
    assert_eq!(s.count("tom@example.com"), 0);
    control_message(&s, "small enough");
}

#[test]
fn too_many_recipients_get_452_and_the_rest_is_delivered() {
    let s = Server::start(LIMITS);
    let m = message("three recipients");
    let mut raw = Raw::greeted(s.mx);
    raw.ehlo();
    raw.expect("MAIL FROM:<many@other.org>", 250);
    raw.expect("RCPT TO:<tom@example.com>", 250);
    raw.expect("RCPT TO:<ann@example.com>", 250);
    raw.expect("RCPT TO:<thomas@example.com>", 250);
    raw.send(b"RCPT TO:<team@example.com>\r\n");
    raw.expect_reply(452, "4.5.3");
    raw.send(b"RCPT TO:<tom@example.com>\r\n");
    raw.expect_reply(452, "4.5.3");
    raw.expect("DATA", 354);
    raw.send(&dot_stuff(m.as_bytes()));
    let r = raw.expect_reply(250, "2.0.0");
    // The refused group (with its external member) took no part; tom gets one copy.
    assert!(
        r.text.contains("delivered to 2 mailbox(es), 0 queued"),
        "{r:?}"
    );
    raw.expect("QUIT", 221);
    assert_eq!(s.count("tom@example.com"), 1);
    assert_eq!(s.count("ann@example.com"), 1);
    received_then(&s.last("ann@example.com", "three recipients"), m.as_bytes());
}

#[test]
fn slow_drip_client_still_works() {
    let s = Server::start("");
    let mut raw = Raw::greeted(s.mx);
    let drip = |raw: &mut Raw, bytes: &[u8]| {
        for b in bytes {
            raw.send(&[*b]);
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let body = b"Subject: drip\r\n\r\nx\r\n";
    for (line, code) in [
        (&b"EHLO drip.test\r\n"[..], 250),
        (b"MAIL FROM:<d@other.org>\r\n", 250),
        (b"RCPT TO:<tom@example.com>\r\n", 250),
        (b"DATA\r\n", 354),
        (b"Subject: drip\r\n\r\nx\r\n.\r\n", 250),
        (b"QUIT\r\n", 221),
    ] {
        drip(&mut raw, line);
        let r = raw.reply();
        assert_eq!(r.code, code, "{:?}: {r:?}", String::from_utf8_lossy(line));
    }
    raw.assert_closed();
    received_then(&s.last("tom@example.com", "drip"), body);
}

#[test]
fn nul_bytes_and_malformed_addresses_are_refused() {
    let s = Server::start("");
    let mut raw = Raw::greeted(s.mx);
    raw.ehlo();
    raw.send(b"NO\0OP\r\n");
    raw.expect_reply(500, "5.5.2");
    raw.send(b"MAIL FROM:<a\0b@other.org>\r\n");
    raw.expect_reply(500, "5.5.2");
    raw.send(b"MAIL FROM:<a@other.org>\0\r\n");
    raw.expect_reply(500, "5.5.2");
    raw.expect("MAIL FROM:<a@other.org>", 250);
    raw.send(b"RCPT TO:<\"\"@example.com>\r\n");
    raw.expect_reply(501, "5.1.3");
    raw.send(b"RCPT TO:<tom\0@example.com>\r\n");
    raw.expect_reply(500, "5.5.2");
    raw.expect("DATA", 554);
    raw.expect("QUIT", 221);
    assert_eq!(s.count("tom@example.com"), 0);
}

#[test]
fn relay_attempts_on_the_mx_port_are_refused_even_from_loopback() {
    let s = Server::start("");
    let mut raw = Raw::greeted(s.mx);
    raw.ehlo();
    raw.expect("MAIL FROM:<spammer@other.org>", 250);
    for (rcpt, code, status) in [
        ("<user%other.org@example.com>", 550, "5.1.1"),
        ("<@a.example:user@other.org>", 554, "5.7.1"),
        ("<@a.example,@example.com:user@other.org>", 554, "5.7.1"),
        ("<other.org!user@example.com>", 550, "5.1.1"),
        ("<x@other.org>", 554, "5.7.1"),
        ("<\"x@other.org\"@example.com>", 550, "5.1.1"),
    ] {
        raw.send(format!("RCPT TO:{rcpt}\r\n").as_bytes());
        let r = raw.reply();
        assert_eq!(r.code, code, "{rcpt}: {r:?}");
        assert!(r.text.starts_with(status), "{rcpt}: {r:?}");
    }
    raw.send(b"DATA\r\n");
    raw.expect_reply(554, "5.5.1");
    raw.expect("QUIT", 221);
    assert_eq!(s.count("tom@example.com"), 0);
}

#[test]
fn mail_loop_and_error_limit() {
    let s = Server::start("");
    // More than 50 Received: fields: a loop, refused, nothing stored; the session goes on.
    let mut looped = String::new();
    for i in 0..51 {
        looped.push_str(&format!(
            "Received: from hop{i}.test by hop{i}.test; Thu, 1 Jan 2026 00:00:00 +0000\r\n"
        ));
    }
    looped.push_str("Subject: loop\r\n\r\nround and round\r\n");
    let mut raw = open_data(s.mx);
    raw.send(&dot_stuff(looped.as_bytes()));
    raw.expect_reply(554, "5.4.6");
    raw.expect("NOOP", 250);
    assert_eq!(s.count("tom@example.com"), 0);
    // Ten protocol errors close the session with 421.
    for i in 1..10 {
        let r = raw.cmd("BOGUS");
        assert_eq!(r.code, 500, "error {i}: {r:?}");
    }
    raw.send(b"BOGUS\r\n");
    raw.expect_reply(500, "5.5.2");
    raw.expect_reply(421, "4.7.0");
    raw.assert_closed();
    assert_eq!(s.count("tom@example.com"), 0);
}

// ---------------------------------------------------------------------------------------------
// 8. Idle timeout

#[test]
fn idle_timeout_sends_421_and_closes() {
    let s = Server::start("idle_timeout_secs = 1");
    // Silent after the greeting.
    let mut raw = Raw::greeted(s.mx);
    let start = Instant::now();
    raw.expect_reply(421, "4.4.2");
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(800) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    raw.assert_closed();

    // Silent in the middle of DATA: the partial message is not stored.
    let mut raw = open_data(s.mx);
    raw.send(b"Subject: partial\r\n\r\nhalf a mess");
    let start = Instant::now();
    raw.expect_reply(421, "4.4.2");
    assert!(start.elapsed() < Duration::from_secs(5));
    raw.assert_closed();
    assert_eq!(s.count("tom@example.com"), 0);

    // A client that vanishes in the middle of DATA leaves nothing behind either.
    let mut raw = open_data(s.mx);
    raw.send(b"Subject: vanished\r\n\r\nhalf a mess");
    drop(raw);
    control_message(&s, "after the vanished one");
    assert_eq!(s.count("tom@example.com"), 1);
}

// ---------------------------------------------------------------------------------------------
// 9. Connections per IP

#[test]
fn third_connection_from_one_ip_gets_421() {
    let s = Server::start("max_connections_per_ip = 2");
    let mut a = Raw::greeted(s.mx);
    let mut b = Raw::greeted(s.mx);
    let mut c = Raw::connect(s.mx);
    c.expect_reply(421, "4.7.0");
    c.assert_closed();
    // Once one leaves, a new connection is welcome again (the slot is freed when the server
    // notices, so retry for a bounded time).
    a.expect("QUIT", 221);
    a.assert_closed();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut d = loop {
        let mut d = Raw::connect(s.mx);
        let r = d.reply();
        if r.code == 220 {
            break d;
        }
        assert_eq!(r.code, 421, "{r:?}");
        assert!(Instant::now() < deadline, "slot never freed");
        std::thread::sleep(Duration::from_millis(50));
    };
    b.ehlo();
    d.ehlo();
    b.expect("QUIT", 221);
    d.expect("QUIT", 221);
}

#[test]
fn connection_limit_counts_all_listeners() {
    let s = Server::start("max_connections_per_ip = 2");
    let _a = Raw::greeted(s.mx);
    let _b = Raw::greeted(s.mx);
    // `[smtp] max_connections_per_ip` is documented as "Most simultaneous connections per
    // client IP": a third connection from this IP is one too many, whatever the port.
    let mut c = Raw::connect(s.submission);
    let r = c.reply();
    assert_eq!(
        r.code, 421,
        "third connection from one IP (to submission): {r:?}"
    );
}

#[test]
fn postmaster_always_exists() {
    let s = Server::start("");
    let before = s.count("tom@example.com");
    for rcpt in ["postmaster@example.com", "PostMaster@example.com"] {
        let body = format!("Subject: to {rcpt}\r\n\r\nhello postmaster\r\n");
        let mut raw = open_data_to(s.mx, rcpt);
        raw.send(&dot_stuff(body.as_bytes()));
        raw.expect_reply(250, "2.0.0");
        raw.expect("QUIT", 221);
    }
    // The organisation's first account (tom) receives postmaster mail.
    assert_eq!(s.count("tom@example.com"), before + 2);
    assert_eq!(s.count("ann@example.com"), 0);
}
