import { describe, expect, it } from 'vitest';
import { tensor, type Tensor } from '../../onnx/graph';
import { expectConvertsLikeTfjs, randomFloats, runOnnx } from '../../test-util/convert';
import { mapGraph } from '../map';
import { runPasses } from '../passes/index';
import { runTfjsGraph } from '../reference';
import { tfAttr } from '../tf/attrs';
import type { TfAttrValue } from '../tf/graph';
import { TfGraphBuilder } from '../tf/builder';

const { s, ints, f, i, strs } = tfAttr;
const size = (dims: number[]) => dims.reduce((a, b) => a * b, 1);
const floats = (dims: number[], seed: number): Tensor => tensor('float32', dims, randomFloats(size(dims), seed));

/** A graph with input `x` (placeholder `shape`, fed `feedDims`) and the nodes `body` adds. */
function graph(shape: number[], body: (b: TfGraphBuilder, x: string) => string) {
  const b = new TfGraphBuilder();
  const x = b.placeholder('x', shape);
  const y = body(b, x);
  return { tf: b.build([x], [y]), y };
}

async function convertsLikeTfjs(shape: number[], feedDims: number[], body: (b: TfGraphBuilder, x: string) => string, opts: { passes?: boolean } = {}) {
  const { tf, y } = graph(shape, body);
  return expectConvertsLikeTfjs(tf, { 'x:0': floats(feedDims, 7) }, [y], opts);
}

/** Converts `tf` and compares it with TF.js running `reference` (for ops TF.js lacks or runs differently). */
async function convertsLikeReference(tf: ReturnType<typeof graph>, reference: ReturnType<typeof graph>, feedDims: number[]) {
  const feeds = { 'x:0': floats(feedDims, 3) };
  const onnx = mapGraph(tf.tf, { inputs: ['x:0'], outputs: [tf.y] });
  runPasses(onnx);
  const [got, want] = await Promise.all([runOnnx(onnx, feeds), runTfjsGraph(reference.tf, feeds, [reference.y])]);
  expect(got[tf.y]!.dims).toEqual(want[reference.y]!.dims);
  const w = Array.from(want[reference.y]!.data);
  Array.from(got[tf.y]!.data, Number).forEach((v, k) => expect(v).toBeCloseTo(w[k]!, 4));
  return onnx;
}

/**
 * A graph with an NCHW op and, as its reference, the NHWC op wrapped in Transposes (TF.js
 * reads NCHW strides as if they were NHWC, so it cannot run the NCHW op itself).
 */
function nchwAndReference(shape: number[], nchw: (b: TfGraphBuilder, x: string) => string, nhwc: (b: TfGraphBuilder, x: string) => string) {
  const reference = graph(shape, (b, x) => {
    const toNhwc = b.op('Transpose', 'to_nhwc', [x, b.const('p1', tensor('int32', [4], [0, 2, 3, 1]))], { Tperm: tfAttr.type('DT_INT32') });
    const y = nhwc(b, toNhwc);
    return b.op('Transpose', 'to_nchw', [y, b.const('p2', tensor('int32', [4], [0, 3, 1, 2]))], { Tperm: tfAttr.type('DT_INT32') });
  });
  return { tf: graph(shape, nchw), reference };
}

const window = (strides: number[], padding: string, extra: Record<string, TfAttrValue> = {}) => ({ strides: ints(strides), padding: s(padding), dilations: ints([1, 1, 1, 1]), ...extra });

function conv2d(b: TfGraphBuilder, x: string, filter: number[], attrs: Record<string, TfAttrValue>, op = 'Conv2D', extra: string[] = []) {
  const w = b.const('w', floats(filter, 11));
  return b.op(op, 'conv', [x, w, ...extra], attrs);
}

