//! The SMTP envelope: `MAIL FROM` with its ESMTP parameters and the recipients with theirs.
//!
//! These are the values after parsing; the SMTP crate reads them off the wire, the queue stores
//! them and hooks inspect them. Values refuse what the RFCs forbid (e.g. an `ENVID` that is not
//! valid xtext when decoded from the wire).

use std::fmt;

use crate::address::{EmailAddress, ForwardPath, ReversePath};

/// Why an envelope parameter value was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParameterError {
    /// The value is not valid for the parameter.
    #[error("invalid value for {0}")]
    Value(&'static str),
}

/// `BODY=` (RFC 6152, RFC 3030).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BodyType {
    /// `7BIT`.
    SevenBit,
    /// `8BITMIME`.
    EightBitMime,
    /// `BINARYMIME` (requires BDAT).
    BinaryMime,
}

impl BodyType {
    /// Parses the parameter value, case-insensitively.
    pub fn parse(s: &str) -> Result<BodyType, ParameterError> {
        match s.to_ascii_uppercase().as_str() {
            "7BIT" => Ok(BodyType::SevenBit),
            "8BITMIME" => Ok(BodyType::EightBitMime),
            "BINARYMIME" => Ok(BodyType::BinaryMime),
            _ => Err(ParameterError::Value("BODY")),
        }
    }

    /// The wire form.
    pub fn as_str(&self) -> &'static str {
        match self {
            BodyType::SevenBit => "7BIT",
            BodyType::EightBitMime => "8BITMIME",
            BodyType::BinaryMime => "BINARYMIME",
        }
    }
}

/// `RET=` (RFC 3461): how much of the message a DSN returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ret {
    /// `FULL`.
    Full,
    /// `HDRS`.
    Headers,
}

impl Ret {
    /// Parses the parameter value, case-insensitively.
    pub fn parse(s: &str) -> Result<Ret, ParameterError> {
        match s.to_ascii_uppercase().as_str() {
            "FULL" => Ok(Ret::Full),
            "HDRS" => Ok(Ret::Headers),
            _ => Err(ParameterError::Value("RET")),
        }
    }
}

/// `NOTIFY=` (RFC 3461): when to send a DSN for a recipient.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Notify {
    /// `NEVER`.
    Never,
    /// Some of `SUCCESS`, `FAILURE`, `DELAY` (at least one).
    On {
        /// `SUCCESS`.
        success: bool,
        /// `FAILURE`.
        failure: bool,
        /// `DELAY`.
        delay: bool,
    },
}

impl Notify {
    /// Parses `NEVER` or a comma list of `SUCCESS`, `FAILURE`, `DELAY`.
    pub fn parse(s: &str) -> Result<Notify, ParameterError> {
        let err = ParameterError::Value("NOTIFY");
        if s.eq_ignore_ascii_case("NEVER") {
            return Ok(Notify::Never);
        }
        let (mut success, mut failure, mut delay) = (false, false, false);
        for item in s.split(',') {
            let flag = match item.to_ascii_uppercase().as_str() {
                "SUCCESS" => &mut success,
                "FAILURE" => &mut failure,
                "DELAY" => &mut delay,
                _ => return Err(err),
            };
            if *flag {
                return Err(err);
            }
            *flag = true;
        }
        Ok(Notify::On {
            success,
            failure,
            delay,
        })
    }
}

impl fmt::Display for Notify {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Notify::Never => f.write_str("NEVER"),
            Notify::On {
                success,
                failure,
                delay,
            } => {
                let items: Vec<&str> =
                    [(success, "SUCCESS"), (failure, "FAILURE"), (delay, "DELAY")]
                        .into_iter()
                        .filter(|(on, _)| **on)
                        .map(|(_, s)| s)
                        .collect();
                f.write_str(&items.join(","))
            }
        }
    }
}

/// Decodes RFC 3461 xtext (`+XX` hex escapes); refuses characters outside xtext.
pub fn xtext_decode(s: &str) -> Result<String, ParameterError> {
    let err = ParameterError::Value("xtext");
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => {
                let hex = s.get(i + 1..i + 3).ok_or(err.clone())?;
                if !hex
                    .bytes()
                    .all(|c| c.is_ascii_digit() || (b'A'..=b'F').contains(&c))
                {
                    return Err(err);
                }
                out.push(u8::from_str_radix(hex, 16).map_err(|_| err.clone())?);
                i += 3;
            }
            c @ (b'!'..=b'*' | b','..=b'<' | b'>'..=b'~') => {
                out.push(c);
                i += 1;
            }
            _ => return Err(err),
        }
    }
    String::from_utf8(out).map_err(|_| err)
}

