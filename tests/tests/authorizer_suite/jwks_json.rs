//! `JWKS_JSON`: the real `authorizer` binary starts with pre-seeded keys, answers its first
//! request without any JWKS fetch, and afterwards follows the JWKS endpoint exactly as with
//! fetched keys (a new kid picked up on first sight; a key the live JWKS no longer lists refused
//! after the next successful fetch, pre-seeded or not). Invalid documents fail the init phase with
//! a message naming the setting and never the key material.

use std::time::Duration;

use harness::jwks_server::{JwksServer, Mode};
use harness::jwt::{self, access_claims, TestKey};
use harness::paths;
use harness::runtime_api::{Function, Outcome};

use crate::e2e::decision_reasons;
use serde_json::{json, Value};

const CLIENT: &str = "client-abc123";
const ISS: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_SeedPool1";
const SUB: &str = "0a1b2c3d-1111-4a2b-9c3d-222233334444";
const REST_TOKEN: &str = include_str!("../../../authorizer/tests/fixtures/rest_token.json");

fn event(token: &str) -> Value {
    let mut e: Value = serde_json::from_str(REST_TOKEN).expect("fixture");
    e["authorizationToken"] = json!(format!("Bearer {token}"));
    e
}

fn allowed(o: &Outcome) -> bool {
    matches!(o, Outcome::Response(v) if v["policyDocument"]["Statement"]
        .as_array()
        .is_some_and(|s| s.iter().any(|st| st["Effect"] == "Allow")))
}

