//! Response decoding (server → client, RFC 9051 §7), for the IMAP client that migration builds
//! on. No I/O: bytes go in with [`ResponseDecoder::push`], typed [`Response`]s come out of
//! [`ResponseDecoder::next`].
//!
//! The decoder works in two steps, like the server-side [`crate::literal::Framer`] +
//! [`crate::command::parse`] pair:
//!
//! ```text
//!  bytes ─► framing: lines, `{n}` / `~{n}` literals consumed by byte count (a server sends
//!           │        literal data at once, there is no continuation), limits on line length,
//!           │        literal size and whole-response size
//!           ▼
//!           parsing: one whole response → Response (status, CAPABILITY, LIST, STATUS, FETCH …)
//! ```
//!
//! The contract is explicit ([`Decoded`]): more bytes are needed, a response, or a malformed
//! response. A malformed response is skipped up to its end, so the next one decodes normally;
//! only when the end cannot be found (a literal length that is not a 32-bit number) is the
//! outcome `fatal`, after which the decoder ignores its input.
//!
//! ```
//! use mailcore_imap::decode::{Decoded, DecoderLimits, FetchData, Response, ResponseDecoder};
//! let mut d = ResponseDecoder::new(DecoderLimits::default());
//! d.push(b"* 12 FETCH (UID 4827 BODY[HEADER] {13}\r\nSubject: hi\r\n)\r\na7 OK [READ-ONLY] d");
//! match d.next() {
//!     Decoded::Response(Response::Fetch { seq, items }) => {
//!         assert_eq!(seq, 12);
//!         assert_eq!(items[0], FetchData::Uid(4827));
//!         assert!(matches!(&items[1], FetchData::Body { data: Some(b), .. } if b == b"Subject: hi\r\n"));
//!     }
//!     other => panic!("{other:?}"),
//! }
//! assert_eq!(d.next(), Decoded::NeedMore); // the tagged line is not complete yet
//! d.push(b"one\r\n");
//! assert!(matches!(d.next(), Decoded::Response(Response::Tagged { .. })));
//! ```

use crate::response::Status;

/// Deepest nesting of parenthesised lists accepted (default of [`DecoderLimits::max_depth`]).
pub const DEFAULT_MAX_DEPTH: usize = 64;
/// Largest literal accepted by default (64 MiB).
pub const DEFAULT_MAX_LITERAL: u64 = 64 * 1024 * 1024;
/// Longest line (between literals) accepted by default (1 MiB: `SEARCH` results can be long).
pub const DEFAULT_MAX_LINE_LENGTH: usize = 1024 * 1024;
/// Largest whole response, literals included, accepted by default (128 MiB).
pub const DEFAULT_MAX_RESPONSE: usize = 128 * 1024 * 1024;

/// Bytes of an overlong line kept while it is skipped, enough to see a literal announcement
/// (`~{4294967295}\r`) at its end.
const DISCARD_TAIL: usize = 32;

/// Limits of the response decoder; every one is on by default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DecoderLimits {
    /// Longest line (between literals) in bytes, line break included.
    pub max_line_length: usize,
    /// Largest literal in bytes; a larger one is skipped (its bytes are counted, not kept).
    pub max_literal: u64,
    /// Largest whole response in bytes, literals included.
    pub max_response: usize,
    /// Deepest nesting of parenthesised lists.
    pub max_depth: usize,
}

impl Default for DecoderLimits {
    fn default() -> Self {
        DecoderLimits {
            max_line_length: DEFAULT_MAX_LINE_LENGTH,
            max_literal: DEFAULT_MAX_LITERAL,
            max_response: DEFAULT_MAX_RESPONSE,
            max_depth: DEFAULT_MAX_DEPTH,
        }
    }
}

/// Why a response was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// A line exceeded [`DecoderLimits::max_line_length`]; the response was skipped.
    #[error("line too long")]
    LineTooLong,
    /// A literal exceeded [`DecoderLimits::max_literal`]; the response was skipped.
    #[error("literal of {len} bytes too large")]
    LiteralTooLarge {
        /// The announced length.
        len: u64,
    },
    /// The response exceeded [`DecoderLimits::max_response`]; it was skipped.
    #[error("response too large")]
    ResponseTooLarge,
    /// A literal length that is not a 32-bit number: the data that follows cannot be
    /// delimited (fatal).
    #[error("invalid literal length")]
    BadLiteralLength,
    /// Lists nested deeper than [`DecoderLimits::max_depth`].
    #[error("lists nested too deeply")]
    TooDeep,
    /// The response does not follow the grammar.
    #[error("syntax error: {0}")]
    Syntax(String),
}

