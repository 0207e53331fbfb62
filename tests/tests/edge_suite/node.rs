//! The Lambda@Edge package (WebAssembly + Node.js handler) answers exactly as the native binary.
//!
//! Builds the package with `edge/build-wasm.sh` (its own target dir, `target/wasm`), runs the Node
//! handler with `node` on the documented fixture events plus hostile ones, runs the native `edge`
//! binary under the Runtime API emulator on the same events in the same order, and compares the
//! answers. Skips (loudly) only when `node` is not installed.

use std::path::PathBuf;
use std::process::Command;

use harness::edge_fn::*;
use harness::runtime_api::Outcome;
use serde_json::{json, Value};

fn node_available() -> bool {
    Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn fixture(name: &str) -> Value {
    let p = harness::paths::workspace_root()
        .join("edge/tests/fixtures")
        .join(name);
    serde_json::from_slice(&std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .expect("fixture json")
}

fn events() -> Vec<Value> {
    let mut v: Vec<Value> = [
        "viewer-request.json",
        "viewer-request-body.json",
        "origin-request.json",
        "origin-request-s3.json",
        "origin-response.json",
        "viewer-response.json",
    ]
    .into_iter()
    .map(fixture)
    .collect();
    let huge = "h".repeat(9000);
    let long_uri = format!("/{}", "u".repeat(5000));
    v.extend([
        viewer_request(
            "OPTIONS",
            &[
                ("Origin", APP),
                ("Access-Control-Request-Method", "PUT"),
                ("Access-Control-Request-Headers", "authorization"),
            ],
        ),
        viewer_request(
            "OPTIONS",
            &[
                ("Origin", "https://app.example.com.evil.com"),
                ("Access-Control-Request-Method", "GET"),
            ],
        ),
        viewer_request(
            "OPTIONS",
            &[("Origin", APP), ("Access-Control-Request-Method", "TRACE")],
        ),
        viewer_request(
            "OPTIONS",
            &[
                ("Origin", APP),
                ("Access-Control-Request-Method", "GET"),
                ("Access-Control-Request-Headers", "x-admin"),
            ],
        ),
        viewer_request("GET", &[("Origin", APP), ("Origin", "https://evil.com")]),
        viewer_request("GET", &[("X-Note", "a\r\nx-injected: 1")]),
        viewer_request("GET", &[("X-Big", huge.as_str())]),
        event(
            "viewer-request",
            "long",
            request("GET", &long_uri, &[]),
            None,
        ),
        viewer_request(
            "GET",
            &[
                ("X-Origin-Verify", "forged"),
                ("X-User-Id", "admin"),
                ("X-Canary-Variant", "canary"),
            ],
        ),
        viewer_request(
            "GET",
            &[
                ("X-Canary-Force", "canary"),
                ("X-Canary-Tester", &format!("qa:{TESTER_SECRET}")),
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
            &[(
                "Cookie",
                "__Host-canary=k1.AAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA",
            )],
        ),
        viewer_response(
            "vr-1",
            &[("Origin", APP)],
            200,
            &[("Server", "nginx"), ("Vary", "Accept-Encoding")],
        ),
        viewer_response(
            "vr-2",
            &[("Origin", "https://evil.com")],
            304,
            &[("Access-Control-Allow-Origin", "*")],
        ),
        origin_request(&[("X-Canary-Variant", "canary")]),
        origin_request(&[("X-Canary-Variant", "CANARY")]),
        origin_response(&[("Origin", APP)], 503, &[("X-Powered-By", "PHP")]),
        origin_response(&[], 404, &[]),
        json!({"Records": []}),
        json!({"Records": [{"cf": {"config": {"eventType": "viewer-teleport"}, "request": {}}}]}),
    ]);
    // Visitors: a fresh one, then the same visitor presenting the cookie it was given.
    for i in 0..20 {
        v.push(event(
            "viewer-request",
            &format!("visitor-{i}"),
            request("GET", "/items", &[]),
            None,
        ));
        v.push(viewer_response(&format!("visitor-{i}"), &[], 200, &[]));
    }
    v
}

#[tokio::test(flavor = "multi_thread")]
async fn node_handler_answers_exactly_as_the_native_binary() {
    if !node_available() {
        eprintln!("\n\n*** SKIPPED edge_node: `node` is not installed; the Lambda@Edge package is untested ***\n\n");
        return;
    }
    let root = harness::paths::workspace_root();
    let work = std::env::temp_dir().join(format!("edge-node-{}", std::process::id()));
    std::fs::create_dir_all(&work).expect("temp dir");
    let out = build_package(&config(), &work);
    let wasm_size = std::fs::metadata(out.join("edge.wasm"))
        .expect("edge.wasm")
        .len();
    let zip_size = std::fs::metadata(PathBuf::from(format!("{}.zip", out.display())))
        .expect("zip")
        .len();
    assert!(
        wasm_size < 300 * 1024,
        "edge.wasm is {wasm_size} bytes (aim: < 300 KB)"
    );
    assert!(
        zip_size <= 1024 * 1024,
        "zip is {zip_size} bytes (Lambda@Edge viewer limit: 1 MB)"
    );

    let events = events();
    let events_path = work.join("events.json");
    std::fs::write(&events_path, serde_json::to_vec(&events).expect("json")).expect("write events");
    let node = Command::new("node")
        .arg(root.join("edge/node/run-events.js"))
        .arg(&out)
        .arg(&events_path)
        .output()
        .expect("run node");
    assert!(
        node.status.success(),
        "node failed: {}",
        String::from_utf8_lossy(&node.stderr)
    );
    let from_node: Vec<Value> = serde_json::from_slice(&node.stdout).expect("node output json");
    assert_eq!(from_node.len(), events.len());

    let native = start(&config()).await;
    let mut compared_ok = 0;
    for (i, (ev, n)) in events.iter().zip(&from_node).enumerate() {
        match native.invoke(ev).await {
            Outcome::Response(v) => {
                assert_eq!(
                    n.get("ok"),
                    Some(&v),
                    "event #{i} differs\nevent: {ev}\nnative: {v}\nnode: {n}"
                );
                compared_ok += 1;
            }
            Outcome::Error { error_message, .. } => {
                assert!(
                    n.get("error").is_some(),
                    "event #{i}: native refused ({error_message}), node answered {n}"
                );
            }
        }
    }
    assert!(
        compared_ok >= events.len() - 2,
        "only {compared_ok} answers compared"
    );
    // Sanity: the comparison covered real decisions, not just pass-through.
    let statuses: Vec<&str> = from_node
        .iter()
        .filter_map(|r| r["ok"]["status"].as_str())
        .collect();
    for s in ["204", "403", "400", "431", "414", "200", "503"] {
        assert!(statuses.contains(&s), "no {s} among {statuses:?}");
    }
    let _ = std::fs::remove_dir_all(&work);
}

/// An `s3://` rollout source is read through an S3 client pinned to the function's home region
/// (the stack's, where the template creates the rollout bucket), taken from the invoked ARN:
/// a replica far from us-east-1 (its `AWS_REGION` is its own) asks the bucket's region directly
/// instead of paying a redirect inside the read's time budget. The Node.js runtime's
/// `@aws-sdk/client-s3` is replaced by a recording stand-in on `NODE_PATH`.
#[test]
fn node_handler_pins_the_s3_rollout_client_to_the_functions_home_region() {
    if !node_available() {
        eprintln!("\n\n*** SKIPPED edge_node s3 region: `node` is not installed ***\n\n");
        return;
    }
    let work = std::env::temp_dir().join(format!("edge-node-s3-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).expect("temp dir");
    let mut cfg = config();
    cfg["canary"]["weight_percent"] = json!(0);
    cfg["canary"]["rollout"] = json!({"source": "s3://stack-rollout/rollout.json"});
    let out = build_package(&cfg, &work);
    let stub = work.join("modules/@aws-sdk/client-s3");
    std::fs::create_dir_all(&stub).expect("stub dir");
    std::fs::write(
        stub.join("index.js"),
        r#"
class S3Client {
  constructor(config) { (globalThis.s3Configs ||= []).push(config); }
  async send(cmd) {
    (globalThis.s3Gets ||= []).push(cmd.input);
    const doc = JSON.stringify({ weight_percent: 0 });
    return { Body: { transformToByteArray: async () => new TextEncoder().encode(doc) } };
  }
}
class GetObjectCommand { constructor(input) { this.input = input; } }
module.exports = { S3Client, GetObjectCommand };
"#,
    )
    .expect("stub");
    let event = viewer_request("GET", &[("Origin", APP)]);
    let script = format!(
        r#"
const h = require({pkg});
(async () => {{
  const ctx = {{ invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:apigw-guard-edge:7' }};
  await h.handler({event}, ctx);
  process.stdout.write(JSON.stringify({{ configs: globalThis.s3Configs, gets: globalThis.s3Gets }}));
}})().catch((e) => {{ console.error(e); process.exit(1); }});
"#,
        pkg = serde_json::to_string(&out.join("index.js").display().to_string()).expect("path"),
        event = event,
    );
    let node = Command::new("node")
        .arg("-e")
        .arg(&script)
        .env("NODE_PATH", work.join("modules"))
        // A replica's own region, as Lambda@Edge sets it.
        .env("AWS_REGION", "ap-southeast-2")
        .output()
        .expect("run node");
    assert!(
        node.status.success(),
        "node failed: {}",
        String::from_utf8_lossy(&node.stderr)
    );
    let seen: Value = serde_json::from_slice(&node.stdout).expect("json");
    assert_eq!(
        seen["configs"],
        json!([{"region": "us-east-1", "followRegionRedirects": true}]),
        "{seen}"
    );
    assert_eq!(
        seen["gets"],
        json!([{"Bucket": "stack-rollout", "Key": "rollout.json"}])
    );
    let _ = std::fs::remove_dir_all(&work);
}
