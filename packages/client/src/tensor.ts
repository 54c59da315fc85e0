/**
 * Tensors as the client hands them out, and their TensorProto form
 * (proto-loader shape: keepCase, int64 as decimal strings, enums as names,
 * bytes as Buffer).
 */
import { endianness } from 'node:os';

/** The element types the client decodes. */
export type DType = 'DT_FLOAT' | 'DT_DOUBLE' | 'DT_INT32' | 'DT_INT64' | 'DT_UINT8' | 'DT_STRING' | 'DT_BOOL';

/** Element storage per dtype (DT_BOOL as 0/1 bytes, DT_STRING as one byte array per element). */
export type TensorData = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array | Uint8Array[];

/** A decoded tensor: row-major `data`, `shape` in elements per dimension (`[]` for a scalar). */
export interface Tensor {
  dtype: DType;
  shape: number[];
  data: TensorData;
}

/** A TensorProto as proto-loader reads and writes it. */
export interface TensorProtoObject {
  dtype?: string | number;
  tensor_shape?: { dim?: Array<{ size?: string | number; name?: string }>; unknown_rank?: boolean } | null;
  tensor_content?: Uint8Array;
  float_val?: number[];
  double_val?: number[];
  int_val?: number[];
  int64_val?: Array<string | number | bigint>;
  string_val?: Uint8Array[];
  bool_val?: boolean[];
  [field: string]: unknown;
}

// tensorflow.DataType numbers, for protos built with enums as numbers.
const DTYPE_BY_NUMBER: Record<number, string> = {
  1: 'DT_FLOAT', 2: 'DT_DOUBLE', 3: 'DT_INT32', 4: 'DT_UINT8', 5: 'DT_INT16', 6: 'DT_INT8',
  7: 'DT_STRING', 9: 'DT_INT64', 10: 'DT_BOOL',
};

// Fixed-width types read from tensor_content: bytes per element and a little-endian reader.
const FIXED: Record<string, { size: number; make(n: number): Exclude<TensorData, Uint8Array[]>; read(v: DataView, i: number): number | bigint } | undefined> = {
  DT_FLOAT: { size: 4, make: (n) => new Float32Array(n), read: (v, o) => v.getFloat32(o, true) },
  DT_DOUBLE: { size: 8, make: (n) => new Float64Array(n), read: (v, o) => v.getFloat64(o, true) },
  DT_INT32: { size: 4, make: (n) => new Int32Array(n), read: (v, o) => v.getInt32(o, true) },
  DT_INT64: { size: 8, make: (n) => new BigInt64Array(n), read: (v, o) => v.getBigInt64(o, true) },
  DT_UINT8: { size: 1, make: (n) => new Uint8Array(n), read: (v, o) => v.getUint8(o) },
  DT_BOOL: { size: 1, make: (n) => new Uint8Array(n), read: (v, o) => (v.getUint8(o) ? 1 : 0) },
};

