"""The soak benchmark's load client and report (bench/soak.sh runs it; loopback only).

  soak.py load   --state .local/state.json --port P --tokens N --ips N --seconds S --rate R
                 --post-percent P --concurrency C --out FILE.json
  soak.py report --load FILE.json --rss FILE.tsv --gateway-log FILE --warmup S --bound-mb N
                 --out-md FILE.md --out-json FILE.json

Tokens: N access tokens minted here with the local issuer's own signing key (moto's Cognito
stand-in signs every token with the RSA key shipped in its package, kid "dummy", and serves the
matching JWKS the gateway's authorizer trusts), with the claims moto's InitiateAuth puts in an
access token (iss, client_id, token_use, sub, username, iat, auth_time, exp, jti); every token has
its own `sub` (crud's rate-limiter key) and its own text (the authorizer memo's and the result
cache's key). Client IPs: the gateway keys the edge rate limiter on the TCP peer address (as
CloudFront's `clientIp`), so each request opens its own connection from a source address bound
in 127.1.0.0/16.. (all of 127/8 is loopback on Linux): N distinct peers, nothing spoofed in a
header. Request i uses IP i mod N_ips and token i mod N_tokens, so every IP and every token is used
once the run has sent max(N_ips, N_tokens) requests. Open-loop pacing at R requests/s with at most
C in flight; the achieved rate is reported.
"""

import argparse
import asyncio
import collections
import json
import statistics
import sys
import time
import uuid


def mint(state: dict, n: int, lifetime: int) -> list[str]:
    from joserfc import jwk, jwt
    from moto.utilities.utils import load_resource

    key = jwk.RSAKey.import_key(load_resource("cognitoidp/resources/jwks-private.json"))
    now = int(time.time())
    out = []
    for i in range(n):
        claims = {
            "iss": state["issuer"], "sub": str(uuid.uuid4()), "client_id": state["client_id"],
            "token_use": "access", "iat": now, "auth_time": now, "exp": now + lifetime,
            "jti": str(uuid.uuid4()), "username": f"soak{i:05d}",
        }
        out.append(jwt.encode({"kid": "dummy", "alg": "RS256"}, claims, key))
    return out


def ip_of(k: int) -> str:
    k += 1  # 127.1.0.1, 127.1.0.2, ...
    return f"127.{1 + (k >> 16)}.{(k >> 8) & 255}.{k & 255}"


async def one(port: int, ip: str, raw: bytes, timeout: float) -> tuple[str, float, bytes]:
    t0 = time.perf_counter()
    try:
        async def go() -> bytes:
            r, w = await asyncio.open_connection("127.0.0.1", port, local_addr=(ip, 0))
            w.write(raw)
            await w.drain()
            data = await r.read()  # Connection: close: the whole response, then EOF
            w.close()
            return data
        data = await asyncio.wait_for(go(), timeout)
    except asyncio.TimeoutError:
        return "timeout", time.perf_counter() - t0, b""
    except OSError as e:
        return f"conn_error:{e.errno}", time.perf_counter() - t0, b""
    dt = time.perf_counter() - t0
    line = data.split(b"\r\n", 1)[0].split()
    if len(line) < 2 or not line[1].isdigit():
        return "bad_response", dt, data
    return line[1].decode(), dt, data


def location(data: bytes) -> str | None:
    for h in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        k, _, v = h.partition(b":")
        if k.strip().lower() == b"location":
            return v.strip().decode()
    return None


