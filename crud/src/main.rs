//! `crud`: the CRUD Lambda. Reads the environment, builds the DynamoDB client once, then serves
//! Runtime API invocations. A missing or invalid setting fails init with a message naming it.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::BehaviorVersion;
use crud::store::Store;
use crud::{handle_event, CrudEvent, Deps, Settings};
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

    let settings = Settings::from_lookup(|k| std::env::var(k).ok()).map_err(|e| {
        tracing::error!(error = %e, "invalid configuration");
        e
    })?;
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::standard().with_max_attempts(3))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(1))
                .operation_attempt_timeout(Duration::from_secs(3))
                .operation_timeout(Duration::from_secs(8))
                .build(),
        )
        .load()
        .await;
    let store = Store::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        settings.table_name.clone(),
    );
    let deps = Deps::new(store, settings).map_err(|e| {
        tracing::error!(error = %e, "invalid configuration");
        e
    })?;
    let deps = &deps;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<CrudEvent>| async move {
            Ok::<_, lambda_runtime::Error>(handle_event(event.payload, deps).await)
        },
    ))
    .await
}
