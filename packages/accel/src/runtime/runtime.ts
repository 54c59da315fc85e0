import { AccelError, nameList } from '../errors';
import { Servable, type PredictOptions, type PredictResult, type ServableState } from './servable';
import type { SessionSettings } from './session-options';
import type { NamedTensors } from './tensor';

/** Which model and version a request addresses. An empty name means the default model. */
export interface ModelRef {
  name?: string;
  /** Undefined: the latest available version. */
  version?: number;
  versionLabel?: string;
}

export interface ModelSource {
  name: string;
  path: string;
  version?: number;
  preprocess?: Record<string, unknown>;
}

export interface RuntimeOptions extends SessionSettings {
  maxImagePixels?: number;
  /** Most rows one request may hold (default 64); more is INVALID_ARGUMENT / 400. */
  maxRequestBatch?: number;
  /** A request still running after this long is answered DEADLINE_EXCEEDED / 504 (default 30 s; 0: no limit). */
  requestTimeoutMs?: number;
  /** Serve the models that load when some fail, instead of failing the whole start. */
  allowPartial?: boolean;
  /** Model answering requests that name none. */
  defaultModel?: string;
  /** Batching defaults for every model (a model's sidecar `batching` overrides them). */
  batching?: Record<string, unknown>;
}

export interface VersionStatus {
  version: number;
  state: ServableState | 'FAILED';
  error?: AccelError;
}

export type RuntimeEvent =
  | { kind: 'loaded'; servable: Servable; loadMs: number; warmupMs: number }
  | { kind: 'failed'; name: string; version: number; error: AccelError };

/**
 * The one inference core. Owns every loaded model version; protocol adapters translate their
 * wire format to {@link Runtime.predict} and map its {@link AccelError}s to status codes.
 *
 * @example
 * const runtime = new Runtime({ threads: 2 });
 * await runtime.load([{ name: 'resnet50', path: 'resnet50.onnx' }]);
 * const result = await runtime.predict({ name: 'resnet50' }, { images: { dtype: 'string', shape: [1], data: [jpeg] } });
 * result.outputs.output_alias; // [1, 1000] float32
 */
export class Runtime {
  private readonly models = new Map<string, Map<number, Servable>>();
  private readonly failures = new Map<string, Map<number, AccelError>>();
  /** Versions being loaded, as `name:version`. */
  private readonly loading = new Set<string>();
  private draining = false;
  private closed = false;

  constructor(readonly options: RuntimeOptions = {}) {}

  /** Names of models with at least one version known (loaded or failed). */
  get modelNames(): string[] {
    return [...new Set([...this.models.keys(), ...this.failures.keys()])].sort();
  }

  /**
   * True once every requested model version is loaded and warmed up, and not shutting down. A
   * version loaded into a running server (a hot swap) does not make it unready while another
   * version of that model serves.
   */
  get ready(): boolean {
    if (this.draining || this.closed || this.models.size === 0) return false;
    const names = [...this.loading].map((key) => key.slice(0, key.lastIndexOf(':')));
    return names.every((name) => [...(this.models.get(name)?.values() ?? [])].some((s) => s.state === 'AVAILABLE'));
  }

  /**
   * Loads and warms up each source in turn (one at a time: loading sessions in parallel only
   * competes for the same cores). Versions not given are numbered 1, 2, ... per name in order.
   * Throws the first load error unless `allowPartial` (or `opts.keepGoing`) is set.
   *
   * Also works on a running server: a new version starts answering requests for the latest
   * version once it is warmed up; then {@link Runtime.unload} the old one (a hot swap). A version
   * already loaded is refused (ACCEL_ERR_USAGE): unload it first.
   *
   * @example
   * await runtime.load([{ name: 'resnet50', path: 'resnet50-v2.onnx', version: 2 }]);
   * await runtime.unload('resnet50', 1); // after its in-flight requests
   */
  async load(sources: readonly ModelSource[], onEvent?: (e: RuntimeEvent) => void, opts: { keepGoing?: boolean } = {}): Promise<void> {
    if (this.closed) throw new AccelError('ACCEL_ERR_SHUTTING_DOWN');
    const planned = planVersions(sources);
    for (const s of planned) {
      if (this.models.get(s.name)?.has(s.version) || this.loading.has(`${s.name}:${s.version}`)) {
        throw new AccelError('ACCEL_ERR_USAGE', { reason: `Model "${s.name}" version ${s.version} is already loaded: unload it first, or give the new file another version number` });
      }
    }
    const keys = planned.map((s) => `${s.name}:${s.version}`);
    for (const key of keys) this.loading.add(key);
    try {
      for (const s of planned) await this.loadOne(s, onEvent, opts.keepGoing);
    } finally {
      for (const key of keys) this.loading.delete(key);
    }
  }

