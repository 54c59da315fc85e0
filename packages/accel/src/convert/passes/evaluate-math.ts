import { dtypeOfElemType, size, type DType, type Tensor } from '../../onnx/graph';
import {
  attrFloat, attrInt, attrInts, axisOf, broadcastDims, broadcastMap, build, indexMap, isBig, isFloat, read, readNumbers,
  roundHalfEven, strides, type Kernel, type Scalar,
} from './evaluate-util';

/** An elementwise function on numbers (`int`: the dtype is an integer type) and, optionally, on bigints. */
interface Elementwise {
  num: (a: number, b: number, int: boolean) => number;
  big?: (a: bigint, b: bigint) => bigint;
  /** Result dtype when it is not the first input's. */
  out?: DType;
}

function intDivide(a: number, b: number): number {
  if (b === 0) throw new Error('integer division by zero');
  return Math.trunc(a / b);
}

function bigDivide(a: bigint, b: bigint): bigint {
  if (b === 0n) throw new Error('integer division by zero');
  return a / b;
}

/** Remainder with the divisor's sign (ONNX Mod, fmod = 0). */
function floorMod(a: number, b: number): number {
  if (b === 0) throw new Error('integer modulo by zero');
  const r = a % b;
  return r !== 0 && r < 0 !== b < 0 ? r + b : r;
}

function bigFloorMod(a: bigint, b: bigint): bigint {
  if (b === 0n) throw new Error('integer modulo by zero');
  const r = a % b;
  return r !== 0n && r < 0n !== b < 0n ? r + b : r;
}

const cmp = (f: (a: Scalar, b: Scalar) => boolean): Elementwise => ({ num: (a, b) => +f(a, b), big: (a, b) => BigInt(f(a, b)), out: 'bool' });

const BINARY: Record<string, Elementwise> = {
  Add: { num: (a, b) => a + b, big: (a, b) => a + b },
  Sub: { num: (a, b) => a - b, big: (a, b) => a - b },
  Mul: { num: (a, b, int) => (int ? Math.imul(a, b) : a * b), big: (a, b) => a * b },
  Div: { num: (a, b, int) => (int ? intDivide(a, b) : a / b), big: bigDivide },
  Equal: cmp((a, b) => a === b),
  Less: cmp((a, b) => a < b),
  LessOrEqual: cmp((a, b) => a <= b),
  Greater: cmp((a, b) => a > b),
  GreaterOrEqual: cmp((a, b) => a >= b),
  And: { num: (a, b) => +(a !== 0 && b !== 0) },
  Or: { num: (a, b) => +(a !== 0 || b !== 0) },
  Xor: { num: (a, b) => +((a !== 0) !== (b !== 0)) },
  Max: { num: (a, b) => (Number.isNaN(a) || a > b ? a : b), big: (a, b) => (a > b ? a : b) },
  Min: { num: (a, b) => (Number.isNaN(a) || a < b ? a : b), big: (a, b) => (a < b ? a : b) },
  Sum: { num: (a, b) => a + b, big: (a, b) => a + b },
};

/** Applies an elementwise function over broadcast inputs. */
function elementwise(f: Elementwise, tensors: Tensor[], dtype = tensors[0].dtype): Tensor | undefined {
  const values = tensors.map(read);
  if (values.some((v) => !v)) return undefined;
  const dims = broadcastDims(tensors.map((t) => t.dims));
  const maps = tensors.map((t) => broadcastMap(t.dims, dims));
  const n = size(dims);
  const out: Scalar[] = new Array(n);
  const [a, b] = [values[0]!, values[1]!];
  const [ma, mb] = [maps[0], maps[1]];
  if (isBig(dtype)) {
    if (!f.big) return undefined;
    for (let k = 0; k < n; k++) out[k] = f.big(a[ma[k]] as bigint, b[mb[k]] as bigint);
  } else {
    const int = !isFloat(dtype);
    for (let k = 0; k < n; k++) out[k] = f.num(a[ma[k]] as number, b[mb[k]] as number, int);
  }
  return build(f.out ?? dtype, dims, out);
}

/** A binary op; variadic ops (Max, Min, Sum) fold their inputs left to right. */
const binary = (f: Elementwise): Kernel => (_node, inputs) => {
  const ts = inputs.filter((t): t is Tensor => !!t);
  if (ts.length === 0) return undefined;
  const first = read(ts[0]);
  let acc: Tensor | undefined = first && build(ts[0].dtype, ts[0].dims, first);
  for (const t of ts.slice(1)) acc = acc && elementwise(f, [acc, t]);
  return wrap(acc);
};

