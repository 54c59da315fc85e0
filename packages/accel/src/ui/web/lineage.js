// @ts-check
// Lineage: source -> converted -> quantized -> image -> service (and compute) as an SVG graph plus a text list.
import { api } from './api.js';
import { h, s } from './ui.js';

const COLUMNS = [
  { title: 'Source', fits: n => n.kind === 'model' && n.stage === 'source' },
  { title: 'Converted', fits: n => n.kind === 'model' && (n.stage === 'converted' || n.stage === 'onnx') },
  { title: 'Quantized', fits: n => n.kind === 'model' && n.stage === 'quantized' },
  { title: 'Image', fits: n => n.kind === 'image' },
  { title: 'Service', fits: n => n.kind === 'service' },
  { title: 'Compute', fits: n => n.kind === 'compute' },
];
const COL_W = 190, NODE_W = 170, NODE_H = 40, ROW_H = 54, TOP = 34;

/** @param {any} n */
function href(n) {
  const name = String(n.ref?.id ?? n.label).split(':')[0];
  return n.kind === 'service' ? `#/services/${encodeURIComponent(name)}` : n.kind === 'image' ? '#/images' : n.kind === 'compute' ? '#/compute' : '#/models';
}

/** @param {{nodes: any[], edges: any[]}} graph */
export function drawLineage(graph) {
  const pos = new Map();
  let rows = 1;
  COLUMNS.forEach((col, c) => {
    const inCol = graph.nodes.filter((n) => col.fits(n) || (c === 1 && n.kind === 'model' && !COLUMNS.some((k) => k.fits(n))));
    inCol.forEach((n, r) => pos.set(n.id, { x: 8 + c * COL_W, y: TOP + r * ROW_H, n }));
    rows = Math.max(rows, inCol.length);
  });
  const width = 8 + COLUMNS.length * COL_W, height = TOP + rows * ROW_H + 4;
  const edges = graph.edges.filter((e) => pos.has(e.from) && pos.has(e.to)).map((e) => {
    let a = pos.get(e.from), b = pos.get(e.to);
    if (a.x > b.x) [a, b] = [b, a];
    return s('line', { class: `edge ${e.relation}`, x1: a.x + NODE_W, y1: a.y + NODE_H / 2, x2: b.x, y2: b.y + NODE_H / 2 });
  });
  const nodes = [...pos.values()].map(({ x, y, n }) => {
    const detail = n.stage ?? n.state ?? '';
    const name = `${n.kind} ${n.ref?.id ?? n.label}${detail ? `, ${detail}` : ''}`;
    const short = String(n.label).length > 22 ? `${String(n.label).slice(0, 21)}…` : String(n.label);
    return s('a', { href: href(n), class: `node ${n.kind} ${String(detail).toLowerCase()}`, 'aria-label': name },
      s('title', { text: name }),
      s('rect', { x, y, width: NODE_W, height: NODE_H, rx: 6 }),
      s('text', { x: x + 8, y: y + 16, class: 'label', text: short }),
      s('text', { x: x + 8, y: y + 32, class: 'detail', text: detail || n.kind }));
  });
  const titleId = `lineage-${Math.random().toString(36).slice(2, 8)}`;
  const svg = s('svg', { class: 'lineage', viewBox: `0 0 ${width} ${height}`, width, height, role: 'group', 'aria-labelledby': titleId },
    s('title', { id: titleId, text: 'Lineage graph' }),
    COLUMNS.map((c, i) => s('text', { x: 8 + i * COL_W, y: 18, class: 'col', text: c.title })),
    edges, nodes);
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  const say = id => { const n = byId.get(id); return n ? `${n.kind} ${n.ref?.id ?? n.label}` : id; };
  const list = h('details', { class: 'as-list' }, h('summary', { text: 'The graph as a list' }),
    graph.edges.length
      ? h('ul', { 'aria-label': 'Lineage links' }, graph.edges.map((e) => h('li', { text: `${say(e.from)} ${e.relation === 'uses' ? 'uses' : 'is derived from'} ${say(e.to)}` })))
      : h('p', { text: 'No links yet.' }));
  if (!graph.nodes.length) return h('p', { class: 'empty', text: 'Nothing registered yet: the graph is empty.' });
  return h('div', { class: 'lineage-box' }, h('div', { class: 'scroll' }, svg), list);
}

/** @param {HTMLElement} box */
export async function loadLineage(box) {
  box.replaceChildren(drawLineage(await api('/lineage')));
}

/** @param {HTMLElement} main */
export function render(main) {
  const box = h('div', null, h('p', { text: 'Loading…' }));
  main.append(h('h1', { text: 'Lineage' }),
    h('p', { class: 'lead', text: 'Where each artifact comes from and what uses it: source → converted → quantized → image → service, and the compute target each service runs on. Each node links to its page.' }),
    box);
  loadLineage(box).catch(() => box.replaceChildren(h('p', { text: 'The lineage could not be loaded.' })));
}
