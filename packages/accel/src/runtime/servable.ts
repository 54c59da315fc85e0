import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { DEFAULT_MAX_REQUEST_BATCH, DEFAULT_REQUEST_TIMEOUT_MS } from '../defaults';
import { AccelError, nameList } from '../errors';
import { BufferPool, decodeImageInto } from '../preprocess/image';
import { inferPreprocessSpec, mergePreprocessSpec, type PreprocessSpec } from '../preprocess/spec';
import { DEFAULT_BATCHING, mergeBatchingConfig, type BatchingConfig } from './batching';
import { Batcher } from './batcher';
import { buildSignature, DEFAULT_SIGNATURE, type Signature, type SignatureTensor } from './signature';
import { allocate, elementCount, isNumericDType, shapeString, type NamedTensors, type Tensor } from './tensor';
import { DETECTION_OUTPUTS, detectionSignature, parsePostprocess, runPostprocess, type PostprocessConfig } from './postprocess';
import { SessionHost } from './session-host';
import { sessionOptions, type SessionSettings } from './session-options';

export interface ServableConfig extends SessionSettings {
  name: string;
  version: number;
  path: string;
  /** Overrides applied over the sidecar spec (or the inferred one). */
  preprocess?: Record<string, unknown>;
  /** Batching defaults (from flags); the model's sidecar `batching` overrides them. */
  batching?: Record<string, unknown>;
  maxImagePixels?: number;
  /** Most rows one request may hold (default {@link DEFAULT_MAX_REQUEST_BATCH}). */
  maxRequestBatch?: number;
  /** A request still running after this long is answered DEADLINE_EXCEEDED (default {@link DEFAULT_REQUEST_TIMEOUT_MS}; 0: no limit). */
  requestTimeoutMs?: number;
}

export type ServableState = 'LOADING' | 'AVAILABLE' | 'UNLOADING' | 'END';

export interface PhaseTimings {
  /** Rows of the ONNX Runtime run this request was part of (more than its own when batched). */
  batchRows: number;
  queueMs: number;
  preprocessMs: number;
  inferenceMs: number;
  totalMs: number;
}

/** Options of one predict call. */
export interface PredictOptions {
  /** Output aliases to return; all signature outputs when empty. */
  outputFilter?: readonly string[];
  signatureName?: string;
  /** Epoch milliseconds after which the caller no longer wants the answer: queued work is dropped. */
  deadline?: number;
  /** Aborted when the caller went away (a cancelled call): queued work is dropped. */
  signal?: AbortSignal;
}

export interface PredictResult {
  model: string;
  version: number;
  outputs: NamedTensors;
  timings: PhaseTimings;
}

interface GraphInput {
  name: string;
  dtype: string;
  shape: number[];
  preprocess?: PreprocessSpec;
  pool?: BufferPool;
}

/** The sidecar file beside a model: `model.onnx` -> `model.accel.json`. */
export function sidecarPath(modelPath: string): string {
  return modelPath.replace(/\.onnx$/i, '') + '.accel.json';
}

/** A model path may be the .onnx file or a folder holding `model.onnx` (what `accel convert` registers). */
async function modelFile(path: string): Promise<string> {
  const info = await stat(path).catch(() => undefined);
  return info?.isDirectory() ? join(path, 'model.onnx') : path;
}

async function readSidecar(modelPath: string): Promise<Record<string, unknown>> {
  const path = sidecarPath(modelPath);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw err;
  }
  const parsed = JSON.parse(text) as unknown;
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new Error(`${path} must hold a JSON object`);
  }
  return parsed as Record<string, unknown>;
}

let warmupJpeg: Promise<Buffer> | undefined;
function syntheticJpeg(): Promise<Buffer> {
  warmupJpeg ??= sharp({ create: { width: 256, height: 256, channels: 3, background: { r: 120, g: 110, b: 100 } } })
    .jpeg()
    .toBuffer();
  return warmupJpeg;
}

