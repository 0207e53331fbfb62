//! The crud wire contract, end to end: the real `crud` binary under the Runtime API emulator,
//! against moto, fed REST (1.0) and HTTP API (2.0) events built from real fixtures.

use harness::crud_fn::*;
use harness::runtime_api::Function;
use serde_json::{json, Value};

fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 24 && b[4] == b'-' && b[10] == b'T' && s.ends_with('Z')
}

async fn lifecycle(c: &Crud, v2: bool, stage: Option<&str>) {
    let with = |mut r: Req| {
        r.v2 = v2;
        r.stage = stage.map(str::to_owned);
        r
    };
    let created = c
        .call(&with(Req::post(
            "/items",
            ALICE,
            &json!({"title": "milk", "qty": 2, "tags": ["a"]}),
        )))
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let item = created.json.clone();
    let id = item["id"].as_str().expect("id").to_string();
    assert_eq!(id.len(), 26);
    assert_eq!(
        created.header("location"),
        Some(format!("/items/{id}").as_str())
    );
    assert_eq!(created.header("etag"), Some("\"1\""));
    assert_eq!(created.header("content-type"), Some("application/json"));
    assert_eq!(created.header("cache-control"), Some("no-store"));
    assert_eq!(item["version"], 1);
    assert!(is_rfc3339(item["created_at"].as_str().unwrap()), "{item}");
    assert_eq!(item["created_at"], item["updated_at"]);
    assert_eq!(
        client_part(&item),
        json!({"title": "milk", "qty": 2, "tags": ["a"]})
    );
    assert!(
        !created.body.contains(ALICE),
        "owner echoed: {}",
        created.body
    );

    let got = c
        .call(&with(Req::get(&format!("/items/{id}"), ALICE)))
        .await;
    assert_eq!(got.status, 200);
    assert_eq!(got.json, item);
    assert_eq!(got.header("etag"), Some("\"1\""));

    let put = c
        .call(&with(Req::put(
            &format!("/items/{id}"),
            ALICE,
            &json!({"title": "oat milk"}),
        )))
        .await;
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(put.json["version"], 2);
    assert_eq!(put.header("etag"), Some("\"2\""));
    assert_eq!(put.json["created_at"], item["created_at"]);
    assert_eq!(client_part(&put.json), json!({"title": "oat milk"}));

    let patched = c
        .call(&with(Req::patch(
            &format!("/items/{id}"),
            ALICE,
            &json!({"qty": 3, "title": null, "meta": {"a": 1}}),
        )))
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_eq!(patched.json["version"], 3);
    assert_eq!(
        client_part(&patched.json),
        json!({"qty": 3, "meta": {"a": 1}})
    );

    // Plain application/json is accepted for PATCH too.
    let patched = c
        .call(&with(
            Req::new("PATCH", &format!("/items/{id}"), ALICE).json(&json!({"meta": {"b": 2}})),
        ))
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_eq!(
        client_part(&patched.json),
        json!({"qty": 3, "meta": {"a": 1, "b": 2}})
    );
    assert_eq!(patched.header("etag"), Some("\"4\""));

    let got = c
        .call(&with(Req::get(&format!("/items/{id}"), ALICE)))
        .await;
    assert_eq!(got.json, patched.json);

    let del = c
        .call(&with(Req::delete(&format!("/items/{id}"), ALICE)))
        .await;
    assert_eq!(del.status, 204, "{}", del.body);
    assert!(del.body.is_empty());
    c.call(&with(Req::get(&format!("/items/{id}"), ALICE)))
        .await
        .expect_err(404, "not_found");
    c.call(&with(Req::delete(&format!("/items/{id}"), ALICE)))
        .await
        .expect_err(404, "not_found");
    // PUT never creates: ids are made by the server.
    c.call(&with(Req::put(
        &format!("/items/{id}"),
        ALICE,
        &json!({"x": 1}),
    )))
    .await
    .expect_err(404, "not_found");
    c.call(&with(Req::patch(
        &format!("/items/{id}"),
        ALICE,
        &json!({"x": 1}),
    )))
    .await
    .expect_err(404, "not_found");
    c.call(&with(Req::put(
        "/items/01ARZ3NDEKTSV4RRFFQ69G5FAV",
        ALICE,
        &json!({"x": 1}),
    )))
    .await
    .expect_err(404, "not_found");
}

