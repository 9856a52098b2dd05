//! The tokio + rustls shell: accepts connections, moves bytes between the socket and a
//! [`Session`], applies the timeouts and connection limits, runs the TLS handshake for `STLS`
//! and implicit TLS, and answers every [`Event`] from the store and the hook chain.
//!
//! ```text
//!  Login    ─► auth::login ─► hooks (Stage::Login) ─► login log ─► Accept / Reject [AUTH]
//!  Load     ─► lock INBOX (one session per maildrop) ─► messages(1..=MAX) ─► Maildrop
//!  Retrieve ─► read_message ─► Message
//!  Commit   ─► store_flags(+\Deleted) ─► expunge(those UIDs) ─► Accept (then +OK)
//! ```
//!
//! The maildrop lock is per [`serve`] call (per listener): two sessions of the same account on
//! one listener get `-ERR [IN-USE]`. Deletions are by UID, so sessions on other listeners or
//! processes can never remove the wrong message.

use std::collections::HashSet;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mailcore::connection::ConnectionLimiter;
use mailcore::hook::{Event as HookEvent, HookChain, LoginAttempt, Protocol, SessionInfo, Stage};
use mailcore_store::Backend;
use mailcore_store::directory::Account;

use mailcore_store::mailbox::{FlagChange, Flags, INBOX, MailboxId, Uid};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

use crate::response::{ResponseCode, UniqueId};
use crate::session::{Answer, Entry, Event, Mechanism, Phase, Refusal, Session, SessionConfig};

/// Output is written to the socket once this much is waiting, even mid-pipeline.
const FLUSH_AT: usize = 256 * 1024;

/// Settings of one listener.
#[derive(Clone)]
#[non_exhaustive]
pub struct ListenerConfig {
    /// The session configuration (host name, limits).
    pub session: Arc<SessionConfig>,
    /// TLS for `STLS` (and implicit TLS); `None` offers no TLS.
    pub tls: Option<TlsAcceptor>,
    /// Whether the connection is TLS from the first byte (POP3S, port 995).
    pub implicit_tls: bool,
    /// Connection admission (default 20 per client IP, 1,000 in all). Clone one limiter into
    /// several listeners to count their connections together.
    pub connections: ConnectionLimiter,
}

impl ListenerConfig {
    /// A listener with default connection limits. `STLS` is offered when `tls` is set and the
    /// listener is not implicit TLS.
    pub fn new(
        session: SessionConfig,
        tls: Option<TlsAcceptor>,
        implicit_tls: bool,
    ) -> ListenerConfig {
        let mut session = session;
        session.stls = tls.is_some() && !implicit_tls;
        ListenerConfig {
            session: Arc::new(session),
            tls,
            implicit_tls,
            connections: ConnectionLimiter::new(20, 1000),
        }
    }
}

impl std::fmt::Debug for ListenerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListenerConfig")
            .field("session", &self.session)
            .field("tls", &self.tls.is_some())
            .field("implicit_tls", &self.implicit_tls)
            .field("connections", &self.connections)
            .finish()
    }
}

/// Maildrops in use on this listener (RFC 1939 §4: one session per maildrop).
#[derive(Default)]
struct Locks {
    held: Mutex<HashSet<MailboxId>>,
}

struct MaildropLock {
    locks: Arc<Locks>,
    mailbox: MailboxId,
}

impl Drop for MaildropLock {
    fn drop(&mut self) {
        if let Ok(mut held) = self.locks.held.lock() {
            held.remove(&self.mailbox);
        }
    }
}

impl Locks {
    fn take(self: &Arc<Self>, mailbox: MailboxId) -> Option<MaildropLock> {
        let mut held = self.locks_held()?;
        held.insert(mailbox).then(|| MaildropLock {
            locks: self.clone(),
            mailbox,
        })
    }

    fn locks_held(&self) -> Option<std::sync::MutexGuard<'_, HashSet<MailboxId>>> {
        self.held.lock().ok()
    }
}

/// What is shared by all connections of one listener.
struct Shared {
    config: ListenerConfig,
    store: Arc<dyn Backend>,
    hooks: HookChain,
    limiter: ConnectionLimiter,
    locks: Arc<Locks>,
}

/// One connection's view of the store.
struct Connection {
    info: SessionInfo,
    account: Option<Account>,
    mailbox: Option<MailboxId>,
    uids: Vec<Uid>,
    lock: Option<MaildropLock>,
}

static SESSION_IDS: AtomicU64 = AtomicU64::new(1);

