//! The message parser: RFC 5322 headers and the MIME tree (RFC 2045–2049), zero-copy over
//! [`Bytes`].
//!
//! Parsing never fails and never panics: whatever the input, you get a [`Message`] whose parts
//! are byte ranges into the original buffer, plus [`Warning`]s for malformations and limits
//! hit. Decoding (transfer encodings, charsets, encoded words) happens on access, so parsing
//! itself is a single framing pass.
//!
//! ```text
//!   raw bytes ──► header framing ──► Content-Type ──► multipart? ──► split on boundary ─┐
//!                     ▲                               message/rfc822? ─► descend ────────┤
//!                     └──────────────── each child part (depth + 1, limits checked) ◄────┘
//! ```
//!
//! ```
//! use mailcore::message::Message;
//! let raw = b"From: =?utf-8?B?5byg5LiJ?= <zhang@example.cn>\r\n\
//!     Subject: =?GB2312?B?1tDOxA==?= test\r\n\
//!     Content-Type: multipart/mixed; boundary=b\r\n\r\n\
//!     --b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhello\r\n\
//!     --b\r\nContent-Type: application/pdf; name=r.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERg==\r\n\
//!     --b--\r\n";
//! let msg = Message::parse(&raw[..]);
//! assert_eq!(msg.subject().as_deref(), Some("中文 test"));
//! assert_eq!(msg.from().mailboxes().next().unwrap().name.as_deref(), Some("张三"));
//! let leaves: Vec<_> = msg.leaves().map(|(path, p)| (path, p.content_type().essence())).collect();
//! assert_eq!(leaves, [("1".to_string(), "text/plain".to_string()), ("2".to_string(), "application/pdf".to_string())]);
//! assert_eq!(msg.text_body().as_deref(), Some("hello"));
//! assert_eq!(msg.attachments().next().unwrap().decoded_body().as_ref(), b"%PDF");
//! assert!(msg.warnings().is_empty());
//! ```

pub mod content_type;
pub mod date;
pub mod encoded_word;
mod header;
pub mod transfer;

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

use bytes::Bytes;

pub use content_type::{ContentDisposition, ContentType};
pub use date::DateTime;
use header::HeaderField;
pub use header::unfold;
pub use transfer::TransferEncoding;

use crate::address::AddressList;
use crate::charset::{self, Charset};

/// Hard ceiling on nesting, whatever [`Limits::max_depth`] says, so recursion stays bounded.
pub const MAX_DEPTH_CEILING: usize = 1024;

/// Parser limits. Each is on by default; past one the parser stops descending or recording and
/// adds a [`Warning`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Limits {
    /// Deepest nesting of multiparts and encapsulated messages (default 64).
    pub max_depth: usize,
    /// Most parts in one message, all levels counted (default 10,000).
    pub max_parts: usize,
    /// Largest header section of one part, in bytes (default 256 KiB); fields past it are
    /// ignored.
    pub max_header_bytes: usize,
    /// Most header fields in one part (default 4,096).
    pub max_header_fields: usize,
    /// Most warnings recorded (default 100); the rest are counted in one last warning.
    pub max_warnings: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_depth: 64,
            max_parts: 10_000,
            max_header_bytes: 256 * 1024,
            max_header_fields: 4096,
            max_warnings: 100,
        }
    }
}

/// How to parse: limits and the charset assumed for undeclared 8-bit header text.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ParseOptions {
    /// The limits.
    pub limits: Limits,
    /// Charset for raw 8-bit header bytes and undeclared bodies that are not valid UTF-8
    /// (default windows-1252, which maps every byte).
    pub fallback_charset: Charset,
}

impl Default for ParseOptions {
    fn default() -> ParseOptions {
        ParseOptions {
            limits: Limits::default(),
            fallback_charset: Charset::Encoding(encoding_rs::WINDOWS_1252),
        }
    }
}

