import { onnxElemType, tensor, toNumbers, type Attr, type DType } from '../../onnx/graph';
import type { Handler, HandlerContext, HandlerTable } from './registry';

const I64_MAX = 2n ** 63n - 1n;
const I64_MIN = -(2n ** 63n);

function one(ctx: HandlerContext, op: string, inputs: string[], attrs?: Record<string, Attr>): string {
  return ctx.emit(op, inputs, attrs)[0]!;
}

function cast(ctx: HandlerContext, x: string, to: DType): string {
  return ctx.typeOf(x).dtype === to ? x : one(ctx, 'Cast', [x], { to: { i: onnxElemType(to) } });
}

/** Input `i` as int64, as ONNX wants shapes, axes and indices (TF often has int32). */
function int64Input(ctx: HandlerContext, i: number): string {
  const c = ctx.constant(i);
  if (c && c.dtype !== 'int64') return ctx.constTensor(tensor('int64', c.dims, toNumbers(c)), 'i64');
  return cast(ctx, ctx.input(i), 'int64');
}

/** Input `i` as a 1-D int64 tensor (scalars become one-element vectors). */
function int64Vector(ctx: HandlerContext, i: number): string {
  const c = ctx.constant(i);
  if (c) return ctx.int64s(toNumbers(c));
  return one(ctx, 'Reshape', [int64Input(ctx, i), ctx.int64s([-1])]);
}

function constInts(ctx: HandlerContext, i: number, what: string): number[] {
  return toNumbers(ctx.requireConstant(i, what));
}

const inputs = (ctx: HandlerContext, from: number, to: number): string[] => Array.from({ length: to - from }, (_, k) => ctx.input(from + k));

const passThrough: Handler = (ctx) => ctx.output(0, ctx.input(0));

const identityN: Handler = (ctx) => {
  for (let k = 0; k < ctx.inputCount; k++) ctx.output(k, ctx.input(k));
};

/** TF's 0 in a shape means an empty dim, not "copy", hence allowzero when the shape has one. */
const reshape: Handler = (ctx) => {
  const shape = ctx.constant(1);
  const attrs = shape && toNumbers(shape).includes(0) ? { allowzero: { i: 1 } } : undefined;
  ctx.output(0, one(ctx, 'Reshape', [ctx.input(0), int64Input(ctx, 1)], attrs));
};

const squeeze: Handler = (ctx) => {
  const dims = ctx.attrs.has('squeeze_dims') ? ctx.attrs.ints('squeeze_dims') : ctx.attrs.ints('axis', []);
  ctx.output(0, one(ctx, 'Squeeze', dims.length ? [ctx.input(0), ctx.int64s(dims)] : [ctx.input(0)]));
};

/** Negative axes count from rank + 1 in both TF and ONNX Unsqueeze. */
const expandDims: Handler = (ctx) => ctx.output(0, one(ctx, 'Unsqueeze', [ctx.input(0), int64Vector(ctx, 1)]));

const transpose: Handler = (ctx) => {
  ctx.output(0, one(ctx, 'Transpose', [ctx.input(0)], { perm: { ints: constInts(ctx, 1, 'the permutation') } }));
};

function concat(ctx: HandlerContext, xs: string[], axis: number): void {
  ctx.output(0, xs.length === 1 ? xs[0]! : one(ctx, 'Concat', xs, { axis: { i: axis } }));
}

const pack: Handler = (ctx) => {
  const axis = ctx.attrs.int('axis', 0);
  const axes = ctx.int64s([axis]);
  concat(ctx, inputs(ctx, 0, ctx.inputCount).map((x) => one(ctx, 'Unsqueeze', [x, axes])), axis);
};

const unpack: Handler = (ctx) => {
  const axis = ctx.attrs.int('axis', 0);
  const num = ctx.attrs.int('num');
  const parts = num === 1 ? [ctx.input(0)] : ctx.emit('Split', [ctx.input(0)], { axis: { i: axis } }, num);
  const axes = ctx.int64s([axis]);
  parts.forEach((p, k) => ctx.output(k, one(ctx, 'Squeeze', [p, axes])));
};

