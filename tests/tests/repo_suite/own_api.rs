//! "Protect your own API" on AWS: the authorizer as a nested SAM application
//! (`deploy/authorizer-app/template.yaml`) and the worked example that nests it in front of an
//! HTTP backend (`examples/protect-http-backend/template.yaml`). Both are linted (cfn-lint,
//! `sam validate --lint`) and expanded offline by the SAM translator, and the expanded templates
//! are checked against the code: the parameters the example passes exist in the application, the
//! routes it gives the authorizer are exactly its API's, its authorizer is a REQUEST authorizer on
//! every method, and every integration sends the same identity headers as the local gateway's
//! `GATEWAY_UPSTREAM` (`emulator::apigw::upstream::IDENTITY_HEADERS`).

use std::collections::BTreeSet;

use serde_json::Value;

use crate::template::{offline, read, root, run, text, venv_tool};

const APP: &str = "deploy/authorizer-app/template.yaml";
const EXAMPLE: &str = "examples/protect-http-backend/template.yaml";

fn expand(path: &str) -> Value {
    let mut c = offline(&venv_tool("python"));
    c.arg(root().join("deploy/expand_template.py")).arg(path);
    let o = run(c, "deploy/expand_template.py");
    assert!(o.status.success(), "expanding {path} failed:\n{}", text(&o));
    serde_json::from_slice(&o.stdout).expect("JSON")
}

#[test]
fn the_nested_application_and_the_example_lint_and_validate_offline() {
    for t in [APP, EXAMPLE] {
        let mut c = offline(&venv_tool("cfn-lint"));
        c.arg(t);
        let o = run(c, "cfn-lint");
        assert!(o.status.success(), "cfn-lint {t}:\n{}", text(&o));
        let mut c = offline(&venv_tool("sam"));
        c.args(["validate", "--lint", "--template", t]);
        let o = run(c, "sam validate --lint");
        assert!(o.status.success(), "sam validate --lint {t}:\n{}", text(&o));
    }
}

