//! Server responses (RFC 9051 §7): string encoding that quotes when it can and uses a literal
//! when it must (8-bit data, line breaks, `NUL`-free binary), mailbox names in modified UTF-7,
//! flag lists and status responses.
//!
//! ```
//! use mailcore_imap::response::{write_string, Status, status};
//! let mut out = Vec::new();
//! write_string(&mut out, "say \"hi\"".as_bytes());
//! out.push(b' ');
//! write_string(&mut out, "发票".as_bytes());
//! assert_eq!(out, b"\"say \\\"hi\\\"\" {6}\r\n\xe5\x8f\x91\xe7\xa5\xa8");
//! assert_eq!(status(Some("a1"), Status::No, Some("TRYCREATE"), "No such mailbox"),
//!            b"a1 NO [TRYCREATE] No such mailbox\r\n");
//! ```

use mailcore_store::mailbox::Flags;

/// Longest string sent quoted; longer ones go as literals.
pub const MAX_QUOTED: usize = 1024;

/// Whether bytes can be sent as a quoted string.
pub fn is_quotable(b: &[u8]) -> bool {
    b.len() <= MAX_QUOTED
        && b.iter()
            .all(|&c| (0x01..0x80).contains(&c) && c != b'\r' && c != b'\n')
}

/// Writes a `string`: quoted if possible, else a synchronising-form literal `{n}` (servers
/// never wait for a continuation).
pub fn write_string(out: &mut Vec<u8>, b: &[u8]) {
    if is_quotable(b) {
        out.push(b'"');
        for &c in b {
            if c == b'"' || c == b'\\' {
                out.push(b'\\');
            }
            out.push(c);
        }
        out.push(b'"');
    } else {
        write_literal(out, b);
    }
}

/// Writes a literal.
pub fn write_literal(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(format!("{{{}}}\r\n", b.len()).as_bytes());
    out.extend_from_slice(b);
}

/// Writes a literal, as `~{n}` (literal8, RFC 3516) when the bytes contain `NUL`.
pub fn write_literal8(out: &mut Vec<u8>, b: &[u8]) {
    if b.contains(&0) {
        out.push(b'~');
    }
    write_literal(out, b);
}

/// Writes an `nstring`: `NIL` or a string.
pub fn write_nstring(out: &mut Vec<u8>, b: Option<&[u8]>) {
    match b {
        Some(b) => write_string(out, b),
        None => out.extend_from_slice(b"NIL"),
    }
}

/// Writes an `astring`: an atom when the bytes are one, else a string (used by the command
/// encoder; client literals use the non-synchronising form).
pub fn write_astring(out: &mut Vec<u8>, b: &[u8]) {
    let atom = !b.is_empty()
        && b.iter()
            .all(|&c| (0x21..0x7f).contains(&c) && !b"(){%*\"\\".contains(&c))
        && !b.eq_ignore_ascii_case(b"NIL");
    if atom {
        out.extend_from_slice(b);
    } else if is_quotable(b) {
        write_string(out, b);
    } else {
        out.extend_from_slice(format!("{{{}+}}\r\n", b.len()).as_bytes());
        out.extend_from_slice(b);
    }
}

/// Writes a mailbox name (UTF-8) in modified UTF-7, quoted. In commands (the encoder) this
/// stays valid because modified UTF-7 is printable ASCII.
pub fn write_mailbox(out: &mut Vec<u8>, name: &str) {
    write_string(out, crate::utf7::encode(name).as_bytes());
}

/// Writes a mailbox name as UTF-8 when `utf8` (UTF8=ACCEPT or IMAP4rev2 enabled, RFC 6855
/// §3), otherwise in modified UTF-7 like [`write_mailbox`].
pub fn write_mailbox_as(out: &mut Vec<u8>, name: &str, utf8: bool) {
    if utf8 {
        // RFC 9051 §4.3 / RFC 6855 §3: `quoted` may carry UTF-8 once it is enabled. A name
        // is valid UTF-8 with no CR, LF or NUL, so only the length can force a literal.
        let b = name.as_bytes();
        if b.len() <= MAX_QUOTED && !b.iter().any(|&c| matches!(c, 0 | b'\r' | b'\n')) {
            out.push(b'"');
            for &c in b {
                if c == b'"' || c == b'\\' {
                    out.push(b'\\');
                }
                out.push(c);
            }
            out.push(b'"');
        } else {
            write_literal(out, b);
        }
    } else {
        write_mailbox(out, name);
    }
}