function split(ctx: HandlerContext, x: string, axis: number, count: number, sizes?: string): void {
  const parts = count === 1 ? [x] : ctx.emit('Split', sizes ? [x, sizes] : [x], { axis: { i: axis } }, count);
  parts.forEach((p, k) => ctx.output(k, p));
}

/** Size splits with one -1: the rest of the axis, from the static shape or computed in the graph. */
const splitV: Handler = (ctx) => {
  const sizes = constInts(ctx, 1, 'size_splits');
  const axis = constInts(ctx, 2, 'the split axis')[0]!;
  const x = ctx.input(0);
  const rest = sizes.indexOf(-1);
  if (rest < 0) return split(ctx, x, axis, sizes.length, ctx.int64s(sizes));
  const shape = ctx.type(0).shape;
  const dim = shape?.[axis < 0 ? shape.length + axis : axis];
  const known = sizes.reduce((a, s) => (s === -1 ? a : a + s), 0);
  if (typeof dim === 'number' && dim >= 0) {
    return split(ctx, x, axis, sizes.length, ctx.int64s(sizes.map((s) => (s === -1 ? dim - known : s))));
  }
  const total = one(ctx, 'Gather', [one(ctx, 'Shape', [x]), ctx.int64s([axis])]);
  const missing = one(ctx, 'Sub', [total, ctx.int64s([known])]);
  const pieces = [ctx.int64s(sizes.slice(0, rest)), missing, ctx.int64s(sizes.slice(rest + 1))];
  split(ctx, x, axis, sizes.length, one(ctx, 'Concat', pieces, { axis: { i: 0 } }));
};

/** Slice(begin, size): size -1 runs to the end of the dim. */
const slice: Handler = (ctx) => {
  const [b, s] = [ctx.constant(1), ctx.constant(2)];
  let starts: string;
  let ends: string;
  if (b && s) {
    const begin = toNumbers(b);
    const size = toNumbers(s);
    starts = ctx.int64s(begin);
    ends = ctx.constTensor(tensor('int64', [size.length], size.map((n, k) => (n === -1 ? I64_MAX : BigInt(begin[k]! + n)))), 'ends');
  } else {
    starts = int64Vector(ctx, 1);
    const size = int64Vector(ctx, 2);
    const toEnd = one(ctx, 'Equal', [size, ctx.int64s([-1])]);
    const max = ctx.constTensor(tensor('int64', [1], [I64_MAX]), 'max');
    ends = one(ctx, 'Where', [toEnd, max, one(ctx, 'Add', [starts, size])]);
  }
  ctx.output(0, one(ctx, 'Slice', [ctx.input(0), starts, ends]));
};

/** A slice bound per sliced axis: fixed, or read from entry `from` of the TF bound input. */
interface Bound {
  fixed?: bigint;
  from?: number;
}

/** The int64 vector of bounds; entries read from a non-constant TF input are gathered in the graph. */
function boundVector(ctx: HandlerContext, input: number, bounds: Bound[]): string {
  const c = ctx.constant(input);
  if (c || bounds.every((b) => b.fixed !== undefined)) {
    const vals = c ? toNumbers(c) : [];
    return ctx.constTensor(tensor('int64', [bounds.length], bounds.map((b) => b.fixed ?? BigInt(vals[b.from!]!))), 'bound');
  }
  const read = one(ctx, 'Gather', [int64Input(ctx, input), ctx.int64s(bounds.map((b) => b.from ?? 0))]);
  const fromInput = ctx.constTensor(tensor('bool', [bounds.length], bounds.map((b) => (b.fixed === undefined ? 1 : 0))), 'dynamic');
  const fixed = ctx.constTensor(tensor('int64', [bounds.length], bounds.map((b) => b.fixed ?? 0n)), 'fixed');
  return one(ctx, 'Where', [fromInput, read, fixed]);
}

