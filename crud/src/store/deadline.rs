//! The invocation's deadline, and the budget each DynamoDB call gets from it.

use std::future::Future;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::config::timeout::TimeoutConfig;

use super::{StoreError, ATTEMPT_TIMEOUT, CONNECT_TIMEOUT, OPERATION_TIMEOUT, RESPONSE_RESERVE};

/// The shortest call worth starting.
const MIN_CALL: Duration = Duration::from_millis(20);

tokio::task_local! {
    static DEADLINE: Instant;
}

/// Run `f` (one request) with `deadline` as the limit every DynamoDB call in it is budgeted
/// against (`None`: only the SDK's own timeouts).
pub async fn with_deadline<F: Future>(deadline: Option<Instant>, f: F) -> F::Output {
    match deadline {
        Some(d) => DEADLINE.scope(d, f).await,
        None => f.await,
    }
}

/// The current request's deadline, if any.
pub fn deadline() -> Option<Instant> {
    DEADLINE.try_with(|d| *d).ok()
}

/// The operation timeout for a call starting now, keeping `keep` back for what follows it
/// (`None`: no deadline; `Err`: too little time left to start one).
pub(super) fn budget(keep: Duration) -> Result<Option<Duration>, StoreError> {
    let Some(d) = deadline() else {
        return Ok(None);
    };
    let left = d
        .saturating_duration_since(Instant::now())
        .saturating_sub(RESPONSE_RESERVE);
    // Keep back at most a third of what is left: the call itself comes first.
    let call = left.saturating_sub(keep.min(left / 3));
    if call < MIN_CALL {
        tracing::warn!("invocation deadline too close for a dynamodb call");
        return Err(StoreError::Unavailable);
    }
    Ok(Some(call.min(OPERATION_TIMEOUT)))
}

/// A per-call config override holding the budgeted timeouts.
pub(super) fn timeouts(op: Duration) -> aws_sdk_dynamodb::config::Builder {
    aws_sdk_dynamodb::config::Builder::default().timeout_config(
        TimeoutConfig::builder()
            .connect_timeout(CONNECT_TIMEOUT.min(op))
            .operation_attempt_timeout(ATTEMPT_TIMEOUT.min(op))
            .operation_timeout(op)
            .build(),
    )
}
