//! `mailcore-server serve`: opens the store, builds the hook chain and runs the listeners (SMTP,
//! POP3, IMAP, the admin HTTP API) and the hourly housekeeping until interrupted.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use mailcore::connection::ConnectionLimiter;
use mailcore::hook::HookChain;
use mailcore_policy::authentication::{AuthenticationHook, Resolver};
use mailcore_smtp::delivery::{DeliveryConfig, LocalDelivery, Network};
use mailcore_smtp::server::{self, ListenerConfig};
use mailcore_smtp::session::{Mode, SessionConfig};
use mailcore_store::Backend;

use crate::config::{Config, ListenerKind};

/// The hooks every server runs, in order: SPF/DKIM/DMARC verification first, so that later
/// policies can read its results.
pub fn hooks(config: &Config) -> anyhow::Result<HookChain> {
    let mut chain = HookChain::new();
    let auth = &config.authentication;
    if auth.enabled {
        let resolver = match auth.nameserver {
            Some(ns) => Resolver::Nameserver(ns),
            None => Resolver::System,
        };
        let mut hook = AuthenticationHook::new(&config.hostname(), resolver)
            .context("SPF/DKIM/DMARC verification")?;
        if let Some(t) = auth.timeout_secs {
            hook = hook.with_timeout(Duration::from_secs(t));
        }
        chain.push(hook);
    }
    Ok(chain)
}

/// Runs the server until Ctrl-C (or SIGTERM).
pub async fn run(config: &Config, store: Arc<dyn Backend>, data_dir: &Path) -> anyhow::Result<()> {
    let hostname = config.hostname();
    let tls = match &config.tls {
        Some(t) => crate::tls::acceptor(&t.certificate, &t.key)?,
        None => {
            let (cert, key) = crate::tls::ensure_dev_certificate(data_dir)?;
            crate::tls::acceptor(&cert, &key)?
        }
    };
    let mut delivery = DeliveryConfig::new(&hostname);
    for n in &config.smtp.trusted_networks {
        delivery
            .trusted_networks
            .push(Network::parse(n).with_context(|| format!("invalid trusted network {n:?}"))?);
    }
    let hooks = hooks(config)?;
    let handler: Arc<dyn server::Handler> =
        Arc::new(LocalDelivery::new(store.clone(), hooks.clone(), delivery));
    let mut tasks = Vec::new();
    // One limiter per protocol: a client's connections are counted across all of that
    // protocol's listeners (default 20 per IP, 1,000 in all).
    let limiter = |per_ip: Option<usize>, total: Option<usize>| {
        ConnectionLimiter::new(per_ip.unwrap_or(20), total.unwrap_or(1000))
    };
    let smtp_connections = limiter(
        config.smtp.max_connections_per_ip,
        config.smtp.max_connections,
    );
    let pop3_connections = limiter(
        config.pop3.max_connections_per_ip,
        config.pop3.max_connections,
    );
    let imap_connections = limiter(
        config.imap.max_connections_per_ip,
        config.imap.max_connections,
    );
    for (address, kind) in config.smtp.listeners() {
        let mode = if kind == ListenerKind::Mx {
            Mode::Mx
        } else {
            Mode::Submission
        };
        let mut session = SessionConfig::new(&hostname, mode);
        if let Some(v) = config.smtp.max_message_size {
            session.limits.max_message_size = v;
        }
        if let Some(v) = config.smtp.max_recipients {
            session.limits.max_recipients = v;
        }
        if let Some(v) = config.smtp.idle_timeout_secs {
            session.limits.idle_timeout = Duration::from_secs(v);
        }
        let mut listener_config = ListenerConfig::new(
            session,
            Some(tls.clone()),
            kind == ListenerKind::Submissions,
        );
        listener_config.connections = smtp_connections.clone();
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .with_context(|| format!("cannot listen on {address}"))?;
        println!("smtp {kind:?} listening on {address}");
        tasks.push(tokio::spawn(server::serve(
            listener,
            listener_config,
            handler.clone(),
        )));
    }
    for (address, implicit_tls) in config.pop3.listeners((2110, 2995)) {
        let session = mailcore_pop3::session::SessionConfig::new(&hostname);
        let mut listener_config =
            mailcore_pop3::server::ListenerConfig::new(session, Some(tls.clone()), implicit_tls);
        listener_config.connections = pop3_connections.clone();
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .with_context(|| format!("cannot listen on {address}"))?;
        println!(
            "pop3{} listening on {address}",
            if implicit_tls { "s" } else { "" }
        );
        tasks.push(tokio::spawn(mailcore_pop3::server::serve(
            listener,
            listener_config,
            store.clone(),
            hooks.clone(),
        )));
    }
    for (address, implicit_tls) in config.imap.listeners((2143, 2993)) {
        let limits = mailcore_imap::session::Limits::default();
        let mut listener_config =
            mailcore_imap::server::ListenerConfig::new(implicit_tls, Some(tls.clone()), limits);
        listener_config.connections = imap_connections.clone();
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .with_context(|| format!("cannot listen on {address}"))?;
        println!(
            "imap{} listening on {address}",
            if implicit_tls { "s" } else { "" }
        );
        tasks.push(tokio::spawn(mailcore_imap::server::serve(
            listener,
            listener_config,
            store.clone(),
            hooks.clone(),
        )));
    }
    if config.api.enabled {
        let address = config.api.listen();
        let admin = mailcore_store::admin::Admin::new(
            store.clone(),
            mailcore_store::admin::AdminConfig::default(),
        );
        let state = crate::api::AppState::new(admin.clone(), &config.api.verification, &hostname);
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .with_context(|| format!("cannot listen on {address}"))?;
        println!("admin api listening on http://{address}/api/v1/");
        tasks.push(tokio::spawn(crate::api::serve(listener, state)));
        tasks.push(tokio::spawn(async move {
            crate::api::housekeeping(admin).await;
            Ok(())
        }));
    }
    println!("mailcore-server ready (store: {})", data_dir.display());
    wait_for_shutdown().await;
    for t in tasks {
        t.abort();
    }
    println!("mailcore-server stopped");
    Ok(())
}

async fn wait_for_shutdown() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
