//! The whole local stack: the real `gateway` binary (edge, authorizer and crud in process) against
//! moto, driven over HTTP, by `gateway rollout` and `gateway audit`, and in Chromium. One test
//! binary, one module per topic.

mod audit;
mod browser;
mod canary_rollout;
mod cli;
mod gateway;
mod revocation;
mod rollout_aws;
mod upstream;
