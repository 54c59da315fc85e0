/** Element types the runtime core speaks; protocol adapters map their own enums onto these. */
export type DType =
  | 'float32'
  | 'float64'
  | 'float16'
  | 'int8'
  | 'int16'
  | 'int32'
  | 'int64'
  | 'uint8'
  | 'uint16'
  | 'uint32'
  | 'uint64'
  | 'bool'
  | 'string';

export type NumericData =
  | Float32Array
  | Float64Array
  | Uint16Array
  | Int8Array
  | Int16Array
  | Int32Array
  | BigInt64Array
  | Uint8Array
  | Uint32Array
  | BigUint64Array;

/** A dense tensor. Strings are kept as raw bytes (JPEG/PNG payloads are strings in TF terms). */
export type Tensor =
  | { dtype: 'string'; shape: number[]; data: Uint8Array[] }
  | { dtype: Exclude<DType, 'string'>; shape: number[]; data: NumericData };

export type NamedTensors = Record<string, Tensor>;

const CTORS = {
  float32: Float32Array,
  float64: Float64Array,
  float16: Uint16Array,
  int8: Int8Array,
  int16: Int16Array,
  int32: Int32Array,
  int64: BigInt64Array,
  uint8: Uint8Array,
  uint16: Uint16Array,
  uint32: Uint32Array,
  uint64: BigUint64Array,
  bool: Uint8Array,
} as const;

export type NumericDType = keyof typeof CTORS;

export function isNumericDType(d: string): d is NumericDType {
  return Object.hasOwn(CTORS, d);
}

export function bytesPerElement(dtype: NumericDType): number {
  return CTORS[dtype].BYTES_PER_ELEMENT;
}

/** A zero-filled typed array for `dtype`. */
export function allocate(dtype: NumericDType, length: number): NumericData {
  return new CTORS[dtype](length);
}

/**
 * A typed array view over `bytes` (little-endian, as TensorProto.tensor_content and ONNX raw data are).
 * Copies only when the bytes are not aligned for the element size.
 */
export function viewBytes(dtype: NumericDType, bytes: Uint8Array): NumericData {
  const ctor = CTORS[dtype];
  const size = ctor.BYTES_PER_ELEMENT;
  if (bytes.byteOffset % size === 0) {
    return new ctor(bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.byteLength / size) as NumericData;
  }
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return new ctor(copy.buffer, 0, bytes.byteLength / size) as NumericData;
}

/** A typed array from plain numbers (JSON, float_val/int_val repeated fields). */
export function fromNumbers(dtype: NumericDType, values: ArrayLike<number | bigint | boolean | string>): NumericData {
  const ctor = CTORS[dtype];
  if (ctor === BigInt64Array || ctor === BigUint64Array) {
    const out = new ctor(values.length);
    for (let i = 0; i < values.length; i++) out[i] = BigInt(values[i] as number | bigint | string);
    return out;
  }
  const out = new ctor(values.length) as Exclude<NumericData, BigInt64Array | BigUint64Array>;
  for (let i = 0; i < values.length; i++) out[i] = Number(values[i]);
  return out;
}

export function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function shapeString(shape: readonly (number | string)[]): string {
  return `[${shape.map((d) => (typeof d === 'number' && d < 0 ? '-1' : String(d))).join(',')}]`;
}
