//! `Content-Type` and `Content-Disposition` (RFC 2045, RFC 2183) with RFC 2231 parameters.

use super::encoded_word;
use crate::charset::{self, Charset};

/// A parsed `Content-Type`: lowercase type and subtype plus decoded parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContentType {
    /// The top-level type, lowercase (`text`, `multipart`, …).
    pub main: String,
    /// The subtype, lowercase (`plain`, `mixed`, …).
    pub sub: String,
    /// Parameters with lowercase names and decoded values (RFC 2231 continuations joined,
    /// charsets applied; RFC 2047 words in `name` decoded).
    pub params: Vec<(String, String)>,
}

impl ContentType {
    /// `text/plain` without parameters (RFC 2045's default, charset us-ascii implied).
    pub fn text_plain() -> ContentType {
        ContentType::new("text", "plain")
    }

    /// `message/rfc822`, the default inside `multipart/digest`.
    pub fn message_rfc822() -> ContentType {
        ContentType::new("message", "rfc822")
    }

    fn new(main: &str, sub: &str) -> ContentType {
        ContentType {
            main: main.into(),
            sub: sub.into(),
            params: Vec::new(),
        }
    }

    /// Parses a header value; `None` when the `type/subtype` is unusable (the caller then applies
    /// the default, as RFC 2045 §5.2 says).
    pub fn parse(value: &str, fallback: Charset) -> Option<ContentType> {
        let (essence, rest) = value.split_once(';').unwrap_or((value, ""));
        let (main, sub) = essence.trim().split_once('/')?;
        let (main, sub) = (main.trim(), sub.trim());
        let token = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?=".contains(&b))
        };
        if !token(main) || !token(sub) {
            return None;
        }
        Some(ContentType {
            main: main.to_ascii_lowercase(),
            sub: sub.to_ascii_lowercase(),
            params: parse_params(rest, &["name"], fallback),
        })
    }

    /// A parameter's value by (case-insensitive) name.
    pub fn param(&self, name: &str) -> Option<&str> {
        param(&self.params, name)
    }

    /// `type/subtype`.
    pub fn essence(&self) -> String {
        format!("{}/{}", self.main, self.sub)
    }

    /// Whether this is `type/subtype`, case-insensitively.
    pub fn is(&self, main: &str, sub: &str) -> bool {
        self.main.eq_ignore_ascii_case(main) && self.sub.eq_ignore_ascii_case(sub)
    }

    /// Whether the type is `multipart/*`.
    pub fn is_multipart(&self) -> bool {
        self.main == "multipart"
    }

    /// Whether the type is an encapsulated message (`message/rfc822` or `message/global`).
    pub fn is_message(&self) -> bool {
        self.main == "message" && (self.sub == "rfc822" || self.sub == "global")
    }

    /// The declared charset parameter, if any.
    pub fn charset(&self) -> Option<&str> {
        self.param("charset")
    }
}

/// A parsed `Content-Disposition`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContentDisposition {
    /// `inline`, `attachment` or another lowercase token.
    pub kind: String,
    /// Decoded parameters (RFC 2231 and, for `filename`, RFC 2047 words decoded).
    pub params: Vec<(String, String)>,
}

impl ContentDisposition {
    /// Parses a header value.
    pub fn parse(value: &str, fallback: Charset) -> ContentDisposition {
        let (kind, rest) = value.split_once(';').unwrap_or((value, ""));
        ContentDisposition {
            kind: kind.trim().to_ascii_lowercase(),
            params: parse_params(rest, &["filename"], fallback),
        }
    }

    /// A parameter's value by (case-insensitive) name.
    pub fn param(&self, name: &str) -> Option<&str> {
        param(&self.params, name)
    }

    /// Whether the disposition is `attachment`.
    pub fn is_attachment(&self) -> bool {
        self.kind == "attachment"
    }
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

struct RawParam<'a> {
    name: String,
    value: std::borrow::Cow<'a, str>,
}

/// Splits `; a=b; c="d"` into raw name/value pairs (quoted strings unescaped).
fn split_params(s: &str) -> Vec<RawParam<'_>> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && (b[i] == b';' || b[i].is_ascii_whitespace()) {
            i += 1;
        }
        let name_start = i;
        while i < b.len() && b[i] != b'=' && b[i] != b';' {
            i += 1;
        }
        if i >= b.len() || b[i] == b';' {
            continue;
        }
        let name = s[name_start..i].trim().to_ascii_lowercase();
        i += 1;
        while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
            i += 1;
        }
        let value = if b.get(i) == Some(&b'"') {
            i += 1;
            let mut v = String::new();
            let mut start = i;
            loop {
                match b.get(i) {
                    None => {
                        v.push_str(&s[start..]);
                        break;
                    }
                    Some(b'"') => {
                        v.push_str(&s[start..i]);
                        i += 1;
                        break;
                    }
                    Some(b'\\') if i + 1 < b.len() => {
                        v.push_str(&s[start..i]);
                        i += 1;
                        start = i;
                        i += s[i..].chars().next().map_or(1, char::len_utf8);
                    }
                    Some(_) => i += 1,
                }
            }
            // Skip anything up to the next ';'.
            while i < b.len() && b[i] != b';' {
                i += 1;
            }
            std::borrow::Cow::Owned(v)
        } else {
            let start = i;
            while i < b.len() && b[i] != b';' {
                i += 1;
            }
            std::borrow::Cow::Borrowed(s[start..i].trim())
        };
        if !name.is_empty() {
            out.push(RawParam { name, value });
        }
    }
    out
}

fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// Parses parameters, joining RFC 2231 continuations and decoding extended values; for the
/// names in `words_decoded`, RFC 2047 encoded words inside the value are decoded too (a common
/// non-standard practice for file names).
pub(crate) fn parse_params(
    s: &str,
    words_decoded: &[&str],
    fallback: Charset,
) -> Vec<(String, String)> {
    struct Segment {
        index: u32,
        extended: bool,
        value: String,
    }
    let mut plain: Vec<(String, String)> = Vec::new();
    let mut extended: Vec<(String, Vec<Segment>)> = Vec::new();
    for p in split_params(s) {
        let (base, index, ext) = match p.name.split_once('*') {
            None => {
                plain.push((p.name, p.value.into_owned()));
                continue;
            }
            Some((base, "")) => (base.to_owned(), 0, true),
            Some((base, rest)) => {
                let (num, ext) = match rest.strip_suffix('*') {
                    Some(n) => (n, true),
                    None => (rest, false),
                };
                match num.parse::<u32>() {
                    Ok(n) if n < 1000 => (base.to_owned(), n, ext),
                    _ => continue,
                }
            }
        };
        let seg = Segment {
            index,
            extended: ext,
            value: p.value.into_owned(),
        };
        match extended.iter_mut().find(|(n, _)| *n == base) {
            Some((_, segs)) => segs.push(seg),
            None => extended.push((base, vec![seg])),
        }
    }
    for (name, mut segs) in extended {
        segs.sort_by_key(|s| s.index);
        segs.dedup_by_key(|s| s.index);
        let mut charset_label: Option<String> = None;
        let mut bytes = Vec::new();
        for (i, seg) in segs.iter().enumerate() {
            if !seg.extended {
                bytes.extend_from_slice(seg.value.as_bytes());
                continue;
            }
            let mut v = seg.value.as_str();
            if i == 0 {
                let mut it = v.splitn(3, '\'');
                if let (Some(cs), Some(_lang), Some(rest)) = (it.next(), it.next(), it.next()) {
                    if !cs.is_empty() {
                        charset_label = Some(cs.to_owned());
                    }
                    v = rest;
                }
            }
            bytes.extend_from_slice(&percent_decode(v));
        }
        let (text, _) = charset::decode_with_fallback(charset_label.as_deref(), &bytes, fallback);
        let text = text.into_owned();
        match plain.iter_mut().find(|(n, _)| *n == name) {
            Some((_, v)) => *v = text,
            None => plain.push((name, text)),
        }
    }
    for (name, value) in plain.iter_mut() {
        if words_decoded.contains(&name.as_str()) && value.contains("=?") {
            *value = encoded_word::decode(value);
        }
    }
    plain
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ct(s: &str) -> ContentType {
        ContentType::parse(s, Charset::UTF_8).unwrap()
    }

    #[test]
    fn basic() {
        let c = ct("Text/HTML; Charset=\"GB2312\"; name=a.txt");
        assert_eq!(c.essence(), "text/html");
        assert_eq!(c.charset(), Some("GB2312"));
        assert_eq!(c.param("NAME"), Some("a.txt"));
        assert!(ContentType::parse("text", Charset::UTF_8).is_none());
        assert!(ContentType::parse("te xt/plain", Charset::UTF_8).is_none());
        assert_eq!(
            ct("multipart/mixed; boundary=\"a\\\"b\"").param("boundary"),
            Some("a\"b")
        );
    }

    #[test]
    fn rfc2231() {
        let c = ct(
            "application/x-stuff; title*0*=us-ascii'en'This%20is%20even%20more%20; title*1*=%2A%2A%2Afun%2A%2A%2A%20; title*2=\"isn't it!\"",
        );
        assert_eq!(
            c.param("title"),
            Some("This is even more ***fun*** isn't it!")
        );
        let d = ContentDisposition::parse(
            "attachment; filename*=UTF-8''%E4%B8%AD%E6%96%87.pdf; filename=fallback.pdf",
            Charset::UTF_8,
        );
        assert_eq!(d.param("filename"), Some("中文.pdf"));
        assert!(d.is_attachment());
        let d = ContentDisposition::parse(
            "attachment; filename*=gbk'zh-cn'%D6%D0%CE%C4.doc",
            Charset::UTF_8,
        );
        assert_eq!(d.param("filename"), Some("中文.doc"));
        let d = ContentDisposition::parse(
            "attachment; filename=\"=?UTF-8?B?5Lit5paHLnR4dA==?=\"",
            Charset::UTF_8,
        );
        assert_eq!(d.param("filename"), Some("中文.txt"));
    }
}
