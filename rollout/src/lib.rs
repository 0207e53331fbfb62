//! Canary rollout, locally: per-variant health, the rollout store, and the `gateway rollout`
//! command (status, set, ramp).
//!
//! - The store is the file named by the edge config's `canary.rollout.source` (`file://…`,
//!   written by `scripts/run.sh` as `.local/rollout.json`). The gateway re-reads it every
//!   `ttl_seconds` and hands it to [`edge::Edge::load_rollout`], the code path the Lambda@Edge
//!   package runs against its S3 object: a new weight is in force within `ttl_seconds` (plus one
//!   refresh tick) without restarting anything.
//! - Health: every origin response is counted per variant (`x-canary-variant` at origin-request):
//!   requests and 5xx, in one-second buckets over the last [`WINDOW_SECONDS`], plus totals since
//!   start. The gateway writes them (and the weight in force) to `GATEWAY_HEALTH_FILE` four times
//!   a second; `gateway rollout status` prints them.
//! - `ramp` sets each step's weight, waits until the gateway reports it in force, then bakes for
//!   `--bake-seconds` while reading the health file: as soon as the canary has at least
//!   `--min-requests` requests in the step and its 5xx rate is above `--max-error-rate` (or above
//!   stable's rate plus that), the weight goes to 0, the reason is printed and the command exits 1.

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

// ------------------------------------------------------------------------------------------------
// `gateway rollout …`
// ------------------------------------------------------------------------------------------------

/// Where the local stack keeps its rollout store and health report (from `.local/state.json`).
#[derive(Debug, Clone)]
pub struct Local {
    pub rollout_file: PathBuf,
    pub health_file: PathBuf,
    /// How long a new weight may take to be in force (the store's TTL plus a margin).
    pub propagation: Duration,
}

impl Local {
    pub fn from_state(state: &Value) -> Result<Local, String> {
        let (Some(r), Some(h)) = (
            state["rollout_file"].as_str(),
            state["health_file"].as_str(),
        ) else {
            return Err("state lacks rollout_file/health_file: restart scripts/run.sh".into());
        };
        let ttl = state["rollout_ttl_seconds"].as_u64().unwrap_or(1);
        Ok(Local {
            rollout_file: r.into(),
            health_file: h.into(),
            propagation: Duration::from_secs(ttl) + Duration::from_secs(2),
        })
    }

    pub fn read_state(&self) -> Result<edge::rollout::RolloutState, String> {
        let b = std::fs::read(&self.rollout_file)
            .map_err(|e| format!("{}: {e}", self.rollout_file.display()))?;
        edge::rollout::RolloutState::from_json(&b).map_err(|e| e.to_string())
    }

    pub fn health(&self) -> Result<Value, String> {
        let b = std::fs::read(&self.health_file).map_err(|e| {
            format!(
                "{}: {e} (is the gateway running?)",
                self.health_file.display()
            )
        })?;
        let v: Value = serde_json::from_slice(&b).map_err(|e| e.to_string())?;
        let age = now_ms().saturating_sub(v["at_ms"].as_u64().unwrap_or(0));
        if age > 5000 {
            return Err(format!(
                "{} is {age} ms old: is the gateway running?",
                self.health_file.display()
            ));
        }
        Ok(v)
    }

