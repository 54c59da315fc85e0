// Services: list and deploy form; one service's details, keys, log and live metrics.
import { api } from './api.js';
import { lineChart } from './chart.js';
import { logView } from './jobs.js';
import { attempt, badge, btn, confirmDelete, delBtn, enc, every, field, formDialog, h, input, linkBtn, liveTable, notice, page, pageForm, swap, when } from './ui.js';

const code = (text, label) => (text ? h('code', { text, 'aria-label': label }) : '—');

export function render(main, args, query) {
  if (args[0]) return renderOne(main, args[0]);
  const logBox = h('div');
  let stopLog;
  const list = liveTable({
    ms: 3000,
    get: () => api('/services'),
    caption: 'Deployed services',
    empty: 'No services yet: deploy an image below.',
    columns: [
      ['Name', (v) => h('a', { href: `#/services/${enc(v.name)}`, 'aria-label': `Details and metrics of ${v.name}`, text: v.name })],
      ['State', (v) => badge(v.state)],
      ['Scoring URI', (v) => code(v.scoringUri)],
      ['gRPC', (v) => code(v.grpcUri)],
      ['Image', (v) => v.image],
      ['Compute', (v) => `${v.compute} (${v.target})`],
      ['Auth', (v) => (v.auth ? 'keys' : 'open')],
      ['Actions', (v) => h('div', { class: 'acts' }, linkBtn('Try it', `#/try/${enc(v.name)}`, `Try ${v.name}`), delBtn(`service ${v.name}`, `/services/${enc(v.name)}`, list.reload, false))],
    ],
  });
  page(main, 'Services', 'Images running on compute targets, refreshed every 3 s. Open one for its keys, log and metrics.', list.el, deployForm(query.get('image') ?? '', (job, name) => {
      stopLog?.();
      const view = logView(job, `Deploying ${name}`);
      stopLog = view.stop;
      logBox.replaceChildren(view.el);
      view.done.then(list.reload);
      list.reload();
    }), logBox);
  return () => {
    list.stop();
    stopLog?.();
  };
}

function deployForm(preselect, started) {
  const name = input({ required: true });
  const [image, compute] = [1, 2].map(() => h('select', { required: true }));
  const auth = h('input', { type: 'checkbox', checked: true });
  const options = (xs, none, f) =>
    xs.length ? xs.map((x) => h('option', { value: f(x)[0], text: f(x)[1], selected: f(x)[0] === preselect })) : [h('option', { value: '', text: none })];
  (async () => {
    const [images, targets] = await Promise.all([api('/images'), api('/compute')]);
    image.replaceChildren(...options(images.filter((i) => i.state === 'Succeeded'), 'No built image yet', (i) => [i.id, i.id]));
    compute.replaceChildren(...options(targets, 'No compute target yet', (c) => [c.name, `${c.name} (${c.type}, ${c.free} free)`]));
  })().catch(() => {});
  return pageForm('Deploy a service', [
    h('div', { class: 'grid' }, field('Service name', name), field('Image', image), field('Compute target', compute)),
    field('Require API keys', auth, 'A primary and a secondary key; callers send one as a bearer token.'),
  ], 'Deploy', async () => {
    const json = { name: name.value.trim(), image: image.value, compute: compute.value, auth: auth.checked };
    const res = await api('/services', { method: 'POST', json });
    notice(`Deploying ${res.service}: job ${res.job}.`);
    started(res.job, res.service);
  });
}

function summaries(samples) {
  const span = samples.length > 1 ? Math.round((samples[samples.length - 1].t - samples[0].t) / 1000) : 0;
  const last = samples[samples.length - 1];
  const lat = [...samples].reverse().find((p) => typeof p.p50Ms === 'number');
  const ms = (v) => (typeof v === 'number' ? `${v.toFixed(1)} ms` : '—');
  return {
    rate: last ? `Latest: ${(last.requestsPerSecond ?? 0).toFixed(2)} requests/s, ${(last.errorsPerSecond ?? 0).toFixed(2)} errors/s; ${samples.length} samples in ${span} s.` : 'No samples yet.',
    lat: lat ? `Latest: p50 ${ms(lat.p50Ms)}, p99 ${ms(lat.p99Ms)}.` : `No requests in ${span} s, so no latency.`,
  };
}

