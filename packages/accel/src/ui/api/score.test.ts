import { PredictionClient, topK } from '@accel/client';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { regenerateKey, stopService } from '../../deploy/deploy';
import { AccelError } from '../../errors';
import { modelDir, tinyClassifier, tinySsd } from '../../test-util/models';
import { samplePhoto, solidPng } from '../../test-util/server';
import { deployTestService } from '../../test-util/services';
import type { ServiceRecord } from '../../workspace/types';
import { startTestUi, type TestUi } from '../test-server';

/**
 * One service with auth serving three models: `tiny` (labels in its sidecar), `plain` (no
 * sidecar) and `ssd` (a detector). The image's first model, `tiny`, is the default.
 */
const LABELS = ['cat', 'dog', 'fox', 'owl', 'yak'];
const files = modelDir();
let ui: TestUi;
let service: ServiceRecord;
let photo: Buffer;
let photoPath: string;

const score = (query: string, body: Uint8Array | string, type = 'image/jpeg', name = 'vision') =>
  ui.json(`/api/services/${name}/score${query}`, { method: 'POST', body: typeof body === 'string' ? body : new Uint8Array(body), headers: { 'content-type': type } });

beforeAll(async () => {
  ui = await startTestUi();
  photo = await samplePhoto();
  photoPath = files.write('photo.jpg', photo);
  service = await deployTestService(ui.ws, {
    service: 'vision',
    auth: true,
    models: [
      { name: 'tiny', onnx: tinyClassifier(), sidecar: { labels: LABELS } },
      { name: 'plain', onnx: tinyClassifier() },
      { name: 'ssd', onnx: tinySsd(), sidecar: { postprocess: { type: 'ssd', maxDetections: 10 }, labels: ['background', 'cat', 'dog'] } },
    ],
  });
}, 300_000);

afterAll(async () => {
  await stopService(ui.ws, 'vision', { forget: true }).catch(() => undefined);
  await ui.close();
  files.cleanup();
});

