import { describe, expect, it } from 'vitest';
import { MetricsSeries, histogramQuantile, readTotals, sampleBetween, type Scrape } from './metrics-series';

/** A /metrics text as protocols/metrics.ts exposes it: two protocols, OK and failed requests. */
function text(o: { ok: number; failed: number; buckets: Record<string, number>; restBuckets?: Record<string, number>; start?: number }): string {
  const bucketLines = (protocol: string, buckets: Record<string, number>) =>
    Object.entries(buckets).map(([le, n]) => `accel_request_duration_seconds_bucket{le="${le}",model="tiny",version="1",protocol="${protocol}"} ${n}`);
  const rest = o.restBuckets ?? { '0.005': 0, '0.01': 0, '0.02': 0, '+Inf': 0 };
  return [
    '# HELP accel_requests_total Predict requests by model, version, protocol and final status.',
    '# TYPE accel_requests_total counter',
    `accel_requests_total{model="tiny",version="1",protocol="grpc",status="OK"} ${o.ok}`,
    `accel_requests_total{model="tiny",version="1",protocol="grpc",status="INVALID_ARGUMENT"} ${o.failed}`,
    `accel_requests_total{model="",version="",protocol="rest",status="NOT_FOUND"} 0`,
    '# TYPE accel_request_duration_seconds histogram',
    ...bucketLines('grpc', o.buckets),
    ...bucketLines('rest', rest),
    `accel_request_duration_seconds_sum{model="tiny",version="1",protocol="grpc"} 0.5`,
    `accel_request_duration_seconds_count{model="tiny",version="1",protocol="grpc"} ${o.buckets['+Inf']}`,
    ...(o.start === undefined ? [] : [`accel_process_process_start_time_seconds ${o.start}`]),
    '',
  ].join('\n');
}

const at = (t: number, body: string): Scrape => ({ t, totals: readTotals(body) });

describe('readTotals', () => {
  it('adds up requests, failures and histogram buckets over models, versions and protocols', () => {
    const totals = readTotals(text({ ok: 7, failed: 2, buckets: { '0.005': 1, '0.01': 4, '0.02': 7, '+Inf': 7 }, restBuckets: { '0.005': 1, '0.01': 1, '0.02': 2, '+Inf': 3 }, start: 1700000000 }));
    expect(totals).toEqual({
      requests: 9,
      errors: 2,
      buckets: [
        { le: 0.005, count: 2 },
        { le: 0.01, count: 5 },
        { le: 0.02, count: 9 },
        { le: Infinity, count: 10 },
      ],
      startTime: 1700000000,
    });
  });
});

describe('histogramQuantile', () => {
  const buckets = [
    { le: 0.01, count: 10 },
    { le: 0.02, count: 30 },
    { le: 0.05, count: 40 },
    { le: Infinity, count: 40 },
  ];

  it('interpolates linearly inside the bucket the rank falls in, from 0 in the first bucket', () => {
    expect(histogramQuantile(0.5, buckets)).toBeCloseTo(0.015, 12); // rank 20: half-way through (0.01, 0.02]
    expect(histogramQuantile(0.99, buckets)).toBeCloseTo(0.02 + 0.03 * 0.96, 12); // rank 39.6: 9.6 of 10 in (0.02, 0.05]
    expect(histogramQuantile(0.1, buckets)).toBeCloseTo(0.004, 12); // rank 4 of 10 in [0, 0.01]
  });

  it('gives the highest finite bound for a rank in the +Inf bucket, and null without observations', () => {
    expect(histogramQuantile(0.99, [{ le: 0.01, count: 1 }, { le: Infinity, count: 10 }])).toBe(0.01);
    expect(histogramQuantile(0.5, [{ le: 0.01, count: 0 }, { le: Infinity, count: 0 }])).toBeNull();
    expect(histogramQuantile(0.5, [])).toBeNull();
  });
});

