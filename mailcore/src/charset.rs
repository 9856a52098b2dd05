//! Character sets: decoding the bytes of headers and bodies to UTF-8.
//!
//! Every charset that enterprise mail uses in practice goes through [`encoding_rs`]
//! (UTF-8, GB18030/GBK/GB2312, Big5, ISO-2022-JP, Shift_JIS, EUC-KR, ISO-8859-*,
//! Windows-125*, …). UTF-7 (RFC 2152), which `encoding_rs` deliberately omits, is decoded here.
//! A few names that mail clients use but the WHATWG label table lacks (`cp936`, `cp949`, …)
//! are mapped to their equivalents.
//!
//! ```
//! use mailcore::charset::Charset;
//! let gbk = Charset::for_label("GB2312").unwrap();
//! assert_eq!(gbk.decode(&[0xd6, 0xd0, 0xce, 0xc4]).text, "中文");
//! let utf7 = Charset::for_label("utf-7").unwrap();
//! assert_eq!(utf7.decode(b"Hi Mom -+Jjo--!").text, "Hi Mom -\u{263a}-!");
//! ```

use std::borrow::Cow;

use encoding_rs::Encoding;

/// A character set we can decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Charset {
    /// A charset implemented by `encoding_rs`.
    Encoding(&'static Encoding),
    /// UTF-7 (RFC 2152).
    Utf7,
}

/// The result of decoding bytes in some charset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decoded<'a> {
    /// The decoded text; malformed sequences are replaced by U+FFFD.
    pub text: Cow<'a, str>,
    /// Whether malformed sequences were met.
    pub had_errors: bool,
}

impl Charset {
    /// UTF-8.
    pub const UTF_8: Charset = Charset::Encoding(encoding_rs::UTF_8);

    /// Looks a charset up by its MIME or WHATWG label, case-insensitively, ignoring surrounding
    /// whitespace and quotes. Returns `None` for labels we do not know.
    pub fn for_label(label: &str) -> Option<Charset> {
        let label = label.trim().trim_matches('"').trim();
        if label.len() > 64 {
            return None;
        }
        let lower = label.to_ascii_lowercase();
        let alias = match lower.as_str() {
            "utf-7" | "utf7" | "unicode-1-1-utf-7" | "csunicode11utf7" | "x-utf-7" => {
                return Some(Charset::Utf7);
            }
            "cp936" | "ms936" | "windows-936" | "936" | "x-mac-chinesesimp" => "gbk",
            "cp932" | "ms932" | "x-ms-cp932" | "sjis" | "x-sjis" => "shift_jis",
            "cp949" | "ms949" | "uhc" | "ks_c_5601" | "ks_c_5601-1989" | "x-windows-949" => {
                "euc-kr"
            }
            "cp950" | "ms950" | "big5-hkscs" | "x-x-big5" => "big5",
            "cp20936" | "gb_2312" | "euc-cn" | "x-euc-cn" => "gb2312",
            "utf8mb4" | "x-unicode20utf8" => "utf-8",
            "cp819" | "iso8859_1" | "latin-1" => "iso-8859-1",
            "iso-2022-jp-2" | "iso-2022-jp-3" | "csiso2022jp2" => "iso-2022-jp",
            other => other,
        };
        Encoding::for_label_no_replacement(alias.as_bytes()).map(Charset::Encoding)
    }

    /// The canonical name of the charset.
    pub fn name(&self) -> &'static str {
        match self {
            Charset::Encoding(e) => e.name(),
            Charset::Utf7 => "UTF-7",
        }
    }

    /// Decodes `bytes`; a byte order mark is not treated specially.
    pub fn decode<'a>(&self, bytes: &'a [u8]) -> Decoded<'a> {
        match self {
            Charset::Encoding(e) => {
                let (text, had_errors) = e.decode_without_bom_handling(bytes);
                Decoded { text, had_errors }
            }
            Charset::Utf7 => {
                let (text, had_errors) = decode_utf7(bytes);
                Decoded {
                    text: Cow::Owned(text),
                    had_errors,
                }
            }
        }
    }
}

/// Decodes bytes whose charset is `label` if known. Unknown labels and undeclared charsets fall
/// back to UTF-8 when the bytes are valid UTF-8, and to `fallback` otherwise.
/// The boolean says whether the label was unknown.
pub fn decode_with_fallback<'a>(
    label: Option<&str>,
    bytes: &'a [u8],
    fallback: Charset,
) -> (Cow<'a, str>, bool) {
    let known = label.and_then(Charset::for_label);
    match known {
        // US-ASCII is treated as UTF-8 so that raw 8-bit UTF-8 in mislabelled mail survives.
        Some(Charset::Encoding(e)) if e == encoding_rs::WINDOWS_1252 && is_ascii_label(label) => {
            (bytes_to_text(bytes, fallback), false)
        }
        Some(cs) => (cs.decode(bytes).text, false),
        None => (bytes_to_text(bytes, fallback), label.is_some()),
    }
}

