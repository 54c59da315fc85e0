import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../onnx/builder';
import { INPUT_NAME } from './build';
import { Params, type WeightTable } from './params';
import { vgg16 } from './vgg';

/** torchvision `vgg16().state_dict()` names and shapes, written out. */
const STATE_DICT: Array<[string, number[]]> = [
  ...(
    [
      [0, 3, 64], [2, 64, 64],
      [5, 64, 128], [7, 128, 128],
      [10, 128, 256], [12, 256, 256], [14, 256, 256],
      [17, 256, 512], [19, 512, 512], [21, 512, 512],
      [24, 512, 512], [26, 512, 512], [28, 512, 512],
    ] as const
  ).flatMap(([i, cin, cout]): Array<[string, number[]]> => [[`features.${i}.weight`, [cout, cin, 3, 3]], [`features.${i}.bias`, [cout]]]),
  ['classifier.0.weight', [4096, 25088]], ['classifier.0.bias', [4096]],
  ['classifier.3.weight', [4096, 4096]], ['classifier.3.bias', [4096]],
  ['classifier.6.weight', [1000, 4096]], ['classifier.6.bias', [1000]],
];

describe('vgg16', () => {
  it('maps a torchvision vgg16 state_dict 1:1 (names and shapes), 138,357,544 learnable parameters', () => {
    // Shapes only: the graph is not serialized, so a one-element stand-in per tensor is enough (no 550 MB).
    const table: WeightTable = new Map(STATE_DICT.map(([name, dims]) => [name, { dims, data: new Float32Array(1) }]));
    const arch = vgg16();
    const p = new Params(new GraphBuilder('names'), table);
    const features = arch.featurizer(p, p.g.input(INPUT_NAME, 'float32', ['N', 3, 224, 224]));
    expect(features.channels).toBe(512 * 7 * 7);
    arch.imagenetHead(p, features.output, features.channels);
    expect(p.unused()).toEqual([]);
    expect(p.used.size).toBe(STATE_DICT.length);
    expect(p.learnable).toBe(138_357_544);
    expect(arch.publishedParameters).toBe(138_357_544);
  });
});
