'use strict';
// Lambda@Edge handler: runs the edge function's Rust logic, compiled to WebAssembly
// (edge.wasm), on the CloudFront event. The configuration is edge-config.json next to this file
// (Lambda@Edge has no environment variables). Node supplies what wasm32-unknown-unknown lacks:
// the time (Date.now()), random bytes (crypto), the rollout store (canary.rollout.source) and
// the logs. No dependencies (an s3:// rollout source uses the AWS SDK the Node.js runtime ships).
//
// ABI (see edge/src/wasm.rs): JSON in linear memory; results packed as BigInt ptr << 32 | len.
//
// Logs are JSON lines, one per decision the wasm call returns (variant chosen, refusals,
// refused preflights, rate limits, canary_force_refused), the same codes the native binary
// logs; never a header value or a secret. On Lambda, each variant decision also gets an EMF line
// (per-variant request counts at the edge, see emf()).

const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');

const MODULE = new WebAssembly.Module(fs.readFileSync(path.join(__dirname, 'edge.wasm')));
const CONFIG = fs.readFileSync(path.join(__dirname, 'edge-config.json'));

// One JSON line on stderr (Lambda sends stdout and stderr to CloudWatch Logs alike; stdout stays
// free for callers that print results, such as the tests' runners).
function log(line) {
  process.stderr.write(`${JSON.stringify(line)}\n`);
}

// On Lambda (AWS_LAMBDA_FUNCTION_NAME, a reserved variable Lambda@Edge sets too): one CloudWatch
// Embedded Metric Format line per variant decision, EdgeVariantRequests (Count) in namespace
// ApigwGuard/Edge with dimensions FunctionName (this function, so stacks stay apart) and variant
// (stable or canary: what the edge chose, never a header value). Lambda@Edge writes its logs, so
// these metrics, in the region of the edge location that served the request.
const EMF_NAMESPACE = 'ApigwGuard/Edge';
const FUNCTION_NAME = process.env.AWS_LAMBDA_FUNCTION_NAME || '';

function emf(line, now) {
  if (FUNCTION_NAME === '') return;
  if (line.code !== 'variant_chosen' && line.code !== 'variant_forced') return;
  if (line.variant !== 'stable' && line.variant !== 'canary') return;
  log({
    _aws: {
      Timestamp: now,
      CloudWatchMetrics: [{
        Namespace: EMF_NAMESPACE,
        Dimensions: [['FunctionName', 'variant']],
        Metrics: [{ Name: 'EdgeVariantRequests', Unit: 'Count' }],
      }],
    },
    FunctionName: FUNCTION_NAME,
    variant: line.variant,
    EdgeVariantRequests: 1,
  });
}

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

// The rollout store: the last document read and when (kept across a re-instantiation).
let rollout = null;
let lastDoc = null;
let lastDocAt = 0;
let readAt = 0;
let inFlight = null;

function instantiate() {
  const ex = new WebAssembly.Instance(MODULE, {}).exports;
  const res = call(ex, ex.edge_init, CONFIG);
  if (res.error !== undefined) {
    // The message names the problem and its position, never a value of the document.
    log({ level: 'ERROR', code: 'config_invalid', message: res.error });
    throw new Error(`edge-config.json: ${res.error}`);
  }
  for (const message of res.ok.warnings) log({ level: 'WARN', code: 'config_warning', message });
  rollout = res.ok.rollout || null;
  if (lastDoc !== null) call(ex, ex.edge_rollout, lastDoc, lastDocAt);
  return ex;
}

// The region an s3:// rollout bucket lives in: the function's home region, i.e. the stack's (the
// template creates the bucket and the function in one stack, in us-east-1). Lambda@Edge replicas
// run in other regions (their AWS_REGION is the replica's), but the invoked ARN keeps the home
// region, so the client asks the bucket's regional endpoint directly instead of paying a redirect
// from the replica's region inside the read's time budget.
function homeRegion(invokedArn) {
  const parts = typeof invokedArn === 'string' ? invokedArn.split(':') : [];
  return parts.length >= 7 && parts[2] === 'lambda' && /^[a-z]{2}(-[a-z]+)+-\d+$/.test(parts[3]) ? parts[3] : undefined;
}

async function readSource(source, timeoutMs, region) {
  if (source.startsWith('file://')) {
    return fs.promises.readFile(source.slice('file://'.length), { signal: AbortSignal.timeout(timeoutMs) });
  }
  if (source.startsWith('s3://')) {
    const rest = source.slice('s3://'.length);
    const slash = rest.indexOf('/');
    // eslint-disable-next-line global-require
    const { S3Client, GetObjectCommand } = require('@aws-sdk/client-s3');
    readSource.s3 = readSource.s3
      || new S3Client(region ? { region, followRegionRedirects: true } : { followRegionRedirects: true });
    const out = await readSource.s3.send(
      new GetObjectCommand({ Bucket: rest.slice(0, slash), Key: rest.slice(slash + 1) }),
      { abortSignal: AbortSignal.timeout(timeoutMs) },
    );
    return Buffer.from(await out.Body.transformToByteArray());
  }
  const r = await fetch(source, { signal: AbortSignal.timeout(timeoutMs), cache: 'no-store' });
  if (!r.ok) throw new Error(`status ${r.status}`);
  return Buffer.from(await r.arrayBuffer());
}

// Re-read the rollout source when the last read is older than its TTL (one read at a time; a
// request waits at most timeout_ms). A failed read keeps the last state, which the edge ages
// out to weight 0 after max_stale_seconds.
async function refreshRollout(region) {
  if (rollout === null) return;
  const now = Date.now();
  if (readAt !== 0 && now - readAt < rollout.ttl_seconds * 1000) return;
  if (inFlight === null) {
    readAt = now;
    inFlight = readSource(rollout.source, rollout.timeout_ms, region)
      .then((doc) => {
        const at = Date.now();
        const res = call(ex, ex.edge_rollout, doc, at);
        if (res.error !== undefined) {
          log({ level: 'WARN', code: 'rollout_invalid', message: res.error });
        } else {
          lastDoc = doc;
          lastDocAt = at;
        }
      })
      .catch((err) => {
        log({ level: 'WARN', code: 'rollout_unreadable', message: String((err && err.name) || 'error') });
      })
      .finally(() => {
        inFlight = null;
      });
  }
  await inFlight;
}

// At cold start: an unusable configuration fails the init, never a request.
let ex = instantiate();
const random = new Uint32Array(4);

exports.handler = async (event, context) => {
  await refreshRollout(homeRegion(context && context.invokedFunctionArn));
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
  const now = Date.now();
  for (const line of res.log || []) {
    log(line);
    emf(line, now);
  }
  return res.ok;
};
