//! POP3 commands (RFC 1939 §§4–7, RFC 2449 `CAPA`, RFC 2595 `STLS`, RFC 5034 `AUTH`): parsing
//! one command line, borrowed from the input, and formatting it back.
//!
//! Framing (finding the line, enforcing its length) is the session's job; [`parse`] sees one
//! line without its CRLF.
//!
//! ```
//! use mailcore_pop3::command::{parse, Command, CommandError};
//! assert_eq!(parse(b"top 1 10"), Ok(Command::Top { message: 1, lines: 10 }));
//! assert_eq!(parse(b"LIST"), Ok(Command::List(None)));
//! assert_eq!(parse(b"RETR 0"), Err(CommandError::Syntax("RETR")));
//! assert_eq!(parse(b"USER a\0b"), Err(CommandError::ControlCharacter));
//! ```

use std::fmt;

/// Longest message number or line count accepted, in digits (`u32` has ten).
const MAX_DIGITS: usize = 10;

/// A parsed command; arguments borrow from the line.
#[derive(Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Command<'a> {
    /// `USER name`.
    User(&'a str),
    /// `PASS string`: the rest of the line, spaces included (RFC 1939 §7).
    Pass(&'a str),
    /// `APOP name digest` (recognised so it can be refused: this server keeps no plaintext
    /// passwords).
    Apop,
    /// `AUTH [mechanism [initial-response]]` (RFC 5034); without a mechanism the client asks
    /// for the list of mechanisms.
    Auth {
        /// The SASL mechanism as given (compare case-insensitively).
        mechanism: Option<&'a str>,
        /// The base64 initial response, or `=` for an empty one.
        initial: Option<&'a str>,
    },
    /// `STAT`.
    Stat,
    /// `LIST [msg]`.
    List(Option<u32>),
    /// `RETR msg`.
    Retr(u32),
    /// `TOP msg n`.
    Top {
        /// The message number (1-based).
        message: u32,
        /// Body lines to send after the header.
        lines: u32,
    },
    /// `UIDL [msg]`.
    Uidl(Option<u32>),
    /// `DELE msg`.
    Dele(u32),
    /// `RSET`.
    Rset,
    /// `NOOP`.
    Noop,
    /// `QUIT`.
    Quit,
    /// `CAPA` (RFC 2449).
    Capa,
    /// `STLS` (RFC 2595).
    Stls,
}

impl fmt::Debug for Command<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // Never print a password, not even in debug output.
            Command::Pass(_) => f.write_str("Pass(<hidden>)"),
            Command::Auth { mechanism, initial } => f
                .debug_struct("Auth")
                .field("mechanism", mechanism)
                .field("initial", &initial.map(|_| "<hidden>"))
                .finish(),
            Command::User(u) => f.debug_tuple("User").field(u).finish(),
            Command::Apop => f.write_str("Apop"),
            Command::Stat => f.write_str("Stat"),
            Command::List(n) => f.debug_tuple("List").field(n).finish(),
            Command::Retr(n) => f.debug_tuple("Retr").field(n).finish(),
            Command::Top { message, lines } => f
                .debug_struct("Top")
                .field("message", message)
                .field("lines", lines)
                .finish(),
            Command::Uidl(n) => f.debug_tuple("Uidl").field(n).finish(),
            Command::Dele(n) => f.debug_tuple("Dele").field(n).finish(),
            Command::Rset => f.write_str("Rset"),
            Command::Noop => f.write_str("Noop"),
            Command::Quit => f.write_str("Quit"),
            Command::Capa => f.write_str("Capa"),
            Command::Stls => f.write_str("Stls"),
        }
    }
}