#[tokio::test(flavor = "multi_thread")]
async fn lifecycle_through_rest_payload() {
    let c = Crud::start().await;
    lifecycle(&c, false, None).await;
    assert!(c.stored(ALICE).await.is_empty(), "everything was deleted");
}

#[tokio::test(flavor = "multi_thread")]
async fn lifecycle_through_http_api_payload_with_a_stage_prefix() {
    let c = Crud::start().await;
    lifecycle(&c, true, None).await;
    lifecycle(&c, true, Some("prod")).await;
    lifecycle(&c, false, Some("v1")).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn routes_fall_back_to_raw_paths_and_refuse_unknown_ones() {
    let c = Crud::start().await;
    let item = c.create(ALICE, json!({"n": 1})).await;
    let id = item["id"].as_str().unwrap();
    // Catch-all integrations: routed on the whole path (issue 9: a prefix such as a base path
    // never falls through to a match on trailing segments). REST `path` carries no stage.
    for (template, v2) in [
        ("/{proxy+}", false),
        ("$default", true),
        ("/{proxy+}", true),
    ] {
        let mut r = Req::get(&format!("/items/{id}"), ALICE);
        r.template = Some(template.into());
        r.v2 = v2;
        if !v2 {
            r.stage = Some("stage1".into());
        }
        let got = c.call(&r).await;
        assert_eq!(got.status, 200, "{template}: {}", got.body);
        assert_eq!(got.json, item);
        for prefixed in [format!("/api/items/{id}"), "/anything/items".to_string()] {
            let mut r = Req::get(&prefixed, ALICE);
            r.template = Some(template.into());
            r.v2 = v2;
            c.call(&r).await.expect_err(404, "route_not_found");
        }
        let mut r = Req::get("/items/", ALICE);
        r.template = Some(template.into());
        r.v2 = v2;
        assert_eq!(c.call(&r).await.json["items"][0], item);
    }
    for path in ["/", "/admin", "/items/a/b", "/itemsx"] {
        let mut r = Req::get(path, ALICE);
        r.template = Some("/{proxy+}".into());
        c.call(&r).await.expect_err(404, "route_not_found");
    }
    let r = c.call(&Req::delete("/items", ALICE)).await;
    r.expect_err(405, "method_not_allowed");
    assert_eq!(r.header("allow"), Some("GET, POST"));
    let r = c
        .call(&Req::post(&format!("/items/{id}"), ALICE, &json!({})))
        .await;
    r.expect_err(405, "method_not_allowed");
    assert_eq!(r.header("allow"), Some("GET, PUT, PATCH, DELETE"));
    c.call(&Req::delete("/profile", ALICE))
        .await
        .expect_err(405, "method_not_allowed");
}

#[tokio::test(flavor = "multi_thread")]
async fn no_identity_is_401_on_every_route_and_changes_nothing() {
    let c = Crud::start().await;
    let item = c.create(ALICE, json!({"n": 1})).await;
    let id = item["id"].as_str().unwrap().to_string();
    let before = c.stored(ALICE).await;
    let p = format!("/items/{id}");
    let reqs = vec![
        Req::get("/items", ALICE),
        Req::post("/items", ALICE, &json!({"n": 2})),
        Req::get(&p, ALICE),
        Req::put(&p, ALICE, &json!({"n": 3})),
        Req::patch(&p, ALICE, &json!({"n": 4})),
        Req::delete(&p, ALICE),
        Req::get("/profile", ALICE),
        Req::put("/profile", ALICE, &json!({"name": "x"})),
    ];
    for v2 in [false, true] {
        for r in &reqs {
            let mut r = r.clone().no_identity();
            r.v2 = v2;
            // Identity-looking values elsewhere never count.
            let r = r.header("x-user-sub", ALICE).query("sub", ALICE);
            c.call(&r).await.expect_err(401, "unauthenticated");
            for bad in [
                "",
                "a\u{0}b",
                "line\nbreak",
                &"x".repeat(crud::identity::MAX_SUB_BYTES + 1),
            ] {
                let mut r = r.clone();
                r.sub = Some(bad.to_string());
                c.call(&r).await.expect_err(401, "unauthenticated");
            }
        }
    }
    assert_eq!(c.stored(ALICE).await, before);
    assert_eq!(
        harness::dynamo::scan_all(&c.ddb, &c.table).await.len(),
        before.len()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn list_is_newest_first_paginated_and_holds_only_items() {
    let c = Crud::start().await;
    let mut ids = Vec::new();
    for i in 0..7 {
        let mut r = Req::post("/items", ALICE, &json!({ "i": i }));
        if i % 2 == 0 {
            r = r.header("idempotency-key", &format!("key-{i}"));
        }
        let resp = c.call(&r).await;
        assert_eq!(resp.status, 201);
        ids.push(resp.json["id"].as_str().unwrap().to_string());
    }
    assert_eq!(
        c.call(&Req::put("/profile", ALICE, &json!({"name": "Alice"})))
            .await
            .status,
        201
    );
    c.create(BOB, json!({"bob": true})).await;
    // 7 items + 4 idempotency records + 1 profile are stored; only the items list.
    assert_eq!(c.stored(ALICE).await.len(), 12);

    let all = c.call(&Req::get("/items", ALICE)).await;
    assert_eq!(all.status, 200);
    assert_eq!(all.json["next_cursor"], Value::Null);
    let listed: Vec<&str> = all.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(listed, newest_first);

    for v2 in [false, true] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let mut r = Req::get("/items", ALICE).query("limit", "3");
            if let Some(cur) = &cursor {
                r = r.query("cursor", cur);
            }
            r.v2 = v2;
            let page = c.call(&r).await;
            assert_eq!(page.status, 200, "{}", page.body);
            pages += 1;
            let items = page.json["items"].as_array().unwrap();
            assert!(items.len() <= 3);
            seen.extend(items.iter().map(|i| i["id"].as_str().unwrap().to_string()));
            match page.json["next_cursor"].as_str() {
                Some(cur) => cursor = Some(cur.to_string()),
                None => break,
            }
        }
        assert_eq!(pages, 3);
        assert_eq!(seen, newest_first);
    }
    let exact = c.call(&Req::get("/items", ALICE).query("limit", "7")).await;
    assert_eq!(exact.json["items"].as_array().unwrap().len(), 7);
    assert_eq!(exact.json["next_cursor"], Value::Null, "no empty last page");
    let empty = c.call(&Req::get("/items", "carol")).await;
    assert_eq!(empty.json, json!({"items": [], "next_cursor": null}));
}

#[tokio::test(flavor = "multi_thread")]
async fn if_match_gives_optimistic_concurrency() {
    let c = Crud::start().await;
    let item = c.create(ALICE, json!({"n": 1})).await;
    let p = format!("/items/{}", item["id"].as_str().unwrap());
    let before = c.stored(ALICE).await;
    for r in [
        Req::put(&p, ALICE, &json!({"n": 2})),
        Req::patch(&p, ALICE, &json!({"n": 2})),
        Req::delete(&p, ALICE),
    ] {
        for stale in ["\"2\"", "\"0\"", "W/\"1\"", "\"abc\"", "\"2\", \"3\""] {
            c.call(&r.clone().header("if-match", stale))
                .await
                .expect_err(412, "precondition_failed");
        }
        for malformed in ["1", "\"1 \"", "\"1", "*, \"1\"", "W/1", ","] {
            c.call(&r.clone().header("if-match", malformed))
                .await
                .expect_err(400, "invalid_precondition");
        }
    }
    assert_eq!(
        c.stored(ALICE).await,
        before,
        "refused preconditions change nothing"
    );

    let ok = c
        .call(&Req::put(&p, ALICE, &json!({"n": 2})).header("if-match", "\"0\", \"1\""))
        .await;
    assert_eq!(
        (ok.status, ok.json["version"].clone()),
        (200, json!(2)),
        "{}",
        ok.body
    );
    let ok = c
        .call(&Req::patch(&p, ALICE, &json!({"m": 1})).header("if-match", "\"2\""))
        .await;
    assert_eq!(
        (ok.status, ok.json["version"].clone()),
        (200, json!(3)),
        "{}",
        ok.body
    );
    let ok = c
        .call(&Req::put(&p, ALICE, &json!({"n": 4})).header("if-match", "*"))
        .await;
    assert_eq!(
        (ok.status, ok.json["version"].clone()),
        (200, json!(4)),
        "{}",
        ok.body
    );
    c.call(&Req::delete(&p, ALICE).header("if-match", "\"3\""))
        .await
        .expect_err(412, "precondition_failed");
    assert_eq!(
        c.call(&Req::delete(&p, ALICE).header("if-match", "\"4\""))
            .await
            .status,
        204
    );
    // Missing stays 404 whatever the precondition says.
    c.call(&Req::put(&p, ALICE, &json!({"n": 5})).header("if-match", "\"4\""))
        .await
        .expect_err(404, "not_found");
    c.call(&Req::put(&p, ALICE, &json!({"n": 5})).header("if-match", "W/\"4\""))
        .await
        .expect_err(404, "not_found");
    c.call(&Req::delete(&p, ALICE).header("if-match", "*"))
        .await
        .expect_err(404, "not_found");
}

#[tokio::test(flavor = "multi_thread")]
async fn idempotency_key_replays_refuses_reuse_and_is_scoped_to_the_caller() {
    let c = Crud::start_with(Options {
        env: vec![("IDEMPOTENCY_TTL_SECONDS", "600".into())],
        ..Default::default()
    })
    .await;
    let body = json!({"order": 42, "lines": [1, 2]});
    let first = c
        .call(&Req::post("/items", ALICE, &body).header("Idempotency-Key", "order-42"))
        .await;
    assert_eq!(first.status, 201, "{}", first.body);
    assert_eq!(first.header("idempotent-replayed"), None);
    // Same key, same document (member order and whitespace do not matter): the first result.
    let again = c
        .call(
            &Req::new("POST", "/items", ALICE)
                .header("content-type", "application/json")
                .header("Idempotency-Key", "order-42")
                .text("{ \"lines\": [1,2], \"order\": 42 }"),
        )
        .await;
    assert_eq!(again.status, 201, "{}", again.body);
    assert_eq!(again.json, first.json);
    assert_eq!(again.header("location"), first.header("location"));
    assert_eq!(again.header("etag"), Some("\"1\""));
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    // Still the first result after the item changed.
    let p = first.header("location").unwrap().to_string();
    assert_eq!(
        c.call(&Req::patch(&p, ALICE, &json!({"order": 43})))
            .await
            .status,
        200
    );
    let third = c
        .call(&Req::post("/items", ALICE, &body).header("idempotency-key", "order-42"))
        .await;
    assert_eq!(third.json, first.json);

    let other = c
        .call(
            &Req::post("/items", ALICE, &json!({"order": 99}))
                .header("idempotency-key", "order-42"),
        )
        .await;
    other.expect_err(422, "idempotency_key_reused");

    // Bob's identical key is his own: a new item in his partition, nothing of Alice's.
    let bob = c
        .call(&Req::post("/items", BOB, &body).header("idempotency-key", "order-42"))
        .await;
    assert_eq!(bob.status, 201);
    assert_ne!(bob.json["id"], first.json["id"]);
    assert_eq!(bob.header("idempotent-replayed"), None);

    let alice_items = c.call(&Req::get("/items", ALICE)).await;
    assert_eq!(alice_items.json["items"].as_array().unwrap().len(), 1);
    let stored = c.stored(ALICE).await;
    assert_eq!(stored.len(), 2, "one item and one idempotency record");
    let (idem_key, idem) = stored
        .iter()
        .find(|(k, _)| k.starts_with("idem#"))
        .expect("idempotency record");
    assert!(
        !idem_key.contains("order-42"),
        "the raw key is not stored in the sort key"
    );
    let expires: u64 = idem["expires_at"].as_n().unwrap().parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        (now + 590..=now + 610).contains(&expires),
        "TTL {expires} vs now {now}"
    );

    for bad in ["", "a,b", "ключ", &"k".repeat(256), "has space"] {
        let r = c
            .call(&Req::post("/items", ALICE, &body).header("idempotency-key", bad))
            .await;
        r.expect_err(400, "invalid_idempotency_key");
    }
    let two = Req::post("/items", ALICE, &body)
        .header("idempotency-key", "a")
        .header("idempotency-key", "b");
    c.call(&two)
        .await
        .expect_err(400, "invalid_idempotency_key");
    c.call(&two.v2())
        .await
        .expect_err(400, "invalid_idempotency_key");
    assert_eq!(c.stored(ALICE).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn profile_is_one_document_per_caller() {
    let c = Crud::start().await;
    c.call(&Req::get("/profile", ALICE))
        .await
        .expect_err(404, "not_found");
    let created = c
        .call(&Req::put(
            "/profile",
            ALICE,
            &json!({"name": "Alice", "lang": "en"}),
        ))
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.header("location"), Some("/profile"));
    assert_eq!(created.header("etag"), Some("\"1\""));
    assert_eq!(created.json["version"], 1);
    assert!(created.json.get("id").is_none());
    assert_eq!(
        client_part(&created.json),
        json!({"name": "Alice", "lang": "en"})
    );
    let got = c.call(&Req::get("/profile", ALICE)).await;
    assert_eq!(got.json, created.json);
    let replaced = c
        .call(&Req::put("/profile", ALICE, &json!({"name": "Al"})).header("if-match", "\"1\""))
        .await;
    assert_eq!(
        (replaced.status, replaced.json["version"].clone()),
        (200, json!(2))
    );
    assert_eq!(replaced.json["created_at"], created.json["created_at"]);
    c.call(&Req::put("/profile", ALICE, &json!({"n": 1})).header("if-match", "\"1\""))
        .await
        .expect_err(412, "precondition_failed");
    c.call(&Req::put("/profile", ALICE, &json!({"n": 1})).header("if-none-match", "*"))
        .await
        .expect_err(412, "precondition_failed");
    c.call(&Req::put("/profile", ALICE, &json!({"version": 9})))
        .await
        .expect_err(400, "server_owned_field");
    c.call(&Req::put("/profile", ALICE, &json!({"userId": BOB})))
        .await
        .expect_err(400, "server_owned_field");
    c.call(&Req::get("/profile", BOB))
        .await
        .expect_err(404, "not_found");
    c.call(&Req::put("/profile", BOB, &json!({"n": 1})).header("if-match", "*"))
        .await
        .expect_err(404, "not_found");
    let bob = c
        .call(
            &Req::put("/profile", BOB, &json!({"name": "Bob"}))
                .header("if-none-match", "*")
                .v2(),
        )
        .await;
    assert_eq!(bob.status, 201);
    assert_eq!(
        client_part(&c.call(&Req::get("/profile", ALICE)).await.json),
        json!({"name": "Al"})
    );
    // Profiles never show in item lists.
    assert_eq!(
        c.call(&Req::get("/items", ALICE)).await.json["items"],
        json!([])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn media_types_are_checked() {
    let c = Crud::start().await;
    let item = c.create(ALICE, json!({"n": 1})).await;
    let p = format!("/items/{}", item["id"].as_str().unwrap());
    let before = c.stored(ALICE).await;
    for (method, path) in [
        ("POST", "/items"),
        ("PUT", p.as_str()),
        ("PATCH", p.as_str()),
        ("PUT", "/profile"),
    ] {
        for ct in [
            None,
            Some("text/plain"),
            Some("application/json; charset=latin1"),
            Some("application/json-patch+json"),
            Some("multipart/form-data"),
        ] {
            let mut r = Req::new(method, path, ALICE).text("{\"n\":2}");
            if let Some(ct) = ct {
                r = r.header("content-type", ct);
            }
            c.call(&r).await.expect_err(415, "unsupported_media_type");
        }
    }
    assert_eq!(c.stored(ALICE).await, before);
    let ok = c
        .call(
            &Req::new("POST", "/items", ALICE)
                .header("Content-Type", "application/json; charset=UTF-8")
                .text("{}"),
        )
        .await;
    assert_eq!(ok.status, 201, "{}", ok.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn rate_limit_is_per_caller() {
    let c = Crud::start_with(Options {
        env: vec![("RATE_LIMIT_PER_MINUTE", "3".into())],
        ..Default::default()
    })
    .await;
    for _ in 0..3 {
        assert_eq!(c.call(&Req::get("/items", ALICE)).await.status, 200);
    }
    let limited = c.call(&Req::post("/items", ALICE, &json!({"n": 1}))).await;
    limited.expect_err(429, "rate_limited");
    let retry: u64 = limited
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!((1..=20).contains(&retry), "{retry}");
    assert!(
        c.stored(ALICE).await.is_empty(),
        "a limited request writes nothing"
    );
    assert_eq!(c.call(&Req::get("/items", BOB)).await.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn dynamodb_down_is_503_with_retry_after_and_no_internals() {
    // Nothing listens on the endpoint: connection refused, retried by the SDK, then 503.
    let env = vec![
        (
            "AWS_ENDPOINT_URL".to_string(),
            "http://127.0.0.1:9".to_string(),
        ),
        ("AWS_ACCESS_KEY_ID".into(), "testing".into()),
        ("AWS_SECRET_ACCESS_KEY".into(), "testing".into()),
        ("TABLE_NAME".into(), "items".into()),
        ("CURSOR_SECRET".into(), CURSOR_SECRET.into()),
    ];
    let f = Function::start(&harness::paths::bin("crud"), &env).await;
    assert_eq!(f.wait_init().await, None);
    for r in [
        Req::get("/items", ALICE),
        Req::post("/items", ALICE, &json!({"n": 1})),
        Req::get("/profile", ALICE),
    ] {
        let resp = Resp::from_lambda(f.invoke(&r.event()).await.response());
        resp.expect_err(503, "service_unavailable");
        assert_eq!(resp.header("retry-after"), Some("1"));
        for leak in ["127.0.0.1", "dispatch", "connect", "items", "Dynamo"] {
            assert!(!resp.body.contains(leak), "{leak} leaked: {}", resp.body);
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_table_is_500_without_internals() {
    let c = Crud::start().await;
    let env = harness::dynamo::crud_env(
        &c.moto,
        "no-such-table",
        &[("CURSOR_SECRET", CURSOR_SECRET)],
    );
    let f = Function::start(&harness::paths::bin("crud"), &env).await;
    assert_eq!(f.wait_init().await, None);
    let resp = Resp::from_lambda(
        f.invoke(&Req::get("/items", ALICE).event())
            .await
            .response(),
    );
    resp.expect_err(500, "internal_error");
    assert!(
        !resp.body.contains("no-such-table") && !resp.body.contains("ResourceNotFound"),
        "{}",
        resp.body
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_configuration_fails_init_with_a_clear_message() {
    let c = Crud::start().await;
    let bin = harness::paths::bin("crud");
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![], "TABLE_NAME"),
        (vec![("TABLE_NAME", "bad name!")], "TABLE_NAME"),
        (
            vec![("TABLE_NAME", "items"), ("MAX_BODY_BYTES", "1000000")],
            "MAX_BODY_BYTES",
        ),
        (
            vec![("TABLE_NAME", "items"), ("RATE_LIMIT_PER_MINUTE", "lots")],
            "RATE_LIMIT_PER_MINUTE",
        ),
        (
            vec![("TABLE_NAME", "items"), ("CURSOR_SECRET", "c2hvcnQ=")],
            "CURSOR_SECRET",
        ),
        (
            vec![("TABLE_NAME", "items"), ("CURSOR_SECRET", "%%%")],
            "CURSOR_SECRET",
        ),
    ];
    for (settings, name) in cases {
        let mut env = c.moto.aws_env();
        env.extend(settings.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let f = Function::start(&bin, &env).await;
        let err = f.wait_init().await.expect("init must fail");
        let logs = f.logs().join("\n");
        assert!(
            logs.contains(name) || err.contains(name),
            "{name}: {err}\n{logs}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn conditional_gets_answer_304() {
    let c = Crud::start().await;
    let item = c.create(ALICE, json!({"n": 1})).await;
    let p = format!("/items/{}", item["id"].as_str().unwrap());
    for tag in ["\"1\"", "W/\"1\"", "*", "\"7\", \"1\""] {
        let r = c
            .call(&Req::get(&p, ALICE).header("if-none-match", tag))
            .await;
        assert_eq!(r.status, 304, "{tag}: {}", r.body);
        assert!(r.body.is_empty());
        assert_eq!(r.header("etag"), Some("\"1\""));
    }
    let r = c
        .call(&Req::get(&p, ALICE).header("if-none-match", "\"2\""))
        .await;
    assert_eq!((r.status, r.json.clone()), (200, item.clone()));
    c.call(&Req::get(&p, ALICE).header("if-none-match", "2"))
        .await
        .expect_err(400, "invalid_precondition");
    // Another caller's item is still just missing.
    c.call(&Req::get(&p, BOB).header("if-none-match", "*"))
        .await
        .expect_err(404, "not_found");
    assert_eq!(
        c.call(&Req::put("/profile", ALICE, &json!({"a": 1})))
            .await
            .status,
        201
    );
    let r = c
        .call(
            &Req::get("/profile", ALICE)
                .header("if-none-match", "\"1\"")
                .v2(),
        )
        .await;
    assert_eq!(r.status, 304);
    let r = c
        .call(&Req::get("/profile", ALICE).header("if-none-match", "\"0\""))
        .await;
    assert_eq!(r.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_idempotency_keys_are_forgotten() {
    let c = Crud::start().await;
    let body = json!({"order": 1});
    let first = c
        .call(&Req::post("/items", ALICE, &body).header("idempotency-key", "k1"))
        .await;
    assert_eq!(first.status, 201);
    // Let time pass for the record: TTL deletion is lazy (up to days on AWS), so crud itself must
    // ignore an expired record.
    let (idem_key, _) = c
        .stored(ALICE)
        .await
        .into_iter()
        .find(|(k, _)| k.starts_with("idem#"))
        .expect("record");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    c.ddb
        .update_item()
        .table_name(&c.table)
        .key(
            "userId",
            aws_sdk_dynamodb::types::AttributeValue::S(ALICE.into()),
        )
        .key(
            "itemId",
            aws_sdk_dynamodb::types::AttributeValue::S(idem_key.clone()),
        )
        .update_expression("SET expires_at = :t")
        .expression_attribute_values(
            ":t",
            aws_sdk_dynamodb::types::AttributeValue::N((now - 1).to_string()),
        )
        .send()
        .await
        .expect("age the record");
    let second = c
        .call(&Req::post("/items", ALICE, &body).header("idempotency-key", "k1"))
        .await;
    assert_eq!(second.status, 201, "{}", second.body);
    assert_ne!(
        second.json["id"], first.json["id"],
        "a fresh item, not a replay"
    );
    assert_eq!(second.header("idempotent-replayed"), None);
    // The key now remembers the second request, for a full TTL again.
    let third = c
        .call(&Req::post("/items", ALICE, &body).header("idempotency-key", "k1"))
        .await;
    assert_eq!(third.json, second.json);
    assert_eq!(third.header("idempotent-replayed"), Some("true"));
    let stored = c.stored(ALICE).await;
    assert_eq!(
        stored
            .iter()
            .filter(|(k, _)| k.starts_with("item#"))
            .count(),
        2
    );
    assert_eq!(
        stored
            .iter()
            .filter(|(k, _)| k.starts_with("idem#"))
            .count(),
        1
    );
}
