//! The local chain in front of a service of the test's own (`GATEWAY_UPSTREAM`): the real
//! `gateway` binary (edge and authorizer in process, moto's Cognito) before a small HTTP server
//! that writes down every request it gets. What the chain refuses never reaches it; what it lets
//! through arrives unchanged but for the identity headers; its answers carry the edge's headers;
//! an upstream that is down, slow or not speaking HTTP gives API Gateway's 502/504.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

use harness::stack::{Reply, Stack};

/// One request as the upstream saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Bytes,
}

impl Seen {
    fn header(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

type Log = Arc<Mutex<Vec<Seen>>>;

/// The test's own service on a free loopback port: `/slow/…` answers after 3 s; everything
/// else answers 200 with a JSON echo, its own header and a hop-by-hop header to be dropped.
async fn start_upstream() -> (u16, Log) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let log: Log = Arc::default();
    let log2 = log.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let log = log2.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: hyper::Request<Incoming>| {
                    let log = log.clone();
                    async move {
                        let method = req.method().to_string();
                        let target = req
                            .uri()
                            .path_and_query()
                            .map(|p| p.to_string())
                            .unwrap_or_default();
                        let headers = req
                            .headers()
                            .iter()
                            .map(|(k, v)| {
                                (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into())
                            })
                            .collect();
                        let body = req.into_body().collect().await.map(|b| b.to_bytes());
                        let body = body.unwrap_or_default();
                        log.lock().expect("log").push(Seen {
                            method: method.clone(),
                            target: target.clone(),
                            headers,
                            body: body.clone(),
                        });
                        if target.starts_with("/slow") {
                            tokio::time::sleep(Duration::from_secs(3)).await;
                        }
                        let echo = json!({"method": method, "target": target,
                                          "body": String::from_utf8_lossy(&body)});
                        let resp = hyper::Response::builder()
                            .status(200)
                            .header("content-type", "application/json")
                            .header("x-upstream", "yes")
                            .header("keep-alive", "timeout=5")
                            .body(Full::new(Bytes::from(echo.to_string())))
                            .expect("response");
                        Ok::<_, Infallible>(resp)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (port, log)
}

/// A "service" that answers every connection with bytes that are not HTTP.
async fn start_garbage() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let _ = s
                .write_all(b"SSH-2.0-OpenSSH_9.6\r\n\x00\x01garbage\r\n\r\n")
                .await;
            let _ = s.shutdown().await;
        }
    });
    port
}

/// A loopback port nothing listens on.
async fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = l.local_addr().expect("addr").port();
    drop(l);
    port
}

const ORIGIN: &str = "https://app.example.com";
const ROUTES: &str =
    r#"["GET /orders/{id}", "POST /orders", "GET /slow/{id}", "GET /admin/{proxy+}"]"#;

fn edge_config() -> Value {
    json!({
        "cors": {"allowed_origins": [ORIGIN], "allow_credentials": false},
        "origin_verify": {"key_id": "v1", "secret": "local-origin-verify-secret-0123456789"},
    })
}

async fn start_stack(upstream_port: u16, timeout_ms: &str) -> Stack {
    Stack::start(
        &[
            (
                "ORIGIN_VERIFY_SECRET",
                "v1:local-origin-verify-secret-0123456789".to_string(),
            ),
            ("API_ROUTES", ROUTES.to_string()),
            (
                "ROUTE_RULES",
                r#"[{"route":"GET /admin/{proxy+}","groups_any":["admin"]}]"#.to_string(),
            ),
            ("ROUTE_DEFAULT", "allow".to_string()),
            (
                "GATEWAY_UPSTREAM",
                format!("http://127.0.0.1:{upstream_port}"),
            ),
            ("GATEWAY_UPSTREAM_TIMEOUT_MS", timeout_ms.to_string()),
        ],
        &edge_config(),
    )
    .await
}

fn assert_edge_headers(r: &Reply, what: &str) {
    for h in [
        "strict-transport-security",
        "x-content-type-options",
        "content-security-policy",
        "referrer-policy",
    ] {
        assert!(r.header(h).is_some(), "{what}: no {h}: {:?}", r.headers);
    }
}

