import { tfAttr } from '../../tf/attrs';
import { attrs, type KTensor, type LayerCall, type LoweringTable } from './lowering';

/** `padding`/`cropping` as [[top, bottom], [left, right]] from any of its Keras forms. */
function pairs(call: LayerCall, key: string): [number, number][] {
  const v = call.cfg.get(key);
  if (typeof v === 'number') return [[v, v], [v, v]];
  if (Array.isArray(v) && v.length === 2) {
    return v.map((p) => (Array.isArray(p) ? [Number(p[0]), Number(p[1])] : [Number(p), Number(p)])) as [number, number][];
  }
  return call.fail(`${key} ${JSON.stringify(v)} is not an int, a pair, or a pair of pairs`);
}

function rank4(call: LayerCall): KTensor {
  call.requireChannelsLast();
  const x = call.input();
  if (x.shape.length !== 4) call.fail(`expects a rank-4 NHWC input, got shape [${x.shape}]`);
  return x;
}

const grow = (d: number, by: number): number => (d < 0 ? -1 : d + by);

function zeroPadding(call: LayerCall): KTensor {
  const x = rank4(call);
  const [[t, b], [l, r]] = pairs(call, 'padding');
  const paddings = call.ints([0, 0, t, b, l, r, 0, 0], 'paddings', [4, 2]);
  const y = call.op('Pad', [x.name, paddings], { Tpaddings: attrs.int32 });
  return { name: y, shape: [x.shape[0]!, grow(x.shape[1]!, t + b), grow(x.shape[2]!, l + r), x.shape[3]!] };
}

/** Cropping as StridedSlice: end offsets count from the end, so no static shape is needed. */
function cropping(call: LayerCall): KTensor {
  const x = rank4(call);
  const [[t, b], [l, r]] = pairs(call, 'cropping');
  const endMask = 0b1001 | (b === 0 ? 0b10 : 0) | (r === 0 ? 0b100 : 0);
  const y = call.op('StridedSlice', [x.name, call.ints([0, t, l, 0], 'begin'), call.ints([0, -b, -r, 0], 'end'), call.ints([1, 1, 1, 1], 'strides')], {
    Index: attrs.int32,
    begin_mask: tfAttr.i(0b1001),
    end_mask: tfAttr.i(endMask),
    ellipsis_mask: tfAttr.i(0),
    new_axis_mask: tfAttr.i(0),
    shrink_axis_mask: tfAttr.i(0),
  });
  return { name: y, shape: [x.shape[0]!, grow(x.shape[1]!, -t - b), grow(x.shape[2]!, -l - r), x.shape[3]!] };
}

/** UpSampling2D as a resize to H*sh x W*sw (TF.js: align_corners and half_pixel_centers off). */
function upSampling(call: LayerCall): KTensor {
  const x = rank4(call);
  const [sh, sw] = call.cfg.tuple('size', [2, 2]);
  const [h, w] = [x.shape[1]!, x.shape[2]!];
  if (h < 0 || w < 0) call.fail(`needs static spatial input dims, got shape [${x.shape}]`);
  const interpolation = call.cfg.str('interpolation', 'nearest');
  const op = interpolation === 'nearest' ? 'ResizeNearestNeighbor' : interpolation === 'bilinear' ? 'ResizeBilinear' : call.fail(`interpolation "${interpolation}" is not supported`);
  const size = [h * sh!, w * sw!];
  const y = call.op(op, [x.name, call.ints(size, 'size')], { align_corners: tfAttr.b(false), half_pixel_centers: tfAttr.b(false) });
  return { name: y, shape: [x.shape[0]!, ...size, x.shape[3]!] };
}

/** Spatial reshaping layers on NHWC images. */
export const spatialLayers: LoweringTable = {
  ZeroPadding2D: zeroPadding,
  Cropping2D: cropping,
  UpSampling2D: upSampling,
};
