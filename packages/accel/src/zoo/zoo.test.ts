import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { ARCHITECTURES } from './catalog';
import { INPUT_NAME, buildZooModel } from './build';

/** Published parameter counts with the default head, rounded as the issue states them. */
const PUBLISHED_MILLIONS: Record<string, number> = { resnet50: 25.6, resnet152: 60.2, densenet121: 8.0, vgg16: 138.4 };

describe.each(ARCHITECTURES.map((a) => [a.name, a] as const))('zoo architecture %s', (name, arch) => {
  const built = buildZooModel(arch, { seed: 7 });

  it('has the published parameter count', () => {
    expect(built.parameters).toBe(arch.publishedParameters);
    if (PUBLISHED_MILLIONS[name] !== undefined) expect(Number((built.parameters / 1e6).toFixed(1))).toBe(PUBLISHED_MILLIONS[name]);
  });

  it('says random weights in its name and keeps stable tensor names', () => {
    expect(built.name).toBe(`${name}-random`);
    expect(built.inputName).toBe(INPUT_NAME);
    if (arch.kind === 'classifier') expect(built.outputNames).toEqual([`classifier/${arch.scope}/predictions/Softmax:0`]);
  });

  it('runs at batch 1 and batch 4, and the batch results equal the single results', async () => {
    const session = await ort.InferenceSession.create(built.bytes, { graphOptimizationLevel: 'all', intraOpNumThreads: 2 });
    const { height, width } = arch.preprocess;
    const size = 3 * height * width;
    const batch = new Float32Array(4 * size);
    for (let i = 0; i < batch.length; i++) batch[i] = Math.sin(i * 0.001) * 2;
    const four = await session.run({ [INPUT_NAME]: new ort.Tensor('float32', batch, [4, 3, height, width]) });
    for (const item of [0, 3]) {
      const one = await session.run({ [INPUT_NAME]: new ort.Tensor('float32', batch.slice(item * size, (item + 1) * size), [1, 3, height, width]) });
      for (const out of built.outputNames) {
        const single = one[out].data as Float32Array;
        expect(four[out].dims[0]).toBe(4);
        const slice = (four[out].data as Float32Array).subarray(item * single.length, (item + 1) * single.length);
        let maxDiff = 0;
        for (let i = 0; i < single.length; i++) maxDiff = Math.max(maxDiff, Math.abs(single[i] - slice[i]));
        expect(maxDiff).toBeLessThan(1e-4);
        if (arch.kind === 'classifier') {
          expect(one[out].dims).toEqual([1, 1000]);
          const sum = single.reduce((a, b) => a + b, 0);
          expect(sum).toBeCloseTo(1, 4);
        }
      }
    }
    await session.release();
  }, 120_000);
});

describe('classifier heads', () => {
  const arch = ARCHITECTURES.find((a) => a.name === 'resnet50')!;

  it('builds the featurizer alone (features out)', async () => {
    const built = buildZooModel(arch, { classifier: 'none' });
    expect(built.outputNames).toEqual(['resnet_v1_50/features:0']);
    expect(built.parameters).toBe(arch.publishedParameters - (2048 * 1000 + 1000));
  });

  it('grafts a user classifier on the features and refuses weights of another model', async () => {
    const { GraphBuilder } = await import('../onnx/builder');
    const head = new GraphBuilder('head');
    head.input('feat', 'float32', ['N', 2048]);
    const w = head.initializer('w', [2048, 3], new Float32Array(2048 * 3).fill(0.001));
    head.output(head.node('Softmax', [head.node('MatMul', ['feat', w])], { name: 'three_classes', attrs: { axis: 1 } }), 'float32', ['N', 3]);
    const built = buildZooModel(arch, { classifier: { onnx: head.toBytes() } });
    expect(built.outputNames).toEqual(['classifier/custom/three_classes']);
    const session = await ort.InferenceSession.create(built.bytes);
    const r = await session.run({ [INPUT_NAME]: new ort.Tensor('float32', new Float32Array(3 * 224 * 224), [1, 3, 224, 224]) });
    expect(r['classifier/custom/three_classes'].dims).toEqual([1, 3]);
    await session.release();
    const wrong = new Map([['not.a.resnet.weight', { dims: [1], data: new Float32Array(1) }]]);
    expect(() => buildZooModel(arch, { weights: wrong })).toThrow(/the weights have no tensor "conv1.weight"/);
  });
});
