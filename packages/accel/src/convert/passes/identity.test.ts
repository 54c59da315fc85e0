import { describe, expect, it } from 'vitest';
import { OnnxGraph, onnxElemType, tensor, type Tensor } from '../../onnx/graph';
import { inferNodeTypes } from '../../onnx/shapes';
import { expectConvertsLikeTfjs, randomFloats, runOnnx } from '../../test-util/convert';
import { TfGraphBuilder } from '../tf/builder';
import { identityPass } from './identity';

async function runAndCompare(g: OnnxGraph, feeds: Record<string, Tensor>): Promise<number> {
  const before = await runOnnx(g, feeds);
  const changes = identityPass.run(g);
  expect(await runOnnx(g, feeds)).toEqual(before);
  return changes;
}

const x23 = () => tensor('float32', [2, 3], randomFloats(6));

describe('identityPass', () => {
  it('removes Identity, inference Dropout, same-type Cast, same-shape Reshape and identity Transpose', async () => {
    const g = new OnnxGraph('t', inferNodeTypes);
    const x = g.addInput('x', { dtype: 'float32', shape: [2, 3] });
    let h = g.addNode('Relu', [x]).outputs[0]!;
    h = g.addNode('Identity', [h]).outputs[0]!;
    h = g.addNode('Dropout', [h]).outputs[0]!;
    h = g.addNode('Cast', [h], { attrs: { to: { i: onnxElemType('float32') } } }).outputs[0]!;
    h = g.addNode('Reshape', [h, g.addInitializer('s', tensor('int64', [2], [0, -1]))]).outputs[0]!;
    h = g.addNode('Transpose', [h], { attrs: { perm: { ints: [0, 1] } } }).outputs[0]!;
    g.addOutput(g.addNode('Neg', [h]).outputs[0]!);
    expect(await runAndCompare(g, { x: x23() })).toBe(5);
    expect(g.nodes.map((n) => n.op)).toEqual(['Relu', 'Neg']);
  });

  it('keeps nodes that change something', async () => {
    const g = new OnnxGraph('t', inferNodeTypes);
    const x = g.addInput('x', { dtype: 'float32', shape: [2, 3] });
    const dropMask = g.addNode('Dropout', [x], { outputs: 2 }).outputs;
    g.addOutput(dropMask[1]!);
    g.addOutput(g.addNode('Cast', [x], { attrs: { to: { i: onnxElemType('int32') } } }).outputs[0]!);
    g.addOutput(g.addNode('Reshape', [x, g.addInitializer('s', tensor('int64', [2], [3, -1]))]).outputs[0]!);
    g.addOutput(g.addNode('Transpose', [x], { attrs: { perm: { ints: [1, 0] } } }).outputs[0]!);
    expect(await runAndCompare(g, { x: x23() })).toBe(0);
    expect(g.nodes).toHaveLength(4);
  });

  it('renames the producer for a graph output, unless its result has another use', async () => {
    const g = new OnnxGraph('t', inferNodeTypes);
    const x = g.addInput('x', { dtype: 'float32', shape: [2, 3] });
    const r = g.addNode('Relu', [x]).outputs[0]!;
    g.addNode('Identity', [r], { outputs: ['out'] });
    g.addOutput('out');
    const s = g.addNode('Sigmoid', [x]).outputs[0]!;
    g.addNode('Identity', [s], { outputs: ['out2'] });
    g.addOutput('out2');
    g.addOutput(g.addNode('Neg', [s]).outputs[0]!);
    g.addNode('Identity', [x], { outputs: ['passthrough'] });
    g.addOutput('passthrough');
    expect(await runAndCompare(g, { x: x23() })).toBe(1);
    expect(g.nodes.map((n) => `${n.op}:${n.outputs[0]}`)).toContain('Relu:out');
    expect(g.nodes.filter((n) => n.op === 'Identity').map((n) => n.outputs[0])).toEqual(['out2', 'passthrough']);
  });

  it('turns a no-op that feeds a graph output and shares its input into an Identity', async () => {
    const g = new OnnxGraph('t', inferNodeTypes);
    const x = g.addInput('x', { dtype: 'float32', shape: [2, 3] });
    g.addNode('Transpose', [x], { attrs: { perm: { ints: [0, 1] } }, outputs: ['y'] });
    g.addOutput('y');
    expect(await runAndCompare(g, { x: x23() })).toBe(1);
    expect(g.nodes.map((n) => n.op)).toEqual(['Identity']);
    expect(identityPass.run(g)).toBe(0);
  });

  it('removes the Identity nodes of a converted TensorFlow graph', async () => {
    const b = new TfGraphBuilder();
    const x = b.placeholder('x', [2, 3]);
    const h = b.op('Identity', 'id1', [b.op('Relu', 'relu', [x])]);
    const y = b.op('Identity', 'id2', [b.op('Sigmoid', 'sig', [b.op('Identity', 'id3', [h])])]);
    const feeds = { 'x:0': x23() };
    const g = await expectConvertsLikeTfjs(b.build([x], [y]), feeds, [y], { passes: false });
    await runAndCompare(g, feeds);
    expect(g.nodes.map((n) => n.op)).toEqual(['Relu', 'Sigmoid']);
    expect(g.nodes[1]!.outputs).toEqual(['id2:0']);
  });
});
