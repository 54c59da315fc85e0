import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { tensor } from '../onnx/graph';
import { mapGraph } from './map';
import { runTfjsGraph } from './reference';
import { tfAttr } from './tf/attrs';
import { TfGraphBuilder } from './tf/builder';

describe('mapGraph', () => {
  it('lists every unsupported op with its count before mapping anything', () => {
    const b = new TfGraphBuilder();
    const x = b.placeholder('x', [-1, 4]);
    const a = b.op('FancyOp', 'a', [x]);
    const c = b.op('FancyOp', 'c', [a]);
    const d = b.op('OtherOp', 'd', [c]);
    expect(() => mapGraph(b.build([x], [d]), { inputs: [x], outputs: [d] })).toThrow(/2 op type\(s\).*FancyOp \(2\), OtherOp \(1\)/);
  });

  it('names unknown tensors and suggests close node names', () => {
    const b = new TfGraphBuilder();
    const x = b.placeholder('input_1', [-1, 4]);
    const y = b.op('Identity', 'model/dense/Softmax', [x]);
    expect(() => mapGraph(b.build([x], [y]), { inputs: [x], outputs: ['Softmax:0'] })).toThrow(/Tensor "Softmax:0" is not in the graph. Similar node names: model\/dense\/Softmax/);
    expect(() => mapGraph(b.build([x], [y]), { inputs: ['nope:0'], outputs: [y] })).toThrow(expect.objectContaining({ code: 'ACCEL_ERR_CONVERT_UNKNOWN_TENSOR' }));
  });

  it('names a graph input the outputs need but the cut leaves out', () => {
    const b = new TfGraphBuilder();
    const x = b.placeholder('x', [-1, 4]);
    const scale = b.placeholder('scale', [4]);
    const y = b.op('Mul', 'y', [x, scale]);
    expect(() => mapGraph(b.build([x], [y]), { inputs: [x], outputs: [y] })).toThrow(
      expect.objectContaining({ code: 'ACCEL_ERR_CONVERT_NODE', message: expect.stringMatching(/node "scale" \(op Placeholder\).*add "scale:0"/) }),
    );
  });

  it('runs the reference runtime on a graph written in code', async () => {
    const b = new TfGraphBuilder();
    const x = b.placeholder('x', [-1, 2]);
    const w = b.const('w', tensor('float32', [2, 2], [1, 2, 3, 4]));
    const y = b.op('MatMul', 'y', [x, w], { transpose_a: tfAttr.b(false), transpose_b: tfAttr.b(false) });
    const out = await runTfjsGraph(b.build([x], [y]), { 'x:0': tensor('float32', [1, 2], [1, 1]) }, [y]);
    expect(Array.from(out['y:0']!.data)).toEqual([4, 6]);
    expect(ort).toBeDefined();
  });
});
