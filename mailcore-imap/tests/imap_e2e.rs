//! End to end through real sockets: `serve` on an embedded store, driven by Python imaplib and
//! by mbsync (isync).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use mailcore::hook::HookChain;
use mailcore_imap::server::{ListenerConfig, serve};
use mailcore_imap::session::Limits;
use mailcore_store::Backend;
use mailcore_store::embedded::Embedded;
use mailcore_store::mailbox::{Flags, INBOX, NewMessage};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

const USER: &str = "tom@example.com";
const PASSWORD: &str = "correct horse";

const PLAIN: &[u8] =
    b"From: Alice <alice@example.com>\r\nTo: tom@example.com\r\nSubject: hello\r\n\
Date: Mon, 7 Feb 2022 21:52:25 +0000\r\nMessage-ID: <1@example.com>\r\n\r\nhi tom\r\n";
const MIXED: &[u8] = b"From: bob@example.com\r\nTo: tom@example.com\r\nSubject: multipart\r\n\
Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhello world\r\n\
--b\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERg==\r\n--b--\r\n";
// Subject "发票" in GBK as an encoded word; body "中文正文" in raw GBK.
const GBK: &[u8] = b"From: carol@example.cn\r\nTo: tom@example.com\r\nSubject: =?GBK?B?t6LGsQ==?=\r\n\
Content-Type: text/plain; charset=GBK\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\xd6\xd0\xce\xc4\xd5\xfd\xce\xc4\r\n";

struct Fixture {
    dir: PathBuf,
    store: Arc<dyn Backend>,
    cert: PathBuf,
    starttls_port: u16,
    imaps_port: u16,
    /// Plaintext with LOGIN allowed, for raw-socket exchanges.
    plain_port: u16,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

async fn fixture(name: &str) -> Fixture {
    let dir = std::env::temp_dir().join(format!("mailcore-imap-{name}-{}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir).unwrap();
    let store: Arc<dyn Backend> = Arc::new(Embedded::open(&dir.join("store")).await.unwrap());
    mailcore_store::provision::add_domain(
        store.as_ref(),
        "default",
        &"example.com".parse().unwrap(),
    )
    .await
    .unwrap();
    let account = mailcore_store::provision::add_account(
        store.as_ref(),
        &USER.parse().unwrap(),
        PASSWORD,
        None,
        None,
    )
    .await
    .unwrap();
    let inbox = store.mailbox(account.id, INBOX).await.unwrap().unwrap();
    for raw in [PLAIN, MIXED, GBK] {
        store
            .append(
                inbox.id,
                NewMessage {
                    raw: Bytes::from_static(raw),
                    flags: Flags::default(),
                    internal_date: 1_700_000_000,
                },
            )
            .await
            .unwrap();
    }

    let generated = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let cert = dir.join("cert.pem");
    std::fs::write(&cert, generated.cert.pem()).unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        generated.signing_key.serialize_der(),
    ));
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![CertificateDer::from(generated.cert.der().to_vec())],
        key,
    )
    .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));

    let mut limits = Limits::default();
    limits.auth_failure_delay = Duration::from_millis(10);
    let starttls = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let imaps = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (starttls_port, imaps_port) = (
        starttls.local_addr().unwrap().port(),
        imaps.local_addr().unwrap().port(),
    );
    tokio::spawn(serve(
        starttls,
        ListenerConfig::new(false, Some(acceptor.clone()), limits.clone()),
        store.clone(),
        HookChain::new(),
    ));
    let plain = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let plain_port = plain.local_addr().unwrap().port();
    tokio::spawn(serve(
        plain,
        ListenerConfig::new(false, None, limits.clone()).allow_plaintext_auth(true),
        store.clone(),
        HookChain::new(),
    ));
    tokio::spawn(serve(
        imaps,
        ListenerConfig::new(true, Some(acceptor), limits),
        store.clone(),
        HookChain::new(),
    ));
    Fixture {
        dir,
        store,
        cert,
        starttls_port,
        imaps_port,
        plain_port,
    }
}

async fn run(mut cmd: Command) -> (bool, String) {
    let out = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::task::spawn_blocking(move || cmd.output()),
    )
    .await
    .expect("client timed out")
    .unwrap()
    .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_imaplib() {
    let f = fixture("py").await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/imap/imaplib_client.py");
    let mut cmd = Command::new("/usr/bin/python3");
    cmd.arg(script)
        .arg(f.starttls_port.to_string())
        .arg(f.imaps_port.to_string())
        .arg(&f.cert)
        .arg(USER)
        .arg(PASSWORD);
    let (ok, out) = run(cmd).await;
    assert!(ok, "imaplib failed:\n{out}");
    assert!(out.contains("imaplib ok"), "{out}");
}

