import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

/** Element types the converter handles. `bool` is stored as a Uint8Array, `float16` as its raw bits. */
export type DType =
  | 'float32' | 'float16' | 'float64'
  | 'int8' | 'uint8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'int64' | 'uint64'
  | 'bool' | 'string';

export type TensorData =
  | Float32Array | Float64Array | Int8Array | Uint8Array | Int16Array | Uint16Array
  | Int32Array | Uint32Array | BigInt64Array | BigUint64Array | Uint8Array[];

/** A dense tensor value: initializers, constants, folded results. Row-major. */
export interface Tensor {
  dtype: DType;
  dims: number[];
  data: TensorData;
}

/** A dimension: a number, a symbolic name (`N`), or null when unknown. */
export type Dim = number | string | null;

/** What is known of a tensor: its element type and its shape (null: rank unknown). */
export interface TypeInfo {
  dtype: DType;
  shape: Dim[] | null;
}

export type Attr =
  | { i: number }
  | { f: number }
  | { s: string }
  | { ints: number[] }
  | { floats: number[] }
  | { strings: string[] }
  | { t: Tensor };

export const int = (i: number): Attr => ({ i });
export const ints = (v: number[]): Attr => ({ ints: v });
export const float = (f: number): Attr => ({ f });
export const floats = (v: number[]): Attr => ({ floats: v });
export const str = (s: string): Attr => ({ s });

export interface Node {
  name: string;
  op: string;
  domain?: string;
  inputs: string[];
  outputs: string[];
  attrs: Record<string, Attr>;
}

/** A hook run on each node as it is added: type inference (see shapes.ts) plugs in here. */
export type NodeHook = (graph: OnnxGraph, node: Node) => void;

const ELEM: Record<DType, number> = {
  float32: onnx.TensorProto.DataType.FLOAT,
  float16: onnx.TensorProto.DataType.FLOAT16,
  float64: onnx.TensorProto.DataType.DOUBLE,
  int8: onnx.TensorProto.DataType.INT8,
  uint8: onnx.TensorProto.DataType.UINT8,
  int16: onnx.TensorProto.DataType.INT16,
  uint16: onnx.TensorProto.DataType.UINT16,
  int32: onnx.TensorProto.DataType.INT32,
  uint32: onnx.TensorProto.DataType.UINT32,
  int64: onnx.TensorProto.DataType.INT64,
  uint64: onnx.TensorProto.DataType.UINT64,
  bool: onnx.TensorProto.DataType.BOOL,
  string: onnx.TensorProto.DataType.STRING,
};
const DTYPE_OF = new Map(Object.entries(ELEM).map(([k, v]) => [v, k as DType]));

export function onnxElemType(dtype: DType): number {
  return ELEM[dtype];
}

export function dtypeOfElemType(elem: number): DType {
  const d = DTYPE_OF.get(elem);
  if (!d) throw new Error(`unsupported ONNX element type ${elem}`);
  return d;
}

