//! FETCH data built from a parsed message: `ENVELOPE`, `BODYSTRUCTURE`/`BODY` and
//! `BODY[section]<partial>` (RFC 9051 §6.4.5, §7.5.2), using the section paths of
//! [`Message::sections`].
//!
//! ```
//! use mailcore::message::Message;
//! use mailcore_imap::command::{Section, SectionText};
//! use mailcore_imap::fetch::section_bytes;
//! let msg = Message::parse(&b"Subject: hi\r\nTo: a@example.com\r\n\r\nbody\r\n"[..]);
//! let header = Section { part: vec![], text: Some(SectionText::HeaderFields(vec!["SUBJECT".into()])) };
//! assert_eq!(&*section_bytes(&msg, &header).unwrap(), b"Subject: hi\r\n\r\n");
//! assert_eq!(&*section_bytes(&msg, &Section { part: vec![1], text: None }).unwrap(), b"body\r\n");
//! ```

use std::borrow::Cow;

use mailcore::address::{Address, AddressList, Mailbox};
use mailcore::message::{Message, PartKind, PartRef, encoded_word};

use crate::command::{Section, SectionText};
use crate::response::{write_nstring, write_string};

/// Deepest MIME nesting described in a BODYSTRUCTURE (deeper parts are cut off as empty).
pub const MAX_STRUCTURE_DEPTH: usize = 64;

fn field_value<'a>(part: &PartRef<'a>, name: &str) -> Option<String> {
    part.field(name).map(|f| f.value().trim().to_owned())
}

fn write_address(out: &mut Vec<u8>, m: &Mailbox) {
    out.push(b'(');
    let name = m.name.as_deref().map(encoded_word::encode);
    write_nstring(out, name.as_deref().map(str::as_bytes));
    out.extend_from_slice(b" NIL ");
    write_string(out, m.address.local_part().as_str().as_bytes());
    out.push(b' ');
    write_string(out, m.address.domain().as_ascii().as_bytes());
    out.push(b')');
}

fn write_address_list(out: &mut Vec<u8>, list: &AddressList) {
    if list.is_empty() {
        out.extend_from_slice(b"NIL");
        return;
    }
    out.push(b'(');
    for a in &list.0 {
        match a {
            Address::Mailbox(m) => write_address(out, m),
            Address::Group(g) => {
                out.extend_from_slice(b"(NIL NIL ");
                write_string(out, encoded_word::encode(&g.name).as_bytes());
                out.extend_from_slice(b" NIL)");
                for m in &g.members {
                    write_address(out, m);
                }
                out.extend_from_slice(b"(NIL NIL NIL NIL)");
            }
        }
    }
    out.push(b')');
}

/// Writes the `ENVELOPE` of an entity (the message, or an encapsulated one).
pub fn write_envelope(out: &mut Vec<u8>, part: &PartRef<'_>) {
    out.push(b'(');
    let text = |name: &str| field_value(part, name);
    write_nstring(out, text("Date").as_deref().map(str::as_bytes));
    out.push(b' ');
    write_nstring(out, text("Subject").as_deref().map(str::as_bytes));
    let from = part.addresses("From");
    for name in ["From", "Sender", "Reply-To", "To", "Cc", "Bcc"] {
        out.push(b' ');
        let list = part.addresses(name);
        if list.is_empty() && (name == "Sender" || name == "Reply-To") {
            write_address_list(out, &from);
        } else {
            write_address_list(out, &list);
        }
    }
    out.push(b' ');
    write_nstring(out, text("In-Reply-To").as_deref().map(str::as_bytes));
    out.push(b' ');
    write_nstring(out, text("Message-ID").as_deref().map(str::as_bytes));
    out.push(b')');
}

fn write_params(out: &mut Vec<u8>, params: &[(String, String)]) {
    if params.is_empty() {
        out.extend_from_slice(b"NIL");
        return;
    }
    out.push(b'(');
    for (i, (k, v)) in params.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        write_string(out, k.to_ascii_uppercase().as_bytes());
        out.push(b' ');
        let v = encoded_word::encode(v);
        write_string(out, v.as_bytes());
    }
    out.push(b')');
}

