/**
 * TF Serving's REST API over node:http(s): columnar predict
 * (`POST /v1/models/{name}[/versions/{v}]:predict` with `{"inputs": ...}`),
 * model status and metadata. JSON carries no dtype, so numbers decode as
 * DT_FLOAT, strings and `{"b64": ...}` as DT_STRING, booleans as DT_BOOL.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import { PredictionError, StatusCode, httpStatusToCode } from './errors';
import { checkShape, elementCount, type Tensor } from './tensor';
import type { ModelRef } from './wire';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const isB64 = (v: unknown): v is { b64: string } =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && typeof (v as { b64?: unknown }).b64 === 'string' && Object.keys(v).length === 1;

/** A tensor as TF Serving's JSON: nested lists by shape, bytes as `{"b64": ...}`, a scalar bare. */
export function tensorToJson(t: Tensor, name = 'tensor'): Json {
  checkShape(t.shape, `${name}.shape`);
  if (elementCount(t.shape) !== t.data.length) {
    throw new TypeError(`tensor "${name}": shape [${t.shape.join(', ')}] holds ${elementCount(t.shape)} elements but data has ${t.data.length}`);
  }
  const leaf = (i: number): Json => {
    const v = t.data[i]!;
    if (t.dtype === 'DT_STRING') return { b64: Buffer.from(v as Uint8Array).toString('base64') };
    if (t.dtype === 'DT_BOOL') return v !== 0;
    if (typeof v === 'bigint') {
      if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
        throw new RangeError(`tensor "${name}" holds ${v}, which JSON numbers cannot carry exactly`);
      }
      return Number(v);
    }
    return v as number;
  };
  if (t.shape.length === 0) return leaf(0);
  let pos = 0;
  const build = (axis: number): Json[] =>
    Array.from({ length: t.shape[axis]! }, () => (axis === t.shape.length - 1 ? leaf(pos++) : build(axis + 1)));
  return build(0);
}

/** TF Serving JSON back into a tensor; the shape is read from the nesting, which must be regular. */
export function jsonToTensor(value: unknown, name = 'output'): Tensor {
  const shape: number[] = [];
  for (let v = value; Array.isArray(v); v = v[0]) {
    shape.push(v.length);
    if (v.length === 0) break;
  }
  const leaves: unknown[] = [];
  const walk = (v: unknown, axis: number): void => {
    if (axis === shape.length) {
      if (Array.isArray(v)) throw ragged(name);
      leaves.push(v);
      return;
    }
    if (!Array.isArray(v) || v.length !== shape[axis]) throw ragged(name);
    for (const x of v) walk(x, axis + 1);
  };
  walk(value, 0);
  const first = leaves[0];
  if (leaves.every((l) => typeof l === 'number')) {
    return { dtype: 'DT_FLOAT', shape, data: Float32Array.from(leaves as number[]) };
  }
  if (leaves.every((l) => typeof l === 'boolean')) {
    return { dtype: 'DT_BOOL', shape, data: Uint8Array.from(leaves as boolean[], (b) => (b ? 1 : 0)) };
  }
  if (leaves.every((l) => typeof l === 'string' || isB64(l))) {
    const data = leaves.map((l) => (isB64(l) ? Buffer.from(l.b64, 'base64') : Buffer.from(l as string, 'utf8')));
    return { dtype: 'DT_STRING', shape, data };
  }
  throw new TypeError(`output "${name}" holds ${JSON.stringify(first)?.slice(0, 40)}; expected numbers, booleans, strings or {"b64": ...}`);
}

const ragged = (name: string) => new TypeError(`output "${name}" is not a regular nested list (ragged or mixed nesting)`);

export interface RestTransportOptions {
  /** `http(s)://host:port[/prefix]`, without a trailing slash. */
  baseUrl: string;
  apiKey?: string;
  serviceName?: string;
  /** PEM CA certificate(s) trusted for an https:// base URL (default: Node's bundled roots). */
  ca?: string | Uint8Array;
  /** PEM client certificate and its key, for servers that require one (mutual TLS). */
  cert?: string | Uint8Array;
  key?: string | Uint8Array;
}

interface RawResponse {
  status: number;
  statusText: string;
  header(name: string): string | undefined;
  text: string;
}

