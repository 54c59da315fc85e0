import { dtypeOfElemType, type Dim, type DType, type TypeInfo } from './graph';
import {
  broadcastShapes, known, mapDim, normAxis, productDim, quotientDim, ti, unifyDim, unknownDims,
  type RuleCtx, type ShapeRule, type ShapeRuleTable,
} from './shape-dims';

const INT64_MAX = 2 ** 63 - 1;

/** Output 0 has the type of input 0. */
const same: ShapeRule = (c) => [c.type(0)];
/** Output 0 is bool, shaped like input 0. */
const boolLike: ShapeRule = (c) => [ti('bool', c.shape(0))];
/** Broadcast of every input, dtype of input 0. */
const broadcast: ShapeRule = (c) => [ti(c.dtype(0), broadcastShapes(c.node.inputs.map((_, k) => c.shape(k))))];
/** Broadcast of every input, bool result. */
const compare: ShapeRule = (c) => [ti('bool', broadcastShapes(c.node.inputs.map((_, k) => c.shape(k))))];

const UNARY = [
  'Relu', 'Sigmoid', 'Tanh', 'Exp', 'Log', 'Abs', 'Neg', 'Sqrt', 'Reciprocal', 'Floor', 'Ceil', 'Round', 'Sign',
  'Sin', 'Cos', 'Tan', 'Asin', 'Acos', 'Atan', 'Sinh', 'Cosh', 'Asinh', 'Acosh', 'Atanh', 'Erf', 'Softplus', 'Softsign',
  'Elu', 'Selu', 'Celu', 'LeakyRelu', 'ThresholdedRelu', 'HardSigmoid', 'HardSwish', 'Mish', 'Shrink', 'Clip', 'Identity',
  'Not', 'BitwiseNot', 'Softmax', 'LogSoftmax', 'Hardmax', 'CumSum', 'Trilu', 'ReverseSequence', 'LRN',
  'InstanceNormalization', 'MeanVarianceNormalization', 'ScatterND', 'ScatterElements',
];
const BINARY = ['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Max', 'Min', 'Mod', 'PRelu', 'And', 'Or', 'Xor', 'Sum', 'Mean', 'BitShift', 'BitwiseAnd', 'BitwiseOr', 'BitwiseXor'];
const COMPARE = ['Equal', 'Less', 'LessOrEqual', 'Greater', 'GreaterOrEqual'];

/** Shape of a tensor whose values say a shape (Reshape's, Expand's): rank from its length when the values are unknown. */
function shapeFromInput(c: RuleCtx, i: number): Dim[] | null {
  const v = c.values(i);
  if (v) return v;
  const s = c.shape(i);
  return s && known(s[0]) ? unknownDims(s[0]) : null;
}

function reshape(c: RuleCtx): Dim[] | null {
  const input = c.shape(0);
  const target = c.values(1);
  if (!target) return shapeFromInput(c, 1);
  const allowZero = c.int('allowzero', 0) === 1;
  const out: Dim[] = target.map((v, k) => (v === 0 && !allowZero ? (input ? input[k] ?? null : null) : v === -1 ? null : v));
  const free = target.indexOf(-1);
  if (free >= 0 && input) out[free] = quotientDim(input, out.filter((_, k) => k !== free));
  return out;
}

function squeeze(c: RuleCtx): Dim[] | null {
  const s = c.shape(0);
  if (!s) return null;
  const axes = c.has(1) ? c.values(1) : c.ints('axes');
  if (!axes) {
    if (c.has(1)) return null;
    return s.some((d) => !known(d)) ? null : s.filter((d) => d !== 1);
  }
  const drop = new Set(axes.map((a) => normAxis(a, s.length)));
  return s.filter((_, k) => !drop.has(k));
}

