import { describe, expect, it } from 'vitest';
import { runOnnx, randomFloats } from '../test-util/convert';
import { OnnxGraph, tensor, type Attr, type Dim, type DType, type Tensor, type TypeInfo } from './graph';
import { inferNodeTypes } from './shapes';

type Numeric = Exclude<DType, 'string'>;

/** A test tensor: explicit values, or deterministic ones (floats in [-1, 1), small integers, alternating bools). */
function val(dtype: Numeric, dims: number[], values?: number[]): Tensor {
  const n = dims.reduce((a, b) => a * b, 1);
  const floats = randomFloats(n, n + dims.length);
  const gen = values ?? Array.from({ length: n }, (_, k) => (dtype.startsWith('float') ? floats[k] : k % 3));
  return tensor(dtype, dims, gen);
}

/** An input: fed at run time, or a constant (initializer) the rules may read. */
type In = { data: Tensor } | { constant: Tensor } | null;
const data = (t: Tensor): In => ({ data: t });
const konst = (t: Tensor): In => ({ constant: t });
const i64 = (values: number[]): Tensor => tensor('int64', [values.length], values);

/** One node in a graph with inference on; returns the graph and the node's outputs. */
function single(op: string, inputs: In[], attrs: Record<string, Attr> = {}, outputs = 1) {
  const g = new OnnxGraph('shapes', inferNodeTypes);
  const feeds: Record<string, Tensor> = {};
  const names = inputs.map((input, k) => {
    if (!input) return '';
    if ('constant' in input) return g.addInitializer(`c${k}`, input.constant);
    feeds[`x${k}`] = input.data;
    return g.addInput(`x${k}`, { dtype: input.data.dtype, shape: [...input.data.dims] });
  });
  const node = g.addNode(op, names, { attrs, outputs });
  return { g, feeds, outs: node.outputs };
}

const ORT_DTYPE: Record<string, DType> = {
  Float32Array: 'float32', Float64Array: 'float64', Int8Array: 'int8', Uint8Array: 'uint8', Int16Array: 'int16',
  Uint16Array: 'uint16', Int32Array: 'int32', Uint32Array: 'uint32', BigInt64Array: 'int64', BigUint64Array: 'uint64',
};

/**
 * Infers the node's output types, runs it in ONNX Runtime, and expects every inferred dim to
 * match the real output shape; `unknown` lists how many dims each output may leave unknown.
 */
async function check(op: string, inputs: In[], attrs: Record<string, Attr> = {}, opts: { outputs?: number; unknown?: number[] } = {}) {
  const { g, feeds, outs } = single(op, inputs, attrs, opts.outputs ?? 1);
  for (const o of outs) g.addOutput(o);
  const got = await runOnnx(g, feeds);
  outs.forEach((o, k) => {
    const type = g.types.get(o)!;
    const real = got[o]!;
    expect(type.shape, `${op} output ${k}: rank`).not.toBeNull();
    expect(type.shape!.length, `${op} output ${k}: rank`).toBe(real.dims.length);
    const unknown = type.shape!.filter((d) => d === null).length;
    expect(unknown, `${op} output ${k}: unknown dims in [${type.shape}]`).toBe(opts.unknown?.[k] ?? 0);
    type.shape!.forEach((d, j) => d !== null && expect(d, `${op} output ${k} dim ${j}`).toBe(real.dims[j]));
    const realType = ORT_DTYPE[real.data.constructor.name];
    if (type.dtype !== 'bool' && type.dtype !== 'float16') expect(type.dtype, `${op} output ${k} dtype`).toBe(realType);
    else expect(realType, `${op} output ${k} dtype`).toBe(type.dtype === 'bool' ? 'uint8' : 'uint16');
  });
}

