import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { modelDir, tinyClassifier, twoInputModel } from '../test-util/models';
import { solidPng } from '../test-util/server';
import { DEFAULT_BATCHING } from './batching';
import { Batcher, type RunFn } from './batcher';
import { Runtime } from './runtime';
import type { NamedTensors } from './tensor';

const files = modelDir();
afterAll(() => files.cleanup());

const pair = (a: number[], b: number[], rows = 1): NamedTensors => ({
  a: { dtype: 'float32', shape: [rows, 2], data: Float32Array.from(a) },
  b: { dtype: 'float32', shape: [rows, 2], data: Float32Array.from(b) },
});

async function runtimeWith(batching: Record<string, unknown>, model = twoInputModel()) {
  const rt = new Runtime({ threads: 1, batching });
  await rt.load([{ name: 'm', path: files.write(`m-${Math.random()}.onnx`, model) }]);
  return rt;
}

describe('dynamic batching on a real session', () => {
  let rt: Runtime;
  beforeAll(async () => {
    rt = await runtimeWith({ maxBatchSize: 8 });
  });
  afterAll(() => rt.close());

  it('gives each of many concurrent requests exactly its own result, merged into few runs', async () => {
    const inputs = Array.from({ length: 17 }, (_, i) => pair([i, i + 1], [2 * i, 3]));
    const sequential: Awaited<ReturnType<Runtime['predict']>>[] = [];
    for (const x of inputs) sequential.push(await rt.predict({}, x));
    const concurrent = await Promise.all(inputs.map((x) => rt.predict({}, x)));
    concurrent.forEach((r, i) => {
      expect(Array.from(r.outputs.sum.data as Float32Array)).toEqual(Array.from(sequential[i].outputs.sum.data as Float32Array));
      expect(Array.from(r.outputs.product.data as Float32Array)).toEqual(Array.from(sequential[i].outputs.product.data as Float32Array));
      expect(r.outputs.sum.shape).toEqual([1, 2]);
    });
    expect(sequential.every((r) => r.timings.batchRows === 1)).toBe(true);
    // The first request finds the model idle and runs alone; the rest queue behind it and merge.
    expect(concurrent[0].timings.batchRows).toBe(1);
    expect(Math.max(...concurrent.map((r) => r.timings.batchRows))).toBe(8);
  });

  it('merges requests of different batch sizes and splits the rows back', async () => {
    const requests = [pair([1, 1], [1, 1]), pair([1, 2, 3, 4, 5, 6], [1, 1, 1, 1, 1, 1], 3), pair([9, 9, 8, 8], [1, 2, 3, 4], 2)];
    const results = await Promise.all([rt.predict({}, pair([0, 0], [0, 0])), ...requests.map((x) => rt.predict({}, x))]);
    expect(Array.from(results[2].outputs.sum.data as Float32Array)).toEqual([2, 3, 4, 5, 6, 7]);
    expect(results[2].outputs.sum.shape).toEqual([3, 2]);
    expect(Array.from(results[3].outputs.product.data as Float32Array)).toEqual([9, 18, 24, 32]);
    expect(results[3].timings.batchRows).toBe(6);
  });

  it('fails a request with a bad image alone; the others in its batch succeed', async () => {
    const img = await runtimeWith({ maxBatchSize: 8 }, tinyClassifier());
    try {
      const good = await solidPng(10, 200, 30);
      const requests = Array.from({ length: 6 }, (_, i) => ({ images: { dtype: 'string' as const, shape: [1], data: [i === 3 ? Buffer.from('not a jpeg') : good] } }));
      const settled = await Promise.allSettled(requests.map((x) => img.predict({}, x)));
      expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
      expect((settled[3] as PromiseRejectedResult).reason.code).toBe('ACCEL_ERR_BAD_IMAGE');
      const first = Array.from((settled[0] as PromiseFulfilledResult<any>).value.outputs.probs.data);
      expect(Array.from((settled[5] as PromiseFulfilledResult<any>).value.outputs.probs.data)).toEqual(first);
    } finally {
      await img.close();
    }
  });

  it('runs every request alone with maxBatchSize 1', async () => {
    const off = await runtimeWith({ maxBatchSize: 1 });
    try {
      const results = await Promise.all(Array.from({ length: 6 }, (_, i) => off.predict({}, pair([i, i], [1, 1]))));
      expect(results.map((r) => r.timings.batchRows)).toEqual([1, 1, 1, 1, 1, 1]);
    } finally {
      await off.close();
    }
  });

  it('refuses at once when the queue is full, with a retry hint', async () => {
    const small = await runtimeWith({ maxBatchSize: 1, maxQueue: 2 });
    try {
      const settled = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => small.predict({}, pair([i, i], [1, 1]))));
      const refused = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected');
      expect(refused.length).toBeGreaterThan(0);
      expect(refused[0].reason).toMatchObject({ code: 'ACCEL_ERR_QUEUE_FULL', grpcCode: 8, httpStatus: 429 });
      expect(refused[0].reason.params.retryAfterMs).toBeGreaterThan(0);
      expect(settled.filter((s) => s.status === 'fulfilled').length).toBeGreaterThanOrEqual(3);
    } finally {
      await small.close();
    }
  });

  it('drops queued requests whose deadline passed or whose caller cancelled', async () => {
    const cancelled = new AbortController();
    const [first, expired, gone, fine] = await Promise.allSettled([
      rt.predict({}, pair([1, 1], [1, 1])),
      rt.predict({}, pair([1, 1], [1, 1]), { deadline: Date.now() - 1 }),
      rt.predict({}, pair([1, 1], [1, 1]), { signal: cancelled.signal }),
      rt.predict({}, pair([2, 2], [2, 2]), { deadline: Date.now() + 60_000 }),
      Promise.resolve(cancelled.abort()),
    ]);
    expect(first.status).toBe('fulfilled');
    expect((expired as PromiseRejectedResult).reason).toMatchObject({ code: 'ACCEL_ERR_DEADLINE_EXCEEDED', grpcCode: 4 });
    expect((gone as PromiseRejectedResult).reason).toMatchObject({ code: 'ACCEL_ERR_CANCELLED', grpcCode: 1 });
    expect(fine.status).toBe('fulfilled');
  });
});