impl DecodeError {
    /// Whether the stream cannot continue.
    pub fn is_fatal(&self) -> bool {
        matches!(self, DecodeError::BadLiteralLength)
    }
}

/// What [`ResponseDecoder::next`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Decoded {
    /// No whole response yet (an incomplete line or literal): push more bytes.
    NeedMore,
    /// A response.
    Response(Response),
    /// A response that was refused; its bytes are skipped.
    Malformed {
        /// Why.
        reason: DecodeError,
        /// Whether the stream cannot be resynchronised: the connection must be closed, and the
        /// decoder ignores all further input.
        fatal: bool,
    },
}

/// A mailbox name as sent and as decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailboxName {
    /// The bytes on the wire (modified UTF-7 unless UTF-8 was enabled).
    pub raw: Vec<u8>,
    /// The name as Unicode: modified UTF-7 decoded when it is valid (and UTF-8 is not enabled),
    /// otherwise the raw bytes read as UTF-8 (invalid sequences replaced).
    pub name: String,
}

/// A generic value, for data the decoder does not type (ENVELOPE, BODYSTRUCTURE, extensions).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Value {
    /// An atom (any token that is not a number, a string or `NIL`), e.g. `\Seen`, `1:5`.
    Atom(String),
    /// A number.
    Number(u64),
    /// A quoted string or a literal.
    String(Vec<u8>),
    /// `NIL`.
    Nil,
    /// A parenthesised list.
    List(Vec<Value>),
}

/// A response code (`[...]` in a status response, RFC 9051 §7.1).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResponseCode {
    /// `ALERT`.
    Alert,
    /// `AUTHENTICATIONFAILED`.
    AuthenticationFailed,
    /// `CAPABILITY ...`.
    Capability(Vec<String>),
    /// `PERMANENTFLAGS (...)`.
    PermanentFlags(Vec<String>),
    /// `READ-ONLY`.
    ReadOnly,
    /// `READ-WRITE`.
    ReadWrite,
    /// `TRYCREATE`.
    TryCreate,
    /// `UIDVALIDITY n`.
    UidValidity(u32),
    /// `UIDNEXT n`.
    UidNext(u32),
    /// `HIGHESTMODSEQ n` (RFC 7162).
    HighestModSeq(u64),
    /// `APPENDUID uidvalidity uid-set` (RFC 4315).
    AppendUid {
        /// The UIDVALIDITY of the destination.
        uid_validity: u32,
        /// The UIDs given to the appended messages, as inclusive ranges.
        uids: Vec<(u32, u32)>,
    },
    /// `COPYUID uidvalidity source-set dest-set` (RFC 4315).
    CopyUid {
        /// The UIDVALIDITY of the destination.
        uid_validity: u32,
        /// The source UIDs, as inclusive ranges.
        source: Vec<(u32, u32)>,
        /// The destination UIDs, as inclusive ranges, in the same order.
        dest: Vec<(u32, u32)>,
    },
    /// Any other code (or a known one with arguments that do not parse): its name in upper
    /// case and its arguments.
    Other(String, Option<String>),
}

/// One data item of a FETCH response.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FetchData {
    /// `UID n`.
    Uid(u32),
    /// `FLAGS (...)`.
    Flags(Vec<String>),
    /// `INTERNALDATE "..."`, unparsed.
    InternalDate(String),
    /// `RFC822.SIZE n`.
    Rfc822Size(u64),
    /// `MODSEQ (n)`.
    ModSeq(u64),
    /// `BODY[section]<origin> nstring`.
    Body {
        /// The section specification between the brackets, as sent (`""` for the whole message).
        section: String,
        /// The origin octet of a partial fetch.
        origin: Option<u32>,
        /// The data; `None` for `NIL`.
        data: Option<Vec<u8>>,
    },
    /// `BINARY[section]<origin>` with a string, a literal8 or `NIL` (RFC 3516).
    Binary {
        /// The section part numbers between the brackets.
        section: String,
        /// The origin octet of a partial fetch.
        origin: Option<u32>,
        /// The data; `None` for `NIL`.
        data: Option<Vec<u8>>,
    },
    /// `RFC822 nstring`.
    Rfc822(Option<Vec<u8>>),
    /// `RFC822.HEADER nstring`.
    Rfc822Header(Option<Vec<u8>>),
    /// `RFC822.TEXT nstring`.
    Rfc822Text(Option<Vec<u8>>),
    /// Anything else (ENVELOPE, BODYSTRUCTURE, BINARY.SIZE, extensions): its name in upper case
    /// and its value.
    Other {
        /// The item name as sent, upper-cased.
        name: String,
        /// Its value.
        value: Value,
    },
}

