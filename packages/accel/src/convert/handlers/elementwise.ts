import { onnxElemType, tensor, type Attr, type DType } from '../../onnx/graph';
import type { Handler, HandlerContext, HandlerTable } from './registry';

const isInteger = (d: DType): boolean => /^u?int/.test(d);

/** Emits one single-output node; returns its output. */
function one(ctx: HandlerContext, op: string, inputs: string[], attrs?: Record<string, Attr>): string {
  return ctx.emit(op, inputs, attrs)[0]!;
}

/** A scalar constant of `dtype`. */
function scalar(ctx: HandlerContext, dtype: DType, value: number): string {
  if (dtype === 'string' || dtype === 'float16') return ctx.fail(`a ${dtype} constant is needed and not supported`);
  return ctx.constTensor(tensor(dtype, [], [value]), 'scalar');
}

function cast(ctx: HandlerContext, x: string, to: DType): string {
  return one(ctx, 'Cast', [x], { to: { i: onnxElemType(to) } });
}

const unary = (op: string): Handler => (ctx) => ctx.output(0, one(ctx, op, [ctx.input(0)]));
const binary = (op: string): Handler => (ctx) => ctx.output(0, one(ctx, op, [ctx.input(0), ctx.input(1)]));

/** x op(y) becomes Not(op): NotEqual. */
const negated = (op: string): Handler => (ctx) => ctx.output(0, one(ctx, 'Not', [one(ctx, op, [ctx.input(0), ctx.input(1)])]));

/** a and b have opposite signs where the remainder r is non-zero: floor and floor-mod need a fix there. */
function signFix(ctx: HandlerContext, r: string, b: string, dtype: DType): string {
  const zero = scalar(ctx, dtype, 0);
  const nonzero = one(ctx, 'Not', [one(ctx, 'Equal', [r, zero])]);
  return one(ctx, 'And', [nonzero, one(ctx, 'Xor', [one(ctx, 'Less', [r, zero]), one(ctx, 'Less', [b, zero])])]);
}

/** Division rounding toward -inf: ONNX Div truncates integers, so step down where signs differ. */
function floorDiv(ctx: HandlerContext, a: string, b: string): string {
  const dtype = ctx.type(0).dtype;
  const q = one(ctx, 'Div', [a, b]);
  if (!isInteger(dtype)) return one(ctx, 'Floor', [q]);
  const r = one(ctx, 'Sub', [a, one(ctx, 'Mul', [q, b])]);
  return one(ctx, 'Sub', [q, cast(ctx, signFix(ctx, r, b, dtype), dtype)]);
}

/** TF.js (the reference) divides integers with floor division for Div and RealDiv alike. */
const divide: Handler = (ctx) => {
  const [a, b] = [ctx.input(0), ctx.input(1)];
  ctx.output(0, isInteger(ctx.type(0).dtype) ? floorDiv(ctx, a, b) : one(ctx, 'Div', [a, b]));
};

/** Remainder with the sign of the divisor. ONNX Mod does that for integers; floats use fmod plus a fix. */
const floorMod: Handler = (ctx) => {
  const [a, b] = [ctx.input(0), ctx.input(1)];
  const dtype = ctx.type(0).dtype;
  if (isInteger(dtype)) return ctx.output(0, one(ctx, 'Mod', [a, b], { fmod: { i: 0 } }));
  const r = one(ctx, 'Mod', [a, b], { fmod: { i: 1 } });
  ctx.output(0, one(ctx, 'Where', [signFix(ctx, r, b, dtype), one(ctx, 'Add', [r, b]), r]));
};

const divNoNan: Handler = (ctx) => {
  const [a, b] = [ctx.input(0), ctx.input(1)];
  const zero = scalar(ctx, ctx.type(0).dtype, 0);
  ctx.output(0, one(ctx, 'Where', [one(ctx, 'Equal', [b, zero]), zero, one(ctx, 'Div', [a, b])]));
};

const squaredDifference: Handler = (ctx) => {
  const d = one(ctx, 'Sub', [ctx.input(0), ctx.input(1)]);
  ctx.output(0, one(ctx, 'Mul', [d, d]));
};

const addN: Handler = (ctx) => {
  const xs = Array.from({ length: ctx.inputCount }, (_, k) => ctx.input(k));
  if (xs.length === 1) return ctx.output(0, xs[0]!);
  // ONNX Sum is only for floating types in ONNX Runtime; integers chain Adds.
  if (!isInteger(ctx.type(0).dtype)) return ctx.output(0, one(ctx, 'Sum', xs));
  ctx.output(0, xs.slice(1).reduce((acc, x) => one(ctx, 'Add', [acc, x]), xs[0]!));
};

const square: Handler = (ctx) => ctx.output(0, one(ctx, 'Mul', [ctx.input(0), ctx.input(0)]));
const rsqrt: Handler = (ctx) => ctx.output(0, one(ctx, 'Reciprocal', [one(ctx, 'Sqrt', [ctx.input(0)])]));
const log1p: Handler = (ctx) => ctx.output(0, one(ctx, 'Log', [one(ctx, 'Add', [ctx.input(0), scalar(ctx, ctx.type(0).dtype, 1)])]));

