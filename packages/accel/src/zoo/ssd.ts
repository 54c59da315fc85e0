import { SSD300, anchorsPerLocation, ssdOutputNames } from '../preprocess/ssd';
import { conv2d, maxPool, relu } from './layers';
import type { Params } from './params';
import type { DetectorArchitecture } from './types';

/** VGG-16 `features` up to conv4_3 (torchvision indices of the convolutions, then the max pools). */
const VGG_CONVS: Array<[index: number, cin: number, cout: number]> = [
  [0, 3, 64], [2, 64, 64],
  [5, 64, 128], [7, 128, 128],
  [10, 128, 256], [12, 256, 256], [14, 256, 256],
  [17, 256, 512], [19, 512, 512], [21, 512, 512],
];
/** Max pools inside `backbone.features`: index -> ceil mode (pool3 is patched to ceil so 75 -> 38). */
const VGG_POOLS: Record<number, boolean> = { 4: false, 9: false, 16: true };

/** The four extra blocks (`backbone.extra.1..4`): 1x1 reduce, then 3x3 (stride, padding). */
const EXTRA_BLOCKS: Array<{ cin: number; mid: number; cout: number; stride: number; pad: number }> = [
  { cin: 1024, mid: 256, cout: 512, stride: 2, pad: 1 }, // conv8_2: 19 -> 10
  { cin: 512, mid: 128, cout: 256, stride: 2, pad: 1 }, // conv9_2: 10 -> 5
  { cin: 256, mid: 128, cout: 256, stride: 1, pad: 0 }, // conv10_2: 5 -> 3
  { cin: 256, mid: 128, cout: 256, stride: 1, pad: 0 }, // conv11_2: 3 -> 1
];

/** Channels of the six feature maps the heads read. */
const FEATURE_CHANNELS = [512, 1024, 512, 256, 256, 256];

function int64(p: Params, name: string, values: number[]): string {
  return p.g.initializer(name, [values.length], new BigInt64Array(values.map(BigInt)), 'int64');
}

/** `scale_weight * F.normalize(x, dim=1)` (L2 norm over channels, eps 1e-12 as torch). */
function l2NormScale(p: Params, x: string, channels: number): string {
  const norm = p.g.node('ReduceL2', [x], { name: 'backbone.l2norm/norm', attrs: { axes: [1], keepdims: 1 } });
  const eps = p.g.initializer('backbone.l2norm/eps', [], new Float32Array([1e-12]));
  const normalized = p.g.node('Div', [x, p.g.node('Max', [norm, eps], { name: 'backbone.l2norm/clamped' })], { name: 'backbone.l2norm/normalized' });
  const weight = p.param('backbone.scale_weight', [channels], 'ones');
  const shaped = p.g.node('Reshape', [weight, int64(p, 'backbone.l2norm/shape', [1, channels, 1, 1])], { name: 'backbone.l2norm/weight' });
  return p.g.node('Mul', [normalized, shaped], { name: 'backbone.l2norm' });
}

/**
 * A head convolution (3x3, `name`.weight/bias) [N, A*K, H, W] rearranged as torchvision's SSDScoringHead does:
 * view (N, A, K, H, W), permute to (N, H, W, A, K), reshape (N, H*W*A, K).
 */
export function headOutput(p: Params, x: string, name: string, cin: number, size: number, anchors: number, columns: number): string {
  const y = conv2d(p, x, name, { cin, cout: anchors * columns, k: 3, pad: 1, bias: true, init: 'small' });
  const split = p.g.node('Reshape', [y, int64(p, `${name}/split`, [0, anchors, columns, size, size])], { name: `${name}/split` });
  const moved = p.g.node('Transpose', [split], { name: `${name}/nhwak`, attrs: { perm: [0, 3, 4, 1, 2] } });
  return p.g.node('Reshape', [moved, int64(p, `${name}/flat`, [0, -1, columns])], { name: `${name}/flat` });
}

/**
 * SSD300 on VGG-16 (Liu et al. 2016) as torchvision's `ssd300_vgg16` (COCO, 91 classes with
 * background 0), parameter names as its state_dict.
 *
 * Raw outputs, 12, in this order (flattened per scale in the anchor order of
 * `defaultAnchors()`: row, column, then anchor within the location):
 *   `ssd_vgg/box_regression_{i}:0` [N, H_i*W_i*A_i, 4]  (dx, dy, dw, dh) for i = 0..5, then
 *   `ssd_vgg/class_logits_{i}:0`   [N, H_i*W_i*A_i, 91] (logits, softmax not applied) for i = 0..5,
 * with H_i = W_i = 38, 19, 10, 5, 3, 1 and A_i = 4, 6, 6, 6, 4, 4 (8732 anchors in all).
 * `postprocessDetections` (preprocess/ssd.ts) turns them into TF-object-detection-style outputs.
 */
