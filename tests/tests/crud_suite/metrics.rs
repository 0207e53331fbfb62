//! crud's per-variant metrics (crud/src/metrics.rs): one CloudWatch Embedded Metric Format line
//! per invocation on stdout, its `variant` taken from the invoked function ARN's alias (never a
//! header), checked by an independent validator (the `jsonschema` library, against a JSON
//! schema written from the EMF specification's rules), nothing of the request in it, and
//! `METRICS=off` writes none.

use std::io::Write;
use std::process::{Command, Stdio};

use harness::crud_fn::*;
use harness::paths::venv_python;
use serde_json::{json, Value};

const ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:test-function";

/// The EMF specification's structure ("Specification: Embedded metric format", CloudWatch User
/// Guide) as a draft-07 schema: `_aws` with an integer Unix-ms `Timestamp` and
/// `CloudWatchMetrics` directives of exactly `Namespace` (1-255), `Dimensions` (at least one
/// set, each at most 30 names) and `Metrics` (at most 100; `Name` 1-255, `Unit` a CloudWatch
/// unit).
fn emf_schema() -> Value {
    let units = [
        "Seconds",
        "Microseconds",
        "Milliseconds",
        "Bytes",
        "Kilobytes",
        "Megabytes",
        "Gigabytes",
        "Terabytes",
        "Bits",
        "Kilobits",
        "Megabits",
        "Gigabits",
        "Terabits",
        "Percent",
        "Count",
        "Bytes/Second",
        "Kilobytes/Second",
        "Megabytes/Second",
        "Gigabytes/Second",
        "Terabytes/Second",
        "Bits/Second",
        "Kilobits/Second",
        "Megabits/Second",
        "Gigabits/Second",
        "Terabits/Second",
        "Count/Second",
        "None",
    ];
    let name = json!({"type": "string", "minLength": 1, "maxLength": 255});
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "required": ["_aws"],
        "properties": {"_aws": {
            "type": "object",
            "required": ["Timestamp", "CloudWatchMetrics"],
            "properties": {
                "Timestamp": {"type": "integer", "minimum": 0},
                "CloudWatchMetrics": {"type": "array", "items": {
                    "type": "object",
                    "required": ["Namespace", "Dimensions", "Metrics"],
                    "additionalProperties": false,
                    "properties": {
                        "Namespace": name,
                        "Dimensions": {"type": "array", "minItems": 1, "items": {
                            "type": "array", "maxItems": 30, "items": name}},
                        "Metrics": {"type": "array", "maxItems": 100, "items": {
                            "type": "object",
                            "required": ["Name"],
                            "additionalProperties": false,
                            "properties": {
                                "Name": name,
                                "Unit": {"enum": units},
                                "StorageResolution": {"enum": [1, 60]},
                            }}},
                    }}},
            }}},
    })
}

