//! Every way a request can fail, each with one HTTP status and one stable `code`, rendered as
//! RFC 9457 `application/problem+json`.
//!
//! The `code` strings are a public contract (listed in `docs/crud-api.md` and `crud/openapi.json`;
//! a test checks all three agree). Details never carry internals: no SDK messages, table names,
//! owners or stack traces.

use http::StatusCode;

use crate::document::BodyError;
use crate::store::{CondFailure, StoreError};

/// A failed request. One variant per failure, each mapped to exactly one status and code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    #[error("no caller identity in the authorizer context")]
    Unauthenticated,
    #[error("rate limit exceeded")]
    RateLimited { retry_after_secs: u64 },
    #[error("no such route")]
    RouteNotFound,
    #[error("method not allowed")]
    MethodNotAllowed { allow: &'static str },
    #[error("item not found")]
    NotFound,
    #[error("invalid id")]
    InvalidId,
    #[error("invalid body: {0}")]
    Body(BodyError),
    #[error("unsupported media type")]
    UnsupportedMediaType { expected: &'static str },
    #[error("invalid limit")]
    InvalidLimit,
    #[error("invalid cursor")]
    InvalidCursor,
    #[error("invalid Idempotency-Key")]
    InvalidIdempotencyKey,
    #[error("invalid If-Match / If-None-Match")]
    InvalidPrecondition,
    #[error("precondition failed")]
    PreconditionFailed,
    #[error("concurrent modification")]
    WriteConflict,
    #[error("idempotent request still in flight")]
    IdempotencyInFlight,
    #[error("Idempotency-Key reused with another body")]
    IdempotencyKeyReused,
    #[error("the token names no session")]
    NotRevocable,
    #[error("revocation is not configured")]
    RevocationOff,
    #[error("service unavailable")]
    Unavailable,
    #[error("internal error")]
    Internal,
}

/// One row of the error table: status, stable code, human title.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorKind {
    pub status: u16,
    pub code: &'static str,
    pub title: &'static str,
}

/// The complete table of error codes this service can answer with (besides success).
pub const ERROR_TABLE: &[ErrorKind] = &[
    ErrorKind {
        status: 400,
        code: "invalid_json",
        title: "The body is not valid JSON (or not UTF-8)",
    },
    ErrorKind {
        status: 400,
        code: "not_an_object",
        title: "The body must be a JSON object",
    },
    ErrorKind {
        status: 400,
        code: "duplicate_key",
        title: "A JSON object has the same member twice",
    },
    ErrorKind {
        status: 400,
        code: "too_deep",
        title: "The JSON nesting is too deep",
    },
    ErrorKind {
        status: 400,
        code: "number_out_of_range",
        title: "A number cannot be stored exactly",
    },
    ErrorKind {
        status: 400,
        code: "invalid_attribute_name",
        title: "An attribute name is empty, too long or has control characters",
    },
    ErrorKind {
        status: 400,
        code: "server_owned_field",
        title: "The body sets a field only the server may set",
    },
    ErrorKind {
        status: 400,
        code: "invalid_body_encoding",
        title: "The body is marked base64 but is not valid base64",
    },
    ErrorKind {
        status: 400,
        code: "invalid_id",
        title: "The item id is not a valid id",
    },
    ErrorKind {
        status: 400,
        code: "invalid_limit",
        title: "limit must be an integer from 1 to 100, given once",
    },
    ErrorKind {
        status: 400,
        code: "invalid_cursor",
        title: "The cursor is malformed, forged, or belongs to another caller",
    },
    ErrorKind {
        status: 400,
        code: "invalid_idempotency_key",
        title: "Idempotency-Key must be 1-255 visible ASCII characters, given once",
    },
    ErrorKind {
        status: 400,
        code: "invalid_precondition",
        title: "If-Match / If-None-Match is malformed",
    },
    ErrorKind {
        status: 401,
        code: "unauthenticated",
        title: "No caller identity",
    },
    ErrorKind {
        status: 404,
        code: "not_found",
        title: "No such item",
    },
    ErrorKind {
        status: 404,
        code: "route_not_found",
        title: "No such route",
    },
    ErrorKind {
        status: 405,
        code: "method_not_allowed",
        title: "Method not allowed on this route",
    },
    ErrorKind {
        status: 409,
        code: "write_conflict",
        title: "The item kept changing concurrently; retry",
    },
    ErrorKind {
        status: 409,
        code: "idempotency_in_flight",
        title: "A request with this Idempotency-Key is still in flight",
    },
    ErrorKind {
        status: 412,
        code: "precondition_failed",
        title: "If-Match does not match the current version",
    },
    ErrorKind {
        status: 413,
        code: "body_too_large",
        title: "The body (or the patched item) is too large",
    },
    ErrorKind {
        status: 415,
        code: "unsupported_media_type",
        title: "Unsupported Content-Type",
    },
    ErrorKind {
        status: 422,
        code: "idempotency_key_reused",
        title: "This Idempotency-Key was used with another body",
    },
    ErrorKind {
        status: 429,
        code: "rate_limited",
        title: "Too many requests",
    },
    ErrorKind {
        status: 400,
        code: "not_revocable",
        title: "The token names no session (it has neither origin_jti nor jti)",
    },
    ErrorKind {
        status: 500,
        code: "internal_error",
        title: "Internal error",
    },
    ErrorKind {
        status: 501,
        code: "revocation_not_configured",
        title: "Sessions cannot be revoked here (no REVOCATION_TABLE)",
    },
    ErrorKind {
        status: 503,
        code: "service_unavailable",
        title: "The data store is unavailable; retry later",
    },
];

