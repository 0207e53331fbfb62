//! Per-caller rate limits, keyed by the caller's `sub`: the pure pieces (no I/O; the clock is a
//! parameter).
//!
//! - [`CallerLimiter`]: per warm instance (GCRA via `governor`), `RATE_LIMIT_SCOPE=instance`.
//!   N concurrent instances allow up to N × the quota.
//! - [`SharedWindow`]: the deployment-wide limit (`RATE_LIMIT_SCOPE=deployment`, the default):
//!   one counter per caller per **clock minute** (UTC, Unix seconds / 60) in DynamoDB, bumped
//!   with one `UpdateItem … ADD` per request ([`crate::store::RateCounter`]; [`crate::limits`]
//!   puts the two together). The count DynamoDB returns decides: the n-th request of a minute
//!   passes when n ≤ the limit, so exactly `limit` requests per caller per clock minute pass,
//!   however many instances serve them (DynamoDB's `ADD` is atomic). Over the limit the answer
//!   waits until the window frees: [`Window::retry_after_secs`] = whole seconds to the next
//!   minute (1..=60).
//! - The cheap first line of the shared limit: a per-instance memory of callers already refused
//!   in the current minute ([`SharedWindow::admit`]), so a refused caller costs no further write
//!   on that instance until the minute ends. It only ever refuses what the counter has already
//!   refused (a count within a minute never goes down), so it adds no allowance.
//!
//! **Clock-minute boundaries.** Windows are fixed clock minutes, so the limit holds per clock
//! minute, not per sliding 60 s: a caller who spends the whole quota in the last second of one
//! minute can spend it again in the first second of the next. Worst case: 2 × the limit within
//! one second around a boundary, never more than 2 × the limit within any 60 s span, never more
//! than the limit within one clock minute. Instances' clocks (NTP-synchronised on Lambda) may
//! differ by milliseconds around a boundary; each minute's counter still holds its limit.

use std::num::NonZeroU32;

use bounded_keys::SweptLimiter;
/// Idle callers are forgotten every this many checks, so the key map stays small.
pub use bounded_keys::SWEEP_EVERY;
use governor::clock::DefaultClock;
use governor::Quota;

/// The per-instance limit (`RATE_LIMIT_SCOPE=instance`): `bounded_keys::SweptLimiter` (the
/// edge's per-IP limit is the same one), which forgets idle callers every [`SWEEP_EVERY`] checks,
/// so the key map stays bounded.
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

/// One clock minute of the shared limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Unix minutes (Unix seconds / 60): the counter's key.
    pub minute: u64,
    /// Whole seconds until the next minute starts (1..=60): the `Retry-After` of a refusal.
    pub retry_after_secs: u64,
}

impl Window {
    /// The window holding `now_ms` (Unix milliseconds).
    pub fn at(now_ms: u64) -> Window {
        let minute = now_ms / 60_000;
        let left_ms = (minute + 1) * 60_000 - now_ms;
        Window {
            minute,
            retry_after_secs: left_ms.div_ceil(1000),
        }
    }

    /// The counter's sort key in the caller's partition (`ratelimit#<Unix minute>`; see
    /// [`crate::store`]'s key layout: never an item, profile or idempotency key, never listed).
    pub fn sort_key(&self) -> String {
        format!("{COUNTER_PREFIX}{}", self.minute)
    }

    /// The counter's TTL (`expires_at`, Unix seconds): one minute after its window ends.
    pub fn expires_at(&self) -> u64 {
        (self.minute + 2) * 60
    }
}

/// Sort-key prefix of the shared limit's counters (`crate::store` re-exports it).
pub const COUNTER_PREFIX: &str = "ratelimit#";

/// Unix milliseconds of `now` (0 before the epoch).
pub fn unix_ms(now: std::time::SystemTime) -> u64 {
    now.duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// At most this many refused callers are remembered per instance (a caller's `sub` is at most
/// 255 bytes, so about 2.6 MB at worst); when full, entries of past minutes are dropped, and if
/// all are current nothing more is remembered (those callers' requests then write the counter,
/// which still refuses them).
pub const REFUSED_CAPACITY: usize = 10_000;

/// The deployment-wide limit's decisions: the limit, and the callers this instance has seen
/// refused in the current minute. Pure: the time is a parameter of every call.
pub struct SharedWindow {
    limit: NonZeroU32,
    /// `sub` → the Unix minute it was refused in.
    refused: std::sync::Mutex<std::collections::HashMap<String, u64>>,
}

/// What to do with a request before the counter is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Count it in this window (one `UpdateItem`), then [`SharedWindow::decide`].
    Count(Window),
    /// Refused already this minute on this instance: 429 without a write.
    Refused { retry_after_secs: u64 },
}

