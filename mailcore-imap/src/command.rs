//! Client commands (RFC 9051 §6 and the extensions this server implements): types that refuse
//! invalid values, a parser over one framed command (see [`crate::literal`]), an encoder, and
//! the [`Decoder`] that joins framing and parsing with an explicit outcome.
//!
//! ```
//! use mailcore_imap::command::{Command, Decoded, Decoder};
//! use mailcore_imap::literal::FramerLimits;
//! let mut d = Decoder::new(FramerLimits::default());
//! d.push(b"a1 SELECT INBOX\r\nbad\r\na2 NOOP\r\n");
//! assert!(matches!(d.next(), Decoded::Command { command: Command::Select { .. }, .. }));
//! assert!(matches!(d.next(), Decoded::Malformed { tag: Some(_), .. }));
//! assert!(matches!(d.next(), Decoded::Command { command: Command::Noop, .. }));
//! assert!(matches!(d.next(), Decoded::NeedMore));
//! ```

use std::fmt;

use crate::literal::{FrameError, Framed, Framer, FramerLimits};
use crate::response::{write_astring, write_mailbox, write_string};

/// Deepest nesting of parentheses accepted (search keys); deeper input is refused.
pub const MAX_NESTING: usize = 32;

/// Whether a byte may appear in a tag (`ASTRING-CHAR` except `+`).
pub(crate) fn is_tag_char(b: u8) -> bool {
    is_astring_char(b) && b != b'+'
}

fn is_atom_char(b: u8) -> bool {
    (0x21..0x7f).contains(&b) && !b"(){%*\"\\]".contains(&b)
}

fn is_astring_char(b: u8) -> bool {
    is_atom_char(b) || b == b']'
}

fn is_list_char(b: u8) -> bool {
    is_astring_char(b) || b == b'%' || b == b'*'
}

/// A command tag: 1 to 64 `ASTRING-CHAR`s other than `+`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Tag(String);

impl Tag {
    /// Checks a tag.
    pub fn new(s: &str) -> Option<Tag> {
        (!s.is_empty() && s.len() <= 64 && s.bytes().all(is_tag_char)).then(|| Tag(s.to_owned()))
    }

    /// The tag text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One end of a sequence range: a number or `*` (the largest in use).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeqNum {
    /// A message sequence number or UID (non-zero).
    Value(u32),
    /// `*`.
    Largest,
}

/// A `sequence-set`: non-empty list of ranges (a single number is a range of one).
///
/// The empty list stands for `$`, the result saved by `SEARCH RETURN (SAVE)` (SEARCHRES,
/// RFC 5182): see [`SequenceSet::saved`]. The executor substitutes the saved messages before
/// using a set; unsubstituted, `$` selects nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SequenceSet(pub Vec<(SeqNum, SeqNum)>);

impl SequenceSet {
    /// `$`: the saved search result (RFC 5182 §2.1).
    pub const fn saved() -> SequenceSet {
        SequenceSet(Vec::new())
    }

    /// Whether this is `$`, the saved search result.
    pub fn is_saved(&self) -> bool {
        self.0.is_empty()
    }

    /// Every number in the set given the largest one in use (`*`), sorted and deduplicated,
    /// keeping only members of `present` (sorted ascending).
    pub fn select(&self, present: &[u32]) -> Vec<u32> {
        let largest = present.last().copied().unwrap_or(0);
        let mut out = Vec::new();
        for &(a, b) in &self.0 {
            let v = |n: SeqNum| match n {
                SeqNum::Value(v) => v,
                SeqNum::Largest => largest,
            };
            let (lo, hi) = (v(a).min(v(b)), v(a).max(v(b)));
            let start = present.partition_point(|&x| x < lo);
            let end = present.partition_point(|&x| x <= hi);
            out.extend_from_slice(&present[start..end]);
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Whether a number is in the set (with `largest` standing for `*`).
    pub fn contains(&self, n: u32, largest: u32) -> bool {
        self.0.iter().any(|&(a, b)| {
            let v = |s: SeqNum| match s {
                SeqNum::Value(v) => v,
                SeqNum::Largest => largest,
            };
            (v(a).min(v(b))..=v(a).max(v(b))).contains(&n)
        })
    }

    /// Builds the shortest set for sorted numbers (`1:3,7`).
    pub fn from_sorted(nums: &[u32]) -> SequenceSet {
        let mut ranges: Vec<(SeqNum, SeqNum)> = Vec::new();
        for &n in nums {
            match ranges.last_mut() {
                Some((_, SeqNum::Value(end))) if end.checked_add(1) == Some(n) => *end = n,
                _ => ranges.push((SeqNum::Value(n), SeqNum::Value(n))),
            }
        }
        SequenceSet(ranges)
    }
}

impl fmt::Display for SequenceSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_saved() {
            return f.write_str("$");
        }
        for (i, (a, b)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            let w = |f: &mut fmt::Formatter<'_>, n: &SeqNum| match n {
                SeqNum::Value(v) => write!(f, "{v}"),
                SeqNum::Largest => f.write_str("*"),
            };
            w(f, a)?;
            if a != b {
                f.write_str(":")?;
                w(f, b)?;
            }
        }
        Ok(())
    }
}

/// A message flag as a client names it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Flag {
    /// `\Seen`.
    Seen,
    /// `\Answered`.
    Answered,
    /// `\Flagged`.
    Flagged,
    /// `\Deleted`.
    Deleted,
    /// `\Draft`.
    Draft,
    /// A keyword (an atom without `\`).
    Keyword(String),
}

impl Flag {
    fn parse(s: &str) -> Option<Flag> {
        Some(match s.to_ascii_lowercase().as_str() {
            "\\seen" => Flag::Seen,
            "\\answered" => Flag::Answered,
            "\\flagged" => Flag::Flagged,
            "\\deleted" => Flag::Deleted,
            "\\draft" => Flag::Draft,
            _ if s.starts_with('\\') => return None,
            _ => Flag::Keyword(s.to_owned()),
        })
    }

    /// The wire form.
    pub fn as_str(&self) -> &str {
        match self {
            Flag::Seen => "\\Seen",
            Flag::Answered => "\\Answered",
            Flag::Flagged => "\\Flagged",
            Flag::Deleted => "\\Deleted",
            Flag::Draft => "\\Draft",
            Flag::Keyword(k) => k,
        }
    }

    /// Converts flags to the store's representation.
    pub fn to_store(flags: &[Flag]) -> mailcore_store::mailbox::Flags {
        let mut f = mailcore_store::mailbox::Flags::default();
        for flag in flags {
            match flag {
                Flag::Seen => f.seen = true,
                Flag::Answered => f.answered = true,
                Flag::Flagged => f.flagged = true,
                Flag::Deleted => f.deleted = true,
                Flag::Draft => f.draft = true,
                Flag::Keyword(k) => {
                    f.keywords.insert(k.clone());
                }
            }
        }
        f
    }
}

/// The text part of a section specifier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SectionText {
    /// `HEADER`.
    Header,
    /// `HEADER.FIELDS (names)`.
    HeaderFields(Vec<String>),
    /// `HEADER.FIELDS.NOT (names)`.
    HeaderFieldsNot(Vec<String>),
    /// `TEXT`.
    Text,
    /// `MIME` (only after a part number).
    Mime,
}

/// A `section` of `BODY[...]`: part numbers then optional text specifier.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Section {
    /// Part numbers (`1.2.3`), empty for the whole message.
    pub part: Vec<u32>,
    /// What of that part.
    pub text: Option<SectionText>,
}

impl fmt::Display for Section {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let part: Vec<String> = self.part.iter().map(u32::to_string).collect();
        f.write_str(&part.join("."))?;
        if let Some(t) = &self.text {
            if !self.part.is_empty() {
                f.write_str(".")?;
            }
            match t {
                SectionText::Header => f.write_str("HEADER")?,
                SectionText::Text => f.write_str("TEXT")?,
                SectionText::Mime => f.write_str("MIME")?,
                SectionText::HeaderFields(n) => write!(f, "HEADER.FIELDS ({})", n.join(" "))?,
                SectionText::HeaderFieldsNot(n) => {
                    write!(f, "HEADER.FIELDS.NOT ({})", n.join(" "))?
                }
            }
        }
        Ok(())
    }
}

/// One FETCH data item.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FetchItem {
    /// `FLAGS`.
    Flags,
    /// `INTERNALDATE`.
    InternalDate,
    /// `RFC822.SIZE`.
    Rfc822Size,
    /// `ENVELOPE`.
    Envelope,
    /// `BODY` (structure without extension data).
    Body,
    /// `BODYSTRUCTURE`.
    BodyStructure,
    /// `UID`.
    Uid,
    /// `MODSEQ` (RFC 7162).
    ModSeq,
    /// `RFC822` (like `BODY[]`, sets `\Seen`).
    Rfc822,
    /// `RFC822.HEADER` (like `BODY.PEEK[HEADER]`).
    Rfc822Header,
    /// `RFC822.TEXT` (like `BODY[TEXT]`).
    Rfc822Text,
    /// `BODY[section]<partial>` or `BODY.PEEK[...]`.
    Section {
        /// `BODY.PEEK`: do not set `\Seen`.
        peek: bool,
        /// Which bytes.
        section: Section,
        /// `<start.length>`.
        partial: Option<(u32, u32)>,
    },
    /// `BINARY[part]<partial>` or `BINARY.PEEK[...]` (RFC 3516): the part's body with its
    /// content transfer encoding removed.
    Binary {
        /// `BINARY.PEEK`: do not set `\Seen`.
        peek: bool,
        /// Part numbers; empty for the whole message.
        part: Vec<u32>,
        /// `<start.length>`.
        partial: Option<(u32, u32)>,
    },
    /// `BINARY.SIZE[part]` (RFC 3516): the size of the decoded part.
    BinarySize {
        /// Part numbers; empty for the whole message.
        part: Vec<u32>,
    },
}

/// A SEARCH key (RFC 9051 §6.4.4).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SearchKey {
    /// All keys must match (a parenthesised list, or the top level).
    And(Vec<SearchKey>),
    /// `ALL`.
    All,
    /// A flag is set (`SEEN`, `ANSWERED`, `KEYWORD x`, …).
    Flag(Flag),
    /// A flag is not set (`UNSEEN`, `UNKEYWORD x`, …).
    NotFlag(Flag),
    /// `NEW` (recent and unseen; no message is recent here).
    New,
    /// `OLD`.
    Old,
    /// `RECENT`.
    Recent,
    /// A header field contains the text (`FROM`, `TO`, `CC`, `BCC`, `SUBJECT`, `HEADER`).
    Header(String, String),
    /// `BODY text`.
    Body(String),
    /// `TEXT text`.
    Text(String),
    /// `BEFORE date` (internal date, days since the epoch).
    Before(i64),
    /// `ON date`.
    On(i64),
    /// `SINCE date`.
    Since(i64),
    /// `SENTBEFORE date` (Date header).
    SentBefore(i64),
    /// `SENTON date`.
    SentOn(i64),
    /// `SENTSINCE date`.
    SentSince(i64),
    /// `LARGER n`.
    Larger(u64),
    /// `SMALLER n`.
    Smaller(u64),
    /// `UID set`.
    Uid(SequenceSet),
    /// A message sequence set.
    Seq(SequenceSet),
    /// `NOT key`.
    Not(Box<SearchKey>),
    /// `OR a b`.
    Or(Box<SearchKey>, Box<SearchKey>),
    /// `MODSEQ n` (RFC 7162).
    ModSeq(u64),
}

