//! Where the whole-token verification's time goes beyond the RSA signature check: each stage of
//! `Verifier::verify` timed on its own over the same distinct tokens as `bench_verify`, the stages
//! interleaved in 100 ms slices in one process (ns per token, to stdout as JSON lines).
//!
//! Usage: bench_breakdown [seconds per stage] [stage numbers, comma-separated: all by default]

use std::hint::black_box;
use std::time::{Duration, Instant};

use authorizer::{claims, token};
use harness::bench::{VerifyBench, KID};
use serde_json::json;

fn main() {
    let secs: f64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(2.0);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let b = VerifyBench::start().await;
        let (tokens, now) = (&b.tokens, b.now);
        let v = b.auth.verifier();
        let keyref = v.jwks(0).expect("jwks").key(KID).await.expect("key");
        let pk = keyref.for_alg(authorizer::alg::Alg::RS256).expect("rs256");
        let sigs: Vec<(Vec<u8>, Vec<u8>)> = tokens
            .iter()
            .map(|t| {
                let mut buf = token::Buf::new();
                let p = token::split(t, &mut buf).expect("split");
                (p.signing_input.to_vec(), p.signature.to_vec())
            })
            .collect();
        let stages = [
            "split",
            "split+parse",
            "split+parse+check+owner",
            "jwks.key",
            "raw verify_sig",
            "full verify",
            // each stage after a signature check, as in a verification (caches and predictors
            // as the RSA code leaves them): minus "raw verify_sig", the stage's cost there
            "raw verify_sig, then split",
            "raw verify_sig, then split+parse",
            "raw verify_sig, then split+parse+check+owner",
        ];
        let only: Option<Vec<usize>> = std::env::args()
            .nth(2)
            .map(|s| s.split(',').filter_map(|n| n.parse().ok()).collect());
        // ns per token of each stage in each round (one slice of each stage per round): the
        // medians, and the medians of each stage's ratio to "raw verify_sig" in the same round,
        // stand a shared machine's bursts better than totals
        let mut per_round: Vec<[f64; 9]> = Vec::new();
        let slice = Duration::from_millis(20);
        let slices = ((secs / slice.as_secs_f64()).ceil() as u32).max(1);
        let mut at = 0usize;
        for _ in 0..slices {
            let mut round = [f64::NAN; 9];
            for (s, _) in stages.iter().enumerate() {
                if only.as_ref().is_some_and(|o| !o.contains(&s)) {
                    continue;
                }
                let start = Instant::now();
                let mut n = 0u64;
                while start.elapsed() < slice {
                    for _ in 0..10 {
                        let t = &tokens[at];
                        if s >= 6 {
                            let (m, sig) = &sigs[at];
                            pk.verify_sig(m, sig).expect("valid");
                        }
                        match s % 6 {
                            0 => {
                                let mut buf = token::Buf::new();
                                black_box(token::split(t, &mut buf).expect("split"));
                            }
                            1 => {
                                let mut buf = token::Buf::new();
                                let p = token::split(t, &mut buf).expect("split");
                                black_box(claims::parse(p.payload).expect("parse"));
                            }
                            2 => {
                                let mut buf = token::Buf::new();
                                let p = token::split(t, &mut buf).expect("split");
                                let mut c = claims::parse(p.payload).expect("parse");
                                let f = claims::check(&mut c, &v.config().claim_rules(), now)
                                    .expect("check");
                                black_box(v.config().namespaces.principal(0, f).expect("owner"));
                            }
                            3 => {
                                black_box(v.jwks(0).expect("jwks").key(KID).await.expect("key"));
                            }
                            4 if s == 4 => {
                                let (m, sig) = &sigs[at];
                                pk.verify_sig(m, sig).expect("valid");
                            }
                            5 => {
                                black_box(v.verify(t, now).await.expect("valid"));
                            }
                            _ => {}
                        }
                        at = (at + 1) % tokens.len();
                        n += 1;
                    }
                }
                round[s] = start.elapsed().as_secs_f64() * 1e9 / n as f64;
            }
            per_round.push(round);
        }
        let median = |mut v: Vec<f64>| {
            v.retain(|x| x.is_finite());
            v.sort_by(f64::total_cmp);
            v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
        };
        for (s, name) in stages.iter().enumerate() {
            let ns = median(per_round.iter().map(|r| r[s]).collect());
            if !ns.is_finite() {
                continue;
            }
            let over_raw = median(per_round.iter().map(|r| r[s] - r[4]).collect());
            println!(
                "{}",
                json!({"stage": name, "ns_per_token": ns, "minus_raw_ns": over_raw})
            );
        }
        println!(
            "{}",
            json!({"raw_over_full_rate": median(per_round.iter().map(|r| r[4] / r[5]).collect())})
        );
    });
}
