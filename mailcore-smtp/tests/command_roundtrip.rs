//! Property tests: command format → parse round trips, and the parser on arbitrary lines.

use mailcore::address::{EmailAddress, ForwardPath, ReversePath};
use mailcore::envelope::{BodyType, MailParameters, Notify, RcptParameters};
use mailcore_smtp::command::{Command, parse};
use proptest::prelude::*;

fn address() -> impl Strategy<Value = EmailAddress> {
    ("[a-zA-Z0-9._%+-]{1,12}", "[a-z]{1,8}\\.(com|org|测试)").prop_filter_map("valid", |(l, d)| {
        EmailAddress::parse(&format!("{l}@{d}")).ok()
    })
}

fn command() -> impl Strategy<Value = Command> {
    let mail = (
        prop::option::of(address()),
        prop::option::of(0u64..100_000_000),
        prop::option::of(prop_oneof![
            Just(BodyType::SevenBit),
            Just(BodyType::EightBitMime),
            Just(BodyType::BinaryMime)
        ]),
        any::<bool>(),
        prop::option::of("[ -~]{1,20}"),
    )
        .prop_map(|(a, size, body, utf8, envid)| {
            let mut p = MailParameters::default();
            p.size = size;
            p.body = body;
            p.smtputf8 = utf8;
            p.envid = envid;
            Command::Mail(a.map_or(ReversePath::Null, ReversePath::Address), p)
        });
    let rcpt = (
        address(),
        prop::option::of(prop_oneof![
            Just(Notify::Never),
            Just(Notify::On {
                success: true,
                failure: true,
                delay: false
            }),
        ]),
    )
        .prop_map(|(a, notify)| {
            let mut p = RcptParameters::default();
            p.notify = notify;
            Command::Rcpt(ForwardPath::Address(a), p)
        });
    prop_oneof![
        "[a-z0-9.-]{1,20}".prop_map(Command::Ehlo),
        mail,
        rcpt,
        Just(Command::Data),
        (0u64..1_000_000, any::<bool>()).prop_map(|(size, last)| Command::Bdat { size, last }),
        Just(Command::Rset),
        Just(Command::Quit),
        Just(Command::StartTls),
        ("(PLAIN|LOGIN)", prop::option::of("[A-Za-z0-9+/]{4}")).prop_map(|(m, i)| Command::Auth {
            mechanism: m,
            initial: i
        }),
    ]
}

proptest! {
    #[test]
    fn format_then_parse(cmd in command()) {
        let line = cmd.to_string();
        prop_assert_eq!(parse(line.as_bytes()), Ok(cmd), "{}", line);
    }

    #[test]
    fn arbitrary_lines_never_panic(line in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = parse(&line);
    }
}
