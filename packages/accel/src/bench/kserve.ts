/**
 * KServe v2 (Open Inference Protocol) clients for the bench: encoded images as one BYTES input
 * `images` of shape [N], nothing else. Errors reject with the client SDK's PredictionError, so the
 * bench counts them by the same status names as the TF Serving protocols.
 *
 * - REST: `POST /v2/models/{name}[/versions/{v}]/infer` with the binary tensor data extension: the
 *   JSON header, then the raw bytes; `Inference-Header-Content-Length` gives the header's length.
 * - gRPC: `inference.GRPCInferenceService/ModelInfer` with the bytes in `raw_input_contents`.
 * In both, a BYTES tensor's raw data is, per element, a 4-byte little-endian length then the bytes.
 */
import * as grpc from '@grpc/grpc-js';
import { PredictionError, StatusCode, fromGrpcError, httpStatusToCode } from '@accel/client/errors';
import { loadServingProtos } from '@accel/client/proto';
import type { InferClient } from './clients';

export const KSERVE_INPUT = 'images';
export const HEADER_LENGTH = 'inference-header-content-length';

/** BYTES tensor raw data: [u32 LE length][bytes] per element. */
export function encodeBytesTensor(items: readonly Uint8Array[]): Buffer {
  const out = Buffer.allocUnsafe(items.reduce((n, b) => n + 4 + b.length, 0));
  let at = 0;
  for (const b of items) {
    out.writeUInt32LE(b.length, at);
    out.set(b, at + 4);
    at += 4 + b.length;
  }
  return out;
}

/** The elements of BYTES raw data; throws on a length running past the end. */
export function decodeBytesTensor(raw: Uint8Array): Buffer[] {
  const buf = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
  const items: Buffer[] = [];
  for (let at = 0; at < buf.length; ) {
    if (at + 4 > buf.length) throw new RangeError(`BYTES data ends inside a length prefix at byte ${at}`);
    const n = buf.readUInt32LE(at);
    if (at + 4 + n > buf.length) throw new RangeError(`BYTES element at byte ${at} declares ${n} bytes; only ${buf.length - at - 4} remain`);
    items.push(buf.subarray(at + 4, at + 4 + n));
    at += 4 + n;
  }
  return items;
}

/** `host:port` or `http(s)://host[:port][/prefix]` as a base URL; a bare host gets `defaultPort`. */
export function baseUrl(address: string, defaultPort: number): string {
  if (/^https?:\/\//i.test(address)) return address.replace(/\/+$/, '');
  return `http://${/:\d+$/.test(address) ? address : `${address}:${defaultPort}`}`;
}

/** `/v2/models/{name}[/versions/{v}]` */
export function v2ModelPath(model: string, version?: string): string {
  return `/v2/models/${encodeURIComponent(model)}${version ? `/versions/${encodeURIComponent(version)}` : ''}`;
}

const internal = (message: string) => new PredictionError({ code: StatusCode.INTERNAL, message });

export class KServeRestClient implements InferClient {
  readonly #url: string;

  constructor(address: string, model: string, version: string | undefined, private readonly timeoutMs: number) {
    this.#url = `${baseUrl(address, 8501)}${v2ModelPath(model, version)}/infer`;
  }

  async infer(images: readonly Uint8Array[]): Promise<void> {
    const data = encodeBytesTensor(images);
    const header = Buffer.from(
      JSON.stringify({
        inputs: [{ name: KSERVE_INPUT, datatype: 'BYTES', shape: [images.length], parameters: { binary_data_size: data.length } }],
        parameters: { binary_data_output: true },
      }),
    );
    let res: Response;
    let body: Buffer;
    try {
      res = await fetch(this.#url, {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream', [HEADER_LENGTH]: String(header.length) },
        body: Buffer.concat([header, data]),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      body = Buffer.from(await res.arrayBuffer());
    } catch (err) {
      const name = (err as { name?: string }).name;
      if (name === 'TimeoutError' || name === 'AbortError') {
        throw new PredictionError({ code: StatusCode.DEADLINE_EXCEEDED, message: `no answer from ${this.#url} within ${this.timeoutMs} ms`, cause: err });
      }
      const why = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
      throw new PredictionError({ code: StatusCode.UNAVAILABLE, message: `POST ${this.#url} failed: ${why}`, cause: err });
    }
    if (!res.ok) {
      let message = body.toString('utf8', 0, 500) || `HTTP ${res.status}`;
      try {
        const json = JSON.parse(body.toString('utf8')) as { error?: unknown };
        if (typeof json.error === 'string') message = json.error;
      } catch {
        // not JSON: keep the text
      }
      throw new PredictionError({ code: httpStatusToCode(res.status), httpStatus: res.status, message, accelCode: res.headers.get('accel-error-code') ?? undefined });
    }
    const given = res.headers.get(HEADER_LENGTH);
    const headerLength = given === null ? body.length : Number(given);
    if (!Number.isSafeInteger(headerLength) || headerLength < 0 || headerLength > body.length) {
      throw internal(`the response's ${HEADER_LENGTH} (${given}) does not fit its ${body.length}-byte body`);
    }
    let parsed: { outputs?: Array<{ parameters?: { binary_data_size?: number } }> };
    try {
      parsed = JSON.parse(body.toString('utf8', 0, headerLength));
    } catch {
      throw internal(`the response header is not JSON: ${body.toString('utf8', 0, Math.min(headerLength, 200))}`);
    }
    if (!Array.isArray(parsed.outputs)) throw internal('the response has no "outputs" array');
    const binary = parsed.outputs.reduce((n, o) => n + (o.parameters?.binary_data_size ?? 0), 0);
    if (headerLength + binary !== body.length) {
      throw internal(`the response's outputs declare ${binary} binary bytes but ${body.length - headerLength} follow the header`);
    }
  }

  close(): void {}
}

type Unary = (req: unknown, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: unknown) => void) => void;

export class KServeGrpcClient implements InferClient {
  readonly #stub: grpc.Client & { ModelInfer: Unary };

  constructor(address: string, private readonly model: string, private readonly version: string | undefined, private readonly timeoutMs: number) {
    const target = /:\d+$/.test(address) ? address : `${address}:8500`;
    const max = 64 * 1024 * 1024;
    const { GRPCInferenceService } = loadServingProtos();
    this.#stub = new GRPCInferenceService(target, grpc.credentials.createInsecure(), {
      'grpc.max_send_message_length': max,
      'grpc.max_receive_message_length': max,
    }) as unknown as grpc.Client & { ModelInfer: Unary };
  }

  infer(images: readonly Uint8Array[]): Promise<void> {
    const request = {
      model_name: this.model,
      model_version: this.version ?? '',
      inputs: [{ name: KSERVE_INPUT, datatype: 'BYTES', shape: [images.length] }],
      raw_input_contents: [encodeBytesTensor(images)],
    };
    const deadline = new Date(Date.now() + this.timeoutMs);
    return new Promise((resolve, reject) => {
      this.#stub.ModelInfer(request, new grpc.Metadata(), { deadline }, (err, res) => {
        if (err) return reject(fromGrpcError(err));
        const outputs = (res as { outputs?: unknown[] } | null)?.outputs;
        if (!Array.isArray(outputs) || outputs.length === 0) return reject(internal('the ModelInfer response has no outputs'));
        resolve();
      });
    });
  }

  close(): void {
    this.#stub.close();
  }
}