function unsqueeze(c: RuleCtx): Dim[] | null {
  const s = c.shape(0);
  const axes = c.has(1) ? c.values(1) : c.ints('axes');
  if (!s || !axes) return null;
  const rank = s.length + axes.length;
  const ones = new Set(axes.map((a) => normAxis(a, rank)));
  const rest = [...s];
  return Array.from({ length: rank }, (_, k) => (ones.has(k) ? 1 : rest.shift() ?? null));
}

function concat(c: RuleCtx): Dim[] | null {
  const shapes = c.node.inputs.map((_, k) => c.shape(k));
  const first = shapes.find((s) => s !== null);
  if (!first) return null;
  const axis = normAxis(c.int('axis', 0), first.length);
  const out = [...first];
  for (const s of shapes) if (s) s.forEach((d, k) => k !== axis && (out[k] = unifyDim(out[k], d)));
  const parts = shapes.map((s) => (s ? s[axis] : null));
  out[axis] = shapes.every((s) => s) ? productSum(parts) : null;
  return out;
}

/** Sum of dims: a number, or one symbol plus zeros. */
function productSum(dims: Dim[]): Dim {
  if (dims.every(known)) return (dims as number[]).reduce((a, b) => a + b, 0);
  const nonZero = dims.filter((d) => d !== 0);
  return nonZero.length === 1 ? nonZero[0] : null;
}

function split(c: RuleCtx): (TypeInfo | undefined)[] {
  const s = c.shape(0);
  const n = c.node.outputs.length;
  if (!s) return c.node.outputs.map(() => ti(c.dtype(0), null));
  const axis = normAxis(c.int('axis', 0), s.length);
  const given = c.has(1) ? c.values(1) : c.ints('split');
  const dim = s[axis];
  const chunk = known(dim) ? Math.ceil(dim / n) : null;
  return c.node.outputs.map((_, k) => {
    const out = [...s];
    if (given) out[axis] = given[k];
    else if (c.has(1) || chunk === null) out[axis] = n === 1 ? dim : null;
    else out[axis] = k < n - 1 ? chunk : (dim as number) - chunk * (n - 1);
    return ti(c.dtype(0), out);
  });
}

/** Length of one sliced axis (ONNX Slice clamping, negative steps). */
export function sliceLength(dim: number, start: number, end: number, step: number): number {
  const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);
  let s = start < 0 ? start + dim : start;
  let e = end < 0 ? end + dim : end;
  if (step > 0) {
    s = clamp(s, 0, dim);
    e = clamp(e, 0, dim);
    return Math.max(0, Math.ceil((e - s) / step));
  }
  s = clamp(s, 0, dim - 1);
  e = clamp(e, -1, dim - 1);
  return Math.max(0, Math.ceil((s - e) / -step));
}

function slice(c: RuleCtx): Dim[] | null {
  const s = c.shape(0);
  if (!s) return null;
  const starts = c.values(1);
  const ends = c.values(2);
  const axes = c.has(3) ? c.values(3) : starts?.map((_, k) => k);
  const steps = c.has(4) ? c.values(4) : starts?.map(() => 1);
  if (!starts || !ends || !axes || !steps) {
    // Unknown bounds: the axes sliced are unknown too unless given.
    if (!axes) return unknownDims(s.length);
    const out = [...s];
    for (const a of axes) out[normAxis(a, s.length)] = null;
    return out;
  }
  const out = [...s];
  axes.forEach((a, k) => {
    const ax = normAxis(a, s.length);
    const d = s[ax];
    if (known(d)) out[ax] = sliceLength(d, starts[k], ends[k], steps[k]);
    else out[ax] = starts[k] === 0 && steps[k] === 1 && ends[k] >= INT64_MAX / 2 ? d : null;
  });
  return out;
}

function pad(c: RuleCtx): Dim[] | null {
  const s = c.shape(0);
  if (!s) return null;
  const pads = c.has(1) ? c.values(1) : c.ints('pads');
  if (!pads) return unknownDims(s.length);
  const r = s.length;
  return s.map((d, k) => mapDim(d, (n) => n + pads[k] + pads[k + r]));
}

