//! Concurrency, against a single-threaded moto (its DynamoDB model is unlocked) and several
//! `crud` instances at once (as Lambda scales out): `If-Match` PATCHes have exactly one winner
//! per version, PATCHes without it lose no update, and concurrent POSTs sharing an
//! `Idempotency-Key` create exactly one item.

use std::sync::Arc;

use harness::crud_fn::*;
use serde_json::{json, Value};
use tokio::task::JoinSet;

const N: usize = 6;

async fn start() -> Arc<Crud> {
    Arc::new(
        Crud::start_with(Options {
            instances: N,
            single_threaded: true,
            env: vec![],
        })
        .await,
    )
}

async fn all(c: &Arc<Crud>, reqs: Vec<Req>) -> Vec<Resp> {
    let mut set = JoinSet::new();
    for (i, r) in reqs.into_iter().enumerate() {
        let c = c.clone();
        set.spawn(async move { (i, c.call_on(i, &r).await) });
    }
    let mut out: Vec<(usize, Resp)> = Vec::new();
    while let Some(r) = set.join_next().await {
        out.push(r.expect("task"));
    }
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, r)| r).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn if_match_patches_have_exactly_one_winner_per_version() {
    let c = start().await;
    let item = c.create(ALICE, json!({"base": true})).await;
    let p = format!("/items/{}", item["id"].as_str().unwrap());
    let mut expected = json!({"base": true});
    for round in 1..=3u64 {
        let reqs = (0..N)
            .map(|i| {
                Req::patch(&p, ALICE, &json!({ format!("r{round}w{i}"): i }))
                    .header("if-match", &format!("\"{round}\""))
            })
            .collect();
        let resps = all(&c, reqs).await;
        let winners: Vec<usize> = resps
            .iter()
            .enumerate()
            .filter(|(_, r)| r.status == 200)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(
            winners.len(),
            1,
            "round {round}: {:?}",
            resps.iter().map(|r| r.status).collect::<Vec<_>>()
        );
        for (i, r) in resps.iter().enumerate() {
            if i != winners[0] {
                r.expect_err(412, "precondition_failed");
            }
        }
        let w = winners[0];
        expected[format!("r{round}w{w}")] = json!(w);
        assert_eq!(resps[w].json["version"], round + 1);
        let now = c.call(&Req::get(&p, ALICE)).await;
        assert_eq!(
            client_part(&now.json),
            expected,
            "only the winner's change is stored"
        );
        assert_eq!(now.json["version"], round + 1);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn patches_without_if_match_lose_no_update() {
    let c = start().await;
    let item = c.create(ALICE, json!({})).await;
    let p = format!("/items/{}", item["id"].as_str().unwrap());
    let reqs = (0..N)
        .map(|i| Req::patch(&p, ALICE, &json!({ format!("f{i}"): i })))
        .collect();
    let resps = all(&c, reqs).await;
    let mut expected = serde_json::Map::new();
    let mut ok = 0u64;
    for (i, r) in resps.iter().enumerate() {
        match r.status {
            200 => {
                ok += 1;
                expected.insert(format!("f{i}"), json!(i));
            }
            // Gave up after its retries: it must then have changed nothing.
            409 => r.expect_err(409, "write_conflict"),
            s => panic!("unexpected {s}: {}", r.body),
        }
    }
    assert!(ok >= 1);
    let now = c.call(&Req::get(&p, ALICE)).await;
    assert_eq!(
        client_part(&now.json),
        Value::Object(expected),
        "every acknowledged update is there"
    );
    assert_eq!(now.json["version"], 1 + ok);
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_posts_with_one_idempotency_key_create_one_item() {
    let c = start().await;
    for round in 0..3 {
        let key = format!("checkout-{round}");
        let body = json!({"order": round});
        let reqs = (0..N)
            .map(|_| Req::post("/items", ALICE, &body).header("idempotency-key", &key))
            .collect();
        let resps = all(&c, reqs).await;
        let mut ids = std::collections::HashSet::new();
        for r in &resps {
            match r.status {
                201 => {
                    ids.insert(r.json["id"].as_str().unwrap().to_string());
                }
                409 => r.expect_err(409, "idempotency_in_flight"),
                s => panic!("unexpected {s}: {}", r.body),
            }
        }
        assert_eq!(
            ids.len(),
            1,
            "round {round}: every success names the same item: {ids:?}"
        );
        let listed = c.call(&Req::get("/items", ALICE)).await;
        assert_eq!(
            listed.json["items"].as_array().unwrap().len(),
            round + 1,
            "exactly one item per key"
        );
    }
    let stored = c.stored(ALICE).await;
    assert_eq!(
        stored
            .iter()
            .filter(|(k, _)| k.starts_with("item#"))
            .count(),
        3
    );
    assert_eq!(
        stored
            .iter()
            .filter(|(k, _)| k.starts_with("idem#"))
            .count(),
        3
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_conditional_deletes_and_puts_have_one_winner() {
    let c = start().await;
    let item = c.create(ALICE, json!({"n": 0})).await;
    let p = format!("/items/{}", item["id"].as_str().unwrap());
    let reqs = (0..N)
        .map(|i| Req::put(&p, ALICE, &json!({ "n": i })).header("if-match", "\"1\""))
        .collect();
    let resps = all(&c, reqs).await;
    let winners: Vec<&Resp> = resps.iter().filter(|r| r.status == 200).collect();
    assert_eq!(winners.len(), 1);
    assert_eq!(resps.iter().filter(|r| r.status == 412).count(), N - 1);
    let now = c.call(&Req::get(&p, ALICE)).await;
    assert_eq!(now.json, winners[0].json);

    let reqs = (0..N)
        .map(|_| Req::delete(&p, ALICE).header("if-match", "\"2\""))
        .collect();
    let resps = all(&c, reqs).await;
    assert_eq!(resps.iter().filter(|r| r.status == 204).count(), 1);
    for r in resps.iter().filter(|r| r.status != 204) {
        assert!(matches!(r.code(), "not_found"), "{}", r.body);
    }
    c.call(&Req::get(&p, ALICE))
        .await
        .expect_err(404, "not_found");
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_profile_writes_have_one_winner_per_version() {
    let c = start().await;
    // Create-only: exactly one of N concurrent first PUTs creates the profile.
    let reqs = (0..N)
        .map(|i| Req::put("/profile", ALICE, &json!({ "writer": i })).header("if-none-match", "*"))
        .collect();
    let resps = all(&c, reqs).await;
    assert_eq!(resps.iter().filter(|r| r.status == 201).count(), 1);
    for r in resps.iter().filter(|r| r.status != 201) {
        r.expect_err(412, "precondition_failed");
    }
    let reqs = (0..N)
        .map(|i| {
            Req::put("/profile", ALICE, &json!({ "writer": i, "round": 2 }))
                .header("if-match", "\"1\"")
        })
        .collect();
    let resps = all(&c, reqs).await;
    let winners: Vec<&Resp> = resps.iter().filter(|r| r.status == 200).collect();
    assert_eq!(winners.len(), 1);
    assert_eq!(resps.iter().filter(|r| r.status == 412).count(), N - 1);
    let now = c.call(&Req::get("/profile", ALICE)).await;
    assert_eq!(now.json, winners[0].json);
    assert_eq!(now.json["version"], 2);
}
