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

proptest! {
    /// Any CRLF message, dot-stuffed and fed in arbitrary chunks, unstuffs to itself.
    #[test]
    fn stuff_then_unstuff_in_chunks(
        lines in prop::collection::vec("[.a-z ]{0,12}", 0..20),
        cuts in prop::collection::vec(1usize..16, 1..8),
    ) {
        use mailcore_smtp::data::{DotUnstuffer, Progress, dot_stuff};
        let message: Vec<u8> = lines.iter().flat_map(|l| format!("{l}\r\n").into_bytes()).collect();
        let wire = dot_stuff(&message);
        let mut u = DotUnstuffer::new(1 << 20);
        let mut pos = 0;
        let mut k = 0;
        let mut done = false;
        while pos < wire.len() {
            let end = (pos + cuts[k % cuts.len()]).min(wire.len());
            k += 1;
            match u.feed(&wire[pos..end]) {
                Progress::NeedMore => pos = end,
                Progress::Done { consumed } => {
                    prop_assert_eq!(pos + consumed, wire.len());
                    done = true;
                    break;
                }
                Progress::BareLineEnding { .. } => prop_assert!(false, "bare line ending in {:?}", wire),
            }
        }
        prop_assert!(done);
        prop_assert_eq!(u.message(), &message[..]);
    }
}
