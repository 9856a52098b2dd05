//! Mail groups, business (shared) mailboxes and the recycle bin.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use mailcore::address::EmailAddress;
use mailcore_store::admin::{
    GroupInfo, GroupSpec, Member, NewSharedMailbox, RecycleEntry, SharedMailbox,
};
use mailcore_store::directory::OrgId;
use mailcore_store::mailbox::AccountId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::extract::{Auth, JsonBody, PathParams};

/// A business mailbox just created, with its client password (returned once).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct CreatedSharedMailbox {
    /// The mailbox.
    pub mailbox: SharedMailbox,
    /// The client password for IMAP/POP3/SMTP.
    pub password: String,
}

/// `PUT /shared-mailboxes/{id}/users` body.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SharedUsers {
    /// Account ids of the members who use the mailbox.
    pub users: Vec<i64>,
}

/// `POST /recycle-bin/{id}/reassign` body.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reassign {
    /// Account id of the member who receives the mail.
    pub to: i64,
}

/// The outcome of a reassignment.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Reassigned {
    /// Messages moved.
    pub messages: u64,
}

// ---------------------------------------------------------------------------------------------
// Groups

/// The organisation's mail groups.
#[utoipa::path(get, path = "/orgs/{org}/groups", tag = "groups",
    params(("org" = i64, Path, description = "Organisation id")),
    responses((status = 200, body = Vec<GroupInfo>)), security(("bearerAuth" = [])))]
pub async fn list_groups(
    State(s): State<AppState>,
    Auth(c): Auth,
    PathParams(id): PathParams<i64>,
) -> ApiResult<Json<Vec<GroupInfo>>> {
    Ok(Json(s.admin.list_groups(&c, OrgId(id)).await?))
}

/// Creates a mail group; its address must be on a domain of the organisation.
#[utoipa::path(post, path = "/orgs/{org}/groups", tag = "groups",
    params(("org" = i64, Path, description = "Organisation id")), request_body = GroupSpec,
    responses((status = 201, body = GroupInfo)), security(("bearerAuth" = [])))]
pub async fn create_group(
    State(s): State<AppState>,
    Auth(c): Auth,
    PathParams(id): PathParams<i64>,
    JsonBody(b): JsonBody<GroupSpec>,
) -> ApiResult<(StatusCode, Json<GroupInfo>)> {
    c.require_org(OrgId(id))?;
    let address: EmailAddress = b
        .address
        .parse()
        .map_err(|e| ApiError::invalid(format!("group address {:?}: {e}", b.address)))?;
    match s.admin.store().domain(address.domain()).await {
        Ok(Some(d)) if d.org == OrgId(id) => {}
        Ok(_) => {
            return Err(ApiError::invalid(format!(
                "{} is not a domain of organisation {id}",
                address.domain()
            )));
        }
        Err(e) => return Err(mailcore_store::admin::AdminError::from(e).into()),
    }
    let g = s.admin.create_group(&c, b).await?;
    Ok((StatusCode::CREATED, Json(g)))
}

/// One group.
#[utoipa::path(get, path = "/groups/{address}", tag = "groups",
    params(("address" = String, Path, description = "The group's address")),
    responses((status = 200, body = GroupInfo)), security(("bearerAuth" = [])))]
pub async fn get_group(
    State(s): State<AppState>,
    Auth(c): Auth,
    PathParams(address): PathParams<String>,
) -> ApiResult<Json<GroupInfo>> {
    Ok(Json(s.admin.group(&c, &address).await?))
}

/// Replaces a group's name, members, departments and representatives (the body's `address`
/// is ignored: the path names the group).
#[utoipa::path(put, path = "/groups/{address}", tag = "groups",
    params(("address" = String, Path, description = "The group's address")),
    request_body = GroupSpec,
    responses((status = 200, body = GroupInfo)), security(("bearerAuth" = [])))]
pub async fn update_group(
    State(s): State<AppState>,
    Auth(c): Auth,
    PathParams(address): PathParams<String>,
    JsonBody(mut b): JsonBody<GroupSpec>,
) -> ApiResult<Json<GroupInfo>> {
    b.address = address;
    Ok(Json(s.admin.update_group(&c, b).await?))
}

/// Deletes a group.
#[utoipa::path(delete, path = "/groups/{address}", tag = "groups",
    params(("address" = String, Path, description = "The group's address")),
    responses((status = 204, description = "Deleted")), security(("bearerAuth" = [])))]
pub async fn delete_group(
    State(s): State<AppState>,
    Auth(c): Auth,
    PathParams(address): PathParams<String>,
) -> ApiResult<StatusCode> {
    s.admin.delete_group(&c, &address).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------------------------------------
// Business mailboxes

/// The organisation's business mailboxes.
#[utoipa::path(get, path = "/orgs/{org}/shared-mailboxes", tag = "shared mailboxes",
    params(("org" = i64, Path, description = "Organisation id")),
    responses((status = 200, body = Vec<SharedMailbox>)), security(("bearerAuth" = [])))]
