//! One way to fail the init phase for all three functions: the message reaches the Runtime API's
//! `/init/error` (what Lambda shows), names the setting, and never quotes a secret value.

use harness::paths;
use harness::runtime_api::Function;

const SECRET: &str = "do-not-log-this-secret-0123456789";

async fn init_error(bin: &str, env: &[(&str, &str)]) -> String {
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let f = Function::start(&paths::bin(bin), &env).await;
    let msg = f.wait_init().await.expect("init must fail");
    assert_eq!(
        f.init_error().as_deref(),
        Some(msg.as_str()),
        "{bin}: the failure is reported to /init/error, not only by exiting"
    );
    assert!(
        f.exits_soon().await,
        "{bin}: the process exits after reporting"
    );
    let logs = f.settled_logs().await.join("\n");
    assert!(!logs.contains(SECRET), "{bin}: secret in logs");
    assert!(!msg.contains(SECRET), "{bin}: secret in the init error");
    msg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_function_reports_init_failures_to_the_runtime_api() {
    let m = init_error(
        "authorizer",
        &[
            ("USER_POOL_ID", "us-east-1_abc"),
            ("ORIGIN_VERIFY_SECRET", SECRET),
        ],
    )
    .await;
    assert!(m.contains("CLIENT_IDS"), "{m}");

    let m = init_error("crud", &[("CURSOR_SECRET", SECRET)]).await;
    assert!(m.contains("TABLE_NAME"), "{m}");

    let cfg = format!(r#"{{"cors": "{SECRET}"}}"#);
    let m = init_error("edge", &[("EDGE_CONFIG", &cfg)]).await;
    assert!(m.contains("EDGE_CONFIG"), "{m}");
}