fn write_disposition_etc(out: &mut Vec<u8>, part: &PartRef<'_>) {
    out.push(b' ');
    match part.disposition() {
        Some(d) => {
            out.push(b'(');
            write_string(out, d.kind.to_ascii_uppercase().as_bytes());
            out.push(b' ');
            write_params(out, &d.params);
            out.push(b')');
        }
        None => out.extend_from_slice(b"NIL"),
    }
    out.push(b' ');
    write_nstring(
        out,
        field_value(part, "Content-Language")
            .as_deref()
            .map(str::as_bytes),
    );
    out.push(b' ');
    write_nstring(
        out,
        field_value(part, "Content-Location")
            .as_deref()
            .map(str::as_bytes),
    );
}

/// Writes `BODYSTRUCTURE` (`extended`) or `BODY` of a part.
pub fn write_body_structure(out: &mut Vec<u8>, part: &PartRef<'_>, extended: bool) {
    write_structure(out, part, extended, 0);
}

fn write_structure(out: &mut Vec<u8>, part: &PartRef<'_>, extended: bool, depth: usize) {
    let ct = part.content_type();
    if depth > MAX_STRUCTURE_DEPTH {
        out.extend_from_slice(b"(\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 0 0)");
        return;
    }
    if let PartKind::Multipart(_) = part.kind() {
        out.push(b'(');
        let mut any = false;
        for child in part.children() {
            write_structure(out, &child, extended, depth + 1);
            any = true;
        }
        if !any {
            // RFC 9051 requires at least one body part.
            out.extend_from_slice(b"(\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 0 0)");
        }
        out.push(b' ');
        write_string(out, ct.sub.to_ascii_uppercase().as_bytes());
        if extended {
            out.push(b' ');
            write_params(out, &ct.params);
            write_disposition_etc(out, part);
        }
        out.push(b')');
        return;
    }
    out.push(b'(');
    write_string(out, ct.main.to_ascii_uppercase().as_bytes());
    out.push(b' ');
    write_string(out, ct.sub.to_ascii_uppercase().as_bytes());
    out.push(b' ');
    write_params(out, &ct.params);
    out.push(b' ');
    write_nstring(
        out,
        field_value(part, "Content-ID")
            .as_deref()
            .map(str::as_bytes),
    );
    out.push(b' ');
    write_nstring(
        out,
        field_value(part, "Content-Description")
            .as_deref()
            .map(str::as_bytes),
    );
    out.push(b' ');
    write_string(
        out,
        part.transfer_encoding()
            .as_str()
            .to_ascii_uppercase()
            .as_bytes(),
    );
    let body = part.raw_body();
    out.extend_from_slice(format!(" {}", body.len()).as_bytes());
    let lines = memchr::memchr_iter(b'\n', body).count();
    match part.kind() {
        PartKind::Message(_) => {
            if let Some(inner) = part.children().next() {
                out.push(b' ');
                write_envelope(out, &inner);
                out.push(b' ');
                write_structure(out, &inner, extended, depth + 1);
            } else {
                out.extend_from_slice(b" NIL (\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 0 0)");
            }
            out.extend_from_slice(format!(" {lines}").as_bytes());
        }
        _ if ct.main.eq_ignore_ascii_case("text") => {
            out.extend_from_slice(format!(" {lines}").as_bytes());
        }
        _ => {}
    }
    if extended {
        out.push(b' ');
        write_nstring(
            out,
            field_value(part, "Content-MD5")
                .as_deref()
                .map(str::as_bytes),
        );
        write_disposition_etc(out, part);
    }
    out.push(b')');
}

/// Splits a header section into whole fields (continuation lines included), without the
/// blank line.
fn header_fields(header: &[u8]) -> Vec<&[u8]> {
    let mut fields: Vec<(usize, usize)> = Vec::new();
    let mut pos = 0;
    while pos < header.len() {
        let end = memchr::memchr(b'\n', &header[pos..]).map_or(header.len(), |n| pos + n + 1);
        let line = &header[pos..end];
        if line == b"\r\n" || line == b"\n" {
            break;
        }
        match (line.first(), fields.last_mut()) {
            (Some(b' ' | b'\t'), Some(last)) => last.1 = end,
            _ => fields.push((pos, end)),
        }
        pos = end;
    }
    fields.into_iter().map(|(a, b)| &header[a..b]).collect()
}

