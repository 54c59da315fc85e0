import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWorkspaceKey, deleteWorkspaceKey } from './keys';
import { JSON_BODY_LIMIT } from './server';
import { startTestUi, type TestUi } from './test-server';

let ui: TestUi;

beforeAll(async () => {
  ui = await startTestUi();
});
afterAll(async () => {
  await ui?.close();
});

/** One call per route of docs/ui-api.md, plus an unknown one: the key check comes before routing. */
const API: Array<[string, string]> = [
  ['GET', '/api/models'], ['GET', '/api/models/m/versions/1'], ['POST', '/api/models'], ['PATCH', '/api/models/m/versions/1/tags'],
  ['DELETE', '/api/models/m/versions/1'], ['POST', '/api/models/m/versions/1/convert'], ['POST', '/api/models/m/versions/1/quantize'],
  ['GET', '/api/jobs'], ['GET', '/api/jobs/j'], ['GET', '/api/jobs/j/log'], ['POST', '/api/jobs/j/cancel'],
  ['GET', '/api/images'], ['GET', '/api/images/i/versions/1'], ['POST', '/api/images'], ['GET', '/api/images/i/versions/1/log'], ['DELETE', '/api/images/i/versions/1'],
  ['GET', '/api/compute'], ['POST', '/api/compute'], ['DELETE', '/api/compute/c'],
  ['GET', '/api/services'], ['GET', '/api/services/s'], ['GET', '/api/services/s/keys'], ['POST', '/api/services/s/regen-key'], ['GET', '/api/services/s/logs'],
  ['POST', '/api/services'], ['DELETE', '/api/services/s'], ['POST', '/api/services/s/score'], ['GET', '/api/services/s/metrics'],
  ['GET', '/api/lineage'], ['GET', '/api/no-such-thing'],
];

const status = async (method: string, path: string, key?: string) =>
  (await ui.call(path, { method, headers: key === undefined ? {} : { authorization: `Bearer ${key}` } })).status;

describe('workspace key', () => {
  it('leaves the API open while the workspace has no key', async () => {
    expect((await ui.json('/api/health')).body).toEqual({ ok: true, workspace: ui.dir, metadata: 'sqlite', auth: false });
    expect((await ui.json('/api/models')).status).toBe(200);
  });

  it('then guards every /api route but health: 401 without or with a wrong key, served with the right one', async () => {
    const key = createWorkspaceKey(ui.dir);
    expect((await ui.json('/api/health')).body).toMatchObject({ ok: true, auth: true });
    for (const [method, path] of API) {
      for (const sent of [undefined, 'wrong-key', `${key}x`]) {
        const r = await ui.call(path, { method, headers: sent === undefined ? {} : { authorization: `Bearer ${sent}` } });
        const body = await r.json();
        expect([r.status, body.error.code], `${method} ${path} with ${sent ?? 'no key'}`).toEqual([401, 'ACCEL_ERR_UNAUTHENTICATED']);
        expect(r.headers.get('www-authenticate')).toBe('Bearer realm="accel"');
      }
      expect(await status(method, path, key), `${method} ${path} with the key`).not.toBe(401);
    }
    expect(await status('GET', '/api/lineage', key)).toBe(200);
  });

  it('serves the pages without a key: they hold no data', async () => {
    const index = await ui.call('/');
    expect(index.status).toBe(200);
    expect(index.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await index.text()).toMatch(/<html/i);
    expect((await ui.call('/app.js')).status).toBe(200);
  });

  it('is open again once the key is deleted', async () => {
    expect(deleteWorkspaceKey(ui.dir)).toBe(true);
    expect((await ui.json('/api/models')).status).toBe(200);
    expect((await ui.json('/api/health')).body.auth).toBe(false);
  });
});

describe('errors', () => {
  it('answers an unknown /api path with 404 ACCEL_ERR_NO_ROUTE', async () => {
    const r = await ui.json('/api/modelz?x=1', { method: 'POST' });
    expect([r.status, r.body.error]).toEqual([404, { code: 'ACCEL_ERR_NO_ROUTE', message: 'No API at POST /api/modelz. See the REST API in the README.' }]);
  });

  it('answers bad JSON with 400, a body over the JSON limit with 413, another content type with 400', async () => {
    const bad = await ui.json('/api/compute', { method: 'POST', body: '{"name": ', headers: { 'content-type': 'application/json' } });
    expect([bad.status, bad.body.error.code]).toEqual([400, 'ACCEL_ERR_BAD_REQUEST']);
    expect(bad.body.error.message).toContain('not valid JSON');
    const big = JSON.stringify({ name: 'box', type: 'local', accelerators: 1, properties: { blob: 'x'.repeat(JSON_BODY_LIMIT) } });
    const tooLarge = await ui.json('/api/compute', { method: 'POST', body: big, headers: { 'content-type': 'application/json' } });
    expect([tooLarge.status, tooLarge.body.error.code]).toEqual([413, 'ACCEL_ERR_TOO_LARGE']);
    const text = await ui.json('/api/compute', { method: 'POST', body: 'name=box', headers: { 'content-type': 'text/plain' } });
    expect([text.status, text.body.error.code]).toEqual([400, 'ACCEL_ERR_BAD_REQUEST']);
    expect(await ui.ws.listComputes()).toEqual([]);
  });
});