/// What an extended SEARCH returns (ESEARCH, RFC 4731).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SearchReturn {
    /// `MIN`.
    Min,
    /// `MAX`.
    Max,
    /// `ALL`.
    All,
    /// `COUNT`.
    Count,
    /// `SAVE` (SEARCHRES, RFC 5182): keep the result for `$`.
    Save,
}

/// A STATUS item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StatusItem {
    /// `MESSAGES`.
    Messages,
    /// `RECENT` (always 0).
    Recent,
    /// `UIDNEXT`.
    UidNext,
    /// `UIDVALIDITY`.
    UidValidity,
    /// `UNSEEN`.
    Unseen,
    /// `SIZE` (RFC 8438).
    Size,
    /// `HIGHESTMODSEQ` (RFC 7162).
    HighestModSeq,
    /// `DELETED` (RFC 9051): messages flagged `\Deleted`.
    Deleted,
    /// `DELETED-STORAGE` (RFC 9208): KiB an EXPUNGE would free.
    DeletedStorage,
}

impl StatusItem {
    /// The wire name.
    pub fn as_str(&self) -> &'static str {
        match self {
            StatusItem::Messages => "MESSAGES",
            StatusItem::Recent => "RECENT",
            StatusItem::UidNext => "UIDNEXT",
            StatusItem::UidValidity => "UIDVALIDITY",
            StatusItem::Unseen => "UNSEEN",
            StatusItem::Size => "SIZE",
            StatusItem::HighestModSeq => "HIGHESTMODSEQ",
            StatusItem::Deleted => "DELETED",
            StatusItem::DeletedStorage => "DELETED-STORAGE",
        }
    }

    fn parse(s: &str) -> Option<StatusItem> {
        Some(match s.to_ascii_uppercase().as_str() {
            "MESSAGES" => StatusItem::Messages,
            "RECENT" => StatusItem::Recent,
            "UIDNEXT" => StatusItem::UidNext,
            "UIDVALIDITY" => StatusItem::UidValidity,
            "UNSEEN" => StatusItem::Unseen,
            "SIZE" => StatusItem::Size,
            "HIGHESTMODSEQ" => StatusItem::HighestModSeq,
            "DELETED" => StatusItem::Deleted,
            "DELETED-STORAGE" => StatusItem::DeletedStorage,
            _ => return None,
        })
    }
}

/// LIST selection options and return options (RFC 5258, RFC 5819, RFC 6154).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListOptions {
    /// `SUBSCRIBED` selection: only subscribed mailboxes.
    pub select_subscribed: bool,
    /// `SPECIAL-USE` selection: only mailboxes with a special use.
    pub select_special_use: bool,
    /// `RECURSIVEMATCH` selection option (accepted; affects only `CHILDINFO`, not sent).
    pub recursive_match: bool,
    /// `RETURN (SUBSCRIBED)`.
    pub return_subscribed: bool,
    /// `RETURN (CHILDREN)` (children attributes are always returned).
    pub return_children: bool,
    /// `RETURN (SPECIAL-USE)` (special-use attributes are always returned).
    pub return_special_use: bool,
    /// `RETURN (STATUS (...))`.
    pub return_status: Vec<StatusItem>,
}

/// The `QRESYNC` parameter of SELECT/EXAMINE (RFC 7162 §3.2.5): what the client knew.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Qresync {
    /// The UIDVALIDITY it knew.
    pub uid_validity: u32,
    /// The HIGHESTMODSEQ it knew.
    pub modseq: u64,
    /// The UIDs it knows (limits VANISHED and FETCH to those).
    pub known_uids: Option<SequenceSet>,
    /// Message sequence numbers matched to UIDs (a hint for servers without expunge history;
    /// parsed and not needed here).
    pub seq_match: Option<(SequenceSet, SequenceSet)>,
}

/// How STORE changes flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreMode {
    /// `FLAGS`.
    Replace,
    /// `+FLAGS`.
    Add,
    /// `-FLAGS`.
    Remove,
}

/// A parsed command.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Command {
    /// `CAPABILITY`.
    Capability,
    /// `NOOP`.
    Noop,
    /// `LOGOUT`.
    Logout,
    /// `STARTTLS`.
    StartTls,
    /// `AUTHENTICATE mechanism [initial-response]` (SASL-IR).
    Authenticate {
        /// The mechanism, uppercased.
        mechanism: String,
        /// The initial response as sent (base64, or `=` for empty).
        initial: Option<String>,
    },
    /// `LOGIN user password`.
    Login {
        /// User name.
        user: String,
        /// Password.
        password: String,
    },
    /// `ENABLE capabilities`.
    Enable(Vec<String>),
    /// `ID (...)` or `ID NIL` (RFC 2971).
    Id(Option<Vec<(String, Option<String>)>>),
    /// `NAMESPACE`.
    Namespace,
    /// `SELECT mailbox [(CONDSTORE QRESYNC (...))]`.
    Select {
        /// Decoded mailbox name.
        mailbox: String,
        /// `(CONDSTORE)` parameter given.
        condstore: bool,
        /// `QRESYNC (...)` parameter (RFC 7162 §3.2.5).
        qresync: Option<Qresync>,
    },
    /// `EXAMINE mailbox [(CONDSTORE QRESYNC (...))]`.
    Examine {
        /// Decoded mailbox name.
        mailbox: String,
        /// `(CONDSTORE)` parameter given.
        condstore: bool,
        /// `QRESYNC (...)` parameter (RFC 7162 §3.2.5).
        qresync: Option<Qresync>,
    },
    /// `CREATE mailbox`.
    Create(String),
    /// `DELETE mailbox`.
    Delete(String),
    /// `RENAME from to`.
    Rename(String, String),
    /// `SUBSCRIBE mailbox`.
    Subscribe(String),
    /// `UNSUBSCRIBE mailbox`.
    Unsubscribe(String),
    /// `LIST [(opts)] reference patterns [RETURN (...)]`.
    List {
        /// Reference name (decoded).
        reference: String,
        /// Patterns (decoded), at least one.
        patterns: Vec<String>,
        /// Options.
        options: ListOptions,
    },
    /// `LSUB reference pattern`.
    Lsub {
        /// Reference name.
        reference: String,
        /// Pattern.
        pattern: String,
    },
    /// `STATUS mailbox (items)`.
    Status {
        /// Decoded mailbox name.
        mailbox: String,
        /// Items.
        items: Vec<StatusItem>,
    },
    /// `APPEND mailbox [(flags)] [date-time] literal`, with further messages for
    /// MULTIAPPEND (RFC 3502).
    Append {
        /// Decoded mailbox name.
        mailbox: String,
        /// Flags.
        flags: Vec<Flag>,
        /// Internal date, seconds since the epoch.
        date: Option<i64>,
        /// The message.
        message: Vec<u8>,
        /// Further messages appended atomically with the first (MULTIAPPEND).
        more: Vec<AppendMessage>,
    },
    /// `IDLE`.
    Idle,
    /// `CHECK`.
    Check,
    /// `CLOSE`.
    Close,
    /// `UNSELECT`.
    Unselect,
    /// `EXPUNGE`, or `UID EXPUNGE set`.
    Expunge(Option<SequenceSet>),
    /// `[UID] FETCH set items [(CHANGEDSINCE n)]`.
    Fetch {
        /// UIDs rather than sequence numbers.
        uid: bool,
        /// Messages.
        set: SequenceSet,
        /// Items (macros expanded).
        items: Vec<FetchItem>,
        /// `CHANGEDSINCE` (RFC 7162).
        changed_since: Option<u64>,
        /// `VANISHED` modifier (RFC 7162 §3.2.6, UID FETCH with CHANGEDSINCE only).
        vanished: bool,
    },
    /// `[UID] STORE set [(UNCHANGEDSINCE n)] [+|-]FLAGS[.SILENT] flags`.
    Store {
        /// UIDs rather than sequence numbers.
        uid: bool,
        /// Messages.
        set: SequenceSet,
        /// How.
        mode: StoreMode,
        /// `.SILENT`.
        silent: bool,
        /// Flags.
        flags: Vec<Flag>,
        /// `UNCHANGEDSINCE` (RFC 7162).
        unchanged_since: Option<u64>,
    },
    /// `[UID] COPY set mailbox`.
    Copy {
        /// UIDs rather than sequence numbers.
        uid: bool,
        /// Messages.
        set: SequenceSet,
        /// Decoded target mailbox.
        mailbox: String,
    },
    /// `[UID] MOVE set mailbox` (RFC 6851).
    Move {
        /// UIDs rather than sequence numbers.
        uid: bool,
        /// Messages.
        set: SequenceSet,
        /// Decoded target mailbox.
        mailbox: String,
    },
    /// `[UID] SEARCH [RETURN (...)] [CHARSET x] keys`.
    Search {
        /// UIDs rather than sequence numbers.
        uid: bool,
        /// `RETURN (...)`: `Some` means an ESEARCH response.
        ret: Option<Vec<SearchReturn>>,
        /// The charset named.
        charset: Option<String>,
        /// The keys, joined by `AND`.
        key: SearchKey,
    },
    /// `GETQUOTA root` (RFC 9208).
    GetQuota(String),
    /// `GETQUOTAROOT mailbox` (RFC 9208).
    GetQuotaRoot(String),
    /// `SETQUOTA root (resource limit ...)` (RFC 9208; refused: quotas are set by the admin).
    SetQuota {
        /// The quota root.
        root: String,
        /// Resource names (uppercased) and limits.
        limits: Vec<(String, u64)>,
    },
}

impl Command {
    /// The command name for the tagged reply text.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Capability => "CAPABILITY",
            Command::Noop => "NOOP",
            Command::Logout => "LOGOUT",
            Command::StartTls => "STARTTLS",
            Command::Authenticate { .. } => "AUTHENTICATE",
            Command::Login { .. } => "LOGIN",
            Command::Enable(_) => "ENABLE",
            Command::Id(_) => "ID",
            Command::Namespace => "NAMESPACE",
            Command::Select { .. } => "SELECT",
            Command::Examine { .. } => "EXAMINE",
            Command::Create(_) => "CREATE",
            Command::Delete(_) => "DELETE",
            Command::Rename(..) => "RENAME",
            Command::Subscribe(_) => "SUBSCRIBE",
            Command::Unsubscribe(_) => "UNSUBSCRIBE",
            Command::List { .. } => "LIST",
            Command::Lsub { .. } => "LSUB",
            Command::Status { .. } => "STATUS",
            Command::Append { .. } => "APPEND",
            Command::Idle => "IDLE",
            Command::Check => "CHECK",
            Command::Close => "CLOSE",
            Command::Unselect => "UNSELECT",
            Command::Expunge(_) => "EXPUNGE",
            Command::Fetch { .. } => "FETCH",
            Command::Store { .. } => "STORE",
            Command::Copy { .. } => "COPY",
            Command::Move { .. } => "MOVE",
            Command::Search { .. } => "SEARCH",
            Command::GetQuota(_) => "GETQUOTA",
            Command::GetQuotaRoot(_) => "GETQUOTAROOT",
            Command::SetQuota { .. } => "SETQUOTA",
        }
    }
}

