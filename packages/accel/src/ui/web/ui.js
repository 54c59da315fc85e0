// @ts-check
// Small DOM helpers shared by the pages: element builders, tables, forms in dialogs, delete confirmation.
import { api, ApiError, clearError, showError } from './api.js';

const SVG_NS = 'http://www.w3.org/2000/svg';

/**
 * Builds an element. Attributes: `text`, `class`, `on<event>` handlers, booleans, anything else as an attribute.
 * @param {string} tag @param {Record<string, any> | null} [attrs] @param {...(Node|string|null|undefined|false)} children
 * @returns {any}
 */
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

/** The same, for SVG elements. @param {string} tag @param {Record<string, any> | null} [attrs] @param {...(Node|string|null|undefined|false)} children @returns {any} */
export function s(tag, attrs, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

/** @param {Element} el @param {Record<string, any> | null | undefined} attrs @param {any[]} children */
function build(el, attrs, children) {
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'text') el.textContent = String(v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

let ids = 0;
/** A unique element id. @param {string} prefix */
export const uid = (prefix) => `${prefix}-${++ids}`;

/** A labelled form control. @param {string} label @param {HTMLElement} control @param {string} [hint] */
export function field(label, control, hint) {
  control.id ||= uid('f');
  const hintEl = hint ? h('p', { class: 'hint', id: uid('hint'), text: hint }) : null;
  if (hintEl) control.setAttribute('aria-describedby', hintEl.id);
  const isCheck = control instanceof HTMLInputElement && control.type === 'checkbox';
  return isCheck
    ? h('div', { class: 'field check' }, control, h('label', { for: control.id, text: label }), hintEl)
    : h('div', { class: 'field' }, h('label', { for: control.id, text: label }), control, hintEl);
}

/** @param {number} n bytes */
export function bytes(n) {
  if (!Number.isFinite(n) || n <= 0) return '—';
  const units = ['B', 'KB', 'MB', 'GB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) (n /= 1000), i++;
  return `${n.toFixed(i && n < 10 ? 1 : 0)} ${units[i]}`;
}

/** @param {string | null | undefined} iso */
export function when(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  return d.toLocaleString(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

/** @param {Record<string,string>} tags */
export const tagList = (tags) => Object.entries(tags ?? {}).map(([k, v]) => `${k}=${v}`).join(', ') || '—';

/** A state as text plus a shape, so it is not told by colour alone. @param {string} state */
export function badge(state) {
  const kind = /^(succeeded|healthy)$/i.test(state) ? 'ok' : /^(failed|unhealthy|cancelled)$/i.test(state) ? 'bad' : 'busy';
  const mark = kind === 'ok' ? '✓' : kind === 'bad' ? '✕' : '◷';
  return h('span', { class: `badge ${kind}` }, h('span', { 'aria-hidden': 'true', text: mark }), ` ${state}`);
}

/**
 * A table. Columns: [title, cell(row)]. Empty: the `empty` text.
 * @template T @param {string} caption @param {Array<[string, (row: T) => any]>} columns @param {T[]} rows @param {string} empty
 */
export function table(caption, columns, rows, empty) {
  if (!rows.length) return h('p', { class: 'empty', text: empty });
  return h('div', { class: 'scroll' },
    h('table', null,
      h('caption', { text: caption }),
      h('thead', null, h('tr', null, columns.map(([t]) => h('th', { scope: 'col', text: t })))),
      h('tbody', null, rows.map((r) => h('tr', null, columns.map(([, cell], i) => {
        const v = cell(r);
        return h(i === 0 ? 'th' : 'td', i === 0 ? { scope: 'row' } : null, v instanceof Node ? v : String(v ?? '—'));
      }))))));
}

/** Replaces a container's content, keeping focus on the control with the same accessible name. @param {Element} box @param {Node} node */
export function swap(box, node) {
  const active = document.activeElement;
  const key = active && box.contains(active) ? active.getAttribute('aria-label') ?? active.textContent : null;
  box.replaceChildren(node);
  if (key) {
    for (const el of box.querySelectorAll('button, a, input, select')) {
      if ((el.getAttribute('aria-label') ?? el.textContent) === key) return /** @type {HTMLElement} */ (el).focus();
    }
  }
}

/** Says something politely (status region). @param {string} text */
export function notice(text) {
  const el = document.getElementById('notice');
  if (el) el.textContent = text;
}

/**
 * Calls `fn` now and every `ms`, never two at once; returns a stop function.
 * @param {number} ms @param {() => Promise<unknown> | unknown} fn
 */
export function every(ms, fn) {
  let stopped = false;
  /** @type {any} */
  let timer;
  const tick = async () => {
    try {
      await fn();
    } catch { /* shown by api() */ }
    if (!stopped) timer = setTimeout(tick, ms);
  };
  tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

/**
 * A modal form. `submit(form)` runs on the OK button; an error keeps the dialog open and is shown in it.
 * Resolves with submit's result, or undefined when cancelled.
 * @template T
 * @param {{title: string, fields: Node[], ok: string, submit: (form: HTMLFormElement) => Promise<T>, intro?: Node | string}} o
 * @returns {Promise<T | undefined>}
 */
export function formDialog({ title, fields, ok, submit, intro }) {
  return new Promise((resolve) => {
    const titleId = uid('dlg');
    const error = h('p', { class: 'error', role: 'alert' });
    const okBtn = h('button', { class: 'primary', type: 'submit', text: ok });
    const form = h('form', { method: 'dialog' },
      h('h2', { id: titleId, text: title }),
      intro ? (typeof intro === 'string' ? h('p', { text: intro }) : intro) : null,
      error,
      fields,
      h('div', { class: 'actions' }, okBtn, h('button', { type: 'button', text: 'Cancel', onclick: () => dialog.close() })));
    const dialog = h('dialog', { 'aria-labelledby': titleId }, form);
    let result;
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      error.textContent = '';
      okBtn.disabled = true;
      try {
        result = await submit(form);
        dialog.close();
      } catch (err) {
        error.textContent = err instanceof ApiError ? `${err.message} (${err.code})` : String(/** @type {any} */ (err)?.message ?? err);
      } finally {
        okBtn.disabled = false;
      }
    });
    dialog.addEventListener('close', () => {
      dialog.remove();
      resolve(result);
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

/** @param {{kind: string, id: string}} ref */
export const refText = (ref) => `${ref.kind} ${ref.id}`;

/**
 * Delete with confirmation: a dry run first, listing in order everything that would go, then the delete.
 * Resolves true when deleted.
 * @param {string} what e.g. `model nsfw:1` @param {string} path API path of the artifact @param {boolean} [cascadable]
 */
export async function confirmDelete(what, path, cascadable = true) {
  clearError();
  const q = cascadable ? '?dryRun=true&cascade=true' : '?dryRun=true';
  let plan;
  try {
    plan = await api(path + q, { method: 'DELETE' });
  } catch {
    return false;
  }
  const refs = plan?.wouldDelete ?? [];
  const done = await formDialog({
    title: `Delete ${what}?`,
    intro: refs.length > 1 ? `This also deletes what depends on it. In this order, ${refs.length} items go:` : 'This deletes:',
    fields: [h('ol', { class: 'plan', 'aria-label': 'What would be deleted, in order' }, refs.map((r) => h('li', { text: refText(r) })))],
    ok: refs.length > 1 ? `Delete ${refs.length} items` : 'Delete',
    submit: () => api(path + (cascadable ? '?cascade=true' : ''), { method: 'DELETE', quiet: true }),
  });
  if (!done) return false;
  notice(`Deleted ${(done.deleted ?? refs).map(refText).join(', ')}.`);
  return true;
}

/** Runs an action, showing an API error to the user instead of throwing. @param {() => Promise<unknown>} fn */
export async function attempt(fn) {
  try {
    clearError();
    await fn();
  } catch (err) {
    if (!(err instanceof ApiError)) showError(err);
  }
}

/** `1/255`, `0.5` -> number; empty -> undefined. @param {string} text */
export function num(text) {
  const t = text.trim();
  if (!t) return undefined;
  const m = /^(-?[\d.]+)\s*\/\s*([\d.]+)$/.exec(t);
  const n = m ? Number(m[1]) / Number(m[2]) : Number(t);
  if (!Number.isFinite(n)) throw new Error(`"${text}" is not a number.`);
  return n;
}

/** Comma- or line-separated words. @param {string} text */
export const words = (text) => text.split(/[,\n]/).map((w) => w.trim()).filter(Boolean);
