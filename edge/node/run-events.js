'use strict';
// Runs the packaged Lambda@Edge handler on events, as Lambda@Edge would, one after another.
// usage: node run-events.js PACKAGE_DIR EVENTS.json
//   EVENTS.json: a JSON array of events. Prints a JSON array with, per event,
//   {"ok": <what the handler returned>} or {"error": "<message it threw>"}.
//   The handler's log lines go to stderr, one JSON line each.
const path = require('node:path');
const fs = require('node:fs');

async function main() {
  const [dir, file] = process.argv.slice(2);
  const { handler } = require(path.resolve(dir, 'index.js'));
  const events = JSON.parse(fs.readFileSync(file, 'utf8'));
  const out = [];
  for (const event of events) {
    try {
      out.push({ ok: await handler(event) });
    } catch (err) {
      out.push({ error: String(err && err.message) });
    }
  }
  process.stdout.write(JSON.stringify(out));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
