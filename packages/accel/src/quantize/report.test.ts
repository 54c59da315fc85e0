import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../onnx/builder';
import { randomFloats } from '../test-util/convert';
import { compareModels, formatReport } from './report';
import type { QuantizeResult } from './types';

const CLASSES = 7;
const SIZE = 4;
const HW = SIZE * SIZE;
const W = randomFloats(3 * CLASSES, 21);
const PERTURBED = W.map((w, i) => w + 0.8 * randomFloats(3 * CLASSES, 22)[i]);
// 21 images: batches of 8, 8 and 5.
const IMAGES = Array.from({ length: 21 }, (_, i) => randomFloats(3 * HW, 100 + i).map((v, j) => v + ((j / HW) | 0) * (i % 3) * 0.5));

/** Channel means -> dense [3, CLASSES] -> logits (or probabilities with `softmax`). */
function classifier(weights: Float32Array, opts: { softmax?: boolean; batch?: number | string } = {}): Uint8Array {
  const g = new GraphBuilder('mean-dense');
  const x = g.input('x', 'float32', [opts.batch ?? 'N', 3, SIZE, SIZE]);
  const flat = g.node('Flatten', [g.node('GlobalAveragePool', [x])], { attrs: { axis: 1 } });
  const logits = g.node('MatMul', [flat, g.initializer('w', [3, CLASSES], weights)], opts.softmax ? {} : { name: 'scores' });
  g.output(opts.softmax ? g.node('Softmax', [logits], { name: 'scores', attrs: { axis: 1 } }) : logits, 'float32', [opts.batch ?? 'N', CLASSES]);
  return g.toBytes();
}

/** The same in JS: probabilities of every image. */
function probabilities(weights: Float32Array): number[][] {
  return IMAGES.map((img) => {
    const means = [0, 1, 2].map((c) => img.subarray(c * HW, (c + 1) * HW).reduce((a, b) => a + b, 0) / HW);
    const logits = Array.from({ length: CLASSES }, (_, k) => means.reduce((s, m, c) => s + m * weights[c * CLASSES + k], 0));
    const exps = logits.map((l) => Math.exp(l - Math.max(...logits)));
    return exps.map((e) => e / exps.reduce((a, b) => a + b, 0));
  });
}

const top = (row: number[], k: number) => row.map((p, i) => [p, i]).sort((a, b) => b[0] - a[0]).slice(0, k).map(([, i]) => i);
const compare = (a: Uint8Array, b: Uint8Array) => compareModels(a, b, 'x', [3, SIZE, SIZE], IMAGES, { latencyRuns: 2, threads: 1 });

describe('compareModels', () => {
  it('finds a model in full agreement with itself and measures both at batch 1 and 8', async () => {
    const logs: string[] = [];
    const model = classifier(W, { softmax: true });
    const r = await compareModels(model, model, 'x', [3, SIZE, SIZE], IMAGES, { latencyRuns: 3, threads: 1, log: (l) => logs.push(l) });
    expect(r).toMatchObject({ images: 21, classes: CLASSES, output: 'scores', softmaxApplied: false, top1Agreement: 1, top5Agreement: 1, meanAbsDiff: 0, maxAbsDiff: 0 });
    for (const l of [r.latency.batch1, r.latency.batch8!]) {
      expect(l.fp32Ms).toBeGreaterThan(0);
      expect(l.ratio).toBeCloseTo(l.int8Ms / l.fp32Ms, 10);
    }
    expect(logs.join('\n')).toMatch(/evaluated 21 images at batch 8[\s\S]*3 runs at batch 1, 3 at batch 8, fp32 and int8 interleaved/);
  });

  it('measures the disagreement of a perturbed copy, on probabilities whether the models give logits or probabilities', async () => {
    const [want, got] = [probabilities(W), probabilities(PERTURBED)];
    const top1 = want.filter((row, i) => top(row, 1)[0] === top(got[i], 1)[0]).length / IMAGES.length;
    const top5 = want.reduce((s, row, i) => s + top(row, 5).filter((c) => top(got[i], 5).includes(c)).length / 5, 0) / IMAGES.length;
    const diffs = want.flatMap((row, i) => row.map((p, k) => Math.abs(p - got[i][k])));
    expect(top1).toBeLessThan(1);
    expect(top5).toBeLessThan(1);

    const fromProbs = await compare(classifier(W, { softmax: true }), classifier(PERTURBED, { softmax: true }));
    const fromLogits = await compare(classifier(W), classifier(PERTURBED));
    expect([fromProbs.softmaxApplied, fromLogits.softmaxApplied]).toEqual([false, true]);
    for (const r of [fromProbs, fromLogits]) {
      expect(r.top1Agreement).toBeCloseTo(top1, 10);
      expect(r.top5Agreement).toBeCloseTo(top5, 10);
      expect(r.meanAbsDiff).toBeCloseTo(diffs.reduce((a, b) => a + b, 0) / diffs.length, 5);
      expect(r.maxAbsDiff).toBeCloseTo(Math.max(...diffs), 5);
    }
  });

  it('evaluates a model with a fixed batch of 1 one image at a time, with no batch-8 latency', async () => {
    const model = classifier(W, { batch: 1 });
    const r = await compare(model, model);
    expect(r).toMatchObject({ images: 21, top1Agreement: 1, softmaxApplied: true, latency: { batch8: null } });
  });
});

describe('formatReport', () => {
  it('prints agreement, differences, the latency table and the nodes left in float with their reason', () => {
    const result: QuantizeResult = {
      model: new Uint8Array(),
      method: 'minmax',
      perChannel: true,
      calibrationImages: 40,
      quantized: [{ name: 'conv1', op: 'Conv' }, { name: 'conv2', op: 'Conv' }, { name: 'fc', op: 'Gemm' }],
      float: [{ name: 'head', op: 'Softmax', reason: 'excluded by --exclude' }],
    };
    const text = formatReport(
      { images: 10, classes: 1000, output: 'probs', softmaxApplied: false, top1Agreement: 0.9, top5Agreement: 0.96, meanAbsDiff: 1.5e-4, maxAbsDiff: 0.02, latency: { batch1: { fp32Ms: 4, int8Ms: 2, ratio: 0.5 }, batch8: { fp32Ms: 20, int8Ms: 12, ratio: 0.6 } } },
      result,
    );
    expect(text).toContain('agreement on 10 images, output "probs" (1000 classes):');
    expect(text).toContain('top-1 90.0% of images predict the same class');
    expect(text).toContain("top-5 96.0% of the float model's top 5 classes are in the int8 model's top 5");
    expect(text).toContain('mean 1.50e-4, max 2.00e-2');
    expect(text).toContain('  BATCH   FP32 MS   INT8 MS  INT8/FP32\n      1      4.00      2.00       0.50\n      8     20.00     12.00       0.60');
    expect(text).toContain('quantized nodes: 3 (Conv 2, Gemm 1)');
    expect(text).toContain('float nodes: 1\n  head (Softmax): excluded by --exclude');
  });
});