fn field_name(field: &[u8]) -> &[u8] {
    let end = memchr::memchr(b':', field).unwrap_or(field.len());
    let name = &field[..end];
    let trimmed = name
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(0, |p| p + 1);
    &name[..trimmed]
}

/// `BINARY[part]` could not be served: the part's content transfer encoding is unknown
/// (answered `NO [UNKNOWN-CTE]`, RFC 3516 §4.3).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown content transfer encoding {0}")]
pub struct UnknownCte(pub String);

/// The bytes of `BINARY[part]` (RFC 3516): the part's body with its content transfer encoding
/// removed; the whole message as it is for an empty part. `Ok(None)` if the part does not
/// exist.
pub fn binary_bytes<'a>(
    msg: &'a Message,
    part: &[u32],
) -> Result<Option<Cow<'a, [u8]>>, UnknownCte> {
    if part.is_empty() {
        return Ok(Some(Cow::Borrowed(&msg.raw()[..])));
    }
    let path = crate::command::part_path(part);
    let Some(p) = msg
        .sections()
        .into_iter()
        .find(|(s, _)| *s == path)
        .map(|(_, p)| p)
    else {
        return Ok(None);
    };
    if let mailcore::message::TransferEncoding::Other(name) = p.transfer_encoding() {
        return Err(UnknownCte(name.clone()));
    }
    // Malformed base64 or quoted-printable is decoded as far as it goes.
    Ok(Some(p.decode_body().0))
}

