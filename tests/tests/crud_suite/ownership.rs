//! Ownership (OWASP API1 BOLA) and mass assignment (API3): user B can never read, list, update,
//! patch or delete user A's items — with A's ids, A's cursors, or owner fields in bodies — and
//! A's stored data is byte-for-byte unchanged afterwards. Both payload versions.

use harness::crud_fn::*;
use serde_json::{json, Value};

fn strip_detail(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("detail");
    }
    v
}

#[tokio::test(flavor = "multi_thread")]
async fn bob_can_never_reach_alices_items() {
    let c = Crud::start().await;
    let mut alice_ids = Vec::new();
    for i in 0..3 {
        alice_ids.push(
            c.create(ALICE, json!({"secret": format!("alice-{i}")}))
                .await["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    assert_eq!(
        c.call(&Req::put("/profile", ALICE, &json!({"ssn": "000-00-0000"})))
            .await
            .status,
        201
    );
    let page = c.call(&Req::get("/items", ALICE).query("limit", "1")).await;
    let alice_cursor = page.json["next_cursor"]
        .as_str()
        .expect("cursor")
        .to_string();
    let alice_before = c.stored(ALICE).await;

    // What a truly missing id looks like to Bob.
    let never = "01ARZ3NDEKTSV4RRFFQ69G5FAV";
    let missing_get = c.call(&Req::get(&format!("/items/{never}"), BOB)).await;
    missing_get.expect_err(404, "not_found");

    for v2 in [false, true] {
        for id in &alice_ids {
            let p = format!("/items/{id}");
            let attempts = vec![
                Req::get(&p, BOB),
                Req::put(&p, BOB, &json!({"secret": "pwned"})),
                Req::patch(&p, BOB, &json!({"secret": "pwned"})),
                Req::delete(&p, BOB),
                Req::put(&p, BOB, &json!({"secret": "pwned"})).header("if-match", "\"1\""),
                Req::put(&p, BOB, &json!({"secret": "pwned"})).header("if-match", "*"),
                Req::patch(&p, BOB, &json!({"secret": "pwned"})).header("if-match", "\"1\""),
                Req::patch(&p, BOB, &json!({"secret": "pwned"})).header("if-match", "*"),
                Req::delete(&p, BOB).header("if-match", "\"1\""),
                Req::delete(&p, BOB).header("if-match", "*"),
                Req::delete(&p, BOB).header("if-match", "\"7\""),
            ];
            for mut r in attempts {
                r.v2 = v2;
                let resp = c.call(&r).await;
                resp.expect_err(404, "not_found");
                assert!(
                    !resp.body.contains("alice") && !resp.body.contains(ALICE),
                    "{}",
                    resp.body
                );
                // Indistinguishable from an id that never existed.
                let mut twin = r.clone();
                twin.path = format!("/items/{never}");
                let twin = c.call(&twin).await;
                assert_eq!(
                    (twin.status, strip_detail(&twin.json)),
                    (resp.status, strip_detail(&resp.json))
                );
                assert_eq!(twin.headers, resp.headers);
            }
        }
        // Listing shows nothing of Alice's, with or without her cursor.
        let mut r = Req::get("/items", BOB);
        r.v2 = v2;
        assert_eq!(
            c.call(&r).await.json,
            json!({"items": [], "next_cursor": null})
        );
        c.call(&r.clone().query("cursor", &alice_cursor))
            .await
            .expect_err(400, "invalid_cursor");
        // Bob's profile is his own.
        let mut r = Req::get("/profile", BOB);
        r.v2 = v2;
        c.call(&r).await.expect_err(404, "not_found");
    }

    // Owner fields in bodies are refused, not honoured and not dropped.
    for field in ["userId", "owner", "itemId", "id"] {
        let r = c
            .call(&Req::post(
                "/items",
                BOB,
                &json!({ field: ALICE, "secret": "x" }),
            ))
            .await;
        r.expect_err(400, "server_owned_field");
        let r = c
            .call(&Req::put(
                &format!("/items/{}", alice_ids[0]),
                BOB,
                &json!({ field: ALICE }),
            ))
            .await;
        r.expect_err(400, "server_owned_field");
    }
    // Identity-looking headers and query parameters do not make Bob into Alice.
    let sneaky = Req::post("/items", BOB, &json!({"n": 1}))
        .header("x-amzn-oidc-identity", ALICE)
        .header("x-user-id", ALICE)
        .header(
            "authorization",
            "Bearer eyJhbGciOiJSUzI1NiJ9.c2VjcmV0LXRva2Vu.c2ln",
        )
        .query("userId", ALICE)
        .query("sub", ALICE);
    let made = c.call(&sneaky).await;
    assert_eq!(made.status, 201);
    let listed = c
        .call(&Req::get("/items", BOB).query("userId", ALICE))
        .await;
    assert_eq!(listed.json["items"].as_array().unwrap().len(), 1);
    assert_eq!(listed.json["items"][0]["id"], made.json["id"]);

    assert_eq!(
        c.stored(ALICE).await,
        alice_before,
        "Alice's data is unchanged"
    );
    let bob = c.stored(BOB).await;
    assert_eq!(bob.len(), 1, "Bob only has the item he made: {bob:?}");
    // Alice still sees all of hers.
    let mine = c.call(&Req::get("/items", ALICE)).await;
    assert_eq!(mine.json["items"].as_array().unwrap().len(), 3);
    assert_eq!(
        client_part(&c.call(&Req::get("/profile", ALICE)).await.json),
        json!({"ssn": "000-00-0000"})
    );

    // Logs: one JSON line per request, with no data, tokens or owners in them.
    let logs = c.fns[0].logs();
    let request_lines = logs.iter().filter(|l| l.contains("\"request\"")).count();
    assert!(request_lines > 50, "{request_lines} request log lines");
    for l in &logs {
        let _: serde_json::Value =
            serde_json::from_str(l).unwrap_or_else(|_| panic!("not a JSON line: {l}"));
    }
    let all = logs.join("\n");
    for secret in [
        "alice-0",
        "000-00-0000",
        "pwned",
        "eyJhbGciOiJSUzI1NiJ9",
        "Bearer",
    ] {
        assert!(!all.contains(secret), "{secret} appears in the logs");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn mass_assignment_is_refused_everywhere_and_changes_nothing() {
    let c = Crud::start().await;
    let item = c.create(ALICE, json!({"n": 1})).await;
    let p = format!("/items/{}", item["id"].as_str().unwrap());
    assert_eq!(
        c.call(&Req::put("/profile", ALICE, &json!({"name": "A"})))
            .await
            .status,
        201
    );
    let before = c.stored(ALICE).await;
    let owned = [
        "id",
        "version",
        "created_at",
        "updated_at",
        "owner",
        "userId",
        "itemId",
    ];
    for field in owned {
        for value in [json!("x"), json!(99), json!(null), json!({"nested": 1})] {
            let body = json!({ field: value, "n": 2 });
            for r in [
                Req::post("/items", ALICE, &body),
                Req::put(&p, ALICE, &body),
                Req::patch(&p, ALICE, &body),
                Req::put("/profile", ALICE, &body),
            ] {
                let resp = c.call(&r).await;
                resp.expect_err(400, "server_owned_field");
                assert!(
                    resp.json["detail"].as_str().unwrap().contains(field),
                    "{}",
                    resp.body
                );
            }
        }
    }
    assert_eq!(c.stored(ALICE).await, before);
    // The same names nested deeper are ordinary data.
    let ok = c
        .call(&Req::patch(
            &p,
            ALICE,
            &json!({"meta": {"id": 5, "owner": "me", "version": "v"}}),
        ))
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.json["id"], item["id"]);
    assert_eq!(ok.json["version"], 2);
    assert_eq!(
        ok.json["meta"],
        json!({"id": 5, "owner": "me", "version": "v"})
    );
}
