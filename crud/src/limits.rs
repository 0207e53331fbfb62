//! The per-caller limit as a request meets it (`RATE_LIMIT_PER_MINUTE`, `RATE_LIMIT_SCOPE`):
//! off, per warm instance ([`crate::ratelimit::CallerLimiter`]), or deployment-wide: the
//! decisions of [`crate::ratelimit::SharedWindow`] on the count of the shared DynamoDB counter
//! ([`crate::store::RateCounter`], at most one write per request, none for a caller this
//! instance already refused this minute).
//!
//! **Fail open.** When the counter cannot be bumped (throttling, 5xx, a timeout after
//! [`crate::store::COUNTER_TIMEOUT`], a missing table, too little time left in the invocation),
//! the request is served without the limit: the limit is protection, not the service. Each such
//! request logs one `warn` line with a reason code (`rate_limit_store_unavailable`: transient;
//! `rate_limit_store_error`: anything else, e.g. a missing table or permission) and counts in
//! [`RateLimit::fail_opens`] (`main.rs` turns it into the EMF metric `CrudRateLimitFailOpen`,
//! which the template alarms on).

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use crate::config::{RateLimitScope, Settings};
use crate::ratelimit::{unix_ms, Admission, CallerLimiter, SharedWindow};
use crate::store::{RateCounter, Store, StoreError};

/// Reason codes of the fail-open log line.
pub const FAIL_OPEN_UNAVAILABLE: &str = "rate_limit_store_unavailable";
pub const FAIL_OPEN_ERROR: &str = "rate_limit_store_error";

/// The per-caller limit of one instance.
pub enum RateLimit {
    /// `RATE_LIMIT_PER_MINUTE=0`.
    Off,
    /// `RATE_LIMIT_SCOPE=instance`: in memory, per warm instance.
    Instance(CallerLimiter),
    /// `RATE_LIMIT_SCOPE=deployment` (the default): a shared counter per caller per minute.
    Deployment(SharedLimit),
}

/// The deployment-wide limit: the window's decisions on the shared counter's count.
pub struct SharedLimit {
    window: SharedWindow,
    counter: RateCounter,
    fail_opens: AtomicU64,
}

impl RateLimit {
    /// The limit `settings` ask for, its counters on `store`'s client.
    pub fn new(settings: &Settings, store: &Store) -> RateLimit {
        let Some(limit) = NonZeroU32::new(settings.rate_limit_per_minute) else {
            tracing::warn!("RATE_LIMIT_PER_MINUTE=0: per-caller rate limiting is disabled");
            return RateLimit::Off;
        };
        match settings.rate_limit_scope {
            RateLimitScope::Instance => {
                tracing::info!(
                    "RATE_LIMIT_SCOPE=instance: the per-caller limit is per warm instance"
                );
                RateLimit::Instance(CallerLimiter::per_minute(limit))
            }
            RateLimitScope::Deployment => RateLimit::Deployment(SharedLimit {
                window: SharedWindow::new(limit),
                counter: store.rate_counter(settings.rate_limit_table.clone()),
                fail_opens: AtomicU64::new(0),
            }),
        }
    }

    /// `Ok` when `sub` may proceed at `now`, else the whole seconds to wait (`Retry-After`).
    pub async fn check(&self, sub: &str, now: SystemTime) -> Result<(), u64> {
        match self {
            RateLimit::Off => Ok(()),
            RateLimit::Instance(l) => l.check(sub),
            RateLimit::Deployment(s) => s.check(sub, now).await,
        }
    }

    /// Requests served without the shared limit because its counter failed, since init.
    pub fn fail_opens(&self) -> u64 {
        match self {
            RateLimit::Deployment(s) => s.fail_opens.load(Ordering::Relaxed),
            _ => 0,
        }
    }
}

impl SharedLimit {
    async fn check(&self, sub: &str, now: SystemTime) -> Result<(), u64> {
        let w = match self.window.admit(sub, unix_ms(now)) {
            Admission::Refused { retry_after_secs } => return Err(retry_after_secs),
            Admission::Count(w) => w,
        };
        match self.counter.bump(sub, &w.sort_key(), w.expires_at()).await {
            Ok(count) => self.window.decide(sub, w, count),
            Err(e) => {
                self.fail_opens.fetch_add(1, Ordering::Relaxed);
                let reason = match e {
                    StoreError::Unavailable => FAIL_OPEN_UNAVAILABLE,
                    StoreError::Internal => FAIL_OPEN_ERROR,
                };
                tracing::warn!(
                    reason,
                    "rate limit counter failed: request served without the shared limit"
                );
                Ok(())
            }
        }
    }
}
