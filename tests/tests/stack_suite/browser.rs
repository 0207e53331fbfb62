//! The sample app (web/) in a real browser: Debian's Chromium, headless, driven by playwright-core
//! (tests/browser/e2e.mjs), against the whole local stack — moto (Cognito + DynamoDB), the real
//! `gateway` binary (edge → authorizer → crud), and the app's own static server
//! (scripts/web_server.py) on an origin in the edge's CORS allow-list that is not the API's, plus a
//! second copy of that server on an origin outside the list. Every API call is a real cross-origin
//! request with a real preflight. The script prints one JSON document; this test asserts on every
//! check in it, then checks the table itself: the foreign origin's requests changed nothing.
//!
//! Artefacts: `target/browser/app.png` (a screenshot of the app) and `target/browser/report.json`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use harness::dynamo;
use harness::paths::{venv_python, workspace_root};
use harness::stack::Stack;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The password `scripts/local_cognito.py` gives the stack's users.
const PASSWORD: &str = "Passw0rd!Local";

/// Every check the script must report, and pass.
const CHECKS: [&str; 14] = [
    "app_served_with_its_csp",
    "sign_in_create_with_preflight_reads_location_and_etag",
    "pagination_next_and_previous",
    "patch_with_if_match_and_the_412",
    "delete_with_preflight",
    "two_users_in_two_contexts_never_see_each_others_items",
    "security_headers_on_api_responses",
    "problem_413_shown",
    "screenshot",
    "problem_401_after_sign_out_and_no_token_at_rest",
    "credentials_include_refused_while_allow_credentials_is_false",
    "origin_outside_allow_list_blocked_and_without_effect",
    "problem_429_shown",
    "no_request_left_loopback",
];

fn chromium() -> PathBuf {
    let p = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(
        p.exists(),
        "{} missing: run scripts/setup.sh (it installs Debian's chromium; scripts/test.sh does)",
        p.display()
    );
    p
}

fn browser_dir() -> PathBuf {
    let d = workspace_root().join("tests/browser");
    assert!(
        d.join("node_modules/playwright-core").exists(),
        "tests/browser/node_modules missing: run scripts/setup.sh (npm ci of playwright-core)"
    );
    d
}