/// A server response.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Response {
    /// `+ text`: the server waits for more client data (a literal, SASL, IDLE).
    Continuation {
        /// The text after `+ ` (base64 during SASL).
        text: String,
    },
    /// `tag OK/NO/BAD [code] text`: a command completed.
    Tagged {
        /// The tag of the command.
        tag: String,
        /// [`Status::Ok`], [`Status::No`] or [`Status::Bad`].
        status: Status,
        /// The response code.
        code: Option<ResponseCode>,
        /// The human-readable text.
        text: String,
    },
    /// `* OK/NO/BAD/PREAUTH/BYE [code] text`.
    Untagged {
        /// The condition.
        status: Status,
        /// The response code.
        code: Option<ResponseCode>,
        /// The human-readable text.
        text: String,
    },
    /// `* CAPABILITY ...`.
    Capability(Vec<String>),
    /// `* LIST (attributes) delimiter name [extended data]` (also `LSUB`).
    List {
        /// The name attributes (`\HasNoChildren`, `\Sent`, …).
        attributes: Vec<String>,
        /// The hierarchy delimiter; `None` for `NIL` (a flat namespace).
        delimiter: Option<char>,
        /// The mailbox name.
        name: MailboxName,
        /// LIST-EXTENDED data (RFC 5258), generic.
        extended: Vec<Value>,
    },
    /// `* STATUS mailbox (name value ...)`.
    Status {
        /// The mailbox.
        mailbox: MailboxName,
        /// The items, names upper-cased.
        items: Vec<(String, u64)>,
    },
    /// `* n EXISTS`.
    Exists(u32),
    /// `* n EXPUNGE`.
    Expunge(u32),
    /// `* n RECENT`.
    Recent(u32),
    /// `* FLAGS (...)`.
    Flags(Vec<String>),
    /// `* SEARCH n ...` (a CONDSTORE `(MODSEQ n)` suffix is accepted and dropped).
    Search(Vec<u32>),
    /// `* ESEARCH [(TAG "t")] [UID] name value ...` (RFC 4731).
    Esearch {
        /// The tag of the command this answers.
        tag: Option<String>,
        /// Whether the results are UIDs.
        uid: bool,
        /// The result items (`MIN`, `MAX`, `COUNT`, `ALL` …), names upper-cased.
        items: Vec<(String, Value)>,
    },
    /// `* n FETCH (...)`.
    Fetch {
        /// The message sequence number.
        seq: u32,
        /// The data items, in the order sent.
        items: Vec<FetchData>,
    },
    /// Any other untagged response (ENABLED, ID, NAMESPACE, QUOTA, VANISHED, …), unparsed.
    Other {
        /// The leading number of a `* n NAME ...` response.
        number: Option<u32>,
        /// The response name, upper-cased.
        name: String,
        /// The rest of the response after the name and a space, line break excluded.
        data: Vec<u8>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Line,
    Literal { remaining: u64 },
}

/// The streaming response decoder. See the [module docs](self).
#[derive(Debug)]
pub struct ResponseDecoder {
    limits: DecoderLimits,
    utf8_names: bool,
    buf: Vec<u8>,
    /// Bytes of `buf` that belong to the current response and are framed already (always 0
    /// while discarding).
    frame_end: usize,
    /// Where to continue searching for a line break.
    scan: usize,
    state: State,
    /// The current response was refused: its bytes are dropped, this is reported at its end.
    discard: Option<DecodeError>,
    fatal: bool,
}