/// Accepts connections forever, one task each, answering logins from `backend`'s directory
/// and serving each account's `INBOX`.
pub async fn serve(
    listener: TcpListener,
    config: ListenerConfig,
    backend: Arc<dyn Backend>,
    hooks: HookChain,
) -> io::Result<()> {
    let limiter = config.connections.clone();
    let shared = Arc::new(Shared {
        config,
        store: backend,
        hooks,
        limiter,
        locks: Arc::new(Locks::default()),
    });
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            // Out of file descriptors and the like: back off instead of spinning.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let _ = serve_connection(stream, peer, shared).await;
        });
    }
}

async fn serve_connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
) -> io::Result<()> {
    let _ = stream.set_nodelay(true);
    let config = &shared.config;
    let slot = shared.limiter.admit(peer.ip());
    if slot.is_none() {
        if !config.implicit_tls {
            stream
                .write_all(b"-ERR [SYS/TEMP] Too many connections, try again later\r\n")
                .await?;
        }
        return stream.shutdown().await;
    }
    let mut info = SessionInfo::new(SESSION_IDS.fetch_add(1, Ordering::Relaxed), Protocol::Pop3);
    info.peer = Some(peer);
    info.local = stream.local_addr().ok();
    let mut connection = Connection {
        info,
        account: None,
        mailbox: None,
        uids: Vec::new(),
        lock: None,
    };
    let limits = config.session.limits.clone();
    let login_deadline = Instant::now() + limits.login_timeout;
    if config.implicit_tls {
        let Some(acceptor) = &config.tls else {
            return Ok(());
        };
        let handshake = tokio::time::timeout_at(login_deadline, acceptor.accept(stream)).await;
        let Ok(Ok(mut tls)) = handshake else {
            return Ok(());
        };
        connection.info.tls = true;
        let mut session = Session::new(config.session.clone(), true);
        if refused(&mut tls, &shared, &connection).await? {
            return Ok(());
        }
        drive(
            &mut tls,
            &mut session,
            &shared,
            &mut connection,
            login_deadline,
        )
        .await?;
        return tls.shutdown().await;
    }
    let mut session = Session::new(config.session.clone(), false);
    if refused(&mut stream, &shared, &connection).await? {
        return Ok(());
    }
    match drive(
        &mut stream,
        &mut session,
        &shared,
        &mut connection,
        login_deadline,
    )
    .await?
    {
        Outcome::Closed => stream.shutdown().await,
        Outcome::Stls => {
            let Some(acceptor) = &config.tls else {
                return Ok(());
            };
            let handshake = tokio::time::timeout_at(login_deadline, acceptor.accept(stream)).await;
            let Ok(Ok(mut tls)) = handshake else {
                return Ok(());
            };
            session.tls_established();
            connection.info.tls = true;
            drive(
                &mut tls,
                &mut session,
                &shared,
                &mut connection,
                login_deadline,
            )
            .await?;
            tls.shutdown().await
        }
    }
}

