import { AccelError } from '../errors';
import type { NamedTensors, Tensor } from '../runtime/tensor';

/**
 * SSD post-processing in plain TypeScript: default boxes (anchors), box decoding, NMS, and
 * TF-object-detection-style outputs from the raw outputs of the zoo's `ssd300_vgg16`.
 *
 * Conventions (those of torchvision's SSD, which the zoo model reproduces):
 * - anchors are (cx, cy, w, h), normalized to the input size, in the order of the raw outputs:
 *   scale by scale, then row, column, and anchor within the location;
 * - box regressions are (dx, dy, dw, dh), divided by the variances [0.1, 0.1, 0.2, 0.2]
 *   (torchvision's BoxCoder weights (10, 10, 5, 5));
 * - decoded boxes are (ymin, xmin, ymax, xmax), normalized and clipped to [0, 1], as the TF
 *   object detection API returns them;
 * - class 0 is the background; detection classes are the class indices 1..90 (COCO category
 *   ids, as in the TF OD API label map).
 */

/** The SSD300 configuration of torchvision's `ssd300_vgg16`. */
export const SSD300 = {
  size: 300,
  featureSizes: [38, 19, 10, 5, 3, 1],
  aspectRatios: [[2], [2, 3], [2, 3], [2, 3], [2], [2]],
  scales: [0.07, 0.15, 0.33, 0.51, 0.69, 0.87, 1.05],
  steps: [8, 16, 32, 64, 100, 300],
  numClasses: 91,
} as const;

export type AnchorConfig = Pick<typeof SSD300, 'size' | 'featureSizes' | 'aspectRatios' | 'scales' | 'steps'>;

export const DEFAULT_VARIANCES: readonly [number, number, number, number] = [0.1, 0.1, 0.2, 0.2];

/** torchvision's BoxCoder clamps dw, dh at log(1000/16) before exp. */
const MAX_LOG_SCALE = Math.log(1000 / 16);

/** Default boxes per location: 2 squares + 2 per aspect ratio ([4, 6, 6, 6, 4, 4] for SSD300). */
export function anchorsPerLocation(aspectRatios: AnchorConfig['aspectRatios'] = SSD300.aspectRatios): number[] {
  return aspectRatios.map((r) => 2 + 2 * r.length);
}

/** Names of the raw outputs: box regressions and class logits of each scale. */
export function ssdOutputNames(scope = 'ssd_vgg', scales = 6): { boxes: string[]; logits: string[] } {
  const range = Array.from({ length: scales }, (_, i) => i);
  return {
    boxes: range.map((i) => `${scope}/box_regression_${i}:0`),
    logits: range.map((i) => `${scope}/class_logits_${i}:0`),
  };
}

let cachedDefault: Float32Array | undefined;

/**
 * The default boxes as torchvision's DefaultBoxGenerator (clip=True) makes them: per scale k,
 * centres ((j + 0.5) / (size / step_k), (i + 0.5) / (size / step_k)) and, per location, the
 * (w, h) pairs (s_k, s_k), (s'_k, s'_k) with s'_k = sqrt(s_k s_{k+1}), then (s_k sqrt(r), s_k / sqrt(r))
 * and its transpose for each aspect ratio r. Widths and heights are clipped to [0, 1]; the
 * centres are not (as torchvision: the last column of the 10x10 map has cx = 9.5/9.375).
 * Returns [count * 4] (cx, cy, w, h); 8732 boxes for SSD300.
 */
export function defaultAnchors(config: AnchorConfig = SSD300): Float32Array {
  if (config === SSD300 && cachedDefault) return cachedDefault;
  const perLocation = anchorsPerLocation(config.aspectRatios);
  const total = config.featureSizes.reduce((sum, f, k) => sum + f * f * perLocation[k], 0);
  const out = new Float32Array(total * 4);
  let o = 0;
  config.featureSizes.forEach((f, k) => {
    const s = config.scales[k];
    const pairs: number[] = [s, s, Math.sqrt(s * config.scales[k + 1]), Math.sqrt(s * config.scales[k + 1])];
    for (const r of config.aspectRatios[k]) {
      const w = s * Math.sqrt(r);
      const h = s / Math.sqrt(r);
      pairs.push(w, h, h, w);
    }
    const clipped = pairs.map((v) => Math.min(Math.max(v, 0), 1));
    const cells = config.size / config.steps[k];
    for (let j = 0; j < f; j++) {
      const cy = (j + 0.5) / cells;
      for (let i = 0; i < f; i++) {
        const cx = (i + 0.5) / cells;
        for (let a = 0; a < clipped.length; a += 2) {
          out[o++] = cx;
          out[o++] = cy;
          out[o++] = clipped[a];
          out[o++] = clipped[a + 1];
        }
      }
    }
  });
  if (config === SSD300) cachedDefault = out;
  return out;
}

