//! Warm throughput of the `crud` binary itself under the Runtime API emulator, against moto on
//! 127.0.0.1, next to the hello-world `lambda_runtime` binary (the tests crate's `hello_lambda`,
//! the cold-start reference too) measured the same way in the same run: sequential invocations
//! through one warm instance (what one Lambda instance does), and through 2 instances at once.
//! Cold starts (crud's included) are `bench_coldstart`'s (`bench/run.sh coldstart`).
//!
//! The last cases run the deployment-wide rate limit (`RATE_LIMIT_SCOPE=deployment`, a limit no
//! run reaches) through the project's fault proxy, which counts the DynamoDB requests per
//! operation: `dynamodb_calls_per_request` is measured, not assumed (one counter `UpdateItem`
//! plus the route's own call).
//!
//! Usage: `cargo build --release -p tests --bin hello_lambda && cargo bench -p crud --bench binary`
//! (`CRUD_BENCH_SECONDS`, default 3). Prints JSON lines.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use harness::dynamo;
use harness::fault_proxy::FaultProxy;
use harness::moto::Moto;
use harness::runtime_api::{Function, Outcome};
use serde_json::{json, Value};

const SECRET: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
const SUB: &str = "5f3c1e2a-8b7d-4c6e-9f01-23456789abcd";

fn event(method: &str, resource: &str, path: &str, id: Option<&str>, body: Option<&str>) -> Value {
    let mut ev: Value =
        serde_json::from_str(include_str!("../tests/fixtures/apigw-rest-get-item.json"))
            .expect("fixture");
    ev["httpMethod"] = method.into();
    ev["resource"] = resource.into();
    ev["path"] = path.into();
    ev["pathParameters"] = id.map_or(Value::Null, |id| json!({ "id": id }));
    ev["requestContext"]["resourcePath"] = resource.into();
    ev["requestContext"]["authorizer"]["sub"] = SUB.into();
    if let Some(b) = body {
        ev["body"] = b.into();
        ev["headers"]["Content-Type"] = "application/json".into();
        ev["multiValueHeaders"]["Content-Type"] = json!(["application/json"]);
    }
    ev
}

fn status(o: &Outcome) -> u64 {
    match o {
        Outcome::Response(v) => v["statusCode"].as_u64().unwrap_or(0),
        Outcome::Error { .. } => 0,
    }
}

async fn throughput(fns: Vec<Function>, ev: Value, secs: f64, name: &str, want: u64) -> Value {
    let fns: Vec<Arc<Function>> = fns.into_iter().map(Arc::new).collect();
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for f in &fns {
        let (f, ev) = (f.clone(), ev.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < deadline {
                let out = f.invoke(&ev).await;
                assert!(status(&out) == want, "{out:?}");
                n += 1;
            }
            n
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.expect("task");
    }
    let el = t0.elapsed().as_secs_f64();
    json!({"case": name, "instances": fns.len(), "requests": total, "requests_per_sec": total as f64 / el})
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return; // `cargo test --benches` / `--list`: nothing to run
    }
    let secs: f64 = std::env::var("CRUD_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    let crud = PathBuf::from(env!("CARGO_BIN_EXE_crud"));
    let hello = crud.parent().expect("dir").join("hello_lambda");
    assert!(
        hello.exists(),
        "{} missing: cargo build --release -p tests --bin hello_lambda",
        hello.display()
    );

    let moto = Moto::start();
    let ddb = dynamo::client(&moto);
    dynamo::create_items_table(&ddb, "items").await;
    let env = dynamo::crud_env(
        &moto,
        "items",
        &[("CURSOR_SECRET", SECRET), ("RATE_LIMIT_PER_MINUTE", "0")],
    );

    let ping = json!({"ping": 1});
    let mut out = Vec::new();

    // `n` warm instances of crud with `env`.
    let start_with = |env: Vec<(String, String)>, n: usize| {
        let crud = crud.clone();
        async move {
            let mut v = Vec::new();
            for _ in 0..n {
                let f = Function::start(&crud, &env).await;
                assert_eq!(f.wait_init().await, None);
                v.push(f);
            }
            v
        }
    };
    // A warm instance: create one item, then read it repeatedly.
    let f = start_with(env.clone(), 1).await;
    let made = match f[0]
        .invoke(&event(
            "POST",
            "/items",
            "/items",
            None,
            Some(r#"{"title":"milk","qty":2}"#),
        ))
        .await
    {
        Outcome::Response(v) => v,
        other => panic!("{other:?}"),
    };
    let item: Value = serde_json::from_str(made["body"].as_str().expect("body")).expect("item");
    let id = item["id"].as_str().expect("id").to_string();
    let get = event(
        "GET",
        "/items/{id}",
        &format!("/items/{id}"),
        Some(&id),
        None,
    );
    let hello_fn = vec![Function::start(&hello, &[]).await];
    out.push(
        throughput(
            hello_fn,
            ping.clone(),
            secs,
            "hello-world ping (emulator reference)",
            0,
        )
        .await,
    );
    out.push(throughput(f, get.clone(), secs, "crud GET /items/{id} (moto)", 200).await);
    let post = event(
        "POST",
        "/items",
        "/items",
        None,
        Some(r#"{"title":"milk","qty":2}"#),
    );
    out.push(
        throughput(
            start_with(env.clone(), 1).await,
            post.clone(),
            secs,
            "crud POST /items (moto)",
            201,
        )
        .await,
    );
    out.push(
        throughput(
            start_with(env.clone(), 2).await,
            get.clone(),
            secs,
            "crud GET /items/{id} (moto)",
            200,
        )
        .await,
    );

    // The shared rate limit: the same GET and POST, DynamoDB reached through the counting proxy.
    let proxy = FaultProxy::to(&moto.endpoint()).await;
    let mut shared_env = env.clone();
    shared_env.retain(|(k, _)| k != "RATE_LIMIT_PER_MINUTE");
    shared_env.extend([
        ("RATE_LIMIT_PER_MINUTE".to_string(), "1000000".to_string()),
        ("RATE_LIMIT_SCOPE".to_string(), "deployment".to_string()),
        ("AWS_ENDPOINT_URL_DYNAMODB".to_string(), proxy.endpoint()),
    ]);
    for (ev, name, want) in [
        (get, "crud GET /items/{id}, shared rate limit (moto)", 200),
        (post, "crud POST /items, shared rate limit (moto)", 201),
    ] {
        proxy.reset_stats();
        let mut r = throughput(
            start_with(shared_env.clone(), 1).await,
            ev,
            secs,
            name,
            want,
        )
        .await;
        let stats = proxy.stats();
        let requests = r["requests"].as_u64().unwrap_or(0).max(1) as f64;
        let per_op: serde_json::Map<String, Value> = stats
            .requests
            .iter()
            .map(|(op, n)| (op.clone(), json!(*n as f64 / requests)))
            .collect();
        r["dynamodb_calls_per_request"] = json!(stats.total_requests() as f64 / requests);
        r["dynamodb_calls_per_request_by_operation"] = Value::Object(per_op);
        out.push(r);
    }
    for r in out {
        println!("{r}");
    }
}
