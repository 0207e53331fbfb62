//! crud under DynamoDB faults: the real `crud` binary under the Runtime API emulator, talking to
//! moto through the project's fault-injecting proxy (`harness::fault_proxy`, put in
//! `AWS_ENDPOINT_URL_DYNAMODB`). One test per fault class, with the exact status and `code`;
//! then a mixed schedule of a few hundred requests from two users checked against a model kept
//! by the test (every 2xx's effect is in the table, every non-2xx changed nothing, 0 lost
//! writes, 0 duplicates).

use std::time::{Duration, Instant};

use harness::crud_fn::*;
use harness::fault_proxy::{Fault, FaultProxy};
use serde_json::{json, Value};

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

// ---------------------------------------------------------------------------------------------
// A reply lost after the write happened: the SDK's retry meets this request's own write. The
// answer is the one the write deserves, never a 412, 404 or 500 for a change that was made.

#[tokio::test(flavor = "multi_thread")]
async fn lost_reply_after_a_create_is_one_201() {
    let f = start().await;
    f.proxy.inject(Some("PutItem"), Fault::LoseReply, 1);
    let r =
        f.c.call(&Req::post("/items", ALICE, &json!({"n": 1})))
            .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let stats = f.proxy.stats();
    assert_eq!(stats.requests_for("PutItem"), 2, "{stats:?}");
    assert_eq!(stats.faults_named("lose_reply"), 1);
    let keys = item_keys(&f.c, ALICE).await;
    assert_eq!(
        keys,
        vec![format!("item#{}", r.json["id"].as_str().unwrap())]
    );
    let got =
        f.c.call(&Req::get(
            &format!("/items/{}", r.json["id"].as_str().unwrap()),
            ALICE,
        ))
        .await;
    assert_eq!(got.json, r.json);
    assert!(
        !got.body.contains("write_token"),
        "the write token is never echoed"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn lost_replies_after_updates_answer_as_the_write_deserves() {
    let f = start().await;
    let item = f.c.create(ALICE, json!({"v": 0})).await;
    let p = format!("/items/{}", item["id"].as_str().unwrap());
    // (request, expected version after it)
    let steps = [
        Req::put(&p, ALICE, &json!({"v": 1})).header("if-match", "\"1\""),
        Req::put(&p, ALICE, &json!({"v": 2})),
        Req::patch(&p, ALICE, &json!({"w": 3})).header("if-match", "\"3\""),
        Req::patch(&p, ALICE, &json!({"x": 4})),
    ];
    for (i, req) in steps.iter().enumerate() {
        f.proxy.inject(Some("UpdateItem"), Fault::LoseReply, 1);
        let r = f.c.call(req).await;
        assert_eq!(r.status, 200, "step {i}: {}", r.body);
        assert_eq!(r.json["version"], i as u64 + 2, "step {i}: applied once");
        let now = f.c.call(&Req::get(&p, ALICE)).await;
        assert_eq!(now.json, r.json, "step {i}: the answer is what is stored");
    }
    let now = f.c.call(&Req::get(&p, ALICE)).await;
    assert_eq!(client_part(&now.json), json!({"v": 2, "w": 3, "x": 4}));
    assert!(!now.body.contains("write_token"));
    // The profile: create-only PUT (`If-None-Match: *`) whose reply was lost is a 201, not a 412.
    f.proxy.inject(Some("UpdateItem"), Fault::LoseReply, 1);
    let prof =
        f.c.call(&Req::put("/profile", ALICE, &json!({"name": "a"})).header("if-none-match", "*"))
            .await;
    assert_eq!(prof.status, 201, "{}", prof.body);
    f.proxy.inject(Some("UpdateItem"), Fault::LoseReply, 1);
    let prof =
        f.c.call(&Req::put("/profile", ALICE, &json!({"name": "b"})))
            .await;
    assert_eq!(prof.status, 200, "{}", prof.body);
    assert_eq!(prof.json["version"], 2, "the upsert applied once");
    assert_eq!(f.proxy.stats().faults_named("lose_reply"), 6);
}

#[tokio::test(flavor = "multi_thread")]
async fn lost_reply_after_a_delete_is_204() {
    let f = start().await;
    for if_match in [None, Some("\"1\"")] {
        let item = f.c.create(ALICE, json!({"d": 1})).await;
        let p = format!("/items/{}", item["id"].as_str().unwrap());
        f.proxy.inject(Some("DeleteItem"), Fault::LoseReply, 1);
        let mut req = Req::delete(&p, ALICE);
        if let Some(v) = if_match {
            req = req.header("if-match", v);
        }
        let r = f.c.call(&req).await;
        assert_eq!(r.status, 204, "If-Match {if_match:?}: {}", r.body);
        f.c.call(&Req::get(&p, ALICE))
            .await
            .expect_err(404, "not_found");
    }
    // A delete of an id that never existed is still a 404 when no attempt was uncertain.
    f.c.call(&Req::delete("/items/01ARZ3NDEKTSV4RRFFQ69G5FAV", ALICE))
        .await
        .expect_err(404, "not_found");
    assert!(item_keys(&f.c, ALICE).await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn every_reply_lost_is_settled_by_a_read() {
    let f = start().await;
    // Every attempt of the write is forwarded and its reply lost; the read that settles the
    // outcome finds this request's token on the item.
    f.proxy.always(Some("PutItem"), Fault::LoseReply);
    let created =
        f.c.call(&Req::post("/items", ALICE, &json!({"s": 1})))
            .await;
    assert_eq!(created.status, 201, "{}", created.body);
    f.proxy.clear();
    let p = format!("/items/{}", created.json["id"].as_str().unwrap());
    f.proxy.always(Some("UpdateItem"), Fault::LoseReply);
    let put = f.c.call(&Req::put(&p, ALICE, &json!({"s": 2}))).await;
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(put.json["version"], 2);
    f.proxy.clear();
    f.proxy.always(Some("DeleteItem"), Fault::LoseReply);
    let del = f.c.call(&Req::delete(&p, ALICE)).await;
    assert_eq!(del.status, 204, "{}", del.body);
    f.proxy.clear();
    assert!(item_keys(&f.c, ALICE).await.is_empty());
    let stats = f.proxy.stats();
    assert!(stats.faults_named("lose_reply") >= 6, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_late_reply_past_the_attempt_timeout_is_one_write() {
    let f = start().await;
    let item = f.c.create(ALICE, json!({"v": 0})).await;
    let p = format!("/items/{}", item["id"].as_str().unwrap());
    f.proxy.inject(
        Some("UpdateItem"),
        Fault::DelayReply(Duration::from_secs(5)),
        1,
    );
    let r =
        f.c.call(&Req::put(&p, ALICE, &json!({"v": 1})).header("if-match", "\"1\""))
            .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json["version"], 2);
    assert_eq!(f.proxy.stats().requests_for("UpdateItem"), 2);
}

// ---------------------------------------------------------------------------------------------
// Idempotent POSTs whose reply was lost.

#[tokio::test(flavor = "multi_thread")]
async fn idempotent_post_whose_reply_was_lost_is_one_item_with_the_original_id() {
    let f = start().await;
    let body = json!({"order": 1});
    let post = Req::post("/items", ALICE, &body).header("idempotency-key", "order-1");
    // The SDK's retry meets the first attempt's transaction: one 201 (not a replay).
    f.proxy
        .inject(Some("TransactWriteItems"), Fault::LoseReply, 1);
    let r = f.c.call(&post).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.header("idempotent-replayed"), None);
    assert_eq!(item_keys(&f.c, ALICE).await.len(), 1);

    // Every reply lost, the settling read too: crud cannot know, answers 503; the client retries
    // with the same key and body and gets the original's id; still exactly one item for it.
    let post2 =
        Req::post("/items", ALICE, &json!({"order": 2})).header("idempotency-key", "order-2");
    f.proxy.always(Some("TransactWriteItems"), Fault::LoseReply);
    f.proxy.always(Some("GetItem"), Fault::LoseReply);
    let lost = f.c.call(&post2).await;
    assert_unavailable(&lost);
    f.proxy.clear();
    let keys = item_keys(&f.c, ALICE).await;
    assert_eq!(keys.len(), 2, "the write happened once: {keys:?}");
    let retry = f.c.call(&post2).await;
    assert_eq!(retry.status, 201, "{}", retry.body);
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    let id = retry.json["id"].as_str().unwrap();
    assert!(keys.contains(&format!("item#{id}")), "the original's id");
    assert_eq!(item_keys(&f.c, ALICE).await, keys, "never a duplicate");
    let got = f.c.call(&Req::get(&format!("/items/{id}"), ALICE)).await;
    assert_eq!(client_part(&got.json), json!({"order": 2}));
}

// ---------------------------------------------------------------------------------------------
// Hangs: past the SDK's attempt timeout, and past the invocation's deadline.

#[tokio::test(flavor = "multi_thread")]
async fn a_hang_that_clears_succeeds_after_the_attempt_timeout() {
    let f = start().await;
    let item = f.c.create(ALICE, json!({"h": 1})).await;
    let p = format!("/items/{}", item["id"].as_str().unwrap());
    f.proxy
        .inject(Some("GetItem"), Fault::Hang(Duration::from_secs(20)), 1);
    let t = Instant::now();
    let r = f.c.call(&Req::get(&p, ALICE)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(t.elapsed() < Duration::from_secs(6), "{:?}", t.elapsed());
    assert_eq!(f.proxy.stats().faults_named("hang"), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn persistent_hangs_answer_503_before_the_invocation_deadline() {
    let f = start().await;
    let item = f.c.create(ALICE, json!({"h": 1})).await;
    let p = format!("/items/{}", item["id"].as_str().unwrap());
    let timeout = Duration::from_millis(1500);
    f.c.fns[0].set_timeout(timeout);
    for (op, req) in [
        ("Query", Req::get("/items", ALICE)),
        ("GetItem", Req::get(&p, ALICE)),
        (
            "PutItem",
            Req::post("/items", ALICE, &json!({"never": true})),
        ),
        ("UpdateItem", Req::put(&p, ALICE, &json!({"h": 2}))),
    ] {
        f.proxy
            .always(Some(op), Fault::Hang(Duration::from_secs(30)));
        let t = Instant::now();
        let r = f.c.call(&req).await;
        let took = t.elapsed();
        assert_unavailable(&r);
        assert!(took < timeout, "{op}: answered after {took:?}");
        f.proxy.clear();
    }
    // Healthy afterwards, nothing changed.
    let now = f.c.call(&Req::get(&p, ALICE)).await;
    assert_eq!(now.json, item);
    assert_eq!(item_keys(&f.c, ALICE).await.len(), 1);
}

// ---------------------------------------------------------------------------------------------
// A mixed fault schedule of a few hundred requests from two users, checked against a model.

/// xorshift64*: a seeded, reproducible schedule.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len() as u64) as usize]
    }
}

/// What the test believes one user's items are: id → (client document, version).
type Model = std::collections::BTreeMap<String, (Value, u64)>;

/// The table's view of one user's items, read from moto directly (not through the proxy).
async fn table_items(c: &Crud, user: &str) -> Model {
    let mut m = Model::new();
    for (k, attrs) in c.stored(user).await {
        let Some(id) = k.strip_prefix("item#") else {
            continue;
        };
        let doc: Value = serde_json::from_str(attrs["doc"].as_s().unwrap()).unwrap();
        let version: u64 = attrs["version"].as_n().unwrap().parse().unwrap();
        m.insert(id.to_owned(), (doc, version));
    }
    m
}

fn merge(doc: &mut Value, patch: &Value) {
    for (k, v) in patch.as_object().unwrap() {
        if v.is_null() {
            doc.as_object_mut().unwrap().remove(k);
        } else {
            doc[k] = v.clone();
        }
    }
}

#[derive(Default, Debug)]
struct Tally {
    requests: u64,
    faulted_requests: u64,
    ok: u64,
    unavailable: u64,
    in_flight: u64,
    expected_4xx: u64,
    lost_writes: u64,
    phantom_writes: u64,
    duplicates: u64,
    replays: u64,
    uncertain_deletes_of_absent: u64,
}

#[tokio::test(flavor = "multi_thread")]
async fn mixed_fault_schedule_keeps_every_acknowledged_write_and_nothing_else() {
    let seed = 0x5eed_0011_u64;
    let f = start_with(true).await;
    let c = &f.c;
    // A short invocation timeout bounds every hang (and the test's time).
    c.fns[0].set_timeout(Duration::from_millis(1000));

    // B's frozen items: A attacks them; nobody may change them.
    let mut frozen = Vec::new();
    for i in 0..3 {
        frozen.push(
            c.create(BOB, json!({"frozen": i})).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let frozen_snapshot = c.stored(BOB).await;

    let users = [ALICE, BOB];
    let mut models = [Model::new(), Model::new()];
    // Idempotency keys that got a 201: key → (body, id).
    let mut keys: [Vec<(String, Value, String)>; 2] = [vec![], vec![]];
    let mut rng = Rng(seed);
    let mut t = Tally::default();
    let started = Instant::now();
    let plain_faults = [
        Fault::ThroughputExceeded,
        Fault::Throttling,
        Fault::InternalServerError,
        Fault::Unavailable503,
        Fault::Reset,
        Fault::LoseReply,
        Fault::LoseReply,
    ];
    const N: usize = 300;
    for step in 0..N {
        let u = rng.below(2) as usize;
        let user = users[u];
        let model = &mut models[u];
        let ids: Vec<String> = model.keys().cloned().collect();
        let some_id = |rng: &mut Rng| -> String {
            if ids.is_empty() || rng.below(10) == 0 {
                // A well-formed id that does not exist (or no longer does).
                "01ARZ3NDEKTSV4RRFFQ69G5FAV".to_owned()
            } else {
                rng.pick(&ids).clone()
            }
        };
        let mut kind = rng.below(100);
        if model.len() >= 30 && kind < 30 {
            kind = 85; // keep partitions small: delete instead of create
        }
        // (request, DynamoDB operations it uses, what it is)
        enum Op {
            Create(Value),
            IdemNew(String, Value),
            IdemReplay(String),
            Get(String),
            List,
            Put(String, Option<u64>, Value),
            Patch(String, Option<u64>, Value),
            Delete(String, Option<u64>),
            Foreign,
        }
        let body = json!({"step": step, "k": rng.below(1000)});
        let (op, req, ops): (Op, Req, &[&str]) = match kind {
            0..=19 => (
                Op::Create(body.clone()),
                Req::post("/items", user, &body),
                &["PutItem"],
            ),
            20..=29 => {
                if !keys[u].is_empty() && rng.below(3) == 0 {
                    let (k, b, id) = rng.pick(&keys[u]).clone();
                    let r = Req::post("/items", user, &b).header("idempotency-key", &k);
                    (Op::IdemReplay(id), r, &["TransactWriteItems", "GetItem"])
                } else {
                    let k = format!("key-{u}-{step}");
                    let r = Req::post("/items", user, &body).header("idempotency-key", &k);
                    (Op::IdemNew(k, body.clone()), r, &["TransactWriteItems"])
                }
            }
            30..=44 => {
                let id = some_id(&mut rng);
                let r = Req::get(&format!("/items/{id}"), user);
                (Op::Get(id), r, &["GetItem"])
            }
            45..=49 => (
                Op::List,
                Req::get("/items", user).query("limit", "100"),
                &["Query"],
            ),
            50..=79 => {
                let id = some_id(&mut rng);
                let current = model.get(&id).map(|(_, v)| *v).unwrap_or(1);
                let if_match = match rng.below(7) {
                    0..=2 => Some(current),
                    3 => Some(current + 7), // stale / wrong
                    _ => None,
                };
                let path = format!("/items/{id}");
                if kind < 65 {
                    let mut r = Req::put(&path, user, &body);
                    if let Some(v) = if_match {
                        r = r.header("if-match", &format!("\"{v}\""));
                    }
                    (Op::Put(id, if_match, body.clone()), r, &["UpdateItem"])
                } else {
                    let patch = if rng.below(3) == 0 {
                        json!({"k": null, "p": step})
                    } else {
                        json!({"p": step})
                    };
                    let mut r = Req::patch(&path, user, &patch);
                    if let Some(v) = if_match {
                        r = r.header("if-match", &format!("\"{v}\""));
                    }
                    (
                        Op::Patch(id, if_match, patch),
                        r,
                        &["GetItem", "UpdateItem"],
                    )
                }
            }
            80..=91 => {
                let id = some_id(&mut rng);
                let current = model.get(&id).map(|(_, v)| *v).unwrap_or(1);
                let if_match = match rng.below(4) {
                    0 => Some(current),
                    1 => Some(current + 3),
                    _ => None,
                };
                let mut r = Req::delete(&format!("/items/{id}"), user);
                if let Some(v) = if_match {
                    r = r.header("if-match", &format!("\"{v}\""));
                }
                (Op::Delete(id, if_match), r, &["DeleteItem"])
            }
            _ => {
                // ALICE touches one of BOB's frozen items; BOB reads his own.
                let id = rng.pick(&frozen).clone();
                let path = format!("/items/{id}");
                if u == 0 {
                    let r = match rng.below(3) {
                        0 => Req::get(&path, ALICE),
                        1 => Req::put(&path, ALICE, &json!({"stolen": true})),
                        _ => Req::delete(&path, ALICE),
                    };
                    (Op::Foreign, r, &["GetItem", "UpdateItem", "DeleteItem"])
                } else {
                    (Op::Get(id), Req::get(&path, BOB), &["GetItem"])
                }
            }
        };
        // Faults: on about half the requests, on one of the operations the request uses, for
        // 1-5 matching requests (4 or more outlast the SDK's attempts: a persistent fault).
        let mut faulted = false;
        let mut delete_uncertain = false;
        if rng.below(2) == 0 {
            let target = *rng.pick(ops);
            let fault = if target == "TransactWriteItems" && rng.below(3) == 0 {
                Fault::TransactionCanceled(if rng.below(2) == 0 {
                    vec!["TransactionConflict", "None"]
                } else {
                    vec!["None", "ThrottlingError"]
                })
            } else if rng.below(40) == 0 {
                Fault::Hang(Duration::from_secs(5))
            } else if rng.below(25) == 0 {
                // Past the attempt timeout (the deadline cuts it to under a second).
                Fault::DelayReply(Duration::from_millis(1200))
            } else {
                rng.pick(&plain_faults).clone()
            };
            // An outcome the client cannot know: no reply, or a 5xx.
            delete_uncertain = target == "DeleteItem"
                && !matches!(
                    fault,
                    Fault::ThroughputExceeded | Fault::Throttling | Fault::TransactionCanceled(_)
                );
            f.proxy.inject(Some(target), fault, 1 + rng.below(5) as u32);
            faulted = true;
            t.faulted_requests += 1;
        }
        let r = c.call(&req).await;
        f.proxy.clear();
        t.requests += 1;
        let ctx = format!(
            "step {step} user {u} {:?} {}: {} {}",
            kind, req.method, r.status, r.body
        );
        assert_ne!(r.status, 500, "{ctx}");
        match r.status {
            503 => {
                assert_unavailable(&r);
                t.unavailable += 1;
            }
            409 => {
                r.expect_err(409, "idempotency_in_flight");
                assert!(r.header("retry-after").is_some(), "{ctx}");
                t.in_flight += 1;
            }
            s if (200..300).contains(&s) => t.ok += 1,
            _ => t.expected_4xx += 1,
        }
        let ok = (200..300).contains(&r.status);
        let before = model.clone();
        // Apply the expected effect of a 2xx to the model; check the status was deserved.
        match op {
            Op::Create(b) => {
                if ok {
                    assert_eq!(r.status, 201, "{ctx}");
                    let id = r.json["id"].as_str().unwrap().to_owned();
                    assert!(!model.contains_key(&id), "{ctx}");
                    model.insert(id, (b, 1));
                } else {
                    assert_eq!(r.status, 503, "{ctx}");
                }
            }
            Op::IdemNew(k, b) => {
                if ok {
                    assert_eq!(r.status, 201, "{ctx}");
                    let id = r.json["id"].as_str().unwrap().to_owned();
                    model.insert(id.clone(), (b.clone(), 1));
                    keys[u].push((k, b, id));
                } else {
                    assert!(matches!(r.status, 503 | 409), "{ctx}");
                }
            }
            Op::IdemReplay(id) => {
                if ok {
                    t.replays += 1;
                    assert_eq!(r.status, 201, "{ctx}");
                    if r.json["id"].as_str() != Some(id.as_str()) {
                        t.duplicates += 1;
                    }
                } else {
                    assert!(matches!(r.status, 503 | 409), "{ctx}");
                }
            }
            Op::Get(id) => match (r.status, model.get(&id)) {
                (200, Some((doc, v))) => {
                    assert_eq!(&client_part(&r.json), doc, "{ctx}");
                    assert_eq!(r.json["version"], *v, "{ctx}");
                }
                (200, None) => {
                    // BOB reading his own frozen item.
                    assert!(u == 1 && frozen.contains(&id), "{ctx}");
                }
                (404, None) | (503, _) => {}
                _ => panic!("undeserved answer: {ctx}"),
            },
            Op::List => {
                if ok {
                    let listed: Model = r.json["items"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .filter(|i| {
                            !(u == 1 && frozen.contains(&i["id"].as_str().unwrap().to_owned()))
                        })
                        .map(|i| {
                            (
                                i["id"].as_str().unwrap().to_owned(),
                                (client_part(i), i["version"].as_u64().unwrap()),
                            )
                        })
                        .collect();
                    assert_eq!(&listed, model, "{ctx}");
                } else {
                    assert_eq!(r.status, 503, "{ctx}");
                }
            }
            Op::Put(id, if_match, b) | Op::Patch(id, if_match, b) => {
                let is_patch = req.method == "PATCH";
                match (r.status, model.get(&id).cloned()) {
                    (200, Some((mut doc, v))) => {
                        assert!(if_match.is_none_or(|m| m == v), "{ctx}");
                        if is_patch {
                            merge(&mut doc, &b);
                        } else {
                            doc = b.clone();
                        }
                        assert_eq!(client_part(&r.json), doc, "{ctx}");
                        assert_eq!(r.json["version"], v + 1, "applied exactly once: {ctx}");
                        model.insert(id, (doc, v + 1));
                    }
                    (412, Some((_, v))) => assert!(if_match.is_some_and(|m| m != v), "{ctx}"),
                    (404, None) | (503, _) => {}
                    _ => panic!("undeserved answer: {ctx}"),
                }
            }
            Op::Delete(id, if_match) => match (r.status, model.get(&id).cloned()) {
                (204, Some((_, v))) => {
                    assert!(if_match.is_none_or(|m| m == v), "{ctx}");
                    model.remove(&id);
                }
                // A delete whose outcome was uncertain and found nothing there (documented).
                (204, None) => {
                    assert!(faulted && delete_uncertain, "{ctx}");
                    t.uncertain_deletes_of_absent += 1;
                }
                (412, Some((_, v))) => assert!(if_match.is_some_and(|m| m != v), "{ctx}"),
                (404, None) | (503, _) => {}
                _ => panic!("undeserved answer: {ctx}"),
            },
            Op::Foreign => match r.status {
                404 | 503 => {}
                // As for a missing id of one's own: indistinguishable, and nothing changes.
                204 if req.method == "DELETE" && delete_uncertain => {
                    t.uncertain_deletes_of_absent += 1
                }
                _ => panic!("another user's item: {ctx}"),
            },
        }
        // The table holds exactly the model: every 2xx's effect, nothing from a non-2xx.
        let table = table_items(c, user).await;
        let mut table_own = table.clone();
        if u == 1 {
            table_own.retain(|id, _| !frozen.contains(id));
        }
        if table_own != *model {
            for (id, v) in model.iter() {
                if table_own.get(id) != Some(v) {
                    t.lost_writes += 1;
                }
            }
            for id in table_own.keys() {
                if !model.contains_key(id) {
                    t.phantom_writes += 1;
                }
            }
            panic!(
                "table differs from the model after {ctx}\nbefore: {before:?}\nmodel: {model:?}\ntable: {table_own:?}\n{t:?}"
            );
        }
    }
    let elapsed = started.elapsed();
    // BOB's frozen items are exactly as they were, attribute for attribute.
    let bob_now: Vec<_> = c
        .stored(BOB)
        .await
        .into_iter()
        .filter(|(k, _)| frozen.iter().any(|id| k == &format!("item#{id}")))
        .collect();
    assert_eq!(bob_now, frozen_snapshot, "B's data untouched");
    let stats = f.proxy.stats();
    eprintln!(
        "mixed schedule (seed {seed:#x}): {t:?}; proxy saw {} DynamoDB requests, injected {} faults {:?}; {:?}",
        stats.total_requests(),
        stats.total_faults(),
        stats.faults,
        elapsed
    );
    assert_eq!(t.requests, N as u64);
    assert_eq!((t.lost_writes, t.phantom_writes, t.duplicates), (0, 0, 0));
    assert!(
        t.faulted_requests > 100 && t.unavailable > 10 && t.ok > 100,
        "{t:?}"
    );
}
