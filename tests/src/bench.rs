//! The verification benchmarks' shared set-up (`bench_verify`, `bench_breakdown`, the
//! `verify_jsonwebtoken` bench): one RSA key served as a JWKS on loopback, the same 2,000 distinct
//! Cognito access tokens, and the authorizer initialised against them.

use std::time::SystemTime;

use serde_json::Value;

use crate::jwks_server::JwksServer;
use crate::jwt::{self, TestKey};

pub const POOL: &str = "us-east-1_BenchPool1";
pub const CLIENT: &str = "benchclient0123456789abcd";
pub const KID: &str = "bench-key-1";
/// How many distinct tokens the benchmarks cycle through (more than the caches hold).
pub const N: usize = 2000;

/// What a verification benchmark runs against.
pub struct VerifyBench {
    pub key: TestKey,
    /// The JWKS document the server serves (the key's public half).
    pub jwks: Value,
    pub issuer: String,
    pub tokens: Vec<String>,
    pub auth: authorizer::Authorizer,
    /// Seconds since the epoch, for `Verifier::verify`.
    pub now: f64,
    /// Kept running for key-set refreshes during the run.
    pub server: JwksServer,
}

impl VerifyBench {
    /// Start the JWKS server, sign the tokens, initialise the authorizer (`USER_POOL_ID`,
    /// `CLIENT_IDS`, `JWKS_URI`). Panics on failure: a benchmark has nothing to measure then.
    pub async fn start() -> VerifyBench {
        let key = TestKey::rsa(KID);
        let jwks = jwt::jwks(&[&key]);
        let server = JwksServer::start(jwks.clone()).await;
        let issuer = format!("https://cognito-idp.us-east-1.amazonaws.com/{POOL}");
        let tokens = jwt::distinct_access_tokens(&key, &issuer, CLIENT, N);
        let env = [
            ("USER_POOL_ID", POOL.to_string()),
            ("CLIENT_IDS", CLIENT.to_string()),
            ("JWKS_URI", server.uri()),
        ];
        let cfg = authorizer::Config::from_lookup(|k| {
            env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())
        })
        .expect("config");
        let auth = authorizer::init(cfg).await.expect("init");
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .expect("clock")
            .as_secs_f64();
        VerifyBench {
            key,
            jwks,
            issuer,
            tokens,
            auth,
            now,
            server,
        }
    }
}
