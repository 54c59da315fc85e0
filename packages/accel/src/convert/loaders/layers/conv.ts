import { tfAttr } from '../../tf/attrs';
import { applyActivation } from './activations';
import { attrs, type KTensor, type LayerCall, type LoweringTable } from './lowering';

/** Output length of a conv/pool window along one spatial dim (-1 stays unknown). */
export function windowOut(size: number, kernel: number, stride: number, dilation: number, padding: string): number {
  if (size < 0) return -1;
  return padding === 'same' ? Math.ceil(size / stride) : Math.ceil((size - (kernel - 1) * dilation) / stride);
}

/** Window settings shared by the 2-D convolutions. */
function window2d(call: LayerCall): { kernel: number[]; strides: number[]; dilations: number[]; padding: string } {
  call.requireChannelsLast();
  const padding = call.cfg.str('padding', 'valid');
  if (padding !== 'same' && padding !== 'valid') call.fail(`padding "${padding}" is not supported`);
  return {
    kernel: call.cfg.tuple('kernel_size', [1, 1]),
    strides: call.cfg.tuple('strides', [1, 1]),
    dilations: call.cfg.tuple('dilation_rate', [1, 1]),
    padding,
  };
}

function convAttrs(w: ReturnType<typeof window2d>) {
  return {
    ...attrs.nhwc,
    strides: tfAttr.ints([1, ...w.strides, 1]),
    dilations: tfAttr.ints([1, ...w.dilations, 1]),
    padding: tfAttr.s(w.padding.toUpperCase()),
  };
}

function outShape(x: KTensor, w: ReturnType<typeof window2d>, channels: number): number[] {
  const [n, h, wd] = x.shape;
  return [n!, ...[h!, wd!].map((s, k) => windowOut(s, w.kernel[k]!, w.strides[k]!, w.dilations[k]!, w.padding)), channels];
}

/** BiasAdd (when the layer has use_bias) and the layer's activation. */
function finish(call: LayerCall, y: KTensor): KTensor {
  if (call.cfg.bool('use_bias', true)) y = { name: call.op('BiasAdd', [y.name, call.weight('bias')], attrs.nhwc), shape: y.shape };
  return applyActivation(call, y, call.cfg.get('activation'));
}

function requireRank4(call: LayerCall): KTensor {
  const x = call.input();
  if (x.shape.length !== 4) call.fail(`expects a rank-4 NHWC input, got shape [${x.shape}]`);
  return x;
}

function conv2d(call: LayerCall): KTensor {
  const x = requireRank4(call);
  const w = window2d(call);
  const kernel = call.weightValue('kernel');
  const y = call.op('Conv2D', [x.name, call.weight('kernel')], convAttrs(w));
  return finish(call, { name: y, shape: outShape(x, w, kernel.dims[3]!) });
}

function depthwise(call: LayerCall, x: KTensor, w: ReturnType<typeof window2d>): KTensor {
  const kernel = call.weightValue('depthwise_kernel');
  const y = call.op('DepthwiseConv2dNative', [x.name, call.weight('depthwise_kernel')], convAttrs(w));
  return { name: y, shape: outShape(x, w, kernel.dims[2]! * kernel.dims[3]!) };
}

function separable(call: LayerCall): KTensor {
  const x = requireRank4(call);
  const w = window2d(call);
  const d = depthwise(call, x, w);
  const pointwise = call.weightValue('pointwise_kernel');
  const y = call.op('Conv2D', [d.name, call.weight('pointwise_kernel')], convAttrs({ kernel: [1, 1], strides: [1, 1], dilations: [1, 1], padding: 'valid' }));
  return finish(call, { name: y, shape: [...d.shape.slice(0, 3), pointwise.dims[3]!] });
}

/** Transposed convolution as Conv2DBackpropInput; needs static spatial input dims. */
function conv2dTranspose(call: LayerCall): KTensor {
  const x = requireRank4(call);
  const w = window2d(call);
  if (w.dilations.some((d) => d !== 1)) call.fail('dilation_rate other than 1 is not supported');
  if (call.cfg.has('output_padding')) call.fail('output_padding is not supported');
  const [, h, wd] = x.shape;
  if (h! < 0 || wd! < 0) call.fail(`needs static spatial input dims, got shape [${x.shape}]`);
  const filters = call.weightValue('kernel').dims[2]!;
  const size = [h!, wd!].map((s, k) => s * w.strides[k]! + (w.padding === 'same' ? 0 : Math.max(w.kernel[k]! - w.strides[k]!, 0)));
  // The output batch follows the input's: Shape(x)[0:1] ++ [H, W, C].
  const batch = call.op('StridedSlice', [call.op('Shape', [x.name], { out_type: attrs.int32 }), call.ints([0], 'begin'), call.ints([1], 'end'), call.ints([1], 'strides')], {
    T: attrs.int32,
    Index: attrs.int32,
    begin_mask: tfAttr.i(0),
    end_mask: tfAttr.i(0),
    ellipsis_mask: tfAttr.i(0),
    new_axis_mask: tfAttr.i(0),
    shrink_axis_mask: tfAttr.i(0),
  });
  const dims = call.op('ConcatV2', [batch, call.ints([...size, filters], 'output_dims'), call.ints([0], 'axis', [])], { T: attrs.int32, N: tfAttr.i(2), Tidx: attrs.int32 });
  const y = call.op('Conv2DBackpropInput', [dims, call.weight('kernel'), x.name], convAttrs(w));
  return finish(call, { name: y, shape: [x.shape[0]!, ...size, filters] });
}

/** Convolution layers (channels_last). */
export const convLayers: LoweringTable = {
  Conv2D: conv2d,
  Convolution2D: conv2d,
  DepthwiseConv2D: (call) => {
    const x = requireRank4(call);
    return finish(call, depthwise(call, x, window2d(call)));
  },
  SeparableConv2D: separable,
  SeparableConvolution2D: separable,
  Conv2DTranspose: conv2dTranspose,
  Convolution2DTranspose: conv2dTranspose,
};
