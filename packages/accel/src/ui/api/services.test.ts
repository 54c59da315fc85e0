import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alive } from '../../deploy/probe';
import { deleteAllServices, deployableImage } from '../../test-util/deploy';
import { tinyClassifier } from '../../test-util/models';
import { waitFor } from '../../test-util/processes';
import { allEvents } from '../../test-util/sse';
import { startTestUi, type TestUi } from '../test-server';

/**
 * The services API over a real deploy: a detached `deploy` job (an `accel job run` process)
 * starts a supervised server on a `local` target, followed over the job log stream.
 */
let ui: TestUi;

beforeAll(async () => {
  ui = await startTestUi();
  await deployableImage(ui.ws, 'tiny-image', 'tiny', tinyClassifier());
  await ui.ws.createCompute({ name: 'box', type: 'local', accelerators: 1 });
  // A service known to the workspace but not running, deployed without keys.
  await ui.ws.createCompute({ name: 'spare', type: 'local', accelerators: 1 });
  await ui.ws.allocate('spare', { kind: 'service', id: 'idle-svc' });
  await ui.ws.createServiceRecord({ name: 'idle-svc', image: 'tiny-image:1', compute: 'spare', target: 'local', state: 'Stopped', scoringUri: '', grpcUri: '', config: { replicas: 1, auth: false }, keys: {}, runtime: {}, errors: '' });
}, 120_000);
afterAll(async () => {
  await deleteAllServices(ui.ws);
  await ui.close();
}, 120_000);

