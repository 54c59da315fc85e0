import * as grpc from '@grpc/grpc-js';
import { protobufRoot } from '@accel/client/proto';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bombJpeg, bombPng } from '../test-util/images';
import { channelMeans, modelDir, tinyClassifier, tinyReference, twoInputModel } from '../test-util/models';
import { f32Bytes, floatsOf, solidPng, startTestServer } from '../test-util/server';

/*
 * Fuzzing every predict API of one real server with generated malformed requests (seeded: each
 * run sends the same ones). Each request has a class and the statuses its class may get: the
 * right error (INVALID_ARGUMENT / 400 mostly), or success for the generated requests that are
 * valid. Never INTERNAL / 500, never a hang; the server answers a good request afterwards.
 */
const SEED = 0x5eed_2024;
const TOTAL = 10_000;
const IN_FLIGHT = 16;
const LIMIT = 1 << 20; // --max-message-bytes of the fuzzed server
const DEADLINE_MS = 20_000;
const SIZE = 8;
const PIXELS = 3 * SIZE * SIZE;

/** mulberry32: small, seeded, good enough to pick cases. */
class Rand {
  #s: number;
  constructor(seed: number) {
    this.#s = seed >>> 0;
  }
  next(): number {
    let t = (this.#s = (this.#s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }
  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
  floats(n: number): number[] {
    return Array.from({ length: n }, () => this.next() * 4 - 2);
  }
}

type Protocol = 'tf-grpc' | 'kserve-grpc' | 'tf-rest' | 'kserve-rest';
/** What a request may get: gRPC status names, or HTTP statuses as strings. */
type Allowed = readonly string[];
interface Case {
  kind: string;
  allowed: Allowed;
  /** gRPC: the serialized request; REST: path, body, content type, extra headers. */
  grpc?: Uint8Array;
  rest?: { path: string; body: string | Buffer; type?: string; headers?: Record<string, string> };
}

const OK = ['OK'];
const BAD = ['INVALID_ARGUMENT'];
const MISSING = ['NOT_FOUND'];
const MANGLED = ['OK', 'INVALID_ARGUMENT', 'NOT_FOUND'];
const R_OK = ['200'];
const R_BAD = ['400'];
const R_MISSING = ['404'];
const R_MANGLED = ['200', '400', '404'];

const root = protobufRoot();
const PredictRequest = root.lookupType('tensorflow.serving.PredictRequest');
const ModelInferRequest = root.lookupType('inference.ModelInferRequest');
const encode = (type: typeof PredictRequest, obj: object) => type.encode(type.fromObject(obj)).finish();

/** Images the generators draw from: valid ones, garbage, truncated, bombs. */
interface Pool {
  good: Buffer[];
  garbage: (r: Rand) => Buffer;
}

async function imagePool(): Promise<Pool> {
  const png = await solidPng(200, 100, 50, 12, 9);
  const jpeg = await sharp({ create: { width: 20, height: 14, channels: 3, background: { r: 10, g: 200, b: 90 } } }).jpeg().toBuffer();
  const grey = await sharp({ create: { width: 9, height: 9, channels: 3, background: { r: 128, g: 128, b: 128 } } }).greyscale().png().toBuffer();
  const bombs = [bombPng(50_000, 50_000), bombPng(1, 2 ** 31 - 1), await bombJpeg(65_000, 65_000), await bombJpeg(65_535, 1_000)];
  const soi = Buffer.from([0xff, 0xd8, 0xff]);
  const pngSig = png.subarray(0, 8);
  return {
    good: [png, jpeg, grey],
    garbage: (r) => {
      switch (r.int(6)) {
        case 0:
          return r.bytes(r.int(300));
        case 1:
          return Buffer.concat([soi, r.bytes(r.int(200))]);
        case 2:
          return Buffer.concat([pngSig, r.bytes(r.int(200))]);
        case 3:
          return jpeg.subarray(0, 2 + r.int(jpeg.length - 40)); // truncated before its end
        case 4: {
          const b = Buffer.from(png.subarray(0, 33)); // a valid IHDR, then no image data
          return Buffer.concat([b, r.bytes(r.int(40))]);
        }
        default:
          return r.pick(bombs);
      }
    },
  };
}

/** Declared dimensions that are negative, past 2^53, or multiply past any limit. */
const HUGE_DIMS: Array<Array<string | number>> = [
  ['-1', 3, SIZE, SIZE],
  ['9007199254740993', 3, SIZE, SIZE],
  ['9223372036854775807', 2],
  [2 ** 31, 2 ** 31, 2 ** 31],
  [1_000_000, 3, SIZE, SIZE],
  [65_536, 65_536, 3, SIZE],
  [2 ** 26, 2],
];

const nested = (values: number[], shape: number[]): unknown => {
  if (shape.length === 0) return values[0];
  const [n, ...rest] = shape;
  const step = rest.reduce((a, b) => a * b, 1);
  return Array.from({ length: n }, (_, i) => nested(values.slice(i * step, (i + 1) * step), rest));
};

/** Lists (or objects) nested `depth` levels around `leaf`, as JSON text. */
const deep = (depth: number, leaf: string, objects = false) =>
  objects ? '{"k":'.repeat(depth / 4) + leaf + '}'.repeat(depth / 4) : '['.repeat(depth) + leaf + ']'.repeat(depth);

/** Just over the message limit (the bytes do not matter: the size is refused first). */
const oversized = (r: Rand) => Buffer.alloc(LIMIT + 1 + r.int(1000), r.int(256));

/** Unknown protobuf fields (field 99: a varint; field 100: bytes) appended to a message. */
function withUnknownFields(msg: Uint8Array, r: Rand): Buffer {
  const extra = r.chance(0.5) ? Buffer.from([0x98, 0x06, 1 + r.int(127)]) : Buffer.concat([Buffer.from([0xa2, 0x06, 5]), r.bytes(5)]);
  return Buffer.concat([msg, extra]);
}

/** Truncated, bit-flipped or random bytes, from a valid message. */
function mangle(msg: Uint8Array, r: Rand): { kind: string; bytes: Buffer } {
  const buf = Buffer.from(msg);
  switch (r.int(3)) {
    case 0:
      return { kind: 'truncated protobuf', bytes: buf.subarray(0, r.int(buf.length)) };
    case 1: {
      for (let i = 0, n = 1 + r.int(4); i < n && buf.length; i++) buf[r.int(buf.length)] ^= 1 << r.int(8);
      return { kind: 'bit-flipped protobuf', bytes: buf };
    }
    default:
      return { kind: 'random bytes as protobuf', bytes: r.bytes(r.int(400)) };
  }
}

// ---------------------------------------------------------------------------
// TF Serving Predict (gRPC)
// ---------------------------------------------------------------------------
const tfShape = (dims: Array<number | string>) => ({ dim: dims.map((size) => ({ size })) });
const tfFloats = (rows: number, values: number[], r: Rand) =>
  r.chance(0.5)
    ? { dtype: 'DT_FLOAT', tensor_shape: tfShape([rows, 3, SIZE, SIZE]), tensor_content: f32Bytes(values) }
    : { dtype: 'DT_FLOAT', tensor_shape: tfShape([rows, 3, SIZE, SIZE]), float_val: values };
const tfImages = (items: Buffer[]) => ({ dtype: 'DT_STRING', tensor_shape: tfShape([items.length]), string_val: items });

function tfValid(r: Rand, pool: Pool): object {
  const rows = 1 + r.int(3);
  if (r.chance(0.3)) {
    const pair = { dtype: 'DT_FLOAT', tensor_shape: tfShape([rows, 2]), float_val: r.floats(rows * 2) };
    return { model_spec: { name: 'pair' }, inputs: { a: pair, b: { ...pair, float_val: r.floats(rows * 2) } } };
  }
  const inputs = r.chance(0.5) ? { images: tfImages(Array.from({ length: rows }, () => r.pick(pool.good))) } : { input: tfFloats(rows, r.floats(rows * PIXELS), r) };
  return { model_spec: { name: 'tiny', ...(r.chance(0.3) ? { version: { value: 1 } } : {}) }, inputs, ...(r.chance(0.3) ? { output_filter: ['probs'] } : {}) };
}

function tfCase(r: Rand, pool: Pool): Case {
  const spec = { name: 'tiny' };
  const one = (input: object, kind: string, allowed: Allowed = BAD): Case => ({ kind, allowed, grpc: encode(PredictRequest, { model_spec: spec, inputs: { input } }) });
  switch (r.int(16)) {
    case 0:
      return { kind: 'valid', allowed: OK, grpc: encode(PredictRequest, tfValid(r, pool)) };
    case 1: {
      const values = r.floats(PIXELS).map((v) => (r.chance(0.2) ? r.pick([NaN, Infinity, -Infinity, 3.4e38, -0]) : v));
      return one(tfFloats(1, values, r), 'NaN/Inf floats', OK);
    }
    case 2: {
      const n = PIXELS * 4 + r.pick([-4, -3, -1, 1, 2, 4, 8, -PIXELS * 4]);
      return one({ dtype: 'DT_FLOAT', tensor_shape: tfShape([1, 3, SIZE, SIZE]), tensor_content: r.bytes(n) }, 'tensor_content length mismatch');
    }
    case 3: {
      const dtype = r.pick(['DT_DOUBLE', 'DT_INT32', 'DT_HALF', 'DT_INT64', 'DT_BOOL', 'DT_UINT8', 'DT_COMPLEX64', 'DT_RESOURCE', 'DT_INVALID', 'DT_BFLOAT16']);
      return one({ dtype, tensor_shape: tfShape([1, 3, SIZE, SIZE]), tensor_content: r.bytes(PIXELS * 8) }, 'wrong dtype');
    }
    case 4: {
      const rank = r.int(6);
      const dims = Array.from({ length: rank }, () => r.int(6));
      const n = dims.reduce((a, b) => a * b, 1);
      const fits = rank === 4 && dims[1] === 3 && dims[2] === SIZE && dims[3] === SIZE && dims[0] > 0;
      return one({ dtype: 'DT_FLOAT', tensor_shape: tfShape(dims), float_val: r.floats(n) }, 'wrong shape', fits ? OK : BAD);
    }
    case 5: {
      const dims = r.pick(HUGE_DIMS);
      const body = r.chance(0.5) ? { float_val: [1.5] } : { tensor_content: r.bytes(16) };
      return one({ dtype: 'DT_FLOAT', tensor_shape: tfShape(dims), ...body }, 'huge declared shape');
    }
    case 6:
      return one(tfImages(Array.from({ length: 1 + r.int(3) }, () => pool.garbage(r))), 'garbage images');
    case 7: {
      const kind = r.pick(['unknown model', 'unknown version', 'version label']);
      const model_spec = kind === 'unknown model' ? { name: `no-such-${r.int(1000)}` } : kind === 'unknown version' ? { name: 'tiny', version: { value: 7 + r.int(100) } } : { name: 'tiny', version_label: 'stable' };
      return { kind, allowed: MISSING, grpc: encode(PredictRequest, { model_spec, inputs: { input: tfFloats(1, r.floats(PIXELS), r) } }) };
    }
    case 8: {
      const variant = r.int(5);
      const base = { model_spec: spec, inputs: { input: tfFloats(1, r.floats(PIXELS), r) } };
      const msg =
        variant === 0 ? { ...base, inputs: { nope: base.inputs.input } }
        : variant === 1 ? { ...base, output_filter: ['nope'] }
        : variant === 2 ? { ...base, model_spec: { ...spec, signature_name: 'classify' } }
        : variant === 3 ? { model_spec: spec }
        : { model_spec: { name: 'pair' }, inputs: { a: { dtype: 'DT_FLOAT', tensor_shape: tfShape([1, 2]), float_val: [1, 2] } } };
      return { kind: 'wrong names', allowed: BAD, grpc: encode(PredictRequest, msg) };
    }
    case 9: {
      const rows = 65 + r.int(100);
      return one(tfImages(new Array(rows).fill(pool.good[0])), 'batch over --max-request-batch');
    }
    case 10: {
      const f = (rows: number) => ({ dtype: 'DT_FLOAT', tensor_shape: tfShape([rows, 2]), float_val: r.floats(rows * 2) });
      return { kind: 'batch mismatch', allowed: BAD, grpc: encode(PredictRequest, { model_spec: { name: 'pair' }, inputs: { a: f(1), b: f(2 + r.int(3)) } }) };
    }
    case 11:
      return { kind: 'unknown fields', allowed: OK, grpc: withUnknownFields(encode(PredictRequest, tfValid(r, pool)), r) };
    case 12:
      // Rarer than the others: a megabyte each, on the one connection all the calls share.
      if (r.chance(0.5)) return { kind: 'valid', allowed: OK, grpc: encode(PredictRequest, tfValid(r, pool)) };
      return { kind: 'over the message limit', allowed: ['RESOURCE_EXHAUSTED'], grpc: encode(PredictRequest, { model_spec: spec, inputs: { images: tfImages([oversized(r)]) } }) };
    case 13:
      return { kind: 'no model named (several served)', allowed: MISSING, grpc: encode(PredictRequest, { inputs: { input: tfFloats(1, r.floats(PIXELS), r) } }) };
    default: {
      const { kind, bytes } = mangle(encode(PredictRequest, tfValid(r, pool)), r);
      return { kind, allowed: MANGLED, grpc: bytes };
    }
  }
}

// ---------------------------------------------------------------------------
// KServe ModelInfer (gRPC)
// ---------------------------------------------------------------------------
const lengthPrefixed = (items: Buffer[]) => Buffer.concat(items.flatMap((b) => [Buffer.from(Uint32Array.of(b.length).buffer), b]));

function kValid(r: Rand, pool: Pool): object {
  const rows = 1 + r.int(3);
  const raw = r.chance(0.5);
  if (r.chance(0.3)) {
    const t = (name: string) => ({ name, datatype: 'FP32', shape: [rows, 2], ...(raw ? {} : { contents: { fp32_contents: r.floats(rows * 2) } }) });
    return { model_name: 'pair', inputs: [t('a'), t('b')], ...(raw ? { raw_input_contents: [f32Bytes(r.floats(rows * 2)), f32Bytes(r.floats(rows * 2))] } : {}) };
  }
  if (r.chance(0.5)) {
    const items = Array.from({ length: rows }, () => r.pick(pool.good));
    const input = { name: 'images', datatype: 'BYTES', shape: [rows], ...(raw ? {} : { contents: { bytes_contents: items } }) };
    return { model_name: 'tiny', inputs: [input], ...(raw ? { raw_input_contents: [lengthPrefixed(items)] } : {}) };
  }
  const values = r.floats(rows * PIXELS);
  const input = { name: 'input', datatype: 'FP32', shape: [rows, 3, SIZE, SIZE], ...(raw ? {} : { contents: { fp32_contents: values } }) };
  return { model_name: 'tiny', model_version: r.chance(0.3) ? '1' : '', id: `req-${r.int(1e6)}`, inputs: [input], ...(raw ? { raw_input_contents: [f32Bytes(values)] } : {}), ...(r.chance(0.3) ? { outputs: [{ name: 'probs' }] } : {}) };
}

function kserveGrpcCase(r: Rand, pool: Pool): Case {
  const one = (input: object, kind: string, allowed: Allowed = BAD, raw?: Buffer[]): Case => ({
    kind,
    allowed,
    grpc: encode(ModelInferRequest, { model_name: 'tiny', inputs: [input], ...(raw ? { raw_input_contents: raw } : {}) }),
  });
  const image = { name: 'input', shape: [1, 3, SIZE, SIZE] };
  switch (r.int(16)) {
    case 0:
      return { kind: 'valid', allowed: OK, grpc: encode(ModelInferRequest, kValid(r, pool)) };
    case 1: {
      const values = r.floats(PIXELS).map((v) => (r.chance(0.2) ? r.pick([NaN, Infinity, -Infinity, -0]) : v));
      return r.chance(0.5) ? one({ ...image, datatype: 'FP32', contents: { fp32_contents: values } }, 'NaN/Inf floats', OK) : one({ ...image, datatype: 'FP32' }, 'NaN/Inf floats', OK, [f32Bytes(values)]);
    }
    case 2:
      return one({ ...image, datatype: 'FP32' }, 'raw length mismatch', BAD, [r.bytes(PIXELS * 4 + r.pick([-4, -1, 1, 3, 4, 100]))]);
    case 3: {
      const datatype = r.pick(['FP64', 'INT32', 'FP16', 'INT64', 'BOOL', 'UINT8', 'BF16', 'fp32', '', 'FP33', 'STRING']);
      return one({ ...image, datatype }, 'wrong datatype', BAD, [r.bytes(PIXELS * (datatype === 'FP64' || datatype === 'INT64' ? 8 : datatype === 'FP16' ? 2 : datatype === 'BOOL' || datatype === 'UINT8' ? 1 : 4))]);
    }
    case 4: {
      const rank = r.int(6);
      const dims = Array.from({ length: rank }, () => r.int(6));
      const n = dims.reduce((a, b) => a * b, 1);
      const fits = rank === 4 && dims[1] === 3 && dims[2] === SIZE && dims[3] === SIZE && dims[0] > 0;
      return one({ name: 'input', datatype: 'FP32', shape: dims, contents: { fp32_contents: r.floats(n) } }, 'wrong shape', fits ? OK : BAD);
    }
    case 5:
      return one({ name: 'input', datatype: 'FP32', shape: r.pick(HUGE_DIMS) }, 'huge declared shape', BAD, [r.bytes(16)]);
    case 6: {
      const items = Array.from({ length: 1 + r.int(3) }, () => pool.garbage(r));
      return r.chance(0.5)
        ? one({ name: 'images', datatype: 'BYTES', shape: [items.length], contents: { bytes_contents: items } }, 'garbage images')
        : one({ name: 'images', datatype: 'BYTES', shape: [items.length] }, 'garbage images', BAD, [lengthPrefixed(items)]);
    }
    case 7: {
      const raw = lengthPrefixed([pool.good[0]]);
      const cut = r.chance(0.5) ? raw.subarray(0, r.int(raw.length)) : Buffer.concat([raw, r.bytes(1 + r.int(3))]);
      return one({ name: 'images', datatype: 'BYTES', shape: [1] }, 'bad BYTES length prefixes', BAD, [cut]);
    }
    case 8: {
      const kind = r.pick(['unknown model', 'unknown version']);
      const msg = { model_name: kind === 'unknown model' ? `no-such-${r.int(1000)}` : 'tiny', model_version: kind === 'unknown model' ? '' : String(5 + r.int(50)), inputs: [{ ...image, datatype: 'FP32', contents: { fp32_contents: r.floats(PIXELS) } }] };
      return { kind, allowed: MISSING, grpc: encode(ModelInferRequest, msg) };
    }
    case 9: {
      const input = { ...image, datatype: 'FP32', contents: { fp32_contents: r.floats(PIXELS) } };
      const variant = r.int(7);
      const msg =
        variant === 0 ? { model_name: 'tiny', inputs: [{ ...input, name: 'nope' }] }
        : variant === 1 ? { model_name: 'tiny', inputs: [input], outputs: [{ name: 'nope' }] }
        : variant === 2 ? { model_name: 'tiny', inputs: [input, input] }
        : variant === 3 ? { model_name: '', inputs: [input] }
        : variant === 4 ? { model_name: 'tiny', model_version: r.pick(['x', '-1', '1.5']), inputs: [input] }
        : variant === 5 ? { model_name: 'tiny', inputs: [{ ...input, contents: { int_contents: [1, 2] } }] }
        : { model_name: 'tiny', inputs: [input], raw_input_contents: [f32Bytes(r.floats(PIXELS)), Buffer.alloc(4)] };
      return { kind: 'wrong names or fields', allowed: BAD, grpc: encode(ModelInferRequest, msg) };
    }
    case 10: {
      const rows = 65 + r.int(60);
      return one({ name: 'images', datatype: 'BYTES', shape: [rows], contents: { bytes_contents: new Array(rows).fill(pool.good[0]) } }, 'batch over --max-request-batch');
    }
    case 11:
      return { kind: 'unknown fields', allowed: OK, grpc: withUnknownFields(encode(ModelInferRequest, kValid(r, pool)), r) };
    case 12:
      if (r.chance(0.5)) return { kind: 'valid', allowed: OK, grpc: encode(ModelInferRequest, kValid(r, pool)) };
      return one({ name: 'images', datatype: 'BYTES', shape: [1] }, 'over the message limit', ['RESOURCE_EXHAUSTED'], [lengthPrefixed([oversized(r)])]);
    case 13: {
      const datatype = r.pick(['INT8', 'UINT8', 'INT16', 'UINT64', 'BOOL']);
      const field = datatype === 'UINT8' || datatype === 'UINT64' ? (datatype === 'UINT8' ? 'uint_contents' : 'uint64_contents') : datatype === 'BOOL' ? 'bool_contents' : 'int_contents';
      const values = datatype === 'BOOL' ? [true] : datatype === 'UINT64' ? ['18446744073709551615'] : [r.pick([1000, -1000, 70_000, 2 ** 31 - 1])];
      return one({ name: 'input', datatype, shape: [1], contents: { [field]: values } }, 'values out of range or wrong dtype');
    }
    default: {
      const { kind, bytes } = mangle(encode(ModelInferRequest, kValid(r, pool)), r);
      return { kind, allowed: MANGLED, grpc: bytes };
    }
  }
}

// ---------------------------------------------------------------------------
// TF Serving REST :predict
// ---------------------------------------------------------------------------
function tfRestValid(r: Rand, pool: Pool): { path: string; body: Record<string, unknown> } {
  const rows = 1 + r.int(3);
  if (r.chance(0.3)) {
    const pairs = Array.from({ length: rows }, () => ({ a: r.floats(2), b: r.floats(2) }));
    return { path: '/v1/models/pair:predict', body: r.chance(0.5) ? { instances: pairs } : { inputs: { a: pairs.map((p) => p.a), b: pairs.map((p) => p.b) } } };
  }
  const path = r.chance(0.3) ? '/v1/models/tiny/versions/1:predict' : '/v1/models/tiny:predict';
  if (r.chance(0.5)) return { path, body: { instances: Array.from({ length: rows }, () => ({ b64: r.pick(pool.good).toString('base64') })) } };
  return { path, body: { [r.chance(0.5) ? 'instances' : 'inputs']: nested(r.floats(rows * PIXELS), [rows, 3, SIZE, SIZE]) } };
}

function tfRestCase(r: Rand, pool: Pool): Case {
  const json = (path: string, body: unknown, kind: string, allowed: Allowed = R_BAD): Case => ({ kind, allowed, rest: { path, body: JSON.stringify(body) } });
  const tiny = '/v1/models/tiny:predict';
  switch (r.int(15)) {
    case 0: {
      const v = tfRestValid(r, pool);
      return json(v.path, v.body, 'valid', R_OK);
    }
    case 1: {
      const text = JSON.stringify(tfRestValid(r, pool).body);
      const variant = r.int(4);
      const body = variant === 0 ? text.slice(0, r.int(text.length)) : variant === 1 ? text.replace(/\d/, 'NaN') : variant === 2 ? r.bytes(r.int(200)).toString('latin1') : `${text}}`;
      return { kind: 'invalid JSON', allowed: R_BAD, rest: { path: tiny, body } };
    }
    case 2: {
      const bad = r.pick(['!!!!', 'a', 'abcde', '====', 'ab=c', '\u00e9\u00e9\u00e9\u00e9', '-_-_']);
      return json(tiny, { instances: [{ b64: bad }] }, 'invalid base64');
    }
    case 3: {
      const v = tfRestValid(r, pool);
      return json(v.path, { ...v.body, [`x_${r.int(100)}`]: r.pick([1, 'two', null, { deep: [1] }]) }, 'unknown fields', R_OK);
    }
    case 4: {
      const body = r.pick<unknown>([
        { instances: 'abc' },
        { instances: [] },
        { instances: [[1, 2], [3]] },
        { instances: [1], inputs: [1] },
        {},
        [1, 2, 3],
        'text',
        null,
        { signature_name: 5, instances: [1] },
        { instances: [{ a: [1, 2] }, { b: [1, 2] }] },
        { inputs: { input: [[['x']]] } },
        { instances: [true, false] },
      ]);
      return json(r.chance(0.5) ? tiny : '/v1/models/pair:predict', body, 'wrong JSON types');
    }
    case 5: {
      const rank = 1 + r.int(5);
      const dims = Array.from({ length: rank }, () => 1 + r.int(4));
      const n = dims.reduce((a, b) => a * b, 1);
      const fits = rank === 4 && dims[1] === 3 && dims[2] === SIZE && dims[3] === SIZE;
      return json(tiny, { instances: nested(r.floats(n), dims) }, 'wrong shape', fits ? R_OK : R_BAD);
    }
    case 6: {
      const depth = r.pick([64, 1000, 10_000, 100_000, 400_000]);
      const body = r.chance(0.5) ? `{"instances": ${deep(depth, '1')}}` : `{"instances": [{"x": ${deep(depth, '1', true)}}]}`;
      return { kind: 'deep nesting', allowed: R_BAD, rest: { path: tiny, body } };
    }
    case 7:
      return json(tiny, { instances: Array.from({ length: 1 + r.int(3) }, () => ({ b64: pool.garbage(r).toString('base64') })) }, 'garbage images');
    case 8: {
      const kind = r.pick(['unknown model', 'unknown version', 'version label']);
      const path = kind === 'unknown model' ? `/v1/models/no-such-${r.int(1000)}:predict` : kind === 'unknown version' ? `/v1/models/tiny/versions/${3 + r.int(90)}:predict` : '/v1/models/tiny/labels/stable:predict';
      return json(path, { instances: [{ b64: pool.good[0].toString('base64') }] }, kind, R_MISSING);
    }
    case 9: {
      const path = r.pick(['/v1/models/tiny:classify', '/v1/models/tiny/versions/x:predict', '/v1/models/tiny/versions/-1:predict', '/v1/models/:predict', '/v1/models/tiny/metadata']);
      return json(path, { instances: [1] }, 'bad path', path.includes('versions/') ? R_BAD : R_MISSING);
    }
    case 10: {
      const rows = 65 + r.int(60);
      return json(tiny, { instances: new Array(rows).fill({ b64: pool.good[0].toString('base64') }) }, 'batch over --max-request-batch');
    }
    case 11:
      return { kind: 'over the body limit', allowed: ['413'], rest: { path: tiny, body: JSON.stringify({ instances: [{ b64: oversized(r).toString('base64') }] }) } };
    case 12: {
      const v = tfRestValid(r, pool);
      const type = r.pick(['text/plain', 'application/octet-stream', 'application/xml', 'multipart/form-data; boundary=x', 'application/x-www-form-urlencoded', 'image/jpeg', 'application/json; charset=utf-16', '']);
      return { kind: 'wrong content type', allowed: ['200', '400'], rest: { path: v.path, body: JSON.stringify(v.body), type } };
    }
    case 13: {
      // JSON has no NaN or Infinity; 1e309 parses as Infinity.
      const text = JSON.stringify({ instances: [nested(r.floats(PIXELS).map((x) => (r.chance(0.1) ? 7777 * Math.sign(x) : x)), [3, SIZE, SIZE])] });
      return { kind: 'Inf floats (1e309)', allowed: R_OK, rest: { path: tiny, body: text.replaceAll('7777', '1e309') } };
    }
    default: {
      const text = JSON.stringify(tfRestValid(r, pool).body);
      const buf = Buffer.from(text);
      for (let i = 0, n = 1 + r.int(3); i < n; i++) buf[r.int(buf.length)] = r.int(256);
      return { kind: 'mangled JSON', allowed: R_MANGLED, rest: { path: tiny, body: buf } };
    }
  }
}

// ---------------------------------------------------------------------------
// KServe REST /v2/models/{name}/infer
// ---------------------------------------------------------------------------
function kRestValid(r: Rand, pool: Pool): { path: string; body: Record<string, unknown> } {
  const rows = 1 + r.int(3);
  if (r.chance(0.3)) {
    const t = (name: string) => ({ name, datatype: 'FP32', shape: [rows, 2], data: r.chance(0.5) ? r.floats(rows * 2) : nested(r.floats(rows * 2), [rows, 2]) });
    return { path: '/v2/models/pair/infer', body: { inputs: [t('a'), t('b')] } };
  }
  const path = r.chance(0.3) ? '/v2/models/tiny/versions/1/infer' : '/v2/models/tiny/infer';
  if (r.chance(0.5)) {
    return { path, body: { inputs: [{ name: 'images', datatype: 'BYTES', shape: [rows], data: Array.from({ length: rows }, () => ({ b64: r.pick(pool.good).toString('base64') })) }] } };
  }
  return { path, body: { id: 'x', inputs: [{ name: 'input', datatype: 'FP32', shape: [rows, 3, SIZE, SIZE], data: r.floats(rows * PIXELS) }], ...(r.chance(0.3) ? { outputs: [{ name: 'probs' }] } : {}) } };
}

function kserveRestCase(r: Rand, pool: Pool): Case {
  const json = (path: string, body: unknown, kind: string, allowed: Allowed = R_BAD): Case => ({ kind, allowed, rest: { path, body: JSON.stringify(body) } });
  const tiny = '/v2/models/tiny/infer';
  const input = (extra: object) => ({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3, SIZE, SIZE], ...extra }] });
  switch (r.int(15)) {
    case 0: {
      const v = kRestValid(r, pool);
      return json(v.path, v.body, 'valid', R_OK);
    }
    case 1: {
      const text = JSON.stringify(kRestValid(r, pool).body);
      const variant = r.int(3);
      const body = variant === 0 ? text.slice(0, r.int(text.length)) : variant === 1 ? text.replace(/\d/, 'Infinity') : r.bytes(1 + r.int(200)).toString('latin1');
      return { kind: 'invalid JSON', allowed: R_BAD, rest: { path: tiny, body } };
    }
    case 2:
      return json(tiny, { inputs: [{ name: 'images', datatype: 'BYTES', shape: [1], data: [{ b64: r.pick(['!!!!', 'a', 'abcde', '==', '\u00e9']) }] }] }, 'invalid base64');
    case 3: {
      const v = kRestValid(r, pool);
      return json(v.path, { ...v.body, [`x_${r.int(100)}`]: r.pick([1, 'two', null, [1]]), parameters: { whatever: true } }, 'unknown fields', R_OK);
    }
    case 4: {
      const body = r.pick<unknown>([
        { inputs: 'abc' },
        { inputs: [] },
        { inputs: [{ datatype: 'FP32', shape: [1], data: [1] }] },
        input({ datatype: 'FP32', data: 'x' }),
        input({ data: ['x'] }),
        input({ data: [true] }),
        input({ data: [1], parameters: { binary_data_size: 4 } }),
        input({ parameters: { binary_data_size: -1 } }),
        { inputs: [{ name: 'input', datatype: 'FP32', shape: 'x', data: [1] }] },
        { inputs: [{ name: 'input', datatype: 7, shape: [1], data: [1] }] },
        { id: 5, ...input({ data: r.floats(PIXELS) }) },
        { ...input({ data: r.floats(PIXELS) }), outputs: 'probs' },
        { ...input({ data: r.floats(PIXELS) }), outputs: [{ name: 'probs' }, { name: 'probs' }] },
        { inputs: [{ name: 'images', datatype: 'BYTES', shape: [1], data: [5] }] },
        [1],
        null,
      ]);
      return json(tiny, body, 'wrong JSON types');
    }
    case 5: {
      const rank = r.int(6);
      const dims = Array.from({ length: rank }, () => r.int(5));
      const n = dims.reduce((a, b) => a * b, 1);
      const fits = rank === 4 && dims[0] > 0 && dims[1] === 3 && dims[2] === SIZE && dims[3] === SIZE;
      return json(tiny, { inputs: [{ name: 'input', datatype: 'FP32', shape: dims, data: r.floats(r.chance(0.8) ? n : n + 1) }] }, 'wrong shape', fits ? ['200', '400'] : R_BAD);
    }
    case 6: {
      const depth = r.pick([64, 1000, 10_000, 100_000, 400_000]);
      const data = r.chance(0.5) ? deep(depth, '1') : `[${deep(depth, '1', true)}]`;
      return { kind: 'deep nesting', allowed: R_BAD, rest: { path: tiny, body: `{"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 3, ${SIZE}, ${SIZE}], "data": ${data}}]}` } };
    }
    case 7: {
      const items = Array.from({ length: 1 + r.int(3) }, () => pool.garbage(r));
      return json(tiny, { inputs: [{ name: 'images', datatype: 'BYTES', shape: [items.length], data: items.map((b) => ({ b64: b.toString('base64') })) }] }, 'garbage images');
    }
    case 8: {
      const kind = r.pick(['unknown model', 'unknown version']);
      const path = kind === 'unknown model' ? `/v2/models/no-such-${r.int(1000)}/infer` : `/v2/models/tiny/versions/${3 + r.int(90)}/infer`;
      return json(path, input({ data: r.floats(PIXELS) }), kind, R_MISSING);
    }
    case 9: {
      // The binary tensor data extension with lengths that do not add up.
      const head = Buffer.from(JSON.stringify(input({ parameters: { binary_data_size: PIXELS * 4 } })));
      const binary = r.bytes(PIXELS * 4 + r.pick([-8, -1, 1, 4]));
      const header = r.pick([String(head.length), String(head.length + 10_000), 'abc', '-1', String(head.length)]);
      return { kind: 'bad binary extension', allowed: R_BAD, rest: { path: tiny, body: Buffer.concat([head, binary]), type: 'application/octet-stream', headers: { 'inference-header-content-length': header } } };
    }
    case 10: {
      const rows = 65 + r.int(60);
      return json(tiny, { inputs: [{ name: 'input', datatype: 'FP32', shape: [rows, 3, SIZE, SIZE], data: new Array(rows * PIXELS).fill(0.5) }] }, 'batch over --max-request-batch');
    }
    case 11:
      return { kind: 'over the body limit', allowed: ['413'], rest: { path: tiny, body: JSON.stringify(input({ data: new Array(LIMIT / 2).fill(0) })) } };
    case 12: {
      const v = kRestValid(r, pool);
      const type = r.pick(['text/plain', 'application/octet-stream', 'application/xml', 'multipart/form-data; boundary=x', 'image/png', '']);
      return { kind: 'wrong content type', allowed: ['200', '400'], rest: { path: v.path, body: JSON.stringify(v.body), type } };
    }
    case 13:
      return json(tiny, { inputs: [{ name: 'input', datatype: 'FP32', shape: r.pick(HUGE_DIMS), data: [1] }] }, 'huge declared shape');
    default: {
      const buf = Buffer.from(JSON.stringify(kRestValid(r, pool).body));
      for (let i = 0, n = 1 + r.int(3); i < n; i++) buf[r.int(buf.length)] = r.int(256);
      return { kind: 'mangled JSON', allowed: R_MANGLED, rest: { path: tiny, body: buf } };
    }
  }
}