function gather(c: RuleCtx): Dim[] | null {
  const data = c.shape(0);
  const idx = c.shape(1);
  if (!data || !idx) return null;
  const axis = normAxis(c.int('axis', 0), data.length);
  return [...data.slice(0, axis), ...idx, ...data.slice(axis + 1)];
}

function gatherNd(c: RuleCtx): Dim[] | null {
  const data = c.shape(0);
  const idx = c.shape(1);
  if (!data || !idx || !known(idx[idx.length - 1])) return null;
  const b = c.int('batch_dims', 0);
  return [...idx.slice(0, -1), ...data.slice(b + (idx[idx.length - 1] as number))];
}

function tile(c: RuleCtx): Dim[] | null {
  const s = c.shape(0);
  const reps = c.values(1);
  if (!s) return null;
  return s.map((d, k) => (reps ? (reps[k] === 1 ? d : mapDim(d, (n) => n * reps[k])) : null));
}

function expand(c: RuleCtx): Dim[] | null {
  const s = c.shape(0);
  const target = shapeFromInput(c, 1);
  if (!s || !target) return null;
  if (c.values(1)) return broadcastShapes([s, target]);
  const rank = Math.max(s.length, target.length);
  return Array.from({ length: rank }, (_, k) => {
    const d = s[k - (rank - s.length)];
    return known(d) && d !== 1 ? d : null;
  });
}

function shapeOp(c: RuleCtx): Dim[] {
  const s = c.shape(0);
  if (!s) return [null];
  const r = s.length;
  const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + r : v, 0), r);
  return [Math.max(0, clamp(c.int('end', r)) - clamp(c.int('start', 0)))];
}

function constantOfShape(c: RuleCtx): TypeInfo {
  const value = c.attr('value');
  const dtype: DType = value && 't' in value ? value.t.dtype : 'float32';
  return ti(dtype, shapeFromInput(c, 0));
}

function constant(c: RuleCtx): TypeInfo | undefined {
  const a = c.attr('value') ?? c.attr('value_float') ?? c.attr('value_floats') ?? c.attr('value_int') ?? c.attr('value_ints');
  if (!a) return undefined;
  if ('t' in a) return ti(a.t.dtype, [...a.t.dims]);
  if ('f' in a) return ti('float32', []);
  if ('floats' in a) return ti('float32', [a.floats.length]);
  if ('i' in a) return ti('int64', []);
  if ('ints' in a) return ti('int64', [a.ints.length]);
  return undefined;
}

function range(c: RuleCtx): TypeInfo {
  const [start, limit, delta] = [c.values(0), c.values(1), c.values(2)];
  const n = start && limit && delta ? Math.max(0, Math.ceil((limit[0] - start[0]) / delta[0])) : null;
  return ti(c.dtype(0), [n]);
}

/** Reduced shape; `axes` undefined: reduce all axes. */
function reduced(s: Dim[], axes: number[] | undefined, keep: boolean): Dim[] {
  const set = new Set((axes ?? s.map((_, k) => k)).map((a) => normAxis(a, s.length)));
  return keep ? s.map((d, k) => (set.has(k) ? 1 : d)) : s.filter((_, k) => !set.has(k));
}

const reduce: ShapeRule = (c) => {
  const s = c.shape(0);
  const keep = c.int('keepdims', 1) === 1;
  const fromInput = c.has(1);
  const axes = fromInput ? c.values(1) : c.ints('axes');
  let shape: Dim[] | null = null;
  if (s && fromInput && !axes) shape = keep ? unknownDims(s.length) : null;
  else if (s && axes && axes.length === 0 && c.int('noop_with_empty_axes', 0) === 1) shape = s;
  else if (s) shape = reduced(s, axes && axes.length ? axes : undefined, keep);
  return [ti(c.dtype(0), shape)];
};

const argReduce: ShapeRule = (c) => {
  const s = c.shape(0);
  return [ti('int64', s && reduced(s, [c.int('axis', 0)], c.int('keepdims', 1) === 1))];
};

