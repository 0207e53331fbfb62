//! The canary rollout driver behind `gateway rollout` (status, set, ramp).
//!
//! - Locally ([`Local`]): the store is the file the local gateway re-reads (`.local/rollout.json`,
//!   written by `scripts/run.sh`), the health the file it writes four times a second
//!   (`GATEWAY_HEALTH_FILE`; the `emulator` crate's `rollout` module).
//! - On AWS ([`aws_rollout::AwsRollout`]): the stack's rollout object in S3 and crud's metrics in
//!   CloudWatch, through the AWS SDK ([`aws`]).
//! - `ramp` sets each step's weight, waits until it is in force, then bakes for `--bake-seconds`
//!   while reading the health: as soon as the canary has at least `--min-requests` requests in
//!   the step and its 5xx rate is above `--max-error-rate` (or above stable's rate plus that), the
//!   weight goes to 0, the reason is printed and the command exits 1.

pub mod aws;
pub mod aws_rollout;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

/// The CloudWatch namespace of crud's metrics when none is given (the template's).
pub use crud::metrics::DEFAULT_NAMESPACE;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn rate(errors: u64, requests: u64) -> f64 {
    if requests == 0 {
        0.0
    } else {
        errors as f64 / requests as f64
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

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
/// ([`crate::aws_rollout::AwsRollout`]).
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
                // when the decision was taken (the rollback's own propagation is `rollback_ms`)
                let decided = bake_start.elapsed().as_secs_f64();
                let back = target.set(0, false);
                return Err(json!({
                    "result": "rolled_back", "weight": 0, "failed_step": step, "reason": reason,
                    "canary": {"requests": canary.0, "errors_5xx": canary.1},
                    "stable": {"requests": stable.0, "errors_5xx": stable.1},
                    "rollback_ms": back.as_ref().ok().and_then(|b| b["propagation_ms"].as_u64()),
                    "rollback_error": back.err(),
                    "seconds_into_step": decided,
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
}
