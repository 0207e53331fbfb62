//! Offline validation of `template.yaml`, the SAM template that deploys the gateway.
//!
//! - `cfn-lint` (with its serverless-transform rules) and `sam validate` (plain and `--lint`) must
//!   pass, with dummy credentials, telemetry off and every AWS endpoint pointed at a closed
//!   loopback port, so nothing can reach AWS.
//! - The SAM-expanded template (aws-sam-translator via `deploy/expand_template.py`, the same
//!   transform CloudFormation runs) is checked for what no linter knows: the authorizer is a
//!   REQUEST authorizer keyed by `Authorization` and `x-origin-verify`; every method but OPTIONS
//!   is authorized; the routes are exactly crud's; the crud role allows exactly the DynamoDB item
//!   actions crud's code calls, on the table only; the authorizer role has no data access; the
//!   table's keys and TTL are the ones crud's code uses; the alarms filter on fields and reason
//!   codes the functions really log; the CloudFront behaviour, the edge triggers and versions.
//! - `sam build EdgeFunction` runs the makefile build (deploy/edge/Makefile → edge/build-wasm.sh)
//!   and the built package is loaded by Node and fed CloudFront events.
//!
//! The tools come from `scripts/setup.sh --deploy` (the project's venv). They are required: a
//! missing tool fails the test with the command that installs it, never a silent skip.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::{json, Value};

// ------------------------------------------------------------------------------------------------
// tools
// ------------------------------------------------------------------------------------------------

pub(crate) fn root() -> PathBuf {
    harness::paths::workspace_root()
}

/// A tool from the project's venv; fails with the fix when it is missing.
pub(crate) fn venv_tool(name: &str) -> PathBuf {
    let p = root().join(".venv/bin").join(name);
    assert!(
        p.exists(),
        "{} is missing: run `scripts/setup.sh --deploy` (installs cargo-lambda, aws-sam-cli and \
         cfn-lint into .venv; scripts/test.sh must run it before the tests)",
        p.display()
    );
    p
}

/// A command with dummy credentials, telemetry off, and every AWS endpoint on a closed
/// loopback port: an accidental AWS call fails at once instead of leaving the machine.
pub(crate) fn offline(program: &Path) -> Command {
    let mut c = Command::new(program);
    c.current_dir(root())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_SESSION_TOKEN", "testing")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("SAM_CLI_TELEMETRY", "0")
        .env("SAM_CLI_DISABLE_UPDATE_CHECK", "1")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_CONFIG_FILE")
        .env_remove("AWS_SHARED_CREDENTIALS_FILE");
    c
}

pub(crate) fn run(mut c: Command, what: &str) -> Output {
    c.output()
        .unwrap_or_else(|e| panic!("could not run {what}: {e}"))
}

pub(crate) fn text(o: &Output) -> String {
    format!(
        "status: {}\n--- stdout\n{}\n--- stderr\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

pub(crate) fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
}

/// Source text without its `#[cfg(test)]` module (test code may call things production does not).
fn production_source(rel: &str) -> String {
    let src = read(rel);
    match src.find("#[cfg(test)]") {
        Some(i) => src[..i].to_string(),
        None => src,
    }
}

// ------------------------------------------------------------------------------------------------
// the expanded template
// ------------------------------------------------------------------------------------------------

/// template.yaml after the SAM transform (run once per test process).
pub(crate) fn expanded() -> &'static Value {
    static T: OnceLock<Value> = OnceLock::new();
    T.get_or_init(|| {
        let mut c = offline(&venv_tool("python"));
        c.arg(root().join("deploy/expand_template.py"));
        let o = run(c, "deploy/expand_template.py");
        assert!(
            o.status.success(),
            "the SAM transform of template.yaml failed:\n{}",
            text(&o)
        );
        serde_json::from_slice(&o.stdout).expect("expand_template.py prints JSON")
    })
}

pub(crate) fn resources() -> &'static serde_json::Map<String, Value> {
    expanded()["Resources"]
        .as_object()
        .expect("Resources object")
}

pub(crate) fn resource(id: &str) -> &'static Value {
    resources()
        .get(id)
        .unwrap_or_else(|| panic!("resource {id} missing from the expanded template"))
}

pub(crate) fn of_type(t: &str) -> Vec<(&'static String, &'static Value)> {
    resources().iter().filter(|(_, r)| r["Type"] == t).collect()
}

fn one_of_type(t: &str) -> (&'static String, &'static Value) {
    let all = of_type(t);
    assert_eq!(all.len(), 1, "expected exactly one {t}, got {}", all.len());
    all[0]
}

fn get_att_arn(id: &str) -> Value {
    json!({"Fn::GetAtt": [id, "Arn"]})
}

fn reference(id: &str) -> Value {
    json!({ "Ref": id })
}

/// `Action` / `Resource` as a list whether the policy wrote one value or several.
pub(crate) fn list(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a.clone(),
        Value::Null => Vec::new(),
        other => vec![other.clone()],
    }
}

/// The inline statements of a role, after checking it carries nothing else (no managed
/// policies, no boundary-less extras attached from elsewhere).
fn role_statements(role_id: &str) -> Vec<Value> {
    let role = resource(role_id);
    assert_eq!(role["Type"], "AWS::IAM::Role");
    assert!(
        role["Properties"]["ManagedPolicyArns"].is_null(),
        "{role_id} must not carry managed policies (least privilege is written out inline)"
    );
    // An AWS::IAM::RolePolicy is an inline policy of its role (one of its own, where the role
    // cannot name a resource without a cycle): its statements count as the role's.
    let mut attached: Vec<Value> = Vec::new();
    for (_, p) in of_type("AWS::IAM::RolePolicy") {
        if p["Properties"]["RoleName"] == reference(role_id) {
            attached.push(p["Properties"].clone());
        }
    }
    for t in ["AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"] {
        for (id, p) in of_type(t) {
            let roles = list(&p["Properties"]["Roles"]);
            let role_name = &p["Properties"]["RoleName"];
            assert!(
                !roles.contains(&reference(role_id)) && *role_name != reference(role_id),
                "{id} ({t}) attaches more permissions to {role_id}"
            );
        }
    }
    let mut out = Vec::new();
    for p in list(&role["Properties"]["Policies"])
        .into_iter()
        .chain(attached)
    {
        for s in list(&p["PolicyDocument"]["Statement"]) {
            assert_eq!(s["Effect"], "Allow", "{role_id}: unexpected statement {s}");
            for k in ["NotAction", "NotResource", "NotPrincipal"] {
                assert!(s[k].is_null(), "{role_id}: {k} grants by exclusion: {s}");
            }
            out.push(s);
        }
    }
    assert!(!out.is_empty(), "{role_id} has no inline statements");
    out
}

fn actions(s: &Value) -> Vec<String> {
    list(&s["Action"])
        .iter()
        .map(|a| a.as_str().expect("action strings").to_string())
        .collect()
}

/// The function's role must be the named, template-defined role (no SAM-generated one).
fn assert_role(function: &str, role: &str) {
    assert_eq!(
        resource(function)["Properties"]["Role"],
        get_att_arn(role),
        "{function} must run as {role}"
    );
    assert!(
        !resources().contains_key(&format!("{function}Role")),
        "SAM generated a role for {function}: give it `Role:` and no `Policies:`"
    );
}

/// The REST API's OpenAPI body (SAM builds it from the function events).
fn api_body() -> &'static Value {
    let (_, api) = one_of_type("AWS::ApiGateway::RestApi");
    &api["Properties"]["Body"]
}

const HTTP_METHODS: &[&str] = &["get", "put", "post", "delete", "options", "head", "patch"];

/// (METHOD, path, operation) for every operation of the API, `x-amazon-apigateway-any-method`
/// reported as `ANY`.
fn operations() -> Vec<(String, String, &'static Value)> {
    let mut out = Vec::new();
    let paths = api_body()["paths"].as_object().expect("paths");
    for (path, item) in paths {
        for (m, op) in item.as_object().expect("path item") {
            let method = if m == "x-amazon-apigateway-any-method" {
                "ANY".to_string()
            } else if HTTP_METHODS.contains(&m.as_str()) {
                m.to_uppercase()
            } else {
                continue;
            };
            out.push((method, path.clone(), op));
        }
    }
    assert!(!out.is_empty(), "the API has no operations");
    out
}

/// A CloudFront managed policy's id from the documented list (tests/fixtures/aws, each list
/// citing CloudFront's page), never from the template.
fn managed_policy_id(kind: &str, name: &str) -> String {
    crate::aws_facts::fixture("cloudfront-managed-policies.json")[kind][name]
        .as_str()
        .unwrap_or_else(|| panic!("{kind}.{name} missing from the fixture"))
        .to_string()
}

// ------------------------------------------------------------------------------------------------
// linters
// ------------------------------------------------------------------------------------------------

#[test]
fn cfn_lint_passes_with_the_serverless_rules() {
    let mut c = offline(&venv_tool("cfn-lint"));
    c.arg("template.yaml");
    let o = run(c, "cfn-lint");
    // Exit code 0 only: errors (2), warnings (4) and informational findings (8) all fail.
    assert!(
        o.status.success(),
        "cfn-lint template.yaml found problems:\n{}",
        text(&o)
    );
    // The transform really ran (cfn-lint expands SAM before its rules).
    assert!(read("template.yaml").contains("Transform: AWS::Serverless-2016-10-31"));
}

#[test]
fn sam_validate_passes_offline() {
    let mut c = offline(&venv_tool("sam"));
    c.args(["validate", "--template", "template.yaml"]);
    let o = run(c, "sam validate");
    assert!(o.status.success(), "sam validate failed:\n{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("is a valid SAM Template"),
        "unexpected sam validate output:\n{}",
        text(&o)
    );
}

#[test]
fn sam_validate_lint_passes_offline() {
    let mut c = offline(&venv_tool("sam"));
    c.args(["validate", "--lint", "--template", "template.yaml"]);
    let o = run(c, "sam validate --lint");
    assert!(
        o.status.success(),
        "sam validate --lint failed:\n{}",
        text(&o)
    );
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("is a valid SAM Template"),
        "unexpected sam validate --lint output:\n{}",
        text(&o)
    );
}

// ------------------------------------------------------------------------------------------------
// authorizer and routes
// ------------------------------------------------------------------------------------------------

#[test]
fn default_authorizer_is_a_request_authorizer_keyed_by_token_and_origin_verify() {
    let schemes = api_body()["components"]["securitySchemes"]
        .as_object()
        .expect("security schemes");
    assert_eq!(schemes.len(), 1, "one authorizer expected: {schemes:?}");
    let (name, scheme) = schemes.iter().next().expect("one scheme");
    assert_eq!(scheme["x-amazon-apigateway-authtype"], "custom", "{name}");
    let auth = &scheme["x-amazon-apigateway-authorizer"];
    assert_eq!(
        auth["type"], "request",
        "{name} must be a REQUEST authorizer"
    );
    let sources: BTreeSet<&str> = auth["identitySource"]
        .as_str()
        .expect("identitySource")
        .split(',')
        .map(str::trim)
        .collect();
    assert_eq!(
        sources,
        BTreeSet::from([
            "method.request.header.Authorization",
            "method.request.header.x-origin-verify"
        ]),
        "the cache key must be the token and the origin-verify header"
    );
    // The default TTL is a real cache (safe: policies list every route); 0..=3600 is API
    // Gateway's range.
    let ttl = auth["authorizerResultTtlInSeconds"]
        .as_u64()
        .expect("numeric TTL");
    assert!((1..=3600).contains(&ttl), "authorizer TTL {ttl}");
    assert!(
        auth["authorizerUri"]
            .to_string()
            .contains("AuthorizerFunction"),
        "the authorizer must invoke AuthorizerFunction: {}",
        auth["authorizerUri"]
    );

    // API Gateway may invoke the authorizer (and only through this API's authorizers).
    let perms: Vec<_> = of_type("AWS::Lambda::Permission")
        .into_iter()
        .filter(|(_, p)| p["Properties"]["FunctionName"] == get_att_arn("AuthorizerFunction"))
        .collect();
    assert_eq!(perms.len(), 1, "one invoke permission for the authorizer");
    let p = &perms[0].1["Properties"];
    assert_eq!(p["Principal"], "apigateway.amazonaws.com");
    assert!(p["SourceArn"].to_string().contains("/authorizers/*"));
}

#[test]
fn every_method_but_options_is_authorized_by_the_custom_authorizer() {
    let schemes = api_body()["components"]["securitySchemes"]
        .as_object()
        .expect("security schemes");
    for (method, path, op) in operations() {
        let security = list(&op["security"]);
        if method == "OPTIONS" {
            continue; // the only method allowed without the authorizer (preflights end at the edge)
        }
        assert!(
            !security.is_empty(),
            "{method} {path} has no authorizer (API Gateway would let anyone in)"
        );
        for req in &security {
            for name in req.as_object().expect("security requirement").keys() {
                let s = &schemes[name];
                assert_eq!(
                    s["x-amazon-apigateway-authtype"], "custom",
                    "{method} {path} uses {name}, which is not the Lambda authorizer"
                );
            }
        }
    }
    // Nothing defined outside the OpenAPI body can open a method either.
    for (id, m) in of_type("AWS::ApiGateway::Method") {
        let p = &m["Properties"];
        assert!(
            p["HttpMethod"] == "OPTIONS" || p["AuthorizationType"] == "CUSTOM",
            "{id} is not authorized by the custom authorizer"
        );
    }
    // CORS preflights are answered by the edge: the API defines no OPTIONS at all.
    assert!(
        operations().iter().all(|(m, _, _)| m != "OPTIONS"),
        "OPTIONS reached the API definition; preflights are the edge's job"
    );
}

/// crud's route table (`crud::routes::ROUTES`), as (method, path template) pairs.
fn crud_routes() -> BTreeSet<(String, String)> {
    crud::routes::ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect()
}

#[test]
fn api_routes_are_exactly_crud_routes_and_go_to_crud() {
    let want = crud_routes();
    assert_eq!(
        want.len(),
        crud::routes::ROUTES.len(),
        "crud lists a route twice"
    );
    let got: BTreeSet<(String, String)> =
        operations().into_iter().map(|(m, p, _)| (m, p)).collect();
    assert_eq!(got, want, "template routes vs crud::routes::ROUTES");
    for (method, path, op) in operations() {
        let integ = &op["x-amazon-apigateway-integration"];
        assert_eq!(integ["type"], "aws_proxy", "{method} {path}");
        // crud's alias named by the stage's crudAlias variable (stable or canary; `${!` is
        // Fn::Sub's escape for a literal `${`).
        assert_eq!(
            integ["uri"],
            json!({"Fn::Sub": "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${CrudFunction.Arn}:${!stageVariables.crudAlias}/invocations"}),
            "{method} {path} must go to CrudFunction's alias of the stage",
        );
    }
}

