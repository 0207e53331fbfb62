'use strict';
// Lambda@Edge handler: runs the edge function's Rust logic, compiled to WebAssembly
// (edge.wasm), on the CloudFront event. The configuration is edge-config.json next to this file
// (Lambda@Edge has no environment variables). Node supplies what wasm32-unknown-unknown lacks:
// the time (Date.now()) and random bytes (crypto). No dependencies.
//
// ABI (see edge/src/wasm.rs): JSON in linear memory; results packed as BigInt ptr << 32 | len.

const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');

const MODULE = new WebAssembly.Module(fs.readFileSync(path.join(__dirname, 'edge.wasm')));
const CONFIG = fs.readFileSync(path.join(__dirname, 'edge-config.json'));

function call(ex, fn, input, ...args) {
  const ptr = ex.edge_alloc(input.length) >>> 0;
  new Uint8Array(ex.memory.buffer, ptr, input.length).set(input);
  let packed;
  try {
    packed = fn(ptr, input.length, ...args);
  } finally {
    ex.edge_free(ptr, input.length);
  }
  const outPtr = Number(packed >> 32n);
  const outLen = Number(packed & 0xffffffffn);
  const text = Buffer.from(ex.memory.buffer, outPtr, outLen).toString('utf8');
  ex.edge_free(outPtr, outLen);
  return JSON.parse(text);
}

function instantiate() {
  const ex = new WebAssembly.Instance(MODULE, {}).exports;
  const res = call(ex, ex.edge_init, CONFIG);
  if (res.error !== undefined) throw new Error(`edge-config.json: ${res.error}`);
  for (const message of res.ok.warnings) {
    console.warn(JSON.stringify({ level: 'WARN', code: 'config_warning', message }));
  }
  return ex;
}

// At cold start: an unusable configuration fails the init, never a request.
let ex = instantiate();
const random = new Uint32Array(4);

exports.handler = async (event) => {
  crypto.getRandomValues(random);
  const input = Buffer.from(JSON.stringify(event));
  let res;
  try {
    res = call(ex, ex.edge_handle, input, Date.now(), random[0], random[1], random[2], random[3]);
  } catch (err) {
    ex = instantiate(); // a trap leaves the instance unusable: start afresh for the next event
    throw err;
  }
  if (res.error !== undefined) throw new Error(res.error);
  return res.ok;
};
