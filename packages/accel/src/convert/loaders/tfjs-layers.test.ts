import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import * as tfl from '@tensorflow/tfjs-layers';
import { tensor } from '../../onnx/graph';
import { realModel } from '../../test-util/real-models';
import { expectConvertsLikeTfjs, randomFloats } from '../../test-util/convert';
import { runTfjsGraph, tfjs } from '../reference';
import type { TfGraph } from '../tf/graph';
import { readTfjsLayersModel } from './tfjs-layers';

type WeightSpec = { name: string; shape: number[]; dtype: string; quantization?: object };
interface Artifacts {
  modelTopology: object;
  weightSpecs: WeightSpec[];
  weightData: ArrayBuffer;
}

/** The artifacts `model.save` writes, in memory. */
async function save(model: tfl.LayersModel): Promise<Artifacts> {
  const tf = await tfjs();
  let out: Artifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      out = { modelTopology: a.modelTopology as object, weightSpecs: a.weightSpecs as WeightSpec[], weightData: a.weightData as ArrayBuffer };
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  return out!;
}

/** Artifacts as a model.json object + weight bytes, the loader's input. */
function asModelJson(a: Artifacts): { modelJson: object; weights: Uint8Array } {
  return {
    modelJson: { format: 'layers-model', modelTopology: a.modelTopology, weightsManifest: [{ paths: ['weights.bin'], weights: a.weightSpecs }] },
    weights: new Uint8Array(a.weightData),
  };
}

/** Runs the lowered graph and the layers model on the same input; expects the same output. */
async function expectLowersLikeKeras(model: tfl.LayersModel, artifacts: Artifacts, inputShape: number[], tolerance = 1e-5): Promise<void> {
  const tf = await tfjs();
  const { modelJson, weights } = asModelJson(artifacts);
  const graph = readTfjsLayersModel(modelJson, weights);
  const x = randomFloats(inputShape.reduce((a, b) => a * b, 1), 7);
  const outputs = graph.signature!.outputs;
  const got = await runTfjsGraph(graph, { [graph.signature!.inputs[0]!]: tensor('float32', inputShape, x) }, outputs);
  const input = tf.tensor(x, inputShape);
  const predicted = model.predict(input);
  const want = Array.isArray(predicted) ? predicted : [predicted];
  expect(outputs).toHaveLength(want.length);
  for (const [k, w] of want.entries()) {
    const g = got[outputs[k]!]!;
    expect(g.dims).toEqual(w.shape);
    const wv = await w.data();
    const worst = Array.from(wv).reduce((m, v, i) => Math.max(m, Math.abs(v - g.data[i]!) / Math.max(1, Math.abs(v))), 0);
    expect(worst, `output ${outputs[k]}`).toBeLessThan(tolerance);
    w.dispose();
  }
  input.dispose();
}

/** Deterministic weights (positive variances), so BatchNormalization and biases do something. */
async function randomizeWeights(model: tfl.LayersModel): Promise<void> {
  const tf = await tfjs();
  model.setWeights(
    model.weights.map((w, k) => {
      const v = randomFloats(w.shape.reduce((a: number, b) => a * (b ?? 1), 1), 100 + k);
      return tf.tensor(/variance/.test(w.originalName) ? v.map((x) => Math.abs(x) + 0.5) : v, w.shape as number[]);
    }),
  );
}

/**
 * Saves a model, checks its lowered graph against `model.predict`, then converts the graph to
 * ONNX and checks ONNX Runtime against TF.js; returns the lowered graph.
 */
async function roundTrip(model: tfl.LayersModel, inputShape: number[], opts: { onnx?: boolean } = {}): Promise<TfGraph> {
  await randomizeWeights(model);
  const artifacts = await save(model);
  await expectLowersLikeKeras(model, artifacts, inputShape);
  const { modelJson, weights } = asModelJson(artifacts);
  const graph = readTfjsLayersModel(modelJson, weights);
  const feeds = { [graph.signature!.inputs[0]!]: tensor('float32', inputShape, randomFloats(inputShape.reduce((a, b) => a * b, 1), 11)) };
  if (opts.onnx !== false) await expectConvertsLikeTfjs(graph, feeds, graph.signature!.outputs);
  return graph;
}

