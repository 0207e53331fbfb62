//! The authorizer result cache: API Gateway replays an authorizer's answer for every request with
//! the same identity sources (see `identity`) for the TTL, on every route of the stage. A TTL of
//! 0 turns it off. When it holds more than [`MAX_ENTRIES`] answers it is cleared (a local bound;
//! API Gateway's own is not published).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::authorizer::Answer;

/// Answers held before the cache is cleared.
pub const MAX_ENTRIES: usize = 10_000;

/// One authorizer answer, as API Gateway keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct CachedAuth {
    pub at: Instant,
    pub answer: Answer,
}

pub struct AuthCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, CachedAuth>>,
}

impl AuthCache {
    pub fn new(ttl: Duration) -> AuthCache {
        AuthCache {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
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
        let entries = self.entries.lock().ok()?;
        entries
            .get(key)
            .filter(|e| now.saturating_duration_since(e.at) < self.ttl)
            .cloned()
    }

    /// Keep `auth` under `key` (nothing when the cache is off).
    pub fn insert(&self, key: String, auth: CachedAuth) {
        if !self.enabled() {
            return;
        }
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() > MAX_ENTRIES {
                entries.clear();
            }
            entries.insert(key, auth);
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or(0)
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
}