/** Inferred types of a node's outputs over symbolic inputs (no run). */
function infer(op: string, inputs: (TypeInfo | Tensor | null)[], attrs: Record<string, Attr> = {}, outputs = 1): TypeInfo[] {
  const g = new OnnxGraph('symbolic', inferNodeTypes);
  const names = inputs.map((input, k) => {
    if (!input) return '';
    if ('data' in input) return g.addInitializer(`c${k}`, input);
    return g.addInput(`x${k}`, input);
  });
  return g.addNode(op, names, { attrs, outputs }).outputs.map((o) => g.types.get(o)!);
}

const f32 = (dims: number[]) => data(val('float32', dims));
const sym = (shape: Dim[] | null, dtype: DType = 'float32'): TypeInfo => ({ dtype, shape });

describe('inferNodeTypes against ONNX Runtime output shapes', () => {
  const unary = [
    'Relu', 'Sigmoid', 'Tanh', 'Exp', 'Log', 'Abs', 'Neg', 'Sqrt', 'Reciprocal', 'Floor', 'Ceil', 'Round', 'Sign', 'Sin', 'Cos', 'Tan',
    'Asin', 'Acos', 'Atan', 'Erf', 'Softplus', 'Softsign', 'Elu', 'Selu', 'LeakyRelu', 'HardSigmoid', 'Clip', 'Identity', 'Softmax', 'LogSoftmax',
  ];
  it.each(unary)('%s keeps the input type', (op) => check(op, [f32([2, 3, 4])]));

  it('Not, IsNaN, Dropout (with mask), Cast, CumSum', async () => {
    await check('Not', [data(val('bool', [3, 2]))]);
    await check('IsNaN', [f32([3, 2])]);
    await check('Dropout', [f32([3, 2])], {}, { outputs: 2 });
    await check('Cast', [f32([3, 2])], { to: { i: 7 } });
    await check('Cast', [f32([3, 2])], { to: { i: 9 } });
    await check('Cast', [f32([3, 2])], { to: { i: 10 } });
    await check('CumSum', [f32([3, 2]), konst(tensor('int64', [], [1]))]);
  });

  it.each(['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Max', 'Min'])('%s broadcasts', async (op) => {
    await check(op, [f32([2, 1, 4]), f32([3, 1])]);
    await check(op, [f32([]), f32([5, 2])]);
  });

  it.each(['Equal', 'Less', 'LessOrEqual', 'Greater', 'GreaterOrEqual'])('%s broadcasts to bool', (op) => check(op, [f32([4, 1]), f32([1, 3])]));

  it('logic, Mod, PRelu, Where and variadic Sum/Mean/Max/Min', async () => {
    for (const op of ['And', 'Or', 'Xor']) await check(op, [data(val('bool', [2, 3])), data(val('bool', [3]))]);
    await check('Mod', [data(val('int32', [2, 3])), data(val('int32', [3], [2, 3, 5]))]);
    await check('PRelu', [f32([2, 3, 4]), f32([3, 1])]);
    await check('Where', [data(val('bool', [3, 1])), f32([1, 4]), f32([2, 1, 1])]);
    for (const op of ['Sum', 'Mean', 'Max', 'Min']) await check(op, [f32([2, 1]), f32([3]), f32([4, 1, 1])]);
  });

  it('Conv with pads, strides, dilations, groups and auto_pad', async () => {
    await check('Conv', [f32([1, 3, 10, 9]), f32([4, 3, 3, 2])], { pads: { ints: [1, 0, 1, 1] }, strides: { ints: [2, 1] }, dilations: { ints: [1, 2] } });
    await check('Conv', [f32([2, 6, 8, 8]), f32([6, 2, 3, 3]), f32([6])], { group: { i: 3 } });
    for (const autoPad of ['SAME_UPPER', 'SAME_LOWER', 'VALID']) {
      await check('Conv', [f32([1, 2, 9, 10]), f32([3, 2, 3, 4])], { auto_pad: { s: autoPad }, strides: { ints: [2, 3] } });
    }
    await check('Conv', [f32([1, 2, 9]), f32([3, 2, 3])], { kernel_shape: { ints: [3] }, strides: { ints: [2] } });
  });

  it('ConvTranspose with output_padding, groups, output_shape and auto_pad', async () => {
    await check('ConvTranspose', [f32([1, 2, 5, 4]), f32([2, 3, 3, 3])], { strides: { ints: [2, 2] }, pads: { ints: [1, 0, 1, 1] }, output_padding: { ints: [1, 0] } });
    await check('ConvTranspose', [f32([1, 4, 5, 4]), f32([4, 3, 3, 3])], { group: { i: 2 }, dilations: { ints: [2, 1] } });
    await check('ConvTranspose', [f32([1, 2, 5, 4]), f32([2, 3, 3, 3])], { strides: { ints: [2, 2] }, output_shape: { ints: [10, 9] } });
    await check('ConvTranspose', [f32([1, 2, 5, 4]), f32([2, 3, 3, 3])], { strides: { ints: [2, 2] }, auto_pad: { s: 'SAME_UPPER' } });
  });

  it('pools with ceil_mode, indices and global pools', async () => {
    const k = (ks: number[], extra: Record<string, Attr> = {}) => ({ kernel_shape: { ints: ks }, ...extra });
    await check('MaxPool', [f32([1, 2, 7, 7])], k([3, 3], { strides: { ints: [2, 2] }, ceil_mode: { i: 1 } }), { outputs: 2 });
    await check('MaxPool', [f32([1, 1, 3, 3])], k([2, 2], { strides: { ints: [2, 2] }, pads: { ints: [1, 1, 1, 1] }, ceil_mode: { i: 1 } }));
    await check('MaxPool', [f32([1, 1, 8, 6])], k([3, 2], { strides: { ints: [3, 2] }, auto_pad: { s: 'SAME_UPPER' } }));
    await check('AveragePool', [f32([1, 2, 8, 7])], k([3, 3], { strides: { ints: [2, 2] }, pads: { ints: [1, 1, 0, 0] }, ceil_mode: { i: 1 } }));
    await check('AveragePool', [f32([1, 2, 8, 7])], k([2, 3], { auto_pad: { s: 'VALID' } }));
    await check('LpPool', [f32([1, 2, 8, 7])], k([2, 2], { strides: { ints: [2, 2] } }));
    await check('GlobalAveragePool', [f32([2, 3, 5, 4])]);
    await check('GlobalMaxPool', [f32([2, 3, 5])]);
  });

  it('normalizations', async () => {
    await check('BatchNormalization', [f32([2, 3, 4, 4]), f32([3]), f32([3]), f32([3]), data(val('float32', [3], [1, 2, 3]))]);
    await check('InstanceNormalization', [f32([2, 3, 4]), f32([3]), f32([3])]);
    await check('LRN', [f32([1, 5, 3, 3])], { size: { i: 3 } });
    await check('LayerNormalization', [f32([2, 3, 4]), f32([4]), f32([4])], { axis: { i: -1 } }, { outputs: 3 });
  });

  it('Gemm and MatMul with broadcasting and 1-D operands', async () => {
    await check('Gemm', [f32([4, 3]), f32([5, 4]), f32([5])], { transA: { i: 1 }, transB: { i: 1 } });
    await check('MatMul', [f32([3, 4]), f32([4, 5])]);
    await check('MatMul', [f32([2, 1, 3, 4]), f32([5, 4, 6])]);
    await check('MatMul', [f32([4]), f32([2, 4, 3])]);
    await check('MatMul', [f32([2, 3, 4]), f32([4])]);
    await check('MatMul', [f32([4]), f32([4])]);
  });

  it('Transpose, Reshape, Flatten, Squeeze, Unsqueeze', async () => {
    await check('Transpose', [f32([2, 3, 4])], { perm: { ints: [1, 2, 0] } });
    await check('Transpose', [f32([2, 3, 4])]);
    await check('Reshape', [f32([2, 3, 4]), konst(i64([0, -1, 2]))]);
    await check('Reshape', [f32([2, 3, 4]), konst(i64([4, 0, -1]))]);
    await check('Reshape', [f32([2, 0, 4]), konst(i64([0, 4, 0]))], { allowzero: { i: 1 } });
    for (const axis of [0, 2, -1]) await check('Flatten', [f32([2, 3, 4])], { axis: { i: axis } });
    await check('Squeeze', [f32([1, 3, 1, 2]), konst(i64([-2]))]);
    await check('Squeeze', [f32([1, 3, 1, 2])]);
    await check('Unsqueeze', [f32([3, 2]), konst(i64([0, -1, 2]))]);
  });

  it('Concat and Split', async () => {
    await check('Concat', [f32([2, 3]), f32([2, 1]), f32([2, 4])], { axis: { i: -1 } });
    await check('Split', [f32([2, 7]), konst(i64([2, 5]))], { axis: { i: 1 } }, { outputs: 2 });
    await check('Split', [f32([6, 2])], {}, { outputs: 3 });
  });

  it.each([
    [[0, 0], [2, -1], [0, 1], [1, 1]],
    [[-1, 10], [-100, 2], [0, 1], [-1, 3]],
    [[5], [-8], [1], [-2]],
    [[-2], [-100], [-1], [-1]],
    [[100], [0], [0], [-3]],
    [[1, 0], [0, 5], [0, 1], [1, -1]],
    [[2], [1000000], [-1], [1]],
  ])('Slice starts %j ends %j axes %j steps %j', (starts, ends, axes, steps) =>
    check('Slice', [f32([6, 7]), konst(i64(starts)), konst(i64(ends)), konst(i64(axes)), konst(i64(steps))]));

  it('Slice with default axes and steps, Pad', async () => {
    await check('Slice', [f32([6, 7]), konst(i64([1])), konst(i64([-1]))]);
    await check('Pad', [f32([2, 3]), konst(i64([1, 0, 2, 3]))]);
    await check('Pad', [f32([2, 3]), konst(i64([1, 0, 2, 3])), konst(tensor('float32', [], [5]))]);
  });

  it('Gather, GatherND, GatherElements, ScatterND', async () => {
    await check('Gather', [f32([3, 4, 5]), data(tensor('int64', [2, 2], [0, -1, 2, 1]))], { axis: { i: 1 } });
    await check('Gather', [f32([3, 4]), data(tensor('int64', [], [2]))]);
    await check('GatherND', [f32([2, 3, 4]), data(tensor('int64', [2, 1, 2], [0, 1, 1, 2]))]);
    await check('GatherND', [f32([2, 3, 4]), data(tensor('int64', [2, 1], [0, 2]))], { batch_dims: { i: 1 } });
    await check('GatherElements', [f32([3, 4]), data(tensor('int64', [2, 4], [0, 1, 2, 0, 1, 1, 0, 2]))], { axis: { i: 0 } });
    await check('ScatterND', [f32([3, 4]), data(tensor('int64', [1, 1], [1])), f32([1, 4])]);
  });

  it('Tile, Expand, Shape, Size, ConstantOfShape, Constant, Range', async () => {
    await check('Tile', [f32([2, 3]), konst(i64([2, 1]))]);
    await check('Expand', [f32([3, 1]), konst(i64([2, 1, 6]))]);
    await check('Expand', [f32([2, 3]), konst(i64([1]))]);
    await check('Shape', [f32([2, 3, 4])]);
    await check('Shape', [f32([2, 3, 4])], { start: { i: -2 } });
    await check('Shape', [f32([2, 3, 4])], { start: { i: 1 }, end: { i: -1 } });
    await check('Size', [f32([2, 3, 4])]);
    await check('ConstantOfShape', [konst(i64([2, 3]))], { value: { t: tensor('int32', [1], [7]) } });
    await check('Constant', [], { value: { t: tensor('float32', [2, 2], [1, 2, 3, 4]) } });
    await check('Constant', [], { value_ints: { ints: [1, 2, 3] } });
    await check('Range', [konst(tensor('float32', [], [1])), konst(tensor('float32', [], [2.2])), konst(tensor('float32', [], [0.3]))]);
    await check('Range', [konst(tensor('int64', [], [10])), konst(tensor('int64', [], [-3])), konst(tensor('int64', [], [-4]))]);
  });

  it('reductions with axes, keepdims and noop_with_empty_axes', async () => {
    await check('ReduceSum', [f32([2, 3, 4]), konst(i64([1, -1]))], { keepdims: { i: 0 } });
    await check('ReduceSum', [f32([2, 3, 4]), konst(i64([1]))]);
    await check('ReduceSum', [f32([2, 3, 4])], { keepdims: { i: 0 } });
    await check('ReduceSum', [f32([2, 3, 4]), konst(i64([]))], { noop_with_empty_axes: { i: 1 } });
    for (const op of ['ReduceMean', 'ReduceMax', 'ReduceMin', 'ReduceProd', 'ReduceL2', 'ReduceLogSumExp']) {
      await check(op, [f32([2, 3, 4])], { axes: { ints: [0, 2] } });
      await check(op, [f32([2, 3, 4])], { keepdims: { i: 0 } });
    }
    await check('ArgMax', [f32([2, 3, 4])], { axis: { i: 1 }, keepdims: { i: 0 } });
    await check('ArgMin', [f32([2, 3, 4])], { axis: { i: -1 } });
  });

  it('TopK, NonZero, NonMaxSuppression', async () => {
    await check('TopK', [f32([3, 5]), konst(i64([2]))], { axis: { i: 1 } }, { outputs: 2 });
    await check('NonZero', [f32([3, 5])], {}, { unknown: [1] });
    const boxes = data(tensor('float32', [1, 2, 4], [0, 0, 1, 1, 0, 0, 0.5, 0.5]));
    await check('NonMaxSuppression', [boxes, f32([1, 1, 2]), konst(i64([2]))], {}, { unknown: [1] });
  });

  it('Resize by scales and sizes, DepthToSpace, SpaceToDepth, Einsum', async () => {
    const noRoi = konst(tensor('float32', [0], []));
    await check('Resize', [f32([1, 2, 3, 5]), noRoi, konst(tensor('float32', [4], [1, 1, 2, 1.5]))]);
    await check('Resize', [f32([1, 2, 3, 5]), null, null, konst(i64([1, 2, 7, 4]))]);
    await check('DepthToSpace', [f32([1, 8, 2, 3])], { blocksize: { i: 2 } });
    await check('SpaceToDepth', [f32([1, 2, 4, 6])], { blocksize: { i: 2 } });
    await check('Einsum', [f32([2, 3, 4]), f32([2, 4, 5])], { equation: { s: 'bij,bjk->bik' } });
    await check('Einsum', [f32([3, 4]), f32([4, 5])], { equation: { s: 'ij,jk' } });
  });

  it('quantization ops', async () => {
    const scale = konst(tensor('float32', [], [0.1]));
    const u8 = (dims: number[]) => data(val('uint8', dims));
    const zp = konst(tensor('uint8', [], [3]));
    await check('QuantizeLinear', [f32([2, 3]), scale]);
    await check('QuantizeLinear', [f32([2, 3]), scale, konst(tensor('int8', [], [1]))]);
    await check('DequantizeLinear', [u8([2, 3]), scale, zp]);
    await check('MatMulInteger', [u8([2, 3]), u8([3, 4])]);
    await check('ConvInteger', [u8([1, 2, 5, 5]), u8([3, 2, 3, 3])]);
    await check('QLinearMatMul', [u8([2, 3]), scale, zp, u8([3, 4]), scale, zp, scale, zp]);
    await check('QLinearConv', [u8([1, 2, 5, 5]), scale, zp, u8([3, 2, 3, 3]), scale, zp, scale, zp], { strides: { ints: [2, 2] } });
  });
});

