//! SMTP commands (RFC 5321 §4.1) and their ESMTP parameters: parsing from one command line and
//! formatting back.

use std::fmt;

use mailcore::address::{AddressError, EmailAddress, ForwardPath, ReversePath};
use mailcore::envelope::{
    self, BodyType, MailParameters, Notify, OriginalRecipient, RcptParameters, Ret,
};
use nom::bytes::complete::{tag_no_case, take_while1};
use nom::character::complete::{digit1, space0, space1};
use nom::combinator::{all_consuming, opt};
use nom::sequence::preceded;
use nom::{IResult, Parser};

/// A parsed command.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Command {
    /// `EHLO domain-or-literal`.
    Ehlo(String),
    /// `HELO domain`.
    Helo(String),
    /// `MAIL FROM:<path> params`.
    Mail(ReversePath, MailParameters),
    /// `RCPT TO:<path> params`.
    Rcpt(ForwardPath, RcptParameters),
    /// `DATA`.
    Data,
    /// `BDAT size [LAST]` (RFC 3030).
    Bdat {
        /// Octets that follow the command line.
        size: u64,
        /// Whether this is the last chunk.
        last: bool,
    },
    /// `RSET`.
    Rset,
    /// `NOOP [string]`.
    Noop,
    /// `QUIT`.
    Quit,
    /// `VRFY string`.
    Vrfy(String),
    /// `EXPN string`.
    Expn(String),
    /// `HELP [string]`.
    Help,
    /// `STARTTLS` (RFC 3207).
    StartTls,
    /// `AUTH mechanism [initial-response]` (RFC 4954).
    Auth {
        /// The SASL mechanism, uppercased.
        mechanism: String,
        /// The initial response (base64, or `=` for empty).
        initial: Option<String>,
    },
}

/// Why a command line was refused; each maps to a reply.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// Unknown verb: `500 5.5.2`.
    #[error("command unrecognized")]
    Unrecognized,
    /// Bad syntax for a known verb: `501 5.5.4`.
    #[error("syntax error in {0}")]
    Syntax(&'static str),
    /// A malformed address: `501 5.1.3` (or `553 5.1.3`).
    #[error("bad address syntax: {0}")]
    Address(AddressError),
    /// An unknown or malformed ESMTP parameter: `555 5.5.4`.
    #[error("parameter not recognized or malformed: {0}")]
    Parameter(String),
    /// The line contains NUL or is not valid UTF-8: `500 5.5.2`.
    #[error("invalid characters in command")]
    Encoding,
}

impl CommandError {
    /// The reply code and enhanced status for this error.
    pub fn code(&self) -> (u16, &'static str) {
        match self {
            CommandError::Unrecognized | CommandError::Encoding => (500, "5.5.2"),
            CommandError::Syntax(_) => (501, "5.5.4"),
            CommandError::Address(_) => (501, "5.1.3"),
            CommandError::Parameter(_) => (555, "5.5.4"),
        }
    }
}

type Res<'a, T> = IResult<&'a str, T>;

fn keyword(i: &str) -> Res<'_, &str> {
    take_while1(|c: char| c.is_ascii_alphanumeric() || c == '-').parse(i)
}

fn argument(i: &str) -> Res<'_, &str> {
    take_while1(|c: char| !c.is_whitespace()).parse(i)
}

/// Splits `<path> params`: the path runs to the `>` that is not inside a quoted string.
fn split_path(s: &str) -> Result<(&str, &str), CommandError> {
    if !s.starts_with('<') {
        return Err(CommandError::Syntax("path must be enclosed in <>"));
    }
    let mut quoted = false;
    let mut escape = false;
    for (i, c) in s.char_indices() {
        match c {
            _ if escape => escape = false,
            '\\' if quoted => escape = true,
            '"' => quoted = !quoted,
            '>' if !quoted => return Ok((&s[..=i], &s[i + 1..])),
            _ => {}
        }
    }
    Err(CommandError::Syntax("unterminated path"))
}

/// Parses `KEY[=VALUE] KEY[=VALUE] …` into uppercase keys and raw values.
fn parameters(s: &str) -> Result<Vec<(String, Option<&str>)>, CommandError> {
    let mut out = Vec::new();
    for item in s.split(' ').filter(|p| !p.is_empty()) {
        let (k, v) = match item.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (item, None),
        };
        if k.is_empty()
            || !k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            || v == Some("")
        {
            return Err(CommandError::Parameter(item.to_owned()));
        }
        if v.is_some_and(|v| v.bytes().any(|b| b < 0x21 || b == 0x7f)) {
            return Err(CommandError::Parameter(item.to_owned()));
        }
        let key = k.to_ascii_uppercase();
        if out.iter().any(|(existing, _)| *existing == key) {
            return Err(CommandError::Parameter(format!("{key} given twice")));
        }
        out.push((key, v));
    }
    Ok(out)
}

