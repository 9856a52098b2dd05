//! End-to-end tests of the SPF/DKIM/DMARC hook against a real DNS server on loopback:
//! `python3 -m dnslib.zoneresolver` serving `tests/dns/example.test.zone` (Debian package
//! python3-dnslib). Without python3-dnslib the tests are skipped with a message, unless
//! `MAILCORE_REQUIRE_PEERS` is set (as `.ci/run` does): then they fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{DnsServer, dns_peer_available};

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use mail_auth::common::crypto::{RsaKey, Sha256};
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::DkimSigner;
use mailcore::address::ReversePath;
use mailcore::envelope::Envelope;
use mailcore::hook::{
    Action, Decision, Event, Hook, HookChain, Modification, Protocol, SessionInfo, Verdict,
};
use mailcore::message::Message;
use mailcore_policy::authentication::{
    AuthResult, AuthenticationHook, DmarcPolicy, HEADER_NAME, Verdicts,
};
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;

const ZONE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/dns/example.test.zone");
const DKIM_KEY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/dns/test2024.private");

const AUTHSERV_ID: &str = "mx.example.org";

/// What these tests do with the zone's DNS server.
trait DnsHook {
    fn hook(&self) -> AuthenticationHook;
}

impl DnsHook for DnsServer {
    fn hook(&self) -> AuthenticationHook {
        AuthenticationHook::with_nameserver(AUTHSERV_ID, self.addr).unwrap()
    }
}

fn message(subject: &str) -> String {
    format!(
        "From: Alice <alice@example.test>\r\n\
         To: bob@example.org\r\n\
         Subject: {subject}\r\n\
         Date: Mon, 1 Jan 2024 12:00:00 +0000\r\n\
         Message-ID: <{subject}@example.test>\r\n\
         \r\n\
         hello bob\r\n"
    )
}

/// Prepends a DKIM-Signature made with the key published at test2024._domainkey.example.test.
fn sign(message: &str) -> String {
    let pem = std::fs::read(DKIM_KEY).unwrap();
    let key = RsaKey::<Sha256>::from_key_der(PrivateKeyDer::from_pem_slice(&pem).unwrap()).unwrap();
    let signature = DkimSigner::from_key(key)
        .domain("example.test")
        .selector("test2024")
        .headers(["From", "To", "Subject", "Date", "Message-ID"])
        .sign(message.as_bytes())
        .unwrap();
    format!("{}{message}", signature.to_header())
}

fn session(peer: &str) -> SessionInfo {
    let mut session = SessionInfo::new(7, Protocol::Smtp);
    session.peer = Some(SocketAddr::new(peer.parse().unwrap(), 40_000));
    session.helo = Some("mail.example.test".to_owned());
    session
}

fn sender() -> ReversePath {
    ReversePath::parse("<alice@example.test>").unwrap()
}

/// Runs the hook in a chain on `Event::Message`.
async fn run(hook: AuthenticationHook, session: &SessionInfo, raw: &str) -> Decision {
    let mut chain = HookChain::new();
    chain.push(hook);
    let message = Message::parse(raw.as_bytes().to_vec());
    let envelope = Envelope::new(sender(), Default::default());
    chain
        .run(&Event::Message {
            session,
            envelope: &envelope,
            message: &message,
        })
        .await
}

/// The one Authentication-Results value the chain asks to add; the chain must not refuse.
fn header_value(decision: &Decision) -> String {
    assert_eq!(decision.verdict, Verdict::Continue, "{decision:?}");
    let [Modification::AddHeader(header)] = decision.modifications.as_slice() else {
        panic!("expected one AddHeader, got {:?}", decision.modifications);
    };
    assert_eq!(header.name(), HEADER_NAME);
    let value = header.value().to_owned();
    assert!(value.starts_with(&format!("{AUTHSERV_ID}; ")), "{value}");
    assert!(!value.contains(['\r', '\n']), "{value}");
    value
}

async fn verify(hook: &AuthenticationHook, peer: &str, raw: &str) -> Verdicts {
    let peer: IpAddr = peer.parse().unwrap();
    hook.verify(peer, Some("mail.example.test"), &sender(), raw.as_bytes())
        .await
}

#[tokio::test]
async fn signed_message_from_permitted_host_passes_everything() {
    if !dns_peer_available() {
        return;
    }
    let dns = start_dns("pass");
    let raw = sign(&message("pass"));

    let value = header_value(&run(dns.hook(), &session("127.0.0.1"), &raw).await);
    for expected in [
        "dkim=pass",
        "header.d=example.test",
        "spf=pass",
        "smtp.mailfrom=alice@example.test",
        "dmarc=pass header.from=example.test policy.dmarc=reject",
    ] {
        assert!(value.contains(expected), "{expected} missing in {value}");
    }

    let verdicts = verify(&dns.hook(), "127.0.0.1", &raw).await;
    assert_eq!(verdicts.spf, AuthResult::Pass);
    assert_eq!(verdicts.dkim, AuthResult::Pass);
    assert_eq!(verdicts.dkim_domains, ["example.test"]);
    assert_eq!(verdicts.dmarc, AuthResult::Pass);
    assert_eq!(verdicts.dmarc_policy, Some(DmarcPolicy::Reject));
    assert_eq!(verdicts.from_domain.as_deref(), Some("example.test"));
}

