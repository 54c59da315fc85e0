import { describe, expect, it } from 'vitest';
import { tensor } from '../../onnx/graph';
import { expectConvertsLikeTfjs, randomFloats, runOnnx } from '../../test-util/convert';
import { mapGraph } from '../map';
import { tfAttr } from '../tf/attrs';
import { TfGraphBuilder } from '../tf/builder';
import type { TfAttrValue } from '../tf/graph';

/** Six boxes (y1, x1, y2, x2): two overlapping pairs, one box with flipped corners, one apart. */
const BOXES = [0, 0, 1, 1, 0.05, 0.05, 1.05, 1.05, 2, 2, 3, 3, 3.1, 3.1, 2.1, 2.1, 5, 5, 6, 6, 0.5, 0.5, 1.5, 1.5];
const SCORES = [0.9, 0.75, 0.6, 0.95, 0.3, 0.1];

/** A graph with NonMaxSuppression `op` over fed boxes and scores. */
function nmsGraph(op: string, opts: { max: number; iou: number; score: number; sigma?: number; pad?: boolean }) {
  const b = new TfGraphBuilder();
  const boxes = b.placeholder('boxes', [-1, 4]);
  const scores = b.placeholder('scores', [-1]);
  const inputs = [boxes, scores, b.const('max', 'int32', [], [opts.max]), b.const('iou', 'float32', [], [opts.iou]), b.const('score', 'float32', [], [opts.score])];
  if (opts.sigma !== undefined) inputs.push(b.const('sigma', 'float32', [], [opts.sigma]));
  const attrs: Record<string, TfAttrValue> = opts.pad === undefined ? {} : { pad_to_max_output_size: tfAttr.b(opts.pad) };
  const out = b.op(op, 'nms', inputs, attrs);
  return { b, boxes, scores, out };
}

const feeds = () => ({ 'boxes:0': tensor('float32', [6, 4], BOXES), 'scores:0': tensor('float32', [6], SCORES) });

describe('detection handlers', () => {
  it('selects boxes with NonMaxSuppressionV3', async () => {
    const { b, boxes, scores, out } = nmsGraph('NonMaxSuppressionV3', { max: 10, iou: 0.5, score: 0.2 });
    await expectConvertsLikeTfjs(b.build([boxes, scores], [out]), feeds(), [out]);
  });

  it('stops at max_output_size and pads V4 output to it when asked', async () => {
    for (const pad of [false, true]) {
      const { b, boxes, scores, out } = nmsGraph('NonMaxSuppressionV4', { max: pad ? 6 : 2, iou: 0.5, score: 0, pad });
      await expectConvertsLikeTfjs(b.build([boxes, scores], [out, 'nms:1']), feeds(), [out, 'nms:1'], { passes: false });
    }
  });

  it('returns the kept scores with NonMaxSuppressionV5', async () => {
    const { b, boxes, scores, out } = nmsGraph('NonMaxSuppressionV5', { max: 5, iou: 0.3, score: 0.05, sigma: 0 });
    await expectConvertsLikeTfjs(b.build([boxes, scores], [out, 'nms:1']), feeds(), [out, 'nms:1']);
  });

  // TF.js's V5 returns neither the padding nor valid_outputs: expected by hand (box 3's corners are flipped).
  it('pads V5 indices and scores with zeros and counts the valid ones', async () => {
    const { b, boxes, scores, out } = nmsGraph('NonMaxSuppressionV5', { max: 5, iou: 0.3, score: 0.05, sigma: 0, pad: true });
    const outs = [out, 'nms:1', 'nms:2'];
    const got = await runOnnx(mapGraph(b.build([boxes, scores], outs), { inputs: [boxes, scores], outputs: outs }), feeds());
    expect(got['nms:0']).toEqual({ dims: [5], data: new Int32Array([3, 0, 4, 5, 0]) });
    expect(got['nms:1']).toEqual({ dims: [5], data: new Float32Array([0.95, 0.9, 0.3, 0.1, 0]) });
    expect(got['nms:2']).toEqual({ dims: [], data: new Int32Array([4]) });
  });

  it('refuses soft NMS', () => {
    const { b, boxes, scores, out } = nmsGraph('NonMaxSuppressionV5', { max: 5, iou: 0.3, score: 0, sigma: 0.5 });
    expect(() => mapGraph(b.build([boxes, scores], [out]), { inputs: [boxes, scores], outputs: [out] })).toThrow(/soft NMS/);
  });

  it('takes the top k values and int32 indices of the last axis', async () => {
    const b = new TfGraphBuilder();
    const x = b.placeholder('x', [-1, 3, 8]);
    const top = b.op('TopKV2', 'top', [x, b.const('k', 'int32', [], [3])], { sorted: tfAttr.b(true) });
    const graph = await expectConvertsLikeTfjs(b.build([x], [top, 'top:1']), { 'x:0': tensor('float32', [2, 3, 8], randomFloats(48, 9)) }, [top, 'top:1']);
    expect(graph.outputs[1]!.type.dtype).toBe('int32');
  });
});
