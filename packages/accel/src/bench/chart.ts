/**
 * A small hand-written SVG of a bench run: throughput vs concurrency (left) and p99 latency vs
 * concurrency (right). Concurrency levels are evenly spaced, labelled with their values.
 */

export interface ChartPoint {
  concurrency: number;
  imagesPerSec: number;
  /** Null when no request succeeded at that level: no point is drawn. */
  p99Ms: number | null;
}

export interface ChartInput {
  title: string;
  points: ChartPoint[];
}

const W = 900;
const H = 380;
const PANEL = { width: 340, height: 230, top: 70 };
const LEFTS = [80, 530];
const COLORS = ['#1f77b4', '#d62728'];

export function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/** The smallest "round" number (1, 2, 2.5, 5 x 10^k) at or above v. */
export function niceCeiling(v: number): number {
  if (!(v > 0)) return 1;
  const base = 10 ** Math.floor(Math.log10(v));
  for (const f of [1, 2, 2.5, 5, 10]) if (f * base >= v * (1 - 1e-12)) return f * base;
  return 10 * base;
}

function tickLabel(v: number): string {
  return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(3)));
}

interface Panel {
  cls: string;
  left: number;
  heading: string;
  yLabel: string;
  values: Array<number | null>;
  color: string;
}

function panel(p: Panel, levels: number[]): string {
  const { width, height, top } = PANEL;
  const bottom = top + height;
  const max = niceCeiling(Math.max(0, ...p.values.map((v) => v ?? 0)));
  const inset = 20;
  const x = (i: number) => p.left + (levels.length === 1 ? width / 2 : inset + (i * (width - 2 * inset)) / (levels.length - 1));
  const y = (v: number) => bottom - (v / max) * height;
  const out: string[] = [`<g class="panel ${p.cls}">`];
  out.push(`<text class="panel-title" x="${p.left + width / 2}" y="${top - 14}" text-anchor="middle" font-size="14">${escapeXml(p.heading)}</text>`);
  for (let k = 0; k <= 5; k++) {
    const v = (max * k) / 5;
    out.push(`<line class="grid" x1="${p.left}" y1="${y(v)}" x2="${p.left + width}" y2="${y(v)}" stroke="#ddd"/>`);
    out.push(`<text class="y-tick" x="${p.left - 6}" y="${y(v) + 4}" text-anchor="end" font-size="11">${tickLabel(v)}</text>`);
  }
  levels.forEach((c, i) => out.push(`<text class="x-tick" x="${x(i)}" y="${bottom + 16}" text-anchor="middle" font-size="11">${c}</text>`));
  out.push(`<line class="axis x-axis" x1="${p.left}" y1="${bottom}" x2="${p.left + width}" y2="${bottom}" stroke="#333"/>`);
  out.push(`<line class="axis y-axis" x1="${p.left}" y1="${top}" x2="${p.left}" y2="${bottom}" stroke="#333"/>`);
  out.push(`<text class="axis-label x-label" x="${p.left + width / 2}" y="${bottom + 40}" text-anchor="middle" font-size="12">concurrency (requests in flight)</text>`);
  const cy = top + height / 2;
  out.push(`<text class="axis-label y-label" x="${p.left - 52}" y="${cy}" transform="rotate(-90 ${p.left - 52} ${cy})" text-anchor="middle" font-size="12">${escapeXml(p.yLabel)}</text>`);
  const drawn = p.values.flatMap((v, i) => (v === null ? [] : [{ i, v }]));
  if (drawn.length > 1) {
    out.push(`<polyline class="series" fill="none" stroke="${p.color}" stroke-width="2" points="${drawn.map(({ i, v }) => `${x(i)},${y(v)}`).join(' ')}"/>`);
  }
  for (const { i, v } of drawn) {
    out.push(`<circle class="point" cx="${x(i)}" cy="${y(v)}" r="4" fill="${p.color}"><title>concurrency ${levels[i]}: ${tickLabel(v)}</title></circle>`);
  }
  out.push('</g>');
  return out.join('\n');
}

/** The chart as a standalone SVG document. */
export function renderChart(input: ChartInput): string {
  const levels = input.points.map((p) => p.concurrency);
  const panels: Panel[] = [
    { cls: 'throughput', left: LEFTS[0], heading: 'Throughput', yLabel: 'throughput (images/s)', values: input.points.map((p) => p.imagesPerSec), color: COLORS[0] },
    { cls: 'latency', left: LEFTS[1], heading: 'p99 latency', yLabel: 'p99 latency (ms)', values: input.points.map((p) => p.p99Ms), color: COLORS[1] },
  ];
  return [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text class="title" x="${W / 2}" y="28" text-anchor="middle" font-size="16" font-weight="bold">${escapeXml(input.title)}</text>`,
    ...panels.map((p) => panel(p, levels)),
    '</svg>',
    '',
  ].join('\n');
}
