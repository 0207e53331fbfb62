//! The Lambda handler: the only module that sees Lambda types. Time and randomness come from the
//! OS here; the logic is [`crate::Edge`].

use std::time::{SystemTime, UNIX_EPOCH};

use lambda_runtime::{Error, LambdaEvent};

use crate::event::{Event, Output};
use crate::{Context, Edge};

pub async fn handler(event: LambdaEvent<Event>, edge: &Edge) -> Result<Output, Error> {
    let ctx = Context {
        now_ms: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0),
        random: random_bytes(),
    };
    let handled = match edge.handle_detailed(event.payload, &ctx) {
        Ok(h) => h,
        Err(e) => {
            tracing::warn!(code = "invalid_event", error = %e, "event refused");
            return Err(e.into());
        }
    };
    let variant = handled.variant.map(|v| v.as_str()).unwrap_or("");
    match handled.decision {
        crate::Decision::Forwarded
        | crate::Decision::Response
        | crate::Decision::PreflightAllowed => {
            tracing::debug!(event = ?handled.event_type, code = handled.decision.code(), variant)
        }
        _ => {
            tracing::info!(event = ?handled.event_type, code = handled.decision.code(), "refused at the edge")
        }
    }
    if handled.tester_refused {
        tracing::warn!(
            code = "canary_force_refused",
            "variant override without a valid tester credential"
        );
    }
    Ok(handled.output)
}

fn random_bytes() -> [u8; 16] {
    let mut b = [0u8; 16];
    if getrandom::fill(&mut b).is_err() {
        // No OS randomness: the bytes only seed the id of a visitor whose request has no
        // CloudFront request id; a fixed id puts such visitors in one bucket, never on an
        // unsafe path.
        b = [0; 16];
    }
    b
}