describe('Conv2D', () => {
  it('matches TF.js for SAME padding with stride 2 on odd sizes, batch 2 (with and without passes)', async () => {
    const body = (b: TfGraphBuilder, x: string) => conv2d(b, x, [3, 3, 3, 4], window([1, 2, 2, 1], 'SAME'));
    await convertsLikeTfjs([-1, 7, 9, 3], [2, 7, 9, 3], body);
    const onnx = await convertsLikeTfjs([-1, 7, 9, 3], [2, 7, 9, 3], body, { passes: false });
    const conv = onnx.nodes.find((n) => n.op === 'Conv')!;
    expect(conv.attrs.pads).toEqual({ ints: [1, 1, 1, 1] }); // 7 -> 4 rows: 2 pad rows, 1 at each end; 9 -> 5: 2 as well
  });

  it('puts the odd SAME padding pixel at the end (stride 2, kernel 4)', async () => {
    const onnx = await convertsLikeTfjs([-1, 7, 9, 2], [2, 7, 9, 2], (b, x) => conv2d(b, x, [4, 4, 2, 3], window([1, 2, 2, 1], 'SAME')), { passes: false });
    expect(onnx.nodes.find((n) => n.op === 'Conv')!.attrs.pads).toEqual({ ints: [1, 1, 2, 2] });
  });

  it('matches TF.js for VALID padding with stride 2 on odd sizes', async () => {
    await convertsLikeTfjs([-1, 9, 7, 2], [3, 9, 7, 2], (b, x) => conv2d(b, x, [3, 2, 2, 5], window([1, 2, 2, 1], 'VALID')));
  });

  it('matches TF.js with dilations', async () => {
    await convertsLikeTfjs([-1, 9, 8, 2], [2, 9, 8, 2], (b, x) => conv2d(b, x, [3, 3, 2, 3], window([1, 1, 1, 1], 'SAME', { dilations: ints([1, 2, 3, 1]) })));
  });

  it('matches TF.js with explicit paddings', async () => {
    const attrs = window([1, 2, 2, 1], 'EXPLICIT', { explicit_paddings: ints([0, 0, 1, 2, 0, 1, 0, 0]) });
    await convertsLikeTfjs([-1, 7, 7, 2], [2, 7, 7, 2], (b, x) => conv2d(b, x, [3, 3, 2, 2], attrs));
  });

  it('uses SAME_UPPER when the spatial sizes are unknown', async () => {
    const onnx = await convertsLikeTfjs([-1, -1, -1, 3], [2, 7, 5, 3], (b, x) => conv2d(b, x, [3, 3, 3, 2], window([1, 2, 2, 1], 'SAME')), { passes: false });
    expect(onnx.nodes.find((n) => n.op === 'Conv')!.attrs.auto_pad).toEqual({ s: 'SAME_UPPER' });
  });

  it('transposes a filter that is not constant with a node', async () => {
    const b = new TfGraphBuilder();
    const x = b.placeholder('x', [-1, 5, 5, 2]);
    const w = b.placeholder('w', [3, 3, 2, 4]);
    const y = b.op('Conv2D', 'conv', [x, w], window([1, 2, 2, 1], 'SAME'));
    await expectConvertsLikeTfjs(b.build([x, w], [y]), { 'x:0': floats([2, 5, 5, 2], 1), 'w:0': floats([3, 3, 2, 4], 2) }, [y]);
  });

  it('keeps NCHW data without transposes around the Conv', async () => {
    const nchw = window([1, 1, 2, 2], 'SAME', { data_format: s('NCHW'), dilations: ints([1, 1, 1, 1]) });
    const { tf, reference } = nchwAndReference(
      [-1, 3, 7, 9],
      (b, x) => conv2d(b, x, [3, 3, 3, 4], nchw),
      (b, x) => conv2d(b, x, [3, 3, 3, 4], window([1, 2, 2, 1], 'SAME')),
    );
    const onnx = await convertsLikeReference(tf, reference, [2, 3, 7, 9]);
    expect(onnx.nodes.filter((n) => n.op === 'Transpose')).toHaveLength(0);
  });

  it('groups the convolution when the input has a multiple of the filter channels', async () => {
    const weights = floats([3, 3, 2, 6], 11);
    const half = (g: number) => tensor('float32', [3, 3, 2, 3], Array.from(weights.data as Float32Array).filter((_, k) => Math.floor((k % 6) / 3) === g));
    const grouped = graph([-1, 7, 7, 4], (b, x) => b.op('Conv2D', 'conv', [x, b.const('w', weights)], window([1, 2, 2, 1], 'SAME')));
    // Reference: each half of the channels through its half of the filters, concatenated.
    const reference = graph([-1, 7, 7, 4], (b, x) => {
      const axis = b.const('axis', tensor('int32', [], [3]));
      const split = b.op('Split', 'split', [axis, x], { num_split: i(2) });
      const convs = [0, 1].map((g) => b.op('Conv2D', `conv${g}`, [g ? 'split:1' : split, b.const(`w${g}`, half(g))], window([1, 2, 2, 1], 'SAME')));
      return b.op('ConcatV2', 'concat', [...convs, axis], { N: i(2) });
    });
    await convertsLikeReference(grouped, reference, [2, 7, 7, 4]);
  });

  it('fails with the reason for an unsupported padding', () => {
    const { tf, y } = graph([-1, 5, 5, 1], (b, x) => conv2d(b, x, [1, 1, 1, 1], window([1, 1, 1, 1], 'FULL')));
    expect(() => mapGraph(tf, { inputs: ['x:0'], outputs: [y] })).toThrow(/padding "FULL" is not supported/);
  });
});

