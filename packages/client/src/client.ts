import { readFile } from 'node:fs/promises';
import * as grpc from '@grpc/grpc-js';
import { PredictionError, StatusCode, fromGrpcError } from './errors';
import { loadServingProtos, unpackAny } from './proto';
import { RestTransport, clientCertHint, pickOutputs } from './rest';
import { checkShape, decodeTensor, elementCount, encodeTensor, toFloat32, type Tensor, type TensorProtoObject } from './tensor';
import { parseAddress } from './address';
import { optionalSpec, refOf, specOf, type ModelMetadata, type ModelRef, type ModelStatus, type PredictRequest, type PredictResponse } from './wire';

export interface PredictionClientOptions {
  /** `host`, `host:port`, `[v6]:port` or `http(s)://host[:port]` (the scheme sets `useSsl`; no port there means 80/443). */
  address: string;
  /** Default 8500 for gRPC, 8501 for REST (when `address` names no port). */
  port?: number;
  /**
   * TLS, both protocols: `true` trusts the default roots; `{ ca }` trusts these PEM CA
   * certificate(s) instead (a private CA, or a self-signed server certificate); `cert` and
   * `key` (PEM, together) are this client's certificate for servers that require one
   * (mutual TLS, `accel serve --tls-ca`).
   * Default: on for https:// addresses, off otherwise. `{ ca }` is the same as `useSsl` + `rootCerts`.
   *
   * @example
   * new PredictionClient({ address: 'scorer.internal:8500', apiKey, tls: { ca: readFileSync('ca.pem') } })
   * // mutual TLS:
   * new PredictionClient({ address: 'scorer.internal:8500', tls: { ca: readFileSync('ca.crt'), cert: readFileSync('client.crt'), key: readFileSync('client.key') } })
   */
  tls?: boolean | { ca?: string | Uint8Array; cert?: string | Uint8Array; key?: string | Uint8Array };
  /** TLS. Default false (true for https:// addresses or when `rootCerts` is given). Prefer `tls`. */
  useSsl?: boolean;
  /** PEM root certificates trusted for TLS (default: the system roots). Prefer `tls: { ca }`. */
  rootCerts?: string | Uint8Array;
  /** Sent as `x-accel-service` on every call, for gateways that route by service. */
  serviceName?: string;
  /** Sent as `authorization: Bearer <apiKey>` on every call. */
  apiKey?: string;
  /** Default 'grpc'. */
  protocol?: 'grpc' | 'rest';
  /** Model addressed when a call names none. Without one, gRPC calls send no model_spec (the server's default model). */
  modelName?: string;
  /** Version number, or a version label such as 'stable'. Default: the latest. */
  modelVersion?: number | string;
  /** Overall time for a call, retries included. Default 10000. */
  deadlineMs?: number;
  /** Extra attempts after an UNAVAILABLE failure. Default 3. */
  retries?: number;
  /** First backoff; doubles per retry, with jitter, capped at `maxBackoffMs`. Default 50. */
  backoffMs?: number;
  /** Default 2000. */
  maxBackoffMs?: number;
  /** gRPC message size limit, both directions. Default 64 MiB. */
  maxMessageBytes?: number;
  /** gRPC: 'round_robin' resolves `address` by DNS and spreads calls over every address (headless Services). Default 'pick_first'. */
  loadBalancing?: 'pick_first' | 'round_robin';
  /** Extra grpc-js channel options. */
  channelOptions?: grpc.ChannelOptions;
}

export interface CallOptions {
  /** Overall time for this call (retries included); default the client's `deadlineMs`. */
  deadlineMs?: number;
}

export interface ScoreOptions<O extends readonly string[] = readonly string[]> extends CallOptions {
  /** Signature input alias. Default 'images' (scoreImage) / 'input' (scoreTensor). */
  inputName?: string;
  /** Output aliases to return. Default ['output_alias']; `[]` asks for every output (scoreImageTensors/scoreTensorTensors). */
  outputs?: O;
  /** Model name; default the client's `modelName`. */
  model?: string;
  /** Version number or label; default the client's `modelVersion`. */
  version?: number | string;
  signatureName?: string;
}

