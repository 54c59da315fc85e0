import { toNumbers } from '../../../onnx/graph';
import { tfAttr } from '../../tf/attrs';
import { attrs, normAxis, type KTensor, type LayerCall, type LoweringTable } from './lowering';

/** gamma/beta, or ones/zeros when the layer was built without scale/center. */
function affine(call: LayerCall, channels: number): { gamma: number[]; beta: number[] } {
  const gamma = call.cfg.bool('scale', true) ? toNumbers(call.weightValue('gamma')) : new Array<number>(channels).fill(1);
  const beta = call.cfg.bool('center', true) ? toNumbers(call.weightValue('beta')) : new Array<number>(channels).fill(0);
  return { gamma, beta };
}

/**
 * Inference BatchNormalization with the moving statistics. Rank-4 channels-last input becomes
 * FusedBatchNormV3; any other axis or rank a Mul + AddV2 by folded per-channel constants.
 */
function batchNorm(call: LayerCall): KTensor {
  const x = call.input();
  const rank = x.shape.length;
  const rawAxis = call.cfg.get('axis');
  if (Array.isArray(rawAxis) && rawAxis.length !== 1) call.fail(`normalizing over several axes (${JSON.stringify(rawAxis)}) is not supported`);
  const axis = normAxis(call.cfg.num('axis', -1), rank);
  const eps = call.cfg.num('epsilon', 1e-3);
  const mean = call.weightValue('moving_mean');
  const variance = call.weightValue('moving_variance');
  const channels = mean.dims[0]!;
  const { gamma, beta } = affine(call, channels);
  if (rank === 4 && axis === 3) {
    const scale = call.cfg.bool('scale', true) ? call.weight('gamma') : call.floats(gamma, 'gamma', [channels]);
    const offset = call.cfg.bool('center', true) ? call.weight('beta') : call.floats(beta, 'beta', [channels]);
    const y = call.op('FusedBatchNormV3', [x.name, scale, offset, call.weight('moving_mean'), call.weight('moving_variance')], {
      ...attrs.nhwc,
      U: tfAttr.type('DT_FLOAT'),
      epsilon: tfAttr.f(eps),
      is_training: tfAttr.b(false),
      exponential_avg_factor: tfAttr.f(1),
    });
    return { name: y, shape: x.shape };
  }
  const m = toNumbers(mean);
  const v = toNumbers(variance);
  const scale = gamma.map((g, c) => g / Math.sqrt(v[c]! + eps));
  const shift = beta.map((b, c) => b - m[c]! * scale[c]!);
  const dims = [channels, ...new Array<number>(rank - axis - 1).fill(1)];
  const y = call.op('Mul', [x.name, call.floats(scale, 'scale', dims)]);
  return { name: call.op('AddV2', [y, call.floats(shift, 'shift', dims)]), shape: x.shape };
}

/** Normalization layers (inference form). */
export const normalizationLayers: LoweringTable = {
  BatchNormalization: batchNorm,
};
