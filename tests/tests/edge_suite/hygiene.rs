//! Security headers, request hygiene and the rate limit, end to end: the real `edge` binary
//! under the Runtime API emulator.

use harness::edge_fn::*;
use harness::runtime_api::Outcome;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn security_headers_on_2xx_4xx_5xx_origin_responses() {
    let f = start(&config()).await;
    for status_code in [
        200u16, 201, 204, 301, 304, 400, 401, 403, 404, 412, 429, 500, 502, 503,
    ] {
        let r = call(
            &f,
            &origin_response(
                &[("Origin", APP)],
                status_code,
                &[
                    ("Server", "gunicorn/19.9.0"),
                    ("X-Powered-By", "Express"),
                    ("X-Frame-Options", "ALLOWALL"),
                    ("Strict-Transport-Security", "max-age=0"),
                    ("Content-Type", "application/json"),
                ],
            ),
        )
        .await;
        assert_eq!(status(&r), status_code);
        assert_security_headers(&r);
        assert_eq!(one(&r, "content-type").as_deref(), Some("application/json"));
        assert_eq!(one(&r, "access-control-allow-origin").as_deref(), Some(APP));
    }
    // viewer-response (origin status < 400) does the same, idempotently.
    let r = call(&f, &viewer_response("r", &[], 200, &[("Server", "nginx")])).await;
    assert_security_headers(&r);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_generated_response_carries_security_headers() {
    let mut cfg = config();
    cfg["rate_limit"] = json!({"requests_per_minute": 4});
    let f = start(&cfg).await;
    let long_uri = format!("/{}", "a".repeat(5000));
    let huge = "x".repeat(9000);
    let cases = vec![
        (
            viewer_request(
                "OPTIONS",
                &[("Origin", APP), ("Access-Control-Request-Method", "GET")],
            ),
            204,
        ),
        (
            viewer_request(
                "OPTIONS",
                &[
                    ("Origin", "https://evil.com"),
                    ("Access-Control-Request-Method", "GET"),
                ],
            ),
            403,
        ),
        (
            event("viewer-request", "r", request("GET", &long_uri, &[]), None),
            414,
        ),
        (viewer_request("GET", &[("X-Big", huge.as_str())]), 431),
    ];
    for (ev, want) in cases {
        let r = call(&f, &ev).await;
        assert!(is_generated(&r), "{r}");
        assert_eq!(status(&r), want, "{r}");
        assert_security_headers(&r);
        assert_eq!(one(&r, "cache-control").as_deref(), Some("no-store"));
    }
    // Four requests so far from the same IP: the rate limit (4/min) answers the fifth with 429.
    let r = call(&f, &viewer_request("GET", &[("Origin", APP)])).await;
    assert_eq!(status(&r), 429, "{r}");
    assert_security_headers(&r);
    let retry: u64 = one(&r, "retry-after")
        .and_then(|s| s.parse().ok())
        .expect("Retry-After in seconds");
    assert!((1..=15).contains(&retry), "Retry-After {retry}");
    // An allowed origin can read the 429 (CORS on generated errors).
    assert_eq!(one(&r, "access-control-allow-origin").as_deref(), Some(APP));
    let body: serde_json::Value =
        serde_json::from_str(r["body"].as_str().unwrap_or_default()).expect("problem json");
    assert_eq!(body["code"], "rate_limited");
    assert_eq!(
        one(&r, "content-type").as_deref(),
        Some("application/problem+json")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn security_headers_are_overridable_and_removable() {
    let mut cfg = config();
    cfg["security_headers"] = json!({
        "content_security_policy": "default-src 'self'",
        "x_frame_options": null,
        "remove": ["server", "x-powered-by", "x-internal-build"]
    });
    let f = start(&cfg).await;
    let r = call(
        &f,
        &origin_response(
            &[],
            200,
            &[
                ("X-Internal-Build", "abc123"),
                ("X-Frame-Options", "SAMEORIGIN"),
            ],
        ),
    )
    .await;
    assert_eq!(
        one(&r, "content-security-policy").as_deref(),
        Some("default-src 'self'")
    );
    // Disabled: the edge neither sets nor touches it.
    assert_eq!(one(&r, "x-frame-options").as_deref(), Some("SAMEORIGIN"));
    assert!(header(&r, "x-internal-build").is_empty());
    assert_eq!(
        one(&r, "x-content-type-options").as_deref(),
        Some("nosniff")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn crlf_and_control_characters_are_refused() {
    let f = start(&config()).await;
    for value in [
        "a\r\nx-injected: 1",
        "a\nb",
        "a\rb",
        "nul\0byte",
        "bell\x07",
        "del\x7f",
    ] {
        let r = call(&f, &viewer_request("GET", &[("X-Note", value)])).await;
        assert_eq!(status(&r), 400, "{value:?}: {r}");
        assert_security_headers(&r);
        let body: serde_json::Value =
            serde_json::from_str(r["body"].as_str().unwrap_or_default()).expect("json");
        assert_eq!(body["code"], "invalid_header");
        assert!(
            !r["body"].as_str().unwrap_or_default().contains("injected"),
            "input echoed: {r}"
        );
    }
    // A tab is legal in a header value.
    let r = call(&f, &viewer_request("GET", &[("X-Note", "a\tb")])).await;
    assert!(!is_generated(&r), "{r}");
    // Header names with bad characters (possible from hand-built events) are refused.
    let mut ev = viewer_request("GET", &[]);
    ev["Records"][0]["cf"]["request"]["headers"]["bad name"] =
        json!([{"key": "bad name", "value": "v"}]);
    assert_eq!(status(&call(&f, &ev).await), 400);
    // CR/LF in the URI.
    let r = call(
        &f,
        &event(
            "viewer-request",
            "r",
            request("GET", "/items\r\nHost: evil", &[]),
            None,
        ),
    )
    .await;
    assert_eq!(status(&r), 400, "{r}");
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_headers_and_uris_are_refused() {
    let mut cfg = config();
    cfg["limits"] =
        json!({"max_uri_bytes": 100, "max_header_value_bytes": 200, "max_total_header_bytes": 600});
    let f = start(&cfg).await;
    // At the limit: forwarded.
    let at = "v".repeat(200);
    assert!(!is_generated(
        &call(&f, &viewer_request("GET", &[("X-A", at.as_str())])).await
    ));
    // One byte over one value's cap: 431.
    let over = "v".repeat(201);
    let r = call(&f, &viewer_request("GET", &[("X-A", over.as_str())])).await;
    assert_eq!(status(&r), 431, "{r}");
    // Many small headers over the total: 431.
    let small = "v".repeat(150);
    let many: Vec<(&str, &str)> = ["X-A", "X-B", "X-C", "X-D", "X-E"]
        .iter()
        .map(|k| (*k, small.as_str()))
        .collect();
    assert_eq!(status(&call(&f, &viewer_request("GET", &many)).await), 431);
    // An oversized cookie counts too.
    let cookie = format!("a={}", "c".repeat(300));
    assert_eq!(
        status(&call(&f, &viewer_request("GET", &[("Cookie", cookie.as_str())])).await),
        431
    );
    // URI and query string together over 100 bytes: 414.
    let mut req = request("GET", &format!("/{}", "p".repeat(60)), &[]);
    req["querystring"] = json!("q=".to_string() + &"x".repeat(40));
    let r = call(&f, &event("viewer-request", "r", req, None)).await;
    assert_eq!(status(&r), 414, "{r}");
    let r = call(
        &f,
        &event(
            "viewer-request",
            "r",
            request("GET", &format!("/{}", "p".repeat(99)), &[]),
            None,
        ),
    )
    .await;
    assert!(!is_generated(&r), "exactly at the limit is fine: {r}");
}

#[tokio::test(flavor = "multi_thread")]
async fn client_sent_internal_headers_are_stripped_and_origin_verify_added() {
    let mut cfg = config();
    cfg["hygiene"] = json!({"strip_headers": ["X-Tenant-Id"]});
    let f = start(&cfg).await;
    let spoofed = [
        ("X-Origin-Verify", "v1:guessed"),
        ("X-Canary-Variant", "canary"),
        ("X-User-Id", "admin"),
        ("X-User-Sub", "someone-else"),
        ("X-Amzn-Oidc-Identity", "admin"),
        ("X-Forwarded-User", "admin"),
        ("X-Tenant-Id", "other-tenant"),
        ("Authorization", "Bearer token-stays"),
    ];
    let r = call(&f, &viewer_request("GET", &spoofed)).await;
    assert!(!is_generated(&r), "{r}");
    for name in [
        "x-user-id",
        "x-user-sub",
        "x-amzn-oidc-identity",
        "x-forwarded-user",
        "x-tenant-id",
    ] {
        assert!(header(&r, name).is_empty(), "{name} kept: {r}");
    }
    assert_eq!(
        header(&r, "x-origin-verify"),
        [format!("v1:{VERIFY_SECRET}")]
    );
    // The variant header is the edge's own decision, never the client's.
    let variant = one(&r, "x-canary-variant").expect("variant header");
    assert!(variant == "stable" || variant == "canary");
    assert_eq!(
        one(&r, "authorization").as_deref(),
        Some("Bearer token-stays")
    );

    // origin-request sets the header authoritatively.
    let r = call(&f, &origin_request(&[("X-Origin-Verify", "forged")])).await;
    assert_eq!(
        header(&r, "x-origin-verify"),
        [format!("v1:{VERIFY_SECRET}")]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_verify_secret_no_header_is_added_and_spoofs_are_dropped() {
    let f = start(&json!({})).await;
    let r = call(
        &f,
        &viewer_request("GET", &[("X-Origin-Verify", "v1:guessed")]),
    )
    .await;
    assert!(header(&r, "x-origin-verify").is_empty(), "{r}");
    let r = call(&f, &origin_request(&[])).await;
    assert!(header(&r, "x-origin-verify").is_empty(), "{r}");
    assert!(
        f.logs()
            .iter()
            .any(|l| l.contains("origin_verify is not configured")),
        "{:?}",
        f.logs()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn rate_limit_is_per_client_ip() {
    let mut cfg = config();
    cfg["rate_limit"] = json!({"requests_per_minute": 5});
    let f = start(&cfg).await;
    let from = |ip: &str| {
        let mut ev = viewer_request("GET", &[]);
        ev["Records"][0]["cf"]["request"]["clientIp"] = json!(ip);
        ev
    };
    for _ in 0..5 {
        assert!(!is_generated(&call(&f, &from("198.51.100.7")).await));
    }
    assert_eq!(status(&call(&f, &from("198.51.100.7")).await), 429);
    // Spoofing X-Forwarded-For does not help: the key is CloudFront's clientIp.
    let mut ev = from("198.51.100.7");
    ev["Records"][0]["cf"]["request"]["headers"]["x-forwarded-for"] =
        json!([{"key": "X-Forwarded-For", "value": "192.0.2.1"}]);
    assert_eq!(status(&call(&f, &ev).await), 429);
    // Another client is unaffected.
    assert!(!is_generated(&call(&f, &from("198.51.100.8")).await));
    // IPv6 clients are limited per /64.
    for i in 0..5 {
        assert!(!is_generated(
            &call(&f, &from(&format!("2001:db8:aa:bb::{i}"))).await
        ));
    }
    assert_eq!(status(&call(&f, &from("2001:db8:aa:bb::ffff")).await), 429);
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_events_are_errors_not_panics() {
    let f = start(&config()).await;
    for bad in [
        json!({}),
        json!({"Records": []}),
        json!({"Records": [{"cf": {"config": {"eventType": "viewer-teleport"}, "request": {}}}]}),
        json!({"Records": [{"cf": {"config": {"eventType": "origin-response"}, "request": {}}}]}),
        json!("not an event"),
    ] {
        match f.invoke(&bad).await {
            Outcome::Error { .. } => {}
            Outcome::Response(v) => panic!("{bad} answered {v}"),
        }
    }
    // Still serving afterwards.
    assert!(!is_generated(&call(&f, &viewer_request("GET", &[])).await));
    assert!(!f.exited().await);
}
