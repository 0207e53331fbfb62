//! # bounded-keys — per-client state that cannot grow without bound
//!
//! The functions keep a little state per client in a warm instance; a client chooses its key (an
//! IP, a `sub`, a token), so every such map needs a bound. The two shapes, one implementation each:
//!
//! - [`SweptLimiter`]: a keyed GCRA rate limiter (`governor`) that forgets idle keys every
//!   [`SWEEP_EVERY`] checks. crud's per-caller limit (`crud::ratelimit`) and the edge's per-IP
//!   limit (`edge::ratelimit`, also in WebAssembly: the clock is a type parameter).
//! - [`ClearWhenFull`]: a map of at most `cap` entries; an insert into a full map first drops the
//!   entries that are no longer live and, when all of them still are, clears the map. The
//!   authorizer's verified-token memo (`authorizer::memo`) and the local gateway's authorizer
//!   result cache (`emulator::apigw::cache`).
//!
//! std only: no OS clock or randomness, so the edge's wasm32-unknown-unknown build uses it as is.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::HashMapStateStore;
use governor::{Quota, RateLimiter};

/// [`SweptLimiter`] forgets idle keys every this many checks.
pub const SWEEP_EVERY: u64 = 4096;

/// A keyed GCRA limiter whose key map is swept of idle keys (keys whose bucket is full again,
/// indistinguishable from a key never seen) on every [`SWEEP_EVERY`]th check, before that check.
///
/// **Bound.** Right after a sweep the map holds only keys checked within about two replenish
/// intervals (`governor`'s `retain_recent`: `quota.replenish_interval()`, e.g. 60 ms at 1,000 per
/// minute); until the next sweep at most `SWEEP_EVERY - 1` more checks can add a key each. So it
/// holds at most `SWEEP_EVERY + (distinct keys checked per replenish interval × 2)` keys, at any
/// number of distinct keys over time (tested below).
pub struct SweptLimiter<K: Hash + Eq + Clone, C: Clock> {
    inner: RateLimiter<K, HashMapStateStore<K>, C, NoOpMiddleware<C::Instant>>,
    checks: AtomicU64,
}

impl<K: Hash + Eq + Clone, C: Clock> SweptLimiter<K, C> {
    pub fn new(quota: Quota, clock: C) -> SweptLimiter<K, C> {
        SweptLimiter {
            inner: RateLimiter::hashmap_with_clock(quota, clock),
            checks: AtomicU64::new(0),
        }
    }

    /// `Err(wait)` when `key` is over its limit now (by the limiter's clock).
    pub fn check(&self, key: &K) -> Result<(), Duration> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.inner.retain_recent();
        }
        self.inner
            .check_key(key)
            .map_err(|not_until| not_until.wait_time_from(self.inner.clock().now()))
    }

    /// Keys currently tracked.
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }
}

/// A map of at most `cap` entries (`cap` 0: nothing is kept). An insert into a full map (`cap`
/// entries, whether or not the key is among them) first drops the entries the caller's `live`
/// says are dead and, when that frees no room (all live), clears the map: it never holds more than
/// `cap` entries, and never evicts one by one under its lock.
pub struct ClearWhenFull<K, V> {
    cap: usize,
    map: Mutex<HashMap<K, V>>,
}

impl<K: Hash + Eq, V: Clone> ClearWhenFull<K, V> {
    /// An empty map bounded by `cap`, with room reserved for `reserve` entries up front.
    pub fn new(cap: usize, reserve: usize) -> ClearWhenFull<K, V> {
        ClearWhenFull {
            cap,
            map: Mutex::new(HashMap::with_capacity(reserve.min(cap))),
        }
    }

    pub fn cap(&self) -> usize {
        self.cap
    }

