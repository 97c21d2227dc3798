// The one way the pages talk to /api/v1.0: reads the {errno, errmsg, data}
// envelope, turns failures into ApiError (with the server's errmsg), and
// sends a visitor who is not logged in (4101) to the login page and back.
import { t } from './i18n.js';

export const API_BASE = '/api/v1.0';

export class ApiError extends Error {
  constructor(errno, message, status = 0) {
    super(message);
    this.name = 'ApiError';
    this.errno = String(errno);
    this.status = status;
    /** True when the page is already on its way to login.html. */
    this.redirecting = false;
  }
}

/** `next` is only ever a path on this site (no open redirect). */
export function safeNext(value, fallback = 'index.html') {
  if (!value || typeof value !== 'string') return fallback;
  if (!value.startsWith('/') || value.startsWith('//') || value.startsWith('/\\')) return fallback;
  if (/^\/login\.html/.test(value) || /^\/register\.html/.test(value)) return fallback;
  return value;
}

export function loginUrl(next = location.pathname + location.search) {
  return 'login.html?next=' + encodeURIComponent(next);
}

export function redirectToLogin() {
  location.assign(loginUrl());
}

function readEnvelope(status, text, on4101) {
  let env;
  try {
    env = JSON.parse(text);
  } catch {
    throw new ApiError('4501', t('err.badResponse', { status }), status);
  }
  if (!env || typeof env !== 'object' || env.errno === undefined) {
    throw new ApiError('4501', t('err.badResponse', { status }), status);
  }
  const errno = String(env.errno);
  if (errno === '0') return env.data;
  const err = new ApiError(errno, env.errmsg || t('err.unknown'), status);
  if (errno === '4101' && on4101 === 'redirect') {
    err.redirecting = true;
    redirectToLogin();
  }
  throw err;
}

/**
 * Calls the API. `body` (an object) is sent as JSON. `query` (an object)
 * becomes the query string; empty values are left out. Resolves to `data`.
 * on4101: 'redirect' (default) or 'throw'.
 */
export async function api(path, { method = 'GET', body, query, on4101 = 'redirect' } = {}) {
  let url = API_BASE + path;
  if (query) {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== '') qs.set(k, v);
    const s = qs.toString();
    if (s) url += '?' + s;
  }
  const init = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(url, init);
  } catch {
    throw new ApiError('network', t('err.network'));
  }
  const text = await res.text();
  return readEnvelope(res.status, text, on4101);
}

/**
 * Uploads one file as multipart field `field` with XMLHttpRequest so that
 * `onProgress(percent)` can follow the upload. Resolves to `data`.
 */
export function upload(path, field, file, { onProgress } = {}) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', API_BASE + path);
    xhr.withCredentials = true;
    xhr.setRequestHeader('Accept', 'application/json');
    if (onProgress) {
      xhr.upload.addEventListener('progress', (e) => {
        if (e.lengthComputable) onProgress(Math.min(100, Math.round((e.loaded / e.total) * 100)));
      });
    }
    xhr.addEventListener('load', () => {
      try {
        resolve(readEnvelope(xhr.status, xhr.responseText, 'redirect'));
      } catch (err) {
        reject(err);
      }
    });
    xhr.addEventListener('error', () => reject(new ApiError('network', t('err.network'))));
    xhr.addEventListener('abort', () => reject(new ApiError('network', t('err.network'))));
    const form = new FormData();
    form.append(field, file, file.name || 'image');
    xhr.send(form);
  });
}

let sessionPromise = null;

/** The logged-in user `{user_id, name}` or null. One request per page. */
export function getSession({ fresh = false } = {}) {
  if (!sessionPromise || fresh) {
    sessionPromise = api('/session', { on4101: 'throw' }).catch((err) => {
      if (err.errno === '4101') return null;
      throw err;
    });
  }
  return sessionPromise;
}

export function forgetSession() {
  sessionPromise = Promise.resolve(null);
}