const ops = (g: TfGraph): string[] => [...new Set(g.nodes.map((n) => n.op))].sort();

describe('readTfjsLayersModel: models saved by TF.js', () => {
  it('lowers a functional model with branches and merge layers', async () => {
    await tfjs();
    const input = tfl.input({ shape: [7, 7, 3], name: 'image' });
    const stem = tfl.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', name: 'stem' }).apply(input) as tfl.SymbolicTensor;
    const a = tfl.layers.conv2d({ filters: 4, kernelSize: 1, name: 'branch_a' }).apply(stem) as tfl.SymbolicTensor;
    const b = tfl.layers.separableConv2d({ filters: 4, kernelSize: 3, padding: 'same', depthMultiplier: 2, activation: 'sigmoid', name: 'branch_b' }).apply(stem) as tfl.SymbolicTensor;
    const c = tfl.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', activation: 'relu6', name: 'branch_c' }).apply(stem) as tfl.SymbolicTensor;
    const merged = [
      tfl.layers.add({ name: 'sum' }).apply([a, b, c]),
      tfl.layers.multiply({ name: 'product' }).apply([a, b]),
      tfl.layers.average({ name: 'mean' }).apply([b, c]),
      tfl.layers.maximum({ name: 'max' }).apply([a, c]),
      tfl.layers.minimum({ name: 'min' }).apply([a, b]),
    ] as tfl.SymbolicTensor[];
    const cat = tfl.layers.concatenate({ axis: -1, name: 'cat' }).apply(merged) as tfl.SymbolicTensor;
    const pooled = tfl.layers.globalMaxPooling2d({ name: 'gmp' }).apply(cat) as tfl.SymbolicTensor;
    const probs = tfl.layers.dense({ units: 5, activation: 'softmax', name: 'probs' }).apply(pooled) as tfl.SymbolicTensor;
    const features = tfl.layers.globalAveragePooling2d({ name: 'gap' }).apply(c) as tfl.SymbolicTensor;
    const graph = await roundTrip(tfl.model({ inputs: input, outputs: [probs, features] }), [2, 7, 7, 3]);
    expect(graph.signature).toEqual({ inputs: ['image:0'], outputs: ['probs/Softmax:0', 'gap/Mean:0'] });
    expect(ops(graph)).toEqual(
      ['AddV2', 'BiasAdd', 'ConcatV2', 'Const', 'Conv2D', 'DepthwiseConv2dNative', 'MatMul', 'Max', 'Maximum', 'Mean', 'Minimum', 'Mul', 'Placeholder', 'Relu', 'Relu6', 'Sigmoid', 'Softmax'].sort(),
    );
  });

  it('lowers a Sequential CNN with BatchNormalization, padding and same/valid pooling', async () => {
    await tfjs();
    const model = tfl.sequential({
      layers: [
        tfl.layers.zeroPadding2d({ inputShape: [9, 9, 2], padding: [[1, 0], [2, 1]] }),
        tfl.layers.conv2d({ filters: 6, kernelSize: [3, 2], strides: 2, activation: 'elu', useBias: false }),
        tfl.layers.batchNormalization({ epsilon: 0.01 }),
        tfl.layers.batchNormalization({ center: false, scale: false }),
        tfl.layers.conv2d({ filters: 4, kernelSize: 2, dilationRate: 2, padding: 'same' }),
        tfl.layers.averagePooling2d({ poolSize: 3, strides: 2, padding: 'same' }),
        tfl.layers.upSampling2d({ size: [2, 3] }),
        tfl.layers.cropping2D({ cropping: [[1, 0], [0, 2]] }),
        tfl.layers.maxPooling2d({ poolSize: 2, padding: 'valid' }),
        tfl.layers.upSampling2d({ size: [2, 2], interpolation: 'bilinear' }),
        tfl.layers.maxPooling2d({ poolSize: 3, strides: 2, padding: 'same' }),
        tfl.layers.leakyReLU({ alpha: 0.2 }),
        tfl.layers.flatten(),
        tfl.layers.dropout({ rate: 0.5 }),
        tfl.layers.dense({ units: 8, activation: 'tanh' }),
        tfl.layers.dense({ units: 3 }),
        tfl.layers.softmax(),
      ],
    });
    const graph = await roundTrip(model, [3, 9, 9, 2]);
    expect(ops(graph)).toContain('FusedBatchNormV3');
    expect(graph.signature!.inputs).toEqual([`${model.layers[0]!.name}_input:0`]);
  });

  it('lowers activation layers and activation functions', async () => {
    await tfjs();
    const names = ['relu', 'relu6', 'sigmoid', 'tanh', 'elu', 'selu', 'softplus', 'softsign', 'swish', 'mish', 'hardSigmoid', 'linear', 'gelu_new'] as const;
    const model = tfl.sequential({
      layers: [
        tfl.layers.dense({ inputShape: [6], units: 6 }),
        ...names.map((activation) => tfl.layers.activation({ activation })),
        tfl.layers.reLU({ maxValue: 6 }),
        tfl.layers.reLU({ maxValue: 0.5 }),
        tfl.layers.reLU(),
        tfl.layers.elu(),
        tfl.layers.thresholdedReLU({ theta: 0.1 }),
        tfl.layers.prelu({ alphaInitializer: 'ones' }),
        tfl.layers.dense({ units: 4, activation: 'softmax' }),
      ],
    });
    await roundTrip(model, [4, 6]);
  });

  it('lowers Dense on rank 3, Reshape, Permute and BatchNormalization on rank 3', async () => {
    await tfjs();
    const model = tfl.sequential({
      layers: [
        tfl.layers.reshape({ inputShape: [12], targetShape: [3, 4] }),
        tfl.layers.dense({ units: 5, activation: 'relu' }),
        tfl.layers.permute({ dims: [2, 1] }),
        tfl.layers.batchNormalization({}),
        tfl.layers.flatten(),
        tfl.layers.dense({ units: 2 }),
      ],
    });
    const graph = await roundTrip(model, [2, 12]);
    expect(ops(graph)).toEqual(['AddV2', 'BiasAdd', 'Const', 'MatMul', 'Mul', 'Placeholder', 'Relu', 'Reshape', 'Transpose']);
  });

  it('lowers transposed convolutions and a layer shared by two calls', async () => {
    await tfjs();
    const input = tfl.input({ shape: [5, 4, 3], name: 'x' });
    const shared = tfl.layers.conv2d({ filters: 3, kernelSize: 1, activation: 'tanh', name: 'shared' });
    const once = shared.apply(input) as tfl.SymbolicTensor;
    const twice = shared.apply(once) as tfl.SymbolicTensor;
    const same = tfl.layers.conv2dTranspose({ filters: 2, kernelSize: 3, strides: 2, padding: 'same', name: 'up_same' }).apply(twice) as tfl.SymbolicTensor;
    const valid = tfl.layers.conv2dTranspose({ filters: 2, kernelSize: [3, 2], strides: [2, 3], padding: 'valid', activation: 'relu', name: 'up_valid' }).apply(twice) as tfl.SymbolicTensor;
    // TF.js only: the Conv2DBackpropInput handler needs a constant input_sizes, and the
    // lowered output size follows the input's dynamic batch.
    const graph = await roundTrip(tfl.model({ inputs: input, outputs: [same, valid] }), [2, 5, 4, 3], { onnx: false });
    expect(graph.nodes.filter((n) => n.op === 'Conv2D').map((n) => n.name)).toEqual(['shared/Conv2D', 'shared/Conv2D_1']);
    expect(graph.nodes.filter((n) => n.op === 'Const' && n.name.startsWith('shared/'))).toHaveLength(2);
  });

  it('lowers a model nested in a Sequential model', async () => {
    await tfjs();
    const inner = tfl.sequential({ name: 'backbone', layers: [tfl.layers.conv2d({ inputShape: [5, 5, 3], filters: 4, kernelSize: 3, activation: 'relu', name: 'inner_conv' })] });
    const model = tfl.sequential({ layers: [inner, tfl.layers.globalAveragePooling2d({}), tfl.layers.dense({ units: 2, name: 'head' })] });
    const graph = await roundTrip(model, [1, 5, 5, 3]);
    expect(graph.nodes.map((n) => n.name)).toContain('inner_conv/Conv2D');
  });

  it('reads uint8- and float16-quantized weights as TF.js dequantizes them', async () => {
    const tf = await tfjs();
    const model = tfl.sequential({
      layers: [tfl.layers.conv2d({ inputShape: [4, 4, 2], filters: 3, kernelSize: 2, activation: 'relu' }), tfl.layers.flatten(), tfl.layers.dense({ units: 2 })],
    });
    await randomizeWeights(model);
    const artifacts = await save(model);
    const floats = new Float32Array(artifacts.weightData);
    const chunks: Uint8Array[] = [];
    let offset = 0;
    const weightSpecs = artifacts.weightSpecs.map((spec, k) => {
      const n = spec.shape.reduce((a, b) => a * b, 1);
      const values = floats.subarray(offset, offset + n);
      offset += n;
      if (k % 2 === 1) {
        chunks.push(float16(values));
        return { ...spec, quantization: { dtype: 'float16' } };
      }
      const min = Math.min(...values);
      const scale = (Math.max(...values) - min) / 255;
      chunks.push(Uint8Array.from(values, (v) => Math.round((v - min) / scale)));
      return { ...spec, quantization: { dtype: 'uint8', min, scale } };
    });
    const quantized: Artifacts = { modelTopology: artifacts.modelTopology, weightSpecs, weightData: concat(chunks).buffer as ArrayBuffer };
    const reloaded = await tfl.loadLayersModel(tf.io.fromMemory(quantized as never));
    await expectLowersLikeKeras(reloaded, quantized, [2, 4, 4, 2]);
  });
});

