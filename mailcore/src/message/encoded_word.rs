//! RFC 2047 encoded words: `=?charset?B|Q?text?=` in headers.
//!
//! Decoding is tolerant the way mail in the wild needs: charset names in any case (with an
//! optional RFC 2231 `*language` suffix), whitespace between adjacent encoded words dropped,
//! and the bytes of adjacent words in the same charset joined *before* charset decoding, so a
//! multi-byte character split across two words still decodes.
//!
//! ```
//! use mailcore::message::encoded_word::{decode, encode};
//! assert_eq!(decode("=?gb2312?B?1tDOxA==?= =?UTF-8?Q?_mail?="), "中文 mail");
//! let subject = "季度报告 – Q3";
//! assert_eq!(decode(&encode(subject)), subject);
//! ```

use super::transfer::{decode_base64, decode_quoted_printable, encode_base64};
use crate::charset::Charset;

/// Maximum length of one encoded word (RFC 2047 §2).
pub const MAX_WORD_LEN: usize = 75;

/// How the text of an encoded word is encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WordEncoding {
    /// "B": base64.
    B,
    /// "Q": quoted-printable with `_` for space.
    Q,
}

/// Decodes every encoded word in `input`, leaving other text as it is.
pub fn decode(input: &str) -> String {
    decode_reporting(input).0
}

/// Like [`decode`], also saying whether an unknown charset or malformed bytes were met.
pub fn decode_reporting(input: &str) -> (String, bool) {
    if !input.contains("=?") {
        return (input.to_owned(), false);
    }
    let mut out = String::with_capacity(input.len());
    let mut trouble = false;
    let mut pending: Option<(Option<Charset>, Vec<u8>)> = None;
    let mut pos = 0;
    let mut search = 0;
    while let Some(rel) = input[search..].find("=?") {
        let start = search + rel;
        let Some((charset, bytes, end)) = parse_word(input, start) else {
            search = start + 2;
            continue;
        };
        let gap = &input[pos..start];
        let adjacent = pending.is_some() && gap.chars().all(|c| c.is_ascii_whitespace());
        match pending.as_mut() {
            Some((cs, buf)) if adjacent && *cs == charset && joinable(charset) => {
                buf.extend_from_slice(&bytes)
            }
            _ => {
                if let Some(p) = pending.take() {
                    trouble |= flush(&mut out, p);
                }
                if !adjacent {
                    out.push_str(gap);
                }
                pending = Some((charset, bytes));
            }
        }
        pos = end;
        search = end;
    }
    if let Some(p) = pending.take() {
        trouble |= flush(&mut out, p);
    }
    out.push_str(&input[pos..]);
    (out, trouble)
}

/// Whether the bytes of adjacent words in this charset may be joined before decoding. Stateful
/// encodings (ISO-2022-JP, UTF-7) make each word self-contained, so their words are decoded
/// one by one.
fn joinable(charset: Option<Charset>) -> bool {
    match charset {
        Some(Charset::Encoding(e)) => e != encoding_rs::ISO_2022_JP,
        _ => false,
    }
}

fn flush(out: &mut String, (charset, bytes): (Option<Charset>, Vec<u8>)) -> bool {
    match charset {
        Some(cs) => {
            let d = cs.decode(&bytes);
            out.push_str(&d.text);
            d.had_errors
        }
        None => {
            out.push_str(&String::from_utf8_lossy(&bytes));
            true
        }
    }
}

/// Parses one encoded word starting at `start` (which points at `=?`). Returns the charset
/// (`None` when unknown), the decoded bytes and the end offset.
fn parse_word(input: &str, start: usize) -> Option<(Option<Charset>, Vec<u8>, usize)> {
    let rest = &input[start + 2..];
    let q1 = rest.find('?')?;
    let charset_label = &rest[..q1];
    if charset_label.is_empty()
        || charset_label.len() > 64
        || charset_label.contains(char::is_whitespace)
    {
        return None;
    }
    let rest2 = &rest[q1 + 1..];
    let mut enc_chars = rest2.chars();
    let enc = match enc_chars.next()? {
        'b' | 'B' => WordEncoding::B,
        'q' | 'Q' => WordEncoding::Q,
        _ => return None,
    };
    if enc_chars.next()? != '?' {
        return None;
    }
    let text_all = &rest2[2..];
    let close = text_all.find("?=")?;
    let text = &text_all[..close];
    if text.contains([' ', '\t', '\r', '\n']) {
        return None;
    }
    let end = start + 2 + q1 + 1 + 2 + close + 2;
    let label = charset_label.split('*').next().unwrap_or(charset_label);
    let bytes = match enc {
        WordEncoding::B => decode_base64(text.as_bytes()).0,
        WordEncoding::Q => decode_quoted_printable(text.as_bytes(), true).0,
    };
    Some((Charset::for_label(label), bytes, end))
}

/// Whether `text` can stand in a header as it is (printable ASCII, no `=?`).
fn needs_encoding(text: &str) -> bool {
    text.contains("=?")
        || text
            .bytes()
            .any(|b| !(b == b' ' || b == b'\t' || (0x21..0x7f).contains(&b)))
}

