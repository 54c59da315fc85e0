import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { size } from '../onnx/graph';
import { loadTfModel } from '../convert/loaders/index';
import { readGraphDef, writeGraphDef } from '../convert/loaders/graphdef';
import { tfjs } from '../convert/reference';
import type { TfAttrValue, TfGraph } from '../convert/tf/graph';
import { realModel } from './real-models';

const FETCH_TIMEOUT = 600_000;
const BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, uint8: 1, uint16: 2, float16: 2 };

interface Manifest {
  paths: string[];
  weights: { name: string; shape: number[]; dtype: string; quantization?: { dtype: string } }[];
}

function manifestOf(modelJson: string): Manifest[] {
  return (JSON.parse(readFileSync(modelJson, 'utf8')) as { weightsManifest: Manifest[] }).weightsManifest;
}

/** The weights TF.js itself reads from the same model.json and weight files, by name. */
async function tfjsWeights(modelJson: string): Promise<Map<string, Float32Array | Int32Array | Uint8Array>> {
  const tf = await tfjs();
  const json = JSON.parse(readFileSync(modelJson, 'utf8')) as { modelTopology: object; weightsManifest: Manifest[] };
  const weightData = Buffer.concat(json.weightsManifest.flatMap((g) => g.paths).map((p) => readFileSync(path.join(path.dirname(modelJson), p))));
  const specs = json.weightsManifest.flatMap((g) => g.weights);
  const tensors = tf.io.decodeWeights(weightData.buffer.slice(weightData.byteOffset, weightData.byteOffset + weightData.byteLength), specs as never);
  return new Map(Object.entries(tensors).map(([k, t]) => [k, t.dataSync() as Float32Array]));
}

describe.each(['human/emotion', 'nsfwjs/mobilenet_v2_mid'])('real model %s', (name) => {
  let modelJson = '';
  let graph: TfGraph;
  beforeAll(async () => {
    const model = realModel(name);
    expect(model.kind).toBe('graph');
    modelJson = model.modelJson;
    graph = await loadTfModel(modelJson);
  }, FETCH_TIMEOUT);

  it('has weight files exactly as large as its manifest says, and a value for every weight', () => {
    const manifest = manifestOf(modelJson);
    const specs = manifest.flatMap((g) => g.weights);
    const expected = specs.reduce((sum, w) => sum + size(w.shape) * BYTES[w.quantization?.dtype ?? w.dtype]!, 0);
    const files = manifest.flatMap((g) => g.paths).reduce((sum, p) => sum + statSync(path.join(path.dirname(modelJson), p)).size, 0);
    expect(files).toBe(expected);
    for (const w of specs) expect(graph.consts.get(w.name)?.dims, w.name).toEqual(w.shape);
  });

  it('loads through loadTfModel with the same weight values TF.js reads', async () => {
    expect(graph.format).toBe('tfjs-graph');
    expect(graph.signature!.inputs.length).toBeGreaterThan(0);
    for (const [k, v] of await tfjsWeights(modelJson)) expect(Array.from(graph.consts.get(k)!.data as Float32Array), k).toEqual(Array.from(v));
  });
});

describe('realModel', () => {
  it('unbundles the nsfwjs Keras model into a model.json and weights.bin of the manifest size', async () => {
    const { modelJson, kind } = realModel('nsfwjs/mobilenet_v2');
    expect(kind).toBe('layers');
    const manifest = manifestOf(modelJson);
    expect(manifest.map((g) => g.paths)).toEqual([['weights.bin']]);
    const expected = manifest[0]!.weights.reduce((sum, w) => sum + size(w.shape) * BYTES[w.quantization?.dtype ?? w.dtype]!, 0);
    expect(statSync(path.join(path.dirname(modelJson), 'weights.bin')).size).toBe(expected);
    expect((await loadTfModel(modelJson)).format).toBe('tfjs-layers');
  }, FETCH_TIMEOUT);

  it('names the known models when asked for an unknown one', () => {
    expect(() => realModel('human/nope')).toThrow(/unknown model "human\/nope"; known: human\/age/);
  });
});

describe('a real model as a frozen GraphDef', () => {
  it('writes human/emotion as a .pb and reads it back identically', async () => {
    const graph = await loadTfModel(realModel('human/emotion').modelJson);
    const back = readGraphDef(writeGraphDef(graph));
    // A GraphDef stores float attributes as float32.
    const asStored = (a: TfAttrValue): TfAttrValue => (a.f === undefined ? a : { ...a, f: Math.fround(Number(a.f)) });
    const expected = graph.nodes.map((n) => ({ ...n, attr: Object.fromEntries(Object.entries(n.attr).map(([k, v]) => [k, asStored(v)])) }));
    expect(back.nodes).toEqual(expected);
    expect(back.consts).toEqual(graph.consts);
  }, FETCH_TIMEOUT);
});
