//! Criterion benches for the authorizer, in process:
//! - `invoke_memo/*`: one invocation from event bytes to response bytes with a repeated
//!   (memoised) token — the budget is ≤ 5 µs median;
//! - `verify_distinct/rs256`: full verification of distinct tokens (no memo).

use std::hint::black_box;
use std::time::SystemTime;

use authorizer::Config;
use criterion::{criterion_group, criterion_main, Criterion};
use harness::jwks_server::JwksServer;
use harness::jwt::{self, TestKey};
use serde_json::{json, Value};

const ISS: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_BenchPool1";
const CLIENT: &str = "benchclient0123456789abcd";

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let key = TestKey::rsa("bench-key-1");
    let srv = rt.block_on(JwksServer::start(jwt::jwks(&[&key])));
    let env = [
        ("ISSUER", ISS.to_string()),
        ("CLIENT_IDS", CLIENT.to_string()),
        ("JWKS_URI", srv.uri()),
    ];
    let cfg = Config::from_lookup(|k| env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone()))
        .expect("config");
    let auth = rt.block_on(authorizer::init(cfg)).expect("init");
    let token = key.sign(&jwt::access_claims(ISS, CLIENT, "bench-user"), &json!({}));

    let mut rest: Value = serde_json::from_str(include_str!(
        "../../authorizer/tests/fixtures/rest_request.json"
    ))
    .unwrap();
    rest["headers"]["Authorization"] = json!(format!("Bearer {token}"));
    rest["multiValueHeaders"]["Authorization"] = json!([format!("Bearer {token}")]);
    let rest = serde_json::to_string(&rest).unwrap();
    let mut http: Value =
        serde_json::from_str(include_str!("../../authorizer/tests/fixtures/http_v2.json")).unwrap();
    http["headers"]["authorization"] = json!(format!("Bearer {token}"));
    let http = serde_json::to_string(&http).unwrap();
    let mut tok: Value = serde_json::from_str(include_str!(
        "../../authorizer/tests/fixtures/rest_token.json"
    ))
    .unwrap();
    tok["authorizationToken"] = json!(format!("Bearer {token}"));
    let tok = serde_json::to_string(&tok).unwrap();

    let mut g = c.benchmark_group("invoke_memo");
    for (name, ev) in [
        ("rest_request", &rest),
        ("http_v2", &http),
        ("rest_token", &tok),
    ] {
        // prime the memo
        rt.block_on(auth.handle(ev, SystemTime::now()))
            .expect("allowed");
        g.bench_function(name, |b| {
            b.iter(|| {
                let out = rt
                    .block_on(auth.handle(black_box(ev), SystemTime::now()))
                    .expect("allowed");
                black_box(out.into_bytes())
            })
        });
    }
    g.finish();

    let tokens: Vec<String> = (0..512)
        .map(|i| {
            key.sign(
                &jwt::access_claims(ISS, CLIENT, &format!("u{i}")),
                &json!({}),
            )
        })
        .collect();
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let mut g = c.benchmark_group("verify_distinct");
    let mut i = 0usize;
    g.bench_function("rs256", |b| {
        b.iter(|| {
            i = (i + 1) % tokens.len();
            black_box(rt.block_on(auth.verifier().verify(&tokens[i], now)).is_ok())
        })
    });
    g.finish();
}

criterion_group!(authorizer_benches, benches);
criterion_main!(authorizer_benches);
