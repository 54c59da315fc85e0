// @ts-check
// Services: the list and deploy form; one service's details, keys, log and live metrics.
import { api } from './api.js';
import { lineChart } from './chart.js';
import { logView } from './jobs.js';
import { attempt, badge, confirmDelete, every, field, h, notice, swap, table, when } from './ui.js';

const enc = encodeURIComponent;

/** @param {HTMLElement} main @param {string[]} args @param {URLSearchParams} query */
export function render(main, args, query) {
  if (args[0]) return renderOne(main, args[0]);
  const box = h('div', null, h('p', { text: 'Loading…' }));
  const logBox = h('div');
  let last = '';
  /** @type {(() => void) | undefined} */
  let stopLog;
  const load = async (force = false) => {
    const services = await api('/services');
    const key = JSON.stringify(services);
    if (key === last && !force) return;
    last = key;
    swap(box, table('Deployed services', [
      ['Name', (v) => h('a', { href: `#/services/${enc(v.name)}`, 'aria-label': `Details and metrics of ${v.name}`, text: v.name })],
      ['State', (v) => badge(v.state)],
      ['Scoring URI', (v) => (v.scoringUri ? h('code', { text: v.scoringUri }) : '—')],
      ['gRPC', (v) => (v.grpcUri ? h('code', { text: v.grpcUri }) : '—')],
      ['Image', (v) => v.image],
      ['Compute', (v) => `${v.compute} (${v.target})`],
      ['Auth', (v) => (v.auth ? 'keys' : 'open')],
      ['Actions', (v) => h('div', { class: 'acts' },
        h('a', { class: 'button', href: `#/try/${enc(v.name)}`, 'aria-label': `Try ${v.name}`, text: 'Try it' }),
        h('button', { type: 'button', class: 'danger', 'aria-label': `Delete service ${v.name}`, text: 'Delete',
          onclick: async () => { if (await confirmDelete(`service ${v.name}`, `/services/${enc(v.name)}`, false)) await load(true); } }))],
    ], services, 'No services yet. Deploy an image with the form below.'));
  };
  main.append(h('h1', { text: 'Services' }),
    h('p', { class: 'lead', text: 'Images running on compute targets. States refresh every 3 seconds; open a service for its live metrics.' }),
    box, deployForm(query.get('image') ?? '', (job, name) => {
      stopLog?.();
      const view = logView(job, { title: `Deploying ${name}` });
      stopLog = view.stop;
      logBox.replaceChildren(view.el);
      view.done.then(() => load(true));
      load(true);
    }), logBox);
  const stop = every(3000, load);
  return () => {
    stop();
    stopLog?.();
  };
}

/** @param {string} preselect @param {(job: string, name: string) => void} started */
function deployForm(preselect, started) {
  const name = h('input', { name: 'name', required: true, autocomplete: 'off' });
  const image = h('select', { name: 'image', required: true });
  const compute = h('select', { name: 'compute', required: true });
  const auth = h('input', { type: 'checkbox', name: 'auth', checked: true });
  const form = h('form', { 'aria-labelledby': 'deploy-h', novalidate: true },
    h('h2', { id: 'deploy-h', text: 'Deploy a service' }),
    h('div', { class: 'grid' }, field('Service name', name), field('Image', image), field('Compute target', compute)),
    field('Require API keys', auth, 'The service gets a primary and a secondary key; callers send one as a bearer token.'),
    h('div', { class: 'actions' }, h('button', { class: 'primary', type: 'submit', text: 'Deploy' })));
  const fill = async () => {
    const [images, targets] = await Promise.all([api('/images'), api('/compute')]);
    const ready = images.filter(i => i.state === 'Succeeded');
    image.replaceChildren(...(ready.length ? ready.map(i => h('option', { value: i.id, selected: i.id === preselect, text: i.id })) : [h('option', { value: '', text: 'No built image yet' })]));
    compute.replaceChildren(...(targets.length ? targets.map(c => h('option', { value: c.name, text: `${c.name} (${c.type}, ${c.free} free)` })) : [h('option', { value: '', text: 'No compute target yet' })]));
  };
  fill().catch(() => {});
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    attempt(async () => {
      const res = await api('/services', { method: 'POST', json: { name: name.value.trim(), image: image.value, compute: compute.value, auth: auth.checked } });
      notice(`Deploying ${res.service}: job ${res.job}.`);
      started(res.job, res.service);
    });
  });
  return form;
}

