import * as ort from 'onnxruntime-node';
import type { Tensor } from '../onnx/graph';
import { loadReference } from './reference';
import type { TfGraph } from './tf/graph';

export interface OutputAgreement {
  output: string;
  /** max |onnx - reference| */
  maxAbs: number;
  /** maxAbs / max |reference| (the output's scale), so tiny values do not dominate. */
  maxRel: number;
  /** Share of samples whose argmax agrees, for outputs with a class axis; null otherwise. */
  top1Agreement: number | null;
}

export interface VerifyReport {
  samples: number;
  outputs: OutputAgreement[];
  /** Mean per-sample time of each runtime, in ms (first run excluded). */
  onnxMs: number;
  referenceMs: number;
  worstRel: number;
}

function argmax(data: ArrayLike<number>, from: number, to: number): number {
  let best = from;
  for (let k = from + 1; k < to; k++) if (data[k]! > data[best]!) best = k;
  return best - from;
}

/**
 * Runs the converted model in ONNX Runtime and the source graph in TF.js on the same inputs
 * and measures how far apart the outputs are.
 */
export async function verifyAgainstReference(
  model: Uint8Array,
  source: TfGraph,
  feeds: Record<string, Tensor>[],
  outputs: string[],
): Promise<VerifyReport> {
  const session = await ort.InferenceSession.create(model, { graphOptimizationLevel: 'all', executionProviders: ['cpu'] });
  const stats = new Map<string, { maxAbs: number; scale: number; agree: number; classed: number }>(outputs.map((o) => [o, { maxAbs: 0, scale: 0, agree: 0, classed: 0 }]));
  let onnxMs = 0;
  let referenceMs = 0;
  const reference = await loadReference(source);
  try {
    for (const [k, feed] of feeds.entries()) {
      const ortFeeds: Record<string, ort.Tensor> = {};
      for (const [name, t] of Object.entries(feed)) ortFeeds[name] = new ort.Tensor(t.dtype as 'float32', t.data as Float32Array, t.dims);
      const t0 = performance.now();
      const got = await session.run(ortFeeds);
      const t1 = performance.now();
      const { outputs: want, ms } = await reference.run(feed, outputs);
      if (k > 0) {
        onnxMs += t1 - t0;
        referenceMs += ms;
      }
      for (const name of outputs) {
        const g = got[name]!;
        const w = want[name]!;
        const s = stats.get(name)!;
        const gd = g.data as ArrayLike<number>;
        if (g.dims.join() !== w.dims.join()) throw new Error(`output ${name}: shape [${g.dims}] vs reference [${w.dims}]`);
        for (let i = 0; i < w.data.length; i++) {
          const ref = Number(w.data[i]);
          s.maxAbs = Math.max(s.maxAbs, Number.isNaN(Number(gd[i])) !== Number.isNaN(ref) ? Infinity : Math.abs(Number(gd[i]) - ref) || 0);
          s.scale = Math.max(s.scale, Math.abs(ref) || 0);
        }
        const classes = w.dims.length === 2 ? w.dims[1]! : 0;
        if (classes > 1) {
          for (let row = 0; row < w.dims[0]!; row++) {
            s.classed++;
            if (argmax(gd, row * classes, (row + 1) * classes) === argmax(w.data, row * classes, (row + 1) * classes)) s.agree++;
          }
        }
      }
    }
  } finally {
    reference.dispose();
    await session.release();
  }
  const report = outputs.map((output) => {
    const s = stats.get(output)!;
    return { output, maxAbs: s.maxAbs, maxRel: s.maxAbs / Math.max(s.scale, 1e-6), top1Agreement: s.classed ? s.agree / s.classed : null };
  });
  const timed = Math.max(1, feeds.length - 1);
  return { samples: feeds.length, outputs: report, onnxMs: onnxMs / timed, referenceMs: referenceMs / timed, worstRel: Math.max(0, ...report.map((r) => r.maxRel)) };
}
