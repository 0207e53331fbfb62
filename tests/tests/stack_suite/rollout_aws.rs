//! `gateway rollout` against a deployed stack's services, offline: moto stands in for S3 (the
//! rollout object) and CloudWatch (crud's per-variant EMF metrics, put here with
//! PutMetricData the way CloudWatch Logs would extract them), reached through
//! `AWS_ENDPOINT_URL`, with the same binary and flags an operator uses on AWS
//! (`--s3-uri`, `--namespace`; the propagation wait set to 0 and a short poll for the test).
//!
//! - `set` writes exactly the rollout document the edge reads; `status` reads it back and sums
//!   the metrics per variant;
//! - `ramp` with a healthy canary walks every step and leaves the last weight;
//! - `ramp` with a failing canary writes weight 0 and exits 1 naming the reason;
//! - refusals (no credentials, a missing bucket, a bad URI) exit 2 with the reason;
//! - credentials and region from a named profile in the shared config and credentials files
//!   (aws-config's default chain), with no `AWS_ACCESS_KEY_ID` in the environment.

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use harness::moto::Moto;
use harness::paths::{bin, venv_python};
use serde_json::Value;

const BUCKET: &str = "apigw-guard-rollout-test";
const NAMESPACE: &str = "apigw-guard/Gateway";

fn uri() -> String {
    format!("s3://{BUCKET}/rollout.json")
}

/// boto3 against moto (the venv's), for what the test itself puts and reads.
fn python(moto: &Moto, script: &str, args: &[&str]) -> Command {
    let prelude = format!(
        "import boto3, json, sys, time\n\
         kw = dict(endpoint_url={ep:?}, region_name='us-east-1', aws_access_key_id='testing', aws_secret_access_key='testing')\n\
         s3 = boto3.client('s3', **kw)\n\
         cw = boto3.client('cloudwatch', **kw)\n",
        ep = moto.endpoint()
    );
    let mut c = Command::new(venv_python());
    c.arg("-c").arg(format!("{prelude}{script}")).args(args);
    c
}

