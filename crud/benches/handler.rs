//! Handler overhead excluding the DynamoDB round trip: event bytes → decoded request → identity,
//! rate limit, routing → validated body / id → DynamoDB request attributes → item JSON →
//! Lambda response bytes. Reference in the same run: `serde_json` parsing the same event into a
//! `Value` and serialising it back (the least any JSON Lambda does with its event).

use std::hint::black_box;
use std::time::SystemTime;

use criterion::{criterion_group, criterion_main, Criterion};
use crud::config::Settings;
use crud::handler::{to_api_request, to_lambda_response, CrudEvent};
use crud::ids::ItemId;
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

/// `POST /items` up to the PutItem call, then the 201 as Lambda response bytes.
fn post_overhead(event: &[u8], deps: &Deps) -> Vec<u8> {
    let ev: CrudEvent = serde_json::from_slice(event).expect("event");
    let req = to_api_request(ev);
    let sub = identity::caller(req.sub.as_deref()).expect("sub");
    deps.limiter.as_ref().map(|l| l.check(sub));
    let r = routes::resource(req.route.as_deref(), req.path_id.as_deref(), &req.path)
        .expect("resource");
    let _route = routes::route(r, &req.method).expect("route");
    let now = SystemTime::now();
    let id = deps.ids.next_id(now);
    let p = items::prepare_create(&req, deps.settings.limits, id, now, 86_400).expect("valid");
    black_box(store::record_attrs(sub, &p.record));
    let resp = items::created(&p.id.to_string(), 1, p.body);
    serde_json::to_vec(&to_lambda_response(resp, true)).expect("json")
}

/// `GET /items/{id}` up to GetItem, then rendering the returned attributes.
fn get_overhead(event: &[u8], deps: &Deps, returned: &store::Attrs) -> Vec<u8> {
    let ev: CrudEvent = serde_json::from_slice(event).expect("event");
    let req = to_api_request(ev);
    let sub = identity::caller(req.sub.as_deref()).expect("sub");
    deps.limiter.as_ref().map(|l| l.check(sub));
    let r = routes::resource(req.route.as_deref(), req.path_id.as_deref(), &req.path)
        .expect("resource");
    let _route = routes::route(r, &req.method).expect("route");
    let id = ItemId::parse(req.path_id.as_deref().expect("id")).expect("id");
    black_box(store::key(sub, &format!("{}{id}", store::ITEM_PREFIX)));
    let rec = store::record_from(returned).expect("record");
    let body = items::render(&id.to_string(), &rec).expect("render");
    let resp = crud::ApiResponse::json(http::StatusCode::OK, body);
    serde_json::to_vec(&to_lambda_response(resp, false)).expect("json")
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
    assert!(!post_overhead(POST.as_bytes(), &deps).is_empty());
    assert!(!get_overhead(GET.as_bytes(), &deps, &returned).is_empty());

    let mut g = c.benchmark_group("crud");
    g.bench_function("reference_serde_value_roundtrip_post_event", |b| {
        b.iter(|| {
            let v: serde_json::Value =
                serde_json::from_slice(black_box(POST.as_bytes())).expect("json");
            serde_json::to_vec(&v).expect("json")
        })
    });
    g.bench_function("post_items_overhead", |b| {
        b.iter(|| post_overhead(black_box(POST.as_bytes()), &deps))
    });
    g.bench_function("reference_serde_value_roundtrip_get_event", |b| {
        b.iter(|| {
            let v: serde_json::Value =
                serde_json::from_slice(black_box(GET.as_bytes())).expect("json");
            serde_json::to_vec(&v).expect("json")
        })
    });
    g.bench_function("get_item_overhead", |b| {
        b.iter(|| get_overhead(black_box(GET.as_bytes()), &deps, &returned))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