/** One requested output: a Float32Array. Several: a map by name. */
export type ScoreResult<O extends readonly string[]> = number extends O['length']
  ? Float32Array | Record<O[number], Float32Array>
  : O['length'] extends 1 ? Float32Array : Record<O[number], Float32Array>;

type Unary = (req: unknown, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: unknown) => void) => void;

const DEFAULT_OUTPUTS = ['output_alias'] as const;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A TF Serving Predict client for Accel (or any TF Serving) services, over gRPC
 * (default) or REST. Only UNAVAILABLE is retried, inside one deadline per call;
 * failures reject with a PredictionError.
 *
 * @example
 * const client = new PredictionClient({ address: 'localhost:8500', apiKey: process.env.ACCEL_KEY });
 * const probabilities = await client.scoreFile('snow-leopard.jpg'); // Float32Array(1000)
 * console.log(topK(probabilities, 5, imagenetLabels()));
 * client.close();
 */
export class PredictionClient {
  /** `host:port` (gRPC) or base URL (REST) the client talks to. */
  readonly target: string;
  readonly protocol: 'grpc' | 'rest';
  readonly #o: Required<Pick<PredictionClientOptions, 'deadlineMs' | 'retries' | 'backoffMs' | 'maxBackoffMs'>> & PredictionClientOptions;
  readonly #predictStub?: Record<string, Unary> & grpc.Client;
  readonly #modelStub?: Record<string, Unary> & grpc.Client;
  readonly #rest?: RestTransport;
  readonly #tls: boolean = false;
  readonly #hasCert: boolean = false;
  #closed = false;

