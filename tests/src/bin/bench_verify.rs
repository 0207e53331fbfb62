//! RS256 verification throughput on one core with distinct tokens, full validation.
//!
//! Writes the tokens and JWKS it used to `<out>/tokens.json` so `bench/jwt-verify.mjs` can run
//! aws-jwt-verify's `verifySync` on exactly the same tokens; `bench/run.sh` puts the figures side
//! by side with `openssl speed rsa2048`.
//!
//! Usage: bench_verify <out-dir> [seconds]

use std::time::{Duration, Instant};

use harness::bench::{VerifyBench, CLIENT, POOL};
use harness::jwt::TestKey;
use serde_json::json;

fn jwt_b64d(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .expect("b64")
}

fn key_n(k: &TestKey) -> Vec<u8> {
    jwt_b64d(k.jwk()["n"].as_str().expect("n"))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let out = std::path::PathBuf::from(args.get(1).cloned().unwrap_or_else(|| "bench/out".into()));
    let secs: f64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(3.0);
    std::fs::create_dir_all(&out).expect("out dir");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let b = VerifyBench::start().await;
        let (key, tokens, now) = (&b.key, &b.tokens, b.now);
        std::fs::write(
            out.join("tokens.json"),
            serde_json::to_vec(&json!({
                "userPoolId": POOL, "clientId": CLIENT, "jwks": b.jwks, "tokens": tokens,
            }))
            .expect("json"),
        )
        .expect("write tokens");
        let v = b.auth.verifier();
        // warm up
        for t in tokens.iter().take(200) {
            v.verify(t, now).await.expect("valid");
        }
        // Breakdown reference: the raw aws-lc-rs RSA verify with a pre-parsed key, same tokens.
        let parts: Vec<(Vec<u8>, Vec<u8>)> = tokens
            .iter()
            .map(|t| {
                let (input, sig) = t.rsplit_once('.').expect("jws");
                (input.as_bytes().to_vec(), jwt_b64d(sig))
            })
            .collect();
        let pk = aws_lc_rs::rsa::PublicKeyComponents {
            n: key_n(key),
            e: vec![1u8, 0, 1],
        }
        .to_parsed_public_key(&aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256)
        .expect("key");
        // The two alternate in slices of 100 ms each (`secs` of each in all), so a change of the
        // machine's speed during the run (a shared VM's) weighs on both alike and the ratio holds.
        let slice = Duration::from_millis(100);
        let slices = ((secs / slice.as_secs_f64()).ceil() as u32).max(1);
        let (mut n, mut raw) = (0u64, 0u64);
        let (mut el, mut raw_el) = (0f64, 0f64);
        let mut at = 0usize;
        for _ in 0..slices {
            let start = Instant::now();
            while start.elapsed() < slice {
                for _ in 0..50 {
                    v.verify(&tokens[at], now).await.expect("valid");
                    at = (at + 1) % tokens.len();
                    n += 1;
                }
            }
            el += start.elapsed().as_secs_f64();
            let start = Instant::now();
            while start.elapsed() < slice {
                for _ in 0..50 {
                    let (m, s) = &parts[at];
                    pk.verify_sig(m, s).expect("valid");
                    at = (at + 1) % parts.len();
                    raw += 1;
                }
            }
            raw_el += start.elapsed().as_secs_f64();
        }
        eprintln!(
            "{}",
            json!({"impl": "aws-lc-rs raw RSA verify (ParsedPublicKey)", "verifies_per_sec": raw as f64 / raw_el})
        );
        println!(
            "{}",
            json!({"impl": "apigw-guard authorizer (aws-lc-rs, full validation)", "verifies": n,
                   "seconds": el, "verifies_per_sec": n as f64 / el})
        );
    });
}
