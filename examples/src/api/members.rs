//! Departments, members, aliases, CSV import, app passwords, invitations, activation and
//! administrator roles.

use std::net::SocketAddr;

use axum::Json;
use axum::extract::ConnectInfo;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use mailcore_store::admin::{
    AdminGrant, AppPassword, CreatedMember, Department, ImportReport, Invitation, JoinRequest,
    Member, MemberPatch, NewAppPassword, NewMember, ProtocolSwitches, RecycleEntry, Role,
};
use mailcore_store::directory::OrgId;
use mailcore_store::mailbox::AccountId;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiResult, ErrorBody};
use super::extract::{Auth, JsonBody, PathParams, TextBody};

/// `POST /orgs/{org}/departments` body.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDepartment {
    /// Name (unique among its siblings).
    pub name: String,
    /// Parent department id (absent or null: top level).
    #[serde(default)]
    pub parent: Option<i64>,
}

/// Distinguishes an absent field (`None`) from an explicit `null` (`Some(None)`).
fn double_option<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// `PATCH /orgs/{org}/departments/{id}` body; absent fields are kept.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DepartmentPatch {
    /// New name.
    #[serde(default)]
    pub name: Option<String>,
    /// New parent (null: move to the top level).
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub parent: Option<Option<i64>>,
    /// Protocol switches (null: inherit again).
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<ProtocolSwitches>)]
    pub protocols: Option<Option<ProtocolSwitches>>,
}

/// `POST /members/{id}/rename` body.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rename {
    /// The new local part (a member may be renamed once).
    pub local_part: String,
}

/// `POST /members/{id}/aliases` body.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAlias {
    /// The alias address, on a domain of the member's organisation.
    pub alias: String,
}

/// `POST /members/{id}/app-passwords` body.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppPasswordName {
    /// What the password is for (e.g. the client's name).
    pub name: String,
}

/// `POST /orgs/{org}/invitations` body.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewInvitation {
    /// Domain of the addresses created (default: the organisation's default domain).
    #[serde(default)]
    pub domain: Option<String>,
    /// Department new members join.
    #[serde(default)]
    pub department: Option<i64>,
    /// Whether an administrator must approve each join (default: the organisation setting).
    #[serde(default)]
    pub approval: Option<bool>,
}

/// `POST /invitations/accept` body.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptInvitation {
    /// The invitation token.
    pub token: String,
    /// The local part the new member chooses.
    pub local_part: String,
    /// Display name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// Password.
    pub password: String,
}

/// The outcome of accepting an invitation or deciding a join request.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct JoinOutcome {
    /// The member created (null: waiting for approval, or refused).
    pub member: Option<Member>,
}

/// `POST /orgs/{org}/join-requests/{id}` body.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    /// Approve (create the member) or refuse.
    pub approve: bool,
}

/// `POST /activate` body.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Activation {
    /// The activation token issued when the member was created without a password.
    pub token: String,
    /// The member's password.
    pub password: String,
}

/// The 422 body of a CSV import: the report when nothing was imported, or an error.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum ImportFailure {
    /// Nothing was created; the per-row errors say why.
    Report(ImportReport),
    /// A limit (e.g. rows per file) was exceeded.
    Error(ErrorBody),
}

fn org(id: i64) -> OrgId {
    OrgId(id)
}

fn account(id: i64) -> AccountId {
    AccountId(id)
}

// ---------------------------------------------------------------------------------------------
// Departments

/// The department tree, flat.
#[utoipa::path(get, path = "/orgs/{org}/departments", tag = "departments",
    params(("org" = i64, Path, description = "Organisation id")),
    responses((status = 200, body = Vec<Department>)), security(("bearerAuth" = [])))]
pub async fn list_departments(
    State(s): State<AppState>,
    Auth(c): Auth,
    PathParams(id): PathParams<i64>,
) -> ApiResult<Json<Vec<Department>>> {
    Ok(Json(s.admin.list_departments(&c, org(id)).await?))
}