export function ssdVgg(): DetectorArchitecture {
  const scope = 'ssd_vgg';
  const numClasses = SSD300.numClasses;
  const anchors = anchorsPerLocation();
  const names = ssdOutputNames(scope, anchors.length);
  return {
    kind: 'detector',
    name: 'ssd300_vgg16',
    title: 'SSD300 VGG-16',
    scope,
    // torchvision: image_mean [0.48235, 0.45882, 0.40784], image_std 1/255 on 0..1 pixels,
    // i.e. p - [123, 117, 104] on 0..255 pixels (Caffe-style mean subtraction, RGB, no std);
    // GeneralizedRCNNTransform with fixed_size (300, 300) resizes without keeping the aspect.
    preprocess: {
      width: SSD300.size,
      height: SSD300.size,
      layout: 'NCHW',
      channelOrder: 'RGB',
      resize: 'stretch',
      cropFraction: 1,
      scale: 1 / 255,
      mean: [0.48235, 0.45882, 0.40784],
      std: [1 / 255, 1 / 255, 1 / 255],
    },
    // torchvision SSD300_VGG16_Weights.COCO_V1 num_params; the build counts the same.
    publishedParameters: 35_641_826,
    // Approximate (2 decimals): the convolutions' multiply-adds at 300x300, 34.858e9, the same as
    // torchvision's listed 34.858 "GFLOPS" (which count multiply-adds); L2Norm, pools, ReLUs excluded.
    publishedGmacs: 34.86,
    reference: 'Liu et al., SSD: Single Shot MultiBox Detector, 2016 (torchvision ssd300_vgg16)',
    build(p, input) {
      // backbone.features: VGG-16 up to conv4_3 (+ReLU).
      let x = input;
      for (const [index, cin, cout] of VGG_CONVS) {
        x = relu(p, conv2d(p, x, `backbone.features.${index}`, { cin, cout, k: 3, pad: 1, bias: true }), `backbone.features.${index + 1}`);
        const pool = index + 2;
        if (pool in VGG_POOLS) x = maxPool(p, x, `backbone.features.${pool}`, 2, 2, 0, VGG_POOLS[pool]);
      }
      const features = [l2NormScale(p, x, 512)];
      // backbone.extra.0: pool4, conv5_1..3, then (7) pool5 3x3/1, conv6 (dilation 6), conv7 1x1.
      x = maxPool(p, x, 'backbone.extra.0.0', 2, 2);
      for (const i of [1, 3, 5]) x = relu(p, conv2d(p, x, `backbone.extra.0.${i}`, { cin: 512, cout: 512, k: 3, pad: 1, bias: true }), `backbone.extra.0.${i + 1}`);
      x = maxPool(p, x, 'backbone.extra.0.7.0', 3, 1, 1);
      x = relu(p, conv2d(p, x, 'backbone.extra.0.7.1', { cin: 512, cout: 1024, k: 3, pad: 6, dilation: 6, bias: true }), 'backbone.extra.0.7.2');
      x = relu(p, conv2d(p, x, 'backbone.extra.0.7.3', { cin: 1024, cout: 1024, k: 1, bias: true }), 'backbone.extra.0.7.4');
      features.push(x);
      EXTRA_BLOCKS.forEach((b, i) => {
        const name = `backbone.extra.${i + 1}`;
        x = relu(p, conv2d(p, x, `${name}.0`, { cin: b.cin, cout: b.mid, k: 1, bias: true }), `${name}.1`);
        x = relu(p, conv2d(p, x, `${name}.2`, { cin: b.mid, cout: b.cout, k: 3, stride: b.stride, pad: b.pad, bias: true }), `${name}.3`);
        features.push(x);
      });
      const count = (i: number) => SSD300.featureSizes[i] ** 2 * anchors[i];
      const boxes = features.map((f, i) => ({
        name: names.boxes[i],
        tensor: headOutput(p, f, `head.regression_head.module_list.${i}`, FEATURE_CHANNELS[i], SSD300.featureSizes[i], anchors[i], 4),
        shape: ['N', count(i), 4],
      }));
      const logits = features.map((f, i) => ({
        name: names.logits[i],
        tensor: headOutput(p, f, `head.classification_head.module_list.${i}`, FEATURE_CHANNELS[i], SSD300.featureSizes[i], anchors[i], numClasses),
        shape: ['N', count(i), numClasses],
      }));
      return [...boxes, ...logits];
    },
  };
}
