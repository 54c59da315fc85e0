/**
 * Which model versions a running server should serve, from a file that may change while it
 * runs (TF Serving's `--model_config_file`; in its terms this is the source of aspired
 * versions, and {@link applyModels} the availability-preserving policy).
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Logger } from 'pino';
import { AccelError } from '../errors';
import { planVersions, type ModelSource, type Runtime, type RuntimeEvent } from './runtime';

/**
 * Reads `{"models": [{"name": "m", "path": "m-v2.onnx", "version": 2}, ...]}`. Paths are
 * relative to the file's folder; versions left out are numbered 1, 2, ... per name in order,
 * as for `--model`. Throws ACCEL_ERR_USAGE naming the file and what is wrong.
 */
export function readModelConfig(file: string): ModelSource[] {
  const bad = (reason: string) => new AccelError('ACCEL_ERR_USAGE', { reason: `--model-config-file ${file}: ${reason}` });
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw bad((err as NodeJS.ErrnoException).code ?? (err as Error).message);
  }
  const models = (parsed as { models?: unknown } | null)?.models;
  if (!Array.isArray(models)) throw bad('expected {"models": [{"name": ..., "path": ..., "version": ...}]}');
  return models.map((m: Record<string, unknown>, i) => {
    if (typeof m?.name !== 'string' || !m.name || typeof m.path !== 'string' || !m.path) throw bad(`models[${i}] needs a "name" and a "path" (strings)`);
    if (m.version !== undefined && !(Number.isSafeInteger(m.version) && (m.version as number) > 0)) throw bad(`models[${i}].version must be a positive integer, got ${JSON.stringify(m.version)}`);
    return { name: m.name, path: resolve(dirname(file), m.path), ...(m.version === undefined ? {} : { version: m.version as number }) };
  });
}

export interface ApplyResult {
  /** `name:version` of each version loaded, unloaded, failed to load, or kept though not listed. */
  loaded: string[];
  unloaded: string[];
  failed: string[];
  kept: string[];
}

/**
 * Makes the runtime serve exactly `wanted`: loads the versions it lacks first, then unloads the
 * ones not wanted (each after its in-flight requests). A model whose wanted versions all failed
 * to load keeps its old versions serving (reported as `kept`). A version is known by name and
 * number: a new file needs a new number.
 */
export async function applyModels(runtime: Runtime, wanted: readonly ModelSource[], onEvent?: (e: RuntimeEvent) => void): Promise<ApplyResult> {
  const planned = planVersions(wanted);
  const id = (s: { name: string; version: number }) => `${s.name}:${s.version}`;
  const live = runtime.servables().filter((s) => s.state === 'AVAILABLE');
  const liveIds = new Set(live.map(id));
  const result: ApplyResult = { loaded: [], unloaded: [], failed: [], kept: [] };
  await runtime.load(
    planned.filter((s) => !liveIds.has(id(s))),
    (e) => {
      if (e.kind === 'loaded') result.loaded.push(id(e.servable));
      else result.failed.push(id(e));
      onEvent?.(e);
    },
    { keepGoing: true },
  );
  const wantedIds = new Set(planned.map(id));
  const serving = (name: string) => runtime.servables().some((s) => s.name === name && s.state === 'AVAILABLE' && wantedIds.has(id(s)));
  const going = live.filter((s) => !wantedIds.has(id(s)));
  for (const s of going) if (planned.some((p) => p.name === s.name) && !serving(s.name)) result.kept.push(id(s));
  await Promise.all(
    going
      .filter((s) => !result.kept.includes(id(s)))
      .map(async (s) => {
        await runtime.unload(s.name, s.version);
        result.unloaded.push(id(s));
      }),
  );
  return result;
}

/**
 * What `accel serve --model-config-file` runs on SIGHUP: re-reads the file and applies it with
 * the `--model` flags, one reload at a time. A file that turned unreadable or invalid changes
 * nothing and logs an error.
 */
export function modelConfigReloader(runtime: Runtime, file: string, fixed: readonly ModelSource[], logger: Logger, patch: (s: ModelSource) => ModelSource = (s) => s) {
  let queue = Promise.resolve();
  return (why: string): Promise<void> =>
    (queue = queue.then(async () => {
      try {
        const wanted = [...fixed, ...readModelConfig(file)].map(patch);
        if (wanted.length === 0) throw new AccelError('ACCEL_ERR_USAGE', { reason: `${file} lists no model (a server with none would answer nothing)` });
        const r = await applyModels(runtime, wanted, (e) => {
          if (e.kind === 'failed') logger.error({ model: e.name, version: e.version, code: e.error.code }, e.error.message);
        });
        const changes = Object.entries(r).map(([k, ids]) => `${k} ${ids.join(', ') || '-'}`);
        logger.info({ file, ...r }, `reloaded models from ${file} (${why}): ${changes.join('; ')}`);
      } catch (err) {
        const e = err instanceof AccelError ? err : new AccelError('ACCEL_ERR_INTERNAL', { reason: (err as Error).message });
        logger.error({ file, code: e.code }, `kept the models served: ${e.message}`);
      }
    }));
}
