import { IMAGENET_PREPROCESS } from '../preprocess/spec';
import { conv2d, flatten, linear, maxPool, relu } from './layers';
import type { ClassifierArchitecture } from './types';

/** torchvision's VGG configuration "D" (VGG-16): output channels of the 3x3 convolutions, 'M' a 2x2/2 max pool. */
const CONFIG_D: Array<number | 'M'> = [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512, 'M'];

/**
 * VGG-16 as torchvision's `vgg16` (no batch norm), parameter names as its state_dict: the
 * `features.{i}` indices count the ReLUs and max pools of the nn.Sequential too (convs at 0, 2, 5,
 * 7, 10, 12, 14, 17, 19, 21, 24, 26, 28), the head is `classifier.{0,3,6}` (ReLU and dropout between).
 */
export function vgg16(): ClassifierArchitecture {
  return {
    kind: 'classifier',
    name: 'vgg16',
    title: 'VGG-16',
    scope: 'vgg_16',
    preprocess: { ...IMAGENET_PREPROCESS, width: 224, height: 224, layout: 'NCHW' },
    publishedParameters: 138_357_544,
    publishedGmacs: 15.47,
    reference: 'Simonyan & Zisserman, Very Deep Convolutional Networks for Large-Scale Image Recognition, 2014',
    featurizer(p, input) {
      let x = input;
      let cin = 3;
      let index = 0;
      for (const v of CONFIG_D) {
        if (v === 'M') {
          x = maxPool(p, x, `features.${index}`, 2, 2);
          index += 1;
        } else {
          x = conv2d(p, x, `features.${index}`, { cin, cout: v, k: 3, pad: 1, bias: true });
          x = relu(p, x, `features.${index + 1}`);
          cin = v;
          index += 2;
        }
      }
      // [N, 512, 7, 7] at 224x224. torchvision's avgpool (AdaptiveAvgPool2d((7, 7))) is the identity
      // on a 7x7 map, so it is left out; the features are the flattened map (torch.flatten(x, 1) order).
      const size = 7;
      return { output: flatten(p, x, 'features/flatten'), channels: cin * size * size };
    },
    imagenetHead(p, features, channels) {
      // Dropout (classifier.2, classifier.5) is the identity at inference.
      let x = relu(p, linear(p, features, 'classifier.0', channels, 4096, 'he'), 'classifier.1');
      x = relu(p, linear(p, x, 'classifier.3', 4096, 4096, 'he'), 'classifier.4');
      return linear(p, x, 'classifier.6', 4096, 1000);
    },
  };
}
