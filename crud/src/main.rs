//! `crud`: the CRUD Lambda. Reads the environment, builds the DynamoDB client once, then serves
//! Runtime API invocations. A missing or invalid setting fails init with a message naming it.

use std::time::{Duration, Instant, SystemTime};

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::BehaviorVersion;
use crud::handler::handle_event_until;
use crud::metrics::{self, MetricsSettings, Variant};
use crud::store::{self, Store};
use crud::{CrudEvent, CrudResponse, Deps, Settings};
use lambda_runtime::{service_fn, LambdaEvent};
use std::io::Write;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    // The log level (AWS_LAMBDA_LOG_LEVEL, which Lambda's application log level sets, else
    // RUST_LOG; `trace` .. `error`, `fatal` = `error`, else `info`); see `crud::log_subscriber`
    // for what it applies to.
    use tracing_subscriber::filter::LevelFilter;
    use tracing_subscriber::util::SubscriberInitExt;
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok()
        .and_then(|l| match l.trim().to_ascii_lowercase().as_str() {
            "trace" => Some(LevelFilter::TRACE),
            "debug" => Some(LevelFilter::DEBUG),
            "info" => Some(LevelFilter::INFO),
            "warn" => Some(LevelFilter::WARN),
            "error" | "fatal" => Some(LevelFilter::ERROR),
            _ => None,
        })
        .unwrap_or(LevelFilter::INFO);
    crud::log_subscriber(level, std::io::stdout).init();
    tracing::debug!(event = "log_level", level = %level, dependencies = %level.min(LevelFilter::WARN));

    // CURSOR_SECRET_ARN: the value from Secrets Manager / SSM, read once (secret-source).
    // Every init failure goes to the Runtime API's /init/error with the setting named.
    let secrets = secret_source::resolve(&[crud::config::CURSOR_SECRET_ENV], |k| {
        std::env::var(k).ok()
    })
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
    // What a revocation sets off on AWS (see crud::aws_hooks): the stage's authorizer cache
    // flush and, with USER_POOL_ID, Cognito's global sign-out for the admin route; SDK clients
    // built from the same settings as DynamoDB's (no network call here).
    let hooks = settings.revocation_table.as_ref().map(|_| {
        let hooks = crud::aws_hooks::AwsHooks::new(
            &sdk,
            settings.authorizer_cache_flush,
            settings.user_pool_id.clone(),
        );
        tracing::info!(
            event = "revocation_hooks",
            flush = settings.authorizer_cache_flush,
            global_sign_out = settings.user_pool_id.is_some()
        );
        hooks
    });
    let deps = Deps::new(store, settings)
        .unwrap_or_else(|e| lambda_init_error::report_and_exit("ConfigError", &e.to_string()));
    let deps = match hooks {
        Some(h) => deps.with_after_revocation(std::sync::Arc::new(h)),
        None => deps,
    };
    // METRICS / METRICS_NAMESPACE: one EMF line per invocation (crud::metrics), or none.
    let metrics = MetricsSettings::from_lookup(|k| std::env::var(k).ok())
        .unwrap_or_else(|e| lambda_init_error::report_and_exit("ConfigError", &e.to_string()));
    let namespace = metrics.namespace.as_deref();
    let deps = &deps;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<CrudEvent>| async move {
            let started = Instant::now();
            let wall = SystemTime::now();
            // The Runtime API's deadline (the function's `Timeout`) as a monotonic instant.
            let left = event
                .context
                .deadline()
                .duration_since(wall)
                .unwrap_or(Duration::ZERO);
            let deadline = started + left;
            let variant = Variant::of_invoked_arn(&event.context.invoked_function_arn);
            // Lambda runs one invocation at a time per instance: the count's change is this one's.
            let fail_opens = deps.rate_limit.fail_opens();
            let response = handle_event_until(event.payload, deps, Some(deadline)).await;
            let failed_open = deps.rate_limit.fail_opens() != fail_opens;
            if let Some(ns) = namespace {
                let status = match &response {
                    CrudResponse::Rest(r) => r.status_code,
                    CrudResponse::Http(r) => r.status_code,
                };
                let timestamp_ms = wall
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map(|d| d.as_millis() as u64)
                    .unwrap_or(0);
                let mut line = Vec::with_capacity(metrics::LINE_CAPACITY);
                metrics::write_line(
                    &mut line,
                    ns,
                    variant,
                    u16::try_from(status).unwrap_or(500),
                    failed_open,
                    started.elapsed(),
                    timestamp_ms,
                );
                // One write of one whole line (stdout's lock held for it): never interleaved
                // with a log line. A failed write loses one data point, not the response.
                let _ = std::io::stdout().lock().write_all(&line);
            }
            Ok::<_, lambda_runtime::Error>(response)
        },
    ))
    .await
}
