import { describe, expect, it } from 'vitest';
import type { Edge, ModelRecord } from '../workspace/types';
import { modelStage } from './stage';

const model = (patch: Partial<ModelRecord>): ModelRecord => ({
  name: 'm', version: 1, id: 'm:1', digest: 'sha256:00', size: 1, format: 'folder', fileName: 'm', description: '', tags: {}, properties: {}, createdAt: '2024-01-01T00:00:00Z', ...patch,
});
const derivedFrom = (id: string): Edge[] => [{ from: { kind: 'model', id: 'm:1' }, to: { kind: 'model', id }, relation: 'derived_from' }];

describe('modelStage', () => {
  it('tells what convert and quantize registered from their edge and properties, not their tags', () => {
    const converted = model({ properties: { source: 'tf:1', inputs: 'x:0', outputs: 'y:0' }, tags: { format: 'onnx' } });
    expect(modelStage(converted, derivedFrom('tf:1'))).toBe('converted');
    const quantized = model({ properties: { source: 'tf-onnx:1', method: 'percentile', top1Agreement: '0.9900', latencyRatioBatch1: '0.5' } });
    expect(modelStage(quantized, derivedFrom('tf-onnx:1'))).toBe('quantized');
    expect(modelStage({ ...quantized, tags: {} }, derivedFrom('tf-onnx:1'))).toBe('quantized');
  });

  it('takes a model without a derived_from edge for what was registered: an ONNX file, or a framework source', () => {
    expect(modelStage(model({ format: 'file', fileName: 'ResNet.ONNX' }), [])).toBe('onnx');
    expect(modelStage(model({ format: 'file', fileName: 'frozen.pb' }), [])).toBe('source');
    expect(modelStage(model({ fileName: 'saved_model' }), [])).toBe('source');
    // Properties alone, without the edge a job adds, are only what the user typed.
    expect(modelStage(model({ properties: { source: 'x:1', method: 'minmax', top1Agreement: '1' } }), [])).toBe('source');
    expect(modelStage(model({ tags: { format: 'onnx' } }), [])).toBe('onnx');
    const uses: Edge[] = [{ from: { kind: 'model', id: 'm:1' }, to: { kind: 'model', id: 'x:1' }, relation: 'uses' }];
    expect(modelStage(model({}), uses)).toBe('source');
  });
});
