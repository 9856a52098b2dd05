//! The tokio + rustls shell: accepts connections, moves bytes between the socket and a
//! [`Session`], runs the TLS handshake (STARTTLS and implicit TLS), checks logins through
//! [`mailcore_store::auth::login`] and the [`Stage::Login`](mailcore::hook::Stage::Login) hooks,
//! runs commands with [`Mailboxes`], and wakes IDLE on the store's change notifications.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mailcore::connection::{ConnectionLimiter, ConnectionPermit};

use mailcore::hook::{Event as HookEvent, HookChain, LoginAttempt, Protocol};
use mailcore_store::Backend;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;
use tokio_rustls::TlsAcceptor;

use crate::mailbox::Mailboxes;
use crate::session::{Answer, Event, Limits, Session, SessionConfig};

/// Settings of one listener.
#[derive(Clone)]
#[non_exhaustive]
pub struct ListenerConfig {
    /// The session configuration (limits, STARTTLS offered).
    pub session: Arc<SessionConfig>,
    /// TLS for STARTTLS or implicit TLS; `None` offers no TLS.
    pub tls: Option<TlsAcceptor>,
    /// Whether connections are TLS from the first byte (IMAPS, port 993).
    pub implicit_tls: bool,
    /// Connection admission (default 20 per client IP, 1,000 in all). Clone one limiter into
    /// several listeners to count their connections together.
    pub connections: ConnectionLimiter,
}

impl std::fmt::Debug for ListenerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListenerConfig")
            .field("session", &self.session)
            .field("tls", &self.tls.is_some())
            .field("implicit_tls", &self.implicit_tls)
            .finish()
    }
}

impl ListenerConfig {
    /// A listener: `implicit_tls` for IMAPS, else STARTTLS is offered when `tls` is given.
    pub fn new(implicit_tls: bool, tls: Option<TlsAcceptor>, limits: Limits) -> ListenerConfig {
        let session = SessionConfig {
            starttls: tls.is_some() && !implicit_tls,
            limits,
            ..SessionConfig::default()
        };
        ListenerConfig {
            session: Arc::new(session),
            tls,
            implicit_tls,
            connections: ConnectionLimiter::new(20, 1000),
        }
    }

    /// Allows LOGIN/AUTHENTICATE without TLS (for tests and trusted local networks only).
    pub fn allow_plaintext_auth(mut self, allow: bool) -> ListenerConfig {
        let mut s = (*self.session).clone();
        s.allow_plaintext_auth = allow;
        self.session = Arc::new(s);
        self
    }
}

struct Shared {
    config: ListenerConfig,
    store: Arc<dyn Backend>,
    hooks: HookChain,
}

/// Accepts IMAP connections forever, one task each.
pub async fn serve(
    listener: TcpListener,
    config: ListenerConfig,
    store: Arc<dyn Backend>,
    hooks: HookChain,
) -> io::Result<()> {
    let limiter = config.connections.clone();
    let shared = Arc::new(Shared {
        config,
        store,
        hooks,
    });
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let slot = limiter.admit(peer.ip());
        let shared = shared.clone();
        tokio::spawn(async move {
            let _ = connection(stream, peer, shared, slot).await;
        });
    }
}

async fn connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    slot: Option<ConnectionPermit>,
) -> io::Result<()> {
    let _ = stream.set_nodelay(true);
    if slot.is_none() {
        stream.write_all(b"* BYE Too many connections\r\n").await?;
        return stream.shutdown().await;
    }
    let config = &shared.config;
    let mut conn = Conn {
        shared: shared.clone(),
        peer,
        mailboxes: None,
        changes: None,
    };
    if config.implicit_tls {
        let Some(acceptor) = &config.tls else {
            return Ok(());
        };
        let timeout = config.session.limits.idle_timeout_before_login;
        let Ok(Ok(mut tls)) = tokio::time::timeout(timeout, acceptor.accept(stream)).await else {
            return Ok(());
        };
        let mut session = Session::new(config.session.clone(), true);
        conn.drive(&mut tls, &mut session).await?;
        return tls.shutdown().await;
    }
    let mut session = Session::new(config.session.clone(), false);
    match conn.drive(&mut stream, &mut session).await? {
        Outcome::Closed => stream.shutdown().await,
        Outcome::StartTls => {
            let Some(acceptor) = &config.tls else {
                return Ok(());
            };
            let timeout = config.session.limits.idle_timeout_before_login;
            let Ok(Ok(mut tls)) = tokio::time::timeout(timeout, acceptor.accept(stream)).await
            else {
                return Ok(());
            };
            session.tls_established();
            conn.drive(&mut tls, &mut session).await?;
            tls.shutdown().await
        }
    }
}

enum Outcome {
    Closed,
    StartTls,
}

struct Conn {
    shared: Arc<Shared>,
    peer: SocketAddr,
    mailboxes: Option<Mailboxes>,
    changes: Option<broadcast::Receiver<mailcore_store::mailbox::MailboxChange>>,
}

