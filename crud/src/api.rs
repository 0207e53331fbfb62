//! Dispatch, the top of the crate: [`handle`] takes an [`ApiRequest`], checks the caller's
//! identity and rate limit, finds the route and calls its handler ([`crate::items`],
//! [`crate::profile`]), within the invocation's deadline; every failure becomes a problem
//! [`ApiResponse`]. The Lambda adapter ([`crate::handler`]) and the local gateway both call it.

use std::time::{Instant, SystemTime};

use crate::deps::Deps;
use crate::error::ApiError;
use crate::request::ApiRequest;
use crate::response::ApiResponse;
use crate::routes::{self, Route, RouteError};
use crate::store;
use crate::{identity, items, profile, sessions};

/// Handle one request. Never panics on request data; every failure is a problem document.
pub async fn handle(req: ApiRequest, deps: &Deps) -> ApiResponse {
    handle_until(req, deps, None).await
}

/// [`handle`] within an invocation deadline (Lambda's `Timeout`, from the Runtime API): every
/// DynamoDB call is budgeted against the time left (see [`crate::store`]), and an answer is
/// always ready before the deadline (503 `service_unavailable` when the data store could not
/// answer in time).
pub async fn handle_until(req: ApiRequest, deps: &Deps, deadline: Option<Instant>) -> ApiResponse {
    let started = Instant::now();
    let work = store::with_deadline(deadline, dispatch(&req, deps, SystemTime::now()));
    let result = match deadline {
        None => work.await,
        // A last guard only: the store's budgets end every call before this fires.
        Some(d) => {
            let limit = d
                .saturating_duration_since(started)
                .saturating_sub(store::RESPONSE_RESERVE / 2);
            match tokio::time::timeout(limit, work).await {
                Ok(r) => r,
                Err(_) => {
                    tracing::warn!("request stopped at the invocation deadline");
                    Err(ApiError::Unavailable)
                }
            }
        }
    };
    let (response, code) = match result {
        Ok(r) => (r, "-"),
        Err(e) => (ApiResponse::problem(&e), e.code()),
    };
    tracing::info!(
        method = %req.method,
        route = req.route.as_deref().unwrap_or("-"),
        request_id = req.request_id.as_deref().unwrap_or(""),
        status = response.status.as_u16(),
        code,
        micros = started.elapsed().as_micros() as u64,
        "request"
    );
    response
}

async fn dispatch(req: &ApiRequest, deps: &Deps, now: SystemTime) -> Result<ApiResponse, ApiError> {
    let sub = identity::caller(req.sub.as_deref())?;
    deps.rate_limit
        .check(sub, now)
        .await
        .map_err(|retry_after_secs| ApiError::RateLimited { retry_after_secs })?;
    let resource = routes::resource_with(
        req.route.as_deref(),
        req.path_id.as_deref(),
        req.path_sub.as_deref(),
        &req.path,
        req.stage.as_deref(),
    )
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
        Route::RevokeCurrentSession => sessions::revoke_current(req, deps, now).await,
        Route::RevokeSessions => sessions::revoke_all(req, deps, sub, now).await,
        Route::RevokeUserSessions(target) => sessions::revoke_user(req, deps, &target, now).await,
    }
}
