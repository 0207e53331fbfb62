// The sample app: sign in with Cognito (USER_PASSWORD_AUTH), then list, create, edit and delete
// your own items through the API. Plain JavaScript, no framework, no build step.
//
// - The access token lives in this module's memory only: never in a URL, a cookie,
//   localStorage or sessionStorage. Reloading the page signs you out.
// - Every API call is a cross-origin fetch (the app is not on the API's origin) with
//   `credentials: 'omit'`: the API authenticates with the bearer token, not with cookies.
// - Errors are RFC 9457 problem+json bodies; the app shows status, title and `code`.

const PAGE_SIZE = 5;

const state = {
  config: null,
  token: null,          // the access token (memory only)
  refreshToken: null,   // the refresh token (memory only), revoked at Cognito on sign-out
  user: null,
  cursors: [null],      // cursors[i] = cursor of page i (null = first page)
  page: 0,
  nextCursor: null,
  editing: new Map(),   // item id -> ETag read when "Edit" was clicked
};

const $ = (id) => document.getElementById(id);

/** A failed call: the API's problem+json, or a network / CORS failure (status 0). */
export class Problem extends Error {
  constructor(status, body, headers) {
    super(body?.title || `HTTP ${status}`);
    this.status = status;
    this.title = body?.title || (status === 0 ? 'Network error or blocked by the browser (CORS)' : `HTTP ${status}`);
    this.code = body?.code || '';
    this.detail = body?.detail || '';
    this.retryAfter = headers?.get('retry-after') || null;
  }
}

async function loadConfig() {
  const r = await fetch('config.json', { cache: 'no-store' });
  if (!r.ok) throw new Problem(r.status, await r.json().catch(() => null), r.headers);
  return r.json();
}

/** Cognito InitiateAuth (USER_PASSWORD_AUTH), as `gateway token` does. */
async function cognitoSignIn(user, password) {
  const r = await fetch(state.config.signin_url, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-amz-json-1.1',
      'x-amz-target': 'AWSCognitoIdentityProviderService.InitiateAuth',
    },
    body: JSON.stringify({
      AuthFlow: 'USER_PASSWORD_AUTH',
      ClientId: state.config.client_id,
      AuthParameters: { USERNAME: user, PASSWORD: password },
    }),
    credentials: 'omit',
  });
  const body = await r.json().catch(() => null);
  if (!r.ok || !body?.AuthenticationResult?.AccessToken) {
    throw new Problem(r.status || 0, { title: 'Sign-in refused', code: body?.__type || 'signin_failed', detail: body?.message || '' });
  }
  return { access: body.AuthenticationResult.AccessToken, refresh: body.AuthenticationResult.RefreshToken || null };
}

/** Cognito RevokeToken: the refresh token mints no new tokens. `true` when Cognito confirmed. */
async function cognitoRevoke(refreshToken) {
  try {
    const r = await fetch(state.config.signin_url, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-amz-json-1.1',
        'x-amz-target': 'AWSCognitoIdentityProviderService.RevokeToken',
      },
      body: JSON.stringify({ Token: refreshToken, ClientId: state.config.client_id }),
      credentials: 'omit',
    });
    return r.ok;
  } catch {
    return false;
  }
}

/** One API call. Returns {status, body, etag, location}; throws Problem on any failure. */
export async function api(method, path, { body, headers = {}, contentType = 'application/json' } = {}) {
  const h = { ...headers };
  if (state.token) h.authorization = `Bearer ${state.token}`;
  if (body !== undefined) h['content-type'] = contentType;
  let r;
  try {
    r = await fetch(state.config.api + path, {
      method,
      headers: h,
      body: body === undefined ? undefined : (typeof body === 'string' ? body : JSON.stringify(body)),
      mode: 'cors',
      credentials: 'omit',
      cache: 'no-store',
    });
  } catch (e) {
    throw new Problem(0, null, null);
  }
  const text = await r.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { json = null; }
  if (!r.ok) throw new Problem(r.status, json, r.headers);
  return { status: r.status, body: json, etag: r.headers.get('etag'), location: r.headers.get('location') };
}

function newIdempotencyKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

// ---- rendering ---------------------------------------------------------------------------