/// Encodes `text` for an unstructured header as UTF-8 "B" encoded words when it needs it
/// (non-ASCII, control characters or a literal `=?`); otherwise returns it unchanged.
pub fn encode(text: &str) -> String {
    if needs_encoding(text) {
        encode_words(text, WordEncoding::B)
    } else {
        text.to_owned()
    }
}

/// Encodes all of `text` as UTF-8 encoded words of at most [`MAX_WORD_LEN`] characters each,
/// separated by single spaces, never splitting a character.
pub fn encode_words(text: &str, encoding: WordEncoding) -> String {
    const PREFIX_B: &str = "=?UTF-8?B?";
    const PREFIX_Q: &str = "=?UTF-8?Q?";
    let budget = MAX_WORD_LEN - PREFIX_B.len() - 2;
    let mut words: Vec<String> = Vec::new();
    let mut chunk_start = 0;
    let mut chunk_cost = 0;
    let push = |words: &mut Vec<String>, chunk: &str| {
        let body = match encoding {
            WordEncoding::B => encode_base64(chunk.as_bytes()),
            WordEncoding::Q => q_encode(chunk),
        };
        let prefix = if encoding == WordEncoding::B {
            PREFIX_B
        } else {
            PREFIX_Q
        };
        words.push(format!("{prefix}{body}?="));
    };
    for (i, c) in text.char_indices() {
        let q_cost = match encoding {
            WordEncoding::B => 0,
            WordEncoding::Q => q_encode(c.encode_utf8(&mut [0; 4])).len(),
        };
        let fits = match encoding {
            WordEncoding::B => (i + c.len_utf8() - chunk_start).div_ceil(3) * 4 <= budget,
            WordEncoding::Q => chunk_cost + q_cost <= budget,
        };
        if !fits && i > chunk_start {
            push(&mut words, &text[chunk_start..i]);
            chunk_start = i;
            chunk_cost = 0;
        }
        chunk_cost += q_cost;
    }
    if chunk_start < text.len() || words.is_empty() {
        push(&mut words, &text[chunk_start..]);
    }
    words.join(" ")
}

fn q_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        match b {
            b' ' => out.push('_'),
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'!' | b'*' | b'+' | b'-' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("={b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc2047_examples() {
        assert_eq!(decode("=?ISO-8859-1?Q?a?="), "a");
        assert_eq!(decode("=?ISO-8859-1?Q?a?= b"), "a b");
        assert_eq!(decode("=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?="), "ab");
        assert_eq!(decode("=?ISO-8859-1?Q?a?=  =?ISO-8859-1?Q?b?="), "ab");
        assert_eq!(decode("=?ISO-8859-1?Q?a?=\r\n  =?ISO-8859-1?Q?b?="), "ab");
        assert_eq!(decode("=?ISO-8859-1?Q?a_b?="), "a b");
        assert_eq!(decode("=?ISO-8859-1?Q?a?= =?ISO-8859-2?Q?_b?="), "a b");
        assert_eq!(decode("(=?ISO-8859-1?Q?a?=)"), "(a)");
        assert_eq!(decode("=?US-ASCII*EN?Q?Keith_Moore?="), "Keith Moore");
    }

    #[test]
    fn split_multibyte_character_joins() {
        // "中" in UTF-8 is E4 B8 AD, split across two words.
        assert_eq!(decode("=?utf-8?Q?=E4=B8?= =?UTF-8?Q?=AD?="), "中");
        // Bytes are joined only within one charset.
        assert_eq!(decode("=?utf-8?B?5Lit?= =?gbk?B?zsQ=?="), "中文");
        // ISO-2022-JP words are self-contained: each is decoded on its own.
        assert_eq!(
            decode("=?ISO-2022-JP?B?GyRCRnxLXBsoQg==?= =?ISO-2022-JP?B?GyRCOGwbKEI=?="),
            "日本語"
        );
    }

    #[test]
    fn malformed_words_stay_literal() {
        assert_eq!(decode("=?utf-8?X?abc?="), "=?utf-8?X?abc?=");
        assert_eq!(decode("=?utf-8?Q?abc"), "=?utf-8?Q?abc");
        assert_eq!(decode("a =? b"), "a =? b");
        let (text, trouble) = decode_reporting("=?x-nope?Q?abc?=");
        assert_eq!(text, "abc");
        assert!(trouble);
    }

    #[test]
    fn encode_limits_word_length() {
        let long = "测试".repeat(40);
        let enc = encode(&long);
        assert!(enc.split(' ').all(|w| w.len() <= MAX_WORD_LEN));
        assert_eq!(decode(&enc), long);
        let enc = encode_words(&long, WordEncoding::Q);
        assert!(enc.split(' ').all(|w| w.len() <= MAX_WORD_LEN), "{enc}");
        assert_eq!(decode(&enc), long);
        assert_eq!(encode("plain"), "plain");
    }
}
