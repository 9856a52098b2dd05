//! An IMAP server for `imap_idle_memory.sh`: `mailcore_imap::server::serve` over an embedded
//! store, exactly as `mailcore-server serve` runs it, but with a connection limiter that admits
//! more than the 1,000 connections `mailcore-server` hard-codes.
//!
//! usage: imap_idle_server DATA_DIR IMAPS_PORT IMAP_PORT MAX_CONNECTIONS
//!
//! Creates `u@example.com` (password `pw`) with 10 messages in INBOX, listens with implicit TLS
//! (self-signed certificate) on IMAPS_PORT and in plaintext (LOGIN allowed) on IMAP_PORT, both
//! counted by one limiter, prints `ready` and serves until killed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use bytes::Bytes;
use mailcore::connection::ConnectionLimiter;
use mailcore::hook::HookChain;
use mailcore_imap::server::{ListenerConfig, serve};
use mailcore_imap::session::Limits;
use mailcore_store::Backend;
use mailcore_store::mailbox::{INBOX, NewMessage};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::TlsAcceptor;

fn acceptor() -> TlsAcceptor {
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert = CertificateDer::from(generated.cert.der().to_vec());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        generated.signing_key.serialize_der(),
    ));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    TlsAcceptor::from(Arc::new(config))
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, dir, tls_port, plain_port, max] = &args[..] else {
        eprintln!("usage: imap_idle_server DATA_DIR IMAPS_PORT IMAP_PORT MAX_CONNECTIONS");
        std::process::exit(2);
    };
    let max: usize = max.parse().unwrap();
    let store: Arc<dyn Backend> = Arc::new(
        mailcore_store::embedded::Embedded::open(std::path::Path::new(dir))
            .await
            .unwrap(),
    );
    let s = store.as_ref();
    mailcore_store::provision::add_domain(s, "bench", &"example.com".parse().unwrap())
        .await
        .unwrap();
    let account = mailcore_store::provision::add_account(
        s,
        &"u@example.com".parse().unwrap(),
        "pw",
        None,
        None,
    )
    .await
    .unwrap();
    let inbox = s.mailbox(account.id, INBOX).await.unwrap().unwrap().id;
    for (i, input) in mailcore_benches::inputs()
        .iter()
        .cycle()
        .take(10)
        .enumerate()
    {
        let mut raw = format!("X-Bench-Seq: {i}\r\n").into_bytes();
        raw.extend_from_slice(&input.bytes);
        let m = NewMessage {
            raw: Bytes::from(raw),
            flags: Default::default(),
            internal_date: 1_709_259_630,
        };
        s.append(inbox, m).await.unwrap();
    }

    let connections = ConnectionLimiter::new(max, max);
    let mut tasks = Vec::new();
    for (port, implicit_tls) in [(tls_port, true), (plain_port, false)] {
        let tls = implicit_tls.then(acceptor);
        let mut config =
            ListenerConfig::new(implicit_tls, tls, Limits::default()).allow_plaintext_auth(true);
        config.connections = connections.clone();
        let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}"))
            .await
            .unwrap();
        tasks.push(tokio::spawn(serve(
            listener,
            config,
            store.clone(),
            HookChain::new(),
        )));
    }
    println!("ready");
    for t in tasks {
        t.await.unwrap().unwrap();
    }
}
