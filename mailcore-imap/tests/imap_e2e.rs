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
