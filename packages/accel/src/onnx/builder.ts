import onnxProto from 'onnx-proto';
import type { NumericData, NumericDType } from '../runtime/tensor';

const { onnx } = onnxProto;

const ELEM_TYPES: Record<NumericDType | 'string', number> = {
  float32: onnx.TensorProto.DataType.FLOAT,
  uint8: onnx.TensorProto.DataType.UINT8,
  int8: onnx.TensorProto.DataType.INT8,
  uint16: onnx.TensorProto.DataType.UINT16,
  int16: onnx.TensorProto.DataType.INT16,
  int32: onnx.TensorProto.DataType.INT32,
  int64: onnx.TensorProto.DataType.INT64,
  string: onnx.TensorProto.DataType.STRING,
  bool: onnx.TensorProto.DataType.BOOL,
  float16: onnx.TensorProto.DataType.FLOAT16,
  float64: onnx.TensorProto.DataType.DOUBLE,
  uint32: onnx.TensorProto.DataType.UINT32,
  uint64: onnx.TensorProto.DataType.UINT64,
};

/** An attribute value: integers and integer lists become INT/INTS; wrap floats with {@link f}. */
export type AttrValue = number | number[] | string | { float: number } | { floats: number[] };

/** Marks a float attribute (ONNX distinguishes FLOAT from INT). */
export const f = (value: number): { float: number } => ({ float: value });
export const fs = (values: number[]): { floats: number[] } => ({ floats: values });

type Dim = number | string;

function valueInfo(name: string, dtype: NumericDType | 'string', shape: Dim[]): onnxProto.onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: ELEM_TYPES[dtype],
        shape: { dim: shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

function attribute(name: string, value: AttrValue): onnxProto.onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof value === 'string') return { name, type: T.STRING, s: new TextEncoder().encode(value) };
  if (typeof value === 'number') return { name, type: T.INT, i: value };
  if (Array.isArray(value)) return { name, type: T.INTS, ints: value };
  if ('float' in value) return { name, type: T.FLOAT, f: value.float };
  return { name, type: T.FLOATS, floats: value.floats };
}

/**
 * Builds ONNX models in code: used by the zoo and by tests that need a model whose
 * outputs are known exactly.
 *
 * @example
 * const g = new GraphBuilder('tiny');
 * g.input('x', 'float32', ['N', 3]);
 * const w = g.initializer('w', [3, 2], new Float32Array([1, 0, 0, 1, 1, 1]));
 * g.output(g.node('MatMul', ['x', w], { name: 'y' }), 'float32', ['N', 2]);
 * const bytes = g.toBytes();
 */
export class GraphBuilder {
  private readonly nodes: onnxProto.onnx.INodeProto[] = [];
  private readonly initializers: onnxProto.onnx.ITensorProto[] = [];
  private readonly inputs: onnxProto.onnx.IValueInfoProto[] = [];
  private readonly outputs: onnxProto.onnx.IValueInfoProto[] = [];
  private readonly used = new Set<string>();
  private counter = 0;

  constructor(readonly name: string) {}

  /** The node and initializer lists, for grafting another graph's nodes in. */
  get raw(): { node: onnxProto.onnx.INodeProto[]; initializer: onnxProto.onnx.ITensorProto[] } {
    return { node: this.nodes, initializer: this.initializers };
  }

  /** A fresh tensor name with the given prefix. */
  fresh(prefix: string): string {
    let name = prefix;
    while (this.used.has(name)) name = `${prefix}_${++this.counter}`;
    this.used.add(name);
    return name;
  }

  input(name: string, dtype: NumericDType | 'string', shape: Dim[]): string {
    this.used.add(name);
    this.inputs.push(valueInfo(name, dtype, shape));
    return name;
  }

  output(name: string, dtype: NumericDType | 'string', shape: Dim[]): string {
    this.outputs.push(valueInfo(name, dtype, shape));
    return name;
  }

  initializer(name: string, dims: number[], data: NumericData, dtype: NumericDType = 'float32'): string {
    const tensorName = this.fresh(name);
    this.initializers.push({
      name: tensorName,
      dims,
      dataType: ELEM_TYPES[dtype],
      rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    });
    return tensorName;
  }

  /**
   * Adds a node and returns its (first) output name. `opts.name` names the output tensor;
   * `opts.outputs` gives more than one output.
   */
  node(
    opType: string,
    inputs: string[],
    opts: { name?: string; outputs?: string[]; attrs?: Record<string, AttrValue>; domain?: string } = {},
  ): string {
    const outputs = opts.outputs ?? [opts.name ? this.fresh(opts.name) : this.fresh(opType.toLowerCase())];
    for (const o of outputs) this.used.add(o);
    this.nodes.push({
      opType,
      domain: opts.domain ?? '',
      name: this.fresh(`${outputs[0]}/${opType}`),
      input: [...inputs],
      output: outputs,
      attribute: Object.entries(opts.attrs ?? {}).map(([k, v]) => attribute(k, v)),
    });
    return outputs[0];
  }

  toBytes(options: { opset?: number; metadata?: Record<string, string>; docString?: string } = {}): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: 8,
      producerName: 'accel',
      producerVersion: '0.1.0',
      docString: options.docString ?? '',
      opsetImport: [{ domain: '', version: options.opset ?? 17 }],
      metadataProps: Object.entries(options.metadata ?? {}).map(([key, value]) => ({ key, value })),
      graph: {
        name: this.name,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      },
    });
    return onnx.ModelProto.encode(model).finish();
  }
}

/** A seeded pseudo-random generator (mulberry32) for reproducible random weights. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
