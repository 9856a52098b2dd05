//! The hook model: how policies, filters and embedding products take part in every stage of
//! mail handling without touching the protocol sessions.
//!
//! A [`Hook`] sees [`Event`]s and answers each with an [`Action`]. Hooks are kept, in order,
//! in a [`HookChain`]; the SMTP, IMAP and POP3 sessions, the delivery path and the admin API
//! run the chain at each [`Stage`] and obey the resulting [`Decision`].
//!
//! ```text
//!  SMTP session                         delivery                        any protocol / admin
//!  ───────────────────────────────────  ──────────────────────────────  ────────────────────
//!  Connect ─► Ehlo ─► Auth ─► MailFrom   BeforeDelivery ─► store ─►       Login     Admin
//!        ─► RcptTo (each) ─► Message ─►    (each recipient)  AfterDelivery
//!                │
//!                ▼  at every stage:
//!      HookChain::run(event) ── hook 1 ── hook 2 ── … ── hook n ──► Decision
//!                                 │          │
//!          Continue / Modify / FileInto: go on to the next hook (changes accumulate)
//!          Accept: stop, accept;  Reject / TempFail: stop, refuse with the reply;
//!          Discard / Quarantine: stop, take the message but do not deliver it
//! ```
//!
//! Rules the chain enforces, so that every session behaves alike:
//! - Hooks run in the order they were added; a hook only sees the stages in
//!   [`Hook::stages`], and a chain with no hook for a stage returns at once without calling
//!   anything (no allocation, no await).
//! - `Reject` carrying a 4xx reply is a temporary failure and `TempFail` carrying a 5xx reply is
//!   a permanent one: the reply code decides.
//! - Changes ([`Action::Modify`]) and folder redirects ([`Action::FileInto`]) are only
//!   meaningful during a mail transaction (`MailFrom` to `BeforeDelivery`); elsewhere, and
//!   any verdict at `AfterDelivery` (which only observes), they are ignored and listed in
//!   [`Decision::ignored`].
//! - `Discard` and `Quarantine` given before the message is received (at `MailFrom` or
//!   `RcptTo`) apply to the whole transaction once the message arrives, as in Postfix.
//!
//! # Example: a subject keyword filter
//!
//! ```
//! use async_trait::async_trait;
//! use mailcore::hook::{Action, Event, Hook, HookChain, Stage, StageSet, Verdict};
//! use mailcore::message::Message;
//! use mailcore::reply::Reply;
//!
//! struct KeywordFilter {
//!     keywords: Vec<String>,
//! }
//!
//! #[async_trait]
//! impl Hook for KeywordFilter {
//!     fn name(&self) -> &str {
//!         "keyword-filter"
//!     }
//!     fn stages(&self) -> StageSet {
//!         StageSet::of(&[Stage::Message])
//!     }
//!     async fn on_event(&self, event: &Event<'_>) -> Action {
//!         let Event::Message { message, .. } = event else { return Action::Continue };
//!         let subject = message.subject().unwrap_or_default();
//!         if self.keywords.iter().any(|k| subject.contains(k.as_str())) {
//!             return match Reply::new(550, Some("5.7.1"), "Message refused by content policy") {
//!                 Ok(reply) => Action::Reject(reply),
//!                 Err(_) => Action::Continue,
//!             };
//!         }
//!         Action::Continue
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let mut chain = HookChain::new();
//! chain.push(KeywordFilter { keywords: vec!["发票".into()] });
//! let message = Message::parse(&b"Subject: =?utf-8?B?5Luj5byA5Y+R56Wo?=\r\n\r\nbuy now"[..]);
//! let envelope = mailcore::envelope::Envelope::new(
//!     mailcore::address::ReversePath::Null,
//!     Default::default(),
//! );
//! let session = mailcore::hook::SessionInfo::new(1, mailcore::hook::Protocol::Smtp);
//! let decision = chain
//!     .run(&Event::Message { session: &session, envelope: &envelope, message: &message })
//!     .await;
//! assert!(matches!(decision.verdict, Verdict::Reject(ref r) if r.code() == 550));
//! assert_eq!(decision.decided_by.as_deref(), Some("keyword-filter"));
//! # });
//! ```

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use async_trait::async_trait;