fn run_python(moto: &Moto, script: &str, args: &[&str]) -> String {
    let o = python(moto, script, args).output().expect("python");
    assert!(
        o.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn make_bucket(moto: &Moto) {
    run_python(moto, &format!("s3.create_bucket(Bucket={BUCKET:?})"), &[]);
}

fn stored(moto: &Moto) -> Value {
    let out = run_python(
        moto,
        &format!(
            "print(s3.get_object(Bucket={BUCKET:?}, Key='rollout.json')['Body'].read().decode())"
        ),
        &[],
    );
    serde_json::from_str(out.trim()).expect("the object is JSON")
}

const PUT: &str = r#"
def put(cr, ce, sr, se):
    d = lambda m, v, n: {'MetricName': m, 'Dimensions': [{'Name': 'variant', 'Value': v}], 'Value': n, 'Unit': 'Count'}
    cw.put_metric_data(Namespace=sys.argv[1], MetricData=[d('CrudRequests', 'canary', cr), d('Crud5xx', 'canary', ce), d('CrudRequests', 'stable', sr), d('Crud5xx', 'stable', se), d('CrudRequests', 'unqualified', 1000)])
"#;

/// Put one batch of per-variant counts now.
fn put_metrics(moto: &Moto, namespace: &str, counts: [u32; 4]) {
    let c = counts.map(|n| n.to_string());
    run_python(
        moto,
        &format!("{PUT}put(*map(int, sys.argv[2:6]))"),
        &[namespace, &c[0], &c[1], &c[2], &c[3]],
    );
}

/// Traffic: the same batch every 200 ms until killed (requests keep arriving during a bake).
/// Returns once the first batch is in (Python and boto3 take a while to start on a busy machine:
/// a bake must not end before the traffic begins).
struct Traffic(Child);

impl Traffic {
    fn start(moto: &Moto, counts: [u32; 4]) -> Traffic {
        use std::io::BufRead;
        let c = counts.map(|n| n.to_string());
        let mut child = python(
            moto,
            &format!(
                "{PUT}\nwhile True:\n    put(*map(int, sys.argv[2:6]))\n    print('put', flush=True)\n    time.sleep(0.2)\n"
            ),
            &[NAMESPACE, &c[0], &c[1], &c[2], &c[3]],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("traffic");
        let stdout = child.stdout.take().expect("traffic stdout");
        let mut first = String::new();
        let mut lines = std::io::BufReader::new(stdout);
        lines.read_line(&mut first).expect("traffic started");
        assert_eq!(first.trim(), "put", "the traffic did not start");
        // Keep draining its output so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines.lines() {});
        Traffic(child)
    }
}

impl Drop for Traffic {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn rollout(moto: &Moto, args: &[&str]) -> Output {
    let mut c = Command::new(bin("gateway"));
    c.arg("rollout").args(args);
    for k in [
        "GATEWAY_STATE",
        "ROLLOUT_S3_URI",
        "ROLLOUT_METRICS_NAMESPACE",
    ] {
        c.env_remove(k);
    }
    // No ~/.aws or host credentials: only what is given here.
    for (k, v) in moto.aws_env() {
        c.env(k, v);
    }
    c.env("GATEWAY_STATE", PathBuf::from("/nonexistent/state.json"));
    c.output().expect("gateway rollout")
}

fn json_lines(o: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const FAST: &[&str] = &["--propagation-seconds", "0", "--poll-seconds", "0.3"];

#[test]
fn set_writes_the_edges_document_and_status_sums_the_metrics_per_variant() {
    let moto = Moto::start();
    make_bucket(&moto);
    let u = uri();
    let o = rollout(
        &moto,
        &[&["set", "--weight", "25", "--s3-uri", &u][..], FAST].concat(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = &json_lines(&o)[0];
    assert_eq!(
        (out["weight_percent"].as_u64(), out["in_force"].as_u64()),
        (Some(25), Some(25))
    );
    let doc = stored(&moto);
    assert_eq!(doc["weight_percent"], 25);
    assert_eq!(doc["kill"], false);
    // Exactly the edge's document (it refuses every other key).
    let keys: Vec<&String> = doc.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["kill", "updated_at", "weight_percent"]);

    // The kill switch keeps the weight.
    let o = rollout(
        &moto,
        &[&["set", "--kill", "--s3-uri", &u][..], FAST].concat(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(json_lines(&o)[0]["in_force"], 0);
    assert_eq!(
        (
            stored(&moto)["weight_percent"].as_u64(),
            stored(&moto)["kill"].as_bool()
        ),
        (Some(25), Some(true))
    );

    put_metrics(&moto, NAMESPACE, [40, 2, 60, 0]);
    put_metrics(&moto, NAMESPACE, [10, 1, 40, 1]);
    // (Another namespace's data cannot be told apart here: moto 5.2's GetMetricData drops the
    // namespace filter when a query has dimensions. The `unqualified` variant's 1000 requests
    // per batch are left out, as they must be.)
    let o = rollout(&moto, &["status", "--s3-uri", &u, "--namespace", NAMESPACE]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s = &json_lines(&o)[0];
    assert_eq!(s["weight_percent"], 25);
    assert_eq!(s["kill"], true);
    assert_eq!(
        s["weight_in_force"],
        Value::Null,
        "nothing on AWS reports it"
    );
    assert_eq!(
        s["propagation_bound_seconds"], 11.0,
        "the edge's defaults: 10 s TTL + 1 s read"
    );
    let v = &s["health"]["variants"];
    assert_eq!(
        (
            v["canary"]["requests"].as_u64(),
            v["canary"]["errors_5xx"].as_u64()
        ),
        (Some(50), Some(3))
    );
    assert_eq!(
        (
            v["stable"]["requests"].as_u64(),
            v["stable"]["errors_5xx"].as_u64()
        ),
        (Some(100), Some(1))
    );
    assert_eq!(v["canary"]["error_rate"], 0.06);
    assert!(v.get("unqualified").is_none());
}

#[test]
fn ramp_walks_every_step_while_the_canary_is_healthy() {
    let moto = Moto::start();
    make_bucket(&moto);
    let _traffic = Traffic::start(&moto, [10, 0, 30, 0]);
    let u = uri();
    let started = Instant::now();
    let o = rollout(
        &moto,
        &[
            &[
                "ramp",
                "--steps",
                "5,50,100",
                "--bake-seconds",
                "1.5",
                "--max-error-rate",
                "0.01",
                "--min-requests",
                "10",
                "--s3-uri",
                &u,
                "--namespace",
                NAMESPACE,
            ][..],
            FAST,
        ]
        .concat(),
    );
    assert!(
        o.status.success(),
        "{}\n{}",
        stderr(&o),
        String::from_utf8_lossy(&o.stdout)
    );
    let lines = json_lines(&o);
    let passed: Vec<u64> = lines
        .iter()
        .filter(|l| l["event"] == "step_passed")
        .map(|l| l["weight"].as_u64().unwrap())
        .collect();
    assert_eq!(passed, [5, 50, 100]);
    for l in lines.iter().filter(|l| l["event"] == "step_passed") {
        assert!(l["canary"]["requests"].as_u64().unwrap() >= 10, "{l}");
        assert_eq!(l["canary"]["errors_5xx"], 0, "{l}");
    }
    assert_eq!(lines.last().unwrap()["result"], "promoted");
    assert_eq!(stored(&moto)["weight_percent"], 100);
    assert!(
        started.elapsed() >= Duration::from_millis(4500),
        "three bakes of 1.5 s"
    );
}

#[test]
fn ramp_writes_weight_zero_and_exits_1_when_the_canary_fails() {
    let moto = Moto::start();
    make_bucket(&moto);
    let _traffic = Traffic::start(&moto, [10, 5, 30, 0]);
    let u = uri();
    let started = Instant::now();
    let o = rollout(
        &moto,
        &[
            &[
                "ramp",
                "--steps",
                "5,50,100",
                "--bake-seconds",
                "30",
                "--max-error-rate",
                "0.01",
                "--min-requests",
                "10",
                "--s3-uri",
                &u,
                "--namespace",
                NAMESPACE,
            ][..],
            FAST,
        ]
        .concat(),
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let last = json_lines(&o).last().cloned().unwrap();
    assert_eq!(last["result"], "rolled_back");
    assert_eq!(last["failed_step"], 5);
    assert_eq!(last["rollback_error"], Value::Null);
    let reason = last["reason"].as_str().unwrap();
    assert!(reason.starts_with("canary 5xx rate 0.5000 ("), "{reason}");
    assert!(
        reason.ends_with("is above --max-error-rate 0.01"),
        "{reason}"
    );
    assert!(
        stderr(&o).contains("rolled back: canary 5xx rate"),
        "{}",
        stderr(&o)
    );
    assert_eq!(stored(&moto)["weight_percent"], 0);
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "rolled back within the first bake, not at its end: {:?}",
        started.elapsed()
    );
}

#[test]
fn refusals_exit_2_with_the_reason() {
    let moto = Moto::start();
    let u = uri();
    // The bucket does not exist: S3's error code, nothing else of the answer.
    let o = rollout(
        &moto,
        &[&["set", "--weight", "5", "--s3-uri", &u][..], FAST].concat(),
    );
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        stderr(&o).trim(),
        format!("gateway: S3 PutObject {u}: 404 NoSuchBucket")
    );
    for (args, want) in [
        (
            vec!["status", "--s3-uri", "s3://x/rollout.json"],
            "gateway: \"s3://x/rollout.json\" is not an s3://bucket/key URI",
        ),
        (
            vec!["set", "--weight", "101", "--s3-uri", &u],
            "gateway: invalid value '101' for '--weight <N>': 101 is not in 0..=100; try 'gateway rollout set --help'",
        ),
    ] {
        let o = rollout(&moto, &args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert_eq!(stderr(&o).trim(), want, "{args:?}");
    }
    // No credentials anywhere in the chain: refused before any request.
    let o = Command::new(bin("gateway"))
        .args(["rollout", "status", "--s3-uri", &u])
        .env_clear()
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL", moto.endpoint())
        .env("AWS_CONFIG_FILE", "/nonexistent/config")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).starts_with("gateway: no AWS credentials (environment, AWS_PROFILE"),
        "{}",
        stderr(&o)
    );
    assert_eq!(stderr(&o).trim().lines().count(), 1, "{}", stderr(&o));
    // A non-loopback plain-http endpoint is refused (credentials never cross it unencrypted).
    let o = Command::new(bin("gateway"))
        .args(["rollout", "status", "--s3-uri", &u])
        .env_clear()
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_ENDPOINT_URL", "http://s3.example.com")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        stderr(&o).trim(),
        "gateway: endpoint \"http://s3.example.com\" is not https (plain http only for loopback hosts)"
    );
}

/// Issue 21: an operator on a named profile (keys or a role in the shared files) needs no
/// exported credentials: region and credentials come from `AWS_PROFILE` in the files named by
/// `AWS_CONFIG_FILE` / `AWS_SHARED_CREDENTIALS_FILE`, through aws-config's default chain. Without
/// that profile the same command finds no credentials (so they did come from the profile).
#[test]
fn status_and_set_use_a_named_profile_from_the_shared_files() {
    let moto = Moto::start();
    make_bucket(&moto);
    let dir = std::env::temp_dir().join(format!("rollout-profile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("config");
    let credentials = dir.join("credentials");
    std::fs::write(&config, "[profile rollout-operator]\nregion = us-east-1\n").unwrap();
    std::fs::write(
        &credentials,
        "[rollout-operator]\naws_access_key_id = testing\naws_secret_access_key = testing\n",
    )
    .unwrap();
    let u = uri();
    let run = |profile: &str, args: &[&str]| {
        Command::new(bin("gateway"))
            .arg("rollout")
            .args(args)
            .args(["--s3-uri", &u, "--namespace", NAMESPACE])
            .args(FAST)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", &dir)
            .env("AWS_CONFIG_FILE", &config)
            .env("AWS_SHARED_CREDENTIALS_FILE", &credentials)
            .env("AWS_PROFILE", profile)
            .env("AWS_ENDPOINT_URL", moto.endpoint())
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .output()
            .expect("gateway rollout")
    };
    let o = run("rollout-operator", &["set", "--weight", "10"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stored(&moto)["weight_percent"], 10);
    put_metrics(&moto, NAMESPACE, [20, 1, 80, 0]);
    let o = run("rollout-operator", &["status"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s = &json_lines(&o)[0];
    assert_eq!(s["weight_percent"], 10);
    assert_eq!(s["health"]["variants"]["canary"]["requests"], 20);
    assert_eq!(s["health"]["variants"]["canary"]["errors_5xx"], 1);

    let o = run("no-such-profile", &["status"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).starts_with("gateway: no AWS "), "{}", stderr(&o));
    let _ = std::fs::remove_dir_all(&dir);
}
