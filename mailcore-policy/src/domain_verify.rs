//! Domain verification: before a customer's domain receives mail here, real DNS must show
//! that the domain is set up for the service. Four checks, each with a structured report:
//!
//! ```text
//!  VerifyRequest ─► DomainVerifier::verify ─► five DNS look-ups, concurrently, each bounded
//!                                             by the look-up timeout (DEFAULT_LOOKUP_TIMEOUT)
//!    MX   <domain>                         ─► MxReport    (missing / extra / wrong priority)
//!    TXT  <domain>                         ─► SPF         (one v=spf1 with include:<spf_include>)
//!    CNAME, TXT <label>.<domain>, TXT <domain> ─► ownership (token in CNAME target or TXT)
//!    TXT  <selector>._domainkey.<domain>   ─► DKIM        (v=DKIM1 key, optionally the expected p=)
//!                                          ─► VerificationReport { verified: all four Ok }
//! ```
//!
//! Each check ends in a [`CheckStatus`]: [`Ok`](CheckStatus::Ok), [`Missing`](CheckStatus::Missing)
//! (no record), [`Mismatch`](CheckStatus::Mismatch) (records exist but are wrong) or
//! [`DnsError`](CheckStatus::DnsError) (a look-up failed or timed out; NXDOMAIN and "no data"
//! are not errors but absent records). Verification never fails as a whole and never panics
//! on a DNS answer: problems are statuses, with the records seen and a sentence for the admin.
//!
//! Host names are compared without regard to case or a trailing dot; a domain may be given as
//! an A-label (`xn--bcher-kva.example`) or a U-label (`bücher.example`).
//!
//! A request that cannot be checked at all (a domain that is not a domain name, an ownership
//! token that is not a DNS label, …) is refused by [`VerifyRequest::validate`]; an API should
//! call it first and answer with a client error. [`DomainVerifier::verify`] itself reports the
//! checks such a request cannot do as [`DnsError`](CheckStatus::DnsError) with a `not looked
//! up: …` detail.
//!
//! The verifier keeps no cache of its own, so "verify again" after the customer fixed the zone
//! sees what the resolver sees now.
//!
//! # Example
//!
//! ```no_run
//! use mailcore_policy::domain_verify::{DomainVerifier, ExpectedMx, Resolver, VerifyRequest};
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let verifier = DomainVerifier::new(Resolver::System)?;
//! let mut request = VerifyRequest::new("example.com", "k3x9q2", "spf.mail.example.net");
//! request.expected_mx = vec![
//!     ExpectedMx::new("mx1.mail.example.net", 10),
//!     ExpectedMx::new("mx2.mail.example.net", 20),
//! ];
//! request.dkim_selector = Some("mc2024".to_owned());
//! request.validate()?;
//! let report = verifier.verify(&request).await;
//! if !report.verified {
//!     for host in &report.mx.missing {
//!         println!("add MX {} {}", host.priority, host.host);
//!     }
//!     println!("SPF: {:?} {}", report.spf.status, report.spf.detail);
//! }
//! // The report is what the admin API returns.
//! # let _ = report;
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::rdata::CNAME;
use hickory_resolver::proto::rr::{Name, RData, RecordType};
use serde::{Deserialize, Serialize};

pub use crate::authentication::Resolver;

/// How long one DNS look-up may take before its check is reported as
/// [`DnsError`](CheckStatus::DnsError). The look-ups run concurrently, so this also bounds a
/// whole verification.
pub const DEFAULT_LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

/// The name below the domain where the ownership token is looked up when the request does not
/// name one: `mailcore-verify.<domain>`.
pub const DEFAULT_OWNERSHIP_LABEL: &str = "mailcore-verify";

/// The prefix of an ownership TXT record: `mailcore-verification=<token>`.
pub const OWNERSHIP_TXT_PREFIX: &str = "mailcore-verification=";

/// The longest ownership token accepted (it must fit in one DNS label).
const MAX_LABEL_LEN: usize = 63;

/// How long one query to one nameserver may take before the resolver retries it (within the
/// [look-up timeout](DEFAULT_LOOKUP_TIMEOUT)).
const DNS_QUERY_TIMEOUT: Duration = Duration::from_secs(2);

/// Why a [`DomainVerifier`] could not be built, or why a [`VerifyRequest`] cannot be checked.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The DNS resolver could not be set up (for example, an unreadable `/etc/resolv.conf`).
    #[error("cannot set up the DNS resolver: {0}")]
    Resolver(String),
    /// The domain is not a domain name (neither an A-label nor a U-label one).
    #[error("invalid domain {0:?}")]
    Domain(String),
    /// The ownership token is not 1–63 letters, digits, `-` or `_` (it must fit a DNS label).
    #[error("invalid ownership token {0:?}: expected 1-63 letters, digits, '-' or '_'")]
    OwnershipToken(String),
    /// The ownership label is not a DNS label.
    #[error("invalid ownership label {0:?}")]
    OwnershipLabel(String),
    /// The SPF include is not a domain name.
    #[error("invalid SPF include {0:?}: expected a domain name")]
    SpfInclude(String),
    /// The DKIM selector is not a sequence of DNS labels.
    #[error("invalid DKIM selector {0:?}")]
    DkimSelector(String),
}

