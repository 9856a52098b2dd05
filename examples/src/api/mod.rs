//! The admin HTTP API of `mailcore-server serve`: JSON under `/api/v1/`, bearer-token
//! authentication, an OpenAPI 3 document at `/api/v1/openapi.json`.
//!
//! ```text
//!  HTTP request ─► axum router ─► extractors (Auth: bearer token ─► Admin::authenticate_token
//!                                              JsonBody / PathParams / QueryParams: 400 JSON)
//!               ─► handler ─► mailcore_store::admin::Admin (authorises the Caller's role,
//!                                                           validates, writes, op-logs)
//!               ◄─ JSON, or {"code", "message"} with the status of the ErrorCode
//! ```
//!
//! The handlers are thin: every rule (rights, department scope, limits, editions) lives in the
//! library, so the CLI, the API and an embedding product behave the same. Every route is
//! annotated with `#[utoipa::path]`; [`ApiDoc`] collects them, and [`ErrorResponses`] adds the
//! error statuses every operation can return, so the document matches what the server does
//! (checked by schemathesis in `examples/tests/admin_api.rs`).

pub mod error;
pub mod extract;
pub mod groups;
pub mod logs;
pub mod members;
pub mod orgs;

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post, put};
use mailcore_policy::domain_verify::DomainVerifier;
use mailcore_store::admin::Admin;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use crate::config::{MxHost, VerificationConfig};
use error::{ApiError, ErrorCodeName};

/// Largest JSON request body.
pub const JSON_BODY_LIMIT: usize = 64 * 1024;
/// Largest CSV import.
pub const CSV_BODY_LIMIT: usize = 8 * 1024 * 1024;
/// How often expired recycle-bin entries and logs are purged.
pub const HOUSEKEEPING_INTERVAL: Duration = Duration::from_secs(3600);

/// What domain verification expects, resolved from [`VerificationConfig`].
#[derive(Clone, Debug)]
pub struct Verification {
    /// MX records customer domains must publish.
    pub mx: Vec<MxHost>,
    /// The SPF include.
    pub spf_include: String,
    /// The DKIM selector.
    pub dkim_selector: Option<String>,
    /// Target suffix of ownership CNAMEs.
    pub verify_target: String,
}

impl Verification {
    /// The expectations of `config`, with defaults derived from our host name.
    pub fn new(config: &VerificationConfig, hostname: &str) -> Verification {
        Verification {
            mx: config.mx.clone().unwrap_or_else(|| {
                vec![MxHost {
                    host: hostname.to_owned(),
                    priority: 10,
                }]
            }),
            spf_include: config
                .spf_include
                .clone()
                .unwrap_or_else(|| format!("spf.{hostname}")),
            dkim_selector: Some(
                config
                    .dkim_selector
                    .clone()
                    .unwrap_or_else(|| "mailcore".to_owned()),
            ),
            verify_target: config
                .verify_target
                .clone()
                .unwrap_or_else(|| format!("verify.{hostname}")),
        }
    }
}

/// What every handler shares.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The administration service.
    pub admin: Admin,
    /// The DNS verifier (or why it could not be set up: verification then answers 503).
    pub verifier: Result<DomainVerifier, String>,
    /// What verification expects.
    pub verification: Arc<Verification>,
    /// Failed invitation/activation attempts per client address.
    pub failures: Arc<FailureLimiter>,
}

impl AppState {
    /// The state for `admin` with the verification settings of `config`.
    pub fn new(admin: Admin, config: &VerificationConfig, hostname: &str) -> AppState {
        let resolver = match config.nameserver {
            Some(ns) => mailcore_policy::domain_verify::Resolver::Nameserver(ns),
            None => mailcore_policy::domain_verify::Resolver::System,
        };
        let verifier = DomainVerifier::new(resolver)
            .map(|v| match config.timeout_secs {
                Some(t) => v.with_timeout(Duration::from_secs(t)),
                None => v,
            })
            .map_err(|e| e.to_string());
        AppState {
            admin,
            verifier,
            verification: Arc::new(Verification::new(config, hostname)),
            failures: Arc::new(FailureLimiter::default()),
        }
    }
}

