//! Stage throttling: one token bucket for the whole stage (steady rate per second and burst), as
//! API Gateway's stage-level limits; a request over it gets 429 before anything else runs.

use std::num::NonZeroU32;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

pub struct StageThrottle {
    limiter: DefaultDirectRateLimiter,
}

impl StageThrottle {
    /// `rate` requests per second with bursts of `burst`; 0 counts as 1.
    pub fn new(rate: u32, burst: u32) -> StageThrottle {
        let rate = NonZeroU32::new(rate.max(1)).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN);
        StageThrottle {
            limiter: RateLimiter::direct(Quota::per_second(rate).allow_burst(burst)),
        }
    }

    /// Take one request from the bucket: `false` when the stage is over its limit.
    pub fn admit(&self) -> bool {
        self.limiter.check().is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_burst_is_admitted_then_the_stage_is_throttled() {
        let t = StageThrottle::new(1, 3);
        assert!((0..3).all(|_| t.admit()));
        assert!(!t.admit());
    }

    #[test]
    fn zero_limits_count_as_one() {
        let t = StageThrottle::new(0, 0);
        assert!(t.admit());
        assert!(!t.admit());
    }
}
