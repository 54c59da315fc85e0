import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tinyClassifier } from '../../test-util/models';
import { startTestUi, type TestUi } from '../test-server';

/**
 * The whole-workspace graph. Records are made with the workspace methods the jobs and commands
 * use (a convert job registers its output with `derivedFrom`); the real jobs' output is covered
 * by models.test.ts and images.test.ts.
 */
let ui: TestUi;

beforeAll(async () => {
  ui = await startTestUi();
});
afterAll(async () => {
  await ui?.close();
});

const node = (kind: string, id: string, extra: Record<string, string> = {}) => ({ id: `${kind}:${id}`, kind, ref: { kind, id }, label: id, ...extra });

describe('GET /api/lineage', () => {
  it('is empty for an empty workspace', async () => {
    expect((await ui.json('/api/lineage')).body).toEqual({ nodes: [], edges: [] });
  });

  it('has every artifact as a node and every edge, users pointing at what they use', async () => {
    const ws = ui.ws;
    const src = join(ui.dir, 'src');
    mkdirSync(src);
    writeFileSync(join(src, 'saved_model.pb'), 'graph');
    const source = await ws.registerModel(src, { name: 'resnet' });
    const out = join(ui.dir, 'out');
    mkdirSync(out);
    writeFileSync(join(out, 'model.onnx'), tinyClassifier());
    const converted = await ws.registerModel(out, { name: 'resnet-onnx', properties: { source: source.id, inputs: 'x:0', outputs: 'y:0' }, derivedFrom: [{ kind: 'model', id: source.id }] });
    writeFileSync(join(ui.dir, 'plain.onnx'), tinyClassifier());
    const plain = await ws.registerModel(join(ui.dir, 'plain.onnx'), { name: 'plain' });
    const image = await ws.createImageRecord({ name: 'resnet-image', models: [converted.id, plain.id] });
    await ws.createCompute({ name: 'box', type: 'local', accelerators: 1 });
    await ws.createServiceRecord({ name: 'svc', image: image.id, compute: 'box', target: 'local', state: 'Healthy', scoringUri: '', grpcUri: '', config: {}, keys: {}, runtime: {}, errors: '' });

    const { nodes, edges } = (await ui.json('/api/lineage')).body;
    expect(nodes).toEqual([
      node('service', 'svc', { state: 'Healthy' }),
      node('compute', 'box'),
      node('image', 'resnet-image:1', { state: 'Building' }),
      node('model', 'plain:1', { stage: 'onnx' }),
      node('model', 'resnet:1', { stage: 'source' }),
      node('model', 'resnet-onnx:1', { stage: 'converted' }),
    ]);
    expect(edges).toEqual([
      { from: 'service:svc', to: 'compute:box', relation: 'uses' },
      { from: 'service:svc', to: 'image:resnet-image:1', relation: 'uses' },
      { from: 'image:resnet-image:1', to: 'model:plain:1', relation: 'uses' },
      { from: 'image:resnet-image:1', to: 'model:resnet-onnx:1', relation: 'uses' },
      { from: 'model:resnet-onnx:1', to: 'model:resnet:1', relation: 'derived_from' },
    ]);
  });

  it('draws no edge to a deleted source, and the derived model keeps its stage', async () => {
    await ui.ws.delete([{ kind: 'model', id: 'resnet:1' }]);
    const { nodes, edges } = (await ui.json('/api/lineage')).body;
    expect(nodes.find((n: { id: string }) => n.id === 'model:resnet-onnx:1')).toMatchObject({ stage: 'converted' });
    expect(nodes.some((n: { id: string }) => n.id === 'model:resnet:1')).toBe(false);
    expect(edges.filter((e: { relation: string }) => e.relation === 'derived_from')).toEqual([]);
  });
});
