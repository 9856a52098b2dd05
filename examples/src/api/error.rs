//! API errors: every failure is a JSON body `{"code": "...", "message": "..."}` with the
//! library's stable [`ErrorCode`] and the HTTP status that code maps to.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use mailcore_store::admin::{AdminError, ErrorCode};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The body of every error response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// Stable machine-readable code.
    #[schema(example = "not_found")]
    pub code: ErrorCodeName,
    /// Human-readable explanation.
    pub message: String,
}

/// The error codes, as they appear on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCodeName {
    /// 404: the named thing does not exist.
    NotFound,
    /// 409: the named thing exists already.
    AlreadyExists,
    /// 400: the request is malformed or breaks a rule.
    Invalid,
    /// 409: the state changed concurrently or forbids the change now.
    Conflict,
    /// 422 (413 for an oversized body): a limit would be exceeded.
    LimitExceeded,
    /// 403: the feature needs the professional edition.
    EditionRequired,
    /// 403: the caller's role does not allow this.
    Forbidden,
    /// 401: no valid bearer token.
    Unauthenticated,
    /// 503: the store failed; retrying later may work.
    Unavailable,
}

impl ErrorCodeName {
    fn of(code: ErrorCode) -> ErrorCodeName {
        match code {
            ErrorCode::NotFound => ErrorCodeName::NotFound,
            ErrorCode::AlreadyExists => ErrorCodeName::AlreadyExists,
            ErrorCode::Invalid => ErrorCodeName::Invalid,
            ErrorCode::Conflict => ErrorCodeName::Conflict,
            ErrorCode::LimitExceeded => ErrorCodeName::LimitExceeded,
            ErrorCode::EditionRequired => ErrorCodeName::EditionRequired,
            ErrorCode::Forbidden => ErrorCodeName::Forbidden,
            ErrorCode::Unauthenticated => ErrorCodeName::Unauthenticated,
            _ => ErrorCodeName::Unavailable,
        }
    }

    /// The HTTP status of the code.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorCodeName::NotFound => StatusCode::NOT_FOUND,
            ErrorCodeName::AlreadyExists | ErrorCodeName::Conflict => StatusCode::CONFLICT,
            ErrorCodeName::Invalid => StatusCode::BAD_REQUEST,
            ErrorCodeName::LimitExceeded => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCodeName::EditionRequired | ErrorCodeName::Forbidden => StatusCode::FORBIDDEN,
            ErrorCodeName::Unauthenticated => StatusCode::UNAUTHORIZED,
            ErrorCodeName::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

/// A failed request: status plus [`ErrorBody`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// The body.
    pub body: ErrorBody,
}

impl ApiError {
    /// An error with the status its code maps to.
    pub fn new(code: ErrorCodeName, message: impl Into<String>) -> ApiError {
        ApiError {
            status: code.status(),
            body: ErrorBody {
                code,
                message: message.into(),
            },
        }
    }

    /// A malformed request (400 `invalid`).
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCodeName::Invalid, message)
    }

    /// A request body over the size limit (413 `limit_exceeded`).
    pub fn too_large(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            body: ErrorBody {
                code: ErrorCodeName::LimitExceeded,
                message: message.into(),
            },
        }
    }

    /// Maps a rejected request part: oversized bodies are 413, everything else 400.
    pub fn rejected(status: StatusCode, what: &str, text: String) -> ApiError {
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large(format!("{what}: {text}"))
        } else {
            ApiError::invalid(format!("{what}: {text}"))
        }
    }
}

impl From<AdminError> for ApiError {
    fn from(e: AdminError) -> ApiError {
        ApiError::new(ErrorCodeName::of(e.code), e.message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

/// The result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_statuses() {
        for (code, status, name) in [
            (ErrorCode::NotFound, 404, "not_found"),
            (ErrorCode::AlreadyExists, 409, "already_exists"),
            (ErrorCode::Invalid, 400, "invalid"),
            (ErrorCode::Conflict, 409, "conflict"),
            (ErrorCode::LimitExceeded, 422, "limit_exceeded"),
            (ErrorCode::EditionRequired, 403, "edition_required"),
            (ErrorCode::Forbidden, 403, "forbidden"),
            (ErrorCode::Unauthenticated, 401, "unauthenticated"),
            (ErrorCode::Unavailable, 503, "unavailable"),
        ] {
            let e = ApiError::from(AdminError::new(code, "m"));
            assert_eq!(e.status.as_u16(), status);
            let json = serde_json::to_value(&e.body).unwrap_or_default();
            assert_eq!(json["code"], name);
            assert_eq!(code.as_str(), name);
        }
    }
}
