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
phase cargo clippy -D warnings
cargo clippy --workspace --all-targets --locked -- -D warnings
phase "features: workspace and per-package builds agree"
scripts/check-features.sh
phase build binaries
cargo build --workspace --bins --locked
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
