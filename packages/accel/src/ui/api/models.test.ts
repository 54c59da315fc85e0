import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { smallTfCnn, writeTfjsGraphModel } from '../../test-util/convert';
import { tinyClassifier } from '../../test-util/models';
import { runAccel } from '../../test-util/processes';
import { folderFiles, jobSucceeds, uploadForm } from '../../test-util/ui';
import { startTestUi, type TestUi } from '../test-server';

/**
 * The model routes against a real workspace: uploads become the same records `accel model
 * register` makes, conversions and quantizations run as detached jobs like the CLI's.
 */
let ui: TestUi;
let root: string;
let uploadsTmp: string;
let tf: Record<string, Buffer>;
const onnx = tinyClassifier();
const savedTmp = process.env.TMPDIR;

const upload = (fields: Record<string, string>, files: Record<string, Uint8Array | string>) => ui.json('/api/models', { method: 'POST', body: uploadForm(fields, files) });
const leftovers = () => readdirSync(uploadsTmp).filter((n) => n.startsWith('accel-upload-'));

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'accel-ui-models-'));
  await writeTfjsGraphModel(smallTfCnn().graph, join(root, 'tiny-tf'));
  tf = folderFiles(join(root, 'tiny-tf'), 'tiny-tf');
  // A temp folder of its own (os.tmpdir() reads TMPDIR), so the test sees uploads cleaned up.
  uploadsTmp = join(root, 'tmp');
  mkdirSync(uploadsTmp);
  process.env.TMPDIR = uploadsTmp;
  ui = await startTestUi({ dir: join(root, 'ws') });
});
afterAll(async () => {
  await ui?.close();
  if (savedTmp === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = savedTmp;
  rmSync(root, { recursive: true, force: true });
});

describe('POST /api/models', () => {
  it('registers the parts of a folder, named by relative path, as `accel model register` registers the folder', async () => {
    const r = await upload({ name: 'tiny-tf', description: 'a small CNN', tags: JSON.stringify({ task: 'classify' }) }, tf);
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(Object.keys(tf).sort()).toEqual(['tiny-tf/model.json', 'tiny-tf/weights.bin']);
    expect(r.body).toMatchObject({ name: 'tiny-tf', version: 1, id: 'tiny-tf:1', format: 'folder', fileName: 'tiny-tf', description: 'a small CNN', tags: { task: 'classify' }, properties: {}, stage: 'source' });
    const fromDisk = await ui.ws.registerModel(join(root, 'tiny-tf'), { name: 'tiny-tf-disk' });
    expect([r.body.digest, r.body.size]).toEqual([fromDisk.digest, fromDisk.size]);

    const shown = await ui.json('/api/models/tiny-tf/versions/1');
    const cli = runAccel(['model', 'show', 'tiny-tf:1', '-o', 'json'], { workspace: ui.dir });
    expect(cli.code, cli.stderr).toBe(0);
    const show = JSON.parse(cli.stdout);
    expect(shown.status).toBe(200);
    expect(shown.body).toEqual({ ...r.body, digest: show.digest, size: show.size, createdAt: show.createdTime, derivedFrom: [], usedBy: [] });
    expect(leftovers()).toEqual([]);
  });

  it('registers one file part as that file, and parts with no common folder as a folder named after the model', async () => {
    const file = await upload({ name: 'tiny' }, { 'tiny.onnx': onnx });
    expect(file.status).toBe(201);
    expect(file.body).toMatchObject({ id: 'tiny:1', format: 'file', fileName: 'tiny.onnx', size: onnx.length, stage: 'onnx' });
    expect(file.body.digest).toBe(`sha256:${createHash('sha256').update(onnx).digest('hex')}`);

    const flat = await upload({ name: 'flat-tf' }, { 'model.json': tf['tiny-tf/model.json']!, 'weights.bin': tf['tiny-tf/weights.bin']! });
    expect(flat.status).toBe(201);
    const tiny = await ui.ws.getModel('tiny-tf', 1);
    expect(flat.body).toMatchObject({ format: 'folder', fileName: 'flat-tf', digest: tiny.digest, stage: 'source' });
    expect(leftovers()).toEqual([]);
  });

  it('takes a folder with a .onnx file at its top as ONNX, ready to build (format=onnx), unless the user tagged a format', async () => {
    const sidecar = JSON.stringify({ labels: ['a', 'b'] });
    const nested = await upload({ name: 'zoo-net' }, { 'zoo-net/model.onnx': onnx, 'zoo-net/model.accel.json': sidecar });
    expect(nested.body).toMatchObject({ format: 'folder', stage: 'onnx', tags: { format: 'onnx' } });
    const flat = await upload({ name: 'flat-net', tags: '{"team":"vision"}' }, { 'model.onnx': onnx, 'model.accel.json': sidecar });
    expect(flat.body).toMatchObject({ stage: 'onnx', tags: { team: 'vision', format: 'onnx' } });
    const deeper = await upload({ name: 'deeper' }, { 'deeper/sub/model.onnx': onnx, 'deeper/model.json': '{}' });
    expect(deeper.body).toMatchObject({ stage: 'source', tags: {} });
    const told = await upload({ name: 'told', tags: '{"format":"savedmodel"}' }, { 'model.onnx': onnx, 'notes.txt': 'x' });
    expect(told.body).toMatchObject({ stage: 'source', tags: { format: 'savedmodel' } });
  });

  it('refuses unsafe paths, missing or bad fields and empty uploads with 400, and registers nothing', async () => {
    const twice = uploadForm({ name: 'twice' }, { 'm/a.bin': 'a' });
    twice.append('file', new Blob(['b']), 'm/a.bin');
    const misnamed = uploadForm({ name: 'misnamed' }, {});
    misnamed.append('model', new Blob(['b']), 'a.bin');
    const cases: Array<[FormData, RegExp]> = [
      [uploadForm({ name: 'evil' }, { 'm/../../evil.bin': 'x' }), /climbs out of the model folder/],
      [uploadForm({ name: 'evil' }, { '/etc/evil.bin': 'x' }), /is an absolute path/],
      [uploadForm({ name: 'evil' }, { 'C:\\evil.bin': 'x' }), /is an absolute path/],
      [uploadForm({ name: 'evil' }, { 'm//evil.bin': 'x' }), /empty or "\." name/],
      [uploadForm({ name: 'evil' }, { 'm/a': 'x', 'm/a/b': 'y' }), /which is a file/],
      [twice, /sent twice/],
      [misnamed, /unexpected file part "model"/],
      [uploadForm({}, { 'tiny.onnx': onnx }), /fields\.name/],
      [uploadForm({ name: 'Bad Name' }, { 'tiny.onnx': onnx }), /fields\.name: Model name "Bad Name" is invalid/],
      [uploadForm({ name: 'bad-tags', tags: '{oops' }, { 'tiny.onnx': onnx }), /fields\.tags: not valid JSON/],
      [uploadForm({ name: 'bad-tags', tags: '{"a key": "v"}' }, { 'tiny.onnx': onnx }), /fields\.tags\.a key/],
      [uploadForm({ name: 'extra', version: '3' }, { 'tiny.onnx': onnx }), /fields: Unrecognized key: "version"/],
      [uploadForm({ name: 'nothing' }, {}), /holds no "file" part/],
    ];
    for (const [form, message] of cases) {
      const r = await ui.json('/api/models', { method: 'POST', body: form });
      expect([r.status, r.body.error.code], message.source).toEqual([400, 'ACCEL_ERR_BAD_REQUEST']);
      expect(r.body.error.message).toMatch(message);
    }
    const json = await ui.json('/api/models', { method: 'POST', body: { name: 'json' } });
    expect([json.status, json.body.error.code]).toEqual([400, 'ACCEL_ERR_BAD_REQUEST']);
    const names = new Set((await ui.ws.listModels()).map((m) => m.name));
    for (const n of ['evil', 'twice', 'misnamed', 'bad-tags', 'extra', 'nothing', 'json']) expect(names.has(n)).toBe(false);
    expect(leftovers()).toEqual([]);
  });

  it('answers 413 ACCEL_ERR_TOO_LARGE when one file, or all files together, pass the upload limit', async () => {
    const small = await startTestUi({ maxUploadBytes: 1000 });
    try {
      const one = await small.json('/api/models', { method: 'POST', body: uploadForm({ name: 'big' }, { 'big.bin': new Uint8Array(1500) }) });
      expect([one.status, one.body.error.code]).toEqual([413, 'ACCEL_ERR_TOO_LARGE']);
      expect(one.body.error.message).toContain('limit of 1000 bytes');
      const three = { 'm/a.bin': new Uint8Array(400), 'm/b.bin': new Uint8Array(400), 'm/c.bin': new Uint8Array(400) };
      const all = await small.json('/api/models', { method: 'POST', body: uploadForm({ name: 'big' }, three) });
      expect([all.status, all.body.error.code]).toEqual([413, 'ACCEL_ERR_TOO_LARGE']);
      const manyFields = uploadForm(Object.fromEntries(Array.from({ length: 25 }, (_, i) => [`f${i}`, 'x'])), { 'a.bin': 'a' });
      const fields = await small.json('/api/models', { method: 'POST', body: manyFields });
      expect([fields.status, fields.body.error.code]).toEqual([413, 'ACCEL_ERR_TOO_LARGE']);
      const fits = await small.json('/api/models', { method: 'POST', body: uploadForm({ name: 'big' }, { 'm/a.bin': new Uint8Array(400), 'm/b.bin': new Uint8Array(400) }) });
      expect(fits.status).toBe(201);
      expect(fits.body).toMatchObject({ id: 'big:1', size: expect.any(Number) });
      expect((await small.ws.listModels()).map((m) => m.id)).toEqual(['big:1']);
    } finally {
      await small.close();
    }
    expect(leftovers()).toEqual([]);
  });
});

describe('GET /api/models', () => {
  it('lists newest first, filtered by name and by every tag given', async () => {
    await upload({ name: 'tiny', tags: JSON.stringify({ task: 'classify', stage: 'dev' }) }, { 'tiny.onnx': onnx });
    const all = await ui.json('/api/models');
    expect(all.body.map((m: { id: string }) => m.id)).toEqual((await ui.ws.listModels()).map((m) => m.id));
    expect((await ui.json('/api/models?name=tiny')).body.map((m: { id: string }) => m.id)).toEqual(['tiny:2', 'tiny:1']);
    const tagged = await ui.json('/api/models?tag=task=classify&tag=stage=dev');
    expect(tagged.body.map((m: { id: string }) => m.id)).toEqual(['tiny:2']);
    expect((await ui.json('/api/models?tag=task=classify')).body.map((m: { id: string }) => m.id).sort()).toEqual(['tiny-tf:1', 'tiny:2']);
  });

  it('shows a version by number or `latest`, and refuses bad versions, names and queries', async () => {
    expect((await ui.json('/api/models/tiny/versions/latest')).body).toMatchObject({ id: 'tiny:2', stage: 'onnx' });
    expect((await ui.json('/api/models/tiny/versions/1')).body).toMatchObject({ id: 'tiny:1' });
    const bad: Array<[string, number, string, RegExp]> = [
      ['/api/models/tiny/versions/abc', 400, 'ACCEL_ERR_BAD_REQUEST', /params\.version: a version is a whole number/],
      ['/api/models/tiny/versions/0', 400, 'ACCEL_ERR_BAD_REQUEST', /params\.version/],
      ['/api/models/Tiny/versions/1', 400, 'ACCEL_ERR_BAD_REQUEST', /params\.name: Model name "Tiny" is invalid/],
      ['/api/models/tiny/versions/9', 404, 'ACCEL_ERR_ARTIFACT_NOT_FOUND', /Model "tiny:9" does not exist in this workspace. Versions: 2, 1/],
      ['/api/models/nope/versions/latest', 404, 'ACCEL_ERR_ARTIFACT_NOT_FOUND', /Model "nope" does not exist/],
      ['/api/models?tag=novalue', 400, 'ACCEL_ERR_BAD_REQUEST', /query\.tag\.0: tag takes KEY=VALUE/],
      ['/api/models?nmae=tiny', 400, 'ACCEL_ERR_BAD_REQUEST', /Unrecognized key: "nmae"/],
    ];
    for (const [path, status, code, message] of bad) {
      const r = await ui.json(path);
      expect([r.status, r.body.error.code], path).toEqual([status, code]);
      expect(r.body.error.message).toMatch(message);
    }
  });
});

describe('PATCH /api/models/:name/versions/:version/tags', () => {
  it('sets and removes tags like `accel model tag` and `untag`', async () => {
    const r = await ui.json('/api/models/tiny/versions/2/tags', { method: 'PATCH', body: { set: { stage: 'prod', owner: 'vision' }, remove: ['task'] } });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ id: 'tiny:2', tags: { stage: 'prod', owner: 'vision' } });
    expect((await ui.ws.getModel('tiny', 2)).tags).toEqual({ stage: 'prod', owner: 'vision' });
    for (const body of [{ set: { 'a key': 'v' } }, { set: { k: 1 } }, { remove: 'task' }, { add: {} }]) {
      const bad = await ui.json('/api/models/tiny/versions/2/tags', { method: 'PATCH', body });
      expect([bad.status, bad.body.error.code], JSON.stringify(body)).toEqual([400, 'ACCEL_ERR_BAD_REQUEST']);
    }
    expect((await ui.json('/api/models/tiny/versions/7/tags', { method: 'PATCH', body: { set: { a: 'b' } } })).status).toBe(404);
  });
});

