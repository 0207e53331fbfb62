//! Canary rollout inside the local gateway: per-variant health and the rollout store's refresh.
//!
//! - The store is the file named by the edge config's `canary.rollout.source` (`file://…`,
//!   written by `scripts/run.sh` as `.local/rollout.json`). The gateway re-reads it every
//!   `ttl_seconds` and hands it to [`edge::Edge::load_rollout`], the code path the Lambda@Edge
//!   package runs against its S3 object: a new weight is in force within `ttl_seconds` (plus one
//!   refresh tick) without restarting anything.
//! - Health: every origin response is counted per variant (`x-canary-variant` at origin-request):
//!   requests and 5xx, in one-second buckets over the last [`WINDOW_SECONDS`], plus totals since
//!   start. The gateway writes them (and the weight in force) to `GATEWAY_HEALTH_FILE` four times
//!   a second; `gateway rollout status` (the `rollout` crate) prints them.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

/// The health window reported by `status`.
pub const WINDOW_SECONDS: u64 = 60;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    second: u64,
    requests: u64,
    errors: u64,
}

#[derive(Debug, Default)]
struct VariantHealth {
    buckets: Mutex<Vec<Bucket>>,
    total_requests: AtomicU64,
    total_errors: AtomicU64,
}

impl VariantHealth {
    fn record(&self, second: u64, is_5xx: bool) {
        self.total_requests.fetch_add(1, Ordering::Relaxed);
        if is_5xx {
            self.total_errors.fetch_add(1, Ordering::Relaxed);
        }
        if let Ok(mut b) = self.buckets.lock() {
            if b.is_empty() {
                b.resize(WINDOW_SECONDS as usize, Bucket::default());
            }
            let slot = &mut b[(second % WINDOW_SECONDS) as usize];
            if slot.second != second {
                *slot = Bucket {
                    second,
                    requests: 0,
                    errors: 0,
                };
            }
            slot.requests += 1;
            slot.errors += u64::from(is_5xx);
        }
    }

    fn report(&self, second: u64) -> Value {
        let (mut requests, mut errors) = (0u64, 0u64);
        if let Ok(b) = self.buckets.lock() {
            for s in b.iter() {
                if s.second + WINDOW_SECONDS > second && s.second <= second {
                    requests += s.requests;
                    errors += s.errors;
                }
            }
        }
        json!({
            "requests": requests,
            "errors_5xx": errors,
            "error_rate": rate(errors, requests),
            "total_requests": self.total_requests.load(Ordering::Relaxed),
            "total_errors_5xx": self.total_errors.load(Ordering::Relaxed),
        })
    }
}

fn rate(errors: u64, requests: u64) -> f64 {
    if requests == 0 {
        0.0
    } else {
        errors as f64 / requests as f64
    }
}

/// Per-variant request and 5xx counts.
#[derive(Debug, Default)]
pub struct Health {
    stable: VariantHealth,
    canary: VariantHealth,
}

impl Health {
    /// Count one origin response of `variant` (`canary` or anything else = stable).
    pub fn record(&self, variant: Option<&str>, status: u16) {
        let v = if variant == Some("canary") {
            &self.canary
        } else {
            &self.stable
        };
        v.record(now_ms() / 1000, status >= 500);
    }

    /// The report `gateway rollout status` prints (plus the weight in force, added by the caller).
    pub fn report(&self) -> Value {
        let second = now_ms() / 1000;
        json!({
            "window_seconds": WINDOW_SECONDS,
            "variants": {"stable": self.stable.report(second), "canary": self.canary.report(second)},
        })
    }
}

/// Keep the edge's rollout state fresh from a `file://` source, and the health file current.
/// Runs until the process ends.
pub async fn run_background(gw: std::sync::Arc<crate::Gateway>, health_file: Option<PathBuf>) {
    let rollout = gw.edge().rollout().cloned();
    let ttl = rollout
        .as_ref()
        .map(|r| Duration::from_secs(u64::from(r.ttl_seconds)))
        .unwrap_or(Duration::from_secs(3600));
    let path = rollout
        .as_ref()
        .and_then(|r| r.source.strip_prefix("file://").map(PathBuf::from));
    if rollout.is_some() && path.is_none() {
        tracing::warn!(
            code = "rollout_source_unsupported",
            "canary.rollout.source is not a file:// URL: the local gateway reads only files; weight stays 0"
        );
    }
    let mut last_read: Option<Instant> = None;
    let mut last_error = String::new();
    loop {
        if let Some(p) = &path {
            if last_read.is_none_or(|t| t.elapsed() >= ttl) {
                last_read = Some(Instant::now());
                let err = match tokio::fs::read(p).await {
                    Ok(bytes) => match gw.edge().load_rollout(&bytes, now_ms()) {
                        Ok(_) => String::new(),
                        Err(e) => e.to_string(),
                    },
                    Err(e) => format!("{}: {}", p.display(), e.kind()),
                };
                if !err.is_empty() && err != last_error {
                    tracing::warn!(code = "rollout_unreadable", error = %err, "rollout state");
                }
                last_error = err;
            }
        }
        if let Some(f) = &health_file {
            let mut report = gw.health().report();
            report["weight"] = json!(gw.edge().weight_at(now_ms()));
            report["at_ms"] = json!(now_ms());
            let _ = write_atomic(f, report.to_string().as_bytes());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_counts_per_variant() {
        let h = Health::default();
        h.record(Some("canary"), 500);
        h.record(Some("canary"), 200);
        h.record(Some("stable"), 503);
        h.record(None, 200);
        let r = h.report();
        assert_eq!(r["variants"]["canary"]["requests"], 2);
        assert_eq!(r["variants"]["canary"]["errors_5xx"], 1);
        assert_eq!(r["variants"]["stable"]["total_requests"], 2);
        assert_eq!(r["variants"]["stable"]["error_rate"], 0.5);
    }
}
