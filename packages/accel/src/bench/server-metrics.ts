/**
 * The server's own split of a request (queue, preprocess, inference), read from its Prometheus
 * histograms before and after a level: mean per request = delta _sum / delta _count.
 */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

interface SumCount {
  sum: number;
  count: number;
}

/** Histogram sums and counts of one model (every version and protocol added up). */
export interface ServerTotals {
  queue: SumCount;
  preprocess: SumCount;
  inference: SumCount;
  total: SumCount;
}

/** Mean ms per successful request in the server during one level. */
export interface ServerSplit {
  /** Successful requests the server recorded for the model. */
  requests: number;
  queueMs: number;
  preprocessMs: number;
  inferenceMs: number;
  /** Whole time inside the server (accel_request_duration_seconds). */
  totalMs: number;
}

const PHASES = ['queue', 'preprocess', 'inference'] as const;
const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Samples of Prometheus text exposition format (comments and timestamps dropped). */
export function parsePrometheus(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = LINE.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(LABEL)) labels[l[1]] = l[2].replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    const value = m[3] === 'NaN' ? Number.NaN : Number(m[3].replace(/Inf$/, 'Infinity'));
    if (Number.isNaN(value) && m[3] !== 'NaN') continue;
    out.push({ name: m[1], labels, value });
  }
  return out;
}

/** The model's phase and total histograms, summed over versions and protocols. */
export function serverTotals(text: string, model: string): ServerTotals {
  const zero = (): SumCount => ({ sum: 0, count: 0 });
  const t: ServerTotals = { queue: zero(), preprocess: zero(), inference: zero(), total: zero() };
  for (const s of parsePrometheus(text)) {
    if (s.labels.model !== model || !Number.isFinite(s.value)) continue;
    let slot: SumCount | undefined;
    let field: keyof SumCount | undefined;
    if (s.name.startsWith('accel_request_phase_seconds_')) {
      slot = (PHASES as readonly string[]).includes(s.labels.phase) ? t[s.labels.phase as (typeof PHASES)[number]] : undefined;
      field = fieldOf(s.name, 'accel_request_phase_seconds_');
    } else if (s.name.startsWith('accel_request_duration_seconds_')) {
      slot = t.total;
      field = fieldOf(s.name, 'accel_request_duration_seconds_');
    }
    if (slot && field) slot[field] += s.value;
  }
  return t;
}

function fieldOf(name: string, prefix: string): keyof SumCount | undefined {
  const rest = name.slice(prefix.length);
  return rest === 'sum' || rest === 'count' ? rest : undefined;
}

/** Mean ms per request between two scrapes; null when the server recorded no successful request in between. */
export function serverSplit(before: ServerTotals, after: ServerTotals): ServerSplit | null {
  const mean = (k: keyof ServerTotals): number | undefined => {
    const n = after[k].count - before[k].count;
    return n > 0 ? Math.round(((after[k].sum - before[k].sum) / n) * 1e6) / 1e3 : undefined;
  };
  const requests = after.inference.count - before.inference.count;
  if (requests <= 0) return null;
  return {
    requests,
    queueMs: mean('queue') ?? 0,
    preprocessMs: mean('preprocess') ?? 0,
    inferenceMs: mean('inference') ?? 0,
    totalMs: mean('total') ?? 0,
  };
}

/** GET the metrics page (`headers`: a key, for servers started with --metrics-auth); rejects with a message naming the URL. */
export async function scrape(url: string, timeoutMs = 5_000, headers: Record<string, string> = {}): Promise<string> {
  let res: Response;
  try {
    res = await fetch(url, { headers, signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code;
    throw new Error(`cannot read metrics from ${url}: ${cause ?? (err as Error).message}`);
  }
  const text = await res.text();
  if (!res.ok) throw new Error(`cannot read metrics from ${url}: HTTP ${res.status}`);
  return text;
}
