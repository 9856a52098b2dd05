//! Local delivery: the [`Handler`] that validates senders and recipients against the
//! directory, runs the hook chain at every stage, and stores messages durably (local
//! recipients) or queues them (external recipients of submission).
//!
//! ```text
//!  RCPT ─► domain local? ─► resolve: account / alias / group / unknown (550 5.1.1)
//!            │ no: submission → queue;  MX → relay only for trusted networks (554 5.7.1)
//!  DATA ─► parse ─► hooks (Message) ─► Received + hook headers ─► expand groups
//!        ─► hooks (BeforeDelivery, per account) ─► quota ─► store.deliver (one fsync)
//!        ─► queue external ─► hooks (AfterDelivery) ─► mail log ─► 250
//! ```

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use mailcore::address::{Domain, EmailAddress, ForwardPath, ReversePath};
use mailcore::envelope::Envelope;
use mailcore::hook::{
    DeliveryOutcome, Event as HookEvent, HookChain, LoginAttempt, Modification, Protocol, Verdict,
};
use mailcore::message::{DateTime, Message};
use mailcore::reply::Reply;
use mailcore_store::Backend;
use mailcore_store::directory::{Account, Resolved, address_key};
use mailcore_store::log::{LogKind, NewLogRecord};
use mailcore_store::mailbox::{DeliveryTarget, INBOX, MailboxId};
use mailcore_store::queue::NewQueueEntry;

use crate::server::{Connection, Handler};
use crate::session::{Answer, Event, reply};

pub use mailcore::net::Network;

/// Settings of local delivery.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct DeliveryConfig {
    /// Our host name, for `Received:`.
    pub hostname: String,
    /// Networks allowed to relay through the MX listener without authentication (none by
    /// default — not even loopback).
    pub trusted_networks: Vec<Network>,
    /// Deepest nesting of groups within groups (default 8).
    pub max_group_depth: usize,
}

impl DeliveryConfig {
    /// Defaults for `hostname`.
    pub fn new(hostname: &str) -> DeliveryConfig {
        DeliveryConfig {
            hostname: hostname.to_owned(),
            trusted_networks: Vec::new(),
            max_group_depth: 8,
        }
    }
}

/// The delivery handler.
pub struct LocalDelivery {
    store: Arc<dyn Backend>,
    hooks: HookChain,
    config: DeliveryConfig,
}

fn temporary(e: impl std::fmt::Display) -> Reply {
    reply(
        451,
        "4.3.0",
        &format!("Temporary local problem: {}", one_line(&e.to_string())),
    )
}

fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect()
}

fn verdict_answer(verdict: Verdict) -> Option<Answer> {
    match verdict {
        Verdict::Reject(r) | Verdict::TempFail(r) => Some(Answer::Reject(r)),
        _ => None,
    }
}

fn now() -> i64 {
    mailcore_store::now()
}

/// What one envelope recipient expands to.
#[derive(Default)]
struct Expansion {
    accounts: BTreeMap<i64, Account>,
    external: Vec<EmailAddress>,
}

impl LocalDelivery {
    /// A handler over `store` running `hooks`.
    pub fn new(store: Arc<dyn Backend>, hooks: HookChain, config: DeliveryConfig) -> LocalDelivery {
        LocalDelivery {
            store,
            hooks,
            config,
        }
    }

    fn trusted(&self, connection: &Connection) -> bool {
        connection.info.peer.is_some_and(|p| {
            self.config
                .trusted_networks
                .iter()
                .any(|n| n.contains(p.ip()))
        })
    }

    async fn is_local(&self, domain: &Domain) -> Result<bool, Reply> {
        Ok(self
            .store
            .domain(domain)
            .await
            .map_err(temporary)?
            .is_some())
    }

    async fn postmaster(&self) -> Result<Option<EmailAddress>, Reply> {
        let domains = self.store.list_domains(None).await.map_err(temporary)?;
        Ok(domains
            .first()
            .and_then(|d| EmailAddress::parse(&format!("postmaster@{}", d.name.as_ascii())).ok()))
    }

