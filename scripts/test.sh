#!/usr/bin/env bash
# The README's test command: installs what the tests need (idempotently), checks formatting and
# lints, builds every binary once, and runs the whole suite (unit, end-to-end, security).
set -euo pipefail
cd "$(dirname "$0")/.."
# --deploy: cfn-lint, aws-sam-cli and cargo-lambda too (the template validation suite uses them).
scripts/setup.sh --deploy
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== features: workspace and per-package builds agree"
scripts/check-features.sh
echo "== build binaries"
cargo build --workspace --bins --locked
echo "== tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast "$@"
else
  cargo test --workspace --locked --no-fail-fast "$@"
fi
# A short bounded fuzz pass of the authorizer (FUZZ_SECONDS per target; scripts/fuzz.sh for
# longer runs); fails on any crash or failed property.
echo "== fuzz (${FUZZ_SECONDS:-20} s per target)"
scripts/fuzz.sh "${FUZZ_SECONDS:-20}"
