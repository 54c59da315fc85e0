import type { DType, Tensor } from '../../onnx/graph';

/**
 * A TensorFlow graph in memory, whatever file it came from. Nodes keep TensorFlow's own
 * attribute encoding (the protobuf JSON mapping that TF.js `model.json` files use, which is
 * also what a decoded GraphDef gives); read them through {@link TfAttrs}.
 */
export interface TfGraph {
  nodes: TfNode[];
  /** Values of `Const` nodes, by node name. */
  consts: Map<string, Tensor>;
  /** Where it came from: `graphdef`, `tfjs-graph`, `tfjs-layers`, `saved-model`. */
  format: string;
  /** Input and output tensor names (`name:0`) that the file declares, when it does. */
  signature?: { inputs: string[]; outputs: string[] };
}

export interface TfNode {
  name: string;
  op: string;
  /** Data inputs as TensorFlow writes them: `node` (output 0) or `node:k`. Control inputs are dropped. */
  inputs: string[];
  attr: Record<string, TfAttrValue>;
}

/** An AttrValue in the protobuf JSON mapping: bytes are base64, int64 may be strings. */
export interface TfAttrValue {
  s?: string;
  i?: string | number;
  f?: number | string;
  b?: boolean;
  type?: string;
  shape?: TfShapeJson;
  tensor?: TfTensorJson;
  list?: {
    s?: string[];
    i?: (string | number)[];
    f?: (number | string)[];
    b?: boolean[];
    type?: string[];
    shape?: TfShapeJson[];
  };
  func?: { name?: string };
  placeholder?: string;
}

export interface TfShapeJson {
  dim?: { size?: string | number; name?: string }[];
  unknownRank?: boolean;
}

export interface TfTensorJson {
  dtype?: string;
  tensorShape?: TfShapeJson;
  [field: string]: unknown;
}

/** `node:k` -> node name and output index (`node` alone is output 0). */
export function parseTensorName(name: string): { node: string; index: number } {
  const m = /^(.*):(\d+)$/.exec(name);
  return m ? { node: m[1]!, index: Number(m[2]) } : { node: name, index: 0 };
}

/** The canonical `node:k` form of a tensor name. */
export function tensorName(name: string): string {
  const { node, index } = parseTensorName(name.startsWith('^') ? name.slice(1) : name);
  return `${node}:${index}`;
}

const DTYPES: Record<string, DType> = {
  DT_FLOAT: 'float32',
  DT_HALF: 'float16',
  DT_DOUBLE: 'float64',
  DT_INT8: 'int8',
  DT_UINT8: 'uint8',
  DT_INT16: 'int16',
  DT_UINT16: 'uint16',
  DT_INT32: 'int32',
  DT_UINT32: 'uint32',
  DT_INT64: 'int64',
  DT_UINT64: 'uint64',
  DT_BOOL: 'bool',
  DT_STRING: 'string',
};

/** TensorFlow's `DT_FLOAT` -> `float32`; throws for types the converter does not carry. */
export function dtypeFromTf(tf: string | number | undefined): DType {
  const d = typeof tf === 'string' ? DTYPES[tf] : undefined;
  if (!d) throw new Error(`unsupported TensorFlow dtype ${String(tf)}`);
  return d;
}

export function dtypeToTf(dtype: DType): string {
  const e = Object.entries(DTYPES).find(([, v]) => v === dtype);
  if (!e) throw new Error(`no TensorFlow dtype for ${dtype}`);
  return e[0];
}

/** A TensorShapeProto in JSON form -> dims (-1 for unknown), or null for unknown rank. */
export function shapeFromTf(shape: TfShapeJson | undefined): number[] | null {
  if (!shape || shape.unknownRank) return null;
  return (shape.dim ?? []).map((d) => Number(d.size ?? -1));
}

export function shapeToTf(dims: number[]): TfShapeJson {
  return { dim: dims.map((d) => ({ size: String(d) })) };
}