/// An MX record the service expects at the customer's domain.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ExpectedMx {
    /// The mail host (compared without regard to case or a trailing dot).
    pub host: String,
    /// The MX preference the host should have (lower is preferred).
    pub priority: u16,
}

impl ExpectedMx {
    /// An expected `MX <priority> <host>`.
    pub fn new(host: impl Into<String>, priority: u16) -> Self {
        ExpectedMx {
            host: host.into(),
            priority,
        }
    }
}

/// What to verify for one customer domain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct VerifyRequest {
    /// The customer's domain, as an A-label or a U-label (`bücher.example`).
    pub domain: String,
    /// The MX records the domain must publish, exactly: any other MX host is reported as extra.
    #[serde(default)]
    pub expected_mx: Vec<ExpectedMx>,
    /// The token that proves ownership, issued by the service (1–63 letters, digits, `-`, `_`).
    pub ownership_token: String,
    /// Where the token may be published below the domain (default
    /// [`DEFAULT_OWNERSHIP_LABEL`]; empty means the default). Ownership is proved by either
    /// - a CNAME at `<label>.<domain>` whose target's first label is the token, or
    /// - a TXT record `mailcore-verification=<token>` at `<domain>` or `<label>.<domain>`.
    #[serde(default = "default_ownership_label")]
    pub ownership_label: String,
    /// The domain the customer's SPF record must include (`include:<spf_include>`), such as
    /// `spf.mail.example.net`.
    pub spf_include: String,
    /// The DKIM selector whose key must be published at `<selector>._domainkey.<domain>`.
    /// Without one the DKIM check is [`Missing`](CheckStatus::Missing).
    #[serde(default)]
    pub dkim_selector: Option<String>,
    /// The expected public key: the base64 `p=` value (white space ignored). Without one, any
    /// `v=DKIM1` record with a non-empty `p=` passes.
    #[serde(default)]
    pub dkim_public_key: Option<String>,
}

fn default_ownership_label() -> String {
    DEFAULT_OWNERSHIP_LABEL.to_owned()
}

impl VerifyRequest {
    /// A request for `domain` with the ownership token and SPF include the service issued, the
    /// default ownership label, no expected MX records and no DKIM selector.
    pub fn new(
        domain: impl Into<String>,
        ownership_token: impl Into<String>,
        spf_include: impl Into<String>,
    ) -> Self {
        VerifyRequest {
            domain: domain.into(),
            expected_mx: Vec::new(),
            ownership_token: ownership_token.into(),
            ownership_label: default_ownership_label(),
            spf_include: spf_include.into(),
            dkim_selector: None,
            dkim_public_key: None,
        }
    }

    /// Checks that every name in the request can be looked up: the domain, the ownership token
    /// and label, the SPF include and the DKIM selector.
    pub fn validate(&self) -> Result<(), VerifyError> {
        let plan = Plan::new(self);
        plan.domain.map(|_| ())?;
        plan.ownership.map(|_| ())?;
        plan.spf_include.map(|_| ())?;
        if let Some(dkim) = plan.dkim {
            dkim?;
        }
        Ok(())
    }

    /// The domain in the form it is looked up: lower-case A-labels, without a trailing dot.
    pub fn ascii_domain(&self) -> Result<String, VerifyError> {
        ascii_domain(&self.domain).ok_or_else(|| VerifyError::Domain(self.domain.clone()))
    }
}

/// The outcome of one check.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CheckStatus {
    /// The domain is set up as expected.
    Ok,
    /// No record at all where one is expected (NXDOMAIN or no data).
    Missing,
    /// Records exist but are not the expected ones.
    Mismatch,
    /// A look-up failed or timed out (other than NXDOMAIN or no data), or could not be done
    /// because the request is invalid (see [`VerifyRequest::validate`]). Retry later.
    DnsError,
}

/// An MX record as published.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MxRecord {
    /// The mail host: lower case, without the trailing dot; `.` for a null MX (RFC 7505).
    pub host: String,
    /// The MX preference.
    pub priority: u16,
}

/// An expected MX host published with another priority.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct WrongPriority {
    /// The mail host (lower case, without the trailing dot).
    pub host: String,
    /// The priority the service expects.
    pub expected: u16,
    /// The priority published (the lowest one, if the host is published more than once).
    pub found: u16,
}

