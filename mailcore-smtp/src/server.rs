//! The tokio + rustls shell: accepts connections, moves bytes between the socket and a
//! [`Session`], applies timeouts and connection limits, runs the TLS handshake for STARTTLS and
//! implicit TLS, and hands every [`Event`] to a [`Handler`].

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use mailcore::connection::{ConnectionLimiter, ConnectionPermit};
use mailcore::hook::{Protocol, SessionInfo};
use mailcore::reply::Reply;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

use crate::session::{Answer, Event, Mode, Session, SessionConfig};

/// What the shell knows about one connection; the handler may keep per-connection state in
/// [`Connection::info`] (e.g. the authenticated user).
#[derive(Debug)]
pub struct Connection {
    /// The session as hooks see it.
    pub info: SessionInfo,
    /// The transaction as the handler accepted it so far (set on `MAIL`, grown on `RCPT`).
    pub envelope: Option<mailcore::envelope::Envelope>,
}

/// Decides what the session cannot: hooks, directory lookups, credentials, delivery.
#[async_trait]
pub trait Handler: Send + Sync {
    /// A client connected; `Some(reply)` refuses it (sent instead of the greeting).
    async fn connect(&self, _connection: &Connection) -> Option<Reply> {
        None
    }

    /// Decides one event of the session.
    async fn event(&self, connection: &mut Connection, event: Event) -> Answer;
}

/// Settings of one listener.
#[derive(Clone)]
pub struct ListenerConfig {
    /// The session configuration (mode, host name, limits).
    pub session: Arc<SessionConfig>,
    /// TLS for STARTTLS (and implicit TLS); `None` offers no TLS.
    pub tls: Option<TlsAcceptor>,
    /// Whether the connection is TLS from the first byte (port 465).
    pub implicit_tls: bool,
    /// Connection admission (default 20 per client IP, 1,000 in all). Clone one limiter into
    /// several listeners to count their connections together.
    pub connections: ConnectionLimiter,
}

impl ListenerConfig {
    /// A listener with default connection limits.
    pub fn new(
        session: SessionConfig,
        tls: Option<TlsAcceptor>,
        implicit_tls: bool,
    ) -> ListenerConfig {
        let mut session = session;
        session.starttls = tls.is_some() && !implicit_tls;
        ListenerConfig {
            session: Arc::new(session),
            tls,
            implicit_tls,
            connections: ConnectionLimiter::new(20, 1000),
        }
    }
}

static SESSION_IDS: AtomicU64 = AtomicU64::new(1);

/// Accepts connections forever, one task each.
pub async fn serve(
    listener: TcpListener,
    config: ListenerConfig,
    handler: Arc<dyn Handler>,
) -> io::Result<()> {
    let limiter = config.connections.clone();
    let config = Arc::new(config);
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            // Out of file descriptors and the like: back off instead of spinning.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let slot = limiter.admit(peer.ip());
        let (config, handler) = (config.clone(), handler.clone());
        tokio::spawn(async move {
            let _ = serve_connection(stream, peer, config, handler, slot).await;
        });
    }
}

async fn serve_connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    config: Arc<ListenerConfig>,
    handler: Arc<dyn Handler>,
    slot: Option<ConnectionPermit>,
) -> io::Result<()> {
    let _ = stream.set_nodelay(true);
    if slot.is_none() {
        stream
            .write_all(b"421 4.7.0 Too many connections, try again later\r\n")
            .await?;
        return stream.shutdown().await;
    }
    let protocol = match config.session.mode {
        Mode::Mx => Protocol::Smtp,
        Mode::Submission => Protocol::Submission,
    };
    let mut info = SessionInfo::new(SESSION_IDS.fetch_add(1, Ordering::Relaxed), protocol);
    info.peer = Some(peer);
    info.local = stream.local_addr().ok();
    let mut connection = Connection {
        info,
        envelope: None,
    };
    let deadline = Instant::now() + config.session.limits.session_timeout;
    if config.implicit_tls {
        let Some(acceptor) = &config.tls else {
            return Ok(());
        };
        let handshake =
            tokio::time::timeout(config.session.limits.idle_timeout, acceptor.accept(stream)).await;
        let Ok(Ok(mut tls)) = handshake else {
            return Ok(());
        };
        connection.info.tls = true;
        let mut session = Session::new(config.session.clone(), true);
        if refuse(&mut tls, &handler, &connection).await? {
            return Ok(());
        }
        drive(&mut tls, &mut session, &handler, &mut connection, deadline).await?;
        return tls.shutdown().await;
    }
    let mut session = Session::new(config.session.clone(), false);
    if refuse(&mut stream, &handler, &connection).await? {
        return Ok(());
    }
    match drive(
        &mut stream,
        &mut session,
        &handler,
        &mut connection,
        deadline,
    )
    .await?
    {
        Outcome::Closed => stream.shutdown().await,
        Outcome::StartTls => {
            let Some(acceptor) = &config.tls else {
                return Ok(());
            };
            let handshake =
                tokio::time::timeout(config.session.limits.idle_timeout, acceptor.accept(stream))
                    .await;
            let Ok(Ok(mut tls)) = handshake else {
                return Ok(());
            };
            session.tls_established();
            connection.info.tls = true;
            connection.info.helo = None;
            connection.info.authenticated = None;
            drive(&mut tls, &mut session, &handler, &mut connection, deadline).await?;
            tls.shutdown().await
        }
    }
}

/// Sends the handler's refusal instead of the greeting, if it refuses.
async fn refuse<S: AsyncWrite + Unpin>(
    stream: &mut S,
    handler: &Arc<dyn Handler>,
    connection: &Connection,
) -> io::Result<bool> {
    match handler.connect(connection).await {
        Some(reply) => {
            stream.write_all(format!("{reply}\r\n").as_bytes()).await?;
            stream.flush().await?;
            Ok(true)
        }
        None => Ok(false),
    }
}

enum Outcome {
    Closed,
    StartTls,
}

/// Moves bytes until the session ends or asks for TLS.
async fn drive<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    session: &mut Session,
    handler: &Arc<dyn Handler>,
    connection: &mut Connection,
    deadline: Instant,
) -> io::Result<Outcome> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        while let Some(event) = session.poll_event() {
            if event == Event::StartTls {
                write_output(stream, session).await?;
                return Ok(Outcome::StartTls);
            }
            let answer = handler.event(connection, event).await;
            session.answer(answer);
            connection.info.helo = session.helo().map(str::to_owned);
            if connection.info.authenticated.is_some() && session.authenticated().is_none() {
                connection.info.authenticated = None;
            }
        }
        write_output(stream, session).await?;
        if session.is_closed() {
            return Ok(Outcome::Closed);
        }
        let now = Instant::now();
        if now >= deadline {
            session.close_with("4.4.2", "Session time limit exceeded");
            write_output(stream, session).await?;
            return Ok(Outcome::Closed);
        }
        let wait = session.limits().idle_timeout.min(deadline - now);
        match tokio::time::timeout(wait, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Ok(Outcome::Closed),
            Ok(Ok(n)) => session.handle_input(&buf[..n]),
            Err(_) => {
                session.close_with("4.4.2", "Idle timeout, closing connection");
                write_output(stream, session).await?;
                return Ok(Outcome::Closed);
            }
        }
    }
}

async fn write_output<S: AsyncWrite + Unpin>(
    stream: &mut S,
    session: &mut Session,
) -> io::Result<()> {
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
