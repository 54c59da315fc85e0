import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ServiceRecord } from './types';
import { Workspace } from './workspace';

let root: string;
let ws: Workspace;

beforeEach(async () => {
  root = mkdtempSync(join(tmpdir(), 'accel-images-'));
  ws = await Workspace.open(join(root, 'ws'), { create: true });
});
afterEach(async () => {
  await ws.close();
  rmSync(root, { recursive: true, force: true });
});

async function model(name: string, content = 'onnx') {
  mkdirSync(join(root, 'in'), { recursive: true });
  writeFileSync(join(root, 'in', 'model.onnx'), content);
  return ws.registerModel(join(root, 'in', 'model.onnx'), { name });
}

const service = (name: string, extra: Partial<ServiceRecord> = {}): Omit<ServiceRecord, 'createdAt' | 'updatedAt'> => ({
  name,
  image: 'vision:1',
  compute: 'edge',
  target: 'local',
  state: 'Transitioning',
  scoringUri: '',
  grpcUri: '',
  config: {},
  keys: {},
  runtime: {},
  errors: '',
  ...extra,
});

describe('images', () => {
  it('records versions in state Building under images/<name>/<version>, using their models', async () => {
    const a1 = await model('resnet50');
    const a2 = await model('resnet50', 'v2');
    const b = await model('mobilenet');
    const v1 = await ws.createImageRecord({ name: 'vision', models: ['resnet50', `${b.id}`, 'resnet50:2'], tags: { stage: 'dev' }, jobId: 'job-1' });
    expect(v1).toMatchObject({ id: 'vision:1', state: 'Building', location: 'images/vision/1', models: [a2.id, b.id], tags: { stage: 'dev' }, jobId: 'job-1', digest: '', size: 0, error: '' });
    expect(ws.imageDir(v1)).toBe(join(root, 'ws', 'images', 'vision', '1'));
    const v2 = await ws.createImageRecord({ name: 'vision', models: [a1.id] });
    expect([v2.id, v2.location, v2.jobId]).toEqual(['vision:2', 'images/vision/2', '']);
    expect((await ws.lineage('resnet50', 1)).to).toEqual([{ from: { kind: 'image', id: 'vision:2' }, to: { kind: 'model', id: a1.id }, relation: 'uses' }]);
    expect((await ws.lineage('mobilenet')).to.map((e) => e.from.id)).toEqual(['vision:1']);

    expect((await ws.getImage('vision')).id).toBe('vision:2');
    const built = await ws.updateImage('vision', 1, { state: 'Succeeded', digest: `sha256:${'d'.repeat(64)}`, size: 1234 });
    expect(await ws.getImage('vision', 1)).toEqual(built);
    expect((await ws.listImages()).map((i) => `${i.id} ${i.state}`)).toEqual(['vision:2 Building', 'vision:1 Succeeded']);
    expect(await ws.listImages({ name: 'other' })).toEqual([]);
  });

  it('names what is missing, with the versions there are', async () => {
    await ws.createImageRecord({ name: 'vision', models: [(await model('m')).id] });
    await expect(ws.getImage('vision', 5)).rejects.toMatchObject({ code: 'ACCEL_ERR_ARTIFACT_NOT_FOUND', message: 'Image "vision:5" does not exist in this workspace. Versions: 1.' });
    await expect(ws.getImage('nope')).rejects.toMatchObject({ message: 'Image "nope" does not exist in this workspace. See `accel image list`.' });
    await expect(ws.updateImage('vision', 3, { state: 'Failed' })).rejects.toMatchObject({ code: 'ACCEL_ERR_ARTIFACT_NOT_FOUND', message: expect.stringMatching(/"vision:3".*Versions: 1\./) });
  });

  it('refuses bad names, no models and unknown models, recording nothing', async () => {
    const m = await model('m');
    await expect(ws.createImageRecord({ name: 'Vision', models: [m.id] })).rejects.toMatchObject({
      code: 'ACCEL_ERR_USAGE',
      message: 'Image name "Vision" is invalid: image names must be lowercase (letters, digits, ".", "_", "-"; at most 63 characters); use "vision"',
    });
    for (const name of ['-x', 'a'.repeat(64), 'a b', 'a/b', '']) {
      await expect(ws.createImageRecord({ name, models: [m.id] })).rejects.toMatchObject({ code: 'ACCEL_ERR_BAD_NAME', message: expect.stringMatching(/^Image name ".*" is invalid: names are lowercase/) });
    }
    expect((await ws.createImageRecord({ name: `a.b_c-${'d'.repeat(57)}`, models: [m.id] })).version).toBe(1);
    await expect(ws.createImageRecord({ name: 'empty', models: [] })).rejects.toMatchObject({ code: 'ACCEL_ERR_USAGE', message: 'image empty needs at least one model' });
    await expect(ws.createImageRecord({ name: 'ghost', models: ['m:1', 'missing:2'] })).rejects.toMatchObject({ code: 'ACCEL_ERR_ARTIFACT_NOT_FOUND', message: expect.stringMatching(/Model "missing:2"/) });
    expect((await ws.listImages()).map((i) => i.name)).toEqual([`a.b_c-${'d'.repeat(57)}`]);
  });
});

