//! The canary's run-time rollout state: the weight and a kill switch, read from a store the host
//! can reach (an S3 object on AWS, a file locally), so a ramp needs no new edge version.
//!
//! The edge itself does no I/O: the host (the Node.js handler of the Lambda@Edge package, the
//! native binary, the local gateway) reads `canary.rollout.source` at most every
//! `canary.rollout.ttl_seconds` and hands the bytes to [`crate::Edge::load_rollout`] with the
//! time. The weight in force at a request is then:
//!
//! - the state's `weight_percent` (0 when `kill` is true), while the last successful read is at
//!   most `max_stale_seconds` old;
//! - 0 (everyone on stable, the fail-safe) before the first successful read and once the last one
//!   is older than `max_stale_seconds` (the store unreachable or its object unreadable).
//!
//! A document that does not parse keeps the previous state (and its age): a bad write to the
//! store can never raise the weight, and it ages out like an unreachable store.
//!
//! The state document holds no secret and the schema refuses every key it does not know, so
//! none can be put there by mistake:
//! `{"weight_percent": 10, "kill": false, "updated_at": "2025-01-01T00:00:00Z"}`.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

/// The document in the rollout store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolloutState {
    /// Share of visitors on the canary, 0-100.
    pub weight_percent: u8,
    /// Everyone on stable, whatever the weight.
    #[serde(default)]
    pub kill: bool,
    /// When and by what the state was written (informational, at most 64 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
}

impl RolloutState {
    /// Parse and check a state document. Errors name the problem, never a value of the document.
    pub fn from_json(bytes: &[u8]) -> Result<RolloutState, RolloutError> {
        let s: RolloutState = serde_json::from_slice(bytes).map_err(|e| {
            RolloutError::Invalid(crate::config::redacted_json_error(&e, "rollout state"))
        })?;
        if s.weight_percent > 100 {
            return Err(RolloutError::WeightOutOfRange);
        }
        if s.updated_at.as_ref().is_some_and(|u| u.len() > 64) {
            return Err(RolloutError::Invalid(
                "rollout state: updated_at is longer than 64 characters".into(),
            ));
        }
        Ok(s)
    }

    /// The weight this state puts in force.
    pub fn effective_weight(&self) -> u8 {
        if self.kill {
            0
        } else {
            self.weight_percent
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RolloutError {
    #[error("{0}")]
    Invalid(String),
    #[error("rollout state: weight_percent must be between 0 and 100")]
    WeightOutOfRange,
    #[error("canary.rollout is not configured")]
    NotConfigured,
}

pub use crate::config::RolloutConfig;

/// The last state loaded and when, in one word: `at_ms << 16 | kill << 8 | weight`
/// (`at_ms` = 0: never loaded). Lock-free, so one edge serves concurrent requests.
#[derive(Debug, Default)]
pub(crate) struct Live(AtomicU64);

impl Live {
    pub(crate) fn snapshot(&self) -> Live {
        Live(AtomicU64::new(self.0.load(Ordering::Acquire)))
    }

    pub(crate) fn store(&self, s: &RolloutState, now_ms: u64) {
        let at = now_ms.max(1) & ((1 << 48) - 1);
        self.0.store(
            (at << 16) | (u64::from(s.kill) << 8) | u64::from(s.weight_percent),
            Ordering::Release,
        );
    }

    /// The weight in force at `now_ms`, and the age of the state (ms) when there is one.
    pub(crate) fn weight_at(&self, now_ms: u64, max_stale_ms: u64) -> (u8, Option<u64>) {
        let w = self.0.load(Ordering::Acquire);
        let at = w >> 16;
        if at == 0 {
            return (0, None);
        }
        let age = now_ms.saturating_sub(at);
        if age > max_stale_ms || (w >> 8) & 1 == 1 {
            return (0, Some(age));
        }
        ((w & 0xff) as u8, Some(age))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses() {
        let s = RolloutState::from_json(br#"{"weight_percent": 25}"#).unwrap();
        assert_eq!((s.weight_percent, s.kill), (25, false));
        assert_eq!(
            RolloutState::from_json(br#"{"weight_percent": 25, "kill": true}"#)
                .unwrap()
                .effective_weight(),
            0
        );
        for bad in [
            &br#"{"weight_percent": 101}"#[..],
            br#"{"weight_percent": -1}"#,
            br#"{"weight": 5}"#,
            br#"{"weight_percent": 5, "secret": "SUPERSECRETVALUE"}"#,
            br#"{"weight_percent": "SUPERSECRETVALUE"}"#,
            b"",
            b"[]",
        ] {
            let e = RolloutState::from_json(bad).unwrap_err().to_string();
            assert!(!e.contains("SUPERSECRETVALUE"), "{e}");
        }
    }

    #[test]
    fn live_state_ages_out_to_stable() {
        let l = Live::default();
        assert_eq!(l.weight_at(1000, 5000), (0, None));
        l.store(
            &RolloutState {
                weight_percent: 40,
                kill: false,
                updated_at: None,
            },
            10_000,
        );
        assert_eq!(l.weight_at(12_000, 5000), (40, Some(2000)));
        assert_eq!(l.weight_at(15_000, 5000).0, 40);
        assert_eq!(l.weight_at(15_001, 5000).0, 0);
        l.store(
            &RolloutState {
                weight_percent: 40,
                kill: true,
                updated_at: None,
            },
            16_000,
        );
        assert_eq!(l.weight_at(16_000, 5000).0, 0);
    }
}