fn param_error(key: &str) -> CommandError {
    CommandError::Parameter(key.to_owned())
}

fn mail_parameters(s: &str) -> Result<MailParameters, CommandError> {
    let mut p = MailParameters::default();
    for (key, value) in parameters(s)? {
        match (key.as_str(), value) {
            ("SIZE", Some(v)) => {
                if v.len() > 20 || !v.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(param_error("SIZE"));
                }
                // RFC 1870 allows 20 digits; a value beyond u64 is simply too big.
                p.size = Some(v.parse().unwrap_or(u64::MAX));
            }
            ("BODY", Some(v)) => {
                p.body = Some(BodyType::parse(v).map_err(|_| param_error("BODY"))?)
            }
            ("SMTPUTF8", None) => p.smtputf8 = true,
            ("RET", Some(v)) => p.ret = Some(Ret::parse(v).map_err(|_| param_error("RET"))?),
            ("ENVID", Some(v)) => {
                let id = envelope::xtext_decode(v).map_err(|_| param_error("ENVID"))?;
                if id.len() > 100 {
                    return Err(param_error("ENVID"));
                }
                p.envid = Some(id);
            }
            ("AUTH", Some(v)) => {
                let who = envelope::xtext_decode(v).map_err(|_| param_error("AUTH"))?;
                p.auth = Some(if who == "<>" {
                    None
                } else {
                    Some(EmailAddress::parse(&who).map_err(|_| param_error("AUTH"))?)
                });
            }
            _ => return Err(param_error(&key)),
        }
    }
    Ok(p)
}

fn rcpt_parameters(s: &str) -> Result<RcptParameters, CommandError> {
    let mut p = RcptParameters::default();
    for (key, value) in parameters(s)? {
        match (key.as_str(), value) {
            ("NOTIFY", Some(v)) => {
                p.notify = Some(Notify::parse(v).map_err(|_| param_error("NOTIFY"))?)
            }
            ("ORCPT", Some(v)) => {
                let (kind, addr) = v.split_once(';').ok_or_else(|| param_error("ORCPT"))?;
                if kind.is_empty() || !kind.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                {
                    return Err(param_error("ORCPT"));
                }
                p.orcpt = Some(OriginalRecipient {
                    addr_type: kind.to_ascii_lowercase(),
                    address: envelope::xtext_decode(addr).map_err(|_| param_error("ORCPT"))?,
                });
            }
            _ => return Err(param_error(&key)),
        }
    }
    Ok(p)
}