/**
 * Decodes regressions (dx, dy, dw, dh per anchor) against anchors (cx, cy, w, h):
 * cx' = cx + dx * v0 * w, cy' = cy + dy * v1 * h, w' = w * exp(dw * v2), h' = h * exp(dh * v3).
 * Returns boxes (ymin, xmin, ymax, xmax), clipped to [0, 1]; `out` may be given to reuse a buffer.
 */
export function decodeBoxes(
  regression: Float32Array,
  anchors: Float32Array,
  variances: readonly number[] = DEFAULT_VARIANCES,
  out: Float32Array = new Float32Array(anchors.length),
): Float32Array {
  if (regression.length < anchors.length || out.length < anchors.length) {
    throw new AccelError('ACCEL_ERR_USAGE', { reason: `decodeBoxes: ${anchors.length / 4} anchors, ${regression.length / 4} regressions, room for ${out.length / 4} boxes` });
  }
  const [v0, v1, v2, v3] = variances;
  const clip = (v: number) => (v < 0 ? 0 : v > 1 ? 1 : v);
  for (let i = 0; i < anchors.length; i += 4) {
    const aw = anchors[i + 2];
    const ah = anchors[i + 3];
    const cx = anchors[i] + regression[i] * v0 * aw;
    const cy = anchors[i + 1] + regression[i + 1] * v1 * ah;
    const hw = 0.5 * aw * Math.exp(Math.min(regression[i + 2] * v2, MAX_LOG_SCALE));
    const hh = 0.5 * ah * Math.exp(Math.min(regression[i + 3] * v3, MAX_LOG_SCALE));
    out[i] = clip(cy - hh);
    out[i + 1] = clip(cx - hw);
    out[i + 2] = clip(cy + hh);
    out[i + 3] = clip(cx + hw);
  }
  return out;
}

/** IoU of boxes a and b (offsets into `boxes`, each (ymin, xmin, ymax, xmax)). */
function iou(boxes: Float32Array, a: number, b: number): number {
  const areaA = Math.max(0, boxes[a + 2] - boxes[a]) * Math.max(0, boxes[a + 3] - boxes[a + 1]);
  const areaB = Math.max(0, boxes[b + 2] - boxes[b]) * Math.max(0, boxes[b + 3] - boxes[b + 1]);
  const h = Math.min(boxes[a + 2], boxes[b + 2]) - Math.max(boxes[a], boxes[b]);
  const w = Math.min(boxes[a + 3], boxes[b + 3]) - Math.max(boxes[a + 1], boxes[b + 1]);
  if (h <= 0 || w <= 0) return 0;
  const inter = h * w;
  return inter / (areaA + areaB - inter);
}

/**
 * Greedy NMS over candidates `order[0..n)` (box indices, already sorted by descending score):
 * a candidate is kept unless its IoU with a kept box exceeds the threshold. Writes the kept
 * indices to `keep` and returns how many (at most maxOutput).
 */
function nmsSorted(boxes: Float32Array, order: Int32Array, n: number, iouThreshold: number, maxOutput: number, keep: Int32Array): number {
  let kept = 0;
  for (let c = 0; c < n && kept < maxOutput; c++) {
    const box = order[c] * 4;
    let suppressed = false;
    for (let k = 0; k < kept; k++) {
      if (iou(boxes, keep[k] * 4, box) > iouThreshold) {
        suppressed = true;
        break;
      }
    }
    if (!suppressed) keep[kept++] = order[c];
  }
  return kept;
}

/**
 * Non-maximum suppression: boxes [count * 4] (ymin, xmin, ymax, xmax), scores [count]. Returns
 * the indices kept, by descending score (ties: lower index first), at most maxOutput.
 */
export function nonMaxSuppression(boxes: Float32Array, scores: Float32Array, iouThreshold: number, maxOutput: number): Int32Array {
  const order = new Int32Array(scores.length);
  for (let i = 0; i < order.length; i++) order[i] = i;
  order.sort((a, b) => scores[b] - scores[a] || a - b);
  const keep = new Int32Array(Math.min(maxOutput, order.length));
  return keep.slice(0, nmsSorted(boxes, order, order.length, iouThreshold, keep.length, keep));
}

