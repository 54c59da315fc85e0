import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import { float, int, ints, OnnxGraph, str, tensor, type Node } from '../onnx/graph';
import { randomFloats } from '../test-util/convert';

/**
 * A small CNN made of every op family the quantizer handles (Conv+Relu, depthwise Conv+Clip,
 * residual Add, MaxPool, Concat, GlobalAveragePool, Flatten, Gemm, Softmax), with synthetic
 * deterministic weights: for structure tests (fusion, exclusion), not for accuracy claims.
 * `fused` writes the first conv as ORT's com.microsoft FusedConv, as offline optimization does.
 */
export function synthCnn(opts: { fused?: boolean } = {}): Uint8Array {
  const g = new OnnxGraph('synthetic-cnn');
  const x = g.addInput('image', { dtype: 'float32', shape: ['N', 3, 16, 16] });
  let seed = 1;
  const w = (dims: number[], scale = 0.3) => g.addInitializer('w', tensor('float32', dims, randomFloats(dims.reduce((a, b) => a * b, 1), seed++).map((v) => v * scale)));
  const conv = (input: string, cin: number, cout: number, group = 1): string =>
    g.addNode('Conv', [input, w([cout, cin / group, 3, 3]), w([cout], 0.1)], { attrs: { pads: ints([1, 1, 1, 1]), group: int(group) }, name: `conv${seed}` }).outputs[0]!;
  let a: string;
  if (opts.fused) {
    a = g.addNode('FusedConv', [x, w([8, 3, 3, 3]), w([8], 0.1)], { domain: 'com.microsoft', attrs: { pads: ints([1, 1, 1, 1]), activation: str('Relu') }, name: 'stem' }).outputs[0]!;
  } else {
    a = g.addNode('Relu', [conv(x, 3, 8)], { name: 'stem_relu' }).outputs[0]!;
  }
  const lo = g.addInitializer('lo', tensor('float32', [], [0]));
  const hi = g.addInitializer('hi', tensor('float32', [], [6]));
  const dw = g.addNode('Clip', [conv(a, 8, 8, 8), lo, hi], { name: 'dw_relu6' }).outputs[0]!;
  const sum = g.addNode('Add', [a, dw], { name: 'residual' }).outputs[0]!;
  const pooled = g.addNode('MaxPool', [sum], { attrs: { kernel_shape: ints([2, 2]), strides: ints([2, 2]) }, name: 'pool' }).outputs[0]!;
  const b1 = g.addNode('Relu', [conv(pooled, 8, 8)], { name: 'branch1_relu' }).outputs[0]!;
  const b2 = g.addNode('Relu', [conv(pooled, 8, 8)], { name: 'branch2_relu' }).outputs[0]!;
  const cat = g.addNode('Concat', [b1, b2], { attrs: { axis: int(1) }, name: 'concat' }).outputs[0]!;
  const gap = g.addNode('GlobalAveragePool', [cat], { name: 'gap' }).outputs[0]!;
  const flat = g.addNode('Flatten', [gap], { name: 'flatten' }).outputs[0]!;
  const logits = g.addNode('Gemm', [flat, w([5, 16]), w([5], 0.1)], { attrs: { transB: int(1), alpha: float(1) }, name: 'fc' }).outputs[0]!;
  g.addNode('Softmax', [logits], { attrs: { axis: int(1) }, name: 'softmax', outputs: ['probabilities'] });
  g.addOutput('probabilities', { dtype: 'float32', shape: ['N', 5] });
  return g.toBytes();
}

/** Images for the synthetic CNN: smooth deterministic patterns in [0, 1]. */
export function synthImages(count: number, seed = 7): Float32Array[] {
  return Array.from({ length: count }, (_, k) => {
    const noise = randomFloats(3 * 16 * 16, seed + k);
    return noise.map((v, i) => 0.5 + 0.3 * Math.sin((i % 16) / (2 + (k % 5))) + 0.2 * v);
  });
}

/** Op types of the graph ONNX Runtime builds from a model at `extended` (where QDQ groups fuse). */
export async function optimizedOps(model: Uint8Array): Promise<Node['op'][]> {
  const dir = await mkdtemp(join(tmpdir(), 'accel-qdq-'));
  try {
    const out = join(dir, 'optimized.onnx');
    const session = await ort.InferenceSession.create(model, { graphOptimizationLevel: 'extended', optimizedModelFilePath: out, executionProviders: ['cpu'] });
    await session.release();
    return (onnxProto.onnx.ModelProto.decode(await readFile(out)).graph?.node ?? []).map((n) => n.opType!);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Runs a single-input model on a batch of items; returns the first output's values. */
export async function runFirstOutput(model: Uint8Array, input: string, itemDims: number[], items: Float32Array[]): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(model, { graphOptimizationLevel: 'all', executionProviders: ['cpu'] });
  try {
    const data = new Float32Array(items.length * items[0]!.length);
    items.forEach((it, k) => data.set(it, k * it.length));
    const out = await session.run({ [input]: new ort.Tensor('float32', data, [items.length, ...itemDims]) });
    return out[session.outputNames[0]!]!.data as Float32Array;
  } finally {
    await session.release();
  }
}
