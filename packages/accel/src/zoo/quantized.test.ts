import { describe, expect, it } from 'vitest';
import { optimizedOps } from '../quantize/test-models';
import { buildZooModel } from './build';
import { architecture, ARCHITECTURES } from './catalog';
import { quantizeZooModel, quantizedTitle } from './quantized';

describe('quantized zoo variants', () => {
  it('carry the seed names', () => {
    expect(ARCHITECTURES.map(quantizedTitle)).toEqual(['QuantizedResnet50', 'QuantizedResnet152', 'QuantizedDensenet121', 'QuantizedVgg16', 'QuantizedSsdVgg']);
  });

  it('QuantizedResnet50: BatchNorm folded, every convolution and the classifier in integer kernels', async () => {
    const arch = architecture('resnet50');
    const q = await quantizeZooModel(arch, buildZooModel(arch)); // random weights: structure only
    expect(q.name).toBe('quantized-resnet50-random');
    expect(q.result.float.map((n) => n.op)).toEqual(['Softmax']);
    const ops = await optimizedOps(q.bytes);
    expect(ops.filter((op) => op === 'QLinearConv')).toHaveLength(53);
    expect(ops).toContain('QGemm');
    expect(ops.filter((op) => op === 'Conv' || op === 'FusedConv' || op === 'BatchNormalization')).toEqual([]);
    expect(q.sidecar).toMatchObject({ preprocess: arch.preprocess, quantization: { method: 'percentile', calibrationImages: 8 } });
  }, 120_000);
});