/// Formats the command as a client sends it, without CRLF; [`parse`] reads it back.
impl fmt::Display for Command<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let opt = |f: &mut fmt::Formatter<'_>, verb: &str, n: &Option<u32>| match n {
            Some(n) => write!(f, "{verb} {n}"),
            None => f.write_str(verb),
        };
        match self {
            Command::User(u) => write!(f, "USER {u}"),
            Command::Pass(p) => write!(f, "PASS {p}"),
            Command::Apop => f.write_str("APOP"),
            Command::Auth { mechanism, initial } => {
                f.write_str("AUTH")?;
                if let Some(m) = mechanism {
                    write!(f, " {m}")?;
                }
                if let Some(i) = initial {
                    write!(f, " {i}")?;
                }
                Ok(())
            }
            Command::Stat => f.write_str("STAT"),
            Command::List(n) => opt(f, "LIST", n),
            Command::Retr(n) => write!(f, "RETR {n}"),
            Command::Top { message, lines } => write!(f, "TOP {message} {lines}"),
            Command::Uidl(n) => opt(f, "UIDL", n),
            Command::Dele(n) => write!(f, "DELE {n}"),
            Command::Rset => f.write_str("RSET"),
            Command::Noop => f.write_str("NOOP"),
            Command::Quit => f.write_str("QUIT"),
            Command::Capa => f.write_str("CAPA"),
            Command::Stls => f.write_str("STLS"),
        }
    }
}

/// Why a command line was refused. Every one is answered with `-ERR` and the session goes on.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// Unknown keyword.
    #[error("unknown command")]
    Unrecognized,
    /// A known keyword with missing, extra or malformed arguments.
    #[error("syntax error in {0}")]
    Syntax(&'static str),
    /// The line holds NUL or another control character.
    #[error("NUL or control character in command")]
    ControlCharacter,
    /// The line is not valid UTF-8.
    #[error("command is not valid UTF-8")]
    Encoding,
}

/// Parses one command line (without CRLF). Keywords are case-insensitive; arguments are
/// separated by single spaces, except that `PASS` takes the rest of the line.
pub fn parse(line: &[u8]) -> Result<Command<'_>, CommandError> {
    if line.iter().any(|&b| b < 0x20 || b == 0x7f) {
        return Err(CommandError::ControlCharacter);
    }
    let line = std::str::from_utf8(line).map_err(|_| CommandError::Encoding)?;
    let (keyword, rest) = match line.split_once(' ') {
        Some((k, r)) => (k, Some(r)),
        None => (line, None),
    };
    if keyword.len() > 4 {
        return Err(CommandError::Unrecognized);
    }
    let mut upper = [0u8; 4];
    upper[..keyword.len()].copy_from_slice(keyword.as_bytes());
    upper.make_ascii_uppercase();
    let args = |name| Args::new(rest, name);
    match &upper[..keyword.len()] {
        b"USER" => args("USER")?.one().map(Command::User),
        b"PASS" => match rest {
            // A password may contain spaces; it must not be empty.
            Some(p) if !p.is_empty() => Ok(Command::Pass(p)),
            _ => Err(CommandError::Syntax("PASS")),
        },
        b"APOP" => Ok(Command::Apop),
        b"AUTH" => {
            let mut a = args("AUTH")?;
            let mechanism = a.next()?;
            let initial = a.next()?;
            a.end()?;
            Ok(Command::Auth { mechanism, initial })
        }
        b"STAT" => args("STAT")?.none().map(|()| Command::Stat),
        b"LIST" => args("LIST")?.optional_number().map(Command::List),
        b"RETR" => args("RETR")?.number().map(Command::Retr),
        b"TOP" => {
            let mut a = args("TOP")?;
            let message = a.message_number()?;
            let lines = a.count()?;
            a.end()?;
            Ok(Command::Top { message, lines })
        }
        b"UIDL" => args("UIDL")?.optional_number().map(Command::Uidl),
        b"DELE" => args("DELE")?.number().map(Command::Dele),
        b"RSET" => args("RSET")?.none().map(|()| Command::Rset),
        b"NOOP" => args("NOOP")?.none().map(|()| Command::Noop),
        b"QUIT" => args("QUIT")?.none().map(|()| Command::Quit),
        b"CAPA" => args("CAPA")?.none().map(|()| Command::Capa),
        b"STLS" => args("STLS")?.none().map(|()| Command::Stls),
        _ => Err(CommandError::Unrecognized),
    }
}

/// The space-separated arguments after a keyword.
struct Args<'a> {
    parts: Option<std::str::Split<'a, char>>,
    name: &'static str,
}

