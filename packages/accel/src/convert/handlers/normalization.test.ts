import { describe, expect, it } from 'vitest';
import { tensor, type Tensor } from '../../onnx/graph';
import { expectConvertsLikeTfjs, randomFloats, runOnnx } from '../../test-util/convert';
import { mapGraph } from '../map';
import { runTfjsGraph } from '../reference';
import { tfAttr } from '../tf/attrs';
import type { TfAttrValue } from '../tf/graph';
import { TfGraphBuilder } from '../tf/builder';

const { s, i, f, b: bool } = tfAttr;
const size = (dims: number[]) => dims.reduce((a, c) => a * c, 1);
const floats = (dims: number[], seed: number): Tensor => tensor('float32', dims, randomFloats(size(dims), seed));

/** scale, offset, mean, variance (positive) constants for `c` channels. */
function bnParams(b: TfGraphBuilder, c: number): string[] {
  const variance = Array.from(randomFloats(c, 4), (v) => v + 1.5);
  return [b.const('scale', floats([c], 1)), b.const('offset', floats([c], 2)), b.const('mean', floats([c], 3)), b.const('variance', tensor('float32', [c], variance))];
}

function batchNorm(op: string, b: TfGraphBuilder, x: string, c: number, attrs: Record<string, TfAttrValue> = {}) {
  return b.op(op, 'bn', [x, ...bnParams(b, c)], { epsilon: f(0.001), is_training: bool(false), U: tfAttr.type('DT_FLOAT'), ...attrs });
}

describe('FusedBatchNorm', () => {
  for (const op of ['FusedBatchNorm', 'FusedBatchNormV2', 'FusedBatchNormV3']) {
    it(`${op} matches TF.js on NHWC data, batch 2, odd sizes`, async () => {
      const b = new TfGraphBuilder();
      const x = b.placeholder('x', [-1, 5, 7, 3]);
      const y = batchNorm(op, b, x, 3, { data_format: s('NHWC') });
      await expectConvertsLikeTfjs(b.build([x], [y]), { 'x:0': floats([2, 5, 7, 3], 9) }, [y], { passes: op !== 'FusedBatchNorm' });
    });
  }

  it('normalises axis 1 of NCHW data, without transposes', async () => {
    const feeds = { 'x:0': floats([2, 3, 5, 7], 9) };
    const b = new TfGraphBuilder();
    const x = b.placeholder('x', [-1, 3, 5, 7]);
    const y = batchNorm('FusedBatchNormV3', b, x, 3, { data_format: s('NCHW') });
    const onnx = mapGraph(b.build([x], [y]), { inputs: [x], outputs: [y] });
    expect(onnx.nodes.some((n) => n.op === 'Transpose')).toBe(false);
    const got = await runOnnx(onnx, feeds);
    // Reference: the NHWC op between Transposes (TF.js batch norm is channels-last only).
    const r = new TfGraphBuilder();
    const rx = r.placeholder('x', [-1, 3, 5, 7]);
    const perm = (name: string, p: number[]) => r.const(name, tensor('int32', [4], p));
    const nhwc = r.op('Transpose', 'in', [rx, perm('p1', [0, 2, 3, 1])], { Tperm: tfAttr.type('DT_INT32') });
    const bn = batchNorm('FusedBatchNormV3', r, nhwc, 3);
    const ry = r.op('Transpose', 'out', [bn, perm('p2', [0, 3, 1, 2])], { Tperm: tfAttr.type('DT_INT32') });
    const want = await runTfjsGraph(r.build([rx], [ry]), feeds, [ry]);
    expect(got[y]!.dims).toEqual(want[ry]!.dims);
    Array.from(got[y]!.data, Number).forEach((v, k) => expect(v).toBeCloseTo(want[ry]!.data[k]!, 5));
  });

  it('refuses training-mode batch norm', () => {
    const b = new TfGraphBuilder();
    const x = b.placeholder('x', [-1, 2, 2, 3]);
    const y = batchNorm('FusedBatchNormV3', b, x, 3, { is_training: bool(true) });
    expect(() => mapGraph(b.build([x], [y]), { inputs: [x], outputs: [y] })).toThrow(/is_training true/);
  });
});

describe('LRN', () => {
  const lrn = (attrs: Record<string, TfAttrValue>, channels: number) => async (opts: { passes?: boolean } = {}) => {
    const b = new TfGraphBuilder();
    const x = b.placeholder('x', [-1, 3, 5, channels]);
    const y = b.op('LRN', 'lrn', [x], attrs);
    return expectConvertsLikeTfjs(b.build([x], [y]), { 'x:0': tensor('float32', [2, 3, 5, channels], Array.from(randomFloats(30 * channels, 5), (v) => v * 3)) }, [y], opts);
  };

  it('matches TF.js with depth_radius 2, bias, alpha and beta set, at the channel edges', async () => {
    await lrn({ depth_radius: i(2), bias: f(2), alpha: f(0.3), beta: f(0.75) }, 7)();
  });

  it('matches TF.js with a large alpha, where the alpha scaling dominates', async () => {
    const onnx = await lrn({ depth_radius: i(1), bias: f(1), alpha: f(2), beta: f(0.5) }, 4)({ passes: false });
    const node = onnx.nodes.find((n) => n.op === 'LRN')!;
    expect(node.attrs.size).toEqual({ i: 3 });
    expect(node.attrs.alpha).toEqual({ f: 6 });
  });
});