/** Number of elements of `shape` (1 for a scalar). */
export function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Throws unless `shape` is a list of non-negative integers. */
export function checkShape(shape: readonly number[], param = 'shape'): void {
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new TypeError(`'${param}' must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
  }
}

/**
 * Decodes a TensorProto: `tensor_content` (little-endian, copied into aligned
 * memory) when present, the `*_val` field otherwise. A `*_val` field shorter
 * than the shape repeats its last value, as TensorFlow does.
 * `name` only labels error messages.
 */
export function decodeTensor(proto: TensorProtoObject, name = 'tensor'): Tensor {
  const dtypeName = typeof proto.dtype === 'number' ? DTYPE_BY_NUMBER[proto.dtype] : proto.dtype;
  const shape = (proto.tensor_shape?.dim ?? []).map((d) => Number(d.size ?? 0));
  if (shape.some((d) => !Number.isSafeInteger(d) || d < 0)) {
    throw new TypeError(`tensor "${name}" has an unknown or invalid shape [${shape.join(', ')}]`);
  }
  const n = elementCount(shape);
  const dtype = narrowDtype(dtypeName, name);

  if (dtype === 'DT_STRING') {
    const vals = (proto.string_val ?? []).map((b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength));
    return { dtype, shape, data: fill(vals, n, name, Buffer.alloc(0)) };
  }
  const fixed = FIXED[dtype]!;
  const content = proto.tensor_content;
  if (content && content.byteLength > 0) {
    if (content.byteLength !== n * fixed.size) {
      throw new TypeError(
        `tensor "${name}" has ${content.byteLength} bytes of tensor_content; shape [${shape.join(', ')}] of ${dtype} needs ${n * fixed.size}`,
      );
    }
    const view = new DataView(content.buffer, content.byteOffset, content.byteLength);
    const out = fixed.make(n);
    for (let i = 0; i < n; i++) (out as { [i: number]: number | bigint })[i] = fixed.read(view, i * fixed.size);
    return { dtype, shape, data: out };
  }
  const out = fixed.make(n);
  const vals = valField(proto, dtype);
  const filled = fill(vals, n, name, 0);
  for (let i = 0; i < n; i++) {
    const v = filled[i]!;
    (out as { [i: number]: number | bigint })[i] = dtype === 'DT_INT64' ? BigInt(v) : Number(v);
  }
  return { dtype, shape, data: out };
}

function narrowDtype(dtype: string | undefined, name: string): DType {
  switch (dtype) {
    case 'DT_FLOAT': case 'DT_DOUBLE': case 'DT_INT32': case 'DT_INT64': case 'DT_UINT8': case 'DT_STRING': case 'DT_BOOL':
      return dtype;
    default:
      throw new TypeError(
        `tensor "${name}" has dtype ${dtype ?? '(none)'}; the client decodes DT_FLOAT, DT_DOUBLE, DT_INT32, DT_INT64, DT_UINT8, DT_STRING and DT_BOOL`,
      );
  }
}

function valField(proto: TensorProtoObject, dtype: DType): ArrayLike<number | string | bigint | boolean> {
  switch (dtype) {
    case 'DT_FLOAT': return proto.float_val ?? [];
    case 'DT_DOUBLE': return proto.double_val ?? [];
    case 'DT_INT64': return proto.int64_val ?? [];
    case 'DT_BOOL': return proto.bool_val ?? [];
    default: return proto.int_val ?? [];
  }
}

function fill<T>(vals: ArrayLike<T>, n: number, name: string, zero: T): T[] {
  if (vals.length > n) throw new TypeError(`tensor "${name}" has ${vals.length} values but its shape holds ${n}`);
  const out = Array.from(vals);
  const last = out.length ? out[out.length - 1]! : zero;
  while (out.length < n) out.push(last);
  return out;
}

const LITTLE_ENDIAN = endianness() === 'LE';

/** Little-endian bytes of a float32 array (a copy). */
export function float32Bytes(data: Float32Array): Buffer {
  if (LITTLE_ENDIAN) return Buffer.from(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  const out = Buffer.alloc(data.length * 4);
  data.forEach((v, i) => out.writeFloatLE(v, i * 4));
  return out;
}

function protoShape(shape: readonly number[]) {
  return { dim: shape.map((d) => ({ size: String(d) })) };
}

/** A DT_FLOAT TensorProto carrying `data` in `tensor_content`; checks that `shape` matches `data`. */
export function floatTensorProto(data: Float32Array | readonly number[], shape: readonly number[]): TensorProtoObject {
  checkShape(shape);
  if (elementCount(shape) !== data.length) {
    throw new TypeError(`'shape' [${shape.join(', ')}] holds ${elementCount(shape)} elements but 'data' has ${data.length}`);
  }
  const f32 = data instanceof Float32Array ? data : Float32Array.from(data);
  return { dtype: 'DT_FLOAT', tensor_shape: protoShape(shape), tensor_content: float32Bytes(f32) };
}

/** A DT_STRING TensorProto of shape [N] holding one byte string per element. */
export function stringTensorProto(items: readonly Uint8Array[]): TensorProtoObject {
  return {
    dtype: 'DT_STRING',
    tensor_shape: protoShape([items.length]),
    string_val: items.map((b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength)),
  };
}

/** The TensorProto of a decoded tensor (fixed-width types via tensor_content). */
export function encodeTensor(t: Tensor): TensorProtoObject {
  if (t.dtype === 'DT_STRING') return { ...stringTensorProto(t.data as Uint8Array[]), tensor_shape: protoShape(t.shape) };
  const typed = t.data as Exclude<TensorData, Uint8Array[]>;
  let bytes: Buffer;
  if (LITTLE_ENDIAN) {
    bytes = Buffer.from(new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength));
  } else {
    const fixed = FIXED[t.dtype]!;
    bytes = Buffer.alloc(typed.length * fixed.size);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    typed.forEach((v: number | bigint, i: number) => {
      const o = i * fixed.size;
      if (t.dtype === 'DT_FLOAT') view.setFloat32(o, Number(v), true);
      else if (t.dtype === 'DT_DOUBLE') view.setFloat64(o, Number(v), true);
      else if (t.dtype === 'DT_INT32') view.setInt32(o, Number(v), true);
      else if (t.dtype === 'DT_INT64') view.setBigInt64(o, BigInt(v), true);
      else view.setUint8(o, Number(v));
    });
  }
  return { dtype: t.dtype, tensor_shape: protoShape(t.shape), tensor_content: bytes };
}

/** A numeric tensor's values as float32 (strings are refused). */
export function toFloat32(t: Tensor, name = 'tensor'): Float32Array {
  if (t.data instanceof Float32Array) return t.data;
  if (t.dtype === 'DT_STRING') throw new TypeError(`output "${name}" is DT_STRING; use scoreImageTensors to read it`);
  const out = new Float32Array(t.data.length);
  (t.data as Exclude<TensorData, Uint8Array[]>).forEach((v: number | bigint, i: number) => (out[i] = Number(v)));
  return out;
}
