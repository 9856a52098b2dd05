//! Property tests: command encode → decode round trips, modified UTF-7 round trips, and a
//! session that never panics on arbitrary bytes in arbitrary chunks.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use mailcore_imap::command::{
    Command, Decoded, Decoder, FetchItem, Flag, ListOptions, SearchKey, Section, SectionText,
    SeqNum, SequenceSet, StatusItem, StoreMode, Tag,
};
use mailcore_imap::literal::FramerLimits;
use mailcore_imap::session::{Answer, Event, Session, SessionConfig};
use mailcore_imap::utf7;
use proptest::prelude::*;

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9 ._@\"\\\\-]{0,20}",
        "\\PC{0,12}".prop_map(|s: String| s.replace('\0', "")),
        Just("发票 test".to_owned()),
    ]
}

fn mailbox() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9&/ ~]{1,20}",
        "[a-z]{1,5}/[\\u{4e00}-\\u{9fa5}]{1,4}",
        Just("INBOX".to_owned()),
    ]
}

fn set() -> impl Strategy<Value = SequenceSet> {
    prop::collection::vec(
        (
            1u32..1000,
            prop::option::of(prop_oneof![
                (1u32..1000).prop_map(SeqNum::Value),
                Just(SeqNum::Largest)
            ]),
        ),
        1..4,
    )
    .prop_map(|v| {
        SequenceSet(
            v.into_iter()
                .map(|(a, b)| (SeqNum::Value(a), b.unwrap_or(SeqNum::Value(a))))
                .map(|(a, b)| if a == b { (a, a) } else { (a, b) })
                .collect(),
        )
    })
}

fn flag() -> impl Strategy<Value = Flag> {
    prop_oneof![
        Just(Flag::Seen),
        Just(Flag::Deleted),
        Just(Flag::Draft),
        "\\$?[A-Za-z]{1,8}".prop_map(Flag::Keyword),
    ]
}

fn search_key() -> impl Strategy<Value = SearchKey> {
    let leaf = prop_oneof![
        Just(SearchKey::All),
        flag().prop_map(SearchKey::Flag),
        flag().prop_map(SearchKey::NotFlag),
        text().prop_map(|t| SearchKey::Header("Subject".into(), t)),
        text().prop_map(SearchKey::Body),
        text().prop_map(SearchKey::Text),
        (0i64..30000).prop_map(SearchKey::Since),
        (0u64..1_000_000).prop_map(SearchKey::Larger),
        set().prop_map(SearchKey::Uid),
        set().prop_map(SearchKey::Seq),
    ];
    leaf.prop_recursive(4, 16, 3, |inner| {
        prop_oneof![
            inner.clone().prop_map(|k| SearchKey::Not(Box::new(k))),
            (inner.clone(), inner.clone())
                .prop_map(|(a, b)| SearchKey::Or(Box::new(a), Box::new(b))),
            prop::collection::vec(inner, 2..4).prop_map(SearchKey::And),
        ]
    })
}

fn fetch_item() -> impl Strategy<Value = FetchItem> {
    prop_oneof![
        Just(FetchItem::Flags),
        Just(FetchItem::Uid),
        Just(FetchItem::Envelope),
        Just(FetchItem::BodyStructure),
        Just(FetchItem::Rfc822Size),
        (
            any::<bool>(),
            prop::collection::vec(1u32..5, 0..3),
            prop::option::of((0u32..100, 1u32..100))
        )
            .prop_map(|(peek, part, partial)| FetchItem::Section {
                peek,
                section: Section {
                    text: if part.is_empty() {
                        Some(SectionText::HeaderFields(vec![
                            "SUBJECT".into(),
                            "X-TUID".into(),
                        ]))
                    } else {
                        None
                    },
                    part,
                },
                partial,
            }),
        (
            any::<bool>(),
            prop::collection::vec(1u32..5, 0..3),
            prop::option::of((0u32..100, 1u32..100))
        )
            .prop_map(|(peek, part, partial)| FetchItem::Binary {
                peek,
                part,
                partial
            }),
        prop::collection::vec(1u32..5, 0..3).prop_map(|part| FetchItem::BinarySize { part }),
    ]
}

fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        Just(Command::Noop),
        Just(Command::Idle),
        (text(), text()).prop_map(|(user, password)| Command::Login { user, password }),
        (mailbox(), any::<bool>()).prop_map(|(mailbox, condstore)| Command::Select {
            mailbox,
            condstore,
            qresync: None
        }),
        mailbox().prop_map(Command::Create),
        (mailbox(), mailbox()).prop_map(|(a, b)| Command::Rename(a, b)),
        (mailbox(), any::<bool>()).prop_map(|(p, sub)| Command::List {
            reference: String::new(),
            patterns: vec![p],
            options: ListOptions {
                select_subscribed: sub,
                return_status: vec![StatusItem::Messages],
                ..Default::default()
            },
        }),
        mailbox().prop_map(|mailbox| Command::Status {
            mailbox,
            items: vec![StatusItem::UidNext, StatusItem::Unseen]
        }),
        (
            mailbox(),
            prop::collection::vec(flag(), 0..3),
            prop::collection::vec(any::<u8>(), 1..200),
            prop::collection::vec(prop::collection::vec(any::<u8>(), 1..50), 0..3)
        )
            .prop_map(|(mailbox, mut flags, message, more)| {
                flags.dedup();
                Command::Append {
                    mailbox,
                    flags,
                    date: Some(1_700_000_000),
                    message,
                    // MULTIAPPEND: further messages, alternately with and without a date.
                    more: more
                        .into_iter()
                        .enumerate()
                        .map(|(i, message)| mailcore_imap::command::AppendMessage {
                            flags: Vec::new(),
                            date: (i % 2 == 0).then_some(1_600_000_000),
                            message,
                        })
                        .collect(),
                }
            }),
        (
            any::<bool>(),
            set(),
            prop::collection::vec(fetch_item(), 1..4)
        )
            .prop_map(|(uid, set, mut items)| {
                if uid && !items.contains(&FetchItem::Uid) {
                    items.insert(0, FetchItem::Uid);
                }
                Command::Fetch {
                    uid,
                    set,
                    items,
                    changed_since: None,
                    vanished: false,
                }
            }),
        (any::<bool>(), set(), prop::collection::vec(flag(), 1..3)).prop_map(
            |(uid, set, mut flags)| {
                flags.dedup();
                Command::Store {
                    uid,
                    set,
                    mode: StoreMode::Add,
                    silent: true,
                    flags,
                    unchanged_since: None,
                }
            }
        ),
        (any::<bool>(), set(), mailbox()).prop_map(|(uid, set, mailbox)| Command::Move {
            uid,
            set,
            mailbox
        }),
        (any::<bool>(), search_key()).prop_map(|(uid, key)| Command::Search {
            uid,
            ret: None,
            charset: Some("UTF-8".into()),
            key,
        }),
    ]
}

/// Search keys that the grammar flattens (an `And` of one) compare equal after normalising.
fn normalise(c: Command) -> Command {
    c
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn command_round_trip(cmd in command()) {
        let tag = Tag::new("a1").unwrap();
        let wire = cmd.encode(&tag);
        let mut limits = FramerLimits::default();
        limits.max_literal = 1 << 20;
        let mut d = Decoder::new(limits);
        d.push(&wire);
        match d.next() {
            Decoded::Command { tag: t, command } => {
                prop_assert_eq!(t, tag);
                let expected = match normalise(cmd.clone()) {
                    Command::Search { uid, ret, charset, key: SearchKey::And(k) } if k.len() == 1 => {
                        Command::Search { uid, ret, charset, key: k.into_iter().next().unwrap() }
                    }
                    c => c,
                };
                prop_assert_eq!(command, expected, "wire: {:?}", String::from_utf8_lossy(&wire));
            }
            other => prop_assert!(false, "{:?} from {:?}", other, String::from_utf8_lossy(&wire)),
        }
        prop_assert_eq!(d.next(), Decoded::NeedMore);
    }

    #[test]
    fn utf7_round_trip(name in "\\PC{0,40}") {
        let encoded = utf7::encode(&name);
        prop_assert!(encoded.bytes().all(|b| (0x20..0x7f).contains(&b)));
        prop_assert_eq!(utf7::decode(&encoded).unwrap(), name);
    }

    #[test]
    fn utf7_decode_never_panics(s in "[ -~]{0,40}") {
        if let Ok(d) = utf7::decode(&s) {
            // Whatever decodes re-encodes to the same canonical form.
            prop_assert_eq!(utf7::encode(&d), s);
        }
    }

    #[test]
    fn session_survives_random_bytes(
        chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 0..20),
        prefix in prop::sample::select(vec![&b""[..], b"a LOGIN u p\r\n", b"a AUTHENTICATE PLAIN\r\n", b"a LOGIN u p\r\nb IDLE\r\n"]),
    ) {
        let mut s = Session::new(Arc::new(SessionConfig::default()), true);
        s.handle_input(prefix);
        for chunk in chunks {
            s.handle_input(&chunk);
            let mut guard = 0;
            while let Some(e) = s.poll_event() {
                guard += 1;
                prop_assert!(guard < 10_000);
                match e {
                    Event::Login { .. } => s.answer(Answer::LoggedIn),
                    Event::Command { tag, .. } | Event::IdleDone { tag } => {
                        s.answer(Answer::Responses(format!("{tag} OK done\r\n").into_bytes()))
                    }
                    Event::StartTls => s.tls_established(),
                    _ => {}
                }
            }
            let _ = s.take_output();
        }
    }
}

#[test]
fn pipelined_commands_after_starttls_are_discarded() {
    let config = SessionConfig::default();
    let mut s = Session::new(Arc::new(config), false);
    s.take_output();
    s.handle_input(b"a STARTTLS\r\nb LOGIN u p\r\nc LOGOUT\r\n");
    assert_eq!(s.poll_event(), Some(Event::StartTls));
    s.tls_established();
    assert_eq!(s.poll_event(), None);
    assert!(!s.is_closed());
    assert_eq!(s.take_output(), b"a OK Begin TLS negotiation now\r\n");
}
