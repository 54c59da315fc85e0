// Lineage as an SVG graph plus a text list.
import { api } from './api.js';
import { h, page, s, uid } from './ui.js';

// Columns by kind, models by stage; a model of an unknown stage goes with the converted ones.
const COLUMNS = ['Source', 'Converted', 'Quantized', 'Image', 'Service', 'Compute'];
const column = (n) => (n.kind === 'model' ? (['source', 'converted', 'quantized'].indexOf(n.stage) + 1 || 2) - 1 : COLUMNS.indexOf(n.kind[0].toUpperCase() + n.kind.slice(1)));
const COL_W = 190, NODE_W = 170, NODE_H = 40, ROW_H = 54, TOP = 34;

const href = (n) => (n.kind === 'service' ? `#/services/${encodeURIComponent(String(n.ref?.id ?? n.label).split(':')[0])}` : `#/${{ image: 'images', compute: 'compute' }[n.kind] ?? 'models'}`);

export function drawLineage(graph) {
  const pos = new Map();
  let rows = 1;
  COLUMNS.forEach((_, c) => {
    const inCol = graph.nodes.filter((n) => column(n) === c);
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
  const titleId = uid('lineage');
  const svg = s('svg', { class: 'lineage', viewBox: `0 0 ${width} ${height}`, width, height, role: 'group', 'aria-labelledby': titleId },
    s('title', { id: titleId, text: 'Lineage graph' }),
    COLUMNS.map((text, i) => s('text', { x: 8 + i * COL_W, y: 18, class: 'col', text })),
    edges, nodes);
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  const say = id => { const n = byId.get(id); return n ? `${n.kind} ${n.ref?.id ?? n.label}` : id; };
  const list = h('details', null, h('summary', { text: 'The graph as a list' }),
    graph.edges.length
      ? h('ul', { 'aria-label': 'Lineage links' }, graph.edges.map((e) => h('li', { text: `${say(e.from)} ${e.relation === 'uses' ? 'uses' : 'is derived from'} ${say(e.to)}` })))
      : h('p', { text: 'No links yet.' }));
  if (!graph.nodes.length) return h('p', { class: 'empty', text: 'Nothing registered yet: the graph is empty.' });
  return h('div', null, h('div', { class: 'scroll' }, svg), list);
}

export async function loadLineage(box) {
  box.replaceChildren(drawLineage(await api('/lineage')));
}

export function render(main) {
  const box = h('div', null, h('p', { text: 'Loading…' }));
  page(main, 'Lineage', 'Where each artifact comes from and what uses it. Each node links to its page.', box);
  loadLineage(box).catch(() => box.replaceChildren(h('p', { text: 'The lineage could not be loaded.' })));
}