impl ResponseDecoder {
    /// A decoder with the given limits; mailbox names are modified UTF-7.
    pub fn new(limits: DecoderLimits) -> ResponseDecoder {
        ResponseDecoder {
            limits,
            utf8_names: false,
            buf: Vec::new(),
            frame_end: 0,
            scan: 0,
            state: State::Line,
            discard: None,
            fatal: false,
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &DecoderLimits {
        &self.limits
    }

    /// Whether mailbox names are UTF-8 (after `ENABLE UTF8=ACCEPT` or `IMAP4rev2`) rather than
    /// modified UTF-7.
    pub fn set_utf8_names(&mut self, on: bool) {
        self.utf8_names = on;
    }

    /// Appends received bytes (ignored after a fatal error).
    pub fn push(&mut self, bytes: &[u8]) {
        if !self.fatal {
            self.buf.extend_from_slice(bytes);
        }
    }

    /// Bytes received and not yet returned as part of a response.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next outcome. Call until it returns [`Decoded::NeedMore`].
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Decoded {
        if self.fatal {
            return Decoded::NeedMore;
        }
        loop {
            match self.state {
                State::Literal { remaining } => {
                    let avail = (self.buf.len() - self.frame_end) as u64;
                    let take = remaining.min(avail) as usize;
                    if self.discard.is_some() {
                        self.buf.drain(..take);
                    } else {
                        self.frame_end += take;
                    }
                    let remaining = remaining - take as u64;
                    if remaining > 0 {
                        self.state = State::Literal { remaining };
                        return Decoded::NeedMore;
                    }
                    self.state = State::Line;
                    self.scan = self.frame_end;
                }
                State::Line => {
                    let Some(off) = memchr::memchr(b'\n', &self.buf[self.scan..]) else {
                        self.scan = self.buf.len();
                        let line_len = self.buf.len() - self.frame_end;
                        if line_len > self.limits.max_line_length && self.discard.is_none() {
                            self.discard = Some(DecodeError::LineTooLong);
                        }
                        if self.discard.is_some() {
                            // Keep only the tail of the line, where a literal may be announced.
                            let cut = self.buf.len().saturating_sub(DISCARD_TAIL);
                            self.buf.drain(..cut);
                            self.frame_end = 0;
                            self.scan = self.buf.len();
                        }
                        return Decoded::NeedMore;
                    };
                    let end = self.scan + off + 1;
                    let line = &self.buf[self.frame_end..end];
                    if line.len() > self.limits.max_line_length && self.discard.is_none() {
                        self.discard = Some(DecodeError::LineTooLong);
                    }
                    match literal_suffix(line) {
                        Some(Ok(len)) => {
                            if self.discard.is_none() {
                                if len > self.limits.max_literal {
                                    self.discard = Some(DecodeError::LiteralTooLarge { len });
                                } else if (end as u64).saturating_add(len)
                                    > self.limits.max_response as u64
                                {
                                    self.discard = Some(DecodeError::ResponseTooLarge);
                                }
                            }
                            if self.discard.is_some() {
                                self.buf.drain(..end);
                                self.frame_end = 0;
                            } else {
                                self.frame_end = end;
                            }
                            self.scan = self.frame_end;
                            self.state = State::Literal { remaining: len };
                        }
                        Some(Err(reason)) => {
                            self.fatal = true;
                            self.buf = Vec::new();
                            self.frame_end = 0;
                            self.scan = 0;
                            return Decoded::Malformed {
                                reason,
                                fatal: true,
                            };
                        }
                        None => {
                            let frame: Vec<u8> = self.buf.drain(..end).collect();
                            self.frame_end = 0;
                            self.scan = 0;
                            if let Some(reason) = self.discard.take() {
                                return Decoded::Malformed {
                                    reason,
                                    fatal: false,
                                };
                            }
                            if frame.len() > self.limits.max_response {
                                return Decoded::Malformed {
                                    reason: DecodeError::ResponseTooLarge,
                                    fatal: false,
                                };
                            }
                            return match parse_response(&frame, &self.limits, self.utf8_names) {
                                Ok(r) => Decoded::Response(r),
                                Err(reason) => Decoded::Malformed {
                                    reason,
                                    fatal: false,
                                },
                            };
                        }
                    }
                }
            }
        }
    }
}

/// A literal announcement (`{n}` or `~{n}`) at the end of a line (line break included):
/// `Some(Ok(n))`, `Some(Err(..))` when the length is not a 32-bit number, `None` when the line
/// does not end in one.
fn literal_suffix(line: &[u8]) -> Option<Result<u64, DecodeError>> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let body = line.strip_suffix(b"}")?;
    let open = memchr::memrchr(b'{', body)?;
    let digits = &body[open + 1..];
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        parse_u32_digits(digits)
            .map(u64::from)
            .ok_or(DecodeError::BadLiteralLength),
    )
}

fn parse_u32_digits(digits: &[u8]) -> Option<u32> {
    if digits.is_empty() || digits.len() > 10 {
        return None;
    }
    let mut n: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u64::from(d - b'0');
    }
    u32::try_from(n).ok()
}

fn parse_u64_digits(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 20 {
        return None;
    }
    let mut n: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some(n)
}