/// Something the parser met and worked around.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Warning {
    /// Nesting deeper than [`Limits::max_depth`]; the part at `offset` was not descended.
    DepthLimit {
        /// Offset of the part.
        offset: usize,
        /// The limit.
        limit: usize,
    },
    /// More parts than [`Limits::max_parts`]; the rest were not split out.
    PartLimit {
        /// The limit.
        limit: usize,
    },
    /// A header section over [`Limits::max_header_bytes`] or [`Limits::max_header_fields`].
    HeaderLimit {
        /// Offset of the first ignored line.
        offset: usize,
    },
    /// A header line that is neither a field nor a continuation.
    HeaderLineWithoutColon {
        /// Offset of the line.
        offset: usize,
    },
    /// A continuation line before any field.
    ContinuationWithoutField {
        /// Offset of the line.
        offset: usize,
    },
    /// A `Content-Type` that could not be parsed; `text/plain` was assumed.
    BadContentType {
        /// Offset of the part.
        offset: usize,
    },
    /// A multipart without a `boundary` parameter; treated as a single part.
    MissingBoundary {
        /// Offset of the part.
        offset: usize,
    },
    /// A multipart whose boundary never occurs in its body; treated as a single part.
    BoundaryNotFound {
        /// Offset of the part.
        offset: usize,
    },
    /// A multipart without its closing delimiter; the last part runs to the end.
    UnterminatedMultipart {
        /// Offset of the part.
        offset: usize,
    },
    /// An encapsulated message with a transfer encoding other than 7bit/8bit/binary; not
    /// descended.
    EncodedMessage {
        /// Offset of the part.
        offset: usize,
    },
    /// The message has no header fields at all (empty input, or a body without headers).
    NoHeaderFields,
    /// More than [`Limits::max_warnings`] warnings; this many were not recorded.
    Suppressed {
        /// How many.
        count: usize,
    },
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::DepthLimit { offset, limit } => {
                write!(
                    f,
                    "nesting deeper than {limit} levels at offset {offset}: not descended"
                )
            }
            Warning::PartLimit { limit } => {
                write!(f, "more than {limit} parts: the rest are not split out")
            }
            Warning::HeaderLimit { offset } => write!(
                f,
                "header section over the size limit at offset {offset}: rest ignored"
            ),
            Warning::HeaderLineWithoutColon { offset } => {
                write!(f, "header line without a colon at offset {offset} ignored")
            }
            Warning::ContinuationWithoutField { offset } => {
                write!(
                    f,
                    "continuation line without a field at offset {offset} ignored"
                )
            }
            Warning::BadContentType { offset } => {
                write!(
                    f,
                    "unparsable Content-Type at offset {offset}: text/plain assumed"
                )
            }
            Warning::MissingBoundary { offset } => {
                write!(f, "multipart without boundary at offset {offset}")
            }
            Warning::BoundaryNotFound { offset } => {
                write!(f, "multipart boundary never found at offset {offset}")
            }
            Warning::UnterminatedMultipart { offset } => {
                write!(f, "multipart at offset {offset} has no closing boundary")
            }
            Warning::EncodedMessage { offset } => {
                write!(
                    f,
                    "encapsulated message at offset {offset} is transfer-encoded: not descended"
                )
            }
            Warning::NoHeaderFields => f.write_str("message has no header fields"),
            Warning::Suppressed { count } => write!(f, "{count} more warnings suppressed"),
        }
    }
}

/// Warnings with a cap.
#[derive(Debug)]
pub(crate) struct Warnings {
    list: Vec<Warning>,
    cap: usize,
    suppressed: usize,
}

impl Warnings {
    pub(crate) fn new(cap: usize) -> Warnings {
        Warnings {
            list: Vec::new(),
            cap,
            suppressed: 0,
        }
    }

    pub(crate) fn push(&mut self, w: Warning) {
        if self.list.len() < self.cap {
            self.list.push(w);
        } else {
            self.suppressed += 1;
        }
    }

    #[cfg(test)]
    pub(crate) fn list(&self) -> &[Warning] {
        &self.list
    }

