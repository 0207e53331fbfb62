//! `edge`: the edge function as a native Lambda (Runtime API). Reads its JSON configuration from
//! `EDGE_CONFIG` (unset: every key takes its default), builds the [`edge::Edge`] once and serves
//! CloudFront events. A configuration that cannot be used fails the init phase with the fix in
//! the message.

use edge::handler::handler;
use edge::Edge;
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::INFO)
        .with_current_span(false)
        .without_time()
        .init();
    let config = match std::env::var("EDGE_CONFIG") {
        Ok(s) => s,
        Err(std::env::VarError::NotPresent) => "{}".to_string(),
        Err(std::env::VarError::NotUnicode(_)) => {
            lambda_init_error::report_and_exit("ConfigError", "EDGE_CONFIG is not valid UTF-8")
        }
    };
    let edge = match Edge::from_json(config.as_bytes()) {
        Ok(e) => e,
        Err(e) => {
            tracing::error!(code = "config_invalid", error = %e, "invalid EDGE_CONFIG");
            lambda_init_error::report_and_exit("ConfigError", &format!("invalid EDGE_CONFIG: {e}"))
        }
    };
    for w in edge.warnings() {
        tracing::warn!(code = "config_warning", "{w}");
    }
    let edge = &edge;
    // The event arrives as raw JSON and is decoded here, not by the runtime: the runtime's own
    // decoding error quotes the offending value (a header, a cookie) in its ERROR log line and
    // in the invocation's error; `edge::parse_event`'s error quotes none.
    lambda_runtime::run(service_fn(
        move |ev: LambdaEvent<Box<serde_json::value::RawValue>>| async move {
            let (raw, context) = ev.into_parts();
            let event = match edge::parse_event(raw.get().as_bytes()) {
                Ok(event) => event,
                Err(e) => {
                    tracing::warn!(code = "invalid_event", error = %e, "event refused");
                    return Err(e.into());
                }
            };
            handler(LambdaEvent::new(event, context), edge).await
        },
    ))
    .await
}