/// The authorizer's `API_ROUTES` is the API's own route table (what the template deploys and
/// `crud::routes::ROUTES` lists), and the authorizer accepts it: policies are then exact for every
/// route (issue 9). Checked here, so the template's copy cannot drift.
#[test]
fn authorizer_api_routes_are_the_apis_routes() {
    let (_, f) = resources()
        .iter()
        .find(|(id, _)| id.as_str() == "AuthorizerFunction")
        .expect("AuthorizerFunction");
    let v = &f["Properties"]["Environment"]["Variables"]["API_ROUTES"];
    let json = v
        .as_str()
        .unwrap_or_else(|| panic!("AuthorizerFunction must set API_ROUTES to a JSON string: {v}"));
    let list: Vec<String> = serde_json::from_str(json).expect("API_ROUTES is a JSON array");
    let got: BTreeSet<(String, String)> = list
        .iter()
        .map(|r| {
            let (m, p) = r.split_once(' ').expect("METHOD /path");
            (m.to_string(), p.to_string())
        })
        .collect();
    assert_eq!(got.len(), list.len(), "API_ROUTES lists a route twice");
    let deployed: BTreeSet<(String, String)> =
        operations().into_iter().map(|(m, p, _)| (m, p)).collect();
    assert_eq!(got, deployed, "API_ROUTES vs the template's API routes");
    assert_eq!(got, crud_routes(), "API_ROUTES vs crud::routes::ROUTES");
    // The authorizer takes it (the same parser its init runs).
    let parsed = authorizer::policy::parse_api_routes(json).expect("API_ROUTES parses");
    assert_eq!(parsed.len(), list.len());
}

#[test]
fn item_bodies_are_validated_against_a_model_refusing_server_owned_fields() {
    let server_owned: BTreeSet<String> = crud::document::SERVER_OWNED
        .iter()
        .map(|f| f.to_string())
        .collect();
    assert!(server_owned.contains("id") && server_owned.contains("version"));
    let schemas = &api_body()["components"]["schemas"];
    let mut with_body = 0;
    for (method, path, op) in operations() {
        let body = &op["requestBody"];
        if !matches!(method.as_str(), "POST" | "PUT" | "PATCH") {
            assert!(body.is_null(), "{method} {path} takes no body");
            continue;
        }
        with_body += 1;
        assert_eq!(body["required"], true, "{method} {path}: body required");
        assert_eq!(
            op["x-amazon-apigateway-request-validator"], "body-only",
            "{method} {path}: body validation on"
        );
        let r = body["content"]["application/json"]["schema"]["$ref"]
            .as_str()
            .unwrap_or_else(|| panic!("{method} {path}: no application/json model"));
        let name = r.rsplit('/').next().expect("schema name");
        let schema = &schemas[name];
        assert_eq!(schema["type"], "object", "{method} {path}");
        let forbidden: BTreeSet<String> = list(&schema["not"]["anyOf"])
            .iter()
            .flat_map(|alt| list(&alt["required"]))
            .map(|v| v.as_str().expect("name").to_string())
            .collect();
        assert_eq!(
            forbidden, server_owned,
            "{method} {path}: the model must refuse exactly crud's SERVER_OWNED members"
        );
    }
    assert_eq!(
        with_body, 4,
        "POST /items, PUT|PATCH /items/{{id}}, PUT /profile"
    );
    let validators = &api_body()["x-amazon-apigateway-request-validators"]["body-only"];
    assert_eq!(validators["validateRequestBody"], true);
}

