//! `gateway rollout` against a deployed stack.
//!
//! - The store is the stack's rollout object (`--s3-uri s3://<RolloutBucket>/rollout.json`, the
//!   `RolloutObjectUri` output, or `ROLLOUT_S3_URI`): `set` PUTs the document (the same
//!   [`edge::rollout::RolloutState`] the edge reads, so nothing else can be written), reads it
//!   back, then waits the propagation bound: nothing on AWS reports the weight in force, so the
//!   bound is the documented one, the edge's `ttl_seconds` plus one read (`timeout_ms`), 10 s +
//!   1 s with the defaults (`--propagation-seconds`).
//! - Health: crud's EMF metrics (`crud::metrics`: `CrudRequests` and `Crud5xx` with dimension
//!   `variant`, namespace `--namespace`, the template's `<stack>/Gateway`) summed by CloudWatch
//!   `GetMetricData` per minute. `status` reports the last `--window-seconds` (300); `ramp`
//!   counts from the minute its step began (CloudWatch's resolution for these metrics), polling
//!   every `--poll-seconds` (15; each poll is one GetMetricData call of 4 metrics). EMF metrics
//!   appear in CloudWatch a minute or two after the requests: bake for several minutes.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::aws::{Aws, MetricQuery, S3Uri};
use crate::{Counts, Target};

/// The edge's defaults (`canary.rollout.ttl_seconds` 10 + `timeout_ms` 1000).
pub const DEFAULT_PROPAGATION: Duration = Duration::from_secs(11);
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(300);
pub const DEFAULT_POLL: Duration = Duration::from_secs(15);

pub struct AwsRollout {
    aws: Aws,
    pub object: S3Uri,
    pub namespace: String,
    pub propagation: Duration,
    pub window: Duration,
    pub poll: Duration,
    rt: tokio::runtime::Runtime,
}

fn epoch(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl AwsRollout {
    /// The clients come from `aws-config`'s default chain ([`Aws::load`]).
    pub fn new(
        object: S3Uri,
        namespace: String,
        propagation: Duration,
        window: Duration,
        poll: Duration,
    ) -> Result<AwsRollout, String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("tokio runtime: {e}"))?;
        let aws = rt.block_on(Aws::load())?;
        Ok(AwsRollout {
            aws,
            object,
            namespace,
            propagation,
            window,
            poll,
            rt,
        })
    }

    pub fn read_state(&self) -> Result<edge::rollout::RolloutState, String> {
        let bytes = self.rt.block_on(self.aws.get_object(&self.object))?;
        edge::rollout::RolloutState::from_json(&bytes).map_err(|e| format!("{}: {e}", self.object))
    }

    fn queries(&self) -> Vec<MetricQuery> {
        let q = |id: &str, metric: &str, variant: &str| MetricQuery {
            id: id.into(),
            namespace: self.namespace.clone(),
            metric: metric.into(),
            dimensions: vec![(crud::metrics::DIMENSION.into(), variant.into())],
        };
        vec![
            q("canary_requests", crud::metrics::REQUESTS, "canary"),
            q("canary_5xx", crud::metrics::ERRORS_5XX, "canary"),
            q("stable_requests", crud::metrics::REQUESTS, "stable"),
            q("stable_5xx", crud::metrics::ERRORS_5XX, "stable"),
        ]
    }

    /// Sums over whole minutes from the one holding `since` to the one after now.
    fn sums(&self, since: SystemTime) -> Result<Counts, String> {
        let start = epoch(since) / 60 * 60;
        let end = (epoch(SystemTime::now()) / 60 + 2) * 60;
        let sums = self
            .rt
            .block_on(self.aws.metric_sums(&self.queries(), start, end, 60))?;
        let get = |id: &str| {
            sums.iter()
                .find(|(i, _)| i == id)
                .map(|(_, v)| v.max(0.0).round() as u64)
                .unwrap_or(0)
        };
        Ok(Counts {
            canary: (get("canary_requests"), get("canary_5xx")),
            stable: (get("stable_requests"), get("stable_5xx")),
        })
    }

    pub fn status(&self) -> Result<Value, String> {
        let state = self.read_state()?;
        let c = self.sums(SystemTime::now() - self.window)?;
        let variant = |(r, e): (u64, u64)| {
            json!({"requests": r, "errors_5xx": e,
                   "error_rate": if r == 0 { 0.0 } else { e as f64 / r as f64 }})
        };
        Ok(json!({
            "source": self.object.to_string(),
            "weight_percent": state.weight_percent,
            "kill": state.kill,
            "updated_at": state.updated_at,
            // Nothing on AWS reports the weight in force: a write is in force everywhere within
            // the propagation bound.
            "weight_in_force": Value::Null,
            "propagation_bound_seconds": self.propagation.as_secs_f64(),
            "health": {
                "source": "cloudwatch",
                "namespace": self.namespace,
                "window_seconds": self.window.as_secs(),
                "variants": {"stable": variant(c.stable), "canary": variant(c.canary)},
            },
        }))
    }
}

impl Target for AwsRollout {
    fn set(&self, weight: u8, kill: bool) -> Result<Value, String> {
        let state = edge::rollout::RolloutState {
            weight_percent: weight,
            kill,
            updated_at: Some(format!(
                "unix-ms:{}",
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_millis())
                    .unwrap_or(0)
            )),
        };
        let bytes = serde_json::to_vec(&state).map_err(|e| e.to_string())?;
        let started = Instant::now();
        self.rt.block_on(self.aws.put_object(&self.object, bytes))?;
        // Read it back: what the edge will read is what was meant.
        let back = self.read_state()?;
        if back != state {
            return Err(format!(
                "{} reads back as {back:?} after writing {state:?}",
                self.object
            ));
        }
        std::thread::sleep(self.propagation.saturating_sub(started.elapsed()));
        Ok(json!({
            "source": self.object.to_string(),
            "weight_percent": weight, "kill": kill, "in_force": state.effective_weight(),
            "propagation_ms": started.elapsed().as_millis() as u64,
            "propagation_bound_seconds": self.propagation.as_secs_f64(),
        }))
    }

    fn counts(&self, since: SystemTime) -> Result<Counts, String> {
        self.sums(since)
    }

    fn poll_interval(&self) -> Duration {
        self.poll
    }
}
