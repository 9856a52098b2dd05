//! Server responses: status lines with RFC 2449 extended response codes, unique-ids
//! (RFC 1939 §7 `UIDL`) and multi-line message bodies (dot-stuffed, `.` terminated; `TOP`
//! cuts after the header and n body lines).
//!
//! ```
//! use mailcore_pop3::response::write_message;
//! let mut out = Vec::new();
//! write_message(&mut out, b"Subject: x\r\n\r\n.hidden\r\nsecond\r\n", Some(1));
//! assert_eq!(out, b"Subject: x\r\n\r\n..hidden\r\n.\r\n");
//! ```

use std::fmt;

/// An extended response code (RFC 2449 §8, RFC 3206), sent in brackets after `-ERR`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ResponseCode {
    /// `[AUTH]`: the credentials were refused (RFC 3206).
    Auth,
    /// `[SYS/TEMP]`: a temporary system problem; try again later (RFC 3206).
    SysTemp,
    /// `[SYS/PERM]`: a permanent system problem; do not retry (RFC 3206).
    SysPerm,
    /// `[IN-USE]`: the maildrop is locked by another session (RFC 2449).
    InUse,
    /// `[LOGIN-DELAY]`: logging in again so soon is not allowed (RFC 2449).
    LoginDelay,
}

impl ResponseCode {
    /// The code as written between brackets.
    pub fn as_str(&self) -> &'static str {
        match self {
            ResponseCode::Auth => "AUTH",
            ResponseCode::SysTemp => "SYS/TEMP",
            ResponseCode::SysPerm => "SYS/PERM",
            ResponseCode::InUse => "IN-USE",
            ResponseCode::LoginDelay => "LOGIN-DELAY",
        }
    }
}

impl fmt::Display for ResponseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Appends `+OK text` (or `+OK` alone) and CRLF.
pub fn write_ok(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(b"+OK");
    if !text.is_empty() {
        out.push(b' ');
        push_text(out, text);
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends `-ERR [code] text` and CRLF.
pub fn write_err(out: &mut Vec<u8>, code: Option<ResponseCode>, text: &str) {
    out.extend_from_slice(b"-ERR");
    if let Some(code) = code {
        out.extend_from_slice(b" [");
        out.extend_from_slice(code.as_str().as_bytes());
        out.push(b']');
    }
    if !text.is_empty() {
        out.push(b' ');
        push_text(out, text);
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends text for a status line; CR, LF and other control characters become spaces so no
/// text can end a line early.
fn push_text(out: &mut Vec<u8>, text: &str) {
    out.extend(
        text.bytes()
            .map(|b| if b < 0x20 || b == 0x7f { b' ' } else { b }),
    );
}

/// Why a string is not a unique-id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a unique-id is 1 to 70 characters in the range 0x21 to 0x7E")]
pub struct InvalidUniqueId;

/// A message's unique-id for `UIDL` (RFC 1939 §7): 1 to 70 printable ASCII characters other
/// than space, the same for the same message in every session.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UniqueId(String);

impl UniqueId {
    /// Checks a unique-id.
    pub fn new(id: &str) -> Result<UniqueId, InvalidUniqueId> {
        if id.is_empty() || id.len() > 70 || !id.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
            return Err(InvalidUniqueId);
        }
        Ok(UniqueId(id.to_owned()))
    }

    /// `<uidvalidity>.<uid>`: stable for as long as the mailbox keeps its UIDVALIDITY, and
    /// always valid (at most 21 characters).
    pub fn from_parts(uid_validity: u32, uid: u32) -> UniqueId {
        UniqueId(format!("{uid_validity}.{uid}"))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UniqueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Appends a message as a multi-line response body: every line ends in CRLF (a bare LF is
/// written as CRLF, a last line without one gets one), a line starting with `.` gets another
/// `.` in front, and `.` CRLF ends the body. With `body_lines`, only the header, the empty line
/// after it and that many body lines are written (`TOP`). A message in CRLF form is sent
/// byte-for-byte apart from the stuffing.
pub fn write_message(out: &mut Vec<u8>, message: &[u8], body_lines: Option<u32>) {
    out.reserve(message.len() + message.len() / 64 + 3);
    let mut rest = message;
    let mut in_header = true;
    let mut sent_body_lines: u32 = 0;
    while !rest.is_empty() {
        if !in_header && body_lines.is_some_and(|n| sent_body_lines >= n) {
            break;
        }
        let (line, next) = match memchr::memchr(b'\n', rest) {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.first() == Some(&b'.') {
            out.push(b'.');
        }
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
        if in_header {
            in_header = !line.is_empty();
        } else {
            sent_body_lines = sent_body_lines.saturating_add(1);
        }
        rest = next;
    }
    out.extend_from_slice(b".\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(m: &[u8], lines: Option<u32>) -> Vec<u8> {
        let mut out = Vec::new();
        write_message(&mut out, m, lines);
        out
    }

    #[test]
    fn stuffing_and_termination() {
        assert_eq!(message(b"", None), b".\r\n");
        assert_eq!(message(b"a\r\n", None), b"a\r\n.\r\n");
        assert_eq!(message(b"a", None), b"a\r\n.\r\n");
        assert_eq!(message(b"a\n.b\n", None), b"a\r\n..b\r\n.\r\n");
        assert_eq!(message(b".\r\n..\r\n", None), b"..\r\n...\r\n.\r\n");
        assert_eq!(message(b"a\r\r\n", None), b"a\r\r\n.\r\n");
    }

    #[test]
    fn top_cuts_after_header_and_lines() {
        let m = b"A: 1\r\nB: 2\r\n\r\none\r\n.two\r\nthree\r\n";
        assert_eq!(message(m, Some(0)), b"A: 1\r\nB: 2\r\n\r\n.\r\n");
        assert_eq!(
            message(m, Some(2)),
            b"A: 1\r\nB: 2\r\n\r\none\r\n..two\r\n.\r\n"
        );
        assert_eq!(message(m, Some(99)), message(m, None));
        // No body at all: the whole header.
        assert_eq!(message(b"A: 1\r\n", Some(0)), b"A: 1\r\n.\r\n");
    }

    #[test]
    fn status_lines() {
        let mut out = Vec::new();
        write_err(&mut out, Some(ResponseCode::Auth), "bad\r\nINJECTED");
        write_ok(&mut out, "");
        assert_eq!(out, b"-ERR [AUTH] bad  INJECTED\r\n+OK\r\n");
        assert!(UniqueId::new("a b").is_err());
        assert!(UniqueId::new(&"x".repeat(71)).is_err());
        assert_eq!(UniqueId::from_parts(7, 42).as_str(), "7.42");
    }
}
