//! Inbound message authentication: SPF (RFC 7208), DKIM (RFC 6376) and DMARC (RFC 7489),
//! verified with [`mail_auth`] and recorded in an `Authentication-Results:` header field
//! (RFC 8601) on every message received from another server.
//!
//! ```text
//!  Event::Message ─► submission (authenticated) or peer unknown? ─► Continue
//!        │ no
//!        ▼                  one DNS deadline for all three (DEFAULT_DNS_TIMEOUT)
//!  DKIM (each DKIM-Signature) ─► SPF (MAIL FROM, or postmaster@HELO) ─► DMARC (From: domain)
//!        │
//!        ▼
//!  Verdicts ─► Action::Modify([AddHeader("Authentication-Results: mx.example.org; dkim=…; spf=…; dmarc=…")])
//! ```
//!
//! The hook never refuses a message by itself: a DNS failure, a timeout or an unparsable
//! message becomes `temperror`/`permerror`/`none` in the header and delivery goes on.
//! Acting on the results (for example enforcing a DMARC `p=reject`) is a separate policy,
//! which can call [`AuthenticationHook::verify`] and read the [`Verdicts`].
//!
//! All DNS work for one message shares one deadline ([`DEFAULT_DNS_TIMEOUT`], configurable
//! with [`AuthenticationHook::with_timeout`]); a check that does not finish in time, and every
//! check after it, is recorded as `temperror`.
//!
//! # Example
//!
//! ```no_run
//! use mailcore::address::ReversePath;
//! use mailcore::hook::HookChain;
//! use mailcore_policy::authentication::{AuthResult, AuthenticationHook, DmarcPolicy, Resolver};
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! // Our authserv-id, and the resolvers of /etc/resolv.conf.
//! let hook = AuthenticationHook::new("mx.example.org", Resolver::System)?;
//!
//! // A later policy can look at the verdicts itself …
//! let sender = ReversePath::parse("<alice@example.test>")?;
//! let raw = b"From: alice@example.test\r\nSubject: hi\r\n\r\nhello\r\n";
//! let verdicts = hook
//!     .verify("192.0.2.1".parse()?, Some("mail.example.test"), &sender, raw)
//!     .await;
//! if verdicts.dmarc == AuthResult::Fail && verdicts.dmarc_policy == Some(DmarcPolicy::Reject) {
//!     println!("would refuse: {}", verdicts.header_value());
//! }
//!
//! // … while the hook in a chain adds the Authentication-Results header to inbound mail.
//! let mut chain = HookChain::new();
//! chain.push(hook);
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::ptr;
use std::time::Duration;

use async_trait::async_trait;
use mail_auth::dkim::{DkimError, Signature};
use mail_auth::dmarc::Policy;
use mail_auth::dmarc::verify::DmarcParameters;
use mail_auth::hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts,
};
use mail_auth::hickory_resolver::system_conf::read_system_conf;
use mail_auth::spf::verify::SpfParameters;
use mail_auth::{
    AuthenticatedMessage, AuthenticationResults, DkimOutput, DkimResult, DmarcOutput, DmarcResult,
    DnsError, MessageAuthenticator, SpfOutput, SpfResult,
};
use mailcore::address::{EmailAddress, ReversePath};
use mailcore::hook::{Action, Event, Hook, Modification, NewHeader, Stage, StageSet};
use tokio::time::{Instant, timeout_at};

/// The name of the header field the hook adds (RFC 8601).
pub const HEADER_NAME: &str = "Authentication-Results";

/// How long all DNS work for one message (DKIM keys, SPF records, DMARC policy) may take in
/// total before the checks still open are recorded as `temperror`.
pub const DEFAULT_DNS_TIMEOUT: Duration = Duration::from_secs(5);

/// How long one DNS query may take before the resolver gives up on it (and retries, while the
/// message's [deadline](DEFAULT_DNS_TIMEOUT) allows).
const DNS_QUERY_TIMEOUT: Duration = Duration::from_secs(2);