#[test]
fn gateway_responses_are_problem_documents() {
    let responses = api_body()["x-amazon-apigateway-gateway-responses"]
        .as_object()
        .expect("gateway responses");
    for must in [
        "UNAUTHORIZED",
        "ACCESS_DENIED",
        "THROTTLED",
        "BAD_REQUEST_BODY",
        "MISSING_AUTHENTICATION_TOKEN",
        "DEFAULT_4XX",
        "DEFAULT_5XX",
    ] {
        assert!(responses.contains_key(must), "{must} not customised");
    }
    let crud_errors: BTreeSet<&str> = crud::error::ERROR_TABLE.iter().map(|k| k.code).collect();
    for (name, r) in responses {
        let params = &r["responseParameters"];
        assert_eq!(
            params["gatewayresponse.header.Content-Type"], "'application/problem+json'",
            "{name}"
        );
        assert_eq!(
            params["gatewayresponse.header.Cache-Control"], "'no-store'",
            "{name}"
        );
        let template = r["responseTemplates"]["application/json"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: no template"));
        assert!(
            !template.contains('$'),
            "{name}: no API Gateway variables in the body (some render empty and break the JSON)"
        );
        let doc: Value = serde_json::from_str(template)
            .unwrap_or_else(|e| panic!("{name}: template is not JSON: {e}"));
        for k in ["type", "title", "code"] {
            assert!(doc[k].is_string(), "{name}: problem document without {k}");
        }
        // A fixed status must agree with the document; DEFAULT_* cover several statuses.
        match r["statusCode"].as_str() {
            Some(code) => assert_eq!(doc["status"].to_string(), code, "{name}"),
            None => assert!(
                doc["status"].is_null(),
                "{name}: status without a fixed code"
            ),
        }
        // A document that borrows one of crud's error types uses crud's code for it.
        let code = doc["code"].as_str().expect("code");
        let ty = doc["type"].as_str().expect("type");
        match ty.strip_prefix("urn:apigw-guard:crud:error:") {
            Some(crud_code) => {
                assert_eq!(crud_code, code, "{name}: type and code disagree");
                assert!(
                    crud_errors.contains(code),
                    "{name}: {code:?} is not one of crud's error codes (crud::error::ERROR_TABLE)"
                );
            }
            None => assert_eq!(
                ty,
                format!("urn:apigw-guard:gateway:error:{code}"),
                "{name}"
            ),
        }
    }
    assert_eq!(
        responses["UNAUTHORIZED"]["responseParameters"]["gatewayresponse.header.WWW-Authenticate"],
        "'Bearer'"
    );
    assert_eq!(responses["THROTTLED"]["statusCode"], "429");
}

#[test]
fn stage_has_throttling_access_logs_and_tracing() {
    let stages = of_type("AWS::ApiGateway::Stage");
    assert_eq!(stages.len(), 2, "the StageName stage and the canary stage");
    for (_, stage) in stages {
        check_stage(stage);
    }
    let (_, api) = one_of_type("AWS::ApiGateway::RestApi");
    assert_eq!(
        api["Properties"]["EndpointConfiguration"]["Types"],
        json!(["REGIONAL"]),
        "CloudFront is the edge: a regional endpoint behind it"
    );
    // Access logging needs the account's CloudWatch role in place before the stage (through the
    // handle that waits for it when the stack sets it).
    assert_eq!(api["DependsOn"], "ApiGatewayAccountReady");
    assert_eq!(
        resource("ApiCanaryStage")["DependsOn"],
        "ApiGatewayAccountReady"
    );
}

fn check_stage(stage: &Value) {
    let p = &stage["Properties"];
    assert_eq!(p["TracingEnabled"], true);
    let settings = list(&p["MethodSettings"]);
    let all = settings
        .iter()
        .find(|s| s["ResourcePath"] == "/*" && s["HttpMethod"] == "*")
        .expect("stage-wide method settings");
    assert_eq!(all["ThrottlingRateLimit"], reference("ThrottlingRateLimit"));
    assert_eq!(
        all["ThrottlingBurstLimit"],
        reference("ThrottlingBurstLimit")
    );
    assert_eq!(
        all["DataTraceEnabled"], false,
        "full request logging would log tokens"
    );
    let log = &p["AccessLogSetting"];
    assert_eq!(log["DestinationArn"], get_att_arn("ApiAccessLogGroup"));
    let format: Value = serde_json::from_str(log["Format"].as_str().expect("format"))
        .expect("the access log format is one JSON object per line");
    assert_eq!(format["requestId"], "$context.requestId", "correlation id");
    assert_eq!(format["xrayTraceId"], "$context.xrayTraceId");
    assert!(
        !log["Format"]
            .to_string()
            .to_lowercase()
            .contains("authorization"),
        "no token in the access log"
    );
}

// ------------------------------------------------------------------------------------------------
// roles
// ------------------------------------------------------------------------------------------------

/// The IAM actions crud's production code needs, derived from its DynamoDB SDK calls.
///
/// The one check here that still reads source text, on purpose: what it checks is the code
/// itself (which SDK operations and transaction elements crud/src calls), and a constant cannot
/// say that. A `pub const` list of actions beside the store would be a second copy of the
/// calls, kept in step only by a check like this one; recording the operations at run time (the
/// fault proxy's per-operation counts) would only see the paths a test happens to drive.
fn crud_dynamodb_actions_from_code() -> BTreeSet<String> {
    let mut src = String::new();
    let dir = root().join("crud/src");
    for e in std::fs::read_dir(&dir).expect("crud/src") {
        let p = e.expect("entry").path();
        if p.extension().is_some_and(|x| x == "rs") {
            let rel = p.strip_prefix(root()).expect("inside root");
            src.push_str(&production_source(rel.to_str().expect("utf-8 path")));
        }
    }
    let calls: &[(&str, &[&str])] = &[
        (".get_item()", &["GetItem"]),
        (".put_item()", &["PutItem"]),
        (".update_item()", &["UpdateItem"]),
        (".delete_item()", &["DeleteItem"]),
        (".query()", &["Query"]),
        (".scan()", &["Scan"]),
        (".batch_get_item()", &["BatchGetItem"]),
        (".batch_write_item()", &["BatchWriteItem"]),
        (".transact_get_items()", &["GetItem"]),
        // TransactWriteItems is authorised per element: Put, Update, Delete, ConditionCheck.
        ("Put::builder()", &["PutItem"]),
        ("Update::builder()", &["UpdateItem"]),
        ("Delete::builder()", &["DeleteItem"]),
        ("ConditionCheck::builder()", &["ConditionCheckItem"]),
    ];
    let mut out = BTreeSet::new();
    for (needle, acts) in calls {
        if src.contains(needle) {
            out.extend(acts.iter().map(|a| format!("dynamodb:{a}")));
        }
    }
    assert!(
        out.contains("dynamodb:GetItem") && out.contains("dynamodb:Query"),
        "could not find crud's DynamoDB calls (found {out:?})"
    );
    out
}

#[test]
fn crud_role_allows_exactly_the_item_actions_crud_calls_on_the_table() {
    assert_role("CrudFunction", "CrudRole");
    let want = crud_dynamodb_actions_from_code();
    assert!(
        !want.contains("dynamodb:Scan"),
        "crud's code calls Scan: a list must be a Query on the caller's partition"
    );
    let table = get_att_arn("ItemsTable");
    let table_indexes = json!({"Fn::Sub": "${ItemsTable.Arn}/index/*"});
    let has_indexes = !resource("ItemsTable")["Properties"]["GlobalSecondaryIndexes"].is_null()
        || !resource("ItemsTable")["Properties"]["LocalSecondaryIndexes"].is_null();
    let mut granted = BTreeSet::new();
    for s in role_statements("CrudRole") {
        let acts = actions(&s);
        let res = list(&s["Resource"]);
        for a in &acts {
            assert!(!a.contains('*'), "wildcard action {a} in CrudRole");
            assert_ne!(a, "dynamodb:Scan", "CrudRole allows Scan");
        }
        if res == vec![get_att_arn("RevocationTable")]
            || acts
                .iter()
                .any(|a| a.starts_with("cognito-idp:") || a.starts_with("apigateway:"))
        {
            // the revocation routes' permissions (crud_may_write_revocations_…)
            continue;
        }
        if acts.iter().any(|a| a.starts_with("dynamodb:")) {
            assert!(
                acts.iter().all(|a| a.starts_with("dynamodb:")),
                "mixed statement {s}"
            );
            for r in &res {
                assert!(
                    *r == table || (has_indexes && *r == table_indexes),
                    "CrudRole's DynamoDB statement reaches beyond the items table: {r}"
                );
            }
            granted.extend(acts.iter().cloned());
        } else if acts.iter().all(|a| a.starts_with("logs:")) {
            assert_eq!(
                res,
                vec![get_att_arn("CrudLogGroup")],
                "crud logs: own group only"
            );
        } else if acts.iter().any(|a| a.starts_with("secretsmanager:")) {
            assert_eq!(acts, ["secretsmanager:GetSecretValue"], "{s}");
            assert_eq!(
                res,
                vec![reference("CursorKeysSecret")],
                "crud: its own secret only"
            );
        } else {
            assert!(
                acts.iter().all(|a| a.starts_with("xray:Put")),
                "unexpected CrudRole statement {s}"
            );
        }
        for r in &res {
            if *r == json!("*") {
                assert!(
                    acts.iter().all(|a| a.starts_with("xray:")),
                    "`Resource: *` is only for X-Ray (no resource-level permissions): {s}"
                );
            }
        }
    }
    assert_eq!(
        granted, want,
        "CrudRole's DynamoDB actions must be exactly those crud's code calls"
    );
}

#[test]
fn authorizer_role_has_no_data_permissions() {
    assert_role("AuthorizerFunction", "AuthorizerRole");
    let allowed: BTreeSet<&str> = BTreeSet::from([
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "secretsmanager:GetSecretValue",
        "dynamodb:Scan",
    ]);
    for s in role_statements("AuthorizerRole") {
        for a in actions(&s) {
            assert!(
                allowed.contains(a.as_str()),
                "AuthorizerRole allows {a}: the authorizer needs logs, traces, its secret and to read the revocation table only"
            );
            // Read only, and only the revocation table (its synced set: one Scan per interval).
            if a.starts_with("dynamodb:") {
                assert_eq!(actions(&s), ["dynamodb:Scan"], "{s}");
                assert_eq!(list(&s["Resource"]), vec![get_att_arn("RevocationTable")]);
            }
            if a.starts_with("secretsmanager:") {
                assert_eq!(
                    list(&s["Resource"]),
                    vec![reference("OriginVerifyAcceptedSecret")]
                );
            }
            if a.starts_with("logs:") {
                assert_eq!(
                    list(&s["Resource"]),
                    vec![get_att_arn("AuthorizerLogGroup")]
                );
            }
        }
    }
    // Its one secret is read at init by ARN (secret-source), never passed as a value.
    let env = &resource("AuthorizerFunction")["Properties"]["Environment"]["Variables"];
    assert_eq!(
        env["ORIGIN_VERIFY_SECRET_ARN"],
        reference("OriginVerifyAcceptedSecret")
    );
    assert_eq!(env["USER_POOL_ID"], reference("UserPool"));
    assert_eq!(env["CLIENT_IDS"], reference("UserPoolClient"));
    assert_eq!(env["TOKEN_USE"], reference("TokenUse"));
    assert_eq!(env["REVOCATION_TABLE"], reference("RevocationTable"));
    assert_eq!(
        env["REVOCATION_SYNC_SECONDS"],
        reference("RevocationSyncSeconds")
    );
    assert_eq!(
        env["REVOCATION_MAX_STALE_SECONDS"],
        reference("RevocationMaxStaleSeconds")
    );
    // crud reads the same interval (it answers once every authorizer has synced)
    let crud_env = &resource("CrudFunction")["Properties"]["Environment"]["Variables"];
    assert_eq!(
        crud_env["REVOCATION_SYNC_SECONDS"],
        env["REVOCATION_SYNC_SECONDS"]
    );
    assert_eq!(crud_env["REVOCATION_TABLE"], reference("RevocationTable"));
}

/// The revocation table: like the items table (on-demand here, PITR, KMS, deletion
/// protection, retained), its key and TTL from `revocation-keys/table.json`, the layout both
/// functions share.
#[test]
fn the_revocation_table_is_kept_like_the_items_table_with_its_ttl() {
    let t = resource("RevocationTable");
    let items = resource("ItemsTable");
    assert_eq!(t["Type"], "AWS::DynamoDB::Table");
    for k in ["DeletionPolicy", "UpdateReplacePolicy"] {
        assert_eq!(t[k], "Retain", "{k}");
    }
    let p = &t["Properties"];
    let schema: Value = serde_json::from_str(&read("revocation-keys/table.json")).expect("json");
    assert_eq!(p["AttributeDefinitions"], schema["AttributeDefinitions"]);
    assert_eq!(p["KeySchema"], schema["KeySchema"]);
    assert_eq!(
        p["TimeToLiveSpecification"],
        schema["TimeToLiveSpecification"]
    );
    assert_eq!(
        schema["KeySchema"][0]["AttributeName"],
        revocation_keys::PK,
        "the schema file and the code agree"
    );
    assert_eq!(
        schema["TimeToLiveSpecification"]["AttributeName"],
        revocation_keys::EXPIRES_AT
    );
    assert_eq!(p["BillingMode"], "PAY_PER_REQUEST");
    for k in [
        "PointInTimeRecoverySpecification",
        "SSESpecification",
        "DeletionProtectionEnabled",
    ] {
        assert_eq!(p[k], items["Properties"][k], "{k} as on the items table");
    }
}

/// crud's revocation permissions: writes (PutItem, UpdateItem) on the revocation table only,
/// Cognito's ListUsers + AdminUserGlobalSignOut on this pool only, and the authorizer-cache flush
/// (`apigateway:DELETE`) on exactly this API's two stages.
#[test]
fn crud_may_write_revocations_sign_users_out_and_flush_exactly_this_apis_stage_caches() {
    let rev = get_att_arn("RevocationTable");
    let mut dynamo = BTreeSet::new();
    let mut cognito = BTreeSet::new();
    let mut flush = Vec::new();
    for s in role_statements("CrudRole") {
        let acts = actions(&s);
        let res = list(&s["Resource"]);
        if res.contains(&rev) {
            assert_eq!(res, vec![rev.clone()], "{s}");
            dynamo.extend(acts);
        } else if acts.iter().any(|a| a.starts_with("cognito-idp:")) {
            assert_eq!(res, vec![get_att_arn("UserPool")], "{s}");
            cognito.extend(acts);
        } else if acts.iter().any(|a| a.starts_with("apigateway:")) {
            assert_eq!(acts, ["apigateway:DELETE"], "{s}");
            flush.extend(res);
        }
    }
    assert_eq!(
        dynamo,
        BTreeSet::from([
            "dynamodb:PutItem".to_string(),
            "dynamodb:UpdateItem".to_string()
        ])
    );
    assert_eq!(
        cognito,
        BTreeSet::from([
            "cognito-idp:AdminUserGlobalSignOut".to_string(),
            "cognito-idp:ListUsers".to_string()
        ])
    );
    let stage = |s: &str| json!({"Fn::Sub": format!("arn:${{AWS::Partition}}:apigateway:${{AWS::Region}}::/restapis/${{Api}}/stages/{s}/cache/authorizers")});
    assert_eq!(flush, vec![stage("${StageName}"), stage("canary")]);
    let env = &resource("CrudFunction")["Properties"]["Environment"]["Variables"];
    assert_eq!(env["AUTHORIZER_CACHE_FLUSH"], "on");
    assert_eq!(
        env["AUTHORIZER_CACHE_STAGES"],
        json!({"Fn::Sub": "${StageName},canary"})
    );
    assert_eq!(env["USER_POOL_ID"], reference("UserPool"));
}

/// Logs of its own replicas, plus reading exactly the rollout document (canary.rollout.source):
/// `s3:GetObject` on `<RolloutBucket>/rollout.json`, nothing else (no ListBucket, no write, no
/// other object or bucket).
#[test]
fn edge_role_is_assumable_by_lambda_at_edge_and_logs_only_plus_the_rollout_object() {
    assert_role("EdgeFunction", "EdgeRole");
    let trust = &resource("EdgeRole")["Properties"]["AssumeRolePolicyDocument"];
    let principals: BTreeSet<String> = list(&trust["Statement"])
        .iter()
        .flat_map(|s| list(&s["Principal"]["Service"]))
        .map(|p| p.as_str().expect("service principal").to_string())
        .collect();
    assert_eq!(
        principals,
        BTreeSet::from([
            "lambda.amazonaws.com".to_string(),
            "edgelambda.amazonaws.com".to_string()
        ])
    );
    let rollout_object = json!({"Fn::Sub": "${RolloutBucket.Arn}/rollout.json"});
    let mut reads = 0;
    for s in role_statements("EdgeRole") {
        let acts = actions(&s);
        if acts.iter().any(|a| a.starts_with("s3:")) {
            assert_eq!(acts, ["s3:GetObject"], "EdgeRole's S3 access: {s}");
            assert_eq!(
                list(&s["Resource"]),
                vec![rollout_object.clone()],
                "EdgeRole reads more than the rollout document: {s}"
            );
            assert!(s["Condition"].is_null(), "{s}");
            reads += 1;
            continue;
        }
        for a in acts {
            assert!(a.starts_with("logs:"), "EdgeRole allows {a}");
        }
        for r in list(&s["Resource"]) {
            assert!(
                r.to_string()
                    .contains("log-group:/aws/lambda/us-east-1.${AWS::StackName}-edge"),
                "EdgeRole logs beyond its replicas' groups: {r}"
            );
        }
    }
    assert_eq!(
        reads, 1,
        "EdgeRole must read the rollout document (one statement)"
    );
    // The object the role reads is the one the stack tells the edge build to use.
    assert_eq!(
        expanded()["Outputs"]["RolloutObjectUri"]["Value"],
        json!({"Fn::Sub": "s3://${RolloutBucket}/rollout.json"})
    );
}

// ------------------------------------------------------------------------------------------------
// table
// ------------------------------------------------------------------------------------------------

/// `crud/table.json` is the table's one schema (`scripts/local_table.py` and the harness create
/// the local tables from it; crud's `tests/table_schema.rs` ties it to the store's attribute
/// names): the template's ItemsTable declares exactly its attributes, keys and TTL.
#[test]
fn table_is_the_schema_in_crud_table_json() {
    let schema: Value = serde_json::from_str(&read("crud/table.json")).expect("crud/table.json");
    let p = &resource("ItemsTable")["Properties"];
    for k in [
        "AttributeDefinitions",
        "KeySchema",
        "TimeToLiveSpecification",
    ] {
        assert!(schema[k].is_array() || schema[k].is_object(), "{k}");
        assert_eq!(p[k], schema[k], "{k}: template.yaml vs crud/table.json");
    }
}

#[test]
fn table_keys_and_ttl_are_the_ones_crud_uses() {
    let (pk, sk, expires) = (
        crud::store::PK.to_string(),
        crud::store::SK.to_string(),
        crud::store::EXPIRES,
    );
    let t = resource("ItemsTable");
    assert_eq!(t["Type"], "AWS::DynamoDB::Table");
    let p = &t["Properties"];
    assert_eq!(
        p["KeySchema"],
        json!([{"AttributeName": pk, "KeyType": "HASH"}, {"AttributeName": sk, "KeyType": "RANGE"}])
    );
    let defs: BTreeMap<String, Value> = list(&p["AttributeDefinitions"])
        .iter()
        .map(|d| {
            (
                d["AttributeName"].as_str().expect("name").to_string(),
                d["AttributeType"].clone(),
            )
        })
        .collect();
    assert_eq!(
        defs,
        BTreeMap::from([(pk.clone(), json!("S")), (sk.clone(), json!("S"))])
    );
    assert_eq!(
        p["TimeToLiveSpecification"],
        json!({"AttributeName": expires, "Enabled": true}),
        "TTL on the idempotency records' expiry attribute"
    );
    assert_eq!(
        p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
        true
    );
    assert_eq!(p["SSESpecification"]["SSEEnabled"], true);
    assert_eq!(
        p["DeletionProtectionEnabled"],
        json!({"Fn::If": ["IsProtected", true, false]})
    );
    assert_eq!(t["DeletionPolicy"], "Retain");
    // On-demand by default, provisioned with auto scaling on request.
    assert_eq!(p["BillingMode"], reference("TableBillingMode"));
    let params = &expanded()["Parameters"];
    assert_eq!(params["TableBillingMode"]["Default"], "PAY_PER_REQUEST");
    assert_eq!(params["DeletionProtection"]["Default"], "true");
    let targets = of_type("AWS::ApplicationAutoScaling::ScalableTarget");
    let dims: BTreeSet<&str> = targets
        .iter()
        .map(|(_, t)| {
            assert_eq!(t["Condition"], "IsProvisioned");
            t["Properties"]["ScalableDimension"]
                .as_str()
                .expect("dimension")
        })
        .collect();
    assert_eq!(
        dims,
        BTreeSet::from([
            "dynamodb:table:ReadCapacityUnits",
            "dynamodb:table:WriteCapacityUnits"
        ])
    );
    assert_eq!(
        of_type("AWS::ApplicationAutoScaling::ScalingPolicy").len(),
        2
    );
    let env = &resource("CrudFunction")["Properties"]["Environment"]["Variables"];
    assert_eq!(env["TABLE_NAME"], reference("ItemsTable"));
    assert_eq!(env["CURSOR_SECRET_ARN"], reference("CursorKeysSecret"));
    assert!(
        env["CURSOR_SECRET"].is_null(),
        "the cursor keys are read at init, by ARN"
    );
}

// ------------------------------------------------------------------------------------------------
// functions, edge, CloudFront
// ------------------------------------------------------------------------------------------------

#[test]
fn rust_functions_are_built_by_cargo_lambda_from_their_crates() {
    for (id, bin) in [
        ("AuthorizerFunction", "authorizer"),
        ("CrudFunction", "crud"),
    ] {
        let f = resource(id);
        assert_eq!(f["Metadata"]["BuildMethod"], "rust-cargolambda", "{id}");
        assert_eq!(f["Metadata"]["BuildProperties"]["Binary"], bin, "{id}");
        let p = &f["Properties"];
        assert_eq!(p["Runtime"], "provided.al2023", "{id}");
        assert_eq!(p["Handler"], "bootstrap", "{id}");
        assert_eq!(p["TracingConfig"]["Mode"], "Active", "{id}");
        let dir = p["Code"]["S3Key"].as_str().expect("local code folder");
        let manifest = read(&format!("{dir}/Cargo.toml"));
        assert!(
            manifest.contains(&format!("name = \"{bin}\"")),
            "{dir}/Cargo.toml does not build a binary named {bin}"
        );
        assert!(
            root().join(dir).join("src/main.rs").exists(),
            "{dir}/src/main.rs"
        );
    }
}

/// Stack deletion cannot fail on the edge function: Lambda refuses to delete a Lambda@Edge
/// function while CloudFront still holds replicas (hours after the distribution is gone), so the
/// function, its alias and every version are retained (docs/deploy.md, "Deleting the stack").
#[test]
fn edge_function_its_alias_and_versions_are_retained_on_stack_deletion() {
    let edge: Vec<(&String, &Value)> = resources()
        .iter()
        .filter(|(id, r)| {
            id.starts_with("EdgeFunction")
                && r["Type"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("AWS::Lambda::"))
        })
        .collect();
    let types: BTreeSet<&str> = edge
        .iter()
        .filter_map(|(_, r)| r["Type"].as_str())
        .collect();
    assert_eq!(
        types,
        BTreeSet::from([
            "AWS::Lambda::Function",
            "AWS::Lambda::Alias",
            "AWS::Lambda::Version"
        ]),
        "{edge:?}"
    );
    for (id, r) in edge {
        assert_eq!(r["DeletionPolicy"], "Retain", "{id}");
        assert_eq!(r["UpdateReplacePolicy"], "Retain", "{id}");
    }
}

/// API Gateway's account-level logging role is set only with ManageApiGatewayAccount=true, and
/// the API's stages still wait for it then (through a handle: DependsOn cannot name a
/// conditional resource).
#[test]
fn api_gateway_account_setting_is_optional_and_the_stages_wait_for_it() {
    let params = &expanded()["Parameters"]["ManageApiGatewayAccount"];
    assert_eq!(params["Default"], "true");
    assert_eq!(params["AllowedValues"], json!(["true", "false"]));
    for id in ["ApiGatewayAccount", "ApiGatewayCloudWatchRole"] {
        assert_eq!(
            resource(id)["Condition"],
            "ManagesApiGatewayAccount",
            "{id}"
        );
    }
    let handle = resource("ApiGatewayAccountReady");
    assert_eq!(handle["Type"], "AWS::CloudFormation::WaitConditionHandle");
    assert_eq!(
        handle["Metadata"]["AccountSetting"],
        json!({"Fn::If": ["ManagesApiGatewayAccount", {"Ref": "ApiGatewayAccount"}, ""]})
    );
    // Every stage depends, directly or through its deployment and API, on the handle.
    fn direct_deps(v: &Value, out: &mut BTreeSet<String>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    match (k.as_str(), x) {
                        ("Ref", Value::String(t)) => {
                            out.insert(t.clone());
                        }
                        ("Fn::GetAtt", Value::Array(a)) => {
                            if let Some(t) = a.first().and_then(Value::as_str) {
                                out.insert(t.to_string());
                            }
                        }
                        ("DependsOn", d) => out.extend(
                            list(d)
                                .iter()
                                .filter_map(|t| t.as_str().map(str::to_string)),
                        ),
                        _ => direct_deps(x, out),
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|x| direct_deps(x, out)),
            _ => {}
        }
    }
    let stages = of_type("AWS::ApiGateway::Stage");
    assert!(stages.len() >= 2);
    for (id, _) in stages {
        let mut seen = BTreeSet::new();
        let mut todo = vec![id.clone()];
        while let Some(r) = todo.pop() {
            if !seen.insert(r.clone()) {
                continue;
            }
            if let Some(res) = resources().get(&r) {
                let mut d = BTreeSet::new();
                direct_deps(res, &mut d);
                todo.extend(d);
            }
        }
        assert!(
            seen.contains("ApiGatewayAccountReady"),
            "{id} must wait for the account setting"
        );
    }
}