fn syntax(what: &str) -> DecodeError {
    DecodeError::Syntax(what.to_owned())
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

type PResult<T> = Result<T, DecodeError>;

/// A cursor over one whole response, line break at its end removed.
struct Parser<'a> {
    b: &'a [u8],
    i: usize,
    max_depth: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn at_end(&self) -> bool {
        self.i >= self.b.len()
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: u8, what: &str) -> PResult<()> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(syntax(what))
        }
    }

    fn sp(&mut self) -> PResult<()> {
        self.expect(b' ', "expected a space")?;
        // Be lenient with servers that send more than one.
        while self.eat(b' ') {}
        Ok(())
    }

    fn skip_spaces(&mut self) {
        while self.eat(b' ') {}
    }

    /// The rest of the response.
    fn rest(&mut self) -> &'a [u8] {
        let r = &self.b[self.i.min(self.b.len())..];
        self.i = self.b.len();
        r
    }

    /// Requires the end of the response (trailing spaces tolerated).
    fn finish(&mut self) -> PResult<()> {
        self.skip_spaces();
        if self.at_end() {
            Ok(())
        } else {
            Err(syntax("unexpected data at the end of the response"))
        }
    }

    /// A token: bytes up to a space, a parenthesis, a quote or a line break; a `[...]` inside
    /// is taken whole (`BODY[HEADER.FIELDS (TO)]<0>`). May be empty.
    fn atom(&mut self) -> &'a [u8] {
        let start = self.i;
        while let Some(c) = self.peek() {
            match c {
                b' ' | b'(' | b')' | b'"' | b'\r' | b'\n' | b'{' => break,
                b'[' => match memchr::memchr(b']', &self.b[self.i..]) {
                    Some(off) => self.i += off + 1,
                    None => {
                        self.i = self.b.len();
                        break;
                    }
                },
                _ => self.i += 1,
            }
        }
        &self.b[start..self.i]
    }

    fn nonempty_atom(&mut self, what: &str) -> PResult<&'a [u8]> {
        let a = self.atom();
        if a.is_empty() {
            Err(syntax(what))
        } else {
            Ok(a)
        }
    }

    fn keyword(&mut self) -> PResult<String> {
        Ok(lossy(self.nonempty_atom("expected a keyword")?).to_ascii_uppercase())
    }

    fn digits(&mut self) -> &'a [u8] {
        let start = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        &self.b[start..self.i]
    }

    fn number(&mut self) -> PResult<u32> {
        parse_u32_digits(self.digits()).ok_or_else(|| syntax("expected a 32-bit number"))
    }

    fn number64(&mut self) -> PResult<u64> {
        parse_u64_digits(self.digits()).ok_or_else(|| syntax("expected a 64-bit number"))
    }

    fn is_nil(&self) -> bool {
        self.b
            .get(self.i..self.i + 3)
            .is_some_and(|w| w.eq_ignore_ascii_case(b"NIL"))
            && !self
                .b
                .get(self.i + 3)
                .is_some_and(|&c| !matches!(c, b' ' | b')' | b'(' | b'\r' | b'\n'))
    }

    fn is_string_start(&self) -> bool {
        match self.peek() {
            Some(b'"' | b'{') => true,
            Some(b'~') => self.b.get(self.i + 1) == Some(&b'{'),
            _ => false,
        }
    }

    /// A quoted string, a literal or a literal8.
    fn string(&mut self) -> PResult<Vec<u8>> {
        match self.peek() {
            Some(b'"') => {
                self.i += 1;
                let mut out = Vec::new();
                loop {
                    match self.peek() {
                        None | Some(b'\r' | b'\n') => {
                            return Err(syntax("unterminated quoted string"));
                        }
                        Some(b'"') => {
                            self.i += 1;
                            return Ok(out);
                        }
                        Some(b'\\') => {
                            self.i += 1;
                            match self.peek() {
                                None | Some(b'\r' | b'\n') => {
                                    return Err(syntax("unterminated quoted string"));
                                }
                                Some(c) => {
                                    out.push(c);
                                    self.i += 1;
                                }
                            }
                        }
                        Some(c) => {
                            out.push(c);
                            self.i += 1;
                        }
                    }
                }
            }
            Some(b'~' | b'{') => {
                self.eat(b'~');
                self.expect(b'{', "expected a literal")?;
                let len = self.number()? as usize;
                self.expect(b'}', "expected '}'")?;
                self.eat(b'\r');
                self.expect(b'\n', "expected a line break after a literal announcement")?;
                let data = self
                    .b
                    .get(self.i..self.i.saturating_add(len))
                    .ok_or_else(|| syntax("literal shorter than announced"))?;
                self.i += len;
                Ok(data.to_vec())
            }
            _ => Err(syntax("expected a string")),
        }
    }

    fn nstring(&mut self) -> PResult<Option<Vec<u8>>> {
        if self.is_nil() {
            self.i += 3;
            Ok(None)
        } else {
            self.string().map(Some)
        }
    }

    fn astring(&mut self) -> PResult<Vec<u8>> {
        if self.is_string_start() {
            self.string()
        } else {
            Ok(self.nonempty_atom("expected an astring")?.to_vec())
        }
    }

    fn mailbox(&mut self, utf8: bool) -> PResult<MailboxName> {
        let raw = self.astring()?;
        let name = match std::str::from_utf8(&raw) {
            Ok(s) if !utf8 => crate::utf7::decode(s).unwrap_or_else(|_| s.to_owned()),
            Ok(s) => s.to_owned(),
            Err(_) => lossy(&raw),
        };
        Ok(MailboxName { raw, name })
    }

    fn value(&mut self, depth: usize) -> PResult<Value> {
        match self.peek() {
            Some(b'(') => {
                self.i += 1;
                Ok(Value::List(self.values_after_paren(depth + 1)?))
            }
            _ if self.is_string_start() => self.string().map(Value::String),
            _ if self.is_nil() => {
                self.i += 3;
                Ok(Value::Nil)
            }
            _ => {
                let a = self.nonempty_atom("expected a value")?;
                Ok(match parse_u64_digits(a) {
                    Some(n) => Value::Number(n),
                    None => Value::Atom(lossy(a)),
                })
            }
        }
    }

    /// The values of a list whose `(` was consumed, up to and including its `)`.
    fn values_after_paren(&mut self, depth: usize) -> PResult<Vec<Value>> {
        if depth > self.max_depth {
            return Err(DecodeError::TooDeep);
        }
        let mut out = Vec::new();
        loop {
            self.skip_spaces();
            if self.eat(b')') {
                return Ok(out);
            }
            if self.at_end() {
                return Err(syntax("unterminated list"));
            }
            out.push(self.value(depth)?);
        }
    }

    /// `(atom atom ...)`: flags, attributes.
    fn atom_list(&mut self) -> PResult<Vec<String>> {
        self.expect(b'(', "expected '('")?;
        let mut out = Vec::new();
        loop {
            self.skip_spaces();
            if self.eat(b')') {
                return Ok(out);
            }
            out.push(lossy(self.nonempty_atom("expected a flag or ')'")?));
        }
    }

    /// `[code] text` (the code optional; the text may be empty).
    fn resp_text(&mut self) -> PResult<(Option<ResponseCode>, String)> {
        self.skip_spaces();
        let code = if self.eat(b'[') {
            let Some(off) = memchr::memchr(b']', &self.b[self.i..]) else {
                return Err(syntax("unterminated response code"));
            };
            let inner = &self.b[self.i..self.i + off];
            self.i += off + 1;
            self.skip_spaces();
            Some(response_code(inner))
        } else {
            None
        };
        let text = self.rest();
        if text.contains(&b'\n') || text.contains(&b'\r') {
            return Err(syntax("line break in response text"));
        }
        Ok((code, lossy(text)))
    }
}