  constructor(options: PredictionClientOptions) {
    const protocol = options.protocol ?? 'grpc';
    if (protocol !== 'grpc' && protocol !== 'rest') throw new TypeError(`'protocol' must be 'grpc' or 'rest', got ${String(protocol)}`);
    const given = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as PredictionClientOptions;
    this.#o = { deadlineMs: 10_000, retries: 3, backoffMs: 50, maxBackoffMs: 2_000, ...given };
    positive('deadlineMs', this.#o.deadlineMs);
    positive('backoffMs', this.#o.backoffMs, true);
    positive('maxBackoffMs', this.#o.maxBackoffMs, true);
    if (!Number.isSafeInteger(this.#o.retries) || this.#o.retries < 0) throw new RangeError(`'retries' must be a non-negative integer, got ${this.#o.retries}`);
    this.protocol = protocol;
    const { useSsl, rootCerts, clientCert } = tlsOptions(options);
    const addr = parseAddress({ address: options.address, port: options.port, useSsl, rootCerts }, protocol);
    if (rootCerts !== undefined && !addr.useSsl) throw new TypeError("a CA ('tls.ca' or 'rootCerts') needs TLS, but TLS is off");

    if (protocol === 'rest') {
      this.target = `${addr.useSsl ? 'https' : 'http'}://${addr.host}:${addr.port}${addr.basePath}`;
      this.#rest = new RestTransport({ baseUrl: this.target, apiKey: options.apiKey, serviceName: options.serviceName, ca: rootCerts, ...clientCert });
      return;
    }
    const max = options.maxMessageBytes ?? 64 * 1024 * 1024;
    positive('maxMessageBytes', max);
    const channelOptions: grpc.ChannelOptions = {
      'grpc.max_receive_message_length': max,
      'grpc.max_send_message_length': max,
      // Reconnect on the same schedule as our retries, so a retried call finds a
      // restarted server instead of failing fast on grpc-js's 1 s reconnect backoff.
      'grpc.initial_reconnect_backoff_ms': Math.max(10, this.#o.backoffMs),
      'grpc.max_reconnect_backoff_ms': Math.max(10, this.#o.backoffMs, this.#o.maxBackoffMs),
      ...(options.loadBalancing === 'round_robin' ? { 'grpc.service_config': JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] }) } : {}),
      ...options.channelOptions,
    };
    this.#tls = addr.useSsl;
    this.#hasCert = clientCert !== undefined;
    const creds = addr.useSsl
      ? grpc.credentials.createSsl(
          rootCerts === undefined ? null : Buffer.from(rootCerts),
          clientCert ? Buffer.from(clientCert.key) : null,
          clientCert ? Buffer.from(clientCert.cert) : null,
        )
      : grpc.credentials.createInsecure();
    this.target = `${options.loadBalancing === 'round_robin' ? 'dns:///' : ''}${addr.host}:${addr.port}`;
    const { PredictionService, ModelService } = loadServingProtos();
    this.#predictStub = new PredictionService(this.target, creds, channelOptions) as unknown as Record<string, Unary> & grpc.Client;
    // One channel (one HTTP/2 connection) for both services.
    const channelOverride = this.#predictStub.getChannel();
    this.#modelStub = new ModelService(this.target, creds, { channelOverride }) as unknown as Record<string, Unary> & grpc.Client;
  }

  /**
   * A raw TF Serving Predict: PredictRequest in, PredictResponse out (proto-loader
   * shapes). A request without model_spec gets the client's model, if it has one.
   * Over REST the tensors are converted to and from JSON.
   */
  async predict(request: PredictRequest, opts: CallOptions = {}): Promise<PredictResponse> {
    const spec = request.model_spec ?? specOf(this.#ref());
    if (this.#rest) {
      const ref = refOf(spec);
      const inputs = Object.fromEntries(Object.entries(request.inputs ?? {}).map(([k, v]) => [k, decodeTensor(v, k)]));
      const out = await this.#retry(opts.deadlineMs, (d) => this.#rest!.predict(ref, inputs, request.output_filter ?? [], d));
      return { model_spec: spec, outputs: Object.fromEntries(Object.entries(out).map(([k, t]) => [k, encodeTensor(t)])) };
    }
    const req = spec ? { ...request, model_spec: spec } : request;
    return this.#retry(opts.deadlineMs, (d) => this.#unary<PredictResponse>(this.#predictStub!, 'Predict', req, d));
  }

  /**
   * Scores encoded images (JPEG/PNG bytes; one or a batch) sent as a DT_STRING
   * tensor of shape [N]. One requested output gives its Float32Array; several
   * give a map by name.
   */
  async scoreImage<const O extends readonly string[] = typeof DEFAULT_OUTPUTS>(
    images: Uint8Array | readonly Uint8Array[],
    opts: ScoreOptions<O> = {},
  ): Promise<ScoreResult<O>> {
    return floats(await this.scoreImageTensors(images, opts), opts.outputs ?? DEFAULT_OUTPUTS);
  }

  /** Like scoreImage, with every requested output as a decoded tensor (dtype, shape, data). */
  async scoreImageTensors(images: Uint8Array | readonly Uint8Array[], opts: ScoreOptions = {}): Promise<Record<string, Tensor>> {
    const list = images instanceof Uint8Array ? [images] : [...images];
    if (list.length === 0 || !list.every((b) => b instanceof Uint8Array)) {
      throw new TypeError("'images' must be a Uint8Array or a non-empty array of them");
    }
    return this.#predictTensors(opts.inputName ?? 'images', { dtype: 'DT_STRING', shape: [list.length], data: list }, opts);
  }

  /** Reads image file(s) and scores them with scoreImage. */
  async scoreFile<const O extends readonly string[] = typeof DEFAULT_OUTPUTS>(
    path: string | readonly string[],
    opts: ScoreOptions<O> = {},
  ): Promise<ScoreResult<O>> {
    const paths = typeof path === 'string' ? [path] : path;
    return this.scoreImage(await Promise.all(paths.map((p) => readFile(p))), opts);
  }

  /** Scores a float tensor (row-major `data` of `shape`), sent as DT_FLOAT. Input alias default 'input'. */
  async scoreTensor<const O extends readonly string[] = typeof DEFAULT_OUTPUTS>(
    data: Float32Array | readonly number[],
    shape: readonly number[],
    opts: ScoreOptions<O> = {},
  ): Promise<ScoreResult<O>> {
    return floats(await this.scoreTensorTensors(data, shape, opts), opts.outputs ?? DEFAULT_OUTPUTS);
  }

  /** Like scoreTensor, with every requested output as a decoded tensor. */
  async scoreTensorTensors(data: Float32Array | readonly number[], shape: readonly number[], opts: ScoreOptions = {}): Promise<Record<string, Tensor>> {
    checkShape(shape);
    if (elementCount(shape) !== data.length) {
      throw new TypeError(`'shape' [${shape.join(', ')}] holds ${elementCount(shape)} elements but 'data' has ${data.length}`);
    }
    const f32 = data instanceof Float32Array ? data : Float32Array.from(data);
    return this.#predictTensors(opts.inputName ?? 'input', { dtype: 'DT_FLOAT', shape: [...shape], data: f32 }, opts);
  }

  /** Signatures of a model: `{ model_spec, metadata: { signature_def: { signature_def: {...} } } }`. */
  async getModelMetadata(model?: string, opts: CallOptions & { version?: number | string } = {}): Promise<ModelMetadata> {
    const ref = this.#ref(model, opts.version);
    if (this.#rest) return this.#retry(opts.deadlineMs, (d) => this.#rest!.metadata(ref, d)) as Promise<ModelMetadata>;
    const req = { ...optionalSpec(ref), metadata_field: ['signature_def'] };
    const res = await this.#retry(opts.deadlineMs, (d) => this.#unary<ModelMetadata>(this.#predictStub!, 'GetModelMetadata', req, d));
    const any = res.metadata?.signature_def as { type_url?: string; value?: Uint8Array } | undefined;
    if (any?.type_url) res.metadata.signature_def = unpackAny(any).message as ModelMetadata['metadata']['signature_def'];
    return res;
  }

  /** Version states of a model: `{ model_version_status: [{ version, state, status }] }`. */
  async getModelStatus(model?: string, version?: number | string, opts: CallOptions = {}): Promise<ModelStatus> {
    const ref = this.#ref(model, version);
    if (this.#rest) return this.#retry(opts.deadlineMs, (d) => this.#rest!.status(ref, d)) as Promise<ModelStatus>;
    return this.#retry(opts.deadlineMs, (d) => this.#unary<ModelStatus>(this.#modelStub!, 'GetModelStatus', optionalSpec(ref), d));
  }

  /** Closes the gRPC channels. Later calls fail with FAILED_PRECONDITION. */
  close(): void {
    this.#closed = true;
    this.#predictStub?.close();
    this.#modelStub?.close();
    this.#rest?.close();
  }

  async #predictTensors(inputName: string, input: Tensor, opts: ScoreOptions): Promise<Record<string, Tensor>> {
    const outputs = [...(opts.outputs ?? DEFAULT_OUTPUTS)];
    const ref = this.#ref(opts.model, opts.version, opts.signatureName);
    if (this.#rest) return this.#retry(opts.deadlineMs, (d) => this.#rest!.predict(ref, { [inputName]: input }, outputs, d));
    const req: PredictRequest = { ...optionalSpec(ref), inputs: { [inputName]: encodeTensor(input) }, output_filter: outputs };
    const res = await this.#retry(opts.deadlineMs, (d) => this.#unary<PredictResponse>(this.#predictStub!, 'Predict', req, d));
    return pickOutputs<TensorProtoObject>(res.outputs ?? {}, outputs, decodeTensor);
  }

  #ref(model?: string, version?: number | string, signatureName?: string): ModelRef {
    const ref: ModelRef = {};
    const name = model ?? this.#o.modelName;
    if (name) ref.name = name;
    const v = version ?? this.#o.modelVersion;
    if (v !== undefined && v !== '') {
      if (typeof v === 'number' || /^\d+$/.test(v)) {
        if (!Number.isSafeInteger(Number(v)) || Number(v) < 0) throw new RangeError(`'version' must be a non-negative integer or a label, got ${v}`);
        ref.version = String(v);
      } else ref.label = v;
    }
    if (signatureName) ref.signatureName = signatureName;
    return ref;
  }

  async #retry<T>(deadlineMs: number | undefined, attempt: (deadline: number) => Promise<T>): Promise<T> {
    if (this.#closed) throw new PredictionError({ code: StatusCode.FAILED_PRECONDITION, message: 'the client is closed' });
    const budget = deadlineMs ?? this.#o.deadlineMs;
    positive('deadlineMs', budget);
    const deadline = Date.now() + budget;
    for (let i = 0; ; i++) {
      try {
        return await attempt(deadline);
      } catch (err) {
        if (!(err instanceof PredictionError)) throw err;
        err.attempts = i + 1;
        if (!err.retryable || i >= this.#o.retries || this.#closed) throw err;
        const cap = Math.min(this.#o.maxBackoffMs, this.#o.backoffMs * 2 ** i);
        const delay = cap / 2 + (Math.random() * cap) / 2;
        if (Date.now() + delay >= deadline) throw err;
        await sleep(delay);
      }
    }
  }

  #unary<T>(stub: Record<string, Unary>, method: string, req: unknown, deadline: number): Promise<T> {
    const md = new grpc.Metadata();
    if (this.#o.apiKey) md.set('authorization', `Bearer ${this.#o.apiKey}`);
    if (this.#o.serviceName) md.set('x-accel-service', this.#o.serviceName);
    return new Promise<T>((resolve, reject) => {
      stub[method]!.call(stub, req, md, { deadline: new Date(deadline) }, (err, res) => (err ? reject(this.#withTlsHint(fromGrpcError(err))) : resolve(res as T)));
    });
  }

  /** Connection failures that usually mean a TLS mismatch say which option to set. */
  #withTlsHint(err: PredictionError): PredictionError {
    if (err.code !== StatusCode.UNAVAILABLE) return err;
    let hint = '';
    const certHint = this.#tls ? clientCertHint(err.details, this.#hasCert) : undefined;
    if (certHint) {
      hint = certHint;
    } else if (!this.#tls && /Failed to connect|Connection dropped|Protocol error|ECONNRESET/i.test(err.details)) {
      hint = ' (if the server uses TLS, set tls: true, or tls: { ca } for a private CA)';
    } else if (this.#tls && /self[- ]signed|unable to (get|verify)|certificate/i.test(err.details)) {
      hint = " (the server's certificate is not trusted: give its CA as tls: { ca })";
    }
    return hint ? new PredictionError({ code: err.code, message: err.details + hint, accelCode: err.accelCode, cause: err }) : err;
  }
}

type Pem = string | Uint8Array;

/** `tls` folded into `useSsl` + `rootCerts` (+ a client certificate); giving both forms is fine only when they agree. */
function tlsOptions(o: PredictionClientOptions): { useSsl?: boolean; rootCerts?: Pem; clientCert?: { cert: Pem; key: Pem } } {
  const { tls } = o;
  if (tls === undefined) return { useSsl: o.useSsl, rootCerts: o.rootCerts ?? undefined };
  if (typeof tls !== 'boolean' && (typeof tls !== 'object' || tls === null)) throw new TypeError(`'tls' must be true, false or { ca, cert, key }, got ${String(tls)}`);
  const useSsl = tls !== false;
  if (o.useSsl !== undefined && o.useSsl !== useSsl) throw new TypeError(`'useSsl' ${o.useSsl} contradicts 'tls'; give 'tls' only`);
  const { ca, cert, key } = typeof tls === 'object' ? tls : {};
  for (const [name, v] of [['ca', ca], ['cert', cert], ['key', key]] as const) {
    if (v !== undefined && typeof v !== 'string' && !(v instanceof Uint8Array)) throw new TypeError(`'tls.${name}' must be PEM text (a string or a Buffer)`);
  }
  if (ca !== undefined && o.rootCerts !== undefined) throw new TypeError("give the CA once: 'tls.ca' or 'rootCerts', not both");
  if ((cert === undefined) !== (key === undefined)) throw new TypeError("'tls.cert' and 'tls.key' go together: give both (a client certificate and its key), or neither");
  return { useSsl, rootCerts: ca ?? o.rootCerts ?? undefined, ...(cert !== undefined && key !== undefined ? { clientCert: { cert, key } } : {}) };
}

function positive(name: string, v: number, allowZero = false): void {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (!allowZero && v === 0)) {
    throw new RangeError(`'${name}' must be a ${allowZero ? 'non-negative' : 'positive'} number, got ${String(v)}`);
  }
}

function floats<O extends readonly string[]>(tensors: Record<string, Tensor>, outputs: readonly string[]): ScoreResult<O> {
  if (outputs.length === 0) throw new TypeError("'outputs' must name at least one output; use scoreImageTensors for every output");
  if (outputs.length === 1) return toFloat32(tensors[outputs[0]!]!, outputs[0]) as ScoreResult<O>;
  return Object.fromEntries(outputs.map((n) => [n, toFloat32(tensors[n]!, n)])) as ScoreResult<O>;
}
