import { AccelError } from '../errors';
import { readOnnxModel } from '../onnx/read';
import { calibrate } from './calibrate';
import { planQuantization, quantizedNodes } from './plan';
import { insertQdq, type ActivationParams } from './qdq';
import { chooseRange, uint8Params } from './ranges';
import type { CalibrationSet, QuantizeOptions, QuantizeResult } from './types';
import { unfuse } from './unfuse';
import { foldBatchNorms } from './fold-bn';
import { averagePoolsAsConvs } from './avgpool-as-conv';

/** QDQ needs per-axis DequantizeLinear (opset 13). */
const MIN_OPSET = 13;

/**
 * Post-training int8 quantization of a float ONNX model: split ORT's fused ops back into
 * standard ones, plan which nodes run in integer kernels, calibrate activation ranges on the
 * given images, and insert QuantizeLinear/DequantizeLinear pairs (uint8 activations, int8
 * per-channel weights, int32 biases) that ONNX Runtime fuses into QLinearConv, QGemm, ...
 */
export async function quantizeModel(model: Uint8Array, set: CalibrationSet, opts: QuantizeOptions = {}): Promise<QuantizeResult> {
  const method = opts.method ?? 'percentile';
  const perChannel = opts.perChannel ?? true;
  if (set.images.length === 0) throw new Error('quantizeModel: no calibration images');
  const g = readOnnxModel(model);
  if (!g.inputs.some((i) => i.name === set.input)) throw new Error(`quantizeModel: the model has no input "${set.input}"`);
  g.opset = Math.max(g.opset, MIN_OPSET);
  const split = unfuse(g);
  if (split) opts.log?.(`split ${split} fused ONNX Runtime ops back into standard ops`);
  const folded = foldBatchNorms(g);
  if (folded) opts.log?.(`folded ${folded} BatchNormalization nodes into their convolutions`);
  const pools = averagePoolsAsConvs(g);
  if (pools) opts.log?.(`rewrote ${pools} AveragePool nodes as depthwise convolutions`);

  const exclude = new Set(opts.exclude ?? []);
  const unknown = [...exclude].filter((n) => !g.nodes.some((node) => node.name === n));
  if (unknown.length) throw new AccelError('ACCEL_ERR_USAGE', { reason: `--exclude names no node of the model: ${unknown.join(', ')}` });
  const plan = planQuantization(g, exclude);
  const sources = [...new Set(plan.tensors.values())];
  opts.log?.(`plan: ${plan.nodes.size} nodes quantized, ${sources.length} activation ranges to calibrate, ${plan.float.length} nodes left in float`);

  const t0 = performance.now();
  const stats = await calibrate(g, sources, set, method, opts);
  opts.log?.(`calibration (${method}) over ${set.images.length} images in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const params: ActivationParams = new Map();
  for (const [name, s] of stats) {
    const [lo, hi] = chooseRange(s, method, opts.percentile);
    params.set(name, uint8Params(lo, hi));
  }
  insertQdq(g, plan, params, perChannel);
  g.metadata['accel.quantization'] = JSON.stringify({ method, perChannel, calibrationImages: set.images.length });
  return {
    model: g.toBytes({ docString: `int8 QDQ (${method}${perChannel ? ', per-channel weights' : ''}) of ${g.name}` }),
    method,
    perChannel,
    calibrationImages: set.images.length,
    quantized: quantizedNodes(plan),
    float: plan.float,
  };
}