fn maildir_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for sub in ["cur", "new"] {
        if let Ok(rd) = std::fs::read_dir(dir.join(sub)) {
            out.extend(rd.map(|e| e.unwrap().path()));
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mbsync_round_trip() {
    if Command::new("mbsync").arg("--version").output().is_err() {
        assert!(
            std::env::var_os("MAILCORE_REQUIRE_PEERS").is_none(),
            "mbsync (Debian package isync) is required: MAILCORE_REQUIRE_PEERS is set"
        );
        eprintln!(
            "SKIPPED: mbsync not installed (set MAILCORE_REQUIRE_PEERS to make this a failure)"
        );
        return;
    }
    let f = fixture("mbsync").await;
    let mail = f.dir.join("maildir");
    std::fs::create_dir_all(&mail).unwrap();
    let config = f.dir.join("mbsyncrc");
    std::fs::write(
        &config,
        format!(
            "IMAPAccount test\nHost localhost\nPort {port}\nUser {USER}\nPass \"{PASSWORD}\"\n\
SSLType IMAPS\nCertificateFile {cert}\nAuthMechs LOGIN\n\n\
IMAPStore remote\nAccount test\n\n\
MaildirStore local\nPath {mail}/\nInbox {mail}/INBOX\nSubFolders Verbatim\n\n\
Channel sync\nFar :remote:\nNear :local:\nPatterns *\nCreate Both\nExpunge Both\nSyncState *\nSync All\n",
            port = f.imaps_port,
            cert = f.cert.display(),
            mail = mail.display(),
        ),
    )
    .unwrap();
    let mbsync = || {
        let mut c = Command::new("mbsync");
        c.arg("-c").arg(&config).arg("-a");
        c
    };
    let (ok, out) = run(mbsync()).await;
    assert!(ok, "first mbsync failed:\n{out}");
    let inbox = mail.join("INBOX");
    let files = maildir_files(&inbox);
    assert_eq!(files.len(), 3, "{files:?}\n{out}");
    for folder in ["Sent", "Drafts", "Trash", "Junk", "Archive"] {
        assert!(mail.join(folder).exists(), "{folder} not synced:\n{out}");
    }

    // Add a message locally and flag one as seen, then sync again.
    std::fs::write(
        inbox.join("new").join("1700000000.local.host"),
        b"Subject: from maildir\r\nFrom: tom@example.com\r\n\r\nwritten locally\r\n",
    )
    .unwrap();
    let first = files[0].clone();
    let name = first.file_name().unwrap().to_str().unwrap().to_owned();
    let seen = if name.contains(":2,") {
        format!("{name}S")
    } else {
        format!("{name}:2,S")
    };
    std::fs::rename(&first, inbox.join("cur").join(seen)).unwrap();
    let (ok, out) = run(mbsync()).await;
    assert!(ok, "second mbsync failed:\n{out}");

    let account = f.store.resolve(&USER.parse().unwrap()).await.unwrap();
    let account = match account {
        mailcore_store::directory::Resolved::Account(a) => a,
        other => panic!("{other:?}"),
    };
    let inbox_info = f.store.mailbox(account.id, INBOX).await.unwrap().unwrap();
    let metas = f.store.messages(inbox_info.id, 1..=u32::MAX).await.unwrap();
    assert_eq!(metas.len(), 4, "{metas:?}\n{out}");
    assert_eq!(
        metas.iter().filter(|m| m.flags.seen).count(),
        1,
        "{metas:?}"
    );

    // A third run changes nothing and makes no duplicates on either side.
    let (ok, out) = run(mbsync()).await;
    assert!(ok, "third mbsync failed:\n{out}");
    assert_eq!(maildir_files(&inbox).len(), 4);
    let metas = f.store.messages(inbox_info.id, 1..=u32::MAX).await.unwrap();
    assert_eq!(metas.len(), 4);
}

/// A raw IMAP connection: sends tagged commands and collects every response up to the tagged
/// one, literals included.
struct Raw {
    reader: tokio::io::BufReader<tokio::net::tcp::OwnedReadHalf>,
    writer: tokio::net::tcp::OwnedWriteHalf,
    n: u32,
}

impl Raw {
    async fn connect(port: u16) -> Raw {
        use tokio::io::AsyncBufReadExt;
        let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        let (r, w) = stream.into_split();
        let mut raw = Raw {
            reader: tokio::io::BufReader::new(r),
            writer: w,
            n: 0,
        };
        let mut greeting = String::new();
        raw.reader.read_line(&mut greeting).await.unwrap();
        assert!(greeting.starts_with("* OK"), "{greeting}");
        raw
    }

    /// Reads responses until the line tagged `tag`; returns them all as (lossy) text.
    async fn read_until(&mut self, tag: &str) -> String {
        use tokio::io::{AsyncBufReadExt, AsyncReadExt};
        let mut out = Vec::new();
        loop {
            let mut line = Vec::new();
            let n = tokio::time::timeout(
                Duration::from_secs(10),
                self.reader.read_until(b'\n', &mut line),
            )
            .await
            .expect("server timed out")
            .unwrap();
            assert!(
                n > 0,
                "connection closed:\n{}",
                String::from_utf8_lossy(&out)
            );
            out.extend_from_slice(&line);
            // A literal announcement ends the line: read its bytes, then the rest of the line.
            let trimmed = line.strip_suffix(b"\r\n").unwrap_or(&line);
            if let Some(open) = trimmed.iter().rposition(|&b| b == b'{')
                && trimmed.ends_with(b"}")
                && let Ok(len) = std::str::from_utf8(&trimmed[open + 1..trimmed.len() - 1])
                    .unwrap_or("x")
                    .parse::<usize>()
            {
                let mut data = vec![0; len];
                self.reader.read_exact(&mut data).await.unwrap();
                out.extend_from_slice(&data);
                continue;
            }
            if line.starts_with(format!("{tag} ").as_bytes()) {
                return String::from_utf8_lossy(&out).into_owned();
            }
        }
    }

    /// Sends `bytes` (a command without its tag) and returns every response.
    async fn send(&mut self, bytes: &[u8]) -> String {
        use tokio::io::AsyncWriteExt;
        self.n += 1;
        let tag = format!("t{}", self.n);
        let mut line = format!("{tag} ").into_bytes();
        line.extend_from_slice(bytes);
        line.extend_from_slice(b"\r\n");
        self.writer.write_all(&line).await.unwrap();
        self.read_until(&tag).await
    }

    async fn cmd(&mut self, c: &str) -> String {
        self.send(c.as_bytes()).await
    }

    /// Like [`Raw::cmd`], asserting the tagged response is `OK`.
    async fn ok(&mut self, c: &str) -> String {
        let out = self.cmd(c).await;
        assert!(
            out.contains(&format!("t{} OK", self.n)),
            "{c} failed:\n{out}"
        );
        out
    }
}

fn highest_modseq(select: &str) -> u64 {
    let start = select.find("[HIGHESTMODSEQ ").expect(select) + "[HIGHESTMODSEQ ".len();
    let end = start + select[start..].find(']').unwrap();
    select[start..end].parse().unwrap()
}

/// SEARCHRES (RFC 5182), UTF8=ACCEPT (RFC 6855) and `ENABLE IMAP4rev2` (RFC 9051) over a
/// real socket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imap4rev2_over_raw_socket() {
    let f = fixture("rev2").await;
    let login = format!("LOGIN {USER} \"{PASSWORD}\"");
    let mut c = Raw::connect(f.plain_port).await;
    let caps = c.ok(&login).await;
    for cap in [
        "IMAP4rev1",
        "IMAP4rev2",
        "SEARCHRES",
        "UTF8=ACCEPT",
        "ESEARCH",
    ] {
        assert!(caps.contains(&format!(" {cap}")), "{cap} missing: {caps}");
    }

    // RFC 5182 SEARCHRES, in IMAP4rev1 mode (SEARCH still answers `* SEARCH`).
    let out = c.ok("SELECT INBOX").await;
    assert!(out.contains("* 0 RECENT\r\n"), "{out}");
    let out = c.ok("SEARCH RETURN (SAVE) FROM alice").await;
    assert!(
        !out.contains("ESEARCH") && !out.contains("* SEARCH"),
        "SAVE alone returns nothing: {out}"
    );
    let out = c.ok("FETCH $ (UID)").await;
    assert!(
        out.contains("* 1 FETCH (UID 1)\r\n") && !out.contains("* 2 FETCH"),
        "{out}"
    );
    // With MIN and MAX only those are saved.
    let out = c.ok("SEARCH RETURN (SAVE MIN MAX) ALL").await;
    assert!(
        out.contains(&format!("* ESEARCH (TAG \"t{}\") MIN 1 MAX 3\r\n", c.n)),
        "{out}"
    );
    let out = c.ok("UID SEARCH UID $").await;
    assert!(out.contains("* SEARCH 1 3\r\n"), "{out}");
    let out = c.ok("SEARCH NOT $").await;
    assert!(out.contains("* SEARCH 2\r\n"), "{out}");
    let out = c.ok("STORE $ +FLAGS (\\Flagged)").await;
    assert!(
        out.contains("* 1 FETCH (FLAGS (\\Flagged))")
            && out.contains("* 3 FETCH (FLAGS (\\Flagged))")
            && !out.contains("* 2 FETCH"),
        "{out}"
    );
    let out = c.ok("UID STORE $ -FLAGS.SILENT (\\Flagged)").await;
    assert!(!out.contains("FETCH"), "{out}");
    let out = c.ok("UID FETCH $ (FLAGS)").await;
    assert!(
        out.contains("* 1 FETCH (UID 1 FLAGS ())") && out.contains("* 3 FETCH (UID 3 FLAGS ())"),
        "{out}"
    );
    let out = c.ok("COPY $ Archive").await;
    assert!(out.contains("OK [COPYUID "), "{out}");
    // The search result can be saved from a search that uses it.
    c.ok("SEARCH RETURN (SAVE) $ FROM carol").await;
    let out = c.ok("FETCH $ (UID)").await;
    assert!(
        out.contains("* 3 FETCH (UID 3)") && !out.contains("* 1 FETCH"),
        "{out}"
    );
    // A failed SEARCH ... SAVE empties `$`.
    let out = c.cmd("SEARCH RETURN (SAVE) CHARSET KOI8-R ALL").await;
    assert!(out.contains(&format!("t{} NO [BADCHARSET", c.n)), "{out}");
    let out = c.ok("FETCH $ (UID)").await;
    assert!(!out.contains("FETCH ("), "{out}");
    // So does one answered BAD.
    c.ok("SEARCH RETURN (SAVE) ALL").await;
    let out = c.cmd("UID SEARCH RETURN (SAVE COUNT) FROBNICATE").await;
    assert!(out.contains(&format!("t{} BAD", c.n)), "{out}");
    let out = c.ok("FETCH $ (UID)").await;
    assert!(!out.contains("FETCH ("), "{out}");
    // UNSELECT (like SELECT, EXAMINE and CLOSE) forgets it.
    c.ok("SEARCH RETURN (SAVE) ALL").await;
    c.ok("UNSELECT").await;
    c.ok("EXAMINE INBOX").await;
    let out = c.ok("FETCH $ (UID)").await;
    assert!(!out.contains("FETCH ("), "{out}");
    c.ok("SELECT Archive").await;
    c.ok("SEARCH RETURN (SAVE) ALL").await;
    let out = c.ok("MOVE $ Trash").await;
    assert!(
        out.contains("* OK [COPYUID ") && out.contains("* 1 EXPUNGE\r\n* 1 EXPUNGE\r\n"),
        "{out}"
    );
    let out = c.ok("FETCH $ (UID)").await;
    assert!(
        !out.contains("FETCH ("),
        "expunged messages leave `$`: {out}"
    );
    c.ok("UNSELECT").await;

    // Before UTF8=ACCEPT names are modified UTF-7 both ways.
    c.ok("CREATE \"&ZeVnLIqe-\"").await;
    let out = c.ok("LIST \"\" \"&ZeVnLIqe-\"").await;
    assert!(out.contains("\"/\" \"&ZeVnLIqe-\"\r\n"), "{out}");
    let out = c.ok("ENABLE UTF8=ACCEPT").await;
    assert!(out.contains("* ENABLED UTF8=ACCEPT\r\n"), "{out}");
    let out = c.ok("LIST \"\" \"*\"").await;
    assert!(
        out.contains("\"/\" \"日本語\"\r\n") && !out.contains("&ZeVnLIqe-"),
        "{out}"
    );
    // `&` is now just a character.
    c.ok("CREATE \"Tom & Jerry\"").await;
    let out = c.ok("STATUS \"Tom & Jerry\" (MESSAGES)").await;
    assert!(
        out.contains("* STATUS \"Tom & Jerry\" (MESSAGES 0)\r\n"),
        "{out}"
    );
    let out = c.ok("STATUS \"日本語\" (MESSAGES)").await;
    assert!(
        out.contains("* STATUS \"日本語\" (MESSAGES 0)\r\n"),
        "{out}"
    );
    // RFC 6855 §4: APPEND's UTF8 data item.
    let msg = "From: jörg@example.com\r\nSubject: grüße\r\n\r\nhallo\r\n";
    let out = c
        .send(format!("APPEND \"日本語\" UTF8 (~{{{}+}}\r\n{msg})", msg.len()).as_bytes())
        .await;
    assert!(out.contains(&format!("t{} OK [APPENDUID ", c.n)), "{out}");
    let out = c.ok("SELECT \"日本語\"").await;
    assert!(out.contains("* 1 EXISTS"), "{out}");
    let out = c.ok("FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])").await;
    assert!(out.contains("Subject: grüße"), "{out}");

    // ENABLE IMAP4rev2: ESEARCH for SEARCH, no RECENT, a LIST in SELECT, UTF-8 names.
    let mut c = Raw::connect(f.plain_port).await;
    c.ok(&login).await;
    let out = c.ok("ENABLE IMAP4rev2").await;
    assert!(out.contains("* ENABLED IMAP4rev2\r\n"), "{out}");
    let out = c.ok("SELECT INBOX").await;
    assert!(!out.contains("RECENT") && !out.contains("[UNSEEN"), "{out}");
    assert!(
        out.contains("* LIST (\\HasNoChildren) \"/\" \"INBOX\"\r\n")
            && out.contains("* 3 EXISTS\r\n")
            && out.contains("[UIDVALIDITY ")
            && out.contains("[UIDNEXT "),
        "{out}"
    );
    let out = c.ok("SEARCH FROM alice").await;
    assert!(
        out.contains(&format!("* ESEARCH (TAG \"t{}\") ALL 1\r\n", c.n))
            && !out.contains("* SEARCH"),
        "{out}"
    );
    let out = c.ok("UID SEARCH FROM nobody").await;
    assert!(
        out.contains(&format!("* ESEARCH (TAG \"t{}\") UID\r\n", c.n)),
        "{out}"
    );
    let out = c.ok("SEARCH RETURN (SAVE) FROM bob").await;
    assert!(!out.contains("ESEARCH"), "{out}");
    let out = c.ok("FETCH $ (UID)").await;
    assert!(out.contains("* 2 FETCH (UID 2)\r\n"), "{out}");
    let out = c.ok("LIST \"\" \"日*\"").await;
    assert!(out.contains("\"/\" \"日本語\"\r\n"), "{out}");
    let out = c.ok("SELECT \"Tom & Jerry\"").await;
    assert!(
        out.contains("* LIST (\\HasNoChildren) \"/\" \"Tom & Jerry\"\r\n"),
        "{out}"
    );
    let out = c.ok("SELECT Sent").await;
    assert!(
        out.contains("* OK [CLOSED]")
            && out.contains("* LIST (\\HasNoChildren \\Sent) \"/\" \"Sent\"\r\n"),
        "{out}"
    );
}

/// The extensions beyond RFC 3501's base, exchange by exchange over a real socket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extensions_over_raw_socket() {
    let f = fixture("raw").await;
    let mut c = Raw::connect(f.plain_port).await;
    let login = c.ok(&format!("LOGIN {USER} \"{PASSWORD}\"")).await;
    for cap in [
        "UNSELECT",
        "STATUS=SIZE",
        "ESEARCH",
        "LIST-EXTENDED",
        "LIST-STATUS",
        "CONDSTORE",
        "QUOTA",
        "QUOTA=RES-STORAGE",
        "BINARY",
        "QRESYNC",
        "LITERAL+",
    ] {
        assert!(login.contains(&format!(" {cap}")), "{cap} missing: {login}");
    }
    assert!(
        login.contains(" IMAP4rev1 IMAP4rev2 ") && !login.contains("LITERAL-"),
        "{login}"
    );

    // RFC 3691 UNSELECT: leaves the selected state without expunging.
    c.ok("SELECT INBOX").await;
    c.ok("STORE 1 +FLAGS.SILENT (\\Deleted)").await;
    c.ok("UNSELECT").await;
    let out = c.cmd("FETCH 1 FLAGS").await;
    assert!(out.contains("BAD"), "{out}");
    let out = c.cmd("UNSELECT").await;
    assert!(out.contains("BAD"), "{out}");
    let out = c.ok("SELECT INBOX").await;
    assert!(out.contains("* 3 EXISTS"), "UNSELECT expunged: {out}");

    // RFC 8438 STATUS=SIZE, with RFC 9051 DELETED and RFC 9208 DELETED-STORAGE.
    let size = (PLAIN.len() + MIXED.len() + GBK.len()) as u64;
    let out = c
        .ok("STATUS INBOX (MESSAGES SIZE DELETED DELETED-STORAGE)")
        .await;
    let expected = format!(
        "* STATUS \"INBOX\" (MESSAGES 3 SIZE {size} DELETED 1 DELETED-STORAGE {})\r\n",
        (PLAIN.len() as u64).div_ceil(1024)
    );
    assert!(out.contains(&expected), "{out}");
    c.ok("STORE 1 -FLAGS.SILENT (\\Deleted)").await;

    // RFC 4731 ESEARCH.
    let out = c.ok("SEARCH RETURN (MIN MAX COUNT ALL) ALL").await;
    let tag = format!("t{}", c.n);
    assert!(
        out.contains(&format!(
            "* ESEARCH (TAG \"{tag}\") MIN 1 MAX 3 COUNT 3 ALL 1:3\r\n"
        )),
        "{out}"
    );
    let out = c.ok("UID SEARCH RETURN (COUNT ALL) FROM alice").await;
    assert!(
        out.contains(&format!(
            "* ESEARCH (TAG \"t{}\") UID COUNT 1 ALL 1\r\n",
            c.n
        )),
        "{out}"
    );
    let out = c.ok("SEARCH RETURN () 2:3").await;
    assert!(
        out.contains(&format!("* ESEARCH (TAG \"t{}\") ALL 2:3\r\n", c.n)),
        "{out}"
    );
    let out = c.ok("SEARCH RETURN (MIN MAX COUNT) FROM nobody").await;
    assert!(
        out.contains(&format!("* ESEARCH (TAG \"t{}\") COUNT 0\r\n", c.n)),
        "{out}"
    );
    let out = c.ok("SEARCH FROM alice").await;
    assert!(
        out.contains("* SEARCH 1\r\n"),
        "plain SEARCH unchanged: {out}"
    );

    // RFC 5258 LIST-EXTENDED and RFC 5819 LIST-STATUS.
    c.ok("CREATE Work/Sub").await;
    c.ok("SUBSCRIBE Work/Sub").await;
    c.ok("SUBSCRIBE INBOX").await;
    let out = c.ok("LIST (SUBSCRIBED) \"\" \"*\"").await;
    assert!(
        out.contains("* LIST (\\HasNoChildren \\Subscribed) \"/\" \"Work/Sub\"\r\n"),
        "{out}"
    );
    assert!(
        !out.contains("\"Work\"\r\n") && !out.contains("Sent"),
        "{out}"
    );
    let out = c
        .ok("LIST (SUBSCRIBED RECURSIVEMATCH) \"\" \"%\" RETURN (CHILDREN)")
        .await;
    assert!(
        out.contains("* LIST (\\HasChildren) \"/\" \"Work\" (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n"),
        "{out}"
    );
    assert!(out.contains("\"INBOX\"\r\n"), "{out}");
    let out = c.cmd("LIST (RECURSIVEMATCH) \"\" \"%\"").await;
    assert!(out.contains(&format!("t{} BAD", c.n)), "{out}");
    let out = c
        .ok("LIST \"\" (\"INBOX\" \"Sent\") RETURN (SUBSCRIBED SPECIAL-USE STATUS (MESSAGES SIZE))")
        .await;
    assert!(
        out.contains("* LIST (\\HasNoChildren \\Subscribed) \"/\" \"INBOX\"\r\n"),
        "{out}"
    );
    assert!(
        out.contains(&format!("* STATUS \"INBOX\" (MESSAGES 3 SIZE {size})\r\n")),
        "{out}"
    );
    assert!(
        out.contains("* LIST (\\HasNoChildren \\Sent) \"/\" \"Sent\"\r\n")
            && out.contains("* STATUS \"Sent\" (MESSAGES 0 SIZE 0)\r\n"),
        "{out}"
    );
    let out = c.ok("LIST (SPECIAL-USE) \"\" \"*\"").await;
    assert!(!out.contains("INBOX") && out.contains("\\Trash"), "{out}");
    // No STATUS for a hierarchy level that does not exist.
    c.ok("DELETE Work").await;
    let out = c.ok("LIST \"\" \"Work\" RETURN (STATUS (MESSAGES))").await;
    assert!(
        out.contains("\\NonExistent") && !out.contains("* STATUS"),
        "{out}"
    );
    c.ok("UNSELECT").await;

    // RFC 7162 CONDSTORE.
    let out = c.ok("ENABLE CONDSTORE").await;
    assert!(out.contains("* ENABLED CONDSTORE\r\n"), "{out}");
    let out = c.ok("ENABLE CONDSTORE X-UNKNOWN").await;
    assert!(out.contains("* ENABLED\r\n"), "already enabled: {out}");
    let out = c.ok("SELECT INBOX (CONDSTORE)").await;
    let hms = highest_modseq(&out);
    let out = c
        .ok(&format!("FETCH 1:* (FLAGS) (CHANGEDSINCE {hms})"))
        .await;
    assert!(!out.contains("FETCH ("), "{out}");
    let out = c.ok("STORE 1 +FLAGS (\\Flagged)").await;
    assert!(
        out.contains(&format!(
            "* 1 FETCH (MODSEQ ({}) FLAGS (\\Flagged))",
            hms + 1
        )),
        "{out}"
    );
    let out = c
        .ok(&format!("UID FETCH 1:* (FLAGS) (CHANGEDSINCE {hms})"))
        .await;
    assert!(
        out.contains(&format!(
            "* 1 FETCH (UID 1 FLAGS (\\Flagged) MODSEQ ({}))",
            hms + 1
        )) && !out.contains("* 2 FETCH"),
        "{out}"
    );
    let out = c.ok("FETCH 2 (MODSEQ)").await;
    assert!(out.contains("* 2 FETCH (MODSEQ ("), "{out}");
    // Message 1 changed after `hms`: the conditional STORE leaves it alone.
    let out = c
        .ok(&format!(
            "STORE 1:2 (UNCHANGEDSINCE {hms}) +FLAGS (\\Answered)"
        ))
        .await;
    assert!(out.contains(&format!("t{} OK [MODIFIED 1]", c.n)), "{out}");
    assert!(
        out.contains(&format!(
            "* 2 FETCH (MODSEQ ({}) FLAGS (\\Answered))",
            hms + 2
        )),
        "{out}"
    );
    let out = c
        .ok(&format!(
            "UID STORE 1 (UNCHANGEDSINCE {}) +FLAGS.SILENT (\\Seen)",
            hms + 1
        ))
        .await;
    assert!(
        out.contains(&format!("* 1 FETCH (UID 1 MODSEQ ({}))\r\n", hms + 3))
            && !out.contains("MODIFIED"),
        "{out}"
    );
    let out = c.ok(&format!("SEARCH MODSEQ {}", hms + 2)).await;
    assert!(
        out.contains(&format!("* SEARCH 1 2 (MODSEQ {})\r\n", hms + 3)),
        "{out}"
    );
    let out = c
        .ok(&format!("UID SEARCH RETURN (COUNT) MODSEQ {}", hms + 3))
        .await;
    assert!(
        out.contains(&format!("UID COUNT 1 MODSEQ {}\r\n", hms + 3)),
        "{out}"
    );
    // Fetching a body sets \Seen: the implicit flag change carries MODSEQ.
    let out = c.ok("FETCH 3 (BODY[TEXT])").await;
    assert!(out.contains("FLAGS (\\Seen) MODSEQ ("), "{out}");
    // Another session's change arrives as an unsolicited FETCH with MODSEQ.
    let mut other = Raw::connect(f.plain_port).await;
    other.ok(&format!("LOGIN {USER} \"{PASSWORD}\"")).await;
    other.ok("SELECT INBOX").await;
    other.ok("STORE 2 +FLAGS.SILENT ($Work)").await;
    let out = c.ok("NOOP").await;
    assert!(
        out.contains("* 2 FETCH (MODSEQ (") && out.contains("$Work"),
        "{out}"
    );
    let out = c.cmd("ENABLE CONDSTORE").await;
    assert!(
        out.contains(&format!("t{} BAD", c.n)),
        "ENABLE after SELECT: {out}"
    );

    // RFC 9208 QUOTA.
    let out = c.ok("GETQUOTAROOT INBOX").await;
    assert!(out.contains("* QUOTAROOT \"INBOX\"\r\n"), "no limit: {out}");
    let out = c.cmd("GETQUOTA \"\"").await;
    assert!(out.contains(&format!("t{} NO", c.n)), "{out}");
    let account = match f.store.resolve(&USER.parse().unwrap()).await.unwrap() {
        mailcore_store::directory::Resolved::Account(a) => a,
        other => panic!("{other:?}"),
    };
    let mut limited = account.clone();
    let used = f.store.quota_usage(account.id).await.unwrap().bytes;
    limited.quota_bytes = Some(used + 100 * 1024);
    f.store.update_account(&limited).await.unwrap();
    let quota = format!(
        "* QUOTA \"\" (STORAGE {} {})\r\n",
        used.div_ceil(1024),
        (used + 100 * 1024) / 1024
    );
    let out = c.ok("GETQUOTAROOT INBOX").await;
    assert!(
        out.contains("* QUOTAROOT \"INBOX\" \"\"\r\n") && out.contains(&quota),
        "{out}"
    );
    let out = c.ok("GETQUOTA \"\"").await;
    assert!(out.contains(&quota), "{out}");
    let out = c.cmd("SETQUOTA \"\" (STORAGE 1)").await;
    assert!(out.contains(&format!("t{} NO", c.n)), "{out}");
    let big = vec![b'x'; 200 * 1024];
    let mut append = format!("APPEND INBOX {{{}+}}\r\n", big.len()).into_bytes();
    append.extend_from_slice(&big);
    let out = c.send(&append).await;
    assert!(out.contains(&format!("t{} NO [OVERQUOTA]", c.n)), "{out}");
    limited.quota_bytes = Some(used);
    f.store.update_account(&limited).await.unwrap();
    let out = c.cmd("COPY 1 Archive").await;
    assert!(out.contains(&format!("t{} NO [OVERQUOTA]", c.n)), "{out}");
    f.store.update_account(&account).await.unwrap();

    // RFC 3516 BINARY: the base64 PDF part decoded, sizes, partials, literal8 both ways.
    let out = c
        .ok("FETCH 2 (BINARY.PEEK[2] BINARY.SIZE[2] BINARY.PEEK[1]<0.5> BINARY.SIZE[])")
        .await;
    assert!(
        out.contains(&format!(
            "BINARY[2] {{4}}\r\n%PDF BINARY.SIZE[2] 4 BINARY[1]<0> {{5}}\r\nhello BINARY.SIZE[] {}",
            MIXED.len()
        )),
        "{out}"
    );
    let binary_msg: &[u8] = b"From: x@example.com\r\nSubject: bin\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\na\0b\r\n";
    let mut append = format!("APPEND INBOX ~{{{}+}}\r\n", binary_msg.len()).into_bytes();
    append.extend_from_slice(binary_msg);
    let out = c.send(&append).await;
    assert!(out.contains(&format!("t{} OK [APPENDUID", c.n)), "{out}");
    let mut nul_in_plain = format!("APPEND INBOX {{{}+}}\r\n", binary_msg.len()).into_bytes();
    nul_in_plain.extend_from_slice(binary_msg);
    let out = c.send(&nul_in_plain).await;
    assert!(
        out.contains(&format!("t{} BAD", c.n)),
        "NUL needs literal8: {out}"
    );
    let out = c.ok("UID FETCH 4 (BINARY[1] BINARY.SIZE[1] FLAGS)").await;
    assert!(
        out.contains("BINARY[1] ~{5}\r\na\0b\r\n BINARY.SIZE[1] 5") && out.contains("\\Seen"),
        "{out}"
    );
    let uue: &[u8] =
        b"Subject: uue\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 x\r\n";
    let mut append = format!("APPEND INBOX {{{}+}}\r\n", uue.len()).into_bytes();
    append.extend_from_slice(uue);
    c.send(&append).await;
    let out = c.cmd("UID FETCH 5 (BINARY.PEEK[1])").await;
    assert!(out.contains(&format!("t{} NO [UNKNOWN-CTE]", c.n)), "{out}");
    let out = c.ok("UID FETCH 5 (BODY.PEEK[1])").await;
    assert!(out.contains("begin 644 x"), "{out}");

    // RFC 7162 §3.2 QRESYNC: UIDs 1 to 5 exist now.
    let mut q = Raw::connect(f.plain_port).await;
    q.ok(&format!("LOGIN {USER} \"{PASSWORD}\"")).await;
    let out = q.cmd("SELECT INBOX (QRESYNC (1 1))").await;
    assert!(
        out.contains(&format!("t{} BAD", q.n)),
        "not enabled yet: {out}"
    );
    let out = q.ok("ENABLE QRESYNC").await;
    assert!(out.contains("* ENABLED QRESYNC\r\n"), "{out}");
    let out = q.ok("SELECT INBOX").await;
    let hms = highest_modseq(&out);
    let start = out.find("[UIDVALIDITY ").unwrap() + "[UIDVALIDITY ".len();
    let uidvalidity: u32 = out[start..start + out[start..].find(']').unwrap()]
        .parse()
        .unwrap();
    q.ok("UNSELECT").await;
    // Meanwhile another client changes a flag and expunges a message.
    other.ok("UID STORE 2 +FLAGS (\\Draft)").await;
    other.ok("UID STORE 4 +FLAGS (\\Deleted)").await;
    let out = other.ok("UID EXPUNGE 4").await;
    assert!(out.contains("* 4 EXPUNGE\r\n"), "no QRESYNC there: {out}");
    let out = q
        .ok(&format!("SELECT INBOX (QRESYNC ({uidvalidity} {hms}))"))
        .await;
    assert!(out.contains("* VANISHED (EARLIER) 4\r\n"), "{out}");
    assert!(
        out.contains("* 2 FETCH (UID 2 FLAGS (")
            && out.contains("\\Draft")
            && out.matches(" FETCH (").count() == 1,
        "{out}"
    );
    assert!(
        out.find("VANISHED").unwrap() < out.find("FETCH").unwrap()
            && out.find("FETCH").unwrap() < out.find(&format!("t{} OK", q.n)).unwrap(),
        "{out}"
    );
    // Known UIDs limit the report; a stale UIDVALIDITY gets a plain SELECT.
    let out = q
        .ok(&format!(
            "SELECT INBOX (QRESYNC ({uidvalidity} {hms} 1,3,5))"
        ))
        .await;
    assert!(
        out.contains("* OK [CLOSED]") && !out.contains("VANISHED") && !out.contains("FETCH"),
        "{out}"
    );
    let out = q
        .ok(&format!(
            "EXAMINE INBOX (QRESYNC ({} {hms}))",
            uidvalidity + 1
        ))
        .await;
    assert!(!out.contains("VANISHED") && !out.contains("FETCH"), "{out}");
    let out = q.ok("SELECT INBOX").await;
    assert!(out.contains("* 4 EXISTS"), "{out}");
    let out = q
        .ok(&format!(
            "UID FETCH 1:* (FLAGS) (CHANGEDSINCE {hms} VANISHED)"
        ))
        .await;
    assert!(
        out.contains("* VANISHED (EARLIER) 4\r\n")
            && out.contains("* 2 FETCH (UID 2 FLAGS (")
            && out.matches(" FETCH (").count() == 1,
        "{out}"
    );
    let out = q
        .ok(&format!(
            "UID FETCH 5 (FLAGS) (CHANGEDSINCE {hms} VANISHED)"
        ))
        .await;
    assert!(!out.contains("VANISHED"), "4 is outside the set: {out}");
    // Unsolicited and own expunges arrive as VANISHED, never EXPUNGE.
    other.ok("UID STORE 5 +FLAGS (\\Deleted)").await;
    other.ok("UID EXPUNGE 5").await;
    let out = q.ok("NOOP").await;
    assert!(
        out.contains("* VANISHED 5\r\n") && !out.contains("EXPUNGE\r\n"),
        "{out}"
    );
    q.ok("UID STORE 1,3 +FLAGS.SILENT (\\Deleted)").await;
    let out = q.ok("EXPUNGE").await;
    assert!(
        out.contains("* VANISHED 1,3\r\n")
            && !out.contains(" EXPUNGE\r\n")
            && out.contains(&format!("t{} OK [HIGHESTMODSEQ ", q.n)),
        "{out}"
    );
    let out = q.ok("FETCH 1 (UID)").await;
    assert!(out.contains("* 1 FETCH (UID 2)"), "{out}");

    q.ok("LOGOUT").await;
    c.ok("LOGOUT").await;
}