async def load(a: argparse.Namespace) -> None:
    state = json.load(open(a.state))
    t = time.time()
    tokens = mint(state, a.tokens, max(3600, int(a.seconds) + 900))
    print(f"[soak] minted {len(tokens)} distinct tokens in {time.time() - t:.1f} s", file=sys.stderr)
    ips = [ip_of(k) for k in range(a.ips)]
    gets = [(f"GET /items?limit=5 HTTP/1.1\r\nhost: 127.0.0.1:{a.port}\r\n"
             f"authorization: Bearer {tok}\r\nconnection: close\r\n\r\n").encode() for tok in tokens]
    post_head = [f"POST /items HTTP/1.1\r\nhost: 127.0.0.1:{a.port}\r\nauthorization: Bearer {tok}\r\n"
                 "content-type: application/json\r\nconnection: close\r\n" for tok in tokens]

    def plain(method: str, path: str, k: int) -> bytes:
        return (f"{method} {path} HTTP/1.1\r\nhost: 127.0.0.1:{a.port}\r\n"
                f"authorization: Bearer {tokens[k]}\r\nconnection: close\r\n\r\n").encode()

    # Items created by this run's POSTs (token index, path), oldest first: the same share of
    # requests reads the newest one back and deletes the oldest, so the table (whose Query cost
    # grows with its size on moto) stays small and the run measures a steady state.
    created: collections.deque = collections.deque()

    statuses: collections.Counter = collections.Counter()
    by_method: dict = {m: collections.Counter() for m in ("GET list", "GET item", "POST", "DELETE")}
    lat: list[float] = []
    lat_by: dict = {m: [] for m in by_method}
    sem = asyncio.Semaphore(a.concurrency)
    tasks: set = set()

    async def run(i: int, method: str, raw: bytes, k: int) -> None:
        try:
            s, dt, data = await one(a.port, ips[i % len(ips)], raw, a.timeout)
            if method == "POST" and s == "201":
                loc = location(data)
                if loc:
                    created.append((k, loc))
            statuses[s] += 1
            by_method[method][s] += 1
            lat.append(dt)
            lat_by[method].append(dt)
        finally:
            sem.release()

    t0 = time.perf_counter()
    t0_epoch = time.time()
    i = 0
    late = 0.0
    while True:
        due = t0 + i / a.rate
        now = time.perf_counter()
        if due - t0 >= a.seconds:
            break
        if due > now:
            await asyncio.sleep(due - now)
        else:
            late = max(late, now - due)
        await sem.acquire()
        k = i % len(tokens)
        slot = (i * 37) % 100
        if slot < a.post_percent:
            body = json.dumps({"title": "soak", "n": i}).encode()
            raw = (post_head[k] + f"content-length: {len(body)}\r\n\r\n").encode() + body
            method = "POST"
        elif slot < 2 * a.post_percent and created:
            k, path = created[-1]
            raw, method = plain("GET", path, k), "GET item"
        elif slot < 3 * a.post_percent and len(created) > 8:
            k, path = created.popleft()
            raw, method = plain("DELETE", path, k), "DELETE"
        else:
            raw, method = gets[k], "GET list"
        task = asyncio.create_task(run(i, method, raw, k))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        i += 1
    if tasks:
        await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - t0
    lat.sort()

    def q(p: float, xs: list[float] = lat) -> float:
        return xs[min(len(xs) - 1, int(p * len(xs)))] * 1000 if xs else 0.0

    per_method = {}
    for m, xs in lat_by.items():
        xs.sort()
        per_method[m] = {"p50_ms": q(0.50, xs), "p99_ms": q(0.99, xs)}

    json.dump({
        "t0_epoch": t0_epoch, "requests": len(lat), "seconds": elapsed, "rate_target": a.rate,
        "rate_achieved": len(lat) / elapsed if elapsed else 0.0, "max_lag_s": late,
        "tokens": len(tokens), "ips": len(ips),
        "tokens_used": min(len(tokens), len(lat)), "ips_used": min(len(ips), len(lat)),
        "post_percent": a.post_percent, "concurrency": a.concurrency,
        "statuses": dict(sorted(statuses.items())),
        "by_method": {m: dict(sorted(c.items())) for m, c in by_method.items()},
        "items_left": len(created),
        "p50_ms": q(0.50), "p90_ms": q(0.90), "p99_ms": q(0.99), "max_ms": q(1.0),
        "mean_ms": statistics.fmean(lat) * 1000 if lat else 0.0, "latency_by_method": per_method,
    }, open(a.out, "w"), indent=2)


def slope_per_min(points: list[tuple[float, float]]) -> float:
    if len(points) < 2:
        return 0.0
    mt = statistics.fmean(t for t, _ in points)
    mv = statistics.fmean(v for _, v in points)
    den = sum((t - mt) ** 2 for t, _ in points)
    return sum((t - mt) * (v - mv) for t, v in points) / den * 60 if den else 0.0