fn kind(code: &str) -> ErrorKind {
    ERROR_TABLE
        .iter()
        .copied()
        .find(|k| k.code == code)
        .unwrap_or(ErrorKind {
            status: 500,
            code: "internal_error",
            title: "Internal error",
        })
}

impl ApiError {
    /// The stable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthenticated => "unauthenticated",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::RouteNotFound => "route_not_found",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::NotFound => "not_found",
            ApiError::InvalidId => "invalid_id",
            ApiError::Body(b) => b.code(),
            ApiError::UnsupportedMediaType { .. } => "unsupported_media_type",
            ApiError::InvalidLimit => "invalid_limit",
            ApiError::InvalidCursor => "invalid_cursor",
            ApiError::InvalidIdempotencyKey => "invalid_idempotency_key",
            ApiError::InvalidPrecondition => "invalid_precondition",
            ApiError::PreconditionFailed => "precondition_failed",
            ApiError::WriteConflict => "write_conflict",
            ApiError::IdempotencyInFlight => "idempotency_in_flight",
            ApiError::IdempotencyKeyReused => "idempotency_key_reused",
            ApiError::NotRevocable => "not_revocable",
            ApiError::RevocationOff => "revocation_not_configured",
            ApiError::Unavailable => "service_unavailable",
            ApiError::Internal => "internal_error",
        }
    }

    pub fn kind(&self) -> ErrorKind {
        kind(self.code())
    }

    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.kind().status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// A short, safe, human-readable detail (never internals).
    pub fn detail(&self) -> String {
        match self {
            ApiError::Body(b) => b.to_string(),
            ApiError::UnsupportedMediaType { expected } => {
                format!("Content-Type must be {expected}")
            }
            ApiError::MethodNotAllowed { allow } => format!("allowed methods: {allow}"),
            ApiError::RateLimited { retry_after_secs } => {
                format!("retry after {retry_after_secs} s")
            }
            other => other.kind().title.to_string(),
        }
    }

    /// Seconds for a `Retry-After` header, for the errors that carry one.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            ApiError::RateLimited { retry_after_secs } => Some(*retry_after_secs),
            ApiError::Unavailable | ApiError::IdempotencyInFlight => Some(1),
            _ => None,
        }
    }

    /// The RFC 9457 problem document.
    pub fn problem_json(&self) -> String {
        let k = self.kind();
        serde_json::json!({
            "type": format!("urn:apigw-guard:crud:error:{}", k.code),
            "title": k.title,
            "status": k.status,
            "detail": self.detail(),
            "code": k.code,
        })
        .to_string()
    }
}

impl From<BodyError> for ApiError {
    fn from(e: BodyError) -> Self {
        ApiError::Body(e)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable => ApiError::Unavailable,
            StoreError::Internal => ApiError::Internal,
        }
    }
}

/// A refused conditional write: no such item (404), or another version (412).
impl From<CondFailure> for ApiError {
    fn from(f: CondFailure) -> Self {
        match f {
            CondFailure::Missing => ApiError::NotFound,
            CondFailure::VersionMismatch => ApiError::PreconditionFailed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_in_the_table_once() {
        let mut seen = std::collections::HashSet::new();
        for k in ERROR_TABLE {
            assert!(seen.insert(k.code), "duplicate code {}", k.code);
        }
        let samples = [
            ApiError::Unauthenticated,
            ApiError::RateLimited {
                retry_after_secs: 3,
            },
            ApiError::RouteNotFound,
            ApiError::MethodNotAllowed { allow: "GET" },
            ApiError::NotFound,
            ApiError::InvalidId,
            ApiError::UnsupportedMediaType {
                expected: "application/json",
            },
            ApiError::InvalidLimit,
            ApiError::InvalidCursor,
            ApiError::InvalidIdempotencyKey,
            ApiError::InvalidPrecondition,
            ApiError::PreconditionFailed,
            ApiError::WriteConflict,
            ApiError::IdempotencyInFlight,
            ApiError::IdempotencyKeyReused,
            ApiError::Unavailable,
            ApiError::Internal,
        ];
        for e in samples {
            assert!(
                ERROR_TABLE.iter().any(|k| k.code == e.code()),
                "{} missing",
                e.code()
            );
        }
        for b in BodyError::samples() {
            assert!(
                ERROR_TABLE.iter().any(|k| k.code == b.code()),
                "{} missing",
                b.code()
            );
        }
    }

    #[test]
    fn problem_document_shape() {
        let p: serde_json::Value =
            serde_json::from_str(&ApiError::PreconditionFailed.problem_json()).unwrap();
        assert_eq!(p["status"], 412);
        assert_eq!(p["code"], "precondition_failed");
        assert_eq!(p["type"], "urn:apigw-guard:crud:error:precondition_failed");
        assert_eq!(
            ApiError::RateLimited {
                retry_after_secs: 7
            }
            .retry_after(),
            Some(7)
        );
        assert_eq!(
            ApiError::Unavailable.status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
}