    /// Resolves a local address. `postmaster@` a local domain always exists (RFC 5321 §4.5.1):
    /// unless an account, alias or group takes that address, it reaches the organisation's
    /// first (oldest) enabled account.
    async fn resolve_local(&self, addr: &EmailAddress) -> Result<Resolved, Reply> {
        let resolved = self.store.resolve(addr).await.map_err(temporary)?;
        if !matches!(resolved, Resolved::Unknown)
            || !addr
                .local_part()
                .as_str()
                .eq_ignore_ascii_case("postmaster")
        {
            return Ok(resolved);
        }
        let Some(domain) = self.store.domain(addr.domain()).await.map_err(temporary)? else {
            return Ok(resolved);
        };
        let accounts = self
            .store
            .list_accounts(Some(domain.org))
            .await
            .map_err(temporary)?;
        Ok(accounts
            .into_iter()
            .filter(|a| a.enabled)
            .min_by_key(|a| a.id)
            .map_or(Resolved::Unknown, Resolved::Alias))
    }

    async fn authenticate(
        &self,
        connection: &mut Connection,
        mechanism: &str,
        credentials: crate::sasl::Credentials,
    ) -> Answer {
        let invalid = || Answer::Reject(reply(535, "5.7.8", "Authentication credentials invalid"));
        let remote = connection.info.peer.map(|p| p.ip());
        // An authorization identity other than the user opens a business mailbox the user is
        // one of the users of (checked by the store).
        let request = mailcore_store::auth::LoginRequest::new(
            &credentials.authcid,
            &credentials.password,
            connection.info.protocol,
            remote,
        )
        .acting_as(credentials.authzid.as_deref());
        let result = match mailcore_store::auth::login(self.store.as_ref(), &request).await {
            Ok(r) => r,
            Err(e) => return Answer::Reject(temporary(e)),
        };
        let ok = result.is_ok();
        let account = result.as_ref().ok().cloned();
        let attempt = LoginAttempt::new(
            connection.info.protocol,
            &credentials.authcid,
            remote,
            mechanism,
            ok,
        );
        let decision = self
            .hooks
            .run(&HookEvent::Login { attempt: &attempt })
            .await;
        let refused = decision.verdict.is_refusal();
        mailcore_store::auth::record_login(
            self.store.as_ref(),
            &request,
            mechanism,
            &result,
            refused,
            Some(connection.info.tls),
        )
        .await;
        match (ok, account) {
            (true, Some(a)) if !refused => {
                connection.info.authenticated = Some(a.address.to_string());
                Answer::Accept
            }
            (true, _) => verdict_answer(decision.verdict).unwrap_or_else(invalid),
            _ => invalid(),
        }
    }

    async fn check_sender(
        &self,
        connection: &Connection,
        sender: &ReversePath,
    ) -> Result<(), Reply> {
        if connection.info.protocol != Protocol::Submission {
            return Ok(());
        }
        let not_owned = || {
            reply(
                553,
                "5.7.1",
                "Sender address not owned by the authenticated user",
            )
        };
        let user = connection
            .info
            .authenticated
            .as_deref()
            .ok_or_else(not_owned)?;
        let user: EmailAddress = user.parse().map_err(|_| not_owned())?;
        let ReversePath::Address(addr) = sender else {
            return Err(not_owned());
        };
        match self.store.resolve(addr).await.map_err(temporary)? {
            Resolved::Account(a) | Resolved::Alias(a)
                if address_key(&a.address) == address_key(&user) =>
            {
                Ok(())
            }
            Resolved::Group(g)
                if g.representatives
                    .iter()
                    .any(|r| address_key(r) == address_key(&user)) =>
            {
                Ok(())
            }
            _ => Err(not_owned()),
        }
    }