// ---------------------------------------------------------------------------

const GENERATORS: Record<Protocol, (r: Rand, pool: Pool) => Case> = {
  'tf-grpc': tfCase,
  'kserve-grpc': kserveGrpcCase,
  'tf-rest': tfRestCase,
  'kserve-rest': kserveRestCase,
};
const METHOD: Partial<Record<Protocol, string>> = {
  'tf-grpc': '/tensorflow.serving.PredictionService/Predict',
  'kserve-grpc': '/inference.GRPCInferenceService/ModelInfer',
};

const files = modelDir();
let server: Awaited<ReturnType<typeof startTestServer>>;
let channel: grpc.Client;

beforeAll(async () => {
  server = await startTestServer(
    [
      { name: 'tiny', path: files.write('tiny.onnx', tinyClassifier({ size: SIZE })) },
      { name: 'pair', path: files.write('pair.onnx', twoInputModel()) },
    ],
    { maxMessageBytes: LIMIT },
  );
  channel = new grpc.Client(server.grpcAddress, grpc.credentials.createInsecure(), { 'grpc.max_send_message_length': 8 * LIMIT, 'grpc.max_receive_message_length': 8 * LIMIT });
});
afterAll(async () => {
  channel.close();
  await server.shutdown();
  files.cleanup();
});