#[tokio::test]
async fn unsigned_message_from_foreign_host_fails_spf_and_dmarc() {
    if !dns_peer_available() {
        return;
    }
    let dns = start_dns("fail");
    let raw = message("fail");

    let value = header_value(&run(dns.hook(), &session("192.0.2.1"), &raw).await);
    for expected in [
        "dkim=none",
        "spf=fail",
        "dmarc=fail header.from=example.test policy.dmarc=reject",
    ] {
        assert!(value.contains(expected), "{expected} missing in {value}");
    }

    let verdicts = verify(&dns.hook(), "192.0.2.1", &raw).await;
    assert_eq!(verdicts.spf, AuthResult::Fail);
    assert_eq!(verdicts.dkim, AuthResult::None);
    assert_eq!(verdicts.dmarc, AuthResult::Fail);
    assert_eq!(verdicts.dmarc_policy, Some(DmarcPolicy::Reject));
}

#[tokio::test]
async fn tampered_body_fails_dkim() {
    if !dns_peer_available() {
        return;
    }
    let dns = start_dns("tampered");
    let signed = sign(&message("tampered"));
    let raw = signed.replace("hello bob", "hello bob, send money");
    assert_ne!(raw, signed);

    let value = header_value(&run(dns.hook(), &session("192.0.2.1"), &raw).await);
    assert!(value.contains("dkim=fail"), "{value}");
    assert!(value.contains("spf=fail"), "{value}");
    assert!(value.contains("dmarc=fail"), "{value}");

    let verdicts = verify(&dns.hook(), "192.0.2.1", &raw).await;
    assert_eq!(verdicts.dkim, AuthResult::Fail);
    assert!(verdicts.dkim_domains.is_empty());
    assert_eq!(verdicts.dmarc, AuthResult::Fail);
}

#[tokio::test]
async fn submission_and_unknown_peer_are_skipped() {
    // Nothing listens on this socket: a DNS look-up would only time out.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let hook =
        AuthenticationHook::with_nameserver(AUTHSERV_ID, silent.local_addr().unwrap()).unwrap();
    let raw = message("submission");
    let parsed = Message::parse(raw.as_bytes().to_vec());
    let envelope = Envelope::new(sender(), Default::default());

    let mut submission = session("192.0.2.1");
    submission.protocol = Protocol::Submission;
    submission.authenticated = Some("alice@example.test".to_owned());
    let mut no_peer = session("192.0.2.1");
    no_peer.peer = None;

    for session in [&submission, &no_peer] {
        let started = Instant::now();
        let event = Event::Message {
            session,
            envelope: &envelope,
            message: &parsed,
        };
        assert_eq!(hook.on_event(&event).await, Action::Continue);
        assert!(started.elapsed() < Duration::from_secs(1));
    }
    let decision = run(hook, &submission, &raw).await;
    assert_eq!(decision, Decision::default());
}

#[tokio::test]
async fn unreachable_nameserver_records_temperror_within_the_deadline() {
    let timeout = Duration::from_secs(2);
    let raw = sign(&message("unreachable"));
    // One server that never answers (black hole), one port where nothing listens.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let closed = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    for nameserver in [silent.local_addr().unwrap(), closed] {
        let hook = AuthenticationHook::with_nameserver(AUTHSERV_ID, nameserver)
            .unwrap()
            .with_timeout(timeout);
        let started = Instant::now();
        let decision = run(hook, &session("127.0.0.1"), &raw).await;
        let elapsed = started.elapsed();
        assert!(
            elapsed < timeout + Duration::from_secs(1),
            "took {elapsed:?} with a {timeout:?} deadline"
        );
        let value = header_value(&decision);
        assert!(value.contains("dkim=temperror"), "{value}");
        assert!(value.contains("spf=temperror"), "{value}");
        assert!(
            value.contains("dmarc=temperror") || value.contains("dmarc=none"),
            "{value}"
        );
        assert!(!value.contains("=pass"), "{value}");
    }
}

/// The zone's DNS server, named `name` in its log file.
fn start_dns(name: &str) -> DnsServer {
    DnsServer::start(
        std::path::Path::new(ZONE),
        "example.test",
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")),
        name,
    )
}
