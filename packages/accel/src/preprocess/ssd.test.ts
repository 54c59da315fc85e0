import { describe, expect, it } from 'vitest';
import type { NamedTensors } from '../runtime/tensor';
import { anchorsPerLocation, decodeBoxes, defaultAnchors, nonMaxSuppression, postprocessDetections, ssdOutputNames } from './ssd';

const close = (actual: ArrayLike<number>, expected: number[], digits = 5) => {
  expect(actual.length).toBe(expected.length);
  expected.forEach((e, i) => expect(actual[i]).toBeCloseTo(e, digits));
};

describe('defaultAnchors (torchvision DefaultBoxGenerator for ssd300_vgg16)', () => {
  const anchors = defaultAnchors();
  const anchor = (i: number) => Array.from(anchors.subarray(i * 4, i * 4 + 4));

  it('has 8732 boxes: 38²·4 + 19²·6 + 10²·6 + 5²·6 + 3²·4 + 1·4', () => {
    expect(anchorsPerLocation()).toEqual([4, 6, 6, 6, 4, 4]);
    expect(anchors.length / 4).toBe(8732);
    expect(defaultAnchors()).toBe(anchors); // cached
  });

  it('starts with the four boxes of the top-left cell of the 38x38 map', () => {
    const c = 0.5 / 37.5;
    close(anchor(0), [c, c, 0.07, 0.07]);
    close(anchor(1), [c, c, Math.sqrt(0.07 * 0.15), Math.sqrt(0.07 * 0.15)]);
    close(anchor(2), [c, c, 0.07 * Math.SQRT2, 0.07 / Math.SQRT2]);
    close(anchor(3), [c, c, 0.07 / Math.SQRT2, 0.07 * Math.SQRT2]);
    // second cell of the first row: x moves, y does not
    close(anchor(4), [1.5 / 37.5, c, 0.07, 0.07]);
    // first cell of the second row
    close(anchor(38 * 4), [c, 1.5 / 37.5, 0.07, 0.07]);
  });

  it('orders scales, rows, columns, anchors; clips w and h but not the centres', () => {
    // first box of the 19x19 map (step 16), with the aspect-3 pair last
    const s1 = 5776;
    close(anchor(s1), [0.5 / 18.75, 0.5 / 18.75, 0.15, 0.15]);
    close(anchor(s1 + 5), [0.5 / 18.75, 0.5 / 18.75, 0.15 / Math.sqrt(3), 0.15 * Math.sqrt(3)]);
    // last column of the 10x10 map (step 32): 9.5 / 9.375 > 1, kept as torchvision does
    const s2 = 5776 + 2166;
    close(anchor(s2 + 9 * 6), [9.5 / 9.375, 0.5 / 9.375, 0.33, 0.33]);
    // the 1x1 map: s = 0.87, s' = sqrt(0.87 * 1.05), aspect 2 width 1.23 clipped to 1
    close(anchor(8728), [0.5, 0.5, 0.87, 0.87]);
    close(anchor(8729), [0.5, 0.5, Math.sqrt(0.87 * 1.05), Math.sqrt(0.87 * 1.05)]);
    close(anchor(8730), [0.5, 0.5, 1, 0.87 / Math.SQRT2]);
    close(anchor(8731), [0.5, 0.5, 0.87 / Math.SQRT2, 1]);
  });
});

describe('decodeBoxes', () => {
  const anchors = new Float32Array([0.5, 0.5, 0.2, 0.2, 0.25, 0.75, 0.1, 0.3, 0.05, 0.05, 0.2, 0.2]);

  it('returns the anchors themselves (ymin, xmin, ymax, xmax) for zero regressions, clipped to [0, 1]', () => {
    const boxes = decodeBoxes(new Float32Array(12), anchors);
    close(boxes, [0.4, 0.4, 0.6, 0.6, 0.6, 0.2, 0.9, 0.3, 0, 0, 0.15, 0.15]);
  });

  it('applies offsets scaled by the variances', () => {
    // dx = 1 -> cx + 0.1 * w; dy = -2 -> cy - 0.2 * h; dw = 0; dh = 5 ln 2 -> h doubled
    const reg = new Float32Array([1, -2, 0, 5 * Math.LN2, 0, 0, 5 * Math.log(0.5), 0, 0, 0, 0, 0]);
    const boxes = decodeBoxes(reg, anchors);
    close(boxes.subarray(0, 4), [0.46 - 0.2, 0.42, 0.46 + 0.2, 0.62]);
    close(boxes.subarray(4, 8), [0.6, 0.225, 0.9, 0.275]);
    // other variances
    close(decodeBoxes(new Float32Array([1, 1, 0, 0]), anchors.subarray(0, 4), [1, 0.5, 1, 1]), [0.5, 0.6, 0.7, 0.8]);
  });
});

