/**
 * The main-thread side of `accel bench`: starts the load worker, runs the levels one after the
 * other, reads the server's metrics around each measured window, and turns samples into results.
 */
import { on } from 'node:events';
import { Worker } from 'node:worker_threads';
import { AccelError } from '../errors';
import { scrape, serverSplit, serverTotals, type ServerSplit, type ServerTotals } from './server-metrics';
import { round, summarize, type LatencySummary } from './stats';
import type { ClientConfig, FromWorker, LevelSample, Progress, ToWorker, WorkerInput } from './types';

export interface BenchOptions {
  client: ClientConfig;
  images: Uint8Array[];
  batch: number;
  concurrency: number[];
  warmupMs: number;
  durationMs: number;
  /** Prometheus page of the server; none: no server split. */
  metricsUrl?: string;
  /** Progress lines (stderr in the CLI). */
  log?: (event: BenchEvent) => void;
}

export type BenchEvent =
  | { type: 'progress'; level: number; levels: number; concurrency: number; progress: Progress }
  | { type: 'level'; result: LevelResult }
  | { type: 'warning'; message: string };

export interface LevelResult {
  concurrency: number;
  requests: number;
  ok: number;
  failed: number;
  /** Failed requests by status name. */
  errors: Record<string, number>;
  /** Images in successful requests. */
  images: number;
  durationS: number;
  imagesPerSec: number;
  requestsPerSec: number;
  /** Of successful requests; null when none succeeded. */
  latencyMs: LatencySummary | null;
  /** The server's mean split per request; null without metrics or successful requests. */
  server: ServerSplit | null;
}

export interface BenchRun {
  levels: LevelResult[];
  /** The first message seen per status name, over every level. */
  errorMessages: Record<string, string>;
}

export function levelResult(s: LevelSample, server: ServerSplit | null): LevelResult {
  const seconds = s.elapsedMs / 1000;
  return {
    concurrency: s.concurrency,
    requests: s.requests,
    ok: s.ok,
    failed: s.requests - s.ok,
    errors: s.errors,
    images: s.images,
    durationS: round(seconds, 3),
    imagesPerSec: seconds > 0 ? round(s.images / seconds, 2) : 0,
    requestsPerSec: seconds > 0 ? round(s.ok / seconds, 2) : 0,
    latencyMs: summarize(s.latenciesMs),
    server,
  };
}

const WORKER_ENTRY = new URL('./worker-entry.mjs', import.meta.url);

/** Runs every level in a worker thread and returns the results in level order. */
export async function runBench(o: BenchOptions): Promise<BenchRun> {
  const log = o.log ?? (() => {});
  const input: WorkerInput = { client: o.client, images: o.images, batch: o.batch };
  const worker = new Worker(WORKER_ENTRY, { workerData: input });
  const messages = on(worker, 'message') as AsyncIterableIterator<[FromWorker]>;
  const next = async (): Promise<FromWorker> => {
    const r = await messages.next();
    if (r.done) throw new Error('the bench worker stopped');
    const m = r.value[0];
    if (m.type === 'fatal') throw new Error(m.message);
    return m;
  };
  const post = (m: ToWorker) => worker.postMessage(m);

  const metricsUrl = o.metricsUrl;
  const read = async (): Promise<ServerTotals | undefined> => {
    if (!metricsUrl) return undefined;
    try {
      return serverTotals(await scrape(metricsUrl), o.client.model);
    } catch (err) {
      log({ type: 'warning', message: `${(err as Error).message}; no server split for this level` });
      return undefined;
    }
  };

  const run: BenchRun = { levels: [], errorMessages: {} };
  try {
    await next().catch((err: Error) => {
      // The worker builds its client first: what fails there is the address or another flag.
      throw new AccelError('ACCEL_ERR_USAGE', { reason: `cannot create the ${o.client.protocol} client: ${err.message}` });
    });
    for (const [i, concurrency] of o.concurrency.entries()) {
      post({ type: 'level', plan: { concurrency, warmupMs: o.warmupMs, durationMs: o.durationMs } });
      let before: ServerTotals | undefined;
      let sample: LevelSample | undefined;
      while (!sample) {
        const m = await next();
        if (m.type === 'progress') log({ type: 'progress', level: i + 1, levels: o.concurrency.length, concurrency, progress: m.progress });
        else if (m.type === 'warm') {
          before = await read();
          post({ type: 'go' });
        } else if (m.type === 'done') sample = m.sample;
      }
      const after = before && (await read());
      const result = levelResult(sample, before && after ? serverSplit(before, after) : null);
      for (const [status, message] of Object.entries(sample.errorMessages)) run.errorMessages[status] ??= message;
      run.levels.push(result);
      log({ type: 'level', result });
    }
    post({ type: 'close' });
  } finally {
    await messages.return?.();
    await worker.terminate();
  }
  return run;
}
