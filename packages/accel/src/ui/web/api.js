// The control-plane API client: the workspace key, and errors as ApiError.
import { btn, h } from './ui.js';

const KEY = 'accel.apiKey';

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

let authNeeded = false;
/** The user closed the key dialog: do not ask again on every refresh, only when they choose to. */
let declined = false;
let asking = null;
const $ = (id) => document.getElementById(id);
const storedKey = () => sessionStorage.getItem(KEY) ?? '';

/** GET /api/health (never needs a key); remembers whether the workspace has one. */
export async function health() {
  const body = await (await fetch('/api/health')).json();
  authNeeded = Boolean(body.auth);
  return body;
}

/** Opens the key dialog once, however many requests wait; true when a key was given. */
export function askKey(problem) {
  asking ??= new Promise((resolve) => {
    const dialog = $('key-dialog'), input = $('key-input');
    $('key-error').textContent = problem ?? '';
    input.value = '';
    dialog.addEventListener('close', () => {
      asking = null;
      const key = input.value.trim();
      input.value = '';
      declined = !(dialog.returnValue === 'ok' && key);
      if (!declined) sessionStorage.setItem(KEY, key);
      resolve(!declined);
    }, { once: true });
    dialog.returnValue = '';
    dialog.showModal();
    input.focus();
  });
  return asking;
}

async function errorOf(res) {
  try {
    const { error } = await res.json();
    if (error?.code) return new ApiError(res.status, error.code, error.message);
  } catch { /* not JSON */ }
  return new ApiError(res.status, `HTTP_${res.status}`, `The server answered ${res.status} ${res.statusText}.`);
}

export function showError(err) {
  const e = err instanceof ApiError ? err : new ApiError(0, 'ERROR', String(err?.message ?? err));
  $('alert').replaceChildren(h('p', { text: `${e.message} (${e.code})` }),
    e.code === 'ACCEL_ERR_UNAUTHENTICATED' ? btn('Enter key', async () => { if (await askKey()) window.dispatchEvent(new HashChangeEvent('hashchange')); }) : '',
    btn('Dismiss', clearError));
}

export const clearError = () => $('alert').replaceChildren();

/** Calls `/api` + path, JSON in and out; errors become ApiError, shown unless `quiet`. */
export async function api(path, opts = {}) {
  const { method = 'GET', json, quiet = false, signal } = opts;
  const fail = (e) => {
    if (!quiet) showError(e);
    return e;
  };
  for (;;) {
    if (authNeeded && !storedKey() && (declined || !(await askKey()))) {
      throw fail(new ApiError(401, 'ACCEL_ERR_UNAUTHENTICATED', 'This workspace needs its API key; none was given.'));
    }
    const headers = new Headers(opts.headers);
    if (storedKey()) headers.set('authorization', `Bearer ${storedKey()}`);
    let body = opts.body;
    if (json !== undefined) {
      headers.set('content-type', 'application/json');
      body = JSON.stringify(json);
    }
    let res;
    try {
      res = await fetch(`/api${path}`, { method, headers, body, signal });
    } catch (err) {
      if (signal?.aborted) throw err;
      throw fail(new ApiError(0, 'ACCEL_UI_UNREACHABLE', `The dashboard could not reach accel ui (${err.message}).`));
    }
    if (res.status === 401) {
      authNeeded = true;
      const e = await errorOf(res);
      sessionStorage.removeItem(KEY);
      if (!declined && (await askKey(`${e.message} (${e.code})`))) continue;
      throw fail(e);
    }
    if (!res.ok) throw fail(await errorOf(res));
    if (opts.raw) return res;
    const text = await res.text();
    return text ? JSON.parse(text) : undefined;
  }
}

/** Follows a job log with fetch, not EventSource, to send the key; resumes after the last chunk until `end`. */
export async function followLog(path, { onLog, onState, signal }) {
  let after = -1;
  for (let idle = 0; idle < 30; idle++) {
    const res = await api(after >= 0 ? `${path}?after=${after}` : path, { raw: true, signal, headers: { accept: 'text/event-stream' } });
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let cut;
      while ((cut = buffer.search(/\r?\n\r?\n/)) >= 0) {
        const { event, data: text } = parseFrame(buffer.slice(0, cut));
        buffer = buffer.slice(cut).replace(/^\r?\n\r?\n/, '');
        if (!text) continue;
        const data = JSON.parse(text);
        if (event === 'log') {
          if (typeof data.seq === 'number') {
            if (data.seq <= after) continue;
            after = data.seq;
          }
          idle = 0;
          onLog?.(data);
        } else if (event === 'state') onState?.(data);
        else if (event === 'end') {
          onState?.(data);
          reader.cancel().catch(() => {});
          return data;
        }
      }
    }
    // Closed before `end` (server restart, proxy timeout): pick up where we were.
    await new Promise((r) => setTimeout(r, 1000));
    if (signal?.aborted) throw new DOMException('aborted', 'AbortError');
  }
  throw new ApiError(0, 'ACCEL_UI_LOG_STALLED', 'The job log keeps closing; reload the page.');
}

function parseFrame(text) {
  let event = 'message';
  const data = [];
  for (const line of text.split(/\r?\n/)) {
    const [, field, value] = /^([^:]*):? ?(.*)$/.exec(line) ?? [];
    if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
  }
  return { event, data: data.join('\n') };
}