export interface PostprocessOptions {
  /** Minimum softmax score of a detection (torchvision's score_thresh, 0.01). */
  scoreThreshold?: number;
  /** IoU above which NMS drops the lower-scored box of the same class (0.45). */
  iouThreshold?: number;
  /** Detections kept per image, across classes (100, the TF OD API's usual max). */
  maxDetections?: number;
  /** Best candidates per class before NMS (torchvision's topk_candidates, 400). */
  topkCandidates?: number;
  /** Name scope of the raw outputs (`ssd_vgg`). */
  scope?: string;
  /** Anchors (cx, cy, w, h) matching the raw outputs; default `defaultAnchors()`. */
  anchors?: Float32Array;
  variances?: readonly number[];
}

/** A float32 runtime tensor (assignable to `Tensor`). */
export interface Float32Tensor {
  dtype: 'float32';
  shape: number[];
  data: Float32Array;
}

export interface Detections {
  /** float32 [N, maxDetections, 4] (ymin, xmin, ymax, xmax), normalized; zero past num_detections. */
  detection_boxes: Float32Tensor;
  /** float32 [N, maxDetections], class ids 1..K-1 (1-based; 0 is the background). */
  detection_classes: Float32Tensor;
  /** float32 [N, maxDetections], by descending score. */
  detection_scores: Float32Tensor;
  /** float32 [N]. */
  num_detections: Float32Tensor;
}

function rawOutputs(raw: NamedTensors, scope: string): { boxes: Float32Array[]; logits: Float32Array[]; counts: number[]; batch: number; classes: number } {
  let scales = 0;
  while (raw[`${scope}/box_regression_${scales}:0`]) scales++;
  if (scales === 0) throw new AccelError('ACCEL_ERR_USAGE', { reason: `SSD postprocessing: no output "${scope}/box_regression_0:0" (outputs: ${Object.keys(raw).join(', ')})` });
  const names = ssdOutputNames(scope, scales);
  const get = (name: string, columns?: number): Tensor & { data: Float32Array } => {
    const t = raw[name];
    if (!t || t.dtype !== 'float32' || t.shape.length !== 3 || (columns !== undefined && t.shape[2] !== columns)) {
      const got = t ? `${t.dtype} [${t.shape.join(', ')}]` : 'missing';
      throw new AccelError('ACCEL_ERR_USAGE', { reason: `SSD postprocessing: output "${name}" must be float32 [N, anchors, ${columns ?? 'classes'}], got ${got}` });
    }
    return t as Tensor & { data: Float32Array };
  };
  const boxes = names.boxes.map((n) => get(n, 4));
  const classes = get(names.logits[0]).shape[2];
  const logits = names.logits.map((n) => get(n, classes));
  const batch = boxes[0].shape[0];
  for (const [i, t] of [...boxes, ...logits].entries()) {
    const box = boxes[i % scales];
    if (t.shape[0] !== batch || t.shape[1] !== box.shape[1]) {
      throw new AccelError('ACCEL_ERR_USAGE', { reason: `SSD postprocessing: outputs disagree on batch or anchor count (scale ${i % scales}: [${t.shape.join(', ')}] vs [${box.shape.join(', ')}])` });
    }
  }
  return { boxes: boxes.map((t) => t.data), logits: logits.map((t) => t.data), counts: boxes.map((t) => t.shape[1]), batch, classes };
}

/**
 * Keeps in `order[0..n)` the `k` best-scored candidates (ties: lower anchor first), without a
 * comparator sort of all of them: a native numeric sort of their scores (`candidate`, clobbered)
 * gives the k-th best score. Returns k.
 */
function bestCandidates(order: Int32Array, candidate: Float32Array, n: number, k: number, scores: Float32Array, classes: number, c: number): number {
  const ascending = candidate.subarray(0, n).sort();
  const cut = ascending[n - k];
  let ties = 0;
  for (let i = n - k; i < n && ascending[i] === cut; i++) ties++;
  let m = 0;
  for (let i = 0; i < n; i++) {
    const s = scores[order[i] * classes + c];
    if (s > cut || (s === cut && ties-- > 0)) order[m++] = order[i];
  }
  return m;
}

/**
 * Turns the raw SSD outputs into TF-object-detection-style detections, as torchvision's
 * `SSD.postprocess_detections`: softmax over the classes, boxes decoded against the anchors,
 * then per class (background skipped) the scores above the threshold, their best
 * `topkCandidates`, NMS; finally the best `maxDetections` across classes.
 */