/// Parses a command line (without its CRLF).
pub fn parse(line: &[u8]) -> Result<Command, CommandError> {
    if line.contains(&0) {
        return Err(CommandError::Encoding);
    }
    let line = std::str::from_utf8(line).map_err(|_| CommandError::Encoding)?;
    let line = line.trim_end_matches([' ', '\t']);
    let (rest, verb) =
        keyword(line).map_err(|_: nom::Err<nom::error::Error<&str>>| CommandError::Unrecognized)?;
    let verb = verb.to_ascii_uppercase();
    let arg = rest.strip_prefix(' ').unwrap_or(rest);
    let no_args = |c: Command, name: &'static str| {
        if rest.is_empty() {
            Ok(c)
        } else {
            Err(CommandError::Syntax(name))
        }
    };
    match verb.as_str() {
        "EHLO" | "HELO" => {
            let (_, name) = all_consuming(argument).parse(arg).map_err(
                |_: nom::Err<nom::error::Error<&str>>| {
                    CommandError::Syntax("EHLO/HELO needs one argument")
                },
            )?;
            Ok(if verb == "EHLO" {
                Command::Ehlo(name.to_owned())
            } else {
                Command::Helo(name.to_owned())
            })
        }
        "MAIL" => {
            let (path_and_params, _) = (
                tag_no_case::<_, _, nom::error::Error<&str>>("FROM:"),
                space0,
            )
                .parse(arg)
                .map_err(|_| CommandError::Syntax("MAIL FROM:<address>"))?;
            let (path, params) = split_path(path_and_params)?;
            if !params.is_empty() && !params.starts_with(' ') {
                return Err(CommandError::Syntax("MAIL FROM:<address>"));
            }
            let path = ReversePath::parse(path).map_err(CommandError::Address)?;
            Ok(Command::Mail(path, mail_parameters(params)?))
        }
        "RCPT" => {
            let (path_and_params, _) =
                (tag_no_case::<_, _, nom::error::Error<&str>>("TO:"), space0)
                    .parse(arg)
                    .map_err(|_| CommandError::Syntax("RCPT TO:<address>"))?;
            let (path, params) = split_path(path_and_params)?;
            if !params.is_empty() && !params.starts_with(' ') {
                return Err(CommandError::Syntax("RCPT TO:<address>"));
            }
            let path = ForwardPath::parse(path).map_err(CommandError::Address)?;
            Ok(Command::Rcpt(path, rcpt_parameters(params)?))
        }
        "DATA" => no_args(Command::Data, "DATA takes no argument"),
        "BDAT" => {
            let bdat = (
                digit1::<_, nom::error::Error<&str>>,
                opt(preceded(space1, tag_no_case("LAST"))),
            );
            let (_, (size, last)) = all_consuming(bdat)
                .parse(arg)
                .map_err(|_| CommandError::Syntax("BDAT size [LAST]"))?;
            if size.len() > 20 {
                return Err(CommandError::Syntax("BDAT size"));
            }
            let size = size
                .parse()
                .map_err(|_| CommandError::Syntax("BDAT size"))?;
            Ok(Command::Bdat {
                size,
                last: last.is_some(),
            })
        }
        "RSET" => no_args(Command::Rset, "RSET takes no argument"),
        "NOOP" => Ok(Command::Noop),
        "QUIT" => no_args(Command::Quit, "QUIT takes no argument"),
        "VRFY" => Ok(Command::Vrfy(arg.to_owned())),
        "EXPN" => Ok(Command::Expn(arg.to_owned())),
        "HELP" => Ok(Command::Help),
        "STARTTLS" => no_args(Command::StartTls, "STARTTLS takes no argument"),
        "AUTH" => {
            let auth = (
                keyword,
                opt(preceded(space1::<_, nom::error::Error<&str>>, argument)),
            );
            let (_, (mechanism, initial)) = all_consuming(auth)
                .parse(arg)
                .map_err(|_| CommandError::Syntax("AUTH mechanism [initial-response]"))?;
            Ok(Command::Auth {
                mechanism: mechanism.to_ascii_uppercase(),
                initial: initial.map(str::to_owned),
            })
        }
        _ => Err(CommandError::Unrecognized),
    }
}

fn write_mail_params(f: &mut fmt::Formatter<'_>, p: &MailParameters) -> fmt::Result {
    if let Some(size) = p.size {
        write!(f, " SIZE={size}")?;
    }
    if let Some(body) = p.body {
        write!(f, " BODY={}", body.as_str())?;
    }
    if p.smtputf8 {
        f.write_str(" SMTPUTF8")?;
    }
    if let Some(ret) = p.ret {
        f.write_str(match ret {
            Ret::Full => " RET=FULL",
            Ret::Headers => " RET=HDRS",
        })?;
    }
    if let Some(envid) = &p.envid {
        write!(f, " ENVID={}", envelope::xtext_encode(envid))?;
    }
    if let Some(auth) = &p.auth {
        match auth {
            Some(a) => write!(f, " AUTH={}", envelope::xtext_encode(&a.to_string()))?,
            None => f.write_str(" AUTH=<>")?,
        }
    }
    Ok(())
}