    /// The value under `key` when `live` says it still is; a dead one is removed. `None` also
    /// when `cap` is 0 or the lock is poisoned.
    pub fn get<Q>(&self, key: &Q, live: impl FnOnce(&V) -> bool) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if self.cap == 0 {
            return None;
        }
        let mut map = self.map.lock().ok()?;
        let v = map.get(key)?.clone();
        if live(&v) {
            Some(v)
        } else {
            map.remove(key);
            None
        }
    }

    /// Keep `value` under `key` (replacing an earlier one). When the map is full, the entries
    /// `live` calls dead go first; if it is still full, it is cleared.
    pub fn insert(&self, key: K, value: V, live: impl Fn(&V) -> bool) {
        if self.cap == 0 {
            return;
        }
        if let Ok(mut map) = self.map.lock() {
            if map.len() >= self.cap {
                map.retain(|_, v| live(v));
                if map.len() >= self.cap {
                    // Still full of live entries: start over rather than grow without bound.
                    map.clear();
                }
            }
            map.insert(key, value);
        }
    }

    pub fn len(&self) -> usize {
        self.map.lock().map(|m| m.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Keep only the entries `keep` says to; the number removed.
    pub fn retain(&self, mut keep: impl FnMut(&K, &V) -> bool) -> usize {
        match self.map.lock() {
            Ok(mut map) => {
                let before = map.len();
                map.retain(|k, v| keep(k, v));
                before - map.len()
            }
            Err(_) => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;
    use std::num::NonZeroU32;

    fn limiter(per_minute: u32) -> (SweptLimiter<u64, FakeRelativeClock>, FakeRelativeClock) {
        let clock = FakeRelativeClock::default();
        let q = Quota::per_minute(NonZeroU32::new(per_minute).unwrap());
        (SweptLimiter::new(q, clock.clone()), clock)
    }

    #[test]
    fn the_limiter_limits_each_key_and_reports_the_wait() {
        let (l, clock) = limiter(60);
        for _ in 0..60 {
            assert!(l.check(&1).is_ok());
        }
        assert_eq!(l.check(&1), Err(Duration::from_secs(1)));
        assert!(l.check(&2).is_ok(), "another key is not affected");
        clock.advance(Duration::from_secs(1));
        assert!(l.check(&1).is_ok());
        assert!(l.check(&1).is_err());
        assert_eq!(l.len(), 2);
    }

    #[test]
    fn the_limiter_sweeps_idle_keys_on_every_sweep_every_th_check() {
        let (l, clock) = limiter(60);
        for k in 0..SWEEP_EVERY - 1 {
            assert!(l.check(&k).is_ok());
        }
        assert_eq!(l.len() as u64, SWEEP_EVERY - 1, "no sweep yet");
        clock.advance(Duration::from_secs(3));
        // the SWEEP_EVERY-th check sweeps first: only its own key is left
        assert!(l.check(&u64::MAX).is_ok());
        assert_eq!(l.len(), 1);
    }

    /// The bound: 1,000,000 distinct keys, 100 of them per replenish interval (1 s at 60 per
    /// minute), never more than SWEEP_EVERY + 2 × 100 (+ the key being checked) tracked.
    #[test]
    fn the_limiter_is_bounded_at_any_number_of_distinct_keys() {
        let (l, clock) = limiter(60);
        let per_interval = 100u64;
        let bound = SWEEP_EVERY as usize + 2 * per_interval as usize + 1;
        let mut max = 0;
        for k in 0..1_000_000u64 {
            if k % per_interval == 0 {
                clock.advance(Duration::from_secs(1));
            }
            assert!(l.check(&k).is_ok());
            max = max.max(l.len());
        }
        assert!(max <= bound, "{max} keys tracked, bound {bound}");
        assert!(
            max >= SWEEP_EVERY as usize,
            "the sweep is what bounds it: {max}"
        );
    }

    fn live(v: &(u32, bool)) -> bool {
        v.1
    }

    #[test]
    fn the_map_replays_live_values_and_drops_dead_ones() {
        let m = ClearWhenFull::new(4, 4);
        m.insert("a", (1, true), live);
        assert_eq!(m.get(&"a", live), Some((1, true)));
        assert_eq!(m.get(&"a", |_| false), None, "dead on read");
        assert_eq!(m.len(), 0, "and removed");
        m.insert("a", (1, true), live);
        m.insert("a", (2, true), live);
        assert_eq!(m.get(&"a", live), Some((2, true)), "a later value replaces");
        assert_eq!(m.get(&"b", live), None);
    }

    #[test]
    fn a_full_map_drops_dead_entries_first_then_clears() {
        let m = ClearWhenFull::new(3, 0);
        m.insert(1, (1, true), live);
        m.insert(2, (2, false), live);
        m.insert(3, (3, true), live);
        assert_eq!(m.len(), 3);
        // full: the dead entry goes, the live ones stay
        m.insert(4, (4, true), live);
        assert_eq!(m.len(), 3);
        assert_eq!(m.get(&2, live), None);
        assert!(m.get(&1, live).is_some() && m.get(&3, live).is_some());
        // full of live entries: cleared, then the new one kept
        m.insert(5, (5, true), live);
        assert_eq!(m.len(), 1);
        assert_eq!(m.get(&5, live), Some((5, true)));
    }

    /// The bound: 100,000 distinct keys, every one live, never more than `cap` held.
    #[test]
    fn the_map_is_bounded_at_any_number_of_distinct_keys() {
        let cap = 1000;
        let m = ClearWhenFull::new(cap, cap);
        let mut max = 0;
        for k in 0..100_000u32 {
            m.insert(k, (k, true), live);
            max = max.max(m.len());
        }
        assert_eq!(max, cap);
    }

    #[test]
    fn a_zero_cap_keeps_nothing() {
        let m = ClearWhenFull::new(0, 1024);
        m.insert(1, (1, true), live);
        assert_eq!(m.get(&1, live), None);
        assert!(m.is_empty());
    }
}
