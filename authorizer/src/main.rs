//! `authorizer`: reads the environment once, builds the authorizer (JWKS hydrated), then serves
//! the Lambda Runtime API. A bad setting fails the init phase with a message naming it.

use std::time::SystemTime;

use authorizer::{Config, Unauthorized};
use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::value::RawValue;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    use tracing_subscriber::util::SubscriberInitExt;
    authorizer::log_subscriber(std::io::stdout).init();

    // ORIGIN_VERIFY_SECRET_ARN: the value from Secrets Manager / SSM, read once (secret-source).
    let secrets =
        match secret_source::resolve(&[authorizer::config::ORIGIN_VERIFY_SECRET_ENV], |k| {
            std::env::var(k).ok()
        })
        .await
        {
            Ok(s) => s,
            Err(e) => init_failure("ConfigError", &e.to_string()),
        };
    let cfg =
        match Config::from_lookup(|k| secrets.get(k).cloned().or_else(|| std::env::var(k).ok())) {
            Ok(c) => c,
            Err(e) => init_failure("ConfigError", &e.to_string()),
        };
    let auth = match authorizer::init(cfg).await {
        Ok(a) => a,
        Err(e) => init_failure("InitError", &format!("JWKS client: {e}")),
    };
    let auth = &auth;
    let result = lambda_runtime::run(service_fn(
        move |ev: LambdaEvent<Box<RawValue>>| async move {
            let out = auth.handle(ev.payload.get(), SystemTime::now()).await?;
            RawValue::from_string(out).map_err(|_| Unauthorized)
        },
    ))
    .await;
    if let Err(e) = result {
        tracing::error!(event = "runtime_error", error = %e);
        std::process::exit(1);
    }
}

/// Report an init-phase failure to the Runtime API (so Lambda shows the message) and exit.
fn init_failure(kind: &str, msg: &str) -> ! {
    lambda_init_error::report_and_exit(kind, msg)
}