/// Formats the command as a line without CRLF, as a client sends it.
impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Ehlo(d) => write!(f, "EHLO {d}"),
            Command::Helo(d) => write!(f, "HELO {d}"),
            Command::Mail(path, params) => {
                write!(f, "MAIL FROM:{path}")?;
                write_mail_params(f, params)
            }
            Command::Rcpt(path, params) => {
                write!(f, "RCPT TO:{path}")?;
                if let Some(n) = &params.notify {
                    write!(f, " NOTIFY={n}")?;
                }
                if let Some(o) = &params.orcpt {
                    write!(
                        f,
                        " ORCPT={};{}",
                        o.addr_type,
                        envelope::xtext_encode(&o.address)
                    )?;
                }
                Ok(())
            }
            Command::Data => f.write_str("DATA"),
            Command::Bdat { size, last } => {
                write!(f, "BDAT {size}{}", if *last { " LAST" } else { "" })
            }
            Command::Rset => f.write_str("RSET"),
            Command::Noop => f.write_str("NOOP"),
            Command::Quit => f.write_str("QUIT"),
            Command::Vrfy(s) => write!(f, "VRFY {s}"),
            Command::Expn(s) => write!(f, "EXPN {s}"),
            Command::Help => f.write_str("HELP"),
            Command::StartTls => f.write_str("STARTTLS"),
            Command::Auth { mechanism, initial } => match initial {
                Some(i) => write!(f, "AUTH {mechanism} {i}"),
                None => write!(f, "AUTH {mechanism}"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(line: &str) -> Command {
        parse(line.as_bytes()).unwrap_or_else(|e| panic!("{line}: {e}"))
    }

    #[test]
    fn rfc5321_examples() {
        // RFC 5321 appendix D.1.
        assert_eq!(ok("EHLO bar.com"), Command::Ehlo("bar.com".into()));
        assert!(
            matches!(ok("MAIL FROM:<Smith@bar.com>"), Command::Mail(ReversePath::Address(a), _) if a.to_string() == "Smith@bar.com")
        );
        assert!(matches!(
            ok("RCPT TO:<Jones@foo.com>"),
            Command::Rcpt(ForwardPath::Address(_), _)
        ));
        assert_eq!(ok("DATA"), Command::Data);
        assert_eq!(ok("QUIT"), Command::Quit);
        // Source routes are accepted and ignored (§4.1.1.3, D.4 style).
        assert!(
            matches!(ok("RCPT TO:<@hosta.int,@jkl.org:userc@d.bar.org>"), Command::Rcpt(ForwardPath::Address(a), _) if a.to_string() == "userc@d.bar.org")
        );
        assert_eq!(ok("MAIL FROM:<>").to_string(), "MAIL FROM:<>");
        assert_eq!(
            ok("rcpt to:<postmaster>"),
            Command::Rcpt(ForwardPath::Postmaster, RcptParameters::default())
        );
    }

    #[test]
    fn parameters() {
        let Command::Mail(_, p) =
            ok("MAIL FROM:<a@b.com> SIZE=1000 BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=QQ+2B1")
        else {
            panic!()
        };
        assert_eq!(
            (p.size, p.body, p.smtputf8, p.ret),
            (
                Some(1000),
                Some(BodyType::EightBitMime),
                true,
                Some(Ret::Headers)
            )
        );
        assert_eq!(p.envid.as_deref(), Some("QQ+1"));
        let Command::Rcpt(_, r) =
            ok("RCPT TO:<a@b.com> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a+40b.com")
        else {
            panic!()
        };
        assert_eq!(r.orcpt.unwrap().address, "a@b.com");
        assert!(matches!(
            parse(b"MAIL FROM:<a@b.com> FOO=1"),
            Err(CommandError::Parameter(_))
        ));
        assert!(matches!(
            parse(b"MAIL FROM:<a@b.com> SIZE=x"),
            Err(CommandError::Parameter(_))
        ));
        assert!(matches!(
            parse(b"MAIL FROM:<a@b.com> SIZE=1 SIZE=2"),
            Err(CommandError::Parameter(_))
        ));
        assert!(matches!(
            parse(b"MAIL FROM:<a@b.com> SIZE=99999999999999999999999"),
            Err(CommandError::Parameter(_))
        ));
        // RFC 1870 allows 20 digits; beyond u64 the size is simply too big.
        let Command::Mail(_, p) = ok("MAIL FROM:<a@b.com> SIZE=99999999999999999999") else {
            panic!()
        };
        assert_eq!(p.size, Some(u64::MAX));
    }

    #[test]
    fn refusals() {
        assert_eq!(parse(b"FOO"), Err(CommandError::Unrecognized));
        assert_eq!(parse(b""), Err(CommandError::Unrecognized));
        assert_eq!(
            parse(b"DATA x"),
            Err(CommandError::Syntax("DATA takes no argument"))
        );
        assert_eq!(parse(b"NOOP\0"), Err(CommandError::Encoding));
        assert_eq!(parse(b"MAIL FROM:\xff"), Err(CommandError::Encoding));
        assert!(matches!(
            parse(b"RCPT TO:<\"\"@example.com>"),
            Err(CommandError::Address(_))
        ));
        assert!(matches!(
            parse(b"RCPT TO:<a@[1.2.3.4]>"),
            Err(CommandError::Address(_))
        ));
        assert!(matches!(
            parse(b"MAIL FROM:a@b.com"),
            Err(CommandError::Syntax(_))
        ));
        assert!(matches!(parse(b"EHLO"), Err(CommandError::Syntax(_))));
        assert_eq!(
            ok("BDAT 100 LAST"),
            Command::Bdat {
                size: 100,
                last: true
            }
        );
        assert_eq!(
            ok("AUTH plain dGVzdA=="),
            Command::Auth {
                mechanism: "PLAIN".into(),
                initial: Some("dGVzdA==".into())
            }
        );
        assert_eq!(
            ok("MAIL FROM: <a@b.com>").to_string(),
            "MAIL FROM:<a@b.com>"
        );
        assert!(matches!(
            ok("RCPT TO:<\"a>b\"@example.com>"),
            Command::Rcpt(..)
        ));
    }
}