describe('sampleBetween', () => {
  it('derives rates per second and quantiles in ms from the differences of two scrapes', () => {
    const before = at(10_000, text({ ok: 100, failed: 1, buckets: { '0.005': 50, '0.01': 90, '0.02': 100, '+Inf': 100 } }));
    const after = at(12_000, text({ ok: 140, failed: 5, buckets: { '0.005': 50, '0.01': 110, '0.02': 140, '+Inf': 140 } }));
    const s = sampleBetween(before, after);
    expect(s.t).toBe(12_000);
    expect(s.requestsPerSecond).toBe(22); // (140 + 5 - 101) / 2 s
    expect(s.errorsPerSecond).toBe(2);
    // The interval's 40 requests: 20 in (5, 10] ms, 20 in (10, 20] ms.
    expect(s.p50Ms).toBeCloseTo(10, 9);
    expect(s.p99Ms).toBeCloseTo(10 + 10 * (39.6 - 20) / 20, 9);
    expect(s.p50Ms!).toBeLessThanOrEqual(s.p99Ms!);
  });

  it('has null quantiles and zero rates when nothing came in', () => {
    const same = text({ ok: 3, failed: 0, buckets: { '0.005': 3, '0.01': 3, '0.02': 3, '+Inf': 3 } });
    expect(sampleBetween(at(0, same), at(1000, same))).toEqual({ t: 1000, requestsPerSecond: 0, errorsPerSecond: 0, p50Ms: null, p99Ms: null });
  });

  it('takes a counter that went down for a restart: the later counts are the interval, never a negative rate', () => {
    const before = at(0, text({ ok: 500, failed: 20, buckets: { '0.005': 400, '0.01': 500, '0.02': 500, '+Inf': 500 } }));
    const after = at(1000, text({ ok: 4, failed: 0, buckets: { '0.005': 0, '0.01': 0, '0.02': 4, '+Inf': 4 } }));
    const s = sampleBetween(before, after);
    expect([s.requestsPerSecond, s.errorsPerSecond]).toEqual([4, 0]);
    expect(s.p50Ms).toBeCloseTo(15, 9);
  });

  it('sees a restart by a new process start time even when the counters grew past their old values', () => {
    const before = at(0, text({ ok: 2, failed: 0, buckets: { '0.005': 2, '0.01': 2, '0.02': 2, '+Inf': 2 }, start: 100 }));
    const after = at(1000, text({ ok: 10, failed: 0, buckets: { '0.005': 0, '0.01': 0, '0.02': 10, '+Inf': 10 }, start: 200 }));
    const s = sampleBetween(before, after);
    expect(s.requestsPerSecond).toBe(10);
    expect(s.p50Ms).toBeCloseTo(15, 9);
  });
});

describe('MetricsSeries', () => {
  const body = (ok: number) => text({ ok, failed: 0, buckets: { '0.005': 0, '0.01': ok, '0.02': ok, '+Inf': ok } });

  it('scrapes a service at most once per interval; concurrent callers share one scrape', async () => {
    let now = 0;
    let scrapes = 0;
    const series = new MetricsSeries({ now: () => now });
    const scrape = async () => body(++scrapes * 10);
    const [a, b] = await Promise.all([series.samples('svc', 'u', scrape), series.samples('svc', 'u', scrape)]);
    expect([a, b, scrapes]).toEqual([[], [], 1]);
    now = 999;
    expect(await series.samples('svc', 'u', scrape)).toEqual([]);
    expect(scrapes).toBe(1);
    now = 1000;
    const samples = await series.samples('svc', 'u', scrape);
    expect(scrapes).toBe(2);
    expect(samples).toEqual([{ t: 1000, requestsPerSecond: 10, errorsPerSecond: 0, p50Ms: expect.any(Number), p99Ms: expect.any(Number) }]);
  });

  it('keeps the last samples only, and starts again for a new address', async () => {
    let now = 0;
    let n = 0;
    const series = new MetricsSeries({ now: () => now, keep: 3 });
    for (let i = 0; i < 6; i++, now += 1000) await series.samples('svc', 'u', async () => body(++n));
    const kept = await series.samples('svc', 'u', async () => body(++n));
    expect(kept.map((s) => s.t)).toEqual([4000, 5000, 6000]);
    now += 1000;
    expect(await series.samples('svc', 'other', async () => body(1))).toEqual([]);
  });

  it('answers the last failure until the next scrape is due, and recovers after it', async () => {
    let now = 0;
    const series = new MetricsSeries({ now: () => now });
    const down = async (): Promise<string> => {
      throw new Error('connection refused');
    };
    await expect(series.samples('svc', 'u', down)).rejects.toThrow('connection refused');
    let calls = 0;
    await expect(series.samples('svc', 'u', async () => (calls++, body(1)))).rejects.toThrow('connection refused');
    expect(calls).toBe(0);
    now = 1000;
    expect(await series.samples('svc', 'u', async () => body(1))).toEqual([]);
  });
});
