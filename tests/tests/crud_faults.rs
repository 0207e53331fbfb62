//! crud under DynamoDB faults: the real `crud` binary under the Runtime API emulator, talking to
//! moto through the project's fault-injecting proxy (`harness::fault_proxy`, put in
//! `AWS_ENDPOINT_URL_DYNAMODB`). One test per fault class, with the exact status and `code`;
//! then a mixed schedule of a few hundred requests from two users checked against a model kept
//! by the test (every 2xx's effect is in the table, every non-2xx changed nothing, 0 lost
//! writes, 0 duplicates).

mod crud_support;

use crud_support::*;
use harness::fault_proxy::{Fault, FaultProxy};
use serde_json::json;

struct Faulty {
    c: Crud,
    proxy: FaultProxy,
}

async fn start_with(single_threaded: bool) -> Faulty {
    let proxy = FaultProxy::start().await;
    let c = Crud::start_with(Options {
        instances: 1,
        single_threaded,
        env: vec![("AWS_ENDPOINT_URL_DYNAMODB", proxy.endpoint())],
    })
    .await;
    proxy.set_upstream(&c.moto.endpoint());
    Faulty { c, proxy }
}

async fn start() -> Faulty {
    start_with(false).await
}

/// Item ids stored in `user`'s partition (items only).
async fn item_keys(c: &Crud, user: &str) -> Vec<String> {
    c.stored(user)
        .await
        .into_iter()
        .map(|(k, _)| k)
        .filter(|k| k.starts_with("item#"))
        .collect()
}

