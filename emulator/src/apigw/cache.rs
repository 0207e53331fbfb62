//! The authorizer result cache: API Gateway replays an authorizer's answer for every request with
//! the same identity sources (see `identity`) for the TTL, on every route of the stage. A TTL of
//! 0 turns it off. It holds at most [`MAX_ENTRIES`] + 1 answers: an answer stored into a full
//! cache first drops the answers past their TTL and, when all are live, clears it (a local bound;
//! API Gateway's own is not published). The map is `bounded_keys::ClearWhenFull`, the authorizer
//! memo's.

use std::time::{Duration, Instant};

use bounded_keys::ClearWhenFull;

use super::authorizer::Answer;

/// Answers held before the next one clears the cache (it holds at most `MAX_ENTRIES + 1`).
pub const MAX_ENTRIES: usize = 10_000;

/// One authorizer answer, as API Gateway keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct CachedAuth {
    pub at: Instant,
    pub answer: Answer,
}

pub struct AuthCache {
    ttl: Duration,
    entries: ClearWhenFull<String, CachedAuth>,
}

impl AuthCache {
    pub fn new(ttl: Duration) -> AuthCache {
        AuthCache {
            ttl,
            entries: ClearWhenFull::new(MAX_ENTRIES + 1, 0),
        }
    }

    fn live(&self, e: &CachedAuth, now: Instant) -> bool {
        now.saturating_duration_since(e.at) < self.ttl
    }

    pub fn enabled(&self) -> bool {
        !self.ttl.is_zero()
    }

    /// The answer cached under `key`, if younger than the TTL.
    pub fn get(&self, key: &str) -> Option<CachedAuth> {
        self.get_at(key, Instant::now())
    }

    fn get_at(&self, key: &str, now: Instant) -> Option<CachedAuth> {
        if !self.enabled() {
            return None;
        }
        self.entries.get(key, |e| self.live(e, now))
    }

    /// Keep `auth` under `key` (nothing when the cache is off).
    pub fn insert(&self, key: String, auth: CachedAuth) {
        self.insert_at(key, auth, Instant::now())
    }

    fn insert_at(&self, key: String, auth: CachedAuth, now: Instant) {
        if !self.enabled() {
            return;
        }
        self.entries.insert(key, auth, |e| self.live(e, now));
    }

    /// API Gateway's `FlushStageAuthorizersCache`: every answer cached for `stage` is dropped
    /// (keys start with the stage, see `identity::cache_key`). The number dropped.
    pub fn flush_stage(&self, stage: &str) -> usize {
        self.entries.retain(|k, _| {
            k.strip_prefix(stage)
                .is_none_or(|rest| !rest.starts_with('\u{0}'))
        })
    }

    /// Answers held (for tests and the soak benchmark's bound).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iam::Policy;
    use serde_json::Map;

    fn auth(at: Instant, principal: &str) -> CachedAuth {
        CachedAuth {
            at,
            answer: Answer {
                principal_id: principal.into(),
                policy: Policy::default(),
                context: Map::new(),
            },
        }
    }

    #[test]
    fn answers_are_replayed_for_the_ttl_only() {
        let c = AuthCache::new(Duration::from_secs(300));
        let t0 = Instant::now();
        c.insert("k".into(), auth(t0, "alice"));
        assert_eq!(
            c.get_at("k", t0).map(|a| a.answer.principal_id),
            Some("alice".into())
        );
        assert!(c.get_at("k", t0 + Duration::from_secs(299)).is_some());
        assert!(c.get_at("k", t0 + Duration::from_secs(300)).is_none());
        assert!(c.get_at("other", t0).is_none());
        // a later answer replaces the earlier one
        c.insert("k".into(), auth(t0, "bob"));
        assert_eq!(
            c.get("k").map(|a| a.answer.principal_id),
            Some("bob".into())
        );
    }

    #[test]
    fn a_zero_ttl_turns_the_cache_off() {
        let c = AuthCache::new(Duration::ZERO);
        assert!(!c.enabled());
        c.insert("k".into(), auth(Instant::now(), "alice"));
        assert!(c.get("k").is_none());
        assert_eq!(c.len(), 0);
    }

    #[test]
    fn a_full_cache_is_cleared() {
        let c = AuthCache::new(Duration::from_secs(60));
        let now = Instant::now();
        for i in 0..=MAX_ENTRIES {
            c.insert(format!("k{i}"), auth(now, "p"));
        }
        assert_eq!(c.len(), MAX_ENTRIES + 1);
        c.insert("last".into(), auth(now, "p"));
        assert_eq!(c.len(), 1);
        assert!(c.get("last").is_some());
    }

    #[test]
    fn a_full_cache_drops_expired_answers_first() {
        let c = AuthCache::new(Duration::from_secs(60));
        let t0 = Instant::now();
        c.insert_at("old".into(), auth(t0, "p"), t0);
        for i in 0..MAX_ENTRIES {
            c.insert_at(format!("k{i}"), auth(t0 + Duration::from_secs(30), "p"), t0);
        }
        assert_eq!(c.len(), MAX_ENTRIES + 1);
        let t1 = t0 + Duration::from_secs(61);
        c.insert_at("new".into(), auth(t1, "p"), t1);
        assert_eq!(
            c.len(),
            MAX_ENTRIES + 1,
            "only the expired answer made room"
        );
        assert!(c.get_at("old", t1).is_none());
        assert!(c.get_at("k0", t1).is_some() && c.get_at("new", t1).is_some());
    }

    /// The bound: 50,000 distinct identity keys, every answer live, never more than
    /// MAX_ENTRIES + 1 answers held.
    #[test]
    fn the_cache_is_bounded_at_any_number_of_distinct_keys() {
        let c = AuthCache::new(Duration::from_secs(300));
        let now = Instant::now();
        let mut most = 0;
        for i in 0..50_000 {
            c.insert_at(format!("k{i}"), auth(now, "p"), now);
            most = most.max(c.len());
        }
        assert_eq!(most, MAX_ENTRIES + 1);
    }
}