/// A sequence set of UIDs (`1:3,7`) as inclusive ranges, without `*`.
fn uid_set(s: &str) -> Option<Vec<(u32, u32)>> {
    s.split(',')
        .map(|part| match part.split_once(':') {
            Some((a, b)) => {
                let (a, b) = (
                    parse_u32_digits(a.as_bytes())?,
                    parse_u32_digits(b.as_bytes())?,
                );
                Some((a.min(b), a.max(b)))
            }
            None => parse_u32_digits(part.as_bytes()).map(|n| (n, n)),
        })
        .collect()
}

fn response_code(inner: &[u8]) -> ResponseCode {
    let text = lossy(inner);
    let (name, args) = match text.split_once(' ') {
        Some((n, a)) => (n.to_ascii_uppercase(), Some(a.trim())),
        None => (text.to_ascii_uppercase(), None),
    };
    let words = || args.unwrap_or("").split_ascii_whitespace();
    let num = || args.and_then(|a| parse_u32_digits(a.as_bytes()));
    let typed = match (name.as_str(), args) {
        ("ALERT", None) => Some(ResponseCode::Alert),
        ("AUTHENTICATIONFAILED", None) => Some(ResponseCode::AuthenticationFailed),
        ("READ-ONLY", None) => Some(ResponseCode::ReadOnly),
        ("READ-WRITE", None) => Some(ResponseCode::ReadWrite),
        ("TRYCREATE", None) => Some(ResponseCode::TryCreate),
        ("CAPABILITY", _) => Some(ResponseCode::Capability(
            words().map(str::to_owned).collect(),
        )),
        ("UIDVALIDITY", _) => num().map(ResponseCode::UidValidity),
        ("UIDNEXT", _) => num().map(ResponseCode::UidNext),
        ("HIGHESTMODSEQ", Some(a)) => {
            parse_u64_digits(a.as_bytes()).map(ResponseCode::HighestModSeq)
        }
        ("PERMANENTFLAGS", Some(a)) => {
            a.strip_prefix('(')
                .and_then(|a| a.strip_suffix(')'))
                .map(|a| {
                    ResponseCode::PermanentFlags(
                        a.split_ascii_whitespace().map(str::to_owned).collect(),
                    )
                })
        }
        ("APPENDUID", _) => {
            let w: Vec<&str> = words().collect();
            match w.as_slice() {
                [v, uids] => parse_u32_digits(v.as_bytes())
                    .zip(uid_set(uids))
                    .map(|(uid_validity, uids)| ResponseCode::AppendUid { uid_validity, uids }),
                _ => None,
            }
        }
        ("COPYUID", _) => {
            let w: Vec<&str> = words().collect();
            match w.as_slice() {
                [v, s, d] => match (parse_u32_digits(v.as_bytes()), uid_set(s), uid_set(d)) {
                    (Some(uid_validity), Some(source), Some(dest)) => Some(ResponseCode::CopyUid {
                        uid_validity,
                        source,
                        dest,
                    }),
                    _ => None,
                },
                _ => None,
            }
        }
        _ => None,
    };
    typed.unwrap_or_else(|| ResponseCode::Other(name, args.map(str::to_owned)))
}

