import * as ort from 'onnxruntime-node';
import { AccelError } from '../errors';
import type { BatchingConfig } from './batching';

type Feeds = Record<string, ort.Tensor>;
type Results = Record<string, ort.Tensor>;
export type RunFn = (feeds: Feeds, fetches: string[]) => Promise<Results>;

export interface BatchOutcome {
  outputs: Results;
  queueMs: number;
  inferenceMs: number;
  /** Rows in the ORT run this request was part of. */
  batchRows: number;
}

interface Pending {
  feeds: Feeds;
  rows: number;
  fetches: string[];
  shapeKey: string;
  enqueuedAt: number;
  deadline?: number;
  signal?: AbortSignal;
  resolve(o: BatchOutcome): void;
  reject(e: unknown): void;
}

type TypedArray = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | BigUint64Array;

/** Input shapes without the batch axis: only requests with equal keys can share a run. */
function shapeKey(feeds: Feeds): string {
  return Object.keys(feeds)
    .sort()
    .map((k) => `${k}:${feeds[k].type}:${feeds[k].dims.slice(1).join('x')}`)
    .join('|');
}

function concat(items: Pending[], name: string, rows: number): ort.Tensor {
  const first = items[0].feeds[name];
  const ctor = (first.data as TypedArray).constructor as new (n: number) => TypedArray;
  const rowSize = (first.data as TypedArray).length / first.dims[0];
  const out = new ctor(rows * rowSize);
  let offset = 0;
  for (const item of items) {
    const data = item.feeds[name].data as TypedArray;
    (out as Float32Array).set(data as Float32Array, offset);
    offset += data.length;
  }
  return new ort.Tensor(first.type as 'float32', out as Float32Array, [rows, ...first.dims.slice(1)]);
}

function slice(t: ort.Tensor, start: number, rows: number, total: number): ort.Tensor {
  if (t.dims.length === 0 || t.dims[0] !== total) return t; // not batched along axis 0: everyone gets it whole
  const data = t.data as TypedArray;
  const rowSize = data.length / total;
  return new ort.Tensor(t.type as 'float32', data.subarray(start * rowSize, (start + rows) * rowSize) as Float32Array, [rows, ...t.dims.slice(1)]);
}

/**
 * Runs requests on one session, one run at a time. Requests that arrive while a run is going
 * on wait, and the next run takes as many of them as fit (`maxBatchSize` rows), inputs
 * concatenated along the batch axis and outputs split back per request. A lone request on an
 * idle model runs at once (no added latency unless `maxQueueDelayMicros` asks for it).
 * Expired or cancelled requests are dropped from the queue, not run; a full queue refuses at once.
 */
export class Batcher {
  private readonly queue: Pending[] = [];
  private busy = false;
  private timer?: NodeJS.Timeout;
  private avgRunMs = 0;
  /** The requests of the run going on. */
  private running: Pending[] = [];
  /** Set by abort(): every request, queued, running or later, gets this error. */
  private aborted?: AccelError;

  constructor(
    private readonly run: RunFn,
    private readonly config: BatchingConfig,
    /** False when the model's inputs have a fixed batch dimension: every run then takes one request. */
    private readonly batchable: boolean,
    private readonly where: { model: string; version: number },
  ) {}

  /** Requests waiting (not running). */
  get depth(): number {
    return this.queue.length;
  }

  submit(feeds: Feeds, rows: number, fetches: string[], opts: { deadline?: number; signal?: AbortSignal } = {}): Promise<BatchOutcome> {
    if (this.aborted) throw this.aborted;
    if (this.queue.length >= this.config.maxQueue) {
      const perRun = this.avgRunMs || 10;
      const retryAfterMs = Math.ceil(perRun * (1 + this.queue.length / Math.max(1, this.config.maxBatchSize)));
      throw new AccelError('ACCEL_ERR_QUEUE_FULL', { ...this.where, queued: this.queue.length, limit: this.config.maxQueue, retryAfterMs });
    }
    return new Promise<BatchOutcome>((resolve, reject) => {
      this.queue.push({ feeds, rows, fetches, shapeKey: shapeKey(feeds), enqueuedAt: performance.now(), deadline: opts.deadline, signal: opts.signal, resolve, reject });
      this.kick();
    });
  }

