import pkg from '../../package.json' with { type: 'json' };
import { AccelError } from '../errors';
import { fromHalf, toHalf } from '../runtime/half';

export { fromHalf, toHalf };
import type { ModelRef, Runtime } from '../runtime/runtime';
import type { Servable } from '../runtime/servable';
import type { SignatureTensor } from '../runtime/signature';
import {
  allocate,
  bytesPerElement,
  elementCount,
  shapeString,
  viewBytes,
  type DType,
  type NumericDType,
  type Tensor,
} from '../runtime/tensor';
import { parseVersion } from './model-spec';
import { MAX_ELEMENTS } from './tf-tensor';

/** KServe v2 / Open Inference Protocol datatype of each runtime dtype. */
const TO_KSERVE: Record<DType, string> = {
  bool: 'BOOL',
  uint8: 'UINT8',
  uint16: 'UINT16',
  uint32: 'UINT32',
  uint64: 'UINT64',
  int8: 'INT8',
  int16: 'INT16',
  int32: 'INT32',
  int64: 'INT64',
  float16: 'FP16',
  float32: 'FP32',
  float64: 'FP64',
  string: 'BYTES',
};
const FROM_KSERVE = new Map(Object.entries(TO_KSERVE).map(([d, k]) => [k, d as DType]));

/** Integer ranges checked on JSON and typed-contents values (64-bit types go through BigInt). */
const INT_RANGE: Partial<Record<DType, [number, number]>> = {
  int8: [-128, 127],
  int16: [-32768, 32767],
  int32: [-(2 ** 31), 2 ** 31 - 1],
  uint8: [0, 255],
  uint16: [0, 65535],
  uint32: [0, 2 ** 32 - 1],
};

export const SERVER_METADATA = { name: 'accel', version: pkg.version, extensions: ['binary_tensor_data'] };
export const PLATFORM = 'onnxruntime';

export function kserveDatatype(d: DType): string {
  return TO_KSERVE[d];
}

export function badTensor(input: string, reason: string): AccelError {
  return new AccelError('ACCEL_ERR_BAD_TENSOR', { input, reason });
}

export function badRequest(reason: string): AccelError {
  return new AccelError('ACCEL_ERR_BAD_REQUEST', { reason });
}

/** A KServe datatype name as a runtime dtype, or a 400 naming the ones that exist. */
export function dtypeFromKServe(input: string, datatype: unknown): DType {
  const d = typeof datatype === 'string' ? FROM_KSERVE.get(datatype) : undefined;
  if (!d) throw badTensor(input, `datatype ${JSON.stringify(datatype)} is not one of ${[...FROM_KSERVE.keys()].join(', ')}`);
  return d;
}

/** A request shape (numbers, or int64 strings from gRPC) as non-negative integers. */
export function parseShape(input: string, shape: unknown): number[] {
  if (!Array.isArray(shape)) throw badTensor(input, '"shape" must be a list of dimensions');
  const dims = shape.map((d) => (typeof d === 'string' && /^-?\d+$/.test(d) ? Number(d) : d));
  if (!dims.every((d): d is number => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)) {
    throw badTensor(input, `shape ${JSON.stringify(shape)} must hold non-negative integers`);
  }
  const n = elementCount(dims);
  if (n > MAX_ELEMENTS) throw badTensor(input, `shape ${shapeString(dims)} declares ${n} elements`);
  return dims;
}

/** The model and version a KServe request addresses; '' or no version means the latest. */
export function kserveRef(name: string, version: string | undefined): ModelRef {
  if (!name) throw badRequest('the request names no model; set model_name');
  return version ? { name, version: parseVersion(version) } : { name };
}

const B64 = /^[A-Za-z0-9+/]*={0,2}$/;

function elementBytes(input: string, v: unknown, i: number): Uint8Array {
  if (v instanceof Uint8Array) return v;
  if (typeof v === 'string') return Buffer.from(v, 'utf8');
  if (typeof v === 'object' && v !== null && Object.keys(v).length === 1 && typeof (v as { b64?: unknown }).b64 === 'string') {
    const clean = (v as { b64: string }).b64.replace(/\s+/g, '');
    if (clean.length % 4 === 1 || !B64.test(clean)) throw badTensor(input, `data[${i}] has invalid base64 in {"b64": ...}`);
    return Buffer.from(clean, 'base64');
  }
  throw badTensor(input, `data[${i}] is ${JSON.stringify(v)?.slice(0, 40)}; BYTES data must be strings (or {"b64": ...})`);
}

function numberAt(input: string, dtype: NumericDType, v: unknown, i: number): number | bigint {
  const fail = (what: string) => badTensor(input, `data[${i}] is ${JSON.stringify(v)?.slice(0, 40)}; ${TO_KSERVE[dtype]} data must be ${what}`);
  if (dtype === 'bool') {
    if (typeof v !== 'boolean') throw fail('true or false');
    return v ? 1 : 0;
  }
  if (dtype === 'int64' || dtype === 'uint64') {
    const ok = (typeof v === 'number' && Number.isSafeInteger(v)) || (typeof v === 'string' && /^-?\d+$/.test(v));
    const big = ok ? BigInt(v as number | string) : undefined;
    if (big === undefined || (dtype === 'uint64' ? big < 0n || big >= 2n ** 64n : big < -(2n ** 63n) || big >= 2n ** 63n)) {
      throw fail(`integers in the ${dtype} range`);
    }
    return big;
  }
  if (typeof v !== 'number') throw fail('numbers');
  const range = INT_RANGE[dtype];
  if (range && !(Number.isInteger(v) && v >= range[0] && v <= range[1])) throw fail(`integers from ${range[0]} to ${range[1]}`);
  return dtype === 'float16' ? toHalf(v) : v;
}