describe('_FusedConv2D', () => {
  const fused = (ops: string[], args: string[], extra: Record<string, TfAttrValue> = {}) =>
    window([1, 2, 2, 1], 'SAME', { fused_ops: strs(ops), num_args: i(args.length), ...extra });

  for (const act of ['Relu', 'Relu6', 'Elu', 'Sigmoid']) {
    it(`matches TF.js for BiasAdd + ${act}`, async () => {
      await convertsLikeTfjs([-1, 7, 6, 3], [2, 7, 6, 3], (b, x) => {
        const bias = b.const('bias', floats([4], 5));
        return conv2d(b, x, [3, 3, 3, 4], fused(['BiasAdd', act], [bias]), '_FusedConv2D', [bias]);
      });
    });
  }

  it('matches TF.js for BiasAdd + LeakyRelu with its alpha', async () => {
    await convertsLikeTfjs([-1, 5, 5, 2], [2, 5, 5, 2], (b, x) => {
      const bias = b.const('bias', floats([3], 5));
      return conv2d(b, x, [3, 3, 2, 3], fused(['BiasAdd', 'LeakyRelu'], [bias], { leakyrelu_alpha: f(0.3) }), '_FusedConv2D', [bias]);
    });
  });

  it('matches TF.js for BiasAdd + Prelu (alpha after the bias)', async () => {
    await convertsLikeTfjs([-1, 5, 7, 2], [2, 5, 7, 2], (b, x) => {
      const bias = b.const('bias', floats([3], 5));
      const alpha = b.const('alpha', floats([3], 6));
      return conv2d(b, x, [3, 3, 2, 3], fused(['BiasAdd', 'Prelu'], [bias, alpha]), '_FusedConv2D', [bias, alpha]);
    });
  });

  it('matches Conv2D + FusedBatchNormV3 + Relu for FusedBatchNorm + Relu', async () => {
    const bnArgs = (b: TfGraphBuilder) => [
      b.const('scale', floats([3], 21)),
      b.const('offset', floats([3], 22)),
      b.const('mean', floats([3], 23)),
      b.const('variance', tensor('float32', [3], [0.5, 1.5, 2])),
    ];
    const tf = graph([-1, 7, 7, 2], (b, x) => {
      const args = bnArgs(b);
      return conv2d(b, x, [3, 3, 2, 3], fused(['FusedBatchNorm', 'Relu'], args, { epsilon: f(0.001) }), '_FusedConv2D', args);
    });
    const reference = graph([-1, 7, 7, 2], (b, x) => {
      const args = bnArgs(b);
      const c = conv2d(b, x, [3, 3, 2, 3], window([1, 2, 2, 1], 'SAME'));
      const bn = b.op('FusedBatchNormV3', 'bn', [c, ...args], { epsilon: f(0.001), is_training: tfAttr.b(false), U: tfAttr.type('DT_FLOAT') });
      return b.op('Relu', 'relu', [bn]);
    });
    await convertsLikeReference(tf, reference, [2, 7, 7, 2]);
  });

  it('fails for a fused op it does not know', () => {
    const { tf, y } = graph([-1, 5, 5, 1], (b, x) => {
      const bias = b.const('bias', floats([1], 5));
      return conv2d(b, x, [1, 1, 1, 1], fused(['BiasAdd', 'Gelu'], [bias]), '_FusedConv2D', [bias]);
    });
    expect(() => mapGraph(tf, { inputs: ['x:0'], outputs: [y] })).toThrow(/fused op "Gelu" is not supported/);
  });
});

