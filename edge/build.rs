//! No build step. This script exists only so `[build-dependencies]` can pin the host-side
//! features of `syn` to what the rest of the workspace enables (the ICU derive macros behind
//! `url` turn on `extra-traits`, `fold`, `visit`): with the same host features, a workspace build
//! and `cargo build -p edge` produce the same units and the same binary
//! (scripts/check-features.sh checks the target side).
fn main() {}
