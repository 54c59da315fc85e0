// DOM helpers shared by the pages.
import { api, ApiError, clearError, showError } from './api.js';

export const enc = encodeURIComponent;

/** An element. Attributes: `text`, `on<event>` handlers, booleans, others as is. */
export const h = (tag, attrs, ...children) => build(document.createElement(tag), attrs, children);

export const s = (tag, attrs, ...children) => build(document.createElementNS('http://www.w3.org/2000/svg', tag), attrs, children);

function build(el, attrs, children) {
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v == null || v === false) continue;
    if (k === 'text') el.textContent = v;
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(9)) if (c != null && c !== false) el.append(c);
  return el;
}

let ids = 0;
export const uid = (prefix) => `${prefix}-${++ids}`;

/** A text input (names and paths: no autocomplete). */
export const input = (attrs) => h('input', { autocomplete: 'off', spellcheck: 'false', ...attrs });

export const select = (values, selected) => h('select', null, values.map((v) => h('option', { value: v, text: v, selected: v === selected })));

/** `label` names a button whose text alone is ambiguous (one per table row). */
export const btn = (text, onclick, label, cls) => h('button', { type: 'button', text, onclick, 'aria-label': label, class: cls });

export const linkBtn = (text, href, label) => h('a', { class: 'button', href, text, 'aria-label': label });

export function field(label, control, hint) {
  control.id ||= uid('f');
  const hintEl = hint ? h('p', { class: 'hint', id: uid('hint'), text: hint }) : null;
  if (hintEl) control.setAttribute('aria-describedby', hintEl.id);
  const lbl = h('label', { for: control.id, text: label });
  const check = control.type === 'checkbox';
  return h('div', { class: check ? 'field check' : 'field' }, check ? [control, lbl] : [lbl, control], hintEl);
}

export function bytes(n) {
  if (!(n > 0)) return '—';
  let i = 0;
  while (n >= 1000 && i < 3) (n /= 1000), i++;
  return `${n.toFixed(i && n < 10 ? 1 : 0)} ${['B', 'KB', 'MB', 'GB'][i]}`;
}

// One formatter for every date: toLocaleString with options builds a new one per call (~1 ms each).
const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
export const when = (iso) => (iso ? dateFormat.format(new Date(iso)) : '—');

export const tagList = (tags) => Object.entries(tags ?? {}).map(([k, v]) => `${k}=${v}`).join(', ') || '—';

/** A state as text plus a mark, so it is not told by colour alone. */
export function badge(state) {
  const kind = /^(succeeded|healthy)$/i.test(state) ? 'ok' : /^(failed|unhealthy|cancelled)$/i.test(state) ? 'bad' : 'busy';
  return h('span', { class: `badge ${kind}` }, h('span', { 'aria-hidden': 'true', text: { ok: '✓', bad: '✕', busy: '◷' }[kind] }), ` ${state}`);
}

/** A table; the first column heads each row. Columns: [title, cell(row)]. */
/** Rows a table shows before "Show all": a thousand rows take the browser a second to lay out. */
const FIRST_ROWS = 100;

/** @param {(() => void) | null} showAll null: every row; else shows the first rows and a button calling it. */
function table(caption, columns, all, empty, showAll) {
  if (!all.length) return h('p', { class: 'empty', text: empty });
  const rows = showAll ? all.slice(0, FIRST_ROWS) : all;
  const more = rows.length < all.length && btn(`Show all ${all.length} rows`, showAll, `Show all ${all.length} rows of ${caption}`);
  return h('div', { class: 'scroll' }, h('table', null, h('caption', { text: rows.length < all.length ? `${caption} (the first ${rows.length} of ${all.length})` : caption }),
    h('thead', null, h('tr', null, columns.map(([t]) => h('th', { scope: 'col', text: t })))),
    h('tbody', null, rows.map((r) => h('tr', null, columns.map(([, cell], i) => {
      const v = cell(r);
      return h(i ? 'td' : 'th', i ? null : { scope: 'row' }, v instanceof Node ? v : String(v ?? '—'));
    }))))), more);
}

/** Replaces a container's content, keeping focus on the control with the same accessible name. */
export function swap(box, node) {
  const active = document.activeElement;
  const name = (el) => el.getAttribute('aria-label') ?? el.textContent;
  const key = active && box.contains(active) ? name(active) : null;
  box.replaceChildren(node);
  if (key) ([...box.querySelectorAll('button, a, input, select')].find((el) => name(el) === key))?.focus();
}

/** A table reloaded every `ms`, redrawn only when `key(rows)` changed: no flicker, focus kept. */
export function liveTable({ ms, get, caption, columns, empty, key = JSON.stringify, changed }) {
  const el = h('div', null, h('p', { text: 'Loading…' }));
  let last = '';
  let all = false;
  const load = async (force = false) => {
    const rows = await get();
    const k = key(rows);
    if (k === last && !force) return;
    last = k;
    swap(el, table(caption, columns, rows, empty, all ? null : () => ((all = true), load(true))));
    await changed?.(rows);
  };
  return { el, stop: every(ms, load), reload: () => load(true).catch(() => {}) };
}

