import { protobufRoot } from '@accel/client/proto';
import sharp from 'sharp';
import { bombJpeg, bombPng } from './images';
import { solidPng } from './server';

/*
 * Request generators for protocols/fuzz.test.ts: a seeded PRNG, the image pool, and helpers that
 * break valid requests. Each generated request carries the statuses its class may get.
 */
/** --max-message-bytes of the fuzzed server. */
export const LIMIT = 1 << 20;
/** Input size of the tiny classifier the fuzzed server runs. */
export const SIZE = 8;
export const PIXELS = 3 * SIZE * SIZE;

/** mulberry32: small, seeded, good enough to pick cases. */
export class Rand {
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

export type Protocol = 'tf-grpc' | 'kserve-grpc' | 'tf-rest' | 'kserve-rest';
/** What a request may get: gRPC status names, or HTTP statuses as strings. */
export type Allowed = readonly string[];
export interface Case {
  kind: string;
  allowed: Allowed;
  /** gRPC: the serialized request; REST: path, body, content type, extra headers. */
  grpc?: Uint8Array;
  rest?: { path: string; body: string | Buffer; type?: string; headers?: Record<string, string> };
}

export const OK = ['OK'];
export const BAD = ['INVALID_ARGUMENT'];
export const MISSING = ['NOT_FOUND'];
export const MANGLED = ['OK', 'INVALID_ARGUMENT', 'NOT_FOUND'];
export const R_OK = ['200'];
export const R_BAD = ['400'];
export const R_MISSING = ['404'];
export const R_MANGLED = ['200', '400', '404'];

const root = protobufRoot();
export const PredictRequest = root.lookupType('tensorflow.serving.PredictRequest');
export const ModelInferRequest = root.lookupType('inference.ModelInferRequest');
export const encode = (type: typeof PredictRequest, obj: object) => type.encode(type.fromObject(obj)).finish();

/** Images the generators draw from: valid ones, garbage, truncated, bombs. */
export interface Pool {
  good: Buffer[];
  garbage: (r: Rand) => Buffer;
}

export async function imagePool(): Promise<Pool> {
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
export const HUGE_DIMS: Array<Array<string | number>> = [
  ['-1', 3, SIZE, SIZE],
  ['9007199254740993', 3, SIZE, SIZE],
  ['9223372036854775807', 2],
  [2 ** 31, 2 ** 31, 2 ** 31],
  [1_000_000, 3, SIZE, SIZE],
  [65_536, 65_536, 3, SIZE],
  [2 ** 26, 2],
];

export const nested = (values: number[], shape: number[]): unknown => {
  if (shape.length === 0) return values[0];
  const [n, ...rest] = shape;
  const step = rest.reduce((a, b) => a * b, 1);
  return Array.from({ length: n }, (_, i) => nested(values.slice(i * step, (i + 1) * step), rest));
};

/** Lists (or objects) nested `depth` levels around `leaf`, as JSON text. */
export const deep = (depth: number, leaf: string, objects = false) =>
  objects ? '{"k":'.repeat(depth / 4) + leaf + '}'.repeat(depth / 4) : '['.repeat(depth) + leaf + ']'.repeat(depth);

/** Just over the message limit (the bytes do not matter: the size is refused first). */
export const oversized = (r: Rand) => Buffer.alloc(LIMIT + 1 + r.int(1000), r.int(256));

/** Unknown protobuf fields (field 99: a varint; field 100: bytes) appended to a message. */
export function withUnknownFields(msg: Uint8Array, r: Rand): Buffer {
  const extra = r.chance(0.5) ? Buffer.from([0x98, 0x06, 1 + r.int(127)]) : Buffer.concat([Buffer.from([0xa2, 0x06, 5]), r.bytes(5)]);
  return Buffer.concat([msg, extra]);
}

/** Truncated, bit-flipped or random bytes, from a valid message. */
export function mangle(msg: Uint8Array, r: Rand): { kind: string; bytes: Buffer } {
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
