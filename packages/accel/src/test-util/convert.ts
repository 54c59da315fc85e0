import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { expect } from 'vitest';
import { seededRandom } from '../onnx/builder';
import { tensor, type OnnxGraph, type Tensor } from '../onnx/graph';
import { mapGraph } from '../convert/map';
import { runPasses } from '../convert/passes/index';
import { runTfjsGraph, toTfjsArtifacts } from '../convert/reference';
import { tfAttr } from '../convert/tf/attrs';
import { TfGraphBuilder } from '../convert/tf/builder';
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

/** Writes a TfGraph as a TF.js graph model folder (model.json + weights.bin); returns the folder. */
export async function writeTfjsGraphModel(graph: TfGraph, dir: string): Promise<string> {
  const { modelTopology, weightSpecs, weightData } = toTfjsArtifacts(graph);
  await mkdir(dir, { recursive: true });
  const signature = graph.signature && {
    inputs: Object.fromEntries(graph.signature.inputs.map((n) => [n, { name: n }])),
    outputs: Object.fromEntries(graph.signature.outputs.map((n) => [n, { name: n }])),
  };
  const model = { format: 'graph-model', generatedBy: 'accel tests', modelTopology, signature, weightsManifest: [{ paths: ['weights.bin'], weights: weightSpecs }] };
  await writeFile(join(dir, 'model.json'), JSON.stringify(model));
  await writeFile(join(dir, 'weights.bin'), new Uint8Array(weightData));
  return dir;
}

/** A small trained-shape CNN in TensorFlow form (conv, bias, relu, pool, mean, dense, softmax) with seeded weights. */
export function smallTfCnn(classes = 5): { graph: TfGraph; input: string; output: string } {
  const b = new TfGraphBuilder();
  const x = b.placeholder('input_1', [-1, 32, 32, 3]);
  const w1 = b.const('conv1/kernel', tensor('float32', [3, 3, 3, 8], randomFloats(3 * 3 * 3 * 8, 11)));
  const b1 = b.const('conv1/bias', tensor('float32', [8], randomFloats(8, 12)));
  const conv = b.op('Conv2D', 'model/conv1/Conv2D', [x, w1], { strides: tfAttr.ints([1, 2, 2, 1]), padding: tfAttr.s('SAME'), data_format: tfAttr.s('NHWC'), dilations: tfAttr.ints([1, 1, 1, 1]) });
  const biased = b.op('BiasAdd', 'model/conv1/BiasAdd', [conv, b1], { data_format: tfAttr.s('NHWC') });
  const relu = b.op('Relu', 'model/conv1/Relu', [biased]);
  const pool = b.op('MaxPool', 'model/pool/MaxPool', [relu], { ksize: tfAttr.ints([1, 2, 2, 1]), strides: tfAttr.ints([1, 2, 2, 1]), padding: tfAttr.s('VALID'), data_format: tfAttr.s('NHWC') });
  const mean = b.op('Mean', 'model/gap/Mean', [pool, b.const('model/gap/axes', 'int32', [2], [1, 2])], { keep_dims: tfAttr.b(false), Tidx: tfAttr.type('DT_INT32') });
  const wd = b.const('dense/kernel', tensor('float32', [8, classes], randomFloats(8 * classes, 13)));
  const logits = b.op('MatMul', 'model/dense/MatMul', [mean, wd], { transpose_a: tfAttr.b(false), transpose_b: tfAttr.b(false) });
  const y = b.op('Softmax', 'model/predictions/Softmax', [logits]);
  return { graph: b.build([x], [y], 'code'), input: x, output: y };
}
