//! Addresses: domains, local parts, RFC 5321 paths and RFC 5322 address lists.
//!
//! Every type here refuses invalid values: once you hold a [`Domain`] or an [`EmailAddress`],
//! it is well formed. Domains are accepted as A-labels or U-labels (via the `idna` crate) and
//! compare equal in either form; local parts may be UTF-8 (SMTPUTF8, RFC 6531).
//!
//! ```
//! use mailcore::address::{AddressList, EmailAddress};
//! let a: EmailAddress = "用户@例子.测试".parse().unwrap();
//! assert_eq!(a.domain().as_ascii(), "xn--fsqu00a.xn--0zwm56d");
//! assert_eq!(a.domain(), &"XN--FSQU00A.xn--0zwm56d".parse().unwrap());
//!
//! let list = AddressList::parse(r#""Doe, Jane" <jane@example.com>, Team: bob@example.com;"#).unwrap();
//! let names: Vec<_> = list.mailboxes().map(|m| m.address.to_string()).collect();
//! assert_eq!(names, ["jane@example.com", "bob@example.com"]);
//! assert_eq!(AddressList::parse(&list.to_string()).unwrap(), list);
//! ```

use std::borrow::Cow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use crate::message::encoded_word;

/// Longest local part, in octets (RFC 5321 §4.5.3.1.1).
pub const MAX_LOCAL_PART_LEN: usize = 64;
/// Longest domain name, in octets of its A-label form (RFC 1035).
pub const MAX_DOMAIN_LEN: usize = 253;
/// Longest address `local@domain`, in octets (RFC 5321 path limit minus the brackets).
pub const MAX_ADDRESS_LEN: usize = 254;

/// Why an address, domain or address list was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddressError {
    /// Nothing where an address or domain was expected.
    #[error("empty address")]
    Empty,
    /// There is no `@` between a local part and a domain.
    #[error("missing '@' in address")]
    MissingAt,
    /// The local part is empty, too long or contains forbidden characters.
    #[error("invalid local part: {0}")]
    LocalPart(&'static str),
    /// The domain is not a valid host name.
    #[error("invalid domain {domain:?}: {reason}")]
    Domain {
        /// The domain as given.
        domain: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Address literals (`user@[192.0.2.1]`) are not accepted.
    #[error("address literals are not accepted")]
    AddressLiteral,
    /// The whole address is longer than [`MAX_ADDRESS_LEN`].
    #[error("address too long")]
    TooLong,
    /// Anything else that breaks the grammar.
    #[error("syntax error at offset {offset}: {reason}")]
    Syntax {
        /// Byte offset in the input.
        offset: usize,
        /// What was expected.
        reason: &'static str,
    },
}

// ---------------------------------------------------------------------------------------------
// Domain

/// A DNS domain name usable in a mail address, e.g. `example.com` or `例子.测试`.
///
/// Stored in lowercase A-label (ASCII) form, which is what equality and hashing use; the
/// form it was written in is remembered for display.
#[derive(Clone, Debug)]
pub struct Domain {
    ascii: Box<str>,
    unicode: Option<Box<str>>,
}

impl Domain {
    /// Parses a domain given as A-labels, U-labels or a mix. One trailing dot is ignored.
    pub fn parse(input: &str) -> Result<Domain, AddressError> {
        let err = |reason| AddressError::Domain {
            domain: input.chars().take(300).collect(),
            reason,
        };
        let s = input.strip_suffix('.').unwrap_or(input);
        if s.is_empty() {
            return Err(AddressError::Empty);
        }
        if s.starts_with('[') {
            return Err(AddressError::AddressLiteral);
        }
        if s.len() > 4 * MAX_DOMAIN_LEN {
            return Err(err("too long"));
        }
        let ascii = if s.is_ascii() {
            let lower = s.to_ascii_lowercase();
            if lower.split('.').any(|l| l.starts_with("xn--")) {
                let (_, result) = idna::domain_to_unicode(&lower);
                result.map_err(|_| err("invalid A-label"))?;
            }
            lower
        } else {
            idna::domain_to_ascii(s).map_err(|_| err("not a valid internationalised name"))?
        };
        if ascii.len() > MAX_DOMAIN_LEN {
            return Err(err("too long"));
        }
        let mut last = "";
        for label in ascii.split('.') {
            if label.is_empty() {
                return Err(err("empty label"));
            }
            if label.len() > 63 {
                return Err(err("label longer than 63 octets"));
            }
            if !label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            {
                return Err(err(
                    "label with characters other than letters, digits and '-'",
                ));
            }
            if label.starts_with('-') || label.ends_with('-') {
                return Err(err("label starting or ending with '-'"));
            }
            last = label;
        }
        if last.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err("numeric top-level label"));
        }
        let unicode = (!s.is_ascii()).then(|| idna::domain_to_unicode(&ascii).0.into_boxed_str());
        Ok(Domain {
            ascii: ascii.into_boxed_str(),
            unicode,
        })
    }

    /// The lowercase A-label form, e.g. `xn--fsqu00a.xn--0zwm56d`.
    pub fn as_ascii(&self) -> &str {
        &self.ascii
    }

    /// The U-label form, e.g. `例子.测试` (equal to the ASCII form for plain domains).
    pub fn to_unicode(&self) -> Cow<'_, str> {
        match &self.unicode {
            Some(u) => Cow::Borrowed(u),
            None if self.ascii.contains("xn--") => {
                Cow::Owned(idna::domain_to_unicode(&self.ascii).0)
            }
            None => Cow::Borrowed(&self.ascii),
        }
    }

    /// Whether `self` is `other` or a subdomain of it.
    pub fn is_within(&self, other: &Domain) -> bool {
        self.ascii.len() >= other.ascii.len()
            && self.ascii.ends_with(&*other.ascii)
            && (self.ascii.len() == other.ascii.len()
                || self.ascii.as_bytes()[self.ascii.len() - other.ascii.len() - 1] == b'.')
    }
}

