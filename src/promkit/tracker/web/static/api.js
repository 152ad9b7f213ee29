// The JSON API client. The access token lives in this module's memory only; the refresh
// token is an HttpOnly cookie the page never sees. A page load restores the session with
// one cookie refresh (CSRF: the readable promkit_csrf cookie echoed in X-CSRF-Token).
const SESSION = "/api/v1/web/session";
const state = { accessToken: null, user: null, csrf: null, refreshing: null };
// Raw API keys created in this page (shown once); kept in memory for the snippet page.
export const freshKeys = new Map();

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error) || `request failed (${status})`);
    this.status = status;
    this.hint = body && body.hint;
    this.details = (body && body.details) || [];
  }
}

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)promkit_csrf=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : state.csrf;
}

async function send(method, path, body, headers = {}) {
  const init = { method, headers: { Accept: "application/json", ...headers }, credentials: "same-origin" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  let parsed = null;
  try { parsed = await response.json(); } catch { parsed = null; }
  if (!response.ok) throw new ApiError(response.status, parsed);
  return parsed;
}

function adopt(data) {
  state.accessToken = data.accessToken;
  state.user = data.user;
  state.csrf = data.csrfToken;
  return data.user;
}

export function currentUser() { return state.user; }

export async function signUp(email, password, name) {
  const body = { email, password };
  if (name) body.name = name;
  return send("POST", "/api/v1/auth/signup", body);
}

// Password reset: the request always answers the same generic message (no enumeration);
// the reset answers 401 for a bad, expired or used token. No session is involved.
export async function requestPasswordReset(email) {
  return send("POST", "/api/v1/auth/password-reset-request", { email });
}

export async function resetPassword(token, password) {
  return send("POST", "/api/v1/auth/password-reset", { token, password });
}

export async function signIn(email, password) {
  return adopt((await send("POST", SESSION, { email, password })).data);
}

// One refresh at a time: concurrent 401s wait for the same promise.
export function refresh() {
  if (!state.refreshing) {
    const token = csrfToken();
    state.refreshing = (token
      ? send("POST", `${SESSION}/refresh`, undefined, { "X-CSRF-Token": token }).then((r) => adopt(r.data))
      : Promise.reject(new ApiError(401, { error: "not signed in" })))
      .finally(() => { state.refreshing = null; });
  }
  return state.refreshing;
}

export async function restore() {
  if (!csrfToken()) return null;
  try { return await refresh(); } catch { forget(); return null; }
}

function forget() {
  state.accessToken = null;
  state.user = null;
  state.csrf = null;
  freshKeys.clear();
}

export async function signOut() {
  const token = csrfToken();
  try {
    if (token) await send("POST", `${SESSION}/logout`, undefined, { "X-CSRF-Token": token });
  } finally {
    forget();
  }
}

// An authenticated call: {success, data} -> data; one refresh and retry on 401.
export async function api(method, path, body) {
  const call = () => send(method, path, body, state.accessToken ? { Authorization: `Bearer ${state.accessToken}` } : {});
  try {
    return (await call()).data;
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 401) throw error;
    await refresh();
    return (await call()).data;
  }
}

// Ingestion with a raw API key, as a web site would send it.
export async function ingest(rawKey, metrics) {
  return send("POST", "/api/v1/metrics", { metrics }, { "X-API-Key": rawKey });
}
