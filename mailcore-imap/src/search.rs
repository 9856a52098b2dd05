//! SEARCH evaluation (RFC 9051 §6.4.4) over message metadata and, when a key needs it, the
//! parsed message: header keys match decoded header text (RFC 2047 words and 8-bit charsets
//! decoded), `BODY`/`TEXT` match the decoded text of the body parts, case-insensitively.
//!
//! ```
//! use mailcore::message::Message;
//! use mailcore_imap::command::SearchKey;
//! use mailcore_imap::search::{Candidate, matches};
//! use mailcore_store::mailbox::{MessageMeta, Uid, ModSeq, Flags};
//! use mailcore_store::blob::BlobId;
//! let msg = Message::parse(&b"Subject: =?GBK?B?t6LGsQ==?=\r\n\r\nhi"[..]);
//! let meta = MessageMeta { uid: Uid(7), modseq: ModSeq(1), flags: Flags::default(), internal_date: 0, size: 40, blob: BlobId([0; 32]) };
//! let c = Candidate { seq: 1, meta: &meta, message: Some(&msg), largest_seq: 1, largest_uid: 7 };
//! assert!(matches(&SearchKey::Header("Subject".into(), "发票".into()), &c));
//! assert!(!matches(&SearchKey::Body("发票".into()), &c));
//! ```

use mailcore::message::Message;
use mailcore_store::mailbox::MessageMeta;

use crate::command::{Flag, SearchKey};

/// One message being tested.
#[derive(Clone, Copy, Debug)]
pub struct Candidate<'a> {
    /// Its sequence number.
    pub seq: u32,
    /// Its metadata.
    pub meta: &'a MessageMeta,
    /// The parsed message, when [`needs_content`] said so.
    pub message: Option<&'a Message>,
    /// The largest sequence number (`*`).
    pub largest_seq: u32,
    /// The largest UID (`*`).
    pub largest_uid: u32,
}

/// Whether evaluating `key` needs the message content.
pub fn needs_content(key: &SearchKey) -> bool {
    match key {
        SearchKey::And(k) => k.iter().any(needs_content),
        SearchKey::Not(k) => needs_content(k),
        SearchKey::Or(a, b) => needs_content(a) || needs_content(b),
        SearchKey::Header(..)
        | SearchKey::Body(_)
        | SearchKey::Text(_)
        | SearchKey::SentBefore(_)
        | SearchKey::SentOn(_)
        | SearchKey::SentSince(_) => true,
        _ => false,
    }
}

fn has_flag(meta: &MessageMeta, f: &Flag) -> bool {
    let fl = &meta.flags;
    match f {
        Flag::Seen => fl.seen,
        Flag::Answered => fl.answered,
        Flag::Flagged => fl.flagged,
        Flag::Deleted => fl.deleted,
        Flag::Draft => fl.draft,
        Flag::Keyword(k) => fl.keywords.iter().any(|x| x.eq_ignore_ascii_case(k)),
    }
}

fn contains(haystack: &str, needle_lower: &str) -> bool {
    needle_lower.is_empty() || haystack.to_lowercase().contains(needle_lower)
}

fn header_matches(msg: &Message, name: &str, needle: &str) -> bool {
    let needle = needle.to_lowercase();
    msg.root()
        .fields()
        .filter(|f| f.name().eq_ignore_ascii_case(name))
        .any(|f| contains(&f.text(), &needle))
}

fn body_matches(msg: &Message, needle: &str) -> bool {
    let needle = needle.to_lowercase();
    msg.leaf_parts().any(|p| match p.text() {
        Some(t) => contains(&t, &needle),
        None => false,
    })
}

fn text_matches(msg: &Message, needle: &str) -> bool {
    let lower = needle.to_lowercase();
    msg.root().fields().any(|f| contains(&f.text(), &lower)) || body_matches(msg, needle)
}

fn sent_day(msg: &Message) -> Option<i64> {
    msg.date()
        .map(|d| (d.timestamp + i64::from(d.offset_minutes) * 60).div_euclid(86_400))
}

