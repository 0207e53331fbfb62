//! The local gateway: CloudFront + API Gateway in front of the edge, authorizer and crud
//! functions, in process, on one HTTP port of 127.0.0.1 (like `sam local start-api`, without
//! Docker). The functions run the same handler code as their Lambda binaries. `gateway serve`
//! configures and runs it.

pub mod apigw;
pub mod cloudfront;
pub mod iam;
pub mod message;
pub mod pipeline;
pub mod rollout;
pub mod routes;
pub mod server;
pub mod token;

pub use pipeline::{Gateway, HttpRequest, HttpResponse, Settings, Timings};