describe('services', () => {
  beforeEach(async () => {
    await ws.createImageRecord({ name: 'vision', models: [(await model('m')).id] });
    await ws.createCompute({ name: 'edge', type: 'local', accelerators: 2 });
  });

  it('records a service using its image and compute target, and updates it', async () => {
    const created = await ws.createServiceRecord(service('web', { config: { replicas: 1, auth: true }, keys: { primary: 'p', secondary: 's' } }));
    expect(created).toMatchObject({ name: 'web', image: 'vision:1', compute: 'edge', state: 'Transitioning', keys: { primary: 'p', secondary: 's' } });
    expect(await ws.store.edgesFrom({ kind: 'service', id: 'web' })).toEqual([
      { from: { kind: 'service', id: 'web' }, to: { kind: 'compute', id: 'edge' }, relation: 'uses' },
      { from: { kind: 'service', id: 'web' }, to: { kind: 'image', id: 'vision:1' }, relation: 'uses' },
    ]);
    const healthy = await ws.updateService('web', { state: 'Healthy', scoringUri: 'http://127.0.0.1:8501/v1/models/m:predict' });
    expect(healthy).toMatchObject({ state: 'Healthy', scoringUri: 'http://127.0.0.1:8501/v1/models/m:predict', createdAt: created.createdAt, config: { replicas: 1, auth: true } });
    expect(healthy.updatedAt >= created.updatedAt).toBe(true);
    expect(await ws.getService('web')).toEqual(healthy);
    await ws.createServiceRecord(service('api'));
    expect((await ws.listServices()).map((s) => s.name)).toEqual(['api', 'web']);
  });

  it('refuses a taken name, names that are not RFC 1035 labels, and unknown images or targets', async () => {
    await ws.createServiceRecord(service('web'));
    await expect(ws.createServiceRecord(service('web'))).rejects.toMatchObject({ code: 'ACCEL_ERR_ALREADY_EXISTS', message: 'Service "web" already exists.' });
    for (const name of ['Web', '1web', 'web-', 'my_web', 'web.x', 'a'.repeat(64), '']) {
      await expect(ws.createServiceRecord(service(name))).rejects.toMatchObject({
        code: 'ACCEL_ERR_USAGE',
        message: `Service name "${name}" is invalid: use lowercase letters, digits and '-', starting with a letter and ending with a letter or digit, at most 63 characters (it names Kubernetes objects)`,
      });
    }
    for (const name of ['a', 'web-2', `a${'b'.repeat(62)}`]) expect((await ws.createServiceRecord(service(name))).name).toBe(name);
    await expect(ws.createServiceRecord(service('lost', { image: 'vision:9' }))).rejects.toMatchObject({ code: 'ACCEL_ERR_ARTIFACT_NOT_FOUND', message: expect.stringMatching(/Image "vision:9".*Versions: 1/) });
    await expect(ws.createServiceRecord(service('lost', { compute: 'cloud' }))).rejects.toMatchObject({ code: 'ACCEL_ERR_ARTIFACT_NOT_FOUND', message: expect.stringMatching(/Compute target "cloud"/) });
    expect((await ws.listServices()).map((s) => s.name)).toEqual(['a', `a${'b'.repeat(62)}`, 'web', 'web-2']);
  });

  it('says how to find services when one does not exist', async () => {
    await expect(ws.getService('nope')).rejects.toMatchObject({ code: 'ACCEL_ERR_ARTIFACT_NOT_FOUND', message: 'Service "nope" does not exist in this workspace. See `accel service list`.' });
    await expect(ws.updateService('nope', { state: 'Stopped' })).rejects.toMatchObject({ code: 'ACCEL_ERR_ARTIFACT_NOT_FOUND' });
  });
});
