//! Address parsers on arbitrary text: never panic, and whatever parses strictly formats to text
//! that parses back to the same value (addresses, domains, mailboxes, CIDR networks).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailcore::address::{AddressList, Domain, EmailAddress, ForwardPath, Mailbox, ReversePath};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let _ = AddressList::parse_lenient(s);
    if let Ok(list) = AddressList::parse(s) {
        let again = AddressList::parse(&list.to_string());
        assert_eq!(again.as_ref(), Ok(&list), "{list}");
    }
    if let Ok(a) = EmailAddress::parse(s) {
        assert_eq!(EmailAddress::parse(&a.to_string()), Ok(a.clone()));
        assert_eq!(EmailAddress::parse(&a.to_ascii_domain_string()), Ok(a));
    }
    if let Ok(d) = Domain::parse(s) {
        assert_eq!(Domain::parse(d.as_ascii()), Ok(d.clone()));
    }
    if let Ok(m) = Mailbox::parse(s) {
        assert_eq!(Mailbox::parse(&m.to_string()), Ok(m));
    }
    let _ = (ReversePath::parse(s), ForwardPath::parse(s));
    let _ = mailcore::message_id::MessageId::parse(s);
    let _ = mailcore::message::DateTime::parse_rfc5322(s);
    if let Some(n) = mailcore::net::Network::parse(s) {
        assert_eq!(mailcore::net::Network::parse(&n.to_string()), Some(n));
    }
});