impl PartialEq for Domain {
    fn eq(&self, other: &Self) -> bool {
        self.ascii == other.ascii
    }
}
impl Eq for Domain {}
impl Hash for Domain {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.ascii.hash(state)
    }
}
impl PartialOrd for Domain {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Domain {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.ascii.cmp(&other.ascii)
    }
}

/// Displays the domain in the form it was written: U-labels if given so, else lowercase ASCII.
impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.unicode.as_deref().unwrap_or(&self.ascii))
    }
}

impl FromStr for Domain {
    type Err = AddressError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Domain::parse(s)
    }
}

// ---------------------------------------------------------------------------------------------
// Local part

/// Whether `c` may appear unquoted in an atom (RFC 5322 `atext`, extended by RFC 6532 with all
/// non-ASCII characters).
pub fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || "!#$%&'*+-/=?^_`{|}~".contains(c)
        || (!c.is_ascii() && !c.is_control())
}

/// The part of an address before the `@`, stored unquoted.
///
/// Any printable character is allowed (a local part that is not a dot-atom is quoted when
/// displayed); control characters and empty or over-long local parts are refused.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LocalPart(Box<str>);

impl LocalPart {
    /// Makes a local part from its unquoted content.
    pub fn new(content: &str) -> Result<LocalPart, AddressError> {
        if content.is_empty() {
            return Err(AddressError::LocalPart("empty"));
        }
        if content.len() > MAX_LOCAL_PART_LEN {
            return Err(AddressError::LocalPart("longer than 64 octets"));
        }
        if content.chars().any(|c| c.is_control()) {
            return Err(AddressError::LocalPart("control character"));
        }
        Ok(LocalPart(content.into()))
    }

    /// Parses the wire form: a dot-atom or a quoted string.
    pub fn parse(wire: &str) -> Result<LocalPart, AddressError> {
        if let Some(inner) = wire.strip_prefix('"') {
            let (content, rest) =
                unquote(inner).ok_or(AddressError::LocalPart("unterminated quoted string"))?;
            if !rest.is_empty() {
                return Err(AddressError::LocalPart("text after quoted string"));
            }
            LocalPart::new(&content)
        } else if is_dot_atom(wire) {
            LocalPart::new(wire)
        } else {
            Err(AddressError::LocalPart("not a dot-atom"))
        }
    }

    /// The unquoted content.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether it can be written without quotes.
    pub fn is_dot_atom(&self) -> bool {
        is_dot_atom(&self.0)
    }
}

impl fmt::Display for LocalPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_dot_atom() {
            f.write_str(&self.0)
        } else {
            write_quoted(f, &self.0)
        }
    }
}

fn is_dot_atom(s: &str) -> bool {
    !s.is_empty()
        && s.split('.')
            .all(|a| !a.is_empty() && a.chars().all(is_atext))
}