  private async loadOne(source: ModelSource & { version: number }, onEvent?: (e: RuntimeEvent) => void, keepGoing = false): Promise<void> {
    let servable: Servable | undefined;
    try {
      const t0 = performance.now();
      servable = await Servable.load({
        ...source,
        threads: this.options.threads,
        executionProvider: this.options.executionProvider,
        maxImagePixels: this.options.maxImagePixels,
        maxRequestBatch: this.options.maxRequestBatch,
        requestTimeoutMs: this.options.requestTimeoutMs,
        batching: this.options.batching,
      });
      const t1 = performance.now();
      await servable.warmUp();
      if (this.closed) throw new AccelError('ACCEL_ERR_SHUTTING_DOWN');
      servable.state = 'AVAILABLE';
      this.versions(source.name).set(source.version, servable);
      this.forgetFailure(source.name, source.version);
      onEvent?.({ kind: 'loaded', servable, loadMs: t1 - t0, warmupMs: performance.now() - t1 });
    } catch (err) {
      await servable?.unload().catch(() => undefined);
      const error =
        err instanceof AccelError && err.code === 'ACCEL_ERR_MODEL_LOAD'
          ? err
          : new AccelError('ACCEL_ERR_MODEL_LOAD', { model: source.name, version: source.version, path: source.path, reason: (err as Error).message }, { cause: err });
      let failed = this.failures.get(source.name);
      if (!failed) this.failures.set(source.name, (failed = new Map()));
      failed.set(source.version, error);
      onEvent?.({ kind: 'failed', name: source.name, version: source.version, error });
      if (!this.options.allowPartial && !keepGoing) throw error;
    }
  }

  /** The servable a reference resolves to. Throws NOT_FOUND / NOT_READY errors naming what exists. */
  resolve(ref: ModelRef): Servable {
    if (this.closed) throw new AccelError('ACCEL_ERR_SHUTTING_DOWN');
    const name = ref.name || this.defaultName();
    const versions = this.models.get(name);
    if (!versions) {
      throw new AccelError('ACCEL_ERR_MODEL_NOT_FOUND', { model: name, available: nameList([...this.models.keys()].sort()) });
    }
    if (ref.versionLabel) {
      throw new AccelError('ACCEL_ERR_VERSION_NOT_FOUND', { model: name, version: `labelled "${ref.versionLabel}"`, available: nameList(versions.keys()) });
    }
    if (ref.version === undefined) {
      const latest = Math.max(...[...versions.values()].filter((s) => s.state === 'AVAILABLE').map((s) => s.version));
      const servable = versions.get(latest);
      if (!servable) throw new AccelError('ACCEL_ERR_NOT_READY', { model: name, version: 'latest', state: 'no version available' });
      return servable;
    }
    const servable = versions.get(ref.version);
    if (!servable) {
      throw new AccelError('ACCEL_ERR_VERSION_NOT_FOUND', { model: name, version: ref.version, available: nameList([...versions.keys()].sort((a, b) => a - b)) });
    }
    if (servable.state !== 'AVAILABLE') {
      throw new AccelError('ACCEL_ERR_NOT_READY', { model: name, version: ref.version, state: servable.state });
    }
    return servable;
  }

  /** Runs a request on the model version `ref` resolves to. */
  predict(
    ref: ModelRef,
    inputs: NamedTensors,
    opts: PredictOptions = {},
  ): Promise<PredictResult> {
    return this.resolve(ref).predict(inputs, opts);
  }