/// Creates a department.
#[utoipa::path(post, path = "/orgs/{org}/departments", tag = "departments",
    params(("org" = i64, Path, description = "Organisation id")), request_body = NewDepartment,
    responses((status = 201, body = Department)), security(("bearerAuth" = [])))]
pub async fn create_department(
    State(s): State<AppState>,
    Auth(c): Auth,
    PathParams(id): PathParams<i64>,
    JsonBody(b): JsonBody<NewDepartment>,
) -> ApiResult<(StatusCode, Json<Department>)> {
    let d = s
        .admin
        .create_department(&c, org(id), &b.name, b.parent)
        .await?;
    Ok((StatusCode::CREATED, Json(d)))
}

/// Renames, moves or changes the protocol switches of a department.
#[utoipa::path(patch, path = "/orgs/{org}/departments/{id}", tag = "departments",
    params(("org" = i64, Path, description = "Organisation id"),
           ("id" = i64, Path, description = "Department id")),
    request_body = DepartmentPatch,
    responses((status = 200, body = Department)), security(("bearerAuth" = [])))]
pub async fn update_department(
    State(s): State<AppState>,
    Auth(c): Auth,
    PathParams((o, d)): PathParams<(i64, i64)>,
    JsonBody(b): JsonBody<DepartmentPatch>,
) -> ApiResult<Json<Department>> {
    Ok(Json(
        s.admin
            .update_department(&c, org(o), d, b.name, b.parent, b.protocols)
            .await?,
    ))
}

/// Deletes an empty department.
#[utoipa::path(delete, path = "/orgs/{org}/departments/{id}", tag = "departments",
    params(("org" = i64, Path, description = "Organisation id"),
           ("id" = i64, Path, description = "Department id")),
    responses((status = 204, description = "Deleted")), security(("bearerAuth" = [])))]
pub async fn delete_department(
    State(s): State<AppState>,
    Auth(c): Auth,
    PathParams((o, d)): PathParams<(i64, i64)>,
) -> ApiResult<StatusCode> {
    s.admin.delete_department(&c, org(o), d).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------------------------------------
// Members

/// The members (and business mailboxes) the caller may see.
#[utoipa::path(get, path = "/orgs/{org}/members", tag = "members",
    params(("org" = i64, Path, description = "Organisation id")),
    responses((status = 200, body = Vec<Member>)), security(("bearerAuth" = [])))]
pub async fn list_members(
    State(s): State<AppState>,
    Auth(c): Auth,
    PathParams(id): PathParams<i64>,
) -> ApiResult<Json<Vec<Member>>> {
    Ok(Json(s.admin.list_members(&c, org(id)).await?))
}

/// Creates a member; without a password the member gets an activation token.
#[utoipa::path(post, path = "/orgs/{org}/members", tag = "members",
    params(("org" = i64, Path, description = "Organisation id")), request_body = NewMember,
    responses((status = 201, body = CreatedMember)), security(("bearerAuth" = [])))]
pub async fn create_member(
    State(s): State<AppState>,
    Auth(c): Auth,
    PathParams(id): PathParams<i64>,
    JsonBody(b): JsonBody<NewMember>,
) -> ApiResult<(StatusCode, Json<CreatedMember>)> {
    let m = s.admin.create_member(&c, org(id), b).await?;
    Ok((StatusCode::CREATED, Json(m)))
}

/// Imports members from CSV, all or nothing: 200 when every row was created, 422 with the
/// per-row errors when none was.
#[utoipa::path(post, path = "/orgs/{org}/members/import", tag = "members",
    params(("org" = i64, Path, description = "Organisation id")),
    request_body(content = String, content_type = "text/csv",
        description = "Header `local_part,domain,display_name,password,employee_id,phone,department,vip,quota_mb` (only `local_part` required; `department` is a name, `vip` yes/no)"),
    responses((status = 200, body = ImportReport, description = "Every row was created"),
              (status = 422, body = ImportFailure, description = "Nothing was created")),
    security(("bearerAuth" = [])))]
