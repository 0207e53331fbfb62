//! Handler overhead excluding the DynamoDB round trips: event bytes → decoded request → identity,
//! rate limit, routing → validated body / id → DynamoDB request attributes → item JSON →
//! Lambda response bytes. Reference in the same run: `serde_json` parsing the same event into a
//! `Value` and serialising it back (the least any JSON Lambda does with its event).
//!
//! The rate limit is the deployment-wide one (`RATE_LIMIT_SCOPE=deployment`, the default): the
//! first-line check, the counter's `UpdateItem` attributes, and the decision on the count it
//! returns (`crud::limits` without its round trip); the `*_instance_limit` cases use the
//! per-instance in-memory limiter instead. Each overhead function also counts the DynamoDB
//! requests it prepares (written as JSON lines before criterion's output): with the shared limit,
//! one `UpdateItem` (the one write the limit adds) plus the route's own call.

use std::hint::black_box;
use std::time::SystemTime;

use criterion::{criterion_group, criterion_main, Criterion};
use crud::config::Settings;
use crud::handler::{to_api_request, to_lambda_response, CrudEvent};
use crud::ids::ItemId;
use crud::ratelimit::{unix_ms, Admission, CallerLimiter, SharedWindow};
use crud::store::{self, Record, Store};
use crud::Deps;
use crud::{identity, items, routes};

const POST: &str = include_str!("../tests/fixtures/apigw-http-post-items.json");
const GET: &str = include_str!("../tests/fixtures/apigw-rest-get-item.json");

fn deps() -> Deps {
    let conf = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .build();
    let store = Store::new(aws_sdk_dynamodb::Client::from_conf(conf), "items".into());
    let settings = Settings::from_lookup(|k| match k {
        "TABLE_NAME" => Some("items".into()),
        "RATE_LIMIT_PER_MINUTE" => Some("1000000".into()),
        "CURSOR_SECRET" => Some("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=".into()),
        _ => None,
    })
    .expect("settings");
    Deps::new(store, settings).expect("deps")
}

/// Which per-caller limit a case runs, and the DynamoDB requests it prepares (counted).
enum Limit<'a> {
    /// `crud::limits`' deployment-wide path without the round trip; `returned` stands for the
    /// counter's `UPDATED_NEW` answer.
    Shared(&'a SharedWindow, &'a store::Attrs),
    Instance(&'a CallerLimiter),
}

/// The per-caller limit's work for one request; the DynamoDB requests it prepares.
fn limit(l: &Limit, sub: &str) -> u32 {
    match l {
        Limit::Shared(w, returned) => match w.admit(sub, unix_ms(SystemTime::now())) {
            Admission::Count(win) => {
                black_box(store::counter_update(
                    sub,
                    &win.sort_key(),
                    win.expires_at(),
                ));
                let n = store::counter_from(Some(returned)).expect("count");
                black_box(w.decide(sub, win, n)).expect("within the limit");
                1
            }
            Admission::Refused { .. } => panic!("refused"),
        },
        Limit::Instance(l) => {
            black_box(l.check(sub)).expect("within the limit");
            0
        }
    }
}

/// `POST /items` up to the PutItem call, then the 201 as Lambda response bytes; with the
/// DynamoDB requests prepared on the way.
fn post_overhead(event: &[u8], deps: &Deps, l: &Limit) -> (Vec<u8>, u32) {
    let ev: CrudEvent = serde_json::from_slice(event).expect("event");
    let req = to_api_request(ev);
    let sub = identity::caller(req.sub.as_deref()).expect("sub");
    let calls = limit(l, sub);
    let r = routes::resource(req.route.as_deref(), req.path_id.as_deref(), &req.path)
        .expect("resource");
    let _route = routes::route(r, &req.method).expect("route");
    let now = SystemTime::now();
    let id = deps.ids.next_id(now);
    let p = items::prepare_create(&req, deps.settings.limits, id, now, 86_400).expect("valid");
    black_box(store::record_attrs(sub, &p.record));
    let resp = items::created(&p.id.to_string(), 1, p.body);
    let bytes = serde_json::to_vec(&to_lambda_response(resp, true)).expect("json");
    (bytes, calls + 1)
}

