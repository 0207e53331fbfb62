//! `gateway rollout`: the command line of the rollout driver (the `rollout` crate).

use std::time::Duration;

use clap::{Args, Subcommand};
use rollout::aws_rollout::AwsRollout;
use rollout::{Local, Ramp, Target};
use serde_json::Value;

use crate::fail;

/// Drive the canary rollout: status, set, ramp
///
/// The local stack's (.local/state.json, written by scripts/run.sh), or with --s3-uri a deployed
/// stack's (its rollout object in S3, crud's metrics in CloudWatch).
///
/// On AWS, region and credentials come from aws-config's default chain: the environment,
/// AWS_PROFILE with the shared config and credentials files (AWS_CONFIG_FILE,
/// AWS_SHARED_CREDENTIALS_FILE; keys or an assumed role), web identity, container and instance
/// roles. For an SSO profile, export its credentials first:
/// eval "$(aws configure export-credentials --format env)". Endpoints follow
/// AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL_CLOUDWATCH / AWS_ENDPOINT_URL.
///
/// Exit status: 0 done, 1 ramp rolled back (the canary was unhealthy), 2 a usage error or a store
/// that could not be read or written.
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct RolloutArgs {
    #[command(subcommand)]
    pub action: Action,
    #[command(flatten)]
    pub place: Place,
}

/// Where the rollout lives (every subcommand takes these).
#[derive(Debug, Args)]
pub struct Place {
    /// A deployed stack's rollout object (its RolloutObjectUri output) [default: the local stack]
    #[arg(
        long,
        global = true,
        env = "ROLLOUT_S3_URI",
        value_name = "s3://BUCKET/KEY"
    )]
    pub s3_uri: Option<String>,
    /// CloudWatch namespace of crud's metrics (the template's <stack>/Gateway)
    #[arg(long, global = true, env = "ROLLOUT_METRICS_NAMESPACE", value_name = "NS", default_value = rollout::DEFAULT_NAMESPACE)]
    pub namespace: String,
    /// On AWS: how long a written weight takes to be in force everywhere (the edge's TTL + one read)
    #[arg(long, global = true, value_name = "S", default_value = "11", value_parser = seconds)]
    pub propagation_seconds: Duration,
    /// On AWS: the health window `status` reports
    #[arg(long, global = true, value_name = "S", default_value = "300", value_parser = seconds)]
    pub window_seconds: Duration,
    /// On AWS: how often `ramp` reads the metrics during a bake
    #[arg(long, global = true, value_name = "S", default_value = "15", value_parser = seconds)]
    pub poll_seconds: Duration,
    /// The local stack's state file
    #[arg(
        long,
        global = true,
        env = "GATEWAY_STATE",
        value_name = "FILE",
        default_value = ".local/state.json"
    )]
    pub state: String,
}

#[derive(Debug, Subcommand)]
pub enum Action {
    /// Print the weight, the kill switch and per-variant health as JSON
    Status,
    /// Set the canary weight (and the kill switch); returns once it is in force
    Set {
        /// Canary weight, percent
        #[arg(long, value_name = "N", required_unless_present = "kill", value_parser = clap::value_parser!(u8).range(0..=100))]
        weight: Option<u8>,
        /// Send every visitor to stable, keeping the weight
        #[arg(long)]
        kill: bool,
    },
    /// Raise the weight step by step while the canary stays healthy; roll back to 0 (exit 1) when
    /// it is not
    Ramp {
        /// Weights to walk, increasing, comma-separated
        #[arg(long, value_name = "W,W,…", value_delimiter = ',', default_value = "1,5,25,50,100", value_parser = clap::value_parser!(u8).range(0..=100))]
        steps: Vec<u8>,
        /// How long each step bakes
        #[arg(long, value_name = "S", default_value = "60", value_parser = seconds)]
        bake_seconds: Duration,
        /// Canary 5xx rate above which the ramp rolls back (also above stable's rate plus this)
        #[arg(long, value_name = "R", default_value = "0.01", value_parser = rate)]
        max_error_rate: f64,
        /// Canary requests a step needs before its error rate is judged
        #[arg(long, value_name = "N", default_value = "10")]
        min_requests: u64,
    },
}

fn seconds(s: &str) -> Result<Duration, String> {
    s.trim()
        .parse::<f64>()
        .ok()
        .filter(|x| x.is_finite() && *x >= 0.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| "not a number of seconds (0 or more)".into())
}

fn rate(s: &str) -> Result<f64, String> {
    s.trim()
        .parse::<f64>()
        .ok()
        .filter(|x| x.is_finite() && (0.0..=1.0).contains(x))
        .ok_or_else(|| "not a rate between 0 and 1".into())
}

enum Which {
    Local(Local),
    Aws(Box<AwsRollout>),
}

pub fn run(args: RolloutArgs) {
    let print = |v: &Value| println!("{v}");
    let p = args.place;
    // A deployed stack when an S3 URI is named (flag or ROLLOUT_S3_URI), else the local one.
    let which = match p.s3_uri.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
        Some(uri) => {
            let object = rollout::aws::S3Uri::parse(uri).unwrap_or_else(|e| fail(&e));
            Which::Aws(Box::new(
                AwsRollout::new(
                    object,
                    p.namespace,
                    p.propagation_seconds,
                    p.window_seconds,
                    p.poll_seconds,
                )
                .unwrap_or_else(|e| fail(&e)),
            ))
        }
        None => {
            let state: Value = std::fs::read(&p.state)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or_else(|| {
                    fail(&format!(
                        "{} not found: start the stack with scripts/run.sh first (or name a deployed stack's rollout object with --s3-uri)",
                        p.state
                    ))
                });
            Which::Local(Local::from_state(&state).unwrap_or_else(|e| fail(&e)))
        }
    };
    let target: &dyn Target = match &which {
        Which::Local(l) => l,
        Which::Aws(a) => a.as_ref(),
    };
    match args.action {
        Action::Status => print(
            &match &which {
                Which::Local(l) => l.status(),
                Which::Aws(a) => a.status(),
            }
            .unwrap_or_else(|e| fail(&e)),
        ),
        Action::Set { weight, kill } => {
            let w = match weight {
                Some(w) => w,
                // --kill alone keeps the weight
                None => match &which {
                    Which::Local(l) => l.read_state().map(|s| s.weight_percent).unwrap_or(0),
                    Which::Aws(a) => a.read_state().map(|s| s.weight_percent).unwrap_or(0),
                },
            };
            print(&target.set(w, kill).unwrap_or_else(|e| fail(&e)));
        }
        Action::Ramp {
            steps,
            bake_seconds,
            max_error_rate,
            min_requests,
        } => {
            if steps.windows(2).any(|w| w[0] >= w[1]) {
                fail("--steps must increase");
            }
            let r = Ramp {
                steps,
                bake: bake_seconds,
                max_error_rate,
                min_requests,
            };
            match rollout::ramp(target, &r, &mut |v| print(v)) {
                Ok(v) => print(&v),
                Err(v) => {
                    print(&v);
                    eprintln!(
                        "gateway: rollout ramp rolled back: {}",
                        v["reason"].as_str().or(v["error"].as_str()).unwrap_or("")
                    );
                    std::process::exit(1);
                }
            }
        }
    }
}
