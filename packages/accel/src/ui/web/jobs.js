// Jobs: the list and one job's log, streamed live.
import { api, followLog } from './api.js';
import { attempt, badge, btn, enc, h, liveTable, page, when } from './ui.js';

const FINAL = ['succeeded', 'failed', 'cancelled'];
const cancelJob = (id) => attempt(() => api(`/jobs/${enc(id)}/cancel`, { method: 'POST' }));

export function logView(jobId, title = `Job ${jobId}`) {
  const ctrl = new AbortController();
  const state = h('p', { role: 'status', 'aria-label': 'Job state' }, 'Connecting…');
  const pre = h('pre', { class: 'log', tabindex: '0', 'aria-label': `Log of job ${jobId}` });
  const cancel = btn('Cancel job', () => cancelJob(jobId));
  const el = h('section', { 'aria-label': title }, h('h2', { text: title }), h('div', { class: 'row' }, state, cancel), pre);
  const show = (job) => {
    state.replaceChildren(`${job.kind ?? 'Job'} `, badge(job.state), job.error ? h('span', { class: 'error', text: ` ${job.error}` }) : '');
    cancel.hidden = FINAL.includes(job.state);
  };
  const done = followLog(`/jobs/${enc(jobId)}/log`, {
    signal: ctrl.signal,
    onLog: (c) => {
      const stick = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
      pre.append(c.text);
      if (stick) pre.scrollTop = pre.scrollHeight;
    },
    onState: show,
  }).catch((err) => {
    if (!ctrl.signal.aborted) state.textContent = `Log unavailable: ${err.message}`;
  });
  return { el, done, stop: () => ctrl.abort() };
}

export function render(main, args) {
  if (args[0]) {
    const view = logView(args[0], 'Live log');
    main.append(h('p', null, h('a', { href: '#/jobs', text: '← All jobs' })), h('h1', { text: `Job ${args[0]}` }), view.el);
    return view.stop;
  }
  const list = liveTable({
    ms: 2000,
    get: () => api('/jobs'),
    key: (jobs) => JSON.stringify(jobs.map((j) => [j.id, j.state])),
    caption: 'Jobs, newest first',
    empty: 'No jobs yet.',
    columns: [
      ['Job', (j) => h('a', { href: `#/jobs/${enc(j.id)}`, 'aria-label': `Log of job ${j.id}`, text: j.id })],
      ['Kind', (j) => j.kind],
      ['State', (j) => badge(j.state)],
      ['Inputs', (j) => ['model', 'name', 'image'].filter((k) => typeof j.inputs?.[k] === 'string').map((k) => `${k} ${j.inputs[k]}`).join(', ')],
      ['Created', (j) => when(j.createdAt)],
      ['Ended', (j) => when(j.endedAt)],
      ['Actions', (j) => (FINAL.includes(j.state) ? '' : btn('Cancel', () => cancelJob(j.id).then(list.reload), `Cancel job ${j.id}`))],
    ],
  });
  page(main, 'Jobs', 'Conversions, quantizations, image builds and deploys, refreshed every 2 s.', list.el);
  return list.stop;
}
