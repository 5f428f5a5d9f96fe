// depot's REST API from the browser: the signed-in user's token and session,
// kept for this tab only (sessionStorage), and JSON requests that turn
// depot's error bodies into ApiError.

const KEYS = {
  token: 'depot.token', username: 'depot.username', admin: 'depot.admin', scope: 'depot.scope', session: 'depot.session',
};

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export const auth = {
  get token() { return sessionStorage.getItem(KEYS.token); },
  get username() { return sessionStorage.getItem(KEYS.username); },
  get session() { return sessionStorage.getItem(KEYS.session); },
  get admin() { return sessionStorage.getItem(KEYS.admin) === 'true'; },
  // A reader's sign-in may only read: the page offers nothing that writes.
  get readOnly() { return sessionStorage.getItem(KEYS.scope) === 'read'; },
  signedIn(username, body) {
    sessionStorage.setItem(KEYS.username, username);
    sessionStorage.setItem(KEYS.token, body.access_token);
    sessionStorage.setItem(KEYS.admin, String(Boolean(body.admin)));
    sessionStorage.setItem(KEYS.scope, body.scope || 'read-write');
  },
  useSession(id) { sessionStorage.setItem(KEYS.session, id); },
  signOut() { Object.values(KEYS).forEach((key) => sessionStorage.removeItem(key)); },
};

// Called when the token is refused (expired): the page goes back to sign-in.
let onSignedOut = () => {};
export function whenSignedOut(callback) { onSignedOut = callback; }

export function authHeaders() {
  const headers = { Authorization: `Bearer ${auth.token}` };
  if (auth.session) headers['X-Session-Id'] = auth.session;
  return headers;
}

export function fileUrl(name, suffix = '') {
  return `/api/v1/files/${encodeURIComponent(name)}${suffix}`;
}

// The error depot sent, or one in the same shape for a body that is not JSON.
export async function errorOf(response) {
  try {
    const body = await response.json();
    if (body && body.error) return new ApiError(response.status, body.error.code, body.error.message);
  } catch { /* not JSON */ }
  return new ApiError(response.status, 'http_' + response.status, `the server answered ${response.status}`);
}

// A request to depot; resolves to the Response when it is 2xx.
export async function request(path, { method = 'GET', json, headers = {}, signedIn = true } = {}) {
  const init = { method, headers: { ...(signedIn ? authHeaders() : {}), ...headers } };
  if (json !== undefined) {
    init.body = JSON.stringify(json);
    init.headers['Content-Type'] = 'application/json';
  }
  const response = await fetch(path, init);
  if (response.ok) return response;
  const error = await errorOf(response);
  if (response.status === 401 && signedIn) {
    auth.signOut();
    onSignedOut('Your sign-in has expired. Please sign in again.');
  }
  throw error;
}

export async function getJson(path, options) {
  return (await request(path, options)).json();
}

export async function signIn(mode, username, password, invite) {
  const json = { username, password };
  if (mode === 'register' && invite) json.invite = invite;
  const body = await getJson(`/api/v1/auth/${mode}`, { method: 'POST', json, signedIn: false });
  auth.signedIn(username, body);
}

// Signing out ends the sign-in on the server too: every token issued to the
// account so far stops working, in this tab and elsewhere.
export async function signOut() {
  if (auth.token) await request('/api/v1/auth/logout', { method: 'POST' }).catch(() => {});
  auth.signOut();
}

// The tab's session: the one it had if it is still alive, else a new one.
export async function ensureSession() {
  if (auth.session) {
    try {
      return await getJson(`/api/v1/sessions/${auth.session}`);
    } catch (error) {
      if (error.status !== 404) throw error;
    }
  }
  const session = await getJson('/api/v1/sessions', { method: 'POST' });
  auth.useSession(session.id);
  return session;
}

// A file saved by the browser, streamed to disk: a download link (a URL
// that opens this one file for a few minutes) stands in for the token, which
// a plain download cannot send.
export async function download(name) {
  const link = await getJson(fileUrl(name, '/link'), { method: 'POST' });
  saveAs(link.url, name);
}

// Has the browser save what `href` points at as `name`.
export function saveAs(href, name) {
  const anchor = Object.assign(document.createElement('a'), { href, download: name });
  document.body.append(anchor);
  anchor.click();
  anchor.remove();
}
