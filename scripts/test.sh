#!/usr/bin/env bash
# The README's test command: installs what the tests need (idempotently), checks formatting and
# lints, builds every binary once, and runs the whole suite (unit, end-to-end, security).
set -euo pipefail
cd "$(dirname "$0")/.."
START=$SECONDS
# Each phase's header carries the seconds since the start, so the CI log shows where time goes.
phase() { echo "== $* (t+$((SECONDS - START)) s)"; }
# --deploy: cfn-lint, aws-sam-cli and cargo-lambda too (the template validation suite uses them).
scripts/setup.sh --deploy
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
phase cargo fmt --check
cargo fmt --all -- --check
phase "features: workspace and per-package builds agree"
scripts/check-features.sh
# One compilation lints and builds: clippy-driver wraps rustc for the workspace's own crates
# (what `cargo clippy` does, but with code generation), so every dependency is compiled once instead
# of once for clippy's check and once for the build. `-D warnings` as with
# `cargo clippy -- -D warnings`; every target (tests, benches) is linted and built. The tests below
# run with the same setting, so nextest reuses these artefacts instead of rebuilding the
# workspace's crates (a later plain `cargo build`, e.g. scripts/run.sh, rebuilds only those).
phase "clippy -D warnings + build (one compilation of every target)"
RUSTC_WORKSPACE_WRAPPER=$(rustup which clippy-driver 2>/dev/null || command -v clippy-driver)
export RUSTC_WORKSPACE_WRAPPER
export CLIPPY_ARGS=-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__
cargo build --workspace --all-targets --locked
# The Lambda@Edge package's WebAssembly build (its own target dir), which the edge's Node.js
# tests would otherwise compile inside the test phase (the script drops the lint wrapper itself).
phase "edge WebAssembly package"
edge/build-wasm.sh >/dev/null
phase tests
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast "$@"
else
  cargo test --workspace --locked --no-fail-fast "$@"
fi
# A short bounded fuzz pass of the authorizer (FUZZ_SECONDS per target; scripts/fuzz.sh for
# longer runs); fails on any crash or failed property.
phase "fuzz (${FUZZ_SECONDS:-20} s per target)"
scripts/fuzz.sh "${FUZZ_SECONDS:-20}"
phase "done"