/// The OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(title = "mailcore admin API", description = "Administration of organisations, \
        domains, members, groups, business mailboxes, the recycle bin, roles, logs and \
        statistics. Every error is `{\"code\", \"message\"}` with a stable code."),
    servers((url = "/api/v1")),
    paths(
        openapi,
        orgs::list_orgs, orgs::create_org, orgs::get_org, orgs::set_edition,
        orgs::get_settings, orgs::patch_settings,
        orgs::list_domains, orgs::add_domain, orgs::remove_domain, orgs::verification,
        orgs::verify,
        members::list_departments, members::create_department, members::update_department,
        members::delete_department,
        members::list_members, members::create_member, members::import_members,
        members::get_member, members::update_member, members::delete_member,
        members::rename_member, members::add_alias, members::remove_alias,
        members::list_app_passwords, members::create_app_password,
        members::revoke_app_password,
        members::create_invitation, members::accept_invitation, members::list_join_requests,
        members::decide_join_request, members::activate,
        members::list_admins, members::grant_admin, members::revoke_admin,
        members::transfer_creator,
        groups::list_groups, groups::create_group, groups::get_group, groups::update_group,
        groups::delete_group,
        groups::list_shared, groups::create_shared, groups::set_shared_users,
        groups::recycle_bin, groups::restore, groups::reassign, groups::export, groups::purge,
        logs::query, logs::export, logs::statistics,
        revoke_token,
    ),
    components(schemas(error::ErrorBody, logs::Kind)),
    modifiers(&ErrorResponses),
)]
pub struct ApiDoc;

/// Adds the bearer security scheme and, to every operation, the error responses it can give:
/// 400 (malformed path, query or body, or a broken rule), 401 (no valid token), 403, 404, 409, 413 (oversized body), 422 and 503.
#[derive(Debug)]
pub struct ErrorResponses;

impl Modify for ErrorResponses {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearerAuth",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A token from `mailcore-server token create --admin ADDRESS` (or \
                         `--operator`)",
                    ))
                    .build(),
            ),
        );
        components.responses.insert(
            "Error".to_owned(),
            RefOr::T(
                ResponseBuilder::new()
                    .description("The request failed; `code` says why")
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name("ErrorBody")))
                            .build(),
                    )
                    .build(),
            ),
        );
        for item in doc.paths.paths.values_mut() {
            for op in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                add_errors(op);
            }
        }
    }
}

fn add_errors(op: &mut Operation) {
    if op.operation_id.as_deref() == Some("openapi") {
        return;
    }
    let has_input =
        op.request_body.is_some() || op.parameters.as_ref().is_some_and(|p| !p.is_empty());
    // 401 on every operation: a missing or bad bearer token, or (on the operations without
    // one) a bad invitation or activation token.
    let mut statuses = vec!["401", "403", "404", "409", "422", "503"];
    if has_input {
        statuses.push("400");
    }
    if op.request_body.is_some() {
        statuses.push("413");
    }
    if op
        .security
        .as_ref()
        .is_some_and(|s| s.iter().all(|r| r == &Default::default()))
    {
        // The operations whose token is in the body are limited per client address.
        statuses.push("429");
    }
    for status in statuses {
        op.responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| RefOr::Ref(Ref::from_response_name("Error")));
    }
}

/// The OpenAPI 3 document of this API.
#[utoipa::path(get, path = "/openapi.json", tag = "meta", operation_id = "openapi",
    responses((status = 200, description = "The OpenAPI 3 document", body = Object)),
    security(()))]
pub async fn openapi() -> impl IntoResponse {
    Json(ApiDoc::openapi())
}

async fn not_found() -> ApiError {
    ApiError::new(ErrorCodeName::NotFound, "no such API endpoint")
}

async fn method_not_allowed() -> ApiError {
    ApiError {
        status: StatusCode::METHOD_NOT_ALLOWED,
        body: error::ErrorBody {
            code: ErrorCodeName::Invalid,
            message: "method not allowed on this endpoint".to_owned(),
        },
    }
}

