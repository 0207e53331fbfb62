//! Cold start of the function binaries under the Runtime API emulator: wall time from process
//! exec to the first response (init + first invocation), and peak RSS, median over N runs, next
//! to a hello-world `lambda_runtime` binary measured the same way in the same run. The one
//! cold-start benchmark (`bench/run.sh coldstart`); crud's `benches/binary.rs` measures warm
//! throughput only.
//!
//! Usage: bench_coldstart [runs]    (uses the binaries next to this one: build with --release)

use std::time::Instant;

use harness::jwks_server::JwksServer;
use harness::jwt::{self, TestKey};
use harness::paths;
use harness::runtime_api::{Function, Outcome};
use serde_json::{json, Value};

const ISS: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_ColdPool1";
const CLIENT: &str = "coldclient0123456789abcd";

struct Case {
    name: &'static str,
    bin: &'static str,
    env: Vec<(String, String)>,
    event: Value,
    /// The proxy response's `statusCode` every run must answer, when the event is a crud one.
    status: Option<u64>,
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let key = TestKey::rsa("cold-key-1");
    let jwks = JwksServer::start(jwt::jwks(&[&key])).await;
    let token = key.sign(&jwt::access_claims(ISS, CLIENT, "cold-user"), &json!({}));
    let mut auth_event: Value = serde_json::from_str(include_str!(
        "../../../authorizer/tests/fixtures/rest_token.json"
    ))
    .unwrap();
    auth_event["authorizationToken"] = json!(format!("Bearer {token}"));

    // crud: moto as DynamoDB, the items table, a REST proxy GET /items for an authorized caller.
    let moto = harness::moto::Moto::start();
    let out = std::process::Command::new(paths::venv_python())
        .arg(paths::workspace_root().join("scripts/local_table.py"))
        .args(["--endpoint", &moto.endpoint(), "--table", "items"])
        .output()
        .expect("local_table.py");
    assert!(out.status.success());
    let mut crud_event: Value = serde_json::from_str(include_str!(
        "../../../crud/tests/fixtures/apigw-rest-get-item.json"
    ))
    .unwrap();
    crud_event["resource"] = json!("/items");
    crud_event["path"] = json!("/items");
    crud_event["pathParameters"] = Value::Null;
    crud_event["requestContext"]["resourcePath"] = json!("/items");
    // a first event crud answers without calling DynamoDB: 400 for an id that is not one
    let mut crud_no_ddb_event: Value = serde_json::from_str(include_str!(
        "../../../crud/tests/fixtures/apigw-rest-get-item.json"
    ))
    .unwrap();
    crud_no_ddb_event["path"] = json!("/items/not-an-id");
    crud_no_ddb_event["pathParameters"] = json!({"id": "not-an-id"});
    // the authorizer's revocation table (REVOCATION_TABLE: one Scan at init, moto on loopback)
    let out = std::process::Command::new(paths::venv_python())
        .arg(paths::workspace_root().join("scripts/local_table.py"))
        .args([
            "--endpoint",
            &moto.endpoint(),
            "--table",
            "revocations",
            "--revocation",
        ])
        .output()
        .expect("local_table.py --revocation");
    assert!(out.status.success());
    let mut crud_env = moto.aws_env();
    crud_env.push(("TABLE_NAME".into(), "items".into()));
    crud_env.push((
        "CURSOR_SECRET".into(),
        "Y29sZC1zdGFydC1jdXJzb3Itc2VjcmV0LTAxMjM0NTY3ODlhYg==".into(),
    ));
    // crud with the per-instance limit only: no counter write, so the first event's DynamoDB
    // calls are the route's own.
    let mut crud_instance_env = crud_env.clone();
    crud_instance_env.push(("RATE_LIMIT_SCOPE".into(), "instance".into()));
    let edge_event: Value = serde_json::from_str(include_str!(
        "../../../edge/tests/fixtures/viewer-request.json"
    ))
    .unwrap();

