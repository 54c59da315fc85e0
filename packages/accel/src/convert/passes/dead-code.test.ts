import { describe, expect, it } from 'vitest';
import { OnnxGraph, tensor } from '../../onnx/graph';
import { inferNodeTypes } from '../../onnx/shapes';
import { expectConvertsLikeTfjs, randomFloats, runOnnx } from '../../test-util/convert';
import { tfAttr } from '../tf/attrs';
import { TfGraphBuilder } from '../tf/builder';
import { deadCodePass } from './dead-code';
import { transposePass } from './transpose';

describe('deadCodePass', () => {
  it('removes nodes and initializers that reach no output, keeping the results', async () => {
    const g = new OnnxGraph('t', inferNodeTypes);
    const x = g.addInput('x', { dtype: 'float32', shape: [2, 4] });
    const unusedInput = g.addInput('u', { dtype: 'float32', shape: [2, 4] });
    const w = g.addInitializer('w', tensor('float32', [4], [1, 2, 3, 4]));
    const spare = g.addInitializer('spare', tensor('float32', [4], [4, 5, 6, 7]));
    g.addInitializer('orphan', tensor('float32', [1], [0]));
    const y = g.addNode('Add', [x, w]).outputs[0]!;
    const dead = g.addNode('Mul', [y, spare]).outputs[0]!;
    g.addNode('Relu', [dead]);
    g.addNode('Neg', [unusedInput]);
    const [first, second] = g.addNode('Split', [y], { attrs: { axis: { i: 1 } }, outputs: 2 }).outputs;
    g.addNode('Exp', [second!]);
    g.addOutput(g.addNode('Sigmoid', [first!]).outputs[0]!);
    const feeds = { x: tensor('float32', [2, 4], randomFloats(8)), u: tensor('float32', [2, 4], randomFloats(8, 2)) };
    const before = await runOnnx(g, feeds);

    expect(deadCodePass.run(g)).toBe(6);
    expect(g.nodes.map((n) => n.op)).toEqual(['Add', 'Split', 'Sigmoid']);
    expect([...g.initializers.keys()]).toEqual([w]);
    expect(g.inputs.map((i) => i.name)).toEqual([x, unusedInput]);
    expect(await runOnnx(g, feeds)).toEqual(before);
    expect(deadCodePass.run(g)).toBe(0);
  });

  it('keeps an initializer that is itself a graph output', () => {
    const g = new OnnxGraph('t');
    const c = g.addInitializer('c', tensor('float32', [1], [1]));
    g.addOutput(c);
    expect(deadCodePass.run(g)).toBe(0);
    expect(g.initializers.has(c)).toBe(true);
  });

  it('cleans up what the transpose pass leaves in a converted TensorFlow conv chain', async () => {
    const b = new TfGraphBuilder();
    const x = b.placeholder('x', [1, 5, 5, 2]);
    const conv = (name: string, input: string, cin: number) => b.op('Conv2D', name, [input, b.const(`${name}_w`, tensor('float32', [3, 3, cin, 3], randomFloats(9 * cin * 3, cin)))], {
      strides: tfAttr.ints([1, 1, 1, 1]), padding: tfAttr.s('SAME'), dilations: tfAttr.ints([1, 1, 1, 1]),
    });
    const y = b.op('Relu', 'r2', [conv('c2', b.op('Relu', 'r1', [conv('c1', x, 2)]), 3)]);
    const feeds = { 'x:0': tensor('float32', [1, 5, 5, 2], randomFloats(50, 9)) };
    const g = await expectConvertsLikeTfjs(b.build([x], [y]), feeds, [y], { passes: false });
    const before = await runOnnx(g, feeds);
    g.initializers.set('leftover', tensor('float32', [1], [1]));
    transposePass.run(g);
    const removed = deadCodePass.run(g);
    expect(removed).toBeGreaterThan(0);
    expect(g.initializers.has('leftover')).toBe(false);
    expect(g.nodes.filter((n) => n.op === 'Transpose')).toHaveLength(2);
    const after = await runOnnx(g, feeds);
    const want = Array.from(before['r2:0']!.data, Number);
    Array.from(after['r2:0']!.data, Number).forEach((v, k) => expect(v).toBeCloseTo(want[k]!, 5));
  });
});