pub async fn list_shared(
    State(s): State<AppState>,
    Auth(c): Auth,
    PathParams(id): PathParams<i64>,
) -> ApiResult<Json<Vec<SharedMailbox>>> {
    Ok(Json(s.admin.list_shared_mailboxes(&c, OrgId(id)).await?))
}

/// Creates a business mailbox within the edition's count limit.
#[utoipa::path(post, path = "/orgs/{org}/shared-mailboxes", tag = "shared mailboxes",
    params(("org" = i64, Path, description = "Organisation id")), request_body = NewSharedMailbox,
    responses((status = 201, body = CreatedSharedMailbox)), security(("bearerAuth" = [])))]
pub async fn create_shared(
    State(s): State<AppState>,
    Auth(c): Auth,
    PathParams(id): PathParams<i64>,
    JsonBody(b): JsonBody<NewSharedMailbox>,
) -> ApiResult<(StatusCode, Json<CreatedSharedMailbox>)> {
    let (mailbox, password) = s.admin.create_shared_mailbox(&c, OrgId(id), b).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedSharedMailbox {
            mailbox,
            password: password.password,
        }),
    ))
}

/// Replaces the members who use a business mailbox.
#[utoipa::path(put, path = "/shared-mailboxes/{id}/users", tag = "shared mailboxes",
    params(("id" = i64, Path, description = "The mailbox's account id")),
    request_body = SharedUsers,
    responses((status = 200, body = SharedMailbox)), security(("bearerAuth" = [])))]
pub async fn set_shared_users(
    State(s): State<AppState>,
    Auth(c): Auth,
    PathParams(id): PathParams<i64>,
    JsonBody(b): JsonBody<SharedUsers>,
) -> ApiResult<Json<SharedMailbox>> {
    Ok(Json(
        s.admin.set_shared_users(&c, AccountId(id), b.users).await?,
    ))
}

// ---------------------------------------------------------------------------------------------
// Recycle bin

/// Deleted members and reclaimed business mailboxes, with their purge dates.
#[utoipa::path(get, path = "/orgs/{org}/recycle-bin", tag = "recycle bin",
    params(("org" = i64, Path, description = "Organisation id")),
    responses((status = 200, body = Vec<RecycleEntry>)), security(("bearerAuth" = [])))]
pub async fn recycle_bin(
    State(s): State<AppState>,
    Auth(c): Auth,
    PathParams(id): PathParams<i64>,
) -> ApiResult<Json<Vec<RecycleEntry>>> {
    Ok(Json(s.admin.recycle_bin(&c, OrgId(id)).await?))
}

/// Restores an account from the recycle bin, with its mail.
#[utoipa::path(post, path = "/recycle-bin/{id}/restore", tag = "recycle bin",
    params(("id" = i64, Path, description = "Account id")),
    responses((status = 200, body = Member)), security(("bearerAuth" = [])))]
pub async fn restore(
    State(s): State<AppState>,
    Auth(c): Auth,
    PathParams(id): PathParams<i64>,
) -> ApiResult<Json<Member>> {
    Ok(Json(s.admin.restore(&c, AccountId(id)).await?))
}

/// Moves a recycled account's mail to another member.
#[utoipa::path(post, path = "/recycle-bin/{id}/reassign", tag = "recycle bin",
    params(("id" = i64, Path, description = "Account id")), request_body = Reassign,
    responses((status = 200, body = Reassigned)), security(("bearerAuth" = [])))]
pub async fn reassign(
    State(s): State<AppState>,
    Auth(c): Auth,
    PathParams(id): PathParams<i64>,
    JsonBody(b): JsonBody<Reassign>,
) -> ApiResult<Json<Reassigned>> {
    let n = s.admin.reassign(&c, AccountId(id), AccountId(b.to)).await?;
    Ok(Json(Reassigned { messages: n as u64 }))
}

/// A recycled account's mail as an mbox file.
#[utoipa::path(get, path = "/recycle-bin/{id}/export", tag = "recycle bin",
    params(("id" = i64, Path, description = "Account id")),
    responses((status = 200, content_type = "application/mbox", body = String,
        description = "Every message, mboxrd-quoted")),
    security(("bearerAuth" = [])))]
pub async fn export(
    State(s): State<AppState>,
    Auth(c): Auth,
    PathParams(id): PathParams<i64>,
) -> ApiResult<Response> {
    let mbox = s.admin.export_mbox(&c, AccountId(id)).await?;
    Ok((
        [
            (CONTENT_TYPE, "application/mbox".to_owned()),
            (
                CONTENT_DISPOSITION,
                format!("attachment; filename=\"account-{id}.mbox\""),
            ),
        ],
        mbox,
    )
        .into_response())
}

/// Deletes a recycled account and its mail now.
#[utoipa::path(delete, path = "/recycle-bin/{id}", tag = "recycle bin",
    params(("id" = i64, Path, description = "Account id")),
    responses((status = 204, description = "Purged")), security(("bearerAuth" = [])))]
pub async fn purge(
    State(s): State<AppState>,
    Auth(c): Auth,
    PathParams(id): PathParams<i64>,
) -> ApiResult<StatusCode> {
    s.admin.purge(&c, AccountId(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}
