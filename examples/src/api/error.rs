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

/// The error codes, as they appear on the wire: the library's [`ErrorCode`].
pub type ErrorCodeName = ErrorCode;

/// The HTTP status of a code.
pub fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::AlreadyExists | ErrorCode::Conflict => StatusCode::CONFLICT,
        ErrorCode::Invalid => StatusCode::BAD_REQUEST,
        ErrorCode::LimitExceeded => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorCode::EditionRequired | ErrorCode::Forbidden => StatusCode::FORBIDDEN,
        ErrorCode::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        _ => StatusCode::SERVICE_UNAVAILABLE,
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
            status: status_of(code),
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
        ApiError::new(e.code, e.message)
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
            (ErrorCode::RateLimited, 429, "rate_limited"),
        ] {
            let e = ApiError::from(AdminError::new(code, "m"));
            assert_eq!(e.status.as_u16(), status);
            let json = serde_json::to_value(&e.body).unwrap_or_default();
            assert_eq!(json["code"], name);
            assert_eq!(code.as_str(), name);
        }
    }
}
