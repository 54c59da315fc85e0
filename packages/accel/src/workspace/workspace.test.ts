import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { JobKinds } from './jobs';
import type { ArtifactRef } from './types';
import { Workspace } from './workspace';

let root: string;
let ws: Workspace;
const file = (name: string, content: string | Buffer) => {
  const p = join(root, 'input', name);
  mkdirSync(join(root, 'input'), { recursive: true });
  writeFileSync(p, content);
  return p;
};

beforeEach(async () => {
  root = mkdtempSync(join(tmpdir(), 'accel-ws-'));
  ws = await Workspace.open(join(root, 'ws'), { create: true });
});
afterEach(async () => {
  await ws.close();
  rmSync(root, { recursive: true, force: true });
});

describe('models', () => {
  it('needs init: opening a missing workspace says how to create one', async () => {
    await expect(Workspace.open(join(root, 'nope'))).rejects.toMatchObject({ code: 'ACCEL_ERR_WORKSPACE_NOT_FOUND', message: expect.stringMatching(/accel workspace init/) });
  });

  it('registers versions N+1, keeps one blob per content, downloads what was registered', async () => {
    const p = file('model.onnx', 'weights v1');
    const v1 = await ws.registerModel(p, { name: 'resnet50', tags: { stage: 'dev' }, description: 'first' });
    const v2 = await ws.registerModel(p, { name: 'resnet50' });
    expect([v1.id, v2.id]).toEqual(['resnet50:1', 'resnet50:2']);
    expect(v1).toMatchObject({ size: 10, format: 'file', fileName: 'model.onnx', digest: expect.stringMatching(/^sha256:[0-9a-f]{64}$/) });
    expect(v2.digest).toBe(v1.digest);
    expect(await ws.blobs.list()).toHaveLength(1);
    expect((await ws.getModel('resnet50')).version).toBe(2);
    const out = await ws.downloadModel('resnet50', 1, join(root, 'out'));
    expect(readFileSync(out, 'utf8')).toBe('weights v1');
    await expect(ws.getModel('resnet50', 5)).rejects.toMatchObject({ code: 'ACCEL_ERR_ARTIFACT_NOT_FOUND', message: expect.stringMatching(/"resnet50:5" does not exist.*Versions: 2, 1/) });
  });

  it('stores a folder as one deterministic tar and restores it', async () => {
    const dir = join(root, 'saved_model');
    mkdirSync(join(dir, 'variables'), { recursive: true });
    writeFileSync(join(dir, 'saved_model.pb'), 'graph');
    writeFileSync(join(dir, 'variables', 'variables.index'), 'index');
    const a = await ws.registerModel(dir, { name: 'tf' });
    utimesSync(join(dir, 'saved_model.pb'), new Date(2001, 1, 1), new Date(2001, 1, 1));
    const b = await ws.registerModel(dir, { name: 'tf' });
    expect(a.format).toBe('folder');
    expect(b.digest).toBe(a.digest);
    const out = await ws.downloadModel('tf', undefined, join(root, 'restore'));
    expect(readFileSync(join(out, 'variables', 'variables.index'), 'utf8')).toBe('index');
    expect(readFileSync(join(out, 'saved_model.pb'), 'utf8')).toBe('graph');
  });

  it('refuses bad names, missing paths and unknown models, writing nothing', async () => {
    for (const name of ['ResNet', '-x', 'a'.repeat(64), 'a b', '']) {
      await expect(ws.registerModel(file('m.onnx', 'x'), { name })).rejects.toMatchObject({ code: 'ACCEL_ERR_BAD_NAME' });
    }
    await expect(ws.registerModel(join(root, 'missing.onnx'), { name: 'ok' })).rejects.toMatchObject({ code: 'ACCEL_ERR_USAGE', message: expect.stringMatching(/cannot read .*missing.onnx: ENOENT/) });
    expect(await ws.listModels()).toEqual([]);
    expect(await ws.blobs.list()).toEqual([]);
  });

  it('tags, untags and filters by tag', async () => {
    const p = file('m.onnx', 'x');
    await ws.registerModel(p, { name: 'a', tags: { stage: 'dev' } });
    await ws.registerModel(p, { name: 'b' });
    await ws.tagModel('b', undefined, { stage: 'dev', owner: 'vision' });
    expect((await ws.listModels({ tags: { stage: 'dev' } })).map((m) => m.id)).toEqual(['a:1', 'b:1']);
    expect((await ws.tagModel('b', 1, {}, ['stage'])).tags).toEqual({ owner: 'vision' });
  });
});

