import * as ort from 'onnxruntime-node';
import { expect } from 'vitest';
import { seededRandom } from '../onnx/builder';
import type { OnnxGraph, Tensor } from '../onnx/graph';
import { mapGraph } from '../convert/map';
import { runPasses } from '../convert/passes/index';
import { runTfjsGraph } from '../convert/reference';
import type { TfGraph } from '../convert/tf/graph';

/** Runs an OnnxGraph in ONNX Runtime; feeds and results by tensor name. */
export async function runOnnx(graph: OnnxGraph, feeds: Record<string, Tensor>): Promise<Record<string, { dims: number[]; data: ArrayLike<number | bigint> }>> {
  const session = await ort.InferenceSession.create(graph.toBytes());
  try {
    const inputs: Record<string, ort.Tensor> = {};
    for (const [name, t] of Object.entries(feeds)) inputs[name] = new ort.Tensor(t.dtype as 'float32', t.data as Float32Array, t.dims);
    const out = await session.run(inputs);
    return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, { dims: [...v.dims], data: v.data as ArrayLike<number> }]));
  } finally {
    await session.release();
  }
}

/**
 * Converts a TensorFlow graph (mapping, then the passes unless `passes: false`), runs it in
 * ONNX Runtime and in TF.js on the same feeds, and expects every output to agree: same shape,
 * values within `tolerance` (absolute, scaled by max(1, |reference|)). Returns the graph for
 * further checks (ops left, transposes).
 */
export async function expectConvertsLikeTfjs(
  tf: TfGraph,
  feeds: Record<string, Tensor>,
  outputs: string[],
  opts: { passes?: boolean; tolerance?: number } = {},
): Promise<OnnxGraph> {
  const graph = mapGraph(tf, { inputs: Object.keys(feeds), outputs });
  if (opts.passes !== false) runPasses(graph);
  const [got, want] = await Promise.all([runOnnx(graph, feeds), runTfjsGraph(tf, feeds, outputs)]);
  const tol = opts.tolerance ?? 1e-4;
  for (const name of outputs) {
    const g = got[name.includes(':') ? name : `${name}:0`]!;
    const w = want[name]!;
    expect(g, `output ${name} missing from ONNX results`).toBeDefined();
    expect(g.dims, `shape of ${name}`).toEqual(w.dims);
    const gv = Array.from(g.data, Number);
    const wv = Array.from(w.data, Number);
    let worst = 0;
    let at = -1;
    for (let k = 0; k < wv.length; k++) {
      const err = Math.abs(gv[k]! - wv[k]!) / Math.max(1, Math.abs(wv[k]!));
      if (!(err <= worst)) {
        worst = Number.isNaN(err) ? Infinity : err;
        at = k;
      }
    }
    expect(worst, `output ${name}: worst error at ${at}: got ${gv[at]}, want ${wv[at]}`).toBeLessThanOrEqual(tol);
  }
  return graph;
}

/** Deterministic pseudo-random floats in [-1, 1) for test inputs and weights. */
export function randomFloats(n: number, seed = 1): Float32Array {
  const next = seededRandom(seed);
  return Float32Array.from({ length: n }, () => next() * 2 - 1);
}
