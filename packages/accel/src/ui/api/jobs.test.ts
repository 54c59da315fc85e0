import { hostname } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobRecord } from '../../workspace/types';
import { startTestUi, type TestUi } from '../test-server';

let ui: TestUi;
let verified: JobRecord;
let queued: JobRecord;

beforeAll(async () => {
  ui = await startTestUi();
  verified = await (await ui.ws.startJob('verify', {})).waitForCompletion();
  // A job no process has picked up (as after `accel job run` failed to start).
  queued = await ui.ws.store.createJob({ id: 'convert-queued-1', kind: 'convert', inputs: { model: 'm' }, host: hostname() });
});
afterAll(() => ui.close());

describe('jobs API', () => {
  it('lists jobs newest first, filtered by kind and state', async () => {
    const all = await ui.json<JobRecord[]>('/api/jobs');
    expect(all.status).toBe(200);
    expect(all.body.map((j) => j.id)).toEqual([queued.id, verified.id]);

    expect((await ui.json<JobRecord[]>('/api/jobs?kind=verify')).body.map((j) => j.id)).toEqual([verified.id]);
    expect((await ui.json<JobRecord[]>('/api/jobs?state=queued')).body.map((j) => j.id)).toEqual([queued.id]);
    expect((await ui.json<JobRecord[]>('/api/jobs?kind=verify&state=failed')).body).toEqual([]);
  });

  it('refuses a state that is not a job state, naming the field', async () => {
    const r = await ui.json('/api/jobs?state=done');
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('ACCEL_ERR_BAD_REQUEST');
    expect(r.body.error.message).toBe('Malformed request: query.state: Invalid option: expected one of "queued"|"running"|"succeeded"|"failed"|"cancelled".');
  });

  it('shows one job, with its outputs; 404 for an unknown one and 400 for a malformed id', async () => {
    const one = await ui.json<JobRecord>(`/api/jobs/${verified.id}`);
    expect(one).toMatchObject({ status: 200, body: { id: verified.id, kind: 'verify', state: 'succeeded', outputs: { blobs: 0 } } });

    const missing = await ui.json('/api/jobs/verify-missing-1');
    expect(missing).toMatchObject({ status: 404, body: { error: { code: 'ACCEL_ERR_ARTIFACT_NOT_FOUND', message: expect.stringMatching(/Job "verify-missing-1" does not exist/) } } });
    expect((await ui.json('/api/jobs/a%20b')).body.error.message).toMatch(/params\.id/);
  });

  it('cancels a queued job at once, leaves a finished one as it is, and 404s an unknown one', async () => {
    const cancelled = await ui.json<JobRecord>(`/api/jobs/${queued.id}/cancel`, { method: 'POST' });
    expect(cancelled).toMatchObject({ status: 200, body: { id: queued.id, state: 'cancelled', error: 'cancelled by request' } });
    expect((await ui.ws.store.jobLog(queued.id)).map((c) => c.text)).toEqual(['cancelled before it started\n']);

    const done = await ui.json<JobRecord>(`/api/jobs/${verified.id}/cancel`, { method: 'POST' });
    expect(done).toMatchObject({ status: 200, body: { state: 'succeeded', cancelRequested: false } });
    expect((await ui.json('/api/jobs/verify-missing-1/cancel', { method: 'POST' })).status).toBe(404);
  });
});