/// The MX check: which expected hosts are missing, which published ones are extra, which are
/// at the wrong priority.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MxReport {
    /// [`Ok`](CheckStatus::Ok) when the published MX set is exactly the expected one;
    /// [`Missing`](CheckStatus::Missing) when the domain has no MX record;
    /// [`Mismatch`](CheckStatus::Mismatch) when something is missing, extra or at the wrong
    /// priority.
    pub status: CheckStatus,
    /// Every MX record published, by priority then host.
    pub found: Vec<MxRecord>,
    /// Expected hosts not published at all (host normalised: lower-case A-labels, no dot).
    pub missing: Vec<ExpectedMx>,
    /// Published hosts the service does not expect.
    pub extra: Vec<MxRecord>,
    /// Expected hosts published with another priority.
    pub wrong_priority: Vec<WrongPriority>,
    /// One sentence for the admin: what is wrong, or the DNS error.
    pub detail: String,
}

/// The ownership, SPF or DKIM check.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CheckReport {
    /// The outcome.
    pub status: CheckStatus,
    /// The relevant records seen. Ownership: `<name> CNAME <target>` and `<name> TXT <text>`
    /// (the CNAME and TXT records at `<label>.<domain>` and the `mailcore-verification=` TXT
    /// records at the domain); SPF: the text of each `v=spf1` record; DKIM: the text of each TXT
    /// record at `<selector>._domainkey.<domain>`.
    pub found: Vec<String>,
    /// One sentence for the admin: what was found, what is wrong, or the DNS error.
    pub detail: String,
}

impl CheckReport {
    fn new(status: CheckStatus, found: Vec<String>, detail: impl Into<String>) -> Self {
        CheckReport {
            status,
            found,
            detail: detail.into(),
        }
    }
}

/// The result of verifying one domain; what the admin API returns.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct VerificationReport {
    /// The domain as looked up (lower-case A-labels, no trailing dot), or as given when it is
    /// not a domain name.
    pub domain: String,
    /// The MX check.
    pub mx: MxReport,
    /// The ownership-token check.
    pub ownership: CheckReport,
    /// The SPF check.
    pub spf: CheckReport,
    /// The DKIM key check.
    pub dkim: CheckReport,
    /// Whether all four checks are [`Ok`](CheckStatus::Ok).
    pub verified: bool,
}

/// Verifies customer domains with real DNS. See the [module docs](self).
#[derive(Clone, Debug)]
pub struct DomainVerifier {
    resolver: TokioResolver,
    timeout: Duration,
}

impl DomainVerifier {
    /// A verifier asking `resolver`, with the [default look-up timeout](DEFAULT_LOOKUP_TIMEOUT).
    pub fn new(resolver: Resolver) -> Result<Self, VerifyError> {
        let (config, mut options) = resolver.hickory_config().map_err(VerifyError::Resolver)?;
        options.timeout = options.timeout.min(DNS_QUERY_TIMEOUT);
        // Fresh answers on every verification ("verify again" after a fix).
        options.cache_size = 0;
        let resolver = TokioResolver::builder_with_config(config, TokioRuntimeProvider::default())
            .with_options(options)
            .build()
            .map_err(|e| VerifyError::Resolver(e.to_string()))?;
        Ok(DomainVerifier {
            resolver,
            timeout: DEFAULT_LOOKUP_TIMEOUT,
        })
    }

