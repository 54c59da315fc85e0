import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { OnnxGraph, tensor, type Attr, type DType, type Node, type Tensor } from '../../onnx/graph';
import { randomFloats } from '../../test-util/convert';
import { evaluateNode } from './evaluate';
import { halfToNumber, numberToHalf } from './evaluate-util';

type Numeric = Exclude<DType, 'string'>;

const i64 = (values: number[]): Tensor => tensor('int64', [values.length], values);
const scalar = (dtype: Numeric, v: number): Tensor => tensor(dtype, [], [v]);
/** Deterministic floats in [-scale, scale). */
const floats = (dims: number[], seed = 1, scale = 4, dtype: Numeric = 'float32'): Tensor =>
  tensor(dtype, dims, Array.from(randomFloats(dims.reduce((a, b) => a * b, 1), seed), (v) => v * scale));
/** Deterministic integers in [-span, span]. */
const ints = (dtype: Numeric, dims: number[], seed = 1, span = 9): Tensor =>
  tensor(dtype, dims, Array.from(randomFloats(dims.reduce((a, b) => a * b, 1), seed), (v) => Math.round(v * span)));
const bools = (dims: number[], seed = 1): Tensor => tensor('bool', dims, Array.from(randomFloats(dims.reduce((a, b) => a * b, 1), seed), (v) => +(v > 0)));

/** Runs the node in ONNX Runtime on the same inputs (fed, not constant) and returns its outputs. */
async function runOrt(node: Node, inputs: (Tensor | null)[], types: Tensor[]): Promise<ort.Tensor[]> {
  const g = new OnnxGraph('evaluate');
  const feeds: Record<string, ort.Tensor> = {};
  inputs.forEach((t, k) => {
    if (!t) return;
    g.addInput(node.inputs[k], { dtype: t.dtype, shape: [...t.dims] });
    feeds[node.inputs[k]] = new ort.Tensor(t.dtype as 'float32', t.data as Float32Array, t.dims);
  });
  g.nodes.push(node);
  node.outputs.forEach((o, k) => g.addOutput(o, { dtype: types[k].dtype, shape: null }));
  const session = await ort.InferenceSession.create(g.toBytes());
  try {
    const out = await session.run(feeds);
    return node.outputs.map((o) => out[o]);
  } finally {
    await session.release();
  }
}

/** Expects evaluateNode to give ONNX Runtime's results: same dtype and dims, ints exact, floats within 1e-6 relative. */
async function same(op: string, inputs: (Tensor | null)[], attrs: Record<string, Attr> = {}, outputs = 1): Promise<void> {
  const node: Node = { name: op, op, inputs: inputs.map((t, k) => (t ? `x${k}` : '')), outputs: Array.from({ length: outputs }, (_, k) => `y${k}`), attrs };
  const got = evaluateNode(node, inputs as Tensor[]);
  expect(got, `${op} evaluates`).toBeDefined();
  const want = await runOrt(node, inputs, got!);
  got!.forEach((g, k) => {
    const w = want[k];
    expect(g.dtype, `${op} output ${k} dtype`).toBe(w.type);
    expect(g.dims, `${op} output ${k} dims`).toEqual([...w.dims]);
    const gv = Array.from(g.data as ArrayLike<number | bigint>);
    const wv = Array.from(w.data as ArrayLike<number | bigint>);
    if (g.dtype === 'float32' || g.dtype === 'float64' || g.dtype === 'float16') {
      const decode = g.dtype === 'float16' ? (v: number | bigint) => halfToNumber(Number(v)) : Number;
      gv.forEach((v, j) => {
        const [a, b] = [decode(v), decode(wv[j])];
        if (Number.isNaN(b)) expect(a, `${op} element ${j}`).toBeNaN();
        else if (!Number.isFinite(b)) expect(a, `${op} element ${j}`).toBe(b);
        else expect(Math.abs(a - b) / Math.max(Math.abs(b), 1e-30), `${op} element ${j}: ${a} vs ${b}`).toBeLessThanOrEqual(1e-6);
      });
    } else expect(gv, `${op} output ${k} values`).toEqual(wv);
  });
}

