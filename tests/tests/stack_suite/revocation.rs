//! Sign-out that signs out, end to end: the real `gateway` (authorizer with its synced revocation
//! set, the emulated authorizer cache and its flush, crud writing the revocation table) against
//! moto (Cognito's tokens, `AdminUserGlobalSignOut`, DynamoDB).
//!
//! The bound: crud answers a revocation once every authorizer's set holds it
//! (`REVOCATION_SYNC_SECONDS` + 2 s after the write), having flushed the stage's authorizer cache
//! before and after that wait, so the old token is refused from the 204 on, whether it would
//! have come from the gateway's cache, the authorizer's memo or a fresh verification.

use std::time::{Duration, Instant};

use harness::cognito::sign_in;
use harness::stack::{Reply, Stack};
use serde_json::json;

/// `REVOCATION_SYNC_SECONDS` of these stacks (`REVOCATION_BOUND_SYNC_SECONDS` overrides it, e.g.
/// `2`, scripts/run.sh's value, to measure the bound the README states).
fn sync_seconds() -> u64 {
    std::env::var("REVOCATION_BOUND_SYNC_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

async fn stack() -> Stack {
    // Stack::start creates the `revocations` table next to `items`
    Stack::start(
        &[
            ("REVOCATION_TABLE", "revocations".to_string()),
            ("REVOCATION_SYNC_SECONDS", sync_seconds().to_string()),
            (
                "ROUTE_RULES",
                r#"[{"route":"DELETE /users/{sub}/sessions","groups_any":["admin"]}]"#.to_string(),
            ),
            ("ROUTE_DEFAULT", "allow".to_string()),
            // the bound test's poller calls many times a second
            ("RATE_LIMIT_PER_MINUTE", "0".to_string()),
            ("EDGE_RATE_LIMIT_PER_MINUTE", "100000".to_string()),
            // a long cache TTL: a cached Allow would outlive every test here without the flush
            ("GATEWAY_AUTH_CACHE_TTL_SECONDS", "300".to_string()),
        ],
        &json!({}),
    )
    .await
}

async fn get(s: &Stack, token: &str) -> Reply {
    let auth = format!("Bearer {token}");
    s.call("GET", "/items", &[("authorization", &auth)], "")
        .await
}

async fn delete(s: &Stack, token: &str, path: &str) -> Reply {
    let auth = format!("Bearer {token}");
    s.call("DELETE", path, &[("authorization", &auth)], "")
        .await
}

fn claim(token: &str, name: &str) -> String {
    use base64::Engine;
    let payload = token.split('.').nth(1).expect("payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    let v: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
    v[name].as_str().unwrap_or_default().to_string()
}

fn fresh(s: &Stack, user: &str) -> harness::cognito::LocalPool {
    let groups: &[&str] = if user == "carol" { &["admin"] } else { &[] };
    sign_in(&s.moto, "gateway-pool", user, groups)
}

/// `DELETE /sessions/current`, many times: the old token (cached by the gateway and memoised by
/// the authorizer) is refused from the 204 on, every run; the first refusal is measured from the
/// start of the DELETE; a token of a new sign-in works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_the_current_session_refuses_the_token_within_the_bound_every_run() {
    let s = stack().await;
    let sync = sync_seconds();
    let bound = Duration::from_secs(sync + 2);
    let mut first_refusals = Vec::new();
    let mut answers = Vec::new();
    // REVOCATION_BOUND_RUNS: more runs for the README's distribution
    let runs: usize = std::env::var("REVOCATION_BOUND_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    for run in 0..runs {
        let t = fresh(&s, "alice").access_token;
        // cached by the gateway and memoised by the authorizer
        assert_eq!(get(&s, &t).await.status, 200, "run {run}");
        assert_eq!(get(&s, &t).await.status, 200, "run {run}");
        let started = Instant::now();
        // a poller replays the token every 100 ms while the DELETE runs
        let poll = {
            let token = t.clone();
            let port = s.port;
            tokio::spawn(async move {
                let client = hyper_util::client::legacy::Client::builder(
                    hyper_util::rt::TokioExecutor::new(),
                )
                .build_http::<http_body_util::Full<bytes::Bytes>>();
                loop {
                    let req = http::Request::get(format!("http://127.0.0.1:{port}/items"))
                        .header("authorization", format!("Bearer {token}"))
                        .body(http_body_util::Full::new(bytes::Bytes::new()))
                        .unwrap();
                    let st = client.request(req).await.map(|r| r.status().as_u16());
                    if st.ok() == Some(401) {
                        return started.elapsed();
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            })
        };
        let r = delete(&s, &t, "/sessions/current").await;
        let answered = started.elapsed();
        assert_eq!(r.status, 204, "run {run}: {:?}", r.body);
        assert!(r.body.is_empty());
        // from the 204 on: refused (the cache was flushed, the memo entry is checked)
        for _ in 0..3 {
            let r = get(&s, &t).await;
            assert_eq!(r.status, 401, "run {run}: the revoked token after the 204");
            assert_eq!(r.json()["code"], "unauthorized");
        }
        let first = tokio::time::timeout(Duration::from_secs(5), poll)
            .await
            .expect("refused")
            .expect("poller");
        assert!(
            first <= bound + Duration::from_millis(500),
            "run {run}: {first:?}"
        );
        assert!(
            answered <= bound + Duration::from_secs(1),
            "run {run}: answered after {answered:?}"
        );
        first_refusals.push(first);
        answers.push(answered);
        // idempotent: the same DELETE again with the revoked token is refused at the authorizer
        assert_eq!(delete(&s, &t, "/sessions/current").await.status, 401);
    }
    // a new sign-in works; bob was never affected
    let t = fresh(&s, "alice").access_token;
    assert_eq!(get(&s, &t).await.status, 200);
    assert_eq!(get(&s, s.token("bob")).await.status, 200);
    first_refusals.sort();
    answers.sort();
    println!(
        "revocation bound over {runs} runs (REVOCATION_SYNC_SECONDS={sync}): first refusal after the DELETE started: min {:?} median {:?} p90 {:?} max {:?}; 204 after: min {:?} median {:?} max {:?}",
        first_refusals[0],
        first_refusals[runs / 2],
        first_refusals[runs * 9 / 10],
        first_refusals[runs - 1],
        answers[0],
        answers[runs / 2],
        answers[runs - 1]
    );
    s.stop().await;
}

/// `DELETE /sessions`: every older token of the caller is refused; other users are not; a
/// sign-in after it works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_all_sessions_refuses_every_older_token_of_the_caller_only() {
    let s = stack().await;
    let a1 = s.token("alice").to_string();
    let a2 = fresh(&s, "alice").access_token;
    assert_ne!(claim(&a1, "origin_jti"), claim(&a2, "origin_jti"));
    for t in [&a1, &a2] {
        assert_eq!(get(&s, t).await.status, 200);
    }
    assert_eq!(get(&s, s.token("bob")).await.status, 200);
    let r = delete(&s, &a2, "/sessions").await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    for t in [&a1, &a2] {
        assert_eq!(get(&s, t).await.status, 401, "an older token of alice");
    }
    assert_eq!(get(&s, s.token("bob")).await.status, 200, "bob unaffected");
    assert_eq!(
        get(&s, s.token("carol")).await.status,
        200,
        "carol unaffected"
    );
    // iat has whole seconds: a sign-in in a later second is after the cutoff
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let a3 = fresh(&s, "alice").access_token;
    assert_eq!(get(&s, &a3).await.status, 200, "a new sign-in works");
    s.stop().await;
}

/// `DELETE /users/{sub}/sessions`: a non-admin gets 403 and changes nothing; an admin's call
/// refuses every token of that user and signs the user out of Cognito (the refresh token no
/// longer works); an unknown sub is 204 (no existence oracle); a malformed one 400.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_revokes_a_user_and_a_non_admin_cannot() {
    let s = stack().await;
    let bob = fresh(&s, "bob");
    let bob_sub = claim(&bob.access_token, "sub");
    let path = format!("/users/{bob_sub}/sessions");
    // alice is no admin: 403 at the authorizer's policy, crud never runs
    let r = delete(&s, s.token("alice"), &path).await;
    assert_eq!(r.status, 403, "{:?}", r.body);
    assert_eq!(r.json()["code"], "forbidden");
    tokio::time::sleep(Duration::from_secs(sync_seconds() + 2)).await;
    assert_eq!(
        get(&s, &bob.access_token).await.status,
        200,
        "nothing changed"
    );
    assert!(refresh(&s, &bob).await, "bob's refresh token still works");

    let carol = s.token("carol").to_string();
    let r = delete(&s, &carol, &path).await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    assert_eq!(get(&s, &bob.access_token).await.status, 401, "bob refused");
    assert_eq!(
        get(&s, s.token("bob")).await.status,
        401,
        "every older token of bob"
    );
    assert!(
        !refresh(&s, &bob).await,
        "Cognito signed bob out (AdminUserGlobalSignOut)"
    );
    assert_eq!(
        get(&s, s.token("alice")).await.status,
        200,
        "alice unaffected"
    );
    assert_eq!(get(&s, &carol).await.status, 200, "the admin unaffected");
    // idempotent
    assert_eq!(delete(&s, &carol, &path).await.status, 204);
    // an unknown sub: 204, like a known one
    let r = delete(
        &s,
        &carol,
        "/users/00000000-0000-4000-8000-000000000000/sessions",
    )
    .await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    // malformed: a control character, an over-long id
    let long = "x".repeat(300);
    for bad in ["a%01b", long.as_str()] {
        let r = delete(&s, &carol, &format!("/users/{bad}/sessions")).await;
        assert_eq!(r.status, 400, "{bad}: {:?}", r.body);
        assert_eq!(r.json()["code"], "invalid_id");
    }
    s.stop().await;
}

/// Whether a refresh token still mints tokens (Cognito `REFRESH_TOKEN_AUTH` on moto).
async fn refresh(s: &Stack, p: &harness::cognito::LocalPool) -> bool {
    let body = json!({
        "AuthFlow": "REFRESH_TOKEN_AUTH",
        "ClientId": p.client_id,
        "AuthParameters": {"REFRESH_TOKEN": p.refresh_token},
    })
    .to_string();
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let req = http::Request::post(s.moto.endpoint())
        .header("content-type", "application/x-amz-json-1.1")
        .header(
            "x-amz-target",
            "AWSCognitoIdentityProviderService.InitiateAuth",
        )
        .body(http_body_util::Full::new(bytes::Bytes::from(body)))
        .unwrap();
    let resp = client.request(req).await.expect("moto answered");
    resp.status().is_success()
}
