import { onnxElemType, toNumbers, type Attr } from '../../onnx/graph';
import { isKnown } from './nn-util';
import type { HandlerContext, HandlerTable } from './registry';

/** The ONNX Resize `sizes` input, [N, C, new_height, new_width], for an NHWC input. */
function sizes(ctx: HandlerContext): string {
  const size = ctx.constant(1);
  const shape = ctx.type(0).shape;
  const [n, c] = [shape?.[0], shape?.[3]];
  if (size && isKnown(n) && isKnown(c)) return ctx.int64s([n, c, ...toNumbers(size)], 'sizes');
  const nc = ctx.emit('Gather', [ctx.emit('Shape', [ctx.input(0)])[0]!, ctx.int64s([0, 3], 'nc')])[0]!;
  const hw = size ? ctx.int64s(toNumbers(size), 'hw') : ctx.emit('Cast', [ctx.input(1)], { to: { i: onnxElemType('int64') } })[0]!;
  return ctx.emit('Concat', [nc, hw], { axis: { i: 0 } })[0]!;
}

/** TensorFlow's sampling grid as ONNX coordinate_transformation_mode. */
function coordinateMode(ctx: HandlerContext): 'align_corners' | 'half_pixel' | 'asymmetric' {
  const alignCorners = ctx.attrs.bool('align_corners', false);
  const halfPixel = ctx.attrs.bool('half_pixel_centers', false);
  if (alignCorners && halfPixel) ctx.fail('align_corners and half_pixel_centers cannot both be true');
  return alignCorners ? 'align_corners' : halfPixel ? 'half_pixel' : 'asymmetric';
}

/**
 * ResizeBilinear (always float output) and ResizeNearestNeighbor: inputs NHWC images and the
 * new (height, width). TensorFlow's nearest neighbour floors the legacy grid and rounds half
 * up (`round_prefer_ceil`) on the align_corners and half-pixel grids.
 */
function resize(mode: 'linear' | 'nearest') {
  return (ctx: HandlerContext): void => {
    const coordinates = coordinateMode(ctx);
    let x = ctx.input(0);
    if (mode === 'linear' && ctx.type(0).dtype !== 'float32') x = ctx.emit('Cast', [x], { to: { i: onnxElemType('float32') } })[0]!;
    const attrs: Record<string, Attr> = { mode: { s: mode }, coordinate_transformation_mode: { s: coordinates } };
    if (mode === 'nearest') attrs.nearest_mode = { s: coordinates === 'asymmetric' ? 'floor' : 'round_prefer_ceil' };
    const y = ctx.emit('Resize', [ctx.toNchw(x), '', '', sizes(ctx)], attrs)[0]!;
    ctx.output(0, ctx.toNhwc(y));
  };
}

/** Image resizing (CropAndResize is not supported). */
export const resizeHandlers: HandlerTable = {
  ResizeBilinear: resize('linear'),
  ResizeNearestNeighbor: resize('nearest'),
};
