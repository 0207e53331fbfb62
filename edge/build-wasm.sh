#!/usr/bin/env bash
# Builds the Lambda@Edge package of the edge function:
#   edge.wasm        the edge logic (crate `edge`, --no-default-features) for wasm32-unknown-unknown
#   index.js         the Node.js handler that runs it (edge/node/index.js)
#   edge-config.json the configuration (Lambda@Edge has no environment variables)
# into a folder and a zip ready for a viewer or origin trigger (AWS limit for viewer triggers: 1 MB).
#
# usage: edge/build-wasm.sh [--config FILE] [--out DIR]
#   --config FILE  configuration to package (default: edge/edge-config.json); it is checked by
#                  loading it into the built module, so a bad config fails the build, not the edge
#   --out DIR      output folder (default: target/edge-lambda); the zip is DIR.zip
# Env: EDGE_WASM_TARGET_DIR (default target/wasm, kept apart from the native target dir so the
# two builds never wait for each other's lock).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CONFIG=$ROOT/edge/edge-config.json
OUT=$ROOT/target/edge-lambda
while [ $# -gt 0 ]; do
  case "$1" in
    --config) CONFIG=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    *) echo "usage: $0 [--config FILE] [--out DIR]" >&2; exit 2 ;;
  esac
done
# Relative paths are the caller's (the package is loaded by absolute path below).
case $OUT in /*) ;; *) OUT=$PWD/$OUT ;; esac
case $CONFIG in /*) ;; *) CONFIG=$PWD/$CONFIG ;; esac
TARGET_DIR=${EDGE_WASM_TARGET_DIR:-$ROOT/target/wasm}
log() { printf '[edge-wasm] %s\n' "$*" >&2; }

if command -v rustup >/dev/null 2>&1; then
  rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown \
    || { log "adding rustup target wasm32-unknown-unknown"; rustup target add wasm32-unknown-unknown; }
fi

log "building edge.wasm (profile wasm)"
# The deployable module is built as plain rustc builds it, also when the caller lints with a
# workspace wrapper (scripts/test.sh runs its tests with clippy-driver set).
unset RUSTC_WORKSPACE_WRAPPER CLIPPY_ARGS
(cd "$ROOT" && cargo rustc -p edge --lib --crate-type cdylib --no-default-features \
  --target wasm32-unknown-unknown --profile wasm --target-dir "$TARGET_DIR" --quiet)
WASM=$TARGET_DIR/wasm32-unknown-unknown/wasm/edge.wasm

rm -rf "$OUT" "$OUT.zip"
mkdir -p "$OUT"
# The shared build output is only read: concurrent builds (parallel tests) each write their own
# package, never the file another one is copying.
if command -v wasm-opt >/dev/null 2>&1; then
  log "wasm-opt -Oz"
  wasm-opt -Oz --enable-bulk-memory --enable-sign-ext --enable-nontrapping-float-to-int \
    --enable-mutable-globals "$WASM" -o "$OUT/edge.wasm"
else
  cp "$WASM" "$OUT/edge.wasm"
fi
cp "$ROOT/edge/node/index.js" "$OUT/index.js"
cp "$CONFIG" "$OUT/edge-config.json"

if command -v node >/dev/null 2>&1; then
  log "checking the configuration by loading the package"
  node -e 'require(process.argv[1])' "$OUT/index.js" >/dev/null
else
  log "node not found: package not smoke-tested"
fi

(cd "$OUT" && if command -v zip >/dev/null 2>&1; then
  zip -q -X -9 "$OUT.zip" index.js edge.wasm edge-config.json
else
  python3 -c 'import sys, zipfile
with zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
    [z.write(f) for f in sys.argv[2:]]' "$OUT.zip" index.js edge.wasm edge-config.json
fi)

wasm_size=$(wc -c < "$OUT/edge.wasm")
zip_size=$(wc -c < "$OUT.zip")
log "edge.wasm: $wasm_size bytes; $(basename "$OUT").zip: $zip_size bytes"
if [ "$zip_size" -gt 1048576 ]; then
  log "zip exceeds the 1 MB Lambda@Edge viewer-trigger limit"; exit 1
fi
echo "$OUT.zip"
