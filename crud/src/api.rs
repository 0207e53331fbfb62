//! The transport-neutral API: [`ApiRequest`] in, [`ApiResponse`] out, [`handle`] in between.
//!
//! The Lambda adapter ([`crate::handler`]) and the local gateway both build an [`ApiRequest`]
//! and call [`handle`]; nothing here knows about Lambda event shapes.

use std::time::{Instant, SystemTime};

use http::header::{HeaderName, HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderMap, Method, StatusCode};

use crate::config::Settings;
use crate::cursor::{CursorConfigError, CursorKeys};
use crate::document::BodyError;
use crate::error::ApiError;
use crate::ids::IdGenerator;
use crate::ratelimit::CallerLimiter;
use crate::routes::{self, Route, RouteError};
use crate::store::{Store, StoreError};
use crate::{identity, items, profile};

/// A request, already decoded from whatever carried it.
#[derive(Debug, Clone)]
pub struct ApiRequest {
    pub method: Method,
    /// API Gateway's resource (`/items/{id}`) or route key (`GET /items/{id}`), when known.
    pub route: Option<String>,
    /// The request path (any stage or base-path prefix is fine).
    pub path: String,
    /// The `{id}` path parameter, when the route template gave one.
    pub path_id: Option<String>,
    /// Decoded query parameters, in order, repeats kept.
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    /// The decoded body (`Err` when it was marked base64 but was not).
    pub body: Result<Vec<u8>, BodyError>,
    /// The caller's `sub` from the authorizer context, and only from there.
    pub sub: Option<String>,
}

impl ApiRequest {
    /// A request with no route template, query, headers, body or identity (set the fields you
    /// need): what an in-process caller such as the local gateway starts from.
    pub fn new(method: Method, path: impl Into<String>) -> ApiRequest {
        ApiRequest {
            method,
            route: None,
            path: path.into(),
            path_id: None,
            query: Vec::new(),
            headers: HeaderMap::new(),
            body: Ok(Vec::new()),
            sub: None,
        }
    }
}

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

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(transparent)]
    Cursor(#[from] CursorConfigError),
}

/// Everything a request needs, built once per instance.
pub struct Deps {
    pub store: Store,
    pub settings: Settings,
    pub cursors: CursorKeys,
    pub limiter: Option<CallerLimiter>,
    pub ids: IdGenerator,
}

impl Deps {
    pub fn new(store: Store, settings: Settings) -> Result<Deps, InitError> {
        let cursors = match settings.cursor_secret.as_deref() {
            Some(secret) => CursorKeys::from_secret(secret)?,
            None => {
                tracing::warn!(
                    "CURSOR_SECRET is not set: using a random per-instance cursor key; \
                     cursors will only work on the instance that issued them"
                );
                CursorKeys::random()?
            }
        };
        let limiter = std::num::NonZeroU32::new(settings.rate_limit_per_minute)
            .map(CallerLimiter::per_minute);
        if limiter.is_none() {
            tracing::warn!("RATE_LIMIT_PER_MINUTE=0: per-caller rate limiting is disabled");
        }
        Ok(Deps {
            store,
            settings,
            cursors,
            limiter,
            ids: IdGenerator::default(),
        })
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

/// Handle one request. Never panics on request data; every failure is a problem document.
pub async fn handle(req: ApiRequest, deps: &Deps) -> ApiResponse {
    let started = Instant::now();
    let result = dispatch(&req, deps, SystemTime::now()).await;
    let (response, code) = match result {
        Ok(r) => (r, "-"),
        Err(e) => (ApiResponse::problem(&e), e.code()),
    };
    tracing::info!(
        method = %req.method,
        route = req.route.as_deref().unwrap_or("-"),
        status = response.status.as_u16(),
        code,
        micros = started.elapsed().as_micros() as u64,
        "request"
    );
    response
}

async fn dispatch(req: &ApiRequest, deps: &Deps, now: SystemTime) -> Result<ApiResponse, ApiError> {
    let sub = identity::caller(req.sub.as_deref())?;
    if let Some(limiter) = &deps.limiter {
        limiter
            .check(sub)
            .map_err(|retry_after_secs| ApiError::RateLimited { retry_after_secs })?;
    }
    let resource = routes::resource(req.route.as_deref(), req.path_id.as_deref(), &req.path)
        .ok_or(ApiError::RouteNotFound)?;
    let route = routes::route(resource, &req.method).map_err(|e| match e {
        RouteError::NotFound => ApiError::RouteNotFound,
        RouteError::MethodNotAllowed(allow) => ApiError::MethodNotAllowed { allow },
    })?;
    match route {
        Route::ListItems => items::list(req, deps, sub).await,
        Route::CreateItem => items::create(req, deps, sub, now).await,
        Route::GetItem(id) => items::get(req, deps, sub, &id).await,
        Route::ReplaceItem(id) => items::replace(req, deps, sub, &id, now).await,
        Route::PatchItem(id) => items::patch(req, deps, sub, &id, now).await,
        Route::DeleteItem(id) => items::delete(req, deps, sub, &id).await,
        Route::GetProfile => profile::get(req, deps, sub).await,
        Route::PutProfile => profile::put(req, deps, sub, now).await,
    }
}

/// A header value that is not visible ASCII.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("header value is not visible ASCII")]
pub struct HeaderNotText;

/// Every value of a header, as text.
pub fn header_values<'a>(
    headers: &'a HeaderMap,
    name: &str,
) -> Result<Vec<&'a str>, HeaderNotText> {
    headers
        .get_all(name)
        .iter()
        .map(|v| v.to_str().map_err(|_| HeaderNotText))
        .collect()
}

/// Check the body's media type: one `Content-Type`, one of `allowed`, charset (if any) UTF-8.
pub fn require_media_type(
    headers: &HeaderMap,
    allowed: &[&str],
    expected: &'static str,
) -> Result<(), ApiError> {
    let err = ApiError::UnsupportedMediaType { expected };
    let values = header_values(headers, "content-type").map_err(|_| err.clone())?;
    let [value] = values.as_slice() else {
        return Err(err);
    };
    let mut parts = value.split(';');
    let essence = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    if !allowed.contains(&essence.as_str()) {
        return Err(err);
    }
    for param in parts {
        let Some((k, v)) = param.split_once('=') else {
            return Err(err);
        };
        if k.trim().eq_ignore_ascii_case("charset")
            && !v.trim().trim_matches('"').eq_ignore_ascii_case("utf-8")
        {
            return Err(err);
        }
    }
    Ok(())
}

/// The request body bytes (or the encoding error found while decoding it).
pub fn body(req: &ApiRequest) -> Result<&[u8], ApiError> {
    req.body.as_deref().map_err(|e| ApiError::Body(e.clone()))
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        m
    }

    #[test]
    fn media_types() {
        let j = &["application/json"];
        assert!(require_media_type(&h(&[("content-type", "application/json")]), j, "x").is_ok());
        assert!(require_media_type(
            &h(&[("content-type", "Application/JSON; charset=UTF-8")]),
            j,
            "x"
        )
        .is_ok());
        for bad in [
            "text/plain",
            "application/json; charset=latin1",
            "application/jsonx",
            "application/json;x",
        ] {
            assert!(
                require_media_type(&h(&[("content-type", bad)]), j, "x").is_err(),
                "{bad}"
            );
        }
        assert!(require_media_type(&h(&[]), j, "x").is_err());
        assert!(require_media_type(
            &h(&[
                ("content-type", "application/json"),
                ("content-type", "application/json")
            ]),
            j,
            "x"
        )
        .is_err());
        assert_eq!(hex(&[0, 255, 16]), "00ff10");
    }
}