/**
 * The hint for a handshake a mutual-TLS server refused, from the error's code or text
 * (both protocols), or undefined when it does not look like one. Without the alert (the server
 * may close before the client reads it), a client with a certificate gets a softer hint.
 */
export function clientCertHint(error: string, hasCert: boolean): string | undefined {
  if (/certificate[ _]required|unknown[ _]ca|bad[ _]certificate|certificate[ _]unknown/i.test(error)) {
    return hasCert
      ? " (the server refused this client's certificate: 'tls.cert' must be signed by a CA the server trusts)"
      : ' (the server requires a client certificate: give tls: { ca, cert, key })';
  }
  if (hasCert && /Failed to connect|Connection dropped|ECONNRESET/i.test(error)) {
    return " (if the server requires client certificates, 'tls.cert' may not be signed by a CA it trusts)";
  }
  return undefined;
}

/** Errors of a connection that closed before any answer: what a plain-text client sees from a TLS port. */
const CLOSED_EARLY = new Set(['ECONNRESET', 'EPIPE', 'ERR_STREAM_PREMATURE_CLOSE']);

/** One attempt of each REST call; the client adds retries. `deadline` is an absolute epoch-ms time. */
export class RestTransport {
  readonly #base: string;
  readonly #headers: Record<string, string>;
  readonly #agent: http.Agent;
  readonly #https: boolean;
  readonly #hasCert: boolean;

  constructor(opts: RestTransportOptions) {
    this.#base = opts.baseUrl.replace(/\/+$/, '');
    this.#https = this.#base.startsWith('https:');
    this.#hasCert = opts.cert !== undefined;
    this.#headers = { accept: 'application/json' };
    if (opts.apiKey) this.#headers.authorization = `Bearer ${opts.apiKey}`;
    if (opts.serviceName) this.#headers['x-accel-service'] = opts.serviceName;
    const pem = (v: string | Uint8Array | undefined) => (v === undefined ? undefined : Buffer.from(v));
    this.#agent = this.#https
      ? new https.Agent({ keepAlive: true, ca: pem(opts.ca), cert: pem(opts.cert), key: pem(opts.key) })
      : new http.Agent({ keepAlive: true });
  }

