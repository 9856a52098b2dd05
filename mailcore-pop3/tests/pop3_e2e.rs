//! End to end through real sockets: `serve` over an embedded store, driven by Python's poplib
//! (`tests/pop3/client.py`) over implicit TLS and STLS.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use mailcore::hook::{Action, Event as HookEvent, Hook, HookChain, Stage, StageSet};
use mailcore::reply::Reply;
use mailcore_pop3::server::{ListenerConfig, serve};
use mailcore_pop3::session::SessionConfig;
use mailcore_store::Backend;
use mailcore_store::log::{LogKind, LogQuery};
use mailcore_store::mailbox::{INBOX, MailboxId, NewMessage};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

const USER: &str = "tom@example.com";
const PASSWORD: &str = "correct horse";
const BLOCKED: &str = "blocked@example.com";

/// The first message: a dot-started line and a line that is only a dot are stuffed on the wire.
const MESSAGE_1: &[u8] =
    b"From: alice@example.org\r\nTo: tom@example.com\r\nSubject: first\r\n\r\n\
Hello Tom,\r\n.\r\n.. two dots\r\n.leading dot\r\n\r\nbye\r\n";
const MESSAGE_2: &[u8] =
    b"From: bob@example.org\r\nSubject: second\r\n\r\nline one\r\nline two\r\nline three\r\n";

/// A directory removed when the test ends.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "mailcore-pop3-{name}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Refuses every login of one user.
struct BlockUser;

#[async_trait]
impl Hook for BlockUser {
    fn name(&self) -> &str {
        "block-user"
    }
    fn stages(&self) -> StageSet {
        StageSet::of(&[Stage::Login])
    }
    async fn on_event(&self, event: &HookEvent<'_>) -> Action {
        match event {
            HookEvent::Login { attempt } if attempt.user == BLOCKED => {
                Action::Reject(Reply::new(535, Some("5.7.8"), "Account blocked by policy").unwrap())
            }
            _ => Action::Continue,
        }
    }
}

struct Fixture {
    dir: TempDir,
    store: Arc<dyn Backend>,
    inbox: MailboxId,
    uid_validity: u32,
    plain: SocketAddr,
    tls: SocketAddr,
}

