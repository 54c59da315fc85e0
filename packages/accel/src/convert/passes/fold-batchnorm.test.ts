import { describe, expect, it } from 'vitest';
import { OnnxGraph, size, tensor, type Attr, type Dim, type Tensor } from '../../onnx/graph';
import { inferNodeTypes } from '../../onnx/shapes';
import { expectConvertsLikeTfjs, randomFloats, runOnnx } from '../../test-util/convert';
import { tfAttr } from '../tf/attrs';
import { TfGraphBuilder } from '../tf/builder';
import { foldBatchNormPass, perChannel } from './fold-batchnorm';
import { identityPass } from './identity';
import { transposePass } from './transpose';

let seed = 1;
const floats = (dims: number[], offset = 0): Tensor => tensor('float32', dims, Array.from(randomFloats(size(dims), seed++), (v) => v + offset));

function graph(inputShape: Dim[]) {
  const g = new OnnxGraph('t', inferNodeTypes);
  const x = g.addInput('x', { dtype: 'float32', shape: inputShape });
  const c = (dims: number[], offset = 0) => g.addInitializer('c', floats(dims, offset));
  const op = (name: string, inputs: string[], attrs: Record<string, Attr> = {}) => g.addNode(name, inputs, { attrs }).outputs[0]!;
  const out = (y: string) => g.addOutput(y);
  const ops = () => g.nodes.map((n) => n.op);
  return { g, x, c, op, out, ops };
}

/** Runs the passes; expects ONNX Runtime to give the same outputs before and after. */
async function runAndCompare(g: OnnxGraph, passes = [foldBatchNormPass]): Promise<number> {
  const feeds = Object.fromEntries(g.inputs.map((i) => [i.name, floats(i.type.shape as number[])]));
  const before = await runOnnx(g, feeds);
  let changes = 0;
  for (const p of passes) changes += p.run(g);
  const after = await runOnnx(g, feeds);
  for (const o of g.outputs) {
    expect(after[o.name]!.dims).toEqual(before[o.name]!.dims);
    const b = Array.from(before[o.name]!.data, Number);
    Array.from(after[o.name]!.data, Number).forEach((v, k) => expect(v, `${o.name}[${k}]`).toBeCloseTo(b[k]!, 4));
  }
  return changes;
}

const bnInputs = (c: (d: number[], o?: number) => string, ch: number) => [c([ch]), c([ch]), c([ch]), c([ch], 1.5)];

