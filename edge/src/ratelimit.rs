//! Per-client-IP rate limit (GCRA, via `governor`), checked at viewer-request.
//!
//! The limit is per edge instance (one Lambda@Edge execution environment, or one native process):
//! CloudFront spreads viewers over many instances, so it bounds what one client can make one
//! instance do, not a global quota (use AWS WAF rate rules for that). IPv6 clients are keyed by
//! their /64, since one subscriber usually holds a whole /64.
//!
//! The clock is the time the caller passes in (WebAssembly has no clock of its own), made
//! monotonic: time never runs backwards for the limiter.
//!
//! The limiter is `bounded_keys::SweptLimiter` (crud's per-caller limit is the same one): idle
//! clients are forgotten every [`SWEEP_EVERY`] checks, which bounds the key map.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bounded_keys::SweptLimiter;
/// Idle clients are forgotten every this many checks, keeping memory bounded.
pub use bounded_keys::SWEEP_EVERY;
use governor::clock::Clock;
use governor::nanos::Nanos;
use governor::Quota;

use crate::config::{ConfigError, RateLimitConfig};

/// A clock that reads the latest time handed to [`RateLimit::check`].
#[derive(Debug, Clone, Default)]
pub struct PassedInClock(Arc<AtomicU64>);

impl PassedInClock {
    fn advance_to(&self, unix_ms: u64) {
        self.0
            .fetch_max(unix_ms.saturating_mul(1_000_000), Ordering::Relaxed);
    }
}

impl Clock for PassedInClock {
    type Instant = Nanos;
    fn now(&self) -> Nanos {
        Nanos::from(self.0.load(Ordering::Relaxed))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum ClientKey {
    V4(u32),
    V6Prefix(u64),
    /// A client IP CloudFront would never send; they share one bucket.
    Unparsable,
}

fn client_key(ip: &str) -> ClientKey {
    match ip.parse::<IpAddr>() {
        Ok(IpAddr::V4(a)) => ClientKey::V4(u32::from(a)),
        Ok(IpAddr::V6(a)) => match a.to_ipv4_mapped() {
            Some(v4) => ClientKey::V4(u32::from(v4)),
            None => ClientKey::V6Prefix((u128::from(a) >> 64) as u64),
        },
        Err(_) => ClientKey::Unparsable,
    }
}

type Limiter = SweptLimiter<ClientKey, PassedInClock>;

pub struct RateLimit {
    limiter: Option<Limiter>,
    clock: PassedInClock,
}

impl RateLimit {
    pub fn new(c: &RateLimitConfig) -> Result<RateLimit, ConfigError> {
        let clock = PassedInClock::default();
        let limiter = if c.enabled {
            let rate = NonZeroU32::new(c.requests_per_minute)
                .ok_or(ConfigError::ZeroRate("requests_per_minute"))?;
            let burst = match c.burst {
                None => rate,
                Some(b) => NonZeroU32::new(b).ok_or(ConfigError::ZeroRate("burst"))?,
            };
            let quota = Quota::per_minute(rate).allow_burst(burst);
            Some(SweptLimiter::new(quota, clock.clone()))
        } else {
            None
        };
        Ok(RateLimit { limiter, clock })
    }

    /// `Err(wait)` when `client_ip` is over its limit at `now_ms` (Unix milliseconds).
    pub fn check(&self, client_ip: &str, now_ms: u64) -> Result<(), Duration> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        self.clock.advance_to(now_ms);
        limiter.check(&client_key(client_ip))
    }

    /// Clients currently tracked (for tests and metrics).
    pub fn tracked(&self) -> usize {
        self.limiter.as_ref().map_or(0, SweptLimiter::len)
    }
}

impl std::fmt::Debug for RateLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimit")
            .field("enabled", &self.limiter.is_some())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(rpm: u32) -> RateLimit {
        RateLimit::new(&RateLimitConfig {
            enabled: true,
            requests_per_minute: rpm,
            burst: None,
        })
        .unwrap()
    }

    #[test]
    fn limits_per_client_and_recovers_with_time() {
        let rl = limit(60);
        let t0 = 1_700_000_000_000;
        for _ in 0..60 {
            assert!(rl.check("203.0.113.9", t0).is_ok());
        }
        let wait = rl.check("203.0.113.9", t0).unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        assert!(
            rl.check("203.0.113.10", t0).is_ok(),
            "another client is not affected"
        );
        assert!(
            rl.check("203.0.113.9", t0 + 1000).is_ok(),
            "one more token after 1 s"
        );
        assert!(rl.check("203.0.113.9", t0 + 1000).is_err());
    }

    #[test]
    fn time_never_runs_backwards() {
        let rl = limit(1);
        let t0 = 1_700_000_000_000;
        assert!(rl.check("198.51.100.1", t0 + 120_000).is_ok());
        // An older timestamp does not rewind the limiter into granting more.
        assert!(rl.check("198.51.100.1", t0).is_err());
    }

    #[test]
    fn ipv6_clients_share_their_slash_64() {
        let rl = limit(2);
        let t0 = 1_700_000_000_000;
        assert!(rl.check("2001:db8:1:2::1", t0).is_ok());
        assert!(rl.check("2001:db8:1:2::ffff", t0).is_ok());
        assert!(rl.check("2001:db8:1:2:abcd::1", t0).is_err());
        assert!(rl.check("2001:db8:1:3::1", t0).is_ok());
    }

    #[test]
    fn idle_clients_are_swept_so_the_map_stays_bounded() {
        // 1000 a minute: a client's one request keeps it tracked for two emission intervals
        // (2 x 60 ms), so with one new client a millisecond at most SWEEP_EVERY clients since the
        // last sweep plus ~120 recent ones are tracked, however many distinct clients come.
        let rl = limit(1000);
        let t0 = 1_700_000_000_000;
        let mut most = 0;
        for i in 0..100_000u32 {
            let ip = std::net::Ipv4Addr::from(0x0a00_0000 + i).to_string();
            assert!(rl.check(&ip, t0 + u64::from(i)).is_ok());
            most = most.max(rl.tracked());
        }
        assert!(most <= SWEEP_EVERY as usize + 256, "{most} clients tracked");
        assert!(
            most >= SWEEP_EVERY as usize,
            "{most}: swept too early to prove anything"
        );
    }

    #[test]
    fn disabled_means_unlimited() {
        let rl = RateLimit::new(&RateLimitConfig {
            enabled: false,
            ..RateLimitConfig::default()
        })
        .unwrap();
        for _ in 0..5000 {
            assert!(rl.check("203.0.113.9", 0).is_ok());
        }
        assert!(RateLimit::new(&RateLimitConfig {
            requests_per_minute: 0,
            ..RateLimitConfig::default()
        })
        .is_err());
    }
}
