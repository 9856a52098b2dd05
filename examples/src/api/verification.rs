//! The domain verification report as the API documents it: the same JSON as
//! [`mailcore_policy::domain_verify::VerificationReport`], with OpenAPI schemas.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ErrorCodeName};

/// Outcome of one check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    /// Set up as expected.
    Ok,
    /// No record where one is expected.
    Missing,
    /// Records exist but are wrong.
    Mismatch,
    /// A look-up failed or timed out; retry later.
    DnsError,
}

/// An MX record (published or expected).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct MxRecord {
    /// Mail host.
    pub host: String,
    /// Preference.
    pub priority: u16,
}

/// An expected MX host published with another priority.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct WrongPriority {
    /// Mail host.
    pub host: String,
    /// Expected preference.
    pub expected: u16,
    /// Published preference.
    pub found: u16,
}

/// The MX check.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct MxReport {
    /// Outcome.
    pub status: CheckStatus,
    /// Every MX record published.
    pub found: Vec<MxRecord>,
    /// Expected hosts not published.
    pub missing: Vec<MxRecord>,
    /// Published hosts not expected.
    pub extra: Vec<MxRecord>,
    /// Expected hosts at another priority.
    pub wrong_priority: Vec<WrongPriority>,
    /// One sentence for the admin.
    pub detail: String,
}

/// The ownership, SPF or DKIM check.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct CheckReport {
    /// Outcome.
    pub status: CheckStatus,
    /// The relevant records seen.
    pub found: Vec<String>,
    /// One sentence for the admin.
    pub detail: String,
}

/// The result of verifying one domain.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct VerificationReport {
    /// The domain as looked up.
    pub domain: String,
    /// MX check.
    pub mx: MxReport,
    /// Ownership-token check.
    pub ownership: CheckReport,
    /// SPF check.
    pub spf: CheckReport,
    /// DKIM check.
    pub dkim: CheckReport,
    /// Whether all four checks are `ok`.
    pub verified: bool,
}

impl VerificationReport {
    /// The documented form of the verifier's report.
    pub fn from_report(
        r: &mailcore_policy::domain_verify::VerificationReport,
    ) -> Result<VerificationReport, ApiError> {
        serde_json::to_value(r)
            .and_then(serde_json::from_value)
            .map_err(|e| ApiError::new(ErrorCodeName::Unavailable, format!("report: {e}")))
    }
}