describe('inferNodeTypes with symbolic and unknown dims', () => {
  it('keeps the batch symbol through conv, reshape, flatten and matmul', () => {
    const [conv] = infer('Conv', [sym(['N', 3, 224, 224]), tensor('float32', [16, 3, 3, 3], new Float32Array(432))], { strides: { ints: [2, 2] }, pads: { ints: [1, 1, 1, 1] } });
    expect(conv.shape).toEqual(['N', 16, 112, 112]);
    expect(infer('Reshape', [sym(['N', 7, 7, 64]), i64([-1, 3136])])[0].shape).toEqual(['N', 3136]);
    expect(infer('Reshape', [sym(['N', 7, 7, 64]), i64([0, -1])])[0].shape).toEqual(['N', 3136]);
    expect(infer('Reshape', [sym(['N', 7, 7, 64]), i64([-1, 7, 64])])[0].shape).toEqual([null, 7, 64]);
    expect(infer('Flatten', [sym(['N', 7, 7, 64])])[0].shape).toEqual(['N', 3136]);
    expect(infer('MatMul', [sym(['N', 4]), sym([4, 5])])[0].shape).toEqual(['N', 5]);
  });

  it('broadcasts symbols, numbers and unknown dims', () => {
    expect(infer('Add', [sym(['N', 1, 4]), sym([3, 1])])[0].shape).toEqual(['N', 3, 4]);
    expect(infer('Add', [sym(['N']), sym(['M'])])[0].shape).toEqual([null]);
    expect(infer('Mul', [sym([null, 5]), sym([1])])[0].shape).toEqual([null, 5]);
    expect(infer('Add', [sym(null), sym([3])])[0].shape).toBeNull();
    expect(infer('Less', [sym(['N', 2]), sym([2])])[0]).toEqual({ dtype: 'bool', shape: ['N', 2] });
  });

  it('keeps a symbol through a full slice and a concat with no others', () => {
    const big = 2 ** 62;
    expect(infer('Slice', [sym(['N', 10]), i64([0, 2]), i64([big, 5])])[0].shape).toEqual(['N', 3]);
    expect(infer('Slice', [sym(['N', 10]), i64([1]), i64([big])])[0].shape).toEqual([null, 10]);
    expect(infer('Concat', [sym(['N', 2]), sym(['N', 3])], { axis: { i: 1 } })[0].shape).toEqual(['N', 5]);
    expect(infer('Concat', [sym(['N', 2]), sym(['N', 3])], { axis: { i: 0 } })[0].shape).toEqual([null, 2]);
  });

  it('knows the rank when shape values are not constant', () => {
    expect(infer('Reshape', [sym([2, 3]), sym([3], 'int64')])[0].shape).toEqual([null, null, null]);
    expect(infer('Shape', [sym(null)])[0]).toEqual({ dtype: 'int64', shape: [null] });
    expect(infer('ConstantOfShape', [sym([2], 'int64')])[0]).toEqual({ dtype: 'float32', shape: [null, null] });
    expect(infer('ReduceSum', [sym(['N', 3]), sym([1], 'int64')])[0].shape).toEqual([null, null]);
    expect(infer('NonZero', [sym(null)])[0].shape).toEqual([null, null]);
  });

  it('falls back to the dtype of input 0 and an unknown shape', () => {
    expect(infer('SomeCustomOp', [sym([2, 3], 'int32')])[0]).toEqual({ dtype: 'int32', shape: null });
    expect(infer('Cast', [sym(['N'])], { to: { i: 7 } })[0]).toEqual({ dtype: 'int64', shape: ['N'] });
  });
});