/// The bytes of `BODY[section]`; `None` if the part does not exist.
pub fn section_bytes<'a>(msg: &'a Message, section: &Section) -> Option<Cow<'a, [u8]>> {
    let raw = msg.raw();
    // The entity whose header/text is meant, and the part itself.
    let (entity, part) = if section.part.is_empty() {
        (Some(msg.root()), None)
    } else {
        let path: Vec<String> = section.part.iter().map(u32::to_string).collect();
        let path = path.join(".");
        let part = msg
            .sections()
            .into_iter()
            .find(|(p, _)| *p == path)
            .map(|(_, p)| p)?;
        let entity = match part.kind() {
            PartKind::Message(_) => part.children().next(),
            _ => None,
        };
        (entity, Some(part))
    };
    let slice = |r: std::ops::Range<usize>| raw.get(r).map(Cow::Borrowed);
    match &section.text {
        None => match part {
            None => Some(Cow::Borrowed(&raw[..])),
            Some(p) => slice(p.body_range()),
        },
        Some(SectionText::Mime) => part.and_then(|p| slice(p.header_range())),
        Some(SectionText::Header) => Some(
            entity
                .and_then(|e| slice(e.header_range()))
                .unwrap_or_default(),
        ),
        Some(SectionText::Text) => Some(
            entity
                .and_then(|e| slice(e.body_range()))
                .unwrap_or_default(),
        ),
        Some(SectionText::HeaderFields(names)) | Some(SectionText::HeaderFieldsNot(names)) => {
            let not = matches!(section.text, Some(SectionText::HeaderFieldsNot(_)));
            let Some(e) = entity else {
                return Some(Cow::Borrowed(&b""[..]));
            };
            let header = raw.get(e.header_range()).unwrap_or_default();
            let mut out = Vec::new();
            for f in header_fields(header) {
                let name = field_name(f);
                let listed = names
                    .iter()
                    .any(|n| n.as_bytes().eq_ignore_ascii_case(name));
                if listed != not {
                    out.extend_from_slice(f);
                    if !f.ends_with(b"\n") {
                        out.extend_from_slice(b"\r\n");
                    }
                }
            }
            out.extend_from_slice(b"\r\n");
            Some(Cow::Owned(out))
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    const MIXED: &[u8] = b"From: =?utf-8?B?5byg5LiJ?= <zhang@example.cn>\r\n\
To: a@example.com, Team: b@example.com;\r\n\
Subject: test\r\n\
Date: Mon, 7 Feb 1994 21:52:25 -0800\r\n\
Message-ID: <1@example.cn>\r\n\
Content-Type: multipart/mixed; boundary=b\r\n\r\n\
--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhello\r\n\
--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\ninner body\r\n\
--b\r\nContent-Type: application/pdf; name=r.pdf\r\nContent-Disposition: attachment; filename=r.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERg==\r\n\
--b--\r\n";

    #[test]
    fn envelope() {
        let msg = Message::parse(MIXED);
        let mut out = Vec::new();
        write_envelope(&mut out, &msg.root());
        let s = String::from_utf8(out).unwrap();
        assert_eq!(
            s,
            "(\"Mon, 7 Feb 1994 21:52:25 -0800\" \"test\" \
((\"=?UTF-8?B?5byg5LiJ?=\" NIL \"zhang\" \"example.cn\")) \
((\"=?UTF-8?B?5byg5LiJ?=\" NIL \"zhang\" \"example.cn\")) \
((\"=?UTF-8?B?5byg5LiJ?=\" NIL \"zhang\" \"example.cn\")) \
((NIL NIL \"a\" \"example.com\")(NIL NIL \"Team\" NIL)(NIL NIL \"b\" \"example.com\")(NIL NIL NIL NIL)) \
NIL NIL NIL \"<1@example.cn>\")"
        );
    }

    #[test]
    fn structure() {
        let msg = Message::parse(MIXED);
        let mut out = Vec::new();
        write_body_structure(&mut out, &msg.root(), false);
        let s = String::from_utf8(out).unwrap();
        assert_eq!(
            s,
            "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL \"7BIT\" 5 0)\
(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 28 (NIL \"inner\" NIL NIL NIL NIL NIL NIL NIL NIL) \
(\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 10 0) 2)\
(\"APPLICATION\" \"PDF\" (\"NAME\" \"r.pdf\") NIL NIL \"BASE64\" 8) \"MIXED\")"
        );
        let mut out = Vec::new();
        write_body_structure(&mut out, &msg.root(), true);
        let s = String::from_utf8(out).unwrap();
        assert!(
            s.contains("(\"ATTACHMENT\" (\"FILENAME\" \"r.pdf\"))"),
            "{s}"
        );
        assert!(
            s.ends_with("\"MIXED\" (\"BOUNDARY\" \"b\") NIL NIL NIL)"),
            "{s}"
        );
    }

    #[test]
    fn sections() {
        let msg = Message::parse(MIXED);
        let sec = |part: Vec<u32>, text: Option<SectionText>| {
            section_bytes(&msg, &Section { part, text })
                .map(|c| String::from_utf8_lossy(&c).into_owned())
        };
        assert_eq!(sec(vec![1], None).unwrap(), "hello");
        assert_eq!(sec(vec![2, 1], None).unwrap(), "inner body");
        assert_eq!(
            sec(vec![2], Some(SectionText::Header)).unwrap(),
            "Subject: inner\r\n\r\n"
        );
        assert_eq!(sec(vec![2], Some(SectionText::Text)).unwrap(), "inner body");
        assert_eq!(
            sec(vec![3], Some(SectionText::Mime))
                .unwrap()
                .lines()
                .count(),
            4
        );
        assert_eq!(sec(vec![3], None).unwrap(), "JVBERg==");
        assert!(sec(vec![4], None).is_none());
        assert_eq!(
            sec(
                vec![],
                Some(SectionText::HeaderFieldsNot(vec![
                    "from".into(),
                    "to".into(),
                    "content-type".into()
                ]))
            )
            .unwrap(),
            "Subject: test\r\nDate: Mon, 7 Feb 1994 21:52:25 -0800\r\nMessage-ID: <1@example.cn>\r\n\r\n"
        );
        assert!(
            sec(vec![], Some(SectionText::Text))
                .unwrap()
                .starts_with("--b\r\n")
        );
    }
}