fn acceptor(dir: &Path) -> TlsAcceptor {
    let generated =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    std::fs::write(dir.join("cert.pem"), generated.cert.pem()).unwrap();
    let certs = vec![CertificateDer::from_pem_slice(generated.cert.pem().as_bytes()).unwrap()];
    let key =
        PrivateKeyDer::from_pem_slice(generated.signing_key.serialize_pem().as_bytes()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    TlsAcceptor::from(Arc::new(config))
}

async fn start(name: &str) -> Fixture {
    start_with(name, |_| {}).await
}

async fn start_with(name: &str, adjust: impl Fn(&mut ListenerConfig)) -> Fixture {
    let dir = TempDir::new(name);
    let store: Arc<dyn Backend> = Arc::new(
        mailcore_store::embedded::Embedded::open(&dir.path().join("store"))
            .await
            .unwrap(),
    );
    let domain = "example.com".parse().unwrap();
    mailcore_store::provision::add_domain(store.as_ref(), "default", &domain)
        .await
        .unwrap();
    let tom = mailcore_store::provision::add_account(
        store.as_ref(),
        &USER.parse().unwrap(),
        PASSWORD,
        None,
        None,
    )
    .await
    .unwrap();
    mailcore_store::provision::add_account(
        store.as_ref(),
        &BLOCKED.parse().unwrap(),
        PASSWORD,
        None,
        None,
    )
    .await
    .unwrap();
    let inbox = store.mailbox(tom.id, INBOX).await.unwrap().unwrap();
    for raw in [MESSAGE_1, MESSAGE_2] {
        store
            .append(
                inbox.id,
                NewMessage {
                    raw: Bytes::from_static(raw),
                    flags: Default::default(),
                    internal_date: 1_700_000_000,
                },
            )
            .await
            .unwrap();
    }
    let tls = acceptor(dir.path());
    let mut hooks = HookChain::new();
    hooks.push(BlockUser);
    let mut session = SessionConfig::new("pop.example.com");
    session.limits.auth_failure_delay = Duration::from_millis(10);
    let mut addrs = Vec::new();
    for implicit in [false, true] {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        addrs.push(listener.local_addr().unwrap());
        let mut config = ListenerConfig::new(session.clone(), Some(tls.clone()), implicit);
        adjust(&mut config);
        tokio::spawn(serve(listener, config, store.clone(), hooks.clone()));
    }
    Fixture {
        inbox: inbox.id,
        uid_validity: inbox.uid_validity,
        plain: addrs[0],
        tls: addrs[1],
        store,
        dir,
    }
}

impl Fixture {
    /// Runs one scenario of the Python client; returns its JSON report.
    async fn python(&self, scenario: &str, user: &str, password: &str) -> serde_json::Value {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pop3/client.py");
        let args = [
            script.to_string_lossy().into_owned(),
            scenario.to_owned(),
            "127.0.0.1".to_owned(),
            self.plain.port().to_string(),
            self.tls.port().to_string(),
            self.dir
                .path()
                .join("cert.pem")
                .to_string_lossy()
                .into_owned(),
            user.to_owned(),
            password.to_owned(),
        ];
        let out = tokio::task::spawn_blocking(move || {
            std::process::Command::new("/usr/bin/python3")
                .args(&args)
                .output()
                .expect("run /usr/bin/python3")
        })
        .await
        .unwrap();
        assert!(
            out.status.success(),
            "client.py {scenario} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    async fn uids(&self) -> Vec<u32> {
        self.store
            .messages(self.inbox, 1..=u32::MAX)
            .await
            .unwrap()
            .iter()
            .map(|m| m.uid.0)
            .collect()
    }
}

fn bytes(v: &serde_json::Value) -> Vec<u8> {
    let (decoded, junk) =
        mailcore::message::transfer::decode_base64(v.as_str().unwrap().as_bytes());
    assert!(!junk);
    decoded
}

fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn implicit_tls_session_retrieves_and_deletes_at_quit() {
    let f = start("implicit").await;
    let r = f.python("implicit", USER, PASSWORD).await;
    let (s1, s2) = (MESSAGE_1.len(), MESSAGE_2.len());
    assert_eq!(r["welcome"], "+OK pop.example.com POP3 server ready");
    let capa = strings(&r["capa"]);
    for c in ["USER", "SASL", "TOP", "UIDL", "RESP-CODES"] {
        assert!(capa.contains(&c.to_owned()), "{c} missing from {capa:?}");
    }
    assert!(!capa.contains(&"STLS".to_owned()));
    assert_eq!(
        r["pass"],
        format!("+OK maildrop has 2 messages ({} octets)", s1 + s2)
    );
    assert_eq!(r["stat"], serde_json::json!([2, s1 + s2]));
    assert_eq!(strings(&r["list"]), [format!("1 {s1}"), format!("2 {s2}")]);
    let v = f.uid_validity;
    assert_eq!(
        strings(&r["uidl"]),
        [format!("1 {v}.1"), format!("2 {v}.2")]
    );
    assert_eq!(r["uidl_1"], format!("+OK 1 {v}.1"));
    assert_eq!(r["retr_resp"], format!("+OK {s1} octets"));
    assert_eq!(bytes(&r["retr_1"]), MESSAGE_1, "RETR is byte-identical");
    assert_eq!(
        bytes(&r["top_2_1"]),
        b"From: bob@example.org\r\nSubject: second\r\n\r\nline one\r\n"
    );
    assert_eq!(r["dele"], "+OK message 1 deleted");
    assert_eq!(r["stat_after_dele"], serde_json::json!([1, s2]));
    assert_eq!(
        r["quit"],
        "+OK pop.example.com POP3 server signing off (1 messages left)"
    );
    assert_eq!(f.uids().await, [2], "message 1 removed at QUIT");

    let logs = f
        .store
        .query_logs(&LogQuery::all(LogKind::Login, 10))
        .await
        .unwrap();
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].data["protocol"], "pop3");
    assert_eq!(logs[0].data["result"], "success");
    assert_eq!(logs[0].data["mechanism"], "USER");
    assert_eq!(logs[0].account.as_deref(), Some(USER));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stls_then_auth_plain() {
    let f = start("stls").await;
    let r = f.python("stls", USER, PASSWORD).await;
    let before = strings(&r["capa_before"]);
    assert!(before.contains(&"STLS".to_owned()), "{before:?}");
    assert!(
        !before.contains(&"USER".to_owned()) && !before.contains(&"SASL".to_owned()),
        "{before:?}"
    );
    assert!(
        r["user_before"]
            .as_str()
            .unwrap()
            .starts_with("-ERR [AUTH]"),
        "{}",
        r["user_before"]
    );
    assert_eq!(r["stls"], "+OK Begin TLS negotiation");
    let after = strings(&r["capa_after"]);
    assert!(after.contains(&"USER".to_owned()) && after.contains(&"SASL".to_owned()));
    assert!(!after.contains(&"STLS".to_owned()));
    assert!(
        r["auth"]
            .as_str()
            .unwrap()
            .starts_with("+OK maildrop has 2 messages")
    );
    assert_eq!(r["stat"][0], 2);
    assert_eq!(f.uids().await, [1, 2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_connection_deletes_nothing() {
    let f = start("drop").await;
    let r = f.python("drop", USER, PASSWORD).await;
    assert_eq!(r["stat_first"][0], 2);
    assert_eq!(r["dele"], "+OK message 1 deleted");
    assert_eq!(r["dele2"], "+OK message 2 deleted");
    assert_eq!(r["stat_second"][0], 2, "both messages still there");
    assert_eq!(
        r["quit"],
        "+OK pop.example.com POP3 server signing off (2 messages left)"
    );
    assert_eq!(f.uids().await, [1, 2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_and_hook_refusal() {
    let f = start("refused").await;
    let r = f.python("refused", USER, "wrong").await;
    assert_eq!(r["pass"], "-ERR [AUTH] Invalid credentials");
    let r = f.python("refused", BLOCKED, PASSWORD).await;
    assert_eq!(r["pass"], "-ERR [AUTH] Account blocked by policy");
    let logs = f
        .store
        .query_logs(&LogQuery::all(LogKind::Login, 10))
        .await
        .unwrap();
    let reasons: Vec<_> = logs
        .iter()
        .map(|l| (l.data["result"].clone(), l.data["reason"].clone()))
        .collect();
    assert_eq!(
        reasons,
        [
            ("failure".into(), "wrong password".into()),
            ("failure".into(), "refused by policy".into())
        ]
    );
    assert_eq!(f.uids().await, [1, 2]);
}

/// Reads until the peer closes (or 5 s pass).
async fn read_to_close(stream: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_timeout_and_connection_limit() {
    let f = start_with("limits", |c| {
        let mut session = (*c.session).clone();
        session.limits.login_timeout = Duration::from_millis(300);
        c.session = Arc::new(session);
        c.connections = mailcore::connection::ConnectionLimiter::new(1, 1000);
    })
    .await;
    let mut first = TcpStream::connect(f.plain).await.unwrap();
    let mut greeting = [0u8; 39];
    first.read_exact(&mut greeting).await.unwrap();
    assert_eq!(&greeting, b"+OK pop.example.com POP3 server ready\r\n");
    // A second connection from the same IP is refused while the first is open.
    let mut second = TcpStream::connect(f.plain).await.unwrap();
    assert_eq!(
        read_to_close(&mut second).await,
        "-ERR [SYS/TEMP] Too many connections, try again later\r\n"
    );
    // The first one keeps talking but never logs in: the login timeout closes it.
    first.write_all(b"CAPA\r\n").await.unwrap();
    let rest = read_to_close(&mut first).await;
    assert!(
        rest.starts_with("+OK Capability list follows\r\n"),
        "{rest}"
    );
    assert!(
        rest.ends_with(".\r\n-ERR Timeout, closing connection\r\n"),
        "{rest}"
    );
    // Its slot is free again (released just after the server closed it).
    let mut last = String::new();
    for _ in 0..50 {
        let mut third = TcpStream::connect(f.plain).await.unwrap();
        third.write_all(b"QUIT\r\n").await.unwrap();
        last = read_to_close(&mut third).await;
        if !last.starts_with("-ERR [SYS/TEMP]") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        last,
        "+OK pop.example.com POP3 server ready\r\n+OK pop.example.com POP3 server signing off\r\n"
    );
}