/// `GET /items/{id}` up to GetItem, then rendering the returned attributes; with the DynamoDB
/// requests prepared on the way.
fn get_overhead(event: &[u8], returned: &store::Attrs, l: &Limit) -> (Vec<u8>, u32) {
    let ev: CrudEvent = serde_json::from_slice(event).expect("event");
    let req = to_api_request(ev);
    let sub = identity::caller(req.sub.as_deref()).expect("sub");
    let calls = limit(l, sub);
    let r = routes::resource(req.route.as_deref(), req.path_id.as_deref(), &req.path)
        .expect("resource");
    let _route = routes::route(r, &req.method).expect("route");
    let id = ItemId::parse(req.path_id.as_deref().expect("id")).expect("id");
    black_box(store::key(sub, &format!("{}{id}", store::ITEM_PREFIX)));
    let rec = store::record_from(returned).expect("record");
    let body = items::render(&id.to_string(), &rec).expect("render");
    let resp = crud::ApiResponse::json(http::StatusCode::OK, body);
    let bytes = serde_json::to_vec(&to_lambda_response(resp, false)).expect("json");
    (bytes, calls + 1)
}

fn bench(c: &mut Criterion) {
    let deps = deps();
    let returned = store::record_attrs(
        "5f3c1e2a-8b7d-4c6e-9f01-23456789abcd",
        &Record {
            sk: "item#01HZY3K7Q8W6V5T4S3R2P1N0MA".into(),
            doc: r#"{"qty":2,"title":"milk"}"#.into(),
            version: 3,
            created_at: "2026-11-22T00:00:00.000Z".into(),
            updated_at: "2026-11-22T00:00:01.000Z".into(),
        },
    );
    // The shared limit at its largest setting, the counter answering "1st request this minute"
    // (the decision costs the same for any count within the limit).
    let window = SharedWindow::new(std::num::NonZeroU32::new(1_000_000).expect("limit"));
    let count: store::Attrs = std::collections::HashMap::from([(
        store::COUNT.to_owned(),
        aws_sdk_dynamodb::types::AttributeValue::N("1".into()),
    )]);
    let shared = Limit::Shared(&window, &count);
    let in_memory = CallerLimiter::per_minute(std::num::NonZeroU32::new(1_000_000_000).expect("q"));
    let instance = Limit::Instance(&in_memory);
    for (case, l) in [("shared", &shared), ("instance", &instance)] {
        let (post, post_calls) = post_overhead(POST.as_bytes(), &deps, l);
        let (get, get_calls) = get_overhead(GET.as_bytes(), &returned, l);
        assert!(!post.is_empty() && !get.is_empty());
        let limit_writes = u32::from(case == "shared");
        println!(
            "{}",
            serde_json::json!({"rate_limit": case, "dynamodb_calls_per_request": {
                "POST /items": {"total": post_calls, "rate_limit_UpdateItem": limit_writes, "PutItem": 1},
                "GET /items/{id}": {"total": get_calls, "rate_limit_UpdateItem": limit_writes, "GetItem": 1},
            }})
        );
    }

    let mut g = c.benchmark_group("crud");
    g.bench_function("reference_serde_value_roundtrip_post_event", |b| {
        b.iter(|| {
            let v: serde_json::Value =
                serde_json::from_slice(black_box(POST.as_bytes())).expect("json");
            serde_json::to_vec(&v).expect("json")
        })
    });
    g.bench_function("post_items_overhead", |b| {
        b.iter(|| post_overhead(black_box(POST.as_bytes()), &deps, &shared))
    });
    g.bench_function("post_items_overhead_instance_limit", |b| {
        b.iter(|| post_overhead(black_box(POST.as_bytes()), &deps, &instance))
    });
    g.bench_function("reference_serde_value_roundtrip_get_event", |b| {
        b.iter(|| {
            let v: serde_json::Value =
                serde_json::from_slice(black_box(GET.as_bytes())).expect("json");
            serde_json::to_vec(&v).expect("json")
        })
    });
    g.bench_function("get_item_overhead", |b| {
        b.iter(|| get_overhead(black_box(GET.as_bytes()), &returned, &shared))
    });
    g.bench_function("get_item_overhead_instance_limit", |b| {
        b.iter(|| get_overhead(black_box(GET.as_bytes()), &returned, &instance))
    });
    // The limits alone (their share of the cases above), less noisy on a shared machine.
    let sub = "5f3c1e2a-8b7d-4c6e-9f01-23456789abcd";
    g.bench_function("rate_limit_shared_only", |b| {
        b.iter(|| limit(&shared, black_box(sub)))
    });
    g.bench_function("rate_limit_instance_only", |b| {
        b.iter(|| limit(&instance, black_box(sub)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
