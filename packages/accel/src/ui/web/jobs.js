// @ts-check
// Jobs: the list (refreshed every 2 s) and one job's log, streamed live.
import { api, followLog } from './api.js';
import { attempt, badge, every, h, swap, table, when } from './ui.js';

const FINAL = ['succeeded', 'failed', 'cancelled'];

/**
 * A job's state and live log. Returns the element and a stop function; `done` resolves with the final job.
 * @param {string} jobId @param {{title?: string, logPath?: string}} [o]
 */
export function logView(jobId, o = {}) {
  const ctrl = new AbortController();
  const state = h('p', { class: 'job-state', role: 'status', 'aria-label': 'Job state' }, 'Connecting…');
  const pre = h('pre', { class: 'log', tabindex: '0', 'aria-label': `Log of job ${jobId}` });
  const cancel = h('button', { type: 'button', text: 'Cancel job', onclick: () => attempt(() => api(`/jobs/${encodeURIComponent(jobId)}/cancel`, { method: 'POST' })) });
  /** @param {any} job */
  const show = (job) => {
    state.replaceChildren(h('span', null, `${job.kind ?? 'Job'} `), badge(job.state), job.error ? h('span', { class: 'error', text: ` ${job.error}` }) : '');
    cancel.hidden = FINAL.includes(job.state);
  };
  const el = h('section', { class: 'job', 'aria-label': o.title ?? `Job ${jobId}` },
    h('h2', { text: o.title ?? `Job ${jobId}` }), h('div', { class: 'row' }, state, cancel), pre);
  const done = followLog(o.logPath ?? `/jobs/${encodeURIComponent(jobId)}/log`, {
    signal: ctrl.signal,
    onLog: (c) => {
      const stick = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
      pre.append(c.text);
      if (stick) pre.scrollTop = pre.scrollHeight;
    },
    onState: show,
  }).catch((err) => {
    if (!ctrl.signal.aborted) state.textContent = `Log unavailable: ${err.message}`;
    return undefined;
  });
  return { el, done, stop: () => ctrl.abort() };
}

/** @param {HTMLElement} main @param {string[]} args */
export function render(main, args) {
  if (args[0]) return renderOne(main, args[0]);
  const box = h('div', { 'aria-live': 'off' });
  main.append(h('h1', { text: 'Jobs' }), h('p', { class: 'lead', text: 'Conversions, image builds and deployments. The list refreshes every 2 seconds.' }), box);
  let last = '';
  return every(2000, async () => {
    const jobs = await api('/jobs');
    const key = JSON.stringify(jobs.map(j => [j.id, j.state]));
    if (key === last) return;
    last = key;
    swap(box, table('Jobs, newest first', [
      ['Job', (j) => h('a', { href: `#/jobs/${encodeURIComponent(j.id)}`, 'aria-label': `Log of job ${j.id}`, text: j.id })],
      ['Kind', (j) => j.kind],
      ['State', (j) => badge(j.state)],
      ['Inputs', (j) => summary(j.inputs)],
      ['Created', (j) => when(j.createdAt)],
      ['Ended', (j) => when(j.endedAt)],
    ], jobs, 'No jobs yet. Convert a model, build an image or deploy a service to start one.'));
  });
}

/** @param {Record<string, unknown>} inputs */
function summary(inputs) {
  return ['model', 'name', 'service', 'image'].filter((k) => typeof inputs?.[k] === 'string').map((k) => `${k} ${inputs[k]}`).join(', ') || '—';
}

/** @param {HTMLElement} main @param {string} id */
function renderOne(main, id) {
  const view = logView(id, { title: 'Live log' });
  main.append(h('p', null, h('a', { href: '#/jobs', text: '← All jobs' })), h('h1', { text: `Job ${id}` }), view.el);
  return view.stop;
}