/// A 503 `service_unavailable` with `Retry-After`, a problem document that names no internals.
fn assert_unavailable(r: &Resp) {
    r.expect_err(503, "service_unavailable");
    let ra = r.header("retry-after").expect("Retry-After on a 503");
    assert!(
        ra.parse::<u64>().is_ok_and(|s| (1..=60).contains(&s)),
        "Retry-After {ra:?}"
    );
    let lower = r.body.to_ascii_lowercase();
    for word in [
        "dynamo",
        "exception",
        "throttl",
        "throughput",
        "amz",
        "table",
        "127.0.0.1",
        "timeout",
        "dispatch",
        "connector",
    ] {
        assert!(
            !lower.contains(word),
            "problem body names an internal ({word}): {}",
            r.body
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Transient faults that clear within the SDK's retries: the request succeeds, once.

#[tokio::test(flavor = "multi_thread")]
async fn throttling_that_clears_succeeds_once() {
    let f = start().await;
    f.proxy
        .inject(Some("PutItem"), Fault::ThroughputExceeded, 1);
    f.proxy.inject(Some("PutItem"), Fault::Throttling, 1);
    let r =
        f.c.call(&Req::post("/items", ALICE, &json!({"n": 1})))
            .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(f.proxy.stats().requests_for("PutItem"), 3);
    assert_eq!(item_keys(&f.c, ALICE).await.len(), 1, "exactly one item");
}

#[tokio::test(flavor = "multi_thread")]
async fn server_errors_and_resets_that_clear_succeed_once() {
    let f = start().await;
    let item = f.c.create(ALICE, json!({"v": 0})).await;
    let p = format!("/items/{}", item["id"].as_str().unwrap());
    for (fault, op, req) in [
        (Fault::InternalServerError, "GetItem", Req::get(&p, ALICE)),
        (Fault::Unavailable503, "Query", Req::get("/items", ALICE)),
        (
            Fault::Reset,
            "UpdateItem",
            Req::put(&p, ALICE, &json!({"v": 1})),
        ),
    ] {
        f.proxy.inject(Some(op), fault.clone(), 1);
        let r = f.c.call(&req).await;
        assert_eq!(r.status, 200, "{fault:?}: {}", r.body);
        assert_eq!(f.proxy.pending(), 0);
    }
    let now = f.c.call(&Req::get(&p, ALICE)).await;
    assert_eq!(now.json["v"], 1);
    assert_eq!(now.json["version"], 2, "the PUT applied once");
}

// ---------------------------------------------------------------------------------------------
// Persistent faults: 503 service_unavailable with Retry-After, nothing changed, healthy after.

#[tokio::test(flavor = "multi_thread")]
async fn persistent_throttling_is_503_with_retry_after() {
    let f = start().await;
    let item = f.c.create(ALICE, json!({"v": 0})).await;
    let p = format!("/items/{}", item["id"].as_str().unwrap());
    for (fault, op, req) in [
        (Fault::ThroughputExceeded, "GetItem", Req::get(&p, ALICE)),
        (Fault::Throttling, "Query", Req::get("/items", ALICE)),
        (
            Fault::ThroughputExceeded,
            "PutItem",
            Req::post("/items", ALICE, &json!({"new": true})),
        ),
        (
            Fault::Throttling,
            "UpdateItem",
            Req::put(&p, ALICE, &json!({"v": 9})),
        ),
        (Fault::Throttling, "DeleteItem", Req::delete(&p, ALICE)),
    ] {
        f.proxy.always(Some(op), fault.clone());
        let r = f.c.call(&req).await;
        assert_unavailable(&r);
        f.proxy.clear();
    }
    // Nothing changed, and the function is healthy for the next request.
    assert_eq!(item_keys(&f.c, ALICE).await.len(), 1);
    let now = f.c.call(&Req::get(&p, ALICE)).await;
    assert_eq!(now.status, 200);
    assert_eq!(now.json, item, "the item is exactly as it was");
}

#[tokio::test(flavor = "multi_thread")]
async fn persistent_server_errors_and_resets_are_503() {
    let f = start().await;
    let item = f.c.create(ALICE, json!({"v": 0})).await;
    let p = format!("/items/{}", item["id"].as_str().unwrap());
    for (fault, op, req) in [
        (
            Fault::InternalServerError,
            "PutItem",
            Req::post("/items", ALICE, &json!({"new": true})),
        ),
        (
            Fault::Unavailable503,
            "UpdateItem",
            Req::patch(&p, ALICE, &json!({"v": 2})),
        ),
        (Fault::Reset, "DeleteItem", Req::delete(&p, ALICE)),
        (Fault::Reset, "GetItem", Req::get(&p, ALICE)),
        (
            Fault::InternalServerError,
            "TransactWriteItems",
            Req::post("/items", ALICE, &json!({"idem": true})).header("idempotency-key", "k-500"),
        ),
    ] {
        f.proxy.always(Some(op), fault.clone());
        let r = f.c.call(&req).await;
        assert_unavailable(&r);
        f.proxy.clear();
        let again = f.c.call(&Req::get(&p, ALICE)).await;
        assert_eq!(again.status, 200, "healthy after {fault:?}");
        assert_eq!(again.json, item, "{fault:?} changed nothing");
    }
    assert_eq!(item_keys(&f.c, ALICE).await.len(), 1);
    let stats = f.proxy.stats();
    assert!(stats.faults_named("reset") >= 2, "{stats:?}");
}

// ---------------------------------------------------------------------------------------------
// Transaction cancellations on the idempotency record.

#[tokio::test(flavor = "multi_thread")]
async fn transaction_conflict_on_the_idempotency_record_is_409_in_flight() {
    let f = start().await;
    let body = json!({"pay": 10});
    let post = Req::post("/items", ALICE, &body).header("idempotency-key", "pay-1");
    f.proxy.inject(
        Some("TransactWriteItems"),
        Fault::TransactionCanceled(vec!["TransactionConflict", "None"]),
        1,
    );
    let r = f.c.call(&post).await;
    r.expect_err(409, "idempotency_in_flight");
    assert!(r.header("retry-after").is_some(), "Retry-After on 409");
    assert!(item_keys(&f.c, ALICE).await.is_empty(), "no item yet");
    // The client retries later: exactly one item.
    let first = f.c.call(&post).await;
    assert_eq!(first.status, 201, "{}", first.body);
    let replay = f.c.call(&post).await;
    assert_eq!(replay.status, 201);
    assert_eq!(replay.json["id"], first.json["id"]);
    assert_eq!(item_keys(&f.c, ALICE).await.len(), 1, "never a duplicate");
}

#[tokio::test(flavor = "multi_thread")]
async fn condition_failed_on_an_existing_record_replays_the_first_answer() {
    let f = start().await;
    let body = json!({"pay": 20});
    let post = Req::post("/items", ALICE, &body).header("idempotency-key", "pay-2");
    let first = f.c.call(&post).await;
    assert_eq!(first.status, 201);
    // The proxy answers the retry's transaction itself, without the old item in the reason:
    // crud reads the record and replays it.
    f.proxy.inject(
        Some("TransactWriteItems"),
        Fault::TransactionCanceled(vec!["ConditionalCheckFailed", "None"]),
        1,
    );
    let again = f.c.call(&post).await;
    assert_eq!(again.status, 201, "{}", again.body);
    assert_eq!(again.json["id"], first.json["id"]);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    // The same cancellation with no record behind it: in flight, not a 500, nothing written.
    f.proxy.inject(
        Some("TransactWriteItems"),
        Fault::TransactionCanceled(vec!["ConditionalCheckFailed", "None"]),
        1,
    );
    let other =
        f.c.call(&Req::post("/items", ALICE, &body).header("idempotency-key", "pay-3"))
            .await;
    other.expect_err(409, "idempotency_in_flight");
    assert_eq!(item_keys(&f.c, ALICE).await.len(), 1);
}
