import { tensor, zeros, type Attr, type Dim, type DType, type Tensor } from '../../onnx/graph';
import type { HandlerContext } from './registry';

/** Where a TensorFlow op keeps its channels: last (`NHWC`, `NDHWC`, `NWC`) or second (`NCHW`...). */
export function channelsFirst(ctx: HandlerContext): boolean {
  return ctx.attrs.str('data_format', 'NHWC').startsWith('NC');
}

/** The spatial entries of a per-dimension list (strides, ksize, dilations) in the op's layout. */
export function spatial<T>(values: T[], first: boolean): T[] {
  return first ? values.slice(2) : values.slice(1, -1);
}

/** The spatial dims of a shape in the op's layout (null when the rank is unknown). */
function spatialDims(shape: Dim[] | null, first: boolean): Dim[] | null {
  return shape === null ? null : spatial(shape, first);
}

/** A dim known to be a non-negative number. */
export const isKnown = (d: Dim | undefined): d is number => typeof d === 'number' && d >= 0;

/** TensorFlow SAME padding of one axis: [begin, end], the odd pixel at the end. */
function samePads(input: number, kernel: number, stride: number, dilation: number): [number, number] {
  const out = Math.ceil(input / stride);
  const total = Math.max((out - 1) * stride + (kernel - 1) * dilation + 1 - input, 0);
  return [Math.floor(total / 2), total - Math.floor(total / 2)];
}

/** A sliding window's spatial parameters, one entry per spatial axis. */
export interface Window {
  kernel: number[];
  strides: number[];
  dilations: number[];
}

/**
 * Explicit ONNX `pads` ([begins..., ends...]) for the op's `padding` attribute over spatial
 * `sizes`: VALID, SAME (TensorFlow's: the odd pixel at the end) or EXPLICIT
 * (`explicit_paddings`, begin/end pairs per dimension in the op's layout). Null for SAME when
 * a size is unknown.
 */
export function tfPads(ctx: HandlerContext, sizes: Dim[] | null, first: boolean, w: Window): number[] | null {
  const padding = ctx.attrs.str('padding', 'VALID');
  const n = w.kernel.length;
  if (padding === 'VALID') return Array(2 * n).fill(0);
  if (padding === 'EXPLICIT') {
    const pairs = ctx.attrs.ints('explicit_paddings', []);
    if (pairs.length !== 2 * (n + 2)) ctx.fail(`explicit_paddings has ${pairs.length} values, expected ${2 * (n + 2)}`);
    const perAxis = spatial(Array.from({ length: n + 2 }, (_, k) => [pairs[2 * k]!, pairs[2 * k + 1]!]), first);
    return [...perAxis.map((p) => p[0]!), ...perAxis.map((p) => p[1]!)];
  }
  if (padding !== 'SAME') ctx.fail(`padding "${padding}" is not supported (expected SAME, VALID or EXPLICIT)`);
  if (!sizes || !sizes.every(isKnown)) return null;
  const pads = sizes.map((s, k) => samePads(s as number, w.kernel[k]!, w.strides[k]!, w.dilations[k]!));
  return [...pads.map((p) => p[0]), ...pads.map((p) => p[1])];
}

/** ONNX padding attributes for an input of `shape`: explicit `pads`, else `auto_pad` SAME_UPPER. */
export function padAttrs(ctx: HandlerContext, shape: Dim[] | null, first: boolean, w: Window): Record<string, Attr> {
  const pads = tfPads(ctx, spatialDims(shape, first), first, w);
  return pads ? { pads: { ints: pads } } : { auto_pad: { s: 'SAME_UPPER' } };
}

/** Transposes a constant in JS (weights: TF HWIO -> ONNX OIHW without a node). */
export function transposeTensor(t: Tensor, perm: number[]): Tensor {
  if (Array.isArray(t.data)) throw new Error('cannot transpose a string constant');
  const dims = perm.map((p) => t.dims[p]!);
  const out = zeros(t.dtype as Exclude<DType, 'string'>, dims);
  const src = t.data as unknown as ArrayLike<number>;
  const dst = out.data as unknown as number[];
  const rank = t.dims.length;
  const srcStrides = Array<number>(rank).fill(1);
  for (let k = rank - 2; k >= 0; k--) srcStrides[k] = srcStrides[k + 1]! * t.dims[k + 1]!;
  const stepOf = perm.map((p) => srcStrides[p]!);
  const index = Array<number>(rank).fill(0);
  for (let k = 0, from = 0; k < dst.length; k++) {
    dst[k] = src[from]!;
    for (let a = rank - 1; a >= 0; a--) {
      index[a]!++;
      from += stepOf[a]!;
      if (index[a]! < dims[a]!) break;
      from -= stepOf[a]! * dims[a]!;
      index[a] = 0;
    }
  }
  return out;
}

/** Input `i` transposed by `perm`: in JS when constant, else a Transpose node. */
export function permuted(ctx: HandlerContext, i: number, perm: number[], suffix: string): string {
  const value = ctx.constant(i);
  if (value) return ctx.constTensor(transposeTensor(value, perm), suffix);
  return ctx.emit('Transpose', [ctx.input(i)], { perm: { ints: perm } })[0]!;
}