    /// Write the store; then wait until the gateway reports `expect` in force.
    pub fn set(&self, weight: u8, kill: bool) -> Result<Value, String> {
        let state = edge::rollout::RolloutState {
            weight_percent: weight,
            kill,
            updated_at: Some(format!("unix-ms:{}", now_ms())),
        };
        let bytes = serde_json::to_vec(&state).map_err(|e| e.to_string())?;
        let started = Instant::now();
        write_atomic(&self.rollout_file, &bytes)
            .map_err(|e| format!("{}: {e}", self.rollout_file.display()))?;
        let expect = state.effective_weight();
        loop {
            if let Ok(h) = self.health() {
                if h["weight"].as_u64() == Some(u64::from(expect)) {
                    return Ok(json!({
                        "weight_percent": weight, "kill": kill, "in_force": expect,
                        "propagation_ms": started.elapsed().as_millis() as u64,
                    }));
                }
            }
            if started.elapsed() > self.propagation {
                return Err(format!(
                    "wrote {} but the gateway did not report weight {expect} within {:?}",
                    self.rollout_file.display(),
                    self.propagation
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn status(&self) -> Result<Value, String> {
        let state = self.read_state()?;
        let mut h = self.health()?;
        let in_force = h["weight"].clone();
        if let Some(o) = h.as_object_mut() {
            o.remove("weight");
            o.remove("at_ms");
        }
        Ok(json!({
            "weight_percent": state.weight_percent,
            "kill": state.kill,
            "updated_at": state.updated_at,
            "weight_in_force": in_force,
            "health": h,
        }))
    }
}

/// Options of `gateway rollout ramp`.
#[derive(Debug, Clone)]
pub struct Ramp {
    pub steps: Vec<u8>,
    pub bake: Duration,
    pub max_error_rate: f64,
    pub min_requests: u64,
}

/// Per-variant `(requests, 5xx)`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub canary: (u64, u64),
    pub stable: (u64, u64),
}

impl Counts {
    /// What was counted after `base` (counters never go back; a restarted source counts as 0).
    pub fn since(self, base: Counts) -> Counts {
        let d = |a: (u64, u64), b: (u64, u64)| (a.0.saturating_sub(b.0), a.1.saturating_sub(b.1));
        Counts {
            canary: d(self.canary, base.canary),
            stable: d(self.stable, base.stable),
        }
    }
}

/// What `ramp` drives: the local stack ([`Local`]) or a deployed one
/// ([`crate::rollout_aws::AwsRollout`]).
pub trait Target {
    /// Write the rollout document, then return once the new weight is in force (locally: the
    /// gateway reports it; on AWS: after the documented propagation bound). JSON with at least
    /// `propagation_ms`.
    fn set(&self, weight: u8, kill: bool) -> Result<Value, String>;
    /// Per-variant counters since `since` (a source may count from earlier: `ramp` subtracts
    /// the counters it read when the step began).
    fn counts(&self, since: SystemTime) -> Result<Counts, String>;
    /// How often `ramp` reads the counters while baking.
    fn poll_interval(&self) -> Duration;
}

impl Target for Local {
    fn set(&self, weight: u8, kill: bool) -> Result<Value, String> {
        Local::set(self, weight, kill)
    }
    fn counts(&self, _since: SystemTime) -> Result<Counts, String> {
        let h = self.health()?;
        Ok(Counts {
            canary: totals(&h, "canary"),
            stable: totals(&h, "stable"),
        })
    }
    fn poll_interval(&self) -> Duration {
        Duration::from_millis(100)
    }
}

/// Totals (requests, 5xx) of a variant from a health report.
fn totals(h: &Value, variant: &str) -> (u64, u64) {
    let v = &h["variants"][variant];
    (
        v["total_requests"].as_u64().unwrap_or(0),
        v["total_errors_5xx"].as_u64().unwrap_or(0),
    )
}

/// The verdict on one step so far: `Err(reason)` when the canary is unhealthy.
pub fn judge(
    canary: (u64, u64),
    stable: (u64, u64),
    max_error_rate: f64,
    min_requests: u64,
) -> Result<(), String> {
    let (cr, ce) = canary;
    if cr < min_requests.max(1) {
        return Ok(());
    }
    let c = rate(ce, cr);
    let s = rate(stable.1, stable.0);
    if c > max_error_rate {
        return Err(format!(
            "canary 5xx rate {c:.4} ({ce}/{cr}) is above --max-error-rate {max_error_rate}"
        ));
    }
    if c - s > max_error_rate {
        return Err(format!(
            "canary 5xx rate {c:.4} is worse than stable's {s:.4} by more than {max_error_rate}"
        ));
    }
    Ok(())
}

/// Run the ramp. `Ok(report)` when every step passed; `Err(report)` after rolling back to 0.
pub fn ramp(target: &dyn Target, r: &Ramp, out: &mut dyn FnMut(&Value)) -> Result<Value, Value> {
    // Any failure to drive or observe the ramp also rolls back: the fail-safe is stable.
    let fail = |e: String| {
        let back = target.set(0, false);
        json!({"result": "rolled_back", "weight": 0, "reason": e, "rollback_error": back.err()})
    };
    let started = Instant::now();
    for &step in &r.steps {
        let set = target.set(step, false).map_err(fail)?;
        let step_start = SystemTime::now();
        let base = target.counts(step_start).map_err(fail)?;
        out(&json!({"event": "step", "weight": step, "propagation_ms": set["propagation_ms"]}));
        let bake_start = Instant::now();
        loop {
            let now = target.counts(step_start).map_err(fail)?.since(base);
            let (canary, stable) = (now.canary, now.stable);
            let done = bake_start.elapsed() >= r.bake;
            let verdict = judge(canary, stable, r.max_error_rate, r.min_requests).and_then(|()| {
                if done && canary.0 < r.min_requests {
                    Err(format!(
                        "only {} canary requests in the {:?} bake (--min-requests {}): not enough to judge",
                        canary.0, r.bake, r.min_requests
                    ))
                } else {
                    Ok(())
                }
            });
            if let Err(reason) = verdict {
                let back = target.set(0, false);
                return Err(json!({
                    "result": "rolled_back", "weight": 0, "failed_step": step, "reason": reason,
                    "canary": {"requests": canary.0, "errors_5xx": canary.1},
                    "stable": {"requests": stable.0, "errors_5xx": stable.1},
                    "rollback_ms": back.as_ref().ok().and_then(|b| b["propagation_ms"].as_u64()),
                    "rollback_error": back.err(),
                    "seconds_into_step": bake_start.elapsed().as_secs_f64(),
                }));
            }
            if done {
                out(&json!({"event": "step_passed", "weight": step,
                    "canary": {"requests": canary.0, "errors_5xx": canary.1},
                    "stable": {"requests": stable.0, "errors_5xx": stable.1}}));
                break;
            }
            let left = r.bake.saturating_sub(bake_start.elapsed());
            std::thread::sleep(
                target
                    .poll_interval()
                    .min(left.max(Duration::from_millis(10))),
            );
        }
    }
    Ok(json!({
        "result": "promoted",
        "weight": r.steps.last().copied().unwrap_or(0),
        "seconds": started.elapsed().as_secs_f64(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn judging() {
        assert!(judge((100, 0), (100, 0), 0.01, 10).is_ok());
        assert!(judge((5, 5), (100, 0), 0.01, 10).is_ok()); // not enough requests yet
        assert!(judge((10, 5), (100, 0), 0.01, 10).is_err());
        assert!(judge((100, 1), (100, 0), 0.01, 10).is_ok());
        assert!(judge((100, 2), (100, 0), 0.01, 10).is_err());
    }

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
