//! Modified UTF-7 mailbox names (RFC 3501 §5.1.3, kept by RFC 9051 for IMAP4rev1 clients).
//!
//! Printable US-ASCII stands for itself except `&`, which is written `&-`; everything else is
//! UTF-16 in a base64 variant (`,` for `/`, no padding) between `&` and `-`.
//!
//! ```
//! use mailcore_imap::utf7;
//! assert_eq!(utf7::encode("日本語/Mail & more"), "&ZeVnLIqe-/Mail &- more");
//! assert_eq!(utf7::decode("&ZeVnLIqe-/Mail &- more").unwrap(), "日本語/Mail & more");
//! assert!(utf7::decode("&Jjo!").is_err());
//! ```

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

/// Why a name is not valid modified UTF-7.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Utf7Error {
    /// A character outside printable US-ASCII appeared unencoded.
    #[error("character {0:#x} must be encoded")]
    Unencoded(u32),
    /// A shifted section is not terminated with `-`.
    #[error("unterminated base64 section")]
    Unterminated,
    /// A character that is not in the modified base64 alphabet.
    #[error("invalid base64 character")]
    BadBase64,
    /// `&-` style empty shift, leftover non-zero bits, or a partial UTF-16 unit.
    #[error("non-canonical base64 section")]
    NonCanonical,
    /// Unpaired UTF-16 surrogate.
    #[error("invalid UTF-16")]
    BadUtf16,
    /// Printable ASCII was base64-encoded, or two shifted sections are adjacent.
    #[error("printable ASCII must not be encoded")]
    EncodedAscii,
}

/// Encodes a mailbox name (UTF-8) as modified UTF-7.
pub fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut pending: Vec<u16> = Vec::new();
    let flush = |pending: &mut Vec<u16>, out: &mut String| {
        if pending.is_empty() {
            return;
        }
        out.push('&');
        let bytes: Vec<u8> = pending.iter().flat_map(|u| u.to_be_bytes()).collect();
        for chunk in bytes.chunks(3) {
            let b = [
                chunk[0],
                chunk.get(1).copied().unwrap_or(0),
                chunk.get(2).copied().unwrap_or(0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            let chars = match chunk.len() {
                1 => 2,
                2 => 3,
                _ => 4,
            };
            for i in 0..chars {
                let idx = (n >> (18 - 6 * i)) & 0x3f;
                out.push(char::from(ALPHABET[idx as usize]));
            }
        }
        out.push('-');
        pending.clear();
    };
    for c in name.chars() {
        if (' '..='~').contains(&c) {
            flush(&mut pending, &mut out);
            if c == '&' {
                out.push_str("&-");
            } else {
                out.push(c);
            }
        } else {
            let mut buf = [0u16; 2];
            pending.extend_from_slice(c.encode_utf16(&mut buf));
        }
    }
    flush(&mut pending, &mut out);
    out
}

fn sextet(b: u8) -> Option<u32> {
    ALPHABET.iter().position(|&a| a == b).map(|p| p as u32)
}

/// Decodes a modified UTF-7 mailbox name strictly, refusing every non-canonical form.
pub fn decode(name: &str) -> Result<String, Utf7Error> {
    let bytes = name.as_bytes();
    let mut out = String::with_capacity(name.len());
    let mut i = 0;
    let mut last_shift_end: Option<usize> = None;
    while i < bytes.len() {
        let b = bytes[i];
        if b != b'&' {
            if !(0x20..=0x7e).contains(&b) {
                let c = name[i..].chars().next().map_or(u32::from(b), u32::from);
                return Err(Utf7Error::Unencoded(c));
            }
            out.push(char::from(b));
            i += 1;
            continue;
        }
        // `&-` is a literal ampersand.
        if bytes.get(i + 1) == Some(&b'-') {
            out.push('&');
            i += 2;
            continue;
        }
        if last_shift_end == Some(i) {
            return Err(Utf7Error::EncodedAscii);
        }
        let start = i + 1;
        let Some(len) = bytes[start..].iter().position(|&c| c == b'-') else {
            return Err(Utf7Error::Unterminated);
        };
        let section = &bytes[start..start + len];
        let mut acc: u32 = 0;
        let mut bits = 0u32;
        let mut units: Vec<u16> = Vec::new();
        for &c in section {
            let v = sextet(c).ok_or(Utf7Error::BadBase64)?;
            acc = (acc << 6) | v;
            bits += 6;
            if bits >= 16 {
                bits -= 16;
                units.push(((acc >> bits) & 0xffff) as u16);
                acc &= (1 << bits) - 1;
            }
        }
        if units.is_empty() || bits >= 6 || acc != 0 {
            return Err(Utf7Error::NonCanonical);
        }
        for c in char::decode_utf16(units.iter().copied()) {
            let c = c.map_err(|_| Utf7Error::BadUtf16)?;
            if (' '..='~').contains(&c) {
                return Err(Utf7Error::EncodedAscii);
            }
            out.push(c);
        }
        i = start + len + 1;
        last_shift_end = Some(i);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn rfc_examples() {
        // RFC 3501 §5.1.3.
        assert_eq!(
            encode("~peter/mail/台北/日本語"),
            "~peter/mail/&U,BTFw-/&ZeVnLIqe-"
        );
        assert_eq!(
            decode("~peter/mail/&U,BTFw-/&ZeVnLIqe-").unwrap(),
            "~peter/mail/台北/日本語"
        );
        assert_eq!(encode("&"), "&-");
        assert_eq!(decode("Entw&APw-rfe").unwrap(), "Entwürfe");
        assert_eq!(encode("😀"), "&2D3eAA-");
        assert_eq!(decode("&2D3eAA-").unwrap(), "😀");
    }

    #[test]
    fn rejects_invalid() {
        for bad in [
            "&Jjo!",              // no terminator
            "&U,BTFw-&ZeVnLIqe-", // adjacent shifts
            "&AGE-",              // encoded 'a'
            "&-&",                // unterminated
            "&U,BTF-",            // leftover bits
            "&2D0-",              // lone surrogate
            "&A/E-",              // '/' not in the alphabet
            "caf\u{e9}",          // raw 8-bit
            "a\tb",               // control
            "&-&",
            "&",
        ] {
            assert!(decode(bad).is_err(), "{bad:?}");
        }
    }
}