describe('evaluateNode matches ONNX Runtime', () => {
  it.each(['Add', 'Sub', 'Mul', 'Div'])('%s on floats and integers with broadcasting', async (op) => {
    await same(op, [floats([2, 3]), floats([3], 2)]);
    await same(op, [floats([4, 1], 3, 4, 'float64'), floats([1, 3], 4, 4, 'float64')]);
    const nonZero = (t: Tensor) => tensor(t.dtype as Numeric, t.dims, Array.from(t.data as ArrayLike<number | bigint>, (v) => (Number(v) === 0 ? 7 : Number(v))));
    await same(op, [ints('int32', [2, 1], 5, 100), nonZero(ints('int32', [1, 3], 6))]);
    await same(op, [ints('int64', [3, 2], 7, 1000), nonZero(ints('int64', [], 8))]);
    await same(op, [ints('int8', [4], 9, 100), nonZero(ints('int8', [4], 10))]);
    await same(op, [tensor('uint8', [3], [200, 7, 3]), tensor('uint8', [1], [3])]);
  });

  it('wraps int32 overflow and truncates integer division toward zero', async () => {
    await same('Mul', [tensor('int32', [2], [100000, -2147483647]), tensor('int32', [2], [100000, 3])]);
    await same('Add', [tensor('int32', [1], [2147483647]), tensor('int32', [1], [5])]);
    await same('Div', [tensor('int32', [4], [-7, 7, -7, 7]), tensor('int32', [4], [2, -2, -2, 2])]);
    await same('Div', [tensor('int64', [4], [-7, 7, -7, 7]), tensor('int64', [4], [2, -2, -2, 2])]);
    await same('Mul', [tensor('int64', [1], [2 ** 40]), tensor('int64', [1], [2 ** 30])]);
  });

  it('Mod with fmod 0 and 1, Pow', async () => {
    const a = tensor('int32', [6], [7, -7, 7, -7, 0, 5]);
    const b = tensor('int32', [6], [3, 3, -3, -3, 4, 5]);
    await same('Mod', [a, b]);
    await same('Mod', [a, b], { fmod: { i: 1 } });
    await same('Mod', [tensor('int64', [4], [7, -7, 7, -7]), tensor('int64', [4], [3, 3, -3, -3])]);
    await same('Mod', [floats([2, 3]), tensor('float32', [3], [0.7, -1.3, 2])], { fmod: { i: 1 } });
    await same('Pow', [tensor('float32', [4], [2, 0.5, 3, 1.5]), tensor('float32', [1], [3])]);
    await same('Pow', [tensor('float32', [4], [2, 0.5, 3, 1.5]), tensor('int64', [4], [3, -1, 0, 2])]);
    await same('Pow', [tensor('int32', [3], [2, -3, 4]), tensor('int32', [3], [3, 3, 0])]);
  });

  it.each(['Equal', 'Less', 'LessOrEqual', 'Greater', 'GreaterOrEqual'])('%s on floats and int64', async (op) => {
    await same(op, [tensor('float32', [2, 3], [1, 2, 3, 4, 5, 6]), tensor('float32', [3], [2, 2, 5])]);
    await same(op, [ints('int64', [3, 1], 2, 3), ints('int64', [1, 4], 3, 3)]);
    await same(op, [ints('int32', [5], 4, 2), ints('int32', [], 5, 2)]);
  });

  it('logic, Where, variadic Max/Min/Sum/Mean', async () => {
    for (const op of ['And', 'Or', 'Xor']) await same(op, [bools([2, 3], 1), bools([3], 2)]);
    await same('Not', [bools([5])]);
    await same('Where', [bools([2, 1], 3), ints('int64', [1, 3], 4), ints('int64', [2, 3], 5)]);
    await same('Where', [bools([3], 6), floats([2, 3]), scalar('float32', -1)]);
    for (const op of ['Max', 'Min', 'Sum', 'Mean']) {
      await same(op, [floats([2, 1], 1), floats([3], 2), floats([1, 1], 3)]);
      await same(op, [floats([4], 4)]);
    }
    for (const op of ['Max', 'Min']) await same(op, [ints('int64', [2, 3], 1), ints('int64', [3], 2)]);
  });

  it.each(['Neg', 'Abs', 'Floor', 'Ceil', 'Sqrt', 'Reciprocal', 'Exp', 'Log', 'Sigmoid', 'Tanh', 'Relu', 'Sin', 'Cos', 'Tan', 'Atan', 'Sign', 'LeakyRelu', 'IsNaN'])(
    '%s on float32',
    (op) => same(op, [tensor('float32', [8], [-2.5, -1, -0.3, 0, 0.4, 1, 2.5, 7.25])]),
  );

  it('Round is half to even; integer unary ops; Clip', async () => {
    await same('Round', [tensor('float32', [9], [-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 2.4, 2.6, -3.7])]);
    for (const op of ['Neg', 'Abs', 'Sign']) {
      await same(op, [ints('int32', [6], 3)]);
      await same(op, [ints('int64', [6], 4)]);
    }
    await same('Sqrt', [floats([5], 2, 4, 'float64')]);
    await same('Clip', [floats([3, 3]), scalar('float32', -1), scalar('float32', 0.5)]);
    await same('Clip', [floats([3, 3]), null, scalar('float32', 0.5)]);
    await same('Clip', [ints('int64', [6], 2), scalar('int64', -3)]);
    await same('Clip', [ints('int32', [6], 2), scalar('int32', -3), scalar('int32', 4)]);
  });

  it('Cast between numeric types and bool', async () => {
    const f = tensor('float32', [8], [-3.7, -1.5, -0.2, 0, 0.2, 1.5, 3.7, 100.9]);
    for (const to of [6, 7, 3, 11, 9, 10, 5]) await same('Cast', [f], { to: { i: to } });
    await same('Cast', [tensor('float32', [4], [0.1, 65519, 1e-7, -2.3])], { to: { i: 10 } });
    await same('Cast', [tensor('float32', [5], [3.7, 0, 1.5, 100.9, 255])], { to: { i: 2 } });
    const big = tensor('int64', [4], [2 ** 40 + 5, -3, 0, 2 ** 31 + 1]);
    for (const to of [1, 6, 9, 3, 11]) await same('Cast', [big], { to: { i: to } });
    await same('Cast', [tensor('int32', [3], [200, -129, 70])], { to: { i: 3 } });
    await same('Cast', [bools([5])], { to: { i: 1 } });
    await same('Cast', [bools([5])], { to: { i: 7 } });
    await same('Cast', [tensor('float16', [3], [numberToHalf(1.5), numberToHalf(-0.1), numberToHalf(300)])], { to: { i: 1 } });
  });

  it('reductions with axes, keepdims, noop_with_empty_axes', async () => {
    const x = tensor('float32', [2, 3, 4], Array.from({ length: 24 }, (_, k) => ((k * 7) % 11) / 4 + 0.5));
    await same('ReduceSum', [x, i64([1])]);
    await same('ReduceSum', [x, i64([0, -1])], { keepdims: { i: 0 } });
    await same('ReduceSum', [x, null], { keepdims: { i: 0 } });
    await same('ReduceSum', [x, i64([])], { noop_with_empty_axes: { i: 1 } });
    await same('ReduceSum', [ints('int64', [3, 4], 1, 100), i64([1])]);
    for (const op of ['ReduceMean', 'ReduceMax', 'ReduceMin', 'ReduceProd']) {
      await same(op, [x], { axes: { ints: [2] } });
      await same(op, [x], { axes: { ints: [0, 1] }, keepdims: { i: 0 } });
      await same(op, [x]);
      await same(op, [ints('int32', [3, 4], 2, 5)], { axes: { ints: [1] } });
      await same(op, [ints('int64', [3, 4], 3, 5)], { axes: { ints: [0] }, keepdims: { i: 0 } });
    }
  });

  it('ArgMax / ArgMin with ties and select_last_index', async () => {
    const x = tensor('float32', [2, 4], [1, 3, 3, 0, 2, 2, -1, -1]);
    for (const op of ['ArgMax', 'ArgMin']) {
      await same(op, [x], { axis: { i: 1 } });
      await same(op, [x], { axis: { i: 1 }, select_last_index: { i: 1 } });
      await same(op, [x], { axis: { i: 0 }, keepdims: { i: 0 } });
      await same(op, [ints('int64', [3, 4], 5, 3)], { axis: { i: -1 }, keepdims: { i: 0 } });
    }
  });

  it('MatMul of small 2-D constants', async () => {
    await same('MatMul', [tensor('float32', [2, 3], [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]), tensor('float32', [3, 2], [1.5, 0.25, 0.125, 2, 3, 0.7])]);
    await same('MatMul', [ints('int32', [3, 4], 1), ints('int32', [4, 2], 2)]);
    await same('MatMul', [ints('int64', [2, 2], 3), ints('int64', [2, 5], 4)]);
  });

  it('Identity, Shape, Size, Reshape, Flatten, Squeeze, Unsqueeze, Transpose', async () => {
    const x = floats([2, 3, 4]);
    await same('Identity', [ints('int64', [3], 1)]);
    await same('Shape', [x]);
    await same('Shape', [x], { start: { i: 1 } });
    await same('Shape', [x], { start: { i: -2 }, end: { i: -1 } });
    await same('Size', [x]);
    await same('Reshape', [x, i64([0, -1])]);
    await same('Reshape', [ints('int64', [2, 3, 4]), i64([4, -1, 2])]);
    for (const axis of [0, 1, -1]) await same('Flatten', [x], { axis: { i: axis } });
    await same('Squeeze', [floats([1, 3, 1, 2]), i64([-2])]);
    await same('Squeeze', [floats([1, 3, 1, 2])]);
    await same('Unsqueeze', [ints('int32', [3, 2]), i64([0, -1, 2])]);
    await same('Transpose', [x], { perm: { ints: [2, 0, 1] } });
    await same('Transpose', [bools([2, 3])]);
  });

  it('Concat and Split', async () => {
    await same('Concat', [ints('int64', [2, 1]), ints('int64', [2, 3], 2), ints('int64', [2, 2], 3)], { axis: { i: -1 } });
    await same('Concat', [floats([1, 3]), floats([2, 3], 2)], { axis: { i: 0 } });
    await same('Concat', [i64([1]), i64([]), i64([2, 3])], { axis: { i: 0 } });
    await same('Split', [floats([2, 7]), i64([2, 5])], { axis: { i: 1 } }, 2);
    await same('Split', [ints('int32', [6, 2])], {}, 3);
  });

  it.each([
    [[0, 0], [2, -1], [0, 1], [1, 1]],
    [[-1, 10], [-100, 2], [0, 1], [-1, 3]],
    [[5], [-8], [1], [-2]],
    [[-2], [-100], [-1], [-1]],
    [[100], [0], [0], [-3]],
    [[1, 0], [0, 5], [0, 1], [1, -1]],
    [[2], [9007199254740991], [-1], [1]],
    [[-9007199254740991], [9007199254740991], [0], [2]],
  ])('Slice starts %j ends %j axes %j steps %j', (starts, ends, axes, steps) =>
    same('Slice', [ints('int64', [6, 7], 1, 50), i64(starts), i64(ends), i64(axes), i64(steps)]));

  it('Slice without axes/steps; Gather, GatherND', async () => {
    await same('Slice', [floats([6, 7]), i64([1, -3]), i64([-1, 100])]);
    const x = floats([3, 4, 5]);
    await same('Gather', [x, tensor('int64', [2, 2], [0, -1, 2, 1])], { axis: { i: 1 } });
    await same('Gather', [x, tensor('int32', [], [-1])]);
    await same('Gather', [i64([5, 6, 7]), tensor('int64', [4], [2, 0, -3, 1])]);
    await same('GatherND', [x, tensor('int64', [2, 1, 2], [0, 1, 2, -1])]);
    await same('GatherND', [x, tensor('int64', [3, 1], [0, 3, 1])], { batch_dims: { i: 1 } });
    await same('GatherND', [x, tensor('int64', [3, 2, 2], [0, 1, 3, 4, 1, 1, 2, 0, 0, 0, 3, 3])], { batch_dims: { i: 1 } });
  });

  it('Tile, Expand, ConstantOfShape, Range, Constant', async () => {
    await same('Tile', [floats([2, 3]), i64([2, 3])]);
    await same('Expand', [ints('int64', [3, 1]), i64([2, 1, 4])]);
    await same('Expand', [floats([2, 3]), i64([1])]);
    await same('ConstantOfShape', [i64([2, 3])], { value: { t: tensor('int64', [1], [7]) } });
    await same('ConstantOfShape', [i64([4])]);
    await same('ConstantOfShape', [i64([0, 2])], { value: { t: tensor('float32', [1], [1.5]) } });
    await same('Range', [scalar('float32', 1), scalar('float32', 2.2), scalar('float32', 0.3)]);
    await same('Range', [scalar('float32', 0), scalar('float32', 1), scalar('float32', 0.1)]);
    await same('Range', [scalar('int64', 10), scalar('int64', -3), scalar('int64', -4)]);
    await same('Range', [scalar('int32', 0), scalar('int32', 5), scalar('int32', 1)]);
    await same('Range', [scalar('int32', 5), scalar('int32', 0), scalar('int32', 1)]);
    await same('Constant', [], { value: { t: tensor('int32', [2, 2], [1, 2, 3, 4]) } });
    await same('Constant', [], { value_floats: { floats: [0.5, 1.25] } });
    await same('Constant', [], { value_int: { i: 3 } });
  });

  it('Pad in constant, edge and reflect modes, with negative pads', async () => {
    const x = floats([3, 4]);
    await same('Pad', [x, i64([1, 0, 2, 3])]);
    await same('Pad', [x, i64([1, 2, 0, 1]), scalar('float32', 9.5)]);
    await same('Pad', [ints('int64', [3, 4]), i64([0, 1, 1, 0]), scalar('int64', -4)]);
    await same('Pad', [x, i64([-1, 1, 0, -2])]);
    await same('Pad', [x, i64([2, 1, 1, 3])], { mode: { s: 'edge' } });
    await same('Pad', [x, i64([2, 1, 1, 3])], { mode: { s: 'reflect' } });
  });
});

