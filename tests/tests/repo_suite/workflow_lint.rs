//! The deploy pipeline (.github/workflows/deploy.yml): linted offline by actionlint
//! (scripts/lint-workflows.sh), and it does what docs/deploy.md says: the README's test command,
//! `sam build --beta-features`, `sam deploy` with OIDC credentials (no stored keys), then
//! `gateway audit` against the new stack.

use std::process::Command;

use harness::paths::workspace_root;

#[test]
fn deploy_workflow_passes_actionlint() {
    let out = Command::new(workspace_root().join("scripts/lint-workflows.sh"))
        .output()
        .expect("run scripts/lint-workflows.sh");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "actionlint:\n{text}");
    assert!(text.contains("0 finding(s)"), "{text}");
}

#[test]
fn deploy_workflow_tests_builds_deploys_with_oidc_and_audits() {
    let w = std::fs::read_to_string(workspace_root().join(".github/workflows/deploy.yml"))
        .expect("deploy.yml");
    let pos = |s: &str| {
        w.find(s)
            .unwrap_or_else(|| panic!("deploy.yml lacks {s:?}"))
    };
    // Order: tests, build, deploy, audit.
    let steps = [
        "run: bash .ci/run",
        "sam build --beta-features",
        "sam deploy --no-confirm-changeset",
        "gateway audit --url",
    ];
    for pair in steps.windows(2) {
        assert!(
            pos(pair[0]) < pos(pair[1]),
            "{} before {}",
            pair[0],
            pair[1]
        );
    }
    assert!(w.contains("needs: test"), "deploy only after the tests");
    // The edge build reads the canary weight from the stack's rollout object: the
    // RolloutObjectUri output, read before `sam build` and handed to it as EDGE_ROLLOUT_SOURCE
    // (deploy/edge/Makefile).
    let output = pos("OutputKey=='RolloutObjectUri'");
    let source = pos("EDGE_ROLLOUT_SOURCE: ${{ steps.rollout.outputs.uri }}");
    assert!(output < source && source < pos("sam build --beta-features"));
    assert!(w.contains("id: rollout"));
    // Short-lived federated credentials: the OIDC token permission and the role, never keys.
    assert!(w.contains("id-token: write"));
    assert!(w.contains("aws-actions/configure-aws-credentials@v4"));
    assert!(w.contains("role-to-assume:"));
    for forbidden in [
        "aws-access-key-id",
        "aws-secret-access-key",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
    ] {
        assert!(
            !w.contains(forbidden),
            "stored AWS keys ({forbidden}) in the workflow"
        );
    }
    // The audit gets its users from secrets, through the environment, never the command line.
    assert!(w.contains("AUDIT_PASSWORD_A: ${{ secrets.AUDIT_PASSWORD_A }}"));
    assert!(!w.contains("--token-a"));
    // The role is documented.
    let readme = std::fs::read_to_string(workspace_root().join("docs/deploy.md")).expect("README");
    assert!(
        readme.contains("token.actions.githubusercontent.com"),
        "docs/deploy.md documents the OIDC role"
    );
}

/// The workflow as JSON (PyYAML, as scripts/lint-workflows.sh uses).
fn workflow() -> serde_json::Value {
    let out = Command::new("python3")
        .args([
            "-c",
            "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
        ])
        .arg(workspace_root().join(".github/workflows/deploy.yml"))
        .output()
        .expect("python3 yaml");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json")
}