/// Runs the `Connect` hooks; on a refusal sends `-ERR` instead of the greeting.
async fn refused<S: AsyncWrite + Unpin>(
    stream: &mut S,
    shared: &Shared,
    connection: &Connection,
) -> io::Result<bool> {
    if !shared.hooks.wants(Stage::Connect) {
        return Ok(false);
    }
    let decision = shared
        .hooks
        .run(&HookEvent::Connect {
            session: &connection.info,
        })
        .await;
    match decision.verdict {
        mailcore::hook::Verdict::Reject(r) | mailcore::hook::Verdict::TempFail(r) => {
            let mut out = Vec::new();
            let code = if r.is_transient() {
                ResponseCode::SysTemp
            } else {
                ResponseCode::SysPerm
            };
            crate::response::write_err(&mut out, Some(code), r.text());
            stream.write_all(&out).await?;
            stream.flush().await?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

enum Outcome {
    Closed,
    Stls,
}

/// Moves bytes until the session ends or asks for TLS.
async fn drive<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    session: &mut Session,
    shared: &Shared,
    connection: &mut Connection,
    login_deadline: Instant,
) -> io::Result<Outcome> {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        while let Some(event) = session.poll_event() {
            if event == Event::Stls {
                write_output(stream, session).await?;
                return Ok(Outcome::Stls);
            }
            let answer = handle(shared, connection, event).await;
            session.answer(answer);
            if session.output_len() >= FLUSH_AT {
                write_output(stream, session).await?;
            }
        }
        write_output(stream, session).await?;
        if session.is_closed() {
            return Ok(Outcome::Closed);
        }
        let deadline = match session.phase() {
            Phase::Authorization => login_deadline,
            _ => Instant::now() + session.limits().idle_timeout,
        };
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Ok(Outcome::Closed),
            Ok(Ok(n)) => session.handle_input(&buf[..n]),
            Err(_) => {
                session.close_with("Timeout, closing connection");
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

fn temporary(_: mailcore_store::StoreError) -> Answer {
    Answer::Reject(Refusal::temporary(
        "Temporary storage failure, try again later",
    ))
}

/// Answers one session event.
async fn handle(shared: &Shared, connection: &mut Connection, event: Event) -> Answer {
    match event {
        Event::Login {
            user,
            password,
            mechanism,
            authzid,
        } => {
            login(
                shared,
                connection,
                &user,
                &password,
                mechanism,
                authzid.as_deref(),
            )
            .await
        }
        Event::Load => load(shared, connection).await.unwrap_or_else(temporary),
        Event::Retrieve { index } => {
            let (Some(mailbox), Some(&uid)) = (connection.mailbox, connection.uids.get(index))
            else {
                return Answer::Reject(Refusal::temporary("Internal error"));
            };
            match shared.store.read_message(mailbox, uid).await {
                Ok(Some(raw)) => Answer::Message(raw),
                Ok(None) => Answer::Reject(Refusal::new(
                    Some(ResponseCode::SysPerm),
                    "Message was removed by another session",
                )),
                Err(e) => temporary(e),
            }
        }
        Event::Commit { deleted } => commit(shared, connection, &deleted)
            .await
            .unwrap_or_else(temporary),
        // Handled by `drive` before it gets here.
        _ => Answer::Reject(Refusal::temporary("Internal error")),
    }
}

async fn login(
    shared: &Shared,
    connection: &mut Connection,
    user: &str,
    password: &str,
    mechanism: Mechanism,
    authzid: Option<&str>,
) -> Answer {
    let remote = connection.info.peer.map(|p| p.ip());
    let request = mailcore_store::auth::LoginRequest::new(user, password, Protocol::Pop3, remote)
        .acting_as(authzid);
    let result = match mailcore_store::auth::login(shared.store.as_ref(), &request).await {
        Ok(r) => r,
        Err(e) => return temporary(e),
    };
    let ok = result.is_ok();
    let attempt = LoginAttempt::new(Protocol::Pop3, user, remote, mechanism.as_str(), ok);
    let decision = shared
        .hooks
        .run(&HookEvent::Login { attempt: &attempt })
        .await;
    let refused = decision.verdict.is_refusal();
    mailcore_store::auth::record_login(
        shared.store.as_ref(),
        &request,
        mechanism.as_str(),
        &result,
        refused,
        Some(connection.info.tls),
    )
    .await;
    match result {
        Ok(account) if !refused => {
            connection.info.authenticated = Some(account.address.to_string());
            connection.account = Some(account);
            Answer::Accept
        }
        Ok(_) => match decision.verdict {
            mailcore::hook::Verdict::Reject(r) | mailcore::hook::Verdict::TempFail(r) => {
                Answer::Reject(Refusal::new(Some(ResponseCode::Auth), r.text()))
            }
            _ => Answer::Reject(Refusal::credentials()),
        },
        Err(_) => Answer::Reject(Refusal::credentials()),
    }
}

async fn load(shared: &Shared, connection: &mut Connection) -> mailcore_store::Result<Answer> {
    let Some(account) = &connection.account else {
        return Ok(Answer::Reject(Refusal::temporary("Internal error")));
    };
    let Some(inbox) = shared.store.mailbox(account.id, INBOX).await? else {
        return Ok(Answer::Reject(Refusal::new(
            Some(ResponseCode::SysPerm),
            "No INBOX for this account",
        )));
    };
    let Some(lock) = shared.locks.take(inbox.id) else {
        return Ok(Answer::Reject(Refusal::new(
            Some(ResponseCode::InUse),
            "Maildrop already locked",
        )));
    };
    let mut messages = shared.store.messages(inbox.id, 1..=u32::MAX).await?;
    messages.truncate(shared.config.session.limits.max_messages);
    connection.uids = messages.iter().map(|m| m.uid).collect();
    connection.mailbox = Some(inbox.id);
    connection.lock = Some(lock);
    Ok(Answer::Maildrop(
        messages
            .iter()
            .map(|m| Entry {
                uid: UniqueId::from_parts(inbox.uid_validity, m.uid.0),
                size: m.size,
            })
            .collect(),
    ))
}

async fn commit(
    shared: &Shared,
    connection: &mut Connection,
    deleted: &[usize],
) -> mailcore_store::Result<Answer> {
    let lock = connection.lock.take();
    let Some(mailbox) = connection.mailbox else {
        return Ok(Answer::Accept);
    };
    let uids: Vec<Uid> = deleted
        .iter()
        .filter_map(|&i| connection.uids.get(i).copied())
        .collect();
    if !uids.is_empty() {
        let change = FlagChange::Add(Flags {
            deleted: true,
            ..Flags::default()
        });
        shared
            .store
            .store_flags(mailbox, &uids, &change, None)
            .await?;
        shared.store.expunge(mailbox, Some(&uids)).await?;
    }
    drop(lock);
    Ok(Answer::Accept)
}