fn write_quoted(f: &mut impl fmt::Write, s: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in s.chars() {
        if c == '"' || c == '\\' {
            f.write_char('\\')?;
        }
        f.write_char(c)?;
    }
    f.write_char('"')
}

/// Reads a quoted string's content after its opening quote; returns the content and the rest
/// after the closing quote.
fn unquote(s: &str) -> Option<(String, &str)> {
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, &s[i + 1..])),
            '\\' => out.push(chars.next()?.1),
            '\r' | '\n' => {}
            c => out.push(c),
        }
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Email address

/// A mail address `local@domain` with a domain name (address literals are refused).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EmailAddress {
    local: LocalPart,
    domain: Domain,
}

impl EmailAddress {
    /// Joins a local part and a domain.
    pub fn new(local: LocalPart, domain: Domain) -> Result<EmailAddress, AddressError> {
        if local.to_string().len() + 1 + domain.as_ascii().len() > MAX_ADDRESS_LEN {
            return Err(AddressError::TooLong);
        }
        Ok(EmailAddress { local, domain })
    }

    /// Parses `local@domain` (the local part may be quoted).
    pub fn parse(s: &str) -> Result<EmailAddress, AddressError> {
        if s.is_empty() {
            return Err(AddressError::Empty);
        }
        let at = if s.starts_with('"') {
            let (_, rest) = unquote(s.strip_prefix('"').unwrap_or(s))
                .ok_or(AddressError::LocalPart("unterminated quoted string"))?;
            s.len() - rest.len()
        } else {
            s.rfind('@').ok_or(AddressError::MissingAt)?
        };
        if s.as_bytes().get(at) != Some(&b'@') {
            return Err(AddressError::MissingAt);
        }
        let local = LocalPart::parse(&s[..at])?;
        let domain = Domain::parse(&s[at + 1..])?;
        EmailAddress::new(local, domain)
    }

    /// The local part.
    pub fn local_part(&self) -> &LocalPart {
        &self.local
    }

    /// The domain.
    pub fn domain(&self) -> &Domain {
        &self.domain
    }

    /// Whether the address can be used without SMTPUTF8 (ASCII local part; the domain is then
    /// sent as A-labels).
    pub fn is_ascii_local(&self) -> bool {
        self.local.as_str().is_ascii()
    }

    /// The address with an A-label domain, e.g. for DNS and non-SMTPUTF8 peers.
    pub fn to_ascii_domain_string(&self) -> String {
        format!("{}@{}", self.local, self.domain.as_ascii())
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.local, self.domain)
    }
}

impl FromStr for EmailAddress {
    type Err = AddressError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EmailAddress::parse(s)
    }
}

impl serde::Serialize for EmailAddress {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for EmailAddress {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <Cow<'de, str>>::deserialize(d)?;
        EmailAddress::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for Domain {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Domain {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <Cow<'de, str>>::deserialize(d)?;
        Domain::parse(&s).map_err(serde::de::Error::custom)
    }
}

// ---------------------------------------------------------------------------------------------
// RFC 5321 paths

/// The reverse path of `MAIL FROM`: an address or the null path `<>` (bounces).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ReversePath {
    /// `<>`.
    Null,
    /// `<address>`.
    Address(EmailAddress),
}

/// The forward path of `RCPT TO`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ForwardPath {
    /// `<Postmaster>` without a domain (RFC 5321 §4.1.1.3).
    Postmaster,
    /// `<address>`.
    Address(EmailAddress),
}

/// Parses `<[@route,@route:]address>`, returning the address text (the source route is
/// accepted and ignored as RFC 5321 §4.1.1.3 requires).
fn path_inner(s: &str) -> Result<&str, AddressError> {
    let inner = s
        .strip_prefix('<')
        .and_then(|r| r.strip_suffix('>'))
        .ok_or(AddressError::Syntax {
            offset: 0,
            reason: "path must be enclosed in <>",
        })?;
    if inner.starts_with('@') {
        let colon = inner.find(':').ok_or(AddressError::Syntax {
            offset: 1,
            reason: "source route without ':'",
        })?;
        for hop in inner[..colon].split(',') {
            let hop = hop.strip_prefix('@').ok_or(AddressError::Syntax {
                offset: 1,
                reason: "source route hop without '@'",
            })?;
            Domain::parse(hop)?;
        }
        return Ok(&inner[colon + 1..]);
    }
    Ok(inner)
}