#[test]
fn edge_function_is_a_numbered_lambda_at_edge_version_on_all_four_triggers() {
    let f = resource("EdgeFunction");
    assert_eq!(f["Metadata"]["BuildMethod"], "makefile");
    let p = &f["Properties"];
    assert!(
        p["Runtime"]
            .as_str()
            .expect("runtime")
            .starts_with("nodejs"),
        "Lambda@Edge runs Node.js"
    );
    assert_eq!(p["Handler"], "index.handler");
    assert_eq!(
        p["Architectures"],
        json!(["x86_64"]),
        "Lambda@Edge is x86_64 only"
    );
    assert!(
        p["Environment"].is_null(),
        "Lambda@Edge has no environment variables"
    );
    assert!(p["TracingConfig"].is_null(), "Lambda@Edge has no X-Ray");
    assert!(
        p["MemorySize"].as_u64().expect("memory") <= 128,
        "viewer triggers: 128 MB"
    );
    assert!(
        p["Timeout"].as_u64().expect("timeout") <= 5,
        "viewer triggers: 5 s"
    );
    let dir = p["Code"]["S3Key"].as_str().expect("code folder");
    assert!(
        read(&format!("{dir}/Makefile")).contains("build-EdgeFunction:"),
        "{dir}/Makefile has no build-EdgeFunction target"
    );
    assert!(read("edge/node/index.js").contains("exports.handler"));

    // (crud publishes its own version too: its canary alias.)
    let versions: Vec<_> = of_type("AWS::Lambda::Version")
        .into_iter()
        .filter(|(_, v)| v["Properties"]["FunctionName"] == reference("EdgeFunction"))
        .collect();
    assert_eq!(versions.len(), 1, "one published edge version");
    let (version_id, version) = versions[0];
    assert_eq!(
        version["Properties"]["FunctionName"],
        reference("EdgeFunction")
    );

    let (_, dist) = one_of_type("AWS::CloudFront::Distribution");
    let behaviour = &dist["Properties"]["DistributionConfig"]["DefaultCacheBehavior"];
    let assoc = list(&behaviour["LambdaFunctionAssociations"]);
    let events: BTreeSet<&str> = assoc
        .iter()
        .map(|a| {
            assert_eq!(
                a["LambdaFunctionARN"],
                reference(version_id),
                "CloudFront needs the numbered version (not $LATEST or an alias)"
            );
            assert_ne!(a["IncludeBody"], true, "the edge does not need bodies");
            a["EventType"].as_str().expect("event type")
        })
        .collect();
    assert_eq!(
        events,
        BTreeSet::from([
            "viewer-request",
            "origin-request",
            "origin-response",
            "viewer-response"
        ])
    );
    // Lambda@Edge exists only in us-east-1: the stack refuses any other region.
    let rule = &expanded()["Rules"]["EdgeRegion"]["Assertions"][0]["Assert"];
    assert_eq!(
        rule,
        &json!({"Fn::Equals": [{"Ref": "AWS::Region"}, "us-east-1"]})
    );
}

#[test]
fn cloudfront_behaviour_does_not_cache_keys_the_variant_and_drops_host() {
    let (_, dist) = one_of_type("AWS::CloudFront::Distribution");
    let cfg = &dist["Properties"]["DistributionConfig"];
    let b = &cfg["DefaultCacheBehavior"];
    assert_eq!(
        b["ViewerProtocolPolicy"], "https-only",
        "no token over plain HTTP"
    );
    assert_eq!(
        b["CachePolicyId"],
        json!({"Fn::If": ["ApiCachingOn", {"Ref": "ApiCachePolicy"},
            managed_policy_id("cache_policies", "CachingDisabled")]}),
        "caching off (managed CachingDisabled) unless explicitly turned on"
    );
    assert_eq!(
        expanded()["Parameters"]["ApiCacheMaxTtlSeconds"]["Default"],
        0
    );
    assert_eq!(
        b["OriginRequestPolicyId"],
        managed_policy_id("origin_request_policies", "AllViewerExceptHostHeader"),
        "Host must not be forwarded to API Gateway"
    );
    let methods: BTreeSet<String> = list(&b["AllowedMethods"])
        .iter()
        .map(|m| m.as_str().expect("method").to_string())
        .collect();
    for m in ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] {
        assert!(methods.contains(m), "{m} not allowed through CloudFront");
    }
    // With caching turned on, the key holds everything a response depends on.
    let variant = edge::canary::VARIANT_HEADER;
    let policy = &resource("ApiCachePolicy")["Properties"]["CachePolicyConfig"];
    let keyed: BTreeSet<String> =
        list(&policy["ParametersInCacheKeyAndForwardedToOrigin"]["HeadersConfig"]["Headers"])
            .iter()
            .map(|h| h.as_str().expect("header").to_ascii_lowercase())
            .collect();
    for h in ["authorization", "origin", variant] {
        assert!(keyed.contains(h), "{h} missing from the API cache key");
    }
    assert_eq!(
        policy["DefaultTTL"], 0,
        "cache only what the origin marks cacheable"
    );
    assert_eq!(
        policy["ParametersInCacheKeyAndForwardedToOrigin"]["QueryStringsConfig"]
            ["QueryStringBehavior"],
        "all"
    );
    // The API is the first origin, over TLS, with its stage as the path; the only other one is
    // the optional sample app's bucket (checked in `sample_app_is_a_private_bucket_at_app_...`).
    let origins = list(&cfg["Origins"]);
    assert_eq!(origins.len(), 2);
    assert_eq!(origins[1]["Fn::If"][0], "SampleAppOn");
    let o = &origins[0];
    assert!(o["DomainName"].to_string().contains("${Api}.execute-api."));
    assert_eq!(
        o["CustomOriginConfig"]["OriginProtocolPolicy"],
        "https-only"
    );
    assert_eq!(
        cfg["WebACLId"],
        json!({"Fn::If": ["WafEnabled", {"Fn::GetAtt": ["WebAcl", "Arn"]}, {"Ref": "AWS::NoValue"}]})
    );
    let acl = &resource("WebAcl");
    assert_eq!(acl["Condition"], "WafEnabled");
    assert_eq!(acl["Properties"]["Scope"], "CLOUDFRONT");
    let managed: BTreeSet<String> = list(&acl["Properties"]["Rules"])
        .iter()
        .filter_map(|r| r["Statement"]["ManagedRuleGroupStatement"]["Name"].as_str())
        .map(str::to_string)
        .collect();
    assert!(
        managed.contains("AWSManagedRulesCommonRuleSet"),
        "{managed:?}"
    );
    assert!(
        managed.contains("AWSManagedRulesKnownBadInputsRuleSet"),
        "{managed:?}"
    );
}

#[test]
fn sample_app_is_a_private_bucket_at_app_with_the_edges_security_headers() {
    // Off unless asked for: every app resource is conditional.
    assert_eq!(
        expanded()["Parameters"]["EnableSampleApp"]["Default"],
        "false"
    );
    for id in [
        "AppBucket",
        "AppBucketPolicy",
        "AppOriginAccessControl",
        "AppResponseHeadersPolicy",
        "AppIndexFunction",
    ] {
        assert_eq!(resource(id)["Condition"], "SampleAppOn", "{id}");
    }
    // The bucket is private: no public access of any kind, owner-enforced, encrypted.
    let b = &resource("AppBucket")["Properties"];
    for k in [
        "BlockPublicAcls",
        "BlockPublicPolicy",
        "IgnorePublicAcls",
        "RestrictPublicBuckets",
    ] {
        assert_eq!(b["PublicAccessBlockConfiguration"][k], true, "{k}");
    }
    assert_eq!(
        b["OwnershipControls"]["Rules"][0]["ObjectOwnership"],
        "BucketOwnerEnforced"
    );
    assert!(b.get("WebsiteConfiguration").is_none(), "no public website");
    // Only CloudFront, only for this distribution, only GetObject under app/; TLS only.
    let statements =
        list(&resource("AppBucketPolicy")["Properties"]["PolicyDocument"]["Statement"]);
    let allows: Vec<&Value> = statements
        .iter()
        .filter(|s| s["Effect"] == "Allow")
        .collect();
    assert_eq!(allows.len(), 1, "{statements:?}");
    let a = allows[0];
    assert_eq!(
        a["Principal"],
        json!({"Service": "cloudfront.amazonaws.com"})
    );
    assert_eq!(list(&a["Action"]), vec![json!("s3:GetObject")]);
    assert!(
        a["Resource"].to_string().contains("/app/*"),
        "{}",
        a["Resource"]
    );
    assert!(
        a["Condition"]["StringEquals"]["AWS:SourceArn"]
            .to_string()
            .contains("distribution/${Distribution}"),
        "{}",
        a["Condition"]
    );
    assert!(
        statements
            .iter()
            .any(|s| s["Effect"] == "Deny"
                && s["Condition"]["Bool"]["aws:SecureTransport"] == "false")
    );
    let oac = &resource("AppOriginAccessControl")["Properties"]["OriginAccessControlConfig"];
    assert_eq!(oac["OriginAccessControlOriginType"], "s3");
    assert_eq!(oac["SigningBehavior"], "always");

    // The distribution: the bucket origin through OAC, /app/* to it with the headers policy and
    // no Lambda@Edge; everything else stays on the API's default behaviour.
    let (_, dist) = one_of_type("AWS::CloudFront::Distribution");
    let cfg = &dist["Properties"]["DistributionConfig"];
    let origin = &list(&cfg["Origins"])[1]["Fn::If"][1];
    assert_eq!(origin["Id"], "app");
    assert_eq!(
        origin["OriginAccessControlId"],
        json!({"Fn::GetAtt": ["AppOriginAccessControl", "Id"]})
    );
    assert_eq!(
        origin["S3OriginConfig"]["OriginAccessIdentity"], "",
        "OAC, not a legacy OAI"
    );
    assert_eq!(cfg["CacheBehaviors"]["Fn::If"][0], "SampleAppOn");
    let behaviours = list(&cfg["CacheBehaviors"]["Fn::If"][1]);
    assert_eq!(behaviours.len(), 1);
    let app = &behaviours[0];
    assert_eq!(app["PathPattern"], "/app/*");
    assert_eq!(app["TargetOriginId"], "app");
    assert_eq!(
        app["ResponseHeadersPolicyId"],
        reference("AppResponseHeadersPolicy")
    );
    assert_eq!(
        list(&app["AllowedMethods"]),
        vec![json!("GET"), json!("HEAD")]
    );
    assert!(app.get("LambdaFunctionAssociations").is_none());
    assert!(cfg["DefaultCacheBehavior"]["TargetOriginId"] == "api");

    // The headers policy: the edge's security headers, and a CSP for the app (not the API's).
    let h = &resource("AppResponseHeadersPolicy")["Properties"]["ResponseHeadersPolicyConfig"];
    let sec = &h["SecurityHeadersConfig"];
    // The edge's defaults (what it sends when its configuration names no other value).
    let edge_default = edge::config::SecurityHeadersConfig::default();
    let hsts = edge_default
        .strict_transport_security
        .expect("the edge sends HSTS by default");
    assert_eq!(hsts, "max-age=63072000; includeSubDomains");
    assert_eq!(
        sec["StrictTransportSecurity"]["AccessControlMaxAgeSec"],
        63072000
    );
    assert_eq!(sec["StrictTransportSecurity"]["IncludeSubdomains"], true);
    assert_eq!(
        edge_default.x_content_type_options.as_deref(),
        Some("nosniff")
    );
    assert_eq!(sec["ContentTypeOptions"]["Override"], true);
    let frame = edge_default.x_frame_options.expect("X-Frame-Options");
    assert_eq!(sec["FrameOptions"]["FrameOption"], frame.as_str());
    let referrer = edge_default.referrer_policy.expect("Referrer-Policy");
    assert_eq!(sec["ReferrerPolicy"]["ReferrerPolicy"], referrer.as_str());
    let custom = list(&h["CustomHeadersConfig"]["Items"]);
    let pp = custom
        .iter()
        .find(|c| c["Header"] == "Permissions-Policy")
        .expect("Permissions-Policy");
    let permissions = edge_default.permissions_policy.expect("Permissions-Policy");
    assert_eq!(pp["Value"], permissions.as_str());
    let csp = sec["ContentSecurityPolicy"]["ContentSecurityPolicy"].to_string();
    for d in [
        "default-src 'none'",
        "script-src 'self'",
        "connect-src 'self' https://cognito-idp.",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(d), "app CSP lacks {d}: {csp}");
    }
    assert!(!csp.contains("unsafe-"), "{csp}");
    // The local app server sends the same policy (its connect-src names the local API instead).
    let local = read("scripts/web_server.py");
    for d in [
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(local.contains(d), "scripts/web_server.py CSP lacks {d}");
    }
    let outputs = expanded()["Outputs"].as_object().expect("outputs");
    assert_eq!(outputs["AppUrl"]["Condition"], "SampleAppOn");
}

/// The dynamic reference CloudFront's x-origin-verify header takes its value from (CloudFormation
/// resolves it when it creates or updates the distribution), with or without a version id.
fn origin_verify_header_reference(version: bool) -> Value {
    let v = if version {
        ":::${OriginVerifyHeaderVersionId}"
    } else {
        ""
    };
    json!({"Fn::Sub": format!(
        "{{{{resolve:secretsmanager:${{OriginVerifyHeaderSecret}}:SecretString{v}}}}}"
    )})
}

