import { describe, expect, it } from 'vitest';
import type { MetadataStore, NewImage, NewModel, ServiceRecord } from './types';

/** Behaviour every MetadataStore must have; run against SQLite and PostgreSQL. */
export function describeStoreContract(backend: string, open: () => Promise<MetadataStore>): void {
  const model = (name: string, extra: Partial<NewModel> = {}): NewModel => ({
    name,
    digest: `sha256:${'a'.repeat(64)}`,
    size: 10,
    format: 'file',
    fileName: 'model.onnx',
    description: '',
    tags: {},
    properties: {},
    ...extra,
  });

  const image = (name: string, extra: Partial<NewImage> = {}): NewImage => ({
    name,
    state: 'Building',
    digest: '',
    size: 0,
    location: `images/${name}/{version}`,
    models: ['m:1'],
    tags: {},
    jobId: '',
    error: '',
    ...extra,
  });
  const service = (name: string, extra: Partial<ServiceRecord> = {}): Omit<ServiceRecord, 'createdAt' | 'updatedAt'> => ({
    name,
    image: 'img:1',
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

  describe(`MetadataStore contract (${backend})`, () => {
    it('numbers versions per name and returns the latest by default', async () => {
      const s = await open();
      try {
        expect((await s.insertModel(model('alpha'))).version).toBe(1);
        expect((await s.insertModel(model('alpha', { description: 'second' }))).id).toBe('alpha:2');
        expect((await s.insertModel(model('beta'))).version).toBe(1);
        expect((await s.getModel('alpha'))?.description).toBe('second');
        expect((await s.getModel('alpha', 1))?.version).toBe(1);
        expect(await s.getModel('alpha', 9)).toBeUndefined();
        expect((await s.listModels()).map((m) => m.id)).toEqual(['alpha:2', 'alpha:1', 'beta:1']);
        expect((await s.listModels({ name: 'beta' })).map((m) => m.id)).toEqual(['beta:1']);
      } finally {
        await s.close();
      }
    });

    it('gives concurrent inserts of one name distinct, consecutive versions', async () => {
      const s = await open();
      try {
        const versions = await Promise.all(Array.from({ length: 20 }, () => s.insertModel(model('race')).then((m) => m.version)));
        expect([...versions].sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
      } finally {
        await s.close();
      }
    });

    it('filters by tags and updates them', async () => {
      const s = await open();
      try {
        await s.insertModel(model('tagged', { tags: { stage: 'dev', team: 'vision' } }));
        await s.insertModel(model('tagged', { tags: { stage: 'prod' } }));
        expect((await s.listModels({ tags: { stage: 'dev' } })).map((m) => m.id)).toEqual(['tagged:1']);
        const updated = await s.updateModelTags('tagged', 1, { stage: 'prod', owner: 'me' }, ['team']);
        expect(updated?.tags).toEqual({ stage: 'prod', owner: 'me' });
        expect((await s.listModels({ tags: { stage: 'prod' } })).map((m) => m.id)).toEqual(['tagged:2', 'tagged:1']);
        expect(await s.updateModelTags('tagged', 7, {}, [])).toBeUndefined();
      } finally {
        await s.close();
      }
    });

    it('keeps edges both ways and drops those of a deleted model', async () => {
      const s = await open();
      try {
        await s.insertModel(model('src'));
        await s.insertModel(model('conv'));
        await s.addEdges({ kind: 'model', id: 'conv:1' }, [{ kind: 'model', id: 'src:1' }], 'derived_from');
        await s.addEdges({ kind: 'image', id: 'img:1' }, [{ kind: 'model', id: 'conv:1' }], 'uses');
        await s.addEdges({ kind: 'image', id: 'img:1' }, [{ kind: 'model', id: 'conv:1' }], 'uses');
        expect(await s.edgesTo({ kind: 'model', id: 'conv:1' })).toEqual([
          { from: { kind: 'image', id: 'img:1' }, to: { kind: 'model', id: 'conv:1' }, relation: 'uses' },
        ]);
        expect((await s.edgesFrom({ kind: 'model', id: 'conv:1' })).map((e) => e.to.id)).toEqual(['src:1']);
        expect((await s.listEdges()).map((e) => `${e.from.id}->${e.to.id}`)).toEqual(['img:1->conv:1', 'conv:1->src:1']);
        expect((await s.listEdges({ fromKind: 'model' })).map((e) => `${e.from.id}->${e.to.id}`)).toEqual(['conv:1->src:1']);
        expect(await s.deleteModel('conv', 1)).toBe(true);
        expect(await s.deleteModel('conv', 1)).toBe(false);
        expect(await s.edgesTo({ kind: 'model', id: 'src:1' })).toEqual([]);
        await s.removeEdgesFrom({ kind: 'image', id: 'img:1' });
        expect(await s.edgesTo({ kind: 'model', id: 'conv:1' })).toEqual([]);
      } finally {
        await s.close();
      }
    });

    it('records jobs, their logs in order, and never reopens a finished job', async () => {
      const s = await open();
      try {
        const job = await s.createJob({ id: 'job-1', kind: 'convert', inputs: { model: 'a:1' }, host: 'h' });
        expect(job).toMatchObject({ state: 'queued', inputs: { model: 'a:1' }, cancelRequested: false, pid: null });
        await s.updateJob('job-1', { state: 'running', pid: 123, startedAt: '2026-01-01T00:00:00.000Z' });
        for (const line of ['one\n', 'two\n', 'three\n']) await s.appendJobLog('job-1', line);
        expect((await s.jobLog('job-1')).map((c) => c.text).join('')).toBe('one\ntwo\nthree\n');
        expect((await s.jobLog('job-1', 2)).map((c) => c.seq)).toEqual([3]);
        await s.updateJob('job-1', { cancelRequested: true });
        expect((await s.finishJob('job-1', { state: 'cancelled', error: 'cancelled by user' }))?.state).toBe('cancelled');
        expect((await s.finishJob('job-1', { state: 'succeeded', outputs: { x: 1 } }))?.state).toBe('cancelled');
        await s.createJob({ id: 'job-2', kind: 'verify', inputs: {}, host: 'h' });
        expect((await s.listJobs({ kind: 'verify' })).map((j) => j.id)).toEqual(['job-2']);
        expect((await s.listJobs({ states: ['queued', 'running'] })).map((j) => j.id)).toEqual(['job-2']);
        expect((await s.getJob('job-1'))?.cancelRequested).toBe(true);
      } finally {
        await s.close();
      }
    });

    it('allocates accelerators atomically and refuses more than are free', async () => {
      const s = await open();
      try {
        await s.insertCompute({ name: 'edge', type: 'local', acceleratorType: 'cpu', accelerators: 2, state: 'Succeeded', errors: [], properties: {} });
        await expect(s.insertCompute({ name: 'edge', type: 'local', acceleratorType: 'cpu', accelerators: 1, state: 'Succeeded', errors: [], properties: {} })).rejects.toMatchObject({
          code: 'ACCEL_ERR_ALREADY_EXISTS',
        });
        const results = await Promise.allSettled(['a', 'b', 'c'].map((id) => s.allocate('edge', { kind: 'service', id }, 1)));
        expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(2);
        const refused = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')!;
        expect(refused.reason).toMatchObject({ code: 'ACCEL_ERR_QUOTA_EXCEEDED' });
        expect(refused.reason.message).toMatch(/has 0 of 2 cpu accelerators free \(2 in use\); 1 requested/);
        await s.release({ kind: 'service', id: 'a' });
        expect((await s.allocations('edge')).length).toBe(1);
        await s.allocate('edge', { kind: 'service', id: 'c' }, 1);
        await expect(s.allocate('nowhere', { kind: 'service', id: 'x' }, 1)).rejects.toMatchObject({ code: 'ACCEL_ERR_ARTIFACT_NOT_FOUND' });
        expect((await s.updateCompute('edge', { state: 'Failed', errors: ['gone'] }))?.errors).toEqual(['gone']);
        expect(await s.deleteCompute('edge')).toBe(true);
      } finally {
        await s.close();
      }
    });

    it('numbers image versions per name, fills in the location, returns the latest by default', async () => {
      const s = await open();
      try {
        const v1 = await s.insertImage(image('vision', { models: ['resnet50:2', 'mobilenet:1'], tags: { stage: 'dev', 'team/owner': 'é ✓' } }));
        expect(v1).toMatchObject({ name: 'vision', version: 1, id: 'vision:1', state: 'Building', location: 'images/vision/1', digest: '', size: 0 });
        expect(v1.createdAt).toMatch(/^\d{4}-\d\d-\d\dT/);
        expect((await s.insertImage(image('vision', { jobId: 'job-2' }))).location).toBe('images/vision/2');
        await s.insertImage(image('text'));
        expect(await s.getImage('vision')).toMatchObject({ id: 'vision:2', jobId: 'job-2', models: ['m:1'] });
        expect(await s.getImage('vision', 1)).toEqual(v1);
        expect((await s.getImage('vision', 1))?.tags).toEqual({ stage: 'dev', 'team/owner': 'é ✓' });
        expect(await s.getImage('vision', 7)).toBeUndefined();
        expect(await s.getImage('nope')).toBeUndefined();
        expect((await s.listImages({ name: 'vision' })).map((i) => i.id)).toEqual(['vision:2', 'vision:1']);
        expect(await s.listImages({ name: 'nope' })).toEqual([]);
      } finally {
        await s.close();
      }
    });

    it('lists images by name in byte order, newest version first', async () => {
      const s = await open();
      try {
        for (const name of ['img_c', 'img.a', 'imgz', 'img-b', 'img.a', 'Img-upper']) await s.insertImage(image(name));
        expect((await s.listImages()).map((i) => i.id)).toEqual(['Img-upper:1', 'img-b:1', 'img.a:2', 'img.a:1', 'img_c:1', 'imgz:1']);
      } finally {
        await s.close();
      }
    });

    it('gives concurrent inserts of one image name distinct, consecutive versions', async () => {
      const s = await open();
      try {
        const images = await Promise.all(Array.from({ length: 20 }, () => s.insertImage(image('race'))));
        expect(images.map((i) => i.version).sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
        expect(images.every((i) => i.location === `images/race/${i.version}`)).toBe(true);
      } finally {
        await s.close();
      }
    });

    it('updates an image version and deletes it with the edges leaving it', async () => {
      const s = await open();
      try {
        await s.insertImage(image('app'));
        await s.insertImage(image('app'));
        const built = await s.updateImage('app', 1, { state: 'Succeeded', digest: `sha256:${'f'.repeat(64)}`, size: 2 ** 40, jobId: 'job-9' });
        expect(built).toMatchObject({ id: 'app:1', state: 'Succeeded', digest: `sha256:${'f'.repeat(64)}`, size: 2 ** 40, jobId: 'job-9', error: '' });
        expect(await s.getImage('app', 1)).toEqual(built);
        expect((await s.updateImage('app', 2, { state: 'Failed', error: 'layer "models": disk full' }))?.error).toBe('layer "models": disk full');
        expect(await s.updateImage('app', 1, {})).toEqual(built);
        expect(await s.updateImage('app', 9, { state: 'Failed' })).toBeUndefined();
        await s.addEdges({ kind: 'image', id: 'app:1' }, [{ kind: 'model', id: 'm:1' }], 'uses');
        await s.addEdges({ kind: 'image', id: 'app:2' }, [{ kind: 'model', id: 'm:1' }], 'uses');
        expect(await s.deleteImage('app', 1)).toBe(true);
        expect(await s.deleteImage('app', 1)).toBe(false);
        expect((await s.edgesTo({ kind: 'model', id: 'm:1' })).map((e) => e.from.id)).toEqual(['app:2']);
        expect((await s.listImages()).map((i) => i.id)).toEqual(['app:2']);
        // Versions keep counting from the highest left.
        expect((await s.insertImage(image('app'))).version).toBe(3);
      } finally {
        await s.close();
      }
    });

    it('records services, refuses a taken name, updates and deletes them', async () => {
      const s = await open();
      try {
        const config = { replicas: 2, autoscale: { min: 1, max: 4, targetUtilization: 70 }, auth: true, tls: false };
        const created = await s.insertService(service('web', { config, keys: { primary: 'k1', secondary: 'k2' } }));
        expect(created).toMatchObject({ name: 'web', image: 'img:1', compute: 'edge', target: 'local', state: 'Transitioning', config, keys: { primary: 'k1', secondary: 'k2' }, runtime: {} });
        expect(created.updatedAt).toBe(created.createdAt);
        await expect(s.insertService(service('web', { image: 'other:1' }))).rejects.toMatchObject({ code: 'ACCEL_ERR_ALREADY_EXISTS', message: 'Service "web" already exists.' });
        expect((await s.getService('web'))?.image).toBe('img:1');
        await s.insertService(service('api'));
        await s.insertService(service('z-last'));
        expect((await s.listServices()).map((x) => x.name)).toEqual(['api', 'web', 'z-last']);

        // Wait for the clock to move past the creation time, so that a new updatedAt shows.
        while (new Date().toISOString() <= created.createdAt) await new Promise((r) => setTimeout(r, 1));
        const runtime = { pid: 4242, ports: [8500, 8501], netns: null, nested: { a: [1, 'two'] } };
        const updated = await s.updateService('web', { state: 'Healthy', scoringUri: 'http://127.0.0.1:8501/v1/models/m:predict', grpcUri: '127.0.0.1:8500', runtime, keys: { primary: 'k3', secondary: 'k2' } });
        expect(updated).toMatchObject({ state: 'Healthy', grpcUri: '127.0.0.1:8500', runtime, keys: { primary: 'k3', secondary: 'k2' }, config, createdAt: created.createdAt, errors: '' });
        expect(updated!.updatedAt > created.createdAt).toBe(true);
        expect(await s.getService('web')).toEqual(updated);
        expect((await s.updateService('web', { state: 'Unhealthy', errors: 'readyz: 503' }))?.errors).toBe('readyz: 503');
        expect(await s.updateService('nope', { state: 'Stopped' })).toBeUndefined();
        expect(await s.getService('nope')).toBeUndefined();

        await s.addEdges({ kind: 'service', id: 'web' }, [{ kind: 'image', id: 'img:1' }, { kind: 'compute', id: 'edge' }], 'uses');
        await s.addEdges({ kind: 'service', id: 'api' }, [{ kind: 'image', id: 'img:1' }], 'uses');
        expect(await s.deleteService('web')).toBe(true);
        expect(await s.deleteService('web')).toBe(false);
        expect((await s.edgesTo({ kind: 'image', id: 'img:1' })).map((e) => e.from.id)).toEqual(['api']);
        expect(await s.edgesTo({ kind: 'compute', id: 'edge' })).toEqual([]);
        // The name is free again.
        expect((await s.insertService(service('web'))).state).toBe('Transitioning');
      } finally {
        await s.close();
      }
    });

    it('lists the digests records point at (models only: image layouts live in folders)', async () => {
      const s = await open();
      try {
        await s.insertImage(image('layout', { digest: `sha256:${'3'.repeat(64)}` }));
        await s.insertModel(model('d1', { digest: `sha256:${'1'.repeat(64)}` }));
        await s.insertModel(model('d2', { digest: `sha256:${'1'.repeat(64)}` }));
        await s.insertModel(model('d3', { digest: `sha256:${'2'.repeat(64)}` }));
        expect([...(await s.referencedDigests())].sort()).toEqual([`sha256:${'1'.repeat(64)}`, `sha256:${'2'.repeat(64)}`]);
      } finally {
        await s.close();
      }
    });
  });
}
