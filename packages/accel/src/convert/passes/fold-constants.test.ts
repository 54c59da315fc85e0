import { describe, expect, it } from 'vitest';
import { OnnxGraph, tensor, type Tensor } from '../../onnx/graph';
import { inferNodeTypes } from '../../onnx/shapes';
import { randomFloats, runOnnx } from '../../test-util/convert';
import { foldConstants } from './fold-constants';

const i64 = (values: number[]): Tensor => tensor('int64', [values.length], values);
const newGraph = () => new OnnxGraph('fold', inferNodeTypes);

/** Runs the graph before and after the pass on the same feeds; expects identical outputs and returns the folded count. */
async function foldKeepsResults(g: OnnxGraph, feeds: Record<string, Tensor>): Promise<number> {
  const before = await runOnnx(g, feeds);
  const folded = foldConstants.run(g);
  const after = await runOnnx(g, feeds);
  for (const o of g.outputs) {
    expect(after[o.name].dims).toEqual(before[o.name].dims);
    expect(Array.from(after[o.name].data)).toEqual(Array.from(before[o.name].data));
  }
  return folded;
}

describe('foldConstants', () => {
  it('folds TF-style shape arithmetic on a static input down to a constant Reshape target', async () => {
    const g = newGraph();
    const x = g.addInput('x', { dtype: 'float32', shape: [2, 3, 4] });
    const shape = g.addNode('Shape', [x]).outputs[0];
    const batch = g.addNode('Gather', [shape, g.addInitializer('zero', tensor('int64', [], [0]))]).outputs[0];
    const batch1 = g.addNode('Unsqueeze', [batch, g.addInitializer('axes', i64([0]))]).outputs[0];
    const target = g.addNode('Concat', [batch1, g.addInitializer('rest', i64([-1]))], { attrs: { axis: { i: 0 } } }).outputs[0];
    const y = g.addNode('Reshape', [x, target], { outputs: ['y'] }).outputs[0];
    g.addOutput(y);
    const folded = await foldKeepsResults(g, { x: tensor('float32', [2, 3, 4], randomFloats(24)) });
    expect(folded).toBe(4);
    expect(g.nodes.map((n) => n.op)).toEqual(['Reshape']);
    expect(Array.from(g.initializers.get(g.nodes[0].inputs[1])!.data as BigInt64Array)).toEqual([2n, -1n]);
    expect(g.types.get(g.nodes[0].inputs[1])).toEqual({ dtype: 'int64', shape: [2] });
  });

  it('leaves Shape of a symbolic input to run time', () => {
    const g = newGraph();
    const x = g.addInput('x', { dtype: 'float32', shape: ['N', 3] });
    const s = g.addNode('Shape', [x], { outputs: ['s'] }).outputs[0];
    const size = g.addNode('Size', [x], { outputs: ['n'] }).outputs[0];
    g.addNode('Shape', [x], { attrs: { start: { i: 1 } }, outputs: ['c'] });
    g.addOutput(s);
    g.addOutput(size);
    expect(foldConstants.run(g)).toBe(1);
    expect(g.nodes.map((n) => n.op)).toEqual(['Shape', 'Size']);
    expect(Array.from(g.initializers.get('c')!.data as BigInt64Array)).toEqual([3n]);
  });

  it('folds weight preprocessing feeding a Conv and keeps the results', async () => {
    const g = newGraph();
    const x = g.addInput('x', { dtype: 'float32', shape: [1, 2, 5, 5] });
    const hwio = g.addInitializer('w', tensor('float32', [3, 3, 2, 4], randomFloats(72, 3)));
    const oihw = g.addNode('Transpose', [hwio], { attrs: { perm: { ints: [3, 2, 0, 1] } } }).outputs[0];
    const scaled = g.addNode('Mul', [oihw, g.addInitializer('s', tensor('float32', [4, 1, 1, 1], [0.5, 2, -1, 3]))]).outputs[0];
    const y = g.addNode('Conv', [x, scaled], { outputs: ['y'] }).outputs[0];
    g.addOutput(y);
    expect(await foldKeepsResults(g, { x: tensor('float32', [1, 2, 5, 5], randomFloats(50, 4)) })).toBe(2);
    expect(g.nodes.map((n) => n.op)).toEqual(['Conv']);
  });

  it('keeps a node that produces a graph output, results over the size limit, and invalid values', () => {
    const g = newGraph();
    const out = g.addNode('Add', [g.addInitializer('a', i64([1])), g.addInitializer('b', i64([2]))], { outputs: ['out'] }).outputs[0];
    g.addOutput(out);
    g.addNode('ConstantOfShape', [g.addInitializer('big', i64([2048, 2049]))], { outputs: ['huge'] });
    g.addNode('Div', [g.addInitializer('n', tensor('int32', [1], [4])), g.addInitializer('z', tensor('int32', [1], [0]))], { outputs: ['bad'] });
    g.addNode('Transpose', [g.addInitializer('w', { dtype: 'float32', dims: [2049, 2048], data: new Float32Array(2049 * 2048) })], { outputs: ['wt'] });
    g.addNode('ConstantOfShape', [g.addInitializer('small', i64([2, 2]))], { outputs: ['ok'] });
    expect(foldConstants.run(g)).toBe(1);
    expect(g.nodes.map((n) => n.outputs[0])).toEqual(['out', 'huge', 'bad', 'wt']);
    expect(g.initializers.get('ok')!.dims).toEqual([2, 2]);
  });

  it('folds Constant nodes and multi-output Split into initializers', () => {
    const g = newGraph();
    g.addNode('Constant', [], { attrs: { value_ints: { ints: [4, 5, 6] } }, outputs: ['k'] });
    g.addNode('Split', ['k', g.addInitializer('parts', i64([1, 2]))], { outputs: ['p', 'q'] });
    expect(foldConstants.run(g)).toBe(2);
    expect(g.nodes).toEqual([]);
    expect(Array.from(g.initializers.get('q')!.data as BigInt64Array)).toEqual([5n, 6n]);
    expect(foldConstants.run(g)).toBe(0);
  });
});
