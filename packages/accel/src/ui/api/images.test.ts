import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { smallTfCnn, writeTfjsGraphModel } from '../../test-util/convert';
import { folderFiles, jobSucceeds, uploadForm } from '../../test-util/ui';
import { startTestUi, type TestUi } from '../test-server';

/**
 * The seed through the API: a TF.js model uploaded, converted, built into a real OCI image by a
 * detached job whose log streams as server-sent events, shown in the lineage, then deleted.
 */
let ui: TestUi;
let root: string;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'accel-ui-images-'));
  await writeTfjsGraphModel(smallTfCnn().graph, join(root, 'tiny-tf'));
  ui = await startTestUi();
  const up = await ui.json('/api/models', { method: 'POST', body: uploadForm({ name: 'tiny-tf' }, folderFiles(join(root, 'tiny-tf'), 'tiny-tf')) });
  expect(up.status).toBe(201);
  const convert = await ui.json('/api/models/tiny-tf/versions/1/convert', { method: 'POST', body: {} });
  expect(convert.status).toBe(202);
  await jobSucceeds(ui, convert.body.job);
});
afterAll(async () => {
  await ui?.close();
  rmSync(root, { recursive: true, force: true });
});

describe('images', () => {
  it('builds an image as a detached job, streams its build log to the end, and shows it built', async () => {
    const r = await ui.json('/api/images', { method: 'POST', body: { name: 'tiny-image', models: ['tiny-tf-onnx'], tags: { stage: 'test' } } });
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    expect(r.body).toEqual({ image: 'tiny-image:1', job: expect.any(String) });

    const log = await ui.call('/api/images/tiny-image/versions/latest/log');
    expect(log.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const events = await log.text();
    const image = (await ui.json('/api/images/tiny-image/versions/1')).body;
    expect(image.state, `${image.error}\n${events}`).toBe('Succeeded');
    expect(events).toContain('built tiny-image:1');
    const end = /event: end\ndata: (.*)\n/.exec(events);
    expect(JSON.parse(end![1]!)).toMatchObject({ id: r.body.job, kind: 'image-build', state: 'succeeded' });

    expect(image).toMatchObject({ id: 'tiny-image:1', state: 'Succeeded', models: ['tiny-tf-onnx:1'], tags: { stage: 'test' }, jobId: r.body.job });
    expect(image.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(existsSync(join(ui.ws.imageDir(image), 'index.json'))).toBe(true);
    expect((await ui.json('/api/images?name=tiny-image')).body).toEqual([image]);
    expect((await ui.json('/api/images')).body).toEqual([image]);
  });

  it('shows source -> converted -> image in the lineage', async () => {
    const { nodes, edges } = (await ui.json('/api/lineage')).body;
    expect(nodes).toEqual(
      expect.arrayContaining([
        { id: 'model:tiny-tf:1', kind: 'model', ref: { kind: 'model', id: 'tiny-tf:1' }, label: 'tiny-tf:1', stage: 'source' },
        { id: 'model:tiny-tf-onnx:1', kind: 'model', ref: { kind: 'model', id: 'tiny-tf-onnx:1' }, label: 'tiny-tf-onnx:1', stage: 'converted' },
        { id: 'image:tiny-image:1', kind: 'image', ref: { kind: 'image', id: 'tiny-image:1' }, label: 'tiny-image:1', state: 'Succeeded' },
      ]),
    );
    expect(edges).toEqual(
      expect.arrayContaining([
        { from: 'image:tiny-image:1', to: 'model:tiny-tf-onnx:1', relation: 'uses' },
        { from: 'model:tiny-tf-onnx:1', to: 'model:tiny-tf:1', relation: 'derived_from' },
      ]),
    );
  });

  it('refuses bad image requests with the catalogue code', async () => {
    const bad: Array<[unknown, number, string, RegExp]> = [
      [{ name: 'Tiny', models: ['tiny-tf-onnx'] }, 400, 'ACCEL_ERR_BAD_REQUEST', /body\.name: Image name "Tiny" is invalid: image names must be lowercase/],
      [{ name: 'tiny-image', models: [] }, 400, 'ACCEL_ERR_BAD_REQUEST', /body\.models: an image serves at least one model/],
      [{ name: 'tiny-image', models: ['tiny-tf-onnx:abc'] }, 400, 'ACCEL_ERR_BAD_REQUEST', /body\.models\.0: version must be a positive integer/],
      [{ name: 'tiny-image', models: ['tiny-tf-onnx'], replicas: 2 }, 400, 'ACCEL_ERR_BAD_REQUEST', /Unrecognized key: "replicas"/],
      [{ name: 'tiny-image', models: ['nope:1'] }, 404, 'ACCEL_ERR_ARTIFACT_NOT_FOUND', /Model "nope:1" does not exist/],
    ];
    for (const [body, status, code, message] of bad) {
      const r = await ui.json('/api/images', { method: 'POST', body });
      expect([r.status, r.body.error.code], JSON.stringify(body)).toEqual([status, code]);
      expect(r.body.error.message).toMatch(message);
    }
    expect((await ui.json('/api/images/tiny-image/versions/abc')).status).toBe(400);
    expect((await ui.json('/api/images/tiny-image/versions/5')).body.error.code).toBe('ACCEL_ERR_ARTIFACT_NOT_FOUND');
    expect((await ui.json('/api/images/nope/versions/1/log')).status).toBe(404);
    expect((await ui.ws.listImages()).map((i) => i.id)).toEqual(['tiny-image:1']);
  });

  it('answers 404 for the log of an image whose build never started, and refuses to delete one still building', async () => {
    const orphan = await ui.ws.createImageRecord({ name: 'orphan', models: ['tiny-tf-onnx:1'] });
    const log = await ui.json(`/api/images/orphan/versions/${orphan.version}/log`);
    expect([log.status, log.body.error.code]).toEqual([404, 'ACCEL_ERR_ARTIFACT_NOT_FOUND']);
    // A queued job nobody runs: the image counts as being built until it ends.
    const job = await ui.ws.store.createJob({ id: 'job-never-runs', kind: 'image-build', inputs: {}, host: 'elsewhere' });
    await ui.ws.updateImage('orphan', orphan.version, { jobId: job.id });
    const refused = await ui.json('/api/images/orphan/versions/1', { method: 'DELETE' });
    expect([refused.status, refused.body.error.code]).toEqual([400, 'ACCEL_ERR_USAGE']);
    expect(refused.body.error.message).toContain('is still being built by job job-never-runs');
    await ui.ws.cancelJob(job.id);
    expect((await ui.json('/api/images/orphan/versions/1', { method: 'DELETE' })).body).toEqual({ deleted: [{ kind: 'image', id: 'orphan:1' }] });
  });

  it('deletes in dependency order: a dry run lists the image before its model, the delete removes the layout', async () => {
    const model = await ui.json('/api/models/tiny-tf-onnx/versions/1?cascade=true&dryRun=true', { method: 'DELETE' });
    expect(model.body).toEqual({ wouldDelete: [{ kind: 'image', id: 'tiny-image:1' }, { kind: 'model', id: 'tiny-tf-onnx:1' }] });
    expect((await ui.json('/api/images/tiny-image/versions/1?dryRun=true', { method: 'DELETE' })).body).toEqual({ wouldDelete: [{ kind: 'image', id: 'tiny-image:1' }] });
    const layout = ui.ws.imageDir(await ui.ws.getImage('tiny-image', 1));
    expect(existsSync(layout)).toBe(true);
    expect((await ui.json('/api/models/tiny-tf-onnx/versions/1?cascade=true', { method: 'DELETE' })).body).toEqual({
      deleted: [{ kind: 'image', id: 'tiny-image:1' }, { kind: 'model', id: 'tiny-tf-onnx:1' }],
    });
    expect(existsSync(layout)).toBe(false);
    expect((await ui.json('/api/images')).body).toEqual([]);
    expect((await ui.json('/api/lineage')).body).toEqual({
      nodes: [{ id: 'model:tiny-tf:1', kind: 'model', ref: { kind: 'model', id: 'tiny-tf:1' }, label: 'tiny-tf:1', stage: 'source' }],
      edges: [],
    });
  });
});
