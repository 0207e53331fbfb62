//! No log line carries a token, a header value, a body or a secret, whatever the log level: the
//! real `authorizer`, `crud`, `edge` and `gateway` binaries run with every log setting turned up
//! (`RUST_LOG=trace`, `AWS_LAMBDA_LOG_LEVEL=TRACE`, `AWS_LAMBDA_LOG_FORMAT=JSON`), fed events
//! that carry valid and forged tokens, `Authorization`, cookies, the origin-verify secret, cursor
//! keys and cursors, canary tester and cookie keys and custom headers holding unique markers. All
//! of stdout and stderr is captured; no marker may appear in it, in any of the forms a logger
//! could print it (as is, base64, base64url, hex, JSON-escaped). Each test also checks that the
//! logs it scanned are the real ones (decision lines with their reason codes, and for crud, which
//! honours the level, lines at DEBUG), so an empty or silenced log cannot pass.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use bytes::Bytes;
use harness::jwks_server::JwksServer;
use harness::jwt::{self, access_claims, TestKey};
use harness::moto::Moto;
use harness::paths;
use harness::runtime_api::{Function, Outcome};
use harness::stack::Stack;
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};

/// Every log setting a deployment or a developer could turn up.
const LOUD: [(&str, &str); 3] = [
    ("RUST_LOG", "trace"),
    ("AWS_LAMBDA_LOG_LEVEL", "TRACE"),
    ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
];

