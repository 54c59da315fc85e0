// @ts-check
// The control-plane API client: adds the workspace key, asks for it when needed, turns error answers into ApiError.

const KEY = 'accel.apiKey';

export class ApiError extends Error {
  /** @param {number} status @param {string} code @param {string} message */
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

let authNeeded = false;
/** The user closed the key dialog: do not ask again on every refresh, only when they choose to. */
let declined = false;
/** @type {Promise<boolean> | null} */
let asking = null;

/** GET /api/health (never needs a key); remembers whether the workspace has one. */
export async function health() {
  const res = await fetch('/api/health');
  const body = await res.json();
  authNeeded = Boolean(body.auth);
  return body;
}

const storedKey = () => sessionStorage.getItem(KEY) ?? '';

/**
 * Opens the key dialog (once, however many requests wait for it). Resolves true when a key was given.
 * @param {string} [problem] why the last key was refused
 */
export function askKey(problem) {
  asking ??= new Promise((resolve) => {
    const dialog = /** @type {HTMLDialogElement} */ (document.getElementById('key-dialog'));
    const input = /** @type {HTMLInputElement} */ (document.getElementById('key-input'));
    /** @type {HTMLElement} */ (document.getElementById('key-error')).textContent = problem ?? '';
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

/** @param {Response} res */
async function errorOf(res) {
  try {
    const body = await res.json();
    if (body?.error?.code) return new ApiError(res.status, body.error.code, body.error.message);
  } catch { /* not JSON */ }
  return new ApiError(res.status, `HTTP_${res.status}`, `The server answered ${res.status} ${res.statusText}.`);
}

/** Shows an error in the page's alert region. @param {unknown} err */
export function showError(err) {
  const el = document.getElementById('alert');
  if (!el) return;
  const e = err instanceof ApiError ? err : new ApiError(0, 'ERROR', String(/** @type {any} */ (err)?.message ?? err));
  const p = document.createElement('p');
  p.textContent = `${e.message} (${e.code})`;
  const close = document.createElement('button');
  close.type = 'button';
  close.textContent = 'Dismiss';
  close.addEventListener('click', () => clearError());
  el.replaceChildren(p, close);
  if (e.code === 'ACCEL_ERR_UNAUTHENTICATED') {
    const again = document.createElement('button');
    again.type = 'button';
    again.textContent = 'Enter key';
    again.addEventListener('click', async () => {
      if (await askKey()) window.dispatchEvent(new HashChangeEvent('hashchange'));
    });
    el.insertBefore(again, close);
  }
}

export function clearError() {
  document.getElementById('alert')?.replaceChildren();
}

/**
 * Calls `/api` + path. JSON in (`json`) and out; errors become ApiError and, unless `quiet`, are shown to the user.
 * @param {string} path
 * @param {{method?: string, json?: unknown, body?: BodyInit, headers?: Record<string,string>, quiet?: boolean, raw?: boolean, signal?: AbortSignal}} [opts]
 * @returns {Promise<any>}
 */
export async function api(path, opts = {}) {
  const { method = 'GET', json, quiet = false, signal } = opts;
  const fail = (/** @type {ApiError} */ e) => {
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
      throw fail(new ApiError(0, 'ACCEL_UI_UNREACHABLE', `The dashboard could not reach accel ui (${/** @type {Error} */ (err).message}).`));
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

/**
 * Follows a job log (`text/event-stream`) with fetch, so the key header can be sent; reconnects after
 * the last seen chunk until the `end` event. Resolves with the final JobRecord.
 * @param {string} path e.g. `/jobs/ID/log`
 * @param {{onLog?: (c: {seq:number,text:string,at:string}) => void, onState?: (job: any) => void, signal?: AbortSignal}} handlers
 */
export async function followLog(path, { onLog, onState, signal }) {
  let after = -1;
  for (let idle = 0; idle < 30; idle++) {
    const query = after >= 0 ? `${path.includes('?') ? '&' : '?'}after=${after}` : '';
    const res = await api(path + query, { raw: true, signal, headers: { accept: 'text/event-stream' } });
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let cut;
      while ((cut = buffer.search(/\r?\n\r?\n/)) >= 0) {
        const frame = parseFrame(buffer.slice(0, cut));
        buffer = buffer.slice(cut).replace(/^\r?\n\r?\n/, '');
        if (!frame.data) continue;
        const data = JSON.parse(frame.data);
        if (frame.event === 'log') {
          if (typeof data.seq === 'number' && data.seq <= after) continue;
          after = typeof data.seq === 'number' ? data.seq : after;
          idle = 0;
          onLog?.(data);
        } else if (frame.event === 'state') onState?.(data);
        else if (frame.event === 'end') {
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
  throw new ApiError(0, 'ACCEL_UI_LOG_STALLED', 'The job log stream kept closing without an end; reload the page to try again.');
}

/** @param {string} text one SSE frame */
function parseFrame(text) {
  const frame = { event: 'message', data: '', id: '' };
  const data = [];
  for (const line of text.split(/\r?\n/)) {
    if (!line || line.startsWith(':')) continue;
    const i = line.indexOf(':');
    const field = i < 0 ? line : line.slice(0, i);
    const value = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
    if (field === 'event') frame.event = value;
    else if (field === 'data') data.push(value);
    else if (field === 'id') frame.id = value;
  }
  frame.data = data.join('\n');
  return frame;
}
