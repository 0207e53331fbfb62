//! Canary routing end to end: the real `edge` binary under the Runtime API emulator, driven the
//! way CloudFront drives it (viewer-request, origin-request, viewer-response of one request share
//! the CloudFront request id).

use harness::edge_fn::*;
use harness::runtime_api::Function;
use serde_json::{json, Value};

const COOKIE: &str = "__Host-canary";

/// One visitor request: the variant chosen at viewer-request and the cookie set at
/// viewer-response (if any).
async fn visit(f: &Function, request_id: &str, cookie: Option<&str>) -> (String, Option<String>) {
    let cookie_header = cookie.map(|c| format!("{COOKIE}={c}"));
    let mut hdrs = vec![("User-Agent", "test")];
    if let Some(c) = &cookie_header {
        hdrs.push(("Cookie", c.as_str()));
    }
    let req = call(
        f,
        &event(
            "viewer-request",
            request_id,
            request("GET", "/items", &hdrs),
            None,
        ),
    )
    .await;
    assert!(!is_generated(&req), "{req}");
    let variant = one(&req, "x-canary-variant").expect("variant header");
    let resp = call(f, &viewer_response(request_id, &hdrs, 200, &[])).await;
    let set = set_cookie_value(&resp);
    (variant, set)
}

fn set_cookie_value(resp: &Value) -> Option<String> {
    let all = header(resp, "set-cookie");
    assert!(all.len() <= 1, "{all:?}");
    let sc = all.into_iter().next()?;
    assert!(sc.starts_with(&format!("{COOKIE}=")), "{sc}");
    for attr in ["Path=/", "Secure", "HttpOnly", "SameSite=Lax", "Max-Age="] {
        assert!(sc.contains(attr), "{sc} lacks {attr}");
    }
    assert!(
        !sc.contains("Domain="),
        "__Host- cookies carry no Domain: {sc}"
    );
    let value = sc[COOKIE.len() + 1..]
        .split(';')
        .next()
        .unwrap_or_default()
        .to_string();
    Some(value)
}