describe('dependency graph and delete order', () => {
  /** What the stop hooks saw (the deploy module registers the real one for services). */
  let stopped: string[];

  async function reopen(opts: Parameters<typeof Workspace.open>[1] = {}) {
    await ws.close();
    ws = await Workspace.open(join(root, 'ws'), opts);
  }

  /** The seed: a source model, its conversion, a compute target, an image of the conversion, a service running it. */
  async function seed() {
    stopped = [];
    await reopen({
      deleters: {
        service: async (r, w) => {
          // The hook gets the workspace, to look the service up before it stops it.
          stopped.push(`service ${(await w.getService(r.id)).name}`);
        },
      },
    });
    const src = await ws.registerModel(file('model.pb', 'tf graph'), { name: 'resnet50' });
    const conv = await ws.registerModel(file('model.onnx', 'onnx graph'), { name: 'resnet50-onnx', derivedFrom: [{ kind: 'model', id: src.id }] });
    await ws.createCompute({ name: 'edge', type: 'local', accelerators: 1 });
    const img = await ws.createImageRecord({ name: 'resnet-image', models: [conv.id] });
    mkdirSync(ws.imageDir(img), { recursive: true });
    writeFileSync(join(ws.imageDir(img), 'index.json'), '{"schemaVersion":2}');
    await ws.updateImage(img.name, img.version, { state: 'Succeeded', digest: `sha256:${'c'.repeat(64)}`, size: 19 });
    const service: ArtifactRef = { kind: 'service', id: 'resnet-svc' };
    await ws.allocate('edge', service);
    await ws.createServiceRecord({
      name: 'resnet-svc',
      image: img.id,
      compute: 'edge',
      target: 'local',
      state: 'Healthy',
      scoringUri: 'http://127.0.0.1:8501/v1/models/resnet50-onnx:predict',
      grpcUri: '127.0.0.1:8500',
      config: { replicas: 1 },
      keys: {},
      runtime: { pid: 1 },
      errors: '',
    });
    const image: ArtifactRef = { kind: 'image', id: img.id };
    return { src, conv, image, service, layout: ws.imageDir(img) };
  }

  it('refuses to delete what is used, naming the users and the order that works', async () => {
    const { conv, image } = await seed();
    await expect(ws.delete([{ kind: 'model', id: conv.id }])).rejects.toMatchObject({
      code: 'ACCEL_ERR_IN_USE',
      message: 'model resnet50-onnx:1 is still used by service resnet-svc, image resnet-image:1. Delete in this order: service resnet-svc, then image resnet-image:1, then model resnet50-onnx:1; or delete with --cascade.',
    });
    await expect(ws.delete([image])).rejects.toMatchObject({
      code: 'ACCEL_ERR_IN_USE',
      message: 'image resnet-image:1 is still used by service resnet-svc. Delete in this order: service resnet-svc, then image resnet-image:1; or delete with --cascade.',
    });
    await expect(ws.delete([{ kind: 'compute', id: 'edge' }])).rejects.toMatchObject({
      code: 'ACCEL_ERR_IN_USE',
      message: expect.stringMatching(/^compute edge is still used by service resnet-svc\./),
    });
    expect(stopped).toEqual([]);
    expect((await ws.getService('resnet-svc')).state).toBe('Healthy');
    expect(existsSync(join(ws.imageDir(await ws.getImage('resnet-image')), 'index.json'))).toBe(true);
    // Once the service is gone, the model is still held by the image, which is named.
    await ws.delete([{ kind: 'service', id: 'resnet-svc' }]);
    await expect(ws.delete([{ kind: 'model', id: conv.id }])).rejects.toMatchObject({
      code: 'ACCEL_ERR_IN_USE',
      message: 'model resnet50-onnx:1 is still used by image resnet-image:1. Delete in this order: image resnet-image:1, then model resnet50-onnx:1; or delete with --cascade.',
    });
  });

  it('deletes in the seed order: service, compute, image, model, converted model', async () => {
    const { src, conv, image, service, layout } = await seed();
    expect(await ws.delete([service])).toEqual([service]);
    expect(stopped).toEqual(['service resnet-svc']);
    expect(await ws.listServices()).toEqual([]);
    expect((await ws.usage())[0]).toMatchObject({ inUse: 0, free: 1 });
    await expect(ws.getService('resnet-svc')).rejects.toMatchObject({ code: 'ACCEL_ERR_ARTIFACT_NOT_FOUND' });

    expect(await ws.delete([{ kind: 'compute', id: 'edge' }])).toEqual([{ kind: 'compute', id: 'edge' }]);
    expect(await ws.listComputes()).toEqual([]);

    expect(await ws.delete([image])).toEqual([image]);
    expect(await ws.listImages()).toEqual([]);
    expect(existsSync(layout)).toBe(false);
    expect(readdirSync(join(root, 'ws', 'images'))).toEqual([]);

    // derived_from never blocks: the source goes before its conversion.
    expect(await ws.delete(await ws.modelRefs('resnet50'))).toEqual([{ kind: 'model', id: src.id }]);
    expect((await ws.lineage('resnet50-onnx')).from.map((e) => e.to.id)).toEqual([src.id]);
    expect(await ws.delete(await ws.modelRefs('resnet50-onnx'))).toEqual([{ kind: 'model', id: conv.id }]);
    expect(await ws.listModels()).toEqual([]);
    expect(await ws.blobs.list()).toEqual([]);
    expect(stopped).toEqual(['service resnet-svc']);
  });

  it('cascades in dependency order: stops the service, removes the image layout, frees accelerators and blobs', async () => {
    const { conv, layout } = await seed();
    const dry = await ws.delete(await ws.modelRefs('resnet50-onnx'), { dryRun: true, cascade: true });
    expect(dry.map((r) => `${r.kind} ${r.id}`)).toEqual(['service resnet-svc', 'image resnet-image:1', `model ${conv.id}`]);
    expect(stopped).toEqual([]);
    expect(existsSync(layout)).toBe(true);
    await ws.delete(await ws.modelRefs('resnet50-onnx'), { cascade: true });
    expect(stopped).toEqual(['service resnet-svc']);
    expect(await ws.listServices()).toEqual([]);
    expect(await ws.listImages()).toEqual([]);
    expect(existsSync(layout)).toBe(false);
    expect((await ws.usage())[0]).toMatchObject({ total: 1, inUse: 0, free: 1 });
    expect((await ws.listModels()).map((m) => m.id)).toEqual(['resnet50:1']);
    expect(await ws.blobs.list()).toHaveLength(1);
  });

  it('keeps a service, its record and its accelerator when stopping it fails', async () => {
    await seed();
    await reopen({ deleters: { service: async () => Promise.reject(new Error('runc kill: container "resnet-svc" does not exist')) } });
    await expect(ws.delete([{ kind: 'service', id: 'resnet-svc' }])).rejects.toThrow(/runc kill/);
    expect((await ws.getService('resnet-svc')).state).toBe('Healthy');
    expect((await ws.usage())[0]).toMatchObject({ inUse: 1, users: ['service resnet-svc'] });
    await expect(ws.delete([{ kind: 'image', id: 'resnet-image:1' }])).rejects.toMatchObject({ code: 'ACCEL_ERR_IN_USE' });
  });

  it('refuses to delete an image while its build job runs', async () => {
    const { image, service, layout } = await seed();
    const job = await ws.store.createJob({ id: 'job-build', kind: 'image-build', inputs: {}, host: 'h' });
    await ws.updateImage('resnet-image', 1, { state: 'Building', jobId: job.id });
    const refusal = 'image resnet-image:1 is still being built by job job-build (queued): wait for it (`accel image logs resnet-image:1 --follow`) or cancel it (`accel job cancel job-build`), then delete the image';
    await expect(ws.delete([image], { cascade: true })).rejects.toMatchObject({ code: 'ACCEL_ERR_USAGE', message: refusal });
    // Nothing was deleted, not even the service the cascade would have taken first.
    expect(stopped).toEqual([]);
    expect((await ws.getService('resnet-svc')).name).toBe('resnet-svc');
    await ws.cancelJob(job.id);
    expect(await ws.delete([image], { cascade: true })).toEqual([service, image]);
    expect(existsSync(layout)).toBe(false);
  });

  it('names unknown images and services', async () => {
    await expect(ws.delete([{ kind: 'image', id: 'nope:1' }])).rejects.toMatchObject({ code: 'ACCEL_ERR_ARTIFACT_NOT_FOUND', message: expect.stringMatching(/Image "nope:1" does not exist/) });
    await expect(ws.delete([{ kind: 'service', id: 'nope' }])).rejects.toMatchObject({ code: 'ACCEL_ERR_ARTIFACT_NOT_FOUND', message: expect.stringMatching(/Service "nope" does not exist.*accel service list/) });
  });
});