function renderOne(main, name) {
  const info = h('div', null, h('p', { text: 'Loading…' }));
  const charts = h('div', { class: 'charts' });
  const extra = h('div');
  const path = `/services/${enc(name)}`;
  const facts = (rows) => h('dl', { class: 'facts' }, rows.map(([k, v]) => [h('dt', { text: k }), h('dd', null, v)]));
  const loadInfo = async () => {
    const v = await api(path);
    swap(info, facts([['State', badge(v.state)], ['Scoring URI', code(v.scoringUri)], ['gRPC', code(v.grpcUri)], ['Image', v.image],
      ['Compute', `${v.compute} (${v.target})`], ['Auth', v.auth ? 'API keys' : 'open'], ['Updated', when(v.updatedAt)], ...(v.errors ? [['Errors', h('span', { class: 'error', text: v.errors })]] : [])]));
  };
  const KEYS = { primary: 'Primary', secondary: 'Secondary' };
  const showKeys = (k, fresh) => extra.replaceChildren(h('section', { 'aria-label': 'Keys' }, h('h2', { text: 'Keys' }), k.primary
    ? [fresh ? h('p', { class: 'notice', text: `This is the new ${fresh} key: give it to the callers of the old one, refused from now on.` }) : null,
      facts(Object.entries(KEYS).map(([w, W]) => [`${W}${w === fresh ? ' (new)' : ''}`, code(k[w], `${W} key`)])),
      h('div', { class: 'acts' }, Object.keys(KEYS).map((w) => btn(`Regenerate ${w} key`, () => regen(w))))]
    : h('p', { text: 'This service does not require keys.' })));
  const regen = async (which) => {
    const k = await formDialog({
      title: `Regenerate the ${which} key of ${name}?`,
      intro: `Callers sending the current ${which} key are refused once it is replaced; the other key keeps working.`,
      ok: `Regenerate ${which} key`,
      fields: [],
      submit: () => api(`${path}/regen-key`, { method: 'POST', json: { key: which }, quiet: true }),
    });
    if (!k) return;
    showKeys(k, which);
    notice(`Regenerated the ${which} key of ${name}.`);
  };
  main.append(h('p', null, h('a', { href: '#/services', text: '← All services' })), h('h1', { text: `Service ${name}` }), info,
    h('div', { class: 'acts' },
      linkBtn('Try it', `#/try/${enc(name)}`),
      btn('Show keys', () => attempt(async () => showKeys(await api(`${path}/keys`)))),
      btn('Service log', () => attempt(async () => {
        const { log } = await api(`${path}/logs?tail=100`);
        extra.replaceChildren(h('section', { 'aria-label': 'Service log' }, h('h2', { text: 'Service log (last 100 lines)' }), h('pre', { class: 'log', tabindex: '0', text: log || '(empty)' })));
      })),
      btn('Delete service', async () => { if (await confirmDelete(`service ${name}`, path, false)) location.hash = '#/services'; }, undefined, 'danger')),
    extra,
    h('section', { 'aria-labelledby': 'metrics-h' }, h('h2', { id: 'metrics-h', text: 'Live metrics' }),
      h('p', { class: 'lead', text: 'From the service\'s /metrics, every 2 s while this page is open.' }), charts));
  const stopInfo = every(5000, loadInfo);
  const stopMetrics = every(2000, async () => {
    const { samples } = await api(`${path}/metrics`);
    const { rate, lat } = summaries(samples);
    charts.replaceChildren(
      lineChart({ title: 'Requests per second', unit: 'requests/s', summary: rate, samples, series: [['requests/s', 'requestsPerSecond', 's1'], ['errors/s', 'errorsPerSecond', 's3']] }),
      lineChart({ title: 'Latency', unit: 'ms', summary: lat, samples, series: [['p50', 'p50Ms', 's1'], ['p99', 'p99Ms', 's2']] }));
  });
  return () => {
    stopInfo();
    stopMetrics();
  };
}