describe('foldBatchNormPass', () => {
  it('folds an inference BatchNormalization into the Conv before it', async () => {
    const { g, x, c, op, out, ops } = graph([2, 3, 5, 5]);
    const y = op('Conv', [x, c([4, 3, 3, 3]), c([4])], { kernel_shape: { ints: [3, 3] } });
    out(op('BatchNormalization', [y, ...bnInputs(c, 4)], { epsilon: { f: 1e-3 } }));
    expect(await runAndCompare(g)).toBe(1);
    expect(ops()).toEqual(['Conv']);
  });

  it('folds Mul then Add of per-channel constants ([1,C,1,1], [C,1,1]) into a Conv without bias', async () => {
    const { g, x, c, op, out, ops } = graph([1, 2, 4, 4]);
    const y = op('Conv', [x, c([3, 2, 1, 1])], { kernel_shape: { ints: [1, 1] } });
    out(op('Relu', [op('Add', [c([3, 1, 1]), op('Mul', [y, c([1, 3, 1, 1])])])]));
    expect(await runAndCompare(g)).toBe(2);
    expect(ops()).toEqual(['Conv', 'Relu']);
  });

  it('folds into a depthwise Conv, a grouped ConvTranspose, Div and Sub', async () => {
    const { g, x, c, op, out, ops } = graph([1, 4, 3, 3]);
    const dw = op('Conv', [x, c([4, 1, 3, 3]), c([4])], { group: { i: 4 }, kernel_shape: { ints: [3, 3] }, pads: { ints: [1, 1, 1, 1] } });
    const scaled = op('Sub', [op('Div', [dw, c([4, 1, 1], 2)]), c([1])]);
    const up = op('ConvTranspose', [op('Relu', [scaled]), c([4, 3, 2, 2]), c([6])], { group: { i: 2 }, strides: { ints: [2, 2] } });
    out(op('BatchNormalization', [up, ...bnInputs(c, 6)]));
    expect(await runAndCompare(g)).toBe(3);
    expect(ops()).toEqual(['Conv', 'Relu', 'ConvTranspose']);
  });

  it('folds into Gemm (transB, beta) and turns a 2-D MatMul + Add into Gemm', async () => {
    const { g, x, c, op, out, ops } = graph([3, 4]);
    const gemm = op('Gemm', [x, c([5, 4]), c([5])], { transB: { i: 1 }, beta: { f: 0.5 } });
    const h = op('Add', [op('Mul', [gemm, c([1, 5])]), c([5])]);
    out(op('Add', [op('Mul', [op('MatMul', [h, c([5, 2])]), c([2])]), c([1, 2])]));
    expect(await runAndCompare(g)).toBe(4);
    expect(ops()).toEqual(['Gemm', 'Gemm']);
  });

  it('folds Mul into a 3-D MatMul and leaves the Add it cannot carry', async () => {
    const { g, c, op, out, ops } = graph([2, 3, 4]);
    out(op('Add', [op('Mul', [op('MatMul', ['x', c([4, 5])]), c([5])]), c([5])]));
    expect(await runAndCompare(g)).toBe(1);
    expect(ops()).toEqual(['MatMul', 'Add']);
  });

  it('leaves what it cannot fold: shared outputs, non-channel constants, c - y, graph outputs', async () => {
    const { g, x, c, op, out, ops } = graph([1, 2, 4, 4]);
    const conv = (attrs: Record<string, Attr> = { kernel_shape: { ints: [1, 1] } }) => op('Conv', [x, c([2, 2, 1, 1]), c([2])], attrs);
    const shared = conv();
    out(op('Mul', [shared, c([2, 1, 1])]));
    out(op('Relu', [shared]));
    out(op('Mul', [conv(), c([2, 4, 1])]));
    out(op('Sub', [c([2, 1, 1]), conv()]));
    const direct = conv();
    out(direct);
    out(op('Add', [direct, c([2, 1, 1])]));
    expect(await runAndCompare(g)).toBe(0);
    expect(ops().filter((o) => o === 'Conv')).toHaveLength(4);
  });

  it('copies weights another Conv shares', async () => {
    const { g, x, c, op, out } = graph([1, 2, 4, 4]);
    const w = c([2, 2, 1, 1]);
    out(op('Mul', [op('Conv', [x, w], { kernel_shape: { ints: [1, 1] } }), c([2, 1, 1])]));
    out(op('Conv', [x, w], { kernel_shape: { ints: [1, 1] } }));
    expect(await runAndCompare(g)).toBe(1);
    expect(new Set(g.nodes.map((n) => n.inputs[1])).size).toBe(2);
  });

  it('reads per-channel constants', () => {
    expect(Array.from(perChannel(tensor('float32', [1, 3, 1, 1], [1, 2, 3]), 4, 1, 3)!)).toEqual([1, 2, 3]);
    expect(Array.from(perChannel(tensor('float32', [], [2]), 4, 1, 3)!)).toEqual([2, 2, 2]);
    expect(perChannel(tensor('float32', [3, 1], [1, 2, 3]), 4, 1, 3)).toBeNull();
    expect(perChannel(tensor('float32', [1, 1, 1, 1, 3], [1, 2, 3]), 4, 3, 3)).toBeNull();
  });

  it('folds a TensorFlow conv + FusedBatchNorm + Mul + Add after the transposes are gone', async () => {
    const b = new TfGraphBuilder();
    const x = b.placeholder('x', [1, 6, 6, 3]);
    const conv = b.op('Conv2D', 'conv', [x, b.const('w', floats([3, 3, 3, 4]))], {
      strides: tfAttr.ints([1, 1, 1, 1]), padding: tfAttr.s('SAME'), dilations: tfAttr.ints([1, 1, 1, 1]),
    });
    const bn = b.op('FusedBatchNormV3', 'bn', [conv, ...['g', 'b', 'm'].map((n) => b.const(n, floats([4]))), b.const('v', floats([4], 1.5))], {
      epsilon: tfAttr.f(0.001), is_training: tfAttr.b(false),
    });
    const y = b.op('AddV2', 'add', [b.op('Mul', 'mul', [bn, b.const('s', floats([4]))]), b.const('t', floats([4]))]);
    const out = b.op('Relu', 'relu', [y]);
    const g = await expectConvertsLikeTfjs(b.build([x], [out]), { 'x:0': floats([1, 6, 6, 3]) }, [out], { passes: false });
    await runAndCompare(g, [transposePass, foldBatchNormPass, identityPass]);
    expect(g.nodes.map((n) => n.op).sort()).toEqual(['Conv', 'Relu', 'Transpose', 'Transpose']);
  });
});