use crate::address::{EmailAddress, ReversePath};
use crate::envelope::{Envelope, MailParameters, Recipient};
use crate::message::Message;
use crate::reply::Reply;

/// A point in mail handling where hooks run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Stage {
    /// A client connected (SMTP, IMAP, POP3).
    Connect,
    /// SMTP `EHLO`/`HELO`.
    Ehlo,
    /// An SMTP `AUTH` attempt, before credentials are checked.
    Auth,
    /// SMTP `MAIL FROM`.
    MailFrom,
    /// SMTP `RCPT TO`, once per recipient.
    RcptTo,
    /// The whole message has been received (end of `DATA`/`BDAT LAST`), before it is accepted.
    Message,
    /// About to deliver to one recipient's mailbox (after alias/group expansion).
    BeforeDelivery,
    /// Delivered to (or failed for) one recipient; observe only.
    AfterDelivery,
    /// A login on any protocol, after credentials were checked.
    Login,
    /// An administrative action, before it takes effect.
    Admin,
}

impl Stage {
    /// Every stage, in the order of the diagram.
    pub const ALL: [Stage; 10] = [
        Stage::Connect,
        Stage::Ehlo,
        Stage::Auth,
        Stage::MailFrom,
        Stage::RcptTo,
        Stage::Message,
        Stage::BeforeDelivery,
        Stage::AfterDelivery,
        Stage::Login,
        Stage::Admin,
    ];

    fn bit(self) -> u16 {
        1 << (self as u16)
    }

    /// Whether the stage is part of a mail transaction (changes and redirects apply).
    pub fn in_transaction(self) -> bool {
        matches!(
            self,
            Stage::MailFrom | Stage::RcptTo | Stage::Message | Stage::BeforeDelivery
        )
    }
}

/// A set of stages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct StageSet(u16);

impl StageSet {
    /// No stage.
    pub const NONE: StageSet = StageSet(0);
    /// Every stage.
    pub const ALL: StageSet = StageSet((1 << Stage::ALL.len()) - 1);

    /// The set of the given stages.
    pub fn of(stages: &[Stage]) -> StageSet {
        StageSet(stages.iter().fold(0, |acc, s| acc | s.bit()))
    }

    /// Whether `stage` is in the set.
    pub fn contains(self, stage: Stage) -> bool {
        self.0 & stage.bit() != 0
    }

    /// The union of two sets.
    pub fn union(self, other: StageSet) -> StageSet {
        StageSet(self.0 | other.0)
    }
}

/// The protocol a session speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Protocol {
    /// SMTP on an MX listener.
    Smtp,
    /// SMTP submission (587/465).
    Submission,
    /// IMAP.
    Imap,
    /// POP3.
    Pop3,
    /// The admin HTTP API.
    Http,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Smtp => "smtp",
            Protocol::Submission => "submission",
            Protocol::Imap => "imap",
            Protocol::Pop3 => "pop3",
            Protocol::Http => "http",
        })
    }
}

/// What hooks know about a client session.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionInfo {
    /// Unique id of the session (for logs).
    pub id: u64,
    /// The protocol.
    pub protocol: Protocol,
    /// The client's address, when known.
    pub peer: Option<SocketAddr>,
    /// Our address the client connected to, when known.
    pub local: Option<SocketAddr>,
    /// Whether the connection is encrypted.
    pub tls: bool,
    /// The `EHLO`/`HELO` name given, if any.
    pub helo: Option<String>,
    /// The authenticated user, if any.
    pub authenticated: Option<String>,
}

impl SessionInfo {
    /// A session with nothing known but its id and protocol.
    pub fn new(id: u64, protocol: Protocol) -> SessionInfo {
        SessionInfo {
            id,
            protocol,
            peer: None,
            local: None,
            tls: false,
            helo: None,
            authenticated: None,
        }
    }
}