/** Raw bytes as one gRPC request; resolves with the status name and details. */
function sendGrpc(method: string, bytes: Uint8Array): Promise<{ outcome: string; detail: string; body?: Buffer }> {
  return new Promise((resolve) => {
    channel.makeUnaryRequest(
      method,
      (b: Uint8Array) => Buffer.from(b),
      (b: Buffer) => b,
      bytes,
      new grpc.Metadata(),
      { deadline: Date.now() + DEADLINE_MS },
      (err, res) => resolve(err ? { outcome: grpc.status[err.code], detail: `${err.details} [${err.metadata?.get('accel-error-code')[0] ?? ''}]` } : { outcome: 'OK', detail: '', body: res }),
    );
  });
}

async function sendRest(c: NonNullable<Case['rest']>): Promise<{ outcome: string; detail: string; body?: string }> {
  const headers: Record<string, string> = { ...c.headers };
  if (c.type !== '') headers['content-type'] = c.type ?? 'application/json';
  try {
    const res = await fetch(server.rest + c.path, { method: 'POST', headers, body: typeof c.body === 'string' ? c.body : new Uint8Array(c.body), signal: AbortSignal.timeout(DEADLINE_MS) });
    const text = await res.text();
    return { outcome: String(res.status), detail: res.ok ? '' : text.slice(0, 300), body: text };
  } catch (err) {
    return { outcome: `no answer (${(err as Error).name})`, detail: (err as Error).message };
  }
}