    fn finish(mut self) -> Vec<Warning> {
        if self.suppressed > 0 {
            self.list.push(Warning::Suppressed {
                count: self.suppressed,
            });
        }
        self.list
    }
}

/// Index of a part within its [`Message`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartId(pub usize);

/// What a part contains.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PartKind {
    /// A leaf: its body is content.
    Leaf,
    /// A multipart with these children.
    Multipart(Vec<PartId>),
    /// An encapsulated message (`message/rfc822`) whose header and body form this part.
    Message(PartId),
}

/// One MIME entity: a header section and a body, as ranges into the message.
#[derive(Clone, Debug)]
struct Part {
    header: Range<usize>,
    body: Range<usize>,
    fields: Range<usize>,
    content_type: ContentType,
    disposition: Option<ContentDisposition>,
    encoding: TransferEncoding,
    kind: PartKind,
}

/// A parsed message. Cheap to clone parts of: all content stays in one shared [`Bytes`].
#[derive(Clone, Debug)]
pub struct Message {
    raw: Bytes,
    parts: Vec<Part>,
    fields: Vec<HeaderField>,
    warnings: Vec<Warning>,
    fallback: Charset,
}

struct Builder<'a> {
    raw: &'a [u8],
    options: &'a ParseOptions,
    parts: Vec<Part>,
    fields: Vec<HeaderField>,
    warnings: Warnings,
    part_limit_hit: bool,
}

impl Message {
    /// Parses a message with the default [`ParseOptions`].
    pub fn parse(raw: impl Into<Bytes>) -> Message {
        Message::parse_with(raw, &ParseOptions::default())
    }

    /// Parses a message with the given options.
    pub fn parse_with(raw: impl Into<Bytes>, options: &ParseOptions) -> Message {
        let raw: Bytes = raw.into();
        let mut b = Builder {
            raw: &raw,
            options,
            parts: Vec::new(),
            fields: Vec::new(),
            warnings: Warnings::new(options.limits.max_warnings),
            part_limit_hit: false,
        };
        b.entity(0, raw.len(), 0, false);
        if b.parts[0].fields.is_empty() {
            b.warnings.push(Warning::NoHeaderFields);
        }
        let (parts, fields, warnings) = (b.parts, b.fields, b.warnings.finish());
        Message {
            raw,
            parts,
            fields,
            warnings,
            fallback: options.fallback_charset,
        }
    }

    /// The whole message as received.
    pub fn raw(&self) -> &Bytes {
        &self.raw
    }