fn env(jwks: &JwksServer, seed: &Value, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut e = vec![
        ("ISSUER".to_string(), ISS.to_string()),
        ("JWKS_URI".into(), jwks.uri()),
        ("CLIENT_IDS".into(), CLIENT.into()),
        ("JWKS_JSON".into(), seed.to_string()),
    ];
    e.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    e
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeded_keys_answer_without_a_fetch_and_then_follow_the_live_jwks() {
    let (k1, k2, k3) = (
        TestKey::rsa("seed-1"),
        TestKey::rsa("seed-2"),
        TestKey::rsa("live-3"),
    );
    // The deployment was seeded with k1 and k2; the issuer has since dropped k2 and added k3.
    let jwks = JwksServer::start(jwt::jwks(&[&k1, &k3])).await;
    let f = Function::start(
        &paths::bin("authorizer"),
        &env(
            &jwks,
            &jwt::jwks(&[&k1, &k2]),
            &[("JWKS_COOLDOWN_SECONDS", "1")],
        ),
    )
    .await;
    if let Some(e) = f.wait_init().await {
        panic!("init failed: {e}\n{}", f.logs().join("\n"));
    }
    let t1 = k1.sign(&access_claims(ISS, CLIENT, SUB), &json!({}));
    let t2 = k2.sign(&access_claims(ISS, CLIENT, SUB), &json!({}));
    let t3 = k3.sign(&access_claims(ISS, CLIENT, SUB), &json!({}));

    // First answers: from the seed, with no request to the JWKS endpoint at all.
    assert!(allowed(&f.invoke(&event(&t1)).await), "seeded k1");
    assert!(allowed(&f.invoke(&event(&t2)).await), "seeded k2");
    assert!(allowed(&f.invoke(&event(&t2)).await), "seeded k2, memo");
    assert_eq!(
        jwks.hits(),
        0,
        "no JWKS fetch before or for the first answers"
    );
    let logs = f.settled_logs().await.join("\n");
    assert!(logs.contains("\"event\":\"jwks_seeded\""), "{logs}");

    // A kid the seed lacks: fetched on first sight, and the fetched set replaces the seeded one.
    assert!(
        allowed(&f.invoke(&event(&t3)).await),
        "new kid k3 from the live JWKS"
    );
    assert_eq!(jwks.hits(), 1);
    assert!(
        !allowed(&f.invoke(&event(&t2)).await),
        "k2 was seeded but the live JWKS no longer lists it"
    );
    assert!(allowed(&f.invoke(&event(&t1)).await), "k1 is still listed");
    let r = decision_reasons(&f).await;
    assert_eq!(r, ["ok", "ok", "ok", "ok", "unknown_kid", "ok"], "{r:?}");

    // Rotation keeps working: a new kid after the cooldown is fetched at once.
    let k4 = TestKey::rsa("live-4");
    jwks.set_doc(jwt::jwks(&[&k1, &k3, &k4]));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let t4 = k4.sign(&access_claims(ISS, CLIENT, SUB), &json!({}));
    assert!(allowed(&f.invoke(&event(&t4)).await), "k4 after rotation");
    assert!(jwks.hits() >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeded_keys_serve_through_a_dead_endpoint() {
    let k1 = TestKey::rsa("seed-1");
    let jwks = JwksServer::start(jwt::jwks(&[&k1])).await;
    jwks.set_mode(Mode::Status(503));
    let f = Function::start(
        &paths::bin("authorizer"),
        &env(&jwks, &jwt::jwks(&[&k1]), &[]),
    )
    .await;
    assert!(f.wait_init().await.is_none(), "{}", f.logs().join("\n"));
    let t1 = k1.sign(&access_claims(ISS, CLIENT, SUB), &json!({}));
    for _ in 0..3 {
        assert!(allowed(&f.invoke(&event(&t1)).await));
    }
    assert_eq!(jwks.hits(), 0);
}

/// A weak key next to a usable one: the seed is accepted, the weak key refused and logged once
/// (the configuration vets the document; the cache takes the vetted keys as they are).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_weak_key_in_the_seed_is_refused_and_logged_once() {
    let k1 = TestKey::rsa("seed-1");
    let jwks = JwksServer::start(jwt::jwks(&[&k1])).await;
    let mut seed = jwt::jwks(&[&k1]);
    seed["keys"].as_array_mut().expect("keys").push(json!({
        "kty": "RSA", "kid": "weak-1024", "alg": "RS256", "use": "sig", "e": "AQAB",
        "n": "4cg7V1YVAAh7iZkq5zC-WumammaLn1wWmyVHt15JJ7sC8s15d71mlz9PwogwZb2snbMQ7fBBZmjAgpcLzZQIEMf6XIBCnoRhUz1zUJ7sWldTyBqPasxrEx8JLpYSjGSItai-8aybxliI_sKsIcWjTtQtkC3qzcEK_3nOjE_QBss"
    }));
    let f = Function::start(&paths::bin("authorizer"), &env(&jwks, &seed, &[])).await;
    assert!(f.wait_init().await.is_none(), "{}", f.logs().join("\n"));
    let t1 = k1.sign(&access_claims(ISS, CLIENT, SUB), &json!({}));
    assert!(allowed(&f.invoke(&event(&t1)).await));
    let logs = f.settled_logs().await;
    let refused: Vec<&String> = logs
        .iter()
        .filter(|l| l.contains("\"jwk_refused\""))
        .collect();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(refused[0].contains("weak-1024") && refused[0].contains("rsa_too_small"));
    assert_eq!(jwks.hits(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_jwks_json_fails_init_naming_the_setting_never_the_key() {
    let jwks = JwksServer::start(json!({"keys": []})).await;
    // A 1024-bit RSA key (openssl genrsa 1024): below the 2048-bit floor, never trusted.
    let n = "4cg7V1YVAAh7iZkq5zC-WumammaLn1wWmyVHt15JJ7sC8s15d71mlz9PwogwZb2snbMQ7fBBZmjAgpcLzZQIEMf6XIBCnoRhUz1zUJ7sWldTyBqPasxrEx8JLpYSjGSItai-8aybxliI_sKsIcWjTtQtkC3qzcEK_3nOjE_QBss".to_string();
    let weak_doc = json!({"keys": [{"kty": "RSA", "kid": "weak-1024", "alg": "RS256", "use": "sig", "n": n, "e": "AQAB"}]});
    let good = TestKey::rsa("ok-1");
    let cases = [
        (json!("not a jwks"), "must be a JWKS document"),
        (json!({"keys": []}), "holds no usable key"),
        (weak_doc.clone(), "holds no usable key"),
        (
            json!([jwt::jwks(&[&good]), jwt::jwks(&[&good])]),
            "2 JWKS document(s) for 1 issuer(s)",
        ),
    ];
    for (seed, problem) in cases {
        let f = Function::start(&paths::bin("authorizer"), &env(&jwks, &seed, &[])).await;
        let msg = f.wait_init().await.expect("init must fail");
        assert!(msg.contains("JWKS_JSON"), "{msg}");
        assert!(msg.contains(problem), "{problem:?} not in {msg}");
        assert!(!msg.contains(&n[..32]), "key material in {msg}");
        let logs = f.settled_logs().await.join("\n");
        assert!(!logs.contains(&n[..32]), "key material in the logs");
    }
    let f = Function::start(
        &paths::bin("authorizer"),
        &[
            ("ISSUER".to_string(), ISS.to_string()),
            ("JWKS_URI".into(), jwks.uri()),
            ("CLIENT_IDS".into(), CLIENT.into()),
            ("JWKS_JSON".into(), "{not json".into()),
        ],
    )
    .await;
    let msg = f.wait_init().await.expect("init must fail");
    assert!(
        msg.contains("JWKS_JSON") && msg.contains("is not JSON"),
        "{msg}"
    );
    assert_eq!(jwks.hits(), 0, "a refused configuration fetches nothing");
}
