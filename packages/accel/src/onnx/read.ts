import onnxProto from 'onnx-proto';
import { dtypeOfElemType, OnnxGraph, zeros, type Attr, type Dim, type Tensor, type TypeInfo } from './graph';

const { onnx } = onnxProto;
type Long = { toNumber(): number } | number;
const num = (v: Long) => (typeof v === 'number' ? v : v.toNumber());

/** A tensor proto's value: raw bytes (copied, so it is aligned) or the typed repeated fields. */
export function decodeTensor(t: onnxProto.onnx.ITensorProto): Tensor {
  const dtype = dtypeOfElemType(t.dataType ?? 0);
  const dims = (t.dims ?? []).map(num);
  if (dtype === 'string') return { dtype, dims, data: (t.stringData ?? []).map((s) => new Uint8Array(s)) };
  if (t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) throw new Error(`tensor ${t.name}: external data is not supported`);
  const out = zeros(dtype, dims);
  if (t.rawData?.length) {
    const typed = out.data as Exclude<Tensor['data'], Uint8Array[]>;
    const bytes = new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength);
    if (t.rawData.byteLength !== bytes.byteLength) throw new Error(`tensor ${t.name}: ${t.rawData.byteLength} bytes for ${dtype}[${dims}]`);
    bytes.set(t.rawData);
    return out;
  }
  const values: ArrayLike<Long | bigint> =
    dtype === 'float32' ? t.floatData ?? []
    : dtype === 'float64' ? t.doubleData ?? []
    : dtype === 'int64' ? t.int64Data ?? []
    : dtype === 'uint64' || dtype === 'uint32' ? t.uint64Data ?? []
    : t.int32Data ?? []; // int8/16/32, uint8/16, bool and float16 bits live in int32_data
  if (values.length !== out.data.length) throw new Error(`tensor ${t.name}: ${values.length} values for ${dtype}[${dims}]`);
  const big = out.data instanceof BigInt64Array || out.data instanceof BigUint64Array;
  const target = out.data as unknown as (number | bigint)[];
  for (let k = 0; k < values.length; k++) {
    const v = values[k]!;
    target[k] = big ? BigInt(typeof v === 'bigint' ? v : v.toString()) : typeof v === 'bigint' ? Number(v) : num(v);
  }
  return out;
}

function decodeAttr(a: onnxProto.onnx.IAttributeProto): Attr | undefined {
  const T = onnx.AttributeProto.AttributeType;
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  switch (a.type) {
    case T.INT: return { i: num(a.i ?? 0) };
    case T.FLOAT: return { f: a.f ?? 0 };
    case T.STRING: return { s: text(a.s ?? new Uint8Array()) };
    case T.INTS: return { ints: (a.ints ?? []).map(num) };
    case T.FLOATS: return { floats: [...(a.floats ?? [])] };
    case T.STRINGS: return { strings: (a.strings ?? []).map(text) };
    case T.TENSOR: return { t: decodeTensor(a.t!) };
    default: return undefined; // graphs, sparse tensors, type protos: not used by the models Accel rewrites
  }
}

function typeOf(v: onnxProto.onnx.IValueInfoProto): TypeInfo | undefined {
  const t = v.type?.tensorType;
  if (!t?.elemType) return undefined;
  const shape: Dim[] | null = t.shape ? (t.shape.dim ?? []).map((d) => (d.dimParam ? d.dimParam : d.dimValue != null ? num(d.dimValue) : null)) : null;
  return { dtype: dtypeOfElemType(t.elemType), shape };
}

/**
 * Reads an ONNX model (protobuf bytes) into the mutable graph IR the converter writes, so that
 * later stages (quantization) rewrite it with the same tools. Subgraph attributes are refused.
 */
export function readOnnxModel(bytes: Uint8Array): OnnxGraph {
  const model = onnx.ModelProto.decode(bytes);
  const graph = model.graph;
  if (!graph) throw new Error('the ONNX file holds no graph');
  const g = new OnnxGraph(graph.name ?? 'model');
  const opset = (model.opsetImport ?? []).find((o) => !o.domain);
  if (opset?.version != null) g.opset = num(opset.version);
  for (const p of model.metadataProps ?? []) if (p.key) g.metadata[p.key] = p.value ?? '';
  for (const t of graph.initializer ?? []) g.setInitializer(t.name!, decodeTensor(t));
  for (const v of graph.valueInfo ?? []) {
    const type = typeOf(v);
    if (type) g.types.set(v.name!, type);
  }
  for (const v of graph.input ?? []) {
    if (g.initializers.has(v.name!)) continue;
    const type = typeOf(v);
    if (!type) throw new Error(`graph input ${v.name} is not a tensor`);
    g.addInput(v.name!, type);
  }
  for (const n of graph.node ?? []) {
    const attrs: Record<string, Attr> = {};
    for (const a of n.attribute ?? []) {
      const value = decodeAttr(a);
      if (!value) throw new Error(`node ${n.name} (${n.opType}): attribute ${a.name} holds a subgraph or another unsupported kind`);
      attrs[a.name!] = value;
    }
    const name = n.name || g.fresh(`${n.opType}#node`);
    g.reserve(name);
    for (const o of n.output ?? []) g.reserve(o);
    g.nodes.push({ name, op: n.opType!, ...(n.domain ? { domain: n.domain } : {}), inputs: [...(n.input ?? [])], outputs: [...(n.output ?? [])], attrs });
  }
  for (const v of graph.output ?? []) g.addOutput(v.name!, typeOf(v) ?? { dtype: 'float32', shape: null });
  return g;
}
