import { toNumbers, type Attr } from '../../onnx/graph';
import { activate, channelsFirst, fusedOps, isKnown, padAttrs, permuted, spatial, tfPads, transposeTensor, type FusedOps, type Window } from './nn-util';
import type { HandlerContext, HandlerTable } from './registry';

/** Input `i` in the channels-first layout ONNX ops need. */
function toOnnxLayout(ctx: HandlerContext, x: string, first: boolean): string {
  return first ? x : ctx.toNchw(x);
}

/** An ONNX result brought back to the op's layout. */
function outputFromOnnx(ctx: HandlerContext, y: string, first: boolean): string {
  return first ? y : ctx.toNhwc(y);
}

function windowOf(ctx: HandlerContext, kernel: number[], first: boolean): Window {
  const n = kernel.length;
  return {
    kernel,
    strides: spatial(ctx.attrs.ints('strides', Array(n + 2).fill(1)), first),
    dilations: spatial(ctx.attrs.ints('dilations', Array(n + 2).fill(1)), first),
  };
}

const windowAttrs = (w: Window): Record<string, Attr> => ({
  kernel_shape: { ints: w.kernel },
  strides: { ints: w.strides },
  dilations: { ints: w.dilations },
});

/** The filter's static shape [H, W, I, O] (depthwise: [H, W, C, M]). */
function filterShape(ctx: HandlerContext): number[] {
  const dims = ctx.constant(1)?.dims ?? ctx.type(1).shape;
  if (!dims || dims.length !== 4 || !dims.every(isKnown)) return ctx.fail('the filter must be 4-D with a known shape');
  return dims as number[];
}

/** Depthwise filter [H, W, C, M] -> ONNX grouped weights [C*M, 1, H, W] (group C). */
function depthwiseWeights(ctx: HandlerContext, [h, w, c, m]: number[]): string {
  const dims = [c * m, 1, h, w];
  const value = ctx.constant(1);
  if (value) return ctx.constTensor({ ...transposeTensor(value, [2, 3, 0, 1]), dims }, 'weights');
  const t = permuted(ctx, 1, [2, 3, 0, 1], 'weights');
  return ctx.emit('Reshape', [t, ctx.int64s(dims)])[0]!;
}

/** Conv2D and DepthwiseConv2dNative, plain or fused (bias, batch norm, activation). */
function conv(depthwise: boolean, fused: boolean) {
  return (ctx: HandlerContext): void => {
    const first = channelsFirst(ctx);
    const shape = filterShape(ctx);
    const [kh, kw, ci] = shape as [number, number, number, number];
    const window = windowOf(ctx, [kh, kw], first);
    const xShape = ctx.type(0).shape;
    let group = ci;
    let weights: string;
    if (depthwise) weights = depthwiseWeights(ctx, shape);
    else {
      weights = permuted(ctx, 1, [3, 2, 0, 1], 'weights');
      const channels = xShape?.[first ? 1 : 3];
      group = isKnown(channels) ? channels / ci : 1;
      if (!Number.isInteger(group)) ctx.fail(`input channels ${channels} are not a multiple of the filter's ${ci}`);
    }
    const post: FusedOps = fused ? fusedOps(ctx, 2) : { activationArgs: {} };
    const inputs = [toOnnxLayout(ctx, ctx.input(0), first), weights, ...(post.bias ? [post.bias] : [])];
    let y = ctx.emit('Conv', inputs, { ...windowAttrs(window), group: { i: group }, ...padAttrs(ctx, xShape, first, window) })[0]!;
    const bn = post.batchNorm;
    if (bn) {
      y = ctx.emit('BatchNormalization', [y, bn.scale, bn.offset, bn.mean, bn.variance], { epsilon: { f: bn.epsilon } })[0]!;
    }
    y = outputFromOnnx(ctx, y, first);
    if (post.activation) y = activate(ctx, post.activation, y, post.activationArgs);
    ctx.output(0, y);
  };
}

/**
 * Conv2DBackpropInput (a transposed convolution): inputs output size, filter [H, W, out, in],
 * gradient. The pads are those of the forward convolution that maps the output size to the
 * gradient's size; `output_padding` restores rows that forward convolution left unread.
 */
