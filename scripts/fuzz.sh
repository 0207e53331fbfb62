#!/usr/bin/env bash
# Bounded fuzzing of the authorizer with libFuzzer (libfuzzer-sys) + AddressSanitizer.
#   scripts/fuzz.sh [seconds-per-target] [target ...]     default: 60 s, every target
# Targets (fuzz/fuzz_targets): token_parse (extraction, splitting, header and claims readers),
# authorizer_events (the three event shapes through Authorizer::handle, fixed in-memory JWKS).
# The targets are built with plain cargo and the instrumentation flags cargo-fuzz 0.13 passes
# (sancov, trace-compares, `--cfg fuzzing`, ASan, debug assertions), so nothing has to be
# installed first; unlike cargo-fuzz it keeps cargo's parallel codegen units (a faster build, for
# somewhat less optimised code: right for CI's short pass). The sanitizer needs
# nightly compiler flags, so the stable toolchain runs with RUSTC_BOOTSTRAP=1. The corpus grows in
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

TRIPLE=$(rustc -vV | sed -n 's/^host: //p')
# cargo-fuzz 0.13's flags for `build --debug-assertions` (src/project.rs), minus `-Ccodegen-units=1`.
RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares -Cllvm-args=-simplifycfg-branch-fold-threshold=0 \
--cfg fuzzing -Clink-dead-code -Zsanitizer=address -Cllvm-args=-sanitizer-coverage-stack-depth \
-Cdebug-assertions ${RUSTFLAGS:-}"
export RUSTFLAGS
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_odr_violation=0
# A workspace-wide wrapper (scripts/test.sh lints with clippy-driver) is not for these builds.
unset RUSTC_WORKSPACE_WRAPPER CLIPPY_ARGS

cd fuzz
log "building ${TARGETS[*]} (release, debug assertions, ASan)"
started=$(date +%s)
bins=()
for t in "${TARGETS[@]}"; do bins+=(--bin "$t"); done
blog=$(mktemp)
# --target: the flags then reach the fuzz targets and their dependencies, not build scripts.
if ! cargo build --release --locked --target "$TRIPLE" "${bins[@]}" >"$blog" 2>&1; then
  cat "$blog" >&2
  log "build failed"
  exit 1
fi
rm -f "$blog"
log "built in $(( $(date +%s) - started )) s"

status=0
summary=()
for t in "${TARGETS[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  before=$(find "artifacts/$t" -type f | wc -l)
  out=$(mktemp)
  set +e
  "target/$TRIPLE/release/$t" "corpus/$t" "seeds/$t" \
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