describe('nonMaxSuppression', () => {
  const boxes = new Float32Array([
    0, 0, 1, 1, // 0
    0, 0, 1, 0.9, // 1: IoU 0.9 with 0
    0, 0, 0.5, 0.5, // 2: IoU 0.25 with 0
    0.5, 0.5, 1, 1, // 3: disjoint from 2
  ]);

  it('keeps the higher of two overlapping boxes and orders by score', () => {
    expect(Array.from(nonMaxSuppression(boxes, new Float32Array([0.6, 0.8, 0.5, 0.7]), 0.5, 10))).toEqual([1, 3, 2]);
    expect(Array.from(nonMaxSuppression(boxes, new Float32Array([0.9, 0.8, 0.5, 0.7]), 0.5, 10))).toEqual([0, 3, 2]);
    // a looser threshold keeps both; maxOutput caps
    expect(Array.from(nonMaxSuppression(boxes, new Float32Array([0.9, 0.8, 0.5, 0.7]), 0.95, 10))).toEqual([0, 1, 3, 2]);
    expect(Array.from(nonMaxSuppression(boxes, new Float32Array([0.9, 0.8, 0.5, 0.7]), 0.95, 2))).toEqual([0, 1]);
    // threshold 0.2: boxes 2 and 3 (IoU 0.25 with box 0) go too
    expect(Array.from(nonMaxSuppression(boxes, new Float32Array([0.9, 0.8, 0.5, 0.7]), 0.2, 10))).toEqual([0]);
  });
});