  /**
   * Columnar predict. `outputs` picks outputs from the response (REST has no
   * output_filter); empty means every output the server returned. A bare
   * (single-output) response is named after the one requested output, else `outputs`.
   */
  async predict(model: ModelRef, inputs: Record<string, Tensor>, outputs: readonly string[], deadline: number): Promise<Record<string, Tensor>> {
    const body: { signature_name?: string; inputs: Record<string, Json> } = { inputs: {} };
    if (model.signatureName) body.signature_name = model.signatureName;
    for (const [name, t] of Object.entries(inputs)) body.inputs[name] = tensorToJson(t, name);
    const res = (await this.#call('POST', `${modelPath(model)}:predict`, deadline, body)) as { outputs?: unknown } | null;
    if (res === null || typeof res !== 'object' || !('outputs' in res)) {
      throw new PredictionError({ code: StatusCode.INTERNAL, message: 'the predict response has no "outputs" field' });
    }
    const raw = res.outputs;
    const named: Record<string, unknown> =
      typeof raw === 'object' && raw !== null && !Array.isArray(raw) && !isB64(raw)
        ? (raw as Record<string, unknown>)
        : { [outputs.length === 1 ? outputs[0]! : 'outputs']: raw };
    return pickOutputs(named, outputs, jsonToTensor);
  }

  /** `GET /v1/models/{name}[/versions/{v}]`: `{ model_version_status: [...] }`. */
  status(model: ModelRef, deadline: number): Promise<unknown> {
    return this.#call('GET', modelPath(model), deadline);
  }

  /** `GET /v1/models/{name}[/versions/{v}]/metadata`: `{ model_spec, metadata: { signature_def } }`. */
  metadata(model: ModelRef, deadline: number): Promise<unknown> {
    return this.#call('GET', `${modelPath(model)}/metadata`, deadline);
  }

  /** Closes the kept-alive connections. */
  close(): void {
    this.#agent.destroy();
  }

  async #call(method: 'GET' | 'POST', path: string, deadline: number, body?: unknown): Promise<unknown> {
    const remaining = deadline - Date.now();
    if (remaining <= 0) throw deadlineError(`${method} ${path}`);
    const headers = { ...this.#headers };
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    if (payload) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(payload.length);
    }
    const signal = AbortSignal.timeout(remaining);
    let res: RawResponse;
    try {
      res = await this.#send(method, path, headers, payload, signal);
    } catch (err) {
      if (signal.aborted) throw deadlineError(`${method} ${path}`, err);
      const code = (err as NodeJS.ErrnoException).code;
      const why = code ?? (err as Error).message;
      let hint = '';
      const certHint = this.#https ? clientCertHint(why, this.#hasCert) : undefined;
      if (certHint) {
        hint = certHint;
      } else if (!this.#https && code !== undefined && CLOSED_EARLY.has(code)) {
        hint = ' (the server closed the connection without answering; if it serves TLS, use an https:// address or tls: true)';
      } else if (this.#https && code !== undefined && /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)/.test(code)) {
        hint = " (the server's certificate is not trusted: give its CA as tls: { ca })";
      }
      throw new PredictionError({ code: StatusCode.UNAVAILABLE, message: `${method} ${this.#base}${path} failed: ${why}${hint}`, cause: err });
    }
    const text = res.text;
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = undefined;
    }
    if (res.status >= 200 && res.status < 300) {
      if (json === undefined) {
        throw new PredictionError({ code: StatusCode.INTERNAL, httpStatus: res.status, message: `${method} ${path} answered non-JSON: ${text.slice(0, 200)}` });
      }
      return json;
    }
    const errBody = (json ?? {}) as { error?: unknown; code?: unknown };
    const message = typeof errBody.error === 'string' ? errBody.error : text.slice(0, 500) || res.statusText || `HTTP ${res.status}`;
    const accelCode = res.header('accel-error-code') ?? (typeof errBody.code === 'string' ? errBody.code : undefined);
    throw new PredictionError({ code: httpStatusToCode(res.status), httpStatus: res.status, message, accelCode: accelCode ?? undefined });
  }

  #send(method: string, path: string, headers: Record<string, string>, payload: Buffer | undefined, signal: AbortSignal): Promise<RawResponse> {
    const request = this.#https ? https.request : http.request;
    return new Promise((resolve, reject) => {
      const req = request(this.#base + path, { method, headers, agent: this.#agent, signal }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('aborted', () => reject(Object.assign(new Error('the connection closed mid-answer'), { code: 'ECONNRESET' })));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            statusText: res.statusMessage ?? '',
            header: (name) => {
              const v = res.headers[name];
              return Array.isArray(v) ? v.join(', ') : v;
            },
            text: Buffer.concat(chunks).toString('utf8'),
          }),
        );
      });
      req.on('error', reject);
      req.end(payload);
    });
  }
}

function deadlineError(what: string, cause?: unknown): PredictionError {
  return new PredictionError({ code: StatusCode.DEADLINE_EXCEEDED, message: `deadline exceeded waiting for ${what}`, cause });
}

/** `/v1/models/{name}[/versions/{v} | /labels/{label}]`. */
export function modelPath(model: ModelRef): string {
  if (!model.name) {
    throw new TypeError(
      "REST needs a model name: TF Serving's REST API addresses models by URL (/v1/models/{name}). Set 'modelName' on the client or 'model' on the call.",
    );
  }
  let p = `/v1/models/${encodeURIComponent(model.name)}`;
  if (model.version !== undefined) p += `/versions/${encodeURIComponent(model.version)}`;
  else if (model.label !== undefined) p += `/labels/${encodeURIComponent(model.label)}`;
  return p;
}

/**
 * The requested outputs of a response (all of them when `wanted` is empty);
 * a requested output the server did not send is an INVALID_ARGUMENT.
 */
export function pickOutputs<T>(all: Record<string, T>, wanted: readonly string[], decode: (v: T, name: string) => Tensor): Record<string, Tensor> {
  const names = wanted.length ? wanted : Object.keys(all);
  const out: Record<string, Tensor> = {};
  for (const n of names) {
    if (!Object.prototype.hasOwnProperty.call(all, n)) {
      throw new PredictionError({
        code: StatusCode.INVALID_ARGUMENT,
        message: `output "${n}" is not in the response; it has: ${Object.keys(all).join(', ') || '(none)'}`,
      });
    }
    out[n] = decode(all[n]!, n);
  }
  return out;
}
