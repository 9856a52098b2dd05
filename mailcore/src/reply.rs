//! Replies in SMTP terms: a three-digit code, an RFC 3463 enhanced status code and text.
//!
//! Hooks and policies answer with a [`Reply`] whatever the protocol; SMTP sends it as is, IMAP
//! and POP3 map a permanent reply to `NO`/`-ERR` and a transient one to `NO [UNAVAILABLE]`.

use std::fmt;
use std::str::FromStr;

/// Why a reply was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplyError {
    /// The code is not in 200–599.
    #[error("reply code must be 200-599")]
    Code,
    /// The enhanced status code is malformed or its class disagrees with the code.
    #[error("enhanced status code must be class.subject.detail matching the reply code")]
    Status,
    /// The text contains a line break or another control character.
    #[error("reply text must be one line of printable text")]
    Text,
}

/// An RFC 3463 enhanced status code `class.subject.detail`, e.g. `5.7.1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EnhancedStatus {
    class: u8,
    subject: u16,
    detail: u16,
}

impl EnhancedStatus {
    /// Makes a status; class must be 2, 4 or 5 and subject/detail at most 999.
    pub fn new(class: u8, subject: u16, detail: u16) -> Result<EnhancedStatus, ReplyError> {
        if !matches!(class, 2 | 4 | 5) || subject > 999 || detail > 999 {
            return Err(ReplyError::Status);
        }
        Ok(EnhancedStatus {
            class,
            subject,
            detail,
        })
    }

    /// The class digit (2 success, 4 transient, 5 permanent).
    pub fn class(&self) -> u8 {
        self.class
    }
}

impl FromStr for EnhancedStatus {
    type Err = ReplyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut it = s.split('.');
        let mut next = || -> Result<u16, ReplyError> {
            let p = it.next().ok_or(ReplyError::Status)?;
            if p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(ReplyError::Status);
            }
            p.parse().map_err(|_| ReplyError::Status)
        };
        let (c, s, d) = (next()?, next()?, next()?);
        if it.next().is_some() || c > 9 {
            return Err(ReplyError::Status);
        }
        EnhancedStatus::new(c as u8, s, d)
    }
}

impl fmt::Display for EnhancedStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.class, self.subject, self.detail)
    }
}

/// A reply: code, optional enhanced status and one line of text.
///
/// ```
/// use mailcore::reply::Reply;
/// let r = Reply::new(550, Some("5.1.1"), "No such user").unwrap();
/// assert!(r.is_permanent());
/// assert_eq!(r.to_string(), "550 5.1.1 No such user");
/// assert!(Reply::new(550, Some("4.1.1"), "class mismatch").is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Reply {
    code: u16,
    status: Option<EnhancedStatus>,
    text: String,
}

impl Reply {
    /// Makes a reply, checking the code range, that the status class matches the code's first
    /// digit, and that the text is one printable line.
    pub fn new(code: u16, status: Option<&str>, text: &str) -> Result<Reply, ReplyError> {
        if !(200..=599).contains(&code) || code / 100 == 3 && status.is_some() {
            return Err(ReplyError::Code);
        }
        let status = status.map(str::parse::<EnhancedStatus>).transpose()?;
        if status.is_some_and(|s| s.class as u16 != code / 100) {
            return Err(ReplyError::Status);
        }
        if text.chars().any(|c| c.is_control() && c != '\t') {
            return Err(ReplyError::Text);
        }
        Ok(Reply {
            code,
            status,
            text: text.to_owned(),
        })
    }

    /// `451 4.3.0 Internal error`: what to answer when nothing better is known.
    pub fn internal_error() -> Reply {
        Reply {
            code: 451,
            status: Some(EnhancedStatus {
                class: 4,
                subject: 3,
                detail: 0,
            }),
            text: "Internal error".to_owned(),
        }
    }

    /// The three-digit code.
    pub fn code(&self) -> u16 {
        self.code
    }

    /// The enhanced status code.
    pub fn status(&self) -> Option<EnhancedStatus> {
        self.status
    }

    /// The text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// A 5xx reply.
    pub fn is_permanent(&self) -> bool {
        self.code >= 500
    }

    /// A 4xx reply.
    pub fn is_transient(&self) -> bool {
        (400..500).contains(&self.code)
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code)?;
        if let Some(s) = self.status {
            write!(f, " {s}")?;
        }
        if !self.text.is_empty() {
            write!(f, " {}", self.text)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation() {
        assert!(Reply::new(199, None, "x").is_err());
        assert!(Reply::new(250, Some("2.0.0"), "ok").is_ok());
        assert!(Reply::new(451, Some("4.7.1000"), "x").is_err());
        assert!(Reply::new(451, Some("4.7"), "x").is_err());
        assert!(Reply::new(451, None, "a\r\nb").is_err());
        assert_eq!(
            Reply::new(421, Some("4.4.2"), "").unwrap().to_string(),
            "421 4.4.2"
        );
    }
}