fn is_ascii_label(label: Option<&str>) -> bool {
    label.is_some_and(|l| {
        let l = l.trim().trim_matches('"');
        l.eq_ignore_ascii_case("us-ascii") || l.eq_ignore_ascii_case("ascii")
    })
}

/// Turns bytes of an undeclared charset into text: UTF-8 if valid, else `fallback`.
pub fn bytes_to_text(bytes: &[u8], fallback: Charset) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => fallback.decode(bytes).text,
    }
}

fn base64_value(b: u8) -> Option<u32> {
    Some(match b {
        b'A'..=b'Z' => b - b'A',
        b'a'..=b'z' => b - b'a' + 26,
        b'0'..=b'9' => b - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    } as u32)
}

/// Decodes UTF-7 (RFC 2152). Returns the text and whether malformed input was met.
fn decode_utf7(bytes: &[u8]) -> (String, bool) {
    let mut out = String::with_capacity(bytes.len());
    let mut errors = false;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b != b'+' {
            if b.is_ascii() {
                out.push(b as char);
            } else {
                out.push('\u{fffd}');
                errors = true;
            }
            i += 1;
            continue;
        }
        i += 1;
        if bytes.get(i) == Some(&b'-') {
            out.push('+');
            i += 1;
            continue;
        }
        // A base64 run of UTF-16 code units.
        let mut acc: u32 = 0;
        let mut bits = 0u32;
        let mut units: Vec<u16> = Vec::new();
        while let Some(v) = bytes.get(i).copied().and_then(base64_value) {
            acc = (acc << 6) | v;
            bits += 6;
            if bits >= 16 {
                bits -= 16;
                units.push(((acc >> bits) & 0xffff) as u16);
            }
            acc &= (1 << bits) - 1;
            i += 1;
        }
        if acc != 0 {
            errors = true;
        }
        for c in char::decode_utf16(units.iter().copied()) {
            match c {
                Ok(c) => out.push(c),
                Err(_) => {
                    out.push('\u{fffd}');
                    errors = true;
                }
            }
        }
        if bytes.get(i) == Some(&b'-') {
            i += 1;
        }
    }
    (out, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        for (label, name) in [
            ("gb2312", "GBK"),
            ("GBK", "GBK"),
            ("gb18030", "gb18030"),
            ("cp936", "GBK"),
            ("big5", "Big5"),
            ("ISO-2022-JP", "ISO-2022-JP"),
            ("shift_jis", "Shift_JIS"),
            ("euc-kr", "EUC-KR"),
            ("ks_c_5601-1987", "EUC-KR"),
            ("iso-8859-2", "ISO-8859-2"),
            ("windows-1251", "windows-1251"),
            ("\"utf-8\"", "UTF-8"),
            ("UTF-7", "UTF-7"),
        ] {
            assert_eq!(
                Charset::for_label(label).map(|c| c.name()),
                Some(name),
                "{label}"
            );
        }
        assert_eq!(Charset::for_label("x-unknown-charset"), None);
        assert_eq!(Charset::for_label("replacement"), None);
    }

    #[test]
    fn utf7_examples_from_rfc2152() {
        let cs = Charset::Utf7;
        assert_eq!(cs.decode(b"A+ImIDkQ.").text, "A\u{2262}\u{391}.");
        assert_eq!(cs.decode(b"Hi Mom -+Jjo--!").text, "Hi Mom -\u{263a}-!");
        assert_eq!(cs.decode(b"+ZeVnLIqe-").text, "\u{65e5}\u{672c}\u{8a9e}");
        assert_eq!(cs.decode(b"1 +- 1").text, "1 + 1");
        // Surrogate pair (U+1F600).
        assert_eq!(cs.decode(b"+2D3eAA-").text, "\u{1f600}");
        assert!(cs.decode(b"+2D3-").had_errors);
    }

    #[test]
    fn fallback() {
        let (t, unknown) = decode_with_fallback(Some("us-ascii"), "é".as_bytes(), Charset::UTF_8);
        assert_eq!((t.as_ref(), unknown), ("é", false));
        let (t, unknown) = decode_with_fallback(
            Some("x-bogus"),
            b"\xe9",
            Charset::for_label("latin1").unwrap(),
        );
        assert_eq!((t.as_ref(), unknown), ("é", true));
    }
}