async function picture(k: number): Promise<Buffer> {
  const px = Buffer.alloc(40 * 32 * 3);
  for (let i = 0; i < px.length; i++) px[i] = (i * (k + 3) + k * 41) % 256;
  return sharp(px, { raw: { width: 40, height: 32, channels: 3 } }).jpeg().toBuffer();
}

describe('POST convert and quantize', () => {
  it('converts the latest version as a detached job with the inputs `accel convert` gives, registering a converted model', async () => {
    const tensors = { inputTensors: ['input_1:0'], outputTensors: ['model/predictions/Softmax:0'] };
    const r = await ui.json('/api/models/tiny-tf/versions/latest/convert', { method: 'POST', body: { ...tensors, labels: ['a', 'b', 'c', 'd', 'e'] } });
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    const job = await jobSucceeds(ui, r.body.job);
    expect(job).toMatchObject({ kind: 'convert', inputs: { model: 'tiny-tf', ...tensors, verify: true, labels: ['a', 'b', 'c', 'd', 'e'] } });
    expect(job.inputs).not.toHaveProperty('version');
    expect(job.outputs).toMatchObject({ model: 'tiny-tf-onnx:1', source: 'tiny-tf:1' });
    const converted = await ui.json('/api/models/tiny-tf-onnx/versions/1');
    expect(converted.body).toMatchObject({ stage: 'converted', format: 'folder', properties: { source: 'tiny-tf:1' }, derivedFrom: [{ kind: 'model', id: 'tiny-tf:1' }], usedBy: [] });
    expect((await ui.json('/api/models/tiny-tf/versions/1')).body.usedBy).toEqual([{ kind: 'model', id: 'tiny-tf-onnx:1' }]);
  });

  it('quantizes a converted model with a folder of images as a job, registering a quantized model', async () => {
    const calib = join(root, 'calib');
    mkdirSync(calib);
    for (let k = 0; k < 10; k++) writeFileSync(join(calib, `p${k}.jpg`), await picture(k));
    const r = await ui.json('/api/models/tiny-tf-onnx/versions/1/quantize', { method: 'POST', body: { calibration: calib, method: 'minmax' } });
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    const job = await jobSucceeds(ui, r.body.job);
    expect(job.inputs).toEqual({ model: 'tiny-tf-onnx', version: 1, calibration: calib, method: 'minmax', perChannel: true });
    const int8 = await ui.json('/api/models/tiny-tf-onnx-int8/versions/latest');
    expect(int8.body).toMatchObject({ stage: 'quantized', tags: { format: 'onnx', quantized: 'int8' }, derivedFrom: [{ kind: 'model', id: 'tiny-tf-onnx:1' }] });
    // Tags are the owner's to change: the stage does not follow them.
    await ui.json('/api/models/tiny-tf-onnx-int8/versions/1/tags', { method: 'PATCH', body: { remove: ['quantized', 'format'] } });
    expect((await ui.json('/api/models/tiny-tf-onnx-int8/versions/1')).body.stage).toBe('quantized');
  });

  it('refuses bad job requests before starting anything', async () => {
    const before = (await ui.ws.store.listJobs()).length;
    const bad: Array<[string, unknown, number, string]> = [
      ['/api/models/tiny-tf/versions/1/convert', { verify: 'yes' }, 400, 'ACCEL_ERR_BAD_REQUEST'],
      ['/api/models/tiny-tf/versions/1/convert', { inputTensor: ['x'] }, 400, 'ACCEL_ERR_BAD_REQUEST'],
      ['/api/models/tiny-tf/versions/1/convert', { name: 'Bad Name' }, 400, 'ACCEL_ERR_BAD_REQUEST'],
      ['/api/models/nope/versions/1/convert', {}, 404, 'ACCEL_ERR_ARTIFACT_NOT_FOUND'],
      ['/api/models/tiny-tf-onnx/versions/1/quantize', {}, 400, 'ACCEL_ERR_BAD_REQUEST'],
      ['/api/models/tiny-tf-onnx/versions/1/quantize', { calibration: join(root, 'calib'), method: 'best' }, 400, 'ACCEL_ERR_BAD_REQUEST'],
      ['/api/models/tiny-tf-onnx/versions/1/quantize', { calibration: join(root, 'calib'), limit: 0 }, 400, 'ACCEL_ERR_BAD_REQUEST'],
      ['/api/models/tiny-tf-onnx/versions/1/quantize', { calibration: join(root, 'missing') }, 400, 'ACCEL_ERR_QUANTIZE_NO_IMAGES'],
    ];
    for (const [path, body, status, code] of bad) {
      const r = await ui.json(path, { method: 'POST', body });
      expect([r.status, r.body.error.code], `${path} ${JSON.stringify(body)}`).toEqual([status, code]);
    }
    expect(await ui.ws.store.listJobs()).toHaveLength(before);
  });
});