describe('Batcher policy', () => {
  const t = (v: number, rows = 1) => ({ x: new ort.Tensor('float32', new Float32Array(rows).fill(v), [rows, 1]) });
  const echo = (log: number[][], fail?: (values: number[]) => boolean): RunFn => async (feeds) => {
    const values = Array.from(feeds.x.data as Float32Array);
    log.push(values);
    await new Promise((r) => setTimeout(r, 5));
    if (fail?.(values)) throw new Error('kernel failed');
    return { y: feeds.x };
  };

  it('waits up to maxQueueDelayMicros for company on an idle model', async () => {
    const log: number[][] = [];
    const b = new Batcher(echo(log), { ...DEFAULT_BATCHING, maxQueueDelayMicros: 50_000 }, true, { model: 'm', version: 1 });
    const first = b.submit(t(1), 1, ['y']);
    await new Promise((r) => setTimeout(r, 10));
    const second = b.submit(t(2), 1, ['y']);
    const [a, c] = await Promise.all([first, second]);
    expect(log).toEqual([[1, 2]]);
    expect([a.batchRows, c.batchRows]).toEqual([2, 2]);
    expect(Array.from(c.outputs.y.data as Float32Array)).toEqual([2]);
  });

  it('cuts a batch at a preferred size', async () => {
    const log: number[][] = [];
    const b = new Batcher(echo(log), { ...DEFAULT_BATCHING, preferredBatchSizes: [4] }, true, { model: 'm', version: 1 });
    await Promise.all([0, 1, 2, 3, 4, 5, 6, 7].map((v) => b.submit(t(v), 1, ['y'])));
    expect(log.map((l) => l.length)).toEqual([1, 4, 3]);
  });

  it('reruns a failed merged batch request by request so only the culprit fails', async () => {
    const log: number[][] = [];
    const b = new Batcher(echo(log, (values) => values.includes(13)), DEFAULT_BATCHING, true, { model: 'm', version: 1 });
    const settled = await Promise.allSettled([1, 2, 13, 4].map((v) => b.submit(t(v), 1, ['y'])));
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    expect(log).toEqual([[1], [2, 13, 4], [2], [13], [4]]);
  });
});