    /// What the parser worked around.
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    /// The top-level entity (the message itself).
    pub fn root(&self) -> PartRef<'_> {
        self.part(PartId(0))
    }

    /// A part by id. Ids come from this message, so they are always in range; an id from
    /// another message gives the root.
    pub fn part(&self, id: PartId) -> PartRef<'_> {
        let id = if id.0 < self.parts.len() {
            id
        } else {
            PartId(0)
        };
        PartRef { msg: self, id }
    }

    /// Every part in depth-first order, the root first.
    pub fn parts(&self) -> impl Iterator<Item = PartRef<'_>> {
        (0..self.parts.len()).map(|i| self.part(PartId(i)))
    }

    /// Every part with its IMAP section path (RFC 9051 §6.4.5), depth first: multipart children
    /// are numbered from 1, an encapsulated message's parts continue its number, and a
    /// non-multipart message body is part `1` of its message. Multiparts and encapsulated
    /// messages are listed before their children.
    pub fn sections(&self) -> Vec<(String, PartRef<'_>)> {
        let mut out = Vec::new();
        self.walk_message(PartId(0), "", &mut out);
        out
    }

    /// The leaf parts (content) with their section paths, depth first.
    pub fn leaves(&self) -> impl Iterator<Item = (String, PartRef<'_>)> {
        self.sections()
            .into_iter()
            .filter(|(_, p)| p.kind() == &PartKind::Leaf)
    }

    fn walk_message<'a>(&'a self, id: PartId, prefix: &str, out: &mut Vec<(String, PartRef<'a>)>) {
        let join = |n: usize| {
            if prefix.is_empty() {
                n.to_string()
            } else {
                format!("{prefix}.{n}")
            }
        };
        match &self.parts[id.0].kind {
            PartKind::Multipart(children) => {
                for (i, c) in children.iter().enumerate() {
                    self.walk_part(*c, join(i + 1), out);
                }
            }
            _ => self.walk_part(id, join(1), out),
        }
    }

    fn walk_part<'a>(&'a self, id: PartId, path: String, out: &mut Vec<(String, PartRef<'a>)>) {
        match &self.parts[id.0].kind {
            PartKind::Leaf => out.push((path, self.part(id))),
            PartKind::Multipart(children) => {
                out.push((path.clone(), self.part(id)));
                for (i, c) in children.iter().enumerate() {
                    self.walk_part(*c, format!("{path}.{}", i + 1), out);
                }
            }
            PartKind::Message(child) => {
                out.push((path.clone(), self.part(id)));
                self.walk_message(*child, &path, out);
            }
        }
    }

    /// The decoded `Subject`.
    pub fn subject(&self) -> Option<String> {
        self.root().header_text("Subject")
    }

    /// The `From` addresses (malformed entries skipped).
    pub fn from(&self) -> AddressList {
        self.root().addresses("From")
    }

    /// The `To` addresses (all `To` fields, malformed entries skipped).
    pub fn to(&self) -> AddressList {
        self.root().addresses("To")
    }

    /// The `Cc` addresses.
    pub fn cc(&self) -> AddressList {
        self.root().addresses("Cc")
    }

    /// The `Date`, if present and parsable.
    pub fn date(&self) -> Option<DateTime> {
        self.root().date()
    }

    /// The `Message-ID` without angle brackets.
    pub fn message_id(&self) -> Option<String> {
        self.root()
            .header_text("Message-ID")
            .and_then(|v| crate::message_id::MessageId::parse_lenient(&v))
            .map(|m| m.as_str().to_owned())
    }

    /// The first `text/plain` leaf (not an attachment) decoded to UTF-8.
    pub fn text_body(&self) -> Option<String> {
        self.first_text("plain")
    }

    /// The first `text/html` leaf (not an attachment) decoded to UTF-8.
    pub fn html_body(&self) -> Option<String> {
        self.first_text("html")
    }

    /// The leaf parts in depth-first order, without computing section paths.
    pub fn leaf_parts(&self) -> impl Iterator<Item = PartRef<'_>> {
        // Parts are stored in depth-first pre-order as they are parsed.
        self.parts().filter(|p| p.kind() == &PartKind::Leaf)
    }

    fn first_text(&self, sub: &str) -> Option<String> {
        self.leaf_parts()
            .find(|p| p.content_type().is("text", sub) && !p.is_attachment())
            .and_then(|p| p.text())
    }

    /// Leaves that are attachments: a `Content-Disposition: attachment`, or a file name, or
    /// a non-text, non-multipart body that is not inline.
    pub fn attachments(&self) -> impl Iterator<Item = PartRef<'_>> {
        self.leaf_parts().filter(PartRef::is_attachment)
    }
}

