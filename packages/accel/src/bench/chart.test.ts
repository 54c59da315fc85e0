import { describe, expect, it } from 'vitest';
import { escapeXml, niceCeiling, renderChart } from './chart';

/** Tags of an XML document (declaration left out), failing on unbalanced tags or raw `<`/`&` in text and attributes. */
function xmlElements(doc: string): Array<{ name: string; attrs: Record<string, string>; text: string }> {
  const body = doc.replace(/^<\?xml[^?]*\?>\s*/, '');
  const stack: Array<{ name: string; attrs: Record<string, string>; text: string }> = [];
  const all: typeof stack = [];
  const tag = /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>|([^<]+)/gy;
  let m: RegExpExecArray | null;
  let consumed = 0;
  while ((m = tag.exec(body))) {
    consumed = tag.lastIndex;
    const [, close, name, attrText, selfClose, text] = m;
    if (text !== undefined) {
      if (/&(?!(amp|lt|gt|quot|apos);)/.test(text)) throw new Error(`raw & in text: ${text}`);
      if (stack.length) stack[stack.length - 1].text += text;
      else if (text.trim()) throw new Error(`text outside the root: ${text}`);
      continue;
    }
    if (close) {
      const open = stack.pop();
      if (open?.name !== name) throw new Error(`</${name}> closes <${open?.name}>`);
      continue;
    }
    const attrs = Object.fromEntries([...attrText.matchAll(/([\w:-]+)="([^"]*)"/g)].map((a) => [a[1], a[2]]));
    for (const v of Object.values(attrs)) if (/&(?!(amp|lt|gt|quot|apos);)/.test(v)) throw new Error(`raw & in attribute: ${v}`);
    const el = { name, attrs, text: '' };
    all.push(el);
    if (!selfClose) stack.push(el);
  }
  if (consumed !== body.length) throw new Error(`not XML at offset ${consumed}: ${body.slice(consumed, consumed + 40)}`);
  if (stack.length) throw new Error(`unclosed <${stack.map((e) => e.name).join('>, <')}>`);
  return all;
}

const points = [
  { concurrency: 1, imagesPerSec: 80.5, p99Ms: 12.25 },
  { concurrency: 2, imagesPerSec: 150, p99Ms: 14 },
  { concurrency: 4, imagesPerSec: 210.25, p99Ms: 31.5 },
  { concurrency: 8, imagesPerSec: 0, p99Ms: null },
];

describe('bench chart', () => {
  it('is a well-formed SVG with two panels, labelled axes and one point per measured level', () => {
    const svg = renderChart({ title: 'accel bench: resnet<50> & co over kserve-grpc', points });
    const els = xmlElements(svg);
    expect(els[0].name).toBe('svg');
    expect(els[0].attrs.xmlns).toBe('http://www.w3.org/2000/svg');
    const byClass = (c: string) => els.filter((e) => (e.attrs.class ?? '').split(' ').includes(c));
    expect(byClass('title')[0].text).toBe('accel bench: resnet&lt;50&gt; &amp; co over kserve-grpc');
    expect(byClass('panel').map((e) => e.attrs.class)).toEqual(['panel throughput', 'panel latency']);
    expect(byClass('x-label').map((e) => e.text)).toEqual(['concurrency (requests in flight)', 'concurrency (requests in flight)']);
    expect(byClass('y-label').map((e) => e.text)).toEqual(['throughput (images/s)', 'p99 latency (ms)']);
    expect(byClass('x-tick').map((e) => e.text)).toEqual(['1', '2', '4', '8', '1', '2', '4', '8']);
    expect(byClass('axis')).toHaveLength(4);
    expect(byClass('series')).toHaveLength(2);
    // Throughput 0 is drawn; a level without a successful request has no p99 point.
    expect(byClass('point')).toHaveLength(4 + 3);
    expect(byClass('y-tick').slice(0, 6).map((e) => e.text)).toEqual(['0', '50', '100', '150', '200', '250']);
  });

  it('draws a single level and an all-failed run without NaN', () => {
    const one = renderChart({ title: 't', points: [{ concurrency: 16, imagesPerSec: 0, p99Ms: null }] });
    expect(one).not.toMatch(/NaN|Infinity/);
    xmlElements(one);
  });

  it('rounds axis maxima up to 1, 2, 2.5 or 5 x 10^k and escapes XML', () => {
    expect([0, 0.3, 1, 1.2, 2.2, 4, 7, 10, 210.25, 980].map(niceCeiling)).toEqual([1, 0.5, 1, 2, 2.5, 5, 10, 10, 250, 1000]);
    expect(escapeXml(`a<b>&"c'`)).toBe('a&lt;b&gt;&amp;&quot;c&apos;');
  });
});
