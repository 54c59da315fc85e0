// @ts-check
// Try it: score an image against a service; top-5 as bars, the request's latency, SSD boxes over the preview.
import { api } from './api.js';
import { attempt, field, h, notice, s } from './ui.js';

/** @param {HTMLElement} main @param {string[]} args */
export function render(main, args) {
  const service = h('select', { name: 'service' }, h('option', { value: '', text: 'Loading…' }));
  const file = h('input', { type: 'file', accept: 'image/jpeg,image/png', class: 'file' });
  const fileId = 'try-file';
  file.id = fileId;
  const zone = h('div', { class: 'drop' },
    h('p', { 'aria-hidden': 'true', class: 'drop-hint', text: 'Drop a JPEG or PNG image here' }),
    h('label', { for: fileId, text: 'Image to score' }), file);
  const again = h('button', { type: 'button', text: 'Score again', disabled: true });
  const preview = h('div', { class: 'preview' });
  const result = h('section', { 'aria-label': 'Result', 'aria-live': 'polite', class: 'result' });
  /** @type {Blob | null} */
  let chosen = null;
  /** @type {string | null} */
  let url = null;

  const fill = async () => {
    const services = await api('/services');
    service.replaceChildren(...(services.length
      ? services.map(v => h('option', { value: v.name, selected: v.name === args[0], text: `${v.name} (${v.state})` }))
      : [h('option', { value: '', text: 'No service deployed yet' })]));
  };
  fill().catch(() => {});

  const score = () => attempt(async () => {
    if (!chosen) return;
    if (!service.value) throw new Error('Choose a service first (deploy one on the Services page).');
    result.replaceChildren(h('p', { text: 'Scoring…' }));
    const type = chosen.type === 'image/png' ? 'image/png' : 'image/jpeg';
    try {
      const r = await api(`/services/${encodeURIComponent(service.value)}/score?k=5`, { method: 'POST', body: chosen, headers: { 'content-type': type } });
      show(r);
    } catch (err) {
      result.replaceChildren();
      throw err;
    }
  });

  /** @param {any} r ScoreView */
  const show = (r) => {
    const top = r.top ?? [];
    result.replaceChildren(
      h('h2', { text: `Top ${top.length} classes` }),
      h('ol', { class: 'bars', 'aria-label': `Top ${top.length} classes` }, top.map(t => {
        const pct = `${(t.probability * 100).toFixed(2)}%`;
        return h('li', null,
          h('span', { class: 'lbl', text: t.label }),
          h('span', { class: 'track', 'aria-hidden': 'true' }, h('span', { class: 'fill', style: `width:${Math.max(0, Math.min(100, t.probability * 100)).toFixed(2)}%` })),
          h('span', { class: 'pct', text: ` ${pct}` }));
      })),
      h('p', { class: 'latency', 'aria-label': 'Latency', text: `Latency: ${r.latencyMs.toFixed(1)} ms (accel ui → service → accel ui, over gRPC). Model ${r.model}:${r.version}, image ${r.width}×${r.height}.` }),
      r.detections?.length ? h('p', { text: `${r.detections.length} objects detected; boxes are drawn over the image.` }) : '');
    drawBoxes(r);
    notice(`Scored with ${r.service}: ${top[0] ? `${top[0].label} ${(top[0].probability * 100).toFixed(2)}%` : 'no classes'}, ${r.latencyMs.toFixed(1)} ms.`);
  };

  /** @param {any} r */
  const drawBoxes = (r) => {
    preview.querySelector('svg')?.remove();
    if (!r.detections?.length) return;
    const W = r.width, H = r.height;
    preview.append(s('svg', { class: 'boxes', viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: 'none', role: 'img', 'aria-label': `Detections: ${r.detections.map(d => `${d.label} ${(d.score * 100).toFixed(0)}%`).join(', ')}` },
      r.detections.map(d => {
        const [y0, x0, y1, x1] = d.box;
        const fs = Math.max(12, W / 40);
        return s('g', null,
          s('rect', { x: x0 * W, y: y0 * H, width: (x1 - x0) * W, height: (y1 - y0) * H }),
          s('text', { x: x0 * W + 4, y: Math.max(y0 * H - 4, fs), 'font-size': fs, text: `${d.label} ${(d.score * 100).toFixed(0)}%` }));
      })));
  };

  /** @param {File | undefined} f */
  const choose = (f) => {
    if (!f) return;
    if (!/^image\/(jpeg|png)$/.test(f.type)) {
      attempt(async () => { throw new Error(`${f.name} is not a JPEG or PNG image.`); });
      return;
    }
    chosen = f;
    if (url) URL.revokeObjectURL(url);
    url = URL.createObjectURL(f);
    preview.replaceChildren(h('img', { src: url, alt: `Preview of ${f.name}` }));
    again.disabled = false;
    score();
  };
  file.addEventListener('change', () => choose(file.files?.[0]));
  again.addEventListener('click', score);
  zone.addEventListener('dragover', (ev) => { ev.preventDefault(); zone.classList.add('over'); });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (ev) => {
    ev.preventDefault();
    zone.classList.remove('over');
    choose(ev.dataTransfer?.files?.[0]);
  });

  main.append(h('h1', { text: 'Try it' }),
    h('p', { class: 'lead', text: 'Score an image with a deployed service: the five most likely classes, and for SSD detectors the boxes over the image.' }),
    h('div', { class: 'try' },
      h('div', null, field('Service', service), zone, h('div', { class: 'actions' }, again), preview),
      result));
  return () => { if (url) URL.revokeObjectURL(url); };
}