    async fn check_recipient(
        &self,
        connection: &Connection,
        path: &ForwardPath,
    ) -> Result<(), Reply> {
        let addr = match path {
            ForwardPath::Address(a) => a.clone(),
            ForwardPath::Postmaster => self
                .postmaster()
                .await?
                .ok_or_else(|| reply(550, "5.1.1", "No postmaster here"))?,
        };
        if !self.is_local(addr.domain()).await? {
            let submission = connection.info.protocol == Protocol::Submission
                && connection.info.authenticated.is_some();
            return if submission || self.trusted(connection) {
                Ok(())
            } else {
                Err(reply(554, "5.7.1", "Relay access denied"))
            };
        }
        match self.resolve_local(&addr).await? {
            Resolved::Account(a) | Resolved::Alias(a) => {
                if !a.enabled {
                    return Err(reply(550, "5.2.1", "Mailbox disabled"));
                }
                if let Some(quota) = a.quota_bytes {
                    let used = self.store.quota_usage(a.id).await.map_err(temporary)?;
                    if used.bytes >= quota {
                        return Err(reply(452, "4.2.2", "Mailbox full"));
                    }
                }
                Ok(())
            }
            Resolved::Group(_) => Ok(()),
            _ => Err(reply(550, "5.1.1", "No such user here")),
        }
    }