/// The longest authserv-id accepted (a host name).
const MAX_AUTHSERV_ID_LEN: usize = 255;

/// Why an [`AuthenticationHook`] could not be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthenticationError {
    /// The authserv-id is not a host name (1–255 letters, digits, `-`, `_` and `.`).
    #[error("invalid authserv-id {0:?}: expected a host name")]
    AuthservId(String),
    /// The DNS resolver could not be set up (for example, an unreadable `/etc/resolv.conf`).
    #[error("cannot set up the DNS resolver: {0}")]
    Resolver(String),
}

/// Which DNS resolver the checks use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Resolver {
    /// The system's resolvers (`/etc/resolv.conf` on Unix).
    #[default]
    System,
    /// One recursive resolver at this address (UDP, with TCP for truncated answers).
    Nameserver(SocketAddr),
}

impl Resolver {
    /// The hickory-resolver configuration and options for this choice: `/etc/resolv.conf` for
    /// [`Resolver::System`], one nameserver over UDP and TCP for [`Resolver::Nameserver`].
    /// Callers tune the options (timeouts, cache) themselves. The error is the reason the
    /// system configuration could not be read.
    pub(crate) fn hickory_config(self) -> Result<(ResolverConfig, ResolverOpts), String> {
        match self {
            Resolver::System => read_system_conf().map_err(|e| e.to_string()),
            Resolver::Nameserver(address) => {
                let mut udp = ConnectionConfig::udp();
                udp.port = address.port();
                let mut tcp = ConnectionConfig::tcp();
                tcp.port = address.port();
                let server = NameServerConfig::new(address.ip(), true, vec![udp, tcp]);
                Ok((
                    ResolverConfig::from_name_servers(vec![server]),
                    ResolverOpts::default(),
                ))
            }
        }
    }
}

/// The result of one check, as the RFC 8601 result keywords name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthResult {
    /// The check passed.
    Pass,
    /// The check failed: the sender is not authorised, a signature does not verify, or DMARC
    /// found no aligned pass.
    Fail,
    /// SPF only: the domain says the host is probably not authorised (`~all`).
    SoftFail,
    /// The domain makes no assertion (SPF `?all`), or a DKIM signature could not be processed.
    Neutral,
    /// Nothing to check: no SPF record, no DKIM signature, no DMARC record.
    None,
    /// A transient error, typically DNS trouble or the DNS deadline; a later retry may succeed.
    TempError,
    /// A permanent error: a malformed record or signature.
    PermError,
}

impl AuthResult {
    /// The RFC 8601 keyword (`pass`, `fail`, `softfail`, `neutral`, `none`, `temperror`,
    /// `permerror`).
    pub fn as_str(self) -> &'static str {
        match self {
            AuthResult::Pass => "pass",
            AuthResult::Fail => "fail",
            AuthResult::SoftFail => "softfail",
            AuthResult::Neutral => "neutral",
            AuthResult::None => "none",
            AuthResult::TempError => "temperror",
            AuthResult::PermError => "permerror",
        }
    }
}

impl fmt::Display for AuthResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a DMARC record asks receivers to do with mail that fails DMARC (after applying its
/// `sp`/`np` sub-domain policies and the `t=y` test mode).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DmarcPolicy {
    /// `p=none`: monitor only.
    None,
    /// `p=quarantine`: treat as suspicious.
    Quarantine,
    /// `p=reject`: refuse.
    Reject,
}

impl DmarcPolicy {
    /// The record's keyword (`none`, `quarantine`, `reject`).
    pub fn as_str(self) -> &'static str {
        match self {
            DmarcPolicy::None => "none",
            DmarcPolicy::Quarantine => "quarantine",
            DmarcPolicy::Reject => "reject",
        }
    }
}

