import { fileURLToPath } from 'node:url';
import { isAbsolute, join } from 'node:path';
import { PROTO_DIR as CLIENT_PROTO_DIR } from '@accel/client/proto';
import protobuf from 'protobufjs';
import { AccelError } from '../../errors';
import { fromHalf } from '../../runtime/half';
import { size, type DType, type Tensor, type TensorData } from '../../onnx/graph';
import { dtypeFromTf, dtypeToTf, shapeToTf, type TfAttrValue, type TfGraph, type TfNode } from '../tf/graph';

const PROTO_DIR = fileURLToPath(new URL('../proto/tensorflow/', import.meta.url));
const PROTO_FILES = ['graph.proto', 'saved_model.proto', 'tensor_bundle.proto'];

let root: protobuf.Root | undefined;

function protoRoot(): protobuf.Root {
  if (!root) {
    // TensorProto, TensorShapeProto and DataType are shared with the client's TF Serving protos.
    root = new protobuf.Root();
    root.resolvePath = (_origin, target) => (isAbsolute(target) ? target : target.startsWith('tensorflow/core/') ? join(CLIENT_PROTO_DIR, target) : join(PROTO_DIR, target));
    root.loadSync(PROTO_FILES);
  }
  return root;
}

/** A message type of TensorFlow's protos (`GraphDef`, `SavedModel`...), loaded once from `proto/tensorflow`. */
export function tfProto(name: string): protobuf.Type {
  return protoRoot().lookupType(`tensorflow.${name}`);
}

/** TensorFlow's DataType enum name for its number (`1` -> `DT_FLOAT`). */
export function dataTypeName(value: number | string | undefined): string {
  if (typeof value === 'string') return value;
  return protoRoot().lookupEnum('tensorflow.DataType').valuesById[value ?? 0] ?? `DataType(${value})`;
}

/** How attributes are turned into the JSON form TF.js model.json files use. */
export const PROTO_JSON: protobuf.IConversionOptions = { longs: String, enums: String, bytes: String };

/** A TensorProto as decoded (bytes as Uint8Array, int64 as Long) or in JSON form (base64, strings). */
export interface TensorProtoLike {
  dtype?: number | string;
  tensorShape?: { dim?: { size?: unknown }[]; unknownRank?: boolean };
  tensorContent?: Uint8Array | string;
  halfVal?: number[];
  floatVal?: (number | string)[];
  doubleVal?: (number | string)[];
  intVal?: number[];
  stringVal?: (Uint8Array | string)[];
  int64Val?: unknown[];
  boolVal?: boolean[];
  uint32Val?: number[];
  uint64Val?: unknown[];
}

/** A 64-bit integer as protobufjs or JSON gives it (number, decimal string, or Long) -> bigint. */
export function toBigInt(v: unknown): bigint {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number') return BigInt(v);
  if (typeof v === 'string') return BigInt(v);
  const l = v as { low: number; high: number; unsigned?: boolean };
  const bits = (BigInt(l.high >>> 0) << 32n) | BigInt(l.low >>> 0);
  return l.unsigned ? bits : BigInt.asIntN(64, bits);
}

/** IEEE half-precision bits -> the float value. */
export const halfToFloat = fromHalf;

/** Float16 bits -> float32 values. */
export function halfsToFloat32(bits: ArrayLike<number>): Float32Array {
  return Float32Array.from(bits, halfToFloat);
}

const ITEM_BYTES: Partial<Record<DType, number>> = {
  float32: 4, float16: 2, float64: 8, int8: 1, uint8: 1, int16: 2, uint16: 2, int32: 4, uint32: 4, int64: 8, uint64: 8, bool: 1,
};

const TYPED: Record<Exclude<DType, 'string'>, { new (b: ArrayBuffer): Exclude<TensorData, Uint8Array[]>; from(v: ArrayLike<never>): Exclude<TensorData, Uint8Array[]> }> = {
  float32: Float32Array, float16: Uint16Array, float64: Float64Array, int8: Int8Array, uint8: Uint8Array, int16: Int16Array,
  uint16: Uint16Array, int32: Int32Array, uint32: Uint32Array, int64: BigInt64Array, uint64: BigUint64Array, bool: Uint8Array,
} as never;

/** Little-endian element bytes -> a typed array of `dtype` (float16 stays raw bits). */
export function typedFromBytes(dtype: Exclude<DType, 'string'>, bytes: Uint8Array, count: number): Exclude<TensorData, Uint8Array[]> {
  const need = count * ITEM_BYTES[dtype]!;
  if (bytes.byteLength !== need) throw new Error(`${bytes.byteLength} bytes of data where ${count} ${dtype} values need ${need}`);
  const copy = new Uint8Array(need);
  copy.set(bytes);
  return new TYPED[dtype](copy.buffer);
}

function bytesOf(v: Uint8Array | string): Uint8Array {
  return typeof v === 'string' ? Buffer.from(v, 'base64') : v;
}

/** The typed `*_val` list a dtype is stored in, as TensorFlow fills it. */
function valList(p: TensorProtoLike, dtype: DType): unknown[] {
  switch (dtype) {
    case 'float32': return p.floatVal ?? [];
    case 'float64': return p.doubleVal ?? [];
    case 'float16': return p.halfVal ?? [];
    case 'int64': return p.int64Val ?? [];
    case 'uint64': return p.uint64Val ?? [];
    case 'uint32': return p.uint32Val ?? [];
    case 'bool': return p.boolVal ?? [];
    case 'string': return p.stringVal ?? [];
    default: return p.intVal ?? [];
  }
}

