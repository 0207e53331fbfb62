#!/usr/bin/env bash
# Load benchmark of the local gateway (loopback only, bounded in time): wrk drives authorized
# GET and POST mixes against the release gateway started by scripts/run.sh; reports requests/s,
# p50/p99, and where the time goes (edge, authorizer, crud incl. the DynamoDB stand-in) from the
# gateway's per-request log lines. Appends to bench/out/results.md.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=bench/out; mkdir -p "$OUT"
PORT=${PORT:-3999}; DURATION=${DURATION:-10s}; CONNS=${CONNS:-8}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }

export GATEWAY_BUILD=release GATEWAY_PORT=$PORT
export GATEWAY_THROTTLE_RATE=100000 GATEWAY_THROTTLE_BURST=100000
export RATE_LIMIT_PER_MINUTE=0 EDGE_RATE_LIMIT_PER_MINUTE=1000000
: > "$OUT/run.err"  # never match a previous run's "listening on"
scripts/run.sh > "$OUT/gateway.log" 2> "$OUT/run.err" &
RUN=$!
trap 'kill $RUN 2>/dev/null; wait $RUN 2>/dev/null || true' EXIT
for _ in $(seq 600); do
  grep -q "listening on" "$OUT/run.err" 2>/dev/null && break
  kill -0 $RUN 2>/dev/null || { cat "$OUT/run.err" >&2; exit 1; }
  sleep 1
done
export TOKEN; TOKEN=$(target/release/gateway token --user alice)
say() { printf '%s\n' "$*" | tee -a "$OUT/results.md"; }
say "### Local gateway under load (wrk, $CONNS connections, $DURATION, loopback, moto as DynamoDB)"
say ""
say "| mix | requests/s | p50 | p99 | edge (median) | authorizer (median, cache misses) | crud incl. DynamoDB stand-in (median) |"
say "|---|---:|---:|---:|---:|---:|---:|"
for mix in 0 20 50; do
  : > "$OUT/gateway.log"
  POST_PERCENT=$mix wrk -t2 -c"$CONNS" -d"$DURATION" --latency -s bench/load.lua "http://127.0.0.1:$PORT/items" > "$OUT/wrk-$mix.txt"
  rps=$(awk '/Requests\/sec/ {print $2}' "$OUT/wrk-$mix.txt")
  p50=$(awk '$1=="50%" {print $2}' "$OUT/wrk-$mix.txt"); p99=$(awk '$1=="99%" {print $2}' "$OUT/wrk-$mix.txt")
  split=$(python3 - "$OUT/gateway.log" <<'PY'
import json, statistics, sys
rows = []
for line in open(sys.argv[1]):
    try:
        r = json.loads(line)
    except ValueError:
        continue
    if "total_us" in r:
        rows.append(r)
med = lambda xs: statistics.median(xs) if xs else 0
e = med([r["edge_us"] for r in rows]); c = med([r["crud_us"] for r in rows])
misses = [r["authorizer_us"] for r in rows if not r.get("auth_cache_hit")]
a = f"{med(misses):.0f} µs ({len(misses)} misses)" if misses else "all cache hits"
ok = sum(1 for r in rows if r["status"] < 400)
print(f"| {e:.0f} µs | {a} | {c:.0f} µs ({ok}/{len(rows)} ok) |")
PY
)
  say "| ${mix}% POST | $rps | $p50 | $p99 $split"
done
say ""
