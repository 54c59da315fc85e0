import { IMAGENET_PREPROCESS } from '../preprocess/spec';
import { avgPool, batchNorm, concat, conv2d, globalPool, linear, maxPool, relu } from './layers';
import type { Params } from './params';
import type { ClassifierArchitecture } from './types';

/** Dense layers per block, growth rate, bottleneck width multiplier and stem width of DenseNet-121. */
const BLOCKS = [6, 12, 24, 16] as const;
const GROWTH = 32;
const BN_SIZE = 4;
const STEM = 64;

/**
 * One dense layer (pre-activation bottleneck): BN-ReLU-conv1x1 (bn_size * growth) -> BN-ReLU-conv3x3 (growth).
 * Its input is the concatenation of every earlier feature map of the block.
 */
function denseLayer(p: Params, x: string, name: string, cin: number): string {
  const width = BN_SIZE * GROWTH;
  let y = relu(p, batchNorm(p, x, `${name}.norm1`, cin), `${name}.relu1`);
  y = conv2d(p, y, `${name}.conv1`, { cin, cout: width, k: 1 });
  y = relu(p, batchNorm(p, y, `${name}.norm2`, width), `${name}.relu2`);
  return conv2d(p, y, `${name}.conv2`, { cin: width, cout: GROWTH, k: 3, pad: 1 });
}

/** BN-ReLU-conv1x1 (halves the channels) -> 2x2/2 average pool. */
function transition(p: Params, x: string, name: string, cin: number, cout: number): string {
  let y = relu(p, batchNorm(p, x, `${name}.norm`, cin), `${name}.relu`);
  y = conv2d(p, y, `${name}.conv`, { cin, cout, k: 1 });
  return avgPool(p, y, `${name}.pool`, 2, 2);
}

/**
 * DenseNet-121 as torchvision's `densenet121` (growth 32, bn_size 4, compression 0.5, no dropout),
 * parameter names as its state_dict (the `features.denseblock1.denselayer1.norm1.weight` form,
 * not the legacy `norm.1` keys of old checkpoints).
 */
export function densenet121(): ClassifierArchitecture {
  return {
    kind: 'classifier',
    name: 'densenet121',
    title: 'DenseNet-121',
    scope: 'densenet121',
    preprocess: { ...IMAGENET_PREPROCESS, width: 224, height: 224, layout: 'NCHW' },
    publishedParameters: 7_978_856,
    publishedGmacs: 2.87,
    reference: 'Huang et al., Densely Connected Convolutional Networks, 2017',
    featurizer(p, input) {
      let x = conv2d(p, input, 'features.conv0', { cin: 3, cout: STEM, k: 7, stride: 2, pad: 3 });
      x = relu(p, batchNorm(p, x, 'features.norm0', STEM), 'features.relu0');
      x = maxPool(p, x, 'features.pool0', 3, 2, 1);
      let channels = STEM;
      BLOCKS.forEach((layers, b) => {
        const block = `features.denseblock${b + 1}`;
        const maps = [x];
        for (let i = 0; i < layers; i++) {
          const input = maps.length === 1 ? maps[0] : concat(p, maps, `${block}.denselayer${i + 1}/input`);
          maps.push(denseLayer(p, input, `${block}.denselayer${i + 1}`, channels + i * GROWTH));
        }
        x = concat(p, maps, `${block}/output`);
        channels += layers * GROWTH;
        if (b < BLOCKS.length - 1) {
          x = transition(p, x, `features.transition${b + 1}`, channels, channels / 2);
          channels /= 2;
        }
      });
      // torchvision: features.norm5, then F.relu, adaptive average pool to 1x1, flatten.
      x = relu(p, batchNorm(p, x, 'features.norm5', channels), 'features.relu5');
      return { output: globalPool(p, x, 'features/pool'), channels };
    },
    imagenetHead: (p, features, channels) => linear(p, features, 'classifier', channels, 1000),
  };
}