/// Whether the candidate matches the key.
pub fn matches(key: &SearchKey, c: &Candidate<'_>) -> bool {
    let day = c.meta.internal_date.div_euclid(86_400);
    let sent = |f: &dyn Fn(i64) -> bool| c.message.and_then(sent_day).is_some_and(f);
    match key {
        SearchKey::And(keys) => keys.iter().all(|k| matches(k, c)),
        SearchKey::All => true,
        SearchKey::Flag(f) => has_flag(c.meta, f),
        SearchKey::NotFlag(f) => !has_flag(c.meta, f),
        // No message is ever \Recent on this server.
        SearchKey::New | SearchKey::Recent => false,
        SearchKey::Old => true,
        SearchKey::Header(name, value) => c.message.is_some_and(|m| header_matches(m, name, value)),
        SearchKey::Body(t) => c.message.is_some_and(|m| body_matches(m, t)),
        SearchKey::Text(t) => c.message.is_some_and(|m| text_matches(m, t)),
        SearchKey::Before(d) => day < *d,
        SearchKey::On(d) => day == *d,
        SearchKey::Since(d) => day >= *d,
        SearchKey::SentBefore(d) => sent(&|s| s < *d),
        SearchKey::SentOn(d) => sent(&|s| s == *d),
        SearchKey::SentSince(d) => sent(&|s| s >= *d),
        SearchKey::Larger(n) => c.meta.size > *n,
        SearchKey::Smaller(n) => c.meta.size < *n,
        SearchKey::Uid(set) => set.contains(c.meta.uid.0, c.largest_uid),
        SearchKey::Seq(set) => set.contains(c.seq, c.largest_seq),
        SearchKey::Not(k) => !matches(k, c),
        SearchKey::Or(a, b) => matches(a, c) || matches(b, c),
        SearchKey::ModSeq(n) => c.meta.modseq.0 >= *n,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::command::{SeqNum, SequenceSet};
    use mailcore_store::blob::BlobId;
    use mailcore_store::mailbox::{Flags, ModSeq, Uid};

    #[test]
    fn keys() {
        let raw = b"From: \"Smith, J\" <js@example.com>\r\nDate: Tue, 1 Feb 1994 23:00:00 -0800\r\n\
Subject: =?utf-8?B?5Y+R56Wo?=\r\nContent-Type: text/plain; charset=gbk\r\n\r\n\xd6\xd0\xce\xc4 body\r\n";
        let msg = Message::parse(&raw[..]);
        let meta = MessageMeta {
            uid: Uid(10),
            modseq: ModSeq(5),
            flags: Flags {
                seen: true,
                ..Default::default()
            },
            internal_date: 8797 * 86_400 + 3600,
            size: 100,
            blob: BlobId([0; 32]),
        };
        let c = Candidate {
            seq: 2,
            meta: &meta,
            message: Some(&msg),
            largest_seq: 3,
            largest_uid: 12,
        };
        let t = |k: SearchKey| matches(&k, &c);
        assert!(t(SearchKey::Header("From".into(), "smith".into())));
        assert!(t(SearchKey::Header("subject".into(), "发票".into())));
        assert!(t(SearchKey::Body("中文".into())));
        assert!(t(SearchKey::Text("JS@EXAMPLE".into())));
        assert!(!t(SearchKey::Body("subject".into())));
        assert!(t(SearchKey::On(8797)) && t(SearchKey::Since(8797)) && !t(SearchKey::Before(8797)));
        assert!(t(SearchKey::SentOn(8797)));
        assert!(t(SearchKey::Larger(99)) && !t(SearchKey::Smaller(100)));
        assert!(t(SearchKey::Flag(Flag::Seen)) && !t(SearchKey::NotFlag(Flag::Seen)));
        assert!(t(SearchKey::Or(
            Box::new(SearchKey::New),
            Box::new(SearchKey::Old)
        )));
        assert!(t(SearchKey::Not(Box::new(SearchKey::Flag(Flag::Deleted)))));
        assert!(t(SearchKey::Uid(SequenceSet(vec![(
            SeqNum::Value(5),
            SeqNum::Largest
        )]))));
        assert!(!t(SearchKey::Seq(SequenceSet(vec![(
            SeqNum::Largest,
            SeqNum::Largest
        )]))));
    }
}