export function size(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

const ARRAY: Record<Exclude<DType, 'string'>, new (n: number) => Exclude<TensorData, Uint8Array[]>> = {
  float32: Float32Array, float16: Uint16Array, float64: Float64Array, int8: Int8Array, uint8: Uint8Array,
  int16: Int16Array, uint16: Uint16Array, int32: Int32Array, uint32: Uint32Array, int64: BigInt64Array,
  uint64: BigUint64Array, bool: Uint8Array,
};

/** A zero-filled tensor of the given type and shape. */
export function zeros(dtype: Exclude<DType, 'string'>, dims: number[]): Tensor {
  return { dtype, dims, data: new ARRAY[dtype](size(dims)) };
}

/** A tensor from plain numbers (int64/uint64 accept numbers and convert). */
export function tensor(dtype: Exclude<DType, 'string'>, dims: number[], values: ArrayLike<number> | ArrayLike<bigint>): Tensor {
  const t = zeros(dtype, dims);
  if (t.data.length !== values.length) throw new Error(`tensor: ${values.length} values for shape [${dims}]`);
  const big = t.data instanceof BigInt64Array || t.data instanceof BigUint64Array;
  for (let k = 0; k < values.length; k++) (t.data as unknown as (number | bigint)[])[k] = big ? BigInt(values[k] as number) : Number(values[k]);
  return t;
}

/** Values of a numeric tensor as JS numbers (int64 narrowed; float16 bits are not decoded). */
export function toNumbers(t: Tensor): number[] {
  if (Array.isArray(t.data)) throw new Error('toNumbers: string tensor');
  return Array.from(t.data as ArrayLike<number | bigint>, (v) => Number(v));
}

/**
 * A mutable ONNX graph: what the converter maps into and the passes rewrite. Tensors are
 * named; initializers hold constant values; `types` holds what inference knows of each tensor.
 */
export class OnnxGraph {
  nodes: Node[] = [];
  readonly initializers = new Map<string, Tensor>();
  inputs: { name: string; type: TypeInfo }[] = [];
  outputs: { name: string; type: TypeInfo }[] = [];
  readonly types = new Map<string, TypeInfo>();
  /** Free-form model metadata (ONNX metadata_props). */
  readonly metadata: Record<string, string> = {};
  opset = 17;
  private readonly used = new Set<string>();
  private counter = 0;

  constructor(
    public name: string,
    private readonly onAdd?: NodeHook,
  ) {}

  /** A tensor or node name not used yet, starting with `prefix`. */
  fresh(prefix: string): string {
    let name = prefix;
    while (this.used.has(name)) name = `${prefix}__${++this.counter}`;
    this.used.add(name);
    return name;
  }

  /** Marks a name as taken (for names chosen outside `fresh`). */
  reserve(name: string): void {
    this.used.add(name);
  }

  addInput(name: string, type: TypeInfo): string {
    this.reserve(name);
    this.inputs.push({ name, type });
    this.types.set(name, type);
    return name;
  }

  addOutput(name: string, type?: TypeInfo): void {
    const t = type ?? this.types.get(name);
    if (!t) throw new Error(`output ${name}: type unknown`);
    this.outputs.push({ name, type: t });
  }

  /** Adds a constant under a fresh name derived from `prefix`; returns the name. */
  addInitializer(prefix: string, value: Tensor): string {
    const name = this.fresh(prefix);
    this.setInitializer(name, value);
    return name;
  }

  /** Sets (or replaces) the constant held by `name`. */
  setInitializer(name: string, value: Tensor): void {
    this.reserve(name);
    this.initializers.set(name, value);
    this.types.set(name, { dtype: value.dtype, shape: [...value.dims] });
  }

  /** The constant value of a tensor, when it is an initializer. */
  constant(name: string): Tensor | undefined {
    return this.initializers.get(name);
  }

  /**
   * Appends a node. `outputs` is a count (fresh names derived from `name`) or explicit names.
   * Runs the graph's hook (type inference) on it.
   */
  addNode(
    op: string,
    inputs: string[],
    opts: { attrs?: Record<string, Attr>; outputs?: number | string[]; name?: string; domain?: string } = {},
  ): Node {
    const base = opts.name ?? op;
    const outs = Array.isArray(opts.outputs)
      ? opts.outputs
      : Array.from({ length: opts.outputs ?? 1 }, (_, k) => this.fresh(k === 0 ? base : `${base}:${k}`));
    for (const o of outs) this.reserve(o);
    const node: Node = { name: this.fresh(`${base}#node`), op, inputs: [...inputs], outputs: outs, attrs: opts.attrs ?? {} };
    if (opts.domain) node.domain = opts.domain;
    this.nodes.push(node);
    this.onAdd?.(this, node);
    return node;
  }

  /** Producer of each tensor and consumers of each tensor, for the current node list. */
  index(): { producer: Map<string, Node>; consumers: Map<string, Node[]> } {
    const producer = new Map<string, Node>();
    const consumers = new Map<string, Node[]>();
    for (const n of this.nodes) {
      for (const o of n.outputs) producer.set(o, n);
      for (const i of n.inputs) {
        if (!i) continue;
        const list = consumers.get(i);
        if (list) list.push(n);
        else consumers.set(i, [n]);
      }
    }
    return { producer, consumers };
  }

  /** Renames a tensor everywhere it is consumed (and in the graph outputs). */
  replaceUses(from: string, to: string): void {
    for (const n of this.nodes) n.inputs = n.inputs.map((i) => (i === from ? to : i));
    for (const o of this.outputs) if (o.name === from) o.name = to;
  }

  toBytes(opts: { docString?: string; producerVersion?: string } = {}): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: 8,
      producerName: 'accel-convert',
      producerVersion: opts.producerVersion ?? '0.1.0',
      docString: opts.docString ?? '',
      opsetImport: [{ domain: '', version: this.opset }, ...(this.nodes.some((n) => n.domain === 'com.microsoft') ? [{ domain: 'com.microsoft', version: 1 }] : [])],
      metadataProps: Object.entries(this.metadata).map(([key, value]) => ({ key, value })),
      graph: {
        name: this.name,
        node: this.nodes.map(encodeNode),
        initializer: [...this.initializers].map(([name, t]) => encodeTensor(name, t)),
        input: this.inputs.map((i) => valueInfo(i.name, i.type)),
        output: this.outputs.map((o) => valueInfo(o.name, o.type)),
      },
    });
    return onnx.ModelProto.encode(model).finish();
  }
}

function valueInfo(name: string, type: TypeInfo): onnxProto.onnx.IValueInfoProto {
  const shape = type.shape === null
    ? undefined
    : { dim: type.shape.map((d) => (typeof d === 'number' && d >= 0 ? { dimValue: d } : typeof d === 'string' ? { dimParam: d } : {})) };
  return { name, type: { tensorType: { elemType: ELEM[type.dtype], shape } } };
}

export function encodeTensor(name: string, t: Tensor): onnxProto.onnx.ITensorProto {
  if (Array.isArray(t.data)) return { name, dims: t.dims, dataType: ELEM.string, stringData: t.data };
  const d = t.data as Exclude<TensorData, Uint8Array[]>;
  return { name, dims: t.dims, dataType: ELEM[t.dtype], rawData: new Uint8Array(d.buffer, d.byteOffset, d.byteLength) };
}

function encodeAttr(name: string, a: Attr): onnxProto.onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if ('i' in a) return { name, type: T.INT, i: a.i };
  if ('f' in a) return { name, type: T.FLOAT, f: a.f };
  if ('s' in a) return { name, type: T.STRING, s: new TextEncoder().encode(a.s) };
  if ('ints' in a) return { name, type: T.INTS, ints: a.ints };
  if ('floats' in a) return { name, type: T.FLOATS, floats: a.floats };
  if ('strings' in a) return { name, type: T.STRINGS, strings: a.strings.map((s) => new TextEncoder().encode(s)) };
  return { name, type: T.TENSOR, t: encodeTensor('', a.t) };
}

function encodeNode(n: Node): onnxProto.onnx.INodeProto {
  return {
    name: n.name,
    opType: n.op,
    domain: n.domain ?? '',
    input: n.inputs,
    output: n.outputs,
    attribute: Object.entries(n.attrs).map(([k, v]) => encodeAttr(k, v)),
  };
}