impl<'a> Args<'a> {
    fn new(rest: Option<&'a str>, name: &'static str) -> Result<Args<'a>, CommandError> {
        // `KEYWORD ` with nothing after the space is malformed.
        if rest == Some("") {
            return Err(CommandError::Syntax(name));
        }
        Ok(Args {
            parts: rest.map(|r| r.split(' ')),
            name,
        })
    }

    fn err(&self) -> CommandError {
        CommandError::Syntax(self.name)
    }

    fn next(&mut self) -> Result<Option<&'a str>, CommandError> {
        match self.parts.as_mut().and_then(Iterator::next) {
            Some("") => Err(self.err()),
            other => Ok(other),
        }
    }

    fn end(&mut self) -> Result<(), CommandError> {
        match self.next()? {
            None => Ok(()),
            Some(_) => Err(self.err()),
        }
    }

    fn none(mut self) -> Result<(), CommandError> {
        self.end()
    }

    fn one(mut self) -> Result<&'a str, CommandError> {
        let arg = self.next()?.ok_or_else(|| self.err())?;
        self.end()?;
        Ok(arg)
    }

    fn count(&mut self) -> Result<u32, CommandError> {
        let arg = self.next()?.ok_or_else(|| self.err())?;
        if arg.len() > MAX_DIGITS || !arg.bytes().all(|b| b.is_ascii_digit()) {
            return Err(self.err());
        }
        arg.parse().map_err(|_| self.err())
    }

    fn message_number(&mut self) -> Result<u32, CommandError> {
        match self.count()? {
            0 => Err(self.err()),
            n => Ok(n),
        }
    }

    fn number(mut self) -> Result<u32, CommandError> {
        let n = self.message_number()?;
        self.end()?;
        Ok(n)
    }

    fn optional_number(self) -> Result<Option<u32>, CommandError> {
        if self.parts.is_none() {
            return Ok(None);
        }
        self.number().map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_and_arguments() {
        assert_eq!(parse(b"user mrose"), Ok(Command::User("mrose")));
        assert_eq!(
            parse(b"PASS secret with spaces"),
            Ok(Command::Pass("secret with spaces"))
        );
        assert_eq!(parse(b"PASS"), Err(CommandError::Syntax("PASS")));
        assert_eq!(parse(b"USER a b"), Err(CommandError::Syntax("USER")));
        assert_eq!(parse(b"USER"), Err(CommandError::Syntax("USER")));
        assert_eq!(parse(b"LIST 2"), Ok(Command::List(Some(2))));
        assert_eq!(parse(b"LIST "), Err(CommandError::Syntax("LIST")));
        assert_eq!(parse(b"LIST  2"), Err(CommandError::Syntax("LIST")));
        assert_eq!(parse(b"LIST x"), Err(CommandError::Syntax("LIST")));
        assert_eq!(parse(b"RETR 4294967296"), Err(CommandError::Syntax("RETR")));
        assert_eq!(parse(b"RETR 4294967295"), Ok(Command::Retr(u32::MAX)));
        assert_eq!(parse(b"RETR +1"), Err(CommandError::Syntax("RETR")));
        assert_eq!(
            parse(b"TOP 1 0"),
            Ok(Command::Top {
                message: 1,
                lines: 0
            })
        );
        assert_eq!(parse(b"TOP 1"), Err(CommandError::Syntax("TOP")));
        assert_eq!(parse(b"TOP 1 2 3"), Err(CommandError::Syntax("TOP")));
        assert_eq!(
            parse(b"AUTH"),
            Ok(Command::Auth {
                mechanism: None,
                initial: None
            })
        );
        assert_eq!(
            parse(b"AUTH PLAIN ="),
            Ok(Command::Auth {
                mechanism: Some("PLAIN"),
                initial: Some("=")
            })
        );
        assert_eq!(parse(b"APOP mrose c4c9334bac"), Ok(Command::Apop));
        assert_eq!(parse(b"STAT x"), Err(CommandError::Syntax("STAT")));
        assert_eq!(parse(b"XTND"), Err(CommandError::Unrecognized));
        assert_eq!(parse(b"RETRIEVE 1"), Err(CommandError::Unrecognized));
        assert_eq!(parse(b""), Err(CommandError::Unrecognized));
        assert_eq!(parse(b"\xff"), Err(CommandError::Encoding));
        assert_eq!(parse(b"NOOP\0"), Err(CommandError::ControlCharacter));
    }

    #[test]
    fn debug_hides_secrets() {
        let text = format!(
            "{:?} {:?}",
            parse(b"PASS hunter2"),
            parse(b"AUTH PLAIN AGEAYg==")
        );
        assert!(
            !text.contains("hunter2") && !text.contains("AGEAYg"),
            "{text}"
        );
    }
}
