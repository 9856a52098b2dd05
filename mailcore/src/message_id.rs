//! Message identifiers (RFC 5322 §3.6.4 `msg-id`).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::address::{self, Domain};

/// A message id such as `20240301.1234@example.com`, held without its angle brackets.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId(Box<str>);

/// Why a message id was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MessageIdError {
    /// Not of the form `<left@right>`.
    #[error("message id must look like <left@right>")]
    Syntax,
    /// Longer than [`MessageId::MAX_LEN`].
    #[error("message id too long")]
    TooLong,
}

impl MessageId {
    /// Longest id accepted, in bytes.
    pub const MAX_LEN: usize = 998;

    /// Parses `<left@right>` strictly: both sides dot-atoms (the right side may also be a
    /// `[literal]`), angle brackets required.
    pub fn parse(s: &str) -> Result<MessageId, MessageIdError> {
        let inner = s
            .trim()
            .strip_prefix('<')
            .and_then(|r| r.strip_suffix('>'))
            .ok_or(MessageIdError::Syntax)?;
        if inner.len() > Self::MAX_LEN {
            return Err(MessageIdError::TooLong);
        }
        let (left, right) = inner.rsplit_once('@').ok_or(MessageIdError::Syntax)?;
        let dot_atom = |s: &str| {
            !s.is_empty()
                && s.split('.')
                    .all(|a| !a.is_empty() && a.chars().all(address::is_atext))
        };
        let literal = |s: &str| {
            s.starts_with('[')
                && s.ends_with(']')
                && s[1..s.len() - 1]
                    .bytes()
                    .all(|b| (33..=126).contains(&b) && !b"[]\\".contains(&b))
        };
        if !dot_atom(left) || !(dot_atom(right) || literal(right)) {
            return Err(MessageIdError::Syntax);
        }
        Ok(MessageId(inner.into()))
    }

    /// Extracts an id from a header value the way mail in the wild needs: the first `<…>` if
    /// any, else the whole trimmed value; refused only if empty, too long or containing
    /// whitespace or angle brackets.
    pub fn parse_lenient(s: &str) -> Option<MessageId> {
        let s = s.trim();
        let inner = match (s.find('<'), s.find('>')) {
            (Some(a), Some(b)) if a < b => &s[a + 1..b],
            _ => s,
        }
        .trim();
        let ok = !inner.is_empty()
            && inner.len() <= Self::MAX_LEN
            && !inner
                .contains(|c: char| c.is_whitespace() || c.is_control() || c == '<' || c == '>');
        ok.then(|| MessageId(inner.into()))
    }

    /// Makes a new, unique id on `domain`.
    pub fn generate(domain: &Domain) -> MessageId {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let salt = {
            use std::hash::{BuildHasher, Hasher};
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u64(n);
            h.write_u32(std::process::id());
            h.finish()
        };
        MessageId(
            format!(
                "{}.{:x}.{n}.{salt:016x}@{}",
                now.as_secs(),
                now.subsec_nanos(),
                domain.as_ascii()
            )
            .into(),
        )
    }

    /// The id without angle brackets.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Displays with angle brackets, as in a header.
impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{}>", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse() {
        assert_eq!(
            MessageId::parse("<a.b@example.com>").unwrap().as_str(),
            "a.b@example.com"
        );
        assert_eq!(
            MessageId::parse(" <x@[127.0.0.1]> ").unwrap().as_str(),
            "x@[127.0.0.1]"
        );
        for bad in ["a@b", "<a b@c>", "<@c>", "<a@>", "<a>"] {
            assert!(MessageId::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            MessageId::parse_lenient("  abc@def ").unwrap().as_str(),
            "abc@def"
        );
        assert_eq!(
            MessageId::parse_lenient("<a@b> (comment)")
                .unwrap()
                .as_str(),
            "a@b"
        );
        assert!(MessageId::parse_lenient("a b").is_none());
        let d = Domain::parse("example.com").unwrap();
        let (a, b) = (MessageId::generate(&d), MessageId::generate(&d));
        assert_ne!(a, b);
        assert_eq!(MessageId::parse(&a.to_string()), Ok(a));
    }
}