/// Encodes as RFC 3461 xtext.
pub fn xtext_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if (b'!'..=b'~').contains(&b) && b != b'+' && b != b'=' {
            out.push(b as char);
        } else {
            out.push_str(&format!("+{b:02X}"));
        }
    }
    out
}

/// An `ORCPT=` value (RFC 3461): address type and the original address, decoded.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OriginalRecipient {
    /// The address type, e.g. `rfc822` or `utf-8`.
    pub addr_type: String,
    /// The original address.
    pub address: String,
}

/// Parameters of `MAIL FROM`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MailParameters {
    /// `SIZE=`: the declared message size in octets.
    pub size: Option<u64>,
    /// `BODY=`.
    pub body: Option<BodyType>,
    /// `SMTPUTF8` was given.
    pub smtputf8: bool,
    /// `RET=`.
    pub ret: Option<Ret>,
    /// `ENVID=`, xtext-decoded.
    pub envid: Option<String>,
    /// `AUTH=` (RFC 4954): the authenticated submitter, `None` inside for `<>`.
    pub auth: Option<Option<EmailAddress>>,
    /// Parameters we do not interpret: uppercase keyword and optional value.
    pub other: Vec<(String, Option<String>)>,
}

/// Parameters of `RCPT TO`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RcptParameters {
    /// `NOTIFY=`.
    pub notify: Option<Notify>,
    /// `ORCPT=`.
    pub orcpt: Option<OriginalRecipient>,
    /// Parameters we do not interpret.
    pub other: Vec<(String, Option<String>)>,
}

/// One recipient of the envelope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recipient {
    /// The forward path.
    pub path: ForwardPath,
    /// Its parameters.
    pub params: RcptParameters,
}

impl Recipient {
    /// A recipient without parameters.
    pub fn new(address: EmailAddress) -> Recipient {
        Recipient {
            path: ForwardPath::Address(address),
            params: RcptParameters::default(),
        }
    }
}

/// The envelope of one mail transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// The reverse path.
    pub sender: ReversePath,
    /// `MAIL FROM` parameters.
    pub params: MailParameters,
    /// The recipients accepted so far, in order.
    pub recipients: Vec<Recipient>,
}

impl Envelope {
    /// An envelope with no recipients yet.
    pub fn new(sender: ReversePath, params: MailParameters) -> Envelope {
        Envelope {
            sender,
            params,
            recipients: Vec::new(),
        }
    }

    /// Whether any address in the envelope needs SMTPUTF8.
    pub fn needs_smtputf8(&self) -> bool {
        self.sender.address().is_some_and(|a| !a.is_ascii_local())
            || self
                .recipients
                .iter()
                .any(|r| r.path.address().is_some_and(|a| !a.is_ascii_local()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params() {
        assert_eq!(BodyType::parse("8bitmime"), Ok(BodyType::EightBitMime));
        assert!(BodyType::parse("9BIT").is_err());
        assert_eq!(
            Notify::parse("success,DELAY"),
            Ok(Notify::On {
                success: true,
                failure: false,
                delay: true
            })
        );
        assert!(Notify::parse("NEVER,SUCCESS").is_err());
        assert!(Notify::parse("SUCCESS,SUCCESS").is_err());
        assert_eq!(Notify::parse("FAILURE").unwrap().to_string(), "FAILURE");
        assert_eq!(xtext_decode("a+2Bb+3D").as_deref(), Ok("a+b="));
        assert!(xtext_decode("a+2").is_err());
        assert!(xtext_decode("a b").is_err());
        assert_eq!(xtext_decode(&xtext_encode("x=y+z é")).unwrap(), "x=y+z é");
    }

    #[test]
    fn smtputf8_needed() {
        let mut e = Envelope::new(ReversePath::Null, MailParameters::default());
        e.recipients
            .push(Recipient::new("a@例子.测试".parse().unwrap()));
        assert!(!e.needs_smtputf8());
        e.recipients
            .push(Recipient::new("用户@example.com".parse().unwrap()));
        assert!(e.needs_smtputf8());
    }
}
