import { channelsFirst, rankOf } from './nn-util';
import type { HandlerContext, HandlerTable } from './registry';

/**
 * FusedBatchNorm (V1-V3) in inference mode: ONNX BatchNormalization on channels-first data.
 * Only output 0 (y) is bound; the batch statistics outputs exist for training.
 */
function fusedBatchNorm(ctx: HandlerContext): void {
  if (ctx.attrs.bool('is_training', false)) ctx.fail('training-mode batch norm (is_training true) computes batch statistics; export the model for inference');
  const first = channelsFirst(ctx);
  const rank = rankOf(ctx, 0, 4);
  const x = first ? ctx.input(0) : ctx.toNchw(ctx.input(0), rank);
  const params = [1, 2, 3, 4].map((k) => ctx.input(k));
  const y = ctx.emit('BatchNormalization', [x, ...params], { epsilon: { f: ctx.attrs.float('epsilon', 0.0001) } })[0]!;
  ctx.output(0, first ? y : ctx.toNhwc(y, rank));
}

/**
 * LRN over the last axis. TensorFlow sums `depth_radius` channels each side and scales the sum
 * by `alpha`; ONNX's window is `size` = 2 * depth_radius + 1 and it scales by `alpha / size`.
 */
function lrn(ctx: HandlerContext): void {
  const size = 2 * ctx.attrs.int('depth_radius', 5) + 1;
  const y = ctx.emit('LRN', [ctx.toNchw(ctx.input(0))], {
    size: { i: size },
    alpha: { f: ctx.attrs.float('alpha', 1) * size },
    beta: { f: ctx.attrs.float('beta', 0.5) },
    bias: { f: ctx.attrs.float('bias', 1) },
  })[0]!;
  ctx.output(0, ctx.toNhwc(y));
}

/** Batch and local response normalisation. */
export const normalizationHandlers: HandlerTable = {
  FusedBatchNorm: fusedBatchNorm,
  FusedBatchNormV2: fusedBatchNorm,
  FusedBatchNormV3: fusedBatchNorm,
  LRN: lrn,
};