impl Builder<'_> {
    /// Parses the entity at `raw[start..end]` and returns its id.
    fn entity(&mut self, start: usize, end: usize, depth: usize, in_digest: bool) -> PartId {
        let limits = &self.options.limits;
        let fallback = self.options.fallback_charset;
        let first_field = self.fields.len();
        let section = header::parse_section(
            self.raw,
            start,
            end,
            limits,
            &mut self.fields,
            &mut self.warnings,
        );
        let field_range = first_field..self.fields.len();
        let mut content_type = None;
        let mut encoding = TransferEncoding::SevenBit;
        let mut disposition = None;
        for f in &self.fields[field_range.clone()] {
            let name = &self.raw[f.name.clone()];
            let value = || match unfold(&self.raw[f.value.clone()]) {
                Cow::Borrowed(b) => charset::bytes_to_text(b, fallback),
                Cow::Owned(v) => Cow::Owned(charset::bytes_to_text(&v, fallback).into_owned()),
            };
            if name.eq_ignore_ascii_case(b"content-type") && content_type.is_none() {
                content_type = Some(ContentType::parse(&value(), fallback).ok_or(()));
            } else if name.eq_ignore_ascii_case(b"content-transfer-encoding") {
                encoding = TransferEncoding::parse(&value());
            } else if name.eq_ignore_ascii_case(b"content-disposition") && disposition.is_none() {
                disposition = Some(ContentDisposition::parse(&value(), fallback));
            }
        }
        let default = || {
            if in_digest {
                ContentType::message_rfc822()
            } else {
                ContentType::text_plain()
            }
        };
        let content_type = match content_type {
            None => default(),
            Some(Ok(ct)) => ct,
            Some(Err(())) => {
                self.warnings
                    .push(Warning::BadContentType { offset: start });
                ContentType::text_plain()
            }
        };
        let body = section.body_start.min(end)..end;
        let id = PartId(self.parts.len());
        let is_multipart = content_type.is_multipart();
        let is_message = content_type.is_message();
        let boundary = content_type.param("boundary").map(str::to_owned);
        let digest = content_type.is("multipart", "digest");
        self.parts.push(Part {
            header: start..body.start,
            body: body.clone(),
            fields: field_range,
            content_type,
            disposition,
            encoding: encoding.clone(),
            kind: PartKind::Leaf,
        });
        if !(is_multipart || is_message) {
            return id;
        }
        let max_depth = limits.max_depth.min(MAX_DEPTH_CEILING);
        if depth >= max_depth {
            self.warnings.push(Warning::DepthLimit {
                offset: start,
                limit: max_depth,
            });
            return id;
        }
        if is_message {
            if matches!(
                encoding,
                TransferEncoding::Base64 | TransferEncoding::QuotedPrintable
            ) {
                self.warnings
                    .push(Warning::EncodedMessage { offset: start });
            } else if self.take_part_slot() {
                let child = self.entity(body.start, body.end, depth + 1, false);
                self.parts[id.0].kind = PartKind::Message(child);
            }
            return id;
        }
        let Some(boundary) = boundary.filter(|b| !b.is_empty()) else {
            self.warnings
                .push(Warning::MissingBoundary { offset: start });
            return id;
        };
        let split = split_multipart(self.raw, body.start, body.end, boundary.as_bytes());
        if split.parts.is_empty() {
            self.warnings
                .push(Warning::BoundaryNotFound { offset: start });
            return id;
        }
        if !split.closed {
            self.warnings
                .push(Warning::UnterminatedMultipart { offset: start });
        }
        let mut children = Vec::with_capacity(split.parts.len());
        for r in split.parts {
            if !self.take_part_slot() {
                break;
            }
            children.push(self.entity(r.start, r.end, depth + 1, digest));
        }
        if !children.is_empty() {
            self.parts[id.0].kind = PartKind::Multipart(children);
        }
        id
    }

    /// Whether another part may be created.
    fn take_part_slot(&mut self) -> bool {
        if self.parts.len() < self.options.limits.max_parts {
            return true;
        }
        if !self.part_limit_hit {
            self.part_limit_hit = true;
            self.warnings.push(Warning::PartLimit {
                limit: self.options.limits.max_parts,
            });
        }
        false
    }
}

struct Split {
    parts: Vec<Range<usize>>,
    closed: bool,
}