/// `scripts/web_server.py` on a free port of 127.0.0.1, reading `config` on every request.
async fn web_server(config: &Path) -> (Child, u16) {
    let mut child = Command::new(venv_python())
        .arg(workspace_root().join("scripts/web_server.py"))
        .args(["--port", "0", "--config"])
        .arg(config)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start scripts/web_server.py");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let port = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("web server start timeout")
        .ok()
        .flatten()
        .and_then(|l| l.trim().parse::<u16>().ok())
        .expect("web server printed its port");
    (child, port)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sample_app_in_chromium() {
    let chromium = chromium();
    let browser = browser_dir();
    let out = workspace_root().join("target/browser");
    std::fs::create_dir_all(&out).expect("target/browser");
    let web_config = out.join(format!("web-config-{}.json", std::process::id()));

    // The app's origin (allowed) and a foreign one (the same server on another port: not allowed).
    let (_app, app_port) = web_server(&web_config).await;
    let (_evil, evil_port) = web_server(&web_config).await;
    let app = format!("http://127.0.0.1:{app_port}");
    let evil = format!("http://127.0.0.1:{evil_port}");

    let ov = "v1:browser-origin-verify-secret-0123456789";
    let edge = json!({
        "cors": {"allowed_origins": [app], "allow_credentials": false},
        "origin_verify": {"key_id": "v1", "secret": "browser-origin-verify-secret-0123456789"},
    });
    let s = Stack::start(
        &[
            ("ORIGIN_VERIFY_SECRET", ov.to_string()),
            // sign-out revokes at the API (the page's DELETE /sessions/current)
            ("REVOCATION_TABLE", "revocations".to_string()),
            ("REVOCATION_SYNC_SECONDS", "1".to_string()),
        ],
        &edge,
    )
    .await;
    let api = format!("http://127.0.0.1:{}", s.port);
    std::fs::write(
        &web_config,
        json!({"api": api, "client_id": s.pool.client_id, "region": "us-east-1",
               "cognito_endpoint": s.moto.endpoint()})
        .to_string(),
    )
    .expect("write web config");

    let input = json!({
        "app": app, "evil": evil, "api": api, "password": PASSWORD, "out": out,
        "tokens": {"alice": s.token("alice"), "bob": s.token("bob"), "carol": s.token("carol")},
    });
    let started = Instant::now();
    let run = tokio::time::timeout(
        Duration::from_secs(180),
        Command::new("node")
            .arg("e2e.mjs")
            .arg(input.to_string())
            .current_dir(&browser)
            .env("CHROMIUM", &chromium)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the browser run finishes within 180 s")
    .expect("run node (Node.js 18+ is a prerequisite)");
    let elapsed = started.elapsed();
    let _ = std::fs::remove_file(&web_config);
    let stderr = String::from_utf8_lossy(&run.stderr);
    let report: Value = serde_json::from_slice(&run.stdout).unwrap_or_else(|e| {
        panic!(
            "e2e.mjs printed no JSON ({e}; exit {:?}):\n{}\n{stderr}",
            run.status.code(),
            String::from_utf8_lossy(&run.stdout)
        )
    });
    std::fs::write(
        out.join("report.json"),
        serde_json::to_vec_pretty(&report).expect("json"),
    )
    .expect("write report");
    assert!(
        run.status.success(),
        "e2e.mjs exit {:?}: {report}\n{stderr}",
        run.status.code()
    );

    let checks = report["checks"].as_array().cloned().unwrap_or_default();
    let mut failures = Vec::new();
    for name in CHECKS {
        match checks.iter().find(|c| c["name"] == name) {
            None => failures.push(format!("{name}: not run")),
            Some(c) if c["ok"] != true => failures.push(format!("{name}: {}", c["error"])),
            Some(c) => eprintln!("chromium: ok {name} ({} ms)", c["ms"]),
        }
    }
    eprintln!(
        "chromium: {} checks in {} ms (browser run {:.1} s)",
        checks.len(),
        report["total_ms"],
        elapsed.as_secs_f64()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        std::fs::metadata(out.join("app.png")).is_ok_and(|m| m.len() > 1000),
        "screenshot saved"
    );

    // The table itself, read past the API: alice has the 7 items she made less the one she
    // deleted (the 413 made none), bob his 2, carol none, and nothing from the foreign origin.
    let db = dynamo::client(&s.moto);
    let records = dynamo::scan_all(&db, "items").await;
    let mut per_user = std::collections::BTreeMap::<String, usize>::new();
    for r in &records {
        let sk = r.get("itemId").and_then(|v| v.as_s().ok()).cloned();
        let pk = r.get("userId").and_then(|v| v.as_s().ok()).cloned();
        if let (Some(pk), Some(sk)) = (pk, sk) {
            if sk.starts_with("item#") {
                *per_user.entry(pk).or_default() += 1;
            }
        }
        assert!(
            !format!("{r:?}").contains("evil"),
            "a foreign origin's write reached the table: {r:?}"
        );
    }
    let mut counts: Vec<usize> = per_user.values().copied().collect();
    counts.sort();
    assert_eq!(
        counts,
        vec![2, 6],
        "items per user in the table: {per_user:?}"
    );

    // And through the API: the item the foreign page tried to PATCH and DELETE is unchanged,
    // the one alice deleted is gone.
    let notes = &report["notes"];
    let target = report["checks"]
        .as_array()
        .and_then(|c| {
            c.iter()
                .find(|c| c["name"] == "origin_outside_allow_list_blocked_and_without_effect")
        })
        .map(|c| c["target"].as_str().unwrap_or_default().to_string())
        .unwrap_or_default();
    let r = s
        .as_user("alice", "GET", &format!("/items/{target}"), None)
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.json()["title"], notes["target_title"]);
    assert_eq!(r.json()["version"], 1, "never patched");
    let deleted = notes["deleted"].as_str().unwrap_or_default();
    let r = s
        .as_user("alice", "GET", &format!("/items/{deleted}"), None)
        .await;
    assert_eq!(r.status, 404);
    s.stop().await;
}
