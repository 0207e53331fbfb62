//! CORS at the edge, end to end: the real `edge` binary under the Runtime API emulator.

use harness::edge_fn::*;
use serde_json::json;

const HOSTILE: [&str; 12] = [
    "https://evil.com",
    "https://app.example.com.evil.com",
    "https://evilapp.example.com",
    "http://app.example.com",
    "https://app.example.com:8443",
    "https://app.example.com:443",
    "null",
    "HTTPS://APP.EXAMPLE.COM",
    "https://App.Example.com",
    "https://app.example.com/",
    "https://app.example.com\r\nx-evil: 1",
    "",
];

fn preflight(origin: &str, method: &str, req_headers: Option<&str>) -> serde_json::Value {
    let mut h = vec![
        ("Origin", origin),
        ("Access-Control-Request-Method", method),
    ];
    if let Some(rh) = req_headers {
        h.push(("Access-Control-Request-Headers", rh));
    }
    viewer_request("OPTIONS", &h)
}

#[tokio::test(flavor = "multi_thread")]
async fn allowed_preflight_is_answered_at_the_edge_with_exact_headers() {
    let f = start(&config()).await;
    let r = call(
        &f,
        &preflight(APP, "PUT", Some("Authorization, content-type")),
    )
    .await;
    assert!(is_generated(&r), "preflight must not reach the origin: {r}");
    assert_eq!(status(&r), 204);
    assert_eq!(one(&r, "access-control-allow-origin").as_deref(), Some(APP));
    assert_eq!(
        one(&r, "access-control-allow-credentials").as_deref(),
        Some("true")
    );
    assert_eq!(
        one(&r, "access-control-allow-methods").as_deref(),
        Some("GET, POST, PUT, PATCH, DELETE")
    );
    assert_eq!(
        one(&r, "access-control-allow-headers").as_deref(),
        Some("authorization, content-type, if-match")
    );
    assert_eq!(one(&r, "access-control-max-age").as_deref(), Some("600"));
    assert!(one(&r, "vary").is_some_and(|v| v.contains("Origin")));
    assert_security_headers(&r);
    // Another listed origin gets itself back, never the first entry.
    let r = call(&f, &preflight("http://localhost:3000", "GET", None)).await;
    assert_eq!(status(&r), 204);
    assert_eq!(
        one(&r, "access-control-allow-origin").as_deref(),
        Some("http://localhost:3000")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_origins_get_403_preflights_without_cors_headers() {
    let f = start(&config()).await;
    for origin in HOSTILE {
        let r = call(&f, &preflight(origin, "GET", None)).await;
        // A CR/LF in a header value is refused even earlier (400); everything else is a 403.
        let want = if origin.contains('\r') { 400 } else { 403 };
        assert_eq!(status(&r), want, "origin {origin:?}: {r}");
        assert!(
            cors_headers(&r).is_empty(),
            "origin {origin:?} got CORS headers: {r}"
        );
        assert_security_headers(&r);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn several_origin_values_are_refused() {
    let f = start(&config()).await;
    for hdrs in [
        vec![
            ("Origin", APP),
            ("Origin", APP),
            ("Access-Control-Request-Method", "GET"),
        ],
        vec![
            ("Origin", APP),
            ("origin", "https://evil.com"),
            ("Access-Control-Request-Method", "GET"),
        ],
        vec![
            ("Origin", "https://app.example.com, https://evil.com"),
            ("Access-Control-Request-Method", "GET"),
        ],
        vec![
            ("Origin", "https://app.example.com https://evil.com"),
            ("Access-Control-Request-Method", "GET"),
        ],
    ] {
        let r = call(&f, &viewer_request("OPTIONS", &hdrs)).await;
        assert_eq!(status(&r), 403, "{hdrs:?}: {r}");
        assert!(cors_headers(&r).is_empty(), "{r}");
    }
    // Also on an actual request: refused, not forwarded.
    let r = call(
        &f,
        &viewer_request("GET", &[("Origin", APP), ("Origin", "https://evil.com")]),
    )
    .await;
    assert_eq!(status(&r), 403, "{r}");
    assert!(cors_headers(&r).is_empty(), "{r}");
}

#[tokio::test(flavor = "multi_thread")]
async fn disallowed_preflight_methods_and_headers_are_refused() {
    let f = start(&config()).await;
    for (method, hdrs) in [
        ("TRACE", None),
        ("CONNECT", None),
        ("put", None),
        ("HEAD", None), // not in this configuration's list
        ("GET, PUT", None),
        ("", None),
        ("GET", Some("x-admin")),
        ("GET", Some("authorization, x-origin-verify")),
        ("GET", Some("cookie")),
        ("GET", Some("authorization,,x-evil")),
    ] {
        let r = call(&f, &preflight(APP, method, hdrs)).await;
        assert_eq!(status(&r), 403, "{method:?} {hdrs:?}: {r}");
        assert!(cors_headers(&r).is_empty(), "{r}");
    }
    // Two Access-Control-Request-Method values: refused.
    let r = call(
        &f,
        &viewer_request(
            "OPTIONS",
            &[
                ("Origin", APP),
                ("Access-Control-Request-Method", "GET"),
                ("Access-Control-Request-Method", "DELETE"),
            ],
        ),
    )
    .await;
    assert_eq!(status(&r), 403, "{r}");
}

#[tokio::test(flavor = "multi_thread")]
async fn actual_responses_allow_only_the_listed_origin_and_append_vary() {
    let f = start(&config()).await;
    // The origin sent its own permissive CORS headers and a Vary: the edge replaces the former
    // and appends to the latter.
    let upstream = [
        ("Access-Control-Allow-Origin", "*"),
        ("Access-Control-Allow-Credentials", "true"),
        ("Vary", "Accept-Encoding"),
        ("Content-Type", "application/json"),
    ];
    for event_type in ["origin-response", "viewer-response"] {
        let ok = call(
            &f,
            &event(
                event_type,
                "r1",
                request("GET", "/items", &[("Origin", APP)]),
                Some(response(200, &upstream)),
            ),
        )
        .await;
        assert_eq!(
            one(&ok, "access-control-allow-origin").as_deref(),
            Some(APP),
            "{ok}"
        );
        assert_eq!(
            one(&ok, "access-control-allow-credentials").as_deref(),
            Some("true")
        );
        assert_eq!(
            one(&ok, "access-control-expose-headers").as_deref(),
            Some("etag, location")
        );
        assert_eq!(header(&ok, "vary"), ["Accept-Encoding, Origin"]);
        assert_eq!(
            one(&ok, "content-type").as_deref(),
            Some("application/json")
        );

        for origin in HOSTILE {
            let r = call(
                &f,
                &event(
                    event_type,
                    "r2",
                    request("GET", "/items", &[("Origin", origin)]),
                    Some(response(200, &upstream)),
                ),
            )
            .await;
            assert!(
                cors_headers(&r).is_empty(),
                "{event_type} origin {origin:?}: {r}"
            );
            assert_eq!(header(&r, "vary"), ["Accept-Encoding, Origin"]);
        }
        // No Origin at all: no CORS headers, still Vary: Origin (caches must not mix).
        let r = call(
            &f,
            &event(
                event_type,
                "r3",
                request("GET", "/items", &[]),
                Some(response(200, &[])),
            ),
        )
        .await;
        assert!(cors_headers(&r).is_empty(), "{r}");
        assert_eq!(header(&r, "vary"), ["Origin"]);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn wildcard_without_credentials_answers_star() {
    let f = start(&json!({"cors": {"allowed_origins": ["*"]}})).await;
    let r = call(&f, &preflight("https://anything.example", "GET", None)).await;
    assert_eq!(status(&r), 204);
    assert_eq!(one(&r, "access-control-allow-origin").as_deref(), Some("*"));
    assert!(header(&r, "access-control-allow-credentials").is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn default_config_allows_no_cross_origin_access() {
    let f = start(&json!({})).await;
    let r = call(&f, &preflight(APP, "GET", None)).await;
    assert_eq!(status(&r), 403);
    let r = call(&f, &origin_response(&[("Origin", APP)], 200, &[])).await;
    assert!(cors_headers(&r).is_empty(), "{r}");
}

#[tokio::test(flavor = "multi_thread")]
async fn credentials_with_wildcard_fail_init_with_the_fix() {
    let f = harness::runtime_api::Function::start(
        &harness::paths::bin("edge"),
        &[(
            "EDGE_CONFIG".to_string(),
            json!({"cors": {"allowed_origins": ["*"], "allow_credentials": true}}).to_string(),
        )],
    )
    .await;
    let err = f.wait_init().await.expect("init must fail");
    let logs = f.logs().join("\n");
    assert!(
        logs.contains("list the exact origins in cors.allowed_origins")
            || err.contains("list the exact origins"),
        "init error {err:?}, logs:\n{logs}"
    );
    // Other unusable configurations fail init too.
    for bad in [
        json!({"cors": {"allowed_origins": ["https://app.example.com/"]}}),
        json!({"cors": {"allowed_origins": ["*.example.com"]}}),
        json!({"cors": {"allowed_orgins": ["https://app.example.com"]}}),
        json!({"canary": {"weight_percent": 101}}),
        json!({"canary": {"weight_percent": 10}}),
        json!({"canary": {"cookie_keys": [{"id": "k1", "secret": "short"}]}}),
        json!({"origin_verify": {"key_id": "v1", "secret": "too-short"}}),
    ] {
        let f = harness::runtime_api::Function::start(
            &harness::paths::bin("edge"),
            &[("EDGE_CONFIG".to_string(), bad.to_string())],
        )
        .await;
        assert!(f.wait_init().await.is_some(), "config accepted: {bad}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn null_origin_only_when_listed_literally() {
    let f = start(&json!({"cors": {"allowed_origins": ["null", APP]}})).await;
    let r = call(&f, &preflight("null", "GET", None)).await;
    assert_eq!(status(&r), 204, "{r}");
    assert_eq!(
        one(&r, "access-control-allow-origin").as_deref(),
        Some("null")
    );
    // "null" listed does not open the door to anything else.
    for origin in ["Null", "NULL", "null ", "https://null", "file://"] {
        let r = call(&f, &preflight(origin, "GET", None)).await;
        assert_eq!(status(&r), 403, "{origin:?}: {r}");
    }
}
