import { writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { modelDir } from '../test-util/models';
import { solidPng } from '../test-util/server';
import { buildZooModel } from '../zoo/build';
import { architecture } from '../zoo/catalog';
import { Runtime } from './runtime';

const files = modelDir();
afterAll(() => files.cleanup());

describe('server-side SSD post-processing', () => {
  it('serves detection_boxes/classes/scores/num_detections next to the raw outputs', async () => {
    const built = buildZooModel(architecture('ssd300_vgg16'));
    const path = files.write('ssd.onnx', built.bytes);
    writeFileSync(path.replace(/\.onnx$/, '.accel.json'), JSON.stringify({ ...built.sidecar, postprocess: { ...built.sidecar.postprocess, maxDetections: 20 } }));
    const rt = new Runtime({ batching: { maxBatchSize: 1 } });
    await rt.load([{ name: 'ssd', path }]);
    try {
      const aliases = rt.resolve({}).signature.outputs.map((o) => o.alias);
      expect(aliases).toEqual(expect.arrayContaining(['ssd_vgg/box_regression_0:0', 'ssd_vgg/class_logits_5:0', 'detection_boxes', 'num_detections']));
      const image = { images: { dtype: 'string' as const, shape: [1], data: [await solidPng(120, 80, 40, 320, 240)] } };
      const r = await rt.predict({}, image, { outputFilter: ['detection_boxes', 'detection_classes', 'detection_scores', 'num_detections'] });
      expect(Object.keys(r.outputs)).toEqual(['detection_boxes', 'detection_classes', 'detection_scores', 'num_detections']);
      expect(r.outputs.detection_boxes.shape).toEqual([1, 20, 4]);
      expect(r.outputs.detection_scores.shape).toEqual([1, 20]);
      const n = (r.outputs.num_detections.data as Float32Array)[0];
      expect(n).toBeGreaterThanOrEqual(0);
      expect(n).toBeLessThanOrEqual(20);
      const scores = Array.from(r.outputs.detection_scores.data as Float32Array).slice(0, n);
      expect(scores).toEqual([...scores].sort((a, b) => b - a));
      const boxes = r.outputs.detection_boxes.data as Float32Array;
      for (let i = 0; i < n * 4; i++) expect(boxes[i] >= 0 && boxes[i] <= 1).toBe(true);
      const raw = await rt.predict({}, image, { outputFilter: ['ssd_vgg/class_logits_0:0'] });
      expect(raw.outputs['ssd_vgg/class_logits_0:0'].shape).toEqual([1, 38 * 38 * 4, 91]);
    } finally {
      await rt.close();
    }
  }, 120_000);
});