/// `sam build` runs `cargo lambda` by name, so the deploy job must put the venv's bin folder on
/// PATH the way GitHub does it: each line a step appends to `$GITHUB_PATH` is prepended to PATH
/// for the later steps. This runs the deploy job's PATH-setting steps with a `$GITHUB_PATH` file,
/// builds PATH from it as the runner would (the runner's own PATH has no venv), then runs the
/// job's own `sam build` step text, unchanged, in a scratch checkout whose template holds one
/// small `rust-cargolambda` function. Without the PATH step, SAM stops with "Cannot find Cargo
/// Lambda" (the failure of the first deploy).
#[test]
fn deploy_jobs_sam_build_step_finds_cargo_lambda_with_the_workflows_path() {
    let root = workspace_root();
    let venv_bin = root.join(".venv/bin");
    assert!(
        venv_bin.join("cargo-lambda").exists() && venv_bin.join("sam").exists(),
        "run scripts/setup.sh --deploy (cargo-lambda and sam into .venv)"
    );
    let w = workflow();
    let steps = w["jobs"]["deploy"]["steps"]
        .as_array()
        .expect("steps")
        .clone();
    let build_at = steps
        .iter()
        .position(|s| s["name"] == "sam build")
        .expect("a `sam build` step");

    // A scratch checkout: the repository's venv, a template with one tiny Rust function.
    let ws = std::env::temp_dir().join(format!("deploy-path-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&ws);
    std::fs::create_dir_all(ws.join("hello/src")).expect("scratch");
    std::os::unix::fs::symlink(root.join(".venv"), ws.join(".venv")).expect("venv link");
    std::fs::write(
        ws.join("hello/Cargo.toml"),
        "[package]\nname = \"hello\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\n",
    )
    .expect("Cargo.toml");
    std::fs::write(ws.join("hello/src/main.rs"), "fn main() {}\n").expect("main.rs");
    std::fs::write(
        ws.join("template.yaml"),
        "AWSTemplateFormatVersion: \"2010-09-09\"\nTransform: AWS::Serverless-2016-10-31\n\
         Resources:\n  Hello:\n    Type: AWS::Serverless::Function\n    Metadata:\n      \
         BuildMethod: rust-cargolambda\n      BuildProperties:\n        Binary: hello\n    \
         Properties:\n      CodeUri: hello/\n      Handler: bootstrap\n      Runtime: provided.al2023\n",
    )
    .expect("template");
    let runner_temp = ws.join("runner-temp");
    std::fs::create_dir_all(&runner_temp).expect("runner temp");
    std::fs::write(runner_temp.join("edge-config.json"), "{}").expect("edge config");
    let github_path = ws.join("github-path");
    std::fs::write(&github_path, "").expect("GITHUB_PATH");

    // The runner's PATH: the system's and cargo's, never the venv.
    let base_path: String = std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .filter(|p| !p.contains(".venv"))
        .collect::<Vec<_>>()
        .join(":");
    let run_step = |script: &str, path: &str, env: &serde_json::Value| {
        let mut c = Command::new("bash");
        c.args(["-e", "-c", script])
            .current_dir(&ws)
            // as on the runner: no lint wrapper (scripts/test.sh builds with clippy-driver)
            .env_remove("RUSTC_WORKSPACE_WRAPPER")
            .env_remove("CLIPPY_ARGS")
            .env("PATH", path)
            .env("GITHUB_WORKSPACE", &ws)
            .env("GITHUB_PATH", &github_path)
            .env("GITHUB_ENV", ws.join("github-env"))
            .env("GITHUB_OUTPUT", ws.join("github-output"))
            .env("RUNNER_TEMP", &runner_temp)
            .env("SAM_CLI_TELEMETRY", "0")
            .env("SAM_CLI_DISABLE_UPDATE_CHECK", "1")
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1");
        if let Some(m) = env.as_object() {
            for (k, v) in m {
                // `${{ ... }}` expressions evaluate to empty strings here (no prior outputs).
                let v = v.as_str().unwrap_or("");
                c.env(k, if v.contains("${{") { "" } else { v });
            }
        }
        c.output().expect("bash")
    };
    // Every earlier step that changes PATH, exactly as written.
    let mut ran = 0;
    for s in &steps[..build_at] {
        let Some(script) = s["run"].as_str() else {
            continue;
        };
        if !script.contains("GITHUB_PATH") {
            continue;
        }
        let o = run_step(script, &base_path, &s["env"]);
        assert!(
            o.status.success(),
            "step {}: {}",
            s["name"],
            String::from_utf8_lossy(&o.stderr)
        );
        ran += 1;
    }
    assert!(
        ran >= 1,
        "no step before `sam build` puts the venv's tools on PATH"
    );
    let added: Vec<String> = std::fs::read_to_string(&github_path)
        .expect("GITHUB_PATH")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect();
    // GitHub prepends the lines, the last one first.
    let path = added
        .iter()
        .rev()
        .cloned()
        .chain([base_path.clone()])
        .collect::<Vec<_>>()
        .join(":");
    let build = &steps[build_at];
    let o = run_step(build["run"].as_str().expect("run"), &path, &build["env"]);
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        !out.contains("Cannot find Cargo Lambda"),
        "sam build cannot find cargo-lambda with the workflow's PATH:\n{out}"
    );
    assert!(o.status.success(), "sam build failed:\n{out}");
    assert!(
        ws.join(".aws-sam/build/Hello/bootstrap").exists(),
        "no bootstrap built:\n{out}"
    );
    let _ = std::fs::remove_dir_all(&ws);
}

/// The first deploy on an empty account: the audit step skips with a clear line when the audit
/// users or password sign-in are missing (instead of failing on a pool with no users), and a
/// second build packages the rollout object when the first build could not know it.
#[test]
fn first_deploy_skips_the_audit_clearly_and_builds_the_edge_again_with_the_rollout_object() {
    let w = workflow();
    let steps = w["jobs"]["deploy"]["steps"]
        .as_array()
        .expect("steps")
        .clone();
    let by_name = |n: &str| {
        steps
            .iter()
            .find(|s| s["name"].as_str().is_some_and(|x| x.starts_with(n)))
            .unwrap_or_else(|| panic!("no step {n:?}"))
            .clone()
    };
    let second = by_name("Second build with the new rollout object");
    assert_eq!(second["if"], "steps.rollout.outputs.uri == ''");
    let script = second["run"].as_str().expect("run");
    assert!(script.contains("OutputKey=='RolloutObjectUri'"));
    assert!(script.contains("EDGE_ROLLOUT_SOURCE=\"$uri\" sam build --beta-features"));
    assert!(script.contains("sam deploy"));

    // The audit step's own script, run with no audit secrets: exit 0 and a warning that names
    // what is missing; then with users but password sign-in off.
    let audit = by_name("gateway audit against the new stack");
    let scratch = std::env::temp_dir().join(format!("deploy-audit-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).expect("scratch");
    let script = audit["run"].as_str().expect("run");
    let run = |vars: &[(&str, &str)]| {
        let mut c = Command::new("bash");
        // In a scratch folder: the step writes audit.json where it runs.
        c.args(["-e", "-c", script])
            .current_dir(&scratch)
            .env_clear()
            .env("PATH", "/usr/bin:/bin");
        for (k, v) in vars {
            c.env(k, v);
        }
        c.output().expect("bash")
    };
    let o = run(&[]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains("::warning::audit SKIPPED") && out.contains("AUDIT_USER_A"),
        "{out}"
    );
    let users = [
        ("AUDIT_USER_A", "a@example.com"),
        ("AUDIT_PASSWORD_A", "x"),
        ("AUDIT_USER_B", "b@example.com"),
        ("AUDIT_PASSWORD_B", "y"),
        ("PASSWORD_AUTH", "false"),
    ];
    let o = run(&users);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("AllowPasswordAuth=false"), "{out}");
    // With both, it really runs the audit (here: no binary, so it fails; a skip would pass).
    let mut with_auth = users.to_vec();
    with_auth[4] = ("PASSWORD_AUTH", "true");
    assert!(!run(&with_auth).status.success());
    let _ = std::fs::remove_dir_all(&scratch);
    // After the deploy, the pool's keys go back into the stack as JwksJson (a parameter file:
    // the document's quotes and commas survive it), only when they changed.
    let seed = by_name("Pre-seed the authorizer with the pool's keys");
    let script = seed["run"].as_str().expect("run");
    assert!(script.contains("deploy/jwks_param.py"));
    assert!(script.contains("--parameter-overrides \"file://$RUNNER_TEMP/jwks-params.yaml\""));
    assert!(script.contains("if [ \"$state\" = changed ]"));
    let at = |n: &str| {
        steps
            .iter()
            .position(|s| s["name"].as_str().is_some_and(|x| x.starts_with(n)))
            .expect("step")
    };
    assert!(at("sam deploy") < at("Pre-seed") && at("Pre-seed") < at("gateway audit"));
    // The deploy passes the account-setting decision; the log retention step runs the script.
    assert!(by_name("sam deploy")["run"]
        .as_str()
        .is_some_and(|s| s.contains("ManageApiGatewayAccount=$MANAGE_ACCOUNT")));
    assert!(by_name("Edge replica log retention")["run"]
        .as_str()
        .is_some_and(|s| s.contains("python deploy/edge_log_retention.py \"$STACK_NAME-edge\"")));
}

/// The edge replicas' log retention (deploy/edge_log_retention.py, run by the workflow after each
/// deploy) against moto's EC2 and CloudWatch Logs: every region's replica group gets the
/// retention, groups of other functions and groups already right are left alone, and a retention
/// CloudWatch does not accept is refused before any call.
#[test]
fn edge_log_retention_sets_every_regions_replica_group_and_nothing_else() {
    let root = workspace_root();
    let moto = harness::moto::Moto::start();
    let py = root.join(".venv/bin/python");
    let group = "/aws/lambda/us-east-1.apigw-guard-edge";
    let setup = Command::new(&py)
        .args([
            "-c",
            r#"
import boto3, sys
g = sys.argv[1]
boto3.client("logs", region_name="eu-west-1").create_log_group(logGroupName=g)
l = boto3.client("logs", region_name="ap-southeast-2")
l.create_log_group(logGroupName=g)
l.put_retention_policy(logGroupName=g, retentionInDays=30)
boto3.client("logs", region_name="us-west-2").create_log_group(logGroupName=g + "-other")
"#,
            group,
        ])
        .envs(moto.aws_env())
        .output()
        .expect("boto3 setup");
    assert!(
        setup.status.success(),
        "{}",
        String::from_utf8_lossy(&setup.stderr)
    );
    let run = |days: &str| {
        Command::new(&py)
            .arg(root.join("deploy/edge_log_retention.py"))
            .args(["apigw-guard-edge", days])
            .envs(moto.aws_env())
            .output()
            .expect("edge_log_retention.py")
    };
    let o = run("30");
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        o.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        out.contains(&format!("eu-west-1: {group} retention 30 days")),
        "{out}"
    );
    assert!(
        !out.contains("ap-southeast-2"),
        "already 30 days: left alone\n{out}"
    );
    assert!(
        !out.contains("us-west-2"),
        "another function's group: left alone\n{out}"
    );
    assert!(out.contains("1 group(s) set to 30 days"), "{out}");
    let check = Command::new(&py)
        .args([
            "-c",
            r#"
import boto3, sys
for r, g in (("eu-west-1", sys.argv[1]), ("us-west-2", sys.argv[1] + "-other")):
    gs = boto3.client("logs", region_name=r).describe_log_groups(logGroupNamePrefix=g)["logGroups"]
    print(r, [x.get("retentionInDays") for x in gs if x["logGroupName"] == g])
"#,
            group,
        ])
        .envs(moto.aws_env())
        .output()
        .expect("boto3 check");
    let seen = String::from_utf8_lossy(&check.stdout);
    assert!(seen.contains("eu-west-1 [30]"), "{seen}");
    assert!(seen.contains("us-west-2 [None]"), "{seen}");
    // A second run changes nothing; an unaccepted retention is refused before any call.
    assert!(String::from_utf8_lossy(&run("30").stdout).contains("0 group(s)"));
    let o = run("31");
    assert_eq!(o.status.code(), Some(2));
}

/// The pre-seed step's helper (deploy/jwks_param.py): it reads a pool's JWKS and writes the
/// `JwksJson` parameter file, which SAM CLI's own parameter parser (`CfnParameterOverridesType`,
/// what `sam deploy --parameter-overrides file://...` runs) must read back as exactly the
/// minified document; an unchanged document writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwks_param_file_reaches_sam_deploy_as_the_exact_document() {
    let root = workspace_root();
    let key = harness::jwt::TestKey::rsa("pool-key-1");
    let doc = harness::jwt::jwks(&[&key]);
    let server = harness::jwks_server::JwksServer::start(doc.clone()).await;
    let dir = std::env::temp_dir().join(format!("jwks-param-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let out = dir.join("jwks-params.yaml");
    let run = |current: &str| {
        Command::new("python3")
            .arg(root.join("deploy/jwks_param.py"))
            .args([&server.uri(), current])
            .arg(&out)
            .arg("ManageApiGatewayAccount=false")
            .output()
            .expect("jwks_param.py")
    };
    let o = run("None");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "changed");
    let parsed = Command::new(root.join(".venv/bin/python"))
        .args([
            "-c",
            "import json, sys; from samcli.cli.types import CfnParameterOverridesType; \
             print(json.dumps(CfnParameterOverridesType().convert('file://' + sys.argv[1], None, None)))",
        ])
        .arg(&out)
        .output()
        .expect("samcli");
    assert!(
        parsed.status.success(),
        "{}",
        String::from_utf8_lossy(&parsed.stderr)
    );
    let params: serde_json::Value = serde_json::from_slice(&parsed.stdout).expect("json");
    let minified = serde_json::to_string(&doc).expect("json");
    let value = params["JwksJson"].as_str().expect("JwksJson");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(value).expect("a JSON document"),
        doc
    );
    assert!(
        !value.contains(' ') && value.len() <= minified.len() + 2,
        "{value}"
    );
    assert_eq!(params["ManageApiGatewayAccount"], "false");
    // Deployed already: nothing to do, no file written.
    std::fs::remove_file(&out).expect("rm");
    let o = run(value);
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "unchanged");
    assert!(!out.exists());
    // Refusals: not https off loopback; not a JWKS.
    let o = Command::new("python3")
        .arg(root.join("deploy/jwks_param.py"))
        .args(["http://example.com/jwks.json", "", "/dev/null"])
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(1));
    server.set_doc(serde_json::json!({"keys": []}));
    let o = run("");
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