#[test]
fn the_application_takes_the_authorizers_settings_and_outputs_its_arn_and_role() {
    let t = expand(APP);
    let params = t["Parameters"].as_object().expect("parameters");
    let required: BTreeSet<&str> = params
        .iter()
        .filter(|(_, p)| p.get("Default").is_none())
        .map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(
        required,
        BTreeSet::from(["ClientIds"]),
        "only the clients are required"
    );
    for out in ["AuthorizerFunctionArn", "AuthorizerRoleArn"] {
        assert!(t["Outputs"][out].is_object(), "output {out}");
    }
    let res = t["Resources"].as_object().expect("resources");
    let f = &res["AuthorizerFunction"]["Properties"];
    assert_eq!(f["Runtime"], "provided.al2023");
    assert_eq!(f["Handler"], "bootstrap");
    // Every variable it sets is one the authorizer reads (its configuration or the secret's ARN).
    let config = read("authorizer/src/config.rs");
    let vars = f["Environment"]["Variables"]
        .as_object()
        .expect("variables");
    for k in vars.keys() {
        assert!(
            config.contains(&format!("\"{k}\"")) || k == "ORIGIN_VERIFY_SECRET_ARN",
            "{k} is not an authorizer setting"
        );
    }
    for k in [
        "USER_POOL_ID",
        "ISSUER",
        "CLIENT_IDS",
        "API_ROUTES",
        "ROUTE_RULES",
    ] {
        assert!(vars.contains_key(k), "{k} not passed");
    }
    // Least privilege: its log group, X-Ray, only its own secret, only a Scan of its revocation
    // table (each of the last two only when given).
    let role = serde_json::to_string(&res["AuthorizerRole"]).expect("role");
    let actions: BTreeSet<String> = res["AuthorizerRole"]["Properties"]["Policies"]
        .as_array()
        .expect("policies")
        .iter()
        .flat_map(|p| {
            let doc = if p.get("Fn::If").is_some() {
                p["Fn::If"][1]["PolicyDocument"].clone()
            } else {
                p["PolicyDocument"].clone()
            };
            doc["Statement"].as_array().cloned().unwrap_or_default()
        })
        .flat_map(|s| match &s["Action"] {
            Value::String(a) => vec![a.clone()],
            Value::Array(a) => a
                .iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect(),
            _ => vec![],
        })
        .collect();
    assert_eq!(
        actions,
        [
            "dynamodb:Scan",
            "logs:CreateLogStream",
            "logs:PutLogEvents",
            "secretsmanager:GetSecretValue",
            "xray:PutTelemetryRecords",
            "xray:PutTraceSegments"
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
        "{role}"
    );
}

/// (METHOD, path) of every operation of an OpenAPI body.
fn operations(body: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in body["paths"].as_object().expect("paths") {
        for (method, _) in item.as_object().expect("path item") {
            if method != "parameters" {
                out.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    out
}

#[test]
fn the_example_nests_the_application_and_passes_the_identity_like_the_local_gateway() {
    let app = expand(APP);
    let t = expand(EXAMPLE);
    let res = t["Resources"].as_object().expect("resources");
    let guard = &res["Guard"];
    assert_eq!(guard["Type"], "AWS::CloudFormation::Stack");
    assert_eq!(
        guard["Properties"]["TemplateURL"],
        "../../deploy/authorizer-app/template.yaml"
    );
    let passed = guard["Properties"]["Parameters"]
        .as_object()
        .expect("params");
    let app_params = app["Parameters"].as_object().expect("app params");
    for k in passed.keys() {
        assert!(
            app_params.contains_key(k),
            "{k} is not a parameter of the application"
        );
    }
    assert!(passed.contains_key("ClientIds"));

    let body = &res["Api"]["Properties"]["Body"];
    // The routes the authorizer is told are exactly the API's.
    let routes: Vec<String> = serde_json::from_str(passed["ApiRoutes"].as_str().expect("routes"))
        .expect("ApiRoutes is a JSON array");
    let told: BTreeSet<(String, String)> = routes
        .iter()
        .map(|r| {
            let (m, p) = r.split_once(' ').expect("METHOD /path");
            (m.to_string(), p.to_string())
        })
        .collect();
    assert_eq!(told, operations(body));

    // A REQUEST authorizer backed by the application's output, on every method.
    let scheme = &body["components"]["securitySchemes"]["Guard"]["x-amazon-apigateway-authorizer"];
    assert_eq!(scheme["type"], "request");
    assert_eq!(
        scheme["identitySource"],
        "method.request.header.Authorization"
    );
    assert_eq!(
        scheme["authorizerUri"]["Fn::Sub"][1]["__FunctionArn__"]["Fn::GetAtt"],
        serde_json::json!(["Guard", "Outputs.AuthorizerFunctionArn"])
    );
    assert!(res.values().any(|r| r["Type"] == "AWS::Lambda::Permission"
        && r["Properties"]["Principal"] == "apigateway.amazonaws.com"));

    // Every integration: HTTP proxy, the five identity headers from the authorizer's context,
    // exactly the local gateway's.
    let want: BTreeSet<(String, String)> = emulator::apigw::upstream::IDENTITY_HEADERS
        .iter()
        .map(|(ctx, h)| {
            (
                format!("integration.request.header.{h}"),
                format!("context.authorizer.{ctx}"),
            )
        })
        .collect();
    for (path, item) in body["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("item") {
            if method == "parameters" {
                continue;
            }
            assert_eq!(
                op["security"],
                serde_json::json!([{"Guard": []}]),
                "{method} {path} not authorized"
            );
            let i = &op["x-amazon-apigateway-integration"];
            assert_eq!(i["type"], "http_proxy", "{method} {path}");
            let got: BTreeSet<(String, String)> = i["requestParameters"]
                .as_object()
                .expect("request parameters")
                .iter()
                .filter(|(k, _)| k.starts_with("integration.request.header."))
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect();
            assert_eq!(got, want, "{method} {path}");
        }
    }
}