/// One further message of a MULTIAPPEND.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppendMessage {
    /// Flags.
    pub flags: Vec<Flag>,
    /// Internal date, seconds since the epoch.
    pub date: Option<i64>,
    /// The message.
    pub message: Vec<u8>,
}

/// Why a command did not parse (answered with `BAD`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

fn err<T>(s: &str) -> Result<T, ParseError> {
    Err(ParseError(s.to_owned()))
}

struct Parser<'a> {
    b: &'a [u8],
    i: usize,
    depth: usize,
    /// Mailbox names are UTF-8, not modified UTF-7 (UTF8=ACCEPT or IMAP4rev2 enabled).
    utf8_names: bool,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: u8) -> Result<(), ParseError> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(ParseError(format!(
                "expected {:?} at offset {}",
                char::from(c),
                self.i
            )))
        }
    }

    fn sp(&mut self) -> Result<(), ParseError> {
        self.expect(b' ')
    }

    fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &'a [u8] {
        let start = self.i;
        while self.peek().is_some_and(&f) {
            self.i += 1;
        }
        &self.b[start..self.i]
    }

    fn end(&mut self) -> Result<(), ParseError> {
        self.eat(b'\r');
        if self.eat(b'\n') && self.i == self.b.len() {
            Ok(())
        } else {
            err("unexpected characters at end of command")
        }
    }

    fn atom(&mut self) -> Result<&'a str, ParseError> {
        let a = self.take_while(is_atom_char);
        if a.is_empty() {
            return err("atom expected");
        }
        std::str::from_utf8(a).map_err(|_| ParseError("atom expected".into()))
    }

    fn number64(&mut self) -> Result<u64, ParseError> {
        let d = self.take_while(|b| b.is_ascii_digit());
        if d.is_empty() || d.len() > 19 {
            return err("number expected");
        }
        std::str::from_utf8(d)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| ParseError("number expected".into()))
    }

    fn number(&mut self) -> Result<u32, ParseError> {
        u32::try_from(self.number64()?).map_err(|_| ParseError("number too large".into()))
    }

    fn nz_number(&mut self) -> Result<u32, ParseError> {
        match self.number()? {
            0 => err("zero is not allowed here"),
            n => Ok(n),
        }
    }

    /// A quoted string or a literal, as bytes.
    fn string(&mut self) -> Result<Vec<u8>, ParseError> {
        self.string_allowing_nul(false)
    }

    fn string_allowing_nul(&mut self, nul_ok: bool) -> Result<Vec<u8>, ParseError> {
        match self.peek() {
            Some(b'"') => {
                self.i += 1;
                let mut out = Vec::new();
                loop {
                    match self.peek() {
                        None | Some(b'\r') | Some(b'\n') => return err("unterminated string"),
                        Some(0) => return err("NUL in string"),
                        Some(b'"') => {
                            self.i += 1;
                            return Ok(out);
                        }
                        Some(b'\\') => {
                            self.i += 1;
                            match self.peek() {
                                Some(c @ (b'"' | b'\\')) => {
                                    out.push(c);
                                    self.i += 1;
                                }
                                _ => return err("invalid escape in quoted string"),
                            }
                        }
                        Some(c) => {
                            out.push(c);
                            self.i += 1;
                        }
                    }
                }
            }
            Some(b'{') | Some(b'~') => {
                // `~{n}` (literal8, RFC 3516) may carry NUL, and only in APPEND.
                let literal8 = self.eat(b'~');
                if literal8 && !nul_ok {
                    return err("literal8 is only allowed in APPEND");
                }
                self.expect(b'{')?;
                let n = self.number()? as usize;
                self.eat(b'+');
                self.expect(b'}')?;
                self.eat(b'\r');
                self.expect(b'\n')?;
                let data = self
                    .b
                    .get(self.i..self.i + n)
                    .ok_or_else(|| ParseError("truncated literal".into()))?;
                if !literal8 && data.contains(&0) {
                    return err("NUL in literal");
                }
                self.i += n;
                Ok(data.to_vec())
            }
            _ => err("string expected"),
        }
    }

    fn astring(&mut self) -> Result<Vec<u8>, ParseError> {
        match self.peek() {
            Some(b'"') | Some(b'{') => self.string(),
            _ => {
                let a = self.take_while(is_astring_char);
                if a.is_empty() {
                    err("string expected")
                } else {
                    Ok(a.to_vec())
                }
            }
        }
    }

    fn astring_utf8(&mut self) -> Result<String, ParseError> {
        String::from_utf8(self.astring()?).map_err(|_| ParseError("invalid UTF-8".into()))
    }

    fn nstring_or_nil(&mut self) -> Result<Option<String>, ParseError> {
        if self.b[self.i..].len() >= 3 && self.b[self.i..self.i + 3].eq_ignore_ascii_case(b"NIL") {
            self.i += 3;
            return Ok(None);
        }
        String::from_utf8(self.string()?)
            .map(Some)
            .map_err(|_| ParseError("invalid UTF-8".into()))
    }

    fn mailbox(&mut self) -> Result<String, ParseError> {
        let raw = self.astring()?;
        decode_mailbox(&raw, self.utf8_names)
    }

    fn list_mailbox(&mut self) -> Result<String, ParseError> {
        let raw = match self.peek() {
            Some(b'"') | Some(b'{') => self.string()?,
            _ => {
                let a = self.take_while(is_list_char);
                if a.is_empty() {
                    return err("mailbox pattern expected");
                }
                a.to_vec()
            }
        };
        decode_mailbox(&raw, self.utf8_names)
    }

    fn seq_num(&mut self) -> Result<SeqNum, ParseError> {
        if self.eat(b'*') {
            Ok(SeqNum::Largest)
        } else {
            Ok(SeqNum::Value(self.nz_number()?))
        }
    }

    fn sequence_set(&mut self) -> Result<SequenceSet, ParseError> {
        if self.eat(b'$') {
            return Ok(SequenceSet::saved());
        }
        let mut ranges = Vec::new();
        loop {
            let a = self.seq_num()?;
            let b = if self.eat(b':') { self.seq_num()? } else { a };
            ranges.push((a, b));
            if ranges.len() > 10_000 {
                return err("sequence set too long");
            }
            if !self.eat(b',') {
                return Ok(SequenceSet(ranges));
            }
        }
    }

    fn flag(&mut self) -> Result<Flag, ParseError> {
        let start = self.i;
        self.eat(b'\\');
        let a = self.take_while(is_atom_char);
        if a.is_empty() {
            return err("flag expected");
        }
        let s = std::str::from_utf8(&self.b[start..self.i])
            .map_err(|_| ParseError("flag expected".into()))?;
        Flag::parse(s).ok_or_else(|| ParseError(format!("unsupported flag {s}")))
    }

    /// One message of APPEND: `[flag-list SP] [date-time SP] literal` (or the RFC 6855
    /// `UTF8 (literal8)` form).
    fn append_message(&mut self) -> Result<AppendMessage, ParseError> {
        let mut flags = Vec::new();
        if self.peek() == Some(b'(') {
            flags = self.flag_list()?;
            self.sp()?;
        }
        let mut date = None;
        if self.peek() == Some(b'"') {
            let s = self.string()?;
            date = Some(
                std::str::from_utf8(&s)
                    .ok()
                    .and_then(crate::datetime::parse_date_time)
                    .ok_or_else(|| ParseError("invalid date-time".into()))?,
            );
            self.sp()?;
        }
        let message = if self.keyword("UTF8") {
            // `UTF8 (~{n}...)`: a message with UTF-8 headers (RFC 6855 §4).
            self.sp()?;
            self.expect(b'(')?;
            if self.peek() != Some(b'~') {
                return err("literal8 expected");
            }
            let m = self.string_allowing_nul(true)?;
            self.expect(b')')?;
            m
        } else {
            if !matches!(self.peek(), Some(b'{') | Some(b'~')) {
                return err("message literal expected");
            }
            self.string_allowing_nul(true)?
        };
        Ok(AppendMessage {
            flags,
            date,
            message,
        })
    }

    fn flag_list(&mut self) -> Result<Vec<Flag>, ParseError> {
        self.expect(b'(')?;
        let mut flags = Vec::new();
        if self.eat(b')') {
            return Ok(flags);
        }
        loop {
            let f = self.flag()?;
            if !flags.contains(&f) {
                flags.push(f);
            }
            if self.eat(b')') {
                return Ok(flags);
            }
            self.sp()?;
        }
    }

    fn paren_list<T>(
        &mut self,
        mut item: impl FnMut(&mut Self) -> Result<T, ParseError>,
    ) -> Result<Vec<T>, ParseError> {
        self.expect(b'(')?;
        let mut out = Vec::new();
        if self.eat(b')') {
            return Ok(out);
        }
        loop {
            out.push(item(self)?);
            if self.eat(b')') {
                return Ok(out);
            }
            self.sp()?;
        }
    }

    fn keyword(&mut self, kw: &str) -> bool {
        let n = kw.len();
        if self.b.len() >= self.i + n
            && self.b[self.i..self.i + n].eq_ignore_ascii_case(kw.as_bytes())
        {
            // Must not be followed by more atom characters.
            if self
                .b
                .get(self.i + n)
                .is_some_and(|&c| is_atom_char(c) && c != b'[' && c != b'.')
            {
                return false;
            }
            self.i += n;
            true
        } else {
            false
        }
    }

    fn date(&mut self) -> Result<i64, ParseError> {
        let quoted = self.eat(b'"');
        let d = self.take_while(|b| b.is_ascii_alphanumeric() || b == b'-');
        if quoted {
            self.expect(b'"')?;
        }
        std::str::from_utf8(d)
            .ok()
            .and_then(crate::datetime::parse_date)
            .ok_or_else(|| ParseError("invalid date".into()))
    }

    fn section(&mut self) -> Result<Section, ParseError> {
        self.expect(b'[')?;
        let mut s = Section::default();
        loop {
            if self.peek().is_some_and(|b| b.is_ascii_digit()) {
                s.part.push(self.nz_number()?);
                if s.part.len() > 64 {
                    return err("section too deep");
                }
                if self.eat(b'.') {
                    continue;
                }
            }
            break;
        }
        if !self.eat(b']') {
            let word = self.take_while(|b| b.is_ascii_alphabetic() || b == b'.');
            let word = String::from_utf8_lossy(word).to_ascii_uppercase();
            let text = match word.as_str() {
                "HEADER" => SectionText::Header,
                "TEXT" => SectionText::Text,
                "MIME" if !s.part.is_empty() => SectionText::Mime,
                "HEADER.FIELDS" | "HEADER.FIELDS.NOT" => {
                    self.sp()?;
                    let names = self.paren_list(|p| {
                        let name = p.astring()?;
                        String::from_utf8(name).map_err(|_| ParseError("invalid field name".into()))
                    })?;
                    if names.is_empty() {
                        return err("header list is empty");
                    }
                    if word == "HEADER.FIELDS" {
                        SectionText::HeaderFields(names)
                    } else {
                        SectionText::HeaderFieldsNot(names)
                    }
                }
                _ => return err("invalid section"),
            };
            s.text = Some(text);
            self.expect(b']')?;
        }
        Ok(s)
    }

    fn fetch_item(&mut self, out: &mut Vec<FetchItem>) -> Result<(), ParseError> {
        let start = self.i;
        let word = self.take_while(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'8');
        let word = String::from_utf8_lossy(word).to_ascii_uppercase();
        let item = match word.as_str() {
            "ALL" | "FAST" | "FULL" => {
                out.extend([
                    FetchItem::Flags,
                    FetchItem::InternalDate,
                    FetchItem::Rfc822Size,
                ]);
                if word != "FAST" {
                    out.push(FetchItem::Envelope);
                }
                if word == "FULL" {
                    out.push(FetchItem::Body);
                }
                return Ok(());
            }
            "FLAGS" => FetchItem::Flags,
            "INTERNALDATE" => FetchItem::InternalDate,
            "RFC822.SIZE" => FetchItem::Rfc822Size,
            "ENVELOPE" => FetchItem::Envelope,
            "BODYSTRUCTURE" => FetchItem::BodyStructure,
            "UID" => FetchItem::Uid,
            "MODSEQ" => FetchItem::ModSeq,
            "RFC822" => FetchItem::Rfc822,
            "RFC822.HEADER" => FetchItem::Rfc822Header,
            "RFC822.TEXT" => FetchItem::Rfc822Text,
            "BODY" | "BODY.PEEK" if self.peek() == Some(b'[') => {
                let section = self.section()?;
                let partial = if self.eat(b'<') {
                    let a = self.number()?;
                    self.expect(b'.')?;
                    let b = self.nz_number()?;
                    self.expect(b'>')?;
                    Some((a, b))
                } else {
                    None
                };
                FetchItem::Section {
                    peek: word == "BODY.PEEK",
                    section,
                    partial,
                }
            }
            "BODY" => FetchItem::Body,
            "BINARY" | "BINARY.PEEK" | "BINARY.SIZE" if self.peek() == Some(b'[') => {
                self.i += 1;
                let mut part = Vec::new();
                if !self.eat(b']') {
                    loop {
                        part.push(self.nz_number()?);
                        if part.len() > 64 {
                            return err("section too deep");
                        }
                        if !self.eat(b'.') {
                            break;
                        }
                    }
                    self.expect(b']')?;
                }
                if word == "BINARY.SIZE" {
                    FetchItem::BinarySize { part }
                } else {
                    let partial = if self.eat(b'<') {
                        let a = self.number()?;
                        self.expect(b'.')?;
                        let b = self.nz_number()?;
                        self.expect(b'>')?;
                        Some((a, b))
                    } else {
                        None
                    };
                    FetchItem::Binary {
                        peek: word == "BINARY.PEEK",
                        part,
                        partial,
                    }
                }
            }
            _ => {
                self.i = start;
                return Err(ParseError(format!("unknown fetch item {word}")));
            }
        };
        out.push(item);
        Ok(())
    }

    fn fetch_items(&mut self) -> Result<Vec<FetchItem>, ParseError> {
        let mut items = Vec::new();
        if self.eat(b'(') {
            loop {
                self.fetch_item(&mut items)?;
                if self.eat(b')') {
                    break;
                }
                self.sp()?;
            }
        } else {
            self.fetch_item(&mut items)?;
        }
        Ok(items)
    }

    fn search_string(&mut self) -> Result<String, ParseError> {
        String::from_utf8(self.astring()?)
            .map_err(|_| ParseError("search text must be UTF-8".into()))
    }

    fn search_key(&mut self) -> Result<SearchKey, ParseError> {
        if self.depth >= MAX_NESTING {
            return err("search keys nested too deeply");
        }
        self.depth += 1;
        let k = self.search_key_inner();
        self.depth -= 1;
        k
    }

    fn search_key_inner(&mut self) -> Result<SearchKey, ParseError> {
        match self.peek() {
            Some(b'(') => {
                self.i += 1;
                let mut keys = vec![self.search_key()?];
                while !self.eat(b')') {
                    self.sp()?;
                    keys.push(self.search_key()?);
                }
                return Ok(SearchKey::And(keys));
            }
            Some(b'*' | b'$') => return Ok(SearchKey::Seq(self.sequence_set()?)),
            Some(c) if c.is_ascii_digit() => return Ok(SearchKey::Seq(self.sequence_set()?)),
            _ => {}
        }
        let word = self.atom()?.to_ascii_uppercase();
        let flag = |f| Ok(SearchKey::Flag(f));
        let not_flag = |f| Ok(SearchKey::NotFlag(f));
        match word.as_str() {
            "ALL" => Ok(SearchKey::All),
            "ANSWERED" => flag(Flag::Answered),
            "DELETED" => flag(Flag::Deleted),
            "DRAFT" => flag(Flag::Draft),
            "FLAGGED" => flag(Flag::Flagged),
            "SEEN" => flag(Flag::Seen),
            "UNANSWERED" => not_flag(Flag::Answered),
            "UNDELETED" => not_flag(Flag::Deleted),
            "UNDRAFT" => not_flag(Flag::Draft),
            "UNFLAGGED" => not_flag(Flag::Flagged),
            "UNSEEN" => not_flag(Flag::Seen),
            "NEW" => Ok(SearchKey::New),
            "OLD" => Ok(SearchKey::Old),
            "RECENT" => Ok(SearchKey::Recent),
            "KEYWORD" | "UNKEYWORD" => {
                self.sp()?;
                let k = self.atom()?.to_owned();
                let f = Flag::Keyword(k);
                if word == "KEYWORD" {
                    flag(f)
                } else {
                    not_flag(f)
                }
            }
            "FROM" | "TO" | "CC" | "BCC" | "SUBJECT" => {
                self.sp()?;
                let s = self.search_string()?;
                let name = match word.as_str() {
                    "FROM" => "From",
                    "TO" => "To",
                    "CC" => "Cc",
                    "BCC" => "Bcc",
                    _ => "Subject",
                };
                Ok(SearchKey::Header(name.to_owned(), s))
            }
            "HEADER" => {
                self.sp()?;
                let name = self.search_string()?;
                self.sp()?;
                let value = self.search_string()?;
                Ok(SearchKey::Header(name, value))
            }
            "BODY" => {
                self.sp()?;
                Ok(SearchKey::Body(self.search_string()?))
            }
            "TEXT" => {
                self.sp()?;
                Ok(SearchKey::Text(self.search_string()?))
            }
            "BEFORE" | "ON" | "SINCE" | "SENTBEFORE" | "SENTON" | "SENTSINCE" => {
                self.sp()?;
                let d = self.date()?;
                Ok(match word.as_str() {
                    "BEFORE" => SearchKey::Before(d),
                    "ON" => SearchKey::On(d),
                    "SINCE" => SearchKey::Since(d),
                    "SENTBEFORE" => SearchKey::SentBefore(d),
                    "SENTON" => SearchKey::SentOn(d),
                    _ => SearchKey::SentSince(d),
                })
            }
            "LARGER" => {
                self.sp()?;
                Ok(SearchKey::Larger(self.number64()?))
            }
            "SMALLER" => {
                self.sp()?;
                Ok(SearchKey::Smaller(self.number64()?))
            }
            "UID" => {
                self.sp()?;
                Ok(SearchKey::Uid(self.sequence_set()?))
            }
            "NOT" => {
                self.sp()?;
                Ok(SearchKey::Not(Box::new(self.search_key()?)))
            }
            "OR" => {
                self.sp()?;
                let a = self.search_key()?;
                self.sp()?;
                let b = self.search_key()?;
                Ok(SearchKey::Or(Box::new(a), Box::new(b)))
            }
            "MODSEQ" => {
                self.sp()?;
                // Optional entry name and type (RFC 7162 §3.1.5).
                if self.peek() == Some(b'"') {
                    self.string()?;
                    self.sp()?;
                    self.atom()?;
                    self.sp()?;
                }
                Ok(SearchKey::ModSeq(self.number64()?))
            }
            _ => Err(ParseError(format!("unknown search key {word}"))),
        }
    }

    fn uid_command(&mut self, uid: bool) -> Result<Command, ParseError> {
        let name = self.atom()?.to_ascii_uppercase();
        match name.as_str() {
            "FETCH" => {
                self.sp()?;
                let set = self.sequence_set()?;
                self.sp()?;
                let mut items = self.fetch_items()?;
                let mut changed_since = None;
                let mut vanished = false;
                if self.eat(b' ') {
                    self.expect(b'(')?;
                    loop {
                        if self.keyword("CHANGEDSINCE") {
                            self.sp()?;
                            changed_since = Some(self.number64()?);
                        } else if self.keyword("VANISHED") {
                            vanished = true;
                        } else {
                            return err("unknown fetch modifier");
                        }
                        if self.eat(b')') {
                            break;
                        }
                        self.sp()?;
                    }
                    if changed_since.is_some() && !items.contains(&FetchItem::ModSeq) {
                        items.push(FetchItem::ModSeq);
                    }
                }
                if vanished && (!uid || changed_since.is_none()) {
                    return err("VANISHED needs UID FETCH with CHANGEDSINCE");
                }
                Ok(Command::Fetch {
                    uid,
                    set,
                    items,
                    changed_since,
                    vanished,
                })
            }
            "STORE" => {
                self.sp()?;
                let set = self.sequence_set()?;
                self.sp()?;
                let mut unchanged_since = None;
                if self.eat(b'(') {
                    if !self.keyword("UNCHANGEDSINCE") {
                        return err("unknown store modifier");
                    }
                    self.sp()?;
                    unchanged_since = Some(self.number64()?);
                    self.expect(b')')?;
                    self.sp()?;
                }
                let mode = if self.eat(b'+') {
                    StoreMode::Add
                } else if self.eat(b'-') {
                    StoreMode::Remove
                } else {
                    StoreMode::Replace
                };
                let word = self.atom()?.to_ascii_uppercase();
                let silent = match word.as_str() {
                    "FLAGS" => false,
                    "FLAGS.SILENT" => true,
                    _ => return err("FLAGS expected"),
                };
                self.sp()?;
                let flags = if self.peek() == Some(b'(') {
                    self.flag_list()?
                } else {
                    let mut v = vec![self.flag()?];
                    while self.eat(b' ') {
                        v.push(self.flag()?);
                    }
                    v
                };
                Ok(Command::Store {
                    uid,
                    set,
                    mode,
                    silent,
                    flags,
                    unchanged_since,
                })
            }
            "COPY" | "MOVE" => {
                self.sp()?;
                let set = self.sequence_set()?;
                self.sp()?;
                let mailbox = self.mailbox()?;
                Ok(if name == "COPY" {
                    Command::Copy { uid, set, mailbox }
                } else {
                    Command::Move { uid, set, mailbox }
                })
            }
            "SEARCH" => {
                self.sp()?;
                let mut ret = None;
                if self.keyword("RETURN") {
                    self.sp()?;
                    let opts = self.paren_list(|p| {
                        Ok(match p.atom()?.to_ascii_uppercase().as_str() {
                            "MIN" => SearchReturn::Min,
                            "MAX" => SearchReturn::Max,
                            "ALL" => SearchReturn::All,
                            "COUNT" => SearchReturn::Count,
                            "SAVE" => SearchReturn::Save,
                            _ => return err("unsupported search return option"),
                        })
                    })?;
                    ret = Some(opts);
                    self.sp()?;
                }
                let mut charset = None;
                if self.keyword("CHARSET") {
                    self.sp()?;
                    charset = Some(self.astring_utf8()?);
                    self.sp()?;
                }
                let mut keys = vec![self.search_key()?];
                while self.eat(b' ') {
                    keys.push(self.search_key()?);
                }
                let key = if keys.len() == 1 {
                    keys.pop().unwrap_or(SearchKey::All)
                } else {
                    SearchKey::And(keys)
                };
                Ok(Command::Search {
                    uid,
                    ret,
                    charset,
                    key,
                })
            }
            "EXPUNGE" if uid => {
                self.sp()?;
                Ok(Command::Expunge(Some(self.sequence_set()?)))
            }
            _ => Err(ParseError(format!("unknown UID command {name}"))),
        }
    }

    fn select_params(&mut self) -> Result<(bool, Option<Qresync>), ParseError> {
        let (mut condstore, mut qresync) = (false, None);
        if !self.eat(b' ') {
            return Ok((condstore, qresync));
        }
        self.expect(b'(')?;
        if self.eat(b')') {
            return Ok((condstore, qresync));
        }
        loop {
            match self.atom()?.to_ascii_uppercase().as_str() {
                "CONDSTORE" => condstore = true,
                "QRESYNC" => {
                    self.sp()?;
                    self.expect(b'(')?;
                    let uid_validity = self.nz_number()?;
                    self.sp()?;
                    let modseq = self.number64()?;
                    let (mut known_uids, mut seq_match) = (None, None);
                    if self.eat(b' ') && self.peek() != Some(b'(') {
                        known_uids = Some(self.sequence_set()?);
                        self.eat(b' ');
                    }
                    if self.eat(b'(') {
                        let seqs = self.sequence_set()?;
                        self.sp()?;
                        let uids = self.sequence_set()?;
                        self.expect(b')')?;
                        seq_match = Some((seqs, uids));
                    }
                    self.expect(b')')?;
                    qresync = Some(Qresync {
                        uid_validity,
                        modseq,
                        known_uids,
                        seq_match,
                    });
                }
                _ => return err("unsupported SELECT parameter"),
            }
            if self.eat(b')') {
                return Ok((condstore, qresync));
            }
            self.sp()?;
        }
    }

    fn list(&mut self) -> Result<Command, ParseError> {
        let mut options = ListOptions::default();
        if self.peek() == Some(b'(') {
            let sel = self.paren_list(|p| Ok(p.atom()?.to_ascii_uppercase()))?;
            for s in sel {
                match s.as_str() {
                    "SUBSCRIBED" => options.select_subscribed = true,
                    "SPECIAL-USE" => options.select_special_use = true,
                    "RECURSIVEMATCH" => options.recursive_match = true,
                    "REMOTE" => {}
                    _ => return err("unsupported LIST selection option"),
                }
            }
            if options.recursive_match && !options.select_subscribed {
                return err("RECURSIVEMATCH needs another selection option");
            }
            self.sp()?;
        }
        let reference = self.mailbox_or_empty()?;
        self.sp()?;
        let patterns = if self.peek() == Some(b'(') {
            let p = self.paren_list(Self::list_mailbox)?;
            if p.is_empty() {
                return err("no pattern");
            }
            p
        } else {
            vec![self.list_mailbox()?]
        };
        if self.eat(b' ') {
            if !self.keyword("RETURN") {
                return err("RETURN expected");
            }
            self.sp()?;
            self.expect(b'(')?;
            if !self.eat(b')') {
                loop {
                    let w = self.atom()?.to_ascii_uppercase();
                    match w.as_str() {
                        "SUBSCRIBED" => options.return_subscribed = true,
                        "CHILDREN" => options.return_children = true,
                        "SPECIAL-USE" => options.return_special_use = true,
                        "STATUS" => {
                            self.sp()?;
                            options.return_status = self.status_items()?;
                        }
                        _ => return err("unsupported LIST return option"),
                    }
                    if self.eat(b')') {
                        break;
                    }
                    self.sp()?;
                }
            }
        }
        Ok(Command::List {
            reference,
            patterns,
            options,
        })
    }

    fn mailbox_or_empty(&mut self) -> Result<String, ParseError> {
        let raw = self.astring()?;
        if raw.is_empty() {
            return Ok(String::new());
        }
        decode_mailbox(&raw, self.utf8_names)
    }

    fn status_items(&mut self) -> Result<Vec<StatusItem>, ParseError> {
        let items = self.paren_list(|p| {
            let a = p.atom()?;
            StatusItem::parse(a).ok_or_else(|| ParseError(format!("unknown status item {a}")))
        })?;
        if items.is_empty() {
            return err("no status items");
        }
        Ok(items)
    }

    fn command(&mut self) -> Result<Command, ParseError> {
        let name = self.atom()?.to_ascii_uppercase();
        let no_args = |c: Command| Ok(c);
        let cmd = match name.as_str() {
            "CAPABILITY" => no_args(Command::Capability),
            "NOOP" => no_args(Command::Noop),
            "LOGOUT" => no_args(Command::Logout),
            "STARTTLS" => no_args(Command::StartTls),
            "NAMESPACE" => no_args(Command::Namespace),
            "IDLE" => no_args(Command::Idle),
            "CHECK" => no_args(Command::Check),
            "CLOSE" => no_args(Command::Close),
            "UNSELECT" => no_args(Command::Unselect),
            "EXPUNGE" => no_args(Command::Expunge(None)),
            "AUTHENTICATE" => {
                self.sp()?;
                let mechanism = self.atom()?.to_ascii_uppercase();
                let initial = if self.eat(b' ') {
                    let r = self.take_while(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b));
                    if r.is_empty() {
                        return err("initial response expected");
                    }
                    Some(String::from_utf8_lossy(r).into_owned())
                } else {
                    None
                };
                Ok(Command::Authenticate { mechanism, initial })
            }
            "LOGIN" => {
                self.sp()?;
                let user = self.astring_utf8()?;
                self.sp()?;
                let password = self.astring_utf8()?;
                Ok(Command::Login { user, password })
            }
            "ENABLE" => {
                let mut caps = Vec::new();
                while self.eat(b' ') {
                    caps.push(self.atom()?.to_ascii_uppercase());
                }
                if caps.is_empty() {
                    return err("capability expected");
                }
                Ok(Command::Enable(caps))
            }
            "ID" => {
                self.sp()?;
                if self.keyword("NIL") {
                    Ok(Command::Id(None))
                } else {
                    self.expect(b'(')?;
                    let mut fields = Vec::new();
                    if !self.eat(b')') {
                        loop {
                            let k = String::from_utf8(self.string()?)
                                .map_err(|_| ParseError("invalid UTF-8".into()))?;
                            self.sp()?;
                            let v = self.nstring_or_nil()?;
                            fields.push((k, v));
                            if fields.len() > 30 {
                                return err("too many ID fields");
                            }
                            if self.eat(b')') {
                                break;
                            }
                            self.sp()?;
                        }
                    }
                    Ok(Command::Id(Some(fields)))
                }
            }
            "SELECT" | "EXAMINE" => {
                self.sp()?;
                let mailbox = self.mailbox()?;
                let (condstore, qresync) = self.select_params()?;
                Ok(if name == "SELECT" {
                    Command::Select {
                        mailbox,
                        condstore,
                        qresync,
                    }
                } else {
                    Command::Examine {
                        mailbox,
                        condstore,
                        qresync,
                    }
                })
            }
            "CREATE" | "DELETE" | "SUBSCRIBE" | "UNSUBSCRIBE" => {
                self.sp()?;
                let m = self.mailbox()?;
                Ok(match name.as_str() {
                    "CREATE" => Command::Create(m),
                    "DELETE" => Command::Delete(m),
                    "SUBSCRIBE" => Command::Subscribe(m),
                    _ => Command::Unsubscribe(m),
                })
            }
            "RENAME" => {
                self.sp()?;
                let a = self.mailbox()?;
                self.sp()?;
                let b = self.mailbox()?;
                Ok(Command::Rename(a, b))
            }
            "LIST" => {
                self.sp()?;
                self.list()
            }
            "LSUB" => {
                self.sp()?;
                let reference = self.mailbox_or_empty()?;
                self.sp()?;
                let pattern = self.list_mailbox()?;
                Ok(Command::Lsub { reference, pattern })
            }
            "STATUS" => {
                self.sp()?;
                let mailbox = self.mailbox()?;
                self.sp()?;
                let items = self.status_items()?;
                Ok(Command::Status { mailbox, items })
            }
            "APPEND" => {
                self.sp()?;
                let mailbox = self.mailbox()?;
                self.sp()?;
                let first = self.append_message()?;
                // MULTIAPPEND (RFC 3502): more messages follow, separated by a space.
                let mut more = Vec::new();
                while self.peek() == Some(b' ') {
                    self.sp()?;
                    more.push(self.append_message()?);
                }
                Ok(Command::Append {
                    mailbox,
                    flags: first.flags,
                    date: first.date,
                    message: first.message,
                    more,
                })
            }
            "GETQUOTA" => {
                self.sp()?;
                Ok(Command::GetQuota(self.astring_utf8()?))
            }
            "GETQUOTAROOT" => {
                self.sp()?;
                Ok(Command::GetQuotaRoot(self.mailbox()?))
            }
            "SETQUOTA" => {
                self.sp()?;
                let root = self.astring_utf8()?;
                self.sp()?;
                let limits = self.paren_list(|p| {
                    let name = p.atom()?.to_ascii_uppercase();
                    p.sp()?;
                    Ok((name, p.number64()?))
                })?;
                Ok(Command::SetQuota { root, limits })
            }
            "FETCH" | "STORE" | "COPY" | "MOVE" | "SEARCH" => {
                self.i -= name.len();
                self.uid_command(false)
            }
            "UID" => {
                self.sp()?;
                self.uid_command(true)
            }
            _ => Err(ParseError(format!("unknown command {name}"))),
        }?;
        self.end()?;
        Ok(cmd)
    }
}

