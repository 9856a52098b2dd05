//! Framing: cutting the input stream into whole commands, literals included, without parsing
//! them (RFC 9051 §4.3, LITERAL+ of RFC 7888).
//!
//! A command is one or more lines; a line ending in `{n}` (synchronising) or `{n+}`
//! (non-synchronising) is followed by exactly `n` bytes of literal data and then the rest of the
//! command. The [`Framer`] only looks at line ends and literal announcements, so a command
//! that fails to parse later never desynchronises the stream.
//!
//! ```
//! use mailcore_imap::literal::{Framed, Framer, FramerLimits};
//! let mut f = Framer::new(FramerLimits::default());
//! f.push(b"a1 LOGIN {3}\r\n");
//! assert_eq!(f.next_frame(), Framed::LiteralAnnounced { len: 3 });
//! assert_eq!(f.next_frame(), Framed::NeedMore);
//! f.push(b"bob pw\r\n");
//! assert_eq!(f.next_frame(), Framed::Frame(b"a1 LOGIN {3}\r\nbob pw\r\n".to_vec()));
//! ```

/// Limits of the framer; every one is on by default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FramerLimits {
    /// Longest line (between literals) in bytes, line break included (default 64 KiB).
    pub max_line_length: usize,
    /// Largest literal in bytes (default 8 KiB; the session raises it after login).
    pub max_literal: u32,
    /// Largest whole command, literals included (default 64 MiB).
    pub max_command: usize,
}

impl Default for FramerLimits {
    fn default() -> Self {
        FramerLimits {
            max_line_length: 64 * 1024,
            max_literal: 8 * 1024,
            max_command: 64 * 1024 * 1024,
        }
    }
}

/// Why the framer refused a command.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// A line exceeded [`FramerLimits::max_line_length`]; the rest of it is discarded.
    #[error("line too long")]
    LineTooLong,
    /// A literal exceeded [`FramerLimits::max_literal`] (or the whole command
    /// [`FramerLimits::max_command`]).
    #[error("literal too large")]
    LiteralTooLarge {
        /// Whether the client sends the data anyway (`{n+}`); it is then skipped.
        non_sync: bool,
    },
    /// The literal length is not a number that fits 32 bits. After a `{n+}` whose length cannot
    /// be known the stream cannot be resynchronised.
    #[error("invalid literal length")]
    BadLiteralLength {
        /// Whether it was a non-synchronising literal (fatal).
        non_sync: bool,
    },
}

impl FrameError {
    /// Whether the connection cannot continue (the data that follows cannot be delimited).
    pub fn is_fatal(&self) -> bool {
        matches!(self, FrameError::BadLiteralLength { non_sync: true })
    }
}

/// What [`Framer::next_frame`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Framed {
    /// Not a whole command yet: feed more bytes.
    NeedMore,
    /// A synchronising literal was announced and accepted: the server must send a `+`
    /// continuation before the client sends it.
    LiteralAnnounced {
        /// Its length.
        len: u32,
    },
    /// A whole command: its lines and literals, last line break included.
    Frame(Vec<u8>),
    /// The command was refused while framing; its bytes are discarded.
    Malformed {
        /// The tag, if the command started with a plausible one.
        tag: Option<String>,
        /// Why.
        reason: FrameError,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Reading a line that starts at `line_start`.
    Line,
    /// Inside a literal; `remaining` bytes still to come.
    Literal { remaining: u64 },
}

/// Cuts input into whole commands. See the [module docs](self).
#[derive(Debug)]
pub struct Framer {
    limits: FramerLimits,
    buf: Vec<u8>,
    /// Bytes of `buf` that belong to the current command and are framed already.
    line_start: usize,
    /// Where to continue searching for a line break.
    scan: usize,
    state: State,
    /// The current command was refused: drop its bytes instead of returning them.
    discard: bool,
}

/// A plausible tag at the start of a command, for error replies.
pub(crate) fn leading_tag(buf: &[u8]) -> Option<String> {
    let end = buf
        .iter()
        .position(|&b| b == b' ' || b == b'\r' || b == b'\n')
        .unwrap_or(buf.len());
    let tag = &buf[..end];
    (!tag.is_empty() && tag.len() <= 64 && tag.iter().all(|&b| crate::command::is_tag_char(b)))
        .then(|| String::from_utf8_lossy(tag).into_owned())
}