    /// Sets how long one look-up may take (default [`DEFAULT_LOOKUP_TIMEOUT`]).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The look-up timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Verifies `request`'s domain. Never fails: problems are statuses in the report.
    pub async fn verify(&self, request: &VerifyRequest) -> VerificationReport {
        let plan = Plan::new(request);
        let Ok(domain) = plan.domain.clone() else {
            let detail = format!(
                "not looked up: {}",
                VerifyError::Domain(request.domain.clone())
            );
            let not_checked = || CheckReport::new(CheckStatus::DnsError, Vec::new(), &detail);
            return VerificationReport {
                domain: request.domain.clone(),
                mx: MxReport {
                    status: CheckStatus::DnsError,
                    found: Vec::new(),
                    missing: Vec::new(),
                    extra: Vec::new(),
                    wrong_priority: Vec::new(),
                    detail: detail.clone(),
                },
                ownership: not_checked(),
                spf: not_checked(),
                dkim: not_checked(),
                verified: false,
            };
        };

        let label_name = plan.ownership.as_ref().ok().map(|o| o.name.as_str());
        let dkim_name = plan.dkim.as_ref().and_then(|d| d.as_ref().ok());
        let (mx, domain_txt, label_cname, label_txt, dkim_txt) = tokio::join!(
            self.lookup(&domain, RecordType::MX),
            self.lookup(&domain, RecordType::TXT),
            self.lookup_opt(label_name, RecordType::CNAME),
            self.lookup_opt(label_name, RecordType::TXT),
            self.lookup_opt(dkim_name.map(String::as_str), RecordType::TXT),
        );

        let mx = check_mx(&domain, &request.expected_mx, mx);
        let ownership = match &plan.ownership {
            Ok(ownership) => check_ownership(
                &domain,
                ownership,
                &domain_txt,
                label_cname.unwrap_or(Ok(Vec::new())),
                label_txt.unwrap_or(Ok(Vec::new())),
            ),
            Err(e) => not_looked_up(e),
        };
        let spf = match &plan.spf_include {
            Ok(include) => check_spf(&domain, include, &domain_txt),
            Err(e) => not_looked_up(e),
        };
        let dkim = match (&plan.dkim, dkim_txt) {
            (None, _) => CheckReport::new(
                CheckStatus::Missing,
                Vec::new(),
                "no DKIM selector given: no key to look up",
            ),
            (Some(Err(e)), _) => not_looked_up(e),
            (Some(Ok(name)), Some(answer)) => {
                check_dkim(name, request.dkim_public_key.as_deref(), answer)
            }
            // Unreachable: a valid selector is always looked up.
            (Some(Ok(name)), None) => check_dkim(name, None, Ok(Vec::new())),
        };
        let verified = [mx.status, ownership.status, spf.status, dkim.status]
            .iter()
            .all(|s| *s == CheckStatus::Ok);
        VerificationReport {
            domain,
            mx,
            ownership,
            spf,
            dkim,
            verified,
        }
    }

    /// Looks up `name` (an ASCII domain without the trailing dot) within the timeout: the
    /// records of `record_type` in the answer, none for NXDOMAIN or no data, or the error.
    async fn lookup(&self, name: &str, record_type: RecordType) -> Answer {
        let fqdn = Name::from_ascii(format!("{name}."))
            .map_err(|e| format!("{record_type} {name}: invalid name: {e}"))?;
        match tokio::time::timeout(self.timeout, self.resolver.lookup(fqdn, record_type)).await {
            Err(_) => Err(format!(
                "{record_type} {name}: no answer within {:?}",
                self.timeout
            )),
            Ok(Err(e)) if e.is_no_records_found() => Ok(Vec::new()),
            Ok(Err(e)) => Err(format!("{record_type} {name}: {e}")),
            Ok(Ok(lookup)) => Ok(lookup
                .answers()
                .iter()
                .filter(|r| r.record_type() == record_type)
                .map(|r| (owner(&r.name), r.data.clone()))
                .collect()),
        }
    }

    async fn lookup_opt(&self, name: Option<&str>, record_type: RecordType) -> Option<Answer> {
        match name {
            Some(name) => Some(self.lookup(name, record_type).await),
            None => None,
        }
    }
}

/// The records of one look-up as (owner name, data), or the error to report.
type Answer = Result<Vec<(String, RData)>, String>;

/// The names a request asks to look up, or why each cannot be.
struct Plan {
    domain: Result<String, VerifyError>,
    ownership: Result<Ownership, VerifyError>,
    spf_include: Result<String, VerifyError>,
    /// `<selector>._domainkey.<domain>`, if there is a selector.
    dkim: Option<Result<String, VerifyError>>,
}

struct Ownership {
    /// `<label>.<domain>`.
    name: String,
    token: String,
}

impl Plan {
    fn new(request: &VerifyRequest) -> Plan {
        let domain = request.ascii_domain();
        let ownership = (|| {
            let token = request.ownership_token.trim();
            if token.is_empty()
                || token.len() > MAX_LABEL_LEN
                || !token
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
            {
                return Err(VerifyError::OwnershipToken(request.ownership_token.clone()));
            }
            let label = match request.ownership_label.trim() {
                "" => DEFAULT_OWNERSHIP_LABEL,
                label => label,
            };
            let label_error = || VerifyError::OwnershipLabel(request.ownership_label.clone());
            let label = ascii_domain(label).ok_or_else(label_error)?;
            let domain = domain.clone()?;
            let name = format!("{label}.{domain}");
            if Name::from_ascii(&name).is_err() {
                return Err(label_error());
            }
            Ok(Ownership {
                name,
                token: token.to_owned(),
            })
        })();
        let spf_include = ascii_domain(&request.spf_include)
            .ok_or_else(|| VerifyError::SpfInclude(request.spf_include.clone()));
        let dkim = request.dkim_selector.as_deref().map(|selector| {
            let selector_error = || VerifyError::DkimSelector(selector.to_owned());
            let selector = ascii_domain(selector).ok_or_else(selector_error)?;
            let name = format!("{selector}._domainkey.{}", domain.clone()?);
            match Name::from_ascii(&name) {
                Ok(_) => Ok(name),
                Err(_) => Err(selector_error()),
            }
        });
        Plan {
            domain,
            ownership,
            spf_include,
            dkim,
        }
    }
}