describe('DELETE /api/models/:name/versions/:version', () => {
  it('refuses a model an image uses, lists the cascade in order on a dry run, then deletes in that order', async () => {
    const image = await ui.ws.createImageRecord({ name: 'tiny-image', models: ['tiny:1'] });
    const inUse = await ui.json('/api/models/tiny/versions/1', { method: 'DELETE' });
    expect([inUse.status, inUse.body.error.code]).toEqual([409, 'ACCEL_ERR_IN_USE']);
    expect(inUse.body.error.message).toContain('Delete in this order: image tiny-image:1, then model tiny:1');
    const plan = [{ kind: 'image', id: image.id }, { kind: 'model', id: 'tiny:1' }];
    expect((await ui.json('/api/models/tiny/versions/1?cascade=true&dryRun=true', { method: 'DELETE' })).body).toEqual({ wouldDelete: plan });
    // A misspelt flag must not become a real delete.
    expect((await ui.json('/api/models/tiny/versions/1?cascade=true&dryrun=true', { method: 'DELETE' })).status).toBe(400);
    expect((await ui.json('/api/models/tiny/versions/1')).status).toBe(200);
    expect((await ui.json('/api/models/tiny/versions/1?cascade=true', { method: 'DELETE' })).body).toEqual({ deleted: plan });
    expect((await ui.json('/api/models/tiny/versions/1')).status).toBe(404);
    expect((await ui.json('/api/images/tiny-image/versions/1')).status).toBe(404);
  });

  it('deletes `latest` only, and a derived model without touching its source', async () => {
    expect((await ui.json('/api/models/tiny/versions/latest', { method: 'DELETE' })).body).toEqual({ deleted: [{ kind: 'model', id: 'tiny:2' }] });
    expect((await ui.json('/api/models?name=tiny')).body).toEqual([]);
    expect((await ui.json('/api/models/tiny-tf/versions/1', { method: 'DELETE' })).body).toEqual({ deleted: [{ kind: 'model', id: 'tiny-tf:1' }] });
    // The converted model keeps its stage once its source is gone.
    expect((await ui.json('/api/models/tiny-tf-onnx/versions/1')).body).toMatchObject({ stage: 'converted', derivedFrom: [{ kind: 'model', id: 'tiny-tf:1' }] });
  });
});
