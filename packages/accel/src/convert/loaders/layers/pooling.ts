import { tfAttr } from '../../tf/attrs';
import { windowOut } from './conv';
import { attrs, type KTensor, type LayerCall, type LoweringTable } from './lowering';

/** MaxPool / AvgPool over H and W. TF's AvgPool SAME excludes the padding, as Keras does. */
const pool2d =
  (op: 'MaxPool' | 'AvgPool') =>
  (call: LayerCall): KTensor => {
    call.requireChannelsLast();
    const x = call.input();
    if (x.shape.length !== 4) call.fail(`expects a rank-4 NHWC input, got shape [${x.shape}]`);
    const size = call.cfg.tuple('pool_size', [2, 2]);
    const strides = call.cfg.tuple('strides', size);
    const padding = call.cfg.str('padding', 'valid');
    if (padding !== 'same' && padding !== 'valid') call.fail(`padding "${padding}" is not supported`);
    const y = call.op(op, [x.name], {
      ...attrs.nhwc,
      ksize: tfAttr.ints([1, ...size, 1]),
      strides: tfAttr.ints([1, ...strides, 1]),
      padding: tfAttr.s(padding.toUpperCase()),
    });
    const spatial = [x.shape[1]!, x.shape[2]!].map((s, k) => windowOut(s, size[k]!, strides[k]!, 1, padding));
    return { name: y, shape: [x.shape[0]!, ...spatial, x.shape[3]!] };
  };

/** Mean / Max over every axis between batch and channels. */
const globalPool =
  (op: 'Mean' | 'Max') =>
  (call: LayerCall): KTensor => {
    call.requireChannelsLast();
    const x = call.input();
    const rank = x.shape.length;
    const axes = [...Array(rank).keys()].slice(1, -1);
    const keep = call.cfg.bool('keepdims', false);
    const y = call.op(op, [x.name, call.ints(axes, 'axes')], { keep_dims: tfAttr.b(keep), Tidx: attrs.int32 });
    return { name: y, shape: keep ? x.shape.map((d, k) => (axes.includes(k) ? 1 : d)) : [x.shape[0]!, x.shape[rank - 1]!] };
  };

/** Pooling layers (channels_last). */
export const poolingLayers: LoweringTable = {
  MaxPooling2D: pool2d('MaxPool'),
  MaxPool2D: pool2d('MaxPool'),
  AveragePooling2D: pool2d('AvgPool'),
  AvgPool2D: pool2d('AvgPool'),
  GlobalAveragePooling2D: globalPool('Mean'),
  GlobalAvgPool2D: globalPool('Mean'),
  GlobalMaxPooling2D: globalPool('Max'),
  GlobalMaxPool2D: globalPool('Max'),
  GlobalAveragePooling1D: globalPool('Mean'),
  GlobalMaxPooling1D: globalPool('Max'),
};