fn decode_mailbox(raw: &[u8], utf8_names: bool) -> Result<String, ParseError> {
    let s = std::str::from_utf8(raw).map_err(|_| ParseError("mailbox name is not UTF-8".into()))?;
    if utf8_names {
        // RFC 6855 §3 / RFC 9051 §5.1: once UTF8=ACCEPT or IMAP4rev2 is enabled, names are
        // UTF-8 as they stand (`&` is just `&`).
        Ok(s.to_owned())
    } else if s.is_ascii() {
        crate::utf7::decode(s).map_err(|e| ParseError(format!("invalid mailbox name: {e}")))
    } else {
        // Raw UTF-8 (sent by some clients without UTF8=ACCEPT): taken as it is.
        Ok(s.to_owned())
    }
}

/// Parses one framed command (as returned by [`Framer::next_frame`]), mailbox names in
/// modified UTF-7 (IMAP4rev1).
pub fn parse(frame: &[u8]) -> Result<(Tag, Command), (Option<Tag>, ParseError)> {
    parse_with(frame, false)
}

/// Parses one framed command; with `utf8_names` mailbox names are taken as UTF-8 instead of
/// modified UTF-7 (after `ENABLE UTF8=ACCEPT` or `ENABLE IMAP4rev2`, RFC 6855 §3).
pub fn parse_with(
    frame: &[u8],
    utf8_names: bool,
) -> Result<(Tag, Command), (Option<Tag>, ParseError)> {
    let mut p = Parser {
        b: frame,
        i: 0,
        depth: 0,
        utf8_names,
    };
    let tag_bytes = p.take_while(is_tag_char);
    let tag = std::str::from_utf8(tag_bytes).ok().and_then(Tag::new);
    let Some(tag) = tag else {
        return Err((None, ParseError("missing or invalid tag".into())));
    };
    if let Err(e) = p.sp() {
        return Err((Some(tag), e));
    }
    match p.command() {
        Ok(c) => Ok((tag, c)),
        Err(e) => Err((Some(tag), e)),
    }
}

