import { describe, expect, it } from 'vitest';
import { tensor } from '../onnx/graph';
import { cutPreprocessing } from './preprocess-cut';
import { tfAttr } from './tf/attrs';
import { TfGraphBuilder } from './tf/builder';

function jpegGraph(normalize: (b: TfGraphBuilder, x: string) => string) {
  const b = new TfGraphBuilder();
  const jpeg = b.placeholder('jpeg', [], 'string');
  const decoded = b.op('DecodeJpeg', 'decode', [jpeg], { channels: tfAttr.i(3) });
  const cast = b.op('Cast', 'cast', [decoded], { DstT: tfAttr.type('DT_FLOAT') });
  const batch = b.op('ExpandDims', 'batch', [cast, b.const('axis', 'int32', [], [0])]);
  const size = b.const('size', 'int32', [2], [299, 320]);
  const resized = b.op('ResizeBilinear', 'resize', [batch, size]);
  const input = normalize(b, resized);
  const y = b.op('Relu', 'net/relu', [input]);
  return { graph: b.build([jpeg], [y]), input };
}

describe('cutPreprocessing', () => {
  it('turns decode -> resize -> (x - mean) / std into a spec and an NHWC float input', () => {
    const { graph, input } = jpegGraph((b, x) => {
      const centred = b.op('Sub', 'sub', [x, b.const('mean', tensor('float32', [3], [123.68, 116.78, 103.94]))]);
      return b.op('RealDiv', 'div', [centred, b.const('std', tensor('float32', [3], [58.4, 57.1, 57.4]))]);
    });
    const cut = cutPreprocessing(graph, input)!;
    expect(cut.ops).toEqual(['DecodeJpeg', 'Cast', 'ExpandDims', 'ResizeBilinear', 'Sub', 'RealDiv']);
    expect(cut.shape).toEqual(['N', 299, 320, 3]);
    expect(cut.spec).toMatchObject({ height: 299, width: 320, layout: 'NHWC', resize: 'stretch', scale: 1 });
    expect(cut.spec.mean.map((v) => Number(v.toFixed(2)))).toEqual([123.68, 116.78, 103.94]);
    expect(cut.spec.std.map((v) => Number(v.toFixed(2)))).toEqual([58.4, 57.1, 57.4]);
  });

  it('reads Inception-style scaling x * (1/127.5) - 1 as mean 127.5, std 127.5', () => {
    const { graph, input } = jpegGraph((b, x) => {
      const scaled = b.op('Mul', 'mul', [x, b.const('k', tensor('float32', [], [1 / 127.5]))]);
      return b.op('Sub', 'sub', [scaled, b.const('one', tensor('float32', [], [1]))]);
    });
    const spec = cutPreprocessing(graph, input)!.spec;
    expect(spec.mean.map((v) => Number(v.toFixed(3)))).toEqual([127.5, 127.5, 127.5]);
    expect(spec.std.map((v) => Number(v.toFixed(3)))).toEqual([127.5, 127.5, 127.5]);
  });

  it('gives nothing for an input fed by a placeholder or by ops it cannot express', () => {
    const b = new TfGraphBuilder();
    const x = b.placeholder('x', [-1, 8, 8, 3]);
    const y = b.op('Relu', 'y', [x]);
    expect(cutPreprocessing(b.build([x], [y]), x)).toBeUndefined();
    const { graph, input } = jpegGraph((bb, r) => bb.op('Sqrt', 'sqrt', [r]));
    expect(cutPreprocessing(graph, input)).toBeUndefined();
  });
});
