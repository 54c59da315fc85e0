// Try it: score an image; top 5 as bars, latency, SSD boxes over the preview.
import { api } from './api.js';
import { attempt, btn, enc, field, h, notice, page, s } from './ui.js';

const pct = (p, digits = 2) => `${(p * 100).toFixed(digits)}%`;

export function render(main, args) {
  const service = h('select', null, h('option', { value: '', text: 'Loading…' }));
  const file = h('input', { type: 'file', accept: 'image/jpeg,image/png', id: 'try-file' });
  const zone = h('div', { class: 'drop' }, h('p', { 'aria-hidden': 'true', class: 'drop-hint', text: 'Drop a JPEG or PNG image here' }), h('label', { for: 'try-file', text: 'Image to score' }), file);
  const again = btn('Score again', () => score());
  again.disabled = true;
  const preview = h('div', { class: 'preview' });
  const result = h('section', { 'aria-label': 'Result', 'aria-live': 'polite' });
  let chosen = null;
  let url = null;

  api('/services').then((services) => service.replaceChildren(...(services.length
    ? services.map((v) => h('option', { value: v.name, selected: v.name === args[0], text: `${v.name} (${v.state})` }))
    : [h('option', { value: '', text: 'No service deployed yet' })]))).catch(() => {});

  const score = () => attempt(async () => {
    if (!chosen) return;
    if (!service.value) throw new Error('Choose a service first.');
    result.replaceChildren(h('p', { text: 'Scoring…' }));
    try {
      show(await api(`/services/${enc(service.value)}/score?k=5`, { method: 'POST', body: chosen, headers: { 'content-type': chosen.type === 'image/png' ? 'image/png' : 'image/jpeg' } }));
    } catch (err) {
      result.replaceChildren();
      throw err;
    }
  });

  const show = (r) => {
    const top = r.top ?? [];
    const found = r.detections ?? [];
    result.replaceChildren(...[
      top.length ? [h('h2', { text: `Top ${top.length} classes` }),
        h('ol', { class: 'bars', 'aria-label': `Top ${top.length} classes` }, top.map((t) => h('li', null,
          h('span', { text: t.label }),
          h('span', { class: 'track', 'aria-hidden': 'true' }, h('span', { class: 'fill', style: `width:${pct(Math.max(0, Math.min(1, t.probability)))}` })),
          h('span', { class: 'pct', text: ` ${pct(t.probability)}` }))))] : '',
      h('p', { class: 'latency', 'aria-label': 'Latency', text: `Latency: ${r.latencyMs.toFixed(1)} ms (accel ui ⇄ service, gRPC). Model ${r.model}:${r.version}, image ${r.width}×${r.height}.` }),
      found.length ? h('h2', { text: `${found.length} objects detected, boxed over the image` }) : ''].flat());
    preview.querySelector('svg')?.remove();
    const W = r.width, H = r.height, fs = Math.max(12, W / 24);
    // Boxes in the image's own pixels, stretched over the preview with it.
    if (found.length) preview.append(s('svg', { class: 'boxes', viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: 'none', role: 'img', 'aria-label': `Detections: ${found.map((d) => `${d.label} ${pct(d.score, 0)}`).join(', ')}` },
      found.map(({ box: [y0, x0, y1, x1], label, score: p }) => s('g', null,
        s('rect', { x: x0 * W, y: y0 * H, width: (x1 - x0) * W, height: (y1 - y0) * H }),
        s('text', { x: x0 * W + 4, y: Math.max(y0 * H - 4, fs), 'font-size': fs, text: `${label} ${pct(p, 0)}` })))));
    notice(`Scored with ${r.service}: ${top[0] ? `${top[0].label} ${pct(top[0].probability)}` : found.length ? `${found.length} objects` : 'no classes'}, ${r.latencyMs.toFixed(1)} ms.`);
  };

  const choose = (f) => {
    if (!f) return;
    if (!/^image\/(jpeg|png)$/.test(f.type)) return attempt(async () => { throw new Error(`${f.name} is not a JPEG or PNG image.`); });
    chosen = f;
    if (url) URL.revokeObjectURL(url);
    url = URL.createObjectURL(f);
    preview.replaceChildren(h('img', { src: url, alt: `Preview of ${f.name}` }));
    again.disabled = false;
    score();
  };
  file.addEventListener('change', () => choose(file.files?.[0]));
  for (const type of ['dragover', 'dragleave', 'drop']) {
    zone.addEventListener(type, (ev) => {
      ev.preventDefault();
      zone.classList.toggle('over', type === 'dragover');
      if (type === 'drop') choose(ev.dataTransfer?.files?.[0]);
    });
  }

  page(main, 'Try it', 'Score an image: the five likeliest classes, or an SSD detector\'s boxes.',
    h('div', { class: 'try' }, h('div', null, field('Service', service), zone, h('div', { class: 'actions' }, again), preview), result));
  return () => { if (url) URL.revokeObjectURL(url); };
}
