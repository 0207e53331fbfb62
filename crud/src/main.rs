//! `crud`: the CRUD Lambda. Reads the environment, builds the DynamoDB client once, then serves
//! Runtime API invocations. A missing or invalid setting fails init with a message naming it.

use std::time::{Duration, Instant, SystemTime};

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::BehaviorVersion;
use crud::handler::handle_event_until;
use crud::store::{self, Store};
use crud::{CrudEvent, Deps, Settings};
use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok()
        .and_then(|l| l.parse::<tracing::Level>().ok())
        .unwrap_or(tracing::Level::INFO);
    tracing_subscriber::fmt()
        .json()
        .with_max_level(level)
        .with_current_span(false)
        .with_ansi(false)
        .without_time()
        .init();

    // CURSOR_SECRET_ARN: the value from Secrets Manager / SSM, read once (secret-source).
    // Every init failure goes to the Runtime API's /init/error with the setting named.
    let secrets = secret_source::resolve(&["CURSOR_SECRET"], |k| std::env::var(k).ok())
        .await
        .unwrap_or_else(|e| lambda_init_error::report_and_exit("ConfigError", &e.to_string()));
    let settings =
        Settings::from_lookup(|k| secrets.get(k).cloned().or_else(|| std::env::var(k).ok()))
            .unwrap_or_else(|e| lambda_init_error::report_and_exit("ConfigError", &e.to_string()));
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        // Short, jittered back-off (DynamoDB answers in milliseconds; 50, 100, 200 ms caps), and
        // every call's timeouts are cut to the invocation's remaining time (see `store`).
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(4)
                .with_initial_backoff(Duration::from_millis(50))
                .with_max_backoff(Duration::from_secs(1)),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(store::CONNECT_TIMEOUT)
                .operation_attempt_timeout(store::ATTEMPT_TIMEOUT)
                .operation_timeout(store::OPERATION_TIMEOUT)
                .build(),
        )
        .load()
        .await;
    let store = Store::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        settings.table_name.clone(),
    );
    let deps = Deps::new(store, settings)
        .unwrap_or_else(|e| lambda_init_error::report_and_exit("ConfigError", &e.to_string()));
    let deps = &deps;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<CrudEvent>| async move {
            // The Runtime API's deadline (the function's `Timeout`) as a monotonic instant.
            let left = event
                .context
                .deadline()
                .duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO);
            let deadline = Instant::now() + left;
            Ok::<_, lambda_runtime::Error>(
                handle_event_until(event.payload, deps, Some(deadline)).await,
            )
        },
    ))
    .await
}
