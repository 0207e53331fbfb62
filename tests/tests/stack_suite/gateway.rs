//! End-to-end tests through the local gateway: real moto (Cognito + DynamoDB), real tokens from
//! `InitiateAuth`, the real `gateway` binary (edge → authorizer → crud in process) over HTTP.

use harness::stack::{Reply, Stack};
use serde_json::{json, Value};

const SECURITY_HEADERS: [&str; 6] = [
    "strict-transport-security",
    "x-content-type-options",
    "x-frame-options",
    "content-security-policy",
    "referrer-policy",
    "permissions-policy",
];

fn assert_security_headers(r: &Reply, what: &str) {
    for h in SECURITY_HEADERS {
        assert!(
            r.header(h).is_some(),
            "{what} ({}): missing {h}: {:?}",
            r.status,
            r.headers
        );
    }
    assert!(
        r.header("server").is_none() && r.header("x-powered-by").is_none(),
        "{what}"
    );
}

fn edge_config(extra: Value) -> Value {
    let mut c = json!({
        "cors": {"allowed_origins": ["https://app.example.com"], "allow_credentials": false},
        "origin_verify": {"key_id": "v1", "secret": "local-origin-verify-secret-0123456789"},
    });
    if let (Some(c), Some(x)) = (c.as_object_mut(), extra.as_object()) {
        for (k, v) in x {
            c.insert(k.clone(), v.clone());
        }
    }
    c
}