#[test]
fn origin_verify_header_is_added_by_cloudfront_and_checked_by_the_authorizer() {
    let (_, dist) = one_of_type("AWS::CloudFront::Distribution");
    let o = &dist["Properties"]["DistributionConfig"]["Origins"][0];
    let headers = list(&o["OriginCustomHeaders"]);
    // CloudFront's value: a Secrets Manager dynamic reference (never a parameter or a literal),
    // to a chosen version of the header secret during a rotation.
    assert_eq!(
        headers,
        vec![
            json!({"HeaderName": "x-origin-verify", "HeaderValue": {"Fn::If": [
                "HasOriginVerifyHeaderVersionId",
                origin_verify_header_reference(true),
                origin_verify_header_reference(false)
            ]}})
        ]
    );
    assert_eq!(
        origin_verify_header_reference(false),
        json!({"Fn::Sub": "{{resolve:secretsmanager:${OriginVerifyHeaderSecret}:SecretString}}"})
    );
    assert_eq!(
        expanded()["Conditions"]["HasOriginVerifyHeaderVersionId"],
        json!({"Fn::Not": [{"Fn::Equals": [reference("OriginVerifyHeaderVersionId"), ""]}]})
    );
    assert_eq!(
        expanded()["Parameters"]["OriginVerifyHeaderVersionId"]["Default"],
        ""
    );
    // The authorizer accepts the values of its own secret, created equal to the header secret
    // (a comma-separated list of two only during a rotation), read at init by ARN.
    let env = &resource("AuthorizerFunction")["Properties"]["Environment"]["Variables"];
    assert_eq!(
        env["ORIGIN_VERIFY_SECRET_ARN"],
        reference("OriginVerifyAcceptedSecret")
    );
    assert!(env["ORIGIN_VERIFY_SECRET"].is_null());
    assert_eq!(
        resource("OriginVerifyAcceptedSecret")["Properties"]["SecretString"],
        origin_verify_header_reference(false)
    );
    // No secret is a template parameter any more (the values are generated by Secrets Manager).
    let params = expanded()["Parameters"].as_object().expect("parameters");
    for old in [
        "OriginVerifySecret",
        "OriginVerifyPreviousSecret",
        "CursorSecret",
    ] {
        assert!(!params.contains_key(old), "parameter {old} is back");
    }
    for (name, p) in params {
        assert!(
            p["NoEcho"].is_null() || p["NoEcho"] == false,
            "{name} is a NoEcho parameter: secrets belong in Secrets Manager"
        );
    }
    // The header name is the one the edge strips from viewers and the authorizer reads.
    assert_eq!(edge::hygiene::ORIGIN_VERIFY_HEADER, "x-origin-verify");
    assert_eq!(authorizer::handler::ORIGIN_VERIFY_HEADER, "x-origin-verify");
}

/// The template's Secrets Manager secrets, by logical id.
fn secrets() -> BTreeMap<String, &'static Value> {
    of_type("AWS::SecretsManager::Secret")
        .into_iter()
        .map(|(id, r)| (id.clone(), r))
        .collect()
}

/// No function's configuration holds a secret value (it is readable with
/// `lambda:GetFunctionConfiguration`): a secret setting is `<NAME>_ARN` naming one of the
/// template's secrets, and no variable takes a NoEcho parameter or a dynamic reference.
#[test]
fn no_function_environment_carries_a_secret_value() {
    let secrets = secrets();
    let params = expanded()["Parameters"].as_object().expect("parameters");
    let functions = of_type("AWS::Lambda::Function");
    assert!(functions.len() >= 3, "authorizer, crud, edge at least");
    let mut arns = BTreeMap::new();
    for (id, f) in functions {
        let vars = &f["Properties"]["Environment"]["Variables"];
        let Some(vars) = vars.as_object() else {
            continue;
        };
        for (k, v) in vars {
            let text = v.to_string();
            assert!(
                !text.contains("{{resolve:"),
                "{id} {k}: a dynamic reference puts the value in the configuration"
            );
            for (p, def) in params {
                if def["NoEcho"] == true {
                    assert!(!text.contains(&format!("\"{p}\"")), "{id} {k} uses {p}");
                }
            }
            let upper = k.to_ascii_uppercase();
            let secretish = ["SECRET", "PASSWORD", "PRIVATE", "CREDENTIAL", "API_KEY"]
                .iter()
                .any(|w| upper.contains(w));
            if k == "SECRETS_REVISION" {
                assert_eq!(*v, reference("SecretsRevision"), "{id}");
                continue;
            }
            if secretish || k.ends_with("_ARN") {
                let name = k.strip_suffix("_ARN").unwrap_or_else(|| {
                    panic!("{id} {k}: a secret setting in plain text (give its _ARN)")
                });
                let target = v["Ref"].as_str().unwrap_or_else(|| {
                    panic!("{id} {k}: not a Ref to one of the template's secrets: {v}")
                });
                assert!(
                    secrets.contains_key(target),
                    "{id} {k}: {target} is not a Secrets Manager secret of this template"
                );
                assert!(!vars.contains_key(name), "{id}: both {name} and {k}");
                arns.insert(format!("{id} {k}"), target.to_string());
            }
        }
    }
    // The names are the ones the functions resolve (secret-source's `<NAME>_ARN`, NAME being
    // the setting each function's main.rs passes to secret-source).
    assert_eq!(
        arns,
        BTreeMap::from([
            (
                format!(
                    "AuthorizerFunction {}_ARN",
                    authorizer::config::ORIGIN_VERIFY_SECRET_ENV
                ),
                "OriginVerifyAcceptedSecret".to_string()
            ),
            (
                format!("CrudFunction {}_ARN", crud::config::CURSOR_SECRET_ENV),
                "CursorKeysSecret".to_string()
            ),
        ])
    );
}

/// Each role may read exactly its own function's secret (`secretsmanager:GetSecretValue` on that
/// one ARN, nothing else of Secrets Manager, SSM or KMS); the header secret is read by
/// CloudFormation only; no resource policy widens any of them.
#[test]
fn each_role_reads_only_its_own_secret() {
    let mut grants: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for (role, r) in of_type("AWS::IAM::Role") {
        for p in list(&r["Properties"]["Policies"]) {
            for st in list(&p["PolicyDocument"]["Statement"]) {
                let acts: Vec<String> = list(&st["Action"])
                    .iter()
                    .map(|a| a.as_str().unwrap_or_default().to_string())
                    .collect();
                if !acts.iter().any(|a| {
                    a.starts_with("secretsmanager:")
                        || a.starts_with("ssm:")
                        || a.starts_with("kms:")
                        || a == "*"
                }) {
                    continue;
                }
                assert_eq!(acts, ["secretsmanager:GetSecretValue"], "{role}: {st}");
                assert_eq!(st["Effect"], "Allow", "{role}");
                assert!(st["Condition"].is_null() && st["NotResource"].is_null());
                grants
                    .entry(role.clone())
                    .or_default()
                    .extend(list(&st["Resource"]));
            }
        }
    }
    assert_eq!(
        grants,
        BTreeMap::from([
            (
                "AuthorizerRole".to_string(),
                vec![reference("OriginVerifyAcceptedSecret")]
            ),
            ("CrudRole".to_string(), vec![reference("CursorKeysSecret")]),
        ])
    );
    // And each function runs as the role that may read the secret its environment names.
    for (function, role, var) in [
        (
            "AuthorizerFunction",
            "AuthorizerRole",
            "ORIGIN_VERIFY_SECRET_ARN",
        ),
        ("CrudFunction", "CrudRole", "CURSOR_SECRET_ARN"),
    ] {
        assert_role(function, role);
        let env = &resource(function)["Properties"]["Environment"]["Variables"];
        assert_eq!(vec![env[var].clone()], grants[role], "{function}");
    }
    assert!(of_type("AWS::SecretsManager::ResourcePolicy").is_empty());
    assert_eq!(
        secrets().keys().map(String::as_str).collect::<Vec<_>>(),
        [
            "CursorKeysSecret",
            "OriginVerifyAcceptedSecret",
            "OriginVerifyHeaderSecret"
        ]
    );
}

/// Secrets Manager generates values its readers accept: the origin-verify value a header
/// value the authorizer takes (no comma, at least 16 characters, printable ASCII), the cursor
/// key standard base64 of at least crud's MIN_SECRET_BYTES (decoded here with the same engine
/// crud uses, on values drawn from the generated alphabet).
#[test]
fn secrets_are_generated_in_the_alphabets_their_readers_accept() {
    // Secrets Manager's character set: letters, digits and this punctuation (no space asked).
    const PUNCTUATION: &str = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
    let alphabet = |g: &Value| -> BTreeSet<char> {
        let excluded: BTreeSet<char> = g["ExcludeCharacters"]
            .as_str()
            .unwrap_or("")
            .chars()
            .collect();
        let mut all: BTreeSet<char> = ('A'..='Z').chain('a'..='z').chain('0'..='9').collect();
        if g["ExcludePunctuation"] != true {
            all.extend(PUNCTUATION.chars());
        }
        assert_ne!(g["IncludeSpace"], true);
        all.difference(&excluded).copied().collect()
    };
    let length = |g: &Value| g["PasswordLength"].as_u64().expect("PasswordLength") as usize;

    let header = &resource("OriginVerifyHeaderSecret")["Properties"]["GenerateSecretString"];
    let chars = alphabet(header);
    assert!(
        !chars.contains(&','),
        "the authorizer's setting is a comma-separated list"
    );
    assert!(chars.iter().all(|c| c.is_ascii_alphanumeric()), "{chars:?}");
    assert!(
        length(header) >= 32,
        "a header value of at least 32 characters"
    );

    let cursor = &resource("CursorKeysSecret")["Properties"]["GenerateSecretString"];
    let chars = alphabet(cursor);
    let standard: BTreeSet<char> = ('A'..='Z')
        .chain('a'..='z')
        .chain('0'..='9')
        .chain(['+', '/'])
        .collect();
    assert_eq!(chars, standard, "crud's keys are standard base64");
    // One alphabet: exactly the one crud's parser accepts (`SECRET_ALPHABET`, its `=` padding
    // aside: a 64-character key needs none).
    let declared: BTreeSet<char> = crud::cursor::SECRET_ALPHABET
        .chars()
        .filter(|&c| c != '=')
        .collect();
    assert_eq!(
        chars, declared,
        "the template generates exactly crud's SECRET_ALPHABET"
    );
    assert_eq!(
        cursor["RequireEachIncludedType"], false,
        "every character drawn uniformly"
    );
    let n = length(cursor);
    assert_eq!(n % 4, 0, "no padding needed, no spare bits");
    let min = crud::cursor::MIN_SECRET_BYTES;
    assert!(
        n / 4 * 3 >= min,
        "{n} characters decode to fewer than {min} bytes"
    );
    // crud's own parser (`CursorKeys::from_secret`, what its init runs on CURSOR_SECRET) takes
    // every generated key; it does refuse a key short of MIN_SECRET_BYTES and a base64url one.
    use base64::Engine as _;
    use crud::cursor::{CursorConfigError, CursorKeys};
    let short = base64::engine::general_purpose::STANDARD.encode(vec![0xfb; min - 1]);
    assert_eq!(
        CursorKeys::from_secret(&short).err(),
        Some(CursorConfigError::TooShort(1))
    );
    let url_safe = base64::engine::general_purpose::URL_SAFE.encode(vec![0xfb; min]);
    assert_eq!(
        CursorKeys::from_secret(&url_safe).err(),
        Some(CursorConfigError::NotBase64(1))
    );
    let chars: Vec<char> = chars.into_iter().collect();
    let rng = aws_lc_rs::rand::SystemRandom::new();
    for _ in 0..200 {
        let mut raw = vec![0u8; n];
        aws_lc_rs::rand::SecureRandom::fill(&rng, &mut raw).expect("randomness");
        let key: String = raw.iter().map(|b| chars[*b as usize % 64]).collect();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&key)
            .expect("a generated key is standard base64");
        assert!(bytes.len() >= min);
        assert!(
            CursorKeys::from_secret(&key).is_ok(),
            "crud refuses a key the template can generate"
        );
    }
}

// ------------------------------------------------------------------------------------------------
// alarms
// ------------------------------------------------------------------------------------------------

/// Every `$.field = "value"` comparison in a metric filter pattern.
fn pattern_equalities(pattern: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = pattern;
    while let Some(i) = rest.find("$.") {
        rest = &rest[i + 2..];
        let field_end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
            .unwrap_or(rest.len());
        let field = rest[..field_end].to_string();
        let after = rest[field_end..].trim_start();
        if let Some(v) = after.strip_prefix('=').map(str::trim_start) {
            if let Some(v) = v.strip_prefix('"') {
                let value = &v[..v.find('"').expect("closing quote")];
                out.push((field, value.to_string()));
            }
        }
    }
    out
}

/// What a subscriber writes, one JSON object per line.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn writer(&self) -> impl Fn() -> Captured + Send + Sync + 'static {
        let c = self.clone();
        move || c.clone()
    }

    fn lines(&self) -> Vec<Value> {
        let bytes = self.0.lock().expect("log buffer").clone();
        String::from_utf8(bytes)
            .expect("UTF-8 logs")
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect()
    }
}

fn current_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// The authorizer's decision line for a REST TOKEN event without a token, as its own log
/// subscriber writes it (no key set is needed: the refusal comes before any verification).
fn authorizer_refusal_line() -> Value {
    let cfg = authorizer::Config::from_lookup(|k| match k {
        "ISSUER" => Some("https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Example".into()),
        "CLIENT_IDS" => Some("client".into()),
        _ => None,
    })
    .expect("authorizer settings");
    let auth = authorizer::Authorizer::new(authorizer::verify::Verifier::new(cfg, Vec::new()));
    let logs = Captured::default();
    let event = r#"{"type": "TOKEN", "methodArn": "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/items"}"#;
    let out = tracing::subscriber::with_default(authorizer::log_subscriber(logs.writer()), || {
        current_thread_runtime().block_on(auth.handle(event, std::time::SystemTime::now()))
    });
    assert!(out.is_err(), "a TOKEN event without a token is refused");
    let mut lines: Vec<Value> = logs
        .lines()
        .into_iter()
        .filter(|l| l.to_string().contains("\"decision\""))
        .collect();
    assert_eq!(lines.len(), 1, "one decision line: {lines:?}");
    lines.remove(0)
}

/// crud's `request` line for a request without a caller identity (401 before any DynamoDB
/// call), as its own log subscriber writes it.
fn crud_request_line() -> Value {
    let conf = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .endpoint_url("http://127.0.0.1:9")
        .build();
    let store = crud::store::Store::new(aws_sdk_dynamodb::Client::from_conf(conf), "items".into());
    let settings = crud::Settings::from_lookup(|k| (k == "TABLE_NAME").then(|| "items".into()))
        .expect("crud settings");
    let deps = crud::Deps::new(store, settings).expect("crud deps");
    let logs = Captured::default();
    let subscriber = crud::log_subscriber(tracing::level_filters::LevelFilter::INFO, logs.writer());
    let response = tracing::subscriber::with_default(subscriber, || {
        current_thread_runtime().block_on(crud::handle(
            crud::ApiRequest::new(http::Method::GET, "/items"),
            &deps,
        ))
    });
    assert_eq!(response.status.as_u16(), 401);
    let mut lines: Vec<Value> = logs
        .lines()
        .into_iter()
        .filter(|l| l.to_string().contains("\"request\""))
        .collect();
    assert_eq!(lines.len(), 1, "one request line: {lines:?}");
    lines.remove(0)
}

