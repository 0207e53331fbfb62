#!/usr/bin/env bash
# Bounded fuzzing of the authorizer with cargo-fuzz (libFuzzer + AddressSanitizer).
#   scripts/fuzz.sh [seconds-per-target] [target ...]     default: 60 s, every target
# Targets (fuzz/fuzz_targets): token_parse (extraction, splitting, header and claims readers),
# authorizer_events (the three event shapes through Authorizer::handle, fixed in-memory JWKS).
# cargo-fuzz is installed (once) into the project's ignored .tools; libFuzzer needs nightly
# compiler flags, so the stable toolchain runs with RUSTC_BOOTSTRAP=1. The corpus grows in
# fuzz/corpus/<target> (ignored), seeded from fuzz/seeds/<target>; a crash leaves its input in
# fuzz/artifacts/<target>/ and makes this script exit non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SECS=${1:-60}
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(token_parse authorizer_events)
export RUSTC_BOOTSTRAP=1
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

log() { printf '[fuzz] %s\n' "$*" >&2; }

CARGO_FUZZ_VERSION=0.13.2
CF=$ROOT/.tools/bin/cargo-fuzz
if ! "$CF" --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
  log "installing cargo-fuzz $CARGO_FUZZ_VERSION into .tools"
  cargo install --quiet --root "$ROOT/.tools" cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
fi

cd fuzz
log "building ${TARGETS[*]} (release, debug assertions, ASan)"
started=$(date +%s)
for t in "${TARGETS[@]}"; do
  blog=$(mktemp)
  if ! "$CF" build --debug-assertions "$t" >"$blog" 2>&1; then
    cat "$blog" >&2
    log "build of $t failed"
    exit 1
  fi
  rm -f "$blog"
done
log "built in $(( $(date +%s) - started )) s"

status=0
summary=()
for t in "${TARGETS[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  before=$(find "artifacts/$t" -type f | wc -l)
  out=$(mktemp)
  set +e
  "$CF" run --debug-assertions "$t" "corpus/$t" "seeds/$t" -- \
    -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -dict="$ROOT/fuzz/json.dict" -artifact_prefix="artifacts/$t/" >"$out" 2>&1
  rc=$?
  set -e
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$out" | grep -o '[0-9]*$' | tail -1 || true)
  after=$(find "artifacts/$t" -type f | wc -l)
  crashes=$((after - before))
  cov=$(grep -o 'cov: [0-9]*' "$out" | tail -1 | grep -o '[0-9]*' || true)
  units=$(find "corpus/$t" -type f | wc -l)
  line="$t: ${execs:-0} executions in ${SECS}s, coverage ${cov:-?} edges, corpus $units, crashes $crashes"
  summary+=("$line")
  if [ "$rc" -ne 0 ] || [ "$crashes" -gt 0 ]; then
    status=1
    log "$t FAILED (exit $rc); last lines:"
    grep -v '^#' "$out" | tail -40 >&2
  fi
  rm -f "$out"
done
for l in "${summary[@]}"; do echo "fuzz $l"; done
exit $status
