//! RFC 5322 header sections: field framing, folding and unfolding.

use std::borrow::Cow;
use std::ops::Range;

use super::{Limits, Warning, Warnings};

/// One header field, as byte ranges into the message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct HeaderField {
    pub(crate) name: Range<usize>,
    /// From after the colon to the end of the last continuation line, line break excluded.
    pub(crate) value: Range<usize>,
}

/// Where a header section ends.
pub(crate) struct HeaderSection {
    /// Offset of the first body byte (after the blank line), or the section's end.
    pub(crate) body_start: usize,
}

fn is_field_name(name: &[u8]) -> bool {
    !name.is_empty() && name.iter().all(|&b| (33..=126).contains(&b) && b != b':')
}

/// Frames the header section in `raw[start..end]`, appending fields to `fields`.
pub(crate) fn parse_section(
    raw: &[u8],
    start: usize,
    end: usize,
    limits: &Limits,
    fields: &mut Vec<HeaderField>,
    warnings: &mut Warnings,
) -> HeaderSection {
    let first_field = fields.len();
    let mut pos = start;
    let mut last: Option<usize> = None;
    let mut over_limit = false;
    while pos < end {
        let line_end = memchr::memchr(b'\n', &raw[pos..end]).map_or(end, |i| pos + i + 1);
        let mut content_end = line_end;
        if content_end > pos && raw[content_end - 1] == b'\n' {
            content_end -= 1;
            if content_end > pos && raw[content_end - 1] == b'\r' {
                content_end -= 1;
            }
        }
        if content_end == pos {
            return HeaderSection {
                body_start: line_end,
            };
        }
        if !over_limit
            && (line_end - start > limits.max_header_bytes
                || fields.len() - first_field >= limits.max_header_fields)
        {
            over_limit = true;
            last = None;
            warnings.push(Warning::HeaderLimit { offset: pos });
        }
        let line = &raw[pos..content_end];
        if over_limit {
            // Keep framing so the body is found, but record nothing more.
        } else if line[0] == b' ' || line[0] == b'\t' {
            match last {
                Some(i) => fields[i].value.end = content_end,
                None => warnings.push(Warning::ContinuationWithoutField { offset: pos }),
            }
        } else {
            match memchr::memchr(b':', line) {
                Some(colon) if is_field_name(trim_end(&line[..colon])) => {
                    let name_len = trim_end(&line[..colon]).len();
                    fields.push(HeaderField {
                        name: pos..pos + name_len,
                        value: pos + colon + 1..content_end,
                    });
                    last = Some(fields.len() - 1);
                }
                _ => {
                    last = None;
                    warnings.push(Warning::HeaderLineWithoutColon { offset: pos });
                }
            }
        }
        pos = line_end;
    }
    HeaderSection { body_start: end }
}

fn trim_end(b: &[u8]) -> &[u8] {
    let mut n = b.len();
    while n > 0 && (b[n - 1] == b' ' || b[n - 1] == b'\t') {
        n -= 1;
    }
    &b[..n]
}

/// Unfolds a raw field value (removes the line breaks of folding, RFC 5322 §2.2.3) and trims
/// surrounding whitespace. Borrows when there is nothing to unfold.
pub fn unfold(value: &[u8]) -> Cow<'_, [u8]> {
    let trimmed = trim_ascii(value);
    if memchr::memchr2(b'\r', b'\n', trimmed).is_none() {
        return Cow::Borrowed(trimmed);
    }
    let mut out = Vec::with_capacity(trimmed.len());
    for &b in trimmed {
        if b != b'\r' && b != b'\n' {
            out.push(b);
        }
    }
    Cow::Owned(out)
}

fn trim_ascii(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |i| i + 1);
    &b[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_fields_and_body() {
        let raw = b"Subject: a\r\n b\r\nbogus line\r\nX-A : 1\r\n\r\nbody";
        let mut fields = Vec::new();
        let mut warnings = Warnings::new(10);
        let s = parse_section(
            raw,
            0,
            raw.len(),
            &Limits::default(),
            &mut fields,
            &mut warnings,
        );
        assert_eq!(&raw[s.body_start..], b"body");
        assert_eq!(fields.len(), 2);
        assert_eq!(&raw[fields[0].name.clone()], b"Subject");
        assert_eq!(&*unfold(&raw[fields[0].value.clone()]), b"a b");
        assert_eq!(&raw[fields[1].name.clone()], b"X-A");
        assert_eq!(warnings.list().len(), 1);
    }

    #[test]
    fn bare_lf_and_no_body() {
        let raw = b"A: 1\nB: 2\n";
        let mut fields = Vec::new();
        let mut warnings = Warnings::new(10);
        let s = parse_section(
            raw,
            0,
            raw.len(),
            &Limits::default(),
            &mut fields,
            &mut warnings,
        );
        assert_eq!(s.body_start, raw.len());
        assert_eq!(fields.len(), 2);
    }
}
