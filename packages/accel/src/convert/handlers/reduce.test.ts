import { describe, expect, it } from 'vitest';
import { tensor } from '../../onnx/graph';
import { expectConvertsLikeTfjs, randomFloats, runOnnx } from '../../test-util/convert';
import { mapGraph } from '../map';
import { tfAttr } from '../tf/attrs';
import { TfGraphBuilder } from '../tf/builder';

const keep = (k: boolean) => ({ keep_dims: tfAttr.b(k), Tidx: tfAttr.type('DT_INT32') });

describe('reduce handlers', () => {
  it('reduces floats over scalar, vector, negative and empty axes, keeping dims or not', async () => {
    const b = new TfGraphBuilder();
    const x = b.placeholder('x', [-1, 3, 4]);
    const last = b.const('last', 'int32', [], [-1]);
    const both = b.const('both', 'int32', [2], [1, -1]);
    const none = b.const('none', 'int32', [0], []);
    const outs = [
      b.op('Mean', 'mean', [x, last], keep(false)),
      b.op('Mean', 'mean_keep', [x, both], keep(true)),
      b.op('Sum', 'sum', [x, both], keep(false)),
      b.op('Sum', 'sum_keep', [x, last], keep(true)),
      b.op('Sum', 'sum_none', [x, none], keep(false)),
      b.op('Max', 'max', [x, both], keep(false)),
      b.op('Min', 'min', [x, last], keep(true)),
      b.op('Prod', 'prod', [x, b.const('first', 'int32', [1], [0])], keep(false)),
      b.op('Max', 'max_none', [x, none], keep(true)),
    ];
    await expectConvertsLikeTfjs(b.build([x], outs), { 'x:0': tensor('float32', [2, 3, 4], randomFloats(24)) }, outs);
  });

  it('reduces int32 tensors and sums over axes fed at run time', async () => {
    const b = new TfGraphBuilder();
    const x = b.placeholder('x', [-1, 3], 'int32');
    const axes = b.placeholder('axes', [-1], 'int32');
    const int = { T: tfAttr.type('DT_INT32') };
    const axis0 = b.const('axis0', 'int32', [], [0]);
    const outs = [
      b.op('Sum', 'sum', [x, axis0], { ...int, ...keep(false) }),
      b.op('Max', 'max', [x, axis0], { ...int, ...keep(true) }),
      b.op('Min', 'min', [x, b.const('axis1', 'int32', [], [1])], { ...int, ...keep(false) }),
      b.op('Prod', 'prod', [x, axis0], { ...int, ...keep(false) }),
      b.op('Sum', 'sum_dyn', [x, axes], { ...int, ...keep(false) }),
    ];
    const feeds = { 'x:0': tensor('int32', [2, 3], [1, -2, 3, 4, 5, -6]), 'axes:0': tensor('int32', [1], [-1]) };
    await expectConvertsLikeTfjs(b.build([x, axes], outs), feeds, outs, { passes: false });
  });

  it('asks for constant axes where ONNX takes them as an attribute', () => {
    const b = new TfGraphBuilder();
    const x = b.placeholder('x', [-1, 3]);
    const axes = b.placeholder('axes', [-1], 'int32');
    const y = b.op('Mean', 'mean', [x, axes], keep(false));
    expect(() => mapGraph(b.build([x, axes], [y]), { inputs: [x, axes], outputs: [y] })).toThrow(/reduction axes must be constant/);
  });

  it('reduces booleans with All and Any', async () => {
    const b = new TfGraphBuilder();
    const x = b.placeholder('x', [-1, 3]);
    const pos = b.op('Greater', 'pos', [x, b.const('zero', 'float32', [], [0])]);
    const axis = b.const('axis', 'int32', [], [1]);
    const outs = [
      b.op('All', 'all', [pos, axis], keep(false)),
      b.op('Any', 'any', [pos, axis], keep(true)),
      b.op('All', 'all0', [pos, b.const('axis0', 'int32', [1], [0])], keep(true)),
      b.op('Any', 'any0', [pos, b.const('axis00', 'int32', [1], [-2])], keep(false)),
    ];
    await expectConvertsLikeTfjs(b.build([x], outs), { 'x:0': tensor('float32', [3, 3], [1, 2, 3, -1, 2, 3, -1, -2, -3]) }, outs);
  });

  it('finds the arg max and min as int32 or int64', async () => {
    const b = new TfGraphBuilder();
    const x = b.placeholder('x', [-1, 3, 4]);
    const i32 = { output_type: tfAttr.type('DT_INT32') };
    const outs = [
      b.op('ArgMax', 'argmax', [x, b.const('a', 'int32', [], [-1])], i32),
      b.op('ArgMin', 'argmin', [x, b.const('b', 'int32', [], [1])], i32),
      b.op('ArgMax', 'argmax64', [x, b.const('c', 'int32', [], [0])]),
    ];
    const graph = await expectConvertsLikeTfjs(b.build([x], outs), { 'x:0': tensor('float32', [2, 3, 4], randomFloats(24, 5)) }, outs);
    expect(graph.outputs.map((o) => o.type.dtype)).toEqual(['int32', 'int32', 'int64']);
  });

  // TF.js has no L2Loss.
  it('computes L2Loss as half the sum of squares', async () => {
    const b = new TfGraphBuilder();
    const x = b.placeholder('x', [-1, 2]);
    const y = b.op('L2Loss', 'l2', [x]);
    const got = await runOnnx(mapGraph(b.build([x], [y]), { inputs: [x], outputs: [y] }), { 'x:0': tensor('float32', [2, 2], [1, -2, 3, 0.5]) });
    expect(got[y]).toEqual({ dims: [], data: new Float32Array([7.125]) });
  });
});