describe('DepthwiseConv2dNative', () => {
  it('matches TF.js with channel multiplier 2, SAME, stride 2, odd sizes', async () => {
    await convertsLikeTfjs([-1, 7, 9, 3], [2, 7, 9, 3], (b, x) => conv2d(b, x, [3, 3, 3, 2], window([1, 2, 2, 1], 'SAME'), 'DepthwiseConv2dNative'));
  });

  it('matches TF.js with VALID padding and dilations', async () => {
    const attrs = window([1, 1, 1, 1], 'VALID', { dilations: ints([1, 2, 2, 1]) });
    await convertsLikeTfjs([-1, 9, 8, 2], [2, 9, 8, 2], (b, x) => conv2d(b, x, [3, 3, 2, 1], attrs, 'DepthwiseConv2dNative'), { passes: false });
  });

  it('matches TF.js fused with BiasAdd + Relu6', async () => {
    await convertsLikeTfjs([-1, 6, 7, 4], [2, 6, 7, 4], (b, x) => {
      const bias = b.const('bias', floats([4], 5));
      const attrs = window([1, 2, 2, 1], 'SAME', { fused_ops: strs(['BiasAdd', 'Relu6']), num_args: i(1) });
      return conv2d(b, x, [3, 3, 4, 1], attrs, 'FusedDepthwiseConv2dNative', [bias]);
    });
  });

  it('matches the NHWC op on NCHW data, stride 2', async () => {
    const { tf, reference } = nchwAndReference(
      [-1, 2, 7, 5],
      (b, x) => conv2d(b, x, [3, 3, 2, 2], window([1, 1, 2, 2], 'SAME', { data_format: s('NCHW') }), 'DepthwiseConv2dNative'),
      (b, x) => conv2d(b, x, [3, 3, 2, 2], window([1, 2, 2, 1], 'SAME'), 'DepthwiseConv2dNative'),
    );
    await convertsLikeReference(tf, reference, [2, 2, 7, 5]);
  });
});

describe('Conv2DBackpropInput', () => {
  const transposed = (out: number[], filter: number[], strides: number[], padding: string) => (b: TfGraphBuilder, x: string) => {
    const sizes = b.const('sizes', tensor('int32', [4], out));
    const w = b.const('w', floats(filter, 13));
    return b.op('Conv2DBackpropInput', 'deconv', [sizes, w, x], window(strides, padding));
  };

  it('matches TF.js for SAME, stride 2, to an odd output size', async () => {
    await convertsLikeTfjs([2, 4, 5, 3], [2, 4, 5, 3], transposed([2, 7, 9, 2], [3, 3, 2, 3], [1, 2, 2, 1], 'SAME'));
  });

  it('matches TF.js for SAME, stride 2, kernel 4, to an even output size', async () => {
    await convertsLikeTfjs([1, 3, 4, 2], [1, 3, 4, 2], transposed([1, 6, 8, 3], [4, 4, 3, 2], [1, 2, 2, 1], 'SAME'));
  });

  it('matches the NHWC op on NCHW data', async () => {
    const { tf, reference } = nchwAndReference(
      [2, 3, 4, 5],
      (b, x) => {
        const sizes = b.const('sizes', tensor('int32', [4], [2, 2, 7, 9]));
        return b.op('Conv2DBackpropInput', 'deconv', [sizes, b.const('w', floats([3, 3, 2, 3], 13)), x], window([1, 1, 2, 2], 'SAME', { data_format: s('NCHW') }));
      },
      transposed([2, 7, 9, 2], [3, 3, 2, 3], [1, 2, 2, 1], 'SAME'),
    );
    await convertsLikeReference(tf, reference, [2, 3, 4, 5]);
  });

  it('matches TF.js for VALID, stride 2, with rows the forward conv left unread', async () => {
    await convertsLikeTfjs([2, 3, 3, 2], [2, 3, 3, 2], transposed([2, 8, 7, 1], [3, 2, 1, 2], [1, 2, 2, 1], 'VALID'), { passes: false });
  });
});