fn origin_verify_env() -> (&'static str, String) {
    (
        "ORIGIN_VERIFY_SECRET",
        "v1:local-origin-verify-secret-0123456789".to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crud_flow_auth_and_isolation_through_the_gateway() {
    let s = Stack::start(&[origin_verify_env()], &edge_config(json!({}))).await;

    // 401 without a token, with garbage, with a token from another issuer's shape
    let r = s.call("GET", "/items", &[], "").await;
    assert_eq!(r.status, 401);
    assert_security_headers(&r, "no token");
    let r = s
        .call(
            "GET",
            "/items",
            &[("authorization", "Bearer not.a.jwt")],
            "",
        )
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["code"], "unauthorized");
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    assert_security_headers(&r, "bad token");
    // A client cannot bring its own origin-verify header: the edge replaces it.
    let auth = format!("Bearer {}", s.token("alice"));
    let r = s
        .call(
            "GET",
            "/items",
            &[("authorization", &auth), ("x-origin-verify", "v1:forged")],
            "",
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);

    // Full CRUD flow for alice
    let r = s
        .as_user(
            "alice",
            "POST",
            "/items",
            Some(&json!({"title": "a1", "n": 1})),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_security_headers(&r, "201");
    let id = r.json()["id"].as_str().unwrap().to_string();
    assert_eq!(r.header("location"), Some(format!("/items/{id}").as_str()));
    assert_eq!(r.header("etag"), Some("\"1\""));
    let r = s
        .as_user("alice", "GET", &format!("/items/{id}"), None)
        .await;
    assert_eq!((r.status, r.json()["title"].clone()), (200, json!("a1")));
    let r = s
        .call(
            "PATCH",
            &format!("/items/{id}"),
            &[
                ("authorization", &auth),
                ("content-type", "application/merge-patch+json"),
                ("if-match", "\"1\""),
            ],
            r#"{"n": 2, "title": null}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.json()["n"], 2);
    assert!(r.json().get("title").is_none());
    let r = s
        .as_user(
            "alice",
            "PUT",
            &format!("/items/{id}"),
            Some(&json!({"title": "replaced"})),
        )
        .await;
    assert_eq!((r.status, r.json()["version"].clone()), (200, json!(3)));
    let r = s.as_user("alice", "GET", "/items", None).await;
    assert_eq!(r.json()["items"].as_array().unwrap().len(), 1);

    // bob sees nothing of alice's, cannot touch it; 404 exactly like a missing item
    let r = s.as_user("bob", "GET", "/items", None).await;
    assert_eq!((r.status, r.json()["items"].clone()), (200, json!([])));
    for (m, body) in [
        ("GET", None),
        ("PUT", Some(json!({"x": 1}))),
        ("PATCH", Some(json!({"x": 1}))),
        ("DELETE", None),
    ] {
        let r = s
            .as_user("bob", m, &format!("/items/{id}"), body.as_ref())
            .await;
        assert_eq!(r.status, 404, "bob {m}: {:?}", r.body);
        assert_security_headers(&r, "404");
    }
    let r = s
        .as_user("alice", "GET", &format!("/items/{id}"), None)
        .await;
    assert_eq!(
        (
            r.status,
            r.json()["title"].clone(),
            r.json()["version"].clone()
        ),
        (200, json!("replaced"), json!(3))
    );

    // unknown route or method: the template's MISSING_AUTHENTICATION_TOKEN answer (404)
    let r = s.as_user("alice", "GET", "/admin", None).await;
    assert_eq!(
        (r.status, r.json()["code"].clone()),
        (404, json!("route_not_found"))
    );
    let r = s
        .as_user("alice", "POST", &format!("/items/{id}"), Some(&json!({})))
        .await;
    assert_eq!(r.status, 404);
    assert_security_headers(&r, "unknown route");

    let r = s
        .as_user("alice", "DELETE", &format!("/items/{id}"), None)
        .await;
    assert_eq!(r.status, 204);
    let r = s
        .as_user("alice", "GET", &format!("/items/{id}"), None)
        .await;
    assert_eq!(r.status, 404);

    // 5xx: the DynamoDB stand-in goes away; the answer is a 5xx with the security headers and
    // no internals.
    drop_moto(&s.moto);
    let r = s.as_user("alice", "GET", "/items", None).await;
    assert!(r.status >= 500, "{}: {:?}", r.status, r.body);
    assert_security_headers(&r, "5xx");
    let body = String::from_utf8_lossy(&r.body).to_lowercase();
    assert!(
        !body.contains("dispatch") && !body.contains("127.0.0.1") && !body.contains("sdk"),
        "{body}"
    );
}

/// Kill moto's process without dropping the handle (the stack owns it).
fn drop_moto(m: &harness::moto::Moto) {
    let _ = std::process::Command::new("kill")
        .arg(m.pid().to_string())
        .status();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_rule_denies_and_the_cached_policy_is_right_on_other_routes() {
    let rules = r#"[{"route":"DELETE /items/{id}","groups_any":["admin"]}]"#;
    let s = Stack::start(
        &[
            origin_verify_env(),
            ("ROUTE_RULES", rules.to_string()),
            ("ROUTE_DEFAULT", "allow".to_string()),
            ("GATEWAY_AUTH_CACHE_TTL_SECONDS", "300".to_string()),
        ],
        &edge_config(json!({})),
    )
    .await;
    // alice: the first call caches her policy (from a GET); it must still deny DELETE and allow POST.
    let r = s.as_user("alice", "GET", "/items", None).await;
    assert_eq!(r.status, 200);
    let r = s
        .as_user("alice", "POST", "/items", Some(&json!({"t": 1})))
        .await;
    assert_eq!(r.status, 201);
    let id = r.json()["id"].as_str().unwrap().to_string();
    let r = s
        .as_user("alice", "DELETE", &format!("/items/{id}"), None)
        .await;
    assert_eq!(r.status, 403, "{:?}", r.body);
    assert_eq!(r.json()["code"], "forbidden");
    assert_security_headers(&r, "403 deny");
    // ... and after the DELETE was denied, GET on another route still works from the cache.
    let r = s
        .as_user("alice", "GET", &format!("/items/{id}"), None)
        .await;
    assert_eq!(r.status, 200);

    // carol (admin) first calls DELETE on a missing item (policy cached from a DELETE route),
    // then GET must be allowed too.
    let r = s
        .as_user("carol", "DELETE", "/items/01ARZ3NDEKTSV4RRFFQ69G5FAV", None)
        .await;
    assert_eq!(r.status, 404, "{:?}", r.body);
    let r = s.as_user("carol", "GET", "/items", None).await;
    assert_eq!(r.status, 200);
    let r = s
        .as_user("carol", "POST", "/items", Some(&json!({"t": 2})))
        .await;
    let cid = r.json()["id"].as_str().unwrap().to_string();
    let r = s
        .as_user("carol", "DELETE", &format!("/items/{cid}"), None)
        .await;
    assert_eq!(r.status, 204);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_answer_429_with_retry_after() {
    // Per client IP at the edge: 5 requests per minute.
    let s = Stack::start(
        &[origin_verify_env()],
        &edge_config(
            json!({"rate_limit": {"enabled": true, "requests_per_minute": 5, "burst": 5}}),
        ),
    )
    .await;
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(s.as_user("alice", "GET", "/items", None).await);
    }
    let limited: Vec<&Reply> = statuses.iter().filter(|r| r.status == 429).collect();
    assert!(
        !limited.is_empty(),
        "{:?}",
        statuses.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert!(limited[0].header("retry-after").is_some());
    assert_security_headers(limited[0], "edge 429");
    s.stop().await;

    // Per user in crud: 3 requests per minute for each caller.
    let s = Stack::start(
        &[
            origin_verify_env(),
            ("RATE_LIMIT_PER_MINUTE", "3".to_string()),
        ],
        &edge_config(json!({})),
    )
    .await;
    let mut alice = Vec::new();
    for _ in 0..5 {
        alice.push(s.as_user("alice", "GET", "/items", None).await);
    }
    let r = alice
        .iter()
        .find(|r| r.status == 429)
        .expect("alice is limited");
    assert!(r.header("retry-after").is_some());
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    assert_security_headers(r, "crud 429");
    // bob has his own budget
    assert_eq!(s.as_user("bob", "GET", "/items", None).await.status, 200);
    s.stop().await;

    // Stage throttling (API Gateway): rate 1/s, burst 2.
    let s = Stack::start(
        &[
            origin_verify_env(),
            ("GATEWAY_THROTTLE_RATE", "1".to_string()),
            ("GATEWAY_THROTTLE_BURST", "2".to_string()),
        ],
        &edge_config(json!({})),
    )
    .await;
    let mut st = Vec::new();
    for _ in 0..5 {
        st.push(s.as_user("bob", "GET", "/items", None).await);
    }
    let r = st
        .iter()
        .find(|r| r.status == 429)
        .expect("stage throttled");
    assert_eq!(r.json()["code"], "rate_limited");
    assert!(r.header("retry-after").is_some());
    assert_security_headers(r, "stage 429");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_preflights_and_canary_stickiness() {
    let s = Stack::start(
        &[origin_verify_env()],
        &edge_config(json!({
            "canary": {"weight_percent": 50, "cookie_keys": [{"id": "c1", "secret": "cookie-secret-0123456789abcdef0123"}],
                       "origin": {"path": "/canary"}}
        })),
    )
    .await;
    // allowed preflight
    let r = s
        .call(
            "OPTIONS",
            "/items",
            &[
                ("origin", "https://app.example.com"),
                ("access-control-request-method", "POST"),
            ],
            "",
        )
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert_security_headers(&r, "preflight 204");
    // disallowed origins: 403 without any CORS header
    for o in [
        "https://evil.com",
        "https://app.example.com.evil.com",
        "http://app.example.com",
        "null",
    ] {
        let r = s
            .call(
                "OPTIONS",
                "/items",
                &[("origin", o), ("access-control-request-method", "POST")],
                "",
            )
            .await;
        assert_eq!(r.status, 403, "{o}");
        assert!(
            r.headers
                .keys()
                .all(|k| !k.as_str().starts_with("access-control-")),
            "{o}"
        );
        assert_security_headers(&r, "preflight 403");
    }
    // actual request from an allowed origin gets ACAO and Vary: Origin
    let auth = format!("Bearer {}", s.token("alice"));
    let r = s
        .call(
            "GET",
            "/items",
            &[
                ("authorization", &auth),
                ("origin", "https://app.example.com"),
            ],
            "",
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert!(r
        .headers
        .get_all("vary")
        .iter()
        .any(|v| v.to_str().unwrap_or("").contains("Origin")));

    // Canary: the first answer sets a signed cookie; replaying it keeps the variant.
    let mut seen = std::collections::HashSet::new();
    for _ in 0..6 {
        let r = s
            .call("GET", "/items", &[("authorization", &auth)], "")
            .await;
        assert_eq!(r.status, 200);
        let cookie = r
            .header("set-cookie")
            .expect("canary cookie")
            .split(';')
            .next()
            .unwrap()
            .to_string();
        let variant = r.header("x-gateway-variant").expect("variant").to_string();
        seen.insert(variant.clone());
        for _ in 0..3 {
            let again = s
                .call(
                    "GET",
                    "/items",
                    &[("authorization", &auth), ("cookie", &cookie)],
                    "",
                )
                .await;
            assert_eq!(again.status, 200);
            assert_eq!(
                again.header("x-gateway-variant"),
                Some(variant.as_str()),
                "sticky"
            );
        }
        // a tampered cookie is ignored (re-assigned), never an error
        let tampered = format!("{cookie}x");
        let r = s
            .call(
                "GET",
                "/items",
                &[("authorization", &auth), ("cookie", &tampered)],
                "",
            )
            .await;
        assert_eq!(r.status, 200);
    }
    assert!(!seen.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usual_mistakes_get_clear_errors() {
    let s = Stack::start(&[origin_verify_env()], &edge_config(json!({}))).await;
    let port = s.port.to_string();
    type Change<'a> = Vec<(&'a str, Option<&'a str>)>;
    let cases: Vec<(Change, &str)> = vec![
        (vec![("GATEWAY_PORT", Some(port.as_str()))], "is in use"),
        (
            vec![(
                "JWKS_URI",
                Some("http://127.0.0.1:1/pool/.well-known/jwks.json"),
            )],
            "not reachable",
        ),
        (
            vec![("AWS_ENDPOINT_URL", Some("http://127.0.0.1:1"))],
            "DynamoDB at http://127.0.0.1:1 not reachable",
        ),
        (
            vec![("TABLE_NAME", Some("no-such-table"))],
            "\"no-such-table\" missing",
        ),
        (vec![("CLIENT_IDS", None)], "CLIENT_IDS"),
        (
            vec![(
                "EDGE_CONFIG",
                Some(r#"{"cors":{"allowed_origins":["*"],"allow_credentials":true}}"#),
            )],
            "edge configuration",
        ),
        (vec![("GATEWAY_PORT", Some("eighty"))], "GATEWAY_PORT"),
    ];
    for (set, want) in cases {
        let (code, err) = s.run_gateway_with(&set).await;
        assert_eq!(code, Some(2), "{set:?}: {err}");
        assert!(err.contains(want), "{set:?}: expected {want:?} in {err:?}");
        assert_eq!(
            err.lines().filter(|l| l.starts_with("gateway: ")).count(),
            1,
            "one clear line: {err}"
        );
    }
    // The running gateway was not disturbed.
    assert_eq!(s.as_user("alice", "GET", "/items", None).await.status, 200);
}

/// Issue 9: a denied route stays denied in every form API Gateway presents it, whichever route
/// the cached policy came from.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trailing_slash_forms_of_a_denied_route_are_denied_from_a_policy_cached_on_another() {
    let rules = r#"[{"route":"GET /items","groups_any":["admin"]}]"#;
    let s = Stack::start(
        &[
            origin_verify_env(),
            ("ROUTE_RULES", rules.to_string()),
            ("ROUTE_DEFAULT", "allow".to_string()),
            ("GATEWAY_AUTH_CACHE_TTL_SECONDS", "300".to_string()),
        ],
        &edge_config(json!({})),
    )
    .await;
    // alice's policy is cached from a POST on /items, an allowed route.
    let r = s
        .as_user("alice", "POST", "/items", Some(&json!({"t": 1})))
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let id = r.json()["id"].as_str().unwrap().to_string();
    for path in [
        "/items",
        "/items/",
        "//items",
        "//items/",
        "/items?limit=1",
        "/items/?limit=1",
    ] {
        let r = s.as_user("alice", "GET", path, None).await;
        assert_eq!(r.status, 403, "GET {path}: {:?}", r.body);
        assert_eq!(r.json()["code"], "forbidden", "GET {path}");
    }
    // The other routes, in their trailing-slash forms too, from the same cached policy.
    for path in [format!("/items/{id}"), format!("/items/{id}/")] {
        let r = s.as_user("alice", "GET", &path, None).await;
        assert_eq!(r.status, 200, "GET {path}: {:?}", r.body);
    }
    let r = s.as_user("alice", "GET", "/profile/", None).await;
    assert_ne!(r.status, 403, "{:?}", r.body);
    // Paths that are no route never reach the authorizer or crud.
    for path in ["/items//", "/items/x/y", "/anything/items"] {
        let r = s.as_user("alice", "GET", path, None).await;
        assert_eq!(r.status, 404, "GET {path}: {:?}", r.body);
        assert_eq!(r.json()["code"], "route_not_found", "GET {path}");
    }
    // carol (admin): the policy cached from a GET /items/ allows every form.
    for path in ["/items/", "/items", "//items"] {
        let r = s.as_user("carol", "GET", path, None).await;
        assert_eq!(r.status, 200, "carol GET {path}: {:?}", r.body);
    }
    s.stop().await;
}

/// Issue 9: a greedy proxy route (`ANY /{proxy+}` to crud): the authorizer's policy is exact for
/// it, and crud routes on the whole path, never on its trailing segments.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_greedy_proxy_route_gets_exact_policies_and_whole_path_routing() {
    let rules = r#"[{"route":"DELETE /*","groups_any":["admin"]}]"#;
    let s = Stack::start(
        &[
            origin_verify_env(),
            ("API_ROUTES", r#"["ANY /{proxy+}"]"#.to_string()),
            ("ROUTE_RULES", rules.to_string()),
            ("ROUTE_DEFAULT", "allow".to_string()),
            ("GATEWAY_AUTH_CACHE_TTL_SECONDS", "300".to_string()),
        ],
        &edge_config(json!({})),
    )
    .await;
    let r = s
        .as_user("alice", "POST", "/items/", Some(&json!({"t": 1})))
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let id = r.json()["id"].as_str().unwrap().to_string();
    let r = s
        .as_user("alice", "GET", &format!("/items/{id}/"), None)
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    // A prefix never falls through to a trailing match in crud.
    for path in ["/anything/items", "/prod/items", &format!("/x/items/{id}")] {
        let r = s.as_user("alice", "GET", path, None).await;
        assert_eq!(r.status, 404, "GET {path}: {:?}", r.body);
        assert_eq!(r.json()["code"], "route_not_found", "GET {path}");
    }
    // DELETE is denied to alice on every path the proxy takes, in every form.
    for path in [
        format!("/items/{id}"),
        format!("/items/{id}/"),
        format!("//items/{id}"),
        "/anything/deeper/still".to_string(),
    ] {
        let r = s.as_user("alice", "DELETE", &path, None).await;
        assert_eq!(r.status, 403, "DELETE {path}: {:?}", r.body);
    }
    let r = s.as_user("alice", "GET", "/items", None).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    // carol (admin) may delete her own.
    let r = s
        .as_user("carol", "POST", "/items", Some(&json!({"t": 2})))
        .await;
    let cid = r.json()["id"].as_str().unwrap().to_string();
    let r = s
        .as_user("carol", "DELETE", &format!("/items/{cid}/"), None)
        .await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    s.stop().await;
}

/// The claim `name` (a string) of a JWT, read without verifying it.
fn claim(token: &str, name: &str) -> String {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap_or_default();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap_or_default();
    serde_json::from_slice::<Value>(&bytes).unwrap_or_default()[name]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Issue 23: a second issuer minting a token with a user's `sub` of the first (moto's Cognito
/// pool) must not be served that user's items, through the real gateway and crud, in either
/// direction; the first issuer's users keep the plain `sub` as their owner key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_issuers_with_the_same_sub_never_see_each_others_items() {
    use harness::jwks_server::JwksServer;
    use harness::jwt::{self, access_claims, TestKey};
    const ISS_B: &str = "https://idp-b.example.com/tenant";
    let mut s = Stack::start(&[], &edge_config(json!({}))).await;
    let key_b = TestKey::rsa("idp-b-key");
    let jwks_b = JwksServer::start(jwt::jwks(&[&key_b])).await;
    let issuers = format!("{},{ISS_B}", s.pool.issuer);
    let uris = format!("{},{}", s.pool.jwks_uri, jwks_b.uri());
    s.restart_with(&[
        ("ISSUER", Some(issuers.as_str())),
        ("JWKS_URI", Some(uris.as_str())),
    ])
    .await;
    let alice_sub = claim(s.token("alice"), "sub");
    assert!(!alice_sub.is_empty());
    let forged = key_b.sign(
        &access_claims(ISS_B, &s.pool.client_id, &alice_sub),
        &json!({}),
    );
    let as_b = |method: &'static str, path: String, body: &'static str| {
        let auth = format!("Bearer {forged}");
        let s = &s;
        async move {
            let mut h = vec![("authorization", auth.as_str())];
            if !body.is_empty() {
                h.push(("content-type", "application/json"));
            }
            s.call(method, &path, &h, body).await
        }
    };

    let r = s
        .as_user(
            "alice",
            "POST",
            "/items",
            Some(&json!({"title": "alice's"})),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let alice_item = r.json()["id"].as_str().unwrap_or_default().to_string();

    // issuer B's principal with alice's sub: authenticated, but another owner
    let r = as_b("GET", "/items".into(), "").await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.json()["items"], json!([]), "B sees none of alice's items");
    for m in ["GET", "DELETE"] {
        let r = as_b(m, format!("/items/{alice_item}"), "").await;
        assert_eq!(r.status, 404, "{m}: {:?}", r.body);
    }
    let r = as_b("PUT", format!("/items/{alice_item}"), r#"{"title":"x"}"#).await;
    assert_eq!(r.status, 404, "{:?}", r.body);
    let r = as_b("POST", "/items".into(), r#"{"title":"b's"}"#).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let b_item = r.json()["id"].as_str().unwrap_or_default().to_string();

    // alice still sees exactly her item, unchanged, and not B's
    let r = s.as_user("alice", "GET", "/items", None).await;
    let titles: Vec<Value> = r.json()["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|i| i["title"].clone())
        .collect();
    assert_eq!(titles, vec![json!("alice's")]);
    let r = s
        .as_user("alice", "GET", &format!("/items/{b_item}"), None)
        .await;
    assert_eq!(r.status, 404);
    let r = as_b("GET", "/items".into(), "").await;
    assert_eq!(r.json()["items"].as_array().map(Vec::len), Some(1));

    // the table: alice's item under her plain sub, B's under the issuer-tagged owner id
    let rows = harness::dynamo::scan_all(&harness::dynamo::client(&s.moto), "items").await;
    // Item rows only (the partition also holds the caller's rate-limit counter).
    let owners: Vec<String> = rows
        .iter()
        .filter(|r| {
            r.get("itemId")
                .and_then(|v| v.as_s().ok())
                .is_some_and(|k| k.starts_with(crud::store::ITEM_PREFIX))
        })
        .filter_map(|r| r.get("userId").and_then(|v| v.as_s().ok()).cloned())
        .collect();
    assert!(owners.contains(&alice_sub), "{owners:?}");
    let tagged: Vec<&String> = owners
        .iter()
        .filter(|o| o.starts_with("iss:") && o.ends_with(&format!(":{alice_sub}")))
        .collect();
    assert_eq!(tagged.len(), 1, "{owners:?}");
    s.stop().await;
}
