//! crud end to end: the real `crud` binary under the Runtime API emulator against moto
//! (shared set-up in `harness::crud_fn`). One test binary, one module per topic.

mod api;
mod concurrency;
mod faults;
mod hostile;
mod metrics;
mod ownership;
mod rate_limit;
mod sessions;
