#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The response decoder (server → client): known answers from RFC 9051 examples, streaming in
//! arbitrary chunks, limits, round trips through the server's own response encoder, and a
//! property test that arbitrary input never panics or loops.

use mailcore_imap::decode::{
    DecodeError, Decoded, DecoderLimits, FetchData, MailboxName, Response, ResponseCode,
    ResponseDecoder, Value,
};
use mailcore_imap::response::{
    Status, status, write_flags, write_literal8, write_mailbox, write_nstring, write_string,
};
use proptest::prelude::*;

/// Everything the decoder yields for `input` pushed in chunks of `chunk` bytes.
fn decode_chunked(input: &[u8], chunk: usize, limits: DecoderLimits) -> Vec<Decoded> {
    let mut d = ResponseDecoder::new(limits);
    let mut out = Vec::new();
    for piece in input.chunks(chunk.max(1)) {
        d.push(piece);
        loop {
            match d.next() {
                Decoded::NeedMore => break,
                other => out.push(other),
            }
        }
    }
    out
}

fn decode_all(input: &[u8]) -> Vec<Decoded> {
    decode_chunked(input, input.len().max(1), DecoderLimits::default())
}

/// Decodes exactly one response from a whole line.
fn one(input: &[u8]) -> Response {
    match decode_all(input).as_slice() {
        [Decoded::Response(r)] => r.clone(),
        other => panic!("{:?}: {other:?}", String::from_utf8_lossy(input)),
    }
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

fn mbox(raw: &str, name: &str) -> MailboxName {
    MailboxName {
        raw: raw.as_bytes().to_vec(),
        name: name.to_owned(),
    }
}

// RFC 9051 §6.3.2 (SELECT), §6.1.1, §7 examples.
const TRANSCRIPT: &[u8] = b"* OK [CAPABILITY IMAP4rev2 STARTTLS AUTH=GSSAPI] IMAP4rev2 Service Ready\r\n\
* CAPABILITY IMAP4rev2 STARTTLS AUTH=GSSAPI LOGINDISABLED\r\n\
abcd OK CAPABILITY completed\r\n\
* 172 EXISTS\r\n\
* OK [UIDVALIDITY 3857529045] UIDs valid\r\n\
* OK [UIDNEXT 4392] Predicted next UID\r\n\
* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n\
* OK [PERMANENTFLAGS (\\Deleted \\Seen \\*)] Limited\r\n\
* LIST () \"/\" INBOX\r\n\
A142 OK [READ-WRITE] SELECT completed\r\n\
+ Ready for additional command text\r\n\
* 12 FETCH (FLAGS (\\Seen) INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" RFC822.SIZE 4286 ENVELOPE (\"Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\" \"IMAP4rev2 WG mtg summary and minutes\" ((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) ((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) ((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) ((NIL NIL \"imap\" \"cac.washington.edu\")) ((NIL NIL \"minutes\" \"CNRI.Reston.VA.US\")(\"John Klensin\" NIL \"KLENSIN\" \"MIT.EDU\")) NIL NIL \"<B27397-0100000@cac.washington.edu>\") BODY (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3028 92))\r\n\
* 2 FETCH (BODY[HEADER] {29}\r\nSubject: hello\r\nTo: a@b.c\r\n\r\n UID 7)\r\n\
* 3 FETCH (BINARY[1]<0> ~{3}\r\na\0b MODSEQ (12121231000))\r\n\
* 22 EXPUNGE\r\n\
* BYE IMAP4rev2 Server logging out\r\n";

#[test]
fn rfc9051_select_and_capability() {
    let got = decode_all(TRANSCRIPT);
    let r: Vec<Response> = got
        .into_iter()
        .map(|d| match d {
            Decoded::Response(r) => r,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        r[0],
        Response::Untagged {
            status: Status::Ok,
            code: Some(ResponseCode::Capability(s(&[
                "IMAP4rev2",
                "STARTTLS",
                "AUTH=GSSAPI"
            ]))),
            text: "IMAP4rev2 Service Ready".into(),
        }
    );
    assert_eq!(
        r[1],
        Response::Capability(s(&[
            "IMAP4rev2",
            "STARTTLS",
            "AUTH=GSSAPI",
            "LOGINDISABLED"
        ]))
    );
    assert_eq!(
        r[2],
        Response::Tagged {
            tag: "abcd".into(),
            status: Status::Ok,
            code: None,
            text: "CAPABILITY completed".into(),
        }
    );
    assert_eq!(r[3], Response::Exists(172));
    assert!(matches!(
        &r[4],
        Response::Untagged { code: Some(ResponseCode::UidValidity(3857529045)), text, .. }
            if text == "UIDs valid"
    ));
    assert!(matches!(
        &r[5],
        Response::Untagged {
            code: Some(ResponseCode::UidNext(4392)),
            ..
        }
    ));
    assert_eq!(
        r[6],
        Response::Flags(s(&[
            "\\Answered",
            "\\Flagged",
            "\\Deleted",
            "\\Seen",
            "\\Draft"
        ]))
    );
    assert!(matches!(
        &r[7],
        Response::Untagged { code: Some(ResponseCode::PermanentFlags(f)), .. }
            if *f == s(&["\\Deleted", "\\Seen", "\\*"])
    ));
    assert_eq!(
        r[8],
        Response::List {
            attributes: vec![],
            delimiter: Some('/'),
            name: mbox("INBOX", "INBOX"),
            extended: vec![],
        }
    );
    assert!(matches!(
        &r[9],
        Response::Tagged {
            status: Status::Ok,
            code: Some(ResponseCode::ReadWrite),
            ..
        }
    ));
    assert_eq!(
        r[10],
        Response::Continuation {
            text: "Ready for additional command text".into()
        }
    );
    let Response::Fetch { seq: 12, items } = &r[11] else {
        panic!("{:?}", r[11]);
    };
    assert_eq!(items[0], FetchData::Flags(s(&["\\Seen"])));
    assert_eq!(
        items[1],
        FetchData::InternalDate("17-Jul-1996 02:44:25 -0700".into())
    );
    assert_eq!(items[2], FetchData::Rfc822Size(4286));
    let FetchData::Other {
        name,
        value: Value::List(env),
    } = &items[3]
    else {
        panic!("{:?}", items[3]);
    };
    assert_eq!(name, "ENVELOPE");
    assert_eq!(env.len(), 10);
    assert_eq!(env[7], Value::Nil);
    assert_eq!(
        env[9],
        Value::String(b"<B27397-0100000@cac.washington.edu>".to_vec())
    );
    let FetchData::Other {
        name,
        value: Value::List(body),
    } = &items[4]
    else {
        panic!("{:?}", items[4]);
    };
    assert_eq!(name, "BODY");
    assert_eq!(body[6], Value::Number(3028));
    assert_eq!(
        r[12],
        Response::Fetch {
            seq: 2,
            items: vec![
                FetchData::Body {
                    section: "HEADER".into(),
                    origin: None,
                    data: Some(b"Subject: hello\r\nTo: a@b.c\r\n\r\n".to_vec()),
                },
                FetchData::Uid(7),
            ],
        }
    );
    assert_eq!(
        r[13],
        Response::Fetch {
            seq: 3,
            items: vec![
                FetchData::Binary {
                    section: "1".into(),
                    origin: Some(0),
                    data: Some(b"a\0b".to_vec()),
                },
                FetchData::ModSeq(12121231000),
            ],
        }
    );
    assert_eq!(r[14], Response::Expunge(22));
    assert_eq!(
        r[15],
        Response::Untagged {
            status: Status::Bye,
            code: None,
            text: "IMAP4rev2 Server logging out".into(),
        }
    );
    assert_eq!(r.len(), 16);
}

#[test]
fn rfc9051_list_status_search() {
    assert_eq!(
        one(b"* LIST (\\Noselect) \"/\" ~/Mail/foo\r\n"),
        Response::List {
            attributes: s(&["\\Noselect"]),
            delimiter: Some('/'),
            name: mbox("~/Mail/foo", "~/Mail/foo"),
            extended: vec![],
        }
    );
    assert_eq!(
        one(b"* LIST () NIL \"\"\r\n"),
        Response::List {
            attributes: vec![],
            delimiter: None,
            name: mbox("", ""),
            extended: vec![],
        }
    );
    // Modified UTF-7 (RFC 3501 §5.1.3), as a quoted string.
    let Response::List { name, .. } =
        one(b"* LIST (\\HasNoChildren) \"/\" \"~peter/mail/&U,BTFw-/&ZeVnLIqe-\"\r\n")
    else {
        panic!()
    };
    assert_eq!(name.name, "~peter/mail/台北/日本語");
    assert_eq!(name.raw, b"~peter/mail/&U,BTFw-/&ZeVnLIqe-");
    // A literal name and LIST-EXTENDED data.
    let r =
        one(b"* LIST (\\Subscribed) \"\\\\\" {5}\r\nA\"B C (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n");
    assert_eq!(
        r,
        Response::List {
            attributes: s(&["\\Subscribed"]),
            delimiter: Some('\\'),
            name: mbox("A\"B C", "A\"B C"),
            extended: vec![Value::List(vec![
                Value::String(b"CHILDINFO".to_vec()),
                Value::List(vec![Value::String(b"SUBSCRIBED".to_vec())]),
            ])],
        }
    );
    assert_eq!(
        one(b"* STATUS blurdybloop (MESSAGES 231 UIDNEXT 44292)\r\n"),
        Response::Status {
            mailbox: mbox("blurdybloop", "blurdybloop"),
            items: vec![("MESSAGES".into(), 231), ("UIDNEXT".into(), 44292)],
        }
    );
    assert_eq!(
        one(b"* SEARCH 2 84 882\r\n"),
        Response::Search(vec![2, 84, 882])
    );
    assert_eq!(one(b"* SEARCH\r\n"), Response::Search(vec![]));
    assert_eq!(
        one(b"* SEARCH 2 5 (MODSEQ 917162500)\r\n"),
        Response::Search(vec![2, 5])
    );
    assert_eq!(
        one(b"* ESEARCH (TAG \"A282\") MIN 2 COUNT 3\r\n"),
        Response::Esearch {
            tag: Some("A282".into()),
            uid: false,
            items: vec![
                ("MIN".into(), Value::Number(2)),
                ("COUNT".into(), Value::Number(3))
            ],
        }
    );
    assert_eq!(
        one(b"* ESEARCH (TAG \"A283\") UID ALL 2,10:11\r\n"),
        Response::Esearch {
            tag: Some("A283".into()),
            uid: true,
            items: vec![("ALL".into(), Value::Atom("2,10:11".into()))],
        }
    );
    assert_eq!(one(b"* 5 RECENT\r\n"), Response::Recent(5));
    assert_eq!(
        one(b"* ENABLED CONDSTORE\r\n"),
        Response::Other {
            number: None,
            name: "ENABLED".into(),
            data: b"CONDSTORE".to_vec()
        }
    );
}

#[test]
fn rfc_response_codes() {
    let code = |line: &[u8]| match one(line) {
        Response::Tagged { code, .. } | Response::Untagged { code, .. } => code,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        code(b"A003 OK [APPENDUID 38505 3955] APPEND completed\r\n"),
        Some(ResponseCode::AppendUid {
            uid_validity: 38505,
            uids: vec![(3955, 3955)]
        })
    );
    assert_eq!(
        code(b"A004 OK [COPYUID 38505 304,319:320 3956:3958] Done\r\n"),
        Some(ResponseCode::CopyUid {
            uid_validity: 38505,
            source: vec![(304, 304), (319, 320)],
            dest: vec![(3956, 3958)],
        })
    );
    assert_eq!(
        code(b"A1 NO [AUTHENTICATIONFAILED] Authentication failed\r\n"),
        Some(ResponseCode::AuthenticationFailed)
    );
    assert_eq!(
        code(b"* OK [ALERT] System shutdown in 10 minutes\r\n"),
        Some(ResponseCode::Alert)
    );
    assert_eq!(
        code(b"A2 NO [TRYCREATE] No such mailbox\r\n"),
        Some(ResponseCode::TryCreate)
    );
    assert_eq!(
        code(b"A3 OK [READ-ONLY] EXAMINE completed\r\n"),
        Some(ResponseCode::ReadOnly)
    );
    assert_eq!(
        code(b"* OK [HIGHESTMODSEQ 715194045007] Highest\r\n"),
        Some(ResponseCode::HighestModSeq(715194045007))
    );
    assert_eq!(
        code(b"* NO [BADCHARSET (UTF-8)] no\r\n"),
        Some(ResponseCode::Other(
            "BADCHARSET".into(),
            Some("(UTF-8)".into())
        ))
    );
    assert_eq!(
        code(b"* OK [UIDVALIDITY x] bad number\r\n"),
        Some(ResponseCode::Other("UIDVALIDITY".into(), Some("x".into())))
    );
    assert_eq!(
        one(b"* PREAUTH IMAP4rev2 server logged in as Smith\r\n"),
        Response::Untagged {
            status: Status::PreAuth,
            code: None,
            text: "IMAP4rev2 server logged in as Smith".into()
        }
    );
    assert_eq!(
        one(b"+ \r\n"),
        Response::Continuation {
            text: String::new()
        }
    );
    assert_eq!(
        one(b"+\r\n"),
        Response::Continuation {
            text: String::new()
        }
    );
    assert!(matches!(
        one(b"a1 BAD\r\n"),
        Response::Tagged { status: Status::Bad, text, .. } if text.is_empty()
    ));
}

#[test]
fn byte_by_byte_equals_one_shot() {
    let whole = decode_all(TRANSCRIPT);
    assert_eq!(whole.len(), 16);
    for chunk in [1, 2, 3, 7, 64] {
        assert_eq!(
            decode_chunked(TRANSCRIPT, chunk, DecoderLimits::default()),
            whole,
            "chunk {chunk}"
        );
    }
}

#[test]
fn literal_split_across_pushes() {
    let mut d = ResponseDecoder::new(DecoderLimits::default());
    d.push(b"* 1 FETCH (RFC822 {10}\r\n01234");
    assert_eq!(d.next(), Decoded::NeedMore);
    d.push(b"56");
    assert_eq!(d.next(), Decoded::NeedMore);
    d.push(b"789)\r");
    assert_eq!(d.next(), Decoded::NeedMore);
    d.push(b"\n* 2 EXISTS\r\n");
    assert_eq!(
        d.next(),
        Decoded::Response(Response::Fetch {
            seq: 1,
            items: vec![FetchData::Rfc822(Some(b"0123456789".to_vec()))]
        })
    );
    assert_eq!(d.next(), Decoded::Response(Response::Exists(2)));
    assert_eq!(d.next(), Decoded::NeedMore);
    assert_eq!(d.buffered(), 0);
}

#[test]
fn malformed_lines_do_not_desynchronise() {
    let out = decode_all(b"garbage!\r\n* 1 FETCH (UID x)\r\n* 3 EXISTS\r\n");
    assert!(matches!(
        out[0],
        Decoded::Malformed {
            fatal: false,
            reason: DecodeError::Syntax(_)
        }
    ));
    assert!(matches!(out[1], Decoded::Malformed { fatal: false, .. }));
    assert_eq!(out[2], Decoded::Response(Response::Exists(3)));
    // A malformed response with a literal: the literal is still skipped by count.
    let out = decode_all(b"* 1 FETCH (UID x BODY[] {9}\r\n* 9 BYE\r\n)\r\n* 3 EXISTS\r\n");
    assert!(matches!(out[0], Decoded::Malformed { fatal: false, .. }));
    assert_eq!(out[1], Decoded::Response(Response::Exists(3)));
    assert_eq!(out.len(), 2);
}

#[test]
fn deep_nesting_is_refused() {
    let mut line = b"* 1 FETCH (BODYSTRUCTURE ".to_vec();
    line.extend(std::iter::repeat_n(b'(', 4000));
    line.extend(std::iter::repeat_n(b')', 4000));
    line.extend_from_slice(b")\r\n* 2 EXISTS\r\n");
    let out = decode_all(&line);
    assert_eq!(
        out[0],
        Decoded::Malformed {
            reason: DecodeError::TooDeep,
            fatal: false
        }
    );
    assert_eq!(out[1], Decoded::Response(Response::Exists(2)));
    // 64 levels are fine.
    let mut line = b"* 1 FETCH (X ".to_vec();
    line.extend(std::iter::repeat_n(b'(', 64));
    line.extend(std::iter::repeat_n(b')', 64));
    line.extend_from_slice(b")\r\n");
    assert!(matches!(one(&line), Response::Fetch { .. }));
}

#[test]
fn literal_limits() {
    // Overflowing length: the stream cannot be delimited.
    for bad in [&b"{4294967296}"[..], b"{99999999999999999999999}"] {
        let mut input = b"* 1 FETCH (BODY[] ".to_vec();
        input.extend_from_slice(bad);
        input.extend_from_slice(b"\r\nxyz)\r\n* 2 EXISTS\r\n");
        let out = decode_all(&input);
        assert_eq!(
            out,
            vec![Decoded::Malformed {
                reason: DecodeError::BadLiteralLength,
                fatal: true
            }]
        );
    }
    // Too large but well-formed: skipped by count, chunk by chunk, without buffering it.
    let mut limits = DecoderLimits::default();
    limits.max_literal = 10;
    let mut input = b"* 1 FETCH (BODY[] {20}\r\n".to_vec();
    input.extend_from_slice(&[b'\n'; 20]);
    input.extend_from_slice(b")\r\n* 2 EXISTS\r\n* 3 FETCH (BODY[] {10}\r\n0123456789)\r\n");
    for chunk in [1, 5, input.len()] {
        let out = decode_chunked(&input, chunk, limits);
        assert_eq!(
            out[0],
            Decoded::Malformed {
                reason: DecodeError::LiteralTooLarge { len: 20 },
                fatal: false
            }
        );
        assert_eq!(out[1], Decoded::Response(Response::Exists(2)));
        assert!(matches!(
            out[2],
            Decoded::Response(Response::Fetch { seq: 3, .. })
        ));
        assert_eq!(out.len(), 3);
    }
}

#[test]
fn line_limit() {
    let mut limits = DecoderLimits::default();
    limits.max_line_length = 100;
    let mut input = b"* OK ".to_vec();
    input.extend(std::iter::repeat_n(b'x', 1000));
    // The overlong line even ends in a literal, which must still be skipped by count.
    input.extend_from_slice(b" {5}\r\n\r\n\r\n\r)\r\n* 4 EXISTS\r\n");
    for chunk in [1, 7, 64, input.len()] {
        let mut d = ResponseDecoder::new(limits);
        let mut out = Vec::new();
        for piece in input.chunks(chunk) {
            d.push(piece);
            loop {
                match d.next() {
                    Decoded::NeedMore => break,
                    o => out.push(o),
                }
            }
            assert!(d.buffered() <= 200, "chunk {chunk}");
        }
        assert_eq!(
            out,
            vec![
                Decoded::Malformed {
                    reason: DecodeError::LineTooLong,
                    fatal: false
                },
                Decoded::Response(Response::Exists(4))
            ],
            "chunk {chunk}"
        );
    }
}

#[test]
fn round_trip_through_the_server_encoder() {
    let mut flags = mailcore_store::mailbox::Flags {
        seen: true,
        flagged: true,
        ..Default::default()
    };
    flags.keywords.insert("$Forwarded".into());
    let body = "Subject: 发票\r\n\r\nbody \"quoted\" \\ back\r\n".as_bytes();
    let small = b"say \"hi\" \\o/";
    let binary = b"\0\x01\xff\r\n";
    let mut out = b"* 7 FETCH (UID 42 FLAGS ".to_vec();
    write_flags(&mut out, &flags);
    out.extend_from_slice(b" BODY[] ");
    write_string(&mut out, body);
    out.extend_from_slice(b" BODY[1]<0> ");
    write_string(&mut out, small);
    out.extend_from_slice(b" BINARY[2] ");
    write_literal8(&mut out, binary);
    out.extend_from_slice(b" RFC822.HEADER ");
    write_nstring(&mut out, None);
    out.extend_from_slice(b")\r\n* LIST (\\HasNoChildren) \"/\" ");
    write_mailbox(&mut out, "Entwürfe/台北 & co");
    out.extend_from_slice(b"\r\n* STATUS ");
    write_mailbox(&mut out, "日本語");
    out.extend_from_slice(b" (MESSAGES 3 UNSEEN 1)\r\n");
    out.extend(status(
        Some("a1"),
        Status::No,
        Some("TRYCREATE"),
        "No such\r\nmailbox",
    ));
    out.extend(status(None, Status::Ok, Some("UIDNEXT 9"), ""));
    let expected = vec![
        Decoded::Response(Response::Fetch {
            seq: 7,
            items: vec![
                FetchData::Uid(42),
                FetchData::Flags(s(&["\\Seen", "\\Flagged", "$Forwarded"])),
                FetchData::Body {
                    section: String::new(),
                    origin: None,
                    data: Some(body.to_vec()),
                },
                FetchData::Body {
                    section: "1".into(),
                    origin: Some(0),
                    data: Some(small.to_vec()),
                },
                FetchData::Binary {
                    section: "2".into(),
                    origin: None,
                    data: Some(binary.to_vec()),
                },
                FetchData::Rfc822Header(None),
            ],
        }),
        Decoded::Response(Response::List {
            attributes: s(&["\\HasNoChildren"]),
            delimiter: Some('/'),
            name: mbox("Entw&APw-rfe/&U,BTFw- &- co", "Entwürfe/台北 & co"),
            extended: vec![],
        }),
        Decoded::Response(Response::Status {
            mailbox: mbox("&ZeVnLIqe-", "日本語"),
            items: vec![("MESSAGES".into(), 3), ("UNSEEN".into(), 1)],
        }),
        Decoded::Response(Response::Tagged {
            tag: "a1".into(),
            status: Status::No,
            code: Some(ResponseCode::TryCreate),
            text: "No such  mailbox".into(),
        }),
        Decoded::Response(Response::Untagged {
            status: Status::Ok,
            code: Some(ResponseCode::UidNext(9)),
            text: "done".into(),
        }),
    ];
    for chunk in [1, 3, out.len()] {
        assert_eq!(
            decode_chunked(&out, chunk, DecoderLimits::default()),
            expected
        );
    }
}

#[test]
fn utf8_names_when_enabled() {
    let mut d = ResponseDecoder::new(DecoderLimits::default());
    d.set_utf8_names(true);
    d.push("* LIST () \"/\" \"Entwürfe\"\r\n* LIST () \"/\" \"&-x\"\r\n".as_bytes());
    for (raw, name) in [("Entwürfe", "Entwürfe"), ("&-x", "&-x")] {
        match d.next() {
            Decoded::Response(Response::List { name: n, .. }) => assert_eq!(n, mbox(raw, name)),
            other => panic!("{other:?}"),
        }
    }
}

proptest! {
    #[test]
    fn encoder_strings_round_trip(data in proptest::collection::vec(any::<u8>(), 0..300),
                                  chunk in 1usize..40) {
        let mut out = b"* 1 FETCH (BODY[TEXT] ".to_vec();
        write_string(&mut out, &data);
        out.extend_from_slice(b" BINARY[1] ");
        write_literal8(&mut out, &data);
        out.extend_from_slice(b")\r\n");
        let got = decode_chunked(&out, chunk, DecoderLimits::default());
        prop_assert_eq!(got, vec![Decoded::Response(Response::Fetch {
            seq: 1,
            items: vec![
                FetchData::Body { section: "TEXT".into(), origin: None, data: Some(data.clone()) },
                FetchData::Binary { section: "1".into(), origin: None, data: Some(data) },
            ],
        })]);
    }

    #[test]
    fn arbitrary_input_never_panics_or_loops(
        parts in proptest::collection::vec(
            prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..20),
                Just(b"* 1 FETCH (".to_vec()),
                Just(b"{3}\r\n".to_vec()),
                Just(b"~{2}\r\n".to_vec()),
                Just(b"{4294967296}\r\n".to_vec()),
                Just(b"((((".to_vec()),
                Just(b"))".to_vec()),
                Just(b"\"".to_vec()),
                Just(b"\r\n".to_vec()),
                Just(b"a1 OK [".to_vec()),
                Just(b"* LIST (".to_vec()),
                Just(b"BODY[".to_vec()),
                Just(b" NIL".to_vec()),
            ],
            0..40),
        chunks in proptest::collection::vec(1usize..50, 1..10),
    ) {
        let input = parts.concat();
        let mut limits = DecoderLimits::default();
        limits.max_line_length = 64;
        limits.max_literal = 16;
        limits.max_depth = 4;
        limits.max_response = 128;
        let mut d = ResponseDecoder::new(limits);
        let mut pos = 0;
        let mut k = 0;
        while pos < input.len() {
            let n = chunks[k % chunks.len()].min(input.len() - pos);
            k += 1;
            d.push(&input[pos..pos + n]);
            pos += n;
            let mut calls = 0;
            loop {
                calls += 1;
                prop_assert!(calls < 10_000, "next() never returned NeedMore");
                if d.next() == Decoded::NeedMore {
                    break;
                }
            }
            // Buffering stays bounded by the limits (line + literal + slack).
            prop_assert!(d.buffered() <= 128 + 64 + 50 + 32);
        }
    }
}