/** A JSON request (test-server's json() types `body` as fetch's, so objects are sent as text here). */
const send = (path: string, method: string, body: unknown) => ui.json(path, { method, body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
const metadata = (uri: string, key?: string) => fetch(`${uri}/v1/models/tiny`, { headers: key ? { authorization: `Bearer ${key}` } : {} }).then((r) => r.status);

describe('services API', () => {
  let scoringUri: string;

  it('deploys with keys through a job that ends once the service is Healthy', async () => {
    const started = await send('/api/services', 'POST', { name: 'web-svc', image: 'tiny-image', compute: 'box', auth: true, timeoutSeconds: 120 });
    expect(started.status).toBe(202);
    expect(started.body).toEqual({ service: 'web-svc', job: expect.stringMatching(/^deploy-/) });

    const events = await allEvents(await ui.call(`/api/jobs/${started.body.job}/log`));
    const end = events.at(-1)!;
    const log = events.filter((e) => e.event === 'log').map((e) => e.data.text).join('');
    expect(end.event).toBe('end');
    expect(end.data.state, log).toBe('succeeded');
    expect(end.data.inputs).toEqual({ name: 'web-svc', image: 'tiny-image', compute: 'box', auth: true, timeoutSeconds: 120 });
    expect(log).toMatch(/web-svc: Healthy/);

    const one = await ui.json(`/api/services/web-svc`);
    expect(one.status).toBe(200);
    expect(Object.keys(one.body).sort()).toEqual(['auth', 'compute', 'config', 'createdAt', 'errors', 'grpcUri', 'image', 'name', 'scoringUri', 'state', 'target', 'updatedAt']);
    expect(one.body).toMatchObject({ name: 'web-svc', state: 'Healthy', image: 'tiny-image:1', compute: 'box', target: 'local', auth: true, scoringUri: end.data.outputs.scoringUri });
    scoringUri = one.body.scoringUri;
    expect(scoringUri).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

    const list = await ui.json('/api/services');
    expect(list.body.map((s: { name: string; state: string; auth: boolean }) => [s.name, s.state, s.auth])).toEqual([['idle-svc', 'Stopped', false], ['web-svc', 'Healthy', true]]);
    expect(JSON.stringify(list.body)).not.toMatch(/"keys"|"runtime"/);
  }, 240_000);

  it('gives the keys, which the service requires; regen-key replaces one and the other keeps working', async () => {
    const keys = (await ui.json('/api/services/web-svc/keys')).body;
    expect(Object.keys(keys).sort()).toEqual(['primary', 'secondary']);
    expect(keys.primary).not.toBe(keys.secondary);
    expect(await metadata(scoringUri)).toBe(401);
    expect(await metadata(scoringUri, keys.primary)).toBe(200);
    expect(await metadata(scoringUri, keys.secondary)).toBe(200);

    const regen = await send('/api/services/web-svc/regen-key', 'POST', { key: 'secondary' });
    expect(regen.status).toBe(200);
    expect(regen.body.primary).toBe(keys.primary);
    expect(regen.body.secondary).not.toBe(keys.secondary);
    expect((await ui.json('/api/services/web-svc/keys')).body).toEqual(regen.body);
    // The server reads its keys file again on its own schedule.
    await waitFor(() => metadata(scoringUri, regen.body.secondary), (s) => s === 200, 'the new secondary key to work');
    await waitFor(() => metadata(scoringUri, keys.secondary), (s) => s === 401, 'the old secondary key to be refused');
    expect(await metadata(scoringUri, keys.primary)).toBe(200);

    expect((await ui.json('/api/services/idle-svc/keys')).body).toEqual({});
    const noAuth = await send('/api/services/idle-svc/regen-key', 'POST', { key: 'primary' });
    expect(noAuth).toMatchObject({ status: 400, body: { error: { code: 'ACCEL_ERR_USAGE', message: expect.stringMatching(/without --auth/) } } });
    expect((await send('/api/services/web-svc/regen-key', 'POST', { key: 'tertiary' })).body.error.message).toMatch(/body\.key/);
  });

  it("returns the service's log", async () => {
    const logs = await ui.json('/api/services/web-svc/logs?tail=50');
    expect(logs.status).toBe(200);
    expect(logs.body.log).toMatch(/ready/);
    expect(logs.body.log.trimEnd().split('\n').length).toBeLessThanOrEqual(50);
    expect((await ui.json('/api/services/web-svc/logs?tail=0')).body.error.message).toMatch(/query\.tail/);
  });

  it('answers at once what the deploy would refuse: bad fields, unknown image or compute, name taken, no free accelerator', async () => {
    const post = (body: Record<string, unknown>) => send('/api/services', 'POST', body);
    const bad = await post({ name: 'Web_Svc', image: 'tiny-image:x', compute: 'box', replicas: 0, autoscale: { min: 2, max: 1, targetUtilization: 70 }, timeoutSeconds: -1, tls: true });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('ACCEL_ERR_BAD_REQUEST');
    for (const field of ['body.name', 'body.image', 'body.replicas', 'body.autoscale.max', 'body.timeoutSeconds']) expect(bad.body.error.message).toContain(`${field}: `);
    expect(bad.body.error.message).toMatch(/Unrecognized key: "tls"/);

    expect(await post({ name: 'new-svc', image: 'nope', compute: 'box' })).toMatchObject({ status: 404, body: { error: { code: 'ACCEL_ERR_ARTIFACT_NOT_FOUND', message: expect.stringMatching(/Image "nope"/) } } });
    expect(await post({ name: 'new-svc', image: 'tiny-image:7', compute: 'box' })).toMatchObject({ status: 404, body: { error: { message: expect.stringMatching(/Image "tiny-image:7".*Versions: 1/) } } });
    expect(await post({ name: 'new-svc', image: 'tiny-image', compute: 'nope' })).toMatchObject({ status: 404, body: { error: { message: expect.stringMatching(/Compute target "nope"/) } } });
    expect(await post({ name: 'new-svc', image: 'tiny-image', compute: 'box', replace: 'ghost-svc' })).toMatchObject({ status: 404, body: { error: { message: expect.stringMatching(/Service "ghost-svc"/) } } });
    expect(await post({ name: 'web-svc', image: 'tiny-image', compute: 'box' })).toMatchObject({ status: 409, body: { error: { code: 'ACCEL_ERR_ALREADY_EXISTS', message: 'Service "web-svc" already exists.' } } });
    expect(await post({ name: 'new-svc', image: 'tiny-image', compute: 'box' })).toMatchObject({
      status: 409,
      body: { error: { code: 'ACCEL_ERR_QUOTA_EXCEEDED', message: expect.stringMatching(/^Compute target "box" has 0 of 1 cpu accelerators free \(1 in use\); 1 requested/) } },
    });
    // None of these started a job.
    expect((await ui.json('/api/jobs?kind=deploy')).body).toHaveLength(1);
  });

  it('404s an unknown service on every route and 400s a malformed name', async () => {
    for (const [method, path] of [['GET', ''], ['GET', '/keys'], ['GET', '/logs'], ['DELETE', '']] as const) {
      const r = await ui.json(`/api/services/ghost-svc${path}`, { method });
      expect(r, `${method} ${path}`).toMatchObject({ status: 404, body: { error: { code: 'ACCEL_ERR_ARTIFACT_NOT_FOUND' } } });
    }
    expect((await send('/api/services/ghost-svc/regen-key', 'POST', { key: 'primary' })).status).toBe(404);
    expect((await ui.json('/api/services/Ghost_Svc')).body.error.message).toMatch(/params\.name: Service name "Ghost_Svc" is invalid/);
  });

  it('deletes: dry run lists it, then it stops, goes and frees its accelerator', async () => {
    const { runtime } = await ui.ws.getService('web-svc');
    const dry = await ui.json('/api/services/web-svc?dryRun=true', { method: 'DELETE' });
    expect(dry).toEqual({ status: 200, body: { wouldDelete: [{ kind: 'service', id: 'web-svc' }] } });
    expect(await metadata(scoringUri)).toBe(401);
    // A misspelt flag is refused, not ignored into a real delete.
    const misspelt = await ui.json('/api/services/web-svc?dryrun=true', { method: 'DELETE' });
    expect(misspelt.status).toBe(400);
    expect(misspelt.body.error.message).toMatch(/query/);
    expect((await ui.ws.getService('web-svc')).name).toBe('web-svc');

    const gone = await ui.json('/api/services/web-svc', { method: 'DELETE' });
    expect(gone).toEqual({ status: 200, body: { deleted: [{ kind: 'service', id: 'web-svc' }] } });
    expect(alive(runtime.supervisorPid as number)).toBe(false);
    expect((await ui.ws.usage()).find((u) => u.compute === 'box')).toMatchObject({ inUse: 0, free: 1, users: [] });
    expect((await ui.json('/api/services/web-svc')).status).toBe(404);
    expect((await ui.json('/api/services/idle-svc?dryRun=maybe', { method: 'DELETE' })).body.error.message).toMatch(/query\.dryRun/);
  });
});