function showProblem(p) {
  const el = $('problem');
  el.replaceChildren();
  const strong = document.createElement('strong');
  strong.textContent = p.status ? `${p.status} ${p.title}` : p.title;
  el.append(strong);
  if (p.code) {
    const c = document.createElement('code');
    c.className = 'code';
    c.textContent = p.code;
    el.append(' ', c);
  }
  const hint = {
    401: 'You are not signed in (or your session expired): sign in again.',
    412: 'Someone else changed this item since you opened it: reload and edit again.',
    413: 'That is too large for the API: shorten it.',
    429: 'Too many requests: wait a moment and try again.',
  }[p.status];
  const detail = p.detail && p.detail !== p.title ? p.detail : '';
  for (const line of [detail, [hint, p.retryAfter ? `Retry after ${p.retryAfter} s.` : ''].filter(Boolean).join(' ')]) {
    if (!line) continue;
    const d = document.createElement('div');
    d.textContent = line;
    el.append(d);
  }
  el.dataset.status = String(p.status);
  el.dataset.code = p.code;
  el.hidden = false;
}

function clearProblem() {
  const el = $('problem');
  el.hidden = true;
  el.replaceChildren();
  delete el.dataset.status;
  delete el.dataset.code;
}

function showLast(text) {
  $('last').textContent = text;
}

/** Run an action; show its problem, if any. Returns the action's result or undefined. */
async function guarded(fn) {
  try {
    const v = await fn();
    clearProblem();
    return v;
  } catch (e) {
    showProblem(e instanceof Problem ? e : new Problem(0, { title: String(e) }));
    return undefined;
  }
}

function renderSession() {
  $('signin-panel').hidden = !!state.token;
  $('session-panel').hidden = !state.token;
  $('who').textContent = state.user || '';
}

function renderItems(items) {
  const ul = $('items');
  ul.replaceChildren();
  const tpl = $('item-template');
  for (const it of items) {
    const li = tpl.content.firstElementChild.cloneNode(true);
    li.dataset.id = it.id;
    li.dataset.version = String(it.version);
    li.querySelector('.title').textContent = it.title ?? '(untitled)';
    li.querySelector('.note').textContent = it.note ? ` — ${it.note}` : '';
    li.querySelector('.done').checked = !!it.done;
    li.querySelector('.meta').textContent = `v${it.version}`;
    if (it.done) li.classList.add('is-done');
    li.querySelector('.edit').addEventListener('click', action(() => startEdit(li)));
    li.querySelector('.cancel').addEventListener('click', action(() => stopEdit(li)));
    li.querySelector('.save').addEventListener('click', action(() => saveEdit(li)));
    li.querySelector('.delete').addEventListener('click', action(() => removeItem(li)));
    ul.append(li);
  }
  $('empty').hidden = items.length > 0;
  $('page').textContent = `page ${state.page + 1}`;
  $('prev').disabled = state.page === 0;
  $('next').disabled = !state.nextCursor;
}

// ---- actions -----------------------------------------------------------------------------

async function loadPage() {
  const cursor = state.cursors[state.page];
  const q = new URLSearchParams({ limit: String(PAGE_SIZE) });
  if (cursor) q.set('cursor', cursor);
  const r = await api('GET', `/items?${q}`);
  state.nextCursor = r.body.next_cursor;
  renderItems(r.body.items);
  return r;
}

export async function reload() {
  return guarded(loadPage);
}

async function signIn(ev) {
  ev.preventDefault();
  const user = $('user').value.trim();
  const password = $('password').value;
  await guarded(async () => {
    const tokens = await cognitoSignIn(user, password);
    state.token = tokens.access;
    state.refreshToken = tokens.refresh;
    state.user = user;
    $('password').value = '';
    state.cursors = [null];
    state.page = 0;
    renderSession();
    showLast(`Signed in as ${user}.`);
    await loadPage();
  });
}

