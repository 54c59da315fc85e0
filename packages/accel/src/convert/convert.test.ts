import { describe, expect, it } from 'vitest';
import { tensor } from '../onnx/graph';
import { smallTfCnn } from '../test-util/convert';
import { convertGraph } from './convert';
import { tfAttr } from './tf/attrs';
import { TfGraphBuilder } from './tf/builder';

describe('convertGraph', () => {
  it('logs each stage, keeps the TensorFlow tensor names and reports the agreement with TF.js', async () => {
    const { graph, input, output } = smallTfCnn();
    const lines: string[] = [];
    const result = await convertGraph(graph, { log: (l) => lines.push(l), samples: 3 });
    expect(result.inputs).toEqual([input]);
    expect(result.outputs).toEqual([output]);
    for (const stage of ['mapping', 'validated', 'optimized', 'verified', 'speed (batch 1)']) expect(lines.join('\n')).toContain(stage);
    expect(result.verification!.outputs[0]).toMatchObject({ output, top1Agreement: 1 });
    expect(result.verification!.worstRel).toBeLessThan(1e-5);
    expect(result.validation.ops.find(([op]) => op === 'Transpose')?.[1]).toBe(1);
  });

  it('fails with ACCEL_ERR_CONVERT_MISMATCH when the reference computes something else', async () => {
    // TF.js broadcasts a rank-1 Select condition over the last axis; TensorFlow (and the
    // converter) select whole rows. The check must catch the disagreement.
    const b = new TfGraphBuilder();
    const x = b.placeholder('x', [4, 4]);
    const cond = b.op('Greater', 'cond', [b.const('c', tensor('float32', [4], [1, -1, 1, -1])), b.const('zero', tensor('float32', [], [0]))]);
    const y = b.op('Select', 'y', [cond, x, b.op('Neg', 'neg', [x])]);
    const err = await convertGraph(b.build([x], [y]), { samples: 1 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ACCEL_ERR_CONVERT_MISMATCH', message: expect.stringContaining('output "y:0"') });
  });

  it('needs tensor names when the file declares none', async () => {
    const b = new TfGraphBuilder();
    const x = b.placeholder('x', [1, 2]);
    const y = b.op('Relu', 'y', [x], { T: tfAttr.type('DT_FLOAT') });
    const graph = { ...b.build([x], [y]), signature: undefined };
    await expect(convertGraph(graph, { verify: false })).rejects.toThrow(/declares no input tensors: name them with --input-tensors/);
    const ok = await convertGraph(graph, { inputs: [x], outputs: [y], verify: false });
    expect(ok.outputs).toEqual(['y:0']);
  });
});