function convBackpropInput(ctx: HandlerContext): void {
  const first = channelsFirst(ctx);
  const [kh, kw] = filterShape(ctx);
  const window = windowOf(ctx, [kh!, kw!], first);
  const sizes = backpropSizes(ctx, first, window);
  const pads = tfPads(ctx, sizes, first, window)!;
  const outputPadding = sizes.map((n, k) => {
    const dk = (window.kernel[k]! - 1) * window.dilations[k]! + 1;
    const s = window.strides[k]!;
    const grad = Math.floor((n + pads[k]! + pads[k + 2]! - dk) / s) + 1;
    return n - (s * (grad - 1) + dk - pads[k]! - pads[k + 2]!);
  });
  const weights = permuted(ctx, 1, [3, 2, 0, 1], 'weights');
  const y = ctx.emit('ConvTranspose', [toOnnxLayout(ctx, ctx.input(2), first), weights], {
    ...windowAttrs(window),
    pads: { ints: pads },
    output_padding: { ints: outputPadding },
  })[0]!;
  ctx.output(0, outputFromOnnx(ctx, y, first));
}

/**
 * The output size of a transposed convolution: `input_sizes` when constant; otherwise (a batch
 * size known only at run time) what Keras computes from the gradient's static size: `g * s`
 * for SAME, `(g - 1) * s + dilated kernel` for VALID.
 */
function backpropSizes(ctx: HandlerContext, first: boolean, window: Window): number[] {
  const given = ctx.constant(0);
  if (given) return spatial(toNumbers(given), first);
  const shape = ctx.type(2).shape;
  const grad = shape && spatial(shape as number[], first);
  if (!grad || grad.some((d) => typeof d !== 'number' || d < 0)) ctx.fail('input_sizes is computed at run time and the gradient\'s spatial size is unknown');
  const padding = ctx.attrs.str('padding');
  if (padding !== 'SAME' && padding !== 'VALID') ctx.fail(`input_sizes is computed at run time and padding ${padding} leaves the output size open`);
  return grad.map((g, k) => (padding === 'SAME' ? g * window.strides[k]! : (g - 1) * window.strides[k]! + (window.kernel[k]! - 1) * window.dilations[k]! + 1));
}

/** MaxPool and AvgPool (TF's SAME average excludes the padding from the count). */
function pool(op: 'MaxPool' | 'AveragePool', ksize: (ctx: HandlerContext) => number[], strides: (ctx: HandlerContext) => number[]) {
  return (ctx: HandlerContext): void => {
    const first = channelsFirst(ctx);
    const k = ksize(ctx);
    const s = strides(ctx);
    if (k.length !== 4 || s.length !== 4) ctx.fail(`ksize [${k}] and strides [${s}] must have 4 entries`);
    if (k[0] !== 1 || s[0] !== 1 || (first ? k[1] : k[3]) !== 1) ctx.fail(`pooling over the batch or channel axis (ksize [${k}]) is not supported`);
    const window: Window = { kernel: spatial(k, first), strides: spatial(s, first), dilations: [1, 1] };
    const attrs: Record<string, Attr> = { kernel_shape: { ints: window.kernel }, strides: { ints: window.strides }, ...padAttrs(ctx, ctx.type(0).shape, first, window) };
    if (op === 'AveragePool') attrs.count_include_pad = { i: 0 };
    const y = ctx.emit(op, [toOnnxLayout(ctx, ctx.input(0), first)], attrs)[0]!;
    ctx.output(0, outputFromOnnx(ctx, y, first));
  };
}

const attrList = (name: string) => (ctx: HandlerContext) => ctx.attrs.ints(name);
const constList = (i: number, what: string) => (ctx: HandlerContext) => toNumbers(ctx.requireConstant(i, what));

/** DepthToSpace (TensorFlow's order is ONNX's DCR) and SpaceToDepth. */
function blocks(op: 'DepthToSpace' | 'SpaceToDepth') {
  return (ctx: HandlerContext): void => {
    const first = channelsFirst(ctx);
    const attrs: Record<string, Attr> = { blocksize: { i: ctx.attrs.int('block_size') } };
    if (op === 'DepthToSpace') attrs.mode = { s: 'DCR' };
    const y = ctx.emit(op, [toOnnxLayout(ctx, ctx.input(0), first)], attrs)[0]!;
    ctx.output(0, outputFromOnnx(ctx, y, first));
  };
}