    // Secrets at init (secret-source): the same secret from the environment and from moto's
    // Secrets Manager / SSM on loopback (the call's cost without the network's).
    const OV: &str = "v1:cold-start-origin-verify-secret-0123456789abcdef";
    let out = std::process::Command::new(paths::venv_python())
        .arg("-c")
        .arg(
            r#"
import boto3, sys
kw = dict(endpoint_url=sys.argv[1], region_name="us-east-1",
          aws_access_key_id="testing", aws_secret_access_key="testing")
print(boto3.client("secretsmanager", **kw).create_secret(Name="cold/ov", SecretString=sys.argv[2])["ARN"])
ssm = boto3.client("ssm", **kw)
ssm.put_parameter(Name="/cold/cursor", Value=sys.argv[3], Type="SecureString")
print(ssm.get_parameter(Name="/cold/cursor")["Parameter"]["ARN"])
"#,
        )
        .args([
            &moto.endpoint(),
            OV,
            "Y29sZC1zdGFydC1jdXJzb3Itc2VjcmV0LTAxMjM0NTY3ODlhYg==",
        ])
        .output()
        .expect("create secrets on moto");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let arns = String::from_utf8_lossy(&out.stdout).into_owned();
    let arns: Vec<String> = arns.lines().map(str::to_string).collect();
    let mut ov_event: Value = serde_json::from_str(include_str!(
        "../../../authorizer/tests/fixtures/rest_request.json"
    ))
    .unwrap();
    ov_event["headers"]["Authorization"] = json!(format!("Bearer {token}"));
    ov_event["headers"]["x-origin-verify"] = json!(OV);
    if ov_event["multiValueHeaders"].is_object() {
        ov_event["multiValueHeaders"]["Authorization"] = json!([format!("Bearer {token}")]);
        ov_event["multiValueHeaders"]["x-origin-verify"] = json!([OV]);
    }
    let auth_env = |extra: Vec<(String, String)>| {
        let mut e = vec![
            ("ISSUER".to_string(), ISS.to_string()),
            ("CLIENT_IDS".into(), CLIENT.into()),
            ("JWKS_URI".into(), jwks.uri()),
        ];
        e.extend(extra);
        e
    };
    let mut crud_ssm_env: Vec<(String, String)> = crud_env
        .iter()
        .filter(|(k, _)| k != "CURSOR_SECRET")
        .cloned()
        .collect();
    crud_ssm_env.push(("CURSOR_SECRET_ARN".into(), arns[1].clone()));

    // The same authorizer with its JWKS behind real TLS on loopback (a private CA given by
    // JWKS_CA_FILE): the handshake draws randomness from aws-lc, as the HTTPS fetch from Cognito
    // does on AWS.
    let ca = harness::jwks_server::TestCa::generate();
    let jwks_tls = JwksServer::start_tls(jwt::jwks(&[&key]), &ca).await;
    // The issuer's JWKS "100 ms away": real TLS, every response delayed by 100 ms (what a fetch
    // from Lambda to a remote issuer costs, and what loopback hides). With JWKS_JSON the
    // authorizer must answer without asking it.
    let jwks_far = JwksServer::start_tls(jwt::jwks(&[&key]), &ca).await;
    jwks_far.set_mode(harness::jwks_server::Mode::Delay(
        std::time::Duration::from_millis(100),
    ));
    let far_env = |seed: bool| {
        let mut e = vec![
            ("ISSUER".to_string(), ISS.to_string()),
            ("CLIENT_IDS".into(), CLIENT.into()),
            ("JWKS_URI".into(), jwks_far.uri()),
            ("JWKS_CA_FILE".into(), ca.ca_pem_path.display().to_string()),
        ];
        if seed {
            e.push(("JWKS_JSON".into(), jwt::jwks(&[&key]).to_string()));
        }
        e
    };