def report(a: argparse.Namespace) -> int:
    ld = json.load(open(a.load))
    rss = []  # (seconds since the load started, MiB); the file has (Unix time, kB)
    for line in open(a.rss):
        p = line.split()
        if len(p) == 2 and p[1].isdigit():
            rss.append((float(p[0]) - ld["t0_epoch"], int(p[1]) / 1024))
    idle = [v for t, v in rss if t < 0]
    run = [(t, v) for t, v in rss if t >= 0]
    after = [(t, v) for t, v in run if t >= a.warmup]
    peak = max((v for _, v in rss), default=0.0)
    slope = slope_per_min(after)
    # Server side: the gateway's own per-request lines (status, authorizer cache hits).
    g_status: collections.Counter = collections.Counter()
    misses = 0
    for line in open(a.gateway_log, errors="replace"):
        try:
            r = json.loads(line)
        except ValueError:
            continue
        if isinstance(r, dict) and "total_us" in r:
            g_status[str(r.get("status"))] += 1
            misses += 0 if r.get("auth_cache_hit") else 1
    st = ld["statuses"]
    five = sum(n for s, n in st.items() if s.isdigit() and s.startswith("5"))
    g_five = sum(n for s, n in g_status.items() if s.startswith("5"))
    throttled = st.get("429", 0)
    other = sum(n for s, n in st.items() if not s.isdigit())
    unexpected = sum(n for s, n in st.items() if s.isdigit() and s not in ("200", "201", "204", "429")
                     and not s.startswith("5"))
    fails = []
    if peak >= a.bound_mb:
        fails.append(f"peak RSS {peak:.1f} MiB >= bound {a.bound_mb} MiB")
    if five or g_five:
        fails.append(f"{five} 5xx seen by the client, {g_five} logged by the gateway")
    if throttled:
        fails.append(f"{throttled} 429s (the configured limits leave every client far below them)")
    if unexpected:
        fails.append(f"{unexpected} answers other than 200 / 201 / 204")
    if other:
        fails.append(f"{other} requests without an HTTP answer (timeouts / connection errors)")
    after_start = after[0][1] if after else 0.0
    after_end = after[-1][1] if after else 0.0
    res = {
        **ld, "gateway_statuses": dict(sorted(g_status.items())), "auth_cache_misses": misses,
        "rss_idle_mb": idle[-1] if idle else None, "rss_after_warmup_mb": after_start,
        "rss_end_mb": after_end, "rss_peak_mb": peak, "rss_slope_mb_per_min": slope,
        "rss_samples": len(rss), "warmup_s": a.warmup, "bound_mb": a.bound_mb,
        "five_xx": five, "ok": not fails, "failures": fails,
    }
    json.dump(res, open(a.out_json, "w"), indent=2)
    status_txt = "; ".join(f"{m} " + ", ".join(f"{s}: {n}" for s, n in c.items())
                           for m, c in ld["by_method"].items() if c)
    rows = [
        ("duration", f"{ld['seconds']:.0f} s (warm-up {a.warmup:.0f} s)"),
        ("requests", f"{ld['requests']} ({ld['rate_achieved']:.0f}/s achieved of {ld['rate_target']:.0f}/s target, "
                     f"{ld['post_percent']:.0f} % each POST, GET item, DELETE; the rest GET list)"),
        ("distinct tokens / client IPs", f"{ld['tokens']} / {ld['ips']}"),
        ("statuses (client)", status_txt),
        ("authorizer result cache misses", f"{misses}"),
        ("latency p50 / p99 (client, connect to last byte)", f"{ld['p50_ms']:.1f} ms / {ld['p99_ms']:.1f} ms"
         + "".join(f"; {m} {v['p50_ms']:.1f} / {v['p99_ms']:.1f} ms" for m, v in ld["latency_by_method"].items()
                  if v["p50_ms"])),
        ("gateway RSS idle", f"{idle[-1]:.1f} MiB" if idle else "n/a"),
        ("gateway RSS after warm-up / at the end", f"{after_start:.1f} MiB / {after_end:.1f} MiB"),
        ("gateway RSS peak", f"{peak:.1f} MiB"),
        ("RSS slope after warm-up", f"{slope:+.3f} MiB/min"),
        ("bound (peak RSS)", f"< {a.bound_mb} MiB"),
        ("5xx", f"{five} (client), {g_five} (gateway log)"),
        ("verdict", "pass" if not fails else "FAIL: " + "; ".join(fails)),
    ]
    md = ["| soak | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows]
    open(a.out_md, "w").write("\n".join(md) + "\n")
    print("\n".join(md))
    return 0 if not fails else 1


def main() -> int:
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    lp = sub.add_parser("load")
    lp.add_argument("--state", required=True)
    lp.add_argument("--port", type=int, required=True)
    lp.add_argument("--tokens", type=int, default=20000)
    lp.add_argument("--ips", type=int, default=50000)
    lp.add_argument("--seconds", type=float, default=300)
    lp.add_argument("--rate", type=float, default=200)
    lp.add_argument("--post-percent", type=float, default=5)
    lp.add_argument("--concurrency", type=int, default=64)
    lp.add_argument("--timeout", type=float, default=30)
    lp.add_argument("--out", required=True)
    rp = sub.add_parser("report")
    rp.add_argument("--load", required=True)
    rp.add_argument("--rss", required=True)
    rp.add_argument("--gateway-log", required=True)
    rp.add_argument("--warmup", type=float, default=120)
    rp.add_argument("--bound-mb", type=float, required=True)
    rp.add_argument("--out-md", required=True)
    rp.add_argument("--out-json", required=True)
    a = p.parse_args()
    if a.cmd == "load":
        if a.ips > 65535 * 254:
            p.error("--ips too large for 127.1.0.0-127.255.255.255")
        asyncio.run(load(a))
        return 0
    return report(a)


if __name__ == "__main__":
    sys.exit(main())