/** Ends of shrunk axes are start + 1, except that x[-1] ends at the end of the axis. */
function shrinkEnds(ctx: HandlerContext, starts: string, ends: string, shrunk: boolean[]): string {
  if (!shrunk.some(Boolean)) return ends;
  const [s, e] = [ctx.graph.constant(starts), ctx.graph.constant(ends)];
  if (s && e) {
    const past = (v: bigint) => (v === -1n ? I64_MAX : v + 1n);
    const values = (e.data as BigInt64Array).map((v, k) => (shrunk[k] ? past((s.data as BigInt64Array)[k]!) : v));
    return ctx.constTensor(tensor('int64', [shrunk.length], values), 'ends');
  }
  const next = one(ctx, 'Add', [starts, ctx.int64s([1])]);
  const past = one(ctx, 'Where', [one(ctx, 'Equal', [next, ctx.int64s([0])]), ctx.constTensor(tensor('int64', [1], [I64_MAX]), 'max'), next]);
  return one(ctx, 'Where', [ctx.constTensor(tensor('bool', [shrunk.length], shrunk.map(Number)), 'shrunk'), past, ends]);
}

/** What a StridedSlice becomes: one ONNX Slice over some axes, a Squeeze and an Unsqueeze. */
interface SlicePlan {
  axes: number[];
  steps: number[];
  starts: Bound[];
  ends: Bound[];
  /** Per sliced axis: shrunk to its start (its end is start + 1). */
  shrunk: boolean[];
  squeezes: number[];
  newAxes: number[];
}

type Masks = Record<'begin' | 'end' | 'ellipsis' | 'newAxis' | 'shrink', number>;

/**
 * Walks TF's sparse slice spec. Entries before the ellipsis (or all, when there is none) number
 * input and output axes from the front; entries after it from the back, with negative axes, so
 * that no static rank is needed. Squeeze axes count in the input; Unsqueeze axes in the output.
 */
function planStridedSlice(strides: number[], masks: Masks): SlicePlan {
  const plan: SlicePlan = { axes: [], steps: [], starts: [], ends: [], shrunk: [], squeezes: [], newAxes: [] };
  const bit = (m: number, i: number) => (m & (1 << i)) !== 0;
  const addAxis = (axis: number, step: number, start: Bound, end: Bound, shrunk: boolean) => {
    plan.axes.push(axis), plan.steps.push(step), plan.starts.push(start), plan.ends.push(end), plan.shrunk.push(shrunk);
  };
  /** Plans entry i; returns whether it yields an output axis. */
  const visit = (i: number, axis: number, out: number): boolean => {
    if (bit(masks.newAxis, i)) return plan.newAxes.push(out), true;
    const s = strides[i]!;
    if (bit(masks.shrink, i)) {
      plan.squeezes.push(axis);
      addAxis(axis, 1, bit(masks.begin, i) ? { fixed: 0n } : { from: i }, { fixed: 0n }, true);
      return false;
    }
    const start: Bound = bit(masks.begin, i) ? { fixed: s > 0 ? 0n : I64_MAX } : { from: i };
    const end: Bound = bit(masks.end, i) ? { fixed: s > 0 ? I64_MAX : I64_MIN } : { from: i };
    if (!(start.fixed === 0n && end.fixed === I64_MAX && s === 1)) addAxis(axis, s, start, end, false);
    return true;
  };
  const ellipsis = masks.ellipsis ? Math.log2(masks.ellipsis & -masks.ellipsis) : strides.length;
  for (let i = 0, axis = 0, out = 0; i < ellipsis; i++) {
    const isNew = bit(masks.newAxis, i);
    if (visit(i, axis, out)) out++;
    if (!isNew) axis++;
  }
  for (let i = strides.length - 1, axis = -1, out = -1; i > ellipsis; i--) {
    const isNew = bit(masks.newAxis, i);
    if (visit(i, axis, out)) out--;
    if (!isNew) axis--;
  }
  return plan;
}

