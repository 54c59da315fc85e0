/**
 * The closed loop: `concurrency` slots, each sending its next request as soon as the previous one
 * answers, so exactly that many requests are in flight. Warm-up and measurement are separate
 * phases, each drained before the next starts, so that the server's counters read between them
 * hold the measured requests only.
 */
import type { InferClient } from './clients';
import type { LevelPlan, LevelSample, Progress } from './types';

/** Batches of `batch` images taken round-robin from `images`, across all slots. */
export class ImageFeed {
  #next = 0;

  constructor(private readonly images: readonly Uint8Array[], private readonly batch: number) {
    if (images.length === 0) throw new RangeError("'images' must not be empty");
    if (!Number.isSafeInteger(batch) || batch < 1) throw new RangeError(`'batch' must be a positive integer, got ${batch}`);
  }

  take(): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (let i = 0; i < this.batch; i++) {
      out.push(this.images[this.#next]);
      this.#next = (this.#next + 1) % this.images.length;
    }
    return out;
  }
}

/** The status name of a failed request: the client's gRPC code name, else UNKNOWN. */
export function statusOf(err: unknown): { status: string; message: string } {
  const e = err as { codeName?: unknown; details?: unknown; message?: unknown } | null;
  const status = typeof e?.codeName === 'string' ? e.codeName : 'UNKNOWN';
  const message = typeof e?.details === 'string' ? e.details : typeof e?.message === 'string' ? e.message : String(err);
  return { status, message };
}

export interface LoadHooks {
  /** Called about every `progressEveryMs` while a phase runs. */
  onProgress?(p: Progress): void;
  progressEveryMs?: number;
  /** Awaited between warm-up and measurement, with nothing in flight. */
  beforeMeasure?(): Promise<void>;
}

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Runs one level: warm-up (not counted), then `durationMs` measured. */
export async function runLevel(client: InferClient, feed: ImageFeed, plan: LevelPlan, hooks: LoadHooks = {}): Promise<LevelSample> {
  const sample: LevelSample = {
    concurrency: plan.concurrency,
    requests: 0,
    ok: 0,
    images: 0,
    elapsedMs: 0,
    latenciesMs: [],
    errors: {},
    errorMessages: {},
  };
  if (plan.warmupMs > 0) await phase(client, feed, plan.concurrency, plan.warmupMs, 'warmup', hooks);
  await hooks.beforeMeasure?.();
  sample.elapsedMs = await phase(client, feed, plan.concurrency, plan.durationMs, 'measure', hooks, sample);
  return sample;
}

/** Keeps `concurrency` requests in flight until `durationMs` has passed, then waits for the last answers. */
async function phase(
  client: InferClient,
  feed: ImageFeed,
  concurrency: number,
  durationMs: number,
  name: Progress['phase'],
  hooks: LoadHooks,
  into?: LevelSample,
): Promise<number> {
  const start = performance.now();
  const end = start + durationMs;
  let requests = 0;
  let failed = 0;
  const report = () => hooks.onProgress?.({ phase: name, elapsedMs: Math.min(durationMs, performance.now() - start), totalMs: durationMs, requests, failed });
  const timer = hooks.onProgress ? setInterval(report, hooks.progressEveryMs ?? 500) : undefined;
  const slot = async () => {
    while (performance.now() < end) {
      const images = feed.take();
      const sent = performance.now();
      requests++;
      try {
        await client.infer(images);
        if (into) {
          into.latenciesMs.push(performance.now() - sent);
          into.ok++;
          into.images += images.length;
        }
      } catch (err) {
        failed++;
        if (into) {
          const { status, message } = statusOf(err);
          into.errors[status] = (into.errors[status] ?? 0) + 1;
          into.errorMessages[status] ??= message;
        }
        // A failure answered without I/O (a local error) must not starve timers and messages.
        await yieldToEventLoop();
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, slot));
  } finally {
    clearInterval(timer);
  }
  report();
  if (into) into.requests = requests;
  return performance.now() - start;
}