function topK(c: RuleCtx): TypeInfo[] {
  const s = c.shape(0);
  const k = c.values(1);
  const shape = s && [...s];
  if (shape) shape[normAxis(c.int('axis', -1), shape.length)] = k ? k[0] : null;
  return [ti(c.dtype(0), shape), ti('int64', shape)];
}

function oneHot(c: RuleCtx): TypeInfo {
  const s = c.shape(0);
  const depth = c.values(1);
  const dtype = c.dtype(2);
  if (!s) return ti(dtype, null);
  const axis = normAxis(c.int('axis', -1), s.length + 1);
  const out = [...s];
  out.splice(axis, 0, depth ? depth[0] : null);
  return ti(dtype, out);
}

function flatten(c: RuleCtx): Dim[] | null {
  const s = c.shape(0);
  if (!s) return [null, null];
  const axis = normAxis(c.int('axis', 1), s.length);
  return [productDim(s.slice(0, axis)), productDim(s.slice(axis))];
}

function transpose(c: RuleCtx): Dim[] | null {
  const s = c.shape(0);
  if (!s) return null;
  const perm = c.ints('perm') ?? s.map((_, k) => s.length - 1 - k);
  return perm.map((p) => s[p] ?? null);
}

/** Type rules for elementwise, shape and indexing, reduction and creation ops. */
export const TENSOR_RULES: ShapeRuleTable = {
  ...Object.fromEntries(UNARY.map((op) => [op, same])),
  ...Object.fromEntries(BINARY.map((op) => [op, broadcast])),
  ...Object.fromEntries(COMPARE.map((op) => [op, compare])),
  IsNaN: boolLike,
  IsInf: boolLike,
  Dropout: (c) => [c.type(0), ti('bool', c.shape(0))],
  Where: (c) => [ti(c.dtype(1), broadcastShapes([c.shape(0), c.shape(1), c.shape(2)]))],
  Cast: (c) => [ti(dtypeOfElemType(c.int('to', 1)), c.shape(0))],
  CastLike: (c) => [ti(c.dtype(1), c.shape(0))],
  Transpose: (c) => [ti(c.dtype(0), transpose(c))],
  Reshape: (c) => [ti(c.dtype(0), reshape(c))],
  Flatten: (c) => [ti(c.dtype(0), flatten(c))],
  Squeeze: (c) => [ti(c.dtype(0), squeeze(c))],
  Unsqueeze: (c) => [ti(c.dtype(0), unsqueeze(c))],
  Concat: (c) => [ti(c.dtype(0), concat(c))],
  Split: split,
  Slice: (c) => [ti(c.dtype(0), slice(c))],
  Pad: (c) => [ti(c.dtype(0), pad(c))],
  Gather: (c) => [ti(c.dtype(0), gather(c))],
  GatherND: (c) => [ti(c.dtype(0), gatherNd(c))],
  GatherElements: (c) => [ti(c.dtype(0), c.shape(1))],
  Tile: (c) => [ti(c.dtype(0), tile(c))],
  Expand: (c) => [ti(c.dtype(0), expand(c))],
  Shape: (c) => [ti('int64', shapeOp(c))],
  Size: () => [ti('int64', [])],
  ConstantOfShape: (c) => [constantOfShape(c)],
  Constant: (c) => [constant(c)],
  Range: (c) => [range(c)],
  ReduceSum: reduce,
  ReduceMean: reduce,
  ReduceMax: reduce,
  ReduceMin: reduce,
  ReduceProd: reduce,
  ReduceL1: reduce,
  ReduceL2: reduce,
  ReduceLogSum: reduce,
  ReduceLogSumExp: reduce,
  ReduceSumSquare: reduce,
  ArgMax: argReduce,
  ArgMin: argReduce,
  TopK: topK,
  OneHot: (c) => [oneHot(c)],
  NonZero: (c) => [ti('int64', [c.shape(0)?.length ?? null, null])],
  NonMaxSuppression: () => [ti('int64', [null, 3])],
};