impl ReversePath {
    /// Parses the RFC 5321 `Reverse-path`, e.g. `<>` or `<a@example.com>`.
    pub fn parse(s: &str) -> Result<ReversePath, AddressError> {
        match path_inner(s)? {
            "" => Ok(ReversePath::Null),
            inner => EmailAddress::parse(inner).map(ReversePath::Address),
        }
    }

    /// The address, unless this is the null path.
    pub fn address(&self) -> Option<&EmailAddress> {
        match self {
            ReversePath::Null => None,
            ReversePath::Address(a) => Some(a),
        }
    }
}

impl ForwardPath {
    /// Parses the RFC 5321 `Forward-path`, e.g. `<a@example.com>` or `<Postmaster>`.
    pub fn parse(s: &str) -> Result<ForwardPath, AddressError> {
        match path_inner(s)? {
            "" => Err(AddressError::Empty),
            p if p.eq_ignore_ascii_case("postmaster") => Ok(ForwardPath::Postmaster),
            inner => EmailAddress::parse(inner).map(ForwardPath::Address),
        }
    }

    /// The address, unless this is the bare `<Postmaster>`.
    pub fn address(&self) -> Option<&EmailAddress> {
        match self {
            ForwardPath::Postmaster => None,
            ForwardPath::Address(a) => Some(a),
        }
    }
}

impl fmt::Display for ReversePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReversePath::Null => f.write_str("<>"),
            ReversePath::Address(a) => write!(f, "<{a}>"),
        }
    }
}

impl fmt::Display for ForwardPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ForwardPath::Postmaster => f.write_str("<Postmaster>"),
            ForwardPath::Address(a) => write!(f, "<{a}>"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// RFC 5322 address lists

/// A mailbox with an optional display name (`"Jane Doe" <jane@example.com>`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Mailbox {
    /// The decoded display name (RFC 2047 words decoded), without surrounding whitespace.
    pub name: Option<String>,
    /// The address.
    pub address: EmailAddress,
}

/// A named group of mailboxes (`Team: a@example.com, b@example.com;`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Group {
    /// The decoded group name.
    pub name: String,
    /// The members (possibly none, as in `undisclosed-recipients:;`).
    pub members: Vec<Mailbox>,
}

/// One element of an address list.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Address {
    /// A single mailbox.
    Mailbox(Mailbox),
    /// A group.
    Group(Group),
}

/// An RFC 5322 `address-list`, as in `To:` and `Cc:`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct AddressList(pub Vec<Address>);

impl AddressList {
    /// Parses an address list strictly: any malformed element is an error.
    pub fn parse(s: &str) -> Result<AddressList, AddressError> {
        let (list, errors) = AddressList::parse_lenient(s);
        match errors.into_iter().next() {
            Some(e) => Err(e),
            None => Ok(list),
        }
    }

    /// Parses an address list, skipping malformed elements and reporting them.
    /// RFC 2047 encoded words in display names are decoded; a comment after a bare address
    /// (`jane@example.com (Jane)`) is taken as its display name.
    pub fn parse_lenient(s: &str) -> (AddressList, Vec<AddressError>) {
        let mut p = ListParser {
            s,
            pos: 0,
            comment: None,
        };
        let mut list = Vec::new();
        let mut errors = Vec::new();
        loop {
            p.skip_cfws();
            if p.pos >= s.len() {
                break;
            }
            if p.eat(',') {
                continue;
            }
            match p.address(true) {
                Ok(a) => list.push(a),
                Err(e) => {
                    errors.push(e);
                    p.recover();
                }
            }
            p.skip_cfws();
            if p.pos < s.len() && !p.eat(',') {
                errors.push(AddressError::Syntax {
                    offset: p.pos,
                    reason: "expected ','",
                });
                p.recover();
            }
        }
        (AddressList(list), errors)
    }

    /// All mailboxes, with group members flattened in order.
    pub fn mailboxes(&self) -> impl Iterator<Item = &Mailbox> {
        self.0.iter().flat_map(|a| match a {
            Address::Mailbox(m) => std::slice::from_ref(m).iter(),
            Address::Group(g) => g.members.iter(),
        })
    }

