import { onnxElemType, tensor, toNumbers, type Attr, type DType } from '../../onnx/graph';
import type { Handler, HandlerContext, HandlerTable } from './registry';

function one(ctx: HandlerContext, op: string, inputs: string[], attrs?: Record<string, Attr>): string {
  return ctx.emit(op, inputs, attrs)[0]!;
}

function cast(ctx: HandlerContext, x: string, to: DType): string {
  return one(ctx, 'Cast', [x], { to: { i: onnxElemType(to) } });
}

/**
 * Emits an ONNX reduction of `x` over the TF axes input (scalar or vector, negative allowed).
 * In opset 17 only ReduceSum takes axes as an input; the others need them constant, as an attribute.
 * TF reduces nothing over an empty axes list, while ONNX would reduce everything.
 */
function reduce(ctx: HandlerContext, op: string, x: string): string {
  const keepdims = { i: ctx.attrs.bool('keep_dims', false) ? 1 : 0 };
  const c = ctx.constant(1);
  if (!c) {
    if (op !== 'ReduceSum') ctx.fail('the reduction axes must be constant');
    const axes = one(ctx, 'Reshape', [cast(ctx, ctx.input(1), 'int64'), ctx.int64s([-1])]);
    return one(ctx, op, [x, axes], { keepdims, noop_with_empty_axes: { i: 1 } });
  }
  const axes = toNumbers(c);
  if (axes.length === 0) return x;
  if (op === 'ReduceSum') return one(ctx, op, [x, ctx.int64s(axes)], { keepdims });
  return one(ctx, op, [x], { axes: { ints: axes }, keepdims });
}

const reduction = (op: string): Handler => (ctx) => ctx.output(0, reduce(ctx, op, ctx.input(0)));

/** Whether any element along the axes is true: a sum of ones and zeros above zero. */
function any(ctx: HandlerContext, x: string): string {
  return one(ctx, 'Greater', [reduce(ctx, 'ReduceSum', cast(ctx, x, 'int32')), ctx.constTensor(tensor('int32', [], [0]), 'zero')]);
}

const allOp: Handler = (ctx) => ctx.output(0, one(ctx, 'Not', [any(ctx, one(ctx, 'Not', [ctx.input(0)]))]));

/** ArgMax/ArgMin over a constant axis; ONNX gives int64, TF's output_type may ask for int32. */
const argReduce = (op: string): Handler => (ctx) => {
  const axis = toNumbers(ctx.requireConstant(1, 'the axis'))[0]!;
  const y = one(ctx, op, [ctx.input(0)], { axis: { i: axis }, keepdims: { i: 0 } });
  const type = ctx.attrs.type('output_type', 'int64');
  ctx.output(0, type === 'int64' ? y : cast(ctx, y, type));
};

/** sum(x²) / 2 over every element. */
const l2Loss: Handler = (ctx) => {
  if (ctx.type(0).dtype !== 'float32') ctx.fail(`L2Loss of ${ctx.type(0).dtype} is not supported (float32 only)`);
  const x = ctx.input(0);
  const sum = one(ctx, 'ReduceSum', [one(ctx, 'Mul', [x, x])], { keepdims: { i: 0 } });
  ctx.output(0, one(ctx, 'Mul', [sum, ctx.float32s([0.5], [])]));
};

/** Reductions, by TensorFlow op type. */
export const reduceHandlers: HandlerTable = {
  Mean: reduction('ReduceMean'),
  Sum: reduction('ReduceSum'),
  Max: reduction('ReduceMax'),
  Min: reduction('ReduceMin'),
  Prod: reduction('ReduceProd'),
  Any: (ctx) => ctx.output(0, any(ctx, ctx.input(0))),
  All: allOp,
  ArgMax: argReduce('ArgMax'),
  ArgMin: argReduce('ArgMin'),
  L2Loss: l2Loss,
};