describe('jobs', () => {
  const kinds = () =>
    new JobKinds<Workspace>()
      .register('count', async (ctx) => {
        for (let i = 1; i <= 3; i++) await ctx.log(`step ${i}`);
        return { counted: 3, input: ctx.inputs.n };
      })
      .register('explode', async (ctx) => {
        await ctx.log('about to fail');
        throw new Error('node "conv1" (Conv2D): unsupported padding');
      })
      .register('forever', async (ctx) => {
        await ctx.log('waiting for cancel');
        while (!ctx.signal.aborted) await new Promise((r) => setTimeout(r, 20));
        return {};
      });

  it('streams the log while waiting and stores outputs', async () => {
    await ws.close();
    ws = await Workspace.open(join(root, 'ws'), { jobKinds: kinds() });
    const handle = await ws.startJob('count', { n: 7 });
    let text = '';
    const out = new Writable({ write: (chunk, _e, cb) => ((text += chunk), cb()) });
    const job = await handle.waitForCompletion({ showOutput: true, out });
    expect(job).toMatchObject({ state: 'succeeded', outputs: { counted: 3, input: 7 }, kind: 'count' });
    expect(text).toBe('step 1\nstep 2\nstep 3\nsucceeded\n');
    expect(job.startedAt && job.endedAt).toBeTruthy();
  });

  it('keeps the log and the error of a failed job', async () => {
    await ws.close();
    ws = await Workspace.open(join(root, 'ws'), { jobKinds: kinds() });
    const job = await (await ws.startJob('explode', {})).waitForCompletion();
    expect(job.state).toBe('failed');
    expect(job.error).toBe('node "conv1" (Conv2D): unsupported padding');
    expect((await ws.store.jobLog(job.id)).map((c) => c.text).join('')).toBe('about to fail\nfailed: node "conv1" (Conv2D): unsupported padding\n');
  });

  it('cancels a running job', async () => {
    await ws.close();
    ws = await Workspace.open(join(root, 'ws'), { jobKinds: kinds() });
    const handle = await ws.startJob('forever', {});
    while ((await ws.getJob(handle.id)).state !== 'running') await new Promise((r) => setTimeout(r, 10));
    await ws.cancelJob(handle.id);
    const job = await handle.waitForCompletion();
    expect(job.state).toBe('cancelled');
    await expect(ws.startJob('nope', {})).rejects.toMatchObject({ code: 'ACCEL_ERR_USAGE', message: expect.stringMatching(/unknown job kind "nope"/) });
  });

  it('marks a job whose process died as failed on the next open', async () => {
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    const job = await ws.store.createJob({ id: 'job-dead', kind: 'verify', inputs: {}, host: (await import('node:os')).hostname() });
    await ws.store.updateJob(job.id, { state: 'running', pid: Number(dead.stdout), startedAt: new Date().toISOString() });
    await ws.close();
    ws = await Workspace.open(join(root, 'ws'));
    const after = await ws.getJob('job-dead');
    expect(after.state).toBe('failed');
    expect(after.error).toMatch(/interrupted: process \d+ ended without finishing the job/);
  });
});

