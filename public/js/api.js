/*
 * The REST API (docs/API.md) as the page uses it.
 * api(method, path, body) -> {status, data} never throws; a network
 * failure is status 0 with a server-shaped {"error":{...}} body.
 */

export const PAGE = 20; // items asked for per page of a list (a first view stays small)

let unauthorized = () => {};

// fn() runs on every 401 answer (a session that ended: logged out
// elsewhere, a password change) but those of logging in and registering,
// whose 401 means wrong credentials.
export function onUnauthorized(fn) { unauthorized = fn; }

export async function api(method, path, body) {
  const opts = { method, credentials: 'same-origin', cache: 'no-store',
                 headers: { Accept: 'application/json' } };
  // POST/PUT/PATCH must say JSON even without a body (docs/API.md).
  if (body !== undefined || method === 'POST' || method === 'PUT' || method === 'PATCH') {
    opts.headers['Content-Type'] = 'application/json';
  }
  if (body !== undefined) opts.body = JSON.stringify(body);
  try {
    const res = await fetch(path, opts);
    if (res.status === 401 && path !== '/api/login' && path !== '/api/register') unauthorized();
    const text = await res.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { /* not JSON */ }
    return { status: res.status, data };
  } catch (e) {
    return { status: 0, data: { error: { code: 'network', message: 'Network error: server unreachable.' } } };
  }
}

export const ok = (r) => r.status >= 200 && r.status < 300;
export const errorMessage = (r) => (r.data && r.data.error && r.data.error.message) || `Request failed (HTTP ${r.status}).`;
export const itemsOf = (r) => (r.data && r.data.items) || [];

// src with the parameters that are not null/undefined added to its query.
export function withQuery(src, params) {
  const q = Object.entries(params).filter(([, v]) => v != null)
    .map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&');
  return q ? `${src}${src.includes('?') ? '&' : '?'}${q}` : src;
}
