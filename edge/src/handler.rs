//! The Lambda handler: the only module that sees Lambda types. Time, randomness and the rollout
//! store come from the OS here; the logic is [`crate::Edge`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use lambda_runtime::{Error, LambdaEvent};

use crate::event::{Event, Output};
use crate::{Context, Edge};

/// When the rollout source was last read (Unix ms; 0 = never). The native binary reads
/// `file://` sources (local runs and tests); on AWS the Node.js handler reads S3 or HTTPS.
static ROLLOUT_READ_AT: AtomicU64 = AtomicU64::new(0);

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Re-read a `file://` rollout source when the last read is older than its TTL. A failed read
/// keeps the last state (which ages out to weight 0 after `max_stale_seconds`).
pub fn refresh_rollout(edge: &Edge, now_ms: u64) {
    let Some(cfg) = edge.rollout() else {
        return;
    };
    let last = ROLLOUT_READ_AT.load(Ordering::Acquire);
    if last != 0 && now_ms.saturating_sub(last) < u64::from(cfg.ttl_seconds) * 1000 {
        return;
    }
    ROLLOUT_READ_AT.store(now_ms.max(1), Ordering::Release);
    let Some(path) = cfg.source.strip_prefix("file://") else {
        return;
    };
    match std::fs::read(path) {
        Ok(bytes) => match edge.load_rollout(&bytes, now_ms) {
            Ok(s) => tracing::debug!(
                code = "rollout_loaded",
                weight = s.effective_weight(),
                "rollout state"
            ),
            Err(e) => tracing::warn!(code = "rollout_invalid", error = %e, "rollout state refused"),
        },
        Err(e) => tracing::warn!(code = "rollout_unreadable", error = %e.kind(), "rollout source"),
    }
}

pub async fn handler(event: LambdaEvent<Event>, edge: &Edge) -> Result<Output, Error> {
    let ctx = Context {
        now_ms: now_ms(),
        random: random_bytes(),
    };
    refresh_rollout(edge, ctx.now_ms);
    let handled = match edge.handle_detailed(event.payload, &ctx) {
        Ok(h) => h,
        Err(e) => {
            tracing::warn!(code = "invalid_event", error = %e, "event refused");
            return Err(e.into());
        }
    };
    for l in handled.log_lines() {
        let variant = l.variant.unwrap_or("");
        let weight = l.weight.map(i64::from).unwrap_or(-1);
        if l.level == "WARN" {
            tracing::warn!(
                code = l.code,
                event = l.event,
                variant,
                weight,
                "{}",
                l.message
            );
        } else {
            tracing::info!(
                code = l.code,
                event = l.event,
                variant,
                weight,
                "{}",
                l.message
            );
        }
    }
    Ok(handled.output)
}

fn random_bytes() -> [u8; 16] {
    let mut b = [0u8; 16];
    if getrandom::fill(&mut b).is_err() {
        // No OS randomness: the bytes only seed the id of a visitor whose request has no
        // CloudFront request id; a fixed id puts such visitors in one bucket, never on an
        // unsafe path.
        b = [0; 16];
    }
    b
}
