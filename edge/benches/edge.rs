//! Edge handling cost, event JSON bytes → result JSON bytes (what the Lambda runtime and the
//! WebAssembly wrapper pay), plus the typed core without JSON.
//!
//! References in the same run: `serde_json` round trip of the same viewer-request and
//! viewer-response events (parse to `Value` and serialise back), the floor any JSON-in/JSON-out
//! function pays for those bytes.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use edge::event::Event;
use edge::{Context, Edge};

const CONFIG: &str = r#"{
  "cors": {"allowed_origins": ["https://app.example.com"], "allow_credentials": true},
  "rate_limit": {"enabled": true, "requests_per_minute": 1000000000},
  "origin_verify": {"key_id": "v1", "secret": "0123456789abcdef0123456789abcdef-bench"},
  "canary": {
    "weight_percent": 10,
    "cookie_keys": [{"id": "k1", "secret": "bench-cookie-key-bench-cookie-key-0000"}],
    "origin": {"path": "/canary"}
  }
}"#;

fn viewer_request() -> String {
    include_str!("../tests/fixtures/viewer-request-body.json").to_string()
}

fn viewer_response() -> String {
    include_str!("../tests/fixtures/viewer-response.json")
        .replace(r#""accept": [{ "key": "accept", "value": "*/*" }]"#, r#""accept": [{ "key": "accept", "value": "*/*" }], "origin": [{"key": "Origin", "value": "https://app.example.com"}]"#)
}

fn bench(c: &mut Criterion) {
    let edge = match Edge::from_json(CONFIG.as_bytes()) {
        Ok(e) => e,
        Err(e) => panic!("bench config: {e}"),
    };
    let mut now = 1_700_000_000_000u64;
    let mut ctx = || {
        now += 1;
        Context {
            now_ms: now,
            random: [7; 16],
        }
    };
    let vreq = viewer_request();
    let vresp = viewer_response();
    let oresp = include_str!("../tests/fixtures/origin-response.json");
    let oreq = include_str!("../tests/fixtures/origin-request.json");

    let mut g = c.benchmark_group("edge");
    g.bench_function(
        "reference: serde_json Value round trip (viewer-request)",
        |b| {
            b.iter(|| {
                let v: serde_json::Value =
                    serde_json::from_slice(black_box(vreq.as_bytes())).unwrap_or_default();
                serde_json::to_vec(&v).unwrap_or_default()
            })
        },
    );
    g.bench_function("viewer-request json->json", |b| {
        b.iter(|| edge.handle_json(black_box(vreq.as_bytes()), &ctx()))
    });
    g.bench_function(
        "reference: serde_json Value round trip (viewer-response)",
        |b| {
            b.iter(|| {
                let v: serde_json::Value =
                    serde_json::from_slice(black_box(vresp.as_bytes())).unwrap_or_default();
                serde_json::to_vec(&v).unwrap_or_default()
            })
        },
    );
    g.bench_function("viewer-response json->json", |b| {
        b.iter(|| edge.handle_json(black_box(vresp.as_bytes()), &ctx()))
    });
    g.bench_function("origin-request json->json", |b| {
        b.iter(|| edge.handle_json(black_box(oreq.as_bytes()), &ctx()))
    });
    g.bench_function("origin-response json->json", |b| {
        b.iter(|| edge.handle_json(black_box(oresp.as_bytes()), &ctx()))
    });
    let parsed: Event = match serde_json::from_str(&vreq) {
        Ok(e) => e,
        Err(e) => panic!("fixture: {e}"),
    };
    g.bench_function("viewer-request typed (no JSON)", |b| {
        b.iter(|| edge.handle(black_box(parsed.clone()), &ctx()))
    });
    let parsed_resp: Event = match serde_json::from_str(&vresp) {
        Ok(e) => e,
        Err(e) => panic!("fixture: {e}"),
    };
    g.bench_function("viewer-response typed (no JSON)", |b| {
        b.iter(|| edge.handle(black_box(parsed_resp.clone()), &ctx()))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