fn problem_code(r: &Reply) -> String {
    assert_eq!(
        r.header("content-type"),
        Some("application/problem+json"),
        "{:?}",
        r.body
    );
    r.json()["code"].as_str().unwrap_or_default().to_string()
}

/// A token with one payload character changed (the signature no longer fits).
fn forged(token: &str) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
    let p = &mut parts[1];
    let last = p.pop().expect("payload");
    p.push(if last == 'A' { 'B' } else { 'A' });
    parts.join(".")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_requests_never_reach_the_upstream_and_allowed_ones_arrive_with_exactly_the_identity(
) {
    let (port, log) = start_upstream().await;
    let s = start_stack(port, "29000").await;
    let alice = format!("Bearer {}", s.token("alice"));
    let forged_alice = format!("Bearer {}", forged(s.token("alice")));

    // Refused by the chain: no token, a forged one, garbage, a route not in API_ROUTES, a
    // route rule (alice is not an admin), a disallowed preflight.
    let refused: Vec<(Reply, u16, &str)> = vec![
        (
            s.call("GET", "/orders/7", &[], "").await,
            401,
            "unauthorized",
        ),
        (
            s.call("GET", "/orders/7", &[("authorization", &forged_alice)], "")
                .await,
            401,
            "unauthorized",
        ),
        (
            s.call("GET", "/orders/7", &[("authorization", "Bearer x.y.z")], "")
                .await,
            401,
            "unauthorized",
        ),
        (
            s.call("GET", "/items", &[("authorization", &alice)], "")
                .await,
            404,
            "route_not_found",
        ),
        (
            s.call("GET", "/admin/users", &[("authorization", &alice)], "")
                .await,
            403,
            "forbidden",
        ),
    ];
    for (r, status, code) in &refused {
        assert_eq!(r.status, *status, "{:?}", r.body);
        assert_eq!(problem_code(r), *code);
        assert_edge_headers(r, code);
    }
    let pre = s
        .call(
            "OPTIONS",
            "/orders/7",
            &[
                ("origin", "https://evil.example"),
                ("access-control-request-method", "GET"),
            ],
            "",
        )
        .await;
    assert_eq!(pre.status, 403);
    assert!(pre.header("access-control-allow-origin").is_none());
    assert!(
        log.lock().expect("log").is_empty(),
        "the upstream saw refused requests: {:?}",
        log.lock().expect("log")
    );

    // Allowed: the request as sent (method, path after the stage, query, body), the client's
    // x-guard-* gone, the authorizer's identity added, the origin secret not passed on.
    let r = s
        .call(
            "POST",
            "/orders?x=1&x=2&y=%20z",
            &[
                ("authorization", &alice),
                ("origin", ORIGIN),
                ("content-type", "application/json"),
                ("x-guard-sub", "mallory"),
                ("X-Guard-Groups", "admin"),
                ("x-client-header", "kept"),
            ],
            r#"{"qty": 2}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.header("x-upstream"), Some("yes"));
    assert!(
        r.header("keep-alive").is_none(),
        "hop-by-hop header passed on"
    );
    assert_eq!(r.header("access-control-allow-origin"), Some(ORIGIN));
    assert!(r
        .header("vary")
        .is_some_and(|v| v.to_ascii_lowercase().contains("origin")));
    assert_edge_headers(&r, "upstream 200");
    assert_eq!(
        r.json(),
        json!({"method": "POST", "target": "/orders?x=1&x=2&y=%20z", "body": r#"{"qty": 2}"#})
    );
    let seen = log.lock().expect("log").clone();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let got = &seen[0];
    assert_eq!(got.method, "POST");
    assert_eq!(got.target, "/orders?x=1&x=2&y=%20z");
    assert_eq!(&got.body[..], br#"{"qty": 2}"#);
    assert_eq!(got.header("x-client-header"), vec!["kept"]);
    assert_eq!(got.header("authorization"), vec![alice.as_str()]);
    assert!(
        got.header("x-origin-verify").is_empty(),
        "origin secret passed on"
    );
    assert_eq!(
        got.header("host"),
        vec![format!("127.0.0.1:{port}").as_str()]
    );
    let guard: Vec<(String, String)> = got
        .headers
        .iter()
        .filter(|(k, _)| k.starts_with("x-guard-"))
        .cloned()
        .collect();
    let names: Vec<&str> = guard.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "x-guard-sub",
            "x-guard-username",
            "x-guard-groups",
            "x-guard-scope",
            "x-guard-client-id"
        ],
        "exactly the authorizer's identity headers, once each: {guard:?}"
    );
    let value = |k: &str| got.header(k).first().copied().unwrap_or("").to_string();
    assert_ne!(value("x-guard-sub"), "mallory");
    assert!(!value("x-guard-sub").is_empty());
    assert_eq!(value("x-guard-username"), "alice");
    assert_eq!(value("x-guard-groups"), "", "alice has no groups");
    assert_eq!(value("x-guard-client-id"), s.pool.client_id);

    // carol (admin) passes the route rule; her groups arrive.
    let carol = format!("Bearer {}", s.token("carol"));
    let r = s
        .call("GET", "/admin/users/1", &[("authorization", &carol)], "")
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let last = log.lock().expect("log").last().cloned().expect("seen");
    assert_eq!(last.target, "/admin/users/1");
    assert_eq!(last.header("x-guard-groups"), vec!["admin"]);
    assert_eq!(log.lock().expect("log").len(), 2);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_that_is_slow_down_or_not_http_gives_the_gateways_errors() {
    // Slow: no answer within the integration timeout → 504, well before the upstream's 3 s.
    let (port, log) = start_upstream().await;
    let s = start_stack(port, "800").await;
    let alice = format!("Bearer {}", s.token("alice"));
    let started = std::time::Instant::now();
    let r = s
        .call("GET", "/slow/1", &[("authorization", &alice)], "")
        .await;
    assert_eq!(r.status, 504, "{:?}", r.body);
    assert_eq!(problem_code(&r), "integration_timeout");
    assert_edge_headers(&r, "504");
    assert!(started.elapsed() < Duration::from_millis(2900));
    assert_eq!(log.lock().expect("log").len(), 1);

    // Down: nothing listens → 502 (the same moto, a gateway restarted with another upstream).
    let mut s = s;
    let down = format!("http://127.0.0.1:{}", closed_port().await);
    s.restart_with(&[("GATEWAY_UPSTREAM", Some(down.as_str()))])
        .await;
    let r = s
        .call("GET", "/orders/1", &[("authorization", &alice)], "")
        .await;
    assert_eq!(r.status, 502, "{:?}", r.body);
    assert_eq!(problem_code(&r), "integration_failure");
    assert_edge_headers(&r, "502 down");

    // Not HTTP → 502.
    let garbage = format!("http://127.0.0.1:{}", start_garbage().await);
    s.restart_with(&[("GATEWAY_UPSTREAM", Some(garbage.as_str()))])
        .await;
    let r = s
        .call("GET", "/orders/1", &[("authorization", &alice)], "")
        .await;
    assert_eq!(r.status, 502, "{:?}", r.body);
    assert_eq!(problem_code(&r), "integration_failure");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_loopback_or_malformed_upstream_is_refused_at_start() {
    let (port, _log) = start_upstream().await;
    let s = start_stack(port, "1000").await;
    for bad in [
        "http://10.1.2.3:80",
        "https://127.0.0.1:443",
        "http://127.0.0.1:80/api",
        "127.0.0.1:80",
    ] {
        let (code, err) = s.run_gateway_with(&[("GATEWAY_UPSTREAM", Some(bad))]).await;
        assert_eq!(code, Some(2), "{bad}: {err}");
        assert!(err.contains("GATEWAY_UPSTREAM"), "{bad}: {err}");
    }
    s.stop().await;
}

/// `gateway audit --url` against the chain in front of the test's own service: every category
/// that does not need crud runs and passes, with `--probe-path` standing in for crud's `/items`;
/// the crud-only ones (bola, mass, revoke) are skipped with a line each; and what the audit's
/// attacks sent never reached the service (every request it saw carries a genuine identity).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_passes_against_the_chain_in_front_of_a_service_of_ones_own() {
    let (port, log) = start_upstream().await;
    let api_port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    let mut edge = edge_config();
    // The edge's per-IP limit gives the ratelimit category its 429 (the service has none).
    edge["rate_limit"] = json!({"requests_per_minute": 200});
    let s = Stack::start(
        &[
            (
                "ORIGIN_VERIFY_SECRET",
                "v1:local-origin-verify-secret-0123456789".to_string(),
            ),
            ("API_ROUTES", ROUTES.to_string()),
            ("ROUTE_DEFAULT", "allow".to_string()),
            ("GATEWAY_UPSTREAM", format!("http://127.0.0.1:{port}")),
            ("GATEWAY_API_PORT", api_port.to_string()),
        ],
        &edge,
    )
    .await;
    let out = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new(harness::paths::bin("gateway"))
            .arg("audit")
            .args(["--url", &format!("http://127.0.0.1:{}", s.port)])
            .args(["--api-url", &format!("http://127.0.0.1:{api_port}/local")])
            .args(["--jwks-url", &s.pool.jwks_uri])
            .args(["--allowed-origin", ORIGIN])
            .args(["--probe-path", "/orders/1"])
            .args(["--rate-limit-requests", "300"])
            .arg("--json")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AUDIT_TOKEN_A", s.token("alice"))
            .env("AUDIT_TOKEN_B", s.token("bob"))
            .stdin(std::process::Stdio::null())
            .output(),
    )
    .await
    .expect("the audit finishes within its bound")
    .expect("run gateway audit");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let v: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|_| panic!("JSON report; stdout {stdout} stderr {stderr}"));
    let checks = v["checks"].as_array().expect("checks");
    let failed: Vec<&Value> = checks.iter().filter(|c| c["status"] == "FAIL").collect();
    assert!(failed.is_empty(), "failed checks: {failed:#?}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    for cat in ["control", "token", "cors", "headers", "bypass", "ratelimit"] {
        assert!(
            checks
                .iter()
                .any(|c| c["category"] == cat && c["status"] == "PASS"),
            "no passing {cat} check: {checks:#?}"
        );
    }
    // The probe path is what was attacked (names carry it), crud's /items never.
    assert!(checks
        .iter()
        .any(|c| c["name"] == "GET /orders/1 with a forged origin-verify header: refused"));
    assert!(!stdout.contains("/items"), "{stdout}");
    let skipped: Vec<(&str, &str)> = checks
        .iter()
        .filter(|c| c["status"] == "SKIP")
        .map(|c| {
            (
                c["category"].as_str().unwrap_or_default(),
                c["detail"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    for cat in ["bola", "mass", "revoke"] {
        let line = skipped.iter().find(|(c, _)| *c == cat);
        assert!(
            line.is_some_and(|(_, d)| d.contains("crud") || d.contains("--resource")),
            "{cat}: {skipped:?}"
        );
    }
    // The service saw only genuine callers: alice's and bob's identities on GET /orders/1.
    let subs: Vec<String> = ["alice", "bob"]
        .iter()
        .map(|u| {
            claims_of(s.token(u))["sub"]
                .as_str()
                .expect("sub")
                .to_string()
        })
        .collect();
    let seen = log.lock().expect("log").clone();
    assert!(
        !seen.is_empty(),
        "the positive controls reached the service"
    );
    for r in &seen {
        let sub = r.header("x-guard-sub");
        assert!(
            sub.len() == 1 && subs.iter().any(|s| s == sub[0]),
            "a request without a genuine identity reached the service: {r:?}"
        );
        assert_eq!(
            (r.method.as_str(), r.target.as_str()),
            ("GET", "/orders/1"),
            "{r:?}"
        );
        assert!(r.header("x-origin-verify").is_empty(), "{r:?}");
    }
    eprintln!(
        "audit in front of the test service: {} checks, {} requests, {} reached the service",
        v["summary"]["checks"],
        v["summary"]["requests"],
        seen.len()
    );
    s.stop().await;
}

/// Signs `claims` (JSON) with moto's own Cognito key (its `jwks-private.json`, kid `dummy`): a
/// token the issuer itself could have issued, e.g. one that has expired.
const SIGN_AS_MOTO_PY: &str = r#"
import json, sys
from joserfc import jwk, jwt
from moto.utilities.utils import load_resource
key = jwk.RSAKey.import_key(load_resource("cognitoidp/resources/jwks-private.json"))
print(jwt.encode({"kid": "dummy", "alg": "RS256"}, json.loads(sys.argv[1]), key))
"#;

/// Writes one session entry of the revocation table's layout (revocation-keys) into moto.
const REVOKE_PY: &str = r#"
import boto3, sys
boto3.client("dynamodb", endpoint_url=sys.argv[1], region_name="us-east-1",
             aws_access_key_id="testing", aws_secret_access_key="testing").put_item(
    TableName="revocations", Item={"pk": {"S": sys.argv[2]}, "expires_at": {"N": sys.argv[3]}})
"#;

fn python(script: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(harness::paths::venv_python())
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("jwt");
    serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
            .expect("base64url"),
    )
    .expect("claims")
}

/// Tokens the issuer really signed but that must no longer work, an expired one and a revoked
/// one, are refused by the chain and never reach the service; the same user's current token
/// still does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_and_revoked_tokens_never_reach_the_upstream() {
    let (port, log) = start_upstream().await;
    let s = Stack::start(
        &[
            ("API_ROUTES", ROUTES.to_string()),
            ("ROUTE_DEFAULT", "allow".to_string()),
            ("GATEWAY_UPSTREAM", format!("http://127.0.0.1:{port}")),
            ("REVOCATION_TABLE", "revocations".to_string()),
            ("REVOCATION_SYNC_SECONDS", "1".to_string()),
        ],
        &edge_config(),
    )
    .await;
    let now = harness::jwt::now();
    // Expired: alice's claims, signed by the issuer's key, with exp two minutes ago.
    let mut c = claims_of(s.token("alice"));
    c["iat"] = json!(now - 3720);
    c["auth_time"] = json!(now - 3720);
    c["exp"] = json!(now - 120);
    let expired = python(SIGN_AS_MOTO_PY, &[&c.to_string()]);
    // Revoked: a new session of alice's, revoked in the table before it was ever used.
    let session = harness::cognito::sign_in(&s.moto, "gateway-pool", "alice", &[]).access_token;
    let sc = claims_of(&session);
    let jti = [&sc["origin_jti"], &sc["jti"]]
        .into_iter()
        .find_map(|v| v.as_str().filter(|j| !j.is_empty()))
        .expect("a jti");
    let pk = revocation_keys::jti_pk(&revocation_keys::jti_key(
        sc["iss"].as_str().expect("iss"),
        jti,
    ));
    python(
        REVOKE_PY,
        &[&s.moto.endpoint(), &pk, &(now + 3600).to_string()],
    );
    // One sync interval and a margin: every authorizer's set holds the entry.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    for (what, token) in [("expired", &expired), ("revoked", &session)] {
        let auth = format!("Bearer {token}");
        let r = s
            .call("GET", "/orders/1", &[("authorization", &auth)], "")
            .await;
        assert_eq!(r.status, 401, "{what}: {:?}", r.body);
        assert_eq!(problem_code(&r), "unauthorized", "{what}");
        assert_edge_headers(&r, what);
    }
    assert!(
        log.lock().expect("log").is_empty(),
        "a refused token reached the service"
    );
    // The control: alice's current token is let through (so the refusals are about the tokens).
    let alice = format!("Bearer {}", s.token("alice"));
    let r = s
        .call("GET", "/orders/1", &[("authorization", &alice)], "")
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(log.lock().expect("log").len(), 1);
    s.stop().await;
}