describe('compute targets and quota', () => {
  it('provisions targets, reports failures, and refuses more accelerators than are free', async () => {
    const edge = await ws.createCompute({ name: 'edge', type: 'local', accelerators: 2 });
    expect(edge.state).toBe('Succeeded');
    const gpu = await ws.createCompute({ name: 'gpu', type: 'local', accelerators: 1, acceleratorType: 'cuda' });
    expect(gpu.state).toBe('Failed');
    expect(gpu.errors[0]).toMatch(/cuda/);
    const aks = await ws.createCompute({ name: 'aks', type: 'kubernetes', accelerators: 4, properties: { kubeconfig: join(root, 'none') } });
    expect(aks).toMatchObject({ state: 'Failed', errors: [expect.stringMatching(/no kubeconfig at/)] });
    const kubeconfig = file('kubeconfig', 'apiVersion: v1\nkind: Config\ncurrent-context: prod\n');
    expect((await ws.createCompute({ name: 'aks2', type: 'kubernetes', accelerators: 4, properties: { kubeconfig } })).properties.context).toBe('prod');
    await expect(ws.createCompute({ name: 'edge', type: 'local', accelerators: 1 })).rejects.toMatchObject({ code: 'ACCEL_ERR_ALREADY_EXISTS' });

    await ws.allocate('edge', { kind: 'service', id: 'a' });
    await ws.allocate('edge', { kind: 'service', id: 'b' });
    await expect(ws.allocate('edge', { kind: 'service', id: 'c' })).rejects.toMatchObject({ code: 'ACCEL_ERR_QUOTA_EXCEEDED' });
    await expect(ws.allocate('gpu', { kind: 'service', id: 'c' })).rejects.toMatchObject({ code: 'ACCEL_ERR_COMPUTE_UNAVAILABLE', message: expect.stringMatching(/"gpu" is Failed/) });
    expect((await ws.usage()).find((u) => u.compute === 'edge')).toMatchObject({ total: 2, inUse: 2, free: 0, users: ['service a', 'service b'] });
  });
});

describe('verify and gc', () => {
  it('finds corrupt and missing blobs and names the records using them', async () => {
    const a = await ws.registerModel(file('a.onnx', 'aaaa'), { name: 'a' });
    const b = await ws.registerModel(file('b.onnx', 'bbbb'), { name: 'b' });
    expect((await ws.verify()).ok).toBe(true);
    writeFileSync(await ws.blobs.path(a.digest), 'tampered');
    rmSync(await ws.blobs.path(b.digest));
    const report = await ws.verify();
    expect(report.ok).toBe(false);
    expect(report.corrupt).toEqual([{ digest: a.digest, actual: expect.stringMatching(/^sha256:/) }]);
    expect(report.missing).toEqual([{ digest: b.digest, usedBy: ['model b:1'] }]);
  });

  it('collects unreferenced blobs once they are older than the grace period', async () => {
    const orphan = await ws.blobs.putBytes('orphan');
    expect((await ws.gc()).removed).toEqual([]);
    const old = new Date(Date.now() - 3_600_000);
    utimesSync(await ws.blobs.path(orphan.digest), old, old);
    expect((await ws.gc()).removed).toEqual([orphan.digest]);
    expect(readdirSync(join(root, 'ws', 'blobs')).sort()).toContain('sha256');
  });
});
