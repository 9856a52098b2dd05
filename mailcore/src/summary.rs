//! A JSON-ready summary of a message: what `mailcore-server inspect` prints, and a compact
//! view for logs and admin tools.
//!
//! ```
//! use mailcore::{message::Message, summary::Summary};
//! let msg = Message::parse(&b"Subject: =?UTF-8?Q?caf=C3=A9?=\r\nFrom: A <a@example.com>\r\n\r\nhi"[..]);
//! let s = Summary::of(&msg);
//! assert_eq!(s.subject.as_deref(), Some("café"));
//! assert_eq!(s.parts[0].path, "1");
//! assert_eq!(s.text.as_deref(), Some("hi"));
//! ```

use serde::Serialize;

use crate::address::AddressList;
use crate::message::{Message, PartRef};

/// One address of a summary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SummaryAddress {
    /// Decoded display name.
    pub name: Option<String>,
    /// `local@domain` as written (U-label domains stay Unicode).
    pub address: String,
}

/// One leaf part of a summary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SummaryPart {
    /// IMAP section path, e.g. `1.2`.
    pub path: String,
    /// Lowercase `type/subtype`.
    pub content_type: String,
    /// The declared charset, lowercased.
    pub charset: Option<String>,
    /// The decoded file name.
    pub filename: Option<String>,
    /// Size in bytes after transfer decoding.
    pub size: usize,
}

/// The summary. Field order is the JSON order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Decoded subject.
    pub subject: Option<String>,
    /// `From` mailboxes.
    pub from: Vec<SummaryAddress>,
    /// `To` mailboxes (groups flattened).
    pub to: Vec<SummaryAddress>,
    /// `Cc` mailboxes (groups flattened).
    pub cc: Vec<SummaryAddress>,
    /// `Date` as RFC 3339 in the message's own offset.
    pub date: Option<String>,
    /// `Message-ID` without angle brackets.
    pub message_id: Option<String>,
    /// Leaf parts, depth first.
    pub parts: Vec<SummaryPart>,
    /// First `text/plain` body in UTF-8.
    pub text: Option<String>,
    /// First `text/html` body in UTF-8.
    pub html: Option<String>,
    /// Limits hit and malformations met.
    pub warnings: Vec<String>,
}

impl Summary {
    /// Summarises a parsed message.
    pub fn of(msg: &Message) -> Summary {
        let mut warnings: Vec<String> = msg.warnings().iter().map(ToString::to_string).collect();
        let root = msg.root();
        let mut addresses = |name: &str| -> Vec<SummaryAddress> {
            let mut list = AddressList::default();
            for f in root
                .fields()
                .filter(|f| f.name().eq_ignore_ascii_case(name))
            {
                let (l, errors) = AddressList::parse_lenient(&f.value());
                for e in errors {
                    warnings.push(format!("{name}: unusable address skipped ({e})"));
                }
                list.0.extend(l.0);
            }
            list.mailboxes()
                .map(|m| SummaryAddress {
                    name: m.name.clone(),
                    address: m.address.to_string(),
                })
                .collect()
        };
        let (from, to, cc) = (addresses("From"), addresses("To"), addresses("Cc"));
        let date = root.field("Date").map(|f| f.value().into_owned());
        let parsed_date = msg.date();
        if date.is_some() && parsed_date.is_none() {
            warnings.push("Date: unparsable date ignored".to_owned());
        }
        let mut parts = Vec::new();
        let (mut text, mut html) = (None, None);
        for (path, part) in msg.leaves() {
            let (body, malformed) = part.decode_body();
            if malformed {
                warnings.push(format!(
                    "part {path}: malformed {} content skipped",
                    part.transfer_encoding().as_str()
                ));
            }
            parts.push(SummaryPart::new(&path, &part, body.len()));
            let slot = match part.content_type().sub.as_str() {
                "plain" => &mut text,
                "html" => &mut html,
                _ => continue,
            };
            if slot.is_none()
                && !part.is_attachment()
                && let Some((t, unknown)) = part.decode_text()
            {
                if unknown {
                    warnings.push(format!(
                        "part {path}: unknown charset {:?}",
                        part.content_type().charset().unwrap_or_default()
                    ));
                }
                *slot = Some(t);
            }
        }
        Summary {
            subject: msg.subject(),
            from,
            to,
            cc,
            date: parsed_date.map(|d| d.to_rfc3339()),
            message_id: msg.message_id(),
            parts,
            text,
            html,
            warnings,
        }
    }
}

impl SummaryPart {
    /// The entry for one leaf part whose decoded body is `size` bytes.
    pub fn new(path: &str, part: &PartRef<'_>, size: usize) -> SummaryPart {
        SummaryPart {
            path: path.to_owned(),
            content_type: part.content_type().essence(),
            charset: part
                .content_type()
                .charset()
                .map(|c| c.trim().to_ascii_lowercase()),
            filename: part.filename().map(str::to_owned),
            size,
        }
    }
}
