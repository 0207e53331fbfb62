//! The OpenAPI 3.1 description (`crud/openapi.json`) and docs/crud-api.md's error table, checked
//! against the implementation: the router's routes, the error table, and the problem codes.

use std::collections::{BTreeMap, BTreeSet};

use crud::error::ERROR_TABLE;
use crud::routes::{self, ROUTES};
use http::Method;
use serde_json::Value;

const SPEC: &str = include_str!("../openapi.json");
const README: &str = include_str!("../../docs/crud-api.md");
const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

fn spec() -> Value {
    serde_json::from_str(SPEC).expect("openapi.json is JSON")
}

fn operations(spec: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for (k, op) in item.as_object().expect("path item") {
            let m = k.to_ascii_uppercase();
            if METHODS.contains(&m.as_str()) {
                out.push((m, path.clone(), op.clone()));
            }
        }
    }
    out
}

#[test]
fn is_openapi_3_1() {
    let s = spec();
    assert!(s["openapi"].as_str().unwrap().starts_with("3.1."));
    for (m, p, op) in operations(&s) {
        assert!(op["operationId"].is_string(), "{m} {p} has an operationId");
    }
}

#[test]
fn spec_routes_are_exactly_the_router_routes() {
    let s = spec();
    let documented: BTreeSet<(String, String)> =
        operations(&s).into_iter().map(|(m, p, _)| (m, p)).collect();
    let implemented: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(documented, implemented);

    // And the router itself agrees, method by method, on every documented path.
    for path in s["paths"].as_object().unwrap().keys() {
        for m in METHODS {
            let method = Method::from_bytes(m.as_bytes()).unwrap();
            let resource = routes::resource(Some(path), Some("01ARZ3NDEKTSV4RRFFQ69G5FAV"), path)
                .unwrap_or_else(|| panic!("router does not know {path}"));
            let routed = routes::route(resource, &method).is_ok();
            assert_eq!(
                routed,
                documented.contains(&(m.to_string(), path.clone())),
                "{m} {path}"
            );
        }
    }
}

/// Every `x-error-codes` list in the spec, with the status it is documented under.
fn documented_codes(s: &Value) -> BTreeMap<String, BTreeSet<u16>> {
    let mut out: BTreeMap<String, BTreeSet<u16>> = BTreeMap::new();
    let mut add = |status: &str, resp: &Value| {
        let status: u16 = status.parse().unwrap();
        for c in resp["x-error-codes"].as_array().unwrap_or(&vec![]) {
            out.entry(c.as_str().unwrap().to_string())
                .or_default()
                .insert(status);
        }
    };
    for (_, _, op) in operations(s) {
        for (status, resp) in op["responses"].as_object().unwrap() {
            if status.starts_with('4') || status.starts_with('5') {
                assert!(resp["x-error-codes"].is_array(), "{status} lists its codes");
                assert_eq!(
                    resp["content"]["application/problem+json"]["schema"]["$ref"],
                    "#/components/schemas/Problem"
                );
            }
            add(status, resp);
        }
    }
    for (status, resp) in s["x-unmatched-routes"].as_object().unwrap() {
        add(status, resp);
    }
    out
}

#[test]
fn spec_error_codes_match_the_error_table() {
    let s = spec();
    let enum_codes: BTreeSet<String> = s["components"]["schemas"]["Problem"]["properties"]["code"]
        ["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    let table: BTreeSet<String> = ERROR_TABLE.iter().map(|k| k.code.to_string()).collect();
    assert_eq!(enum_codes, table);

    let documented = documented_codes(&s);
    assert_eq!(
        documented.keys().cloned().collect::<BTreeSet<_>>(),
        table,
        "every code is documented somewhere"
    );
    for k in ERROR_TABLE {
        assert_eq!(
            documented[k.code],
            BTreeSet::from([k.status]),
            "{} is only ever {}",
            k.code,
            k.status
        );
    }
    // Every operation documents the errors any request can meet.
    for (m, p, op) in operations(&s) {
        for status in ["401", "429", "500", "503"] {
            assert!(
                op["responses"][status].is_object(),
                "{m} {p} documents {status}"
            );
        }
    }
}

#[test]
fn readme_error_table_matches() {
    let rows: Vec<&str> = README
        .lines()
        .filter(|l| l.starts_with("| ") && l.contains(" | `"))
        .collect();
    let mut seen = BTreeSet::new();
    for row in &rows {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let (Ok(status), Some(code)) = (
            cells[1].parse::<u16>(),
            cells[2].strip_prefix('`').and_then(|c| c.strip_suffix('`')),
        ) else {
            continue;
        };
        let k = ERROR_TABLE
            .iter()
            .find(|k| k.code == code)
            .unwrap_or_else(|| panic!("README lists unknown code {code}"));
        assert_eq!(k.status, status, "{code}");
        seen.insert(code.to_string());
    }
    let table: BTreeSet<String> = ERROR_TABLE.iter().map(|k| k.code.to_string()).collect();
    assert_eq!(seen, table, "the README lists every code");
}