pub async fn import_members(
    State(s): State<AppState>,
    Auth(c): Auth,
    PathParams(id): PathParams<i64>,
    TextBody(csv): TextBody,
) -> ApiResult<Response> {
    let report = s.admin.import_members_csv(&c, org(id), &csv).await?;
    let status = if report.imported {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok((status, Json(report)).into_response())
}

/// One member.
#[utoipa::path(get, path = "/members/{id}", tag = "members",
    params(("id" = i64, Path, description = "Account id")),
    responses((status = 200, body = Member)), security(("bearerAuth" = [])))]
pub async fn get_member(
    State(s): State<AppState>,
    Auth(c): Auth,
    PathParams(id): PathParams<i64>,
) -> ApiResult<Json<Member>> {
    Ok(Json(s.admin.member(&c, account(id)).await?))
}

/// Changes a member (absent fields are kept): name, password, departments, VIP, quota,
/// enabled, protocol switches.
#[utoipa::path(patch, path = "/members/{id}", tag = "members",
    params(("id" = i64, Path, description = "Account id")), request_body = MemberPatch,
    responses((status = 200, body = Member)), security(("bearerAuth" = [])))]
pub async fn update_member(
    State(s): State<AppState>,
    Auth(c): Auth,
    PathParams(id): PathParams<i64>,
    JsonBody(b): JsonBody<MemberPatch>,
) -> ApiResult<Json<Member>> {
    Ok(Json(s.admin.update_member(&c, account(id), b).await?))
}

/// Moves a member (or reclaims a business mailbox) to the recycle bin.
#[utoipa::path(delete, path = "/members/{id}", tag = "members",
    params(("id" = i64, Path, description = "Account id")),
    responses((status = 200, body = RecycleEntry)), security(("bearerAuth" = [])))]
pub async fn delete_member(
    State(s): State<AppState>,
    Auth(c): Auth,
    PathParams(id): PathParams<i64>,
) -> ApiResult<Json<RecycleEntry>> {
    Ok(Json(s.admin.delete_member(&c, account(id)).await?))
}

/// Changes a member's local part (once).
#[utoipa::path(post, path = "/members/{id}/rename", tag = "members",
    params(("id" = i64, Path, description = "Account id")), request_body = Rename,
    responses((status = 200, body = Member)), security(("bearerAuth" = [])))]
pub async fn rename_member(
    State(s): State<AppState>,
    Auth(c): Auth,
    PathParams(id): PathParams<i64>,
    JsonBody(b): JsonBody<Rename>,
) -> ApiResult<Json<Member>> {
    Ok(Json(
        s.admin
            .rename_member(&c, account(id), &b.local_part)
            .await?,
    ))
}

/// Adds an alias (at most five per account: a sixth is 422 `limit_exceeded`).
#[utoipa::path(post, path = "/members/{id}/aliases", tag = "members",
    params(("id" = i64, Path, description = "Account id")), request_body = NewAlias,
    responses((status = 200, body = Member)), security(("bearerAuth" = [])))]
pub async fn add_alias(
    State(s): State<AppState>,
    Auth(c): Auth,
    PathParams(id): PathParams<i64>,
    JsonBody(b): JsonBody<NewAlias>,
) -> ApiResult<Json<Member>> {
    Ok(Json(s.admin.add_alias(&c, account(id), &b.alias).await?))
}

/// Removes an alias.
#[utoipa::path(delete, path = "/members/{id}/aliases/{alias}", tag = "members",
    params(("id" = i64, Path, description = "Account id"),
           ("alias" = String, Path, description = "The alias address")),
    responses((status = 200, body = Member)), security(("bearerAuth" = [])))]
pub async fn remove_alias(
    State(s): State<AppState>,
    Auth(c): Auth,
    PathParams((id, alias)): PathParams<(i64, String)>,
) -> ApiResult<Json<Member>> {
    Ok(Json(s.admin.remove_alias(&c, account(id), &alias).await?))
}

// ---------------------------------------------------------------------------------------------
// App passwords