/// The outcome of verifying one message, for the header and for later policies.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Verdicts {
    /// SPF for the `MAIL FROM` identity (or `postmaster@` the HELO name for a null sender).
    pub spf: AuthResult,
    /// DKIM over all signatures: `pass` if any signature verified, otherwise the most telling
    /// failure (`fail`, then `temperror`, `permerror`, `neutral`); `none` without signatures.
    pub dkim: AuthResult,
    /// The signing domains (`d=`) of the DKIM signatures that verified.
    pub dkim_domains: Vec<String>,
    /// DMARC for the `From:` domain: `pass` with an aligned SPF or DKIM pass, `fail` when the
    /// domain publishes a record and nothing aligned passed, `none` without a record.
    pub dmarc: AuthResult,
    /// The policy of the `From:` domain's DMARC record, if it has one.
    pub dmarc_policy: Option<DmarcPolicy>,
    /// The `From:` header domain DMARC was evaluated for, if the message has a single one.
    pub from_domain: Option<String>,
    header: String,
}

impl Verdicts {
    /// The `Authentication-Results` field value: one line, starting with the authserv-id.
    pub fn header_value(&self) -> &str {
        &self.header
    }

    /// The `Authentication-Results` header field to add to the message.
    pub fn to_header(&self) -> Result<NewHeader, mailcore::hook::HookError> {
        NewHeader::new(HEADER_NAME, &self.header)
    }
}

/// Verifies SPF, DKIM and DMARC on inbound messages and adds an `Authentication-Results`
/// header field. See the [module docs](self).
#[derive(Clone)]
pub struct AuthenticationHook {
    authenticator: MessageAuthenticator,
    authserv_id: String,
    timeout: Duration,
}