#[test]
fn alarm_metric_filters_match_what_the_functions_log() {
    // authorizer: flattened JSON lines with `decision` and `reason` (reason codes from reason.rs)
    // The authorizer's log format (`authorizer::log_subscriber`, what main.rs installs) on a
    // real refusal: `decision` and `reason` at the top level for `$.decision` / `$.reason`.
    let line = authorizer_refusal_line();
    assert_eq!(
        (&line["decision"], &line["reason"]),
        (
            &json!(authorizer::handler::DECISION_UNAUTHORIZED),
            &json!(authorizer::Reason::NoToken.code())
        ),
        "the authorizer's log lines must be flat JSON for `$.decision` / `$.reason` filters: {line}"
    );
    let codes: BTreeSet<String> = authorizer::Reason::ALL
        .iter()
        .map(|r| r.code().to_string())
        .collect();
    assert!(codes.contains("bad_signature") && codes.contains("origin_verify_failed"));
    let decisions: BTreeSet<&str> = authorizer::handler::DECISIONS.into_iter().collect();
    assert_eq!(
        decisions,
        BTreeSet::from(["allow", "deny", "unauthorized"]),
        "decision values the authorizer logs (authorizer::handler::DECISIONS)"
    );

    // crud: non-flattened JSON (`fields.status`, `fields.code`): its log format
    // (`crud::log_subscriber`, what main.rs installs) on the request line of a real refusal.
    let line = crud_request_line();
    assert_eq!(
        (&line["fields"]["status"], &line["fields"]["code"]),
        (&json!(401), &json!("unauthenticated")),
        "crud's log fields must sit under `fields` for `$.fields.status` filters: {line}"
    );
    assert!(line.get("status").is_none(), "{line}");

    let mut filters_per_group: BTreeMap<String, usize> = BTreeMap::new();
    let mut produced: BTreeSet<(String, String)> = BTreeSet::new();
    for (id, f) in of_type("AWS::Logs::MetricFilter") {
        let p = &f["Properties"];
        let group = p["LogGroupName"]["Ref"]
            .as_str()
            .expect("log group ref")
            .to_string();
        let pattern = p["FilterPattern"].as_str().expect("pattern");
        *filters_per_group.entry(group.clone()).or_default() += 1;
        for (field, value) in pattern_equalities(pattern) {
            match (group.as_str(), field.as_str()) {
                ("AuthorizerLogGroup", "reason") => assert!(
                    codes.contains(&value),
                    "{id}: reason {value:?} is not a code the authorizer logs"
                ),
                ("AuthorizerLogGroup", "decision") => assert!(
                    decisions.contains(value.as_str()),
                    "{id}: decision {value:?} is never logged"
                ),
                ("AuthorizerLogGroup", "event") => assert!(
                    authorizer::revocation::SYNC_FAILURE_EVENTS.contains(&value.as_str()),
                    "{id}: event {value:?} is not a revocation sync failure the authorizer logs"
                ),
                (g, f) => panic!("{id}: unexpected field $.{f} on {g}"),
            }
        }
        if group == "CrudLogGroup" {
            assert!(pattern.contains("$.fields.status"), "{id}: {pattern}");
        }
        for t in list(&p["MetricTransformations"]) {
            produced.insert((
                t["MetricNamespace"].to_string(),
                t["MetricName"].as_str().expect("metric").to_string(),
            ));
            for d in list(&t["Dimensions"]) {
                let v = d["Value"].as_str().expect("dimension value");
                assert!(
                    v == "$.reason" || v == "$.fields.code",
                    "{id}: dimension {v} is not a bounded code"
                );
            }
        }
    }
    assert!(filters_per_group["AuthorizerLogGroup"] >= 3);
    assert!(filters_per_group["CrudLogGroup"] >= 1);
    // The JWKS alarm counts every JWKS failure the authorizer has a reason for (each refuses
    // every token of the issuer), not just some of them.
    let jwks_filter = resource("AuthorizerJwksFailures")["Properties"]["FilterPattern"]
        .as_str()
        .expect("AuthorizerJwksFailures pattern")
        .to_string();
    let counted: BTreeSet<String> = pattern_equalities(&jwks_filter)
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    let jwks_reasons: BTreeSet<String> = codes
        .iter()
        .filter(|c| c.starts_with("jwks_"))
        .cloned()
        .collect();
    assert!(jwks_reasons.len() >= 3, "{jwks_reasons:?}");
    assert_eq!(
        counted, jwks_reasons,
        "AuthorizerJwksFailures: {jwks_filter}"
    );
    // One refusals metric carries the reason as a dimension (denials by reason).
    assert!(of_type("AWS::Logs::MetricFilter").iter().any(|(_, f)| {
        list(&f["Properties"]["MetricTransformations"])
            .iter()
            .any(|t| t["Dimensions"][0]["Value"] == "$.reason")
    }));

    // crud's EMF lines (crud/src/metrics.rs) produce its per-variant metrics in the namespace
    // its METRICS_NAMESPACE names.
    let emf_ns = resource("CrudFunction")["Properties"]["Environment"]["Variables"]
        ["METRICS_NAMESPACE"]
        .to_string();
    for name in [
        crud::metrics::REQUESTS,
        crud::metrics::ERRORS_5XX,
        crud::metrics::LATENCY,
        crud::metrics::RATE_LIMIT_FAIL_OPEN,
    ] {
        produced.insert((emf_ns.clone(), name.to_string()));
    }

    // Every alarm watches a metric something produces, and notifies the topic.
    let alarms = of_type("AWS::CloudWatch::Alarm");
    assert!(alarms.len() >= 5);
    for (id, a) in alarms {
        let p = &a["Properties"];
        // A single-metric alarm, or a metric-math one (each `MetricStat` of its `Metrics`).
        let watched: Vec<(&Value, String)> = match p["Metrics"].as_array() {
            Some(ms) => ms
                .iter()
                .filter(|m| !m["MetricStat"].is_null())
                .map(|m| {
                    let metric = &m["MetricStat"]["Metric"];
                    let name = metric["MetricName"].as_str().expect("metric name");
                    (&metric["Namespace"], name.to_string())
                })
                .collect(),
            None => vec![(
                &p["Namespace"],
                p["MetricName"].as_str().expect("metric name").to_string(),
            )],
        };
        assert!(!watched.is_empty(), "{id} watches no metric");
        for (ns, name) in watched {
            let aws = ns.as_str().is_some_and(|n| n.starts_with("AWS/"));
            assert!(
                aws || produced.contains(&(ns.to_string(), name.clone())),
                "{id} watches {ns}/{name}, which no metric filter produces"
            );
        }
        assert_eq!(
            list(&p["AlarmActions"]),
            vec![reference("AlarmTopic")],
            "{id}"
        );
    }
}

/// The dashboard body with every `${...}` of its `Fn::Sub` replaced by a placeholder, parsed.
fn dashboard_body() -> (Value, Vec<String>) {
    let (_, d) = one_of_type("AWS::CloudWatch::Dashboard");
    let sub = d["Properties"]["DashboardBody"]["Fn::Sub"]
        .as_str()
        .expect("DashboardBody is a Fn::Sub string");
    let mut names = Vec::new();
    let mut out = String::new();
    let mut rest = sub;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let end = rest[i..].find('}').expect("closed ${...}") + i;
        names.push(rest[i + 2..end].to_string());
        out.push_str("PLACEHOLDER");
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    (
        serde_json::from_str(&out).expect("the dashboard body is JSON"),
        names,
    )
}

#[test]
fn observability_dashboard_and_service_alarms_with_parameter_thresholds() {
    let params = &expanded()["Parameters"];
    // Thresholds as parameters, defaults as the issue asks.
    for (p, default, alarms) in [
        (
            "LambdaErrorRateAlarmPercent",
            5,
            &["AuthorizerErrorRateAlarm", "CrudErrorRateAlarm"][..],
        ),
        ("Api5xxRateAlarmPercent", 1, &["Api5xxRateAlarm"][..]),
        (
            "TableThrottleAlarmThreshold",
            0,
            &["TableThrottlesAlarm"][..],
        ),
        (
            "LambdaDurationAlarmMs",
            5000,
            &["AuthorizerDurationAlarm", "CrudDurationAlarm"][..],
        ),
        ("ApiLatencyAlarmMs", 2000, &["ApiLatencyAlarm"][..]),
        (
            "ConsumedCapacityAlarmPercent",
            80,
            &["TableReadCapacityAlarm", "TableWriteCapacityAlarm"][..],
        ),
    ] {
        assert_eq!(params[p]["Type"], "Number", "{p}");
        assert_eq!(params[p]["Default"].to_string(), default.to_string(), "{p}");
        for a in alarms {
            let props = &resource(a)["Properties"];
            assert_eq!(props["Threshold"], reference(p), "{a}");
            assert_eq!(props["ComparisonOperator"], "GreaterThanThreshold", "{a}");
            assert_eq!(props["TreatMissingData"], "notBreaching", "{a}");
        }
    }
    // Error rate = Errors / Invocations of the same function, in percent.
    for (a, f) in [
        ("AuthorizerErrorRateAlarm", "AuthorizerFunction"),
        ("CrudErrorRateAlarm", "CrudFunction"),
    ] {
        let ms = resource(a)["Properties"]["Metrics"]
            .as_array()
            .expect("math");
        let expr: Vec<&str> = ms.iter().filter_map(|m| m["Expression"].as_str()).collect();
        assert_eq!(
            expr,
            ["IF(invocations > 0, 100 * errors / invocations, 0)"],
            "{a}"
        );
        for (id, metric) in [("errors", "Errors"), ("invocations", "Invocations")] {
            let m = ms.iter().find(|m| m["Id"] == id).expect(id);
            assert_eq!(m["MetricStat"]["Metric"]["Namespace"], "AWS/Lambda");
            assert_eq!(m["MetricStat"]["Metric"]["MetricName"], metric);
            assert_eq!(
                m["MetricStat"]["Metric"]["Dimensions"],
                json!([{"Name": "FunctionName", "Value": reference(f)}]),
                "{a}"
            );
        }
    }
    // p99 durations of both functions.
    for (a, f) in [
        ("AuthorizerDurationAlarm", "AuthorizerFunction"),
        ("CrudDurationAlarm", "CrudFunction"),
    ] {
        let p = &resource(a)["Properties"];
        assert_eq!(
            (p["Namespace"].as_str(), p["MetricName"].as_str()),
            (Some("AWS/Lambda"), Some("Duration"))
        );
        assert_eq!(p["ExtendedStatistic"], "p99");
        assert_eq!(p["Dimensions"][0]["Value"], reference(f));
    }
    // API Gateway metrics are keyed by the API's name and stage: the dimensions name this API.
    let (api_id, api) = one_of_type("AWS::ApiGateway::RestApi");
    let api_name = &api["Properties"]["Name"];
    assert_eq!(
        api_name,
        &json!({"Fn::Sub": "${AWS::StackName}-api"}),
        "{api_id}"
    );
    let latency = &resource("ApiLatencyAlarm")["Properties"];
    assert_eq!(latency["MetricName"], "Latency");
    assert_eq!(latency["ExtendedStatistic"], "p99");
    assert_eq!(
        latency["Dimensions"],
        json!([{"Name": "ApiName", "Value": api_name}, {"Name": "Stage", "Value": reference("StageName")}])
    );
    let fivexx = resource("Api5xxRateAlarm")["Properties"]["Metrics"]
        .as_array()
        .expect("math")
        .iter()
        .find(|m| m["Id"] == "fivexx")
        .expect("5xx metric")
        .clone();
    assert_eq!(fivexx["MetricStat"]["Metric"]["MetricName"], "5XXError");
    assert_eq!(
        fivexx["MetricStat"]["Stat"], "Average",
        "5XXError's average is the 5xx fraction"
    );
    assert_eq!(
        fivexx["MetricStat"]["Metric"]["Dimensions"],
        latency["Dimensions"]
    );
    // Capacity alarms exist only for provisioned tables.
    for a in ["TableReadCapacityAlarm", "TableWriteCapacityAlarm"] {
        assert_eq!(resource(a)["Condition"], "IsProvisioned", "{a}");
    }
    // The dashboard: every metric the issue lists, refusals by reason, names that resolve.
    let (body, names) = dashboard_body();
    let text = body.to_string();
    for m in [
        "Invocations",
        "Errors",
        "Duration",
        "Count",
        "4XXError",
        "5XXError",
        "Latency",
        "ThrottledRequests",
        "ConsumedReadCapacityUnits",
        "ConsumedWriteCapacityUnits",
        "AuthorizerRefusals",
        "Reason",
        "AuthorizerForgedTokens",
        "AuthorizerOriginBypass",
    ] {
        assert!(
            text.contains(&format!("\"{m}\"")) || text.contains(m),
            "dashboard lacks {m}"
        );
    }
    assert!(text.contains("p99"), "dashboard shows p99 durations");
    let widgets = body["widgets"].as_array().expect("widgets");
    assert!(widgets.len() >= 8);
    for n in &names {
        let known = n.starts_with("AWS::")
            || resources().contains_key(n.as_str())
            || params.get(n.as_str()).is_some();
        assert!(
            known,
            "dashboard names ${{{n}}}, neither a resource nor a parameter"
        );
    }
    assert!(
        names.iter().any(|n| n == "AuthorizerFunction")
            && names.iter().any(|n| n == "CrudFunction")
    );
    assert!(expanded()["Outputs"]["DashboardUrl"].is_object());
}

#[test]
fn outputs_name_the_api_distribution_pool_and_client() {
    let outputs = expanded()["Outputs"].as_object().expect("outputs");
    for k in [
        "ApiUrl",
        "CloudFrontDomain",
        "DistributionUrl",
        "UserPoolId",
        "UserPoolClientId",
    ] {
        assert!(outputs.contains_key(k), "output {k} missing");
    }
    assert_eq!(outputs["UserPoolId"]["Value"], reference("UserPool"));
    assert_eq!(
        outputs["UserPoolClientId"]["Value"],
        reference("UserPoolClient")
    );
    let client = &resource("UserPoolClient")["Properties"];
    assert_eq!(client["GenerateSecret"], false);
    assert_eq!(client["PreventUserExistenceErrors"], "ENABLED");
    // SRP only unless password sign-in is asked for.
    assert_eq!(
        expanded()["Parameters"]["AllowPasswordAuth"]["Default"],
        "false"
    );
    assert_eq!(
        client["ExplicitAuthFlows"]["Fn::If"][2],
        json!(["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"])
    );
    let pool = &resource("UserPool")["Properties"];
    assert!(
        pool["Policies"]["PasswordPolicy"]["MinimumLength"] == reference("PasswordMinimumLength")
    );
    assert_eq!(pool["MfaConfiguration"], reference("UserPoolMfa"));
}

// ------------------------------------------------------------------------------------------------
// canary rollout: crud's stable and canary aliases behind two stages, the rollout store, alarms
// ------------------------------------------------------------------------------------------------