/** One loaded version of one model: an ONNX Runtime session, its signature and preprocessing. */
export class Servable {
  state: ServableState = 'LOADING';
  private readonly batcher: Batcher;
  private readonly inputByAlias: Map<string, SignatureTensor>;
  private readonly outputByAlias: Map<string, SignatureTensor>;
  private readonly graphInputs: Map<string, GraphInput>;
  private inFlight = 0;
  private unloading?: Promise<void>;

  private constructor(
    readonly config: ServableConfig,
    private readonly session: SessionHost,
    graphInputs: GraphInput[],
    readonly signature: Signature,
    readonly batching: BatchingConfig,
    private readonly postprocess?: PostprocessConfig,
  ) {
    this.graphInputs = new Map(graphInputs.map((g) => [g.name, g]));
    const batchable = graphInputs.every((g) => g.shape.length > 0 && g.shape[0] < 0);
    this.batcher = new Batcher(
      async (feeds, fetches) => {
        try {
          return await this.session.run(feeds, fetches);
        } catch (err) {
          throw new AccelError('ACCEL_ERR_INFERENCE', { model: this.name, version: this.version, reason: (err as Error).message }, { cause: err });
        }
      },
      batchable ? batching : { ...batching, maxBatchSize: 1 },
      batchable,
      { model: config.name, version: config.version },
    );
    this.inputByAlias = new Map(signature.inputs.map((s) => [s.alias, s]));
    this.outputByAlias = new Map(signature.outputs.map((s) => [s.alias, s]));
  }

  get name(): string {
    return this.config.name;
  }
  get version(): number {
    return this.config.version;
  }
  /** The preprocessing spec of each image input. */
  get preprocessSpecs(): Record<string, PreprocessSpec> {
    const out: Record<string, PreprocessSpec> = {};
    for (const g of this.graphInputs.values()) if (g.preprocess) out[g.name] = g.preprocess;
    return out;
  }

  /** Loads the model file, its sidecar spec, and builds the signature. Throws ACCEL_ERR_MODEL_LOAD. */
  static async load(given: ServableConfig): Promise<Servable> {
    const config = { ...given, path: await modelFile(given.path) };
    const fail = (reason: string, cause?: unknown) =>
      new AccelError('ACCEL_ERR_MODEL_LOAD', { model: config.name, version: config.version, path: config.path, reason }, { cause });
    let session: SessionHost;
    let sidecar: Record<string, unknown>;
    try {
      sidecar = await readSidecar(config.path);
    } catch (err) {
      throw fail(`bad sidecar ${sidecarPath(config.path)}: ${(err as Error).message}`, err);
    }
    try {
      session = await SessionHost.create(config.path, sessionOptions(config));
    } catch (err) {
      throw fail((err as Error).message.replace(/\s+/g, ' ').trim(), err);
    }
    try {
      const patch = { ...((sidecar.preprocess as Record<string, unknown> | undefined) ?? {}), ...(config.preprocess ?? {}) };
      const graphInputs: GraphInput[] = session.inputMetadata.map((m) => {
        const dtype = m.isTensor ? m.type : 'unknown';
        const shape = m.isTensor ? m.shape.map((d) => (typeof d === 'number' && d > 0 ? d : -1)) : [];
        const inferred = m.isTensor ? inferPreprocessSpec(m.type, m.shape) : undefined;
        if (!inferred) return { name: m.name, dtype, shape };
        const spec = mergePreprocessSpec(inferred, patch);
        return { name: m.name, dtype, shape, preprocess: spec, pool: new BufferPool(3 * spec.width * spec.height) };
      });
      const images = new Set(graphInputs.filter((g) => g.preprocess).map((g) => g.name));
      const batching = mergeBatchingConfig(mergeBatchingConfig(DEFAULT_BATCHING, config.batching), sidecar.batching as Record<string, unknown> | undefined);
      const postprocess = parsePostprocess(sidecar.postprocess);
      const signature = buildSignature(session.inputMetadata, session.outputMetadata, images);
      if (postprocess) signature.outputs.push(...detectionSignature(postprocess));
      return new Servable(config, session, graphInputs, signature, batching, postprocess);
    } catch (err) {
      await session.release().catch(() => undefined);
      throw err instanceof AccelError && err.code === 'ACCEL_ERR_MODEL_LOAD' ? err : fail((err as Error).message, err);
    }
  }