/** @param {any[]} samples */
function summaries(samples) {
  const span = samples.length > 1 ? Math.round((samples[samples.length - 1].t - samples[0].t) / 1000) : 0;
  const last = samples[samples.length - 1];
  const lastLatency = [...samples].reverse().find((p) => typeof p.p50Ms === 'number');
  const ms = (/** @type {number|null} */ v) => (typeof v === 'number' ? `${v.toFixed(1)} ms` : '—');
  const rate = last ? `Latest: ${(last.requestsPerSecond ?? 0).toFixed(2)} requests/s, ${(last.errorsPerSecond ?? 0).toFixed(2)} errors/s; ${samples.length} samples over ${span} s.` : 'No samples yet.';
  const lat = lastLatency ? `Latest latency with requests: p50 ${ms(lastLatency.p50Ms)}, p99 ${ms(lastLatency.p99Ms)}.` : `No requests in the last ${span} s, so no latency yet.`;
  return { rate, lat };
}

/** @param {HTMLElement} main @param {string} name */
function renderOne(main, name) {
  const info = h('div', null, h('p', { text: 'Loading…' }));
  const charts = h('div', { class: 'charts' });
  const extra = h('div');
  const path = `/services/${enc(name)}`;
  const loadInfo = async () => {
    const v = await api(path);
    const row = (/** @type {string} */ k, /** @type {any} */ val) => [h('dt', { text: k }), h('dd', null, val)];
    swap(info, h('dl', { class: 'facts' },
      row('State', badge(v.state)), row('Scoring URI', h('code', { text: v.scoringUri || '—' })), row('gRPC', h('code', { text: v.grpcUri || '—' })),
      row('Image', v.image), row('Compute', `${v.compute} (${v.target})`), row('Auth', v.auth ? 'API keys' : 'open'),
      row('Updated', when(v.updatedAt)), v.errors ? row('Errors', h('span', { class: 'error', text: v.errors })) : []));
  };
  main.append(
    h('p', null, h('a', { href: '#/services', text: '← All services' })),
    h('h1', { text: `Service ${name}` }), info,
    h('div', { class: 'acts' },
      h('a', { class: 'button', href: `#/try/${enc(name)}`, text: 'Try it' }),
      h('button', { type: 'button', text: 'Show keys', onclick: () => attempt(async () => {
        const k = await api(`${path}/keys`);
        extra.replaceChildren(h('section', { 'aria-label': 'Keys' }, h('h2', { text: 'Keys' }), k.primary
          ? h('dl', { class: 'facts' }, h('dt', { text: 'Primary' }), h('dd', null, h('code', { text: k.primary })), h('dt', { text: 'Secondary' }), h('dd', null, h('code', { text: k.secondary })))
          : h('p', { text: 'This service does not require keys.' })));
      }) }),
      h('button', { type: 'button', text: 'Service log', onclick: () => attempt(async () => {
        const { log } = await api(`${path}/logs?tail=100`);
        extra.replaceChildren(h('section', { 'aria-label': 'Service log' }, h('h2', { text: 'Service log (last 100 lines)' }), h('pre', { class: 'log', tabindex: '0', text: log || '(empty)' })));
      }) }),
      h('button', { type: 'button', class: 'danger', text: 'Delete service', onclick: async () => {
        if (await confirmDelete(`service ${name}`, path, false)) location.hash = '#/services';
      } })),
    extra,
    h('section', { 'aria-labelledby': 'metrics-h' }, h('h2', { id: 'metrics-h', text: 'Live metrics' }),
      h('p', { class: 'lead', text: 'From the service\'s /metrics, sampled every 2 seconds while this page is open.' }), charts));
  loadInfo().catch(() => {});
  const stopInfo = every(5000, loadInfo);
  const stopMetrics = every(2000, async () => {
    const m = await api(`${path}/metrics`);
    const { rate, lat } = summaries(m.samples);
    charts.replaceChildren(
      lineChart({ title: 'Requests per second', unit: 'requests/s', summary: rate, samples: m.samples,
        series: [{ name: 'requests/s', key: 'requestsPerSecond', style: 's1' }, { name: 'errors/s', key: 'errorsPerSecond', style: 's3' }] }),
      lineChart({ title: 'Latency', unit: 'ms', summary: lat, samples: m.samples,
        series: [{ name: 'p50', key: 'p50Ms', style: 's1' }, { name: 'p99', key: 'p99Ms', style: 's2' }] }));
  });
  return () => {
    stopInfo();
    stopMetrics();
  };
}
