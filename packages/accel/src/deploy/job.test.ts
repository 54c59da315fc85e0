import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deleteAllServices, deployableImage } from '../test-util/deploy';
import { tinyClassifier } from '../test-util/models';
import type { JobRecord } from '../workspace/types';
import { Workspace } from '../workspace/workspace';
import { alive } from './probe';

let dir: string;
let ws: Workspace;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'accel-deploy-job-'));
  ws = await Workspace.open(dir, { create: true });
  await deployableImage(ws, 'tiny-image', 'tiny', tinyClassifier());
  await deployableImage(ws, 'broken-image', 'broken', 'not an ONNX model');
  await ws.createCompute({ name: 'box', type: 'local', accelerators: 1 });
  await ws.createCompute({ name: 'spare', type: 'local', accelerators: 1 });
}, 120_000);
afterAll(async () => {
  await deleteAllServices(ws);
  await ws.close();
  rmSync(dir, { recursive: true, force: true });
}, 120_000);

async function deployJob(inputs: Record<string, unknown>): Promise<{ job: JobRecord; log: string }> {
  const job = await (await ws.startJob('deploy', inputs)).waitForCompletion();
  return { job, log: (await ws.store.jobLog(job.id)).map((c) => c.text).join('') };
}

describe('the deploy job', () => {
  it('deploys to Healthy and reports where to reach the service, never its keys', async () => {
    const { job, log } = await deployJob({ name: 'tiny-svc', image: 'tiny-image:1', compute: 'box', auth: true, timeoutSeconds: 120 });
    expect(job.state, log).toBe('succeeded');
    expect(Object.keys(job.outputs).sort()).toEqual(['grpcUri', 'readySeconds', 'scoringUri', 'service', 'state']);
    expect(job.outputs).toMatchObject({ service: 'tiny-svc', state: 'Healthy', scoringUri: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/) });
    expect(job.outputs.readySeconds).toBeGreaterThan(0);
    expect(log).toMatch(/started supervisor \d+ for tiny-svc[\s\S]*tiny-svc: Healthy[\s\S]*succeeded\n$/);

    const s = await ws.getService('tiny-svc');
    expect(s).toMatchObject({ state: 'Healthy', scoringUri: job.outputs.scoringUri });
    const record = JSON.stringify(await ws.getJob(job.id)) + log;
    for (const key of [s.keys.primary!, s.keys.secondary!]) expect(record).not.toContain(key);
    expect((await fetch(`${s.scoringUri}/v1/models/tiny`, { headers: { authorization: `Bearer ${s.keys.primary}` } })).status).toBe(200);
  }, 180_000);

  it('fails with ACCEL_ERR_QUOTA_EXCEEDED on a full target, changing nothing', async () => {
    const before = await ws.usage();
    const { job, log } = await deployJob({ name: 'second-svc', image: 'tiny-image', compute: 'box' });
    expect(job.state).toBe('failed');
    expect(job.error).toMatch(/^Compute target "box" has 0 of 1 cpu accelerators free \(1 in use\); 1 requested/);
    expect(log).toMatch(/ACCEL_ERR_QUOTA_EXCEEDED\nfailed: Compute target "box"/);
    expect(await ws.store.getService('second-svc')).toBeUndefined();
    expect(await ws.usage()).toEqual(before);
  });

  it('fails a service that never becomes healthy with its error, leaving what `accel deploy` leaves', async () => {
    const { job, log } = await deployJob({ name: 'broken-svc', image: 'broken-image', compute: 'spare', timeoutSeconds: 3 });
    expect(job.state).toBe('failed');
    expect(job.error).toMatch(/^Service "broken-svc" did not become healthy: not healthy after 3 s/);
    expect(log).toMatch(/ACCEL_ERR_SERVICE_FAILED\nfailed: Service "broken-svc"/);
    // As the CLI: a Failed record holding its accelerator, there to inspect and delete.
    const s = await ws.getService('broken-svc');
    expect(s.state).toBe('Failed');
    expect((await ws.usage()).find((u) => u.compute === 'spare')).toMatchObject({ inUse: 1, users: ['service broken-svc'] });

    await ws.delete([{ kind: 'service', id: 'broken-svc' }]);
    expect((await ws.usage()).find((u) => u.compute === 'spare')).toMatchObject({ inUse: 0 });
    expect(alive(s.runtime.supervisorPid as number)).toBe(false);
  }, 120_000);

  it('fails at once on bad inputs, naming each, before anything is made', async () => {
    const { job, log } = await deployJob({ name: 'Bad_Name', image: 'tiny-image:0', compute: 'spare', replicas: 0, autoscale: { min: 3, max: 2, targetUtilization: 70 }, keys: 'x' });
    expect(job.state).toBe('failed');
    expect(job.error).toMatch(/^Malformed request: /);
    for (const field of ['inputs.name', 'inputs.image', 'inputs.replicas', 'inputs.autoscale.max', 'inputs']) expect(job.error).toContain(`${field}: `);
    expect(job.error).toMatch(/Unrecognized key: "keys"/);
    expect(log).toMatch(/^ACCEL_ERR_BAD_REQUEST\n/);
    expect((await ws.listServices()).map((s) => s.name)).toEqual(['tiny-svc']);
  });
});