/// What [`Decoder::next`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decoded {
    /// Not a whole command yet: feed more bytes.
    NeedMore,
    /// A synchronising literal was announced and is acceptable: send `+` before anything else.
    LiteralAnnounced {
        /// Its length.
        len: u32,
    },
    /// A command.
    Command {
        /// Its tag.
        tag: Tag,
        /// The command.
        command: Command,
    },
    /// A command that cannot be accepted: answer `BAD` (tagged if the tag is known, else
    /// untagged) and go on with the next one — unless `fatal` is set.
    Malformed {
        /// The tag, when it could be read.
        tag: Option<String>,
        /// Why.
        reason: String,
        /// Whether the stream cannot be resynchronised (close the connection).
        fatal: bool,
        /// A `SEARCH RETURN (... SAVE ...)` that failed: the saved result `$` must be
        /// emptied (RFC 5182 §2.1).
        forgets_saved: bool,
    },
}

/// Whether a frame starts like `tag [UID] SEARCH RETURN (... SAVE ...)`.
fn search_saves(frame: &[u8]) -> bool {
    let mut p = Parser {
        b: frame,
        i: 0,
        depth: 0,
        utf8_names: false,
    };
    if p.take_while(is_tag_char).is_empty() || !p.eat(b' ') {
        return false;
    }
    if p.keyword("UID") && !p.eat(b' ') {
        return false;
    }
    if !p.keyword("SEARCH") || !p.eat(b' ') || !p.keyword("RETURN") || !p.eat(b' ') {
        return false;
    }
    p.paren_list(|p| p.atom().map(|a| a.eq_ignore_ascii_case("SAVE")))
        .is_ok_and(|opts| opts.contains(&true))
}