    /// Whether the list has no elements.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Mailbox {
    /// Parses a single mailbox (`name-addr` or `addr-spec`).
    pub fn parse(s: &str) -> Result<Mailbox, AddressError> {
        let mut p = ListParser {
            s,
            pos: 0,
            comment: None,
        };
        let m = p.mailbox()?;
        p.skip_cfws();
        if p.pos < s.len() {
            return Err(AddressError::Syntax {
                offset: p.pos,
                reason: "text after mailbox",
            });
        }
        Ok(m)
    }
}

fn write_phrase(f: &mut fmt::Formatter<'_>, name: &str) -> fmt::Result {
    let atoms_only = !name.is_empty()
        && name
            .split(' ')
            .all(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii() && is_atext(c)))
        && !name.contains("=?");
    if atoms_only {
        f.write_str(name)
    } else if name.bytes().all(|b| (0x20..0x7f).contains(&b)) && !name.contains("=?") {
        write_quoted(f, name)
    } else {
        f.write_str(&encoded_word::encode_words(
            name,
            encoded_word::WordEncoding::B,
        ))
    }
}

impl fmt::Display for Mailbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(n) => {
                write_phrase(f, n)?;
                write!(f, " <{}>", self.address)
            }
            None => write!(f, "{}", self.address),
        }
    }
}

impl fmt::Display for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.name.is_empty() {
            write_phrase(f, &self.name)?;
        }
        f.write_str(":")?;
        for (i, m) in self.members.iter().enumerate() {
            f.write_str(if i == 0 { " " } else { ", " })?;
            write!(f, "{m}")?;
        }
        f.write_str(";")
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Mailbox(m) => m.fmt(f),
            Address::Group(g) => g.fmt(f),
        }
    }
}

impl fmt::Display for AddressList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, a) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{a}")?;
        }
        Ok(())
    }
}

/// A word of a phrase or local part.
struct Word {
    text: String,
    quoted: bool,
    space_before: bool,
}

struct ListParser<'a> {
    s: &'a str,
    pos: usize,
    /// The text of the last comment skipped.
    comment: Option<String>,
}

