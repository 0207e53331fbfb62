//! RS256 verification throughput on one core, distinct tokens, full validation: the authorizer's
//! JOSE path (aws-lc-rs, `Verifier::verify`) against the `jsonwebtoken` crate (10.3, its aws-lc-rs
//! backend, strict `Validation`: RS256 only, leeway 0, exp and nbf checked, exp/iss/sub required,
//! the issuer set, then Cognito's token_use and client_id), same tokens, same process, rounds
//! interleaved. Prints one JSON line per implementation (median verifies/s) and the ratio.
//!
//! Usage: `cargo bench -p tests --bench verify_jsonwebtoken -- [seconds-per-round] [rounds]`
//! (bench/run.sh verify runs it beside openssl and aws-jwt-verify).

use std::time::Instant;

use harness::bench::{VerifyBench, CLIENT, KID, N};
use jsonwebtoken::{jwk::JwkSet, Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::json;

/// What a jsonwebtoken user would decode from a Cognito access token (the context's claims).
#[derive(Deserialize)]
#[allow(dead_code)]
struct CognitoAccess {
    sub: String,
    client_id: String,
    token_use: String,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    username: String,
    #[serde(default, rename = "cognito:groups")]
    groups: Vec<String>,
    exp: f64,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    // cargo bench passes `--bench`; the rest are ours.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let secs: f64 = args.first().and_then(|s| s.parse().ok()).unwrap_or(2.0);
    let rounds: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(3);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // Ours: the authorizer's verifier with its JWKS cache hydrated from a loopback server.
    let b = rt.block_on(VerifyBench::start());
    let (tokens, iss, now) = (&b.tokens, &b.issuer, b.now);
    let v = b.auth.verifier();

    // jsonwebtoken: key chosen by kid from the same JWKS, built once (as a cache would).
    let set: JwkSet = serde_json::from_value(b.jwks.clone()).expect("jwks");
    let decoding = DecodingKey::from_jwk(set.find(KID).expect("kid")).expect("key");
    let mut val = Validation::new(Algorithm::RS256);
    val.leeway = 0;
    val.validate_nbf = true;
    val.validate_aud = false;
    val.set_required_spec_claims(&["exp", "iss", "sub"]);
    val.set_issuer(&[iss.as_str()]);
    let jwt_verify = |t: &str| {
        let h = jsonwebtoken::decode_header(t).expect("header");
        assert_eq!(h.kid.as_deref(), Some(KID));
        let d = jsonwebtoken::decode::<CognitoAccess>(t, &decoding, &val).expect("valid");
        assert!(d.claims.token_use == "access" && d.claims.client_id == CLIENT);
    };

    // warm up both
    for t in tokens.iter().take(200) {
        rt.block_on(v.verify(t, now)).expect("valid");
        jwt_verify(t);
    }
    let timed = |f: &mut dyn FnMut(&str)| {
        let start = Instant::now();
        let mut n = 0u64;
        loop {
            for t in tokens {
                f(t);
                n += 1;
            }
            if start.elapsed().as_secs_f64() >= secs {
                break;
            }
        }
        n as f64 / start.elapsed().as_secs_f64()
    };
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        ours.push(timed(&mut |t| {
            rt.block_on(v.verify(t, now)).expect("valid");
        }));
        theirs.push(timed(&mut |t| jwt_verify(t)));
    }
    let (o, j) = (median(ours), median(theirs));
    println!(
        "{}",
        json!({"impl": "apigw-guard authorizer (aws-lc-rs JOSE path, full validation)", "verifies_per_sec": o})
    );
    println!(
        "{}",
        json!({"impl": "jsonwebtoken 10.3 (aws-lc-rs backend, strict Validation)", "verifies_per_sec": j})
    );
    println!(
        "{}",
        json!({"ratio_ours_to_jsonwebtoken": o / j, "rounds": rounds, "seconds_per_round": secs, "tokens": N})
    );
}