    /// Expands one address to local accounts and external addresses.
    async fn expand(
        &self,
        addr: &EmailAddress,
        out: &mut Expansion,
        seen: &mut HashSet<String>,
        depth: usize,
    ) -> Result<(), Reply> {
        if depth > self.config.max_group_depth || !seen.insert(address_key(addr)) {
            return Ok(());
        }
        if !self.is_local(addr.domain()).await? {
            out.external.push(addr.clone());
            return Ok(());
        }
        match self.resolve_local(addr).await? {
            Resolved::Account(a) | Resolved::Alias(a) if a.enabled => {
                out.accounts.insert(a.id.0, a);
            }
            Resolved::Group(g) => {
                let departments =
                    mailcore_store::admin::group_department_members(self.store.as_ref(), &g)
                        .await
                        .map_err(temporary)?;
                for m in g.members.iter().chain(&departments) {
                    Box::pin(self.expand(m, out, seen, depth + 1)).await?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    async fn folder(&self, account: &Account, name: &str) -> Result<MailboxId, Reply> {
        if let Some(m) = self
            .store
            .mailbox(account.id, name)
            .await
            .map_err(temporary)?
        {
            return Ok(m.id);
        }
        match self.store.create_mailbox(account.id, name, None).await {
            Ok(m) => Ok(m.id),
            Err(_) => {
                // Created concurrently, or an invalid name from a hook: fall back to the inbox.
                if let Some(m) = self
                    .store
                    .mailbox(account.id, name)
                    .await
                    .map_err(temporary)?
                {
                    return Ok(m.id);
                }
                self.store
                    .ensure_default_mailboxes(account.id)
                    .await
                    .map_err(temporary)?;
                let inbox = self
                    .store
                    .mailbox(account.id, INBOX)
                    .await
                    .map_err(temporary)?;
                inbox.map(|m| m.id).ok_or_else(|| temporary("no inbox"))
            }
        }
    }

    fn received(&self, connection: &Connection, envelope: &Envelope, id: &str) -> String {
        let helo = connection.info.helo.as_deref().unwrap_or("unknown");
        let ip = connection
            .info
            .peer
            .map_or("unknown".to_owned(), |p| p.ip().to_string());
        let with = match (connection.info.tls, connection.info.authenticated.is_some()) {
            (true, true) => "ESMTPSA",
            (true, false) => "ESMTPS",
            (false, true) => "ESMTPA",
            (false, false) => "ESMTP",
        };
        let with = if envelope.params.smtputf8 {
            with.replace("ESMTP", "UTF8SMTP")
        } else {
            with.to_owned()
        };
        let for_clause = match envelope.recipients.as_slice() {
            [one] => format!("\r\n\tfor {}", one.path),
            _ => String::new(),
        };
        let date = DateTime {
            timestamp: now(),
            offset_minutes: 0,
        }
        .to_rfc5322();
        format!(
            "Received: from {helo} ([{ip}])\r\n\tby {} (mailcore) with {with} id {id}{for_clause};\r\n\t{date}\r\n",
            self.config.hostname
        )
    }

    async fn deliver(
        &self,
        connection: &mut Connection,
        mut envelope: Envelope,
        data: Vec<u8>,
    ) -> Answer {
        let raw = Bytes::from(data);
        let message = Message::parse(raw.clone());
        let decision = self
            .hooks
            .run(&HookEvent::Message {
                session: &connection.info,
                envelope: &envelope,
                message: &message,
            })
            .await;
        let id = format!("{:x}{:04x}", now(), connection.info.id & 0xffff);
        match decision.verdict {
            Verdict::Reject(r) | Verdict::TempFail(r) => return Answer::Reject(r),
            Verdict::Discard => {
                self.log_sent(&envelope, &message, "discarded", false).await;
                return Answer::AcceptWith(reply(250, "2.0.0", &format!("Ok: {id}")));
            }
            Verdict::Quarantine { .. } => {
                return Answer::Reject(reply(
                    451,
                    "4.7.1",
                    "Message held for review is not possible yet; try later",
                ));
            }
            _ => {}
        }
        // Apply the hooks' changes.
        let mut prefix = self.received(connection, &envelope, &id);
        let mut removed: Vec<String> = Vec::new();
        for m in &decision.modifications {
            match m {
                Modification::AddHeader(h) => {
                    prefix.push_str(&format!("{}: {}\r\n", h.name(), h.value()))
                }
                Modification::RemoveHeader(name) => removed.push(name.to_ascii_lowercase()),
                Modification::SetSender(s) => envelope.sender = s.clone(),
                Modification::AddRecipient(a) => envelope
                    .recipients
                    .push(mailcore::envelope::Recipient::new(a.clone())),
                Modification::RemoveRecipient(a) => envelope.recipients.retain(|r| {
                    r.path
                        .address()
                        .is_none_or(|x| address_key(x) != address_key(a))
                }),
                _ => {}
            }
        }
        let mut full = prefix.into_bytes();
        full.extend_from_slice(&strip_headers(&raw, &removed));
        let full = Bytes::from(full);
        let size = full.len() as u64;

        let mut expansion = Expansion::default();
        let mut seen = HashSet::new();
        for r in &envelope.recipients {
            let addr = match &r.path {
                ForwardPath::Address(a) => Some(a.clone()),
                ForwardPath::Postmaster => match self.postmaster().await {
                    Ok(p) => p,
                    Err(r) => return Answer::Reject(r),
                },
            };
            if let Some(addr) = addr
                && let Err(r) = self.expand(&addr, &mut expansion, &mut seen, 0).await
            {
                return Answer::Reject(r);
            }
        }
        let mut targets = Vec::new();
        let mut delivered_to = Vec::new();
        let mut over_quota: Vec<EmailAddress> = Vec::new();
        for account in expansion.accounts.values() {
            let before = self
                .hooks
                .run(&HookEvent::BeforeDelivery {
                    envelope: &envelope,
                    message: &message,
                    recipient: &account.address,
                    folder: INBOX,
                })
                .await;
            match before.verdict {
                Verdict::Reject(_)
                | Verdict::TempFail(_)
                | Verdict::Discard
                | Verdict::Quarantine { .. } => continue,
                _ => {}
            }
            if let Some(quota) = account.quota_bytes {
                match self.store.quota_usage(account.id).await {
                    Ok(u) if u.bytes + size > quota => {
                        // One full mailbox must not hold up the others (a group, several
                        // recipients): skip it and record why.
                        over_quota.push(account.address.clone());
                        continue;
                    }
                    Ok(_) => {}
                    Err(e) => return Answer::Reject(temporary(e)),
                }
            }
            let folder = before.folder.unwrap_or_else(|| INBOX.to_owned());
            let mailbox = match self.folder(account, &folder).await {
                Ok(m) => m,
                Err(r) => return Answer::Reject(r),
            };
            targets.push(DeliveryTarget {
                mailbox,
                flags: Default::default(),
            });
            delivered_to.push((account.address.clone(), folder));
        }
        if targets.is_empty() && expansion.external.is_empty() && !over_quota.is_empty() {
            // Nobody could take it: let the sender retry later.
            return Answer::Reject(reply(452, "4.2.2", "Mailbox full"));
        }
        for full in &over_quota {
            let outcome = DeliveryOutcome::Failed(reply(452, "4.2.2", "Mailbox full"));
            self.hooks
                .run(&HookEvent::AfterDelivery {
                    envelope: &envelope,
                    message: &message,
                    recipient: full,
                    outcome: &outcome,
                })
                .await;
            if let Some(account) = expansion
                .accounts
                .values()
                .find(|a| address_key(&a.address) == address_key(full))
            {
                let local_sender = self.local_sender(&envelope).await.is_some();
                self.log_received(&envelope, &message, account, "mailbox full", local_sender)
                    .await;
            }
        }
        if !targets.is_empty()
            && let Err(e) = self.store.deliver(full.clone(), now(), &targets).await
        {
            return Answer::Reject(temporary(e));
        }
        if !expansion.external.is_empty() {
            let entry = NewQueueEntry {
                sender: envelope.sender.clone(),
                recipients: expansion.external.clone(),
                raw: full.clone(),
                next_attempt: now(),
            };
            if let Err(e) = self.store.enqueue(entry).await {
                return Answer::Reject(temporary(e));
            }
        }
        for (addr, folder) in &delivered_to {
            let outcome = DeliveryOutcome::Delivered {
                folder: folder.clone(),
            };
            self.hooks
                .run(&HookEvent::AfterDelivery {
                    envelope: &envelope,
                    message: &message,
                    recipient: addr,
                    outcome: &outcome,
                })
                .await;
        }
        let local_sender = self
            .log_sent(
                &envelope,
                &message,
                "delivered",
                expansion.external.is_empty(),
            )
            .await;
        for (addr, _) in &delivered_to {
            if let Some(account) = expansion
                .accounts
                .values()
                .find(|a| address_key(&a.address) == address_key(addr))
            {
                self.log_received(&envelope, &message, account, "delivered", local_sender)
                    .await;
            }
        }
        Answer::AcceptWith(reply(
            250,
            "2.0.0",
            &format!(
                "Ok: {id} delivered to {} mailbox(es), {} queued",
                targets.len(),
                expansion.external.len()
            ),
        ))
    }

    /// The sender's local account, if the envelope sender is one of ours.
    async fn local_sender(&self, envelope: &Envelope) -> Option<Account> {
        let addr = envelope.sender.address()?;
        match self.store.resolve(addr).await {
            Ok(Resolved::Account(a) | Resolved::Alias(a)) => Some(a),
            _ => None,
        }
    }

    /// Records the transaction as sent by a local member (when the sender is one); returns
    /// whether it was. `internal`: every recipient is local.
    async fn log_sent(
        &self,
        envelope: &Envelope,
        message: &Message,
        result: &str,
        internal: bool,
    ) -> bool {
        let Some(sender) = self.local_sender(envelope).await else {
            return false;
        };
        let to = envelope
            .recipients
            .iter()
            .map(|r| r.path.to_string())
            .collect();
        self.log_mail(envelope, message, &sender, to, result, "sent", internal)
            .await;
        true
    }

    /// Records the message as received by one local account.
    async fn log_received(
        &self,
        envelope: &Envelope,
        message: &Message,
        account: &Account,
        result: &str,
        internal: bool,
    ) {
        let to = vec![account.address.to_string()];
        self.log_mail(envelope, message, account, to, result, "received", internal)
            .await;
    }

    /// Appends one mail-log record filed under `account` and its organisation.
    #[allow(clippy::too_many_arguments)]
    async fn log_mail(
        &self,
        envelope: &Envelope,
        message: &Message,
        account: &Account,
        to: Vec<String>,
        result: &str,
        direction: &str,
        internal: bool,
    ) {
        let _ = self
            .store
            .append_log(NewLogRecord {
                kind: LogKind::Mail,
                time: now(),
                org: Some(account.org),
                account: Some(account.address.to_string()),
                data: serde_json::json!({
                    "from": envelope.sender.to_string(),
                    "to": to,
                    "subject": message.subject(),
                    "size": message.raw().len(),
                    "result": result,
                    "direction": direction,
                    "internal": internal,
                }),
            })
            .await;
    }
}

/// Removes every field named in `names` (lowercase) from the header section.
fn strip_headers(raw: &[u8], names: &[String]) -> Vec<u8> {
    if names.is_empty() {
        return raw.to_vec();
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut pos = 0;
    let mut skipping = false;
    while pos < raw.len() {
        let end = memchr::memchr(b'\n', &raw[pos..]).map_or(raw.len(), |i| pos + i + 1);
        let line = &raw[pos..end];
        if line == b"\r\n" || line == b"\n" {
            out.extend_from_slice(&raw[pos..]);
            return out;
        }
        if line[0] == b' ' || line[0] == b'\t' {
            if !skipping {
                out.extend_from_slice(line);
            }
        } else {
            let name = line.split(|&b| b == b':').next().unwrap_or_default();
            let name = String::from_utf8_lossy(name).trim().to_ascii_lowercase();
            skipping = names.contains(&name);
            if !skipping {
                out.extend_from_slice(line);
            }
        }
        pos = end;
    }
    out
}

#[async_trait]
impl Handler for LocalDelivery {
    async fn connect(&self, connection: &Connection) -> Option<Reply> {
        let decision = self
            .hooks
            .run(&HookEvent::Connect {
                session: &connection.info,
            })
            .await;
        match decision.verdict {
            Verdict::Reject(r) | Verdict::TempFail(r) => Some(r),
            _ => None,
        }
    }

    async fn event(&self, connection: &mut Connection, event: Event) -> Answer {
        match event {
            Event::Ehlo { name } => {
                let d = self
                    .hooks
                    .run(&HookEvent::Ehlo {
                        session: &connection.info,
                        name: &name,
                    })
                    .await;
                verdict_answer(d.verdict).unwrap_or(Answer::Accept)
            }
            Event::Auth {
                mechanism,
                credentials,
            } => {
                let d = self
                    .hooks
                    .run(&HookEvent::Auth {
                        session: &connection.info,
                        mechanism,
                    })
                    .await;
                if let Some(a) = verdict_answer(d.verdict) {
                    return a;
                }
                self.authenticate(connection, mechanism, credentials).await
            }
            Event::Mail { sender, params } => {
                if let Err(r) = self.check_sender(connection, &sender).await {
                    return Answer::Reject(r);
                }
                let d = self
                    .hooks
                    .run(&HookEvent::MailFrom {
                        session: &connection.info,
                        sender: &sender,
                        params: &params,
                    })
                    .await;
                if let Some(a) = verdict_answer(d.verdict) {
                    return a;
                }
                connection.envelope = Some(Envelope::new(sender, params));
                Answer::Accept
            }
            Event::Rcpt { recipient } => {
                if let Err(r) = self.check_recipient(connection, &recipient.path).await {
                    return Answer::Reject(r);
                }
                let Some(envelope) = connection.envelope.as_ref() else {
                    return Answer::Reject(reply(503, "5.5.1", "Need MAIL command"));
                };
                let d = self
                    .hooks
                    .run(&HookEvent::RcptTo {
                        session: &connection.info,
                        envelope,
                        recipient: &recipient,
                    })
                    .await;
                if let Some(a) = verdict_answer(d.verdict) {
                    return a;
                }
                if let Some(e) = connection.envelope.as_mut() {
                    e.recipients.push(recipient);
                }
                Answer::Accept
            }
            Event::Message { envelope, data } => {
                connection.envelope = None;
                self.deliver(connection, envelope, data).await
            }
            Event::StartTls => Answer::Accept,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks() {
        let n = Network::parse("10.0.0.0/8").unwrap();
        assert!(n.contains("10.1.2.3".parse().unwrap()));
        assert!(!n.contains("11.0.0.1".parse().unwrap()));
        assert!(
            Network::parse("::1")
                .unwrap()
                .contains("::1".parse().unwrap())
        );
        assert!(
            Network::parse("0.0.0.0/0")
                .unwrap()
                .contains("1.2.3.4".parse().unwrap())
        );
        assert!(Network::parse("1.2.3.4/33").is_none());
    }

    #[test]
    fn header_stripping() {
        let raw = b"X-Spam: yes\r\n  folded\r\nSubject: hi\r\nx-spam: again\r\n\r\nX-Spam: body stays\r\n";
        assert_eq!(
            strip_headers(raw, &["x-spam".into()]),
            b"Subject: hi\r\n\r\nX-Spam: body stays\r\n"
        );
    }
}
