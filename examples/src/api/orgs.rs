//! Organisations, editions, settings and domains (with DNS verification).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use mailcore_policy::domain_verify::{ExpectedMx, OWNERSHIP_TXT_PREFIX, VerifyRequest};
use mailcore_store::admin::{DomainInfo, OrgInfo, OrgSettings, SettingsPatch};
use mailcore_store::directory::OrgId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiError, ApiResult, ErrorCodeName};
use super::extract::{Auth, JsonBody, PathParams};
use mailcore_policy::domain_verify::VerificationReport;

/// `POST /orgs` body.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrg {
    /// Organisation name (also names its trial domain).
    pub name: String,
    /// `basic` or `professional`.
    pub edition: String,
    /// Local part of the creator's address on the trial domain.
    pub creator_local_part: String,
    /// The creator's password.
    pub creator_password: String,
}

/// `PUT /orgs/{org}/edition` body.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EditionChange {
    /// `basic` or `professional`.
    pub edition: String,
}

/// `POST /orgs/{org}/domains` body.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDomain {
    /// The domain (U-label or A-label form).
    pub name: String,
}

/// A DNS record the customer publishes.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct DnsRecord {
    /// Owner name.
    pub name: String,
    /// `MX`, `CNAME` or `TXT`.
    #[serde(rename = "type")]
    pub record_type: String,
    /// Record data (MX host, CNAME target, TXT text).
    pub value: String,
    /// MX preference (MX records only).
    pub priority: Option<u16>,
}

/// What to publish so that a domain verifies.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct VerificationInstructions {
    /// The domain.
    pub domain: String,
    /// The ownership token.
    pub token: String,
    /// The MX records (all of them, exactly).
    pub mx: Vec<DnsRecord>,
    /// Ownership, either form: a CNAME whose target starts with the token ...
    pub ownership_cname: DnsRecord,
    /// ... or this TXT record.
    pub ownership_txt: DnsRecord,
    /// The SPF record (or the include to add to an existing one).
    pub spf: DnsRecord,
    /// The domain the SPF record must include.
    pub spf_include: String,
    /// The DKIM selector whose key must be published (`<selector>._domainkey.<domain>`).
    pub dkim_selector: Option<String>,
}

fn org(id: i64) -> OrgId {
    OrgId(id)
}

/// Lists organisations (the operator sees all, an administrator their own).
#[utoipa::path(get, path = "/orgs", tag = "organisations",
    responses((status = 200, body = Vec<OrgInfo>)), security(("bearerAuth" = [])))]
pub async fn list_orgs(State(s): State<AppState>, Auth(c): Auth) -> ApiResult<Json<Vec<OrgInfo>>> {
    Ok(Json(s.admin.list_orgs(&c).await?))
}

/// Creates an organisation with its trial domain and creator (operator only).
#[utoipa::path(post, path = "/orgs", tag = "organisations", request_body = NewOrg,
    responses((status = 201, body = OrgInfo)), security(("bearerAuth" = [])))]
pub async fn create_org(
    State(s): State<AppState>,
    Auth(c): Auth,
    JsonBody(b): JsonBody<NewOrg>,
) -> ApiResult<(StatusCode, Json<OrgInfo>)> {
    let info = s
        .admin
        .create_org(
            &c,
            &b.name,
            &b.edition,
            &b.creator_local_part,
            &b.creator_password,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(info)))
}

/// One organisation, with its limits and counts.
#[utoipa::path(get, path = "/orgs/{org}", tag = "organisations",
    params(("org" = i64, Path, description = "Organisation id")),
    responses((status = 200, body = OrgInfo)), security(("bearerAuth" = [])))]
pub async fn get_org(
    State(s): State<AppState>,
    Auth(c): Auth,
    PathParams(id): PathParams<i64>,
) -> ApiResult<Json<OrgInfo>> {
    Ok(Json(s.admin.org_info(&c, org(id)).await?))
}

/// Changes an organisation's edition (operator only).
#[utoipa::path(put, path = "/orgs/{org}/edition", tag = "organisations",
    params(("org" = i64, Path, description = "Organisation id")), request_body = EditionChange,
    responses((status = 200, body = OrgInfo)), security(("bearerAuth" = [])))]
pub async fn set_edition(
    State(s): State<AppState>,
    Auth(c): Auth,
    PathParams(id): PathParams<i64>,
    JsonBody(b): JsonBody<EditionChange>,
) -> ApiResult<Json<OrgInfo>> {
    Ok(Json(s.admin.set_edition(&c, org(id), &b.edition).await?))
}

/// An organisation's settings.
#[utoipa::path(get, path = "/orgs/{org}/settings", tag = "organisations",
    params(("org" = i64, Path, description = "Organisation id")),
    responses((status = 200, body = OrgSettings)), security(("bearerAuth" = [])))]
pub async fn get_settings(
    State(s): State<AppState>,
    Auth(c): Auth,
    PathParams(id): PathParams<i64>,
) -> ApiResult<Json<OrgSettings>> {
    Ok(Json(s.admin.settings(&c, org(id)).await?))
}

/// Changes some of an organisation's settings (absent fields are kept).
#[utoipa::path(patch, path = "/orgs/{org}/settings", tag = "organisations",
    params(("org" = i64, Path, description = "Organisation id")), request_body = SettingsPatch,
    responses((status = 200, body = OrgSettings)), security(("bearerAuth" = [])))]
