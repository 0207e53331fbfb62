// Chromium end-to-end checks of the sample app (web/) against a running local stack.
//
//   node tests/browser/e2e.mjs '<json>'
//   json = {"app": "http://127.0.0.1:A", "evil": "http://127.0.0.1:B", "api": "http://127.0.0.1:G",
//           "password": "..." (or "passwords": {"alice": ...}), "tokens": {"alice": "..."}, "out": "target/browser",
//           "only": ["check name", ...]?}
//
// `app` is an origin in the edge's CORS allow-list, `evil` one outside it (the same static server on
// another port). Runs Debian's chromium (/usr/bin/chromium or $CHROMIUM) headless through
// playwright-core; each launch gets a fresh temporary profile, and nothing leaves loopback.
// Prints one JSON document on stdout: {"browser", "checks": [{"name", "ok", "ms", "error"?, ...}],
// "total_ms"}; exits 0 when it could run (the caller asserts on the checks), 2 when it could not.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const cfg = JSON.parse(process.argv[2] || '{}');
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run'];
const SECURITY_HEADERS = ['strict-transport-security', 'x-content-type-options', 'x-frame-options',
  'content-security-policy', 'referrer-policy', 'permissions-policy'];
const T = 15000;

function assert(cond, msg) { if (!cond) throw new Error(msg); }

const t0 = Date.now();
const checks = [];
const notes = {};
async function check(name, fn) {
  if (cfg.only && !cfg.only.includes(name)) return;
  const start = Date.now();
  try {
    const extra = await fn();
    checks.push({ name, ok: true, ms: Date.now() - start, ...(extra || {}) });
  } catch (e) {
    checks.push({ name, ok: false, ms: Date.now() - start, error: String(e?.stack || e).slice(0, 2000) });
  }
}

let browser;
try {
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: ARGS, timeout: 30000 });
} catch (e) {
  console.log(JSON.stringify({ error: `chromium did not start: ${e}` }));
  process.exit(2);
}

