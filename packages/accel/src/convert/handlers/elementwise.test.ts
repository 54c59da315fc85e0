import { describe, expect, it } from 'vitest';
import { tensor } from '../../onnx/graph';
import { expectConvertsLikeTfjs, randomFloats, runOnnx } from '../../test-util/convert';
import { mapGraph } from '../map';
import { tfAttr } from '../tf/attrs';
import { TfGraphBuilder } from '../tf/builder';

const INT = { T: tfAttr.type('DT_INT32') };
const BOOL = { T: tfAttr.type('DT_BOOL') };

/** Values in [lo, hi) from the seeded generator. */
function floatsIn(n: number, lo: number, hi: number, seed = 1): Float32Array {
  return randomFloats(n, seed).map((v) => lo + ((v + 1) / 2) * (hi - lo));
}

describe('elementwise handlers', () => {
  it('maps float binary arithmetic with broadcasting and a batch of 2', async () => {
    const b = new TfGraphBuilder();
    const x = b.placeholder('x', [-1, 3, 4]);
    const row = b.placeholder('row', [4]);
    const col = b.const('col', 'float32', [3, 1], [0.5, 2, -1.5]);
    const outs = [
      b.op('Add', 'add', [x, row]),
      b.op('AddV2', 'addv2', [x, col]),
      b.op('Sub', 'sub', [row, x]),
      b.op('Mul', 'mul', [x, col]),
      b.op('RealDiv', 'realdiv', [x, col]),
      b.op('Div', 'div', [row, col]),
      b.op('Maximum', 'max', [x, row]),
      b.op('Minimum', 'min', [col, x]),
      b.op('SquaredDifference', 'sqdiff', [x, row]),
      b.op('Pow', 'pow', [b.op('Abs', 'absx', [x]), col]),
    ];
    const feeds = { 'x:0': tensor('float32', [2, 3, 4], floatsIn(24, 0.1, 3)), 'row:0': tensor('float32', [4], [-1, 0, 1, 2.5]) };
    await expectConvertsLikeTfjs(b.build([x, row], outs), feeds, outs);
  });

  it('divides by zero without NaN in DivNoNan and sums any number of tensors in AddN', async () => {
    const b = new TfGraphBuilder();
    const x = b.placeholder('x', [-1, 4]);
    const y = b.placeholder('y', [-1, 4]);
    const outs = [b.op('DivNoNan', 'dnn', [x, y]), b.op('AddN', 'addn', [x, y, x], { N: tfAttr.i(3) }), b.op('AddN', 'addn1', [x], { N: tfAttr.i(1) })];
    const feeds = { 'x:0': tensor('float32', [2, 4], randomFloats(8)), 'y:0': tensor('float32', [2, 4], [0, 2, 0, -0.5, 1, 0, 3, 0]) };
    await expectConvertsLikeTfjs(b.build([x, y], outs), feeds, outs, { passes: false });
  });

  it('floors integer and float division and takes the remainder with the sign of the divisor', async () => {
    const b = new TfGraphBuilder();
    const a = b.placeholder('a', [-1, 4], 'int32');
    const d = b.placeholder('d', [4], 'int32');
    const fa = b.placeholder('fa', [-1, 4]);
    const fd = b.const('fd', 'float32', [4], [2.5, -2, 3, -0.75]);
    const outs = [
      b.op('FloorDiv', 'ifloordiv', [a, d], INT),
      b.op('FloorMod', 'ifloormod', [a, d], INT),
      b.op('Div', 'idiv', [a, d], INT),
      b.op('FloorDiv', 'ffloordiv', [fa, fd]),
      b.op('FloorMod', 'ffloormod', [fa, fd]),
    ];
    const feeds = {
      'a:0': tensor('int32', [2, 4], [7, -7, 7, -7, 6, -6, 0, 13]),
      'd:0': tensor('int32', [4], [2, 2, -2, -2]),
      'fa:0': tensor('float32', [2, 4], [7, -7, 7.5, -7.25, 6, -6, 0, 1.5]),
    };
    await expectConvertsLikeTfjs(b.build([a, d, fa], outs), feeds, outs);
  });

  it('keeps int32 tensors int32 through arithmetic, AddN and unary ops', async () => {
    const b = new TfGraphBuilder();
    const a = b.placeholder('a', [-1, 3], 'int32');
    const c = b.const('c', 'int32', [3], [-2, 0, 5]);
    const outs = [
      b.op('AddV2', 'add', [a, c], INT),
      b.op('Sub', 'sub', [a, c], INT),
      b.op('Mul', 'mul', [a, c], INT),
      b.op('Maximum', 'max', [a, c], INT),
      b.op('Minimum', 'min', [a, c], INT),
      b.op('AddN', 'addn', [a, a, a], { ...INT, N: tfAttr.i(3) }),
      b.op('Neg', 'neg', [a], INT),
      b.op('Abs', 'abs', [a], INT),
      b.op('Sign', 'sign', [a], INT),
      b.op('Square', 'square', [a], INT),
    ];
    await expectConvertsLikeTfjs(b.build([a], outs), { 'a:0': tensor('int32', [2, 3], [-4, 0, 9, 3, -1, -8]) }, outs);
  });

  it('maps unary math', async () => {
    const b = new TfGraphBuilder();
    const x = b.placeholder('x', [-1, 5]);
    const p = b.placeholder('p', [-1, 5]);
    const outs = ['Neg', 'Abs', 'Square', 'Exp', 'Floor', 'Ceil', 'Round', 'Sign', 'Sin', 'Cos', 'Tan', 'Asin', 'Acos', 'Atan'].map((op) => b.op(op, op.toLowerCase(), [x]));
    outs.push(...['Sqrt', 'Rsqrt', 'Log', 'Log1p', 'Reciprocal'].map((op) => b.op(op, op.toLowerCase(), [p])));
    const feeds = {
      'x:0': tensor('float32', [2, 5], [0.5, 1.5, -0.5, -1.5, 2.5, ...randomFloats(5, 3)].map((v) => v * 0.39)),
      'p:0': tensor('float32', [2, 5], floatsIn(10, 0.05, 4)),
    };
    await expectConvertsLikeTfjs(b.build([x, p], outs), feeds, outs);
  });

  it('rounds halves to even like TensorFlow', async () => {
    const b = new TfGraphBuilder();
    const x = b.placeholder('x', [6]);
    const y = b.op('Round', 'round', [x]);
    const graph = await expectConvertsLikeTfjs(b.build([x], [y]), { 'x:0': tensor('float32', [6], [0.5, 1.5, 2.5, -0.5, -1.5, -2.5]) }, [y]);
    expect(graph.nodes.map((n) => n.op)).toContain('Round');
  });

  it('computes Atan2 in all four quadrants and on the axes', async () => {
    const b = new TfGraphBuilder();
    const y = b.placeholder('y', [-1]);
    const x = b.placeholder('x', [-1]);
    const out = b.op('Atan2', 'atan2', [y, x]);
    const feeds = {
      'y:0': tensor('float32', [9], [1, 1, -1, -1, 2, -2, 0, 0, 0.3]),
      'x:0': tensor('float32', [9], [1, -1, -1, 1, 0, 0, 3, -3, -0.1]),
    };
    await expectConvertsLikeTfjs(b.build([y, x], [out]), feeds, [out]);
  });

  it('compares, combines booleans and selects', async () => {
    const b = new TfGraphBuilder();
    const x = b.placeholder('x', [-1, 4]);
    const y = b.placeholder('y', [4]);
    const less = b.op('Less', 'less', [x, y]);
    const ge = b.op('GreaterEqual', 'ge', [x, y]);
    const outs = [
      less,
      b.op('LessEqual', 'le', [x, y]),
      b.op('Greater', 'gt', [x, y]),
      ge,
      b.op('Equal', 'eq', [x, y]),
      b.op('NotEqual', 'ne', [x, y]),
      b.op('LogicalAnd', 'and', [less, b.op('Greater', 'pos', [x, b.const('zero', 'float32', [], [0])])], BOOL),
      b.op('LogicalOr', 'or', [less, ge], BOOL),
      b.op('LogicalNot', 'not', [less], BOOL),
      b.op('SelectV2', 'select2', [less, x, y]),
      b.op('Select', 'select', [less, x, b.op('Neg', 'negx', [x])]),
    ];
    const feeds = { 'x:0': tensor('float32', [2, 4], [1, 2, 3, 4, -1, 0, 3, 9]), 'y:0': tensor('float32', [4], [1, 0, 5, 4]) };
    await expectConvertsLikeTfjs(b.build([x, y], outs), feeds, outs);
  });

  // TF.js broadcasts a vector condition over the last axis; TensorFlow selects rows, so these
  // expectations are written by hand.
  it('selects whole rows when Select has a vector condition', async () => {
    const b = new TfGraphBuilder();
    const c = b.placeholder('c', [-1], 'bool');
    const x = b.placeholder('x', [-1, 2, 2]);
    const out = b.op('Select', 'select', [c, x, b.op('Neg', 'negx', [x])]);
    const graph = mapGraph(b.build([c, x], [out]), { inputs: [c, x], outputs: [out] });
    const got = await runOnnx(graph, { 'c:0': tensor('bool', [3], [1, 0, 1]), 'x:0': tensor('float32', [3, 2, 2], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]) });
    expect(Array.from(got[out]!.data, Number)).toEqual([1, 2, 3, 4, -5, -6, -7, -8, 9, 10, 11, 12]);
  });

  it('selects rows when the ranks are only known at run time', async () => {
    const b = new TfGraphBuilder();
    const anyRank = (name: string, dtype: string) => b.op('Placeholder', name, [], { dtype: tfAttr.type(dtype), shape: { shape: { unknownRank: true } } });
    const [c, x] = [anyRank('c', 'DT_BOOL'), anyRank('x', 'DT_FLOAT')];
    const out = b.op('Select', 'select', [c, x, b.op('Neg', 'negx', [x])]);
    const graph = mapGraph(b.build([c, x], [out]), { inputs: [c, x], outputs: [out] });
    const data = [1, 2, 3, 4, 5, 6];
    const rows = await runOnnx(graph, { 'c:0': tensor('bool', [2], [0, 1]), 'x:0': tensor('float32', [2, 3], data) });
    expect(Array.from(rows[out]!.data, Number)).toEqual([-1, -2, -3, 4, 5, 6]);
    const same = await runOnnx(graph, { 'c:0': tensor('bool', [2, 3], [1, 0, 1, 0, 1, 0]), 'x:0': tensor('float32', [2, 3], data) });
    expect(Array.from(same[out]!.data, Number)).toEqual([1, -2, 3, -4, 5, -6]);
  });

  it('casts between float32, int32, int64 and bool', async () => {
    const b = new TfGraphBuilder();
    const x = b.placeholder('x', [-1, 3]);
    const cast = (name: string, input: string, src: string, dst: string) => b.op('Cast', name, [input], { SrcT: tfAttr.type(src), DstT: tfAttr.type(dst) });
    const toInt = cast('to_int', x, 'DT_FLOAT', 'DT_INT32');
    const positive = b.op('Greater', 'positive', [x, b.const('zero', 'float32', [], [0])]);
    const outs = [
      toInt,
      cast('back', toInt, 'DT_INT32', 'DT_FLOAT'),
      cast('bool_int', positive, 'DT_BOOL', 'DT_INT32'),
      cast('bool_float', positive, 'DT_BOOL', 'DT_FLOAT'),
      cast('to_int64', x, 'DT_FLOAT', 'DT_INT64'),
      cast('same', x, 'DT_FLOAT', 'DT_FLOAT'),
    ];
    const graph = await expectConvertsLikeTfjs(b.build([x], outs), { 'x:0': tensor('float32', [2, 3], [1.7, -1.7, 0, -0.2, 3, 2.5]) }, outs);
    expect(graph.outputs.find((o) => o.name === 'to_int64:0')?.type.dtype).toBe('int64');
  });

  // TF.js on WebAssembly wraps negative numbers into bytes when casting to bool; TensorFlow tests x != 0.
  it('casts numbers to bool as x != 0', async () => {
    const b = new TfGraphBuilder();
    const x = b.placeholder('x', [-1]);
    const i = b.placeholder('i', [-1], 'int32');
    const toBool = (name: string, input: string, src: string) => b.op('Cast', name, [input], { SrcT: tfAttr.type(src), DstT: tfAttr.type('DT_BOOL') });
    const outs = [toBool('f', x, 'DT_FLOAT'), toBool('n', i, 'DT_INT32')];
    const graph = mapGraph(b.build([x, i], outs), { inputs: [x, i], outputs: outs });
    const got = await runOnnx(graph, { 'x:0': tensor('float32', [4], [-1.7, -0.2, 0, 0.3]), 'i:0': tensor('int32', [4], [-3, 0, 1, 0]) });
    expect(Array.from(got[outs[0]!]!.data, Number)).toEqual([1, 1, 0, 1]);
    expect(Array.from(got[outs[1]!]!.data, Number)).toEqual([1, 0, 1, 0]);
  });

  it('clips by scalar bounds', async () => {
    const b = new TfGraphBuilder();
    const x = b.placeholder('x', [-1, 3]);
    const lo = b.const('lo', 'float32', [], [-0.25]);
    const hi = b.const('hi', 'float32', [], [0.5]);
    const out = b.op('ClipByValue', 'clip', [x, lo, hi]);
    await expectConvertsLikeTfjs(b.build([x], [out]), { 'x:0': tensor('float32', [4, 3], randomFloats(12, 7)) }, [out]);
  });

  // TF.js only takes scalar bounds; TensorFlow broadcasts tensor bounds.
  it('clips by broadcast tensor bounds', async () => {
    const b = new TfGraphBuilder();
    const x = b.placeholder('x', [-1, 3]);
    const out = b.op('ClipByValue', 'clip', [x, b.const('lo', 'float32', [3], [-1, 0, 2]), b.const('hi', 'float32', [], [3])]);
    const graph = mapGraph(b.build([x], [out]), { inputs: [x], outputs: [out] });
    const got = await runOnnx(graph, { 'x:0': tensor('float32', [2, 3], [-5, -5, -5, 5, 1, 2.5]) });
    expect(Array.from(got[out]!.data, Number)).toEqual([-1, 0, 2, 3, 1, 2.5]);
  });
});