/// A login attempt on any protocol, after the credentials were checked.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoginAttempt {
    /// The protocol.
    pub protocol: Protocol,
    /// The user name as given.
    pub user: String,
    /// The client's IP address, when known.
    pub remote: Option<IpAddr>,
    /// The SASL mechanism or command (`PLAIN`, `LOGIN`, `USER`, …).
    pub mechanism: String,
    /// Whether the credentials were right. Hooks can still refuse a successful login.
    pub credentials_ok: bool,
}

impl LoginAttempt {
    /// Describes an attempt.
    pub fn new(
        protocol: Protocol,
        user: &str,
        remote: Option<IpAddr>,
        mechanism: &str,
        credentials_ok: bool,
    ) -> Self {
        LoginAttempt {
            protocol,
            user: user.to_owned(),
            remote,
            mechanism: mechanism.to_owned(),
            credentials_ok,
        }
    }
}

/// An administrative action about to take effect.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AdminEvent {
    /// Who acts (an administrator's address or a token name).
    pub actor: String,
    /// What is done, e.g. `member.delete`.
    pub action: String,
    /// What it is done to, e.g. an address.
    pub target: String,
}

impl AdminEvent {
    /// Describes an action.
    pub fn new(actor: &str, action: &str, target: &str) -> AdminEvent {
        AdminEvent {
            actor: actor.to_owned(),
            action: action.to_owned(),
            target: target.to_owned(),
        }
    }
}

/// How a delivery to one recipient ended.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeliveryOutcome {
    /// Stored in this folder.
    Delivered {
        /// The folder.
        folder: String,
    },
    /// Refused or failed.
    Failed(Reply),
    /// Dropped on a hook's `Discard`.
    Discarded,
    /// Held on a hook's `Quarantine`.
    Quarantined,
}

/// What a hook is shown. Borrowed from the session, so running hooks copies nothing.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum Event<'a> {
    /// A client connected.
    Connect {
        /// The session.
        session: &'a SessionInfo,
    },
    /// `EHLO`/`HELO`.
    Ehlo {
        /// The session.
        session: &'a SessionInfo,
        /// The name the client gave.
        name: &'a str,
    },
    /// An `AUTH` attempt before credentials are checked.
    Auth {
        /// The session.
        session: &'a SessionInfo,
        /// The SASL mechanism.
        mechanism: &'a str,
    },
    /// `MAIL FROM`.
    MailFrom {
        /// The session.
        session: &'a SessionInfo,
        /// The reverse path.
        sender: &'a ReversePath,
        /// Its parameters.
        params: &'a MailParameters,
    },
    /// `RCPT TO`.
    RcptTo {
        /// The session.
        session: &'a SessionInfo,
        /// The envelope so far (recipients accepted before this one).
        envelope: &'a Envelope,
        /// The recipient being added.
        recipient: &'a Recipient,
    },
    /// The message is received.
    Message {
        /// The session.
        session: &'a SessionInfo,
        /// The complete envelope.
        envelope: &'a Envelope,
        /// The parsed message.
        message: &'a Message,
    },
    /// About to deliver to one local recipient.
    BeforeDelivery {
        /// The envelope.
        envelope: &'a Envelope,
        /// The message.
        message: &'a Message,
        /// The final recipient (after alias/group expansion).
        recipient: &'a EmailAddress,
        /// The folder it would go to.
        folder: &'a str,
    },
    /// Delivery to one recipient ended.
    AfterDelivery {
        /// The envelope.
        envelope: &'a Envelope,
        /// The message.
        message: &'a Message,
        /// The final recipient.
        recipient: &'a EmailAddress,
        /// How it ended.
        outcome: &'a DeliveryOutcome,
    },
    /// A login on any protocol.
    Login {
        /// The attempt.
        attempt: &'a LoginAttempt,
    },
    /// An admin action.
    Admin {
        /// The action.
        event: &'a AdminEvent,
    },
}

