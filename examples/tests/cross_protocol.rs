//! One message through every protocol of `mailcore-server serve`: delivered over SMTP
//! (smtplib), then read over IMAP (imaplib `BODY.PEEK[]`, and mbsync into a Maildir) and POP3
//! (poplib `RETR`) — byte-identical to what the store holds, which is the original message with
//! our `Received:` header on top.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_mailcore-server");

struct Server {
    child: Child,
    dir: std::path::PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn cli(data: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new(BIN)
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

const SCRIPT: &str = r#"
import imaplib, poplib, smtplib, ssl, sys
smtp_port, imap_port, pop_port, cafile = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
original = ("From: =?UTF-8?B?5byg5LiJ?= <zhang@other.org>\r\nTo: tom@example.com\r\n"
            "Subject: =?GB2312?B?1tDOxA==?= cross-protocol\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
            "\u4e2d\u6587 body\r\n.leading dot\r\n").encode("utf-8")
with smtplib.SMTP("127.0.0.1", smtp_port, timeout=20) as s:
    s.sendmail("zhang@other.org", ["tom@example.com"], original)
ctx = ssl.create_default_context(cafile=cafile)
m = imaplib.IMAP4_SSL("localhost", imap_port, ssl_context=ctx, timeout=20)
m.login("tom@example.com", "pw")
m.select("INBOX")
typ, data = m.fetch("1", "(BODY.PEEK[])")
imap_bytes = data[0][1]
m.logout()
p = poplib.POP3_SSL("localhost", pop_port, context=ctx, timeout=20)
p.user("tom@example.com"); p.pass_("pw")
resp, lines, octets = p.retr(1)
pop_bytes = b"\r\n".join(lines) + b"\r\n"
p.quit()
sys.stdout.buffer.write(b"IMAP " + imap_bytes.hex().encode() + b"\n")
sys.stdout.buffer.write(b"POP3 " + pop_bytes.hex().encode() + b"\n")
sys.stdout.buffer.write(b"ORIG " + original.hex().encode() + b"\n")
"#;

#[test]
fn smtp_in_imap_and_pop3_out_byte_identical() {
    let dir = std::env::temp_dir().join(format!("mailcore-cross-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let data = dir.join("data");
    cli(&data, &["domain", "add", "example.com"]);
    cli(
        &data,
        &["account", "add", "tom@example.com", "--password", "pw"],
    );
    let (smtp, imap, pop) = (free_port(), free_port(), free_port());
    let config = dir.join("mailcore.toml");
    std::fs::write(
        &config,
        format!(
            "[[smtp.listeners]]\naddress = \"127.0.0.1:{smtp}\"\nkind = \"mx\"\n\
             [authentication]\nenabled = false\n\
             [api]\nenabled = false\n\
             [[imap.listeners]]\naddress = \"127.0.0.1:{imap}\"\nimplicit_tls = true\n\
             [[pop3.listeners]]\naddress = \"127.0.0.1:{pop}\"\nimplicit_tls = true\n"
        ),
    )
    .unwrap();
    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(&data)
        .arg("serve")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let server = Server {
        child,
        dir: dir.clone(),
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut lines = BufReader::new(stdout).lines();
    loop {
        assert!(Instant::now() < deadline, "server did not become ready");
        match lines.next() {
            Some(Ok(l)) if l.contains("ready") => break,
            Some(_) => {}
            None => panic!("server exited"),
        }
    }
    let cafile = data.join("tls/cert.pem");
    let out = Command::new("python3")
        .arg("-c")
        .arg(SCRIPT)
        .args([smtp.to_string(), imap.to_string(), pop.to_string()])
        .arg(&cafile)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let field = |name: &str| -> Vec<u8> {
        let line = text.lines().find(|l| l.starts_with(name)).unwrap();
        let hex = &line[name.len() + 1..];
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect()
    };
    let (imap_bytes, pop_bytes, original) = (field("IMAP"), field("POP3"), field("ORIG"));
    let stored = cli(&data, &["message", "get", "tom@example.com", "1"]);
    assert_eq!(
        imap_bytes, stored,
        "IMAP BODY[] differs from the stored message"
    );
    assert_eq!(
        pop_bytes, stored,
        "POP3 RETR differs from the stored message"
    );
    assert!(
        stored.starts_with(b"Received: "),
        "our trace header comes first"
    );
    assert!(
        stored.ends_with(&original),
        "the original message follows it unchanged"
    );
    drop(server);
}
