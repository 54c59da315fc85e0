import * as ort from 'onnxruntime-node';
import type { OnnxGraph } from '../onnx/graph';
import { HISTOGRAM_BINS, TensorStats } from './ranges';
import type { CalibrationMethod, CalibrationSet, QuantizeOptions } from './types';

/** Images per calibration run: large enough to amortize a run, small enough for the exposed activations. */
const BATCH = 4;

/**
 * Runs the float model over the calibration images with every tensor in `names` exposed as an
 * output (ONNX Runtime keeps exposed tensors through its fusions) and gathers their statistics:
 * one pass for min/max, a second for the |x| histograms when the method needs them.
 */
export async function calibrate(
  g: OnnxGraph,
  names: string[],
  set: CalibrationSet,
  method: CalibrationMethod,
  opts: Pick<QuantizeOptions, 'signal' | 'progress'> = {},
): Promise<Map<string, TensorStats>> {
  const exposed = g.outputs.map((o) => o.name);
  for (const n of names) if (!exposed.includes(n)) g.addOutput(n, { dtype: 'float32', shape: null });
  const stats = new Map(names.map((n) => [n, new TensorStats()]));
  const session = await ort.InferenceSession.create(g.toBytes(), { graphOptimizationLevel: 'basic', executionProviders: ['cpu'] });
  try {
    const batch = fixedBatchOne(g, set.input) ? 1 : BATCH;
    const passes = method === 'minmax' ? 1 : 2;
    for (let pass = 0; pass < passes; pass++) {
      if (pass === 1) for (const s of stats.values()) s.startHistogram(HISTOGRAM_BINS);
      for (let start = 0; start < set.images.length; start += batch) {
        opts.signal?.throwIfAborted();
        const items = set.images.slice(start, start + batch);
        const data = new Float32Array(items.length * items[0]!.length);
        items.forEach((img, k) => data.set(img, k * img.length));
        const out = await session.run({ [set.input]: new ort.Tensor('float32', data, [items.length, ...set.itemDims]) }, names);
        for (const n of names) {
          const values = out[n]!.data as Float32Array;
          if (pass === 0) stats.get(n)!.observeRange(values);
          else stats.get(n)!.observeHistogram(values);
        }
        for (const t of Object.values(out)) t.dispose();
        opts.progress?.(passes === 1 ? 'calibrated' : `calibration pass ${pass + 1}/2`, Math.min(start + batch, set.images.length), set.images.length, 'images');
      }
    }
  } finally {
    await session.release();
    g.outputs = g.outputs.filter((o) => exposed.includes(o.name));
  }
  return stats;
}

function fixedBatchOne(g: OnnxGraph, input: string): boolean {
  const shape = g.inputs.find((i) => i.name === input)?.type.shape;
  return shape?.[0] === 1;
}
