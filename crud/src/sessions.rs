//! Sign-out that signs out: `DELETE /sessions/current`, `DELETE /sessions`,
//! `DELETE /users/{sub}/sessions` (admin-only through the authorizer's route rules).
//!
//! Each writes one entry to `REVOCATION_TABLE` (layout in `revocation_keys`; never a token,
//! only a hash naming it) with `expires_at` = now + `REVOCATION_TTL_SECONDS`, so TTL removes the
//! entry once every token it covers has expired; then runs the [`AfterRevocation`] hooks (on AWS:
//! `FlushStageAuthorizersCache` for the request's stage, and Cognito's `AdminUserGlobalSignOut`
//! for the admin route; in the local gateway: its emulated cache flush). All three are
//! idempotent and answer 204; a store or hook failure is 503 with `Retry-After` (the write, when
//! it happened, is kept: a retry writes the same entry).
//!
//! - `/sessions/current`: the token's session — `origin_jti` (Cognito: every access and id token
//!   minted from the same refresh token), else `jti`; neither → 400 `not_revocable`.
//! - `/sessions`: every token of the caller with `iat` at or before now (to the millisecond).
//! - `/users/{sub}/sessions`: the same for `{sub}` (an owner id: at most 276 bytes, no control
//!   characters, else 400 `invalid_id`); an unknown `sub` is written like any other (204: no
//!   existence oracle).

use std::future::Future;
use std::pin::Pin;
use std::time::SystemTime;

use http::StatusCode;
use revocation_keys::{jti_key, jti_pk, sub_key, sub_pk};

use crate::deps::Deps;
use crate::error::ApiError;
use crate::identity;
use crate::request::ApiRequest;
use crate::response::ApiResponse;
use crate::store::RevocationTable;

pub type HookFuture<'a> = Pin<Box<dyn Future<Output = Result<(), HookError>> + Send + 'a>>;

/// A hook that could not run (503; the message is logged, never sent).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct HookError(pub String);

/// What a revocation sets off besides the table write.
pub trait AfterRevocation: Send + Sync {
    /// Drop every cached authorizer answer of this API stage (API Gateway's
    /// `FlushStageAuthorizersCache`), so a cached Allow is not replayed.
    fn flush_stage<'a>(&'a self, api_id: &'a str, stage: &'a str) -> HookFuture<'a>;
    /// End every refresh token of this user (Cognito's `AdminUserGlobalSignOut`); `sub` is a
    /// plain Cognito `sub` of the primary issuer.
    fn global_sign_out<'a>(&'a self, sub: &'a str) -> HookFuture<'a>;
    /// Whether [`Self::flush_stage`] flushes anything (no flush: no wait for a second one).
    fn flushes(&self) -> bool {
        true
    }
}

fn table(deps: &Deps) -> Result<&RevocationTable, ApiError> {
    deps.revocations.as_ref().ok_or(ApiError::RevocationOff)
}

fn unix(now: SystemTime) -> (u64, u32) {
    let d = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    (d.as_secs(), d.subsec_millis())
}

async fn after(deps: &Deps, req: &ApiRequest, sign_out: Option<&str>) -> Result<(), ApiError> {
    let Some(h) = deps.after_revocation.as_deref() else {
        return Ok(());
    };
    let stages: Vec<&str> = if deps.settings.authorizer_cache_stages.is_empty() {
        req.stage_name.as_deref().into_iter().collect()
    } else {
        deps.settings
            .authorizer_cache_stages
            .iter()
            .map(String::as_str)
            .collect()
    };
    if let (true, Some(api), false) = (h.flushes(), req.api_id.as_deref(), stages.is_empty()) {
        // Flushed now, and again once every authorizer's synced set holds the revocation: an
        // Allow decided in between (by a set read before the write) would otherwise be cached
        // for the cache's whole TTL. The answer waits for the second flush, so a 204 means the
        // token is refused everywhere.
        for stage in &stages {
            flush(h, api, stage).await?;
        }
        let mut wait = propagation(deps);
        if let Some(d) = crate::store::deadline() {
            let left = d
                .saturating_duration_since(std::time::Instant::now())
                .saturating_sub(crate::store::RESPONSE_RESERVE + HOOK_RESERVE);
            if left < wait {
                tracing::warn!(
                    event = "revocation_wait_cut",
                    "the invocation's timeout is shorter than REVOCATION_SYNC_SECONDS + 2 s"
                );
                wait = left;
            }
        }
        tokio::time::sleep(wait).await;
        for stage in &stages {
            flush(h, api, stage).await?;
        }
    }
    if let Some(sub) = sign_out {
        if let Err(e) = h.global_sign_out(sub).await {
            tracing::warn!(event = "global_sign_out_failed", error = %e);
            return Err(ApiError::Unavailable);
        }
    }
    Ok(())
}