/** Swaps the two last axes of input `i` (MatMul adjoints); needs its rank. */
export function swapLastTwo(ctx: HandlerContext, i: number): string {
  const shape = ctx.type(i).shape ?? ctx.constant(i)?.dims;
  if (!shape) return ctx.fail(`the rank of input ${i} must be known to transpose it`);
  const perm = shape.map((_, k) => k);
  perm.splice(-2, 2, shape.length - 1, shape.length - 2);
  return permuted(ctx, i, perm, 'transposed');
}

/** A scalar constant of the given element type. */
export function scalar(ctx: HandlerContext, dtype: DType, value: number): string {
  if (dtype === 'string' || dtype === 'float16') return ctx.fail(`element type ${dtype} is not supported here`);
  return ctx.constTensor(tensor(dtype, [], [value]), 'scalar');
}

/** Extra inputs an activation reads: LeakyRelu's alpha, Prelu's slope tensor. */
export interface ActivationArgs {
  alpha?: number;
  slope?: string;
}

type Emitter = (ctx: HandlerContext, x: string, args: ActivationArgs) => string;

const one = (op: string, attrs: (a: ActivationArgs) => Record<string, Attr> = () => ({})): Emitter => (ctx, x, a) => ctx.emit(op, [x], attrs(a))[0]!;

/** TensorFlow activations by op name, as ONNX nodes (shared by the standalone and fused ops). */
const ACTIVATIONS: Record<string, Emitter> = {
  Relu: one('Relu'),
  Relu6: (ctx, x) => {
    const dtype = ctx.typeOf(x).dtype;
    return ctx.emit('Clip', [x, scalar(ctx, dtype, 0), scalar(ctx, dtype, 6)])[0]!;
  },
  Elu: one('Elu', () => ({ alpha: { f: 1 } })),
  // TensorFlow's constants, which differ from ONNX's defaults in the last digits.
  Selu: one('Selu', () => ({ alpha: { f: 1.6732632423543772 }, gamma: { f: 1.0507009873554805 } })),
  LeakyRelu: one('LeakyRelu', (a) => ({ alpha: { f: a.alpha ?? 0.2 } })),
  Sigmoid: one('Sigmoid'),
  Tanh: one('Tanh'),
  Prelu: (ctx, x, a) => ctx.emit('PRelu', [x, a.slope ?? ctx.fail('Prelu needs its alpha tensor')])[0]!,
};

/** Emits the activation `op` on `x`; fails for activations that have no ONNX mapping. */
export function activate(ctx: HandlerContext, op: string, x: string, args: ActivationArgs = {}): string {
  const emit = ACTIVATIONS[op];
  if (!emit) return ctx.fail(`activation "${op}" is not supported`);
  return emit(ctx, x, args);
}

/** What a fused op applies after its convolution or product, as ONNX tensor names. */
export interface FusedOps {
  bias?: string;
  batchNorm?: { scale: string; offset: string; mean: string; variance: string; epsilon: number };
  activation?: string;
  activationArgs: ActivationArgs;
}

/**
 * Reads the post-ops of a fused TensorFlow op (`_FusedConv2D`, `_FusedMatMul`...): `fused_ops`
 * with their extra inputs, which follow the `first` regular inputs in order (bias; BatchNorm
 * scale, offset, mean, variance; Prelu alpha).
 */
export function fusedOps(ctx: HandlerContext, first: number): FusedOps {
  const ops = ctx.attrs.strs('fused_ops', []);
  const numArgs = ctx.attrs.int('num_args', ctx.inputCount - first);
  let next = first;
  const arg = (what: string): string => {
    if (next >= first + numArgs || next >= ctx.inputCount) return ctx.fail(`fused op ${what} has no input (num_args ${numArgs})`);
    return ctx.input(next++);
  };
  const out: FusedOps = { activationArgs: {} };
  for (const op of ops) {
    if (op === 'BiasAdd') out.bias = arg('BiasAdd');
    else if (op === 'FusedBatchNorm') {
      out.batchNorm = { scale: arg(op), offset: arg(op), mean: arg(op), variance: arg(op), epsilon: ctx.attrs.float('epsilon', 0.0001) };
    } else if (op in ACTIVATIONS) {
      if (out.activation) ctx.fail(`fused_ops [${ops.join(', ')}] has two activations`);
      out.activation = op;
      if (op === 'Prelu') out.activationArgs.slope = arg(op);
      if (op === 'LeakyRelu') out.activationArgs.alpha = ctx.attrs.float('leakyrelu_alpha', 0.2);
    } else ctx.fail(`fused op "${op}" is not supported (fused_ops [${ops.join(', ')}])`);
  }
  return out;
}

/** The rank of input `i`, or `fallback` when unknown. */
export function rankOf(ctx: HandlerContext, i: number, fallback: number): number {
  return ctx.type(i).shape?.length ?? fallback;
}
