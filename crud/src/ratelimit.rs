//! Per-caller rate limit (GCRA via `governor`), keyed by the caller's `sub`.
//!
//! The state lives in the warm Lambda instance: N concurrent instances allow up to N × the quota.
//! The global limit is API Gateway's stage / usage-plan throttling; this one stops a single caller
//! from monopolising an instance (and its DynamoDB capacity) cheaply, before any DynamoDB call.
//!
//! The limiter is `bounded_keys::SweptLimiter` (the edge's per-IP limit is the same one): idle
//! callers are forgotten every [`SWEEP_EVERY`] checks, which bounds the key map.

use std::num::NonZeroU32;

use bounded_keys::SweptLimiter;
/// Idle callers are forgotten every this many checks, so the key map stays small.
pub use bounded_keys::SWEEP_EVERY;
use governor::clock::DefaultClock;
use governor::Quota;

pub struct CallerLimiter {
    inner: SweptLimiter<String, DefaultClock>,
}

impl CallerLimiter {
    pub fn per_minute(n: NonZeroU32) -> CallerLimiter {
        CallerLimiter {
            inner: SweptLimiter::new(Quota::per_minute(n), DefaultClock::default()),
        }
    }

    /// `Ok` when the caller may proceed, else the whole seconds to wait (at least 1).
    pub fn check(&self, sub: &str) -> Result<(), u64> {
        self.inner
            .check(&sub.to_owned())
            .map_err(|wait| (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1))
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

    #[test]
    fn idle_callers_are_swept_so_the_map_stays_bounded() {
        // 60,000 a minute: a caller is forgotten 2 ms after its one request. Idle for 10 ms
        // before each sweep, the map never holds more than the callers since the last sweep.
        let l = CallerLimiter::per_minute(NonZeroU32::new(60_000).unwrap());
        let sweep = SWEEP_EVERY as usize;
        let mut most = 0;
        for i in 0..3 * sweep {
            if i % sweep == sweep - 1 {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            assert!(l.check(&format!("sub-{i}")).is_ok());
            most = most.max(l.inner.len());
        }
        assert_eq!(most, sweep, "distinct callers tracked at most");
        assert_eq!(l.inner.len(), 1, "right after the last sweep");
    }
}