/// A member's app passwords (without the secrets).
#[utoipa::path(get, path = "/members/{id}/app-passwords", tag = "access",
    params(("id" = i64, Path, description = "Account id")),
    responses((status = 200, body = Vec<AppPassword>)), security(("bearerAuth" = [])))]
pub async fn list_app_passwords(
    State(s): State<AppState>,
    Auth(c): Auth,
    PathParams(id): PathParams<i64>,
) -> ApiResult<Json<Vec<AppPassword>>> {
    Ok(Json(s.admin.list_app_passwords(&c, account(id)).await?))
}

/// Creates an app password; the secret is returned once.
#[utoipa::path(post, path = "/members/{id}/app-passwords", tag = "access",
    params(("id" = i64, Path, description = "Account id")), request_body = AppPasswordName,
    responses((status = 201, body = NewAppPassword)), security(("bearerAuth" = [])))]
pub async fn create_app_password(
    State(s): State<AppState>,
    Auth(c): Auth,
    PathParams(id): PathParams<i64>,
    JsonBody(b): JsonBody<AppPasswordName>,
) -> ApiResult<(StatusCode, Json<NewAppPassword>)> {
    let p = s
        .admin
        .create_app_password(&c, account(id), &b.name)
        .await?;
    Ok((StatusCode::CREATED, Json(p)))
}

/// Revokes an app password.
#[utoipa::path(delete, path = "/members/{id}/app-passwords/{pid}", tag = "access",
    params(("id" = i64, Path, description = "Account id"),
           ("pid" = String, Path, description = "App password id")),
    responses((status = 204, description = "Revoked")), security(("bearerAuth" = [])))]
pub async fn revoke_app_password(
    State(s): State<AppState>,
    Auth(c): Auth,
    PathParams((id, pid)): PathParams<(i64, String)>,
) -> ApiResult<StatusCode> {
    s.admin.revoke_app_password(&c, account(id), &pid).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------------------------------------
// Invitations, join requests, activation

/// Creates an invitation; its token is returned once.
#[utoipa::path(post, path = "/orgs/{org}/invitations", tag = "invitations",
    params(("org" = i64, Path, description = "Organisation id")), request_body = NewInvitation,
    responses((status = 201, body = Invitation)), security(("bearerAuth" = [])))]
pub async fn create_invitation(
    State(s): State<AppState>,
    Auth(c): Auth,
    PathParams(id): PathParams<i64>,
    JsonBody(b): JsonBody<NewInvitation>,
) -> ApiResult<(StatusCode, Json<Invitation>)> {
    let i = s
        .admin
        .create_invitation(&c, org(id), b.domain.as_deref(), b.department, b.approval)
        .await?;
    Ok((StatusCode::CREATED, Json(i)))
}

/// Accepts an invitation (no bearer token: the invitation token is the credential). 201 with
/// the member, or 202 when an administrator must approve the join first.
#[utoipa::path(post, path = "/invitations/accept", tag = "invitations",
    request_body = AcceptInvitation,
    responses((status = 201, body = JoinOutcome, description = "Member created"),
              (status = 202, body = JoinOutcome, description = "Waiting for approval")),
    security(()))]
pub async fn accept_invitation(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    JsonBody(b): JsonBody<AcceptInvitation>,
) -> ApiResult<(StatusCode, Json<JoinOutcome>)> {
    let attempt = async {
        Ok(s.admin
            .accept_invitation(
                &b.token,
                &b.local_part,
                b.display_name.as_deref(),
                &b.password,
            )
            .await?)
    };
    let member = s.failures.guard(peer.ip(), attempt).await?;
    let status = if member.is_some() {
        StatusCode::CREATED
    } else {
        StatusCode::ACCEPTED
    };
    Ok((status, Json(JoinOutcome { member })))
}

/// Pending join requests.
#[utoipa::path(get, path = "/orgs/{org}/join-requests", tag = "invitations",
    params(("org" = i64, Path, description = "Organisation id")),
    responses((status = 200, body = Vec<JoinRequest>)), security(("bearerAuth" = [])))]