fn loud_env() -> Vec<(String, String)> {
    LOUD.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A unique marker string: `name` plus a per-process random suffix.
fn marker(name: &str) -> String {
    let mut b = [0u8; 6];
    aws_lc_rs::rand::fill(&mut b).expect("random");
    format!("LOGMARK{name}{}", hex(&b))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// What must never be logged, with the forms a logger could print it in.
#[derive(Default)]
struct Forbidden(Vec<(String, String)>);

impl Forbidden {
    /// `value` as is, JSON-escaped, base64, base64url and hex (values of 12+ characters).
    fn secret(&mut self, what: &str, value: &str) {
        assert!(value.len() >= 12, "{what}: too short to search for");
        let escaped = serde_json::to_string(value).expect("json");
        let forms = [
            value.to_string(),
            escaped[1..escaped.len() - 1].to_string(),
            STANDARD.encode(value).trim_end_matches('=').to_string(),
            URL_SAFE_NO_PAD.encode(value),
            hex(value.as_bytes()),
        ];
        for f in forms {
            self.0.push((what.to_string(), f));
        }
    }

    /// Only this exact string (a token's parts, a cookie value).
    fn exact(&mut self, what: &str, value: &str) {
        assert!(value.len() >= 12, "{what}: too short to search for");
        self.0.push((what.to_string(), value.to_string()));
    }

    /// A JWT: the whole token, its payload and its signature segments.
    fn token(&mut self, what: &str, token: &str) {
        self.exact(what, token);
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3, "{what}: not a JWT");
        self.exact(&format!("{what} payload"), parts[1]);
        self.exact(&format!("{what} signature"), parts[2]);
    }

    /// Panics naming every leak: what leaked, in which form, and the target of the line.
    fn assert_absent(&self, logs: &[String], who: &str) {
        let mut leaks = Vec::new();
        for (what, form) in &self.0 {
            for line in logs.iter().filter(|l| l.contains(form.as_str())) {
                let target = serde_json::from_str::<Value>(line)
                    .ok()
                    .and_then(|v| v["target"].as_str().map(str::to_string))
                    .unwrap_or_else(|| "-".into());
                let level = serde_json::from_str::<Value>(line)
                    .ok()
                    .and_then(|v| v["level"].as_str().map(str::to_string))
                    .unwrap_or_else(|| "-".into());
                let excerpt: String = line.chars().take(300).collect();
                leaks.push(format!("{what} ({level} {target}): {excerpt}"));
            }
        }
        // A form split across lines (a multi-line dump) is a leak too.
        let all = logs.join("");
        for (what, form) in &self.0 {
            if !logs.iter().any(|l| l.contains(form.as_str())) && all.contains(form.as_str()) {
                leaks.push(format!("{what}: across lines"));
            }
        }
        assert!(
            leaks.is_empty(),
            "{who}: {} leaks in {} log lines:\n{}",
            leaks.len(),
            logs.len(),
            leaks.join("\n")
        );
    }
}

/// The JSON log lines (those that parse as objects).
fn json_lines(logs: &[String]) -> Vec<Value> {
    logs.iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(Value::is_object)
        .collect()
}

fn has_line(lines: &[Value], pairs: &[(&str, &str)]) -> bool {
    lines.iter().any(|l| {
        pairs.iter().all(|(k, v)| {
            let field = l
                .get(*k)
                .or_else(|| l.get("fields").and_then(|f| f.get(*k)));
            field.and_then(Value::as_str) == Some(*v)
        })
    })
}

fn assert_line(lines: &[Value], pairs: &[(&str, &str)], who: &str, logs: &[String]) {
    assert!(
        has_line(lines, pairs),
        "{who}: no log line with {pairs:?}; logs:\n{}",
        logs.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// authorizer

const ISS: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_LogPool1";
const CLIENT: &str = "client-logs-0123";
const SUB: &str = "0d9e8f7a-1111-4a2b-9c3d-555566667777";
const REST_TOKEN: &str = include_str!("../../../authorizer/tests/fixtures/rest_token.json");
const REST_REQUEST: &str = include_str!("../../../authorizer/tests/fixtures/rest_request.json");
const HTTP_V2: &str = include_str!("../../../authorizer/tests/fixtures/http_v2.json");

fn with_headers(mut ev: Value, headers: &[(&str, &str)]) -> Value {
    for (k, v) in headers {
        ev["headers"][*k] = json!(v);
        if ev.get("multiValueHeaders").is_some() {
            ev["multiValueHeaders"][*k] = json!([v]);
        }
    }
    ev
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorizer_logs_no_token_header_or_secret_at_trace() {
    let key = TestKey::rsa("log-key-1");
    let other = TestKey::rsa("log-key-1");
    let jwks = JwksServer::start(jwt::jwks(&[&key])).await;
    let verify = marker("OriginVerifySecret");
    let mut env = loud_env();
    env.extend([
        ("ISSUER".to_string(), ISS.to_string()),
        ("JWKS_URI".to_string(), jwks.uri()),
        ("CLIENT_IDS".to_string(), CLIENT.to_string()),
        ("ORIGIN_VERIFY_SECRET".to_string(), format!("v1:{verify}")),
    ]);
    let f = Function::start(&paths::bin("authorizer"), &env).await;
    if let Some(e) = f.wait_init().await {
        panic!("authorizer init failed: {e}\n{}", f.logs().join("\n"));
    }

    let good = key.sign(&access_claims(ISS, CLIENT, SUB), &json!({}));
    // Same kid, another key: a forged signature over valid claims.
    let forged = other.sign(&access_claims(ISS, CLIENT, SUB), &json!({}));
    let cookie = marker("CookieValue");
    let custom = marker("CustomHeader");
    let query = marker("QueryValue");
    let wrong_verify = marker("WrongOriginVerify");
    let garbage = marker("GarbageToken");
    let mut forbidden = Forbidden::default();
    forbidden.secret("origin-verify secret", &verify);
    forbidden.token("valid token", &good);
    forbidden.token("forged token", &forged);
    for (what, v) in [
        ("cookie", &cookie),
        ("custom header", &custom),
        ("query value", &query),
        ("wrong origin-verify value", &wrong_verify),
        ("garbage token", &garbage),
    ] {
        forbidden.secret(what, v);
    }

    let verify_header = format!("v1:{verify}");
    let request = |auth: &str, verify: &str| {
        let mut ev = with_headers(
            serde_json::from_str(REST_REQUEST).expect("fixture"),
            &[
                ("Authorization", auth),
                ("x-origin-verify", verify),
                ("Cookie", &format!("session={cookie}; theme=dark")),
                ("X-Log-Marker", &custom),
            ],
        );
        ev["queryStringParameters"] = json!({ "q": query });
        ev["multiValueQueryStringParameters"] = json!({ "q": [query] });
        ev
    };
    let bearer = |t: &str| format!("Bearer {t}");

    // Allowed: a REQUEST event with every secret-bearing header, an HTTP API event with cookies.
    let o = f.invoke(&request(&bearer(&good), &verify_header)).await;
    assert_eq!(
        o.response()["policyDocument"]["Statement"][0]["Effect"],
        "Allow",
        "{o:?}"
    );
    let mut v2 = with_headers(
        serde_json::from_str(HTTP_V2).expect("fixture"),
        &[
            ("authorization", &bearer(&good)),
            ("x-origin-verify", &verify_header),
            ("x-log-marker", &custom),
        ],
    );
    v2["cookies"] = json!([format!("session={cookie}")]);
    v2["identitySource"] = json!([bearer(&good), verify_header.clone()]);
    v2["rawQueryString"] = json!(format!("q={query}"));
    v2["queryStringParameters"] = json!({ "q": query });
    let o = f.invoke(&v2).await;
    assert!(matches!(o, Outcome::Response(_)), "{o:?}");

    // Refused: forged signature, wrong origin-verify value, a malformed token, a TOKEN event.
    let refused = [
        request(&bearer(&forged), &verify_header),
        request(&bearer(&good), &format!("v1:{wrong_verify}")),
        request(
            &format!("Bearer {garbage}.{garbage}.{garbage}"),
            &verify_header,
        ),
        {
            let mut ev: Value = serde_json::from_str(REST_TOKEN).expect("fixture");
            ev["authorizationToken"] = json!(bearer(&forged));
            ev
        },
    ];
    for ev in &refused {
        let o = f.invoke(ev).await;
        assert_eq!(o.error_message(), Some("Unauthorized"), "{o:?}");
    }
    // Not JSON, and not UTF-8: refused by the runtime before the handler, the marker inside.
    let _ = f
        .invoke_bytes(Bytes::from(format!(
            "{{\"type\":\"TOKEN\",\"authorizationToken\":\"Bearer {garbage}"
        )))
        .await;
    let mut bad_utf8 = format!("{{\"authorizationToken\":\"{garbage}").into_bytes();
    bad_utf8.extend_from_slice(&[0xff, 0xfe, b'"', b'}']);
    let _ = f.invoke_bytes(Bytes::from(bad_utf8)).await;

    let logs = f.settled_logs().await;
    forbidden.assert_absent(&logs, "authorizer");
    let lines = json_lines(&logs);
    let who = "authorizer";
    assert_line(
        &lines,
        &[("decision", "allow"), ("reason", "ok")],
        who,
        &logs,
    );
    for reason in ["bad_signature", "origin_verify_failed", "malformed_token"] {
        assert_line(
            &lines,
            &[("decision", "unauthorized"), ("reason", reason)],
            who,
            &logs,
        );
    }
    assert!(
        lines.len() >= 7,
        "authorizer: {} JSON lines; logs:\n{}",
        lines.len(),
        logs.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// crud

const CRUD_REST: &str = include_str!("../../../crud/tests/fixtures/apigw-rest-get-item.json");
const CRUD_HTTP: &str = include_str!("../../../crud/tests/fixtures/apigw-http-post-items.json");
const ALICE: &str = "5f3c1e2a-8b7d-4c6e-9f01-23456789abcd";

/// A REST (1.0) proxy event for `method path` as `sub`.
fn crud_rest(
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    query: &[(&str, &str)],
    body: Option<&str>,
) -> Value {
    let mut ev: Value = serde_json::from_str(CRUD_REST).expect("fixture");
    let id = path.strip_prefix("/items/");
    let resource = if id.is_some() {
        "/items/{id}"
    } else {
        "/items"
    };
    ev["resource"] = json!(resource);
    ev["path"] = json!(path);
    ev["httpMethod"] = json!(method);
    ev["requestContext"]["resourcePath"] = json!(resource);
    ev["requestContext"]["httpMethod"] = json!(method);
    ev["requestContext"]["path"] = json!(format!("/prod{path}"));
    ev["pathParameters"] = match id {
        Some(id) => json!({ "id": id }),
        None => Value::Null,
    };
    let mut single = serde_json::Map::new();
    let mut multi = serde_json::Map::new();
    single.insert(
        "Host".into(),
        json!("abc123.execute-api.us-east-1.amazonaws.com"),
    );
    for (k, v) in headers {
        single.insert(k.to_string(), json!(v));
        multi.insert(k.to_string(), json!([v]));
    }
    ev["headers"] = Value::Object(single);
    ev["multiValueHeaders"] = Value::Object(multi);
    if query.is_empty() {
        ev["queryStringParameters"] = Value::Null;
        ev["multiValueQueryStringParameters"] = Value::Null;
    } else {
        let q: serde_json::Map<String, Value> = query
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        let mq: serde_json::Map<String, Value> = query
            .iter()
            .map(|(k, v)| (k.to_string(), json!([v])))
            .collect();
        ev["queryStringParameters"] = Value::Object(q);
        ev["multiValueQueryStringParameters"] = Value::Object(mq);
    }
    ev["body"] = body.map(|b| json!(b)).unwrap_or(Value::Null);
    ev["isBase64Encoded"] = json!(false);
    ev
}

/// crud's answer: (status, body as JSON).
fn crud_reply(o: &Outcome) -> (i64, Value) {
    let r = o.response();
    let status = r["statusCode"].as_i64().unwrap_or(0);
    let body = r["body"]
        .as_str()
        .and_then(|b| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null);
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crud_logs_no_token_header_body_or_secret_at_trace() {
    let moto = Moto::start();
    let ddb = harness::dynamo::client(&moto);
    harness::dynamo::create_items_table(&ddb, "items").await;

    // A 48-byte cursor key (printable, so its raw form is searchable too) and AWS credentials
    // that are markers: a signed SDK request logged at trace would show the session token.
    let cursor_key = format!("{:X<48}", marker("CursorKey"));
    let cursor_secret = STANDARD.encode(cursor_key.as_bytes());
    let aws_secret = marker("AwsSecretAccessKey");
    let session_token = marker("AwsSessionToken");
    let mut env = harness::dynamo::crud_env(&moto, "items", &[]);
    env.extend(loud_env());
    env.extend([
        ("CURSOR_SECRET".to_string(), cursor_secret.clone()),
        ("RATE_LIMIT_PER_MINUTE".to_string(), "100000".to_string()),
        ("AWS_SECRET_ACCESS_KEY".to_string(), aws_secret.clone()),
        ("AWS_SESSION_TOKEN".to_string(), session_token.clone()),
    ]);
    let f = Function::start(&paths::bin("crud"), &env).await;
    if let Some(e) = f.wait_init().await {
        panic!("crud init failed: {e}\n{}", f.logs().join("\n"));
    }

    let key = TestKey::rsa("crud-log-key");
    let token = key.sign(&access_claims(ISS, CLIENT, ALICE), &json!({}));
    let auth = format!("Bearer {token}");
    let cookie = marker("CookieValue");
    let custom = marker("CustomHeader");
    let idem = marker("IdempotencyKey");
    let title = marker("BodyTitle");
    let verify = marker("OriginVerifyHeader");
    let mut forbidden = Forbidden::default();
    forbidden.token("Authorization token", &token);
    forbidden.secret("cursor key (raw)", &cursor_key);
    forbidden.exact("cursor key (base64)", &cursor_secret);
    forbidden.exact("cursor key (hex)", &hex(cursor_key.as_bytes()));
    forbidden.secret("AWS secret access key", &aws_secret);
    forbidden.secret("AWS session token", &session_token);
    for (what, v) in [
        ("cookie", &cookie),
        ("custom header", &custom),
        ("Idempotency-Key", &idem),
        ("body value", &title),
        ("x-origin-verify value", &verify),
    ] {
        forbidden.secret(what, v);
    }
    let cookie_header = format!("session={cookie}");
    let common: Vec<(&str, &str)> = vec![
        ("Authorization", auth.as_str()),
        ("Cookie", cookie_header.as_str()),
        ("X-Log-Marker", custom.as_str()),
        ("x-origin-verify", verify.as_str()),
    ];
    let with = |extra: &[(&'static str, &str)]| -> Vec<(String, String)> {
        common
            .iter()
            .chain(extra.iter())
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let call = |method: &'static str,
                path: String,
                h: Vec<(String, String)>,
                q: Vec<(String, String)>,
                body: Option<String>| {
        let f = &f;
        async move {
            let h: Vec<(&str, &str)> = h.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let q: Vec<(&str, &str)> = q.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            crud_reply(
                &f.invoke(&crud_rest(method, &path, &h, &q, body.as_deref()))
                    .await,
            )
        }
    };

    let body = json!({ "title": title }).to_string();
    let json_ct = [("Content-Type", "application/json")];
    let (s, created) = call(
        "POST",
        "/items".into(),
        with(&[json_ct[0], ("Idempotency-Key", idem.as_str())]),
        vec![],
        Some(body.clone()),
    )
    .await;
    assert_eq!(s, 201, "{created}");
    let (s, _) = call(
        "POST",
        "/items".into(),
        with(&json_ct),
        vec![],
        Some(body.clone()),
    )
    .await;
    assert_eq!(s, 201);
    let id = created["id"].as_str().expect("id").to_string();
    let (s, got) = call("GET", format!("/items/{id}"), with(&[]), vec![], None).await;
    assert_eq!((s, got["title"].as_str()), (200, Some(title.as_str())));

    // A page of one, then the next page through its cursor (the cursor carries a tag made with
    // the cursor key); then a forged cursor.
    let limit = ("limit".to_string(), "1".to_string());
    let (s, page) = call("GET", "/items".into(), with(&[]), vec![limit.clone()], None).await;
    assert_eq!(s, 200, "{page}");
    let cursor = page["next_cursor"]
        .as_str()
        .expect("next_cursor")
        .to_string();
    forbidden.exact("cursor", &cursor);
    let (s, _) = call(
        "GET",
        "/items".into(),
        with(&[]),
        vec![limit.clone(), ("cursor".into(), cursor.clone())],
        None,
    )
    .await;
    assert_eq!(s, 200);
    let forged_cursor = marker("ForgedCursor");
    forbidden.secret("forged cursor", &forged_cursor);
    let (s, problem) = call(
        "GET",
        "/items".into(),
        with(&[]),
        vec![limit, ("cursor".into(), forged_cursor.clone())],
        None,
    )
    .await;
    assert_eq!((s, problem["code"].as_str()), (400, Some("invalid_cursor")));

    // A lost-reply retry of the first create: the same key and body answer the same item.
    let (s, again) = call(
        "POST",
        "/items".into(),
        with(&[json_ct[0], ("Idempotency-Key", idem.as_str())]),
        vec![],
        Some(body.clone()),
    )
    .await;
    assert_eq!(
        (s, again["id"].as_str()),
        (201, Some(id.as_str())),
        "{again}"
    );

    // An HTTP API (2.0) event with cookies.
    let mut v2: Value = serde_json::from_str(CRUD_HTTP).expect("fixture");
    v2["headers"]["authorization"] = json!(auth);
    v2["headers"]["x-log-marker"] = json!(custom);
    v2["cookies"] = json!([cookie_header]);
    v2["requestContext"]["authorizer"]["lambda"]["sub"] = json!(ALICE);
    v2["body"] = json!(body);
    let (s, v2_body) = crud_reply(&f.invoke(&v2).await);
    assert_eq!(s, 201, "{v2_body}");

    // An event the runtime cannot turn into a proxy event: a header value with a control
    // character (http's HeaderValue refuses it), the token beside it.
    let bad_header = marker("ControlCharHeader");
    forbidden.secret("undecodable header value", &bad_header);
    let mut undecodable = crud_rest(
        "GET",
        "/items",
        &[("Authorization", auth.as_str())],
        &[],
        None,
    );
    undecodable["headers"]["X-Broken"] = json!(format!("{bad_header}\u{1}{token}"));
    undecodable["multiValueHeaders"]["X-Broken"] = json!([format!("{bad_header}\u{1}{token}")]);
    let o = f.invoke(&undecodable).await;
    let msg = o
        .error_message()
        .expect("refused as an invalid event")
        .to_string();

    let logs = f.settled_logs().await;
    forbidden.assert_absent(&logs, "crud");
    let lines = json_lines(&logs);
    let who = "crud";
    let request_line = |status: u16, code: &str| {
        lines.iter().any(|l| {
            let fields = l.get("fields").unwrap_or(l);
            fields["message"] == "request" && fields["status"] == status && fields["code"] == code
        })
    };
    for (status, code) in [(201, "-"), (200, "-"), (400, "invalid_cursor")] {
        assert!(
            request_line(status, code),
            "{who}: no request line with status {status} code {code}; logs:\n{}",
            logs.join("\n")
        );
    }
    // Not a log, but API Gateway may log it: the invocation error names no value either.
    assert!(
        !msg.contains(&bad_header) && !msg.contains(&token),
        "the invocation error names a header value: {msg}"
    );
    // crud honours the level: its own DEBUG lines are there.
    assert!(
        lines.iter().any(|l| l["level"] == "DEBUG"),
        "{who}: nothing at DEBUG with the level at TRACE; logs:\n{}",
        logs.join("\n")
    );
    assert!(
        lines.len() >= 8,
        "{who}: {} JSON lines; logs:\n{}",
        lines.len(),
        logs.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// edge (native binary)

const DIST: &str = "d111111abcdef8.cloudfront.net";

fn cf_headers(pairs: &[(&str, &str)]) -> Value {
    let mut m = serde_json::Map::new();
    for (k, v) in pairs {
        let entry = m.entry(k.to_ascii_lowercase()).or_insert_with(|| json!([]));
        if let Value::Array(a) = entry {
            a.push(json!({"key": k, "value": v}));
        }
    }
    Value::Object(m)
}

fn cf_event(
    event_type: &str,
    request_id: &str,
    hdrs: &[(&str, &str)],
    response: Option<(u16, &[(&str, &str)])>,
) -> Value {
    let mut request = json!({
        "clientIp": "203.0.113.178",
        "headers": cf_headers(&[&[("Host", DIST)], hdrs].concat()),
        "method": "GET",
        "querystring": "",
        "uri": "/items"
    });
    if event_type == "origin-request" {
        request["origin"] = json!({"custom": {
            "customHeaders": {}, "domainName": "api.example.org", "keepaliveTimeout": 5,
            "path": "/prod", "port": 443, "protocol": "https", "readTimeout": 30,
            "sslProtocols": ["TLSv1.2"]
        }});
    }
    let mut cf = json!({
        "config": {
            "distributionDomainName": DIST,
            "distributionId": "EDFDVBD6EXAMPLE",
            "eventType": event_type,
            "requestId": request_id
        },
        "request": request
    });
    if let Some((status, h)) = response {
        cf["response"] = json!({"status": status.to_string(), "statusDescription": "x", "headers": cf_headers(h)});
    }
    json!({"Records": [{"cf": cf}]})
}

fn cf_header(obj: &Value, name: &str) -> Option<String> {
    obj["headers"][name][0]["value"]
        .as_str()
        .map(str::to_string)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_logs_no_header_cookie_or_key_at_trace() {
    let verify = marker("OriginVerifySecret");
    let cookie_key = marker("CanaryCookieKey");
    let tester = marker("CanaryTesterSecret");
    let config = json!({
        "cors": {"allowed_origins": ["https://app.example.com"], "allow_credentials": true},
        "origin_verify": {"key_id": "v1", "secret": verify},
        "canary": {
            "weight_percent": 50,
            "cookie_keys": [{"id": "k1", "secret": cookie_key}],
            "tester_keys": [{"id": "qa", "secret": tester}],
            "origin": {"path": "/canary"}
        }
    });
    let mut env = loud_env();
    env.push(("EDGE_CONFIG".to_string(), config.to_string()));
    let f = Function::start(&paths::bin("edge"), &env).await;
    if let Some(e) = f.wait_init().await {
        panic!("edge init failed: {e}\n{}", f.logs().join("\n"));
    }

    let key = TestKey::rsa("edge-log-key");
    let token = key.sign(&access_claims(ISS, CLIENT, SUB), &json!({}));
    let auth = format!("Bearer {token}");
    let cookie = marker("CookieValue");
    let custom = marker("CustomHeader");
    let wrong_tester = marker("WrongTester");
    let forged_canary = marker("ForgedCanaryCookie");
    let mut forbidden = Forbidden::default();
    forbidden.secret("origin-verify secret", &verify);
    forbidden.secret("canary cookie key", &cookie_key);
    forbidden.secret("canary tester secret", &tester);
    forbidden.token("Authorization token", &token);
    for (what, v) in [
        ("cookie", &cookie),
        ("custom header", &custom),
        ("wrong tester value", &wrong_tester),
        ("forged canary cookie", &forged_canary),
    ] {
        forbidden.secret(what, v);
    }

    let cookies = format!("session={cookie}; __Host-canary={forged_canary}");
    let good_tester = format!("qa:{tester}");
    let bad_tester = format!("qa:{wrong_tester}");
    let base: Vec<(&str, &str)> = vec![
        ("Authorization", &auth),
        ("Cookie", &cookies),
        ("X-Log-Marker", &custom),
        ("Origin", "https://app.example.com"),
        ("x-origin-verify", "v1:client-brought-its-own"),
    ];
    let cases: [(&str, Vec<(&str, &str)>); 3] = [
        (
            "forced",
            vec![
                ("X-Canary-Force", "canary"),
                ("X-Canary-Tester", &good_tester),
            ],
        ),
        (
            "refused",
            vec![
                ("X-Canary-Force", "canary"),
                ("X-Canary-Tester", &bad_tester),
            ],
        ),
        ("plain", vec![]),
    ];
    for (id, extra) in &cases {
        let hdrs = [base.clone(), extra.clone()].concat();
        let vr = f.invoke(&cf_event("viewer-request", id, &hdrs, None)).await;
        assert!(matches!(vr, Outcome::Response(_)), "{vr:?}");
        let or = f.invoke(&cf_event("origin-request", id, &hdrs, None)).await;
        let or = or.response().clone();
        // The edge does add the secret to the origin request: so the marker is live.
        assert_eq!(
            cf_header(&or, "x-origin-verify"),
            Some(format!("v1:{verify}")),
            "{or}"
        );
        let resp_hdrs: [(&str, &str); 1] = [("Set-Cookie", "upstream=1")];
        let ores = f
            .invoke(&cf_event(
                "origin-response",
                id,
                &hdrs,
                Some((200, &resp_hdrs)),
            ))
            .await;
        assert!(matches!(ores, Outcome::Response(_)), "{ores:?}");
        let vres = f
            .invoke(&cf_event("viewer-response", id, &hdrs, Some((200, &[]))))
            .await;
        let vres = vres.response().clone();
        // The signed assignment cookie the edge issues must not be logged either.
        if let Some(sc) = cf_header(&vres, "set-cookie") {
            let value = sc
                .strip_prefix("__Host-canary=")
                .and_then(|v| v.split(';').next())
                .unwrap_or_default()
                .to_string();
            if value.len() >= 12 {
                forbidden.exact("issued canary cookie", &value);
            }
        }
    }
    // An event the runtime cannot read as a CloudFront event: a marker where an enum goes.
    let odd = marker("OddEventType");
    forbidden.secret("undecodable event value", &odd);
    let o = f.invoke(&cf_event(&odd, "odd", &base, None)).await;
    let msg = o.error_message().expect("refused").to_string();

    let logs = f.settled_logs().await;
    forbidden.assert_absent(&logs, "edge");
    let lines = json_lines(&logs);
    let who = "edge";
    assert!(
        !msg.contains(&odd),
        "the invocation error names an event value: {msg}"
    );
    for code in ["variant_forced", "canary_force_refused", "variant_chosen"] {
        assert_line(&lines, &[("code", code)], who, &logs);
    }
    assert!(
        lines.len() >= 5,
        "{who}: {} JSON lines; logs:\n{}",
        lines.len(),
        logs.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// gateway (edge → authorizer → crud in one process)

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_logs_no_token_header_body_or_secret_at_trace() {
    let verify = marker("OriginVerifySecret");
    let cookie_key = marker("CanaryCookieKey");
    let tester = marker("CanaryTesterSecret");
    let cursor_key = format!("{:X<48}", marker("CursorKey"));
    let cursor_secret = STANDARD.encode(cursor_key.as_bytes());
    let edge_config = json!({
        "cors": {"allowed_origins": ["https://app.example.com"], "allow_credentials": false},
        "origin_verify": {"key_id": "v1", "secret": verify},
        "canary": {
            "weight_percent": 50,
            "cookie_keys": [{"id": "k1", "secret": cookie_key}],
            "tester_keys": [{"id": "qa", "secret": tester}],
            "origin": {"path": "/canary"}
        }
    });
    let stack = Stack::start(
        &[
            ("ORIGIN_VERIFY_SECRET", format!("v1:{verify}")),
            ("CURSOR_SECRET", cursor_secret.clone()),
        ],
        &edge_config,
    )
    .await;
    // The stack's own gateway discards its stdout: start another like it, every log setting up,
    // and keep both of its streams.
    let mut env = stack.env.clone();
    env.extend(loud_env());
    let mut child = tokio::process::Command::new(paths::bin("gateway"))
        .arg("serve")
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn gateway");
    let logs: Arc<Mutex<Vec<String>>> = Arc::default();
    let (port_tx, port_rx) = tokio::sync::oneshot::channel::<u16>();
    let mut port_tx = Some(port_tx);
    {
        let logs = logs.clone();
        let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
        tokio::spawn(async move {
            while let Ok(Some(l)) = lines.next_line().await {
                if let Some(addr) = l.strip_prefix("gateway: listening on http://") {
                    if let (Some(tx), Some(p)) = (
                        port_tx.take(),
                        addr.rsplit(':').next().and_then(|p| p.parse().ok()),
                    ) {
                        let _ = tx.send(p);
                    }
                }
                logs.lock().unwrap().push(l);
            }
        });
    }
    {
        let logs = logs.clone();
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        tokio::spawn(async move {
            while let Ok(Some(l)) = lines.next_line().await {
                logs.lock().unwrap().push(l);
            }
        });
    }
    let port = tokio::time::timeout(Duration::from_secs(60), port_rx)
        .await
        .expect("gateway listening within 60 s")
        .expect("gateway port");
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<Bytes>>();
    let call = |method: &str, path: &str, headers: &[(&str, &str)], body: &str| {
        let mut b = http::Request::builder()
            .method(method)
            .uri(format!("http://127.0.0.1:{port}{path}"));
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let req = b
            .body(Full::new(Bytes::from(body.to_string())))
            .expect("request");
        let client = client.clone();
        async move {
            let resp = client.request(req).await.expect("gateway answered");
            let status = resp.status().as_u16();
            let set_cookie: Vec<String> = resp
                .headers()
                .get_all("set-cookie")
                .iter()
                .filter_map(|v| v.to_str().ok().map(str::to_string))
                .collect();
            let body = resp.into_body().collect().await.expect("body").to_bytes();
            (
                status,
                serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null),
                set_cookie,
            )
        }
    };

    let token = stack.token("alice").to_string();
    let auth = format!("Bearer {token}");
    let mut parts: Vec<&str> = token.split('.').collect();
    let sig = parts[2].to_string();
    let flipped = format!(
        "{}{}",
        if sig.starts_with('A') { "B" } else { "A" },
        &sig[1..]
    );
    parts[2] = &flipped;
    let forged = parts.join(".");
    let cookie = marker("CookieValue");
    let custom = marker("CustomHeader");
    let title = marker("BodyTitle");
    let idem = marker("IdempotencyKey");
    let client_verify = marker("ClientOriginVerify");
    let mut forbidden = Forbidden::default();
    forbidden.secret("origin-verify secret", &verify);
    forbidden.secret("canary cookie key", &cookie_key);
    forbidden.secret("canary tester secret", &tester);
    forbidden.secret("cursor key (raw)", &cursor_key);
    forbidden.exact("cursor key (base64)", &cursor_secret);
    forbidden.token("alice's token", &token);
    forbidden.token("forged token", &forged);
    for (what, v) in [
        ("cookie", &cookie),
        ("custom header", &custom),
        ("body value", &title),
        ("Idempotency-Key", &idem),
        ("client's x-origin-verify", &client_verify),
    ] {
        forbidden.secret(what, v);
    }
    let cookie_header = format!("session={cookie}");
    let good_tester = format!("qa:{tester}");
    let client_verify_header = format!("v1:{client_verify}");
    let base: Vec<(&str, &str)> = vec![
        ("authorization", &auth),
        ("cookie", &cookie_header),
        ("x-log-marker", &custom),
        ("x-origin-verify", &client_verify_header),
        ("origin", "https://app.example.com"),
    ];
    let body = json!({ "title": title }).to_string();
    let post: Vec<(&str, &str)> = [
        base.clone(),
        vec![
            ("content-type", "application/json"),
            ("idempotency-key", &idem),
        ],
    ]
    .concat();
    let (s, created, set_cookie) = call("POST", "/items", &post, &body).await;
    assert_eq!(s, 201, "{created}");
    for sc in &set_cookie {
        if let Some(v) = sc
            .strip_prefix("__Host-canary=")
            .and_then(|v| v.split(';').next())
        {
            forbidden.exact("issued canary cookie", v);
        }
    }
    let (s, _, _) = call("POST", "/items", &post[..post.len() - 1], &body).await;
    assert_eq!(s, 201);
    let (s, page, _) = call("GET", "/items?limit=1", &base, "").await;
    assert_eq!(s, 200, "{page}");
    let cursor = page["next_cursor"]
        .as_str()
        .expect("next_cursor")
        .to_string();
    forbidden.exact("cursor", &cursor);
    let (s, _, _) = call("GET", &format!("/items?limit=1&cursor={cursor}"), &base, "").await;
    assert_eq!(s, 200);
    let forced: Vec<(&str, &str)> = [
        base.clone(),
        vec![
            ("x-canary-force", "canary"),
            ("x-canary-tester", &good_tester),
        ],
    ]
    .concat();
    let (s, _, _) = call("GET", "/items", &forced, "").await;
    assert_eq!(s, 200);
    let forged_auth = format!("Bearer {forged}");
    let mut forged_h = base.clone();
    forged_h[0] = ("authorization", &forged_auth);
    let (s, problem, _) = call("GET", "/items", &forged_h, "").await;
    assert_eq!((s, problem["code"].as_str()), (401, Some("unauthorized")));

    let logs = {
        let mut n = usize::MAX;
        for _ in 0..40 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let now = logs.lock().unwrap().len();
            if now == n {
                break;
            }
            n = now;
        }
        let v = logs.lock().unwrap().clone();
        v
    };
    let _ = child.kill().await;
    forbidden.assert_absent(&logs, "gateway");
    let lines = json_lines(&logs);
    let who = "gateway";
    assert_line(
        &lines,
        &[("decision", "allow"), ("reason", "ok")],
        who,
        &logs,
    );
    assert_line(
        &lines,
        &[("decision", "unauthorized"), ("reason", "bad_signature")],
        who,
        &logs,
    );
    // One line per request, with where the time went.
    for status in [201, 200, 401] {
        assert!(
            lines
                .iter()
                .any(|l| l["status"] == status && l.get("total_us").is_some()),
            "{who}: no request line with status {status}; logs:\n{}",
            logs.join("\n")
        );
    }
    assert!(
        lines.len() >= 10,
        "{who}: {} JSON lines; logs:\n{}",
        lines.len(),
        logs.join("\n")
    );
    stack.stop().await;
}
