//! Tokens issued by a Cognito-compatible server (moto's Cognito IdP: `initiate_auth`, real RS256
//! tokens, AWS issuer form) verified end to end through the `authorizer` binary.

use harness::cognito::sign_in;
use harness::moto::Moto;
use harness::paths;
use harness::runtime_api::Function;
use serde_json::{json, Value};

const REST_REQUEST: &str = include_str!("../../../authorizer/tests/fixtures/rest_request.json");
const HTTP_V2: &str = include_str!("../../../authorizer/tests/fixtures/http_v2.json");

fn request_event(auth: &str) -> Value {
    let mut e: Value = serde_json::from_str(REST_REQUEST).unwrap();
    e["headers"]["Authorization"] = json!(auth);
    e["multiValueHeaders"]["Authorization"] = json!([auth]);
    e
}

async fn authorizer(pool: &harness::cognito::LocalPool, token_use: &str) -> Function {
    let env = vec![
        ("USER_POOL_ID".to_string(), pool.user_pool_id.clone()),
        ("JWKS_URI".to_string(), pool.jwks_uri.clone()),
        ("CLIENT_IDS".to_string(), pool.client_id.clone()),
        ("TOKEN_USE".to_string(), token_use.to_string()),
    ];
    let f = Function::start(&paths::bin("authorizer"), &env).await;
    assert_eq!(f.wait_init().await, None, "{}", f.logs().join("\n"));
    f
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moto_cognito_tokens_verify_end_to_end() {
    let moto = Moto::start();
    let pool = sign_in(&moto, "e2e-pool", "alice", &["admin", "ops"]);
    assert!(pool
        .issuer
        .starts_with("https://cognito-idp.us-east-1.amazonaws.com/us-east-1_"));

    let f = authorizer(&pool, "access").await;
    let r = f
        .invoke(&request_event(&format!("Bearer {}", pool.access_token)))
        .await;
    let r = r.response();
    assert_eq!(
        r["policyDocument"]["Statement"][0]["Effect"], "Allow",
        "{r}"
    );
    assert_eq!(r["context"]["username"], "alice");
    assert_eq!(r["context"]["client_id"], pool.client_id.as_str());
    assert_eq!(r["context"]["token_use"], "access");
    // moto does not keep group order
    let mut groups: Vec<&str> = r["context"]["groups"]
        .as_str()
        .unwrap()
        .split(',')
        .collect();
    groups.sort();
    assert_eq!(groups, ["admin", "ops"]);
    let sub = r["principalId"].as_str().unwrap().to_string();
    assert!(!sub.is_empty());

    // HTTP API simple response
    let mut e: Value = serde_json::from_str(HTTP_V2).unwrap();
    e["headers"]["authorization"] = json!(format!("Bearer {}", pool.access_token));
    assert_eq!(f.invoke(&e).await.response()["isAuthorized"], true);

    // The id token is refused by an access-token authorizer ...
    let r = f.invoke(&request_event(&pool.id_token)).await;
    assert_eq!(r.error_message(), Some("Unauthorized"));
    // ... and accepted by an id-token one, with the same principal.
    let fid = authorizer(&pool, "id").await;
    let r = fid.invoke(&request_event(&pool.id_token)).await;
    assert_eq!(r.response()["principalId"], sub.as_str());
    assert_eq!(r.response()["context"]["username"], "alice");

    // A token from another pool on the same server (same key at moto!) is refused by issuer.
    let other = sign_in(&moto, "other-pool", "mallory", &[]);
    let r = f.invoke(&request_event(&other.access_token)).await;
    assert_eq!(r.error_message(), Some("Unauthorized"));
    // the log line is read from the process's stdout asynchronously
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let logs = f.logs();
    assert!(
        logs.iter()
            .any(|l| l.contains("\"reason\":\"wrong_issuer\"")),
        "{logs:?}"
    );
}
