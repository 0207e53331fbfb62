//! Shared helpers for the edge suites: CloudFront events in the documented shape, the real
//! `edge` binary under the Runtime API emulator, and header accessors.

use crate::runtime_api::{Function, Outcome};
use serde_json::{json, Map, Value};

pub const DIST: &str = "d111111abcdef8.cloudfront.net";
pub const APP: &str = "https://app.example.com";
pub const COOKIE_SECRET: &str = "test-cookie-key-0123456789abcdefghijklmnop";
pub const OLD_COOKIE_SECRET: &str = "old-cookie-key-zyxwvutsrqponmlkjihgfedcba98";
pub const TESTER_SECRET: &str = "tester-secret-0123456789abcdefghijklmnopq";
pub const VERIFY_SECRET: &str = "origin-verify-secret-0123456789abcdefghij";

/// A production-like configuration: one allowed origin with credentials, a 20 % canary routed by
/// origin path, signed cookies, a tester key and the origin-verify header.
pub fn config() -> Value {
    json!({
        "cors": {
            "allowed_origins": [APP, "http://localhost:3000"],
            "allow_credentials": true,
            "allowed_methods": ["GET", "POST", "PUT", "PATCH", "DELETE"],
            "allowed_headers": ["authorization", "content-type", "if-match"],
            "expose_headers": ["etag", "location"],
            "max_age_seconds": 600
        },
        "origin_verify": {"key_id": "v1", "secret": VERIFY_SECRET},
        "canary": {
            "weight_percent": 20,
            "cookie_keys": [{"id": "k1", "secret": COOKIE_SECRET}],
            "tester_keys": [{"id": "qa", "secret": TESTER_SECRET}],
            "origin": {"path": "/canary"}
        }
    })
}

pub async fn start(config: &Value) -> Function {
    let f = Function::start(
        &crate::paths::bin("edge"),
        &[("EDGE_CONFIG".to_string(), config.to_string())],
    )
    .await;
    if let Some(e) = f.wait_init().await {
        panic!("edge init failed: {e}\nlogs:\n{}", f.logs().join("\n"));
    }
    f
}

/// CloudFront's header map: lowercase name → [{key, value}], in the given order.
pub fn headers(pairs: &[(&str, &str)]) -> Value {
    let mut m = Map::new();
    for (k, v) in pairs {
        let entry = m.entry(k.to_ascii_lowercase()).or_insert_with(|| json!([]));
        if let Value::Array(a) = entry {
            a.push(json!({"key": k, "value": v}));
        }
    }
    Value::Object(m)
}

pub fn request(method: &str, uri: &str, hdrs: &[(&str, &str)]) -> Value {
    json!({
        "clientIp": "203.0.113.178",
        "headers": headers(&[&[("Host", DIST)], hdrs].concat()),
        "method": method,
        "querystring": "",
        "uri": uri
    })
}

pub fn event(event_type: &str, request_id: &str, request: Value, response: Option<Value>) -> Value {
    let mut cf = json!({
        "config": {
            "distributionDomainName": DIST,
            "distributionId": "EDFDVBD6EXAMPLE",
            "eventType": event_type,
            "requestId": request_id
        },
        "request": request
    });
    if let Some(r) = response {
        cf["response"] = r;
    }
    json!({"Records": [{"cf": cf}]})
}

pub fn viewer_request(method: &str, hdrs: &[(&str, &str)]) -> Value {
    event(
        "viewer-request",
        "req-viewer-1",
        request(method, "/items", hdrs),
        None,
    )
}

pub fn origin_request(hdrs: &[(&str, &str)]) -> Value {
    let mut req = request("GET", "/items", hdrs);
    req["origin"] = json!({
        "custom": {
            "customHeaders": {},
            "domainName": "api.example.org",
            "keepaliveTimeout": 5,
            "path": "/prod",
            "port": 443,
            "protocol": "https",
            "readTimeout": 30,
            "sslProtocols": ["TLSv1.2"]
        }
    });
    event("origin-request", "req-origin-1", req, None)
}

