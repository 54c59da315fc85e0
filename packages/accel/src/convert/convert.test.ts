import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { tensor } from '../onnx/graph';
import { Runtime } from '../runtime/runtime';
import { randomFloats, smallTfCnn } from '../test-util/convert';
import { convertGraph } from './convert';
import { tfAttr } from './tf/attrs';
import { TfGraphBuilder } from './tf/builder';

async function runOnnxBytes(model: Uint8Array, feeds: Record<string, { dims: number[]; data: unknown }>) {
  const session = await ort.InferenceSession.create(model);
  try {
    const inputs = Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, new ort.Tensor('float32', t.data as Float32Array, t.dims)]));
    return await session.run(inputs);
  } finally {
    await session.release();
  }
}

describe('convertGraph', () => {
  it('logs each stage, keeps the TensorFlow tensor names and reports the agreement with TF.js', async () => {
    const { graph, input, output } = smallTfCnn();
    const lines: string[] = [];
    const result = await convertGraph(graph, { log: (l) => lines.push(l), samples: 3 });
    expect(result.inputs).toEqual([input]);
    expect(result.outputs).toEqual([output]);
    for (const stage of ['mapping', 'validated', 'optimized', 'verified', 'speed (batch 1)']) expect(lines.join('\n')).toContain(stage);
    expect(result.verification!.outputs[0]).toMatchObject({ output, top1Agreement: 1 });
    expect(result.verification!.worstRel).toBeLessThan(1e-5);
    expect(result.validation.ops.find(([op]) => op === 'Transpose')?.[1]).toBe(1);
  });

  it('fails with ACCEL_ERR_CONVERT_MISMATCH when the reference computes something else', async () => {
    // TF.js broadcasts a rank-1 Select condition over the last axis; TensorFlow (and the
    // converter) select whole rows. The check must catch the disagreement.
    const b = new TfGraphBuilder();
    const x = b.placeholder('x', [4, 4]);
    const cond = b.op('Greater', 'cond', [b.const('c', tensor('float32', [4], [1, -1, 1, -1])), b.const('zero', tensor('float32', [], [0]))]);
    const y = b.op('Select', 'y', [cond, x, b.op('Neg', 'neg', [x])]);
    const err = await convertGraph(b.build([x], [y]), { samples: 1 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ACCEL_ERR_CONVERT_MISMATCH', message: expect.stringContaining('output "y:0"') });
  });

  it('cuts a JPEG decoding subgraph off at the named float input; the server then does that preprocessing', async () => {
    const b = new TfGraphBuilder();
    const jpeg = b.placeholder('jpeg', [], 'string');
    const decoded = b.op('DecodeJpeg', 'decode', [jpeg], { channels: tfAttr.i(3) });
    const cast = b.op('Cast', 'cast', [decoded], { DstT: tfAttr.type('DT_FLOAT') });
    const batch = b.op('ExpandDims', 'batch', [cast, b.const('axis', 'int32', [], [0])]);
    const resized = b.op('ResizeBilinear', 'resize', [batch, b.const('size', 'int32', [2], [16, 16])]);
    const centred = b.op('Sub', 'sub', [resized, b.const('half', tensor('float32', [], [127.5]))]);
    const scaled = b.op('RealDiv', 'scaled', [centred, b.const('range', tensor('float32', [], [127.5]))]);
    const w = b.const('w', tensor('float32', [3, 3, 3, 4], randomFloats(108, 5)));
    const conv = b.op('Conv2D', 'net/conv', [scaled, w], { strides: tfAttr.ints([1, 1, 1, 1]), padding: tfAttr.s('SAME'), dilations: tfAttr.ints([1, 1, 1, 1]), data_format: tfAttr.s('NHWC') });
    const mean = b.op('Mean', 'net/gap', [b.op('Relu', 'net/relu', [conv]), b.const('axes', 'int32', [2], [1, 2])], { keep_dims: tfAttr.b(false), Tidx: tfAttr.type('DT_INT32') });
    const y = b.op('Softmax', 'net/softmax', [mean]);
    const result = await convertGraph(b.build([jpeg], [y]), { inputs: [scaled], outputs: [y], samples: 2 });
    expect(result.preprocess).toMatchObject({ width: 16, height: 16, layout: 'NHWC', mean: [127.5, 127.5, 127.5], std: [127.5, 127.5, 127.5], scale: 1 });
    expect(result.verification!.worstRel).toBeLessThan(1e-5);

    const dir = mkdtempSync(join(tmpdir(), 'accel-cut-'));
    const runtime = new Runtime({ threads: 1 });
    try {
      writeFileSync(join(dir, 'model.onnx'), result.model);
      writeFileSync(join(dir, 'model.accel.json'), JSON.stringify({ preprocess: result.preprocess }));
      await runtime.load([{ name: 'cut', path: dir }]);
      const png = await sharp({ create: { width: 16, height: 16, channels: 3, background: { r: 200, g: 100, b: 50 } } }).png().toBuffer();
      const served = await runtime.predict({ name: 'cut' }, { images: { dtype: 'string', shape: [1], data: [png] } });
      const pixels = Float32Array.from({ length: 16 * 16 * 3 }, (_, k) => ([200, 100, 50][k % 3]! - 127.5) / 127.5);
      const direct = await runOnnxBytes(result.model, { [scaled]: tensor('float32', [1, 16, 16, 3], pixels) });
      const got = Array.from(served.outputs[y]!.data as Float32Array);
      const want = Array.from(direct[y]!.data as ArrayLike<number>, Number);
      expect(got.length).toBe(4);
      for (let k = 0; k < 4; k++) expect(Math.abs(got[k]! - want[k]!)).toBeLessThan(1e-6);
    } finally {
      await runtime.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('needs tensor names when the file declares none', async () => {
    const b = new TfGraphBuilder();
    const x = b.placeholder('x', [1, 2]);
    const y = b.op('Relu', 'y', [x], { T: tfAttr.type('DT_FLOAT') });
    const graph = { ...b.build([x], [y]), signature: undefined };
    await expect(convertGraph(graph, { verify: false })).rejects.toThrow(/declares no input tensors: name them with --input-tensors/);
    const ok = await convertGraph(graph, { inputs: [x], outputs: [y], verify: false });
    expect(ok.outputs).toEqual(['y:0']);
  });
});
