#!/usr/bin/env bash
# Builds that agree: for each function crate, every dependency must have the same features in a
# workspace build as in a per-package build (`cargo build -p <crate>`), so the benchmarked,
# tested and deployed binaries are the same binary. Cargo unifies features across the members
# built together; the workspace's [workspace.dependencies] carry the union to prevent drift.
# Prints the differences and exits non-zero when there are any.
set -euo pipefail
cd "$(dirname "$0")/.."
target=$(rustc -vV | sed -n 's/^host: //p')
tree() { cargo tree --locked -e normal -f '{p}|{f}' --prefix none --target "$target" "$@" 2>/dev/null | sed 's/ (\*)//' | sort -u; }
ws=$(mktemp); trap 'rm -f "$ws" "$ws".pkg' EXIT
tree --workspace > "$ws"
status=0
for crate in authorizer crud edge; do
  tree -p "$crate" > "$ws.pkg"
  diff=$(python3 - "$ws" "$ws.pkg" "$crate" <<'PY'
import sys
def load(path):
    out = {}
    for line in open(path):
        line = line.strip()
        if "|" in line:
            p, f = line.split("|", 1)
            out.setdefault(p, set()).update(x for x in f.split(",") if x)
    return out
ws, pkg, crate = load(sys.argv[1]), load(sys.argv[2]), sys.argv[3]
for p, f in sorted(pkg.items()):
    # proc-macro helpers (syn & co.) run on the host and do not reach the binary
    if p.split()[0] in ("syn", "quote", "proc-macro2"):
        continue
    extra = ws.get(p, set()) - f
    if extra:
        print(f"  {p}: the workspace build adds {sorted(extra)}")
PY
)
  if [ -n "$diff" ]; then
    echo "[check-features] $crate differs between a workspace and a per-package build:"
    echo "$diff"
    status=1
  fi
done
[ "$status" = 0 ] && echo "[check-features] authorizer, crud, edge: workspace and per-package builds use the same features"
exit "$status"
