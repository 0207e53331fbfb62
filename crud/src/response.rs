//! The transport-neutral response ([`ApiResponse`]): JSON, empty and problem documents, each
//! with the headers every answer carries (`Cache-Control: no-store`, `nosniff`).

use http::header::{HeaderName, HeaderValue, CACHE_CONTROL, CONTENT_TYPE, ETAG};
use http::{HeaderMap, StatusCode};

use crate::error::ApiError;
use crate::precondition::{self, Precondition};

/// A response to send back.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl ApiResponse {
    pub fn json(status: StatusCode, body: String) -> ApiResponse {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        ApiResponse {
            status,
            headers,
            body,
        }
        .common()
    }

    pub fn empty(status: StatusCode) -> ApiResponse {
        ApiResponse {
            status,
            headers: HeaderMap::new(),
            body: String::new(),
        }
        .common()
    }

    pub fn problem(e: &ApiError) -> ApiResponse {
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(secs) = e.retry_after() {
            headers.insert(http::header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let ApiError::MethodNotAllowed { allow } = e {
            headers.insert(http::header::ALLOW, HeaderValue::from_static(allow));
        }
        ApiResponse {
            status: e.status(),
            headers,
            body: e.problem_json(),
        }
        .common()
    }

    fn common(mut self) -> ApiResponse {
        self.headers
            .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        self.headers.insert(
            http::header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        self
    }

    /// Add a header whose value we made (ids, versions): never fails for those.
    pub fn with(mut self, name: HeaderName, value: &str) -> ApiResponse {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.insert(name, v);
        }
        self
    }
}

/// 304 (with the `ETag`, no body) when the client already has this version.
pub fn not_modified(none_match: &Option<Precondition>, version: u64) -> Option<ApiResponse> {
    match none_match {
        Some(p) if p.matches(version) => Some(
            ApiResponse::empty(StatusCode::NOT_MODIFIED).with(ETAG, &precondition::etag(version)),
        ),
        _ => None,
    }
}