export function postprocessDetections(raw: NamedTensors, options: PostprocessOptions = {}): Detections {
  const { scoreThreshold = 0.01, iouThreshold = 0.45, maxDetections = 100, topkCandidates = 400, scope = 'ssd_vgg' } = options;
  const anchors = options.anchors ?? defaultAnchors();
  const { boxes: boxParts, logits: logitParts, counts, batch, classes } = rawOutputs(raw, scope);
  const total = counts.reduce((a, b) => a + b, 0);
  if (total * 4 !== anchors.length) {
    throw new AccelError('ACCEL_ERR_USAGE', { reason: `SSD postprocessing: the outputs have ${total} anchors, the anchors ${anchors.length / 4}` });
  }
  // Buffers reused across images and classes.
  const regression = new Float32Array(total * 4);
  const boxes = new Float32Array(total * 4);
  const scores = new Float32Array(total * classes);
  const order = new Int32Array(total);
  const candidate = new Float32Array(total);
  const perClass = Math.min(topkCandidates, maxDetections);
  const keep = new Int32Array(perClass);
  const capacity = Math.max(1, (classes - 1) * perClass);
  const detAnchor = new Int32Array(capacity);
  const detClass = new Int32Array(capacity);
  const detScore = new Float32Array(capacity);
  const detOrder = new Int32Array(capacity);

  const outBoxes = new Float32Array(batch * maxDetections * 4);
  const outClasses = new Float32Array(batch * maxDetections);
  const outScores = new Float32Array(batch * maxDetections);
  const outCount = new Float32Array(batch);

  for (let b = 0; b < batch; b++) {
    // Gather this image's rows of every scale; softmax the logits into scores.
    let row = 0;
    for (let s = 0; s < counts.length; s++) {
      const n = counts[s];
      regression.set(boxParts[s].subarray(b * n * 4, (b + 1) * n * 4), row * 4);
      scores.set(logitParts[s].subarray(b * n * classes, (b + 1) * n * classes), row * classes);
      row += n;
    }
    for (let a = 0; a < total; a++) {
      const base = a * classes;
      let max = -Infinity;
      for (let c = 0; c < classes; c++) if (scores[base + c] > max) max = scores[base + c];
      let sum = 0;
      for (let c = 0; c < classes; c++) {
        const e = Math.exp(scores[base + c] - max);
        scores[base + c] = e;
        sum += e;
      }
      const inv = 1 / sum;
      for (let c = 0; c < classes; c++) scores[base + c] *= inv;
    }
    decodeBoxes(regression, anchors, options.variances ?? DEFAULT_VARIANCES, boxes);

    let found = 0;
    for (let c = 1; c < classes; c++) {
      let n = 0;
      for (let a = 0; a < total; a++) {
        const s = scores[a * classes + c];
        if (s > scoreThreshold) {
          order[n] = a;
          candidate[n++] = s;
        }
      }
      if (n === 0) continue;
      if (n > topkCandidates) n = bestCandidates(order, candidate, n, topkCandidates, scores, classes, c);
      const sorted = order.subarray(0, n).sort((x, y) => scores[y * classes + c] - scores[x * classes + c] || x - y);
      const kept = nmsSorted(boxes, sorted, n, iouThreshold, perClass, keep);
      for (let k = 0; k < kept; k++) {
        detAnchor[found] = keep[k];
        detClass[found] = c;
        detScore[found] = scores[keep[k] * classes + c];
        detOrder[found] = found;
        found++;
      }
    }
    const ranked = detOrder.subarray(0, found).sort((x, y) => detScore[y] - detScore[x] || x - y);
    const count = Math.min(found, maxDetections);
    for (let d = 0; d < count; d++) {
      const i = ranked[d];
      const o = b * maxDetections + d;
      outBoxes.set(boxes.subarray(detAnchor[i] * 4, detAnchor[i] * 4 + 4), o * 4);
      outClasses[o] = detClass[i];
      outScores[o] = detScore[i];
    }
    outCount[b] = count;
  }
  return {
    detection_boxes: { dtype: 'float32', shape: [batch, maxDetections, 4], data: outBoxes },
    detection_classes: { dtype: 'float32', shape: [batch, maxDetections], data: outClasses },
    detection_scores: { dtype: 'float32', shape: [batch, maxDetections], data: outScores },
    num_detections: { dtype: 'float32', shape: [batch], data: outCount },
  };
}