/// The logical id of the version SAM publishes for `CrudFunction` (AutoPublishAlias).
fn crud_published_version() -> String {
    let versions: Vec<_> = of_type("AWS::Lambda::Version")
        .into_iter()
        .filter(|(_, v)| v["Properties"]["FunctionName"] == reference("CrudFunction"))
        .collect();
    assert_eq!(versions.len(), 1, "one published crud version per deploy");
    let (id, v) = versions[0];
    // Old versions stay when a deploy publishes a new one: stable may still run them.
    assert_eq!(v["DeletionPolicy"], "Retain", "{id}");
    id.clone()
}

/// New code goes to the canary alias first; stable moves only when StableCrudVersion says so.
#[test]
fn crud_publishes_to_the_canary_alias_and_stable_is_a_chosen_version() {
    let f = &expanded()["Resources"]["CrudFunction"];
    assert_eq!(f["Type"], "AWS::Lambda::Function");
    let version = crud_published_version();
    let newest = json!({"Fn::GetAtt": [version, "Version"]});
    let aliases: BTreeMap<String, &Value> = of_type("AWS::Lambda::Alias")
        .into_iter()
        .filter(|(_, a)| a["Properties"]["FunctionName"] == reference("CrudFunction"))
        .map(|(_, a)| {
            (
                a["Properties"]["Name"]
                    .as_str()
                    .expect("alias name")
                    .to_string(),
                a,
            )
        })
        .collect();
    assert_eq!(
        aliases.keys().map(String::as_str).collect::<Vec<_>>(),
        ["canary", "stable"],
        "crud's aliases"
    );
    assert_eq!(
        aliases["canary"]["Properties"]["FunctionVersion"], newest,
        "the canary alias runs the version this deploy publishes"
    );
    assert_eq!(
        aliases["stable"]["Properties"]["FunctionVersion"],
        json!({"Fn::If": ["HasStableCrudVersion", reference("StableCrudVersion"), newest]}),
        "stable runs StableCrudVersion (empty: the new version)"
    );
    assert!(resources().contains_key("CrudStableAlias"));
    // Settings changes are new versions too, so they also reach the canary first.
    let src = template_crud_properties();
    assert_eq!(src["AutoPublishAlias"], "canary");
    assert_eq!(src["AutoPublishAliasAllProperties"], true);
    let params = &expanded()["Parameters"];
    assert_eq!(params["StableCrudVersion"]["Default"], "");
    let pattern = params["StableCrudVersion"]["AllowedPattern"]
        .as_str()
        .expect("pattern");
    assert_eq!(pattern, "^$|^[1-9][0-9]*$");
    let outputs = &expanded()["Outputs"];
    assert_eq!(outputs["CrudCanaryVersion"]["Value"], newest);
    assert_eq!(
        outputs["CrudStableVersion"]["Value"],
        aliases["stable"]["Properties"]["FunctionVersion"]
    );
}

/// The `CrudFunction` properties as written in template.yaml (the transform consumes
/// AutoPublishAlias*); read with the same YAML loader the translator uses.
fn template_crud_properties() -> Value {
    let mut c = offline(&venv_tool("python"));
    c.arg("-c").arg(
        "import json,sys\nfrom samtranslator.yaml_helper import yaml_parse\n\
         t = yaml_parse(open(sys.argv[1]).read())\n\
         print(json.dumps(t['Resources']['CrudFunction']['Properties'], default=str))",
    );
    c.arg(root().join("template.yaml"));
    let o = run(c, "read CrudFunction from template.yaml");
    assert!(o.status.success(), "{}", text(&o));
    serde_json::from_slice(&o.stdout).expect("CrudFunction properties as JSON")
}

/// Stage StageName runs crud's stable alias, stage `canary` (the edge's canary.origin.path) its
/// canary alias: one deployment (so the same routes, authorizer, models and gateway responses),
/// the alias chosen by the stage variable the integrations name; each alias may be invoked from
/// its own stage only.
#[test]
fn canary_stage_reaches_the_canary_alias_and_the_main_stage_the_stable_one() {
    let main = &resource("ApiStage")["Properties"];
    let canary = &resource("ApiCanaryStage")["Properties"];
    assert_eq!(main["StageName"], reference("StageName"));
    assert_eq!(canary["StageName"], "canary");
    assert_eq!(main["Variables"], json!({"crudAlias": "stable"}));
    assert_eq!(canary["Variables"], json!({"crudAlias": "canary"}));
    assert_eq!(main["RestApiId"], reference("Api"));
    assert_eq!(canary["RestApiId"], reference("Api"));
    let deployments = of_type("AWS::ApiGateway::Deployment");
    assert_eq!(deployments.len(), 1);
    assert_eq!(main["DeploymentId"], reference(deployments[0].0));
    assert_eq!(
        canary["DeploymentId"], main["DeploymentId"],
        "both stages serve the same deployment: the authorizer protects both"
    );
    // StageName can never be the canary stage's name.
    let rule = &expanded()["Rules"]["CanaryStageIsReserved"]["Assertions"][0]["Assert"];
    assert_eq!(
        *rule,
        json!({"Fn::Not": [{"Fn::Equals": [reference("StageName"), "canary"]}]})
    );

    // Invoke permissions: one per alias, from its own stage; none for the bare function ($LATEST).
    let stage_arn = |stage: &str| {
        json!({"Fn::Sub": format!(
            "arn:${{AWS::Partition}}:execute-api:${{AWS::Region}}:${{AWS::AccountId}}:${{Api}}/{stage}/*/*"
        )})
    };
    let perms: BTreeMap<String, &Value> = of_type("AWS::Lambda::Permission")
        .into_iter()
        .filter(|(_, p)| p["Properties"]["FunctionName"] != get_att_arn("AuthorizerFunction"))
        .map(|(_, p)| {
            (
                p["Properties"]["FunctionName"].to_string(),
                &p["Properties"],
            )
        })
        .collect();
    assert_eq!(perms.len(), 2, "crud's permissions: {perms:?}");
    let stable = perms[&reference("CrudStableAlias").to_string()];
    let canary_p = perms[&reference("CrudFunctionAliascanary").to_string()];
    for (p, stage) in [(stable, "${StageName}"), (canary_p, "canary")] {
        assert_eq!(p["Action"], "lambda:InvokeFunction");
        assert_eq!(p["Principal"], "apigateway.amazonaws.com");
        assert_eq!(p["SourceArn"], stage_arn(stage), "{p}");
    }
    // The canary variant's way there: the edge switches the origin path to /canary.
    let origin = &resource("Distribution")["Properties"]["DistributionConfig"]["Origins"][0];
    assert_eq!(origin["OriginPath"], json!({"Fn::Sub": "/${StageName}"}));
    assert_eq!(
        expanded()["Outputs"]["CanaryApiUrl"]["Value"],
        json!({"Fn::Sub": "https://${Api}.execute-api.${AWS::Region}.${AWS::URLSuffix}/canary"})
    );
}

/// The rollout store: a private, encrypted, versioned bucket, TLS only, no public access, no
/// reader but the edge role (its bucket policy grants nothing).
#[test]
fn rollout_bucket_is_private_encrypted_versioned_and_tls_only() {
    let b = resource("RolloutBucket");
    assert_eq!(b["Type"], "AWS::S3::Bucket");
    assert!(
        b["Condition"].is_null(),
        "the rollout bucket is always deployed"
    );
    assert_eq!(b["DeletionPolicy"], "Retain");
    let p = &b["Properties"];
    assert_eq!(
        p["PublicAccessBlockConfiguration"],
        json!({"BlockPublicAcls": true, "BlockPublicPolicy": true, "IgnorePublicAcls": true, "RestrictPublicBuckets": true})
    );
    assert_eq!(
        p["OwnershipControls"]["Rules"],
        json!([{"ObjectOwnership": "BucketOwnerEnforced"}]),
        "no ACLs"
    );
    let sse = &p["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
        ["ServerSideEncryptionByDefault"]["SSEAlgorithm"];
    assert!(sse == "AES256" || sse == "aws:kms", "encrypted: {sse}");
    assert_eq!(p["VersioningConfiguration"]["Status"], "Enabled");
    assert!(p["WebsiteConfiguration"].is_null() && p["CorsConfiguration"].is_null());
    let policies: Vec<_> = of_type("AWS::S3::BucketPolicy")
        .into_iter()
        .filter(|(_, bp)| bp["Properties"]["Bucket"] == reference("RolloutBucket"))
        .collect();
    assert_eq!(policies.len(), 1);
    let statements = list(&policies[0].1["Properties"]["PolicyDocument"]["Statement"]);
    assert!(!statements.is_empty());
    for s in &statements {
        assert_eq!(s["Effect"], "Deny", "the bucket policy grants nothing: {s}");
    }
    assert!(
        statements
            .iter()
            .any(|s| s["Condition"]["Bool"]["aws:SecureTransport"] == "false"),
        "TLS only"
    );
    // Nothing else in the template reads or writes it.
    for (id, r) in resources() {
        if id == "EdgeRole" || id == "RolloutBucketPolicy" || r["Type"] != "AWS::IAM::Role" {
            continue;
        }
        assert!(
            !r.to_string().contains("RolloutBucket"),
            "{id} has access to the rollout bucket"
        );
    }
}

/// The canary's health: crud's canary alias error rate (Errors / Invocations of the alias, metric
/// math) and the canary stage's 5XX rate, against CanaryErrorRateAlarmPercent.
#[test]
fn canary_error_rate_alarms_watch_the_canary_alias_and_stage() {
    let params = &expanded()["Parameters"];
    assert_eq!(params["CanaryErrorRateAlarmPercent"]["Type"], "Number");
    assert_eq!(
        params["CanaryErrorRateAlarmPercent"]["Default"].to_string(),
        "1"
    );
    for a in ["CrudCanaryErrorRateAlarm", "CanaryApi5xxRateAlarm"] {
        let p = &resource(a)["Properties"];
        assert_eq!(
            p["Threshold"],
            reference("CanaryErrorRateAlarmPercent"),
            "{a}"
        );
        assert_eq!(p["ComparisonOperator"], "GreaterThanThreshold", "{a}");
        assert_eq!(p["TreatMissingData"], "notBreaching", "{a}");
        assert_eq!(p["AlarmActions"], json!([reference("AlarmTopic")]), "{a}");
    }
    let ms = resource("CrudCanaryErrorRateAlarm")["Properties"]["Metrics"]
        .as_array()
        .expect("metric math");
    let returned: Vec<&Value> = ms.iter().filter(|m| m["ReturnData"] == true).collect();
    assert_eq!(returned.len(), 1);
    assert_eq!(
        returned[0]["Expression"],
        "IF(invocations > 0, 100 * errors / invocations, 0)"
    );
    for (id, metric) in [("errors", "Errors"), ("invocations", "Invocations")] {
        let m = ms.iter().find(|m| m["Id"] == id).expect(id);
        assert_eq!(m["MetricStat"]["Metric"]["Namespace"], "AWS/Lambda");
        assert_eq!(m["MetricStat"]["Metric"]["MetricName"], metric);
        assert_eq!(m["MetricStat"]["Stat"], "Sum");
        // Lambda's per-alias metrics: FunctionName plus Resource = <function>:<alias>.
        assert_eq!(
            m["MetricStat"]["Metric"]["Dimensions"],
            json!([
                {"Name": "FunctionName", "Value": reference("CrudFunction")},
                {"Name": "Resource", "Value": {"Fn::Sub": "${CrudFunction}:canary"}}
            ])
        );
    }
    let fivexx = resource("CanaryApi5xxRateAlarm")["Properties"]["Metrics"]
        .as_array()
        .expect("math")
        .iter()
        .find(|m| m["Id"] == "fivexx")
        .expect("5xx metric")
        .clone();
    assert_eq!(fivexx["MetricStat"]["Metric"]["MetricName"], "5XXError");
    assert_eq!(fivexx["MetricStat"]["Stat"], "Average");
    assert_eq!(
        fivexx["MetricStat"]["Metric"]["Dimensions"],
        json!([
            {"Name": "ApiName", "Value": {"Fn::Sub": "${AWS::StackName}-api"}},
            {"Name": "Stage", "Value": "canary"}
        ])
    );
}

/// The authorizer's policies cover both stages of the API (API_STAGES = StageName and the canary
/// stage), the stages the deployment has.
#[test]
fn authorizer_policies_cover_both_stages() {
    let env = &resource("AuthorizerFunction")["Properties"]["Environment"]["Variables"];
    assert_eq!(env["API_STAGES"], json!({"Fn::Sub": "${StageName},canary"}));
    assert_eq!(
        resource("ApiCanaryStage")["Properties"]["StageName"],
        "canary"
    );
}

/// crud's own per-variant metrics (crud/src/metrics.rs: EMF lines with dimension `variant`):
/// the function writes them into the stack's namespace, `CrudCanary5xxRateAlarm` is their
/// canary 5xx rate against CanaryErrorRateAlarmPercent, and the dashboard shows each variant.
#[test]
fn crud_emf_metrics_feed_a_canary_alarm_and_a_dashboard_widget_per_variant() {
    let (requests, fivexx, latency, dim) = (
        crud::metrics::REQUESTS.to_string(),
        crud::metrics::ERRORS_5XX.to_string(),
        crud::metrics::LATENCY.to_string(),
        crud::metrics::DIMENSION,
    );
    let namespace = json!({"Fn::Sub": "${AWS::StackName}/Gateway"});
    let env = &template_crud_properties()["Environment"]["Variables"];
    assert_eq!(env["METRICS_NAMESPACE"], namespace);
    assert!(
        env.get("METRICS").is_none() || env["METRICS"] == "emf",
        "the metrics are on"
    );

    let p = &resource("CrudCanary5xxRateAlarm")["Properties"];
    assert_eq!(p["Threshold"], reference("CanaryErrorRateAlarmPercent"));
    assert_eq!(p["ComparisonOperator"], "GreaterThanThreshold");
    assert_eq!(p["TreatMissingData"], "notBreaching");
    assert_eq!(p["AlarmActions"], json!([reference("AlarmTopic")]));
    let ms = p["Metrics"].as_array().expect("metric math");
    let returned: Vec<&Value> = ms.iter().filter(|m| m["ReturnData"] == true).collect();
    assert_eq!(returned.len(), 1);
    assert_eq!(
        returned[0]["Expression"],
        "IF(requests > 0, 100 * fivexx / requests, 0)"
    );
    for (id, metric) in [("fivexx", &fivexx), ("requests", &requests)] {
        let m = ms.iter().find(|m| m["Id"] == id).expect(id);
        assert_eq!(m["MetricStat"]["Metric"]["Namespace"], namespace, "{id}");
        assert_eq!(m["MetricStat"]["Metric"]["MetricName"], metric.as_str());
        assert_eq!(m["MetricStat"]["Stat"], "Sum");
        assert_eq!(m["MetricStat"]["Period"], 300);
        assert_eq!(
            m["MetricStat"]["Metric"]["Dimensions"],
            json!([{"Name": dim, "Value": "canary"}])
        );
    }

    // The dashboard: requests, 5xx and p99 latency of each variant, in the same namespace.
    let (body, _) = dashboard_body();
    for variant in ["stable", "canary"] {
        let widget = body["widgets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|w| {
                w["properties"]["title"]
                    .as_str()
                    .is_some_and(|t| t.starts_with(&format!("crud {variant} variant")))
            })
            .unwrap_or_else(|| panic!("no widget for the {variant} variant"));
        let lines = widget["properties"]["metrics"].as_array().unwrap();
        for (metric, stat) in [(&requests, "Sum"), (&fivexx, "Sum"), (&latency, "p99")] {
            let line = lines
                .iter()
                .find(|l| l[1] == metric.as_str())
                .unwrap_or_else(|| panic!("{variant} widget lacks {metric}"));
            // `${AWS::StackName}/Gateway` after dashboard_body()'s placeholder.
            assert_eq!(line[0], "PLACEHOLDER/Gateway");
            assert_eq!((&line[2], &line[3]), (&json!(dim), &json!(variant)));
            assert_eq!(line[4]["stat"], stat);
        }
    }
}