/// Splits a multipart body on `--boundary` lines (RFC 2046 §5.1.1). The line break before a
/// delimiter belongs to the delimiter; preamble and epilogue are dropped.
fn split_multipart(raw: &[u8], start: usize, end: usize, boundary: &[u8]) -> Split {
    let mut delim = Vec::with_capacity(boundary.len() + 2);
    delim.extend_from_slice(b"--");
    delim.extend_from_slice(boundary);
    let finder = memchr::memmem::Finder::new(&delim);
    let mut parts = Vec::new();
    let mut part_start: Option<usize> = None;
    let mut pos = start;
    while let Some(i) = finder.find(&raw[pos..end]) {
        let at = pos + i;
        pos = at + 1;
        if at != start && raw[at - 1] != b'\n' {
            continue;
        }
        let after = at + delim.len();
        let is_close = raw[after..end].starts_with(b"--");
        let mut k = after + if is_close { 2 } else { 0 };
        while k < end && (raw[k] == b' ' || raw[k] == b'\t') {
            k += 1;
        }
        let line_ok =
            k == end || raw[k] == b'\n' || (raw[k] == b'\r' && raw.get(k + 1) == Some(&b'\n'));
        if !line_ok && !is_close {
            continue;
        }
        let mut content_end = at;
        if at > start && raw[at - 1] == b'\n' {
            content_end -= 1;
            if content_end > start && raw[content_end - 1] == b'\r' {
                content_end -= 1;
            }
        }
        if let Some(ps) = part_start {
            parts.push(ps..content_end.max(ps));
        }
        if is_close {
            return Split {
                parts,
                closed: true,
            };
        }
        let next = memchr::memchr(b'\n', &raw[k..end]).map_or(end, |n| k + n + 1);
        part_start = Some(next);
        pos = next;
    }
    if let Some(ps) = part_start {
        parts.push(ps..end);
    }
    Split {
        parts,
        closed: false,
    }
}

/// A view of one part of a [`Message`].
#[derive(Clone, Copy, Debug)]
pub struct PartRef<'a> {
    msg: &'a Message,
    id: PartId,
}

/// A view of one header field.
#[derive(Clone, Copy, Debug)]
pub struct FieldRef<'a> {
    msg: &'a Message,
    field: &'a HeaderField,
}

impl<'a> FieldRef<'a> {
    /// The field name as written.
    pub fn name(&self) -> &'a str {
        std::str::from_utf8(&self.msg.raw[self.field.name.clone()]).unwrap_or("")
    }

    /// The raw value: after the colon, folding included, without the final line break.
    pub fn raw_value(&self) -> &'a [u8] {
        &self.msg.raw[self.field.value.clone()]
    }

    /// The unfolded value as text (raw 8-bit bytes: UTF-8, else the fallback charset), with
    /// encoded words left as they are — right for structured fields.
    pub fn value(&self) -> Cow<'a, str> {
        match unfold(self.raw_value()) {
            Cow::Borrowed(b) => charset::bytes_to_text(b, self.msg.fallback),
            Cow::Owned(v) => Cow::Owned(charset::bytes_to_text(&v, self.msg.fallback).into_owned()),
        }
    }

    /// The unfolded value with RFC 2047 encoded words decoded — right for unstructured fields
    /// such as `Subject`.
    pub fn text(&self) -> String {
        encoded_word::decode(&self.value())
    }
}

impl<'a> PartRef<'a> {
    /// This part's id.
    pub fn id(&self) -> PartId {
        self.id
    }