const mod: Kernel = (node, [a, b]) => {
  const fmod = attrInt(node, 'fmod', 0) === 1;
  const f: Elementwise = {
    num: (x, y, int) => (fmod || !int ? x % y : floorMod(x, y)),
    big: (x, y) => (fmod ? x % y : bigFloorMod(x, y)),
  };
  return wrap(elementwise(f, [a!, b!]));
};

const pow: Kernel = (_node, [a, b]) => {
  const base = { ...a!, dtype: 'float64' as DType, data: Float64Array.from(readNumbers(a!)!) };
  const exp = { ...b!, dtype: 'float64' as DType, data: Float64Array.from(readNumbers(b!)!) };
  return wrap(elementwise({ num: (x, y) => x ** y, out: a!.dtype }, [base, exp]));
};

const where: Kernel = (_node, [cond, x, y]) => {
  const vals = [read(cond!), read(x!), read(y!)];
  if (vals.some((v) => !v)) return undefined;
  const dims = broadcastDims([cond!.dims, x!.dims, y!.dims]);
  const [mc, mx, my] = [cond!, x!, y!].map((t) => broadcastMap(t.dims, dims));
  return [build(x!.dtype, dims, Array.from(mc, (c, k) => (vals[0]![c] ? vals[1]![mx[k]] : vals[2]![my[k]])))];
};

const wrap = (t: Tensor | undefined): Tensor[] | undefined => t && [t];

/** A unary op on numbers (floats or integers) and, when given, on bigints. */
const unary = (num: (a: number) => number, big?: (a: bigint) => bigint, out?: DType): Kernel => (_node, [x]) => {
  const v = read(x!);
  if (!v || (isBig(x!.dtype) && !big)) return undefined;
  return [build(out ?? x!.dtype, x!.dims, isBig(x!.dtype) ? v.map((e) => big!(e as bigint)) : v.map((e) => num(e as number)))];
};

const floatOnly = (f: (a: number) => number): Kernel => (node, inputs) => (isFloat(inputs[0]!.dtype) ? unary(f)(node, inputs) : undefined);

const clip: Kernel = (_node, [x, lo, hi]) => {
  const v = read(x!);
  if (!v) return undefined;
  const bound = (t: Tensor | undefined, fallback: Scalar) => (t ? read(t)![0] : fallback);
  const big = isBig(x!.dtype);
  const min = bound(lo, big ? -(2n ** 64n) : -Infinity);
  const max = bound(hi, big ? 2n ** 64n : Infinity);
  return [build(x!.dtype, x!.dims, v.map((e) => (e < min ? min : e > max ? max : e)))];
};

const cast: Kernel = (node, [x]) => {
  const to = dtypeOfElemType(attrInt(node, 'to', 1));
  const v = read(x!);
  if (!v || to === 'string') return undefined;
  return [build(to, x!.dims, to === 'bool' ? v.map((e) => +(e !== 0 && e !== 0n)) : v)];
};

/** Output dims of a reduction and, for each input element, the output element it folds into. */
function reduction(dims: number[], axes: number[], keep: boolean): { out: number[]; into: Int32Array } {
  const set = new Set(axes.map((a) => axisOf(a, dims.length)));
  const kept = dims.map((d, k) => (set.has(k) ? 1 : d));
  const st = strides(kept);
  const into = indexMap(dims, (idx) => idx.reduce((acc, i, k) => acc + (set.has(k) ? 0 : i * st[k]), 0));
  return { out: keep ? kept : dims.filter((_, k) => !set.has(k)), into };
}

type Fold = (acc: Scalar, v: Scalar) => Scalar;
const REDUCERS: Record<string, { fold: Fold; init: (big: boolean) => Scalar; mean?: boolean }> = {
  ReduceSum: { fold: (a, v) => (a as number) + (v as number), init: (big) => (big ? 0n : 0) },
  ReduceMean: { fold: (a, v) => (a as number) + (v as number), init: (big) => (big ? 0n : 0), mean: true },
  ReduceProd: { fold: (a, v) => (a as number) * (v as number), init: (big) => (big ? 1n : 1) },
  ReduceMax: { fold: (a, v) => (v > a || Number.isNaN(v) ? v : a), init: (big) => (big ? -(2n ** 64n) : -Infinity) },
  ReduceMin: { fold: (a, v) => (v < a || Number.isNaN(v) ? v : a), init: (big) => (big ? 2n ** 64n : Infinity) },
};