impl fmt::Debug for AuthenticationHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthenticationHook")
            .field("authserv_id", &self.authserv_id)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl AuthenticationHook {
    /// A hook that names itself `authserv_id` (our host name) in the header and resolves with
    /// `resolver`.
    pub fn new(authserv_id: &str, resolver: Resolver) -> Result<Self, AuthenticationError> {
        if authserv_id.is_empty()
            || authserv_id.len() > MAX_AUTHSERV_ID_LEN
            || !authserv_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        {
            return Err(AuthenticationError::AuthservId(authserv_id.to_owned()));
        }
        let (config, mut options) = resolver
            .hickory_config()
            .map_err(AuthenticationError::Resolver)?;
        options.timeout = options.timeout.min(DNS_QUERY_TIMEOUT);
        let authenticator = MessageAuthenticator::new(config, options)
            .map_err(|e| AuthenticationError::Resolver(e.to_string()))?;
        Ok(AuthenticationHook {
            authenticator,
            authserv_id: authserv_id.to_owned(),
            timeout: DEFAULT_DNS_TIMEOUT,
        })
    }

    /// A hook that asks the nameserver at `nameserver` (tests, or a configured local resolver).
    pub fn with_nameserver(
        authserv_id: &str,
        nameserver: SocketAddr,
    ) -> Result<Self, AuthenticationError> {
        AuthenticationHook::new(authserv_id, Resolver::Nameserver(nameserver))
    }

    /// Sets the DNS deadline per message (default [`DEFAULT_DNS_TIMEOUT`]).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Our authserv-id, the first token of the header value.
    pub fn authserv_id(&self) -> &str {
        &self.authserv_id
    }

    /// The DNS deadline per message.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Verifies a message received from `peer`, which said `HELO`/`EHLO` `helo` and
    /// `MAIL FROM` `sender`; `raw` is the message as received. Never fails: problems are
    /// results (`temperror`, `permerror`, `none`).
    pub async fn verify(
        &self,
        peer: IpAddr,
        helo: Option<&str>,
        sender: &ReversePath,
        raw: &[u8],
    ) -> Verdicts {
        let deadline = Instant::now() + self.timeout;
        let peer = peer.to_canonical();
        let helo = helo.map(str::trim).unwrap_or_default();
        let mail_from = sender
            .address()
            .map(EmailAddress::to_ascii_domain_string)
            .unwrap_or_default();
        // RFC 7208 §2.4: a null reverse path is checked as postmaster@<HELO name>.
        let spf_identity = match (mail_from.is_empty(), helo.is_empty()) {
            (false, _) => Some(mail_from.clone()),
            (true, false) => Some(format!("postmaster@{helo}")),
            (true, true) => None,
        };
        let spf_domain = spf_identity
            .as_deref()
            .and_then(|s| s.rsplit_once('@'))
            .map(|(_, domain)| domain)
            .unwrap_or_default();
        let message = AuthenticatedMessage::parse(raw);
        let mut late = false;

        let dkim: Vec<DkimOutput<'_>> = match &message {
            None => Vec::new(),
            Some(message) => {
                match timeout_at(deadline, self.authenticator.verify_dkim(message)).await {
                    Ok(outputs) => body_hash_mismatch_is_fail(message, outputs),
                    Err(_) => {
                        late = true;
                        vec![DkimOutput::temp_err(deadline_error())]
                    }
                }
            }
        };

        let spf = match spf_identity.as_deref() {
            None => SpfOutput::new(String::new()).with_result(SpfResult::None),
            Some(_) if late => {
                SpfOutput::new(spf_domain.to_owned()).with_result(SpfResult::TempError)
            }
            Some(identity) => {
                let params =
                    SpfParameters::verify_mail_from(peer, helo, &self.authserv_id, identity);
                match timeout_at(deadline, self.authenticator.verify_spf(params)).await {
                    Ok(output) => output,
                    Err(_) => {
                        late = true;
                        SpfOutput::new(spf_domain.to_owned()).with_result(SpfResult::TempError)
                    }
                }
            }
        };

        let dmarc = match &message {
            None => DmarcOutput::default(),
            Some(message) => {
                let timed_out = || {
                    let from_domain = message
                        .from()
                        .rsplit_once('@')
                        .map(|(_, d)| d.to_ascii_lowercase())
                        .unwrap_or_default();
                    DmarcOutput::new(from_domain)
                        .with_spf_result(DmarcResult::TempError(deadline_error()))
                        .with_dkim_result(DmarcResult::TempError(deadline_error()))
                };
                if late {
                    timed_out()
                } else {
                    let params = DmarcParameters::new(message, &dkim, spf_domain, &spf);
                    timeout_at(deadline, self.authenticator.verify_dmarc(params))
                        .await
                        .unwrap_or_else(|_| timed_out())
                }
            }
        };

        let spf_result = spf_result(spf.result());
        let dkim_result = dkim_result(&dkim);
        let dmarc_result = dmarc_result(&dmarc, dkim_result);
        let dmarc_policy = dmarc.dmarc_record().map(|_| match dmarc.policy() {
            Policy::Reject => DmarcPolicy::Reject,
            Policy::Quarantine => DmarcPolicy::Quarantine,
            Policy::None | Policy::Unspecified => DmarcPolicy::None,
        });
        let from_domain = Some(dmarc.domain())
            .filter(|d| !d.is_empty())
            .map(str::to_owned);

        // DKIM and SPF in mail-auth's words (with RFC 8601 comments); DMARC in ours, because
        // mail-auth writes `dmarc=none` when a record exists but nothing passed.
        let header_from = message.as_ref().map_or("", |m| m.from());
        let mut results = AuthenticationResults::new(&self.authserv_id);
        if !dkim.is_empty() {
            results = results.with_dkim_results(&dkim, header_from);
        }
        results = results.with_spf_mailfrom_result(&spf, peer, &mail_from, helo);
        let mut header = one_line(&results.to_string());
        if dkim.is_empty() {
            header.insert_str(self.authserv_id.len(), "; dkim=none");
        }
        header.push_str("; dmarc=");
        header.push_str(dmarc_result.as_str());
        if let Some(domain) = &from_domain {
            header.push_str(" header.from=");
            push_pvalue(&mut header, domain);
        }
        if let Some(policy) = dmarc_policy {
            header.push_str(" policy.dmarc=");
            header.push_str(policy.as_str());
        }

        Verdicts {
            spf: spf_result,
            dkim: dkim_result,
            dkim_domains: dkim
                .iter()
                .filter(|o| *o.result() == DkimResult::Pass)
                .filter_map(|o| o.signature().map(|s| s.d.to_ascii_lowercase()))
                .collect(),
            dmarc: dmarc_result,
            dmarc_policy,
            from_domain,
            header,
        }
    }
}

