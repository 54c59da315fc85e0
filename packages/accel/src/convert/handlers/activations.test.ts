import { describe, expect, it } from 'vitest';
import { tensor } from '../../onnx/graph';
import { expectConvertsLikeTfjs, randomFloats, runOnnx } from '../../test-util/convert';
import { mapGraph } from '../map';
import { tfAttr } from '../tf/attrs';
import type { TfAttrValue } from '../tf/graph';
import { TfGraphBuilder } from '../tf/builder';

/** Inputs spread over [-scale, scale), batch 2. */
const spread = (dims: number[], scale: number) => tensor('float32', dims, Array.from(randomFloats(dims.reduce((a, b) => a * b, 1), 17), (v) => v * scale));

async function check(op: string, dims: number[], opts: { attrs?: Record<string, TfAttrValue>; scale?: number; passes?: boolean; extra?: (b: TfGraphBuilder) => string[] } = {}) {
  const b = new TfGraphBuilder();
  const x = b.placeholder('x', [-1, ...dims.slice(1)]);
  const y = b.op(op, 'act', [x, ...(opts.extra?.(b) ?? [])], opts.attrs ?? {});
  return expectConvertsLikeTfjs(b.build([x], [y]), { 'x:0': spread(dims, opts.scale ?? 8) }, [y], { passes: opts.passes });
}

describe('activations match TF.js', () => {
  for (const op of ['Relu', 'Relu6', 'Elu', 'Selu', 'Sigmoid', 'Tanh', 'Softplus', 'Erf']) {
    it(op, async () => {
      await check(op, [2, 3, 5, 4], { passes: op !== 'Relu' });
    });
  }

  it('Relu6 clips at 0 and 6 (the ONNX graph has one Clip)', async () => {
    const onnx = await check('Relu6', [2, 9], { scale: 20 });
    expect(onnx.nodes.filter((n) => n.op === 'Clip')).toHaveLength(1);
  });

  it('LeakyRelu with its alpha', async () => {
    await check('LeakyRelu', [2, 4, 3], { attrs: { alpha: tfAttr.f(0.3) } });
  });

  it('Softmax and LogSoftmax over the last axis', async () => {
    await check('Softmax', [2, 3, 7]);
    await check('LogSoftmax', [2, 3, 7]);
  });

  it('Prelu with a per-channel alpha on NHWC data', async () => {
    await check('Prelu', [2, 3, 5, 4], { extra: (b) => [b.const('alpha', tensor('float32', [4], [0.1, 0.5, -0.2, 2]))] });
  });

  it('Prelu with an alpha of shape [1, 1, C]', async () => {
    await check('Prelu', [2, 3, 5, 4], { extra: (b) => [b.const('alpha', tensor('float32', [1, 1, 4], [0.1, 0.5, -0.2, 2]))] });
  });
});

describe('Softsign (not in TF.js)', () => {
  it('computes x / (1 + |x|)', async () => {
    const b = new TfGraphBuilder();
    const x = b.placeholder('x', [-1, 2]);
    const y = b.op('Softsign', 'act', [x]);
    const got = await runOnnx(mapGraph(b.build([x], [y]), { inputs: [x], outputs: [y] }), { 'x:0': tensor('float32', [2, 2], [-3, 0, 1, 7]) });
    expect(Array.from(got[y]!.data)).toEqual([-0.75, 0, 0.5, 0.875]);
  });
});
