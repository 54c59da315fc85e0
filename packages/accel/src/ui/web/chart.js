// A small SVG line chart with axes, a legend (line styles, not only colours) and a text summary.
import { h, s, uid } from './ui.js';

function niceMax(max) {
  if (!(max > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(max));
  return ([1, 2, 2.5, 5, 10].find((m) => m * p >= max) ?? 10) * p;
}

const fmt = (v) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : Number(v.toFixed(2)).toString());

export function lineChart({ title, unit, summary, samples, series }) {
  const W = 560, H = 200, L = 52, R = 12, T = 12, B = 40;
  const now = samples.length ? samples[samples.length - 1].t : Date.now();
  const t0 = Math.min(samples.length ? samples[0].t : now, now - 30_000);
  const values = samples.flatMap((p) => series.map(([, key]) => p[key])).filter((v) => typeof v === 'number');
  const top = niceMax(Math.max(0, ...values));
  const x = t => L + ((t - t0) / (now - t0 || 1)) * (W - L - R);
  const y = v => T + (1 - v / top) * (H - T - B);
  const titleId = uid('chart'), descId = uid('chart');
  let points = 0;
  const lines = series.map(([, key, style]) => {
    let d = '';
    let pen = false;
    const dots = [];
    for (const p of samples) {
      const v = p[key];
      if (typeof v !== 'number') { pen = false; continue; }
      d += `${pen ? 'L' : 'M'}${x(p.t).toFixed(1)},${y(v).toFixed(1)}`;
      pen = true;
      points++;
      dots.push(s('circle', { cx: x(p.t).toFixed(1), cy: y(v).toFixed(1), r: 2.5, class: `dot ${style}` }));
    }
    return s('g', { class: `series ${style}` }, s('path', { d }), dots);
  });
  const ticks = [0, top / 2, top].map((v) => s('g', { class: 'tick' },
    s('line', { x1: L, x2: W - R, y1: y(v), y2: y(v) }),
    s('text', { x: L - 6, y: y(v) + 4, 'text-anchor': 'end', text: fmt(v) })));
  const span = Math.round((now - t0) / 1000);
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-labelledby': titleId, 'aria-describedby': descId, 'data-points': points },
    s('title', { id: titleId, text: title }),
    ticks,
    s('line', { class: 'axis', x1: L, x2: L, y1: T, y2: H - B }),
    s('line', { class: 'axis', x1: L, x2: W - R, y1: H - B, y2: H - B }),
    s('text', { x: L, y: H - B + 16, text: `−${span} s` }),
    s('text', { x: W - R, y: H - B + 16, 'text-anchor': 'end', text: 'now' }),
    s('text', { x: (L + W) / 2, y: H - 6, 'text-anchor': 'middle', class: 'axis-title', text: 'Time' }),
    s('text', { x: 14, y: (T + H - B) / 2, transform: `rotate(-90 14 ${(T + H - B) / 2})`, 'text-anchor': 'middle', class: 'axis-title', text: unit }),
    lines);
  const legend = h('ul', { class: 'legend', 'aria-hidden': 'true' },
    series.map(([name, , style]) => h('li', null, s('svg', { width: 28, height: 10, viewBox: '0 0 28 10' }, s('line', { x1: 0, x2: 28, y1: 5, y2: 5, class: `key ${style}` })), name)));
  return h('figure', { class: 'chart-box' },
    h('figcaption', null, h('strong', { text: title }), legend),
    svg,
    h('p', { id: descId, class: 'summary', text: summary }));
}
