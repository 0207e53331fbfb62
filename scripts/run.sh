#!/usr/bin/env bash
# The README's run command: the whole chain on 127.0.0.1.
#
# Installs what it needs (scripts/setup.sh), builds the gateway, starts moto (Cognito + DynamoDB
# stand-ins), creates a user pool, an app client, demo users and the items table, writes fresh
# secrets (origin-verify, canary cookie and tester keys, crud's cursor key), and runs the gateway
# in the foreground. Ctrl-C stops everything it started. moto keeps its state in memory: users
# and items do not survive a restart; .local/ keeps this run's configuration (see the last lines
# it prints).
#
#   scripts/run.sh                 # gateway on http://127.0.0.1:3000 (GATEWAY_PORT to change)
#   target/debug/gateway token     # in another shell: an access token for the demo user alice
#   target/debug/gateway rollout status|set --weight N|ramp …   # the canary (README, "Canary rollout")
#   CANARY_TABLE_NAME=missing scripts/run.sh   # the canary crud takes CANARY_-prefixed overrides
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PORT=${GATEWAY_PORT:-3000}
# The regional API endpoint (API Gateway without CloudFront; `gateway audit` checks it refuses).
export GATEWAY_API_PORT=${GATEWAY_API_PORT:-$((PORT + 1))}
STATE_DIR=$ROOT/.local
mkdir -p "$STATE_DIR"

SETUP_SKIP_BROWSER=1 scripts/setup.sh    # the browser (for the tests) is not needed to run
PROFILE=${GATEWAY_BUILD:-debug}
echo "[run] building the gateway ($PROFILE; the first build takes a few minutes)" >&2
if [ "$PROFILE" = release ]; then cargo build -p gateway --release --locked -q; else cargo build -p gateway --locked -q; fi

if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
  echo "[run] port $PORT on 127.0.0.1 is in use: stop the other process or set GATEWAY_PORT" >&2
  exit 2
fi
if (exec 3<>"/dev/tcp/127.0.0.1/$GATEWAY_API_PORT") 2>/dev/null; then
  echo "[run] port $GATEWAY_API_PORT on 127.0.0.1 is in use: stop the other process or set GATEWAY_API_PORT" >&2
  exit 2
fi
# The sample web app (web/, scripts/web_server.py) on an origin in the edge's CORS allow-list.
WEB_PORT=${WEB_PORT:-5173}
if (exec 3<>"/dev/tcp/127.0.0.1/$WEB_PORT") 2>/dev/null; then
  echo "[run] port $WEB_PORT on 127.0.0.1 is in use: stop the other process or set WEB_PORT" >&2
  exit 2
fi

PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "[run] stopped" >&2
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# moto on a free port; it prints the port first.
coproc MOTO { exec .venv/bin/python scripts/moto_server.py 2>"$STATE_DIR/moto.log"; }
PIDS+=("$MOTO_PID")
read -r -t 30 MOTO_PORT <&"${MOTO[0]}" || { echo "[run] moto did not start: see $STATE_DIR/moto.log" >&2; exit 1; }
MOTO_URL="http://127.0.0.1:$MOTO_PORT"
echo "[run] moto (Cognito + DynamoDB) on $MOTO_URL" >&2

export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_ENDPOINT_URL=$MOTO_URL
PY=.venv/bin/python
declare -A PASSWORDS=([alice]="Alice-Passw0rd!" [bob]="Bob-Passw0rd!" [carol]="Carol-Passw0rd!")
$PY scripts/local_cognito.py --endpoint "$MOTO_URL" --username alice --password "${PASSWORDS[alice]}" > "$STATE_DIR/alice.json"
$PY scripts/local_cognito.py --endpoint "$MOTO_URL" --username bob --password "${PASSWORDS[bob]}" > /dev/null
$PY scripts/local_cognito.py --endpoint "$MOTO_URL" --username carol --password "${PASSWORDS[carol]}" --group admin > /dev/null
TABLE=apigw-guard-items
$PY scripts/local_table.py --endpoint "$MOTO_URL" --table "$TABLE" > /dev/null
# Revocations (DELETE /sessions…): written by crud, synced by the authorizer every
# REVOCATION_SYNC_SECONDS; the gateway flushes its emulated authorizer cache on each one.
REVOCATION_TABLE=apigw-guard-revocations
$PY scripts/local_table.py --endpoint "$MOTO_URL" --table "$REVOCATION_TABLE" --revocation > /dev/null