describe('pooling', () => {
  const pool = (op: string, k: number, st: number, padding: string) => (b: TfGraphBuilder, x: string) =>
    b.op(op, 'pool', [x], { ksize: ints([1, k, k, 1]), ...window([1, st, st, 1], padding) });

  for (const op of ['MaxPool', 'AvgPool']) {
    it(`${op} matches TF.js for SAME, stride 2, odd sizes, batch 2`, async () => {
      await convertsLikeTfjs([-1, 7, 9, 3], [2, 7, 9, 3], pool(op, 3, 2, 'SAME'));
    });
    it(`${op} matches TF.js for VALID, stride 2, odd sizes`, async () => {
      await convertsLikeTfjs([-1, 9, 7, 2], [2, 9, 7, 2], pool(op, 2, 2, 'VALID'), { passes: false });
    });
  }

  it('AvgPool leaves the SAME padding out of the average even when the sizes are unknown', async () => {
    await convertsLikeTfjs([-1, -1, -1, 2], [2, 6, 5, 2], pool('AvgPool', 3, 2, 'SAME'));
  });

  it('MaxPoolV2 (ksize and strides as inputs) matches MaxPool', async () => {
    const v2 = graph([-1, 7, 8, 2], (b, x) => {
      const k = b.const('k', tensor('int32', [4], [1, 3, 3, 1]));
      const st = b.const('st', tensor('int32', [4], [1, 2, 2, 1]));
      return b.op('MaxPoolV2', 'pool', [x, k, st], { padding: s('SAME') });
    });
    await convertsLikeReference(v2, graph([-1, 7, 8, 2], pool('MaxPool', 3, 2, 'SAME')), [2, 7, 8, 2]);
  });

  it('fails for pooling over channels', () => {
    const { tf, y } = graph([-1, 4, 4, 4], (b, x) => b.op('MaxPool', 'pool', [x], { ksize: ints([1, 2, 2, 2]), ...window([1, 1, 1, 1], 'VALID') }));
    expect(() => mapGraph(tf, { inputs: ['x:0'], outputs: [y] })).toThrow(/pooling over the batch or channel axis/);
  });
});

describe('block rearrangements', () => {
  it('DepthToSpace matches TF.js (DCR order)', async () => {
    await convertsLikeTfjs([-1, 3, 5, 8], [2, 3, 5, 8], (b, x) => b.op('DepthToSpace', 'd2s', [x], { block_size: i(2), data_format: s('NHWC') }));
  });

  it('SpaceToDepth inverts DepthToSpace', async () => {
    const { tf, y } = graph([-1, 3, 5, 8], (b, x) => {
      const d = b.op('DepthToSpace', 'd2s', [x], { block_size: i(2) });
      return b.op('SpaceToDepth', 's2d', [d], { block_size: i(2) });
    });
    const feed = floats([2, 3, 5, 8], 4);
    const got = await runOnnx(mapGraph(tf, { inputs: ['x:0'], outputs: [y] }), { 'x:0': feed });
    expect(got[y]!.dims).toEqual([2, 3, 5, 8]);
    expect(Array.from(got[y]!.data, Number)).toEqual(Array.from(feed.data as Float32Array));
  });

  it('SpaceToBatchND with paddings matches TF.js', async () => {
    await convertsLikeTfjs([-1, 5, 6, 3], [2, 5, 6, 3], (b, x) => {
      const block = b.const('block', tensor('int32', [2], [2, 3]));
      const pads = b.const('pads', tensor('int32', [2, 2], [1, 2, 0, 0]));
      return b.op('SpaceToBatchND', 's2b', [x, block, pads]);
    });
  });

  it('BatchToSpaceND with crops matches TF.js', async () => {
    await convertsLikeTfjs([-1, 3, 2, 2], [12, 3, 2, 2], (b, x) => {
      const block = b.const('block', tensor('int32', [2], [2, 3]));
      const crops = b.const('crops', tensor('int32', [2, 2], [1, 0, 0, 2]));
      return b.op('BatchToSpaceND', 'b2s', [x, block, crops]);
    });
  });

  it('the dilated convolution pattern (SpaceToBatchND, Conv2D, BatchToSpaceND) matches TF.js', async () => {
    await convertsLikeTfjs([-1, 9, 9, 2], [2, 9, 9, 2], (b, x) => {
      const block = b.const('block', tensor('int32', [2], [2, 2]));
      const pads = b.const('pads', tensor('int32', [2, 2], [2, 3, 2, 3]));
      const crops = b.const('crops', tensor('int32', [2, 2], [0, 1, 0, 1]));
      const s2b = b.op('SpaceToBatchND', 's2b', [x, block, pads]);
      const c = conv2d(b, s2b, [3, 3, 2, 4], window([1, 1, 1, 1], 'VALID'));
      return b.op('BatchToSpaceND', 'b2s', [c, block, crops]);
    });
  });
});
