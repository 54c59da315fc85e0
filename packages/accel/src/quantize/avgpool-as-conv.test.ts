import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { int, ints, OnnxGraph } from '../onnx/graph';
import { readOnnxModel } from '../onnx/read';
import { randomFloats } from '../test-util/convert';
import { averagePoolsAsConvs } from './avgpool-as-conv';

function pool(attrs: { kernel: number[]; strides: number[]; pads: number[]; includePad: number }): Uint8Array {
  const g = new OnnxGraph('pool');
  g.addInput('x', { dtype: 'float32', shape: ['N', 4, 9, 7] });
  g.addNode('AveragePool', ['x'], {
    attrs: { kernel_shape: ints(attrs.kernel), strides: ints(attrs.strides), pads: ints(attrs.pads), count_include_pad: int(attrs.includePad) },
    outputs: ['y'],
  });
  g.addOutput('y', { dtype: 'float32', shape: null });
  return g.toBytes();
}

async function run(model: Uint8Array, x: Float32Array): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(model);
  try {
    return (await s.run({ x: new ort.Tensor('float32', x, [2, 4, 9, 7]) })).y!.data as Float32Array;
  } finally {
    await s.release();
  }
}

describe('averagePoolsAsConvs', () => {
  it.each([
    { kernel: [3, 3], strides: [1, 1], pads: [1, 1, 1, 1], includePad: 0 },
    { kernel: [3, 3], strides: [2, 2], pads: [1, 0, 1, 1], includePad: 0 },
    { kernel: [2, 3], strides: [1, 2], pads: [0, 0, 0, 0], includePad: 0 },
    { kernel: [3, 3], strides: [1, 1], pads: [1, 1, 1, 1], includePad: 1 },
  ])('rewrites AveragePool %j as a depthwise Conv (and a count correction) with the same result', async (attrs) => {
    const original = pool(attrs);
    const g = readOnnxModel(original);
    expect(averagePoolsAsConvs(g)).toBe(1);
    expect(g.nodes.map((n) => n.op)).toEqual(attrs.includePad || attrs.pads.every((p) => p === 0) ? ['Conv'] : ['Conv', 'Mul']);
    const x = randomFloats(2 * 4 * 9 * 7, 3);
    const [a, b] = [await run(original, x), await run(g.toBytes(), x)];
    expect(b.length).toBe(a.length);
    for (let i = 0; i < a.length; i++) expect(b[i]).toBeCloseTo(a[i]!, 5);
  });
});
