#!/usr/bin/env bash
# Soak benchmark of the whole chain with bounded memory (loopback only; a benchmark, not a test:
# CI does not run it). The release gateway started by scripts/run.sh (as bench/load.sh does) gets
# a paced load for SOAK_SECONDS from SOAK_TOKENS distinct access tokens and SOAK_IPS distinct
# client IPs (bench/soak.py: tokens minted with the local issuer's key, one connection per request
# from its own 127.x.y.z source address), a mostly-GET mix with some POSTs, edge -> authorizer ->
# crud -> moto. It samples the gateway's RSS (/proc/<pid>/status VmRSS) every SOAK_SAMPLE_SECONDS
# and reports requests, statuses, p50/p99, RSS idle / after warm-up / peak, the RSS slope after
# warm-up, and checks peak RSS against SOAK_BOUND_MB. Exit 1 when the bound is exceeded, a 5xx or a
# 429 is seen, a request gets no answer, or any answer but 200 / 201 / 204. The mix: 5 % POST
# /items, 5 % GET of an item this run created, 5 % DELETE of one, the rest GET /items?limit=5 (the
# deletes keep the table small: moto's Query cost grows with the table). Results:
# bench/out/soak.{md,json} (and the raw files beside them).
#
#   bench/soak.sh                                  # 300 s, 20,000 tokens, 50,000 IPs, 200 req/s
#   SOAK_SECONDS=900 SOAK_RATE=150 bench/soak.sh
#
# Rate limits stay on, at the stack's defaults: the edge's per-IP limit (EDGE_RATE_LIMIT_PER_MINUTE,
# 1000) and crud's per-caller limit (RATE_LIMIT_PER_MINUTE, 100) both track every client, but
# with 50,000 IPs and 20,000 callers no client comes near them (one request per IP every
# SOAK_IPS/SOAK_RATE s), so no 429 is expected and one counts as a failure. The stage throttle
# (not keyed by client) is raised out of the way, as in bench/load.sh.
#
# The bound, from the caps of the four client-keyed maps in the gateway process (all four are
# bounded-keys' types; per-entry sizes are generous estimates of key + value + table overhead):
#   authorizer result cache  emulator/src/apigw/cache.rs, ClearWhenFull, MAX_ENTRIES + 1 = 10,001
#                            answers x 6 KiB (the key holds the whole Authorization header and
#                            the origin-verify secret; the answer a parsed policy and context)  ~59 MiB
#   authorizer memo          authorizer/src/memo.rs, ClearWhenFull, MEMO_CAPACITY 4,096 x 2 KiB     8 MiB
#   edge per-IP limiter      edge/src/ratelimit.rs, SweptLimiter: idle keys swept every 4,096
#                            checks, so at most 4,096 + 2 x (IPs per 60 ms at 1,000/min) x 64 B  < 1 MiB
#   crud per-caller limiter  crud/src/ratelimit.rs, the same, stable and canary crud, x 128 B    < 2 MiB
# plus the process at rest (~12 MiB, sampled before the load) and slack for what malloc keeps
# after a clear and the connections in flight: SOAK_BOUND_MB defaults to 100 MiB.
# Warm-up (SOAK_WARMUP_SECONDS, default 120): the result cache fills (10,001 answers, 50 s at
# 200/s) and clears, and the token sequence wraps once (20,000 tokens, 100 s at 200/s).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=bench/out; mkdir -p "$OUT"
PORT=${PORT:-3997}
SOAK_SECONDS=${SOAK_SECONDS:-300}
SOAK_TOKENS=${SOAK_TOKENS:-20000}
SOAK_IPS=${SOAK_IPS:-50000}
SOAK_RATE=${SOAK_RATE:-200}
SOAK_POST_PERCENT=${SOAK_POST_PERCENT:-5}
SOAK_CONCURRENCY=${SOAK_CONCURRENCY:-64}
SOAK_SAMPLE_SECONDS=${SOAK_SAMPLE_SECONDS:-2}
SOAK_WARMUP_SECONDS=${SOAK_WARMUP_SECONDS:-120}
SOAK_BOUND_MB=${SOAK_BOUND_MB:-100}

export GATEWAY_BUILD=release GATEWAY_PORT=$PORT GATEWAY_API_PORT=$((PORT + 1)) WEB_PORT=$((PORT + 2))
export GATEWAY_THROTTLE_RATE=100000 GATEWAY_THROTTLE_BURST=100000
export RATE_LIMIT_PER_MINUTE=${RATE_LIMIT_PER_MINUTE:-100} EDGE_RATE_LIMIT_PER_MINUTE=${EDGE_RATE_LIMIT_PER_MINUTE:-1000}
: > "$OUT/soak-gateway.log"; : > "$OUT/soak-run.err"; : > "$OUT/soak-rss.tsv"
scripts/run.sh > "$OUT/soak-gateway.log" 2> "$OUT/soak-run.err" &
RUN=$!
SAMPLER=
stop() {
  [ -n "$SAMPLER" ] && kill "$SAMPLER" 2>/dev/null
  kill $RUN 2>/dev/null; wait $RUN 2>/dev/null || true
}
trap stop EXIT
for _ in $(seq 900); do
  grep -q "listening on" "$OUT/soak-run.err" 2>/dev/null && break
  kill -0 $RUN 2>/dev/null || { cat "$OUT/soak-run.err" >&2; exit 1; }
  sleep 1
done
grep -q "listening on" "$OUT/soak-run.err" || { echo "[soak] the gateway did not start" >&2; exit 1; }
GPID=$(pgrep -P "$RUN" -x gateway || true)
[ -n "$GPID" ] && [ -r "/proc/$GPID/status" ] || { echo "[soak] gateway pid not found (child of $RUN)" >&2; exit 1; }
echo "[soak] gateway pid $GPID; ${SOAK_SECONDS}s at ${SOAK_RATE} req/s, $SOAK_TOKENS tokens, $SOAK_IPS IPs" >&2

( while kill -0 "$GPID" 2>/dev/null; do
    printf '%s %s\n' "$(date +%s.%N)" "$(awk '/^VmRSS/ {print $2}' "/proc/$GPID/status" 2>/dev/null)"
    sleep "$SOAK_SAMPLE_SECONDS"
  done ) > "$OUT/soak-rss.tsv" &
SAMPLER=$!
sleep "$SOAK_SAMPLE_SECONDS"   # at least one idle sample

.venv/bin/python bench/soak.py load --state .local/state.json --port "$PORT" \
  --tokens "$SOAK_TOKENS" --ips "$SOAK_IPS" --seconds "$SOAK_SECONDS" --rate "$SOAK_RATE" \
  --post-percent "$SOAK_POST_PERCENT" --concurrency "$SOAK_CONCURRENCY" --out "$OUT/soak-load.json"
sleep "$SOAK_SAMPLE_SECONDS"
kill "$SAMPLER" 2>/dev/null; SAMPLER=

echo "### Soak (bench/soak.sh, $(date -u +%FT%TZ), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg))" > "$OUT/soak-head.md"
set +e
.venv/bin/python bench/soak.py report --load "$OUT/soak-load.json" --rss "$OUT/soak-rss.tsv" \
  --gateway-log "$OUT/soak-gateway.log" --warmup "$SOAK_WARMUP_SECONDS" --bound-mb "$SOAK_BOUND_MB" \
  --out-md "$OUT/soak-table.md" --out-json "$OUT/soak.json"
rc=$?
set -e
{ cat "$OUT/soak-head.md"; echo; cat "$OUT/soak-table.md"; } > "$OUT/soak.md"
exit $rc