fn not_looked_up(error: &VerifyError) -> CheckReport {
    CheckReport::new(
        CheckStatus::DnsError,
        Vec::new(),
        format!("not looked up: {error}"),
    )
}

/// `name` as lower-case A-labels without the trailing dot, if it is a domain name (one that
/// DNS can carry: labels of 1–63 octets, at most 253 octets in all).
fn ascii_domain(name: &str) -> Option<String> {
    let name = name.trim();
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() {
        return None;
    }
    let ascii = idna::domain_to_ascii(name).ok()?.to_ascii_lowercase();
    let valid = !ascii.is_empty()
        && ascii.len() <= 253
        && ascii
            .split('.')
            .all(|label| !label.is_empty() && label.len() <= MAX_LABEL_LEN)
        && ascii
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    valid.then_some(ascii)
}

/// A host name for comparison: lower case, A-labels where it converts, no trailing dot.
fn normalize_host(host: &str) -> String {
    let trimmed = host.trim();
    if trimmed == "." {
        return ".".to_owned();
    }
    ascii_domain(trimmed).unwrap_or_else(|| {
        let trimmed = trimmed.strip_suffix('.').unwrap_or(trimmed);
        trimmed.to_lowercase()
    })
}

/// The owner or target of a record as a host name: lower case, no trailing dot, `.` for root.
fn owner(name: &Name) -> String {
    if name.is_root() {
        return ".".to_owned();
    }
    let ascii = name.to_ascii().to_ascii_lowercase();
    match ascii.strip_suffix('.') {
        Some(stripped) => stripped.to_owned(),
        None => ascii,
    }
}

/// The text of a TXT record: its character-strings concatenated (RFC 7208 §3.3).
fn txt_text(data: &RData) -> Option<String> {
    match data {
        RData::TXT(txt) => {
            let bytes: Vec<u8> = txt
                .txt_data
                .iter()
                .flat_map(|s| s.iter().copied())
                .collect();
            Some(String::from_utf8_lossy(&bytes).into_owned())
        }
        _ => None,
    }
}

fn check_mx(domain: &str, expected: &[ExpectedMx], answer: Answer) -> MxReport {
    let mut report = MxReport {
        status: CheckStatus::Ok,
        found: Vec::new(),
        missing: Vec::new(),
        extra: Vec::new(),
        wrong_priority: Vec::new(),
        detail: String::new(),
    };
    let records = match answer {
        Ok(records) => records,
        Err(error) => {
            report.status = CheckStatus::DnsError;
            report.detail = error;
            return report;
        }
    };
    let mut found: Vec<MxRecord> = records
        .iter()
        .filter_map(|(_, data)| match data {
            RData::MX(mx) => Some(MxRecord {
                host: owner(&mx.exchange),
                priority: mx.preference,
            }),
            _ => None,
        })
        .collect();
    found.sort_by(|a, b| (a.priority, &a.host).cmp(&(b.priority, &b.host)));
    found.dedup();

    let mut expected: Vec<ExpectedMx> = expected
        .iter()
        .map(|e| ExpectedMx::new(normalize_host(&e.host), e.priority))
        .collect();
    expected.sort_by(|a, b| (a.priority, &a.host).cmp(&(b.priority, &b.host)));
    expected.dedup();

    for want in &expected {
        let published: Vec<u16> = found
            .iter()
            .filter(|f| f.host == want.host)
            .map(|f| f.priority)
            .collect();
        match published.iter().min() {
            None => report.missing.push(want.clone()),
            Some(_) if published.contains(&want.priority) => {}
            Some(&lowest) => report.wrong_priority.push(WrongPriority {
                host: want.host.clone(),
                expected: want.priority,
                found: lowest,
            }),
        }
    }
    report.extra = found
        .iter()
        .filter(|f| !expected.iter().any(|e| e.host == f.host))
        .cloned()
        .collect();
    report.found = found;

    if report.found.is_empty() && !expected.is_empty() {
        report.status = CheckStatus::Missing;
        report.detail = format!("no MX record at {domain}");
        return report;
    }
    let mut problems = Vec::new();
    if !report.missing.is_empty() {
        problems.push(format!(
            "missing MX {}",
            list(
                report
                    .missing
                    .iter()
                    .map(|m| format!("{} {}", m.priority, m.host))
            )
        ));
    }
    if !report.extra.is_empty() {
        problems.push(format!(
            "unexpected MX {}",
            list(
                report
                    .extra
                    .iter()
                    .map(|m| format!("{} {}", m.priority, m.host))
            )
        ));
    }
    if !report.wrong_priority.is_empty() {
        problems.push(format!(
            "wrong priority for {}",
            list(
                report
                    .wrong_priority
                    .iter()
                    .map(|w| format!("{} (expected {}, found {})", w.host, w.expected, w.found))
            )
        ));
    }
    if problems.is_empty() {
        report.detail = format!(
            "{} MX record(s) at {domain}, as expected",
            report.found.len()
        );
    } else {
        report.status = CheckStatus::Mismatch;
        report.detail = problems.join("; ");
    }
    report
}

