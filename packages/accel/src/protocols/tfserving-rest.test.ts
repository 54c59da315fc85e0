import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectClose, tinyExpectedFor } from '../test-util/expect';
import { channelMeans, modelDir, slowModel, tinyClassifier, tinyReference, twoInputModel } from '../test-util/models';
import { samplePhoto, solidPng, startTestServer } from '../test-util/server';

const SIZE = 8;
const files = modelDir();
let server: Awaited<ReturnType<typeof startTestServer>>;

async function post(path: string, body: unknown, headers: Record<string, string> = { 'content-type': 'application/json' }) {
  const res = await fetch(server.rest + path, { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as any };
}
async function get(path: string) {
  const res = await fetch(server.rest + path);
  const text = await res.text();
  return { status: res.status, text, body: res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : undefined };
}

const b64 = (b: Buffer) => ({ b64: b.toString('base64') });

beforeAll(async () => {
  server = await startTestServer(
    [
      { name: 'tiny', path: files.write('tiny.onnx', tinyClassifier()) },
      { name: 'tiny', path: files.write('tiny2.onnx', tinyClassifier()) },
      { name: 'pair', path: files.write('pair.onnx', twoInputModel()) },
    ],
    { maxMessageBytes: 256 * 1024 },
  );
});
afterAll(async () => {
  await server.shutdown();
  files.cleanup();
});

describe('REST predict', () => {
  it('takes row-format base64 images and answers predictions per instance', async () => {
    const photo = await samplePhoto();
    const red = await solidPng(255, 0, 0);
    const res = await post('/v1/models/tiny:predict', { instances: [b64(photo), b64(red)] });
    expect(res.status).toBe(200);
    expect(res.body.predictions).toHaveLength(2);
    expectClose(res.body.predictions[0], await tinyExpectedFor(photo));
    expectClose(res.body.predictions[1], await tinyExpectedFor(red));
  });

  it('takes columnar inputs and a specific version', async () => {
    const photo = await samplePhoto();
    const res = await post('/v1/models/tiny/versions/1:predict', { inputs: { images: [b64(photo)] } });
    expect(res.status).toBe(200);
    expectClose(res.body.outputs[0], await tinyExpectedFor(photo));
  });

  it('takes float tensors as nested lists', async () => {
    const image = Array.from({ length: 3 }, (_, c) => Array.from({ length: SIZE }, (_, y) => Array.from({ length: SIZE }, (_, x) => c - x / 4 + y / 8)));
    const flat = Float32Array.from(image.flat(2));
    const res = await post('/v1/models/tiny:predict', { instances: [image] });
    expect(res.status).toBe(200);
    expectClose(res.body.predictions[0], tinyReference(channelMeans(flat, SIZE)));
  });

  it('maps named instances to several inputs and answers an object per instance', async () => {
    const res = await post('/v1/models/pair:predict', { instances: [{ a: [1, 2], b: [3, 4] }, { a: [0, 1], b: [5, 6] }] });
    expect(res.status).toBe(200);
    expect(res.body.predictions).toEqual([
      { sum: [4, 6], product: [3, 8] },
      { sum: [5, 7], product: [0, 6] },
    ]);
    const col = await post('/v1/models/pair:predict', { inputs: { a: [[1, 1]], b: [[2, 3]] } });
    expect(col.body.outputs).toEqual({ sum: [[3, 4]], product: [[2, 3]] });
  });

  it('accepts the form content type curl -d sends, and text/plain', async () => {
    for (const type of ['application/x-www-form-urlencoded', 'text/plain;charset=UTF-8']) {
      const res = await post('/v1/models/pair:predict', '{"instances": [{"a": [1, 1], "b": [1, 1]}]}', { 'content-type': type });
      expect(res.status).toBe(200);
      expect(res.body.predictions[0].sum).toEqual([2, 2]);
    }
  });

  const bad: Array<[string, string, unknown, number, RegExp, string?]> = [
    ['unknown model', '/v1/models/nope:predict', { instances: [1] }, 404, /Model "nope" is not served here. Models served: "pair", "tiny"/],
    ['unknown version', '/v1/models/tiny/versions/9:predict', { instances: [1] }, 404, /no version 9. Versions served: 1, 2/],
    ['invalid JSON', '/v1/models/tiny:predict', '{"instances": [', 400, /the body is not valid JSON/, 'ACCEL_ERR_BAD_REQUEST'],
    ['invalid base64', '/v1/models/tiny:predict', { instances: [{ b64: '***' }] }, 400, /invalid base64/],
    ['ragged lists', '/v1/models/pair:predict', { inputs: { a: [[1, 2], [3]], b: [[1, 2], [3, 4]] } }, 400, /input "a" is ragged/],
    ['both instances and inputs', '/v1/models/tiny:predict', { instances: [], inputs: [] }, 400, /exactly one of "instances"/],
    ['empty instances', '/v1/models/tiny:predict', { instances: [] }, 400, /empty batch/],
    ['non-image bytes', '/v1/models/tiny:predict', { instances: [{ b64: Buffer.from('hello').toString('base64') }] }, 400, /item 0 is not a decodable JPEG or PNG image/],
    ['strings in a number tensor', '/v1/models/pair:predict', { instances: [{ a: [1, 'x'], b: [1, 2] }] }, 400, /expected numbers/],
    ['wrong shape', '/v1/models/pair:predict', { instances: [{ a: [1, 2, 3], b: [1, 2, 3] }] }, 400, /Input "a" has shape \[1,3\]; model "pair" expects \[-1,2\]/],
    ['missing input', '/v1/models/pair:predict', { instances: [{ a: [1, 2] }] }, 400, /Input "b" is required/],
    ['unknown method', '/v1/models/tiny:classify', { instances: [1] }, 404, /No API at POST/, 'ACCEL_ERR_NO_ROUTE'],
    ['unknown path', '/v2/whatever', {}, 404, /No API at POST \/v2\/whatever/, 'ACCEL_ERR_NO_ROUTE'],
  ];
  for (const [name, path, body, status, message, code] of bad) {
    it(`answers ${status} for ${name}`, async () => {
      const res = await post(path, body);
      expect(res.status).toBe(status);
      expect(res.body.error).toMatch(message);
      expect(res.body.code).toMatch(code ?? /^ACCEL_ERR_/);
    });
  }

  it('answers 413 for a body over the limit', async () => {
    const res = await post('/v1/models/tiny:predict', { instances: [{ b64: Buffer.alloc(300 * 1024).toString('base64') }] });
    expect(res.status).toBe(413);
    expect(res.body.code).toBe('ACCEL_ERR_TOO_LARGE');
    expect(res.body.error).toMatch(/exceeds the limit of 262144 bytes/);
  });
});

describe('REST under load', () => {
  it('answers 429 with Retry-After when the model queue is full', async () => {
    const dir = modelDir();
    const busy = await startTestServer([{ name: 'slow', path: dir.write('s.onnx', slowModel()) }], { batching: { maxBatchSize: 1, maxQueue: 1 }, maxRequestBatch: 256 });
    try {
      // A long request runs and one waits: the queue (limit 1) is full when the REST request arrives.
      const rows = (n: number) => ({ x: { dtype: 'float32' as const, shape: [n, 512], data: new Float32Array(n * 512) } });
      const inFlight = [busy.runtime.predict({}, rows(256)), busy.runtime.predict({}, rows(1))];
      const body = JSON.stringify({ instances: [new Array(512).fill(1)] });
      const refused = await fetch(`${busy.rest}/v1/models/slow:predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      expect(refused.status).toBe(429);
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(await refused.json()).toMatchObject({ code: 'ACCEL_ERR_QUEUE_FULL', error: expect.stringMatching(/requests queued \(limit 1\)/) });
      await Promise.all(inFlight);
      const ok = await fetch(`${busy.rest}/v1/models/slow:predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      expect(ok.status).toBe(200);
      const meta = await (await fetch(`${busy.rest}/v1/models/slow/metadata`)).json();
      expect(meta.metadata.batching).toEqual({ maxBatchSize: 1, maxQueueDelayMicros: 0, preferredBatchSizes: [], maxQueue: 1 });
    } finally {
      await busy.shutdown();
      dir.cleanup();
    }
  });
});

describe('REST status, metadata, health, metrics', () => {
  it('gives model status like TF Serving', async () => {
    const all = await get('/v1/models/tiny');
    expect(all.body).toEqual({
      model_version_status: [
        { version: '2', state: 'AVAILABLE', status: { error_code: 'OK', error_message: '' } },
        { version: '1', state: 'AVAILABLE', status: { error_code: 'OK', error_message: '' } },
      ],
    });
    expect((await get('/v1/models/tiny/versions/1')).body.model_version_status).toHaveLength(1);
    expect((await get('/v1/models/nope')).status).toBe(404);
  });

  it('gives the signature and preprocessing in metadata', async () => {
    const res = await get('/v1/models/tiny/versions/1/metadata');
    expect(res.status).toBe(200);
    expect(res.body.model_spec).toMatchObject({ name: 'tiny', version: { value: '1' } });
    const sig = res.body.metadata.signature_def.signature_def.serving_default;
    expect(sig.inputs.images).toMatchObject({ name: 'input', dtype: 'DT_STRING' });
    expect(sig.outputs.probs.tensor_shape.dim).toEqual([{ size: '-1', name: '' }, { size: '5', name: '' }]);
    expect(res.body.metadata.preprocess.input).toMatchObject({ width: 8, height: 8, layout: 'NCHW', channelOrder: 'RGB' });
  });

  it('reports liveness, readiness and Prometheus metrics', async () => {
    expect((await get('/healthz')).status).toBe(200);
    const ready = await get('/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body.ready).toBe(true);
    await post('/v1/models/pair:predict', { instances: [{ a: [1, 2], b: [3, 4] }] });
    await post('/v1/models/nope:predict', { instances: [1] });
    const metrics = await get('/metrics');
    expect(metrics.text).toMatch(/accel_requests_total\{model="pair",version="1",protocol="rest",status="OK"\} [1-9]/);
    expect(metrics.text).toMatch(/accel_requests_total\{model="nope",version="",protocol="rest",status="NOT_FOUND"\} [1-9]/);
    for (const phase of ['queue', 'preprocess', 'inference']) {
      expect(metrics.text).toMatch(new RegExp(`accel_request_phase_seconds_count\\{model="pair",version="1",phase="${phase}"\\} [1-9]`));
    }
    expect(metrics.text).toMatch(/accel_request_duration_seconds_bucket\{le="0.005",model="pair",version="1",protocol="rest"\}/);
  });
});