impl Conn {
    async fn login(
        &mut self,
        mechanism: &str,
        user: &str,
        password: &str,
        authzid: Option<&str>,
    ) -> Answer {
        let store = &self.shared.store;
        // An authorization identity other than the user opens a business mailbox the user
        // is one of the users of (checked by the store).
        let request = mailcore_store::auth::LoginRequest::new(
            user,
            password,
            Protocol::Imap,
            Some(self.peer.ip()),
        )
        .acting_as(authzid);
        let result = mailcore_store::auth::login(store.as_ref(), &request).await;
        let result = match result {
            Ok(r) => r,
            Err(_) => return Answer::Unavailable,
        };
        let ok = result.is_ok();
        let attempt = LoginAttempt::new(Protocol::Imap, user, Some(self.peer.ip()), mechanism, ok);
        let decision = self
            .shared
            .hooks
            .run(&HookEvent::Login { attempt: &attempt })
            .await;
        let refused = decision.verdict.is_refusal();
        mailcore_store::auth::record_login(
            store.as_ref(),
            &request,
            mechanism,
            &result,
            refused,
            None,
        )
        .await;
        match result {
            Ok(account) if !refused => {
                self.changes = Some(store.subscribe_changes());
                self.mailboxes = Some(Mailboxes::new(store.clone(), account.id));
                Answer::LoggedIn
            }
            _ => Answer::Refused,
        }
    }

    async fn drive<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        stream: &mut S,
        session: &mut Session,
    ) -> io::Result<Outcome> {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            while let Some(event) = session.poll_event() {
                let answer = match event {
                    Event::StartTls => {
                        flush(stream, session).await?;
                        return Ok(Outcome::StartTls);
                    }
                    Event::Login {
                        mechanism,
                        user,
                        password,
                        authzid,
                    } => {
                        self.login(mechanism, &user, &password, authzid.as_deref())
                            .await
                    }
                    Event::Command { tag, command } => match self.mailboxes.as_mut() {
                        Some(m) => {
                            let out = m.run(&tag, command).await;
                            // ENABLE UTF8=ACCEPT / IMAP4rev2 switch how names are read.
                            session.set_utf8_names(m.utf8_names());
                            Answer::Responses(out)
                        }
                        None => Answer::Refused,
                    },
                    Event::IdleStarted => {
                        // Catch up on what happened before the IDLE.
                        if let Some(m) = self.mailboxes.as_mut() {
                            let updates = m.updates(true).await;
                            session.push_untagged(&updates);
                        }
                        continue;
                    }
                    Event::ForgetSavedSearch => {
                        if let Some(m) = self.mailboxes.as_mut() {
                            m.forget_saved();
                        }
                        continue;
                    }
                    Event::IdleDone { tag } => match self.mailboxes.as_mut() {
                        Some(m) => Answer::Responses(m.idle_done(&tag).await),
                        None => Answer::Refused,
                    },
                };
                session.answer(answer);
            }
            flush(stream, session).await?;
            if session.is_closed() {
                return Ok(Outcome::Closed);
            }
            let timeout = if session.is_authenticated() {
                session.limits().idle_timeout
            } else {
                session.limits().idle_timeout_before_login
            };
            let idling = session.is_idling();
            let changes = self.changes.as_mut();
            tokio::select! {
                read = tokio::time::timeout(timeout, stream.read(&mut buf)) => match read {
                    Ok(Ok(0)) | Ok(Err(_)) => return Ok(Outcome::Closed),
                    Ok(Ok(n)) => session.handle_input(&buf[..n]),
                    Err(_) => {
                        session.close_with("Autologout; idle for too long");
                        flush(stream, session).await?;
                        return Ok(Outcome::Closed);
                    }
                },
                change = recv_change(changes), if idling => {
                    let relevant = match change {
                        Ok(c) => self.mailboxes.as_ref().is_some_and(|m| m.concerns(&c)),
                        Err(broadcast::error::RecvError::Lagged(_)) => true,
                        Err(broadcast::error::RecvError::Closed) => {
                            self.changes = None;
                            false
                        }
                    };
                    if relevant && let Some(m) = self.mailboxes.as_mut() {
                        let updates = m.updates(true).await;
                        session.push_untagged(&updates);
                    }
                }
            }
        }
    }
}

async fn recv_change(
    rx: Option<&mut broadcast::Receiver<mailcore_store::mailbox::MailboxChange>>,
) -> Result<mailcore_store::mailbox::MailboxChange, broadcast::error::RecvError> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn flush<S: AsyncWrite + Unpin>(stream: &mut S, session: &mut Session) -> io::Result<()> {
    let penalty = session.take_penalty();
    if !penalty.is_zero() {
        tokio::time::sleep(penalty).await;
    }
    let out = session.take_output();
    if !out.is_empty() {
        stream.write_all(&out).await?;
        stream.flush().await?;
    }
    Ok(())
}