/**
 * A TensorProto's value as a Tensor: from `tensor_content` (raw little-endian bytes) or from the
 * typed `*_val` list, where a list shorter than the shape repeats its last value (TensorFlow's
 * rule for splat constants). float16 becomes float32; int64 stays a BigInt64Array; strings are
 * Uint8Array[].
 */
export function tensorFromProto(p: TensorProtoLike): Tensor {
  const dtype = dtypeFromTf(dataTypeName(p.dtype));
  const shape = p.tensorShape ?? {};
  const dims = (shape.dim ?? []).map((d) => Number(toBigInt(d.size ?? 0)));
  if (shape.unknownRank || dims.some((d) => d < 0)) throw new Error(`constant has no static shape`);
  const n = size(dims);
  const content = p.tensorContent === undefined ? undefined : bytesOf(p.tensorContent);
  if (dtype === 'string') {
    const list = (p.stringVal ?? []).map(bytesOf);
    return { dtype, dims, data: Array.from({ length: n }, (_, k) => list[Math.min(k, list.length - 1)] ?? new Uint8Array(0)) };
  }
  let data: Exclude<TensorData, Uint8Array[]>;
  if (content && content.byteLength > 0) data = typedFromBytes(dtype, content, n);
  else {
    const list = valList(p, dtype);
    if (list.length > n) throw new Error(`${list.length} values for shape [${dims}]`);
    const big = dtype === 'int64' || dtype === 'uint64';
    const at = (k: number) => list[Math.min(k, list.length - 1)];
    const values = Array.from({ length: list.length ? n : 0 }, (_, k) => (big ? toBigInt(at(k)) : Number(at(k))));
    data = list.length ? TYPED[dtype].from(values as never) : new TYPED[dtype](new ArrayBuffer(n * ITEM_BYTES[dtype]!));
  }
  return dtype === 'float16' ? { dtype: 'float32', dims, data: halfsToFloat32(data as Uint16Array) } : { dtype, dims, data };
}

/** A Tensor as a TensorProto object for `fromObject` (numbers in `tensor_content`, strings in `string_val`). */
export function tensorToProto(t: Tensor): Record<string, unknown> {
  const head = { dtype: dtypeToTf(t.dtype), tensorShape: shapeToTf(t.dims) };
  if (Array.isArray(t.data)) return { ...head, stringVal: t.data };
  const d = t.data as ArrayBufferView;
  return { ...head, tensorContent: new Uint8Array(d.buffer, d.byteOffset, d.byteLength) };
}

/** A node's attribute map, decoded, in the JSON form TF.js model.json files use. */
function attrsToJson(attr: Record<string, protobuf.Message> | undefined): Record<string, TfAttrValue> {
  const type = tfProto('AttrValue');
  const out: Record<string, TfAttrValue> = {};
  for (const [k, v] of Object.entries(attr ?? {})) out[k] = type.toObject(v, PROTO_JSON) as TfAttrValue;
  return out;
}

interface DecodedNode {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, protobuf.Message & { tensor?: TensorProtoLike }>;
}

/**
 * Decoded NodeDefs -> TfNodes and Const values. Const nodes keep only dtype and shape in their
 * `value` attribute (as in a TF.js model.json); their data goes to `consts`. Control inputs
 * (`^node`) are dropped.
 */
export function nodesFromProto(decoded: DecodedNode[]): { nodes: TfNode[]; consts: Map<string, Tensor> } {
  const consts = new Map<string, Tensor>();
  const nodes = decoded.map((n): TfNode => {
    const attr = attrsToJson(n.attr);
    const tensor = n.op === 'Const' ? n.attr?.value?.tensor : undefined;
    if (tensor) {
      try {
        consts.set(n.name, tensorFromProto(tensor));
      } catch (err) {
        throw new Error(`Const "${n.name}": ${(err as Error).message}`);
      }
      attr.value = { tensor: { dtype: dataTypeName(tensor.dtype), tensorShape: attr.value!.tensor!.tensorShape ?? {} } };
    }
    return { name: n.name, op: n.op, inputs: (n.input ?? []).filter((i) => !i.startsWith('^')), attr };
  });
  return { nodes, consts };
}

/**
 * Reads a binary GraphDef (a frozen `.pb`).
 *
 * @example
 * const graph = readGraphDef(readFileSync('frozen.pb'), 'frozen.pb');
 */
export function readGraphDef(bytes: Uint8Array, file = '<bytes>'): TfGraph {
  try {
    const message = tfProto('GraphDef').decode(bytes) as unknown as { node?: DecodedNode[] };
    const decoded = message.node ?? [];
    if (decoded.length === 0 || decoded.some((n) => !n.name || !n.op)) throw new Error('no nodes, or a node without name or op');
    return { ...nodesFromProto(decoded), format: 'graphdef' };
  } catch (err) {
    throw new AccelError('ACCEL_ERR_CONVERT_BAD_MODEL', { file, format: 'TensorFlow GraphDef', reason: (err as Error).message }, { cause: err });
  }
}

/** A TfNode as a NodeDef object for `fromObject`, with its Const value (if any) in `tensor_content`. */
export function nodeToProto(n: TfNode, value: Tensor | undefined): Record<string, unknown> {
  const attr: Record<string, unknown> = { ...n.attr };
  if (value) attr.value = { tensor: tensorToProto(value) };
  return { name: n.name, op: n.op, input: n.inputs, attr };
}

/** Writes a TfGraph as a binary GraphDef (the inverse of {@link readGraphDef}; float16 values come back as float32). */
export function writeGraphDef(graph: TfGraph): Uint8Array {
  const type = tfProto('GraphDef');
  const node = graph.nodes.map((n) => nodeToProto(n, n.op === 'Const' ? graph.consts.get(n.name) : undefined));
  return type.encode(type.fromObject({ node, versions: { producer: 1 } })).finish();
}
