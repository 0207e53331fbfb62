//! Hostile input: bodies (oversized, deeply nested, invalid UTF-8 — also base64-encoded —,
//! duplicate keys, huge numbers, control characters), ids, cursors and query parameters. Each
//! gets its stable error code and changes nothing.

use base64::Engine;
use harness::crud_fn::*;
use harness::runtime_api::{Function, Outcome};
use serde_json::{json, Value};

/// (name, body bytes, status, code) for one hostile body.
fn hostile_bodies() -> Vec<(&'static str, Vec<u8>, u16, &'static str)> {
    let deep = format!("{{\"a\":{}1{}}}", "[".repeat(40), "]".repeat(40));
    let very_deep = format!("{{\"a\":{}1{}}}", "[".repeat(100_000), "]".repeat(100_000));
    let deep_objects = format!("{}1{}", "{\"a\":".repeat(50), "}".repeat(50));
    vec![
        (
            "oversized",
            format!("{{\"a\":\"{}\"}}", "x".repeat(70_000)).into_bytes(),
            413,
            "body_too_large",
        ),
        (
            "one byte too many",
            format!("{{\"a\":\"{}\"}}", "x".repeat(65_536 - 7)).into_bytes(),
            413,
            "body_too_large",
        ),
        ("deep arrays", deep.into_bytes(), 400, "too_deep"),
        (
            "very deep arrays",
            very_deep.into_bytes()[..60_000].to_vec(),
            400,
            "too_deep",
        ),
        ("deep objects", deep_objects.into_bytes(), 400, "too_deep"),
        (
            "invalid utf-8",
            b"{\"a\":\"\xff\xfe\"}".to_vec(),
            400,
            "invalid_json",
        ),
        (
            "overlong utf-8",
            b"{\"a\":\"\xc0\xaf\"}".to_vec(),
            400,
            "invalid_json",
        ),
        (
            "utf-16",
            "{\"a\":1}"
                .encode_utf16()
                .flat_map(u16::to_le_bytes)
                .collect(),
            400,
            "invalid_json",
        ),
        (
            "bom",
            b"\xef\xbb\xbf{\"a\":1}".to_vec(),
            400,
            "invalid_json",
        ),
        (
            "lone surrogate",
            br#"{"a":"\ud800"}"#.to_vec(),
            400,
            "invalid_json",
        ),
        (
            "raw control char",
            b"{\"a\":\"x\x01y\"}".to_vec(),
            400,
            "invalid_json",
        ),
        (
            "nul in key",
            br#"{"a\u0000":1}"#.to_vec(),
            400,
            "invalid_attribute_name",
        ),
        (
            "newline key",
            br#"{"\n":1}"#.to_vec(),
            400,
            "invalid_attribute_name",
        ),
        (
            "empty key",
            br#"{"":1}"#.to_vec(),
            400,
            "invalid_attribute_name",
        ),
        (
            "long key",
            format!("{{\"{}\":1}}", "k".repeat(300)).into_bytes(),
            400,
            "invalid_attribute_name",
        ),
        (
            "duplicate keys",
            br#"{"a":1,"a":2}"#.to_vec(),
            400,
            "duplicate_key",
        ),
        (
            "nested duplicate keys",
            br#"{"o":{"x":1,"x":1}}"#.to_vec(),
            400,
            "duplicate_key",
        ),
        (
            "duplicate owner",
            br#"{"n":1,"n":{"userId":"x"}}"#.to_vec(),
            400,
            "duplicate_key",
        ),
        (
            "huge exponent",
            br#"{"n":1e400}"#.to_vec(),
            400,
            "number_out_of_range",
        ),
        (
            "huge integer",
            br#"{"n":123456789012345678901234567890}"#.to_vec(),
            400,
            "number_out_of_range",
        ),
        (
            "u64 + 1",
            br#"{"n":18446744073709551616}"#.to_vec(),
            400,
            "number_out_of_range",
        ),
        (
            "huge negative",
            br#"{"n":-99999999999999999999}"#.to_vec(),
            400,
            "number_out_of_range",
        ),
        ("NaN", br#"{"n":NaN}"#.to_vec(), 400, "invalid_json"),
        (
            "Infinity",
            br#"{"n":Infinity}"#.to_vec(),
            400,
            "invalid_json",
        ),
        ("empty", b"".to_vec(), 400, "invalid_json"),
        ("whitespace", b"  \n".to_vec(), 400, "invalid_json"),
        ("truncated", br#"{"a":"#.to_vec(), 400, "invalid_json"),
        (
            "trailing garbage",
            br#"{"a":1}{"b":2}"#.to_vec(),
            400,
            "invalid_json",
        ),
        (
            "trailing comma",
            br#"{"a":1,}"#.to_vec(),
            400,
            "invalid_json",
        ),
        (
            "comment",
            br#"{"a":1 /* x */}"#.to_vec(),
            400,
            "invalid_json",
        ),
        ("single quotes", br#"{'a':1}"#.to_vec(), 400, "invalid_json"),
        ("array", br#"[{"a":1}]"#.to_vec(), 400, "not_an_object"),
        ("string", br#""{\"a\":1}""#.to_vec(), 400, "not_an_object"),
        ("null", b"null".to_vec(), 400, "not_an_object"),
        ("number", b"42".to_vec(), 400, "not_an_object"),
        (
            "server field",
            br#"{"version":7}"#.to_vec(),
            400,
            "server_owned_field",
        ),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_bodies_get_stable_errors_and_change_nothing() {
    let c = Crud::start().await;
    let item = c.create(ALICE, json!({"keep": "me"})).await;
    let p = format!("/items/{}", item["id"].as_str().unwrap());
    assert_eq!(
        c.call(&Req::put("/profile", ALICE, &json!({"keep": 1})))
            .await
            .status,
        201
    );
    let before = c.stored(ALICE).await;
    for (name, body, status, code) in hostile_bodies() {
        for (method, path, ct) in [
            ("POST", "/items", "application/json"),
            ("PUT", p.as_str(), "application/json"),
            ("PATCH", p.as_str(), "application/merge-patch+json"),
            ("PUT", "/profile", "application/json"),
        ] {
            for (v2, b64) in [(false, true), (true, true), (false, false), (true, false)] {
                let mut r = Req::new(method, path, ALICE).header("content-type", ct);
                r.v2 = v2;
                if b64 {
                    r = r.bytes(&body);
                } else if let Ok(text) = std::str::from_utf8(&body) {
                    r = r.text(text);
                } else {
                    continue; // non-UTF-8 can only arrive base64-encoded
                }
                let resp = c.call(&r).await;
                assert_eq!(
                    (resp.status, resp.code()),
                    (status, code),
                    "{name}: {method} {path} v2={v2} b64={b64}: {}",
                    resp.body
                );
                assert!(
                    resp.body.len() < 1024,
                    "{name}: the error does not echo the body"
                );
            }
        }
    }
    // Marked base64 but not base64.
    for text in ["!!!not base64!!!", "e30", "e3=0"] {
        let mut r = Req::new("POST", "/items", ALICE).header("content-type", "application/json");
        r.body = Body::RawBase64(text.into());
        c.call(&r).await.expect_err(400, "invalid_body_encoding");
        c.call(&r.v2())
            .await
            .expect_err(400, "invalid_body_encoding");
    }
    assert_eq!(c.stored(ALICE).await, before, "nothing changed");
}

#[tokio::test(flavor = "multi_thread")]
async fn awkward_but_valid_bodies_round_trip_exactly() {
    let c = Crud::start().await;
    let body = json!({
        "u64": 18446744073709551615u64,
        "i64": -9223372036854775808i64,
        "float": 0.1,
        "big": 1e300,
        "tiny": 5e-324,
        "unicode": "Grüße, 世界, 🦀, \u{2028}, \u{0}",
        "escapes": "\"\\/\n\t",
        "empty": {},
        "list": [[], [{}], null, false],
        "k\u{e9}y with spaces and ünïcödé": "ok",
        "n".repeat(255): "longest name",
        "big text": "y".repeat(60_000),
    });
    let made = c.call(&Req::post("/items", ALICE, &body)).await;
    assert_eq!(made.status, 201, "{}", made.body);
    assert_eq!(client_part(&made.json), body);
    let got = c
        .call(&Req::get(
            &format!("/items/{}", made.json["id"].as_str().unwrap()),
            ALICE,
        ))
        .await;
    assert_eq!(client_part(&got.json), body);
    // Depth 32 (the default limit) is fine.
    let deep: Value =
        serde_json::from_str(&format!("{{\"a\":{}1{}}}", "[".repeat(31), "]".repeat(31))).unwrap();
    assert_eq!(c.call(&Req::post("/items", ALICE, &deep)).await.status, 201);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_patch_that_would_grow_the_item_past_the_cap_is_413() {
    let c = Crud::start().await;
    let item = c.create(ALICE, json!({"a": "x".repeat(40_000)})).await;
    let p = format!("/items/{}", item["id"].as_str().unwrap());
    let before = c.stored(ALICE).await;
    c.call(&Req::patch(&p, ALICE, &json!({"b": "y".repeat(40_000)})))
        .await
        .expect_err(413, "body_too_large");
    assert_eq!(c.stored(ALICE).await, before);
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_ids_are_invalid_id() {
    let c = Crud::start().await;
    let item = c.create(ALICE, json!({"n": 1})).await;
    let id = item["id"].as_str().unwrap().to_string();
    let before = c.stored(ALICE).await;
    let bad_ids = vec![
        id.to_lowercase(),
        format!("{id}0"),
        id[..25].to_string(),
        format!("{}\u{0}", &id[..25]),
        format!("{}\n", &id[..25]),
        format!("{}%00", &id[..23]),
        format!("item#{id}"),
        "profile".to_string(),
        "idem#00".to_string(),
        "../profile".to_string(),
        "*".to_string(),
        "' OR 1=1 --".to_string(),
        "#sk".to_string(),
        ":v0".to_string(),
        "8ZZZZZZZZZZZZZZZZZZZZZZZZZ".to_string(),
        "01ARZ3NDEKTSV4RRFFQ69G5FAÜ".to_string(),
        "x".repeat(5000),
    ];
    for bad in &bad_ids {
        for v2 in [false, true] {
            for (method, body) in [
                ("GET", None),
                ("PUT", Some(json!({"n": 2}))),
                ("PATCH", Some(json!({"n": 2}))),
                ("DELETE", None),
            ] {
                let mut r = Req::new(method, "/items/X", ALICE);
                if let Some(b) = &body {
                    r = r.json(b);
                    if method == "PATCH" {
                        r = r
                            .without_header("content-type")
                            .header("content-type", "application/merge-patch+json");
                    }
                }
                // API Gateway hands over the decoded path parameter.
                r.template = Some("/items/{id}".into());
                r.path = format!("/items/{bad}");
                r.v2 = v2;
                let mut ev = r.event();
                ev["pathParameters"] = json!({ "id": bad });
                let resp = match c.fns[0].invoke(&ev).await {
                    Outcome::Response(v) => Resp::from_lambda(&v),
                    Outcome::Error { error_message, .. } => panic!("{bad:?}: {error_message}"),
                };
                resp.expect_err(400, "invalid_id");
            }
        }
    }
    assert_eq!(c.stored(ALICE).await, before);
}

#[tokio::test(flavor = "multi_thread")]
async fn forged_foreign_and_malformed_cursors_are_400() {
    let c = Crud::start().await;
    for i in 0..5 {
        c.create(ALICE, json!({ "i": i })).await;
    }
    c.create(BOB, json!({"bob": 1})).await;
    let page = c.call(&Req::get("/items", ALICE).query("limit", "2")).await;
    let cursor = page.json["next_cursor"].as_str().unwrap().to_string();
    // Genuine: works for Alice.
    assert_eq!(
        c.call(&Req::get("/items", ALICE).query("cursor", &cursor))
            .await
            .status,
        200
    );

    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut raw = b64.decode(&cursor).unwrap();
    let mut forged = Vec::new();
    for i in [0, 1, 10, 16, 17, raw.len() - 1] {
        raw[i] ^= 1;
        forged.push(b64.encode(&raw));
        raw[i] ^= 1;
    }
    forged.extend([
        String::new(),
        "x".into(),
        cursor[..cursor.len() - 2].to_string(),
        format!("{cursor}AA"),
        cursor.to_lowercase(),
        b64.encode([0u8; 33]),
        b64.encode([1u8; 33]),
        b64.encode(b"01ARZ3NDEKTSV4RRFFQ69G5FAV"),
        "A".repeat(10_000),
        "../../etc/passwd".into(),
        "eyJ1c2VySWQiOiJhbGljZSJ9".into(),
        format!("{cursor}\u{0}"),
    ]);
    for f in &forged {
        for v2 in [false, true] {
            let mut r = Req::get("/items", ALICE).query("cursor", f);
            r.v2 = v2;
            c.call(&r).await.expect_err(400, "invalid_cursor");
        }
    }
    // Alice's genuine cursor is not Bob's.
    c.call(&Req::get("/items", BOB).query("cursor", &cursor))
        .await
        .expect_err(400, "invalid_cursor");
    c.call(&Req::get("/items", BOB).query("cursor", &cursor).v2())
        .await
        .expect_err(400, "invalid_cursor");
    // Two cursors at once are refused, not resolved.
    c.call(
        &Req::get("/items", ALICE)
            .query("cursor", &cursor)
            .query("cursor", &cursor),
    )
    .await
    .expect_err(400, "invalid_cursor");

    // Another deployment's key (or an instance without CURSOR_SECRET) does not accept it.
    let bin = harness::paths::bin("crud");
    let other_key = base64::engine::general_purpose::STANDARD.encode([9u8; 32]);
    for extra in [vec![("CURSOR_SECRET", other_key.as_str())], vec![]] {
        let env = harness::dynamo::crud_env(&c.moto, &c.table, &extra);
        let f = Function::start(&bin, &env).await;
        assert_eq!(f.wait_init().await, None);
        let resp = Resp::from_lambda(
            f.invoke(&Req::get("/items", ALICE).query("cursor", &cursor).event())
                .await
                .response(),
        );
        resp.expect_err(400, "invalid_cursor");
    }
    // Rotation: new key first, old key still verifies.
    let rotated = format!("{other_key},{CURSOR_SECRET}");
    let env = harness::dynamo::crud_env(&c.moto, &c.table, &[("CURSOR_SECRET", rotated.as_str())]);
    let f = Function::start(&bin, &env).await;
    assert_eq!(f.wait_init().await, None);
    let resp = Resp::from_lambda(
        f.invoke(&Req::get("/items", ALICE).query("cursor", &cursor).event())
            .await
            .response(),
    );
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(resp.json["items"].as_array().unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_limits_are_400() {
    let c = Crud::start().await;
    for bad in [
        "0",
        "101",
        "-1",
        "1.5",
        "",
        "abc",
        "1e2",
        "99999999999999999999999",
        " 5",
        "5 ",
    ] {
        c.call(&Req::get("/items", ALICE).query("limit", bad))
            .await
            .expect_err(400, "invalid_limit");
        c.call(&Req::get("/items", ALICE).query("limit", bad).v2())
            .await
            .expect_err(400, "invalid_limit");
    }
    c.call(
        &Req::get("/items", ALICE)
            .query("limit", "1")
            .query("limit", "2"),
    )
    .await
    .expect_err(400, "invalid_limit");
    assert_eq!(
        c.call(
            &Req::get("/items", ALICE)
                .query("limit", "100")
                .query("other", "x")
        )
        .await
        .status,
        200
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_event_that_is_not_json_is_a_lambda_error_and_the_function_keeps_serving() {
    let c = Crud::start().await;
    let f = &c.fns[0];
    for junk in [
        &b"{\"httpMethod\":\"GET\",\"body\":\"\xff\"}"[..],
        b"not json",
        b"[]",
        b"{}",
    ] {
        match f.invoke_bytes(bytes::Bytes::copy_from_slice(junk)).await {
            Outcome::Error { .. } => {}
            Outcome::Response(v) => {
                // Acceptable only as a refusal, never as data.
                assert!(v["statusCode"].as_u64().unwrap_or(500) >= 400, "{v}");
            }
        }
    }
    assert!(!f.exited().await);
    assert_eq!(c.call(&Req::get("/items", ALICE)).await.status, 200);
}