#[async_trait]
impl Hook for AuthenticationHook {
    fn name(&self) -> &str {
        "authentication"
    }

    fn stages(&self) -> StageSet {
        StageSet::of(&[Stage::Message])
    }

    async fn on_event(&self, event: &Event<'_>) -> Action {
        let Event::Message {
            session,
            envelope,
            message,
        } = event
        else {
            return Action::Continue;
        };
        // Submission: our own user, nothing to verify.
        if session.authenticated.is_some() {
            return Action::Continue;
        }
        let Some(peer) = session.peer else {
            return Action::Continue;
        };
        let verdicts = self
            .verify(
                peer.ip(),
                session.helo.as_deref(),
                &envelope.sender,
                message.raw(),
            )
            .await;
        match verdicts.to_header() {
            Ok(header) => Action::Modify(vec![Modification::AddHeader(header)]),
            // Unreachable: the value is made one line above. Never refuse over it.
            Err(_) => Action::Continue,
        }
    }
}

/// The error recorded for checks cut off by the DNS deadline.
fn deadline_error() -> mail_auth::Error {
    mail_auth::Error::Dns(DnsError::Resolver("DNS deadline exceeded".to_owned()))
}

/// RFC 6376 §6.1.3: a body hash that does not match is a failed signature (`fail`), which
/// mail-auth reports as `neutral`.
fn body_hash_mismatch_is_fail<'m>(
    message: &'m AuthenticatedMessage<'m>,
    outputs: Vec<DkimOutput<'m>>,
) -> Vec<DkimOutput<'m>> {
    outputs
        .into_iter()
        .map(|output| {
            let mismatch = *output.result()
                == DkimResult::Neutral(mail_auth::Error::Dkim(DkimError::FailedBodyHashMatch));
            // The signature borrowed from the message itself, to keep it in the new output.
            let signature: Option<&'m Signature> = output.signature().and_then(|s| {
                message
                    .dkim_headers
                    .iter()
                    .map(|h| &h.header)
                    .find(|h| ptr::eq(*h, s))
            });
            match (mismatch, signature) {
                (true, Some(signature)) => {
                    DkimOutput::fail(mail_auth::Error::Dkim(DkimError::FailedBodyHashMatch))
                        .with_signature(signature)
                }
                _ => output,
            }
        })
        .collect()
}

fn spf_result(result: SpfResult) -> AuthResult {
    match result {
        SpfResult::Pass => AuthResult::Pass,
        SpfResult::Fail => AuthResult::Fail,
        SpfResult::SoftFail => AuthResult::SoftFail,
        SpfResult::Neutral => AuthResult::Neutral,
        SpfResult::TempError => AuthResult::TempError,
        SpfResult::PermError => AuthResult::PermError,
        SpfResult::None => AuthResult::None,
    }
}

