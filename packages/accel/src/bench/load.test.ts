import { PredictionError, StatusCode } from '@accel/client';
import { describe, expect, it } from 'vitest';
import type { InferClient } from './clients';
import { ImageFeed, runLevel, statusOf } from './load';
import { percentile, summarize } from './stats';

const img = (n: number) => Uint8Array.of(n);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A fake server: answers after a few ms, remembers what it got and how many requests were in flight at most. */
function fakeClient(answer: (call: number) => Promise<void> = () => sleep(2)) {
  const seen = { inFlight: 0, maxInFlight: 0, calls: 0, batches: [] as number[][] };
  const client: InferClient = {
    async infer(images) {
      seen.batches.push(images.map((b) => b[0]));
      seen.inFlight++;
      seen.maxInFlight = Math.max(seen.maxInFlight, seen.inFlight);
      try {
        await answer(seen.calls++);
      } finally {
        seen.inFlight--;
      }
    },
    close() {},
  };
  return { client, seen };
}

describe('runLevel (closed loop)', () => {
  it('keeps exactly `concurrency` requests in flight and drains before measuring', async () => {
    const { client, seen } = fakeClient();
    let inFlightAtSwitch = -1;
    const sample = await runLevel(client, new ImageFeed([img(1)], 1), { concurrency: 5, warmupMs: 30, durationMs: 60 }, {
      beforeMeasure: async () => {
        inFlightAtSwitch = seen.inFlight;
        seen.maxInFlight = 0;
      },
    });
    expect(inFlightAtSwitch).toBe(0);
    expect(seen.maxInFlight).toBe(5);
    expect(sample.concurrency).toBe(5);
    expect(sample.ok).toBe(sample.requests);
    expect(sample.latenciesMs).toHaveLength(sample.ok);
    expect(sample.images).toBe(sample.ok);
    expect(sample.elapsedMs).toBeGreaterThanOrEqual(60);
    expect(seen.calls).toBeGreaterThan(sample.requests); // warm-up requests were sent, not counted
  });

  it('takes batches round-robin over the images', async () => {
    const { client, seen } = fakeClient();
    const feed = new ImageFeed([img(1), img(2), img(3)], 2);
    await runLevel(client, feed, { concurrency: 1, warmupMs: 0, durationMs: 20 });
    expect(seen.batches.slice(0, 3)).toEqual([
      [1, 2],
      [3, 1],
      [2, 3],
    ]);
    expect(() => new ImageFeed([], 1)).toThrow(/'images' must not be empty/);
    expect(() => new ImageFeed([img(1)], 0)).toThrow(/'batch' must be a positive integer/);
  });

  it('counts failures by status name and keeps the first message of each', async () => {
    const { client } = fakeClient(async (call) => {
      await sleep(1);
      if (call % 3 === 1) throw new PredictionError({ code: StatusCode.UNAVAILABLE, message: `down ${call}` });
      if (call % 3 === 2) throw new Error('socket hang up');
    });
    const s = await runLevel(client, new ImageFeed([img(1)], 1), { concurrency: 1, warmupMs: 0, durationMs: 40 });
    expect(s.requests).toBe(s.ok + s.errors.UNAVAILABLE + s.errors.UNKNOWN);
    expect(s.errors.UNAVAILABLE).toBeGreaterThan(0);
    expect(s.errorMessages).toEqual({ UNAVAILABLE: 'down 1', UNKNOWN: 'socket hang up' });
    expect(s.latenciesMs).toHaveLength(s.ok);
  });

  it('ends on time when every request fails without I/O, and reports progress', async () => {
    const client: InferClient = { infer: () => Promise.reject(new TypeError('bad address')), close() {} };
    const phases = new Set<string>();
    const s = await runLevel(client, new ImageFeed([img(1)], 1), { concurrency: 3, warmupMs: 10, durationMs: 30 }, {
      onProgress: (p) => phases.add(p.phase),
      progressEveryMs: 5,
    });
    expect(s.ok).toBe(0);
    expect(s.errors).toEqual({ UNKNOWN: s.requests });
    expect([...phases].sort()).toEqual(['measure', 'warmup']);
  });

  it('names statuses from the client error', () => {
    expect(statusOf(new PredictionError({ code: StatusCode.NOT_FOUND, message: 'no model' }))).toEqual({ status: 'NOT_FOUND', message: 'no model' });
    expect(statusOf('boom')).toEqual({ status: 'UNKNOWN', message: 'boom' });
  });
});

describe('latency summary', () => {
  it('uses nearest-rank percentiles', () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 1);
    expect([percentile(xs, 0.5), percentile(xs, 0.9), percentile(xs, 0.99), percentile(xs, 1)]).toEqual([50, 90, 99, 100]);
    expect(percentile([7], 0.99)).toBe(7);
    expect(summarize([3, 1, 2])).toEqual({ p50: 2, p90: 3, p99: 3, max: 3, mean: 2 });
    expect(summarize([])).toBeNull();
  });
});