impl ListParser<'_> {
    fn peek(&self) -> Option<char> {
        self.s[self.pos..].chars().next()
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn err(&self, reason: &'static str) -> AddressError {
        AddressError::Syntax {
            offset: self.pos,
            reason,
        }
    }

    /// Skips whitespace and (nested) comments; returns whether anything was skipped.
    fn skip_cfws(&mut self) -> bool {
        let start = self.pos;
        loop {
            match self.peek() {
                Some(c) if c.is_whitespace() => self.pos += c.len_utf8(),
                Some('(') => {
                    let mut depth = 0usize;
                    let mut text = String::new();
                    let mut chars = self.s[self.pos..].char_indices();
                    let mut end = self.s.len();
                    while let Some((i, c)) = chars.next() {
                        match c {
                            '(' => {
                                depth += 1;
                                if depth > 1 {
                                    text.push(c);
                                }
                            }
                            ')' => {
                                depth -= 1;
                                if depth == 0 {
                                    end = self.pos + i + 1;
                                    break;
                                }
                                text.push(c);
                            }
                            '\\' => {
                                if let Some((_, n)) = chars.next() {
                                    text.push(n);
                                }
                            }
                            c => text.push(c),
                        }
                    }
                    self.pos = end;
                    self.comment = Some(text);
                }
                _ => break,
            }
        }
        self.pos > start
    }

    /// Reads the words of a phrase or local part (atoms may contain dots, obs-phrase style).
    fn words(&mut self) -> Result<Vec<Word>, AddressError> {
        let mut words = Vec::new();
        loop {
            let space_before = self.skip_cfws();
            match self.peek() {
                Some('"') => {
                    let (text, rest) = unquote(&self.s[self.pos + 1..])
                        .ok_or(self.err("unterminated quoted string"))?;
                    self.pos = self.s.len() - rest.len();
                    words.push(Word {
                        text,
                        quoted: true,
                        space_before,
                    });
                }
                Some(c) if is_atext(c) || c == '.' => {
                    let start = self.pos;
                    while let Some(c) = self.peek().filter(|&c| is_atext(c) || c == '.') {
                        self.pos += c.len_utf8();
                    }
                    words.push(Word {
                        text: self.s[start..self.pos].to_owned(),
                        quoted: false,
                        space_before,
                    });
                }
                _ => return Ok(words),
            }
        }
    }

    fn phrase(words: &[Word]) -> Option<String> {
        let mut raw = String::new();
        for (i, w) in words.iter().enumerate() {
            if i > 0 {
                raw.push(' ');
            }
            raw.push_str(&w.text);
        }
        let name = encoded_word::decode(&raw);
        let name = name.trim();
        (!name.is_empty()).then(|| name.to_owned())
    }

    fn local_part(words: &[Word]) -> Result<LocalPart, AddressError> {
        if words.is_empty() {
            return Err(AddressError::LocalPart("empty"));
        }
        if words.iter().skip(1).any(|w| w.space_before) {
            return Err(AddressError::LocalPart("whitespace in local part"));
        }
        if let [w] = words {
            return if w.quoted {
                LocalPart::new(&w.text)
            } else {
                LocalPart::parse(&w.text)
            };
        }
        let joined: String = words.iter().map(|w| w.text.as_str()).collect();
        LocalPart::new(&joined)
    }

    fn domain(&mut self) -> Result<Domain, AddressError> {
        self.skip_cfws();
        if self.peek() == Some('[') {
            return Err(AddressError::AddressLiteral);
        }
        let start = self.pos;
        while let Some(c) = self.peek().filter(|&c| is_atext(c) || c == '.') {
            self.pos += c.len_utf8();
        }
        Domain::parse(&self.s[start..self.pos])
    }

    /// `angle-addr` after its `<`.
    fn angle_addr(&mut self) -> Result<EmailAddress, AddressError> {
        self.skip_cfws();
        if self.peek() == Some('@') {
            // obs-route: skip to the ':'.
            let colon = self.s[self.pos..]
                .find(':')
                .ok_or(self.err("source route without ':'"))?;
            self.pos += colon + 1;
        }
        let words = self.words()?;
        if words.is_empty() && self.peek() == Some('>') {
            return Err(AddressError::Empty);
        }
        let local = Self::local_part(&words)?;
        self.skip_cfws();
        if !self.eat('@') {
            return Err(AddressError::MissingAt);
        }
        let domain = self.domain()?;
        self.skip_cfws();
        if !self.eat('>') {
            return Err(self.err("expected '>'"));
        }
        EmailAddress::new(local, domain)
    }

    fn mailbox(&mut self) -> Result<Mailbox, AddressError> {
        match self.address(false)? {
            Address::Mailbox(m) => Ok(m),
            Address::Group(_) => Err(self.err("group where a mailbox was expected")),
        }
    }

    fn address(&mut self, allow_group: bool) -> Result<Address, AddressError> {
        self.comment = None;
        let words = self.words()?;
        self.skip_cfws();
        match self.peek() {
            Some(':') if allow_group => {
                self.pos += 1;
                let name = Self::phrase(&words).unwrap_or_default();
                let mut members = Vec::new();
                loop {
                    self.skip_cfws();
                    if self.eat(';') || self.pos >= self.s.len() {
                        break;
                    }
                    if self.eat(',') {
                        continue;
                    }
                    members.push(self.mailbox()?);
                }
                Ok(Address::Group(Group { name, members }))
            }
            Some('<') => {
                self.pos += 1;
                let address = self.angle_addr()?;
                self.skip_cfws();
                Ok(Address::Mailbox(Mailbox {
                    name: Self::phrase(&words),
                    address,
                }))
            }
            Some('@') => {
                let local = Self::local_part(&words)?;
                self.pos += 1;
                let domain = self.domain()?;
                self.comment = None;
                self.skip_cfws();
                let name = self
                    .comment
                    .take()
                    .map(|c| encoded_word::decode(&c).trim().to_owned())
                    .filter(|c| !c.is_empty());
                Ok(Address::Mailbox(Mailbox {
                    name,
                    address: EmailAddress::new(local, domain)?,
                }))
            }
            _ if words.is_empty() => Err(self.err("expected an address")),
            _ => Err(AddressError::MissingAt),
        }
    }

    /// Skips to the next top-level `,` after a malformed element.
    fn recover(&mut self) {
        let bytes = self.s.as_bytes();
        let mut in_quote = false;
        let mut depth = 0usize;
        while self.pos < bytes.len() {
            let b = bytes[self.pos];
            match b {
                b'\\' => self.pos += 1,
                b'"' => in_quote = !in_quote,
                b'(' if !in_quote => depth += 1,
                b')' if !in_quote => depth = depth.saturating_sub(1),
                b',' if !in_quote && depth == 0 => return,
                _ => {}
            }
            self.pos += 1;
        }
        self.pos = self.s.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> EmailAddress {
        EmailAddress::parse(s).unwrap()
    }

    #[test]
    fn domains() {
        let d = Domain::parse("例子.测试").unwrap();
        assert_eq!(d.as_ascii(), "xn--fsqu00a.xn--0zwm56d");
        assert_eq!(d.to_string(), "例子.测试");
        let a = Domain::parse("xn--fsqu00a.xn--0zwm56d").unwrap();
        assert_eq!(a, d);
        assert_eq!(a.to_unicode(), "例子.测试");
        assert_eq!(
            Domain::parse("Example.COM.").unwrap().to_string(),
            "example.com"
        );
        for bad in [
            "",
            "a..b",
            "-a.com",
            "a-.com",
            "a_b.com",
            "1.2.3.4",
            "[1.2.3.4]",
            "xn--zz.com",
        ] {
            assert!(Domain::parse(bad).is_err(), "{bad}");
        }
        assert!(Domain::parse(&format!("{}.com", "a".repeat(64))).is_err());
        assert!(
            Domain::parse("mail.example.com")
                .unwrap()
                .is_within(&Domain::parse("example.com").unwrap())
        );
        assert!(
            !Domain::parse("badexample.com")
                .unwrap()
                .is_within(&Domain::parse("example.com").unwrap())
        );
    }

    #[test]
    fn addresses() {
        assert_eq!(
            addr("\"a b\"@example.com").to_string(),
            "\"a b\"@example.com"
        );
        assert_eq!(addr("\"ab\"@example.com").to_string(), "ab@example.com");
        assert_eq!(
            addr("用户@例子.测试").to_ascii_domain_string(),
            "用户@xn--fsqu00a.xn--0zwm56d"
        );
        assert!(!addr("用户@example.com").is_ascii_local());
        for bad in [
            "",
            "a",
            "@b.com",
            "a@",
            "a b@c.com",
            "a..b@c.com",
            "\"\"@c.com",
            "a@[1.2.3.4]",
            "a\u{0}b@c.com",
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad:?}");
        }
        assert!(EmailAddress::parse(&format!("{}@b.com", "a".repeat(65))).is_err());
    }

    #[test]
    fn paths() {
        assert_eq!(ReversePath::parse("<>").unwrap(), ReversePath::Null);
        assert_eq!(
            ReversePath::parse("<@a.example,@b.example:user@c.example>").unwrap(),
            ReversePath::Address(addr("user@c.example"))
        );
        assert_eq!(
            ForwardPath::parse("<postmaster>").unwrap(),
            ForwardPath::Postmaster
        );
        assert!(ForwardPath::parse("<>").is_err());
        assert!(ForwardPath::parse("user@example.com").is_err());
        assert!(ForwardPath::parse("<\"\"@example.com>").is_err());
        assert!(
            ForwardPath::parse("<user%other@example.com>").is_ok(),
            "a plain atext local part"
        );
    }

    #[test]
    fn lists() {
        let l = AddressList::parse(
            "Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>, \"Joe Q. Public\" <john.q.public@example.com>, \
             A Group(Some people):Chris Jones <c@(Chris's host.)public.example>, joe@example.org;, =?UTF-8?B?5byg5LiJ?= <z@example.cn>",
        )
        .unwrap();
        let got: Vec<_> = l
            .mailboxes()
            .map(|m| (m.name.clone(), m.address.to_string()))
            .collect();
        assert_eq!(
            got,
            vec![
                (Some("Pete".to_owned()), "pete@silly.test".to_owned()),
                (
                    Some("Joe Q. Public".to_owned()),
                    "john.q.public@example.com".to_owned()
                ),
                (
                    Some("Chris Jones".to_owned()),
                    "c@public.example".to_owned()
                ),
                (None, "joe@example.org".to_owned()),
                (Some("张三".to_owned()), "z@example.cn".to_owned()),
            ]
        );
        assert!(
            AddressList::parse("undisclosed-recipients:;")
                .unwrap()
                .mailboxes()
                .next()
                .is_none()
        );
        assert_eq!(
            AddressList::parse("jane@example.com (Jane Doe)")
                .unwrap()
                .mailboxes()
                .next()
                .unwrap()
                .name
                .as_deref(),
            Some("Jane Doe")
        );
        let (l, errs) = AddressList::parse_lenient("bogus, ok@example.com, <broken@, x@y.com");
        assert_eq!(errs.len(), 2);
        assert_eq!(l.mailboxes().count(), 2);
    }
}