/// Framing plus parsing: the command decoder with an explicit streaming contract.
#[derive(Debug)]
pub struct Decoder {
    framer: Framer,
    utf8_names: bool,
}

impl Decoder {
    /// A decoder with these limits.
    pub fn new(limits: FramerLimits) -> Decoder {
        Decoder {
            framer: Framer::new(limits),
            utf8_names: false,
        }
    }

    /// Reads mailbox names as UTF-8 from now on (UTF8=ACCEPT or IMAP4rev2 enabled).
    pub fn set_utf8_names(&mut self, on: bool) {
        self.utf8_names = on;
    }

    /// The framer (to change limits, take plain lines, or clear the input).
    pub fn framer(&mut self) -> &mut Framer {
        &mut self.framer
    }

    /// Feeds bytes read from the connection.
    pub fn push(&mut self, bytes: &[u8]) {
        self.framer.push(bytes);
    }

    /// Decodes the next command.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Decoded {
        match self.framer.next_frame() {
            Framed::NeedMore => Decoded::NeedMore,
            Framed::LiteralAnnounced { len } => Decoded::LiteralAnnounced { len },
            Framed::Malformed { tag, reason } => Decoded::Malformed {
                tag,
                fatal: reason.is_fatal(),
                forgets_saved: false,
                reason: match reason {
                    FrameError::LineTooLong => "line too long".to_owned(),
                    FrameError::LiteralTooLarge { .. } => "literal too large".to_owned(),
                    FrameError::BadLiteralLength { .. } => "invalid literal length".to_owned(),
                },
            },
            Framed::Frame(frame) => match parse_with(&frame, self.utf8_names) {
                Ok((tag, command)) => Decoded::Command { tag, command },
                Err((tag, e)) => Decoded::Malformed {
                    tag: tag.map(|t| t.0),
                    reason: e.0,
                    fatal: false,
                    forgets_saved: search_saves(&frame),
                },
            },
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Encoding (for tests, proxies and the future client).

fn write_flags(out: &mut Vec<u8>, flags: &[Flag]) {
    out.push(b'(');
    for (i, f) in flags.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        out.extend_from_slice(f.as_str().as_bytes());
    }
    out.push(b')');
}

fn write_search_key(out: &mut Vec<u8>, key: &SearchKey) {
    let mut s = |t: &str| out.extend_from_slice(t.as_bytes());
    match key {
        SearchKey::And(keys) => {
            s("(");
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                write_search_key(out, k);
            }
            out.push(b')');
        }
        SearchKey::All => s("ALL"),
        SearchKey::Flag(f) | SearchKey::NotFlag(f) => {
            let not = matches!(key, SearchKey::NotFlag(_));
            match f {
                Flag::Keyword(k) => {
                    s(if not { "UNKEYWORD " } else { "KEYWORD " });
                    s(k);
                }
                f => {
                    if not {
                        s("UN");
                    }
                    s(&f.as_str()[1..].to_ascii_uppercase());
                }
            }
        }
        SearchKey::New => s("NEW"),
        SearchKey::Old => s("OLD"),
        SearchKey::Recent => s("RECENT"),
        SearchKey::Header(name, value) => {
            s("HEADER ");
            write_astring(out, name.as_bytes());
            out.push(b' ');
            write_astring(out, value.as_bytes());
        }
        SearchKey::Body(t) | SearchKey::Text(t) => {
            s(if matches!(key, SearchKey::Body(_)) {
                "BODY "
            } else {
                "TEXT "
            });
            write_astring(out, t.as_bytes());
        }
        SearchKey::Before(d)
        | SearchKey::On(d)
        | SearchKey::Since(d)
        | SearchKey::SentBefore(d)
        | SearchKey::SentOn(d)
        | SearchKey::SentSince(d) => {
            s(match key {
                SearchKey::Before(_) => "BEFORE ",
                SearchKey::On(_) => "ON ",
                SearchKey::Since(_) => "SINCE ",
                SearchKey::SentBefore(_) => "SENTBEFORE ",
                SearchKey::SentOn(_) => "SENTON ",
                _ => "SENTSINCE ",
            });
            s(&crate::datetime::format_date(*d));
        }
        SearchKey::Larger(n) => s(&format!("LARGER {n}")),
        SearchKey::Smaller(n) => s(&format!("SMALLER {n}")),
        SearchKey::ModSeq(n) => s(&format!("MODSEQ {n}")),
        SearchKey::Uid(set) => s(&format!("UID {set}")),
        SearchKey::Seq(set) => s(&set.to_string()),
        SearchKey::Not(k) => {
            s("NOT ");
            write_search_key(out, k);
        }
        SearchKey::Or(a, b) => {
            s("OR ");
            write_search_key(out, a);
            out.push(b' ');
            write_search_key(out, b);
        }
    }
}

