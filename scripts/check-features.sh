#!/usr/bin/env bash
# Builds that agree: a workspace build and a per-package build (`cargo build -p <crate>`) of each
# function must compile the same units (same features, host side included, same profile), so
# the benchmarked, tested and deployed binaries are one binary. Cargo unifies features across the
# members built together; [workspace.dependencies] carry the union, and the functions' build.rs
# pins the host-side `syn` features. This compares cargo's unit graphs (nothing is built) and
# exits non-zero on any difference, naming it.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
graph() { RUSTC_BOOTSTRAP=1 cargo build --release --locked --unit-graph -Z unstable-options "$@" 2>/dev/null; }
graph --workspace --bins > "$out/ws.json"
for crate in authorizer crud edge; do graph -p "$crate" > "$out/$crate.json"; done
python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
def closure(path, root):
    units = json.load(open(path))["units"]
    stack = [i for i, u in enumerate(units) if u["target"]["name"] == root and "bin" in u["target"]["kind"]]
    seen = set()
    while stack:
        i = stack.pop()
        if i not in seen:
            seen.add(i)
            stack.extend(d["index"] for d in units[i]["dependencies"])
    return {(units[i]["pkg_id"], units[i]["target"]["name"], units[i]["mode"], units[i]["platform"]):
            (units[i]["features"], json.dumps(units[i]["profile"], sort_keys=True)) for i in seen}
ws_units = f"{out}/ws.json"
bad = False
for crate in ("authorizer", "crud", "edge"):
    ws, pkg = closure(ws_units, crate), closure(f"{out}/{crate}.json", crate)
    if not pkg:
        print(f"[check-features] no unit graph for {crate}"); bad = True; continue
    diff = sorted(k for k in set(ws) | set(pkg) if ws.get(k) != pkg.get(k))
    for k in diff:
        a, b = ws.get(k), pkg.get(k)
        print(f"[check-features] {crate}: {k[0].split('#')[-1]} ({k[2]}): workspace {a[0] if a else 'absent'} vs -p {crate} {b[0] if b else 'absent'}")
    bad |= bool(diff)
    if not diff:
        print(f"[check-features] {crate}: {len(pkg)} units, identical in a workspace and a per-package build")
sys.exit(1 if bad else 0)
PY