describe('evaluateNode limits', () => {
  const node = (op: string, inputs: string[]): Node => ({ name: op, op, inputs, outputs: ['y'], attrs: {} });

  it('returns undefined for ops and domains it does not evaluate', () => {
    expect(evaluateNode(node('Conv', ['x', 'w']), [floats([1, 1, 3, 3]), floats([1, 1, 1, 1])])).toBeUndefined();
    expect(evaluateNode({ ...node('Add', ['a', 'b']), domain: 'com.microsoft' }, [floats([2]), floats([2])])).toBeUndefined();
    expect(evaluateNode(node('Exp', ['a']), [ints('int32', [2])])).toBeUndefined();
  });

  it('evaluates integer Relu, which ONNX Runtime has no CPU kernel for', () => {
    const [y] = evaluateNode(node('Relu', ['a']), [tensor('int64', [3], [-2, 0, 3])])!;
    expect(y.data).toEqual(new BigInt64Array([0n, 0n, 3n]));
  });

  it('refuses integer division by zero rather than inventing a value', () => {
    expect(() => evaluateNode(node('Div', ['a', 'b']), [tensor('int32', [2], [1, 2]), tensor('int32', [1], [0])])).toThrow(/division by zero/);
  });

  it('float16 encoding rounds to nearest even and saturates to infinity', () => {
    expect(numberToHalf(1)).toBe(0x3c00);
    expect(numberToHalf(1 + 2 ** -11)).toBe(0x3c00);
    expect(numberToHalf(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(numberToHalf(65504)).toBe(0x7bff);
    expect(numberToHalf(65520)).toBe(0x7c00);
    expect(numberToHalf(2 ** -24)).toBe(1);
    expect(numberToHalf(-0)).toBe(0x8000);
    expect(halfToNumber(0xc000)).toBe(-2);
  });
});