/** A Keras 3 tensor reference in a call's args. */
const kt = (layer: string) => ({ class_name: '__keras_tensor__', config: { shape: [null, 2, 2], dtype: 'float32', keras_history: [layer, 0, 0] } });

/** A model.json around a hand-written Keras config; weights given by name, written as float32. */
function handWritten(modelConfig: object, weights: Record<string, { shape: number[]; values: number[] }>, kerasVersion = '2.15.0'): { modelJson: object; weights: Uint8Array } {
  const specs = Object.entries(weights).map(([name, w]) => ({ name, shape: w.shape, dtype: 'float32' }));
  const data = Float32Array.from(Object.values(weights).flatMap((w) => w.values));
  return {
    modelJson: { format: 'layers-model', modelTopology: { keras_version: kerasVersion, backend: 'tensorflow', model_config: modelConfig }, weightsManifest: [{ paths: ['w.bin'], weights: specs }] },
    weights: new Uint8Array(data.buffer),
  };
}

describe('readTfjsLayersModel: hand-written configs', () => {
  it('reads a Keras 3 functional config (call dicts, keras_history, scoped weight names) with exact values', async () => {
    const [g, b, m, v, k, bias, eps] = [[2, 0.5], [0.1, -1], [1, -2], [3, 0.5], [0.25, -1.5], [0.2], 0.5] as const;
    const config = {
      module: 'keras',
      class_name: 'Functional',
      config: {
        name: 'k3',
        layers: [
          { module: 'keras.layers', class_name: 'InputLayer', config: { batch_shape: [null, 2, 2], dtype: 'float32', name: 'x' }, name: 'x', inbound_nodes: [] },
          {
            module: 'keras.layers',
            class_name: 'BatchNormalization',
            config: { name: 'bn', axis: 1, epsilon: eps, center: true, scale: true, dtype: { module: 'keras', class_name: 'DTypePolicy', config: { name: 'float32' } } },
            name: 'bn',
            inbound_nodes: [{ args: [kt('x')], kwargs: { training: false } }],
          },
          {
            class_name: 'Dense',
            config: { name: 'fc', units: 1, use_bias: true, activation: { module: 'keras.activations', class_name: 'function', config: 'relu', registered_name: 'relu' } },
            name: 'fc',
            inbound_nodes: [{ args: [kt('bn')], kwargs: {} }],
          },
          { class_name: 'Subtract', config: { name: 'diff' }, name: 'diff', inbound_nodes: [{ args: [[kt('fc'), kt('bn')]], kwargs: {} }] },
        ],
        input_layers: ['x', 0, 0],
        output_layers: [['diff', 0, 0]],
      },
    };
    const { modelJson, weights } = handWritten(
      config,
      {
        'k3/bn/gamma': { shape: [2], values: [...g] },
        'k3/bn/beta': { shape: [2], values: [...b] },
        'k3/bn/moving_mean': { shape: [2], values: [...m] },
        'k3/bn/moving_variance': { shape: [2], values: [...v] },
        'k3/fc/kernel': { shape: [2, 1], values: [...k] },
        'k3/fc/bias': { shape: [1], values: [...bias] },
      },
      '3.5.0',
    );
    const graph = readTfjsLayersModel(modelJson, weights);
    expect(graph.signature).toEqual({ inputs: ['x:0'], outputs: ['diff/Sub:0'] });
    const x = [1, 2, -3, 4, 0.5, -1, 2, 2];
    const got = await runTfjsGraph(graph, { 'x:0': tensor('float32', [2, 2, 2], x) }, ['diff/Sub:0']);
    // Keras semantics, element by element: BN over axis 1, Dense over the last axis, broadcast subtract.
    const want: number[] = [];
    for (let n = 0; n < 2; n++) {
      for (let c = 0; c < 2; c++) {
        const bn = [0, 1].map((j) => ((x[n * 4 + c * 2 + j]! - m[c]) / Math.sqrt(v[c] + eps)) * g[c] + b[c]);
        const fc = Math.max(0, bn[0]! * k[0] + bn[1]! * k[1] + bias[0]);
        want.push(fc - bn[0]!, fc - bn[1]!);
      }
    }
    expect(got['diff/Sub:0']!.dims).toEqual([2, 2, 2]);
    Array.from(got['diff/Sub:0']!.data).forEach((val, i) => expect(val).toBeCloseTo(want[i]!, 5));
  });

  const sequential = (layers: object[]) => ({ class_name: 'Sequential', config: { name: 'seq', layers } });
  const conv = (extra: object = {}) => ({ class_name: 'Conv2D', config: { name: 'conv', filters: 1, kernel_size: [1, 1], batch_input_shape: [null, 2, 2, 1], use_bias: false, ...extra } });
  const kernel = { 'conv/kernel': { shape: [1, 1, 1, 1], values: [2] } };

  it('lists every layer it cannot lower, with the reason for Lambda', () => {
    const model = handWritten(
      sequential([conv(), { class_name: 'Lambda', config: { name: 'custom', function: 'abc' } }, { class_name: 'FancyLayer', config: { name: 'fancy' } }]),
      kernel,
    );
    expect(() => readTfjsLayersModel(model.modelJson, model.weights)).toThrow(
      expect.objectContaining({ code: 'ACCEL_ERR_CONVERT_UNSUPPORTED_OPS', message: expect.stringMatching(/2 op type.*Lambda \(layer custom: it runs Python code.*FancyLayer \(layer fancy\)/) }),
    );
  });

  it('names the layer and weight when a weight is missing from the manifest', () => {
    const model = handWritten(sequential([conv({ use_bias: true })]), kernel);
    expect(() => readTfjsLayersModel(model.modelJson, model.weights)).toThrow(/node "conv" \(op Conv2D\): weight "conv\/bias" is not in the weights manifest/);
  });

  it('fails clearly on channels_first convolutions', () => {
    const model = handWritten(sequential([conv({ data_format: 'channels_first' })]), kernel);
    expect(() => readTfjsLayersModel(model.modelJson, model.weights)).toThrow(/data_format channels_first is not supported/);
  });

  it('fails clearly when the weight bytes are shorter than the manifest', () => {
    const model = handWritten(sequential([conv()]), kernel);
    expect(() => readTfjsLayersModel(model.modelJson, model.weights.subarray(0, 2))).toThrow(
      expect.objectContaining({ code: 'ACCEL_ERR_CONVERT_BAD_MODEL', message: expect.stringMatching(/hold 2 bytes, fewer than the manifest needs/) }),
    );
  });
});

/** float32 -> IEEE half bits (round to nearest), little-endian bytes. */
function float16(values: Float32Array): Uint8Array {
  const out = new Uint16Array(values.length);
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  for (const [k, v] of values.entries()) {
    f[0] = v;
    const x = u[0]!;
    const sign = (x >>> 16) & 0x8000;
    const exp = ((x >>> 23) & 0xff) - 127 + 15;
    const mant = x & 0x7fffff;
    out[k] = exp <= 0 ? sign : sign | (exp << 10) | Math.round(mant / 8192);
  }
  return new Uint8Array(out.buffer);
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((a, c) => a + c.byteLength, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

describe('readTfjsLayersModel: nsfwjs layers models', () => {
  it.each([
    ['nsfwjs/mobilenet_v2', 224],
    ['nsfwjs/inception_v3', 299],
  ])('lowers %s like TF.js runs it, and converts to ONNX', async (name, side) => {
    const tf = await tfjs('wasm');
    const { modelJson: file } = realModel(name);
    const json = JSON.parse(readFileSync(file, 'utf8')) as { weightsManifest: { paths: string[] }[] };
    const weights = new Uint8Array(Buffer.concat(json.weightsManifest.flatMap((g) => g.paths).map((p) => readFileSync(path.join(path.dirname(file), p)))));
    const graph = readTfjsLayersModel(json, weights);
    expect(graph.signature).toEqual({ inputs: ['input_1:0'], outputs: ['dense_3/Softmax:0'] });
    const manifest = (json as unknown as { weightsManifest: { weights: WeightSpec[] }[] }).weightsManifest;
    const model = await tfl.loadLayersModel(
      tf.io.fromMemory({ modelTopology: (json as unknown as { modelTopology: object }).modelTopology, weightSpecs: manifest.flatMap((g) => g.weights) as never, weightData: weights.slice().buffer }),
    );
    const shape = [1, side, side, 3];
    const x = Float32Array.from(randomFloats(side * side * 3, 3), (v) => (v + 1) / 2);
    const got = await runTfjsGraph(graph, { 'input_1:0': tensor('float32', shape, x) }, graph.signature!.outputs);
    const input = tf.tensor(x, shape);
    const want = model.predict(input) as import('@tensorflow/tfjs-core').Tensor;
    const wv = await want.data();
    const gv = got['dense_3/Softmax:0']!;
    expect(gv.dims).toEqual([1, 5]);
    expect(Math.max(...Array.from(wv, (v, i) => Math.abs(v - gv.data[i]!)))).toBeLessThan(1e-4);
    tf.dispose([input, want]);
    model.dispose();
    await expectConvertsLikeTfjs(graph, { 'input_1:0': tensor('float32', shape, x) }, graph.signature!.outputs);
  }, 600_000);
});