# Fresh secrets for this run (never built-in constants): origin-verify, canary cookie, tester,
# and crud's cursor key (standard base64 of 32 random bytes, CURSOR_SECRET's format), shared by
# the stable and the canary crud so a cursor from one is good on the other.
secret() { $PY -c 'import secrets; print(secrets.token_urlsafe(32))'; }
OV_SECRET=$(secret); COOKIE_KEY=$(secret); TESTER_KEY=$(secret)
CURSOR_KEY=$($PY -c 'import base64, secrets; print(base64.b64encode(secrets.token_bytes(32)).decode())')
$PY - "$STATE_DIR" "$MOTO_URL" "$OV_SECRET" "$COOKIE_KEY" "$TESTER_KEY" "$PORT" "$TABLE" "${EDGE_RATE_LIMIT_PER_MINUTE:-1000}" "$WEB_PORT" <<'PY'
import json, os, sys
d, moto, ov, ck, tk, port, table, rpm, web = sys.argv[1:]
a = json.load(open(f"{d}/alice.json"))
json.dump({
    "cors": {"allowed_origins": sorted({"http://localhost:5173", "http://127.0.0.1:5173",
                                        f"http://localhost:{web}", f"http://127.0.0.1:{web}"}),
             "allow_credentials": False},
    "origin_verify": {"key_id": "v1", "secret": ov},
    "rate_limit": {"enabled": True, "requests_per_minute": int(rpm)},
    "canary": {"weight_percent": 0, "cookie_keys": [{"id": "c1", "secret": ck}],
               "tester_keys": [{"id": "t1", "secret": tk}], "origin": {"path": "/canary"},
               "rollout": {"source": f"file://{d}/rollout.json", "ttl_seconds": 1}},
}, open(f"{d}/edge-config.json", "w"), indent=2)
# The rollout store (weight, kill switch; never a secret): `gateway rollout` rewrites it.
json.dump({"weight_percent": 10, "kill": False}, open(f"{d}/rollout.json", "w"))
json.dump({
    "moto_endpoint": moto, "user_pool_id": a["user_pool_id"], "client_id": a["client_id"],
    "issuer": a["issuer"], "jwks_uri": a["jwks_uri"], "table": table,
    "gateway": f"http://127.0.0.1:{port}",
    "api_url": f"http://127.0.0.1:{os.environ['GATEWAY_API_PORT']}/local",
    "users": {"alice": "Alice-Passw0rd!", "bob": "Bob-Passw0rd!", "carol": "Carol-Passw0rd!"},
    "canary_tester_key": {"id": "t1", "secret": tk},
    "rollout_file": f"{d}/rollout.json", "rollout_ttl_seconds": 1, "health_file": f"{d}/health.json",
}, open(f"{d}/state.json", "w"), indent=2)
json.dump({"api": f"http://127.0.0.1:{port}", "client_id": a["client_id"], "region": "us-east-1",
           "cognito_endpoint": moto}, open(f"{d}/web-config.json", "w"), indent=2)
PY
chmod 600 "$STATE_DIR/state.json" "$STATE_DIR/edge-config.json"

POOL=$($PY -c "import json; print(json.load(open('$STATE_DIR/state.json'))['user_pool_id'])")
CLIENT=$($PY -c "import json; print(json.load(open('$STATE_DIR/state.json'))['client_id'])")
export USER_POOL_ID=$POOL CLIENT_IDS=$CLIENT JWKS_URI="$MOTO_URL/$POOL/.well-known/jwks.json"
export ORIGIN_VERIFY_SECRET="v1:$OV_SECRET"
export CURSOR_SECRET=$CURSOR_KEY
export REVOCATION_TABLE REVOCATION_SYNC_SECONDS=${REVOCATION_SYNC_SECONDS:-2}
# DELETE /users/{sub}/sessions is for group admin (carol) only; every other route stays open to
# every signed-in user. With your own API_ROUTES (GATEWAY_UPSTREAM: docs/protect-your-own-api.md)
# that route is not yours: no default rule then.
if [ -z "${API_ROUTES:-}" ]; then
  export ROUTE_RULES=${ROUTE_RULES:-'[{"route":"DELETE /users/{sub}/sessions","groups_any":["admin"]}]'}
  export ROUTE_DEFAULT=${ROUTE_DEFAULT:-allow}
fi
export TABLE_NAME=$TABLE EDGE_CONFIG_FILE="$STATE_DIR/edge-config.json" GATEWAY_PORT=$PORT
# Per-variant health for `gateway rollout status`; the canary crud reads CANARY_<setting> first.
export GATEWAY_HEALTH_FILE="$STATE_DIR/health.json"

cat >&2 <<MSG

[run] ready. In another shell:

  TOKEN=\$(target/$PROFILE/gateway token --user alice)      # also: bob, carol (group admin)
  curl -s -X POST http://127.0.0.1:$PORT/items -H "authorization: Bearer \$TOKEN" \\
       -H 'content-type: application/json' -d '{"title":"first"}'
  curl -s http://127.0.0.1:$PORT/items -H "authorization: Bearer \$TOKEN"
  curl -si -X OPTIONS http://127.0.0.1:$PORT/items -H 'origin: http://localhost:5173' \\
       -H 'access-control-request-method: POST'

Sample web app (sign in as alice / Alice-Passw0rd!, bob / Bob-Passw0rd!, carol / Carol-Passw0rd!):

  http://localhost:$WEB_PORT/

To stop: Ctrl-C here (or kill $$, this script's pid): it stops the gateway, the web app and
moto, and nothing keeps running.

What persists: nothing of the data. moto holds the user pool, the users and the items in memory,
so they are gone when it stops; the next run makes new ones (new pool and client ids, new
secrets). On disk, $STATE_DIR/ keeps this run's files until the next run rewrites them:
state.json and edge-config.json (endpoints, ids, demo passwords and secrets; mode 600),
rollout.json (the canary weight), health.json, web-config.json, and the logs moto.log and web.log.
Delete $STATE_DIR/ to remove them.
MSG
rm -f "$STATE_DIR/web.port"
.venv/bin/python scripts/web_server.py --port "$WEB_PORT" --config "$STATE_DIR/web-config.json" \
  >"$STATE_DIR/web.port" 2>"$STATE_DIR/web.log" &
PIDS+=("$!")
for _ in $(seq 100); do [ -s "$STATE_DIR/web.port" ] && break; sleep 0.1; done
[ -s "$STATE_DIR/web.port" ] || { echo "[run] the web app did not start: see $STATE_DIR/web.log" >&2; exit 1; }
"target/$PROFILE/gateway" serve &
PIDS+=("$!")
wait "${PIDS[-1]}"