impl SharedWindow {
    pub fn new(limit: NonZeroU32) -> SharedWindow {
        SharedWindow {
            limit,
            refused: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }

    pub fn limit(&self) -> u32 {
        self.limit.get()
    }

    /// Before the counter: refuse at once a caller this instance saw refused this minute.
    pub fn admit(&self, sub: &str, now_ms: u64) -> Admission {
        let w = Window::at(now_ms);
        let refused = self
            .refused
            .lock()
            .map(|m| m.get(sub) == Some(&w.minute))
            .unwrap_or(false);
        if refused {
            Admission::Refused {
                retry_after_secs: w.retry_after_secs,
            }
        } else {
            Admission::Count(w)
        }
    }

    /// After the counter answered `count` (this request's position in `w`, from 1): `Ok` when it
    /// is within the limit, else the seconds until `w` ends (the caller is remembered as refused
    /// for the rest of `w`).
    pub fn decide(&self, sub: &str, w: Window, count: u64) -> Result<(), u64> {
        if count <= u64::from(self.limit.get()) {
            return Ok(());
        }
        if let Ok(mut m) = self.refused.lock() {
            if m.len() >= REFUSED_CAPACITY && !m.contains_key(sub) {
                m.retain(|_, minute| *minute >= w.minute);
            }
            if m.len() < REFUSED_CAPACITY || m.contains_key(sub) {
                m.insert(sub.to_owned(), w.minute);
            }
        }
        Err(w.retry_after_secs)
    }

    /// Callers remembered as refused (tests).
    pub fn remembered(&self) -> usize {
        self.refused.lock().map(|m| m.len()).unwrap_or(0)
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

    /// 2026-12-06T19:00:00Z, a minute boundary, in Unix ms.
    const T0: u64 = 1_796_583_600_000;

    #[test]
    fn windows_are_clock_minutes_and_retry_after_is_the_time_to_the_next() {
        assert_eq!(T0 % 60_000, 0);
        let m = T0 / 60_000;
        for (offset_ms, minute, retry) in [
            (0, m, 60),          // the first millisecond of a minute: the whole minute to wait
            (1, m, 60),          // 59.999 s left: rounded up
            (999, m, 60),        // 59.001 s left
            (1_000, m, 59),      // exactly 59 s left
            (30_500, m, 30),     // 29.5 s left
            (59_000, m, 1),      // exactly 1 s left
            (59_001, m, 1),      // under a second left: never 0
            (59_999, m, 1),      // the last millisecond
            (60_000, m + 1, 60), // the next minute
        ] {
            let w = Window::at(T0 + offset_ms);
            assert_eq!(
                (w.minute, w.retry_after_secs),
                (minute, retry),
                "+{offset_ms} ms"
            );
        }
        let w = Window::at(T0);
        assert_eq!(w.sort_key(), format!("ratelimit#{m}"));
        // TTL: a minute after the window ends.
        assert_eq!(w.expires_at(), T0 / 1000 + 120);
        assert_eq!(unix_ms(std::time::UNIX_EPOCH), 0);
        assert_eq!(
            unix_ms(std::time::UNIX_EPOCH + std::time::Duration::from_millis(T0)),
            T0
        );
    }

    #[test]
    fn the_counter_decides_and_a_refused_caller_is_refused_without_a_write_until_the_minute_ends() {
        let s = SharedWindow::new(NonZeroU32::new(3).unwrap());
        let Admission::Count(w) = s.admit("a", T0 + 10_000) else {
            panic!("first request is counted")
        };
        for n in 1..=3 {
            assert_eq!(s.decide("a", w, n), Ok(()), "{n}");
        }
        assert_eq!(s.remembered(), 0);
        assert_eq!(s.decide("a", w, 4), Err(50));
        // Remembered: refused without asking the counter, Retry-After still to the minute's end.
        assert_eq!(
            s.admit("a", T0 + 20_400),
            Admission::Refused {
                retry_after_secs: 40
            }
        );
        assert_eq!(
            s.admit("a", T0 + 59_999),
            Admission::Refused {
                retry_after_secs: 1
            }
        );
        // Another caller is not affected.
        assert!(matches!(s.admit("b", T0 + 20_000), Admission::Count(_)));
        // The next minute counts again (a new counter).
        let Admission::Count(next) = s.admit("a", T0 + 60_000) else {
            panic!("a new minute is counted")
        };
        assert_eq!(next.minute, w.minute + 1);
        assert_eq!(s.decide("a", next, 1), Ok(()));
    }

    #[test]
    fn the_refused_memory_is_bounded_and_drops_past_minutes_first() {
        let s = SharedWindow::new(NonZeroU32::new(1).unwrap());
        let w0 = Window::at(T0);
        for i in 0..REFUSED_CAPACITY {
            assert!(s.decide(&format!("u{i}"), w0, 2).is_err());
        }
        assert_eq!(s.remembered(), REFUSED_CAPACITY);
        // Full of current entries: the next refused caller is refused but not remembered.
        assert_eq!(s.decide("late", w0, 2), Err(60));
        assert_eq!(s.remembered(), REFUSED_CAPACITY);
        assert!(matches!(s.admit("late", T0 + 1), Admission::Count(_)));
        // A minute later the old entries make room.
        let w1 = Window::at(T0 + 60_000);
        assert_eq!(s.decide("next", w1, 2), Err(60));
        assert_eq!(s.remembered(), 1);
        assert!(matches!(
            s.admit("next", T0 + 60_001),
            Admission::Refused { .. }
        ));
    }

    /// Instances sharing one counter (a map standing in for DynamoDB's atomic `ADD`), each with
    /// its own first line, requests at pseudo-random times over three minutes: per clock minute
    /// exactly min(limit, requests) pass, and no 60 s span passes more than 2 × the limit.
    #[test]
    fn instances_sharing_a_counter_pass_exactly_the_limit_per_clock_minute() {
        use std::collections::HashMap;
        const LIMIT: u32 = 25;
        let instances: Vec<SharedWindow> = (0..4)
            .map(|_| SharedWindow::new(NonZeroU32::new(LIMIT).unwrap()))
            .collect();
        let mut counter: HashMap<(String, u64), u64> = HashMap::new();
        let mut writes = 0u64;
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut rand = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut times: Vec<u64> = (0..400).map(|_| T0 + rand() % 180_000).collect();
        times.sort_unstable();
        let mut passed: Vec<u64> = Vec::new();
        let mut refusals = 0;
        for &t in &times {
            let inst = &instances[(rand() % 4) as usize];
            match inst.admit("alice", t) {
                Admission::Refused { retry_after_secs } => {
                    assert_eq!(retry_after_secs, Window::at(t).retry_after_secs);
                    refusals += 1;
                }
                Admission::Count(w) => {
                    writes += 1;
                    let n = counter.entry(("alice".into(), w.minute)).or_insert(0);
                    *n += 1;
                    match inst.decide("alice", w, *n) {
                        Ok(()) => passed.push(t),
                        Err(retry) => {
                            assert_eq!(retry, w.retry_after_secs);
                            refusals += 1;
                        }
                    }
                }
            }
        }
        for minute in 0..3 {
            let start = T0 + minute * 60_000;
            let arrivals = times
                .iter()
                .filter(|&&t| t >= start && t < start + 60_000)
                .count();
            let ok = passed
                .iter()
                .filter(|&&t| t >= start && t < start + 60_000)
                .count();
            assert!(
                arrivals > LIMIT as usize,
                "the test must overload each minute"
            );
            assert_eq!(ok, LIMIT as usize, "minute {minute}");
        }
        for &t in &passed {
            let span = passed.iter().filter(|&&u| u >= t && u < t + 60_000).count();
            assert!(span <= 2 * LIMIT as usize, "{span} within 60 s of {t}");
        }
        assert_eq!(passed.len() + refusals, times.len());
        // The first line saved writes: at most the limit plus one refusal per instance per
        // minute reach the counter once the callers are remembered.
        assert!(writes <= 3 * (u64::from(LIMIT) + 4), "{writes} writes");
    }

    /// The documented worst case at a boundary: the whole quota in the last second of a minute
    /// and again in the first second of the next, 2 × the limit within two seconds; never more.
    #[test]
    fn a_boundary_allows_at_most_two_quotas_back_to_back() {
        let s = SharedWindow::new(NonZeroU32::new(10).unwrap());
        let mut counts = std::collections::HashMap::new();
        let mut ok = 0;
        for t in (T0 + 59_000..T0 + 61_000).step_by(50) {
            if let Admission::Count(w) = s.admit("a", t) {
                let n = counts.entry(w.minute).or_insert(0u64);
                *n += 1;
                if s.decide("a", w, *n).is_ok() {
                    ok += 1;
                }
            }
        }
        assert_eq!(ok, 20);
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
