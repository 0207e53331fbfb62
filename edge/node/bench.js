'use strict';
// Per-event time of the packaged Lambda@Edge handler (WebAssembly inside Node.js), measured in
// process with a reference from the same run: JSON.parse + JSON.stringify of the same event (the
// floor any Node handler receiving and returning the event object pays in this runtime).
// usage: node bench.js PACKAGE_DIR [ITERATIONS]
const path = require('node:path');
const fs = require('node:fs');

const dir = path.resolve(process.argv[2] || 'target/edge-lambda');
const iterations = Number(process.argv[3] || 20000);
// The handler's decision log lines (stderr) are not part of what is measured (Lambda ships them
// asynchronously): silenced here.
process.stderr.write = () => true;
const { handler } = require(path.join(dir, 'index.js'));
const fixtures = path.join(__dirname, '..', 'tests', 'fixtures');
const load = (f) => JSON.parse(fs.readFileSync(path.join(fixtures, f), 'utf8'));

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function measure(fn, event) {
  for (let i = 0; i < 2000; i++) await fn(event); // warm up (JIT, wasm tier-up)
  const batch = 100;
  const samples = [];
  for (let i = 0; i < iterations / batch; i++) {
    const t0 = process.hrtime.bigint();
    for (let j = 0; j < batch; j++) await fn(event);
    samples.push(Number(process.hrtime.bigint() - t0) / batch / 1000);
  }
  return median(samples);
}

async function main() {
  const reference = async (e) => JSON.parse(JSON.stringify(e));
  const rows = [];
  for (const f of ['viewer-request.json', 'viewer-request-body.json', 'origin-request.json', 'origin-response.json', 'viewer-response.json']) {
    const event = load(f);
    // Distinct client addresses so the rate limit never answers instead of the logic under test.
    let n = 0;
    const fn = async (e) => {
      n++;
      e.Records[0].cf.request.clientIp = `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
      return handler(e);
    };
    const handlerUs = await measure(fn, event);
    const refUs = await measure(reference, event);
    rows.push({ event: f.replace('.json', ''), handler_us: +handlerUs.toFixed(2), json_roundtrip_us: +refUs.toFixed(2), ratio: +(handlerUs / refUs).toFixed(1) });
  }
  console.log(`node ${process.version}, ${iterations} events each, median of batches of 100`);
  console.table(rows);
}

main();
