import { onnxElemType, toNumbers, type Attr, type DType } from '../../onnx/graph';
import type { Handler, HandlerContext, HandlerTable } from './registry';

function one(ctx: HandlerContext, op: string, inputs: string[], attrs?: Record<string, Attr>): string {
  return ctx.emit(op, inputs, attrs)[0]!;
}

function cast(ctx: HandlerContext, x: string, to: DType): string {
  return one(ctx, 'Cast', [x], { to: { i: onnxElemType(to) } });
}

/** A scalar TF input as the one-element vector ONNX NonMaxSuppression and TopK take. */
function vector(ctx: HandlerContext, i: number, to?: DType): string {
  const x = to && ctx.type(i).dtype !== to ? cast(ctx, ctx.input(i), to) : ctx.input(i);
  return one(ctx, 'Reshape', [x, ctx.int64s([1])]);
}

/** Pads a vector with zeros up to `length` (a one-element int64 vector). */
function padTo(ctx: HandlerContext, x: string, length: string): string {
  const missing = one(ctx, 'Sub', [length, one(ctx, 'Shape', [x])]);
  return one(ctx, 'Pad', [x, one(ctx, 'Concat', [ctx.int64s([0]), missing], { axis: { i: 0 } })]);
}

/**
 * NonMaxSuppressionV2..V5 on one class: boxes [n, 4] (y1, x1, y2, x2) become ONNX's batched
 * [1, n, 4], scores [1, 1, n]; the box index is column 2 of ONNX's [k, 3] result. V4 and V5 pad
 * with zeros to max_output_size when pad_to_max_output_size is set, and report the valid count.
 */
const nonMaxSuppression = (version: 2 | 3 | 4 | 5): Handler => (ctx) => {
  if (version === 5 && toNumbers(ctx.requireConstant(5, 'soft_nms_sigma'))[0] !== 0) {
    ctx.fail('soft NMS (soft_nms_sigma other than 0) is not supported');
  }
  const boxes = one(ctx, 'Unsqueeze', [ctx.input(0), ctx.int64s([0])]);
  const scores = one(ctx, 'Unsqueeze', [ctx.input(1), ctx.int64s([0, 1])]);
  const max = vector(ctx, 2, 'int64');
  const thresholds = version === 2 ? [vector(ctx, 3)] : [vector(ctx, 3), vector(ctx, 4)];
  const selected = one(ctx, 'NonMaxSuppression', [boxes, scores, max, ...thresholds], { center_point_box: { i: 0 } });
  const picked = one(ctx, 'Gather', [selected, ctx.int64s([2], 'column')], { axis: { i: 1 } });
  const index64 = one(ctx, 'Reshape', [picked, ctx.int64s([-1])]);
  const pad = version >= 4 && ctx.attrs.bool('pad_to_max_output_size', false);
  const indices = cast(ctx, index64, 'int32');
  ctx.output(0, pad ? padTo(ctx, indices, max) : indices);
  if (version < 4) return;
  const valid = cast(ctx, one(ctx, 'Size', [index64]), 'int32');
  if (version === 4) return ctx.output(1, valid);
  const kept = one(ctx, 'Gather', [ctx.input(1), index64]);
  ctx.output(1, pad ? padTo(ctx, kept, max) : kept);
  ctx.output(2, valid);
};

/** TopKV2 along the last axis: values and indices (TF's index_type, int32 by default). */
const topK: Handler = (ctx) => {
  const [values, indices] = ctx.emit('TopK', [ctx.input(0), vector(ctx, 1, 'int64')], { axis: { i: -1 }, largest: { i: 1 }, sorted: { i: 1 } }, 2);
  const type = ctx.attrs.type('index_type', 'int32');
  ctx.output(0, values!);
  ctx.output(1, type === 'int64' ? indices! : cast(ctx, indices!, type));
};

/** Detection post-processing ops, by TensorFlow op type. */
export const detectionHandlers: HandlerTable = {
  NonMaxSuppressionV2: nonMaxSuppression(2),
  NonMaxSuppressionV3: nonMaxSuppression(3),
  NonMaxSuppressionV4: nonMaxSuppression(4),
  NonMaxSuppressionV5: nonMaxSuppression(5),
  TopKV2: topK,
};
