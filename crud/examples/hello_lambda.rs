//! Reference for `benches/binary.rs`: the smallest `lambda_runtime` function (echoes its event),
//! built with the same profile and measured exactly like `crud`.

use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(service_fn(|e: LambdaEvent<Value>| async move {
        Ok::<Value, lambda_runtime::Error>(e.payload)
    }))
    .await
}