export const notice = (text) => (document.getElementById('notice').textContent = text);

/** Calls `fn` now and every `ms` (0: once), never two at once; returns a stop function. */
export function every(ms, fn) {
  let stopped = false;
  let timer;
  const tick = async () => {
    try {
      await fn();
    } catch { /* api() has shown it */ }
    if (!stopped && ms) timer = setTimeout(tick, ms);
  };
  tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

const errText = (err) => (err instanceof ApiError ? `${err.message} (${err.code})` : String(err?.message ?? err));

/** A titled form whose OK button is disabled while `submit()` runs (no double submits). */
function form(title, body, ok, submit, cancel) {
  const id = uid('form');
  const okBtn = h('button', { class: 'primary', type: 'submit', text: ok });
  return h('form', { 'aria-labelledby': id, novalidate: true, onsubmit: async (ev) => {
    ev.preventDefault();
    okBtn.disabled = true;
    await submit().finally(() => (okBtn.disabled = false));
  } }, h('h2', { id, text: title }), body, h('div', { class: 'actions' }, okBtn, cancel));
}

/** A modal form: an error keeps it open, shown in it. Resolves with submit's result, or undefined when cancelled. */
export function formDialog({ title, fields, ok, submit, intro }) {
  return new Promise((resolve) => {
    const error = h('p', { class: 'error', role: 'alert' });
    let result;
    const f = form(title, [intro ? h('p', { text: intro }) : null, error, fields], ok, async () => {
      error.textContent = '';
      try {
        result = await submit();
        dialog.close();
      } catch (err) {
        error.textContent = errText(err);
      }
    }, btn('Cancel', () => dialog.close()));
    const dialog = h('dialog', { 'aria-labelledby': f.getAttribute('aria-labelledby'), onclose: () => { dialog.remove(); resolve(result); } }, f);
    document.body.append(dialog);
    dialog.showModal();
  });
}

/** A dialog that starts a job, then the job's live log. */
export async function jobDialog(o, what) {
  clearError();
  const r = await formDialog(o);
  if (!r?.job) return;
  notice(`${what}: job ${r.job}.`);
  location.hash = `#/jobs/${enc(r.job)}`;
}

/** A page's form: errors go to the page's alert region. */
export const pageForm = (title, body, ok, submit) => form(title, body, ok, () => attempt(submit));

const refText = (ref) => `${ref.kind} ${ref.id}`;

/** Delete with confirmation: a dry run lists in order everything that would go. True when deleted. */
export async function confirmDelete(what, path, cascadable = true) {
  clearError();
  const q = cascadable ? '?cascade=true' : '';
  let plan;
  try {
    plan = await api(`${path}${q ? `${q}&` : '?'}dryRun=true`, { method: 'DELETE' });
  } catch {
    return false;
  }
  const refs = plan?.wouldDelete ?? [];
  const many = refs.length > 1;
  const done = await formDialog({
    title: `Delete ${what}?`,
    intro: many ? `This also deletes what depends on it. In this order, ${refs.length} items go:` : 'This deletes:',
    fields: [h('ol', { class: 'plan', 'aria-label': 'What would be deleted, in order' }, refs.map((r) => h('li', { text: refText(r) })))],
    ok: many ? `Delete ${refs.length} items` : 'Delete',
    submit: () => api(path + q, { method: 'DELETE', quiet: true }),
  });
  if (!done) return false;
  notice(`Deleted ${(done.deleted ?? refs).map(refText).join(', ')}.`);
  return true;
}

export const delBtn = (what, path, after, cascadable) =>
  btn('Delete', async () => { if (await confirmDelete(what, path, cascadable)) await after(); }, `Delete ${what}`, 'danger');

/** Runs an action, showing an error instead of throwing (api() shows its own). */
export async function attempt(fn) {
  try {
    clearError();
    await fn();
  } catch (err) {
    if (!(err instanceof ApiError)) showError(err);
  }
}

/** `1/255`, `0.5` -> number; empty -> undefined. */
export function num(text) {
  const t = text.trim();
  if (!t) return undefined;
  const m = /^(-?[\d.]+)\s*\/\s*([\d.]+)$/.exec(t);
  const n = m ? Number(m[1]) / Number(m[2]) : Number(t);
  if (!Number.isFinite(n)) throw new Error(`"${text}" is not a number.`);
  return n;
}

export const words = (text) => text.split(/[,\n]/).map((w) => w.trim()).filter(Boolean);

/** A control's value or words; undefined when empty, so that JSON leaves it out. */
export const val = (el) => el.value.trim() || undefined;
export const list = (el) => (words(el.value).length ? words(el.value) : undefined);

export const page = (main, title, lead, ...content) => main.append(h('h1', { text: title }), h('p', { class: 'lead', text: lead }), ...content);

export function pairs(text) {
  const out = {};
  for (const pair of words(text)) {
    const i = pair.indexOf('=');
    if (i <= 0) throw new Error(`Tags are key=value pairs; "${pair}" is not.`);
    out[pair.slice(0, i).trim()] = pair.slice(i + 1).trim();
  }
  return out;
}
