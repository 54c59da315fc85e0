import { AccelError } from '../errors';

/** Dynamic batching settings of one model (flags give defaults; a model's sidecar overrides them). */
export interface BatchingConfig {
  /** Largest number of rows run at once; 1 turns batching off. */
  maxBatchSize: number;
  /** How long a request may wait for others when the model is idle; 0: a lone request never waits. */
  maxQueueDelayMicros: number;
  /** Batch sizes to aim for when more requests wait than fit (e.g. sizes a GPU kernel is tuned for). */
  preferredBatchSizes: number[];
  /** Requests waiting beyond this are refused at once (RESOURCE_EXHAUSTED / 429 with a retry hint). */
  maxQueue: number;
}

export const DEFAULT_BATCHING: BatchingConfig = { maxBatchSize: 8, maxQueueDelayMicros: 0, preferredBatchSizes: [], maxQueue: 256 };

const bad = (reason: string) => new AccelError('ACCEL_ERR_USAGE', { reason: `Invalid batching config: ${reason}` });

function nonNegativeInt(value: unknown, key: string, min: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) throw bad(`"${key}" must be an integer >= ${min}, got ${JSON.stringify(value)}`);
  return value;
}

/** Applies a partial config (flags or a sidecar's `batching`) over a base one, checking each field. */
export function mergeBatchingConfig(base: BatchingConfig, patch: Record<string, unknown> | undefined): BatchingConfig {
  const out = { ...base, preferredBatchSizes: [...base.preferredBatchSizes] };
  for (const [key, value] of Object.entries(patch ?? {})) {
    if (value === undefined) continue;
    if (key === 'maxBatchSize') out.maxBatchSize = nonNegativeInt(value, key, 1);
    else if (key === 'maxQueueDelayMicros') out.maxQueueDelayMicros = nonNegativeInt(value, key, 0);
    else if (key === 'maxQueue') out.maxQueue = nonNegativeInt(value, key, 1);
    else if (key === 'preferredBatchSizes') {
      if (!Array.isArray(value)) throw bad(`"preferredBatchSizes" must be a list of integers`);
      out.preferredBatchSizes = value.map((v) => nonNegativeInt(v, key, 1));
    } else throw bad(`unknown key "${key}" (known: maxBatchSize, maxQueueDelayMicros, preferredBatchSizes, maxQueue)`);
  }
  if (out.preferredBatchSizes.some((p) => p > out.maxBatchSize)) throw bad(`preferredBatchSizes must not exceed maxBatchSize (${out.maxBatchSize})`);
  return out;
}