describe('POST /api/services/:name/score', () => {
  it("answers the top k that @accel/client's scoreFile + topK give against the service, with the sidecar's labels", async () => {
    const { status, body } = await score('?k=3', photo);
    expect(status).toBe(200);
    const client = new PredictionClient({ address: service.grpcUri, apiKey: service.keys.primary });
    try {
      const direct = topK(await client.scoreFile(photoPath, { model: 'tiny' }), 3, LABELS);
      expect(body.top).toEqual(direct);
    } finally {
      client.close();
    }
    const { width, height } = await sharp(photo).metadata();
    expect(body).toMatchObject({ service: 'vision', model: 'tiny', version: 1, width, height });
    expect(body.top.map((t: { label: string }) => t.label).every((l: string) => LABELS.includes(l))).toBe(true);
    expect(body.latencyMs).toBeGreaterThan(0);
    expect(body.detections).toBeUndefined();
  });

  it('scores the model named by ?model=, labelled by index without a sidecar, 5 classes by default', async () => {
    const { status, body } = await score('?model=plain', photo);
    expect(status).toBe(200);
    expect(body.model).toBe('plain');
    expect(body.top.map((t: { index: number; label: string }) => t.label)).toEqual(body.top.map((t: { index: number }) => String(t.index)));
    expect(body.top).toHaveLength(5);
  });

  it("scores with the service's key: the service itself refuses calls without one", async () => {
    const keyless = new PredictionClient({ address: service.grpcUri, retries: 0 });
    try {
      await expect(keyless.scoreFile(photoPath, { model: 'tiny' })).rejects.toMatchObject({ codeName: 'UNAUTHENTICATED' });
    } finally {
      keyless.close();
    }
    expect((await score('', photo)).status).toBe(200);
  });

  it("returns an SSD model's detections, boxes within 0..1 of the image, labelled from its sidecar", async () => {
    const png = await solidPng(200, 120, 40, 64, 48);
    const { status, body } = await score('?model=ssd', png, 'image/png');
    expect(status).toBe(200);
    expect(body).toMatchObject({ model: 'ssd', width: 64, height: 48, top: [] });
    expect(body.detections.length).toBeGreaterThan(0);
    expect(body.detections.length).toBeLessThanOrEqual(10);
    for (const d of body.detections) {
      expect(d.box).toHaveLength(4);
      for (const v of d.box) expect(v >= 0 && v <= 1).toBe(true);
      expect(d).toMatchObject({ index: 1, label: 'cat' });
      expect(d.score).toBeGreaterThan(0);
    }
  });

  it("answers bytes that are no image with the service's INVALID_ARGUMENT as 400, its message kept", async () => {
    const { status, body } = await score('', 'certainly not a JPEG');
    expect(status).toBe(400);
    expect(body.error.code).toBe('ACCEL_ERR_BAD_REQUEST');
    expect(body.error.message).toMatch(/service "vision" refused it: .*not a decodable JPEG or PNG image/);
  });

  it('refuses a body over 16 MB with 413, other content types and an empty body with 400', async () => {
    const big = await score('', Buffer.alloc(17 * 1024 * 1024, 1));
    expect(big.status).toBe(413);
    expect(big.body.error.code).toBe('ACCEL_ERR_TOO_LARGE');
    const json = await ui.json('/api/services/vision/score', { method: 'POST', body: JSON.stringify({ image: 'x' }), headers: { 'content-type': 'application/json' } });
    expect([json.status, json.body.error.code]).toEqual([400, 'ACCEL_ERR_BAD_REQUEST']);
    expect(json.body.error.message).toMatch(/content-type application\/json is not accepted/);
    const empty = await ui.json('/api/services/vision/score', { method: 'POST' });
    expect([empty.status, empty.body.error.code]).toEqual([400, 'ACCEL_ERR_BAD_REQUEST']);
  });

  it('checks k and the model: 1..100, and one the service serves', async () => {
    for (const q of ['?k=0', '?k=101', '?k=two', '?model=other', '?kk=1']) {
      const { status, body } = await score(q, photo);
      expect([q, status, body.error.code]).toEqual([q, 400, 'ACCEL_ERR_BAD_REQUEST']);
    }
  });

  it('answers 404 for an unknown service', async () => {
    const { status, body } = await score('', photo, 'image/jpeg', 'ghost');
    expect([status, body.error.code]).toEqual([404, 'ACCEL_ERR_ARTIFACT_NOT_FOUND']);
  });

  it('opens a new client with the new key after the primary key is regenerated', async () => {
    expect((await score('', photo)).status).toBe(200); // the cached client holds the old key
    const old = service.keys.primary;
    await regenerateKey(ui.ws, 'vision', 'primary');
    // The service reads its keys file again on its own schedule: wait until it refuses the old key.
    const oldClient = new PredictionClient({ address: service.grpcUri, apiKey: old, retries: 0 });
    try {
      let refused = false;
      for (let i = 0; i < 100 && !refused; i++) {
        refused = await oldClient.scoreFile(photoPath, { model: 'tiny' }).then(() => false, (err) => err.codeName === 'UNAUTHENTICATED');
        if (!refused) await new Promise((r) => setTimeout(r, 100));
      }
      expect(refused).toBe(true);
    } finally {
      oldClient.close();
    }
    expect((await score('', photo)).status).toBe(200);
  });

  it('refuses a stopped service with ACCEL_ERR_SERVICE_UNAVAILABLE naming its state', async () => {
    await stopService(ui.ws, 'vision');
    const { status, body } = await score('', photo);
    expect([status, body.error.code]).toEqual([503, 'ACCEL_ERR_SERVICE_UNAVAILABLE']);
    expect(body.error.message).toMatch(/^Service "vision" \(Stopped\) cannot answer/);
  });
});

describe('ACCEL_ERR_SERVICE_UNAVAILABLE', () => {
  it('names the service, its state and why, with where to look', () => {
    const e = new AccelError('ACCEL_ERR_SERVICE_UNAVAILABLE', { service: 'vision', state: 'Unhealthy', reason: 'UNAVAILABLE: connection refused' });
    expect(e.message).toBe('Service "vision" (Unhealthy) cannot answer: UNAVAILABLE: connection refused. See `accel service show vision` and `accel service logs vision`.');
    expect([e.grpcCode, e.httpStatus]).toEqual([14, 503]);
  });
});
