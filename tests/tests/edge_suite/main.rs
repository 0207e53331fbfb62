//! edge end to end: the real `edge` binary under the Runtime API emulator, and the Node.js
//! Lambda@Edge package on the same events (shared set-up in `harness::edge_fn`). One test binary,
//! one module per topic.

mod canary;
mod cors;
mod hygiene;
mod node;