  /** Status of each version of a model (all versions, or the one asked for), like TF Serving's GetModelStatus. */
  status(ref: ModelRef): VersionStatus[] {
    const name = ref.name || this.defaultName();
    const loaded = this.models.get(name) ?? new Map<number, Servable>();
    const failed = this.failures.get(name) ?? new Map<number, AccelError>();
    if (loaded.size === 0 && failed.size === 0) {
      throw new AccelError('ACCEL_ERR_MODEL_NOT_FOUND', { model: name, available: nameList(this.modelNames) });
    }
    const all: VersionStatus[] = [
      ...[...loaded.values()].map((s) => ({ version: s.version, state: s.state })),
      ...[...failed].map(([version, error]) => ({ version, state: 'FAILED' as const, error })),
    ].sort((a, b) => b.version - a.version);
    if (ref.version === undefined) return all;
    const one = all.filter((s) => s.version === ref.version);
    if (one.length === 0) {
      throw new AccelError('ACCEL_ERR_VERSION_NOT_FOUND', { model: name, version: ref.version, available: nameList(all.map((s) => s.version)) });
    }
    return one;
  }

  /** Every available servable, for listings. */
  servables(): Servable[] {
    return [...this.models.values()].flatMap((v) => [...v.values()]);
  }

  /** From now on readiness fails (load balancers stop sending); requests still arriving are served. */
  beginShutdown(): void {
    this.draining = true;
  }

  /**
   * Takes a version out of service: from now on requests for the latest version go to the next
   * highest available one, and requests naming this version get NOT_READY; resolves once the
   * requests already running on it have finished and its session is freed. The version is then
   * forgotten (a failed load is simply forgotten). The server stays up with no version of a model.
   */
  async unload(name: string, version: number): Promise<void> {
    const versions = this.models.get(name);
    const servable = versions?.get(version);
    if (!versions || !servable) {
      if (this.forgetFailure(name, version)) return;
      if (!versions) throw new AccelError('ACCEL_ERR_MODEL_NOT_FOUND', { model: name, available: nameList(this.modelNames) });
      throw new AccelError('ACCEL_ERR_VERSION_NOT_FOUND', { model: name, version, available: nameList([...versions.keys()].sort((a, b) => a - b)) });
    }
    await servable.unload();
    if (versions.get(version) === servable) versions.delete(version);
    if (versions.size === 0 && this.models.get(name) === versions) this.models.delete(name);
  }

  /**
   * Refuses new requests, waits for in-flight ones, frees every session. With `force` (the
   * grace period is over) queued and running requests are answered ACCEL_ERR_SHUTTING_DOWN at
   * once; sessions are freed as their current runs end.
   */
  async close(opts: { force?: boolean } = {}): Promise<void> {
    this.closed = true;
    await Promise.all(this.servables().map((s) => s.unload(opts)));
    this.models.clear();
  }

  private defaultName(): string {
    if (this.options.defaultModel) return this.options.defaultModel;
    const names = [...this.models.keys()].sort();
    if (names.length === 1) return names[0];
    throw new AccelError('ACCEL_ERR_NO_DEFAULT_MODEL', { available: nameList(names) });
  }

  private forgetFailure(name: string, version: number): boolean {
    const failed = this.failures.get(name);
    const known = failed?.delete(version) ?? false;
    if (failed?.size === 0) this.failures.delete(name);
    return known;
  }

  private versions(name: string): Map<number, Servable> {
    let v = this.models.get(name);
    if (!v) this.models.set(name, (v = new Map()));
    return v;
  }
}

/** Gives each source a version: its own, else 1, 2, ... per name in order, skipping the ones given. */
export function planVersions(sources: readonly ModelSource[]): Array<ModelSource & { version: number }> {
  const used = new Map<string, Set<number>>();
  for (const s of sources) {
    if (s.version === undefined) continue;
    if (!Number.isInteger(s.version) || s.version < 1) {
      throw new AccelError('ACCEL_ERR_USAGE', { reason: `Model "${s.name}": version must be a positive integer, got ${s.version}` });
    }
    const set = used.get(s.name) ?? new Set<number>();
    if (set.has(s.version)) throw new AccelError('ACCEL_ERR_USAGE', { reason: `Model "${s.name}" version ${s.version} is given twice` });
    used.set(s.name, set.add(s.version));
  }
  return sources.map((s) => {
    if (s.version !== undefined) return { ...s, version: s.version };
    const set = used.get(s.name) ?? new Set<number>();
    let v = 1;
    while (set.has(v)) v++;
    used.set(s.name, set.add(v));
    return { ...s, version: v };
  });
}