fn list(items: impl Iterator<Item = String>) -> String {
    let mut out = String::new();
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&item);
    }
    out
}

fn check_ownership(
    domain: &str,
    ownership: &Ownership,
    domain_txt: &Answer,
    label_cname: Answer,
    label_txt: Answer,
) -> CheckReport {
    let expected_txt = format!("{OWNERSHIP_TXT_PREFIX}{}", ownership.token);
    let mut found = Vec::new();
    let mut proof = None;
    let mut errors = Vec::new();

    match &label_cname {
        Ok(records) => {
            for (name, data) in records {
                if let RData::CNAME(CNAME(target)) = data {
                    let target_text = owner(target);
                    let first = target.iter().next().unwrap_or_default();
                    if proof.is_none() && first.eq_ignore_ascii_case(ownership.token.as_bytes()) {
                        proof = Some(format!("CNAME {name} -> {target_text} carries the token"));
                    }
                    found.push(format!("{name} CNAME {target_text}"));
                }
            }
        }
        Err(e) => errors.push(e.clone()),
    }
    let mut txt = |answer: &Answer, all: bool| match answer {
        Ok(records) => {
            for (name, data) in records {
                let Some(text) = txt_text(data) else { continue };
                let relevant = all
                    || text
                        .get(..OWNERSHIP_TXT_PREFIX.len())
                        .is_some_and(|p| p.eq_ignore_ascii_case(OWNERSHIP_TXT_PREFIX));
                if !relevant {
                    continue;
                }
                if proof.is_none() && text.trim() == expected_txt {
                    proof = Some(format!("TXT at {name} carries the token"));
                }
                found.push(format!("{name} TXT {text}"));
            }
        }
        Err(e) => errors.push(e.clone()),
    };
    txt(&label_txt, true);
    txt(domain_txt, false);

    if let Some(proof) = proof {
        return CheckReport::new(CheckStatus::Ok, found, proof);
    }
    if !errors.is_empty() {
        return CheckReport::new(CheckStatus::DnsError, found, errors.join("; "));
    }
    if found.is_empty() {
        return CheckReport::new(
            CheckStatus::Missing,
            found,
            format!(
                "no ownership record: publish CNAME {name} -> {token}.<anything>, or TXT \
                 \"{expected_txt}\" at {domain} or {name}",
                name = ownership.name,
                token = ownership.token,
            ),
        );
    }
    CheckReport::new(
        CheckStatus::Mismatch,
        found,
        format!(
            "no ownership record carries the token {:?} (expected a CNAME target starting with \
             {}. or TXT \"{expected_txt}\")",
            ownership.token, ownership.token
        ),
    )
}

fn check_spf(domain: &str, include: &str, domain_txt: &Answer) -> CheckReport {
    let records = match domain_txt {
        Ok(records) => records,
        Err(e) => return CheckReport::new(CheckStatus::DnsError, Vec::new(), e.clone()),
    };
    let spf: Vec<String> = records
        .iter()
        .filter_map(|(_, data)| txt_text(data))
        .filter(|text| is_spf1(text))
        .collect();
    match spf.as_slice() {
        [] => CheckReport::new(
            CheckStatus::Missing,
            spf,
            format!("no SPF record (v=spf1) at {domain}"),
        ),
        [record] => {
            if spf_includes(record, include) {
                CheckReport::new(
                    CheckStatus::Ok,
                    spf,
                    format!("the SPF record includes {include}"),
                )
            } else {
                CheckReport::new(
                    CheckStatus::Mismatch,
                    spf,
                    format!("the SPF record at {domain} does not contain include:{include}"),
                )
            }
        }
        many => {
            let n = many.len();
            CheckReport::new(
                CheckStatus::Mismatch,
                spf,
                format!(
                    "{n} SPF records (v=spf1) at {domain}: more than one is a permerror \
                     (RFC 7208 §4.5); publish a single record with include:{include}"
                ),
            )
        }
    }
}

