import { describe, expect, it } from 'vitest';
import { readOnnxModel } from '../onnx/read';
import { quantizeModel } from './quantize';
import { optimizedOps, runFirstOutput, synthCnn, synthImages } from './test-models';

const calibration = { input: 'image', itemDims: [3, 16, 16], images: synthImages(16) };
const heldOut = synthImages(8, 100);
const count = (ops: string[], op: string) => ops.filter((o) => o === op).length;

describe('quantizeModel (QDQ)', () => {
  it('produces a model ONNX Runtime fuses into integer kernels, close to the float model', async () => {
    const fp32 = synthCnn();
    const result = await quantizeModel(fp32, calibration);
    const ops = await optimizedOps(result.model);
    expect(count(ops, 'QLinearConv')).toBe(4);
    expect(ops).not.toContain('Conv');
    expect(ops).toEqual(expect.arrayContaining(['QLinearAdd', 'QLinearConcat', 'QLinearGlobalAveragePool', 'QGemm']));
    expect(ops).not.toContain('Relu'); // folded into the QuantizeLinear range
    expect(result.quantized.map((n) => n.op).sort()).toEqual(['Add', 'Concat', 'Conv', 'Conv', 'Conv', 'Conv', 'Gemm', 'GlobalAveragePool']);
    expect(result.float).toEqual([expect.objectContaining({ name: 'softmax#node', op: 'Softmax', reason: expect.stringContaining('float') })]);

    const [a, b] = await Promise.all([runFirstOutput(fp32, 'image', [3, 16, 16], heldOut), runFirstOutput(result.model, 'image', [3, 16, 16], heldOut)]);
    let worst = 0;
    for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
    expect(worst).toBeGreaterThan(0); // it really is quantized
    expect(worst).toBeLessThan(0.05);
  });

  it('stores int8 weights with one scale per output channel, or one per tensor', async () => {
    const perChannel = readOnnxModel((await quantizeModel(synthCnn(), calibration)).model);
    const perTensor = readOnnxModel((await quantizeModel(synthCnn(), calibration, { perChannel: false })).model);
    const scaleOf = (g: typeof perChannel) => g.initializers.get(g.nodes.find((n) => n.op === 'DequantizeLinear' && n.inputs[0]!.includes('weight'))!.inputs[1]!)!;
    expect(scaleOf(perChannel).dims).toEqual([8]);
    expect(scaleOf(perTensor).dims).toEqual([]);
    const weights = [...perChannel.initializers.entries()].filter(([name]) => name.includes('/weight/quantized'));
    expect(weights.length).toBe(5);
    for (const [, t] of weights) expect(t.dtype).toBe('int8');
    expect([...perChannel.initializers.values()].filter((t) => t.dtype === 'float32' && t.dims.length === 4)).toEqual([]);
  });

  it('splits ORT fused convolutions back into Conv + activation before quantizing', async () => {
    const result = await quantizeModel(synthCnn({ fused: true }), calibration);
    expect(readOnnxModel(result.model).nodes.some((n) => n.op === 'FusedConv')).toBe(false);
    expect(count(await optimizedOps(result.model), 'QLinearConv')).toBe(4);
    expect(result.quantized.some((n) => n.name === 'stem#node' && n.op === 'Conv')).toBe(true);
  });

  it('leaves excluded nodes in float and says so; refuses unknown names', async () => {
    const result = await quantizeModel(synthCnn(), calibration, { exclude: ['fc#node'] });
    expect(result.float).toContainEqual({ name: 'fc#node', op: 'Gemm', reason: 'excluded (--exclude)' });
    const ops = await optimizedOps(result.model);
    expect(ops).not.toContain('QGemm');
    expect(count(ops, 'QLinearConv')).toBe(4);
    await expect(quantizeModel(synthCnn(), calibration, { exclude: ['no-such-node'] })).rejects.toMatchObject({ code: 'ACCEL_ERR_USAGE', message: expect.stringContaining('no-such-node') });
  });

  it('keeps an excluded convolution in float between quantized neighbours (ORT would quantize it per tensor)', async () => {
    const depthwise = readOnnxModel(synthCnn()).nodes.filter((n) => n.op === 'Conv')[1]!.name;
    const result = await quantizeModel(synthCnn(), calibration, { exclude: [depthwise] });
    const ops = await optimizedOps(result.model);
    expect(count(ops, 'QLinearConv')).toBe(3);
    expect(ops.some((op) => op === 'Conv' || op === 'FusedConv')).toBe(true);
    const [a, b] = await Promise.all([runFirstOutput(synthCnn(), 'image', [3, 16, 16], heldOut), runFirstOutput(result.model, 'image', [3, 16, 16], heldOut)]);
    for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - b[i]!)).toBeLessThan(0.05);
  });

  it('calibrates with each method; the histogram methods clip to a narrower range than minmax', async () => {
    const scaleOfInput = async (method: 'minmax' | 'entropy' | 'percentile') => {
      const g = readOnnxModel((await quantizeModel(synthCnn(), calibration, { method, percentile: 99 })).model);
      const q = g.nodes.find((n) => n.op === 'QuantizeLinear' && n.inputs[0] === 'image')!;
      return (g.initializers.get(q.inputs[1]!)!.data as Float32Array)[0]!;
    };
    const minmax = await scaleOfInput('minmax');
    expect(await scaleOfInput('percentile')).toBeLessThan(minmax);
    expect(await scaleOfInput('entropy')).toBeLessThanOrEqual(minmax);
  });
});