  /**
   * Runs a request through the whole path (decode, run) so the first client does not pay for
   * it: at batch 1, and at the largest batch when batching is on.
   */
  async warmUp(): Promise<void> {
    const sizes = this.batching.maxBatchSize > 1 && [...this.graphInputs.values()].every((g) => g.shape[0] < 0) ? [1, this.batching.maxBatchSize] : [1];
    for (const n of sizes) {
      const inputs: NamedTensors = {};
      for (const g of this.graphInputs.values()) {
        if (g.preprocess) {
          inputs[g.name] = { dtype: 'string', shape: [n], data: new Array(n).fill(await syntheticJpeg()) };
        } else {
          if (!isNumericDType(g.dtype)) continue;
          const shape = g.shape.map((d, i) => (d >= 0 ? d : i === 0 ? n : 1));
          inputs[g.name] = { dtype: g.dtype, shape, data: allocate(g.dtype, elementCount(shape)) };
        }
      }
      await this.execute(inputs);
    }
  }

  /**
   * Runs the model on named tensors (signature aliases or graph names). Strings on an image
   * input are decoded per its preprocessing spec. `outputFilter` picks outputs by alias.
   * Refuses more than `maxRequestBatch` rows; answers DEADLINE_EXCEEDED after `requestTimeoutMs`
   * (the run itself cannot be stopped: it finishes and its result is dropped).
   */
  async predict(inputs: NamedTensors, opts: PredictOptions = {}): Promise<PredictResult> {
    this.checkRequestRows(inputs);
    const timeoutMs = Math.min(this.config.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS, 2 ** 31 - 1);
    if (timeoutMs === 0) return this.execute(inputs, opts);
    const deadline = Math.min(opts.deadline ?? Infinity, Date.now() + timeoutMs);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new AccelError('ACCEL_ERR_REQUEST_TIMEOUT', { model: this.name, version: this.version, timeoutMs })), timeoutMs);
    });
    try {
      return await Promise.race([this.execute(inputs, { ...opts, deadline }), timedOut]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async execute(inputs: NamedTensors, opts: PredictOptions = {}): Promise<PredictResult> {
    const start = performance.now();
    if (opts.signatureName && opts.signatureName !== DEFAULT_SIGNATURE) {
      throw new AccelError('ACCEL_ERR_SIGNATURE_NOT_FOUND', { signature: opts.signatureName, model: this.name });
    }
    const fetches = this.resolveOutputs(opts.outputFilter);
    this.inFlight++;
    const pooled: Array<{ pool: BufferPool; buf: Float32Array }> = [];
    try {
      const feeds: Record<string, ort.Tensor> = {};
      const aliasOf = new Map<string, string>();
      for (const alias of Object.keys(inputs)) {
        const entry = this.inputByAlias.get(alias);
        if (!entry) throw this.inputError('ACCEL_ERR_UNKNOWN_INPUT', alias);
        const other = aliasOf.get(entry.tensorName);
        if (other !== undefined) {
          throw new AccelError('ACCEL_ERR_BAD_REQUEST', { reason: `inputs "${other}" and "${alias}" name the same tensor; send one` });
        }
        aliasOf.set(entry.tensorName, alias);
      }
      for (const g of this.graphInputs.values()) {
        if (!aliasOf.has(g.name)) throw this.inputError('ACCEL_ERR_MISSING_INPUT', this.preferredAlias(g.name));
      }
      await Promise.all(
        [...aliasOf].map(async ([tensorName, alias]) => {
          feeds[tensorName] = await this.toFeed(alias, this.graphInputs.get(tensorName)!, inputs[alias], pooled);
        }),
      );
      const rows = this.checkBatch(feeds, aliasOf);
      const preprocessed = performance.now();
      const derived = fetches.filter((f) => this.isDerived(f.tensorName));
      const graphFetches = fetches.filter((f) => !this.isDerived(f.tensorName)).map((f) => f.tensorName);
      // Derived outputs (detections) need every raw output of the graph.
      if (derived.length) graphFetches.push(...this.session.outputMetadata.map((m) => m.name));
      const run = await this.batcher.submit(feeds, rows, [...new Set(graphFetches)], { deadline: opts.deadline, signal: opts.signal });
      const outputs: NamedTensors = {};
      for (const f of fetches) if (!this.isDerived(f.tensorName)) outputs[f.alias] = fromOrt(run.outputs[f.tensorName]);
      if (derived.length && this.postprocess) {
        const raw: NamedTensors = {};
        for (const m of this.session.outputMetadata) raw[m.name] = fromOrt(run.outputs[m.name]);
        const detections = runPostprocess(this.postprocess, raw);
        for (const f of derived) outputs[f.alias] = detections[f.tensorName];
      }
      const end = performance.now();
      return {
        model: this.name,
        version: this.version,
        outputs,
        timings: {
          batchRows: run.batchRows,
          queueMs: run.queueMs,
          preprocessMs: preprocessed - start,
          inferenceMs: run.inferenceMs,
          totalMs: end - start,
        },
      };
    } finally {
      for (const p of pooled) p.pool.release(p.buf);
      this.inFlight--;
    }
  }

  /**
   * Stops taking new requests, lets the in-flight ones finish, then frees the session. Idempotent.
   * `force` (also on an unload already under way) answers queued and running requests
   * ACCEL_ERR_SHUTTING_DOWN now; the session is freed once its current run ends (stopping
   * ONNX Runtime's thread mid-run aborts the process).
   */
  unload(opts: { force?: boolean } = {}): Promise<void> {
    if (opts.force) {
      this.state = 'UNLOADING';
      this.batcher.abort(new AccelError('ACCEL_ERR_SHUTTING_DOWN'));
    }
    this.unloading ??= (async () => {
      this.state = 'UNLOADING';
      while (this.inFlight > 0) await new Promise((r) => setTimeout(r, 5));
      await this.batcher.drain();
      await this.session.release();
      this.state = 'END';
    })();
    return this.unloading;
  }

  /** Before any decoding: each batched input may hold at most `maxRequestBatch` rows. */
  private checkRequestRows(inputs: NamedTensors): void {
    const limit = this.config.maxRequestBatch ?? DEFAULT_MAX_REQUEST_BATCH;
    for (const [alias, t] of Object.entries(inputs)) {
      const g = this.graphInputs.get(this.inputByAlias.get(alias)?.tensorName ?? '');
      if (!g || !(g.shape[0] < 0 || g.preprocess)) continue;
      const rows = t.dtype === 'string' ? t.data.length : (t.shape[0] ?? 1);
      if (rows > limit) throw new AccelError('ACCEL_ERR_BATCH_TOO_LARGE', { input: alias, rows, limit });
    }
  }

  private preferredAlias(tensorName: string): string {
    return this.signature.inputs.find((s) => s.tensorName === tensorName)!.alias;
  }

  private inputError(code: 'ACCEL_ERR_UNKNOWN_INPUT' | 'ACCEL_ERR_MISSING_INPUT', input: string): AccelError {
    return new AccelError(code, { input, model: this.name, expected: nameList(this.inputByAlias.keys()) });
  }

  private isDerived(tensorName: string): boolean {
    return this.postprocess !== undefined && (DETECTION_OUTPUTS as readonly string[]).includes(tensorName);
  }

  private resolveOutputs(filter: readonly string[] | undefined): SignatureTensor[] {
    if (!filter || filter.length === 0) return this.signature.outputs;
    return filter.map((alias) => {
      const entry = this.outputByAlias.get(alias);
      if (!entry) {
        throw new AccelError('ACCEL_ERR_UNKNOWN_OUTPUT', { output: alias, model: this.name, expected: nameList(this.outputByAlias.keys()) });
      }
      return entry;
    });
  }

  private async toFeed(
    alias: string,
    g: GraphInput,
    tensor: Tensor,
    pooled: Array<{ pool: BufferPool; buf: Float32Array }>,
  ): Promise<ort.Tensor> {
    if (tensor.dtype === 'string') {
      if (!g.preprocess || !g.pool) {
        throw new AccelError('ACCEL_ERR_BAD_DTYPE', { input: alias, got: 'string', expected: g.dtype, model: this.name });
      }
      if (tensor.shape.length > 1) {
        throw new AccelError('ACCEL_ERR_BAD_SHAPE', { input: alias, got: shapeString(tensor.shape), expected: '[N] encoded images', model: this.name });
      }
      const n = tensor.data.length;
      if (n === 0) throw new AccelError('ACCEL_ERR_EMPTY_BATCH', { input: alias });
      const spec = g.preprocess;
      const itemSize = 3 * spec.width * spec.height;
      const buf = g.pool.acquire(n);
      pooled.push({ pool: g.pool, buf });
      const settled = await Promise.allSettled(
        tensor.data.map((bytes, index) =>
          decodeImageInto(bytes, spec, buf, index * itemSize, { input: alias, index, maxPixels: this.config.maxImagePixels }),
        ),
      );
      const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
      if (failed) throw failed.reason;
      const dims = spec.layout === 'NCHW' ? [n, 3, spec.height, spec.width] : [n, spec.height, spec.width, 3];
      return new ort.Tensor('float32', buf, dims);
    }
    if (tensor.dtype !== g.dtype) {
      throw new AccelError('ACCEL_ERR_BAD_DTYPE', { input: alias, got: tensor.dtype, expected: g.dtype, model: this.name });
    }
    const fits = tensor.shape.length === g.shape.length && g.shape.every((d, i) => d < 0 || d === tensor.shape[i]);
    if (!fits) {
      throw new AccelError('ACCEL_ERR_BAD_SHAPE', { input: alias, got: shapeString(tensor.shape), expected: shapeString(g.shape), model: this.name });
    }
    if (g.shape.length > 0 && g.shape[0] < 0 && tensor.shape[0] === 0) throw new AccelError('ACCEL_ERR_EMPTY_BATCH', { input: alias });
    return new ort.Tensor(tensor.dtype as 'float32', tensor.data as Float32Array, tensor.shape);
  }

  /** The request's batch size (rows along axis 0); inputs with a batch axis must agree on it. */
  private checkBatch(feeds: Record<string, ort.Tensor>, aliasOf: Map<string, string>): number {
    const batched = [...this.graphInputs.values()].filter((g) => g.shape.length > 0 && g.shape[0] < 0);
    const sizes = new Set(batched.map((g) => feeds[g.name].dims[0]));
    if (sizes.size > 1) {
      const detail = batched.map((g) => `${aliasOf.get(g.name)}=${feeds[g.name].dims[0]}`).join(', ');
      throw new AccelError('ACCEL_ERR_BATCH_MISMATCH', { detail });
    }
    return sizes.size === 1 ? [...sizes][0] : 1;
  }
}

function fromOrt(t: ort.Tensor): Tensor {
  const shape = [...t.dims];
  if (t.type === 'string') {
    return { dtype: 'string', shape, data: (t.data as string[]).map((s) => Buffer.from(s)) };
  }
  return { dtype: t.type as Exclude<Tensor['dtype'], 'string'>, shape, data: t.data as Float32Array };
}