/// Writes a flag list `(\Seen $Forwarded)`.
pub fn write_flags(out: &mut Vec<u8>, f: &Flags) {
    out.push(b'(');
    let mut first = true;
    let mut put = |out: &mut Vec<u8>, s: &str| {
        if !first {
            out.push(b' ');
        }
        first = false;
        out.extend_from_slice(s.as_bytes());
    };
    for (on, name) in [
        (f.seen, "\\Seen"),
        (f.answered, "\\Answered"),
        (f.flagged, "\\Flagged"),
        (f.deleted, "\\Deleted"),
        (f.draft, "\\Draft"),
    ] {
        if on {
            put(out, name);
        }
    }
    for k in &f.keywords {
        // Keywords are atoms; anything else would break the response and is skipped.
        if !k.is_empty()
            && k.bytes()
                .all(|c| (0x21..0x7f).contains(&c) && !b"(){%*\"\\]".contains(&c))
        {
            put(out, k);
        }
    }
    out.push(b')');
}

/// The condition of a status response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Status {
    /// `OK`.
    Ok,
    /// `NO`: the command failed.
    No,
    /// `BAD`: the command was not understood or not allowed now.
    Bad,
    /// `BYE`: the server closes the connection.
    Bye,
    /// `PREAUTH`.
    PreAuth,
}

impl Status {
    /// The wire word.
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::No => "NO",
            Status::Bad => "BAD",
            Status::Bye => "BYE",
            Status::PreAuth => "PREAUTH",
        }
    }
}

/// A status response line: tagged when `tag` is given, else untagged (`*`). `text` has any
/// line break replaced so it cannot inject a response.
pub fn status(tag: Option<&str>, st: Status, code: Option<&str>, text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + text.len());
    out.extend_from_slice(tag.unwrap_or("*").as_bytes());
    out.push(b' ');
    out.extend_from_slice(st.as_str().as_bytes());
    if let Some(c) = code {
        out.extend_from_slice(b" [");
        out.extend_from_slice(c.as_bytes());
        out.push(b']');
    }
    out.push(b' ');
    let text = if text.is_empty() { "done" } else { text };
    out.extend(text.bytes().map(|b| {
        if b == b'\r' || b == b'\n' || b == 0 {
            b' '
        } else {
            b
        }
    }));
    out.extend_from_slice(b"\r\n");
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn strings() {
        let mut out = Vec::new();
        write_nstring(&mut out, None);
        out.push(b' ');
        write_string(&mut out, b"a\r\nb");
        assert_eq!(out, b"NIL {4}\r\na\r\nb");
        let mut out = Vec::new();
        write_mailbox(&mut out, "台北 & co");
        assert_eq!(out, b"\"&U,BTFw- &- co\"");
        let mut out = Vec::new();
        write_mailbox_as(&mut out, "台北 & \"co\"", true);
        assert_eq!(out, "\"台北 & \\\"co\\\"\"".as_bytes());
        let mut out = Vec::new();
        write_mailbox_as(&mut out, "a&b", false);
        assert_eq!(out, b"\"a&-b\"");
        let mut f = Flags {
            seen: true,
            ..Default::default()
        };
        f.keywords.insert("$Forwarded".into());
        f.keywords.insert("bad word".into());
        let mut out = Vec::new();
        write_flags(&mut out, &f);
        assert_eq!(out, b"(\\Seen $Forwarded)");
        assert_eq!(status(None, Status::Bad, None, "x\r\ny"), b"* BAD x  y\r\n");
        let mut out = Vec::new();
        write_literal8(&mut out, b"a\0b");
        write_literal8(&mut out, b"ab");
        assert_eq!(out, b"~{3}\r\na\0b{2}\r\nab");
    }
}