/// Parses a literal announcement at the end of `line` (line break already stripped):
/// `Some(Ok((len, non_sync)))`, `Some(Err(..))` for a malformed length, `None` if the line does
/// not end in one.
fn literal_suffix(line: &[u8]) -> Option<Result<(u32, bool), FrameError>> {
    let body = line.strip_suffix(b"}")?;
    let open = memchr::memrchr(b'{', body)?;
    let inner = &body[open + 1..];
    let (digits, non_sync) = match inner.strip_suffix(b"+") {
        Some(d) => (d, true),
        None => (inner, false),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let parsed = if digits.len() > 10 {
        None
    } else {
        std::str::from_utf8(digits)
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .and_then(|n| u32::try_from(n).ok())
    };
    Some(
        parsed
            .map(|n| (n, non_sync))
            .ok_or(FrameError::BadLiteralLength { non_sync }),
    )
}

impl Framer {
    /// A framer with the given limits.
    pub fn new(limits: FramerLimits) -> Framer {
        Framer {
            limits,
            buf: Vec::new(),
            line_start: 0,
            scan: 0,
            state: State::Line,
            discard: false,
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &FramerLimits {
        &self.limits
    }

    /// Changes the largest literal accepted from now on (e.g. after login).
    pub fn set_max_literal(&mut self, max: u32) {
        self.limits.max_literal = max;
    }

    /// Feeds bytes read from the connection.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Drops everything buffered (e.g. plaintext pipelined after `STARTTLS`).
    pub fn clear(&mut self) {
        self.buf.clear();
        self.line_start = 0;
        self.scan = 0;
        self.state = State::Line;
        self.discard = false;
    }

    /// Bytes buffered and not yet returned.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    fn reset_command(&mut self, consumed: usize) {
        self.buf.drain(..consumed);
        self.line_start = 0;
        self.scan = 0;
        self.state = State::Line;
    }

    /// Takes one plain line (for `AUTHENTICATE` responses and `DONE` after `IDLE`), without
    /// its line break: `None` if no whole line is buffered, `Some(Err)` if it is too long (it
    /// is then discarded).
    pub fn next_line(&mut self) -> Option<Result<Vec<u8>, FrameError>> {
        if self.discard {
            // Finish discarding an overlong line first.
            let nl = memchr::memchr(b'\n', &self.buf)?;
            self.buf.drain(..=nl);
            self.discard = false;
        }
        match memchr::memchr(b'\n', &self.buf) {
            Some(nl) if nl < self.limits.max_line_length => {
                let mut line: Vec<u8> = self.buf.drain(..=nl).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                self.scan = 0;
                Some(Ok(line))
            }
            Some(nl) => {
                self.buf.drain(..=nl);
                Some(Err(FrameError::LineTooLong))
            }
            None if self.buf.len() >= self.limits.max_line_length => {
                self.buf.clear();
                self.discard = true;
                Some(Err(FrameError::LineTooLong))
            }
            None => None,
        }
    }

    /// Frames the next command. See [`Framed`].
    pub fn next_frame(&mut self) -> Framed {
        loop {
            match self.state {
                State::Literal { remaining } => {
                    let have = (self.buf.len() - self.line_start) as u64;
                    if self.discard {
                        // Skip the literal without keeping it.
                        let take = remaining.min(have) as usize;
                        self.buf.drain(self.line_start..self.line_start + take);
                        let remaining = remaining - take as u64;
                        self.scan = self.line_start;
                        if remaining > 0 {
                            self.state = State::Literal { remaining };
                            return Framed::NeedMore;
                        }
                        self.state = State::Line;
                        continue;
                    }
                    if have < remaining {
                        return Framed::NeedMore;
                    }
                    self.line_start += remaining as usize;
                    self.scan = self.line_start;
                    self.state = State::Line;
                }
                State::Line => {
                    let Some(rel) = memchr::memchr(b'\n', &self.buf[self.scan..]) else {
                        self.scan = self.buf.len();
                        if self.buf.len() - self.line_start > self.limits.max_line_length {
                            let tag = leading_tag(&self.buf);
                            let was_discarding = self.discard;
                            // Keep nothing of the line; remember to skip up to its end.
                            self.buf.truncate(self.line_start);
                            self.scan = self.line_start;
                            self.discard = true;
                            if !was_discarding {
                                return Framed::Malformed {
                                    tag,
                                    reason: FrameError::LineTooLong,
                                };
                            }
                        }
                        return Framed::NeedMore;
                    };
                    let nl = self.scan + rel;
                    if nl + 1 - self.line_start > self.limits.max_line_length && !self.discard {
                        let tag = leading_tag(&self.buf);
                        self.reset_command(nl + 1);
                        return Framed::Malformed {
                            tag,
                            reason: FrameError::LineTooLong,
                        };
                    }
                    let mut line = &self.buf[self.line_start..nl];
                    if line.last() == Some(&b'\r') {
                        line = &line[..line.len() - 1];
                    }
                    match literal_suffix(line) {
                        None => {
                            let frame: Vec<u8> = self.buf.drain(..=nl).collect();
                            self.line_start = 0;
                            self.scan = 0;
                            if std::mem::take(&mut self.discard) {
                                continue;
                            }
                            return Framed::Frame(frame);
                        }
                        Some(Ok((len, non_sync))) => {
                            let total = nl + 1 + len as usize;
                            let too_large =
                                len > self.limits.max_literal || total > self.limits.max_command;
                            if self.discard {
                                if non_sync {
                                    self.line_start = nl + 1;
                                    self.scan = self.line_start;
                                    self.state = State::Literal {
                                        remaining: u64::from(len),
                                    };
                                    continue;
                                }
                                // The client waits for a `+` that never comes: the command ends.
                                self.discard = false;
                                self.reset_command(nl + 1);
                                continue;
                            }
                            if too_large {
                                let tag = leading_tag(&self.buf);
                                if non_sync {
                                    self.discard = true;
                                    self.line_start = nl + 1;
                                    self.scan = self.line_start;
                                    self.state = State::Literal {
                                        remaining: u64::from(len),
                                    };
                                } else {
                                    self.reset_command(nl + 1);
                                }
                                return Framed::Malformed {
                                    tag,
                                    reason: FrameError::LiteralTooLarge { non_sync },
                                };
                            }
                            self.line_start = nl + 1;
                            self.scan = self.line_start;
                            self.state = State::Literal {
                                remaining: u64::from(len),
                            };
                            if !non_sync {
                                return Framed::LiteralAnnounced { len };
                            }
                        }
                        Some(Err(reason)) => {
                            let was_discarding = self.discard;
                            let tag = leading_tag(&self.buf);
                            self.discard = false;
                            if reason.is_fatal() {
                                self.buf.clear();
                                self.line_start = 0;
                                self.scan = 0;
                            } else {
                                self.reset_command(nl + 1);
                                if was_discarding {
                                    continue;
                                }
                            }
                            return Framed::Malformed { tag, reason };
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn framer() -> Framer {
        Framer::new(FramerLimits::default())
    }

    #[test]
    fn simple_and_pipelined() {
        let mut f = framer();
        f.push(b"a NOOP\r\nb CAPA");
        assert_eq!(f.next_frame(), Framed::Frame(b"a NOOP\r\n".to_vec()));
        assert_eq!(f.next_frame(), Framed::NeedMore);
        f.push(b"BILITY\r\n");
        assert_eq!(f.next_frame(), Framed::Frame(b"b CAPABILITY\r\n".to_vec()));
    }

    #[test]
    fn literal_plus_needs_no_continuation() {
        let mut f = framer();
        f.push(b"a LOGIN {3+}\r\nbob {2+}\r\npw\r\nb NOOP\r\n");
        assert_eq!(
            f.next_frame(),
            Framed::Frame(b"a LOGIN {3+}\r\nbob {2+}\r\npw\r\n".to_vec())
        );
        assert_eq!(f.next_frame(), Framed::Frame(b"b NOOP\r\n".to_vec()));
    }

    #[test]
    fn literal_containing_crlf_and_braces() {
        let mut f = framer();
        f.push(b"a APPEND x {8}\r\n");
        assert_eq!(f.next_frame(), Framed::LiteralAnnounced { len: 8 });
        f.push(b"a\r\n{9}\r\n\r\n");
        assert_eq!(
            f.next_frame(),
            Framed::Frame(b"a APPEND x {8}\r\na\r\n{9}\r\n\r\n".to_vec())
        );
    }

    #[test]
    fn huge_literal_lengths() {
        let mut f = framer();
        f.push(b"a LOGIN {4294967296}\r\nb NOOP\r\n");
        assert_eq!(
            f.next_frame(),
            Framed::Malformed {
                tag: Some("a".into()),
                reason: FrameError::BadLiteralLength { non_sync: false }
            }
        );
        assert_eq!(f.next_frame(), Framed::Frame(b"b NOOP\r\n".to_vec()));
        f.push(b"c LOGIN {99999999999999999999}\r\n");
        assert!(matches!(f.next_frame(), Framed::Malformed { .. }));
        f.push(b"d LOGIN {99999999999999999999+}\r\n");
        match f.next_frame() {
            Framed::Malformed { reason, .. } => assert!(reason.is_fatal()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn oversized_literals() {
        let mut f = framer();
        f.push(b"a APPEND x {9000}\r\nb NOOP\r\n");
        assert_eq!(
            f.next_frame(),
            Framed::Malformed {
                tag: Some("a".into()),
                reason: FrameError::LiteralTooLarge { non_sync: false }
            }
        );
        assert_eq!(f.next_frame(), Framed::Frame(b"b NOOP\r\n".to_vec()));
        // A non-synchronising one is skipped, with the rest of its command.
        f.push(b"c APPEND x {9000+}\r\n");
        assert!(matches!(f.next_frame(), Framed::Malformed { .. }));
        f.push(&[b'x'; 9000]);
        assert_eq!(f.next_frame(), Framed::NeedMore);
        f.push(b" {3+}\r\nabc\r\nd NOOP\r\n");
        assert_eq!(f.next_frame(), Framed::Frame(b"d NOOP\r\n".to_vec()));
    }

    #[test]
    fn long_line() {
        let mut f = framer();
        let mut big = b"a LOGIN ".to_vec();
        big.extend(std::iter::repeat_n(b'x', 1024 * 1024));
        f.push(&big[..100_000]);
        assert!(matches!(
            f.next_frame(),
            Framed::Malformed {
                reason: FrameError::LineTooLong,
                ..
            }
        ));
        f.push(&big[100_000..]);
        assert_eq!(f.next_frame(), Framed::NeedMore);
        assert!(f.buffered() < 70_000);
        f.push(b"\r\nb NOOP\r\n");
        assert_eq!(f.next_frame(), Framed::Frame(b"b NOOP\r\n".to_vec()));
    }
}