/// Part numbers as `1.2.3`.
pub(crate) fn part_path(part: &[u32]) -> String {
    part.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

fn write_fetch_item(out: &mut Vec<u8>, item: &FetchItem) {
    let s = match item {
        FetchItem::Flags => "FLAGS".to_owned(),
        FetchItem::InternalDate => "INTERNALDATE".to_owned(),
        FetchItem::Rfc822Size => "RFC822.SIZE".to_owned(),
        FetchItem::Envelope => "ENVELOPE".to_owned(),
        FetchItem::Body => "BODY".to_owned(),
        FetchItem::BodyStructure => "BODYSTRUCTURE".to_owned(),
        FetchItem::Uid => "UID".to_owned(),
        FetchItem::ModSeq => "MODSEQ".to_owned(),
        FetchItem::Rfc822 => "RFC822".to_owned(),
        FetchItem::Rfc822Header => "RFC822.HEADER".to_owned(),
        FetchItem::Rfc822Text => "RFC822.TEXT".to_owned(),
        FetchItem::Section {
            peek,
            section,
            partial,
        } => {
            let mut s = format!("BODY{}[{section}]", if *peek { ".PEEK" } else { "" });
            if let Some((a, b)) = partial {
                s.push_str(&format!("<{a}.{b}>"));
            }
            s
        }
        FetchItem::Binary {
            peek,
            part,
            partial,
        } => {
            let mut s = format!(
                "BINARY{}[{}]",
                if *peek { ".PEEK" } else { "" },
                part_path(part)
            );
            if let Some((a, b)) = partial {
                s.push_str(&format!("<{a}.{b}>"));
            }
            s
        }
        FetchItem::BinarySize { part } => format!("BINARY.SIZE[{}]", part_path(part)),
    };
    out.extend_from_slice(s.as_bytes());
}

impl Command {
    /// Encodes the command with its tag, using `{n+}` literals where a string cannot be quoted
    /// (so the result is one frame).
    pub fn encode(&self, tag: &Tag) -> Vec<u8> {
        let mut out = format!("{tag} ").into_bytes();
        let o = &mut out;
        let uid_prefix = |o: &mut Vec<u8>, uid: bool| {
            if uid {
                o.extend_from_slice(b"UID ");
            }
        };
        match self {
            Command::Authenticate { mechanism, initial } => {
                o.extend_from_slice(format!("AUTHENTICATE {mechanism}").as_bytes());
                if let Some(i) = initial {
                    o.extend_from_slice(format!(" {i}").as_bytes());
                }
            }
            Command::Login { user, password } => {
                o.extend_from_slice(b"LOGIN ");
                write_astring(o, user.as_bytes());
                o.push(b' ');
                write_astring(o, password.as_bytes());
            }
            Command::Enable(caps) => {
                o.extend_from_slice(format!("ENABLE {}", caps.join(" ")).as_bytes())
            }
            Command::Id(None) => o.extend_from_slice(b"ID NIL"),
            Command::Id(Some(fields)) => {
                o.extend_from_slice(b"ID (");
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        o.push(b' ');
                    }
                    write_string(o, k.as_bytes());
                    o.push(b' ');
                    match v {
                        Some(v) => write_string(o, v.as_bytes()),
                        None => o.extend_from_slice(b"NIL"),
                    }
                }
                o.push(b')');
            }
            Command::Select {
                mailbox,
                condstore,
                qresync,
            }
            | Command::Examine {
                mailbox,
                condstore,
                qresync,
            } => {
                o.extend_from_slice(self.name().as_bytes());
                o.push(b' ');
                write_mailbox(o, mailbox);
                let mut params = Vec::new();
                if *condstore {
                    params.push("CONDSTORE".to_owned());
                }
                if let Some(q) = qresync {
                    let mut p = format!("QRESYNC ({} {}", q.uid_validity, q.modseq);
                    if let Some(k) = &q.known_uids {
                        p.push_str(&format!(" {k}"));
                    }
                    if let Some((a, b)) = &q.seq_match {
                        p.push_str(&format!(" ({a} {b})"));
                    }
                    p.push(')');
                    params.push(p);
                }
                if !params.is_empty() {
                    o.extend_from_slice(format!(" ({})", params.join(" ")).as_bytes());
                }
            }
            Command::Create(m)
            | Command::Delete(m)
            | Command::Subscribe(m)
            | Command::Unsubscribe(m) => {
                o.extend_from_slice(self.name().as_bytes());
                o.push(b' ');
                write_mailbox(o, m);
            }
            Command::Rename(a, b) => {
                o.extend_from_slice(b"RENAME ");
                write_mailbox(o, a);
                o.push(b' ');
                write_mailbox(o, b);
            }
            Command::List {
                reference,
                patterns,
                options,
            } => {
                o.extend_from_slice(b"LIST ");
                let mut sel = Vec::new();
                if options.select_subscribed {
                    sel.push("SUBSCRIBED");
                }
                if options.select_special_use {
                    sel.push("SPECIAL-USE");
                }
                if options.recursive_match {
                    sel.push("RECURSIVEMATCH");
                }
                if !sel.is_empty() {
                    o.extend_from_slice(format!("({}) ", sel.join(" ")).as_bytes());
                }
                write_mailbox(o, reference);
                o.push(b' ');
                o.push(b'(');
                for (i, p) in patterns.iter().enumerate() {
                    if i > 0 {
                        o.push(b' ');
                    }
                    write_mailbox(o, p);
                }
                o.push(b')');
                let mut ret = Vec::new();
                if options.return_subscribed {
                    ret.push("SUBSCRIBED".to_owned());
                }
                if options.return_children {
                    ret.push("CHILDREN".to_owned());
                }
                if options.return_special_use {
                    ret.push("SPECIAL-USE".to_owned());
                }
                if !options.return_status.is_empty() {
                    let items: Vec<&str> = options
                        .return_status
                        .iter()
                        .map(StatusItem::as_str)
                        .collect();
                    ret.push(format!("STATUS ({})", items.join(" ")));
                }
                if !ret.is_empty() {
                    o.extend_from_slice(format!(" RETURN ({})", ret.join(" ")).as_bytes());
                }
            }
            Command::Lsub { reference, pattern } => {
                o.extend_from_slice(b"LSUB ");
                write_mailbox(o, reference);
                o.push(b' ');
                write_mailbox(o, pattern);
            }
            Command::Status { mailbox, items } => {
                o.extend_from_slice(b"STATUS ");
                write_mailbox(o, mailbox);
                let items: Vec<&str> = items.iter().map(StatusItem::as_str).collect();
                o.extend_from_slice(format!(" ({})", items.join(" ")).as_bytes());
            }
            Command::Append {
                mailbox,
                flags,
                date,
                message,
                more,
            } => {
                o.extend_from_slice(b"APPEND ");
                write_mailbox(o, mailbox);
                let first = std::iter::once((flags, date, message));
                for (flags, date, message) in
                    first.chain(more.iter().map(|m| (&m.flags, &m.date, &m.message)))
                {
                    o.push(b' ');
                    if !flags.is_empty() {
                        write_flags(o, flags);
                        o.push(b' ');
                    }
                    if let Some(d) = date {
                        o.extend_from_slice(
                            format!("\"{}\" ", crate::datetime::format_date_time(*d)).as_bytes(),
                        );
                    }
                    let tilde = if message.contains(&0) { "~" } else { "" };
                    o.extend_from_slice(format!("{tilde}{{{}+}}\r\n", message.len()).as_bytes());
                    o.extend_from_slice(message);
                }
            }
            Command::Expunge(Some(set)) => {
                o.extend_from_slice(format!("UID EXPUNGE {set}").as_bytes())
            }
            Command::Fetch {
                uid,
                set,
                items,
                changed_since,
                vanished,
            } => {
                uid_prefix(o, *uid);
                o.extend_from_slice(format!("FETCH {set} (").as_bytes());
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        o.push(b' ');
                    }
                    write_fetch_item(o, item);
                }
                o.push(b')');
                if let Some(n) = changed_since {
                    let v = if *vanished { " VANISHED" } else { "" };
                    o.extend_from_slice(format!(" (CHANGEDSINCE {n}{v})").as_bytes());
                }
            }
            Command::Store {
                uid,
                set,
                mode,
                silent,
                flags,
                unchanged_since,
            } => {
                uid_prefix(o, *uid);
                o.extend_from_slice(format!("STORE {set} ").as_bytes());
                if let Some(n) = unchanged_since {
                    o.extend_from_slice(format!("(UNCHANGEDSINCE {n}) ").as_bytes());
                }
                o.extend_from_slice(match mode {
                    StoreMode::Add => b"+",
                    StoreMode::Remove => b"-",
                    StoreMode::Replace => &b""[..],
                });
                o.extend_from_slice(if *silent { b"FLAGS.SILENT " } else { b"FLAGS " });
                write_flags(o, flags);
            }
            Command::Copy { uid, set, mailbox } | Command::Move { uid, set, mailbox } => {
                uid_prefix(o, *uid);
                o.extend_from_slice(format!("{} {set} ", self.name()).as_bytes());
                write_mailbox(o, mailbox);
            }
            Command::Search {
                uid,
                ret,
                charset,
                key,
            } => {
                uid_prefix(o, *uid);
                o.extend_from_slice(b"SEARCH ");
                if let Some(ret) = ret {
                    let r: Vec<&str> = ret
                        .iter()
                        .map(|r| match r {
                            SearchReturn::Min => "MIN",
                            SearchReturn::Max => "MAX",
                            SearchReturn::All => "ALL",
                            SearchReturn::Count => "COUNT",
                            SearchReturn::Save => "SAVE",
                        })
                        .collect();
                    o.extend_from_slice(format!("RETURN ({}) ", r.join(" ")).as_bytes());
                }
                if let Some(c) = charset {
                    o.extend_from_slice(b"CHARSET ");
                    write_astring(o, c.as_bytes());
                    o.push(b' ');
                }
                match key {
                    SearchKey::And(keys) if !keys.is_empty() => {
                        for (i, k) in keys.iter().enumerate() {
                            if i > 0 {
                                o.push(b' ');
                            }
                            write_search_key(o, k);
                        }
                    }
                    k => write_search_key(o, k),
                }
            }
            Command::GetQuota(root) => {
                o.extend_from_slice(b"GETQUOTA ");
                write_string(o, root.as_bytes());
            }
            Command::GetQuotaRoot(m) => {
                o.extend_from_slice(b"GETQUOTAROOT ");
                write_mailbox(o, m);
            }
            Command::SetQuota { root, limits } => {
                o.extend_from_slice(b"SETQUOTA ");
                write_string(o, root.as_bytes());
                let l: Vec<String> = limits.iter().map(|(r, n)| format!("{r} {n}")).collect();
                o.extend_from_slice(format!(" ({})", l.join(" ")).as_bytes());
            }
            other => o.extend_from_slice(other.name().as_bytes()),
        }
        out.extend_from_slice(b"\r\n");
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn cmd(s: &[u8]) -> Command {
        parse(s).unwrap().1
    }

    fn bad(s: &[u8]) -> String {
        parse(s).unwrap_err().1.0
    }

    #[test]
    fn searchres_and_utf8_names() {
        // RFC 5182: `$` wherever a sequence set goes, SAVE as a return option.
        match cmd(b"a UID FETCH $ (FLAGS)\r\n") {
            Command::Fetch { uid: true, set, .. } => assert!(set.is_saved()),
            other => panic!("{other:?}"),
        }
        for c in [
            &b"a STORE $ +FLAGS (\\Seen)\r\n"[..],
            b"a UID COPY $ Trash\r\n",
            b"a MOVE $ Trash\r\n",
            b"a UID EXPUNGE $\r\n",
        ] {
            let (tag, parsed) = parse(c).unwrap();
            // The encoder writes `$` back, and it parses again to the same command.
            let encoded = parsed.encode(&tag);
            assert!(
                String::from_utf8_lossy(&encoded).contains(" $"),
                "{parsed:?}"
            );
            assert_eq!(parse(&encoded).unwrap().1, parsed);
        }
        match cmd(b"a SEARCH RETURN (SAVE MIN) UID $ NOT $\r\n") {
            Command::Search { ret, key, .. } => {
                assert_eq!(ret, Some(vec![SearchReturn::Save, SearchReturn::Min]));
                assert_eq!(
                    key,
                    SearchKey::And(vec![
                        SearchKey::Uid(SequenceSet::saved()),
                        SearchKey::Not(Box::new(SearchKey::Seq(SequenceSet::saved())))
                    ])
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(bad(b"a FETCH $1 FLAGS\r\n").contains("expected"));
        assert!(search_saves(
            b"a UID SEARCH RETURN (COUNT save) FROBNICATE\r\n"
        ));
        assert!(!search_saves(b"a SEARCH RETURN (COUNT) FROBNICATE\r\n"));
        assert!(!search_saves(b"a SEARCH SAVE\r\n"));
        // RFC 6855 §3: modified UTF-7 until UTF8=ACCEPT / IMAP4rev2, UTF-8 after.
        let name = |utf8: bool, c: &str| match parse_with(c.as_bytes(), utf8).unwrap().1 {
            Command::Select { mailbox, .. } => mailbox,
            other => panic!("{other:?}"),
        };
        assert_eq!(name(false, "a SELECT \"&ZeVnLIqe-\"\r\n"), "日本語");
        assert_eq!(name(true, "a SELECT \"&ZeVnLIqe-\"\r\n"), "&ZeVnLIqe-");
        assert_eq!(name(true, "a SELECT \"Tom & Jerry\"\r\n"), "Tom & Jerry");
        assert_eq!(name(true, "a SELECT \"日本語\"\r\n"), "日本語");
        assert!(parse_with(b"a SELECT \"Tom & Jerry\"\r\n", false).is_err());
        let mut d = Decoder::new(FramerLimits {
            max_line_length: 1000,
            max_literal: 1000,
            max_command: 10_000,
        });
        d.set_utf8_names(true);
        d.push(b"a LIST \"\" \"A&B*\"\r\n");
        match d.next() {
            Decoded::Command {
                command: Command::List { patterns, .. },
                ..
            } => assert_eq!(patterns, ["A&B*"]),
            other => panic!("{other:?}"),
        }
        // RFC 6855 §4: APPEND's UTF8 data item carries a literal8.
        match cmd(b"a APPEND INBOX (\\Seen) UTF8 (~{3}\r\nabc)\r\n") {
            Command::Append { message, flags, .. } => {
                assert_eq!((message.as_slice(), flags.len()), (&b"abc"[..], 1));
            }
            other => panic!("{other:?}"),
        }
        assert!(parse(b"a APPEND INBOX UTF8 ({3}\r\nabc)\r\n").is_err());
        assert!(parse(b"a APPEND INBOX UTF8 (~{3}\r\nabc\r\n").is_err());
    }

    #[test]
    fn extension_commands() {
        // RFC 3516 BINARY.
        match cmd(b"a FETCH 1 (BINARY.PEEK[1.2]<0.10> BINARY[] BINARY.SIZE[3])\r\n") {
            Command::Fetch { items, .. } => assert_eq!(
                items,
                [
                    FetchItem::Binary {
                        peek: true,
                        part: vec![1, 2],
                        partial: Some((0, 10))
                    },
                    FetchItem::Binary {
                        peek: false,
                        part: vec![],
                        partial: None
                    },
                    FetchItem::BinarySize { part: vec![3] },
                ]
            ),
            other => panic!("{other:?}"),
        }
        assert!(parse(b"a FETCH 1 BINARY[1.TEXT]\r\n").is_err());
        // literal8 carries NUL, in APPEND only.
        match cmd(b"a APPEND INBOX ~{3}\r\na\0b\r\n") {
            Command::Append { message, .. } => assert_eq!(message, b"a\0b"),
            other => panic!("{other:?}"),
        }
        assert!(bad(b"a APPEND INBOX {3}\r\na\0b\r\n").contains("NUL"));
        assert!(parse(b"a LOGIN ~{1}\r\nx y\r\n").is_err());
        assert!(bad(b"a ID (~{1}\r\nx NIL)\r\n").contains("literal8"));
        // RFC 9208 QUOTA.
        assert_eq!(
            cmd(b"a GETQUOTAROOT inbox\r\n"),
            Command::GetQuotaRoot("inbox".into())
        );
        assert_eq!(
            cmd(b"a GETQUOTA \"\"\r\n"),
            Command::GetQuota(String::new())
        );
        assert_eq!(
            cmd(b"a SETQUOTA \"\" (storage 512)\r\n"),
            Command::SetQuota {
                root: String::new(),
                limits: vec![("STORAGE".into(), 512)]
            }
        );
        // RFC 9051 DELETED, RFC 9208 DELETED-STORAGE.
        match cmd(b"a STATUS x (DELETED DELETED-STORAGE SIZE)\r\n") {
            Command::Status { items, .. } => assert_eq!(
                items,
                [
                    StatusItem::Deleted,
                    StatusItem::DeletedStorage,
                    StatusItem::Size
                ]
            ),
            other => panic!("{other:?}"),
        }
        // RFC 4731 ESEARCH; RFC 5258 LIST-EXTENDED; RFC 5819 LIST-STATUS.
        match cmd(b"a UID SEARCH RETURN () CHARSET UTF-8 ALL\r\n") {
            Command::Search { uid, ret, .. } => assert!(uid && ret == Some(vec![])),
            other => panic!("{other:?}"),
        }
        match cmd(b"a LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (\"%\" x) RETURN (CHILDREN STATUS (SIZE))\r\n") {
            Command::List {
                patterns, options, ..
            } => {
                assert_eq!(patterns, ["%", "x"]);
                assert!(options.select_subscribed && options.recursive_match);
                assert!(options.return_children);
                assert_eq!(options.return_status, [StatusItem::Size]);
            }
            other => panic!("{other:?}"),
        }
        assert!(bad(b"a LIST (RECURSIVEMATCH) \"\" x\r\n").contains("RECURSIVEMATCH"));
        // RFC 7162 §3.2.5 example.
        let select =
            cmd(b"A03 SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))\r\n");
        match &select {
            Command::Select {
                qresync: Some(q),
                condstore: false,
                ..
            } => {
                assert_eq!((q.uid_validity, q.modseq), (67890007, 20050715194045000));
                assert_eq!(
                    q.known_uids.as_ref().unwrap().to_string(),
                    "41,43:211,214:541"
                );
                assert_eq!(q.seq_match, None);
            }
            other => panic!("{other:?}"),
        }
        let t = Tag::new("t").unwrap();
        assert_eq!(parse(&select.encode(&t)).unwrap().1, select);
        let select = cmd(b"B04 SELECT INBOX (CONDSTORE QRESYNC (67890007 90060115194045000 1:29997 (5000,7500,9000,9990:9999 15000,22500,27000,29970,29973,29976:29979)))\r\n");
        match &select {
            Command::Select {
                qresync: Some(q),
                condstore: true,
                ..
            } => assert_eq!(
                q.seq_match.as_ref().unwrap().1.to_string(),
                "15000,22500,27000,29970,29973,29976:29979"
            ),
            other => panic!("{other:?}"),
        }
        assert_eq!(parse(&select.encode(&t)).unwrap().1, select);
        match cmd(b"a UID FETCH 300:500 (FLAGS) (CHANGEDSINCE 12345 VANISHED)\r\n") {
            Command::Fetch {
                vanished: true,
                changed_since: Some(12345),
                ..
            } => {}
            other => panic!("{other:?}"),
        }
        assert!(bad(b"a FETCH 1 (FLAGS) (CHANGEDSINCE 1 VANISHED)\r\n").contains("VANISHED"));
        assert!(bad(b"a UID FETCH 1 (FLAGS) (VANISHED)\r\n").contains("VANISHED"));
        for c in [
            Command::GetQuota("r".into()),
            Command::GetQuotaRoot("INBOX".into()),
            Command::SetQuota {
                root: "".into(),
                limits: vec![("STORAGE".into(), 1)],
            },
        ] {
            let t = Tag::new("t").unwrap();
            assert_eq!(parse(&c.encode(&t)).unwrap().1, c);
        }
    }

    #[test]
    fn rfc9051_examples() {
        assert_eq!(cmd(b"abcd CAPABILITY\r\n"), Command::Capability);
        assert_eq!(
            cmd(b"a001 login SMITH SESAME\r\n"),
            Command::Login {
                user: "SMITH".into(),
                password: "SESAME".into()
            }
        );
        assert_eq!(
            cmd(b"A142 SELECT INBOX\r\n"),
            Command::Select {
                mailbox: "INBOX".into(),
                condstore: false,
                qresync: None
            }
        );
        assert_eq!(
            cmd(b"A202 LIST \"\" \"%\"\r\n"),
            Command::List {
                reference: String::new(),
                patterns: vec!["%".into()],
                options: ListOptions::default()
            }
        );
        assert!(matches!(
            cmd(b"A042 STATUS blurdybloop (UIDNEXT MESSAGES)\r\n"),
            Command::Status { items, .. } if items == [StatusItem::UidNext, StatusItem::Messages]
        ));
        match cmd(b"A003 APPEND saved-messages (\\Seen) {10}\r\nDate: x\r\n\r\n") {
            Command::Append {
                mailbox,
                flags,
                message,
                ..
            } => {
                assert_eq!(mailbox, "saved-messages");
                assert_eq!(flags, [Flag::Seen]);
                assert_eq!(message.len(), 10);
            }
            other => panic!("{other:?}"),
        }
        match cmd(b"A654 FETCH 2:4 (FLAGS BODY[HEADER.FIELDS (DATE FROM)])\r\n") {
            Command::Fetch {
                set,
                items,
                uid: false,
                ..
            } => {
                assert_eq!(set.to_string(), "2:4");
                assert_eq!(
                    items[1],
                    FetchItem::Section {
                        peek: false,
                        section: Section {
                            part: vec![],
                            text: Some(SectionText::HeaderFields(vec![
                                "DATE".into(),
                                "FROM".into()
                            ]))
                        },
                        partial: None
                    }
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            cmd(b"A003 STORE 2:4 +FLAGS (\\Deleted)\r\n"),
            Command::Store {
                mode: StoreMode::Add,
                silent: false,
                ..
            }
        ));
        assert!(matches!(
            cmd(b"A999 UID FETCH 4827313:4828442 FLAGS\r\n"),
            Command::Fetch { uid: true, .. }
        ));
        match cmd(b"A282 SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"\r\n") {
            Command::Search {
                key: SearchKey::And(k),
                ..
            } => {
                assert_eq!(k.len(), 3);
                assert_eq!(k[1], SearchKey::Since(8797));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            cmd(b"A284 SEARCH CHARSET UTF-8 TEXT {12}\r\n\xe5\x8f\x91\xe7\xa5\xa8xxxxxx\r\n"),
            Command::Search { charset: Some(c), key: SearchKey::Text(t), .. } if c == "UTF-8" && t.starts_with("发票")
        ));
        assert!(matches!(
            cmd(b"a UID EXPUNGE 3000:3002\r\n"),
            Command::Expunge(Some(_))
        ));
        assert!(matches!(
            cmd(b"a MOVE 2:4 MEETING\r\n"),
            Command::Move { .. }
        ));
        assert!(matches!(
            cmd(b"a1 AUTHENTICATE PLAIN AGJvYgBwdw==\r\n"),
            Command::Authenticate {
                initial: Some(_),
                ..
            }
        ));
        assert!(
            matches!(cmd(b"a ID (\"name\" \"x\" \"version\" NIL)\r\n"), Command::Id(Some(f)) if f.len() == 2)
        );
        match cmd(b"a LIST (SUBSCRIBED) \"\" (\"*\" \"%\") RETURN (CHILDREN STATUS (MESSAGES UNSEEN))\r\n") {
            Command::List { patterns, options, .. } => {
                assert_eq!(patterns.len(), 2);
                assert!(options.select_subscribed && options.return_children);
                assert_eq!(options.return_status.len(), 2);
            }
            other => panic!("{other:?}"),
        }
        match cmd(b"a FETCH 1 BODY.PEEK[1.2.MIME]<0.100>\r\n") {
            Command::Fetch { items, .. } => assert_eq!(
                items,
                [FetchItem::Section {
                    peek: true,
                    section: Section {
                        part: vec![1, 2],
                        text: Some(SectionText::Mime)
                    },
                    partial: Some((0, 100)),
                }]
            ),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            cmd(b"a select &ZeVnLIqe-\r\n"),
            Command::Select {
                mailbox: "日本語".into(),
                condstore: false,
                qresync: None
            }
        );
    }

    #[test]
    fn refusals() {
        assert!(bad(b"a LOGIN \"a\0b\" c\r\n").contains("NUL"));
        assert!(bad(b"a LOGIN {3}\r\na\0b c\r\n").contains("NUL"));
        assert!(bad(b"a SELECT &Jjo!\r\n").contains("mailbox"));
        assert!(bad(b"a FETCH 0 FLAGS\r\n").contains("zero"));
        assert!(parse(b"a FETCH 1 FLAGS extra\r\n").is_err());
        assert!(parse(b"+a NOOP\r\n").unwrap_err().0.is_none());
        let deep = format!("a SEARCH {}ALL{}\r\n", "(".repeat(4000), ")".repeat(4000));
        assert!(bad(deep.as_bytes()).contains("nested"));
        assert!(bad(b"a STORE 1 +FLAGS (\\Recent)\r\n").contains("flag"));
    }

    #[test]
    fn sequence_sets() {
        let set = |s: &[u8]| {
            let mut p = Parser {
                b: s,
                i: 0,
                depth: 0,
                utf8_names: false,
            };
            p.sequence_set().unwrap()
        };
        assert_eq!(
            set(b"1:3,5,7:*").select(&[1, 2, 3, 4, 5, 9]),
            [1, 2, 3, 5, 9]
        );
        assert_eq!(set(b"*:4").select(&[1, 2, 3]), [3]);
        assert_eq!(set(b"*").select(&[]), Vec::<u32>::new());
        assert_eq!(
            SequenceSet::from_sorted(&[1, 2, 3, 7, 9, 10]).to_string(),
            "1:3,7,9:10"
        );
    }
}
