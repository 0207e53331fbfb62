//! What a failed DynamoDB call means: transient (503) or not (500), whether its outcome is
//! unknown (the write may have happened), and why an idempotent-create transaction was cancelled.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;

use aws_sdk_dynamodb::config::interceptors::FinalizerInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::{BoxError, ProvideErrorMetadata, SdkError};

use super::StoreError;

const TRANSIENT_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "LimitExceededException",
    "TransactionInProgressException",
    "TransactionConflictException",
];

/// Whether a DynamoDB service error (AWS error code, HTTP status) is worth retrying later.
pub fn is_transient(code: Option<&str>, http_status: u16) -> bool {
    code.is_some_and(|c| TRANSIENT_CODES.contains(&c)) || http_status >= 500
}

/// What a cancelled idempotent-create transaction means, from its cancellation reason codes
/// (index 0: the idempotency record's put, 1: the item's put).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cancelled {
    /// Another transaction on the same record is running: the first request is in flight.
    InFlight,
    /// The key's record exists: replay or refuse, depending on the body.
    KeyExists,
    /// Throttled inside the transaction.
    Throttled,
    /// Anything else.
    Other,
}

pub fn cancelled(codes: &[Option<&str>]) -> Cancelled {
    if codes.contains(&Some("TransactionConflict")) {
        Cancelled::InFlight
    } else if codes.first().copied().flatten() == Some("ConditionalCheckFailed") {
        Cancelled::KeyExists
    } else if codes
        .iter()
        .any(|c| matches!(c, Some("ThrottlingError" | "ProvisionedThroughputExceeded")))
    {
        Cancelled::Throttled
    } else {
        Cancelled::Other
    }
}

pub(super) fn classify<E: ProvideErrorMetadata>(
    op: &'static str,
    e: &SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>,
) -> StoreError {
    let code = e.code();
    let transient = match e {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(se) => is_transient(code, se.raw().status().as_u16()),
        _ => false,
    };
    // The code and kind only: SDK messages can echo request data.
    tracing::warn!(
        op,
        code = code.unwrap_or("-"),
        transient,
        "dynamodb call failed"
    );
    if transient {
        StoreError::Unavailable
    } else {
        StoreError::Internal
    }
}

/// Whether a failed call's final error leaves its outcome unknown.
pub(super) fn uncertain<E>(e: &SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>) -> bool {
    match e {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(se) => se.raw().status().as_u16() >= 500,
        _ => false,
    }
}

/// Records, per call, whether any attempt's outcome is unknown: no reply (reset, timeout,
/// cancelled) or a 5xx (the write may have been applied).
#[derive(Debug, Clone, Default)]
pub(super) struct Probe(Arc<ProbeState>);

#[derive(Debug, Default)]
struct ProbeState {
    attempts: AtomicU32,
    uncertain: AtomicBool,
}

impl Probe {
    pub(super) fn uncertain(&self) -> bool {
        self.0.uncertain.load(Ordering::Relaxed)
    }
    pub(super) fn attempts(&self) -> u32 {
        self.0.attempts.load(Ordering::Relaxed)
    }
}

impl Intercept for Probe {
    fn name(&self) -> &'static str {
        "WriteOutcomeProbe"
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.attempts.fetch_add(1, Ordering::Relaxed);
        let unknown = context
            .response()
            .is_none_or(|r| r.status().as_u16() >= 500);
        if unknown {
            self.0.uncertain.store(true, Ordering::Relaxed);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_classified() {
        assert!(is_transient(
            Some("ProvisionedThroughputExceededException"),
            400
        ));
        assert!(is_transient(Some("ThrottlingException"), 400));
        assert!(is_transient(Some("RequestLimitExceeded"), 400));
        assert!(is_transient(None, 503));
        assert!(!is_transient(Some("ValidationException"), 400));
        assert!(!is_transient(Some("ResourceNotFoundException"), 400));
        assert!(!is_transient(Some("ConditionalCheckFailedException"), 400));

        assert_eq!(
            cancelled(&[Some("None"), Some("TransactionConflict")]),
            Cancelled::InFlight
        );
        assert_eq!(
            cancelled(&[Some("TransactionConflict"), Some("None")]),
            Cancelled::InFlight
        );
        assert_eq!(
            cancelled(&[Some("ConditionalCheckFailed"), Some("None")]),
            Cancelled::KeyExists
        );
        assert_eq!(
            cancelled(&[Some("None"), Some("ThrottlingError")]),
            Cancelled::Throttled
        );
        // The item's own condition failing (an id collision) is not a replay.
        assert_eq!(
            cancelled(&[Some("None"), Some("ConditionalCheckFailed")]),
            Cancelled::Other
        );
        assert_eq!(
            cancelled(&[Some("ValidationError"), None]),
            Cancelled::Other
        );
        assert_eq!(cancelled(&[]), Cancelled::Other);
    }
}
