//! `GET /profile` and `PUT /profile`: the caller's own profile document, one per user under the
//! fixed sort key `profile`, with the same validation and versioning as items (no `id`).
//! `PUT` creates (201) or replaces (200); `If-Match` makes it conditional, `If-None-Match: *`
//! makes it create-only.

use std::time::SystemTime;

use http::header::{ETAG, LOCATION};
use http::StatusCode;

use crate::deps::Deps;
use crate::document;
use crate::error::ApiError;
use crate::precondition::{self, Precondition};
use crate::request::{self, if_match, if_none_match, ApiRequest};
use crate::response::{not_modified, ApiResponse};
use crate::store::{Record, WriteCondition, PROFILE_KEY};
use crate::timefmt;

/// Profile JSON: the document plus `version`, `created_at`, `updated_at`.
pub fn render(r: &Record) -> Result<String, ApiError> {
    let item = crate::items::render("", r)?;
    // Drop the empty `"id":"",` the item renderer starts with.
    item.strip_prefix("{\"id\":\"\",")
        .map(|rest| format!("{{{rest}"))
        .ok_or(ApiError::Internal)
}

pub async fn get(req: &ApiRequest, deps: &Deps, sub: &str) -> Result<ApiResponse, ApiError> {
    let none_match = if_none_match(req)?;
    let r = deps
        .store
        .get(sub, PROFILE_KEY)
        .await?
        .ok_or(ApiError::NotFound)?;
    if let Some(resp) = not_modified(&none_match, r.version) {
        return Ok(resp);
    }
    Ok(ApiResponse::json(StatusCode::OK, render(&r)?).with(ETAG, &precondition::etag(r.version)))
}

pub async fn put(
    req: &ApiRequest,
    deps: &Deps,
    sub: &str,
    now: SystemTime,
) -> Result<ApiResponse, ApiError> {
    let limits = deps.settings.limits;
    request::require_media_type(&req.headers, &["application/json"], "application/json")?;
    let pre = if_match(req)?;
    let none_match = request::header_values(&req.headers, "if-none-match")
        .map_err(|_| ApiError::InvalidPrecondition)?;
    let create_only =
        match precondition::parse(none_match).map_err(|_| ApiError::InvalidPrecondition)? {
            None => false,
            Some(Precondition::Any) => true,
            // Only `If-None-Match: *` means something for a PUT here.
            Some(Precondition::Versions(_)) => return Err(ApiError::InvalidPrecondition),
        };
    if create_only && pre.is_some() {
        return Err(ApiError::InvalidPrecondition);
    }
    let doc = document::canonical(
        &document::parse_object(request::body(req)?, limits)?,
        limits,
    )?;
    let cond = match &pre {
        None if create_only => WriteCondition::Absent,
        None => WriteCondition::Any,
        Some(Precondition::Any) => WriteCondition::Exists,
        Some(Precondition::Versions(v)) if v.is_empty() => {
            return Err(match deps.store.get(sub, PROFILE_KEY).await? {
                None => ApiError::NotFound,
                Some(_) => ApiError::PreconditionFailed,
            })
        }
        Some(Precondition::Versions(v)) => WriteCondition::Versions(v),
    };
    let ts = timefmt::rfc3339(timefmt::unix_millis(now));
    let res = deps.store.put_profile(sub, &doc, &ts, cond).await?;
    let r = res?;
    let status = if r.version == 1 {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let mut resp =
        ApiResponse::json(status, render(&r)?).with(ETAG, &precondition::etag(r.version));
    if status == StatusCode::CREATED {
        resp = resp.with(LOCATION, "/profile");
    }
    Ok(resp)
}
