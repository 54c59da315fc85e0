import { describe, expect, it } from 'vitest';
import { tensor } from '../../onnx/graph';
import { expectConvertsLikeTfjs, randomFloats, runOnnx } from '../../test-util/convert';
import { mapGraph } from '../map';
import { tfAttr } from '../tf/attrs';
import { TfGraphBuilder } from '../tf/builder';

const INT = { T: tfAttr.type('DT_INT32') };
const x234 = () => tensor('float32', [2, 3, 4], randomFloats(24));

/** A StridedSlice node from begin/end/strides constants and masks. */
function stridedSlice(b: TfGraphBuilder, name: string, x: string, spec: { begin: number[]; end: number[]; strides: number[] }, masks: Record<string, number> = {}): string {
  const n = spec.begin.length;
  const begin = b.const(`${name}/begin`, 'int32', [n], spec.begin);
  const end = b.const(`${name}/end`, 'int32', [n], spec.end);
  const strides = b.const(`${name}/strides`, 'int32', [n], spec.strides);
  return b.op('StridedSlice', name, [x, begin, end, strides], { Index: tfAttr.type('DT_INT32'), ...Object.fromEntries(Object.entries(masks).map(([k, v]) => [k, tfAttr.i(v)])) });
}

describe('shape handlers', () => {
  it('passes tensors through the identity ops', async () => {
    const b = new TfGraphBuilder();
    const x = b.placeholder('x', [-1, 3]);
    const n = b.op('IdentityN', 'idn', [x, b.op('Neg', 'neg', [x])]);
    const outs = [b.op('Identity', 'id', [x]), b.op('StopGradient', 'sg', [x]), b.op('Snapshot', 'snap', [x]), n, 'idn:1'];
    await expectConvertsLikeTfjs(b.build([x], outs), { 'x:0': tensor('float32', [2, 3], randomFloats(6)) }, outs);
  });

  it('reshapes to constant shapes and to shapes computed from the batch size', async () => {
    const b = new TfGraphBuilder();
    const x = b.placeholder('x', [-1, 3, 4]);
    const shape = b.op('Shape', 'shape', [x], { out_type: tfAttr.type('DT_INT32') });
    const batch = stridedSlice(b, 'batch', shape, { begin: [0], end: [1], strides: [1] }, { shrink_axis_mask: 1 });
    const dyn = b.op('Pack', 'dyn_shape', [batch, b.const('minus1', 'int32', [], [-1])], { ...INT, N: tfAttr.i(2), axis: tfAttr.i(0) });
    const outs = [
      b.op('Reshape', 'flat', [x, b.const('s1', 'int32', [2], [-1, 12])]),
      b.op('Reshape', 'split', [x, b.const('s2', 'int32', [4], [2, -1, 2, 2])]),
      b.op('Reshape', 'dyn', [x, dyn]),
      shape,
    ];
    await expectConvertsLikeTfjs(b.build([x], outs), { 'x:0': x234() }, outs);
  });

  it('squeezes, expands and transposes with negative axes', async () => {
    const b = new TfGraphBuilder();
    const x = b.placeholder('x', [-1, 1, 3, 1]);
    const outs = [
      b.op('Squeeze', 'sq', [x], { squeeze_dims: tfAttr.ints([-1]) }),
      b.op('Squeeze', 'sq_all', [x]),
      b.op('ExpandDims', 'ed', [x, b.const('ax', 'int32', [], [-1])]),
      b.op('ExpandDims', 'ed0', [x, b.const('ax0', 'int32', [1], [1])]),
      b.op('Transpose', 'tr', [x, b.const('perm', 'int32', [4], [2, 0, 3, 1])]),
    ];
    await expectConvertsLikeTfjs(b.build([x], outs), { 'x:0': tensor('float32', [2, 1, 3, 1], randomFloats(6)) }, outs, { passes: false });
  });

  it('concatenates, packs, unpacks and splits', async () => {
    const b = new TfGraphBuilder();
    const x = b.placeholder('x', [-1, 3, 4]);
    const y = b.op('Neg', 'y', [x]);
    const unpack = b.op('Unpack', 'unpack', [x], { num: tfAttr.i(3), axis: tfAttr.i(1) });
    const split = b.op('Split', 'split', [b.const('split_axis', 'int32', [], [-1]), x], { num_split: tfAttr.i(2) });
    const splitV = b.op('SplitV', 'splitv', [x, b.const('sizes', 'int32', [3], [1, -1, 1]), b.const('sv_axis', 'int32', [], [2])], { num_split: tfAttr.i(3) });
    const batchSplit = b.op('SplitV', 'batchsplit', [x, b.const('bsizes', 'int32', [2], [1, -1]), b.const('bs_axis', 'int32', [], [0])], { num_split: tfAttr.i(2) });
    const outs = [
      b.op('ConcatV2', 'concat', [x, y, b.const('axis', 'int32', [], [-1])], { N: tfAttr.i(2) }),
      b.op('Concat', 'concat_old', [b.const('axis0', 'int32', [], [1]), x, y, x], { N: tfAttr.i(3) }),
      b.op('Pack', 'pack', [x, y], { N: tfAttr.i(2), axis: tfAttr.i(1) }),
      b.op('Pack', 'pack_last', [x, y, x], { N: tfAttr.i(3), axis: tfAttr.i(-1) }),
      unpack, 'unpack:1', 'unpack:2',
      split, 'split:1',
      splitV, 'splitv:1', 'splitv:2',
      batchSplit, 'batchsplit:1',
    ];
    await expectConvertsLikeTfjs(b.build([x], outs), { 'x:0': tensor('float32', [3, 3, 4], randomFloats(36)) }, outs);
  });

  it('slices with sizes of -1 and with begins fed at run time', async () => {
    const b = new TfGraphBuilder();
    const x = b.placeholder('x', [-1, 3, 4]);
    const begin = b.placeholder('begin', [3], 'int32');
    const outs = [
      b.op('Slice', 'slice', [x, b.const('b', 'int32', [3], [0, 1, 1]), b.const('s', 'int32', [3], [-1, 2, -1])], { Index: tfAttr.type('DT_INT32') }),
      b.op('Slice', 'dyn', [x, begin, b.const('s2', 'int32', [3], [1, -1, 2])], { Index: tfAttr.type('DT_INT32') }),
    ];
    await expectConvertsLikeTfjs(b.build([x, begin], outs), { 'x:0': x234(), 'begin:0': tensor('int32', [3], [1, 1, 2]) }, outs);
  });

  it('maps StridedSlice masks, ellipses, new axes and negative strides', async () => {
    const b = new TfGraphBuilder();
    const x = b.placeholder('x', [-1, 3, 4]);
    const outs = [
      // x[1:, ::-1]
      stridedSlice(b, 'rev', x, { begin: [1, 0], end: [0, 0], strides: [1, -1] }, { end_mask: 3, begin_mask: 2 }),
      // x[..., 0]
      stridedSlice(b, 'last0', x, { begin: [0, 0], end: [0, 1], strides: [1, 1] }, { ellipsis_mask: 1, shrink_axis_mask: 2 }),
      // x[:, None, 1:3]
      stridedSlice(b, 'newaxis', x, { begin: [0, 0, 1], end: [0, 0, 3], strides: [1, 1, 1] }, { begin_mask: 1, end_mask: 1, new_axis_mask: 2 }),
      // x[-1]
      stridedSlice(b, 'lastrow', x, { begin: [-1], end: [0], strides: [1] }, { shrink_axis_mask: 1 }),
      // x[0:2, ..., ::-2]
      stridedSlice(b, 'mid', x, { begin: [0, 0, 0], end: [2, 0, 0], strides: [1, 1, -2] }, { ellipsis_mask: 2, begin_mask: 4, end_mask: 4 }),
      // x[..., None, -3:-1]
      stridedSlice(b, 'tailnew', x, { begin: [0, 0, -3], end: [0, 0, -1], strides: [1, 1, 1] }, { ellipsis_mask: 1, new_axis_mask: 2 }),
      // x[:, -1]
      stridedSlice(b, 'lastcol', x, { begin: [0, -1], end: [0, 0], strides: [1, 1] }, { begin_mask: 1, end_mask: 1, shrink_axis_mask: 2 }),
    ];
    await expectConvertsLikeTfjs(b.build([x], outs), { 'x:0': x234() }, outs);
  });

  // TF.js mis-slices when an axis is shrunk and another has a stride other than 1; these are by hand.
  it('shrinks axes next to strided axes', async () => {
    const b = new TfGraphBuilder();
    const x = b.placeholder('x', [-1, 3, 4]);
    const outs = [
      // x[:, 2:0:-1, 1]
      stridedSlice(b, 'backwards', x, { begin: [0, 2, 1], end: [0, 0, 2], strides: [1, -1, 1] }, { begin_mask: 1, end_mask: 1, shrink_axis_mask: 4 }),
      // x[0:2, -1, 0:4:2]
      stridedSlice(b, 'every2', x, { begin: [1, -1, 0], end: [2, 0, 4], strides: [1, 1, 2] }, { begin_mask: 1, shrink_axis_mask: 2 }),
    ];
    const got = await runOnnx(mapGraph(b.build([x], outs), { inputs: [x], outputs: outs }), { 'x:0': tensor('float32', [2, 3, 4], Array.from({ length: 24 }, (_, k) => k)) });
    expect(got[outs[0]!]).toEqual({ dims: [2, 2], data: new Float32Array([9, 5, 21, 17]) });
    expect(got[outs[1]!]).toEqual({ dims: [2, 2], data: new Float32Array([8, 10, 20, 22]) });
  });

  it('maps StridedSlice with bounds fed at run time', async () => {
    const b = new TfGraphBuilder();
    const x = b.placeholder('x', [-1, 3, 4]);
    const begin = b.placeholder('begin', [3], 'int32');
    const end = b.placeholder('end', [3], 'int32');
    const ones = b.const('ones', 'int32', [3], [1, 1, 1]);
    const attrs = { Index: tfAttr.type('DT_INT32'), begin_mask: tfAttr.i(1), shrink_axis_mask: tfAttr.i(2) };
    const outs = [
      b.op('StridedSlice', 'ss', [x, begin, end, ones], attrs),
      b.op('StridedSlice', 'ss_nomask', [x, begin, end, ones], { ...attrs, begin_mask: tfAttr.i(0) }),
      b.op('StridedSlice', 'rev', [x, begin, end, b.const('rev_strides', 'int32', [3], [1, 1, -1])], { Index: tfAttr.type('DT_INT32'), end_mask: tfAttr.i(4) }),
    ];
    const feeds = { 'x:0': x234(), 'begin:0': tensor('int32', [3], [1, -1, 2]), 'end:0': tensor('int32', [3], [2, 3, 4]) };
    await expectConvertsLikeTfjs(b.build([x, begin, end], outs), feeds, outs);
    feeds['begin:0'] = tensor('int32', [3], [0, 1, 0]);
    await expectConvertsLikeTfjs(b.build([x, begin, end], outs), feeds, outs);
  });

  it('pads with zeros, a constant and reflection, and refuses SYMMETRIC', async () => {
    const b = new TfGraphBuilder();
    const x = b.placeholder('x', [-1, 3, 4]);
    const paddings = b.const('paddings', 'int32', [3, 2], [0, 0, 1, 2, 2, 1]);
    const outs = [
      b.op('Pad', 'pad', [x, paddings], { Tpaddings: tfAttr.type('DT_INT32') }),
      b.op('PadV2', 'padv2', [x, paddings, b.const('cv', 'float32', [], [-3])]),
      b.op('MirrorPad', 'mirror', [x, paddings], { mode: tfAttr.s('REFLECT') }),
    ];
    await expectConvertsLikeTfjs(b.build([x], outs), { 'x:0': x234() }, outs);
    const sym = b.op('MirrorPad', 'sym', [x, paddings], { mode: tfAttr.s('SYMMETRIC') });
    expect(() => mapGraph(b.build([x], [sym]), { inputs: [x], outputs: [sym] })).toThrow(/SYMMETRIC is not supported/);
  });

  it('gathers by int32 indices along any axis and by coordinates', async () => {
    const b = new TfGraphBuilder();
    const x = b.placeholder('x', [-1, 3, 4]);
    const idx = b.placeholder('idx', [-1], 'int32');
    const coords = b.const('coords', 'int32', [3, 2], [0, 1, 1, 2, 1, 0]);
    const outs = [
      b.op('GatherV2', 'g0', [x, idx, b.const('a0', 'int32', [], [0])], { batch_dims: tfAttr.i(0) }),
      b.op('GatherV2', 'g_last', [x, idx, b.const('a1', 'int32', [], [-1])], { batch_dims: tfAttr.i(0) }),
      b.op('GatherNd', 'gnd', [x, coords]),
    ];
    await expectConvertsLikeTfjs(b.build([x, idx], outs), { 'x:0': x234(), 'idx:0': tensor('int32', [4], [1, 0, 1, 1]) }, outs);
  });

  it('tiles, fills, broadcasts and reports shape, size and rank', async () => {
    const b = new TfGraphBuilder();
    const x = b.placeholder('x', [-1, 3]);
    const shape = b.op('Shape', 'shape', [x], { out_type: tfAttr.type('DT_INT32') });
    const outs = [
      b.op('Tile', 'tile', [x, b.const('reps', 'int32', [2], [2, 3])]),
      b.op('Fill', 'fill', [shape, b.const('v', 'float32', [], [2.5])]),
      b.op('Fill', 'fill_int', [b.const('dims', 'int32', [2], [2, 2]), b.const('iv', 'int32', [], [7])], INT),
      b.op('BroadcastTo', 'bcast', [x, b.const('to', 'int32', [3], [2, 2, 3])]),
      b.op('ZerosLike', 'zeros', [x]),
      b.op('OnesLike', 'ones', [x]),
      b.op('Size', 'size', [x], { out_type: tfAttr.type('DT_INT32') }),
      b.op('Rank', 'rank', [x]),
      shape,
    ];
    await expectConvertsLikeTfjs(b.build([x], outs), { 'x:0': tensor('float32', [2, 3], randomFloats(6)) }, outs);
  });

  it('reports the rank of a tensor whose rank is only known at run time', async () => {
    const b = new TfGraphBuilder();
    const x = b.op('Placeholder', 'x', [], { dtype: tfAttr.type('DT_FLOAT'), shape: { shape: { unknownRank: true } } });
    const outs = [b.op('Rank', 'rank', [x]), b.op('Size', 'size', [x], { out_type: tfAttr.type('DT_INT32') })];
    await expectConvertsLikeTfjs(b.build([x], outs), { 'x:0': x234() }, outs);
  });

  it('makes int and float ranges', async () => {
    const b = new TfGraphBuilder();
    const n = b.placeholder('n', [], 'int32');
    const i32 = { Tidx: tfAttr.type('DT_INT32') };
    const outs = [
      b.op('Range', 'irange', [b.const('start', 'int32', [], [1]), n, b.const('step', 'int32', [], [2])], i32),
      b.op('Range', 'down', [n, b.const('zero', 'int32', [], [0]), b.const('neg', 'int32', [], [-3])], i32),
      b.op('Range', 'frange', [b.const('fs', 'float32', [], [0.5]), b.const('fl', 'float32', [], [2]), b.const('fd', 'float32', [], [0.25])], { Tidx: tfAttr.type('DT_FLOAT') }),
    ];
    await expectConvertsLikeTfjs(b.build([n], outs), { 'n:0': tensor('int32', [], [10]) }, outs);
  });

  it('lists coordinates of true elements with one-input Where', async () => {
    const b = new TfGraphBuilder();
    const x = b.placeholder('x', [-1, 3]);
    const out = b.op('Where', 'where', [b.op('Greater', 'pos', [x, b.const('z', 'float32', [], [0])])], { T: tfAttr.type('DT_BOOL') });
    await expectConvertsLikeTfjs(b.build([x], [out]), { 'x:0': tensor('float32', [3, 3], [1, -1, 2, 0, 0, 0, -3, 4, 5]) }, [out]);
  });

  it('scatters SparseToDense values into a default-filled tensor', async () => {
    const b = new TfGraphBuilder();
    const values = b.placeholder('values', [3]);
    const outs = [
      b.op('SparseToDense', 'dense2d', [b.const('idx', 'int32', [3, 2], [0, 1, 1, 0, 2, 2]), b.const('shape', 'int32', [2], [3, 3]), values, b.const('dflt', 'float32', [], [-1])], { Tindices: tfAttr.type('DT_INT32') }),
      b.op('SparseToDense', 'dense1d', [b.const('idx1', 'int32', [2], [1, 3]), b.const('shape1', 'int32', [1], [5]), b.const('one', 'float32', [], [1]), b.const('zero', 'float32', [], [0])], { Tindices: tfAttr.type('DT_INT32') }),
    ];
    await expectConvertsLikeTfjs(b.build([values], outs), { 'values:0': tensor('float32', [3], [4, 5, 6]) }, outs);
  });

  it('sums cumulatively, exclusive and reversed', async () => {
    const b = new TfGraphBuilder();
    const x = b.placeholder('x', [-1, 4]);
    const axis = b.const('axis', 'int32', [], [1]);
    const outs = [
      b.op('Cumsum', 'cs', [x, axis], { exclusive: tfAttr.b(false), reverse: tfAttr.b(false) }),
      b.op('Cumsum', 'cs_ex_rev', [x, axis], { exclusive: tfAttr.b(true), reverse: tfAttr.b(true) }),
    ];
    await expectConvertsLikeTfjs(b.build([x], outs), { 'x:0': tensor('float32', [2, 4], randomFloats(8)) }, outs);
  });
});