pub async fn list_join_requests(
    State(s): State<AppState>,
    Auth(c): Auth,
    PathParams(id): PathParams<i64>,
) -> ApiResult<Json<Vec<JoinRequest>>> {
    Ok(Json(s.admin.list_join_requests(&c, org(id)).await?))
}

/// Approves (creates the member) or refuses a join request.
#[utoipa::path(post, path = "/orgs/{org}/join-requests/{id}", tag = "invitations",
    params(("org" = i64, Path, description = "Organisation id"),
           ("id" = i64, Path, description = "Join request id")),
    request_body = Decision,
    responses((status = 200, body = JoinOutcome)), security(("bearerAuth" = [])))]
pub async fn decide_join_request(
    State(s): State<AppState>,
    Auth(c): Auth,
    PathParams((o, id)): PathParams<(i64, i64)>,
    JsonBody(b): JsonBody<Decision>,
) -> ApiResult<Json<JoinOutcome>> {
    let member = s
        .admin
        .decide_join_request(&c, org(o), id, b.approve)
        .await?;
    Ok(Json(JoinOutcome { member }))
}

/// First login: sets the password of a member created without one (no bearer token: the
/// activation token is the credential).
#[utoipa::path(post, path = "/activate", tag = "invitations", request_body = Activation,
    responses((status = 200, body = Member)), security(()))]
pub async fn activate(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    JsonBody(b): JsonBody<Activation>,
) -> ApiResult<Json<Member>> {
    let attempt = async { Ok(s.admin.activate(&b.token, &b.password).await?) };
    Ok(Json(s.failures.guard(peer.ip(), attempt).await?))
}

// ---------------------------------------------------------------------------------------------
// Administrators

/// The organisation's administrators and their roles.
#[utoipa::path(get, path = "/orgs/{org}/admins", tag = "administrators",
    params(("org" = i64, Path, description = "Organisation id")),
    responses((status = 200, body = Vec<AdminGrant>)), security(("bearerAuth" = [])))]
pub async fn list_admins(
    State(s): State<AppState>,
    Auth(c): Auth,
    PathParams(id): PathParams<i64>,
) -> ApiResult<Json<Vec<AdminGrant>>> {
    Ok(Json(s.admin.list_admins(&c, org(id)).await?))
}

/// Makes a member a super or tiered administrator (or changes their role).
#[utoipa::path(put, path = "/members/{id}/admin", tag = "administrators",
    params(("id" = i64, Path, description = "Account id")), request_body = Role,
    responses((status = 200, body = AdminGrant)), security(("bearerAuth" = [])))]
pub async fn grant_admin(
    State(s): State<AppState>,
    Auth(c): Auth,
    PathParams(id): PathParams<i64>,
    JsonBody(b): JsonBody<Role>,
) -> ApiResult<Json<AdminGrant>> {
    Ok(Json(s.admin.grant_admin(&c, account(id), b).await?))
}

/// Removes a member's administrator role (never the creator's).
#[utoipa::path(delete, path = "/members/{id}/admin", tag = "administrators",
    params(("id" = i64, Path, description = "Account id")),
    responses((status = 204, description = "Revoked")), security(("bearerAuth" = [])))]
pub async fn revoke_admin(
    State(s): State<AppState>,
    Auth(c): Auth,
    PathParams(id): PathParams<i64>,
) -> ApiResult<StatusCode> {
    s.admin.revoke_admin(&c, account(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Makes a member the organisation's creator (the previous one becomes a super
/// administrator).
#[utoipa::path(post, path = "/members/{id}/transfer-creator", tag = "administrators",
    params(("id" = i64, Path, description = "Account id")),
    responses((status = 204, description = "Transferred")), security(("bearerAuth" = [])))]
pub async fn transfer_creator(
    State(s): State<AppState>,
    Auth(c): Auth,
    PathParams(id): PathParams<i64>,
) -> ApiResult<StatusCode> {
    s.admin.transfer_creator(&c, account(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}