fn dkim_result(outputs: &[DkimOutput<'_>]) -> AuthResult {
    // Lower rank is more telling.
    let rank = |r: AuthResult| match r {
        AuthResult::Pass => 0,
        AuthResult::Fail => 1,
        AuthResult::TempError => 2,
        AuthResult::PermError => 3,
        AuthResult::Neutral => 4,
        _ => 5,
    };
    outputs
        .iter()
        .map(|o| match o.result() {
            DkimResult::Pass => AuthResult::Pass,
            DkimResult::Fail(_) => AuthResult::Fail,
            DkimResult::Neutral(_) => AuthResult::Neutral,
            DkimResult::PermError(_) => AuthResult::PermError,
            DkimResult::TempError(_) => AuthResult::TempError,
            DkimResult::None => AuthResult::None,
        })
        .min_by_key(|r| rank(*r))
        .unwrap_or(AuthResult::None)
}

/// RFC 7489 §6.6.2: pass with an aligned pass; otherwise, with a record, fail — or temperror
/// when an identifier could not be checked for a transient reason.
fn dmarc_result(output: &DmarcOutput, dkim: AuthResult) -> AuthResult {
    let (spf, dkim_aligned) = (output.spf_result(), output.dkim_result());
    let temp = |r: &DmarcResult| matches!(r, DmarcResult::TempError(_));
    let perm = |r: &DmarcResult| matches!(r, DmarcResult::PermError(_));
    if *spf == DmarcResult::Pass || *dkim_aligned == DmarcResult::Pass {
        AuthResult::Pass
    } else if temp(spf) || temp(dkim_aligned) {
        AuthResult::TempError
    } else if perm(spf) || perm(dkim_aligned) {
        AuthResult::PermError
    } else if output.dmarc_record().is_none() {
        AuthResult::None
    } else if dkim == AuthResult::TempError {
        AuthResult::TempError
    } else {
        AuthResult::Fail
    }
}

/// Makes a header value one line: every run of white space or control characters (mail-auth
/// folds with CRLF TAB) becomes one space.
fn one_line(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut gap = false;
    for c in value.chars() {
        if c.is_whitespace() || c.is_control() {
            gap = true;
            continue;
        }
        if gap && !out.is_empty() {
            out.push(' ');
        }
        gap = false;
        out.push(c);
    }
    out
}

/// Appends `value` as an RFC 8601 pvalue: a bare token when it is one, else a quoted string.
fn push_pvalue(out: &mut String, value: &str) {
    let token = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if token {
        out.push_str(value);
        return;
    }
    out.push('"');
    for c in value.chars().filter(|c| !c.is_control()) {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_unfolds() {
        assert_eq!(
            one_line("mx.example.org;\r\n\tdkim=pass;\r\n\tspf=fail (x\r\n y)"),
            "mx.example.org; dkim=pass; spf=fail (x y)"
        );
        assert_eq!(one_line("a\0b\n"), "a b");
    }

    #[test]
    fn pvalues() {
        let mut s = String::new();
        push_pvalue(&mut s, "example.test");
        push_pvalue(&mut s, "a b\"\r\n");
        assert_eq!(s, "example.test\"a b\\\"\"");
    }

    #[test]
    fn authserv_id_is_checked() {
        let ns = SocketAddr::from(([127, 0, 0, 1], 53));
        assert!(matches!(
            AuthenticationHook::with_nameserver("mx example.org", ns),
            Err(AuthenticationError::AuthservId(_))
        ));
        assert!(AuthenticationHook::with_nameserver("", ns).is_err());
        let hook = AuthenticationHook::with_nameserver("mx.example.org", ns).unwrap();
        assert_eq!(hook.authserv_id(), "mx.example.org");
        assert_eq!(hook.timeout(), DEFAULT_DNS_TIMEOUT);
    }

    #[test]
    fn dkim_aggregate() {
        assert_eq!(dkim_result(&[]), AuthResult::None);
        let outputs = [
            DkimOutput::neutral(mail_auth::Error::ParseError),
            DkimOutput::fail(mail_auth::Error::ParseError),
        ];
        assert_eq!(dkim_result(&outputs), AuthResult::Fail);
        let outputs = [DkimOutput::temp_err(deadline_error()), DkimOutput::pass()];
        assert_eq!(dkim_result(&outputs), AuthResult::Pass);
    }
}
