//! `API_STAGES` through the real binary: the policy for a request on one stage covers the same
//! routes, with the same effects, on every listed stage of the API (so a result cached for one
//! stage, were API Gateway to share it with another, could not deny that other stage), and names
//! no other stage; without it, only the request's stage.

use harness::jwks_server::JwksServer;
use harness::jwt::{self, access_claims, TestKey};
use harness::paths;
use harness::runtime_api::Function;
use serde_json::{json, Value};

const ISS: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Stages1";
const CLIENT: &str = "client-stages";
const API: &str = "arn:aws:execute-api:us-east-1:123456789012:abcdef123";

/// `(effect, resource)` pairs of a policy answer, sorted.
fn statements(answer: &Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = answer["policyDocument"]["Statement"]
        .as_array()
        .unwrap_or_else(|| panic!("not a policy answer: {answer}"))
        .iter()
        .flat_map(|s| {
            let effect = s["Effect"].as_str().unwrap().to_string();
            s["Resource"]
                .as_array()
                .unwrap()
                .iter()
                .map(move |r| (effect.clone(), r.as_str().unwrap().to_string()))
        })
        .collect();
    out.sort();
    out
}

fn on_stage(pairs: &[(String, String)], stage: &str) -> Vec<(String, String)> {
    pairs
        .iter()
        .filter(|(_, r)| r.starts_with(&format!("{API}/{stage}/")))
        .map(|(e, r)| (e.clone(), r[API.len() + stage.len() + 2..].to_string()))
        .collect()
}

async fn answer(api_stages: Option<&str>, stage: &str) -> Value {
    let key = TestKey::rsa("key-stages");
    let jwks = JwksServer::start(jwt::jwks(&[&key])).await;
    let mut env: Vec<(String, String)> = vec![
        ("ISSUER".into(), ISS.into()),
        ("JWKS_URI".into(), jwks.uri()),
        ("CLIENT_IDS".into(), CLIENT.into()),
        (
            "API_ROUTES".into(),
            r#"["GET /items","POST /items","DELETE /items/{id}"]"#.into(),
        ),
        (
            "ROUTE_RULES".into(),
            r#"[{"route":"DELETE /items/{id}","groups_any":["admin"]}]"#.into(),
        ),
        ("ROUTE_DEFAULT".into(), "allow".into()),
    ];
    if let Some(s) = api_stages {
        env.push(("API_STAGES".into(), s.into()));
    }
    let f = Function::start(&paths::bin("authorizer"), &env).await;
    assert_eq!(f.wait_init().await, None, "{}", f.logs().join("\n"));
    let token = key.sign(&access_claims(ISS, CLIENT, "sub-stages"), &json!({}));
    let event = json!({
        "type": "REQUEST",
        "methodArn": format!("{API}/{stage}/GET/items"),
        "resource": "/items",
        "path": "/items",
        "httpMethod": "GET",
        "headers": {"Authorization": format!("Bearer {token}")},
        "multiValueHeaders": {"Authorization": [format!("Bearer {token}")]},
        "requestContext": {"requestId": "r-stages", "stage": stage}
    });
    f.invoke(&event).await.response().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_cover_the_listed_stages_alike_and_only_them() {
    // Default: the request's stage only.
    let alone = statements(&answer(None, "v1").await);
    assert!(!alone.is_empty());
    assert!(
        alone
            .iter()
            .all(|(_, r)| r.starts_with(&format!("{API}/v1/"))),
        "{alone:?}"
    );
    // A route decision that differs per route: non-admins are granted no DELETE.
    assert!(
        alone
            .iter()
            .any(|(e, r)| e == "Allow" && r.contains("/GET/"))
            && !alone
                .iter()
                .any(|(e, r)| e == "Allow" && r.contains("/DELETE/")),
        "{alone:?}"
    );

    for stage in ["v1", "canary"] {
        let both = statements(&answer(Some("v1,canary"), stage).await);
        // Exactly the single-stage decision, once per listed stage.
        assert_eq!(
            on_stage(&both, "v1"),
            on_stage(&alone, "v1"),
            "from {stage}"
        );
        assert_eq!(
            on_stage(&both, "canary"),
            on_stage(&alone, "v1"),
            "from {stage}"
        );
        assert_eq!(both.len(), 2 * alone.len(), "no other stage: {both:?}");
    }
}
