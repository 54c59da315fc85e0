import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../onnx/builder';
import { defaultAnchors, postprocessDetections } from '../preprocess/ssd';
import type { NamedTensors } from '../runtime/tensor';
import { INPUT_NAME, buildZooModel } from './build';
import { Params } from './params';
import { headOutput, ssdVgg } from './ssd';

const SIZES = [38, 19, 10, 5, 3, 1];
const ANCHORS = [4, 6, 6, 6, 4, 4];

describe('ssd300_vgg16', () => {
  const arch = ssdVgg();

  it('uses torchvision ssd300_vgg16 state_dict names and shapes, 35,641,826 parameters', () => {
    const p = new Params(new GraphBuilder('names'));
    const outputs = arch.build(p, p.g.input(INPUT_NAME, 'float32', ['N', 3, 300, 300]));
    expect(p.learnable).toBe(35_641_826);
    expect(arch.publishedParameters).toBe(35_641_826);
    const expected = [
      ...[0, 2, 5, 7, 10, 12, 14, 17, 19, 21].map((i) => `backbone.features.${i}`),
      ...['0.1', '0.3', '0.5', '0.7.1', '0.7.3', '1.0', '1.2', '2.0', '2.2', '3.0', '3.2', '4.0', '4.2'].map((i) => `backbone.extra.${i}`),
      ...[0, 1, 2, 3, 4, 5].flatMap((i) => [`head.classification_head.module_list.${i}`, `head.regression_head.module_list.${i}`]),
    ].flatMap((m) => [`${m}.weight`, `${m}.bias`]);
    expect([...p.used].sort()).toEqual([...expected, 'backbone.scale_weight'].sort());
    expect(outputs.map((o) => o.name)).toEqual([
      ...[0, 1, 2, 3, 4, 5].map((i) => `ssd_vgg/box_regression_${i}:0`),
      ...[0, 1, 2, 3, 4, 5].map((i) => `ssd_vgg/class_logits_${i}:0`),
    ]);
    expect(outputs.map((o) => o.shape)).toEqual([
      ...SIZES.map((s, i) => ['N', s * s * ANCHORS[i], 4]),
      ...SIZES.map((s, i) => ['N', s * s * ANCHORS[i], 91]),
    ]);
  });

  it('preprocesses as torchvision: RGB 300x300 stretched, p - [123, 117, 104]', () => {
    const s = arch.preprocess;
    expect([s.width, s.height, s.layout, s.channelOrder, s.resize]).toEqual([300, 300, 'NCHW', 'RGB', 'stretch']);
    const normalized = (p: number, c: number) => (p * s.scale - s.mean[c]) / s.std[c];
    [123, 117, 104].forEach((m, c) => expect(normalized(m, c)).toBeCloseTo(0, 1));
    expect(normalized(255, 0) - normalized(0, 0)).toBeCloseTo(255, 6);
  });

  it('runs: raw outputs of the documented shapes, 8732 anchors, postprocessed to TF OD outputs', async () => {
    const built = buildZooModel(arch, { seed: 3 });
    expect(built.name).toBe('ssd300_vgg16-random');
    const session = await ort.InferenceSession.create(built.bytes, { intraOpNumThreads: 2 });
    const image = new Float32Array(3 * 300 * 300);
    for (let i = 0; i < image.length; i++) image[i] = Math.cos(i * 0.0007) * 50;
    const r = await session.run({ [INPUT_NAME]: new ort.Tensor('float32', image, [1, 3, 300, 300]) });
    await session.release();
    const raw: NamedTensors = {};
    let anchors = 0;
    SIZES.forEach((s, i) => {
      const boxes = r[`ssd_vgg/box_regression_${i}:0`];
      const logits = r[`ssd_vgg/class_logits_${i}:0`];
      expect(boxes.dims).toEqual([1, s * s * ANCHORS[i], 4]);
      expect(logits.dims).toEqual([1, s * s * ANCHORS[i], 91]);
      anchors += s * s * ANCHORS[i];
      raw[`ssd_vgg/box_regression_${i}:0`] = { dtype: 'float32', shape: [...boxes.dims], data: boxes.data as Float32Array };
      raw[`ssd_vgg/class_logits_${i}:0`] = { dtype: 'float32', shape: [...logits.dims], data: logits.data as Float32Array };
    });
    expect(anchors).toBe(defaultAnchors().length / 4);
    const out = postprocessDetections(raw);
    expect(out.detection_boxes.shape).toEqual([1, 100, 4]);
    expect(out.detection_classes.shape).toEqual([1, 100]);
    expect(out.num_detections.shape).toEqual([1]);
    const n = out.num_detections.data[0] as number;
    expect(n).toBeGreaterThan(0);
    const scores = out.detection_scores.data as Float32Array;
    for (let d = 1; d < n; d++) expect(scores[d]).toBeLessThanOrEqual(scores[d - 1]);
    for (let d = 0; d < n; d++) {
      const c = out.detection_classes.data[d] as number;
      expect(c >= 1 && c <= 90).toBe(true);
    }
    expect((out.detection_boxes.data as Float32Array).every((v) => v >= 0 && v <= 1)).toBe(true);
  }, 120_000);

  it('lays the head out as torchvision: channel a*K + k at (h, w) -> row (h*W + w)*A + a, column k', async () => {
    const [A, K, H] = [3, 5, 4];
    const weight = new Float32Array(A * K * 9);
    for (let ch = 0; ch < A * K; ch++) weight[ch * 9 + 4] = 1000; // centre tap
    const bias = Float32Array.from({ length: A * K }, (_, ch) => ch);
    const table = new Map([
      ['h.weight', { dims: [A * K, 1, 3, 3], data: weight }],
      ['h.bias', { dims: [A * K], data: bias }],
    ]);
    const p = new Params(new GraphBuilder('head'), table);
    const x = p.g.input('x', 'float32', ['N', 1, H, H]);
    p.g.output(headOutput(p, x, 'h', 1, H, A, K), 'float32', ['N', H * H * A, K]);
    const session = await ort.InferenceSession.create(p.g.toBytes());
    const input = Float32Array.from({ length: 2 * H * H }, (_, i) => i);
    const r = await session.run({ x: new ort.Tensor('float32', input, [2, 1, H, H]) });
    const out = Object.values(r)[0];
    expect(out.dims).toEqual([2, H * H * A, K]);
    const data = out.data as Float32Array;
    for (let n = 0; n < 2; n++)
      for (let loc = 0; loc < H * H; loc++)
        for (let a = 0; a < A; a++)
          for (let k = 0; k < K; k++) expect(data[((n * H * H + loc) * A + a) * K + k]).toBe(1000 * (n * H * H + loc) + a * K + k);
    await session.release();
  });
});
