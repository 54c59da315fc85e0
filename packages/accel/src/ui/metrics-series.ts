import { parsePrometheus } from '../bench/server-metrics';

/**
 * Request rates and latency quantiles of a service over time, derived from consecutive scrapes of
 * its Prometheus /metrics (protocols/metrics.ts): `accel_requests_total` by status and the
 * `accel_request_duration_seconds` histogram (successful requests), summed over models,
 * versions and protocols.
 */

/** One bucket of a cumulative histogram: requests that took at most `le` seconds. */
export interface Bucket {
  le: number;
  count: number;
}

/** The counters of one scrape. */
export interface Totals {
  requests: number;
  /** Requests whose status was not OK. */
  errors: number;
  /** Cumulative buckets by ascending `le`, the last one `+Inf`. */
  buckets: Bucket[];
  /** The server process's start (s since epoch), when exposed: a new value means its counters restarted. */
  startTime?: number;
}

export interface Scrape {
  /** ms since epoch. */
  t: number;
  totals: Totals;
}

export interface MetricsSample {
  t: number;
  requestsPerSecond: number;
  errorsPerSecond: number;
  /** null when no request succeeded in the interval. */
  p50Ms: number | null;
  p99Ms: number | null;
}

const DURATION_BUCKET = 'accel_request_duration_seconds_bucket';
const START_TIME = 'accel_process_process_start_time_seconds';

/** The totals of a /metrics text. */
export function readTotals(text: string): Totals {
  let requests = 0;
  let errors = 0;
  let startTime: number | undefined;
  const byLe = new Map<number, number>();
  for (const s of parsePrometheus(text)) {
    if (!Number.isFinite(s.value)) continue;
    if (s.name === 'accel_requests_total') {
      requests += s.value;
      if (s.labels.status !== 'OK') errors += s.value;
    } else if (s.name === DURATION_BUCKET && s.labels.le !== undefined) {
      const le = Number(s.labels.le.replace(/Inf$/, 'Infinity'));
      if (!Number.isNaN(le)) byLe.set(le, (byLe.get(le) ?? 0) + s.value);
    } else if (s.name === START_TIME) {
      startTime = s.value;
    }
  }
  const buckets = [...byLe].map(([le, count]) => ({ le, count })).sort((a, b) => a.le - b.le);
  return { requests, errors, buckets, ...(startTime === undefined ? {} : { startTime }) };
}

/**
 * What happened between two scrapes. A counter that went down means the service restarted (its
 * counters began again at 0): then the later values are the whole interval's counts, as
 * Prometheus's rate() assumes, so rates never go negative.
 */
export function sampleBetween(before: Scrape, after: Scrape): MetricsSample {
  const a = before.totals;
  const b = after.totals;
  const reset =
    (a.startTime !== undefined && b.startTime !== undefined && a.startTime !== b.startTime) ||
    b.requests < a.requests ||
    b.errors < a.errors ||
    b.buckets.some((x) => x.count < (a.buckets.find((y) => y.le === x.le)?.count ?? 0));
  const seconds = Math.max(after.t - before.t, 1) / 1000;
  const delta = reset ? b.buckets : b.buckets.map((x) => ({ le: x.le, count: x.count - (a.buckets.find((y) => y.le === x.le)?.count ?? 0) }));
  const p50 = histogramQuantile(0.5, delta);
  const p99 = histogramQuantile(0.99, delta);
  return {
    t: after.t,
    requestsPerSecond: (reset ? b.requests : b.requests - a.requests) / seconds,
    errorsPerSecond: (reset ? b.errors : b.errors - a.errors) / seconds,
    p50Ms: p50 === null ? null : p50 * 1000,
    p99Ms: p99 === null ? null : p99 * 1000,
  };
}

/**
 * The q-quantile of cumulative buckets, as Prometheus's histogram_quantile: find the bucket the
 * rank q * total falls in and interpolate linearly within it (from 0 for the first bucket). A
 * rank in the +Inf bucket gives the highest finite bound. null without observations.
 */
export function histogramQuantile(q: number, buckets: readonly Bucket[]): number | null {
  const total = buckets.at(-1)?.count ?? 0;
  if (total <= 0 || buckets.at(-1)!.le !== Infinity) return null;
  const rank = q * total;
  let i = buckets.findIndex((b) => b.count >= rank);
  if (i < 0) i = buckets.length - 1;
  if (buckets[i].le === Infinity) return buckets.length > 1 ? buckets[buckets.length - 2].le : null;
  const lower = i === 0 ? 0 : buckets[i - 1].le;
  const below = i === 0 ? 0 : buckets[i - 1].count;
  const inBucket = buckets[i].count - below;
  if (inBucket <= 0) return buckets[i].le;
  return lower + ((buckets[i].le - lower) * (rank - below)) / inBucket;
}

export interface SeriesOptions {
  /** Samples kept per service. */
  keep?: number;
  /** Least time between two scrapes of one service. */
  minIntervalMs?: number;
  now?: () => number;
}

interface ServiceSeries {
  /** Where the service's metrics were read; another address starts a new series. */
  url: string;
  last?: Scrape;
  samples: MetricsSample[];
  scrapedAt: number;
  pending?: Promise<void>;
  error?: unknown;
}

/**
 * Samples per service, scraped on demand: at most once per `minIntervalMs` per service, callers
 * that ask meanwhile share the scrape under way or get the samples (or the error) of the last one.
 */
export class MetricsSeries {
  readonly #series = new Map<string, ServiceSeries>();
  readonly #keep: number;
  readonly #minIntervalMs: number;
  readonly #now: () => number;

  constructor(opts: SeriesOptions = {}) {
    this.#keep = opts.keep ?? 120;
    this.#minIntervalMs = opts.minIntervalMs ?? 1000;
    this.#now = opts.now ?? Date.now;
  }

  /** The samples of `service`, scraping `url` with `scrape` first unless it was scraped recently. */
  async samples(service: string, url: string, scrape: () => Promise<string>): Promise<MetricsSample[]> {
    let s = this.#series.get(service);
    if (!s || s.url !== url) {
      s = { url, samples: [], scrapedAt: -Infinity };
      this.#series.set(service, s);
    }
    if (!s.pending && this.#now() - s.scrapedAt >= this.#minIntervalMs) s.pending = this.#scrape(s, scrape);
    await s.pending;
    if (s.error !== undefined) throw s.error;
    return [...s.samples];
  }

  /** Forgets a service (deleted). */
  drop(service: string): void {
    this.#series.delete(service);
  }

  async #scrape(s: ServiceSeries, scrape: () => Promise<string>): Promise<void> {
    s.scrapedAt = this.#now();
    try {
      const next = { t: s.scrapedAt, totals: readTotals(await scrape()) };
      if (s.last) s.samples.push(sampleBetween(s.last, next));
      if (s.samples.length > this.#keep) s.samples.splice(0, s.samples.length - this.#keep);
      s.last = next;
      s.error = undefined;
    } catch (err) {
      s.error = err;
    } finally {
      s.pending = undefined;
    }
  }
}