/** Block sizes, begin/end amounts and the input's static dims after the batch, for the ND space/batch ops. */
function spaceBatchParams(ctx: HandlerContext, amounts: string) {
  const block = toNumbers(ctx.requireConstant(1, 'block_shape'));
  const pairs = toNumbers(ctx.requireConstant(2, amounts));
  const shape = ctx.type(0).shape;
  const dims = shape?.slice(1);
  if (!dims || !dims.every(isKnown)) return ctx.fail('every input dimension but the batch must be known');
  const m = block.length;
  return { block, begin: block.map((_, k) => pairs[2 * k]!), end: block.map((_, k) => pairs[2 * k + 1]!), spatial: dims.slice(0, m) as number[], rest: dims.slice(m) as number[] };
}

const range = (from: number, n: number) => Array.from({ length: n }, (_, k) => from + k);

/** SpaceToBatchND as Pad, Reshape (split each spatial axis), Transpose (blocks first), Reshape. */
function spaceToBatch(ctx: HandlerContext): void {
  const { block, begin, end, spatial: sizes, rest } = spaceBatchParams(ctx, 'paddings');
  const m = block.length;
  let x = ctx.input(0);
  if ([...begin, ...end].some((p) => p !== 0)) {
    const zeros = rest.map(() => 0);
    x = ctx.emit('Pad', [x, ctx.int64s([0, ...begin, ...zeros, 0, ...end, ...zeros])])[0]!;
  }
  const padded = sizes.map((s, k) => s + begin[k]! + end[k]!);
  if (padded.some((p, k) => p % block[k]! !== 0)) ctx.fail(`padded sizes [${padded}] are not multiples of block_shape [${block}]`);
  const split = padded.flatMap((p, k) => [p / block[k]!, block[k]!]);
  x = ctx.emit('Reshape', [x, ctx.int64s([-1, ...split, ...rest])])[0]!;
  const perm = [...range(0, m).map((k) => 2 + 2 * k), 0, ...range(0, m).map((k) => 1 + 2 * k), ...range(1 + 2 * m, rest.length)];
  x = ctx.emit('Transpose', [x], { perm: { ints: perm } })[0]!;
  ctx.output(0, ctx.emit('Reshape', [x, ctx.int64s([-1, ...padded.map((p, k) => p / block[k]!), ...rest])])[0]!);
}

/** BatchToSpaceND as Reshape (blocks out of the batch), Transpose (interleave), Reshape, Slice (crops). */
function batchToSpace(ctx: HandlerContext): void {
  const { block, begin, end, spatial: sizes, rest } = spaceBatchParams(ctx, 'crops');
  const m = block.length;
  let x = ctx.emit('Reshape', [ctx.input(0), ctx.int64s([...block, -1, ...sizes, ...rest])])[0]!;
  const perm = [m, ...range(0, m).flatMap((k) => [m + 1 + k, k]), ...range(2 * m + 1, rest.length)];
  x = ctx.emit('Transpose', [x], { perm: { ints: perm } })[0]!;
  const full = sizes.map((s, k) => s * block[k]!);
  x = ctx.emit('Reshape', [x, ctx.int64s([-1, ...full, ...rest])])[0]!;
  if ([...begin, ...end].some((c) => c !== 0)) {
    const ends = full.map((f, k) => f - end[k]!);
    x = ctx.emit('Slice', [x, ctx.int64s(begin, 'starts'), ctx.int64s(ends, 'ends'), ctx.int64s(range(1, m), 'axes')])[0]!;
  }
  ctx.output(0, x);
}

/** Convolutions, pooling and the block rearrangements, in TensorFlow's layout. */
export const convHandlers: HandlerTable = {
  Conv2D: conv(false, false),
  _FusedConv2D: conv(false, true),
  DepthwiseConv2dNative: conv(true, false),
  FusedDepthwiseConv2dNative: conv(true, true),
  Conv2DBackpropInput: convBackpropInput,
  MaxPool: pool('MaxPool', attrList('ksize'), attrList('strides')),
  MaxPoolV2: pool('MaxPool', constList(1, 'ksize'), constList(2, 'strides')),
  AvgPool: pool('AveragePool', attrList('ksize'), attrList('strides')),
  DepthToSpace: blocks('DepthToSpace'),
  SpaceToDepth: blocks('SpaceToDepth'),
  SpaceToBatchND: spaceToBatch,
  BatchToSpaceND: batchToSpace,
};