/** atan(y/x), shifted by ±pi where x < 0, and ±pi/2 (or 0) where x == 0. */
const atan2: Handler = (ctx) => {
  const [y, x] = [ctx.input(0), ctx.input(1)];
  const dtype = ctx.type(0).dtype;
  const zero = scalar(ctx, dtype, 0);
  const q = one(ctx, 'Atan', [one(ctx, 'Div', [y, x])]);
  const shift = one(ctx, 'Where', [one(ctx, 'Less', [y, zero]), scalar(ctx, dtype, -Math.PI), scalar(ctx, dtype, Math.PI)]);
  const left = one(ctx, 'Where', [one(ctx, 'Less', [x, zero]), one(ctx, 'Add', [q, shift]), q]);
  const vertical = one(ctx, 'Mul', [one(ctx, 'Sign', [y]), scalar(ctx, dtype, Math.PI / 2)]);
  ctx.output(0, one(ctx, 'Where', [one(ctx, 'Equal', [x, zero]), vertical, left]));
};

/**
 * Select picks whole rows when its condition is a vector and the values are not: the condition
 * becomes [n, 1, ..., 1]. SelectV2 broadcasts like ONNX Where.
 */
const select: Handler = (ctx) => {
  let cond = ctx.input(0);
  const [a, b] = [ctx.input(1), ctx.input(2)];
  const condRank = ctx.type(0).shape?.length;
  const valueRank = ctx.type(1).shape?.length;
  if (condRank === 1 && valueRank !== undefined) {
    if (valueRank > 1) cond = one(ctx, 'Reshape', [cond, ctx.int64s([-1, ...new Array<number>(valueRank - 1).fill(1)])]);
  } else if (condRank === undefined || valueRank === undefined) {
    // Ranks unknown: reshape the condition to its own shape followed by ones up to the values' rank.
    const rankOf = (t: string) => one(ctx, 'Shape', [one(ctx, 'Shape', [t])]);
    const ones = one(ctx, 'ConstantOfShape', [one(ctx, 'Sub', [rankOf(a), rankOf(cond)])], { value: { t: tensor('int64', [1], [1]) } });
    cond = one(ctx, 'Reshape', [cond, one(ctx, 'Concat', [one(ctx, 'Shape', [cond]), ones], { axis: { i: 0 } })]);
  }
  ctx.output(0, one(ctx, 'Where', [cond, a, b]));
};

const selectV2: Handler = (ctx) => ctx.output(0, one(ctx, 'Where', [ctx.input(0), ctx.input(1), ctx.input(2)]));

const castOp: Handler = (ctx) => {
  const to = ctx.attrs.type('DstT');
  ctx.output(0, ctx.type(0).dtype === to ? ctx.input(0) : cast(ctx, ctx.input(0), to));
};

/** min(max(x, lo), hi); min and max may be tensors that broadcast, so no ONNX Clip. */
const clipByValue: Handler = (ctx) => {
  ctx.output(0, one(ctx, 'Min', [one(ctx, 'Max', [ctx.input(0), ctx.input(1)]), ctx.input(2)]));
};

/** Arithmetic, comparison, logical and unary math ops, by TensorFlow op type. */
export const elementwiseHandlers: HandlerTable = {
  Add: binary('Add'),
  AddV2: binary('Add'),
  Sub: binary('Sub'),
  Mul: binary('Mul'),
  RealDiv: divide,
  Div: divide,
  DivNoNan: divNoNan,
  FloorDiv: (ctx) => ctx.output(0, floorDiv(ctx, ctx.input(0), ctx.input(1))),
  FloorMod: floorMod,
  Maximum: binary('Max'),
  Minimum: binary('Min'),
  Pow: binary('Pow'),
  SquaredDifference: squaredDifference,
  AddN: addN,
  Atan2: atan2,
  Neg: unary('Neg'),
  Abs: unary('Abs'),
  Sqrt: unary('Sqrt'),
  Rsqrt: rsqrt,
  Square: square,
  Exp: unary('Exp'),
  Log: unary('Log'),
  Log1p: log1p,
  Floor: unary('Floor'),
  Ceil: unary('Ceil'),
  Round: unary('Round'),
  Reciprocal: unary('Reciprocal'),
  Sign: unary('Sign'),
  Sin: unary('Sin'),
  Cos: unary('Cos'),
  Tan: unary('Tan'),
  Asin: unary('Asin'),
  Acos: unary('Acos'),
  Atan: unary('Atan'),
  Less: binary('Less'),
  LessEqual: binary('LessOrEqual'),
  Greater: binary('Greater'),
  GreaterEqual: binary('GreaterOrEqual'),
  Equal: binary('Equal'),
  NotEqual: negated('Equal'),
  LogicalAnd: binary('And'),
  LogicalOr: binary('Or'),
  LogicalNot: unary('Not'),
  Select: select,
  SelectV2: selectV2,
  Cast: castOp,
  ClipByValue: clipByValue,
};
