//! The three authorizer event shapes through `Authorizer::handle` (fixed in-memory JWKS, no
//! network): never a panic, never an allow without a valid signature, and an allow only for a
//! token whose header and claims an independent reading finds valid.
//!
//! First byte: shape = b % 3 (REST TOKEN, REST REQUEST, HTTP API 2.0), mode = (b / 3) % 4:
//! 0 the rest is the raw event text; 1 the rest is the Authorization value;
//! 2 the rest is `header NUL payload` (or just a payload) signed here with the JWKS key;
//! 3 as 2 with one signature bit flipped.
#![no_main]

use std::time::SystemTime;

use authorizer_fuzz::{harness, is_allow, is_unique_object, CLIENT, ISS, KID};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};

fn event(shape: u8, auth: &str) -> String {
    let arn = "arn:aws:execute-api:us-east-1:123456789012:abcdef123/test/GET/items/1";
    let e = match shape {
        0 => json!({"type": "TOKEN", "authorizationToken": auth, "methodArn": arn}),
        1 => json!({"type": "REQUEST", "methodArn": arn, "resource": "/items/{id}",
                    "path": "/items/1", "httpMethod": "GET",
                    "headers": {"Authorization": auth, "Host": "x"},
                    "multiValueHeaders": {"Authorization": [auth], "Host": ["x"]},
                    "requestContext": {"requestId": "fuzz"}}),
        _ => json!({"version": "2.0", "type": "REQUEST",
                    "routeArn": "arn:aws:execute-api:us-east-1:123456789012:abcdef123/$default/GET/items/1",
                    "identitySource": [auth], "routeKey": "GET /items/{id}",
                    "headers": {"authorization": auth},
                    "requestContext": {"requestId": "fuzz", "http": {"method": "GET", "path": "/items/1"}}}),
    };
    e.to_string()
}

/// What any allow must satisfy, read independently of the authorizer's own reader.
fn assert_valid(header: &[u8], payload: &[u8], answer: &str) {
    assert!(
        is_unique_object(header),
        "allowed with header {:?}",
        String::from_utf8_lossy(header)
    );
    assert!(
        is_unique_object(payload),
        "allowed with payload {:?}",
        String::from_utf8_lossy(payload)
    );
    let h: Value = serde_json::from_slice(header).unwrap();
    let c: Value = serde_json::from_slice(payload).unwrap();
    assert_eq!(h["alg"], "ES256", "{h}");
    assert_eq!(h["kid"], KID, "{h}");
    assert!(h.get("crit").is_none(), "{h}");
    assert_eq!(c["iss"], ISS, "{c}");
    assert_eq!(c["token_use"], "access", "{c}");
    assert_eq!(c["client_id"], CLIENT, "{c}");
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let exp = c["exp"].as_f64().expect("allowed without a numeric exp");
    assert!(exp > now - 1.0, "allowed an expired token: {c}");
    if let Some(nbf) = c.get("nbf") {
        assert!(nbf.as_f64().expect("nbf not a number") <= now + 1.0, "{c}");
    }
    if let Some(iat) = c.get("iat") {
        assert!(iat.as_f64().expect("iat not a number") <= now + 61.0, "{c}");
    }
    let sub = c["sub"].as_str().expect("allowed without a string sub");
    assert!(!sub.is_empty());
    for (k, v) in c.as_object().unwrap() {
        if [
            "iss",
            "sub",
            "token_use",
            "client_id",
            "username",
            "cognito:username",
            "scope",
            "jti",
        ]
        .contains(&k.as_str())
        {
            assert!(v.is_string(), "{k} not a string: {c}");
        }
    }
    assert!(
        answer.contains(&format!("\"principalId\":{}", json!(sub)))
            || answer.contains("isAuthorized")
    );
}

fuzz_target!(|data: &[u8]| {
    let Some((&b, rest)) = data.split_first() else {
        return;
    };
    let h = harness();
    let (shape, mode) = (b % 3, (b / 3) % 4);
    let now = SystemTime::now();
    match mode {
        0 => {
            let Ok(raw) = std::str::from_utf8(rest) else {
                return;
            };
            let a = h.rt.block_on(h.auth.handle(raw, now));
            assert!(
                !is_allow(&a),
                "allowed a raw event without a signed token: {raw:?}"
            );
        }
        1 => {
            let auth = String::from_utf8_lossy(rest);
            let a = h.rt.block_on(h.auth.handle(&event(shape, &auth), now));
            assert!(!is_allow(&a), "allowed an unsigned value: {auth:?}");
        }
        _ => {
            let default_header = br#"{"alg":"ES256","kid":"fuzz-key-1"}"#;
            let (header, payload) = match rest.iter().position(|&x| x == 0) {
                Some(i) => (&rest[..i], &rest[i + 1..]),
                None => (&default_header[..], rest),
            };
            let mut token = h.sign(header, payload);
            if mode == 3 {
                // flip one bit of the signature's first byte (base64url character swap)
                let dot = token.rfind('.').unwrap();
                let c = token.as_bytes()[dot + 1];
                let swapped = if c == b'A' { 'B' } else { 'A' };
                token.replace_range(dot + 1..dot + 2, &swapped.to_string());
            }
            let auth = if payload.len() % 2 == 0 {
                format!("Bearer {token}")
            } else {
                token
            };
            let a = h.rt.block_on(h.auth.handle(&event(shape, &auth), now));
            if std::env::var_os("FUZZ_DEBUG").is_some() {
                eprintln!("mode {mode} shape {shape}: allow={} {a:?}", is_allow(&a));
            }
            if mode == 3 {
                assert!(!is_allow(&a), "allowed a token with a broken signature");
            } else if is_allow(&a) {
                assert_valid(header, payload, a.as_ref().unwrap());
            }
        }
    }
});
