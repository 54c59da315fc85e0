import { size, zeros, type DType, type Node, type Tensor } from '../../onnx/graph';
import { fromHalf as halfToNumber, toHalf as numberToHalf } from '../../runtime/half';

/** One element of a numeric tensor: a bigint for int64/uint64, a number otherwise. */
export type Scalar = number | bigint;

/** Evaluates a node on its constant inputs (undefined entries: absent optional inputs). */
export type Kernel = (node: Node, inputs: (Tensor | undefined)[]) => Tensor[] | undefined;

export const isBig = (dtype: DType): boolean => dtype === 'int64' || dtype === 'uint64';
export const isFloat = (dtype: DType): boolean => dtype === 'float32' || dtype === 'float64' || dtype === 'float16';

/** Rounds half to even (ONNX Round, float16 encoding). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Float16 bits <-> numbers (float16 casts round to nearest even, as ONNX Runtime does). */
export { fromHalf as halfToNumber, toHalf as numberToHalf } from '../../runtime/half';
/** Elements of a numeric tensor (float16 decoded); undefined for strings. */
export function read(t: Tensor): Scalar[] | undefined {
  if (Array.isArray(t.data)) return undefined;
  if (t.dtype === 'float16') return Array.from(t.data as Uint16Array, halfToNumber);
  return Array.from(t.data as ArrayLike<Scalar>);
}

/** Elements as numbers (int64 narrowed). */
export const readNumbers = (t: Tensor): number[] | undefined => read(t)?.map(Number);

/** A tensor of `dtype` from values of either kind (floats truncated toward zero for int64). */
export function build(dtype: DType, dims: number[], values: ArrayLike<Scalar>): Tensor {
  if (dtype === 'string') throw new Error('build: string tensor');
  const t = zeros(dtype, dims);
  const out = t.data as unknown as Scalar[];
  const n = values.length;
  if (isBig(dtype)) {
    const wrap = dtype === 'int64' ? (b: bigint) => BigInt.asIntN(64, b) : (b: bigint) => BigInt.asUintN(64, b);
    for (let k = 0; k < n; k++) {
      const v = values[k];
      out[k] = typeof v === 'bigint' ? wrap(v) : Number.isFinite(v) ? wrap(BigInt(Math.trunc(v))) : -(2n ** 63n);
    }
  } else if (dtype === 'float16') {
    for (let k = 0; k < n; k++) out[k] = numberToHalf(Number(values[k]));
  } else if (isFloat(dtype)) {
    for (let k = 0; k < n; k++) out[k] = Number(values[k]);
  } else {
    // Integer narrowing keeps the low bits, as C++ casts do.
    for (let k = 0; k < n; k++) {
      const v = values[k];
      out[k] = typeof v === 'bigint' ? Number(BigInt.asIntN(32, v)) : v;
    }
  }
  return t;
}

/** Row-major strides of `dims`. */
export function strides(dims: readonly number[]): number[] {
  const s = Array(dims.length).fill(1);
  for (let k = dims.length - 2; k >= 0; k--) s[k] = s[k + 1] * dims[k + 1];
  return s;
}

/** For each element of an output of shape `dims` (row-major), `at(index)`; `index` is reused between calls. */
export function indexMap(dims: readonly number[], at: (index: number[]) => number): Int32Array {
  const n = size(dims);
  const out = new Int32Array(n);
  const idx = Array(dims.length).fill(0);
  for (let k = 0; k < n; k++) {
    out[k] = at(idx);
    for (let a = dims.length - 1; a >= 0; a--) {
      if (++idx[a] < dims[a]) break;
      idx[a] = 0;
    }
  }
  return out;
}

/** Shape of a numpy broadcast of concrete shapes; throws on a mismatch. */
export function broadcastDims(shapes: number[][]): number[] {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out = Array(rank).fill(1);
  for (const s of shapes) {
    s.forEach((d, k) => {
      const at = rank - s.length + k;
      if (d !== 1 && out[at] !== 1 && out[at] !== d) throw new Error(`cannot broadcast [${shapes.map((x) => x.join(',')).join('] with [')}]`);
      if (d !== 1) out[at] = d;
    });
  }
  return out;
}

/** Where each element of the broadcast output of shape `out` reads from an input of shape `dims`. */
export function broadcastMap(dims: number[], out: number[]): Int32Array {
  const offset = out.length - dims.length;
  const st = strides(dims).map((s, k) => (dims[k] === 1 ? 0 : s));
  return indexMap(out, (idx) => {
    let at = 0;
    for (let k = 0; k < dims.length; k++) at += idx[k + offset] * st[k];
    return at;
  });
}

/** A tensor of the same dtype whose element k is `t`'s element `from[k]` (-1: `fill`). */
export function pick(t: Tensor, dims: number[], from: ArrayLike<number>, fill?: Scalar): Tensor {
  const src = t.data as unknown as ArrayLike<unknown>;
  const data = Array.isArray(t.data) ? new Array(from.length) : new (t.data.constructor as new (n: number) => Scalar[])(from.length);
  for (let k = 0; k < from.length; k++) data[k] = from[k] < 0 ? fill : src[from[k]];
  return { dtype: t.dtype, dims, data: data as Tensor['data'] };
}

/** A dimension index in [0, rank). */
export const axisOf = (axis: number, rank: number): number => (axis < 0 ? axis + rank : axis);

export function attrInt(node: Node, name: string, fallback: number): number {
  const a = node.attrs[name];
  return a && 'i' in a ? a.i : fallback;
}

export function attrInts(node: Node, name: string): number[] | undefined {
  const a = node.attrs[name];
  return a && 'ints' in a ? a.ints : undefined;
}

export function attrFloat(node: Node, name: string, fallback: number): number {
  const a = node.attrs[name];
  return a && 'f' in a ? a.f : fallback;
}
