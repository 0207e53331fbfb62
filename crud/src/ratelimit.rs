//! Per-caller rate limit (GCRA via `governor`), keyed by the caller's `sub`.
//!
//! The state lives in the warm Lambda instance: N concurrent instances allow up to N × the quota.
//! The global limit is API Gateway's stage / usage-plan throttling; this one stops a single caller
//! from monopolising an instance (and its DynamoDB capacity) cheaply, before any DynamoDB call.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

/// Forget idle callers every this many checks, so the key map stays small.
const SWEEP_EVERY: u64 = 4096;

pub struct CallerLimiter {
    inner: RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock>,
    checks: AtomicU64,
}

impl CallerLimiter {
    pub fn per_minute(n: NonZeroU32) -> CallerLimiter {
        CallerLimiter {
            inner: RateLimiter::keyed(Quota::per_minute(n)),
            checks: AtomicU64::new(0),
        }
    }

    /// `Ok` when the caller may proceed, else the whole seconds to wait (at least 1).
    pub fn check(&self, sub: &str) -> Result<(), u64> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.inner.retain_recent();
        }
        self.inner.check_key(&sub.to_owned()).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.inner.clock().now());
            (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_each_caller_separately() {
        let l = CallerLimiter::per_minute(NonZeroU32::new(3).unwrap());
        for _ in 0..3 {
            assert!(l.check("a").is_ok());
        }
        let wait = l.check("a").unwrap_err();
        assert!((1..=20).contains(&wait), "{wait}");
        assert!(l.check("b").is_ok());
    }
}
