import { describe, expect, it } from 'vitest';
import type { MetadataStore, NewModel } from './types';

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

    it('lists the digests records point at', async () => {
      const s = await open();
      try {
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
