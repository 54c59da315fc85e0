import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../onnx/builder';
import { INPUT_NAME } from './build';
import { densenet121 } from './densenet';
import { Params, type WeightTable } from './params';

/**
 * torchvision `densenet121().state_dict()` names and shapes (without the int64 `num_batches_tracked`
 * buffers), written out independently of densenet.ts.
 */
function torchvisionStateDict(): Map<string, number[]> {
  const sd = new Map<string, number[]>();
  const bn = (name: string, c: number) => ['weight', 'bias', 'running_mean', 'running_var'].forEach((k) => sd.set(`${name}.${k}`, [c]));
  sd.set('features.conv0.weight', [64, 3, 7, 7]);
  bn('features.norm0', 64);
  let c = 64;
  [6, 12, 24, 16].forEach((layers, b) => {
    for (let i = 1; i <= layers; i++) {
      const l = `features.denseblock${b + 1}.denselayer${i}`;
      const cin = c + (i - 1) * 32;
      bn(`${l}.norm1`, cin);
      sd.set(`${l}.conv1.weight`, [128, cin, 1, 1]);
      bn(`${l}.norm2`, 128);
      sd.set(`${l}.conv2.weight`, [32, 128, 3, 3]);
    }
    c += layers * 32;
    if (b < 3) {
      bn(`features.transition${b + 1}.norm`, c);
      sd.set(`features.transition${b + 1}.conv.weight`, [c / 2, c, 1, 1]);
      c /= 2;
    }
  });
  bn('features.norm5', c);
  sd.set('classifier.weight', [1000, 1024]);
  sd.set('classifier.bias', [1000]);
  return sd;
}

describe('densenet121', () => {
  it('maps a torchvision densenet121 state_dict 1:1 (names and shapes), 7,978,856 learnable parameters', () => {
    const sd = torchvisionStateDict();
    expect(sd.size).toBe(606);
    expect(sd.get('features.denseblock4.denselayer16.norm1.weight')).toEqual([992]);
    expect(sd.get('features.transition3.conv.weight')).toEqual([512, 1024, 1, 1]);
    expect(sd.get('features.norm5.running_var')).toEqual([1024]);
    // Shapes only: the graph is not serialized, so a one-element stand-in per tensor is enough.
    const table: WeightTable = new Map([...sd].map(([name, dims]) => [name, { dims, data: new Float32Array(1) }]));
    const arch = densenet121();
    const p = new Params(new GraphBuilder('names'), table);
    const features = arch.featurizer(p, p.g.input(INPUT_NAME, 'float32', ['N', 3, 224, 224]));
    expect(features.channels).toBe(1024);
    arch.imagenetHead(p, features.output, features.channels);
    expect(p.unused()).toEqual([]);
    expect(p.used.size).toBe(sd.size);
    expect(p.learnable).toBe(7_978_856);
    expect(arch.publishedParameters).toBe(7_978_856);
  });
});