fn status_word(w: &str, tagged: bool) -> Option<Status> {
    match w {
        "OK" => Some(Status::Ok),
        "NO" => Some(Status::No),
        "BAD" => Some(Status::Bad),
        "PREAUTH" if !tagged => Some(Status::PreAuth),
        "BYE" if !tagged => Some(Status::Bye),
        _ => None,
    }
}

fn is_tag_char(c: u8) -> bool {
    (0x21..0x7f).contains(&c) && !b"(){%*\"\\+".contains(&c)
}

/// Parses one whole response (as framed, line break included).
fn parse_response(frame: &[u8], limits: &DecoderLimits, utf8: bool) -> PResult<Response> {
    let body = frame.strip_suffix(b"\n").unwrap_or(frame);
    let body = body.strip_suffix(b"\r").unwrap_or(body);
    let mut p = Parser {
        b: body,
        i: 0,
        max_depth: limits.max_depth,
    };
    if p.eat(b'+') {
        p.eat(b' ');
        let text = p.rest();
        if text.contains(&b'\n') || text.contains(&b'\r') {
            return Err(syntax("line break in continuation text"));
        }
        return Ok(Response::Continuation { text: lossy(text) });
    }
    if p.eat(b'*') {
        p.sp()?;
        return untagged(&mut p, utf8);
    }
    let tag = p.atom();
    if tag.is_empty() || !tag.iter().all(|&c| is_tag_char(c)) {
        return Err(syntax("expected '*', '+' or a tag"));
    }
    p.sp()?;
    let word = p.keyword()?;
    let status = status_word(&word, true).ok_or_else(|| syntax("expected OK, NO or BAD"))?;
    let (code, text) = p.resp_text()?;
    Ok(Response::Tagged {
        tag: lossy(tag),
        status,
        code,
        text,
    })
}

fn untagged(p: &mut Parser<'_>, utf8: bool) -> PResult<Response> {
    if p.peek().is_some_and(|c| c.is_ascii_digit()) {
        let n = p.number()?;
        p.sp()?;
        let name = p.keyword()?;
        let r = match name.as_str() {
            "EXISTS" => Response::Exists(n),
            "RECENT" => Response::Recent(n),
            "EXPUNGE" => Response::Expunge(n),
            "FETCH" => {
                p.sp()?;
                let items = fetch_items(p)?;
                Response::Fetch { seq: n, items }
            }
            _ => {
                p.skip_spaces();
                return Ok(Response::Other {
                    number: Some(n),
                    name,
                    data: p.rest().to_vec(),
                });
            }
        };
        p.finish()?;
        return Ok(r);
    }
    let name = p.keyword()?;
    if let Some(status) = status_word(&name, false) {
        let (code, text) = p.resp_text()?;
        return Ok(Response::Untagged { status, code, text });
    }
    let r = match name.as_str() {
        "CAPABILITY" => {
            let mut caps = Vec::new();
            loop {
                p.skip_spaces();
                if p.at_end() {
                    break;
                }
                caps.push(lossy(p.nonempty_atom("expected a capability")?));
            }
            Response::Capability(caps)
        }
        "LIST" | "LSUB" => {
            p.sp()?;
            let attributes = p.atom_list()?;
            p.sp()?;
            let delimiter = if p.is_nil() {
                p.i += 3;
                None
            } else {
                let d = p.string()?;
                let s = std::str::from_utf8(&d).map_err(|_| syntax("invalid delimiter"))?;
                let mut chars = s.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => Some(c),
                    _ => return Err(syntax("delimiter must be one character")),
                }
            };
            p.sp()?;
            let name = p.mailbox(utf8)?;
            let mut extended = Vec::new();
            loop {
                p.skip_spaces();
                if p.at_end() {
                    break;
                }
                extended.push(p.value(0)?);
            }
            Response::List {
                attributes,
                delimiter,
                name,
                extended,
            }
        }
        "STATUS" => {
            p.sp()?;
            let mailbox = p.mailbox(utf8)?;
            p.skip_spaces();
            p.expect(b'(', "expected '('")?;
            let mut items = Vec::new();
            loop {
                p.skip_spaces();
                if p.eat(b')') {
                    break;
                }
                let item = p.keyword()?;
                p.sp()?;
                items.push((item, p.number64()?));
            }
            Response::Status { mailbox, items }
        }
        "FLAGS" => {
            p.sp()?;
            Response::Flags(p.atom_list()?)
        }
        "SEARCH" => {
            let mut nums = Vec::new();
            loop {
                p.skip_spaces();
                match p.peek() {
                    None => break,
                    Some(b'(') => {
                        // CONDSTORE: `(MODSEQ n)`.
                        p.i += 1;
                        p.values_after_paren(1)?;
                    }
                    Some(_) => nums.push(p.number()?),
                }
            }
            Response::Search(nums)
        }
        "ESEARCH" => {
            p.skip_spaces();
            let mut tag = None;
            if p.eat(b'(') {
                let correlator = p.values_after_paren(1)?;
                match correlator.as_slice() {
                    [Value::Atom(t), v] if t.eq_ignore_ascii_case("TAG") => {
                        tag = match v {
                            Value::String(s) => Some(lossy(s)),
                            Value::Atom(s) => Some(s.clone()),
                            Value::Number(n) => Some(n.to_string()),
                            _ => None,
                        };
                    }
                    _ => return Err(syntax("invalid ESEARCH correlator")),
                }
            }
            let mut uid = false;
            let mut items = Vec::new();
            loop {
                p.skip_spaces();
                if p.at_end() {
                    break;
                }
                let item = p.keyword()?;
                if item == "UID" && items.is_empty() && !uid {
                    uid = true;
                    continue;
                }
                p.sp()?;
                items.push((item, p.value(0)?));
            }
            Response::Esearch { tag, uid, items }
        }
        _ => {
            p.skip_spaces();
            return Ok(Response::Other {
                number: None,
                name,
                data: p.rest().to_vec(),
            });
        }
    };
    p.finish()?;
    Ok(r)
}

