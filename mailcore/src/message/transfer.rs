//! Content-Transfer-Encoding (RFC 2045 §6): base64, quoted-printable and the identity
//! encodings, decoded tolerantly.

use std::borrow::Cow;

/// A part's Content-Transfer-Encoding.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransferEncoding {
    /// `7bit` (also the default).
    SevenBit,
    /// `8bit`.
    EightBit,
    /// `binary`.
    Binary,
    /// `base64`.
    Base64,
    /// `quoted-printable`.
    QuotedPrintable,
    /// Any other value (kept lowercased); the body is passed through undecoded.
    Other(String),
}

impl TransferEncoding {
    /// Parses a Content-Transfer-Encoding header value.
    pub fn parse(value: &str) -> TransferEncoding {
        let v = value.trim().trim_matches('"').to_ascii_lowercase();
        match v.as_str() {
            "" | "7bit" => TransferEncoding::SevenBit,
            "8bit" => TransferEncoding::EightBit,
            "binary" => TransferEncoding::Binary,
            "base64" => TransferEncoding::Base64,
            "quoted-printable" => TransferEncoding::QuotedPrintable,
            _ => TransferEncoding::Other(v),
        }
    }

    /// The canonical lowercase name, as IMAP BODYSTRUCTURE reports it (uppercased there).
    pub fn as_str(&self) -> &str {
        match self {
            TransferEncoding::SevenBit => "7bit",
            TransferEncoding::EightBit => "8bit",
            TransferEncoding::Binary => "binary",
            TransferEncoding::Base64 => "base64",
            TransferEncoding::QuotedPrintable => "quoted-printable",
            TransferEncoding::Other(s) => s,
        }
    }

    /// Decodes `body`. Identity encodings borrow; the returned flag says whether malformed
    /// input was met (and skipped or kept literally).
    pub fn decode<'a>(&self, body: &'a [u8]) -> (Cow<'a, [u8]>, bool) {
        match self {
            TransferEncoding::Base64 => {
                let (v, bad) = decode_base64(body);
                (Cow::Owned(v), bad)
            }
            TransferEncoding::QuotedPrintable => {
                let (v, bad) = decode_quoted_printable(body, false);
                (Cow::Owned(v), bad)
            }
            _ => (Cow::Borrowed(body), false),
        }
    }
}

const INVALID: u8 = 0xff;

static BASE64_TABLE: [u8; 256] = {
    let mut t = [INVALID; 256];
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut i = 0;
    while i < 64 {
        t[alphabet[i] as usize] = i as u8;
        i += 1;
    }
    t
};

/// Decodes base64, skipping every byte outside the alphabet (line breaks, spaces, junk) and
/// treating `=` as the end of a quantum (so concatenated encodings still decode). Returns the
/// bytes and whether anything other than whitespace and padding was skipped or a dangling
/// sextet was dropped.
pub fn decode_base64(input: &[u8]) -> (Vec<u8>, bool) {
    let mut out = Vec::with_capacity(input.len() / 4 * 3 + 3);
    let mut junk = false;
    let mut acc: u32 = 0;
    let mut n = 0u8;
    for &b in input {
        let v = BASE64_TABLE[b as usize];
        if v != INVALID {
            acc = (acc << 6) | v as u32;
            n += 1;
            if n == 4 {
                out.extend_from_slice(&[(acc >> 16) as u8, (acc >> 8) as u8, acc as u8]);
                acc = 0;
                n = 0;
            }
            continue;
        }
        match b {
            b'=' => {
                flush_quantum(&mut out, acc, n, &mut junk);
                acc = 0;
                n = 0;
            }
            b'\r' | b'\n' | b' ' | b'\t' => {}
            _ => junk = true,
        }
    }
    flush_quantum(&mut out, acc, n, &mut junk);
    (out, junk)
}

