import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GraphBuilder, f } from '../onnx/builder';
import { SSD300, anchorsPerLocation, ssdOutputNames } from '../preprocess/ssd';

/** Weights of the tiny classifier: 1x1 conv 3->4 channels, global average pool, dense 4->5, softmax. */
export const TINY = {
  classes: 5,
  conv: new Float32Array([0.5, -0.25, 0.1, 0.2, 0.3, -0.4, -0.6, 0.15, 0.25, 0.05, 0.05, 0.9]), // [4,3,1,1]
  convBias: new Float32Array([0.1, -0.1, 0.05, 0]),
  dense: new Float32Array([1, -1, 0.5, 0, 2, 0.3, 0.7, -0.2, 1.5, 0, -1, 0.4, 0.9, 0.1, -0.5, 0.6, -0.3, 1.2, 0.8, -0.7]), // [4,5]
  denseBias: new Float32Array([0, 0.1, -0.1, 0.2, 0]),
};

/**
 * A conv+softmax classifier small enough that its output is computed exactly in JS
 * ({@link tinyReference}); input `input` [N,3,S,S] (or NHWC), output `probs` [N,5].
 */
export function tinyClassifier(opts: { size?: number; layout?: 'NCHW' | 'NHWC'; inputName?: string; outputName?: string } = {}): Uint8Array {
  const size = opts.size ?? 8;
  const layout = opts.layout ?? 'NCHW';
  const g = new GraphBuilder('tiny-classifier');
  const inputName = opts.inputName ?? 'input';
  let x = g.input(inputName, 'float32', layout === 'NCHW' ? ['N', 3, size, size] : ['N', size, size, 3]);
  if (layout === 'NHWC') x = g.node('Transpose', [x], { attrs: { perm: [0, 3, 1, 2] } });
  const conv = g.node('Conv', [x, g.initializer('conv_w', [4, 3, 1, 1], TINY.conv), g.initializer('conv_b', [4], TINY.convBias)], {
    attrs: { kernel_shape: [1, 1] },
  });
  const pooled = g.node('GlobalAveragePool', [conv]);
  const flat = g.node('Flatten', [pooled], { attrs: { axis: 1 } });
  const logits = g.node('Gemm', [flat, g.initializer('dense_w', [4, 5], TINY.dense), g.initializer('dense_b', [5], TINY.denseBias)], {
    attrs: { alpha: f(1), beta: f(1) },
  });
  g.output(g.node('Softmax', [logits], { name: opts.outputName ?? 'probs', attrs: { axis: 1 } }), 'float32', ['N', TINY.classes]);
  return g.toBytes();
}

