//! SASL PLAIN (RFC 4616) and LOGIN as used by SMTP AUTH (RFC 4954), with strict base64.

/// Credentials a client presented.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The authorization identity, if different from the authentication identity.
    pub authzid: Option<String>,
    /// The authentication identity (user name).
    pub authcid: String,
    /// The password.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("authzid", &self.authzid)
            .field("authcid", &self.authcid)
            .field("password", &"<hidden>")
            .finish()
    }
}

/// Longest SASL response accepted, in base64 characters.
pub const MAX_RESPONSE_LEN: usize = 4096;

/// Decodes strict base64 (RFC 4648 alphabet, padding required, no whitespace); `=` alone is
/// the empty response (RFC 4954).
pub fn decode_base64(s: &str) -> Option<Vec<u8>> {
    if s == "=" {
        return Some(Vec::new());
    }
    if s.is_empty() || !s.len().is_multiple_of(4) || s.len() > MAX_RESPONSE_LEN {
        return None;
    }
    let body = s.trim_end_matches('=');
    if s.len() - body.len() > 2
        || !body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
    {
        return None;
    }
    let (decoded, junk) = mailcore::message::transfer::decode_base64(s.as_bytes());
    (!junk).then_some(decoded)
}

/// Encodes base64 (for server challenges).
pub fn encode_base64(b: &[u8]) -> String {
    mailcore::message::transfer::encode_base64(b)
}

/// Parses a PLAIN response: `authzid NUL authcid NUL password`.
pub fn parse_plain(response: &[u8]) -> Option<Credentials> {
    let mut parts = response.split(|&b| b == 0);
    let (authzid, authcid, password) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || authcid.is_empty() {
        return None;
    }
    let text = |b: &[u8]| String::from_utf8(b.to_vec()).ok();
    Some(Credentials {
        authzid: (!authzid.is_empty()).then(|| text(authzid)).flatten(),
        authcid: text(authcid)?,
        password: text(password)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain() {
        let c = parse_plain(&decode_base64("AHRpbQB0YW5zdGFhZnRhbnN0YWFm").unwrap()).unwrap();
        assert_eq!(
            (c.authzid, c.authcid.as_str(), c.password.as_str()),
            (None, "tim", "tanstaaftanstaaf")
        );
        assert!(parse_plain(b"\0\0pw").is_none());
        assert!(parse_plain(b"a\0b").is_none());
        assert!(decode_base64("AHRpbQ*0").is_none());
        assert!(decode_base64("abc").is_none());
        assert_eq!(decode_base64("="), Some(vec![]));
        assert!(!format!("{:?}", parse_plain(b"\0u\0secret").unwrap()).contains("secret"));
    }
}