describe('postprocessDetections', () => {
  const K = 4; // background + 3 classes
  // Three anchors: two overlapping (IoU 0.81 with zero regression) and one apart.
  const anchors = new Float32Array([0.3, 0.3, 0.2, 0.2, 0.31, 0.31, 0.2, 0.2, 0.8, 0.8, 0.2, 0.2]);
  const names = ssdOutputNames('test', 1);

  /** Logits from wanted softmax probabilities per anchor (rows sum to 1). */
  function raw(probs: number[][], batch = 1, regression?: number[]): NamedTensors {
    const logits = new Float32Array(batch * probs.length * K);
    for (let b = 0; b < batch; b++) probs.forEach((row, a) => row.forEach((p, c) => (logits[(b * probs.length + a) * K + c] = Math.log(p))));
    const reg = new Float32Array(batch * probs.length * 4);
    if (regression) for (let b = 0; b < batch; b++) reg.set(regression, b * probs.length * 4);
    return {
      [names.boxes[0]]: { dtype: 'float32', shape: [batch, probs.length, 4], data: reg },
      [names.logits[0]]: { dtype: 'float32', shape: [batch, probs.length, K], data: logits },
    };
  }
  const run = (r: NamedTensors, o: Parameters<typeof postprocessDetections>[1] = {}) => postprocessDetections(r, { scope: 'test', anchors, ...o });

  it('keeps the higher of two overlapping boxes of one class, and boxes of other classes', () => {
    const out = run(raw([[0.1, 0.6, 0.3, 0], [0.1, 0.8, 0.1, 0], [0.3, 0, 0, 0.7]]), { maxDetections: 5 });
    expect(out.num_detections.data[0]).toBe(3);
    expect(out.detection_boxes.shape).toEqual([1, 5, 4]);
    close(out.detection_scores.data, [0.8, 0.7, 0.3, 0, 0]);
    close(out.detection_classes.data, [1, 3, 2, 0, 0]);
    // class 1: anchor 1 wins (anchor 0 suppressed); class 2: anchors 0 and 1 both scored,
    // anchor 0 (0.3) kept, anchor 1 (0.1) suppressed by it; class 3: anchor 2.
    close(out.detection_boxes.data.subarray(0, 12), [0.21, 0.21, 0.41, 0.41, 0.7, 0.7, 0.9, 0.9, 0.2, 0.2, 0.4, 0.4]);
  });

  it('keeps the same box in different classes, and skips the background', () => {
    const out = run(raw([[0.5, 0.25, 0.25, 0], [0.97, 0.01, 0.01, 0.01], [0.97, 0.01, 0.01, 0.01]]), { maxDetections: 3, scoreThreshold: 0.05 });
    expect(out.num_detections.data[0]).toBe(2);
    close(out.detection_scores.data, [0.25, 0.25, 0]);
    close(out.detection_classes.data, [1, 2, 0]);
    close(out.detection_boxes.data.subarray(0, 8), [0.2, 0.2, 0.4, 0.4, 0.2, 0.2, 0.4, 0.4]);
  });

  it('applies the score threshold and the maximum number of detections, per image of a batch', () => {
    const probs = [[0.1, 0.6, 0.3, 0], [0.1, 0.8, 0.1, 0], [0.3, 0, 0, 0.7]];
    const out = run(raw(probs, 2), { scoreThreshold: 0.5, maxDetections: 2 });
    expect(out.num_detections.shape).toEqual([2]);
    expect(Array.from(out.num_detections.data)).toEqual([2, 2]);
    expect(out.detection_scores.shape).toEqual([2, 2]);
    close(out.detection_scores.data, [0.8, 0.7, 0.8, 0.7]);
    const one = run(raw(probs), { scoreThreshold: 0.75 });
    expect(one.num_detections.data[0]).toBe(1);
    expect(one.detection_scores.shape).toEqual([1, 100]);
    expect(one.detection_classes.data[0]).toBe(1);
    const none = run(raw(probs), { scoreThreshold: 0.9 });
    expect(none.num_detections.data[0]).toBe(0);
    expect(none.detection_boxes.data.every((v) => v === 0)).toBe(true);
  });

  it('keeps the best topkCandidates per class before NMS (ties: lower anchor first)', () => {
    const probs = [[0.7, 0.3, 0, 0], [1, 0, 0, 0], [0.5, 0.5, 0, 0]];
    close(run(raw(probs)).detection_scores.data.subarray(0, 3), [0.5, 0.3, 0]);
    const top1 = run(raw(probs), { topkCandidates: 1 });
    expect(top1.num_detections.data[0]).toBe(1);
    expect(top1.detection_scores.data[0]).toBeCloseTo(0.5, 6);
    const tied = run(raw([[0.5, 0.5, 0, 0], [1, 0, 0, 0], [0.5, 0.5, 0, 0]]), { topkCandidates: 1 });
    expect(tied.num_detections.data[0]).toBe(1);
    close(tied.detection_boxes.data.subarray(0, 4), [0.2, 0.2, 0.4, 0.4]);
  });

  it('decodes the regressions of the detected anchors', () => {
    const out = run(raw([[1, 0, 0, 0], [1, 0, 0, 0], [0.2, 0.8, 0, 0]], 1, [0, 0, 0, 0, 0, 0, 0, 0, 1, -1, 5 * Math.LN2, 0]), { maxDetections: 1 });
    close(out.detection_boxes.data, [0.78 - 0.1, 0.82 - 0.2, 0.78 + 0.1, 1]); // xmax 1.02 clipped
  });

  it('refuses missing or mis-shaped outputs', () => {
    expect(() => run({})).toThrow(/no output "test\/box_regression_0:0"/);
    const r = raw([[1, 0, 0, 0]]);
    expect(() => run(r)).toThrow(/1 anchors, the anchors 3/);
    r[names.boxes[0]] = { dtype: 'float32', shape: [1, 1, 5], data: new Float32Array(5) };
    expect(() => run(r, { anchors: anchors.subarray(0, 4) })).toThrow(/must be float32 \[N, anchors, 4\]/);
  });
});