/// The API's routes under `/api/v1`.
pub fn router(state: AppState) -> Router {
    use groups as g;
    use members as m;
    let api = Router::new()
        .route("/openapi.json", get(openapi))
        .route("/tokens/revoke", post(revoke_token))
        .route("/orgs", get(orgs::list_orgs).post(orgs::create_org))
        .route("/orgs/{org}", get(orgs::get_org))
        .route("/orgs/{org}/edition", put(orgs::set_edition))
        .route(
            "/orgs/{org}/settings",
            get(orgs::get_settings).patch(orgs::patch_settings),
        )
        .route(
            "/orgs/{org}/domains",
            get(orgs::list_domains).post(orgs::add_domain),
        )
        .route(
            "/domains/{domain}",
            axum::routing::delete(orgs::remove_domain),
        )
        .route("/domains/{domain}/verification", get(orgs::verification))
        .route("/domains/{domain}/verify", post(orgs::verify))
        .route(
            "/orgs/{org}/departments",
            get(m::list_departments).post(m::create_department),
        )
        .route(
            "/orgs/{org}/departments/{id}",
            axum::routing::patch(m::update_department).delete(m::delete_department),
        )
        .route(
            "/orgs/{org}/members",
            get(m::list_members).post(m::create_member),
        )
        .route(
            "/orgs/{org}/members/import",
            post(m::import_members).layer(DefaultBodyLimit::max(CSV_BODY_LIMIT)),
        )
        .route(
            "/members/{id}",
            get(m::get_member)
                .patch(m::update_member)
                .delete(m::delete_member),
        )
        .route("/members/{id}/rename", post(m::rename_member))
        .route("/members/{id}/aliases", post(m::add_alias))
        .route(
            "/members/{id}/aliases/{alias}",
            axum::routing::delete(m::remove_alias),
        )
        .route(
            "/members/{id}/app-passwords",
            get(m::list_app_passwords).post(m::create_app_password),
        )
        .route(
            "/members/{id}/app-passwords/{pid}",
            axum::routing::delete(m::revoke_app_password),
        )
        .route("/orgs/{org}/invitations", post(m::create_invitation))
        .route("/invitations/accept", post(m::accept_invitation))
        .route("/orgs/{org}/join-requests", get(m::list_join_requests))
        .route(
            "/orgs/{org}/join-requests/{id}",
            post(m::decide_join_request),
        )
        .route("/activate", post(m::activate))
        .route("/orgs/{org}/admins", get(m::list_admins))
        .route(
            "/members/{id}/admin",
            put(m::grant_admin).delete(m::revoke_admin),
        )
        .route("/members/{id}/transfer-creator", post(m::transfer_creator))
        .route(
            "/orgs/{org}/groups",
            get(g::list_groups).post(g::create_group),
        )
        .route(
            "/groups/{address}",
            get(g::get_group)
                .put(g::update_group)
                .delete(g::delete_group),
        )
        .route(
            "/orgs/{org}/shared-mailboxes",
            get(g::list_shared).post(g::create_shared),
        )
        .route("/shared-mailboxes/{id}/users", put(g::set_shared_users))
        .route("/orgs/{org}/recycle-bin", get(g::recycle_bin))
        .route("/recycle-bin/{id}/restore", post(g::restore))
        .route("/recycle-bin/{id}/reassign", post(g::reassign))
        .route("/recycle-bin/{id}/export", get(g::export))
        .route("/recycle-bin/{id}", axum::routing::delete(g::purge))
        .route("/orgs/{org}/logs/{kind}", get(logs::query))
        .route("/orgs/{org}/logs/{kind}/export", get(logs::export))
        .route("/orgs/{org}/statistics", get(logs::statistics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(JSON_BODY_LIMIT))
        .with_state(state);
    Router::new().nest("/api/v1", api).fallback(not_found)
}

/// Serves the API on `listener` until the task is dropped.
pub async fn serve(listener: tokio::net::TcpListener, state: AppState) -> std::io::Result<()> {
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .await
}

/// Failed attempts with a body token (invitation, activation) one client address may make
/// per [`TOKEN_FAILURE_WINDOW`] before it gets 429 `rate_limited`.
pub const MAX_TOKEN_FAILURES: u32 = 10;
/// The window of [`MAX_TOKEN_FAILURES`].
pub const TOKEN_FAILURE_WINDOW: Duration = Duration::from_secs(600);
/// Most client addresses tracked at once (the oldest windows are dropped first).
pub const MAX_TRACKED_CLIENTS: usize = 10_000;

/// Counts failed token attempts per client address, so that invitation and activation
/// tokens cannot be guessed at speed.
#[derive(Debug, Default)]
pub struct FailureLimiter {
    clients:
        std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, (u32, std::time::Instant)>>,
}

impl FailureLimiter {
    /// Refuses with 429 while `ip` is over the limit.
    pub fn check(&self, ip: std::net::IpAddr) -> Result<(), ApiError> {
        let clients = self
            .clients
            .lock()
            .map_err(|_| ApiError::new(ErrorCodeName::Unavailable, "rate limiter unavailable"))?;
        match clients.get(&ip) {
            Some((n, since))
                if *n >= MAX_TOKEN_FAILURES && since.elapsed() < TOKEN_FAILURE_WINDOW =>
            {
                Err(ApiError::new(
                    ErrorCodeName::RateLimited,
                    "too many failed attempts from this address; retry later",
                ))
            }
            _ => Ok(()),
        }
    }

    /// Records a failed attempt from `ip`.
    pub fn failed(&self, ip: std::net::IpAddr) {
        let Ok(mut clients) = self.clients.lock() else {
            return;
        };
        if clients.len() >= MAX_TRACKED_CLIENTS && !clients.contains_key(&ip) {
            clients.retain(|_, (_, since)| since.elapsed() < TOKEN_FAILURE_WINDOW);
            if clients.len() >= MAX_TRACKED_CLIENTS
                && let Some(oldest) = clients.iter().min_by_key(|(_, (_, t))| *t).map(|(k, _)| *k)
            {
                clients.remove(&oldest);
            }
        }
        let entry = clients.entry(ip).or_insert((0, std::time::Instant::now()));
        if entry.1.elapsed() >= TOKEN_FAILURE_WINDOW {
            *entry = (0, std::time::Instant::now());
        }
        entry.0 += 1;
    }

    /// Runs `attempt` for `ip` unless it is over the limit, counting an `unauthenticated`
    /// answer as a failure.
    pub async fn guard<T>(
        &self,
        ip: std::net::IpAddr,
        attempt: impl std::future::Future<Output = Result<T, ApiError>>,
    ) -> Result<T, ApiError> {
        self.check(ip)?;
        let result = attempt.await;
        if let Err(e) = &result
            && e.body.code == ErrorCodeName::Unauthenticated
        {
            self.failed(ip);
        }
        result
    }
}

/// Purges expired recycle-bin entries and logs now and then every
/// [`HOUSEKEEPING_INTERVAL`], forever.
pub async fn housekeeping(admin: Admin) {
    let mut tick = tokio::time::interval(HOUSEKEEPING_INTERVAL);
    loop {
        tick.tick().await;
        let now = mailcore_store::now();
        match admin.purge_expired(now).await {
            Ok(purged) if !purged.is_empty() => {
                println!(
                    "housekeeping: purged {} from the recycle bin",
                    purged.join(", ")
                );
            }
            Ok(_) => {}
            Err(e) => eprintln!("housekeeping: recycle bin: {e}"),
        }
        match admin.purge_expired_logs(now).await {
            Ok(0) => {}
            Ok(n) => println!("housekeeping: purged {n} expired log record(s)"),
            Err(e) => eprintln!("housekeeping: logs: {e}"),
        }
    }
}

/// A token to revoke.
#[derive(Clone, Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenToRevoke {
    /// The token's secret (holding it is what allows revoking it).
    pub token: String,
}

/// Revokes an API token (for example the caller's own, to log out); later calls with it get
/// 401.
#[utoipa::path(post, path = "/tokens/revoke", tag = "tokens", request_body = TokenToRevoke,
    responses((status = 204, description = "Revoked")), security(("bearerAuth" = [])))]
pub async fn revoke_token(
    axum::extract::State(s): axum::extract::State<AppState>,
    extract::Auth(_caller): extract::Auth,
    extract::JsonBody(body): extract::JsonBody<TokenToRevoke>,
) -> Result<StatusCode, ApiError> {
    if s.admin.revoke_token(body.token.trim()).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::new(
            ErrorCodeName::NotFound,
            "no such token".to_owned(),
        ))
    }
}
