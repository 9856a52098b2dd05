//! The hook chain: ordering, stage filtering, verdict rules.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use mailcore::address::{EmailAddress, ReversePath};
use mailcore::envelope::{Envelope, MailParameters, Recipient};
use mailcore::hook::{
    Action, DeliveryOutcome, Event, Hook, HookChain, LoginAttempt, Modification, NewHeader,
    Protocol, SessionInfo, Stage, StageSet, Verdict,
};
use mailcore::message::Message;
use mailcore::reply::Reply;

/// A hook that counts its calls and answers with a fixed action.
struct Fixed {
    name: &'static str,
    stages: StageSet,
    action: Action,
    calls: Arc<AtomicUsize>,
}

impl Fixed {
    fn new(name: &'static str, stages: &[Stage], action: Action) -> (Fixed, Arc<AtomicUsize>) {
        let calls = Arc::new(AtomicUsize::new(0));
        let stages = if stages.is_empty() {
            StageSet::ALL
        } else {
            StageSet::of(stages)
        };
        (
            Fixed {
                name,
                stages,
                action,
                calls: calls.clone(),
            },
            calls,
        )
    }
}

#[async_trait]
impl Hook for Fixed {
    fn name(&self) -> &str {
        self.name
    }
    fn stages(&self) -> StageSet {
        self.stages
    }
    async fn on_event(&self, _event: &Event<'_>) -> Action {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.action.clone()
    }
}

struct Fixture {
    session: SessionInfo,
    envelope: Envelope,
    message: Message,
}

fn fixture() -> Fixture {
    let mut envelope = Envelope::new(
        ReversePath::Address("alice@example.com".parse().unwrap()),
        MailParameters::default(),
    );
    envelope
        .recipients
        .push(Recipient::new("bob@example.com".parse().unwrap()));
    Fixture {
        session: SessionInfo::new(7, Protocol::Smtp),
        envelope,
        message: Message::parse(&b"Subject: hello\r\n\r\nbody"[..]),
    }
}

fn reply(code: u16, status: &str) -> Reply {
    Reply::new(code, Some(status), "policy").unwrap()
}

#[tokio::test]
async fn hooks_run_in_order_and_changes_accumulate() {
    let f = fixture();
    let header = NewHeader::new("X-Checked", "yes").unwrap();
    let (a, a_calls) = Fixed::new(
        "a",
        &[],
        Action::Modify(vec![Modification::AddHeader(header.clone())]),
    );
    let (b, b_calls) = Fixed::new("b", &[], Action::FileInto("Junk".into()));
    let (c, c_calls) = Fixed::new("c", &[], Action::Reject(reply(550, "5.7.1")));
    let (d, d_calls) = Fixed::new("d", &[], Action::Accept);
    let mut chain = HookChain::new();
    chain.push(a).push(b).push(c).push(d);
    let event = Event::Message {
        session: &f.session,
        envelope: &f.envelope,
        message: &f.message,
    };
    let decision = chain.run(&event).await;
    assert_eq!(decision.verdict, Verdict::Reject(reply(550, "5.7.1")));
    assert_eq!(decision.decided_by.as_deref(), Some("c"));
    assert_eq!(
        decision.modifications,
        vec![Modification::AddHeader(header)]
    );
    assert_eq!(decision.folder.as_deref(), Some("Junk"));
    let calls: Vec<_> = [&a_calls, &b_calls, &c_calls, &d_calls]
        .iter()
        .map(|c| c.load(Ordering::SeqCst))
        .collect();
    assert_eq!(calls, [1, 1, 1, 0], "d must not run after c decided");
}

#[tokio::test]
async fn hooks_only_see_their_stages() {
    let f = fixture();
    let (rcpt_only, calls) = Fixed::new(
        "rcpt",
        &[Stage::RcptTo],
        Action::Reject(reply(550, "5.1.1")),
    );
    let mut chain = HookChain::new();
    chain.push(rcpt_only);
    assert!(chain.wants(Stage::RcptTo) && !chain.wants(Stage::Message));
    let msg_event = Event::Message {
        session: &f.session,
        envelope: &f.envelope,
        message: &f.message,
    };
    assert_eq!(chain.run(&msg_event).await.verdict, Verdict::Continue);
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    let rcpt_event = Event::RcptTo {
        session: &f.session,
        envelope: &f.envelope,
        recipient: &f.envelope.recipients[0],
    };
    assert!(chain.run(&rcpt_event).await.verdict.is_refusal());
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn the_reply_code_decides_permanent_or_temporary() {
    let f = fixture();
    let event = Event::Connect {
        session: &f.session,
    };
    let mut chain = HookChain::new();
    chain.push(Fixed::new("t", &[], Action::Reject(reply(451, "4.7.1"))).0);
    assert_eq!(
        chain.run(&event).await.verdict,
        Verdict::TempFail(reply(451, "4.7.1"))
    );
    let mut chain = HookChain::new();
    chain.push(Fixed::new("p", &[], Action::TempFail(reply(554, "5.7.1"))).0);
    assert_eq!(
        chain.run(&event).await.verdict,
        Verdict::Reject(reply(554, "5.7.1"))
    );
}

#[tokio::test]
async fn out_of_place_actions_are_ignored_and_reported() {
    let f = fixture();
    let mut chain = HookChain::new();
    chain.push(Fixed::new("discarder", &[], Action::Discard).0);
    chain.push(Fixed::new("filer", &[], Action::FileInto("X".into())).0);
    // Discard outside a transaction (at login) is meaningless.
    let attempt = LoginAttempt::new(Protocol::Imap, "bob@example.com", None, "LOGIN", true);
    let d = chain.run(&Event::Login { attempt: &attempt }).await;
    assert_eq!(d.verdict, Verdict::Continue);
    assert_eq!(d.ignored.len(), 2);
    assert_eq!(d.folder, None);
    // At RCPT it applies to the transaction.
    let rcpt = Event::RcptTo {
        session: &f.session,
        envelope: &f.envelope,
        recipient: &f.envelope.recipients[0],
    };
    assert_eq!(chain.run(&rcpt).await.verdict, Verdict::Discard);
    // After delivery, hooks only observe.
    let who: EmailAddress = "bob@example.com".parse().unwrap();
    let outcome = DeliveryOutcome::Delivered {
        folder: "INBOX".into(),
    };
    let after = Event::AfterDelivery {
        envelope: &f.envelope,
        message: &f.message,
        recipient: &who,
        outcome: &outcome,
    };
    let d = chain.run(&after).await;
    assert_eq!(d.verdict, Verdict::Continue);
    assert_eq!(d.ignored.len(), 2);
}

#[tokio::test]
async fn an_empty_chain_decides_nothing() {
    let f = fixture();
    let chain = HookChain::new();
    assert!(chain.is_empty());
    for stage in Stage::ALL {
        assert!(!chain.wants(stage));
    }
    let d = chain
        .run(&Event::Ehlo {
            session: &f.session,
            name: "client.example",
        })
        .await;
    assert_eq!(d, Default::default());
}
