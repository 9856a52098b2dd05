//! The DATA phase: streaming dot-unstuffing (RFC 5321 §4.5.2) that only ever ends at
//! `<CRLF>.<CRLF>`.
//!
//! A bare CR or bare LF anywhere in the data is refused rather than normalised: with a bare
//! line ending in the stream, the server and the client (or a downstream MTA) may disagree on
//! where the message ends — the "SMTP smuggling" family (`\n.\n`, `\r.\r`, `\n.\r\n`,
//! `\r\n.\n`, …). The session answers `554 5.5.2` and closes the connection, so whatever the
//! client meant as a second message is never read as commands.
//!
//! ```
//! use mailcore_smtp::data::{DotUnstuffer, Progress};
//! let mut u = DotUnstuffer::new(1024);
//! assert_eq!(u.feed(b"Subject: hi\r\n\r\n..dot\r\n"), Progress::NeedMore);
//! assert_eq!(u.feed(b".\r\nQUIT\r\n"), Progress::Done { consumed: 3 });
//! assert_eq!(u.message(), b"Subject: hi\r\n\r\n.dot\r\n");
//! ```

/// Where the unstuffer is within a line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// At the start of a line.
    LineStart,
    /// Inside a line.
    Text,
    /// After a CR inside a line.
    Cr,
    /// After a line's leading dot (removed).
    Dot,
    /// After `.` CR at the start of a line.
    DotCr,
}

/// What feeding bytes achieved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// All input consumed; the terminator has not been seen.
    NeedMore,
    /// The terminator ended at `consumed` bytes into the last input; the rest is commands.
    Done {
        /// Bytes of the last input that belonged to the data.
        consumed: usize,
    },
    /// A bare CR or LF was found `consumed` bytes into the last input.
    BareLineEnding {
        /// Bytes consumed up to and including the offending byte.
        consumed: usize,
    },
}

/// Streaming DATA decoder.
#[derive(Debug)]
pub struct DotUnstuffer {
    state: State,
    out: Vec<u8>,
    max_size: usize,
    received: u64,
}

impl DotUnstuffer {
    /// A decoder that keeps at most `max_size` bytes of message (the rest is counted, not kept).
    pub fn new(max_size: usize) -> DotUnstuffer {
        DotUnstuffer {
            state: State::LineStart,
            out: Vec::new(),
            max_size,
            received: 0,
        }
    }

    /// The message so far (unstuffed; the terminator excluded).
    pub fn message(&self) -> &[u8] {
        &self.out
    }

    /// Takes the message out.
    pub fn into_message(self) -> Vec<u8> {
        self.out
    }

    /// Whether the message exceeded `max_size`.
    pub fn too_big(&self) -> bool {
        self.received > self.max_size as u64
    }

    /// Size of the unstuffed message in bytes, including any part over the limit.
    pub fn size(&self) -> u64 {
        self.received
    }

    fn push(&mut self, bytes: &[u8]) {
        self.received += bytes.len() as u64;
        if self.received <= self.max_size as u64 {
            self.out.extend_from_slice(bytes);
        }
    }

    /// Feeds input.
    pub fn feed(&mut self, input: &[u8]) -> Progress {
        // Bytes are copied in runs: `input[run..i]` is message content not yet copied. A run
        // only breaks where a stuffed dot is dropped, so most inputs are copied in one go.
        let mut i = 0;
        let mut run = 0;
        while i < input.len() {
            match self.state {
                State::LineStart => {
                    if input[i] == b'.' {
                        self.push(&input[run..i]);
                        i += 1;
                        run = i;
                        self.state = State::Dot;
                    } else {
                        self.state = State::Text;
                    }
                }
                State::Text => match memchr::memchr2(b'\r', b'\n', &input[i..]) {
                    None => i = input.len(),
                    Some(rel) => {
                        i += rel;
                        if input[i] == b'\n' {
                            return Progress::BareLineEnding { consumed: i + 1 };
                        }
                        self.state = State::Cr;
                        i += 1;
                    }
                },
                State::Cr => {
                    if input[i] != b'\n' {
                        return Progress::BareLineEnding { consumed: i };
                    }
                    self.state = State::LineStart;
                    i += 1;
                }
                State::Dot => match input[i] {
                    b'\r' => {
                        // Possibly the terminator: keep the CR out of the run until we know.
                        self.push(&input[run..i]);
                        self.state = State::DotCr;
                        i += 1;
                        run = i;
                    }
                    b'\n' => return Progress::BareLineEnding { consumed: i + 1 },
                    _ => self.state = State::Text,
                },
                State::DotCr => {
                    if input[i] != b'\n' {
                        return Progress::BareLineEnding { consumed: i };
                    }
                    return Progress::Done { consumed: i + 1 };
                }
            }
        }
        self.push(&input[run..]);
        Progress::NeedMore
    }
}

/// Dot-stuffs a message for sending (adds a leading dot to lines starting with one) and
/// appends the terminator; the message must use CRLF line endings.
pub fn dot_stuff(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 5);
    let mut line_start = true;
    for &b in message {
        if line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        line_start = b == b'\n';
    }
    if !out.is_empty() && !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(chunks: &[&[u8]]) -> (Progress, Vec<u8>) {
        let mut u = DotUnstuffer::new(1 << 20);
        let mut last = Progress::NeedMore;
        for c in chunks {
            last = u.feed(c);
            if last != Progress::NeedMore {
                break;
            }
        }
        (last, u.into_message())
    }

    #[test]
    fn ends_only_at_crlf_dot_crlf() {
        assert_eq!(
            run(&[b"a\r\n.\r\n"]),
            (Progress::Done { consumed: 6 }, b"a\r\n".to_vec())
        );
        assert_eq!(
            run(&[b".\r\n"]),
            (Progress::Done { consumed: 3 }, b"".to_vec())
        );
        // Split anywhere.
        let whole = b"line one\r\n..two\r\n.\r\n";
        for cut in 0..whole.len() {
            let (p, m) = run(&[&whole[..cut], &whole[cut..]]);
            assert!(matches!(p, Progress::Done { .. }), "cut {cut}");
            assert_eq!(m, b"line one\r\n.two\r\n");
        }
    }

    #[test]
    fn smuggling_endings_are_refused() {
        for bad in [
            &b"a\n.\nMAIL FROM:<x@y.z>\r\n"[..],
            b"a\r.\rMAIL",
            b"a\n.\r\nMAIL",
            b"a\r\n.\nMAIL",
            b"a\r\n.\rX",
            b"a\rb",
            b"a\nb",
        ] {
            let (p, _) = run(&[bad]);
            assert!(
                matches!(p, Progress::BareLineEnding { .. }),
                "{bad:?} gave {p:?}"
            );
        }
    }

    #[test]
    fn size_is_counted_beyond_the_limit() {
        let mut u = DotUnstuffer::new(4);
        assert_eq!(u.feed(b"123456\r\n.\r\n"), Progress::Done { consumed: 11 });
        assert!(u.too_big());
        assert_eq!(u.size(), 8);
    }

    #[test]
    fn stuff_then_unstuff() {
        let msg = b".leading\r\nmid.dle\r\n.\r\n..x\r\n";
        let mut u = DotUnstuffer::new(1 << 20);
        let wire = dot_stuff(msg);
        assert_eq!(
            u.feed(&wire),
            Progress::Done {
                consumed: wire.len()
            }
        );
        assert_eq!(u.message(), msg);
    }
}