pub async fn patch_settings(
    State(s): State<AppState>,
    Auth(c): Auth,
    PathParams(id): PathParams<i64>,
    JsonBody(b): JsonBody<SettingsPatch>,
) -> ApiResult<Json<OrgSettings>> {
    Ok(Json(s.admin.update_settings(&c, org(id), b).await?))
}

/// An organisation's domains (the trial domain included).
#[utoipa::path(get, path = "/orgs/{org}/domains", tag = "domains",
    params(("org" = i64, Path, description = "Organisation id")),
    responses((status = 200, body = Vec<DomainInfo>)), security(("bearerAuth" = [])))]
pub async fn list_domains(
    State(s): State<AppState>,
    Auth(c): Auth,
    PathParams(id): PathParams<i64>,
) -> ApiResult<Json<Vec<DomainInfo>>> {
    Ok(Json(s.admin.list_domains(&c, org(id)).await?))
}

/// Adds a domain (unverified) within the edition's limit.
#[utoipa::path(post, path = "/orgs/{org}/domains", tag = "domains",
    params(("org" = i64, Path, description = "Organisation id")), request_body = NewDomain,
    responses((status = 201, body = DomainInfo)), security(("bearerAuth" = [])))]
pub async fn add_domain(
    State(s): State<AppState>,
    Auth(c): Auth,
    PathParams(id): PathParams<i64>,
    JsonBody(b): JsonBody<NewDomain>,
) -> ApiResult<(StatusCode, Json<DomainInfo>)> {
    let d = s.admin.add_domain(&c, org(id), &b.name).await?;
    Ok((StatusCode::CREATED, Json(d)))
}

/// Removes a domain no address uses any more.
#[utoipa::path(delete, path = "/domains/{domain}", tag = "domains",
    params(("domain" = String, Path, description = "The domain")),
    responses((status = 204, description = "Removed")), security(("bearerAuth" = [])))]
pub async fn remove_domain(
    State(s): State<AppState>,
    Auth(c): Auth,
    PathParams(domain): PathParams<String>,
) -> ApiResult<StatusCode> {
    s.admin.remove_domain(&c, &domain).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn request(s: &AppState, domain: &str, token: &str) -> VerifyRequest {
    let v = &s.verification;
    let mut r = VerifyRequest::new(domain, token, v.spf_include.clone());
    r.expected_mx =
        v.mx.iter()
            .map(|m| ExpectedMx::new(m.host.clone(), m.priority))
            .collect();
    r.dkim_selector = v.dkim_selector.clone();
    r
}

/// The ownership token and the DNS records to publish.
#[utoipa::path(get, path = "/domains/{domain}/verification", tag = "domains",
    params(("domain" = String, Path, description = "The domain")),
    responses((status = 200, body = VerificationInstructions)), security(("bearerAuth" = [])))]
pub async fn verification(
    State(s): State<AppState>,
    Auth(c): Auth,
    PathParams(domain): PathParams<String>,
) -> ApiResult<Json<VerificationInstructions>> {
    let token = s.admin.domain_verification_token(&c, &domain).await?;
    let req = request(&s, &domain, &token);
    req.validate()
        .map_err(|e| ApiError::invalid(e.to_string()))?;
    let ascii = req
        .ascii_domain()
        .map_err(|e| ApiError::invalid(e.to_string()))?;
    let v = &s.verification;
    let record = |name: String, t: &str, value: String, priority: Option<u16>| DnsRecord {
        name,
        record_type: t.to_owned(),
        value,
        priority,
    };
    let label = format!("{}.{ascii}", req.ownership_label);
    Ok(Json(VerificationInstructions {
        domain: ascii.clone(),
        token: token.clone(),
        mx: v
            .mx
            .iter()
            .map(|m| record(ascii.clone(), "MX", m.host.clone(), Some(m.priority)))
            .collect(),
        ownership_cname: record(
            label.clone(),
            "CNAME",
            format!("{token}.{}", v.verify_target),
            None,
        ),
        ownership_txt: record(label, "TXT", format!("{OWNERSHIP_TXT_PREFIX}{token}"), None),
        spf: record(
            ascii,
            "TXT",
            format!("v=spf1 include:{} ~all", v.spf_include),
            None,
        ),
        spf_include: v.spf_include.clone(),
        dkim_selector: v.dkim_selector.clone(),
    }))
}

/// Checks the domain's DNS now and records whether it is verified.
#[utoipa::path(post, path = "/domains/{domain}/verify", tag = "domains",
    params(("domain" = String, Path, description = "The domain")),
    responses((status = 200, body = VerificationReport)), security(("bearerAuth" = [])))]
pub async fn verify(
    State(s): State<AppState>,
    Auth(c): Auth,
    PathParams(domain): PathParams<String>,
) -> ApiResult<Json<VerificationReport>> {
    let token = s.admin.domain_verification_token(&c, &domain).await?;
    let req = request(&s, &domain, &token);
    req.validate()
        .map_err(|e| ApiError::invalid(e.to_string()))?;
    let verifier = s
        .verifier
        .as_ref()
        .map_err(|e| ApiError::new(ErrorCodeName::Unavailable, format!("no DNS resolver: {e}")))?;
    let report = verifier.verify(&req).await;
    s.admin
        .mark_domain_verified(&c, &domain, report.verified)
        .await?;
    Ok(Json(report))
}
