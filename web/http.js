// The one way to talk to the gateway: JSON in and out, the bearer token, and failures turned into
// ApiError. Errors arrive as google.rpc.Status JSON; BadRequest field violations become
// `violations` so forms can put each message next to its field.
//
// Three failures concern the whole app, not one page, and are announced on `events`:
//   'unauthenticated'  a signed-in call got 401 (the token expired or was revoked)
//   'unavailable'      the gateway could not be reached, or a service is down (503)
//   'throttled'        429: slow down; detail.retryAfter says for how many seconds (or null)

import * as session from './session.js';

export const events = new EventTarget();

export class ApiError extends Error {
  constructor(status, body, retryAfter = null) {
    super(body?.message || `HTTP ${status}`);
    this.status = status; // 0 when the gateway could not be reached at all
    this.violations = fieldViolations(body);
    this.retryAfter = retryAfter; // seconds, when the answer says
  }
}

function fieldViolations(body) {
  const badRequest = (body?.details || []).find((d) => String(d['@type']).endsWith('google.rpc.BadRequest'));
  return (badRequest?.fieldViolations || []).map((v) => ({ field: v.field || '', description: v.description || '' }));
}

/** Seconds to wait: the Retry-After header (seconds or a date), else google.rpc.RetryInfo. */
function retryAfterSeconds(header, body) {
  if (header) {
    const seconds = Number(header);
    if (Number.isFinite(seconds)) return Math.max(0, Math.ceil(seconds));
    const date = Date.parse(header);
    if (!Number.isNaN(date)) return Math.max(0, Math.ceil((date - Date.now()) / 1000));
  }
  const info = (body?.details || []).find((d) => String(d['@type']).endsWith('google.rpc.RetryInfo'));
  const delay = parseFloat(info?.retryDelay);
  return Number.isFinite(delay) ? Math.ceil(delay) : null;
}

function announce(error, { quiet, signedIn }) {
  if (error.status === 401 && signedIn) events.dispatchEvent(new Event('unauthenticated'));
  if (quiet) return;
  if (error.status === 0 || error.status === 503) events.dispatchEvent(new Event('unavailable'));
  if (error.status === 429) events.dispatchEvent(new CustomEvent('throttled', { detail: { retryAfter: error.retryAfter } }));
}

/** The parsed body of a successful answer, or an ApiError (shared by fetch and XHR uploads). */
function settle(status, text, header, options) {
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (status >= 200 && status < 300) return body ?? {};
  const error = new ApiError(status, body, retryAfterSeconds(header('retry-after'), body));
  announce(error, options);
  throw error;
}

function unreachable(options) {
  const error = new ApiError(0, { message: 'Shutter cannot be reached' });
  announce(error, options);
  return error;
}

/** `?a=1&ids=2&ids=3` from an object; arrays repeat the key, empty values are left out. */
export function queryString(query = {}) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    for (const item of [value].flat()) {
      if (item !== undefined && item !== null && item !== '') params.append(key, item);
    }
  }
  const text = params.toString();
  return text ? `?${text}` : '';
}

function authHeaders() {
  const token = session.token();
  return token ? { Authorization: `Bearer ${token}` } : {};
}

/**
 * One JSON call. options: query (object), body (object, sent as JSON), signal (AbortSignal),
 * quiet (true: a 503 or 429 is this caller's business, no app-wide banner).
 */
export async function request(method, path, options = {}) {
  const headers = { Accept: 'application/json', ...authHeaders() };
  const signedIn = 'Authorization' in headers;
  if (options.body !== undefined) headers['Content-Type'] = 'application/json';
  let response;
  try {
    response = await fetch(path + queryString(options.query), {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      signal: options.signal,
    });
  } catch (error) {
    if (error.name === 'AbortError') throw error;
    throw unreachable(options);
  }
  const text = await response.text();
  return settle(response.status, text, (name) => response.headers.get(name), { ...options, signedIn });
}

/** Bytes (a photo) as a Blob; the browser's HTTP cache revalidates them with the gateway's ETags. */
export async function getBlob(path, options = {}) {
  let response;
  try {
    response = await fetch(path, { headers: authHeaders(), signal: options.signal });
  } catch (error) {
    if (error.name === 'AbortError') throw error;
    throw unreachable({ quiet: true });
  }
  if (!response.ok) {
    settle(response.status, await response.text(), (name) => response.headers.get(name), { quiet: true, signedIn: true });
  }
  return response.blob();
}

/**
 * POST a multipart form with XMLHttpRequest, the one browser API that reports upload progress:
 * onProgress(fraction) runs as the bytes leave, from the browser's own upload events.
 */
export function upload(path, form, onProgress, signal) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', path);
    for (const [name, value] of Object.entries(authHeaders())) xhr.setRequestHeader(name, value);
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.upload.addEventListener('progress', (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    });
    xhr.addEventListener('load', () => {
      try {
        resolve(settle(xhr.status, xhr.responseText, (name) => xhr.getResponseHeader(name), { signedIn: true }));
      } catch (error) {
        reject(error);
      }
    });
    xhr.addEventListener('error', () => reject(unreachable({})));
    xhr.addEventListener('abort', () => reject(new DOMException('upload cancelled', 'AbortError')));
    signal?.addEventListener('abort', () => xhr.abort());
    xhr.send(form);
  });
}
