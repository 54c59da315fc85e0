/** Shapes shared by the bench command, its runner (main thread) and its load worker. */

export const BENCH_PROTOCOLS = ['grpc', 'rest', 'kserve-grpc', 'kserve-rest'] as const;
export type BenchProtocol = (typeof BENCH_PROTOCOLS)[number];

/** What the worker needs to build its client. */
export interface ClientConfig {
  protocol: BenchProtocol;
  address: string;
  model: string;
  /** Version number or label; none: the latest. */
  version?: string;
  /** Deadline of one request. */
  timeoutMs: number;
}

/** One concurrency level: `concurrency` requests in flight for `durationMs`, after `warmupMs` not counted. */
export interface LevelPlan {
  concurrency: number;
  warmupMs: number;
  durationMs: number;
}

/** What the load generator measured at one level (client side only). */
export interface LevelSample {
  concurrency: number;
  /** Requests sent in the measured window (ok + failed). */
  requests: number;
  ok: number;
  /** Images in successful requests. */
  images: number;
  /** From the first request of the window to the last answer. */
  elapsedMs: number;
  /** Latency of each successful request. */
  latenciesMs: number[];
  /** Failed requests by status name (NOT_FOUND, UNAVAILABLE, ...). */
  errors: Record<string, number>;
  /** The first message seen for each status name. */
  errorMessages: Record<string, string>;
}

export interface Progress {
  phase: 'warmup' | 'measure';
  elapsedMs: number;
  totalMs: number;
  requests: number;
  failed: number;
}

/** Main thread -> worker. */
export type ToWorker = { type: 'level'; plan: LevelPlan } | { type: 'go' } | { type: 'close' };

/** Worker -> main thread. */
export type FromWorker =
  | { type: 'ready' }
  | { type: 'fatal'; message: string }
  | { type: 'progress'; progress: Progress }
  /** Warm-up is over and nothing is in flight: scrape the server, then answer 'go'. */
  | { type: 'warm' }
  | { type: 'done'; sample: LevelSample };

export interface WorkerInput {
  client: ClientConfig;
  images: Uint8Array[];
  batch: number;
}