/// Validate each line with the venv's `jsonschema` (plus the two rules a schema cannot say:
/// every dimension names a string member of the root, every metric a numeric one). One
/// verdict per line: "ok" or the first error.
fn validate(lines: &[String]) -> Vec<String> {
    let script = r#"
import json, sys, jsonschema
schema = json.loads(sys.argv[1])
v = jsonschema.Draft7Validator(schema)
for line in sys.stdin.read().splitlines():
    try:
        doc = json.loads(line)
    except Exception as e:
        print("not JSON"); continue
    errs = [e.message for e in v.iter_errors(doc)]
    if not errs:
        for d in doc["_aws"]["CloudWatchMetrics"]:
            for s in d["Dimensions"]:
                errs += ["dimension %s is not a string member" % n for n in s if not isinstance(doc.get(n), str)]
            for m in d["Metrics"]:
                t = doc.get(m["Name"])
                ok = (isinstance(t, (int, float)) and not isinstance(t, bool)) or (isinstance(t, list) and len(t) <= 100 and all(isinstance(x, (int, float)) for x in t))
                if not ok: errs.append("metric %s is not a number" % m["Name"])
    print(errs[0] if errs else "ok")
"#;
    let mut child = Command::new(venv_python())
        .arg("-c")
        .arg(script)
        .arg(emf_schema().to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(lines.join("\n").as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

fn emf_lines(logs: &[String]) -> Vec<String> {
    logs.iter()
        .filter(|l| l.contains("\"_aws\""))
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn one_valid_emf_line_per_invocation_with_the_invoked_alias_as_variant() {
    let c = Crud::start_with(Options {
        env: vec![("METRICS_NAMESPACE", "test-stack/Gateway".into())],
        ..Options::default()
    })
    .await;
    let f = &c.fns[0];
    let token = "eyJhbGciOiJSUzI1NiJ9.c2VjcmV0LXRva2Vu.c2ln";
    let mut statuses = Vec::new();
    // A header naming the other variant changes nothing: the alias does.
    f.set_invoked_arn(&format!("{ARN}:canary"));
    let r = c
        .call(
            &Req::get("/items", ALICE)
                .header("authorization", &format!("Bearer {token}"))
                .header("x-canary-variant", "stable"),
        )
        .await;
    statuses.push((r.status, "canary"));
    f.set_invoked_arn(&format!("{ARN}:stable"));
    let item = c
        .call(&Req::post(
            "/items",
            ALICE,
            &json!({"secret": "s3cr3t-value"}),
        ))
        .await;
    statuses.push((item.status, "stable"));
    let id = item.json["id"].as_str().unwrap().to_string();
    f.set_invoked_arn(ARN);
    let r = c
        .call(&Req::get("/items/0000000000000000000000000000", ALICE).v2())
        .await;
    statuses.push((r.status, "unqualified"));
    f.set_invoked_arn(&format!("{ARN}:7"));
    let r = c.call(&Req::get("/nope", ALICE)).await;
    statuses.push((r.status, "unqualified"));
    // A 5xx: the table is gone.
    c.ddb
        .delete_table()
        .table_name(&c.table)
        .send()
        .await
        .unwrap();
    f.set_invoked_arn(&format!("{ARN}:canary"));
    let r = c.call(&Req::get(&format!("/items/{id}"), ALICE)).await;
    assert!(r.status >= 500, "{} {}", r.status, r.body);
    statuses.push((r.status, "canary"));

    let lines = emf_lines(&f.settled_logs().await);
    assert_eq!(
        lines.len(),
        statuses.len(),
        "one line per invocation:\n{lines:#?}"
    );
    assert_eq!(validate(&lines), vec!["ok"; lines.len()], "{lines:#?}");
    for (line, (status, variant)) in lines.iter().zip(&statuses) {
        let v: Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["variant"], *variant, "{line}");
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            "test-stack/Gateway"
        );
        assert_eq!(v["CrudRequests"], 1);
        assert_eq!(v["Crud5xx"], u8::from(*status >= 500), "{status}: {line}");
        assert!(v["CrudLatency"].as_f64().unwrap() >= 0.0);
        for leaked in [token, "Bearer", ALICE, &id, "s3cr3t-value", "/items"] {
            assert!(!line.contains(leaked), "{leaked} in {line}");
        }
    }
    // The validator can fail: the same lines, broken as the specification forbids.
    let broken: Vec<String> = [
        ("\"Timestamp\":", "\"Timestamp\":\"1\",\"x\":"),
        ("\"Unit\":\"Count\"", "\"Unit\":\"Things\""),
        ("[[\"variant\"]]", "[]"),
        ("\"CrudRequests\":1", "\"CrudRequests\":\"1\""),
        ("\"variant\":\"", "\"variant\":1,\"v\":\""),
    ]
    .iter()
    .map(|(from, to)| lines[0].replacen(from, to, 1))
    .collect();
    let verdicts = validate(&broken);
    assert_eq!(verdicts.len(), broken.len());
    for (b, v) in broken.iter().zip(&verdicts) {
        assert_ne!(v, "ok", "accepted: {b}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_off_writes_no_metric_line() {
    let c = Crud::start_with(Options {
        env: vec![("METRICS", "off".into())],
        ..Options::default()
    })
    .await;
    c.fns[0].set_invoked_arn(&format!("{ARN}:canary"));
    for _ in 0..3 {
        assert_eq!(c.call(&Req::get("/items", ALICE)).await.status, 200);
    }
    let logs = c.fns[0].settled_logs().await;
    assert!(logs.iter().any(|l| l.contains("\"request\"")), "{logs:#?}");
    assert_eq!(emf_lines(&logs), Vec::<String>::new());
}