function countMismatch(input: string, shape: number[], got: number): AccelError {
  return badTensor(input, `data has ${got} elements; shape ${shapeString(shape)} needs ${elementCount(shape)}`);
}

/** A tensor from a flat list of values (JSON `data`, or gRPC typed contents), checked element by element. */
export function tensorFromValues(input: string, dtype: DType, shape: number[], values: readonly unknown[]): Tensor {
  if (values.length !== elementCount(shape)) throw countMismatch(input, shape, values.length);
  if (dtype === 'string') return { dtype, shape, data: values.map((v, i) => elementBytes(input, v, i)) };
  const data = allocate(dtype, values.length) as { [i: number]: number | bigint };
  values.forEach((v, i) => (data[i] = numberAt(input, dtype, v, i)));
  return { dtype, shape, data: data as Extract<Tensor, { dtype: NumericDType }>['data'] };
}

/** A tensor from binary data: little-endian elements, or BYTES as 4-byte-length-prefixed items. */
export function tensorFromRaw(input: string, dtype: DType, shape: number[], raw: Uint8Array): Tensor {
  const n = elementCount(shape);
  if (dtype !== 'string') {
    const need = n * bytesPerElement(dtype);
    if (raw.byteLength !== need) {
      throw badTensor(input, `binary data has ${raw.byteLength} bytes; shape ${shapeString(shape)} of ${TO_KSERVE[dtype]} needs ${need}`);
    }
    return { dtype, shape, data: viewBytes(dtype, raw) };
  }
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const data: Uint8Array[] = [];
  let pos = 0;
  while (pos < raw.byteLength) {
    if (pos + 4 > raw.byteLength) throw badTensor(input, `BYTES element ${data.length} has a truncated 4-byte length prefix`);
    const len = view.getUint32(pos, true);
    pos += 4;
    if (pos + len > raw.byteLength) {
      throw badTensor(input, `BYTES element ${data.length} declares ${len} bytes but only ${raw.byteLength - pos} remain`);
    }
    data.push(raw.subarray(pos, pos + len));
    pos += len;
  }
  if (data.length !== n) throw countMismatch(input, shape, data.length);
  return { dtype, shape, data };
}

/** A tensor as binary data (the inverse of {@link tensorFromRaw}). */
export function rawBytes(t: Tensor): Buffer {
  if (t.dtype !== 'string') return Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  const parts: Uint8Array[] = [];
  for (const item of t.data) {
    const len = Buffer.alloc(4);
    len.writeUInt32LE(item.byteLength);
    parts.push(len, item);
  }
  return Buffer.concat(parts);
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A tensor's elements as flat JSON values: numbers, booleans, UTF-8 strings (or {"b64"} when not UTF-8). */
export function jsonData(t: Tensor): unknown[] {
  switch (t.dtype) {
    case 'string':
      return t.data.map((b) => {
        try {
          return utf8.decode(b);
        } catch {
          return { b64: Buffer.from(b).toString('base64') };
        }
      });
    case 'float16':
      return Array.from(t.data as Uint16Array, fromHalf);
    case 'bool':
      return Array.from(t.data as Uint8Array, (v) => v !== 0);
    case 'int64':
    case 'uint64':
      return Array.from(t.data as BigInt64Array, Number);
    default:
      return Array.from(t.data as Float32Array);
  }
}

/** Outputs answered when a request names none: each output tensor once, under its graph name. */
export function defaultOutputs(servable: Servable): string[] {
  const byTensor = new Map<string, string>();
  for (const o of servable.signature.outputs) if (!byTensor.has(o.tensorName) || o.alias === o.tensorName) byTensor.set(o.tensorName, o.alias);
  return [...byTensor.values()];
}

/** `$metadata_model_response`: inputs are the signature's (graph tensors and the `images` alias), outputs the graph's. */
export function modelMetadata(runtime: Runtime, servable: Servable) {
  const tensor = (s: SignatureTensor) => ({ name: s.alias, datatype: TO_KSERVE[s.dtype], shape: s.shape });
  const outputs = new Set(defaultOutputs(servable));
  return {
    name: servable.name,
    versions: runtime
      .status({ name: servable.name })
      .filter((s) => s.state === 'AVAILABLE')
      .map((s) => String(s.version))
      .reverse(),
    platform: PLATFORM,
    inputs: servable.signature.inputs.map(tensor),
    outputs: servable.signature.outputs.filter((o) => outputs.has(o.alias)).map(tensor),
  };
}

/** Whether the model (or the version asked) can answer; NOT_FOUND when it is unknown. */
export function modelReady(runtime: Runtime, ref: ModelRef): boolean {
  return runtime.status(ref).some((s) => s.state === 'AVAILABLE');
}
