import { DEFAULT_MAX_MESSAGE_BYTES } from '../defaults';
import { AccelError } from '../errors';
import type { Signature, SignatureTensor } from '../runtime/signature';
import {
  allocate,
  bytesPerElement,
  elementCount,
  fromNumbers,
  viewBytes,
  type DType,
  type NumericDType,
  type Tensor,
} from '../runtime/tensor';

/** TensorFlow DataType enum names for the dtypes the runtime speaks. */
const TO_TF: Record<DType, string> = {
  float32: 'DT_FLOAT',
  float64: 'DT_DOUBLE',
  float16: 'DT_HALF',
  int8: 'DT_INT8',
  int16: 'DT_INT16',
  int32: 'DT_INT32',
  int64: 'DT_INT64',
  uint8: 'DT_UINT8',
  uint16: 'DT_UINT16',
  uint32: 'DT_UINT32',
  uint64: 'DT_UINT64',
  bool: 'DT_BOOL',
  string: 'DT_STRING',
};
const FROM_TF = new Map(Object.entries(TO_TF).map(([k, v]) => [v, k as DType]));

/** The repeated field of TensorProto that carries values of each dtype when tensor_content is empty. */
const VALUE_FIELD: Record<NumericDType, string> = {
  float32: 'float_val',
  float64: 'double_val',
  float16: 'half_val',
  int8: 'int_val',
  int16: 'int_val',
  int32: 'int_val',
  uint8: 'int_val',
  uint16: 'int_val',
  int64: 'int64_val',
  uint32: 'uint32_val',
  uint64: 'uint64_val',
  bool: 'bool_val',
};

/** A TensorProto as @grpc/proto-loader gives it (keepCase, longs and enums as strings). */
export interface TensorProtoObject {
  dtype?: string;
  tensor_shape?: { dim?: Array<{ size?: string | number; name?: string }>; unknown_rank?: boolean };
  tensor_content?: Uint8Array;
  string_val?: Uint8Array[];
  [field: string]: unknown;
}

/** Upper bound on elements a request may declare. */
export const MAX_ELEMENTS = 1 << 28;

/** Largest tensor a single broadcast value may fill: a few bytes on the wire must not allocate gigabytes. */
export const MAX_BROADCAST_BYTES = DEFAULT_MAX_MESSAGE_BYTES;

function badTensor(input: string, reason: string): AccelError {
  return new AccelError('ACCEL_ERR_BAD_TENSOR', { input, reason });
}

/** Decodes a TensorProto into a runtime tensor, checking shape against content. */
export function decodeTensorProto(input: string, proto: TensorProtoObject): Tensor {
  const dtype = FROM_TF.get(proto.dtype ?? 'DT_INVALID');
  if (!dtype) throw badTensor(input, `dtype ${proto.dtype ?? 'DT_INVALID'} is not supported`);
  const dims = proto.tensor_shape?.dim;
  let shape: number[] | undefined;
  if (dims && !proto.tensor_shape?.unknown_rank) {
    shape = dims.map((d) => Number(d.size ?? 0));
    if (shape.some((d) => !Number.isSafeInteger(d) || d < 0)) {
      throw badTensor(input, `shape [${shape.join(',')}] has a negative or invalid dimension`);
    }
  }
  if (dtype === 'string') {
    const values = proto.string_val ?? [];
    shape ??= [values.length];
    if (elementCount(shape) !== values.length) {
      throw badTensor(input, `shape [${shape.join(',')}] needs ${elementCount(shape)} strings, got ${values.length}`);
    }
    return { dtype, shape, data: values };
  }
  const count = shape ? elementCount(shape) : undefined;
  if (count !== undefined && count > MAX_ELEMENTS) throw badTensor(input, `shape [${shape!.join(',')}] declares ${count} elements`);
  const content = proto.tensor_content;
  if (content && content.length > 0) {
    const size = bytesPerElement(dtype);
    const expected = (count ?? content.length / size) * size;
    if (content.length !== expected || content.length % size !== 0) {
      throw badTensor(input, `tensor_content has ${content.length} bytes; shape [${shape?.join(',') ?? '?'}] of ${dtype} needs ${expected}`);
    }
    return { dtype, shape: shape ?? [content.length / size], data: viewBytes(dtype, content) };
  }
  const values = (proto[VALUE_FIELD[dtype]] as ArrayLike<number | string | boolean> | undefined) ?? [];
  const n = count ?? values.length;
  if (values.length === n) {
    return { dtype, shape: shape ?? [n], data: fromNumbers(dtype, values) };
  }
  // TensorFlow broadcasts a single value over the whole shape.
  if (values.length === 1 && shape) {
    if (n * bytesPerElement(dtype) > MAX_BROADCAST_BYTES) {
      throw badTensor(input, `one value broadcast over shape [${shape.join(',')}] would fill ${n * bytesPerElement(dtype)} bytes (at most ${MAX_BROADCAST_BYTES}); send the values`);
    }
    const data = allocate(dtype, n);
    (data as { fill(v: number | bigint): unknown }).fill(fromNumbers(dtype, values)[0]);
    return { dtype, shape, data };
  }
  throw badTensor(input, `shape [${shape?.join(',')}] needs ${n} values, got ${values.length} in ${VALUE_FIELD[dtype]}`);
}

/** Encodes a runtime tensor as a TensorProto (numeric data in tensor_content, as TF Serving does). */
export function encodeTensorProto(t: Tensor): TensorProtoObject {
  const tensor_shape = { dim: t.shape.map((size) => ({ size: String(size) })) };
  if (t.dtype === 'string') return { dtype: 'DT_STRING', tensor_shape, string_val: t.data };
  const d = t.data;
  return { dtype: TO_TF[t.dtype], tensor_shape, tensor_content: Buffer.from(d.buffer, d.byteOffset, d.byteLength) };
}

/** TensorInfo map entries of a signature, as TF Serving's metadata shows them. */
export function signatureDefObject(sig: Signature) {
  const info = (s: SignatureTensor) => ({
    name: s.tensorName,
    dtype: TO_TF[s.dtype],
    tensor_shape: { dim: s.shape.map((size) => ({ size: String(size), name: '' })), unknown_rank: false },
  });
  return {
    inputs: Object.fromEntries(sig.inputs.map((s) => [s.alias, info(s)])),
    outputs: Object.fromEntries(sig.outputs.map((s) => [s.alias, info(s)])),
    method_name: sig.methodName,
  };
}
