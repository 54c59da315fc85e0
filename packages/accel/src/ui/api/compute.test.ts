import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tinyClassifier } from '../../test-util/models';
import { startTestUi, type TestUi } from '../test-server';

let ui: TestUi;

beforeAll(async () => {
  ui = await startTestUi();
});
afterAll(async () => {
  await ui?.close();
});

describe('compute targets', () => {
  it('creates a target (201) and lists it with its usage, like `accel compute create` and `accel usage`', async () => {
    expect((await ui.json('/api/compute')).body).toEqual([]);
    const r = await ui.json('/api/compute', { method: 'POST', body: { name: 'box', type: 'local', accelerators: 2 } });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ name: 'box', type: 'local', acceleratorType: 'cpu', accelerators: 2, state: 'Succeeded', errors: [], properties: {}, inUse: 0, free: 2, users: [] });
    expect((await ui.json('/api/compute')).body).toEqual([r.body]);
    const again = await ui.json('/api/compute', { method: 'POST', body: { name: 'box', type: 'local', accelerators: 1 } });
    expect([again.status, again.body.error.code]).toEqual([409, 'ACCEL_ERR_ALREADY_EXISTS']);
  });

  it('answers a failed provisioning with the error the CLI gives, and keeps the Failed record to inspect', async () => {
    const body = { name: 'cluster', type: 'kubernetes', accelerators: 1, properties: { kubeconfig: join(ui.dir, 'no-such-kubeconfig') } };
    const r = await ui.json('/api/compute', { method: 'POST', body });
    expect([r.status, r.body.error.code]).toEqual([409, 'ACCEL_ERR_COMPUTE_UNAVAILABLE']);
    expect(r.body.error.message).toBe(`Compute target "cluster" is Failed: no kubeconfig at ${body.properties.kubeconfig}: set KUBECONFIG or pass --property kubeconfig=FILE.`);
    const listed = (await ui.json('/api/compute')).body;
    expect(listed.map((c: { name: string; state: string }) => [c.name, c.state])).toEqual([['box', 'Succeeded'], ['cluster', 'Failed']]);
    expect((await ui.json('/api/compute/cluster', { method: 'DELETE' })).body).toEqual({ deleted: [{ kind: 'compute', id: 'cluster' }] });
  });

  it('refuses bad bodies and names', async () => {
    const bad = [
      { name: 'x', type: 'gpu-farm', accelerators: 1 },
      { name: 'x', type: 'local', accelerators: 0 },
      { name: 'x', type: 'local', accelerators: 1.5 },
      { name: 'x', type: 'local', accelerators: 1, acceleratorType: 'tpu' },
      { name: 'X', type: 'local', accelerators: 1 },
      { name: 'x', type: 'local', accelerators: 1, properties: { kubeconfig: 3 } },
      { name: 'x', type: 'local', accelerators: 1, replicas: 2 },
      { type: 'local', accelerators: 1 },
    ];
    for (const body of bad) {
      const r = await ui.json('/api/compute', { method: 'POST', body });
      expect([r.status, r.body.error.code], JSON.stringify(body)).toEqual([400, 'ACCEL_ERR_BAD_REQUEST']);
    }
    expect((await ui.json('/api/compute/Box', { method: 'DELETE' })).status).toBe(400);
    expect((await ui.json('/api/compute/nope', { method: 'DELETE' })).body.error.code).toBe('ACCEL_ERR_ARTIFACT_NOT_FOUND');
    expect((await ui.ws.listComputes()).map((c) => c.name)).toEqual(['box']);
  });

  it('shows who holds accelerators, refuses to delete a used target, and cascades in order', async () => {
    writeFileSync(join(ui.dir, 'tiny.onnx'), tinyClassifier());
    const model = await ui.ws.registerModel(join(ui.dir, 'tiny.onnx'), { name: 'tiny' });
    const image = await ui.ws.createImageRecord({ name: 'tiny-image', models: [model.id] });
    await ui.ws.createServiceRecord({ name: 'svc', image: image.id, compute: 'box', target: 'local', state: 'Stopped', scoringUri: '', grpcUri: '', config: {}, keys: {}, runtime: {}, errors: '' });
    await ui.ws.allocate('box', { kind: 'service', id: 'svc' });

    expect((await ui.json('/api/compute')).body[0]).toMatchObject({ name: 'box', inUse: 1, free: 1, users: ['service svc'] });
    const inUse = await ui.json('/api/compute/box', { method: 'DELETE' });
    expect([inUse.status, inUse.body.error.code]).toEqual([409, 'ACCEL_ERR_IN_USE']);
    const plan = [{ kind: 'service', id: 'svc' }, { kind: 'compute', id: 'box' }];
    expect((await ui.json('/api/compute/box?cascade=true&dryRun=true', { method: 'DELETE' })).body).toEqual({ wouldDelete: plan });
    expect((await ui.json('/api/compute/box?cascade=yes', { method: 'DELETE' })).status).toBe(400);
    expect((await ui.json('/api/compute/box?cascade=true', { method: 'DELETE' })).body).toEqual({ deleted: plan });
    expect((await ui.json('/api/compute')).body).toEqual([]);
    expect(await ui.ws.listServices()).toEqual([]);
  });
});