/// `BODY[section]<origin>` / `BINARY[section]<origin>`: the section and origin.
fn section_origin(name: &[u8], prefix_len: usize) -> PResult<(String, Option<u32>)> {
    let rest = &name[prefix_len..];
    let close = memchr::memchr(b']', rest).ok_or_else(|| syntax("unterminated section"))?;
    let section = lossy(&rest[..close]);
    let after = &rest[close + 1..];
    let origin = if after.is_empty() {
        None
    } else {
        let digits = after
            .strip_prefix(b"<")
            .and_then(|a| a.strip_suffix(b">"))
            .ok_or_else(|| syntax("invalid origin"))?;
        Some(parse_u32_digits(digits).ok_or_else(|| syntax("invalid origin"))?)
    };
    Ok((section, origin))
}

fn fetch_items(p: &mut Parser<'_>) -> PResult<Vec<FetchData>> {
    p.expect(b'(', "expected '('")?;
    let mut items = Vec::new();
    loop {
        p.skip_spaces();
        if p.eat(b')') {
            return Ok(items);
        }
        let raw = p.nonempty_atom("expected a FETCH item")?;
        let upper = raw.to_ascii_uppercase();
        p.sp()?;
        let item = match upper.as_slice() {
            b"UID" => FetchData::Uid(p.number()?),
            b"FLAGS" => FetchData::Flags(p.atom_list()?),
            b"INTERNALDATE" => FetchData::InternalDate(lossy(&p.string()?)),
            b"RFC822.SIZE" => FetchData::Rfc822Size(p.number64()?),
            b"MODSEQ" => {
                p.expect(b'(', "expected '('")?;
                p.skip_spaces();
                let n = p.number64()?;
                p.skip_spaces();
                p.expect(b')', "expected ')'")?;
                FetchData::ModSeq(n)
            }
            b"RFC822" => FetchData::Rfc822(p.nstring()?),
            b"RFC822.HEADER" => FetchData::Rfc822Header(p.nstring()?),
            b"RFC822.TEXT" => FetchData::Rfc822Text(p.nstring()?),
            n if n.starts_with(b"BODY[") => {
                let (section, origin) = section_origin(raw, 5)?;
                FetchData::Body {
                    section,
                    origin,
                    data: p.nstring()?,
                }
            }
            n if n.starts_with(b"BINARY[") => {
                let (section, origin) = section_origin(raw, 7)?;
                FetchData::Binary {
                    section,
                    origin,
                    data: p.nstring()?,
                }
            }
            _ => FetchData::Other {
                name: lossy(&upper),
                value: p.value(0)?,
            },
        };
        items.push(item);
    }
}