/// Kept free before the deadline for the second flush.
const HOOK_RESERVE: std::time::Duration = std::time::Duration::from_millis(1500);

/// How long after the write every warm authorizer refuses the token: `REVOCATION_SYNC_SECONDS`
/// plus the authorizer's grace (1 s: its set may be that much older than the interval before a
/// request waits for a new one) plus 1 s for a decision in flight.
pub fn propagation(deps: &Deps) -> std::time::Duration {
    std::time::Duration::from_secs(deps.settings.revocation_sync_seconds + 2)
}

async fn flush(h: &dyn AfterRevocation, api: &str, stage: &str) -> Result<(), ApiError> {
    h.flush_stage(api, stage).await.map_err(|e| {
        tracing::warn!(event = "authorizer_cache_flush_failed", error = %e);
        ApiError::Unavailable
    })
}

/// `DELETE /sessions/current`.
pub async fn revoke_current(
    req: &ApiRequest,
    deps: &Deps,
    now: SystemTime,
) -> Result<ApiResponse, ApiError> {
    let table = table(deps)?;
    let t = &req.token;
    let claim = [&t.origin_jti, &t.jti]
        .into_iter()
        .find(|c| !c.is_empty())
        .ok_or(ApiError::NotRevocable)?;
    if t.iss.is_empty() {
        return Err(ApiError::NotRevocable);
    }
    let pk = jti_pk(&jti_key(&t.iss, claim));
    let (secs, _) = unix(now);
    table
        .revoke_session(&pk, secs + deps.settings.revocation_ttl_seconds)
        .await?;
    after(deps, req, None).await?;
    tracing::info!(event = "revoked", scope = "session", key = %pk);
    Ok(ApiResponse::empty(StatusCode::NO_CONTENT))
}

async fn revoke_owner(
    req: &ApiRequest,
    deps: &Deps,
    owner: &str,
    now: SystemTime,
    scope: &'static str,
) -> Result<(), ApiError> {
    let table = table(deps)?;
    let pk = sub_pk(&sub_key(owner));
    let (secs, millis) = unix(now);
    table
        .revoke_owner(
            &pk,
            &format!("{secs}.{millis:03}"),
            secs + deps.settings.revocation_ttl_seconds,
        )
        .await?;
    // Cognito's global sign-out names a user of the pool: the primary issuer's plain `sub`.
    let cognito_user = (scope == "user" && !owner.starts_with("iss:")).then_some(owner);
    after(deps, req, cognito_user).await?;
    tracing::info!(event = "revoked", scope, key = %pk);
    Ok(())
}

/// `DELETE /sessions`.
pub async fn revoke_all(
    req: &ApiRequest,
    deps: &Deps,
    sub: &str,
    now: SystemTime,
) -> Result<ApiResponse, ApiError> {
    revoke_owner(req, deps, sub, now, "caller").await?;
    Ok(ApiResponse::empty(StatusCode::NO_CONTENT))
}

/// `DELETE /users/{sub}/sessions`.
pub async fn revoke_user(
    req: &ApiRequest,
    deps: &Deps,
    target: &str,
    now: SystemTime,
) -> Result<ApiResponse, ApiError> {
    let target = identity::caller(Some(target)).map_err(|_| ApiError::InvalidId)?;
    revoke_owner(req, deps, target, now, "user").await?;
    Ok(ApiResponse::empty(StatusCode::NO_CONTENT))
}
