//! Property tests: parse → format → parse round trips, and the parser on arbitrary input.

use mailcore::address::{Address, AddressList, Domain, EmailAddress, Group, LocalPart, Mailbox};
use mailcore::message::Message;
use mailcore::message::encoded_word::{self, WordEncoding};
use proptest::prelude::*;

fn ascii_label() -> impl Strategy<Value = String> {
    "[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?"
}

fn domain() -> impl Strategy<Value = Domain> {
    let ascii = (prop::collection::vec(ascii_label(), 1..3), "[a-z]{2,6}")
        .prop_map(|(labels, tld)| format!("{}.{tld}", labels.join(".")));
    let unicode = (
        prop::collection::vec("[例子测试邮件公司中文メールü]{1,4}", 1..3),
        "(com|测试|中国)",
    )
        .prop_map(|(labels, tld)| format!("{}.{tld}", labels.join(".")));
    prop_oneof![ascii, unicode].prop_filter_map("valid domain", |s| Domain::parse(&s).ok())
}

fn local_part() -> impl Strategy<Value = LocalPart> {
    let dot_atom = "[a-zA-Z0-9!#$%&'*+/=?^_`{|}~-]{1,10}(\\.[a-zA-Z0-9_-]{1,8}){0,2}";
    let utf8 = "[a-z用户张三ü]{1,8}";
    let quoted = "[ -~]{1,20}";
    prop_oneof![dot_atom, utf8, quoted]
        .prop_filter_map("valid local part", |s| LocalPart::new(&s).ok())
}

fn email() -> impl Strategy<Value = EmailAddress> {
    (local_part(), domain()).prop_filter_map("fits", |(l, d)| EmailAddress::new(l, d).ok())
}

fn display_name() -> impl Strategy<Value = Option<String>> {
    prop::option::of(
        "[ -~张三李四季度報告éü]{1,30}".prop_filter_map("non-blank", |s: String| {
            let t = s.trim().to_owned();
            (!t.is_empty()).then_some(t)
        }),
    )
}

fn mailbox() -> impl Strategy<Value = Mailbox> {
    (display_name(), email()).prop_map(|(name, address)| Mailbox { name, address })
}

fn address() -> impl Strategy<Value = Address> {
    prop_oneof![
        3 => mailbox().prop_map(Address::Mailbox),
        1 => (display_name(), prop::collection::vec(mailbox(), 0..3)).prop_map(|(name, members)| {
            Address::Group(Group { name: name.unwrap_or_else(|| "group".into()), members })
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn address_list_round_trips(list in prop::collection::vec(address(), 0..5).prop_map(AddressList)) {
        let text = list.to_string();
        let parsed = AddressList::parse(&text);
        prop_assert_eq!(parsed.as_ref(), Ok(&list), "formatted as {:?}", text);
    }

    #[test]
    fn email_address_round_trips(a in email()) {
        let text = a.to_string();
        prop_assert_eq!(EmailAddress::parse(&text), Ok(a.clone()));
        prop_assert_eq!(EmailAddress::parse(&a.to_ascii_domain_string()), Ok(a));
    }

    #[test]
    fn domain_labels_both_ways(d in domain()) {
        prop_assert_eq!(Domain::parse(d.as_ascii()), Ok(d.clone()));
        prop_assert_eq!(Domain::parse(&d.to_unicode()), Ok(d.clone()));
        prop_assert!(d.as_ascii().is_ascii());
    }

    #[test]
    fn encoded_words_round_trip(s in any::<String>()) {
        prop_assert_eq!(encoded_word::decode(&encoded_word::encode(&s)), s.clone());
        let q = encoded_word::encode_words(&s, WordEncoding::Q);
        prop_assert!(q.split(' ').all(|w| w.len() <= encoded_word::MAX_WORD_LEN));
        prop_assert_eq!(encoded_word::decode(&q), s);
    }

    #[test]
    fn parser_survives_anything(raw in prop::collection::vec(any::<u8>(), 0..2048)) {
        let msg = Message::parse(raw.clone());
        for (_, part) in msg.sections() {
            let (h, b) = (part.header_range(), part.body_range());
            prop_assert!(h.start <= h.end && h.end <= b.start && b.end <= raw.len());
            let _ = (part.text(), part.filename());
        }
        let _ = mailcore::summary::Summary::of(&msg);
    }

    #[test]
    fn multipart_built_is_multipart_parsed(bodies in prop::collection::vec("[a-zA-Z0-9 .,\r\n-]{0,200}", 1..8)) {
        let mut raw = String::from("Content-Type: multipart/mixed; boundary=\"=_b0undary\"\r\n\r\npreamble\r\n");
        for b in &bodies {
            raw.push_str("--=_b0undary\r\nContent-Type: text/plain\r\n\r\n");
            raw.push_str(b);
            raw.push_str("\r\n");
        }
        raw.push_str("--=_b0undary--\r\n");
        let msg = Message::parse(raw.into_bytes());
        let texts: Vec<String> = msg.leaves().map(|(_, p)| p.text().unwrap_or_default()).collect();
        prop_assert_eq!(texts, bodies);
        prop_assert!(msg.warnings().is_empty());
    }
}

proptest! {
    /// A network prints as `address/prefix` and parses back to itself; it contains its own
    /// address and never panics on any input.
    #[test]
    fn network_round_trip(v4 in any::<[u8; 4]>(), v6 in any::<[u16; 8]>(), p4 in 0u8..=32, p6 in 0u8..=128) {
        use mailcore::net::Network;
        use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
        let a4 = IpAddr::V4(Ipv4Addr::from(v4));
        let a6 = IpAddr::V6(Ipv6Addr::from(v6));
        for (addr, prefix) in [(a4, p4), (a6, p6)] {
            let n = Network::parse(&format!("{addr}/{prefix}")).unwrap();
            prop_assert_eq!(Network::parse(&n.to_string()), Some(n));
            prop_assert!(n.contains(addr));
        }
    }

    #[test]
    fn network_parse_never_panics(s in "\\PC{0,60}") {
        let _ = mailcore::net::Network::parse(&s);
    }
}