  /** Answers every queued and running request (and every later one) with `error` at once: the model is going away. */
  abort(error: AccelError): void {
    this.aborted = error;
    clearTimeout(this.timer);
    this.timer = undefined;
    for (const p of this.queue.splice(0)) p.reject(error);
    for (const p of this.running) p.reject(error);
  }

  /** Resolves once nothing is queued or running. */
  async drain(): Promise<void> {
    while (this.busy || this.queue.length) await new Promise((r) => setTimeout(r, 5));
  }

  private kick(): void {
    if (this.busy) return;
    this.dropDead();
    if (this.queue.length === 0) return;
    const delayMs = this.config.maxQueueDelayMicros / 1000;
    if (delayMs > 0 && this.batchable && this.queuedRows() < this.config.maxBatchSize) {
      const due = this.queue[0].enqueuedAt + delayMs - performance.now();
      if (due > 0) {
        this.timer ??= setTimeout(() => {
          this.timer = undefined;
          this.kick();
        }, due);
        return;
      }
    }
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.take();
    this.busy = true;
    this.running = batch;
    void this.runBatch(batch).finally(() => {
      this.running = [];
      this.busy = false;
      this.kick();
    });
  }

  private queuedRows(): number {
    return this.queue.reduce((s, p) => s + p.rows, 0);
  }

  /** Rejects queued requests whose deadline passed or whose caller went away. */
  private dropDead(): void {
    const now = Date.now();
    for (let i = this.queue.length - 1; i >= 0; i--) {
      const p = this.queue[i];
      const waitedMs = Math.round(performance.now() - p.enqueuedAt);
      if (p.signal?.aborted) p.reject(new AccelError('ACCEL_ERR_CANCELLED', { model: this.where.model }));
      else if (p.deadline !== undefined && p.deadline <= now) p.reject(new AccelError('ACCEL_ERR_DEADLINE_EXCEEDED', { model: this.where.model, waitedMs }));
      else continue;
      this.queue.splice(i, 1);
    }
  }

  /** The next run: the oldest request plus compatible ones that fit, cut at a preferred size when one is reachable. */
  private take(): Pending[] {
    const first = this.queue[0];
    const max = this.batchable ? this.config.maxBatchSize : 1;
    const picked: number[] = [0];
    let rows = first.rows;
    let best = this.config.preferredBatchSizes.includes(rows) ? 1 : 0;
    for (let i = 1; i < this.queue.length && rows < max; i++) {
      const p = this.queue[i];
      if (p.shapeKey !== first.shapeKey || rows + p.rows > max) continue;
      picked.push(i);
      rows += p.rows;
      if (this.config.preferredBatchSizes.includes(rows)) best = picked.length;
    }
    const count = best > 0 ? best : picked.length;
    const chosen = picked.slice(0, count);
    const batch = chosen.map((i) => this.queue[i]);
    for (const i of [...chosen].reverse()) this.queue.splice(i, 1);
    return batch;
  }

  private async runBatch(batch: Pending[]): Promise<void> {
    const start = performance.now();
    const rows = batch.reduce((s, p) => s + p.rows, 0);
    const fetches = [...new Set(batch.flatMap((p) => p.fetches))];
    try {
      const feeds = batch.length === 1 ? batch[0].feeds : Object.fromEntries(Object.keys(batch[0].feeds).map((name) => [name, concat(batch, name, rows)]));
      const results = await this.run(feeds, fetches);
      const inferenceMs = performance.now() - start;
      this.avgRunMs = this.avgRunMs ? this.avgRunMs * 0.9 + inferenceMs * 0.1 : inferenceMs;
      let offset = 0;
      for (const p of batch) {
        const outputs: Results = {};
        for (const name of p.fetches) outputs[name] = batch.length === 1 ? results[name] : slice(results[name], offset, p.rows, rows);
        offset += p.rows;
        p.resolve({ outputs, queueMs: start - p.enqueuedAt, inferenceMs, batchRows: rows });
      }
    } catch (err) {
      if (batch.length === 1 || this.aborted) return batch.forEach((p) => p.reject(this.aborted ?? err));
      // A merged run failed: run each request alone so that only the culprit fails.
      for (const p of batch) await this.runBatch([p]);
    }
  }
}
