import { describe, expect, it } from 'vitest';
import { OnnxGraph, size, tensor, type Attr, type Dim, type Tensor } from '../../onnx/graph';
import { inferNodeTypes } from '../../onnx/shapes';
import { randomFloats, runOnnx } from '../../test-util/convert';
import { expectConvertsLikeTfjs } from '../../test-util/convert';
import { tfAttr } from '../tf/attrs';
import { TfGraphBuilder } from '../tf/builder';
import { deadCodePass } from './dead-code';
import { identityPass } from './identity';
import { transposePass } from './transpose';

const NCHW = [0, 3, 1, 2];
const NHWC = [0, 2, 3, 1];

/** Builds small graphs the way the handlers write them. */
class G {
  g = new OnnxGraph('t', inferNodeTypes);
  private seed = 1;
  input(name: string, shape: Dim[]): string {
    return this.g.addInput(name, { dtype: 'float32', shape });
  }
  node(op: string, inputs: string[], attrs: Record<string, Attr> = {}, outputs = 1): string[] {
    return this.g.addNode(op, inputs, { attrs, outputs }).outputs;
  }
  op(op: string, inputs: string[], attrs: Record<string, Attr> = {}): string {
    return this.node(op, inputs, attrs)[0]!;
  }
  t(x: string, perm: number[]): string {
    return this.op('Transpose', [x], { perm: { ints: perm } });
  }
  const(dims: number[], values?: number[]): string {
    return this.g.addInitializer('c', tensor('float32', dims, values ?? Array.from(randomFloats(size(dims), this.seed++))));
  }
  i64(values: number[]): string {
    return this.g.addInitializer('i', tensor('int64', [values.length], values));
  }
  /** NHWC in, NHWC out: Conv wrapped in Transposes. */
  conv(x: string, cin: number, cout: number, k = 3): string {
    const w = this.const([cout, cin, k, k]);
    const b = this.const([cout]);
    const p = (k - 1) / 2;
    return this.t(this.op('Conv', [this.t(x, NCHW), w, b], { kernel_shape: { ints: [k, k] }, pads: { ints: [p, p, p, p] } }), NHWC);
  }
  output(name: string, shape: Dim[] | null = null): void {
    this.g.addOutput(name, { dtype: 'float32', shape });
  }
  count(op: string): number {
    return this.g.nodes.filter((n) => n.op === op).length;
  }
}

function feedsFor(g: OnnxGraph): Record<string, Tensor> {
  return Object.fromEntries(g.inputs.map((i, k) => {
    const dims = i.type.shape as number[];
    return [i.name, tensor('float32', dims, randomFloats(size(dims), 100 + k))];
  }));
}

/** Runs the pass; expects ONNX Runtime to give the same outputs before and after. Returns the change count. */
async function runAndCompare(g: OnnxGraph): Promise<number> {
  const feeds = feedsFor(g);
  const before = await runOnnx(g, feeds);
  const changes = transposePass.run(g);
  const after = await runOnnx(g, feeds);
  for (const o of g.outputs) {
    expect(after[o.name]!.dims, o.name).toEqual(before[o.name]!.dims);
    const a = Array.from(after[o.name]!.data, Number);
    const b = Array.from(before[o.name]!.data, Number);
    a.forEach((v, k) => expect(Math.abs(v - b[k]!), `${o.name}[${k}]`).toBeLessThan(1e-5));
  }
  return changes;
}