    fn part(&self) -> &'a Part {
        &self.msg.parts[self.id.0]
    }

    /// What the part contains.
    pub fn kind(&self) -> &'a PartKind {
        &self.part().kind
    }

    /// Child parts of a multipart, or the encapsulated message of a `message/rfc822`.
    pub fn children(&self) -> impl Iterator<Item = PartRef<'a>> + use<'a> {
        let msg = self.msg;
        let ids: &'a [PartId] = match &self.part().kind {
            PartKind::Leaf => &[],
            PartKind::Multipart(c) => c,
            PartKind::Message(c) => std::slice::from_ref(c),
        };
        ids.iter().map(move |&id| msg.part(id))
    }

    /// The header fields in order.
    pub fn fields(&self) -> impl Iterator<Item = FieldRef<'a>> + use<'a> {
        let msg = self.msg;
        msg.fields[self.part().fields.clone()]
            .iter()
            .map(move |field| FieldRef { msg, field })
    }

    /// The first field named `name` (case-insensitive).
    pub fn field(&self, name: &str) -> Option<FieldRef<'a>> {
        self.fields().find(|f| f.name().eq_ignore_ascii_case(name))
    }

    /// The decoded text of the first field named `name`.
    pub fn header_text(&self, name: &str) -> Option<String> {
        self.field(name).map(|f| f.text())
    }

    /// All addresses in every field named `name` (malformed entries skipped).
    pub fn addresses(&self, name: &str) -> AddressList {
        let mut all = AddressList::default();
        for f in self
            .fields()
            .filter(|f| f.name().eq_ignore_ascii_case(name))
        {
            all.0.extend(AddressList::parse_lenient(&f.value()).0.0);
        }
        all
    }

    /// The parsed `Date` field of this entity.
    pub fn date(&self) -> Option<DateTime> {
        self.field("Date")
            .and_then(|f| DateTime::parse_rfc5322(&f.value()))
    }

    /// The header section bytes, including the blank line that ends it.
    pub fn raw_header(&self) -> &'a [u8] {
        &self.msg.raw[self.part().header.clone()]
    }

    /// The body bytes, still transfer-encoded.
    pub fn raw_body(&self) -> &'a [u8] {
        &self.msg.raw[self.part().body.clone()]
    }

    /// Byte range of the header section within the message.
    pub fn header_range(&self) -> Range<usize> {
        self.part().header.clone()
    }

    /// Byte range of the body within the message.
    pub fn body_range(&self) -> Range<usize> {
        self.part().body.clone()
    }

    /// The content type (declared, or the default for its position).
    pub fn content_type(&self) -> &'a ContentType {
        &self.part().content_type
    }

    /// The content disposition, if declared.
    pub fn disposition(&self) -> Option<&'a ContentDisposition> {
        self.part().disposition.as_ref()
    }

    /// The transfer encoding.
    pub fn transfer_encoding(&self) -> &'a TransferEncoding {
        &self.part().encoding
    }

    /// The body with its transfer encoding removed.
    pub fn decoded_body(&self) -> Cow<'a, [u8]> {
        self.decode_body().0
    }

    /// The body with its transfer encoding removed, and whether malformed input was met.
    pub fn decode_body(&self) -> (Cow<'a, [u8]>, bool) {
        self.part().encoding.decode(self.raw_body())
    }

    /// For `text/*` leaves, the body decoded to UTF-8 through its charset.
    pub fn text(&self) -> Option<String> {
        self.decode_text().map(|(t, _)| t)
    }

    /// Like [`PartRef::text`], also saying whether the declared charset was unknown.
    pub fn decode_text(&self) -> Option<(String, bool)> {
        let ct = self.content_type();
        if ct.main != "text" || self.kind() != &PartKind::Leaf {
            return None;
        }
        let body = self.decoded_body();
        let (text, unknown) = charset::decode_with_fallback(ct.charset(), &body, self.msg.fallback);
        Some((text.into_owned(), unknown))
    }

    /// The decoded file name: `Content-Disposition` `filename`, else `Content-Type` `name`.
    pub fn filename(&self) -> Option<&'a str> {
        self.disposition()
            .and_then(|d| d.param("filename"))
            .or_else(|| self.content_type().param("name"))
            .filter(|n| !n.is_empty())
    }

    /// Whether the part is an attachment rather than a message body.
    pub fn is_attachment(&self) -> bool {
        if self.kind() != &PartKind::Leaf {
            return false;
        }
        if self
            .disposition()
            .is_some_and(ContentDisposition::is_attachment)
            || self.filename().is_some()
        {
            return true;
        }
        let ct = self.content_type();
        ct.main != "text" && self.disposition().is_none_or(|d| d.kind != "inline")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(msg: &Message) -> Vec<(String, String)> {
        msg.sections()
            .into_iter()
            .map(|(p, r)| (p, r.content_type().essence()))
            .collect()
    }

    #[test]
    fn single_part() {
        let m = Message::parse(&b"Subject: hi\r\n\r\nbody\r\n"[..]);
        assert_eq!(paths(&m), [("1".to_owned(), "text/plain".to_owned())]);
        assert_eq!(m.root().raw_header(), b"Subject: hi\r\n\r\n");
        assert_eq!(m.root().raw_body(), b"body\r\n");
    }

    #[test]
    fn nested_sections_follow_imap_numbering() {
        let raw = "Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\npreamble\r\n\
            --outer\r\nContent-Type: text/plain\r\n\r\none\r\n\
            --outer\r\nContent-Type: message/rfc822\r\n\r\n\
            Subject: inner\r\nContent-Type: multipart/alternative; boundary=inner\r\n\r\n\
            --inner\r\nContent-Type: text/plain\r\n\r\ntwo\r\n\
            --inner\r\nContent-Type: text/html\r\n\r\n<b>two</b>\r\n\
            --inner--\r\n\
            --outer\r\nContent-Type: message/rfc822\r\n\r\nSubject: flat\r\n\r\nthree\r\n\
            --outer--\r\nepilogue\r\n";
        let m = Message::parse(raw.as_bytes().to_vec());
        let p: Vec<_> = paths(&m)
            .into_iter()
            .map(|(a, b)| format!("{a} {b}"))
            .collect();
        assert_eq!(
            p,
            [
                "1 text/plain",
                "2 message/rfc822",
                "2.1 text/plain",
                "2.2 text/html",
                "3 message/rfc822",
                "3.1 text/plain",
            ]
        );
        assert!(m.warnings().is_empty(), "{:?}", m.warnings());
        let ids: Vec<_> = m.leaves().map(|(_, p)| p.id()).collect();
        assert_eq!(ids, m.leaf_parts().map(|p| p.id()).collect::<Vec<_>>());
        let leaves: Vec<_> = m.leaves().map(|(_, p)| p.text().unwrap()).collect();
        assert_eq!(leaves, ["one", "two", "<b>two</b>", "three"]);
    }

    #[test]
    fn boundary_prefix_of_inner_boundary() {
        let raw = "Content-Type: multipart/mixed; boundary=abc\r\n\r\n\
            --abc\r\nContent-Type: multipart/alternative; boundary=abcd\r\n\r\n\
            --abcd\r\n\r\nA\r\n--abcd\r\n\r\nB\r\n--abcd--\r\n\
            --abc--\r\n";
        let m = Message::parse(raw.as_bytes().to_vec());
        let texts: Vec<_> = m.leaves().map(|(p, r)| (p, r.text().unwrap())).collect();
        assert_eq!(
            texts,
            [
                ("1.1".to_owned(), "A".to_owned()),
                ("1.2".to_owned(), "B".to_owned())
            ]
        );
    }

    #[test]
    fn limits_stop_descent() {
        let mut raw = String::new();
        for i in 0..100 {
            raw.push_str(&format!(
                "Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n"
            ));
        }
        let m = Message::parse(raw.into_bytes());
        assert!(
            m.warnings()
                .iter()
                .any(|w| matches!(w, Warning::DepthLimit { .. }))
        );
        assert!(m.parts().count() <= 66);

        let mut raw = String::from("Content-Type: multipart/mixed; boundary=x\r\n\r\n");
        for _ in 0..50 {
            raw.push_str("--x\r\n\r\na\r\n");
        }
        let mut opts = ParseOptions::default();
        opts.limits.max_parts = 10;
        let m = Message::parse_with(raw.into_bytes(), &opts);
        assert_eq!(m.parts().count(), 10);
        assert!(m.warnings().contains(&Warning::PartLimit { limit: 10 }));
        assert!(
            m.warnings()
                .iter()
                .any(|w| matches!(w, Warning::UnterminatedMultipart { .. }))
        );
    }

    #[test]
    fn garbage_never_panics() {
        for raw in [
            &b""[..],
            b"\r\n",
            b"\n\n\n",
            b":",
            b"--",
            b"Content-Type: multipart/x; boundary=\"\r\n\r\n--\r\n",
            b"\xff\xfe: \xff",
        ] {
            let m = Message::parse(raw.to_vec());
            let _ = (m.subject(), m.from(), m.sections(), m.text_body());
        }
    }
}