pub fn response(status: u16, hdrs: &[(&str, &str)]) -> Value {
    json!({"status": status.to_string(), "statusDescription": "x", "headers": headers(hdrs)})
}

pub fn origin_response(
    req_hdrs: &[(&str, &str)],
    status: u16,
    resp_hdrs: &[(&str, &str)],
) -> Value {
    event(
        "origin-response",
        "req-or-1",
        request("GET", "/items", req_hdrs),
        Some(response(status, resp_hdrs)),
    )
}

pub fn viewer_response(
    request_id: &str,
    req_hdrs: &[(&str, &str)],
    status: u16,
    resp_hdrs: &[(&str, &str)],
) -> Value {
    event(
        "viewer-response",
        request_id,
        request("GET", "/items", req_hdrs),
        Some(response(status, resp_hdrs)),
    )
}

/// Values of header `name` (lowercase) in a request or response object.
pub fn header(obj: &Value, name: &str) -> Vec<String> {
    obj["headers"][name]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|h| h["value"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

pub fn one(obj: &Value, name: &str) -> Option<String> {
    let v = header(obj, name);
    assert!(v.len() <= 1, "{name} appears {} times: {v:?}", v.len());
    v.into_iter().next()
}

/// Invoke and expect a JSON object back.
pub async fn call(f: &Function, ev: &Value) -> Value {
    match f.invoke(ev).await {
        Outcome::Response(v) => v,
        Outcome::Error { error_message, .. } => panic!("edge refused the event: {error_message}"),
    }
}

pub fn is_generated(v: &Value) -> bool {
    v.get("status").is_some() && v.get("uri").is_none()
}

pub fn status(v: &Value) -> u16 {
    v["status"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

pub fn cors_headers(v: &Value) -> Vec<String> {
    v["headers"]
        .as_object()
        .map(|m| {
            m.keys()
                .filter(|k| k.starts_with("access-control-"))
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

/// The security headers every response must carry (default configuration).
pub fn assert_security_headers(v: &Value) {
    assert_eq!(
        one(v, "strict-transport-security").as_deref(),
        Some("max-age=63072000; includeSubDomains"),
        "{v}"
    );
    assert!(
        one(v, "content-security-policy").is_some_and(
            |c| c.contains("default-src 'none'") && c.contains("frame-ancestors 'none'")
        ),
        "{v}"
    );
    assert_eq!(
        one(v, "x-content-type-options").as_deref(),
        Some("nosniff"),
        "{v}"
    );
    assert_eq!(one(v, "x-frame-options").as_deref(), Some("DENY"), "{v}");
    assert_eq!(
        one(v, "referrer-policy").as_deref(),
        Some("no-referrer"),
        "{v}"
    );
    assert!(
        one(v, "permissions-policy").is_some_and(|p| p.contains("camera=()")),
        "{v}"
    );
    assert!(
        header(v, "server").is_empty() && header(v, "x-powered-by").is_empty(),
        "{v}"
    );
}

/// Builds the Lambda@Edge package (`edge/build-wasm.sh`) with `config` into `work/pkg` (and
/// `work/pkg.zip`), failing the test with the script's output if the build fails.
pub fn build_package(config: &Value, work: &std::path::Path) -> std::path::PathBuf {
    let root = crate::paths::workspace_root();
    let config_path = work.join("edge-config.json");
    std::fs::write(&config_path, config.to_string()).expect("write config");
    let out = work.join("pkg");
    let build = std::process::Command::new(root.join("edge/build-wasm.sh"))
        .arg("--config")
        .arg(&config_path)
        .arg("--out")
        .arg(&out)
        .current_dir(&root)
        .output()
        .expect("run edge/build-wasm.sh");
    assert!(
        build.status.success(),
        "build-wasm.sh failed:\n{}\n{}",
        String::from_utf8_lossy(&build.stdout),
        String::from_utf8_lossy(&build.stderr)
    );
    out
}
