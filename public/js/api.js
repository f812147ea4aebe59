/*
 * The REST API (docs/API.md) as the page uses it.
 * api(method, path, body) -> {status, data} never throws; a network
 * failure is status 0 with a server-shaped {"error":{...}} body.
 * upload(path, formData, onProgress) sends a multipart/form-data body
 * (XMLHttpRequest: fetch tells nothing of a body's progress) and answers
 * the same way.
 */

export const PAGE = 20; // items asked for per page of a list (a first view stays small)

let unauthorized = () => {};

// fn() runs on every 401 answer (a session that ended: logged out
// elsewhere, a password change) but those of logging in and registering,
// whose 401 means wrong credentials.
export function onUnauthorized(fn) { unauthorized = fn; }

const NETWORK = Object.freeze({ status: 0, data: { error: { code: 'network', message: 'Network error: server unreachable.' } } });

// An answer's body: JSON, or null.
function parse(text) {
  try { return text ? JSON.parse(text) : null; } catch (e) { return null; }
}

// The 401 hook for an answer of path.
function answered(path, status) {
  if (status === 401 && path !== '/api/login' && path !== '/api/register') unauthorized();
}

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
    answered(path, res.status);
    return { status: res.status, data: parse(await res.text()) };
  } catch (e) {
    return NETWORK;
  }
}

// POSTs form (a FormData) to path; onProgress(fraction sent) as the body
// goes. Returns {done: a promise of {status, data, retryAfter (seconds,
// 0 when not said)}, abort()}; an aborted upload is status 0, code
// "aborted".
export function upload(path, form, onProgress) {
  const xhr = new XMLHttpRequest();
  const done = new Promise((resolve) => {
    xhr.open('POST', path);
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.upload.addEventListener('progress', (e) => {
      if (e.lengthComputable && onProgress) onProgress(e.loaded / e.total);
    });
    xhr.addEventListener('load', () => {
      answered(path, xhr.status);
      resolve({ status: xhr.status, data: parse(xhr.responseText),
        retryAfter: Number(xhr.getResponseHeader('Retry-After')) || 0 });
    });
    xhr.addEventListener('error', () => resolve(NETWORK));
    xhr.addEventListener('abort', () => resolve({ status: 0, data: { error: { code: 'aborted', message: 'Upload cancelled.' } } }));
    xhr.send(form);
  });
  return { done, abort: () => xhr.abort() };
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
