import { IMAGENET_PREPROCESS } from '../preprocess/spec';
import { batchNorm, conv2d, globalPool, linear, maxPool, relu } from './layers';
import type { Params } from './params';
import type { ClassifierArchitecture } from './types';

/** Bottleneck blocks per stage. */
export const RESNET_STAGES = { 50: [3, 4, 6, 3], 101: [3, 4, 23, 3], 152: [3, 8, 36, 3] } as const;
export type ResnetDepth = keyof typeof RESNET_STAGES;

function bottleneck(p: Params, x: string, name: string, cin: number, width: number, stride: number): string {
  const convBn = (input: string, i: number, o: { cin: number; cout: number; k: number; stride?: number }, gamma: 'ones' | 'small' = 'ones') =>
    batchNorm(p, conv2d(p, input, `${name}.conv${i}`, o), `${name}.bn${i}`, o.cout, gamma);
  let y = relu(p, convBn(x, 1, { cin, cout: width, k: 1 }), `${name}.relu1`);
  y = relu(p, convBn(y, 2, { cin: width, cout: width, k: 3, stride }), `${name}.relu2`);
  y = convBn(y, 3, { cin: width, cout: width * 4, k: 1 }, 'small');
  let shortcut = x;
  if (stride !== 1 || cin !== width * 4) {
    shortcut = batchNorm(p, conv2d(p, x, `${name}.downsample.0`, { cin, cout: width * 4, k: 1, stride }), `${name}.downsample.1`, width * 4);
  }
  return relu(p, p.g.node('Add', [shortcut, y], { name: `${name}.add` }), `${name}.out`);
}

/**
 * ResNet v1 with bottleneck blocks, the stride on the 3x3 convolution (the torchvision layout
 * known as v1.5), parameter names as torchvision's state_dict.
 */
export function resnet(depth: ResnetDepth): ClassifierArchitecture {
  return {
    kind: 'classifier',
    name: `resnet${depth}`,
    title: `ResNet-${depth}`,
    scope: `resnet_v1_${depth}`,
    preprocess: { ...IMAGENET_PREPROCESS, width: 224, height: 224, layout: 'NCHW' },
    publishedParameters: { 50: 25_557_032, 101: 44_549_160, 152: 60_192_808 }[depth],
    publishedGmacs: { 50: 4.09, 101: 7.8, 152: 11.51 }[depth],
    reference: 'He et al., Deep Residual Learning for Image Recognition, 2015',
    featurizer(p, input) {
      let x = relu(p, batchNorm(p, conv2d(p, input, 'conv1', { cin: 3, cout: 64, k: 7, stride: 2, pad: 3 }), 'bn1', 64), 'relu');
      x = maxPool(p, x, 'maxpool', 3, 2, 1);
      let cin = 64;
      RESNET_STAGES[depth].forEach((blocks, stage) => {
        const width = 64 << stage;
        for (let i = 0; i < blocks; i++) {
          x = bottleneck(p, x, `layer${stage + 1}.${i}`, cin, width, i === 0 && stage > 0 ? 2 : 1);
          cin = width * 4;
        }
      });
      return { output: globalPool(p, x, 'avgpool'), channels: cin };
    },
    imagenetHead: (p, features, channels) => linear(p, features, 'fc', channels, 1000),
  };
}