const memory = () => {
  (globalThis as { gc?: () => void }).gc?.();
  const m = process.memoryUsage();
  return { rss: m.rss, heap: m.heapUsed };
};
const mb = (n: number) => Math.round(n / 1024 / 1024);

describe('fuzzing the predict APIs', () => {
  it(`answers ${TOTAL} generated malformed requests with the right error, never INTERNAL/500 or a hang`, async () => {
    const pool = await imagePool();
    const r = new Rand(SEED);
    const protocols = Object.keys(GENERATORS) as Protocol[];
    // Warm up (first requests pay for lazy initialization), then measure memory.
    for (let i = 0; i < 40; i++) {
      const p = protocols[i % 4];
      const c = GENERATORS[p](new Rand(i), pool);
      await (c.grpc ? sendGrpc(METHOD[p]!, c.grpc) : sendRest(c.rest!));
    }
    const before = memory();
    const started = performance.now();

    const counts: Record<string, Record<string, number>> = Object.fromEntries(protocols.map((p) => [p, {}]));
    const failures: string[] = [];
    const timeByKind = new Map<string, { n: number; ms: number }>();
    const rssSamples: number[] = [];
    let next = 0;
    const worker = async () => {
      while (next < TOTAL) {
        const i = next++;
        if (i % (TOTAL / 4) === 0) rssSamples.push(memory().rss);
        const protocol = protocols[i % 4];
        const c = GENERATORS[protocol](r, pool);
        const t0 = performance.now();
        const seen = c.grpc ? await sendGrpc(METHOD[protocol]!, c.grpc) : await sendRest(c.rest!);
        const k = timeByKind.get(`${protocol} ${c.kind}`) ?? { n: 0, ms: 0 };
        timeByKind.set(`${protocol} ${c.kind}`, { n: k.n + 1, ms: k.ms + performance.now() - t0 });
        counts[protocol][seen.outcome] = (counts[protocol][seen.outcome] ?? 0) + 1;
        if (!c.allowed.includes(seen.outcome)) failures.push(`#${i} ${protocol} ${c.kind}: got ${seen.outcome}, expected ${c.allowed.join('|')}: ${seen.detail}`);
      }
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
    const seconds = (performance.now() - started) / 1000;
    const after = memory();

    console.log(`fuzz: ${TOTAL} requests in ${seconds.toFixed(1)} s (${IN_FLIGHT} in flight, seed 0x${SEED.toString(16)})`);
    for (const p of protocols) {
      const total = Object.values(counts[p]).reduce((a, b) => a + b, 0);
      const codes = Object.entries(counts[p]).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ');
      console.log(`  ${p.padEnd(12)} ${total} requests: ${codes}`);
    }
    const slowest = [...timeByKind].sort((a, b) => b[1].ms - a[1].ms).slice(0, 4);
    console.log(`  most time: ${slowest.map(([k, v]) => `${k} ${Math.round(v.ms / 1000)} s (${v.n})`).join('; ')}`);
    console.log(`  memory: rss ${mb(before.rss)} -> ${[...rssSamples.slice(1), after.rss].map(mb).join(' -> ')} MB (each quarter), heap used ${mb(before.heap)} -> ${mb(after.heap)} MB`);
    if (failures.length) console.log(`${failures.length} unexpected answers, first ones:\n${failures.slice(0, 25).join('\n')}`);

    expect(failures).toEqual([]);
    for (const p of protocols) {
      expect(Object.keys(counts[p])).not.toContain('INTERNAL');
      expect(Object.keys(counts[p])).not.toContain('500');
    }
    expect(after.heap - before.heap).toBeLessThan(200 * 1024 * 1024);
    expect(after.rss - before.rss).toBeLessThan(400 * 1024 * 1024);
  }, 240_000);

  it('still answers a good request correctly on every protocol afterwards', async () => {
    const x = Array.from({ length: PIXELS }, (_, i) => Math.sin(i) * 2);
    const expected = tinyReference(channelMeans(Float32Array.from(x), SIZE));
    const close = (got: number[]) => got.forEach((v, i) => expect(v).toBeCloseTo(expected[i], 5));

    const tf = await sendGrpc(METHOD['tf-grpc']!, encode(PredictRequest, { model_spec: { name: 'tiny' }, inputs: { input: { dtype: 'DT_FLOAT', tensor_shape: tfShape([1, 3, SIZE, SIZE]), tensor_content: f32Bytes(x) } }, output_filter: ['probs'] }));
    expect(tf.outcome).toBe('OK');
    const tfRes = root.lookupType('tensorflow.serving.PredictResponse').toObject(root.lookupType('tensorflow.serving.PredictResponse').decode(tf.body!), { longs: String, enums: String }) as { outputs: Record<string, { tensor_content: Buffer }> };
    close(floatsOf(tfRes.outputs.probs));

    const k = await sendGrpc(METHOD['kserve-grpc']!, encode(ModelInferRequest, { model_name: 'tiny', inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3, SIZE, SIZE], contents: { fp32_contents: x } }], outputs: [{ name: 'probs' }] }));
    expect(k.outcome).toBe('OK');
    const kRes = root.lookupType('inference.ModelInferResponse').decode(k.body!) as unknown as { raw_output_contents: Uint8Array[] };
    close(floatsOf({ tensor_content: Buffer.from(kRes.raw_output_contents[0]) }));

    const rest = await sendRest({ path: '/v1/models/tiny:predict', body: JSON.stringify({ instances: [nested(x, [3, SIZE, SIZE])] }) });
    expect(rest.outcome).toBe('200');
    close((JSON.parse(rest.body!) as { predictions: number[][] }).predictions[0]);

    const kRest = await sendRest({ path: '/v2/models/tiny/infer', body: JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3, SIZE, SIZE], data: x }], outputs: [{ name: 'probs' }] }) });
    expect(kRest.outcome).toBe('200');
    close((JSON.parse(kRest.body!) as { outputs: Array<{ data: number[] }> }).outputs[0].data);
  });
});