/// RFC 3502 MULTIAPPEND: several messages in one APPEND, appended all or none, consecutive UIDs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multiappend_over_raw_socket() {
    let f = fixture("multiappend").await;
    let mut c = Raw::connect(f.plain_port).await;
    let login = c.ok(&format!("LOGIN {USER} \"{PASSWORD}\"")).await;
    assert!(login.contains(" MULTIAPPEND"), "{login}");
    let out = c.ok("SELECT INBOX").await;
    assert!(out.contains("* 3 EXISTS"), "{out}");
    let (a, b) = ("Subject: one\r\n\r\n1\r\n", "Subject: two\r\n\r\n2\r\n");
    let cmd = format!(
        "APPEND INBOX (\\Seen) {{{}+}}\r\n{a} (\\Flagged) \"01-Jan-2024 10:00:00 +0000\" {{{}+}}\r\n{b}",
        a.len(),
        b.len()
    );
    let out = c.send(cmd.as_bytes()).await;
    assert!(out.contains(&format!("t{} OK [APPENDUID ", c.n)), "{out}");
    assert!(
        out.contains(" 4:5]"),
        "consecutive UIDs 4:5 expected: {out}"
    );
    let out = c
        .ok("UID FETCH 4:5 (FLAGS INTERNALDATE BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        .await;
    assert!(out.contains("\\Seen") && out.contains("\\Flagged"), "{out}");
    assert!(out.contains("01-Jan-2024 10:00:00 +0000"), "{out}");
    assert!(
        out.contains("Subject: one") && out.contains("Subject: two"),
        "{out}"
    );
    // All or none: the second message is empty, so the first is not stored either.
    let cmd = format!("APPEND INBOX {{{}+}}\r\n{a} {{0+}}\r\n", a.len());
    let out = c.send(cmd.as_bytes()).await;
    assert!(out.contains(&format!("t{} NO", c.n)), "{out}");
    let out = c.ok("STATUS INBOX (MESSAGES)").await;
    assert!(out.contains("MESSAGES 5"), "{out}");
}