fn flush_quantum(out: &mut Vec<u8>, acc: u32, n: u8, junk: &mut bool) {
    match n {
        2 => out.push((acc >> 4) as u8),
        3 => out.extend_from_slice(&[(acc >> 10) as u8, (acc >> 2) as u8]),
        1 => *junk = true,
        _ => {}
    }
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes quoted-printable. With `underscore_is_space` (the RFC 2047 "Q" encoding) `_`
/// decodes to a space. Soft line breaks (`=` before a line end, trailing blanks allowed) are
/// removed; trailing blanks before a hard line break are dropped (RFC 2045 §6.7 rule 3);
/// malformed `=` escapes are kept literally and reported.
pub fn decode_quoted_printable(input: &[u8], underscore_is_space: bool) -> (Vec<u8>, bool) {
    let mut out = Vec::with_capacity(input.len());
    let mut bad = false;
    let mut start = 0;
    // Line by line: find the line end, drop the line's trailing blanks, then copy the runs
    // between '=' escapes.
    while start < input.len() {
        let (content_end, next) = match memchr::memchr(b'\n', &input[start..]) {
            Some(i) => {
                let nl = start + i;
                let end = if nl > start && input[nl - 1] == b'\r' {
                    nl - 1
                } else {
                    nl
                };
                (end, Some(nl + 1))
            }
            None => (input.len(), None),
        };
        let line = &input[start..content_end];
        let line = if underscore_is_space {
            line
        } else {
            let keep = line
                .iter()
                .rposition(|&b| b != b' ' && b != b'\t')
                .map_or(0, |p| p + 1);
            &line[..keep]
        };
        let soft = decode_qp_line(line, underscore_is_space, &mut out, &mut bad);
        match next {
            Some(n) => {
                if !soft {
                    out.extend_from_slice(&input[content_end..n]);
                }
                start = n;
            }
            None => break,
        }
    }
    (out, bad)
}

/// Decodes one line (without its line break); returns whether it ended in a soft line break.
fn decode_qp_line(
    line: &[u8],
    underscore_is_space: bool,
    out: &mut Vec<u8>,
    bad: &mut bool,
) -> bool {
    let mut i = 0;
    loop {
        let next = if underscore_is_space {
            line[i..].iter().position(|&b| b == b'=' || b == b'_')
        } else {
            memchr::memchr(b'=', &line[i..])
        };
        let Some(rel) = next else {
            out.extend_from_slice(&line[i..]);
            return false;
        };
        let at = i + rel;
        out.extend_from_slice(&line[i..at]);
        if line[at] == b'_' {
            out.push(b' ');
            i = at + 1;
            continue;
        }
        if let (Some(h), Some(l)) = (
            line.get(at + 1).copied().and_then(hex_value),
            line.get(at + 2).copied().and_then(hex_value),
        ) {
            out.push(h << 4 | l);
            i = at + 3;
            continue;
        }
        // '=' followed only by blanks up to the line end is a soft line break.
        if line[at + 1..].iter().all(|&b| b == b' ' || b == b'\t') {
            return true;
        }
        *bad = true;
        out.push(b'=');
        i = at + 1;
    }
}

/// Encodes bytes as base64 without line breaks (used for RFC 2047 "B" words).
pub fn encode_base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * k) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_tolerates_junk() {
        let (v, junk) = decode_base64(b"SGVs bG8s\r\nIHdv*cmxk!IQ==");
        assert_eq!(v, b"Hello, world!");
        assert!(junk);
        let (v, junk) = decode_base64(b"SGVsbG8");
        assert_eq!(v, b"Hello");
        assert!(!junk);
        // Two encodings concatenated.
        assert_eq!(decode_base64(b"YQ==Yg==").0, b"ab");
        assert_eq!(encode_base64(b"Hello, world!"), "SGVsbG8sIHdvcmxkIQ==");
    }

    #[test]
    fn quoted_printable() {
        let (v, bad) = decode_quoted_printable(b"a=3Db =\r\nc  \r\nd=4", false);
        assert_eq!(v, b"a=b c\r\nd=4");
        assert!(bad);
        assert_eq!(
            decode_quoted_printable(b"caf=C3=A9_x", true).0,
            "café x".as_bytes()
        );
        assert_eq!(
            decode_quoted_printable(b"soft= \nbreak", false).0,
            b"softbreak"
        );
    }

    #[test]
    fn names() {
        assert_eq!(
            TransferEncoding::parse(" Base64 "),
            TransferEncoding::Base64
        );
        assert_eq!(TransferEncoding::parse("x-uuencode").as_str(), "x-uuencode");
    }
}