/// `EDGE_ROLLOUT_SOURCE` (the RolloutObjectUri output) makes the packaged config read the rollout
/// store and send canary requests to the canary stage; unset, the config is packaged unchanged;
/// a packaged weight next to a store is refused.
#[test]
fn edge_makefile_points_the_packaged_config_at_the_rollout_object() {
    let work = std::env::temp_dir().join(format!("template-edge-rollout-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).expect("temp dir");
    let make = |cfg: &Path, out: &Path, source: Option<&str>| {
        let mut c = Command::new("make");
        c.arg("--makefile")
            .arg(root().join("deploy/edge/Makefile"))
            .arg("packaged-config")
            .arg(format!("PACKAGED_CONFIG={}", out.display()))
            .env("EDGE_CONFIG_FILE", cfg)
            .env_remove("EDGE_ROLLOUT_SOURCE")
            .current_dir(&work);
        if let Some(s) = source {
            c.env("EDGE_ROLLOUT_SOURCE", s);
        }
        c.output()
            .expect("`make` is required for the SAM makefile build")
    };
    let src = root().join("edge/edge-config.json");
    let original: Value = serde_json::from_str(&read("edge/edge-config.json")).expect("json");

    let plain = work.join("plain.json");
    let o = make(&src, &plain, None);
    assert!(o.status.success(), "{}", text(&o));
    let got: Value = serde_json::from_slice(&std::fs::read(&plain).expect("out")).expect("json");
    assert_eq!(
        got, original,
        "without EDGE_ROLLOUT_SOURCE the config is packaged unchanged"
    );

    let with = work.join("with.json");
    let uri = "s3://my-stack-rollout/rollout.json";
    let o = make(&src, &with, Some(uri));
    assert!(o.status.success(), "{}", text(&o));
    let got: Value = serde_json::from_slice(&std::fs::read(&with).expect("out")).expect("json");
    assert_eq!(got["canary"]["rollout"]["source"], uri);
    assert_eq!(got["canary"]["origin"], json!({"path": "/canary"}));
    assert_eq!(got["canary"]["weight_percent"], 0);
    assert_eq!(got["cors"], original["cors"], "everything else as it was");

    // A weight baked into the package next to a rollout store: refused, nothing written.
    let weighted = work.join("weighted-src.json");
    std::fs::write(
        &weighted,
        json!({"canary": {"weight_percent": 5}}).to_string(),
    )
    .expect("w");
    let out = work.join("weighted.json");
    let o = make(&weighted, &out, Some(uri));
    assert!(
        !o.status.success(),
        "a packaged weight with a rollout store was accepted"
    );
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("weight_percent must be 0"),
        "{}",
        text(&o)
    );
    assert!(!out.exists());
    let _ = std::fs::remove_dir_all(&work);
}

// ------------------------------------------------------------------------------------------------
// the edge package, built the way `sam build` builds it
// ------------------------------------------------------------------------------------------------

fn node_eval(script: &str, args: &[&Path]) -> Output {
    let mut c = Command::new("node");
    c.arg("-e").arg(script).args(args);
    c.output()
        .expect("`node` is required to check the Lambda@Edge package (Node.js 18+)")
}

#[test]
fn sam_build_runs_the_edge_makefile_and_the_package_handles_cloudfront_events() {
    let work = std::env::temp_dir().join(format!("template-edge-build-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).expect("temp dir");
    let mut c = offline(&venv_tool("sam"));
    c.args([
        "build",
        "EdgeFunction",
        "--template",
        "template.yaml",
        "--build-dir",
    ])
    .arg(work.join("build"))
    // Our own package folder: concurrent builds never share an output directory.
    .env("EDGE_BUILD_DIR", work.join("pkg"))
    .env(
        "PATH",
        format!(
            "{}:{}",
            root().join(".venv/bin").display(),
            std::env::var("PATH").unwrap_or_default()
        ),
    );
    let o = run(c, "sam build EdgeFunction");
    assert!(
        o.status.success(),
        "sam build EdgeFunction failed:\n{}",
        text(&o)
    );
    let artifacts = work.join("build/EdgeFunction");
    for f in ["index.js", "edge.wasm", "edge-config.json"] {
        assert!(
            artifacts.join(f).is_file(),
            "{f} missing from the built package"
        );
    }

    // Load it as Lambda would (index.handler) and feed it CloudFront events.
    let script = r#"
const h = require(process.argv[1] + '/index.js').handler;
if (typeof h !== 'function') throw new Error('index.handler is not a function');
const fs = require('fs');
const load = (f) => JSON.parse(fs.readFileSync(process.argv[2] + '/' + f));
(async () => {
  const vr = load('viewer-request.json');
  vr.Records[0].cf.request.headers['x-origin-verify'] = [{ key: 'X-Origin-Verify', value: 'spoofed' }];
  const a = await h(vr);
  const or = load('origin-request.json');
  or.Records[0].cf.request.origin.custom.customHeaders['x-origin-verify'] =
    [{ key: 'x-origin-verify', value: 'v1:set-by-cloudfront' }];
  const b = await h(or);
  console.log(JSON.stringify({ viewer: a, origin: b }));
})().catch((e) => { console.error(e); process.exit(1); });
"#;
    let o = node_eval(script, &[&artifacts, &root().join("edge/tests/fixtures")]);
    assert!(
        o.status.success(),
        "the built handler failed:\n{}",
        text(&o)
    );
    let out: Value = serde_json::from_slice(&o.stdout).expect("handler output JSON");
    // viewer-request: forwarded, the viewer's x-origin-verify removed.
    let viewer = &out["viewer"];
    assert!(
        viewer["uri"].is_string(),
        "viewer-request was not forwarded: {viewer}"
    );
    assert!(
        viewer["headers"]["x-origin-verify"].is_null(),
        "a viewer-sent x-origin-verify reached the origin side"
    );
    // origin-request: CloudFront's custom header stays where CloudFront put it, and the
    // request headers do not repeat it (CloudFront refuses a result that does: 502).
    let origin = &out["origin"];
    assert!(
        origin["uri"].is_string(),
        "origin-request was not forwarded: {origin}"
    );
    assert!(
        origin["headers"]["x-origin-verify"].is_null(),
        "the packaged edge config adds x-origin-verify itself, clashing with the origin custom header"
    );
    assert_eq!(
        origin["origin"]["custom"]["customHeaders"]["x-origin-verify"][0]["value"],
        "v1:set-by-cloudfront"
    );
    let _ = std::fs::remove_dir_all(&work);
}

#[test]
fn edge_makefile_refuses_a_config_with_origin_verify() {
    let work = std::env::temp_dir().join(format!("template-edge-config-{}", std::process::id()));
    std::fs::create_dir_all(&work).expect("temp dir");
    let cfg = work.join("edge-config.json");
    std::fs::write(
        &cfg,
        json!({"origin_verify": {"key_id": "v1", "secret": "0123456789abcdef0123456789abcdef"}})
            .to_string(),
    )
    .expect("write config");
    // From an unrelated working directory, as sam build runs it.
    let o = Command::new("make")
        .arg("--makefile")
        .arg(root().join("deploy/edge/Makefile"))
        .arg("build-EdgeFunction")
        .arg(format!(
            "ARTIFACTS_DIR={}",
            work.join("artifacts").display()
        ))
        .env("EDGE_CONFIG_FILE", &cfg)
        .current_dir(&work)
        .output()
        .expect("`make` is required for the SAM makefile build");
    assert!(
        !o.status.success(),
        "a config with origin_verify was packaged"
    );
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("sets origin_verify"),
        "unexpected refusal:\n{}",
        text(&o)
    );
    assert!(
        !work.join("artifacts").exists(),
        "nothing is built from a refused config"
    );
    // The repository's default config passes the same check.
    let o = Command::new("make")
        .arg("--makefile")
        .arg(root().join("deploy/edge/Makefile"))
        .arg("check-config")
        .current_dir(&work)
        .output()
        .expect("make");
    assert!(
        o.status.success(),
        "edge/edge-config.json refused:\n{}",
        text(&o)
    );
    let _ = std::fs::remove_dir_all(&work);
}

/// The authorizer can start with the pool's keys (`JwksJson` → `JWKS_JSON`, empty by default),
/// and a pool's JWKS fits Lambda's 4 KB environment limit beside the other settings.
#[test]
fn authorizer_takes_its_pool_keys_from_the_jwks_json_parameter_within_lambdas_env_limit() {
    let p = &expanded()["Parameters"]["JwksJson"];
    assert_eq!(p["Type"], "String");
    assert_eq!(p["Default"], "");
    let env = resource("AuthorizerFunction")["Properties"]["Environment"]["Variables"]
        .as_object()
        .expect("env");
    assert_eq!(env["JWKS_JSON"], reference("JwksJson"));
    // Cognito publishes two RSA-2048 keys per pool; minified, as the workflow passes it.
    let keys = [
        harness::jwt::TestKey::rsa("abcdEFGHijklMNOPqrstUVWXyz0123456789abcdEF="),
        harness::jwt::TestKey::rsa("ZYXWvutsRQPOnmlkJIHGfedcBA9876543210zyxwVU="),
    ];
    let jwks = harness::jwt::jwks(&[&keys[0], &keys[1]]).to_string();
    // Lambda counts keys and values; a Ref/Sub stands for at most a 256-character value here
    // (ARNs, ids), literals count as written.
    let mut total = 0;
    for (k, v) in env {
        total += k.len();
        total += match v {
            Value::String(s) => s.len(),
            _ if k == "JWKS_JSON" => jwks.len(),
            _ => 256,
        };
    }
    assert!(
        total < 4096,
        "the authorizer's environment would be {total} bytes with a pool's JWKS (limit 4 KB)"
    );
}

// ------------------------------------------------------------------------------------------------
// rate limits (DESIGN.md "Rate limits across instances")
// ------------------------------------------------------------------------------------------------

/// crud's per-caller limit is deployment-wide by default, its counters in the items table (the
/// table the role's DynamoDB statement names; crud's code parses both scopes the parameter
/// allows); the WAF per-IP rule counts per minute (default 1,000); the fail-open metric is
/// alarmed for every variant crud writes it for.
#[test]
fn rate_limits_hold_deployment_wide_and_the_waf_rule_is_per_minute() {
    let params = &expanded()["Parameters"];
    let env = &template_crud_properties()["Environment"]["Variables"];
    assert_eq!(
        env["RATE_LIMIT_PER_MINUTE"],
        reference("CrudRateLimitPerMinute")
    );
    assert_eq!(env["RATE_LIMIT_SCOPE"], reference("CrudRateLimitScope"));
    assert_eq!(
        env["RATE_LIMIT_TABLE"],
        reference("ItemsTable"),
        "the counters live in the table CrudRole may update"
    );
    let scope = &params["CrudRateLimitScope"];
    assert_eq!(scope["Default"], "deployment");
    assert_eq!(scope["AllowedValues"], json!(["deployment", "instance"]));
    for v in ["deployment", "instance"] {
        let s = crud::Settings::from_lookup(|k| match k {
            "TABLE_NAME" => Some("items".into()),
            "RATE_LIMIT_SCOPE" => Some(v.into()),
            _ => None,
        })
        .expect("crud parses every allowed scope");
        let want = if v == "deployment" {
            crud::config::RateLimitScope::Deployment
        } else {
            crud::config::RateLimitScope::Instance
        };
        assert_eq!(s.rate_limit_scope, want);
    }
    assert_eq!(
        params["CrudRateLimitPerMinute"]["Default"].to_string(),
        "100"
    );

    // WAF: 1,000 requests per IP per minute, parameterised.
    let rules = list(&resource("WebAcl")["Properties"]["Rules"]);
    let rate = rules
        .iter()
        .find(|r| r["Name"] == "RatePerIp")
        .expect("RatePerIp rule");
    let stmt = &rate["Statement"]["RateBasedStatement"];
    assert_eq!(stmt["AggregateKeyType"], "IP");
    assert_eq!(stmt["EvaluationWindowSec"], 60);
    assert_eq!(stmt["Limit"], reference("WafRateLimitPerMinute"));
    assert_eq!(rate["Action"], json!({"Block": {}}));
    let p = &params["WafRateLimitPerMinute"];
    assert_eq!(p["Default"].to_string(), "1000");
    assert_eq!(p["MinValue"].to_string(), "10", "WAF's smallest rate limit");

    // The fail-open alarm: the sum over every variant crud's EMF line names.
    let a = &resource("CrudRateLimitFailOpenAlarm")["Properties"];
    let ms = a["Metrics"].as_array().expect("metric math");
    let returned: Vec<&Value> = ms.iter().filter(|m| m["ReturnData"] == true).collect();
    assert_eq!(returned.len(), 1);
    assert_eq!(
        returned[0]["Expression"],
        "FILL(stable, 0) + FILL(canary, 0) + FILL(unqualified, 0)"
    );
    use crud::metrics::Variant;
    for v in [Variant::Stable, Variant::Canary, Variant::Unqualified] {
        let m = ms.iter().find(|m| m["Id"] == v.as_str()).expect("variant");
        let metric = &m["MetricStat"]["Metric"];
        assert_eq!(metric["Namespace"], env["METRICS_NAMESPACE"]);
        assert_eq!(metric["MetricName"], crud::metrics::RATE_LIMIT_FAIL_OPEN);
        assert_eq!(
            metric["Dimensions"],
            json!([{"Name": crud::metrics::DIMENSION, "Value": v.as_str()}])
        );
        assert_eq!(m["MetricStat"]["Stat"], "Sum");
    }
    assert_eq!(a["Threshold"].to_string(), "1");
    assert_eq!(a["ComparisonOperator"], "GreaterThanOrEqualToThreshold");
    assert_eq!(a["AlarmActions"], json!([reference("AlarmTopic")]));
}
