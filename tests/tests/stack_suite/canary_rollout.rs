//! Canary rollouts against the real local stack: moto, the `gateway` binary with a stable and a
//! canary crud, the rollout store (a file, re-read every second), and the `gateway rollout`
//! command the way an operator runs it (reading a state file like `.local/state.json`).
//!
//! - shares of 2000 new visitors at weights 10 and 50 within a binomial 4σ band;
//! - visitors keep their variant; raising the weight moves only stable visitors; 0 returns
//!   everyone to stable within the store's TTL — without restarting the gateway;
//! - a broken canary (`CANARY_TABLE_NAME` naming a missing table): `rollout ramp` stops and sets
//!   the weight to 0 within one bake period, exits non-zero, and stable's users saw no error;
//! - the WebAssembly edge (Node handler) logs the same decisions as the native binary, reading
//!   the same rollout store.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use harness::paths::bin;
use harness::stack::Stack;
use serde_json::{json, Value};

const COOKIE: &str = "__Host-canary";

struct Rollout {
    dir: PathBuf,
    stack: Stack,
}

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "canary-rollout-{tag}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

impl Rollout {
    async fn start(tag: &str, extra_env: &[(&str, String)]) -> Rollout {
        let dir = temp_dir(tag);
        let rollout_file = dir.join("rollout.json");
        let health_file = dir.join("health.json");
        std::fs::write(&rollout_file, r#"{"weight_percent": 0}"#).unwrap();
        std::fs::write(
            dir.join("state.json"),
            json!({"rollout_file": rollout_file, "health_file": health_file,
                   "rollout_ttl_seconds": 1})
            .to_string(),
        )
        .unwrap();
        let edge = json!({
            "rate_limit": {"enabled": false},
            "canary": {
                "weight_percent": 0,
                "cookie_keys": [{"id": "c1", "secret": "rollout-cookie-secret-0123456789abcdef"}],
                "origin": {"path": "/canary"},
                "rollout": {"source": format!("file://{}", rollout_file.display()), "ttl_seconds": 1}
            }
        });
        let mut env = vec![
            ("GATEWAY_HEALTH_FILE", health_file.display().to_string()),
            ("GATEWAY_THROTTLE_RATE", "100000".to_string()),
            ("GATEWAY_THROTTLE_BURST", "100000".to_string()),
            // crud's per-caller limit would answer 429 to alice's many visitors.
            ("RATE_LIMIT_PER_MINUTE", "0".to_string()),
        ];
        env.extend(extra_env.iter().cloned());
        let stack = Stack::start(&env, &edge).await;
        Rollout { dir, stack }
    }

    /// `gateway rollout ARGS…` against this stack: (exit code, stdout, stderr).
    fn cli(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(bin("gateway"))
            .arg("rollout")
            .args(args)
            .env("GATEWAY_STATE", self.dir.join("state.json"))
            .output()
            .expect("run gateway rollout");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// `rollout set --weight N`: returns once the gateway reports the weight in force.
    fn set(&self, weight: u8) -> Value {
        let (code, out, err) = self.cli(&["set", "--weight", &weight.to_string()]);
        assert_eq!(code, 0, "rollout set {weight}: {out}{err}");
        let v: Value = serde_json::from_str(out.trim()).expect("set prints JSON");
        assert_eq!(v["in_force"], json!(weight), "{v}");
        // The documented bound: the store's TTL (1 s) plus one refresh tick and margin.
        assert!(v["propagation_ms"].as_u64().unwrap() <= 2500, "{v}");
        v
    }

    fn status(&self) -> Value {
        let (code, out, err) = self.cli(&["status"]);
        assert_eq!(code, 0, "rollout status: {out}{err}");
        serde_json::from_str(out.trim()).expect("status prints JSON")
    }

    /// One request as `alice` presenting `cookie`: (variant, status, cookie issued).
    async fn visit(&self, cookie: Option<&str>) -> (String, u16, Option<String>) {
        let auth = format!("Bearer {}", self.stack.token("alice"));
        let c = cookie.map(|c| format!("{COOKIE}={c}"));
        let mut h = vec![("authorization", auth.as_str())];
        if let Some(c) = &c {
            h.push(("cookie", c.as_str()));
        }
        let r = self.stack.call("GET", "/items?limit=1", &h, "").await;
        let variant = r.header("x-gateway-variant").unwrap_or("").to_string();
        let issued = r.headers.get_all("set-cookie").iter().find_map(|v| {
            let s = v.to_str().ok()?;
            let rest = s.strip_prefix(&format!("{COOKIE}="))?;
            Some(rest.split(';').next()?.to_string())
        });
        (variant, r.status, issued)
    }

    /// A cohort of `n` visitors, each with the cookie the edge issued it.
    async fn cohort(&self, n: usize) -> Vec<String> {
        let mut out = Vec::with_capacity(n);
        for chunk in (0..n).collect::<Vec<_>>().chunks(16) {
            let replies =
                futures_join(chunk.iter().map(|_| self.visit(None)).collect::<Vec<_>>()).await;
            for (variant, status, cookie) in replies {
                assert_eq!(status, 200, "new visitor on {variant}");
                out.push(cookie.expect("new visitors get a cookie"));
            }
        }
        out
    }

    /// The variant of every cohort member now (each presenting its cookie).
    async fn variants(&self, cohort: &[String]) -> Vec<String> {
        let mut out = Vec::with_capacity(cohort.len());
        for chunk in cohort.chunks(16) {
            let replies = futures_join(
                chunk
                    .iter()
                    .map(|c| self.visit(Some(c)))
                    .collect::<Vec<_>>(),
            )
            .await;
            for (variant, status, _) in replies {
                assert_eq!(status, 200, "{variant}");
                out.push(variant);
            }
        }
        out
    }

    /// Share of `n` new visitors (no cookie, no token: the variant is chosen at viewer-request,
    /// before API Gateway answers 401) on the canary.
    async fn canary_share(&self, n: usize) -> usize {
        let mut canary = 0;
        let idx: Vec<usize> = (0..n).collect();
        for chunk in idx.chunks(32) {
            let replies = futures_join(
                chunk
                    .iter()
                    .map(|_| self.stack.call("GET", "/items", &[], ""))
                    .collect::<Vec<_>>(),
            )
            .await;
            for r in replies {
                match r.header("x-gateway-variant") {
                    Some("canary") => canary += 1,
                    Some("stable") => {}
                    other => panic!("no variant: {other:?} ({})", r.status),
                }
            }
        }
        canary
    }
}

async fn futures_join<F: std::future::Future>(fs: Vec<F>) -> Vec<F::Output> {
    let mut out = Vec::with_capacity(fs.len());
    let handles: Vec<_> = fs.into_iter().map(Box::pin).collect();
    // Poll them together (no extra dependency): a tiny join_all.
    let mut pending: Vec<Option<std::pin::Pin<Box<F>>>> = handles.into_iter().map(Some).collect();
    let mut results: Vec<Option<F::Output>> = (0..pending.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut all = true;
        for (i, slot) in pending.iter_mut().enumerate() {
            if let Some(f) = slot {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => {
                        results[i] = Some(v);
                        *slot = None;
                    }
                    std::task::Poll::Pending => all = false,
                }
            }
        }
        if all {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    out.extend(results.into_iter().map(|r| r.expect("joined")));
    out
}

fn within_4_sigma(observed: usize, n: usize, weight: u8) -> (f64, f64) {
    let p = f64::from(weight) / 100.0;
    let mean = n as f64 * p;
    let sigma = (n as f64 * p * (1.0 - p)).sqrt();
    let (lo, hi) = (mean - 4.0 * sigma, mean + 4.0 * sigma);
    assert!(
        (lo..=hi).contains(&(observed as f64)),
        "weight {weight}: {observed}/{n} on canary, outside [{lo:.0}, {hi:.0}]"
    );
    (lo, hi)
}

#[tokio::test(flavor = "multi_thread")]
async fn weights_change_at_run_time_and_visitors_move_one_way() {
    let r = Rollout::start("ramp", &[]).await;
    let n = 2000;

    // Shares of new visitors at weights 10 and 50.
    for weight in [10u8, 50] {
        r.set(weight);
        let canary = r.canary_share(n).await;
        let (lo, hi) = within_4_sigma(canary, n, weight);
        eprintln!(
            "[canary_rollout] weight {weight}: {canary}/{n} new visitors on canary ({:.1} %; 4σ band [{lo:.0}, {hi:.0}])",
            100.0 * canary as f64 / n as f64
        );
    }

    // A cohort with cookies at weight 10; sticky across requests.
    r.set(10);
    let cohort = r.cohort(200).await;
    let at10 = r.variants(&cohort).await;
    assert_eq!(at10, r.variants(&cohort).await, "visitors changed variant");
    let on = |v: &[String]| v.iter().filter(|x| *x == "canary").count();
    assert!(
        on(&at10) > 0 && on(&at10) < 60,
        "{} of 200 at 10 %",
        on(&at10)
    );

    // Ramp to 50: only stable visitors move.
    r.set(50);
    let at50 = r.variants(&cohort).await;
    for (a, b) in at10.iter().zip(&at50) {
        assert!(
            !(a == "canary" && b == "stable"),
            "a canary visitor went back on a ramp-up"
        );
    }
    assert!(on(&at50) > on(&at10), "{} -> {}", on(&at10), on(&at50));
    assert_eq!(at50, r.variants(&cohort).await, "visitors flapped at 50 %");

    // Back to 0: everyone stable (the kill switch does the same).
    let v = r.set(0);
    eprintln!(
        "[canary_rollout] weight 0 in force after {} ms",
        v["propagation_ms"]
    );
    assert!(r.variants(&cohort).await.iter().all(|x| x == "stable"));
    r.set(50);
    let (code, out, err) = r.cli(&["set", "--kill"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(r.variants(&cohort).await.iter().all(|x| x == "stable"));

    // Status: weights and per-variant counts over the window, as JSON.
    let s = r.status();
    assert_eq!(s["kill"], json!(true));
    assert_eq!(s["weight_in_force"], json!(0));
    let canary_requests = s["health"]["variants"]["canary"]["requests"]
        .as_u64()
        .unwrap();
    let stable_requests = s["health"]["variants"]["stable"]["requests"]
        .as_u64()
        .unwrap();
    assert!(canary_requests > 1000 && stable_requests > 2000, "{s}");
    assert_eq!(
        s["health"]["variants"]["canary"]["errors_5xx"],
        json!(0),
        "{s}"
    );
    r.stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broken_canary_is_rolled_back_within_one_bake_period() {
    let r = Arc::new(
        Rollout::start(
            "rollback",
            &[("CANARY_TABLE_NAME", "table-that-does-not-exist".to_string())],
        )
        .await,
    );
    let cohort = Arc::new(r.cohort(100).await);

    // Traffic from the cohort while the ramp runs: every reply's variant and status.
    let stop = Arc::new(AtomicBool::new(false));
    let traffic = {
        let (r, cohort, stop) = (r.clone(), cohort.clone(), stop.clone());
        tokio::spawn(async move {
            let mut seen: Vec<(String, u16)> = Vec::new();
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let chunk: Vec<&String> = (0..8).map(|k| &cohort[(i + k) % cohort.len()]).collect();
                i += 8;
                for (variant, status, _) in
                    futures_join(chunk.iter().map(|c| r.visit(Some(c))).collect()).await
                {
                    seen.push((variant, status));
                }
            }
            seen
        })
    };

    let bake = 3.0;
    let started = Instant::now();
    let (code, out, err) = tokio::task::spawn_blocking({
        let r = r.clone();
        move || {
            r.cli(&[
                "ramp",
                "--steps",
                "5,25,50,100",
                "--bake-seconds",
                &bake.to_string(),
                "--max-error-rate",
                "0.05",
                "--min-requests",
                "5",
            ])
        }
    })
    .await
    .unwrap();
    let ramp_seconds = started.elapsed().as_secs_f64();
    // A little more traffic after the rollback, then stop.
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let seen = traffic.await.unwrap();

    assert_eq!(code, 1, "ramp must fail on a broken canary:\n{out}\n{err}");
    assert!(err.contains("rolled back"), "{err}");
    let last: Value = serde_json::from_str(out.lines().last().unwrap()).expect("JSON report");
    assert_eq!(last["result"], json!("rolled_back"), "{out}");
    assert_eq!(last["weight"], json!(0));
    assert_eq!(last["failed_step"], json!(5), "{out}");
    let into_step = last["seconds_into_step"].as_f64().unwrap();
    // Decided within the bake, or at its last check (which reads the counts once more when the
    // bake has just ended: a loaded machine can make that read take a moment).
    assert!(
        into_step <= bake + 1.0,
        "rolled back {into_step} s into the step (bake {bake} s)"
    );
    assert!(ramp_seconds < bake + 4.0, "ramp took {ramp_seconds} s");
    eprintln!(
        "[canary_rollout] broken canary: rolled back {into_step:.2} s into the 5 % step (bake {bake} s), weight 0 in force {} ms after the decision; ramp command {ramp_seconds:.2} s; {}",
        last["rollback_ms"], last["reason"]
    );

    let st = r.status();
    assert_eq!(st["weight_in_force"], json!(0), "{st}");
    assert_eq!(st["weight_percent"], json!(0), "{st}");

    let stable: Vec<u16> = seen
        .iter()
        .filter(|(v, _)| v == "stable")
        .map(|(_, s)| *s)
        .collect();
    let canary: Vec<u16> = seen
        .iter()
        .filter(|(v, _)| v == "canary")
        .map(|(_, s)| *s)
        .collect();
    assert!(stable.len() > 100, "{} stable replies", stable.len());
    assert!(
        stable.iter().all(|s| *s == 200),
        "stable users saw errors: {:?}",
        stable
            .iter()
            .filter(|s| **s != 200)
            .take(10)
            .collect::<Vec<_>>()
    );
    assert!(
        !canary.is_empty() && canary.iter().all(|s| *s >= 500),
        "{canary:?}"
    );
    // After the rollback everyone is back on stable.
    assert!(r.variants(&cohort).await.iter().all(|x| x == "stable"));
}

// ------------------------------------------------------------------------------------------------
// The WebAssembly edge logs the native binary's decisions, from the same rollout store.
// ------------------------------------------------------------------------------------------------

fn node_available() -> bool {
    Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// (level, code, event, variant, weight) of a log line of either host; None for other lines.
fn decision(line: &str) -> Option<(String, String, String, String, i64)> {
    let v: Value = serde_json::from_str(line).ok()?;
    let f = if v.get("fields").is_some() {
        &v["fields"]
    } else {
        &v
    };
    let code = f["code"].as_str()?.to_string();
    if code.starts_with("config_") || code.starts_with("rollout_") {
        return None;
    }
    Some((
        v["level"].as_str()?.to_string(),
        code,
        f["event"].as_str().unwrap_or("").to_string(),
        f["variant"].as_str().unwrap_or("").to_string(),
        f["weight"].as_i64().unwrap_or(-1),
    ))
}

#[tokio::test(flavor = "multi_thread")]
async fn wasm_edge_logs_the_native_decisions() {
    use harness::edge_fn::*;
    if !node_available() {
        eprintln!(
            "\n\n*** SKIPPED wasm_edge_logs_the_native_decisions: `node` is not installed ***\n\n"
        );
        return;
    }
    let work = temp_dir("wasm");
    let rollout_file = work.join("rollout.json");
    std::fs::write(&rollout_file, r#"{"weight_percent": 40}"#).unwrap();
    let mut cfg = config();
    cfg["canary"]["weight_percent"] = json!(0);
    cfg["canary"]["rollout"] =
        json!({"source": format!("file://{}", rollout_file.display()), "ttl_seconds": 60});
    cfg["rate_limit"] = json!({"requests_per_minute": 5, "burst": 5});
    let pkg = harness::edge_fn::build_package(&cfg, &work);

    let good = format!("qa:{TESTER_SECRET}");
    let mut events = vec![
        viewer_request(
            "OPTIONS",
            &[
                ("Origin", "https://evil.example"),
                ("Access-Control-Request-Method", "GET"),
            ],
        ),
        viewer_request(
            "GET",
            &[
                ("X-Canary-Force", "canary"),
                ("X-Canary-Tester", "qa:wrong"),
            ],
        ),
        viewer_request(
            "GET",
            &[("X-Canary-Force", "canary"), ("X-Canary-Tester", &good)],
        ),
        viewer_request("GET", &[("X-Note", "a\r\nb")]),
        origin_request(&[("X-Canary-Variant", "canary")]),
    ];
    for i in 0..12 {
        let mut req = request("GET", "/items", &[]);
        // The last few share one address: the rate limit refuses them.
        req["clientIp"] = json!(if i < 6 {
            format!("198.51.100.{i}")
        } else {
            "198.51.100.99".into()
        });
        events.push(event(
            "viewer-request",
            &format!("wasm-visitor-{i}"),
            req,
            None,
        ));
    }
    let events_path = work.join("events.json");
    std::fs::write(&events_path, serde_json::to_vec(&events).unwrap()).unwrap();
    let node = Command::new("node")
        .arg(harness::paths::workspace_root().join("edge/node/run-events.js"))
        .arg(&pkg)
        .arg(&events_path)
        // As on Lambda: the handler then also writes its per-variant EMF lines.
        .env("AWS_LAMBDA_FUNCTION_NAME", "us-east-1.test-edge")
        .output()
        .expect("node");
    assert!(
        node.status.success(),
        "{}",
        String::from_utf8_lossy(&node.stderr)
    );
    let node_stderr = String::from_utf8_lossy(&node.stderr).into_owned();
    let from_node: Vec<_> = node_stderr.lines().filter_map(decision).collect();
    // No secret and no header value in any line.
    for l in node_stderr.lines() {
        for s in [
            TESTER_SECRET,
            COOKIE_SECRET,
            VERIFY_SECRET,
            "evil.example",
            "qa:wrong",
        ] {
            assert!(!l.contains(s), "log line leaks {s:?}: {l}");
        }
    }

    let native = start(&cfg).await;
    for ev in &events {
        native.invoke(ev).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let from_native: Vec<_> = native.logs().iter().filter_map(|l| decision(l)).collect();
    assert_eq!(
        from_node,
        from_native,
        "node:\n{node_stderr}\nnative:\n{}",
        native.logs().join("\n")
    );
    let codes: Vec<&str> = from_node.iter().map(|d| d.1.as_str()).collect();
    for c in [
        "cors_origin_not_allowed",
        "canary_force_refused",
        "variant_forced",
        "variant_chosen",
        "rate_limited",
    ] {
        assert!(codes.contains(&c), "no {c} in {codes:?}");
    }
    // The weight came from the rollout store, not the packaged config.
    assert!(
        from_node
            .iter()
            .filter(|d| d.1 == "variant_chosen")
            .all(|d| d.4 == 40),
        "{from_node:?}"
    );
    // One EMF line per variant decision, with that decision's variant (counts per variant at
    // the edge), in the shape the EMF specification asks for.
    let emf: Vec<Value> = node_stderr
        .lines()
        .filter(|l| l.contains("\"_aws\""))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let decided: Vec<&str> = from_node
        .iter()
        .filter(|d| d.1 == "variant_chosen" || d.1 == "variant_forced")
        .map(|d| d.3.as_str())
        .collect();
    assert!(
        decided.contains(&"canary") && decided.contains(&"stable"),
        "{decided:?}"
    );
    assert_eq!(
        emf.iter()
            .map(|v| v["variant"].as_str().unwrap())
            .collect::<Vec<_>>(),
        decided
    );
    for v in &emf {
        assert!(v["_aws"]["Timestamp"].is_u64(), "{v}");
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"],
            json!([{"Namespace": "ApigwGuard/Edge", "Dimensions": [["FunctionName", "variant"]],
                    "Metrics": [{"Name": "EdgeVariantRequests", "Unit": "Count"}]}])
        );
        assert_eq!(v["FunctionName"], "us-east-1.test-edge");
        assert_eq!(v["EdgeVariantRequests"], 1);
        assert_eq!(
            v.as_object().unwrap().len(),
            4,
            "nothing else in the line: {v}"
        );
    }
    let _ = std::fs::remove_dir_all(&work);
}