describe('transposePass', () => {
  it('leaves one Transpose in a NHWC CNN: conv/relu/pad/add/concat/pool/mean', async () => {
    const b = new G();
    const x = b.input('x', [1, 8, 8, 3]);
    const c1 = b.op('Relu', [b.conv(x, 3, 4)]);
    const padded = b.op('Pad', [c1, b.i64([0, 1, 1, 0, 0, 1, 1, 0])]);
    const c2 = b.conv(padded, 4, 4);
    const sliced = b.op('Slice', [c2, b.i64([1, 1]), b.i64([9, 9]), b.i64([1, 2])]);
    const sum = b.op('Relu', [b.op('Add', [sliced, c1])]);
    const biased = b.op('Mul', [b.op('Add', [sum, b.const([4])]), b.const([], [0.5])]);
    const pooled = b.t(b.op('MaxPool', [b.t(biased, NCHW)], { kernel_shape: { ints: [2, 2] }, strides: { ints: [2, 2] } }), NHWC);
    const branch = b.op('Clip', [b.conv(pooled, 4, 2, 1), b.const([], [0]), b.const([], [6])]);
    const cat = b.op('Concat', [pooled, branch], { axis: { i: 3 } });
    const mean = b.op('ReduceMean', [cat], { axes: { ints: [1, 2] }, keepdims: { i: 0 } });
    const y = b.op('MatMul', [mean, b.const([6, 2])]);
    b.output(y);
    expect(b.count('Transpose')).toBe(8);
    expect(await runAndCompare(b.g)).toBeGreaterThan(0);
    expect(b.count('Transpose')).toBe(1);
    expect(b.g.nodes.find((n) => n.op === 'Transpose')!.inputs).toEqual(['x']);
  });

  it('keeps one Transpose before a Reshape, none when it only moves axes of size 1', async () => {
    const b = new G();
    const x = b.input('x', [2, 6, 6, 3]);
    const h = b.op('Sigmoid', [b.conv(b.conv(x, 3, 5), 5, 5)]);
    const mean = b.op('ReduceMean', [h], { axes: { ints: [1, 2] }, keepdims: { i: 1 } });
    b.output(b.op('Reshape', [mean, b.i64([2, 5])]));
    const pooled = b.op('ReduceMax', [h], { axes: { ints: [1] }, keepdims: { i: 1 } });
    b.output(b.op('Reshape', [pooled, b.i64([2, -1])]));
    await runAndCompare(b.g);
    expect(b.count('Transpose')).toBe(2);
    expect(b.g.nodes.filter((n) => n.op === 'Transpose').map((n) => n.inputs[0])).toContain('x');
  });

  it('merges consecutive Transposes and removes an identity pair, keeping the output name', async () => {
    const b = new G();
    const x = b.input('x', [2, 3, 4, 5]);
    b.g.addNode('Transpose', [b.t(x, NHWC)], { attrs: { perm: { ints: NCHW } }, outputs: ['y'] });
    b.output('y');
    const z = b.t(b.t(x, [1, 0, 2, 3]), [0, 2, 1, 3]);
    b.output(z);
    await runAndCompare(b.g);
    expect(b.g.nodes.map((n) => n.op).sort()).toEqual(['Identity', 'Transpose']);
    expect(b.g.nodes.find((n) => n.op === 'Transpose')!.attrs.perm).toEqual({ ints: [1, 2, 0, 3] });
  });

  it('folds a Transpose of a constant into the constant', async () => {
    const b = new G();
    const x = b.input('x', [2, 3]);
    const c = b.const([3, 2], [1, 2, 3, 4, 5, 6]);
    b.output(b.op('Add', [x, b.t(c, [1, 0])]));
    await runAndCompare(b.g);
    expect(b.count('Transpose')).toBe(0);
    const folded = [...b.g.initializers.values()].find((t) => t.dims.join() === '2,3')!;
    expect(Array.from(folded.data as Float32Array)).toEqual([1, 3, 5, 2, 4, 6]);
  });

  it('copies a constant that another node still reads in the old layout', async () => {
    const b = new G();
    const x = b.input('x', [1, 4, 2, 3]);
    const bias = b.const([1, 1, 4]);
    const y = b.t(b.op('Add', [b.t(x, NHWC), bias]), NCHW);
    const other = b.input('o', [1, 3, 4, 4]);
    b.output(y);
    b.output(b.op('Add', [other, bias]));
    await runAndCompare(b.g);
    expect(b.count('Transpose')).toBe(0);
    expect(b.g.initializers.get(bias)!.dims).toEqual([1, 1, 4]);
  });

  it('moves a Transpose through a chain of unary ops to meet its inverse', async () => {
    const b = new G();
    const x = b.input('x', [1, 3, 4, 4]);
    let h = b.t(x, NHWC);
    for (const op of ['Relu', 'Neg', 'Exp', 'Abs', 'Sqrt', 'Floor']) h = b.op(op, [h]);
    b.output(b.t(h, NCHW));
    await runAndCompare(b.g);
    expect(b.count('Transpose')).toBe(0);
  });

  it('pushes into every consumer when that removes Transposes, and keeps it for a graph output', async () => {
    const b = new G();
    const x = b.input('x', [1, 3, 4, 4]);
    const y = b.t(x, NHWC);
    b.output(b.t(b.op('Relu', [y]), NCHW));
    b.output(b.t(b.op('Tanh', [y]), NCHW));
    b.output(b.op('Sigmoid', [y]));
    await runAndCompare(b.g);
    // one Transpose: before Sigmoid or after it, for the NHWC graph output
    expect(b.count('Transpose')).toBe(1);
  });

  it('inserts the inverse on an operand when that still removes Transposes', async () => {
    const b = new G();
    const a = b.input('a', [1, 3, 4, 4]);
    const other = b.input('b', [1, 4, 4, 3]);
    b.output(b.t(b.op('Mul', [b.t(a, NHWC), other]), NCHW));
    await runAndCompare(b.g);
    expect(b.count('Transpose')).toBe(1);
  });

  it('does not push when that would add Transposes', async () => {
    const b = new G();
    const a = b.input('a', [1, 3, 4, 4]);
    const other = b.input('b', [1, 4, 4, 3]);
    b.output(b.op('Relu', [b.op('Mul', [b.t(a, NHWC), other])]));
    expect(await runAndCompare(b.g)).toBe(0);
    expect(b.count('Transpose')).toBe(1);
  });

  it('pushes a Transpose up when an input-side op feeds two convs', async () => {
    const b = new G();
    const x = b.input('x', [1, 5, 5, 2]);
    const h = b.op('Add', [b.op('Mul', [x, b.const([2])]), b.const([1, 1, 2])]);
    b.output(b.conv(h, 2, 3));
    b.output(b.conv(h, 2, 3, 1));
    expect(b.count('Transpose')).toBe(4);
    await runAndCompare(b.g);
    expect(b.count('Transpose')).toBe(3);
  });

  const cases: [string, (b: G, y: string) => string, number][] = [
    ['Concat with a constant', (b, y) => b.op('Concat', [y, b.const([2, 4, 5, 1])], { axis: { i: -1 } }), 0],
    ['Split', (b, y) => b.op('Add', b.node('Split', [y, b.i64([3, 2])], { axis: { i: 2 } }, 2).map((s) => b.op('ReduceSum', [s, b.i64([2])]))), 0],
    ['Pad reflect', (b, y) => b.op('Pad', [y, b.i64([0, 1, 2, 0, 0, 2, 1, 0])], { mode: { s: 'reflect' } }), 0],
    ['ReduceMax keepdims', (b, y) => b.op('ReduceMax', [y], { axes: { ints: [-1, 1] } }), 0],
    ['ReduceSum over H', (b, y) => b.op('ReduceSum', [y, b.i64([1])], { keepdims: { i: 0 } }), 1],
    ['ArgMax', (b, y) => b.op('Cast', [b.op('ArgMax', [y], { axis: { i: 3 } })], { to: { i: 1 } }), 0],
    ['Slice with steps', (b, y) => b.op('Slice', [y, b.i64([0, 4]), b.i64([3, 0]), b.i64([3, -2]), b.i64([2, -1])]), 0],
    ['Slice without axes', (b, y) => b.op('Slice', [y, b.i64([0, 1, 1]), b.i64([2, 3, 4])]), 0],
    ['Resize scales', (b, y) => b.op('Resize', [y, '', b.g.addInitializer('s', tensor('float32', [4], [1, 2, 2, 1]))], { mode: { s: 'nearest' } }), 0],
    ['Resize sizes', (b, y) => b.op('Resize', [y, '', '', b.i64([2, 8, 5, 3])], { mode: { s: 'linear' } }), 0],
    ['Softmax', (b, y) => b.op('Softmax', [y], { axis: { i: -1 } }), 0],
    ['Squeeze', (b, y) => b.op('Squeeze', [b.op('ReduceMean', [y], { axes: { ints: [1] } }), b.i64([1])]), 1],
    ['Unsqueeze', (b, y) => b.op('Unsqueeze', [y, b.i64([0, 3])]), 1],
    ['Where and comparisons', (b, y) => b.op('Where', [b.op('Greater', [y, b.const([3])]), y, b.const([5, 1])]), 0],
    ['PRelu', (b, y) => b.op('PRelu', [y, b.const([3])]), 0],
    ['Dequantize per channel', (b, y) => b.op('DequantizeLinear', [b.op('QuantizeLinear', [y, b.const([], [0.01]), b.g.addInitializer('z', tensor('uint8', [], [128]))]), b.const([3], [0.01, 0.02, 0.03]), b.g.addInitializer('z', tensor('uint8', [3], [120, 128, 130]))], { axis: { i: 3 } }), 0],
  ];
  it.each(cases)('pushes through %s', async (_name, build, left) => {
    const b = new G();
    const x = b.input('x', [2, 3, 4, 5]);
    const out = build(b, b.t(x, NHWC));
    const rank4 = b.g.nodes.find((n) => n.outputs.includes(out))!.op !== 'Unsqueeze';
    b.output(rank4 && !['ReduceSum over H', 'Squeeze'].includes(_name) ? b.t(out, NCHW) : out);
    const before = b.count('Transpose');
    await runAndCompare(b.g);
    expect(b.count('Transpose')).toBe(left);
    expect(left < before || before === 1).toBe(true);
  });

  it('converts a TensorFlow residual CNN to NCHW with only the input Transpose left', async () => {
    const b = new TfGraphBuilder();
    const x = b.placeholder('x', [-1, 8, 8, 3]);
    let k = 0;
    const w = (dims: number[]) => b.const(`w${k}`, tensor('float32', dims, randomFloats(size(dims), ++k)));
    const window = { strides: tfAttr.ints([1, 1, 1, 1]), padding: tfAttr.s('SAME'), dilations: tfAttr.ints([1, 1, 1, 1]) };
    const conv = (name: string, input: string, cin: number, cout: number, act = 'Relu') => b.op('_FusedConv2D', name, [input, w([3, 3, cin, cout]), w([cout])], {
      ...window, fused_ops: tfAttr.strs(['BiasAdd', act]), num_args: tfAttr.i(1),
    });
    const stem = conv('stem', x, 3, 4);
    const padded = b.op('Pad', 'pad', [stem, b.const('paddings', 'int32', [4, 2], [0, 0, 1, 1, 1, 1, 0, 0])], { Tpaddings: tfAttr.type('DT_INT32') });
    const body = b.op('_FusedConv2D', 'body', [padded, w([3, 3, 4, 4]), w([4])], {
      ...window, padding: tfAttr.s('VALID'), fused_ops: tfAttr.strs(['BiasAdd']), num_args: tfAttr.i(1),
    });
    const block = b.op('Relu6', 'block', [b.op('AddV2', 'residual', [body, stem])]);
    const pooled = b.op('MaxPool', 'pool', [block], { ksize: tfAttr.ints([1, 2, 2, 1]), ...window, strides: tfAttr.ints([1, 2, 2, 1]) });
    const branch = b.op('Mul', 'scale', [conv('branch', pooled, 4, 2, 'Elu'), w([2])]);
    const cat = b.op('ConcatV2', 'concat', [pooled, branch, b.const('axis', 'int32', [], [-1])], { N: tfAttr.i(2) });
    const mean = b.op('Mean', 'mean', [cat, b.const('hw', 'int32', [2], [1, 2])], { keep_dims: tfAttr.b(false), Tidx: tfAttr.type('DT_INT32') });
    const logits = b.op('MatMul', 'fc', [mean, w([6, 3])], { transpose_a: tfAttr.b(false), transpose_b: tfAttr.b(false) });
    const feeds = { 'x:0': tensor('float32', [2, 8, 8, 3], randomFloats(2 * 8 * 8 * 3, 42)) };
    const g = await expectConvertsLikeTfjs(b.build([x], [logits]), feeds, [logits], { passes: false });
    expect(g.nodes.filter((n) => n.op === 'Transpose').length).toBeGreaterThan(6);
    const before = await runOnnx(g, feeds);
    for (const pass of [transposePass, identityPass, deadCodePass]) pass.run(g);
    const after = await runOnnx(g, feeds);
    const want = Array.from(before['fc:0']!.data, Number);
    Array.from(after['fc:0']!.data, Number).forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 5));
    const transposes = g.nodes.filter((n) => n.op === 'Transpose');
    expect(transposes.map((n) => n.inputs[0])).toEqual(['x:0']);
  });
});