/// RFC 7208 §4.5: an SPF record is a TXT record that is `v=spf1` or begins `v=spf1 `.
fn is_spf1(text: &str) -> bool {
    let Some(version) = text.get(..6) else {
        return false;
    };
    version.eq_ignore_ascii_case("v=spf1") && text[6..].chars().next().is_none_or(|c| c == ' ')
}

/// Whether the record has the mechanism `include:<include>` (qualifier none or `+`).
fn spf_includes(record: &str, include: &str) -> bool {
    record.split_ascii_whitespace().skip(1).any(|term| {
        let term = term.strip_prefix('+').unwrap_or(term);
        term.get(..8)
            .is_some_and(|m| m.eq_ignore_ascii_case("include:"))
            && normalize_host(&term[8..]) == include
    })
}

fn check_dkim(name: &str, expected_key: Option<&str>, answer: Answer) -> CheckReport {
    let records = match answer {
        Ok(records) => records,
        Err(e) => return CheckReport::new(CheckStatus::DnsError, Vec::new(), e),
    };
    let found: Vec<String> = records
        .iter()
        .filter_map(|(_, data)| txt_text(data))
        .collect();
    if found.is_empty() {
        return CheckReport::new(
            CheckStatus::Missing,
            found,
            format!("no DKIM key record at {name}"),
        );
    }
    let keys: Vec<DkimKey> = found.iter().filter_map(|t| DkimKey::parse(t)).collect();
    let detail = match keys.as_slice() {
        [] => format!("no DKIM key record (v=DKIM1; p=…) among the TXT records at {name}"),
        [key] => match (key, expected_key) {
            (DkimKey::Invalid(why), _) => format!("the DKIM record at {name} is invalid: {why}"),
            (DkimKey::Revoked, _) => {
                format!("the DKIM record at {name} has an empty p= (a revoked key)")
            }
            (DkimKey::Key(_), None) => {
                return CheckReport::new(
                    CheckStatus::Ok,
                    found,
                    format!("a DKIM key is published at {name}"),
                );
            }
            (DkimKey::Key(key), Some(expected)) => {
                let expected: String = expected.chars().filter(|c| !c.is_whitespace()).collect();
                if *key == expected {
                    return CheckReport::new(
                        CheckStatus::Ok,
                        found,
                        format!("the expected DKIM key is published at {name}"),
                    );
                }
                format!("the DKIM key at {name} is not the expected one")
            }
        },
        many => format!(
            "{} DKIM key records at {name}: verifiers may pick any one; publish a single record",
            many.len()
        ),
    };
    CheckReport::new(CheckStatus::Mismatch, found, detail)
}

/// A DKIM key record (RFC 6376 §3.6.1), as far as this check needs it.
#[derive(Debug, PartialEq, Eq)]
enum DkimKey {
    /// A public key: the `p=` value without white space.
    Key(String),
    /// `p=` is empty.
    Revoked,
    /// It claims to be a key record (`v=` or `p=`) but is not a valid one.
    Invalid(String),
}

impl DkimKey {
    /// `None` when the text is not a DKIM key record at all (no `v=` and no `p=` tag).
    fn parse(text: &str) -> Option<DkimKey> {
        let tags: Vec<(&str, &str)> = text
            .split(';')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(|t| match t.split_once('=') {
                Some((name, value)) => (name.trim(), value.trim()),
                None => (t, ""),
            })
            .collect();
        let version = tags.iter().position(|(name, _)| *name == "v");
        let key = tags.iter().find(|(name, _)| *name == "p");
        if version.is_none() && key.is_none() {
            return None;
        }
        if let Some(at) = version {
            let value = tags.get(at).map_or("", |(_, v)| *v);
            if value != "DKIM1" {
                return Some(DkimKey::Invalid(format!("v={value} (expected v=DKIM1)")));
            }
            if at != 0 {
                return Some(DkimKey::Invalid("v=DKIM1 is not the first tag".to_owned()));
            }
        }
        Some(match key {
            None => DkimKey::Invalid("no p= tag".to_owned()),
            Some((_, value)) => {
                let key: String = value.chars().filter(|c| !c.is_whitespace()).collect();
                if key.is_empty() {
                    DkimKey::Revoked
                } else {
                    DkimKey::Key(key)
                }
            }
        })
    }
}