async function signOut() {
  // Sign-out that signs out: the API revokes this token's session (DELETE /sessions/current:
  // every access and id token of this sign-in is refused from its 204 on), and Cognito revokes
  // the refresh token (RevokeToken), so it mints no new ones. Then the page forgets both.
  const notes = [];
  if (state.token) {
    try {
      await api('DELETE', '/sessions/current');
      notes.push('the token is revoked at the API');
    } catch (e) {
      showProblem(e);
      notes.push(`the API did not revoke the token (${e.status} ${e.code || e.title})`);
    }
  }
  if (state.refreshToken) {
    notes.push(await cognitoRevoke(state.refreshToken)
      ? 'the refresh token is revoked at Cognito'
      : 'Cognito did not revoke the refresh token');
  }
  state.token = null;
  state.refreshToken = null;
  state.user = null;
  state.editing.clear();
  renderSession();
  renderItems([]);
  showLast(`Signed out${notes.length ? `: ${notes.join('; ')}` : ''}.`);
}

async function createItem(ev) {
  ev.preventDefault();
  const title = $('new-title').value.trim();
  const note = $('new-note').value;
  const doc = { title, done: false };
  if (note) doc.note = note;
  const r = await guarded(() => api('POST', '/items', { body: doc, headers: { 'idempotency-key': newIdempotencyKey() } }));
  if (!r) return;
  $('new-title').value = '';
  $('new-note').value = '';
  showLast(`${r.status} Created — Location: ${r.location} — ETag: ${r.etag}`);
  await guarded(loadPage);
}

async function startEdit(li) {
  // Read the item's current ETag: the PATCH below is conditional on it.
  const r = await guarded(() => api('GET', `/items/${li.dataset.id}`));
  if (!r) return;
  state.editing.set(li.dataset.id, r.etag);
  li.querySelector('.edit-title').value = r.body.title ?? '';
  li.querySelector('.edit-done').checked = !!r.body.done;
  li.querySelector('.view').hidden = true;
  li.querySelector('.actions').hidden = true;
  li.querySelector('.editor').hidden = false;
  li.querySelector('.edit-title').focus();
  showLast(`Editing ${li.dataset.id} at ETag ${r.etag}`);
}

function stopEdit(li) {
  state.editing.delete(li.dataset.id);
  li.querySelector('.view').hidden = false;
  li.querySelector('.actions').hidden = false;
  li.querySelector('.editor').hidden = true;
}

async function saveEdit(li) {
  const id = li.dataset.id;
  const patch = { title: li.querySelector('.edit-title').value.trim(), done: li.querySelector('.edit-done').checked };
  const r = await guarded(() => api('PATCH', `/items/${id}`, {
    body: patch,
    contentType: 'application/merge-patch+json',
    headers: { 'if-match': state.editing.get(id) || '*' },
  }));
  if (!r) return;
  stopEdit(li);
  showLast(`${r.status} Saved — ETag: ${r.etag}`);
  await guarded(loadPage);
}

async function removeItem(li) {
  const r = await guarded(() => api('DELETE', `/items/${li.dataset.id}`));
  if (!r) return;
  showLast(`${r.status} Deleted ${li.dataset.id}`);
  await guarded(loadPage);
}

async function nextPage() {
  if (!state.nextCursor) return;
  state.cursors[state.page + 1] = state.nextCursor;
  state.page += 1;
  await guarded(loadPage);
}

async function prevPage() {
  if (state.page === 0) return;
  state.page -= 1;
  await guarded(loadPage);
}

/** An event handler; `body[data-busy]` counts the handlers still running (tests wait for 0). */
function action(fn) {
  return async (...args) => {
    const b = document.body.dataset;
    b.busy = String(Number(b.busy || 0) + 1);
    try {
      await fn(...args);
    } finally {
      b.busy = String(Number(b.busy) - 1);
    }
  };
}

async function main() {
  state.config = await guarded(loadConfig);
  if (!state.config) return;
  $('api-url').textContent = state.config.api;
  $('signin-form').addEventListener('submit', action(signIn));
  $('signout').addEventListener('click', action(signOut));
  $('create-form').addEventListener('submit', action(createItem));
  $('reload').addEventListener('click', action(reload));
  $('next').addEventListener('click', action(nextPage));
  $('prev').addEventListener('click', action(prevPage));
  renderSession();
  document.body.dataset.busy = '0';
  document.body.dataset.ready = 'true';
}

main();