impl Event<'_> {
    /// The stage this event belongs to.
    pub fn stage(&self) -> Stage {
        match self {
            Event::Connect { .. } => Stage::Connect,
            Event::Ehlo { .. } => Stage::Ehlo,
            Event::Auth { .. } => Stage::Auth,
            Event::MailFrom { .. } => Stage::MailFrom,
            Event::RcptTo { .. } => Stage::RcptTo,
            Event::Message { .. } => Stage::Message,
            Event::BeforeDelivery { .. } => Stage::BeforeDelivery,
            Event::AfterDelivery { .. } => Stage::AfterDelivery,
            Event::Login { .. } => Stage::Login,
            Event::Admin { .. } => Stage::Admin,
        }
    }
}

/// Why a header change was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HookError {
    /// The field name is not 1–76 printable ASCII characters without `:`.
    #[error("invalid header field name")]
    FieldName,
    /// The value contains a line break that is not folding, or a NUL.
    #[error("invalid header field value")]
    FieldValue,
}

/// A header field to add, checked so that a hook cannot break the message framing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewHeader {
    name: String,
    value: String,
}

impl NewHeader {
    /// A field `name: value`; the value must be one line (it is folded when written).
    pub fn new(name: &str, value: &str) -> Result<NewHeader, HookError> {
        if name.is_empty()
            || name.len() > 76
            || !name.bytes().all(|b| (33..=126).contains(&b) && b != b':')
        {
            return Err(HookError::FieldName);
        }
        if value.contains(['\r', '\n', '\0']) {
            return Err(HookError::FieldValue);
        }
        Ok(NewHeader {
            name: name.to_owned(),
            value: value.to_owned(),
        })
    }

    /// The field name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The value.
    pub fn value(&self) -> &str {
        &self.value
    }
}

/// A change a hook asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Modification {
    /// Prepend a header field.
    AddHeader(NewHeader),
    /// Remove every field of this name (case-insensitive).
    RemoveHeader(String),
    /// Replace the envelope sender.
    SetSender(ReversePath),
    /// Add an envelope recipient.
    AddRecipient(EmailAddress),
    /// Remove an envelope recipient.
    RemoveRecipient(EmailAddress),
}

/// A hook's answer to one event.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// No opinion: go on with the next hook.
    Continue,
    /// Accept now; later hooks are not asked.
    Accept,
    /// Refuse permanently with this reply (a 4xx reply makes it temporary).
    Reject(Reply),
    /// Refuse temporarily with this reply (a 5xx reply makes it permanent).
    TempFail(Reply),
    /// Accept the message but deliver it nowhere.
    Discard,
    /// Accept the message and hold it for review instead of delivering it.
    Quarantine {
        /// Why, for the reviewer.
        reason: String,
    },
    /// Apply these changes and go on.
    Modify(Vec<Modification>),
    /// Deliver into this folder instead of the default one, and go on.
    FileInto(String),
}

/// The chain's overall verdict for one event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// Nobody objected: carry on as the session would.
    #[default]
    Continue,
    /// A hook accepted explicitly.
    Accept,
    /// Refuse permanently.
    Reject(Reply),
    /// Refuse temporarily.
    TempFail(Reply),
    /// Take the message, deliver nothing.
    Discard,
    /// Take the message, hold it.
    Quarantine {
        /// Why.
        reason: String,
    },
}

impl Verdict {
    /// Whether the verdict refuses (`Reject` or `TempFail`).
    pub fn is_refusal(&self) -> bool {
        matches!(self, Verdict::Reject(_) | Verdict::TempFail(_))
    }
}

/// What the chain decided for one event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Decision {
    /// The verdict.
    pub verdict: Verdict,
    /// Changes to apply, in the order the hooks asked for them.
    pub modifications: Vec<Modification>,
    /// The folder to deliver into, if a hook redirected (the last redirect wins).
    pub folder: Option<String>,
    /// The hook that ended the chain, if one did.
    pub decided_by: Option<String>,
    /// Hooks whose answers did not apply at this stage, with what they answered.
    pub ignored: Vec<(String, Action)>,
}

