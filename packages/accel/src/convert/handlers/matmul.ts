import { activate, channelsFirst, fusedOps, rankOf, swapLastTwo, type FusedOps } from './nn-util';
import type { HandlerContext, HandlerTable } from './registry';

const GEMM_TYPES = new Set(['float32', 'float64', 'float16']);

/** MatMul and _FusedMatMul (BiasAdd, activation): a Gemm for floats, else MatMul + Add. */
function matmul(fused: boolean) {
  return (ctx: HandlerContext): void => {
    const ta = ctx.attrs.bool('transpose_a', false);
    const tb = ctx.attrs.bool('transpose_b', false);
    const post: FusedOps = fused ? fusedOps(ctx, 2) : { activationArgs: {} };
    if (post.batchNorm) ctx.fail('FusedBatchNorm after a MatMul is not supported');
    let y: string;
    if (GEMM_TYPES.has(ctx.type(0).dtype)) {
      const inputs = [ctx.input(0), ctx.input(1), ...(post.bias ? [post.bias] : [])];
      y = ctx.emit('Gemm', inputs, { transA: { i: ta ? 1 : 0 }, transB: { i: tb ? 1 : 0 } })[0]!;
    } else {
      const a = ta ? swapLastTwo(ctx, 0) : ctx.input(0);
      const b = tb ? swapLastTwo(ctx, 1) : ctx.input(1);
      y = ctx.emit('MatMul', [a, b])[0]!;
      if (post.bias) y = ctx.emit('Add', [y, post.bias])[0]!;
    }
    if (post.activation) y = activate(ctx, post.activation, y, post.activationArgs);
    ctx.output(0, y);
  };
}

/** BatchMatMul (V1, V2: broadcasting batch dims, which ONNX MatMul does too) with adj_x / adj_y. */
function batchMatmul(ctx: HandlerContext): void {
  const a = ctx.attrs.bool('adj_x', false) ? swapLastTwo(ctx, 0) : ctx.input(0);
  const b = ctx.attrs.bool('adj_y', false) ? swapLastTwo(ctx, 1) : ctx.input(1);
  ctx.output(0, ctx.emit('MatMul', [a, b])[0]!);
}

/** BiasAdd: the bias runs along the last axis (NHWC) or axis 1 (NCHW: reshaped to [C, 1, ...]). */
function biasAdd(ctx: HandlerContext): void {
  let bias = ctx.input(1);
  if (channelsFirst(ctx)) {
    const rank = rankOf(ctx, 0, -1);
    if (rank < 0) ctx.fail('NCHW BiasAdd needs the rank of its input');
    const value = ctx.constant(1);
    const dims = [value?.dims[0] ?? -1, ...Array(rank - 2).fill(1)];
    bias = value ? ctx.constTensor({ ...value, dims }, 'bias') : ctx.emit('Reshape', [bias, ctx.int64s(dims)])[0]!;
  }
  ctx.output(0, ctx.emit('Add', [ctx.input(0), bias])[0]!);
}

/** Einsum: ONNX takes TensorFlow's equations as they are. */
function einsum(ctx: HandlerContext): void {
  const inputs = Array.from({ length: ctx.inputCount }, (_, k) => ctx.input(k));
  ctx.output(0, ctx.emit('Einsum', inputs, { equation: { s: ctx.attrs.str('equation') } })[0]!);
}

/** Matrix products and bias additions. */
export const matmulHandlers: HandlerTable = {
  MatMul: matmul(false),
  _FusedMatMul: matmul(true),
  BatchMatMul: batchMatmul,
  BatchMatMulV2: batchMatmul,
  BiasAdd: biasAdd,
  BiasAddV1: biasAdd,
  Einsum: einsum,
};