#[tokio::test(flavor = "multi_thread")]
async fn observed_share_is_within_tolerance_of_the_weight() {
    for weight in [20u32, 50] {
        let mut cfg = config();
        cfg["canary"]["weight_percent"] = json!(weight);
        let f = start(&cfg).await;
        let n = 2000u32;
        let mut canary = 0u32;
        for i in 0..n {
            // Distinct visitors: distinct request ids and client addresses.
            let mut req = request("GET", "/items", &[]);
            req["clientIp"] = json!(format!("10.{}.{}.1", i / 256, i % 256));
            let ev = event(
                "viewer-request",
                &format!("visitor-{weight}-{i}"),
                req,
                None,
            );
            let r = call(&f, &ev).await;
            assert!(!is_generated(&r), "{r}");
            if one(&r, "x-canary-variant").as_deref() == Some("canary") {
                canary += 1;
            }
        }
        // Binomial: sd = sqrt(n p (1-p)) <= 22.4 for n = 2000; allow 4 percentage points (>= 3.5 sd).
        let share = f64::from(canary) * 100.0 / f64::from(n);
        assert!(
            (share - f64::from(weight)).abs() <= 4.0,
            "weight {weight}: observed {share:.1} %"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn assignment_is_sticky_across_requests() {
    let f = start(&config()).await;
    let mut seen_canary = 0;
    for v in 0..150 {
        let (first, cookie) = visit(&f, &format!("first-{v}"), None).await;
        let cookie = cookie.expect("a new visitor gets a cookie");
        if first == "canary" {
            seen_canary += 1;
        }
        for r in 0..4 {
            let (again, reissued) = visit(&f, &format!("again-{v}-{r}"), Some(&cookie)).await;
            assert_eq!(again, first, "visitor {v} moved from {first} to {again}");
            assert_eq!(reissued, None, "a valid cookie is not re-issued");
        }
    }
    assert!(
        seen_canary > 5 && seen_canary < 75,
        "canary visitors: {seen_canary} of 150"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn tampered_or_foreign_cookies_are_reassigned() {
    let mut cfg = config();
    cfg["canary"]["weight_percent"] = json!(50);
    let f = start(&cfg).await;
    // A genuine cookie, then forgeries of it.
    let (_, cookie) = visit(&f, "genuine", None).await;
    let cookie = cookie.expect("cookie");
    let parts: Vec<&str> = cookie.split('.').collect();
    assert_eq!(parts.len(), 3, "{cookie}");
    let flip = |s: &str, i: usize| {
        let mut b = s.as_bytes().to_vec();
        b[i] = if b[i] == b'A' { b'B' } else { b'A' };
        String::from_utf8(b).unwrap_or_default()
    };
    let forgeries = vec![
        format!("{}.{}.{}", parts[0], flip(parts[1], 0), parts[2]),
        format!("{}.{}.{}", parts[0], flip(parts[1], 21), parts[2]),
        format!("{}.{}.{}", parts[0], parts[1], flip(parts[2], 5)),
        format!("k9.{}.{}", parts[1], parts[2]),
        format!("{}.{}.", parts[0], parts[1]),
        format!("{}.{}", parts[0], parts[1]),
        format!("{cookie}.extra"),
        format!("{}.{}.{}", parts[0], parts[1], "A".repeat(22)),
        "canary".to_string(),
        "k1.AAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA".to_string(),
        "x".repeat(4000),
    ];
    for (i, forged) in forgeries.iter().enumerate() {
        let rid = format!("forged-{i}");
        let (variant, reissued) = visit(&f, &rid, Some(forged)).await;
        let new = reissued.unwrap_or_else(|| panic!("forgery {forged:?} was accepted"));
        assert_ne!(&new, forged);
        // The re-assignment is a real one: presenting the new cookie keeps the variant.
        let (again, none) = visit(&f, &format!("{rid}-again"), Some(&new)).await;
        assert_eq!((again.as_str(), none), (variant.as_str(), None));
    }
    // A cookie signed by another deployment's key is foreign: re-assigned.
    let mut other = cfg.clone();
    other["canary"]["cookie_keys"] =
        json!([{"id": "k1", "secret": "a-completely-different-key-0123456789abcdef"}]);
    let g = start(&other).await;
    let (_, foreign) = visit(&g, "other-deployment", None).await;
    let (_, reissued) = visit(&f, "foreign", foreign.as_deref()).await;
    assert!(reissued.is_some(), "foreign cookie accepted");
}

#[tokio::test(flavor = "multi_thread")]
async fn forged_cookies_cannot_buy_the_canary() {
    use base64::Engine;
    // Weight 20: ids whose first four bytes are 0,0,0,k (k < 20) bucket to the canary. A forger
    // who could choose the id would put all 200 visits there; with the tag checked they are
    // re-assigned and land on the canary about 20 % of the time.
    let f = start(&config()).await;
    let mut canary = 0;
    for i in 0..200u32 {
        let mut id = [0u8; 16];
        id[3] = (i % 20) as u8;
        id[4..8].copy_from_slice(&i.to_be_bytes());
        let id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id);
        let forged = format!("k1.{id}.{}", "A".repeat(22));
        let (variant, reissued) = visit(&f, &format!("f-{i}"), Some(&forged)).await;
        assert!(
            reissued.is_some_and(|c| c != forged),
            "forgery {forged} accepted"
        );
        if variant == "canary" {
            canary += 1;
        }
    }
    assert!(
        canary < 80,
        "{canary} of 200 forged visits reached the canary"
    );

    // Weight 0: nobody is on the canary, whatever cookie they send.
    let mut cfg = config();
    cfg["canary"]["weight_percent"] = json!(0);
    let g = start(&cfg).await;
    for i in 0..50 {
        let forged = format!("k1.{:0>22}.{:0>22}", format!("{i}"), "sig");
        let (variant, _) = visit(&g, &format!("g-{i}"), Some(&forged)).await;
        assert_eq!(variant, "stable");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn forcing_a_variant_needs_the_tester_credential() {
    let mut cfg = config();
    cfg["canary"]["weight_percent"] = json!(0);
    let f = start(&cfg).await;
    let good = format!("qa:{TESTER_SECRET}");
    let wrong_secret = format!("qa:{}x", &TESTER_SECRET[..TESTER_SECRET.len() - 1]);
    let wrong_id = format!("dev:{TESTER_SECRET}");
    let bare = TESTER_SECRET.to_string();
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            vec![
                ("X-Canary-Force", "canary"),
                ("X-Canary-Tester", good.as_str()),
            ],
            "canary",
        ),
        (vec![("X-Canary-Force", "canary")], "stable"),
        (
            vec![
                ("X-Canary-Force", "canary"),
                ("X-Canary-Tester", wrong_secret.as_str()),
            ],
            "stable",
        ),
        (
            vec![
                ("X-Canary-Force", "canary"),
                ("X-Canary-Tester", wrong_id.as_str()),
            ],
            "stable",
        ),
        (
            vec![
                ("X-Canary-Force", "canary"),
                ("X-Canary-Tester", bare.as_str()),
            ],
            "stable",
        ),
        (
            vec![("X-Canary-Force", "canary"), ("X-Canary-Tester", "qa:")],
            "stable",
        ),
        (
            vec![
                ("X-Canary-Force", "Canary"),
                ("X-Canary-Tester", good.as_str()),
            ],
            "stable",
        ),
        (
            vec![
                ("X-Canary-Force", "canary"),
                ("X-Canary-Tester", good.as_str()),
                ("X-Canary-Tester", "qa:x"),
            ],
            "stable",
        ),
        (vec![("X-Canary-Variant", "canary")], "stable"),
    ];
    for (hdrs, want) in cases {
        let r = call(&f, &viewer_request("GET", &hdrs)).await;
        assert_eq!(
            one(&r, "x-canary-variant").as_deref(),
            Some(want),
            "{hdrs:?}"
        );
        // The credential never travels on to the origin.
        assert!(
            header(&r, "x-canary-tester").is_empty() && header(&r, "x-canary-force").is_empty(),
            "{r}"
        );
    }
    let logs = f.settled_logs().await;
    assert!(
        logs.iter().any(|l| l.contains("canary_force_refused")),
        "refusals are logged"
    );
    assert!(
        !logs.iter().any(|l| l.contains(TESTER_SECRET)),
        "secret logged"
    );

    // Forcing stable works at weight 100 too.
    let mut all = config();
    all["canary"]["weight_percent"] = json!(100);
    let g = start(&all).await;
    let r = call(
        &g,
        &viewer_request(
            "GET",
            &[
                ("X-Canary-Force", "stable"),
                ("X-Canary-Tester", good.as_str()),
            ],
        ),
    )
    .await;
    assert_eq!(one(&r, "x-canary-variant").as_deref(), Some("stable"));
    let r = call(&g, &viewer_request("GET", &[])).await;
    assert_eq!(one(&r, "x-canary-variant").as_deref(), Some("canary"));

    // Without tester keys nobody can force.
    let mut none = config();
    none["canary"]["weight_percent"] = json!(0);
    none["canary"]["tester_keys"] = json!([]);
    let h = start(&none).await;
    let r = call(
        &h,
        &viewer_request(
            "GET",
            &[
                ("X-Canary-Force", "canary"),
                ("X-Canary-Tester", good.as_str()),
            ],
        ),
    )
    .await;
    assert_eq!(one(&r, "x-canary-variant").as_deref(), Some("stable"));
}

#[tokio::test(flavor = "multi_thread")]
async fn origin_request_applies_the_variant_and_fails_safe_to_stable() {
    let mut cfg = config();
    cfg["canary"]["origin"] = json!({"domain_name": "canary-api.example.org", "path": "/canary"});
    let f = start(&cfg).await;
    let r = call(&f, &origin_request(&[("X-Canary-Variant", "canary")])).await;
    assert_eq!(
        r["origin"]["custom"]["domainName"],
        "canary-api.example.org"
    );
    assert_eq!(r["origin"]["custom"]["path"], "/canary");
    assert_eq!(one(&r, "host").as_deref(), Some("canary-api.example.org"));
    // Everything else about the origin is kept.
    assert_eq!(r["origin"]["custom"]["port"], 443);
    assert_eq!(r["origin"]["custom"]["sslProtocols"], json!(["TLSv1.2"]));

    for hdrs in [
        vec![("X-Canary-Variant", "stable")],
        vec![],
        vec![("X-Canary-Variant", "CANARY")],
        vec![("X-Canary-Variant", "canary, canary")],
        vec![
            ("X-Canary-Variant", "canary"),
            ("X-Canary-Variant", "canary"),
        ],
        vec![("X-Canary-Variant", "beta")],
    ] {
        let r = call(&f, &origin_request(&hdrs)).await;
        assert_eq!(
            r["origin"]["custom"]["domainName"], "api.example.org",
            "{hdrs:?}"
        );
        assert_eq!(r["origin"]["custom"]["path"], "/prod", "{hdrs:?}");
        assert_eq!(one(&r, "host").as_deref(), Some(DIST));
    }

    // S3 origins are routed the same way.
    let mut ev = origin_request(&[("X-Canary-Variant", "canary")]);
    ev["Records"][0]["cf"]["request"]["origin"] = json!({
        "s3": {"authMethod": "none", "customHeaders": {}, "domainName": "bucket.s3.amazonaws.com", "path": "", "region": "us-east-1"}
    });
    let r = call(&f, &ev).await;
    assert_eq!(r["origin"]["s3"]["domainName"], "canary-api.example.org");
    assert_eq!(r["origin"]["s3"]["path"], "/canary");
    assert_eq!(r["origin"]["s3"]["authMethod"], "none");
}

#[tokio::test(flavor = "multi_thread")]
async fn key_rotation_keeps_visitors_on_their_variant() {
    let mut cfg = config();
    cfg["canary"]["weight_percent"] = json!(50);
    let old = start(&cfg).await;
    let mut visitors = Vec::new();
    for v in 0..40 {
        let (variant, cookie) = visit(&old, &format!("rot-{v}"), None).await;
        visitors.push((variant, cookie.expect("cookie")));
    }
    // New signing key first, old one still verifying.
    let mut rotated = cfg.clone();
    rotated["canary"]["cookie_keys"] =
        json!([{"id": "k2", "secret": OLD_COOKIE_SECRET}, {"id": "k1", "secret": COOKIE_SECRET}]);
    let new = start(&rotated).await;
    for (i, (variant, cookie)) in visitors.iter().enumerate() {
        let (now, reissued) = visit(&new, &format!("rot-new-{i}"), Some(cookie)).await;
        assert_eq!(&now, variant);
        let reissued = reissued.expect("old-key cookie re-issued with the new key");
        assert!(reissued.starts_with("k2."), "{reissued}");
        let (later, none) = visit(&new, &format!("rot-later-{i}"), Some(&reissued)).await;
        assert_eq!((&later, none), (variant, None));
    }
    // After retiring k1, its cookies are no longer trusted.
    let mut retired = cfg.clone();
    retired["canary"]["cookie_keys"] = json!([{"id": "k2", "secret": OLD_COOKIE_SECRET}]);
    let last = start(&retired).await;
    let (_, reissued) = visit(&last, "retired", Some(&visitors[0].1)).await;
    assert!(reissued.is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_cookie_key_everyone_is_stable_and_nothing_is_trusted() {
    let mut cfg = config();
    cfg["canary"]["weight_percent"] = json!(100);
    cfg["canary"]["cookie_keys"] = json!([]);
    let f = start(&cfg).await;
    // The warning is written at init; wait for the log reader to have it (not a race).
    let logs = f.settled_logs().await;
    assert!(
        logs.iter().any(|l| l.contains("cookie_keys is empty")),
        "{logs:?}"
    );
    for i in 0..50 {
        let (variant, cookie) = visit(
            &f,
            &format!("nokey-{i}"),
            Some("k1.AAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA"),
        )
        .await;
        assert_eq!((variant.as_str(), cookie), ("stable", None));
    }
}
