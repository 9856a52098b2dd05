//! Request extractors whose rejections are API errors: a malformed body, path or query is a
//! 400 `invalid` (an oversized body a 413 `limit_exceeded`), a missing or bad bearer token a
//! 401 `unauthenticated` — always in the JSON error shape, never axum's plain-text rejections.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use mailcore_store::admin::Caller;
use serde::de::DeserializeOwned;

use super::AppState;
use super::error::{ApiError, ErrorCodeName};

/// The administrator a request acts for, from its `Authorization: Bearer <token>` header.
#[derive(Clone, Debug)]
pub struct Auth(pub Caller);

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let unauthenticated = |m: &str| ApiError::new(ErrorCodeName::Unauthenticated, m.to_owned());
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or_else(|| unauthenticated("missing Authorization: Bearer <token>"))?;
        let value = header
            .to_str()
            .map_err(|_| unauthenticated("malformed Authorization header"))?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or_else(|| unauthenticated("expected Authorization: Bearer <token>"))?;
        Ok(Auth(state.admin.authenticate_token(token.trim()).await?))
    }
}

/// A JSON request body.
#[derive(Clone, Debug)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(JsonBody(v)),
            Err(e) => Err(ApiError::rejected(
                e.status(),
                "request body",
                e.body_text(),
            )),
        }
    }
}

/// A UTF-8 text request body (CSV).
#[derive(Clone, Debug)]
pub struct TextBody(pub String);

impl<S: Send + Sync> FromRequest<S> for TextBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::rejected(e.status(), "request body", e.body_text()))?;
        String::from_utf8(bytes.to_vec())
            .map(TextBody)
            .map_err(|_| ApiError::invalid("request body: not UTF-8 text"))
    }
}

/// Path parameters.
#[derive(Clone, Debug)]
pub struct PathParams<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for PathParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(PathParams(v)),
            Err(e) => Err(ApiError::invalid(format!("path: {}", e.body_text()))),
        }
    }
}

/// Query parameters.
#[derive(Clone, Debug)]
pub struct QueryParams<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(QueryParams(v)),
            Err(e) => Err(ApiError::invalid(format!("query: {}", e.body_text()))),
        }
    }
}