const reduce = (op: string): Kernel => (node, [x, axesInput]) => {
  const r = REDUCERS[op];
  const v = read(x!);
  if (!v) return undefined;
  let axes = axesInput ? readNumbers(axesInput)! : attrInts(node, 'axes') ?? [];
  if (axes.length === 0) {
    if (attrInt(node, 'noop_with_empty_axes', 0) === 1) return [build(x!.dtype, x!.dims, v)];
    axes = x!.dims.map((_, k) => k);
  }
  const { out, into } = reduction(x!.dims, axes, attrInt(node, 'keepdims', 1) === 1);
  const big = isBig(x!.dtype);
  const acc: Scalar[] = new Array(size(out)).fill(r.init(big));
  for (let k = 0; k < v.length; k++) acc[into[k]] = r.fold(acc[into[k]], v[k]);
  if (r.mean) {
    const count = v.length / Math.max(1, acc.length);
    for (let k = 0; k < acc.length; k++) acc[k] = big ? (acc[k] as bigint) / BigInt(count) : isFloat(x!.dtype) ? (acc[k] as number) / count : Math.trunc((acc[k] as number) / count);
  }
  return [build(x!.dtype, out, acc)];
};

const argReduce = (max: boolean): Kernel => (node, [x]) => {
  const v = read(x!);
  if (!v) return undefined;
  const dims = x!.dims;
  const axis = axisOf(attrInt(node, 'axis', 0), dims.length);
  const last = attrInt(node, 'select_last_index', 0) === 1;
  const n = dims[axis];
  const inner = size(dims.slice(axis + 1));
  const outer = size(dims.slice(0, axis));
  const out: number[] = [];
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      let best = 0;
      for (let j = 1; j < n; j++) {
        const a = v[(o * n + j) * inner + i];
        const b = v[(o * n + best) * inner + i];
        if (max ? a > b || (last && a === b) : a < b || (last && a === b)) best = j;
      }
      out.push(best);
    }
  }
  const keep = attrInt(node, 'keepdims', 1) === 1;
  return [build('int64', keep ? dims.map((d, k) => (k === axis ? 1 : d)) : dims.filter((_, k) => k !== axis), out)];
};

const matmul: Kernel = (_node, [a, b]) => {
  if (a!.dims.length !== 2 || b!.dims.length !== 2) return undefined;
  const [va, vb] = [read(a!), read(b!)];
  if (!va || !vb) return undefined;
  const [m, k] = a!.dims;
  const n = b!.dims[1];
  if (b!.dims[0] !== k) throw new Error('MatMul: inner dimensions differ');
  const big = isBig(a!.dtype);
  const out: Scalar[] = new Array(m * n).fill(big ? 0n : 0);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let acc: Scalar = big ? 0n : 0;
      for (let p = 0; p < k; p++) acc = big ? (acc as bigint) + (va[i * k + p] as bigint) * (vb[p * n + j] as bigint) : (acc as number) + (va[i * k + p] as number) * (vb[p * n + j] as number);
      out[i * n + j] = acc;
    }
  }
  return [build(a!.dtype, [m, n], out)];
};

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/** Kernels for arithmetic, comparison, logic, unary math, Cast, reductions and MatMul. */
export const MATH_KERNELS: Record<string, Kernel> = {
  ...Object.fromEntries(Object.entries(BINARY).map(([op, f]) => [op, binary(f)])),
  Mod: mod,
  Pow: pow,
  Where: where,
  Mean: (node, inputs) => {
    const sum = binary(BINARY.Sum)(node, inputs);
    const n = inputs.filter(Boolean).length;
    return sum && isFloat(sum[0].dtype) ? [build(sum[0].dtype, sum[0].dims, read(sum[0])!.map((e) => (e as number) / n))] : undefined;
  },
  Neg: unary((a) => -a, (a) => -a),
  Abs: unary(Math.abs, (a) => (a < 0n ? -a : a)),
  Sign: unary(Math.sign, (a) => (a > 0n ? 1n : a < 0n ? -1n : 0n)),
  Relu: unary((a) => Math.max(a, 0), (a) => (a > 0n ? a : 0n)),
  Not: unary((a) => +!a),
  IsNaN: unary((a) => +Number.isNaN(a), undefined, 'bool'),
  Clip: clip,
  Cast: cast,
  Floor: floatOnly(Math.floor),
  Ceil: floatOnly(Math.ceil),
  Round: floatOnly(roundHalfEven),
  Sqrt: floatOnly(Math.sqrt),
  Reciprocal: floatOnly((a) => 1 / a),
  Exp: floatOnly(Math.exp),
  Log: floatOnly(Math.log),
  Sigmoid: floatOnly(sigmoid),
  Tanh: floatOnly(Math.tanh),
  Sin: floatOnly(Math.sin),
  Cos: floatOnly(Math.cos),
  Tan: floatOnly(Math.tan),
  Atan: floatOnly(Math.atan),
  LeakyRelu: (node, inputs) => floatOnly((a) => (a < 0 ? a * attrFloat(node, 'alpha', 0.01) : a))(node, inputs),
  ...Object.fromEntries(Object.keys(REDUCERS).map((op) => [op, reduce(op)])),
  ArgMax: argReduce(true),
  ArgMin: argReduce(false),
  MatMul: matmul,
};