/// A plugin that takes part in mail handling. See the [module docs](self).
#[async_trait]
pub trait Hook: Send + Sync {
    /// A short name for logs and [`Decision::decided_by`].
    fn name(&self) -> &str;

    /// The stages this hook wants to see (all by default). The chain never calls
    /// [`Hook::on_event`] for other stages.
    fn stages(&self) -> StageSet {
        StageSet::ALL
    }

    /// Answers one event.
    async fn on_event(&self, event: &Event<'_>) -> Action;
}

/// An ordered list of hooks, run as one.
#[derive(Clone, Default)]
pub struct HookChain {
    hooks: Vec<(Arc<dyn Hook>, StageSet)>,
    interest: StageSet,
}

impl fmt::Debug for HookChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.hooks.iter().map(|(h, _)| h.name()))
            .finish()
    }
}

impl HookChain {
    /// An empty chain.
    pub fn new() -> HookChain {
        HookChain::default()
    }

    /// Appends a hook; it runs after the hooks already there.
    pub fn push(&mut self, hook: impl Hook + 'static) -> &mut Self {
        self.push_arc(Arc::new(hook))
    }

    /// Appends a shared hook.
    pub fn push_arc(&mut self, hook: Arc<dyn Hook>) -> &mut Self {
        let stages = hook.stages();
        self.interest = self.interest.union(stages);
        self.hooks.push((hook, stages));
        self
    }

    /// The number of hooks.
    pub fn len(&self) -> usize {
        self.hooks.len()
    }

    /// Whether the chain has no hooks.
    pub fn is_empty(&self) -> bool {
        self.hooks.is_empty()
    }

    /// Whether any hook wants to see `stage`; sessions can skip building events otherwise.
    pub fn wants(&self, stage: Stage) -> bool {
        self.interest.contains(stage)
    }

    /// Runs the hooks that want this event's stage, in order, and combines their answers.
    pub async fn run(&self, event: &Event<'_>) -> Decision {
        let stage = event.stage();
        let mut decision = Decision::default();
        if !self.wants(stage) {
            return decision;
        }
        for (hook, stages) in &self.hooks {
            if !stages.contains(stage) {
                continue;
            }
            let action = hook.on_event(event).await;
            if stage == Stage::AfterDelivery && action != Action::Continue {
                decision.ignored.push((hook.name().to_owned(), action));
                continue;
            }
            let verdict = match action {
                Action::Continue => continue,
                Action::Modify(changes) if stage.in_transaction() => {
                    decision.modifications.extend(changes);
                    continue;
                }
                Action::FileInto(folder) if stage.in_transaction() => {
                    decision.folder = Some(folder);
                    continue;
                }
                Action::Discard if stage.in_transaction() => Verdict::Discard,
                Action::Quarantine { reason } if stage.in_transaction() => {
                    Verdict::Quarantine { reason }
                }
                a @ (Action::Modify(_)
                | Action::FileInto(_)
                | Action::Discard
                | Action::Quarantine { .. }) => {
                    decision.ignored.push((hook.name().to_owned(), a));
                    continue;
                }
                Action::Accept => Verdict::Accept,
                Action::Reject(r) | Action::TempFail(r) if r.is_transient() => Verdict::TempFail(r),
                Action::Reject(r) | Action::TempFail(r) => Verdict::Reject(r),
            };
            decision.verdict = verdict;
            decision.decided_by = Some(hook.name().to_owned());
            break;
        }
        decision
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_sets() {
        let s = StageSet::of(&[Stage::Connect, Stage::Admin]);
        assert!(s.contains(Stage::Admin) && !s.contains(Stage::Login));
        assert!(Stage::ALL.iter().all(|&st| StageSet::ALL.contains(st)));
        assert!(!StageSet::NONE.contains(Stage::Connect));
    }

    #[test]
    fn new_header_checks() {
        assert!(NewHeader::new("X-Spam", "yes").is_ok());
        assert!(NewHeader::new("X Spam", "yes").is_err());
        assert!(NewHeader::new("X-Spam", "yes\r\nBcc: evil@example.com").is_err());
    }
}