/** StridedSlice as ONNX Slice, then Squeeze (shrink_axis_mask), then Unsqueeze (new_axis_mask). */
const stridedSlice: Handler = (ctx) => {
  const mask = (name: string) => ctx.attrs.int(name, 0);
  const plan = planStridedSlice(constInts(ctx, 3, 'strides'), {
    begin: mask('begin_mask'),
    end: mask('end_mask'),
    ellipsis: mask('ellipsis_mask'),
    newAxis: mask('new_axis_mask'),
    shrink: mask('shrink_axis_mask'),
  });
  let y = ctx.input(0);
  if (plan.axes.length) {
    const starts = boundVector(ctx, 1, plan.starts);
    const ends = shrinkEnds(ctx, starts, boundVector(ctx, 2, plan.ends), plan.shrunk);
    y = one(ctx, 'Slice', [y, starts, ends, ctx.int64s(plan.axes), ctx.int64s(plan.steps)]);
  }
  if (plan.squeezes.length) y = one(ctx, 'Squeeze', [y, ctx.int64s(plan.squeezes)]);
  if (plan.newAxes.length) y = one(ctx, 'Unsqueeze', [y, ctx.int64s(plan.newAxes)]);
  ctx.output(0, y);
};

/** TF paddings [rank, 2] -> ONNX pads [begins..., ends...]. */
function pads(ctx: HandlerContext): string {
  const c = ctx.constant(1);
  if (c) {
    const v = toNumbers(c);
    return ctx.int64s([...v.filter((_, k) => k % 2 === 0), ...v.filter((_, k) => k % 2 === 1)]);
  }
  return one(ctx, 'Reshape', [one(ctx, 'Transpose', [int64Input(ctx, 1)], { perm: { ints: [1, 0] } }), ctx.int64s([-1])]);
}

const pad: Handler = (ctx) => {
  const value = ctx.node.op === 'PadV2' ? [ctx.input(2)] : [];
  ctx.output(0, one(ctx, 'Pad', [ctx.input(0), pads(ctx), ...value]));
};

const mirrorPad: Handler = (ctx) => {
  const mode = ctx.attrs.str('mode');
  if (mode !== 'REFLECT') ctx.fail(`MirrorPad mode ${mode} is not supported (only REFLECT)`);
  ctx.output(0, one(ctx, 'Pad', [ctx.input(0), pads(ctx)], { mode: { s: 'reflect' } }));
};

const gatherV2: Handler = (ctx) => {
  if (ctx.attrs.int('batch_dims', 0) !== 0) ctx.fail('batch_dims other than 0 is not supported');
  const axis = constInts(ctx, 2, 'the gather axis')[0]!;
  ctx.output(0, one(ctx, 'Gather', [ctx.input(0), ctx.input(1)], { axis: { i: axis } }));
};

const shapeOp: Handler = (ctx) => ctx.output(0, cast(ctx, one(ctx, 'Shape', [ctx.input(0)]), ctx.attrs.type('out_type', 'int32')));
const sizeOp: Handler = (ctx) => ctx.output(0, cast(ctx, one(ctx, 'Size', [ctx.input(0)]), ctx.attrs.type('out_type', 'int32')));

const rank: Handler = (ctx) => {
  const shape = ctx.type(0).shape;
  if (shape) return ctx.output(0, ctx.constTensor(tensor('int32', [], [shape.length]), 'rank'));
  ctx.output(0, cast(ctx, one(ctx, 'Size', [one(ctx, 'Shape', [ctx.input(0)])]), 'int32'));
};

const filledLike = (value: number): Handler => (ctx) => {
  const dtype = ctx.type(0).dtype;
  if (dtype === 'string' || dtype === 'float16') return ctx.fail(`${dtype} tensors are not supported`);
  ctx.output(0, one(ctx, 'ConstantOfShape', [one(ctx, 'Shape', [ctx.input(0)])], { value: { t: tensor(dtype, [1], [value]) } }));
};