// Every request the pages make must stay on loopback.
const offLoopback = [];
async function newContext() {
  const ctx = await browser.newContext({ viewport: { width: 900, height: 720 } });
  ctx.setDefaultTimeout(T);
  ctx.on('request', (r) => {
    const u = new URL(r.url());
    if (!['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname) && u.protocol !== 'data:' && u.protocol !== 'about:') offLoopback.push(r.url());
  });
  return ctx;
}

/** Open the app in a new page of `ctx` and sign `user` in. */
async function openApp(ctx, user) {
  const page = await ctx.newPage();
  page.on('pageerror', (e) => { notes.pageerrors = [...(notes.pageerrors || []), String(e)]; });
  await page.goto(cfg.app + '/');
  await page.waitForSelector('body[data-ready="true"]');
  if (user) await signIn(page, user);
  return page;
}

async function signIn(page, user) {
  await page.fill('#user', user);
  await page.fill('#password', cfg.passwords?.[user] ?? cfg.password);
  await page.click('#signin');
  await page.waitForSelector('#session-panel:not([hidden])');
  await settled(page);
  assert((await page.textContent('#who')) === user, `signed in as ${await page.textContent('#who')}`);
}

async function titles(page) {
  return page.$$eval('#items li .title', (els) => els.map((e) => e.textContent));
}

async function problem(page) {
  await page.waitForSelector('#problem:not([hidden])');
  return page.$eval('#problem', (e) => ({ status: Number(e.dataset.status), code: e.dataset.code, text: e.textContent }));
}

/** Wait until the page has settled on the item list (no request in flight). */
async function settled(page) {
  await page.waitForFunction(() => document.body.dataset.busy === '0', null, { polling: 20 });
}

async function addItem(page, title, note) {
  await page.fill('#new-title', title);
  if (note !== undefined) await page.fill('#new-note', note);
  const [resp] = await Promise.all([
    page.waitForResponse((r) => r.url() === `${cfg.api}/items` && r.request().method() === 'POST'),
    page.click('#create'),
  ]);
  await settled(page);
  return resp;
}

const ctxA = await newContext();
const ctxB = await newContext();
const ctxC = await newContext();
let alice;
let aliceIds = [];

await check('app_served_with_its_csp', async () => {
  const page = await ctxA.newPage();
  const resp = await page.goto(cfg.app + '/');
  const csp = resp.headers()['content-security-policy'] || '';
  assert(csp.includes("script-src 'self'") && csp.includes(`connect-src 'self' ${cfg.api}`), `csp: ${csp}`);
  assert(cfg.app !== cfg.api, 'the app must not be on the API origin');
  await page.close();
});

await check('sign_in_create_with_preflight_reads_location_and_etag', async () => {
  alice = await openApp(ctxA, 'alice');
  const postResp = await addItem(alice, 'alice-1');
  assert(postResp.status() === 201, `POST ${postResp.status()}`);
  const req = postResp.request();
  const rh = await req.allHeaders();
  assert(/^[0-9a-f-]{16,}$/.test(rh['idempotency-key'] || ''), `Idempotency-Key: ${rh['idempotency-key']}`);
  assert(rh.origin === cfg.app, `Origin: ${rh.origin}`);
  // What the page's JS read from the response (ETag and Location are exposed by the edge).
  const last = await alice.textContent('#last');
  assert(/Location: \/items\/[0-9A-Z]{26}/.test(last) && /ETag: "1"/.test(last), `page read: ${last}`);
  const h = await postResp.allHeaders();
  assert(h['access-control-allow-origin'] === cfg.app, `ACAO ${h['access-control-allow-origin']}`);
  assert(!('access-control-allow-credentials' in h), 'no ACAC while allow_credentials is false');
  for (let i = 2; i <= 7; i++) await addItem(alice, `alice-${i}`);
  assert((await titles(alice)).length === 5, 'first page holds 5 (limit=5)');
  return { last };
});

await check('pagination_next_and_previous', async () => {
  await alice.click('#reload');
  await settled(alice);
  const p1 = await titles(alice);
  assert(p1.length === 5, `page 1: ${p1}`);
  await alice.click('#next');
  await settled(alice);
  const p2 = await titles(alice);
  assert(p2.length === 2, `page 2: ${p2}`);
  assert(await alice.isDisabled('#next'), 'no page 3');
  const all = new Set([...p1, ...p2]);
  assert(all.size === 7 && [...all].every((t) => /^alice-[1-7]$/.test(t)), `all: ${[...all]}`);
  await alice.click('#prev');
  await settled(alice);
  assert(JSON.stringify(await titles(alice)) === JSON.stringify(p1), 'back to page 1');
  aliceIds = await alice.$$eval('#items li', (els) => els.map((e) => e.dataset.id));
  notes.target_title = p1[2];
  return { page1: p1, page2: p2 };
});

await check('patch_with_if_match_and_the_412', async () => {
  // The same user in a second tab changes the item in between: the first tab's PATCH carries the
  // ETag it read and gets 412, shown to the person.
  const id = aliceIds[0];
  const tab2 = await openApp(ctxA, 'alice');
  await alice.click(`li[data-id="${id}"] .edit`);
  await alice.waitForSelector(`li[data-id="${id}"] .editor:not([hidden])`);
  await tab2.click(`li[data-id="${id}"] .edit`);
  await tab2.waitForSelector(`li[data-id="${id}"] .editor:not([hidden])`);
  await tab2.fill(`li[data-id="${id}"] .edit-title`, 'changed in tab 2');
  const [ok] = await Promise.all([
    tab2.waitForResponse((r) => r.request().method() === 'PATCH'),
    tab2.click(`li[data-id="${id}"] .save`),
  ]);
  await settled(tab2);
  assert(ok.status() === 200, `tab 2 PATCH ${ok.status()}`);
  assert((await ok.request().allHeaders())['if-match'] === '"1"', 'If-Match from the ETag');
  assert((await ok.request().allHeaders())['content-type'] === 'application/merge-patch+json', 'merge-patch');
  await alice.bringToFront(); // a background tab's animation frames are throttled
  await alice.fill(`li[data-id="${id}"] .edit-title`, 'changed in tab 1');
  const [stale] = await Promise.all([
    alice.waitForResponse((r) => r.request().method() === 'PATCH'),
    alice.click(`li[data-id="${id}"] .save`),
  ]);
  await settled(alice);
  assert(stale.status() === 412, `tab 1 PATCH ${stale.status()}`);
  const p = await problem(alice);
  assert(p.status === 412 && p.code === 'precondition_failed' && /Someone else changed/.test(p.text), JSON.stringify(p));
  // Reload, edit again from the new ETag: saved.
  await alice.click(`li[data-id="${id}"] .cancel`);
  await alice.click('#reload');
  await settled(alice);
  assert((await alice.textContent(`li[data-id="${id}"] .title`)) === 'changed in tab 2', 'tab 2 won');
  await alice.click(`li[data-id="${id}"] .edit`);
  await alice.waitForSelector(`li[data-id="${id}"] .editor:not([hidden])`);
  await alice.fill(`li[data-id="${id}"] .edit-title`, 'edited');
  await alice.check(`li[data-id="${id}"] .edit-done`);
  await alice.click(`li[data-id="${id}"] .save`);
  await settled(alice);
  assert(/ETag: "3"/.test(await alice.textContent('#last')), await alice.textContent('#last'));
  assert(await alice.isHidden('#problem'), 'problem cleared');
  await tab2.close();
  return { problem: p.text };
});

await check('delete_with_preflight', async () => {
  const id = aliceIds[1];
  const [resp] = await Promise.all([
    alice.waitForResponse((r) => r.request().method() === 'DELETE'),
    alice.click(`li[data-id="${id}"] .delete`),
  ]);
  assert(resp.status() === 204, `DELETE ${resp.status()}`);
  await settled(alice);
  assert(!(await alice.$(`li[data-id="${id}"]`)), 'gone from the list');
  notes.deleted = id;
});

let bobIds = [];
await check('two_users_in_two_contexts_never_see_each_others_items', async () => {
  const bob = await openApp(ctxB, 'bob');
  await addItem(bob, 'bob-1');
  await addItem(bob, 'bob-2');
  const bt = await titles(bob);
  assert(JSON.stringify([...bt].sort()) === '["bob-1","bob-2"]', `bob sees ${bt}`);
  bobIds = await bob.$$eval('#items li', (els) => els.map((e) => e.dataset.id));
  // alice's list, every page: only alice's items.
  await alice.click('#reload');
  await settled(alice);
  const seen = [...(await titles(alice))];
  while (!(await alice.isDisabled('#next'))) {
    await alice.click('#next');
    await settled(alice);
    seen.push(...(await titles(alice)));
  }
  assert(seen.length === 6 && !seen.some((t) => t.startsWith('bob')), `alice sees ${seen}`);
  // bob asks for alice's item by id (with his own token): 404, as for a missing item; and his
  // context cannot reach alice's token (it lives only in her page's memory).
  const r = await bob.evaluate(async ([api, id, token]) => {
    const res = await fetch(`${api}/items/${id}`, { headers: { authorization: `Bearer ${token}` } });
    return { status: res.status, code: (await res.json()).code, stored: localStorage.length + sessionStorage.length };
  }, [cfg.api, aliceIds[2], cfg.tokens.bob]);
  assert(r.status === 404 && r.code === 'not_found' && r.stored === 0, `bob GET alice's item: ${JSON.stringify(r)}`);
  await bob.close();
  return { alice: seen.length, bob: bt.length };
});

await check('security_headers_on_api_responses', async () => {
  const [resp] = await Promise.all([
    alice.waitForResponse((r) => r.url().startsWith(`${cfg.api}/items?`) && r.request().method() === 'GET'),
    alice.click('#reload'),
  ]);
  await settled(alice);
  const h = await resp.allHeaders();
  for (const name of SECURITY_HEADERS) assert(h[name], `missing ${name}: ${JSON.stringify(h)}`);
  assert(h['content-security-policy'].includes("default-src 'none'"), `API CSP ${h['content-security-policy']}`);
  assert(!h.server && !h['x-powered-by'], 'no server banner');
  assert((h.vary || '').toLowerCase().includes('origin'), `Vary ${h.vary}`);
  // JS sees exposed headers only.
  const seen = await alice.evaluate(async (api) => {
    const res = await fetch(`${api}/items?limit=1`, { mode: 'cors', credentials: 'omit' });
    return { status: res.status, requestId: res.headers.get('x-amzn-requestid'), ct: res.headers.get('content-type') };
  }, cfg.api);
  assert(seen.status === 401 && seen.requestId === null, `unexposed header visible to JS: ${JSON.stringify(seen)}`);
  return { headers: Object.fromEntries(SECURITY_HEADERS.map((n) => [n, h[n]])) };
});

await check('problem_413_shown', async () => {
  const resp = await addItem(alice, 'too big', 'x'.repeat(70 * 1024));
  assert(resp.status() === 413, `POST ${resp.status()}`);
  const p = await problem(alice);
  assert(p.status === 413 && p.code === 'body_too_large', JSON.stringify(p));
  return { problem: p.text };
});

await check('screenshot', async () => {
  await alice.fill('#new-title', '');
  await alice.fill('#new-note', '');
  await alice.click('#reload');
  await settled(alice);
  while (!(await alice.isDisabled('#prev'))) {
    await alice.click('#prev');
    await settled(alice);
  }
  mkdirSync(cfg.out, { recursive: true });
  const path = join(cfg.out, 'app.png');
  await alice.screenshot({ path, fullPage: true });
  return { path };
});

await check('problem_401_after_sign_out_and_no_token_at_rest', async () => {
  const stored = await alice.evaluate(() => ({
    local: localStorage.length, session: sessionStorage.length, cookie: document.cookie, url: location.href,
  }));
  assert(stored.local === 0 && stored.session === 0 && stored.cookie === '', `stored: ${JSON.stringify(stored)}`);
  assert(!stored.url.includes('eyJ'), `token in URL ${stored.url}`);
  // The token the page sends (read off the wire, never from storage), to replay after sign-out.
  let sent = null;
  const revokes = [];
  alice.on('request', (r) => {
    const a = r.headers().authorization;
    if (a) sent = a;
    if (r.url().endsWith('/cognito') && r.headers()['x-amz-target']?.endsWith('.RevokeToken')) revokes.push(r.url());
  });
  await alice.click('#reload');
  await settled(alice);
  assert(sent && sent.startsWith('Bearer '), 'the page sent its token');
  const before = await fetch(`${cfg.api}/items`, { headers: { authorization: sent } });
  assert(before.status === 200, `the token works before sign-out: ${before.status}`);
  const signOutStarted = Date.now();
  await alice.click('#signout');
  await alice.waitForSelector('#signin-panel:not([hidden])');
  await settled(alice);
  const signOutMs = Date.now() - signOutStarted;
  const note = await alice.textContent('#last');
  assert(note.includes('the token is revoked at the API'), `sign-out note: ${note}`);
  assert(revokes.length === 1, `RevokeToken sent for the refresh token: ${revokes.length}`);
  // Sign-out that signs out: the old token, replayed from outside the page, is refused.
  const after = await fetch(`${cfg.api}/items`, { headers: { authorization: sent } });
  const body = await after.json().catch(() => null);
  assert(after.status === 401 && body?.code === 'unauthorized', `the revoked token after sign-out: ${after.status} ${JSON.stringify(body)}`);
  await alice.click('#reload');
  const p = await problem(alice);
  assert(p.status === 401 && p.code === 'unauthorized', JSON.stringify(p));
  return { problem: p.text, sign_out_ms: signOutMs, old_token_after_sign_out: after.status, note };
});

await check('credentials_include_refused_while_allow_credentials_is_false', async () => {
  const r = await alice.evaluate(async ([api, token]) => {
    const out = {};
    for (const [name, init] of [
      ['omit_with_token', { credentials: 'omit', headers: { authorization: `Bearer ${token}` } }],
      ['include_with_token', { credentials: 'include', headers: { authorization: `Bearer ${token}` } }],
      ['include_simple', { credentials: 'include' }],
    ]) {
      try { out[name] = (await fetch(`${api}/items?limit=1`, { mode: 'cors', ...init })).status; } catch (e) { out[name] = e.name; }
    }
    return out;
  }, [cfg.api, cfg.tokens.alice]);
  assert(r.omit_with_token === 200, `omit: ${r.omit_with_token}`);
  assert(r.include_with_token === 'TypeError' && r.include_simple === 'TypeError', JSON.stringify(r));
  return r;
});

await check('origin_outside_allow_list_blocked_and_without_effect', async () => {
  const page = await ctxC.newPage();
  await page.goto(cfg.evil + '/');
  const targetId = aliceIds[2];
  const r = await page.evaluate(async ([api, token, id]) => {
    const auth = { authorization: `Bearer ${token}` };
    const tryFetch = async (url, init) => {
      try { return (await fetch(url, { mode: 'cors', credentials: 'omit', ...init })).status; } catch (e) { return e.name; }
    };
    return {
      post: await tryFetch(`${api}/items`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: '{"title":"evil"}' }),
      delete: await tryFetch(`${api}/items/${id}`, { method: 'DELETE', headers: auth }),
      patch: await tryFetch(`${api}/items/${id}`, { method: 'PATCH', headers: { ...auth, 'content-type': 'application/merge-patch+json' }, body: '{"title":"evil"}' }),
      get: await tryFetch(`${api}/items`, { headers: auth }),
      simple_post: await tryFetch(`${api}/items`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{"title":"evil"}' }),
    };
  }, [cfg.api, cfg.tokens.alice, targetId]);
  for (const [k, v] of Object.entries(r)) assert(v === 'TypeError', `${k} from a foreign origin: ${v}`);
  await page.close();
  // No effect: alice's items are as before (checked again by the Rust side against the table).
  const a = await openApp(ctxA, 'alice');
  const t = await a.textContent(`li[data-id="${targetId}"] .title`);
  assert(t === notes.target_title, `target item unchanged: ${t}`);
  const seen = await titles(a);
  assert(!seen.includes('evil'), `evil item created: ${seen}`);
  await a.close();
  return { target: targetId, results: r };
});

await check('problem_429_shown', async () => {
  // crud's per-caller limit (RATE_LIMIT_PER_MINUTE, 100 by default): carol clicks Reload fast.
  // The check records what the page showed the moment it showed a 429.
  const carol = await openApp(ctxC, 'carol');
  const q = await carol.evaluate(() => new Promise((resolve) => {
    const el = document.getElementById('problem');
    const seen = () => el.dataset.status === '429'
      && resolve({ status: 429, code: el.dataset.code, text: el.textContent });
    new MutationObserver(seen).observe(el, { attributes: true, childList: true, subtree: true });
    // 250 clicks: over the 100/minute quota even if a loaded machine needs a minute for them.
    for (let i = 0; i < 250; i++) document.getElementById('reload').click();
    setTimeout(() => resolve({ status: Number(el.dataset.status || 0), text: el.textContent }), 60000);
  }));
  assert(q.status === 429 && q.code === 'rate_limited' && /Retry after \d+ s/.test(q.text), JSON.stringify(q));
  await settled(carol);
  await carol.close();
  return { problem: q.text };
});

await check('no_request_left_loopback', async () => {
  assert(offLoopback.length === 0, `off loopback: ${offLoopback.slice(0, 5)}`);
  assert(!notes.pageerrors, `page errors: ${notes.pageerrors}`);
});

await browser.close();
console.log(JSON.stringify({ browser: 'chromium', checks, notes, alice_ids: aliceIds, bob_ids: bobIds, total_ms: Date.now() - t0 }));