/** The tiny classifier's exact output for per-channel means of one image (post-normalization). */
export function tinyReference(channelMeans: readonly number[]): number[] {
  const feat = [0, 1, 2, 3].map((o) => TINY.convBias[o] + [0, 1, 2].reduce((s, c) => s + TINY.conv[o * 3 + c] * channelMeans[c], 0));
  const logits = [0, 1, 2, 3, 4].map((k) => TINY.denseBias[k] + feat.reduce((s, v, i) => s + v * TINY.dense[i * 5 + k], 0));
  const max = Math.max(...logits);
  const exps = logits.map((l) => Math.exp(l - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map((e) => e / sum);
}

/** Per-channel means of an NCHW float image (one item of a batch). */
export function channelMeans(data: Float32Array, size: number, item = 0): number[] {
  const hw = size * size;
  return [0, 1, 2].map((c) => {
    let s = 0;
    for (let i = 0; i < hw; i++) s += data[item * 3 * hw + c * hw + i];
    return s / hw;
  });
}

/** A model with two inputs (a: [N,2], b: [N,2]) and two outputs (sum, product), non-image. */
export function twoInputModel(): Uint8Array {
  const g = new GraphBuilder('two-inputs');
  g.input('a', 'float32', ['N', 2]);
  g.input('b', 'float32', ['N', 2]);
  g.output(g.node('Add', ['a', 'b'], { name: 'sum' }), 'float32', ['N', 2]);
  g.output(g.node('Mul', ['a', 'b'], { name: 'product' }), 'float32', ['N', 2]);
  return g.toBytes();
}

/** A model that takes a few ms per row (a chain of 512x512 matmuls), so that concurrent requests queue. */
export function slowModel(layers = 400): Uint8Array {
  const g = new GraphBuilder('slow');
  let x = g.input('x', 'float32', ['N', 512]);
  const w = g.initializer('w', [512, 512], new Float32Array(512 * 512).fill(1 / 512));
  for (let i = 0; i < layers; i++) x = g.node('MatMul', [x, w]);
  g.output(g.node('Identity', [x], { name: 'y' }), 'float32', ['N', 512]);
  return g.toBytes();
}

/** A temporary folder with model files; `cleanup()` removes it. */
export function modelDir(): { dir: string; write(name: string, bytes: Uint8Array | string): string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'accel-test-'));
  return {
    dir,
    write(name, bytes) {
      const path = join(dir, name);
      writeFileSync(path, bytes);
      return path;
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * A detector with the raw outputs of the zoo's SSD300 (6 scales, 8732 anchors, `classes` class
 * logits including the background) but almost no weights: every anchor keeps its default box and
 * scores class 1 highest, so the server's SSD post-processing finds boxes on any image. Input
 * `input` [N,3,8,8]. Serve it with `{ "postprocess": { "type": "ssd" } }` in its sidecar.
 */
export function tinySsd(classes = 3): Uint8Array {
  const g = new GraphBuilder('tiny-ssd');
  const pooled = g.node('GlobalAveragePool', [g.input('input', 'float32', ['N', 3, 8, 8])]);
  // [N,1] zeros: the outputs keep the batch dimension of the input.
  const zero = g.node('MatMul', [g.node('Flatten', [pooled], { attrs: { axis: 1 } }), g.initializer('zero', [3, 1], new Float32Array(3))]);
  const names = ssdOutputNames();
  const perLocation = anchorsPerLocation();
  SSD300.featureSizes.forEach((size, i) => {
    const anchors = size * size * perLocation[i];
    const head = (name: string, columns: number, bias: (column: number) => number) => {
      const values = Float32Array.from({ length: anchors * columns }, (_, j) => bias(j % columns));
      const flat = g.node('Add', [zero, g.initializer(`${name}/bias`, [anchors * columns], values)]);
      const shape = g.initializer(`${name}/shape`, [3], new BigInt64Array([0n, BigInt(anchors), BigInt(columns)]), 'int64');
      g.output(g.node('Reshape', [flat, shape], { name }), 'float32', ['N', anchors, columns]);
    };
    head(names.boxes[i], 4, () => 0);
    head(names.logits[i], classes, (c) => (c === 1 ? 3 : 0));
  });
  return g.toBytes();
}

/**
 * A detector with the raw outputs of the zoo's SSD300 (as tinySsd) and no real weights:
 * every anchor keeps its default box and is background, except two: a cat in a 3x3-grid anchor and
 * a dog in a 5x5-grid one, so that the boxes drawn are large enough to see and differ in label.
 */
export function twoBoxSsd(): Uint8Array {
  const g = new GraphBuilder('two-box-ssd');
  const pooled = g.node('GlobalAveragePool', [g.input('input', 'float32', ['N', 3, 8, 8])]);
  const zero = g.node('MatMul', [g.node('Flatten', [pooled], { attrs: { axis: 1 } }), g.initializer('zero', [3, 1], new Float32Array(3))]);
  const names = ssdOutputNames();
  const perLocation = anchorsPerLocation();
  const picked: Record<number, { anchor: number; label: number; logit: number }> = { 4: { anchor: 12, label: 1, logit: 3 }, 3: { anchor: 78, label: 2, logit: 2 } };
  SSD300.featureSizes.forEach((size, i) => {
    const anchors = size * size * perLocation[i]!;
    const head = (name: string, columns: number, value: (anchor: number, column: number) => number) => {
      const values = Float32Array.from({ length: anchors * columns }, (_, j) => value(Math.floor(j / columns), j % columns));
      const flat = g.node('Add', [zero, g.initializer(`${name}/bias`, [anchors * columns], values)]);
      const shape = g.initializer(`${name}/shape`, [3], new BigInt64Array([0n, BigInt(anchors), BigInt(columns)]), 'int64');
      g.output(g.node('Reshape', [flat, shape], { name }), 'float32', ['N', anchors, columns]);
    };
    head(names.boxes[i]!, 4, () => 0);
    // Elsewhere background wins by so much that no class reaches the 0.01 score threshold; at a picked anchor, the other class neither.
    const logit = (a: number, c: number) => (picked[i]?.anchor !== a ? (c === 0 ? 8 : 0) : c === picked[i]!.label ? picked[i]!.logit : c === 0 ? 0 : -8);
    head(names.logits[i]!, 3, logit);
  });
  return g.toBytes();
}