/** TF Where with one input: coordinates [n, rank] (int64) of the true or non-zero elements. */
const where: Handler = (ctx) => {
  if (ctx.inputCount === 3) return ctx.output(0, one(ctx, 'Where', inputs(ctx, 0, 3)));
  ctx.output(0, one(ctx, 'Transpose', [one(ctx, 'NonZero', [ctx.input(0)])], { perm: { ints: [1, 0] } }));
};

/** SparseToDense as ScatterND into a tensor filled with the default value. */
const sparseToDense: Handler = (ctx) => {
  const indexRank = ctx.type(0).shape?.length;
  const valueRank = ctx.type(2).shape?.length;
  if (indexRank === undefined || valueRank === undefined) return ctx.fail('the ranks of sparse_indices and sparse_values must be known');
  if (indexRank > 2) return ctx.fail(`sparse_indices of rank ${indexRank} (expected 0, 1 or 2)`);
  const dense = one(ctx, 'Expand', [ctx.input(3), int64Input(ctx, 1)]);
  let indices = int64Input(ctx, 0);
  if (indexRank < 2) indices = one(ctx, 'Reshape', [indices, ctx.int64s([-1, 1])]);
  const count = one(ctx, 'Slice', [one(ctx, 'Shape', [indices]), ctx.int64s([0]), ctx.int64s([1])]);
  const values = valueRank === 0 ? one(ctx, 'Expand', [ctx.input(2), count]) : ctx.input(2);
  ctx.output(0, one(ctx, 'ScatterND', [dense, indices, values]));
};

const cumsum: Handler = (ctx) => {
  const attrs = { exclusive: { i: ctx.attrs.bool('exclusive', false) ? 1 : 0 }, reverse: { i: ctx.attrs.bool('reverse', false) ? 1 : 0 } };
  ctx.output(0, one(ctx, 'CumSum', [ctx.input(0), ctx.input(1)], attrs));
};

/** Shape, layout and indexing ops, by TensorFlow op type. */
export const shapeHandlers: HandlerTable = {
  Identity: passThrough,
  StopGradient: passThrough,
  Snapshot: passThrough,
  IdentityN: identityN,
  Reshape: reshape,
  Squeeze: squeeze,
  ExpandDims: expandDims,
  Transpose: transpose,
  ConcatV2: (ctx) => concat(ctx, inputs(ctx, 0, ctx.inputCount - 1), constInts(ctx, ctx.inputCount - 1, 'the concat axis')[0]!),
  Concat: (ctx) => concat(ctx, inputs(ctx, 1, ctx.inputCount), constInts(ctx, 0, 'the concat axis')[0]!),
  Pack: pack,
  Unpack: unpack,
  Split: (ctx) => split(ctx, ctx.input(1), constInts(ctx, 0, 'the split axis')[0]!, ctx.attrs.int('num_split')),
  SplitV: splitV,
  Slice: slice,
  StridedSlice: stridedSlice,
  Pad: pad,
  PadV2: pad,
  MirrorPad: mirrorPad,
  GatherV2: gatherV2,
  GatherNd: (ctx) => ctx.output(0, one(ctx, 'GatherND', [ctx.input(0), int64Input(ctx, 1)])),
  Tile: (ctx) => ctx.output(0, one(ctx, 'Tile', [ctx.input(0), int64Input(ctx, 1)])),
  Shape: shapeOp,
  Size: sizeOp,
  Rank: rank,
  Fill: (ctx) => ctx.output(0, one(ctx, 'Expand', [ctx.input(1), int64Input(ctx, 0)])),
  ZerosLike: filledLike(0),
  OnesLike: filledLike(1),
  BroadcastTo: (ctx) => ctx.output(0, one(ctx, 'Expand', [ctx.input(0), int64Input(ctx, 1)])),
  Range: (ctx) => ctx.output(0, one(ctx, 'Range', inputs(ctx, 0, 3))),
  Where: where,
  SparseToDense: sparseToDense,
  Cumsum: cumsum,
};