impl fmt::Display for CheckStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CheckStatus::Ok => "ok",
            CheckStatus::Missing => "missing",
            CheckStatus::Mismatch => "mismatch",
            CheckStatus::DnsError => "dns_error",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_normalised() {
        assert_eq!(
            ascii_domain("Example.TEST."),
            Some("example.test".to_owned())
        );
        assert_eq!(
            ascii_domain("bücher.example"),
            Some("xn--bcher-kva.example".to_owned())
        );
        assert_eq!(ascii_domain(""), None);
        assert_eq!(ascii_domain("."), None);
        assert_eq!(ascii_domain("a..b"), None);
        assert_eq!(ascii_domain("a b.example"), None);
        assert_eq!(ascii_domain(&"a".repeat(64)), None);
        assert_eq!(normalize_host("MX1.Example.NET."), "mx1.example.net");
        assert_eq!(normalize_host("."), ".");
    }

    #[test]
    fn spf_records() {
        assert!(is_spf1("v=spf1"));
        assert!(is_spf1("V=SPF1 -all"));
        assert!(!is_spf1("v=spf10 -all"));
        assert!(!is_spf1("v=spf"));
        assert!(!is_spf1("é"));
        let include = "spf.mail.example.net";
        assert!(spf_includes(
            "v=spf1 include:SPF.mail.example.net. -all",
            include
        ));
        assert!(spf_includes(
            "v=spf1 mx +include:spf.mail.example.net ~all",
            include
        ));
        assert!(!spf_includes(
            "v=spf1 -include:spf.mail.example.net",
            include
        ));
        assert!(!spf_includes(
            "v=spf1 include:spf.mail.example.network",
            include
        ));
        assert!(!spf_includes(
            "v=spf1 redirect=spf.mail.example.net",
            include
        ));
        assert!(!spf_includes("v=spf1 include:", include));
    }

    #[test]
    fn dkim_records() {
        assert_eq!(DkimKey::parse("hello"), None);
        assert_eq!(
            DkimKey::parse("v=DKIM1; k=rsa; p=AB CD\tEF"),
            Some(DkimKey::Key("ABCDEF".to_owned()))
        );
        assert_eq!(
            DkimKey::parse("k=rsa; p=ABC"),
            Some(DkimKey::Key("ABC".to_owned()))
        );
        assert_eq!(DkimKey::parse("v=DKIM1; p="), Some(DkimKey::Revoked));
        assert!(matches!(
            DkimKey::parse("v=DKIM1; k=rsa"),
            Some(DkimKey::Invalid(_))
        ));
        assert!(matches!(
            DkimKey::parse("p=ABC; v=DKIM1"),
            Some(DkimKey::Invalid(_))
        ));
        assert!(matches!(
            DkimKey::parse("v=DKIM2; p=ABC"),
            Some(DkimKey::Invalid(_))
        ));
        assert!(matches!(DkimKey::parse("v;p"), Some(DkimKey::Invalid(_))));
    }

    #[test]
    fn requests_are_validated() {
        let mut request = VerifyRequest::new("Bücher.Example", "tok-1", "spf.mail.example.net");
        assert_eq!(request.validate(), Ok(()));
        assert_eq!(
            request.ascii_domain(),
            Ok("xn--bcher-kva.example".to_owned())
        );
        request.ownership_token = "not a label".to_owned();
        assert!(matches!(
            request.validate(),
            Err(VerifyError::OwnershipToken(_))
        ));
        request.ownership_token = "tok".to_owned();
        request.dkim_selector = Some("bad selector".to_owned());
        assert!(matches!(
            request.validate(),
            Err(VerifyError::DkimSelector(_))
        ));
        request.dkim_selector = Some("mc2024".to_owned());
        request.spf_include = String::new();
        assert!(matches!(
            request.validate(),
            Err(VerifyError::SpfInclude(_))
        ));
        request.domain = "not a domain".to_owned();
        assert!(matches!(request.validate(), Err(VerifyError::Domain(_))));
    }

    #[test]
    fn mx_sets_are_compared() {
        let mx = |host: &str, priority| {
            (
                "example.test".to_owned(),
                RData::MX(hickory_resolver::proto::rr::rdata::MX::new(
                    priority,
                    Name::from_ascii(host).unwrap(),
                )),
            )
        };
        let expected = [
            ExpectedMx::new("mx1.example.net", 10),
            ExpectedMx::new("MX2.example.net.", 20),
        ];
        let ok = check_mx(
            "example.test",
            &expected,
            Ok(vec![mx("MX1.example.net.", 10), mx("mx2.example.net.", 20)]),
        );
        assert_eq!(ok.status, CheckStatus::Ok, "{ok:?}");
        let null = check_mx("example.test", &expected, Ok(vec![mx(".", 0)]));
        assert_eq!(null.status, CheckStatus::Mismatch);
        assert_eq!(
            null.extra,
            [MxRecord {
                host: ".".to_owned(),
                priority: 0
            }]
        );
        assert_eq!(null.missing.len(), 2);
        let none = check_mx("example.test", &[], Ok(Vec::new()));
        assert_eq!(none.status, CheckStatus::Ok);
    }

    #[test]
    fn statuses_display_as_in_json() {
        assert_eq!(CheckStatus::DnsError.to_string(), "dns_error");
    }
}