    let cases = vec![
        Case {
            name: "hello-world lambda_runtime (reference)",
            bin: "hello_lambda",
            env: vec![],
            event: json!({"ping": 1}),
            status: None,
        },
        Case {
            name: "authorizer",
            bin: "authorizer",
            env: vec![
                ("ISSUER".into(), ISS.into()),
                ("CLIENT_IDS".into(), CLIENT.into()),
                ("JWKS_URI".into(), jwks.uri()),
            ],
            event: auth_event.clone(),
            status: None,
        },
        Case {
            name: "authorizer, REVOCATION_TABLE (its first Scan at init, moto on loopback)",
            bin: "authorizer",
            env: {
                let mut e = moto.aws_env();
                e.extend([
                    ("ISSUER".into(), ISS.into()),
                    ("CLIENT_IDS".into(), CLIENT.into()),
                    ("JWKS_URI".into(), jwks.uri()),
                    ("REVOCATION_TABLE".into(), "revocations".into()),
                ]);
                e
            },
            event: auth_event.clone(),
            status: None,
        },
        Case {
            name: "authorizer, JWKS over TLS (JWKS_CA_FILE, loopback)",
            bin: "authorizer",
            env: vec![
                ("ISSUER".into(), ISS.into()),
                ("CLIENT_IDS".into(), CLIENT.into()),
                ("JWKS_URI".into(), jwks_tls.uri()),
                ("JWKS_CA_FILE".into(), ca.ca_pem_path.display().to_string()),
            ],
            event: auth_event.clone(),
            status: None,
        },
        Case {
            name: "authorizer, JWKS 100 ms away over TLS",
            bin: "authorizer",
            env: far_env(false),
            event: auth_event.clone(),
            status: None,
        },
        Case {
            name: "authorizer, JWKS_JSON, JWKS 100 ms away over TLS",
            bin: "authorizer",
            env: far_env(true),
            event: auth_event.clone(),
            status: None,
        },
        Case {
            name: "crud (shared rate limit: counter UpdateItem, then Query)",
            bin: "crud",
            env: crud_env.clone(),
            event: crud_event.clone(),
            status: Some(200),
        },
        Case {
            name: "crud, RATE_LIMIT_SCOPE=instance (one Query)",
            bin: "crud",
            env: crud_instance_env.clone(),
            event: crud_event.clone(),
            status: Some(200),
        },
        Case {
            name: "crud, invalid id (400) with the shared limit (its counter UpdateItem only)",
            bin: "crud",
            env: crud_env.clone(),
            event: crud_no_ddb_event.clone(),
            status: Some(400),
        },
        Case {
            name: "crud, first event answered without DynamoDB (400, RATE_LIMIT_SCOPE=instance)",
            bin: "crud",
            env: crud_instance_env.clone(),
            event: crud_no_ddb_event.clone(),
            status: Some(400),
        },
        Case {
            name: "crud, as the row above with REVOCATION_TABLE and USER_POOL_ID (the revocation hooks' two SDK clients built at init)",
            bin: "crud",
            env: {
                let mut e = crud_instance_env.clone();
                e.push(("REVOCATION_TABLE".into(), "revocations".into()));
                e.push(("USER_POOL_ID".into(), "us-east-1_ColdPool1".into()));
                e
            },
            event: crud_no_ddb_event,
            status: Some(400),
        },
        Case {
            name: "authorizer, ORIGIN_VERIFY_SECRET in the environment",
            bin: "authorizer",
            env: auth_env(vec![("ORIGIN_VERIFY_SECRET".into(), OV.into())]),
            event: ov_event.clone(),
            status: None,
        },
        Case {
            name: "authorizer, ORIGIN_VERIFY_SECRET_ARN (Secrets Manager on loopback)",
            bin: "authorizer",
            env: auth_env(
                [
                    moto.aws_env(),
                    vec![("ORIGIN_VERIFY_SECRET_ARN".into(), arns[0].clone())],
                ]
                .concat(),
            ),
            event: ov_event,
            status: None,
        },
        Case {
            name: "crud, CURSOR_SECRET_ARN (SSM SecureString on loopback)",
            bin: "crud",
            env: crud_ssm_env,
            event: crud_event.clone(),
            status: Some(200),
        },
        Case {
            name: "edge",
            bin: "edge",
            env: vec![],
            event: edge_event,
            status: None,
        },
    ];
    let mut results = Vec::new();
    for c in &cases {
        let bin = paths::bin(c.bin);
        let mut times = Vec::new();
        let mut rss = Vec::new();
        let mut far_fetches = Vec::new();
        let uses_far = c.env.iter().any(|(_, v)| *v == jwks_far.uri());
        for _ in 0..runs {
            let hits = jwks_far.hits();
            let t0 = Instant::now();
            let f = Function::start(&bin, &c.env).await;
            let out = f.invoke(&c.event).await;
            let dt = t0.elapsed().as_secs_f64() * 1e3;
            far_fetches.push((jwks_far.hits() - hits) as f64);
            assert!(
                matches!(out, Outcome::Response(_)),
                "{}: {out:?}\n{}",
                c.name,
                f.logs().join("\n")
            );
            if let (Some(want), Outcome::Response(v)) = (c.status, &out) {
                assert_eq!(v["statusCode"].as_u64(), Some(want), "{}: {v}", c.name);
            }
            rss.push(f.peak_rss_kib().await.unwrap_or(0) as f64 / 1024.0);
            times.push(dt);
        }
        let (t, r) = (median(&mut times), median(&mut rss));
        let mut row = json!({"function": c.name, "runs": runs, "cold_start_ms_median": t, "peak_rss_mib_median": r});
        if uses_far {
            // JWKS requests between exec and the first answer (the maximum over the runs).
            row["jwks_fetches_before_first_answer"] =
                json!(far_fetches.iter().cloned().fold(0.0, f64::max));
        }
        results.push(row);
    }
    let reference = results[0]["cold_start_ms_median"].as_f64().unwrap_or(1.0);
    for r in &mut results {
        let t = r["cold_start_ms_median"].as_f64().unwrap_or(0.0);
        r["ratio_to_reference"] = json!(t / reference);
        println!("{r}");
    }
}
