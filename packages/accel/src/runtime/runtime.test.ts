import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccelError } from '../errors';
import { slowModel, tinyClassifier, tinyReference, twoInputModel, modelDir } from '../test-util/models';
import { Runtime } from './runtime';
import { GraphBuilder } from '../onnx/builder';

const files = modelDir();
let runtime: Runtime;

async function solidPng(r: number, g: number, b: number, w = 40, h = 30): Promise<Buffer> {
  return sharp({ create: { width: w, height: h, channels: 3, background: { r, g, b } } }).png().toBuffer();
}

beforeAll(async () => {
  const v1 = files.write('tiny.onnx', tinyClassifier());
  const v2 = files.write('tiny-v2.onnx', tinyClassifier());
  files.write('tiny-v2.accel.json', JSON.stringify({ preprocess: { mean: 0, std: 1, scale: 1 } }));
  runtime = new Runtime({ threads: 1 });
  await runtime.load([
    { name: 'tiny', path: v1 },
    { name: 'tiny', path: v2 },
    { name: 'pair', path: files.write('pair.onnx', twoInputModel()) },
  ]);
});
afterAll(async () => {
  await runtime.close();
  files.cleanup();
});

describe('Runtime', () => {
  it('numbers versions in order and serves the latest by default', () => {
    expect(runtime.status({ name: 'tiny' }).map((s) => [s.version, s.state])).toEqual([
      [2, 'AVAILABLE'],
      [1, 'AVAILABLE'],
    ]);
    expect(runtime.resolve({ name: 'tiny' }).version).toBe(2);
    expect(runtime.resolve({ name: 'tiny', version: 1 }).version).toBe(1);
  });

  it('decodes a PNG per the spec and gives the exact classifier output', async () => {
    const png = await solidPng(200, 100, 50);
    const v1 = await runtime.predict({ name: 'tiny', version: 1 }, { images: { dtype: 'string', shape: [1], data: [png] } });
    const means = [200, 100, 50].map((p, c) => (p / 255 - [0.485, 0.456, 0.406][c]) / [0.229, 0.224, 0.225][c]);
    const expected = tinyReference(means);
    const probs = Array.from(v1.outputs.probs.data as Float32Array);
    probs.forEach((p, i) => expect(p).toBeCloseTo(expected[i], 5));
    expect(v1.outputs.output_alias.shape).toEqual([1, 5]);
    // version 2's sidecar turns normalization off: raw 0..255 pixel values.
    const v2 = await runtime.predict({ name: 'tiny' }, { images: { dtype: 'string', shape: [1], data: [png] } });
    const raw = tinyReference([200, 100, 50]);
    Array.from(v2.outputs.probs.data as Float32Array).forEach((p, i) => expect(p).toBeCloseTo(raw[i], 5));
  });

  it('runs a batch and keeps each item its own result', async () => {
    const a = await solidPng(10, 20, 30);
    const b = await solidPng(250, 240, 5, 64, 64);
    const batch = await runtime.predict({ name: 'tiny' }, { images: { dtype: 'string', shape: [2], data: [a, b] } });
    const one = await runtime.predict({ name: 'tiny' }, { images: { dtype: 'string', shape: [1], data: [b] } });
    expect(batch.outputs.probs.shape).toEqual([2, 5]);
    expect(Array.from(batch.outputs.probs.data.slice(5, 10) as Float32Array)).toEqual(Array.from(one.outputs.probs.data as Float32Array));
  });

  it('names what exists when a model or version is unknown', () => {
    expect(() => runtime.resolve({ name: 'nope' })).toThrowError(/Model "nope" is not served here. Models served: "pair", "tiny"/);
    expect(() => runtime.resolve({ name: 'tiny', version: 7 })).toThrowError(/no version 7. Versions served: 1, 2/);
    expect(() => runtime.resolve({})).toThrowError(AccelError);
  });

  it('checks dtype, shape and missing inputs', async () => {
    const f32 = (shape: number[]) => ({ dtype: 'float32' as const, shape, data: new Float32Array(shape.reduce((x, y) => x * y, 1)) });
    await expect(runtime.predict({ name: 'pair' }, { a: f32([1, 2]) })).rejects.toMatchObject({ code: 'ACCEL_ERR_MISSING_INPUT' });
    await expect(runtime.predict({ name: 'pair' }, { a: f32([1, 3]), b: f32([1, 3]) })).rejects.toMatchObject({ code: 'ACCEL_ERR_BAD_SHAPE' });
    await expect(runtime.predict({ name: 'pair' }, { a: f32([1, 2]), b: f32([2, 2]) })).rejects.toMatchObject({ code: 'ACCEL_ERR_BATCH_MISMATCH' });
    await expect(
      runtime.predict({ name: 'pair' }, { a: { dtype: 'int32', shape: [1, 2], data: new Int32Array(2) }, b: f32([1, 2]) }),
    ).rejects.toMatchObject({ code: 'ACCEL_ERR_BAD_DTYPE' });
    await expect(runtime.predict({ name: 'pair' }, { a: f32([1, 2]), b: f32([1, 2]), c: f32([1, 2]) })).rejects.toMatchObject({
      code: 'ACCEL_ERR_UNKNOWN_INPUT',
    });
    const sum = await runtime.predict({ name: 'pair' }, {
      a: { dtype: 'float32', shape: [1, 2], data: new Float32Array([1, 2]) },
      b: { dtype: 'float32', shape: [1, 2], data: new Float32Array([3, 5]) },
    }, { outputFilter: ['product'] });
    expect(Object.keys(sum.outputs)).toEqual(['product']);
    expect(Array.from(sum.outputs.product.data as Float32Array)).toEqual([3, 10]);
  });

  it('refuses corrupt image bytes and empty batches', async () => {
    const err = await runtime.predict({ name: 'tiny' }, { images: { dtype: 'string', shape: [2], data: [await solidPng(1, 2, 3), Buffer.from('not an image')] } }).catch((e) => e);
    expect(err).toMatchObject({ code: 'ACCEL_ERR_BAD_IMAGE' });
    expect(err.message).toMatch(/Input "images" item 1 is not a decodable JPEG or PNG image/);
    await expect(runtime.predict({ name: 'tiny' }, { images: { dtype: 'string', shape: [0], data: [] } })).rejects.toMatchObject({
      code: 'ACCEL_ERR_EMPTY_BATCH',
    });
  });
});

describe('Runtime lifecycle', () => {
  it('is ready only once loading and warm-up finished, and not while draining', async () => {
    const dir = modelDir();
    const rt = new Runtime({ threads: 1 });
    expect(rt.ready).toBe(false);
    const loading = rt.load([{ name: 'tiny', path: dir.write('a.onnx', tinyClassifier()) }]);
    expect(rt.ready).toBe(false);
    await loading;
    expect(rt.ready).toBe(true);
    rt.beginShutdown();
    expect(rt.ready).toBe(false);
    expect(rt.resolve({}).name).toBe('tiny'); // requests still arriving are served while draining
    await rt.close();
    dir.cleanup();
  });

  it('refuses a version that is unloading and every request once closed', async () => {
    const dir = modelDir();
    const rt = new Runtime({ threads: 1 });
    await rt.load([{ name: 'tiny', path: dir.write('a.onnx', tinyClassifier()) }, { name: 'tiny', path: dir.write('b.onnx', tinyClassifier()) }]);
    await rt.resolve({ name: 'tiny', version: 1 }).unload();
    expect(() => rt.resolve({ name: 'tiny', version: 1 })).toThrowError(expect.objectContaining({ code: 'ACCEL_ERR_NOT_READY' }));
    expect(rt.resolve({ name: 'tiny' }).version).toBe(2);
    await rt.close();
    expect(() => rt.resolve({ name: 'tiny' })).toThrowError(expect.objectContaining({ code: 'ACCEL_ERR_SHUTTING_DOWN' }));
    expect(rt.ready).toBe(false);
    dir.cleanup();
  });

  it('reports a model that fails while running as ACCEL_ERR_INFERENCE and keeps serving', async () => {
    const g = new GraphBuilder('gather');
    g.input('idx', 'int64', ['N']);
    const table = g.initializer('table', [4], new Float32Array([10, 20, 30, 40]));
    g.output(g.node('Gather', [table, 'idx'], { name: 'value' }), 'float32', ['N']);
    const dir = modelDir();
    const rt = new Runtime({ threads: 1 });
    await rt.load([{ name: 'lookup', path: dir.write('lookup.onnx', g.toBytes()) }]);
    const idx = (...v: bigint[]) => ({ idx: { dtype: 'int64' as const, shape: [v.length], data: new BigInt64Array(v) } });
    await expect(rt.predict({}, idx(9n))).rejects.toMatchObject({ code: 'ACCEL_ERR_INFERENCE', message: expect.stringMatching(/Model "lookup" version 1 failed to run/) });
    const ok = await rt.predict({}, idx(1n, 3n));
    expect(Array.from(ok.outputs.value.data as Float32Array)).toEqual([20, 40]);
    await rt.close();
    dir.cleanup();
  });
});

describe('Runtime.load', () => {
  it('says which file failed and why', async () => {
    const dir = modelDir();
    const rt = new Runtime({ threads: 1 });
    const bad = dir.write('broken.onnx', 'this is not onnx');
    const err = await rt.load([{ name: 'broken', path: bad }]).catch((e) => e);
    expect(err).toMatchObject({ code: 'ACCEL_ERR_MODEL_LOAD', message: expect.stringMatching(/Could not load model "broken" version 1 from .*broken.onnx/) });
    dir.cleanup();
  });

  it('is ready again after a failed load stops a list half way', async () => {
    const dir = modelDir();
    const rt = new Runtime({ threads: 1 });
    await expect(rt.load([{ name: 'broken', path: dir.write('b.onnx', 'x') }, { name: 'never', path: dir.write('n.onnx', tinyClassifier()) }])).rejects.toMatchObject({
      code: 'ACCEL_ERR_MODEL_LOAD',
    });
    expect(rt.ready).toBe(false);
    await rt.load([{ name: 'good', path: dir.write('g.onnx', tinyClassifier()) }]);
    expect(rt.ready).toBe(true);
    expect(() => rt.resolve({ name: 'never' })).toThrowError(/not served here/);
    await rt.close();
    dir.cleanup();
  });

  it('serves the models that load with allowPartial and reports the failure in status', async () => {
    const dir = modelDir();
    const rt = new Runtime({ threads: 1, allowPartial: true });
    await rt.load([
      { name: 'broken', path: dir.write('broken.onnx', 'nope') },
      { name: 'good', path: dir.write('good.onnx', tinyClassifier()) },
    ]);
    expect(rt.ready).toBe(true);
    expect(rt.status({ name: 'broken' })[0]).toMatchObject({ version: 1, state: 'FAILED' });
    await rt.close();
    dir.cleanup();
  });
});

describe('Runtime.load and Runtime.unload on a running runtime (hot swap)', () => {
  it('adds a version that takes over "latest", and unloads the old one only after its in-flight requests', async () => {
    const dir = modelDir();
    const rt = new Runtime({ threads: 1, batching: { maxBatchSize: 1 } });
    try {
      await rt.load([{ name: 'm', path: dir.write('a.onnx', slowModel(400)), version: 1 }]);
      const loading = rt.load([{ name: 'm', path: dir.write('b.onnx', slowModel(400)), version: 2 }]);
      expect(rt.ready).toBe(true); // version 1 serves while 2 loads
      await loading;
      expect(rt.resolve({ name: 'm' }).version).toBe(2);
      await expect(rt.load([{ name: 'm', path: dir.write('c.onnx', tinyClassifier()), version: 2 }])).rejects.toMatchObject({
        code: 'ACCEL_ERR_USAGE',
        message: expect.stringMatching(/Model "m" version 2 is already loaded: unload it first/),
      });

      let unloaded = false;
      const x = { x: { dtype: 'float32' as const, shape: [64, 512], data: new Float32Array(64 * 512) } };
      const inFlight = [1, 2, 3].map(() => rt.predict({ name: 'm', version: 1 }, x).then((r) => ({ version: r.version, unloadedBefore: unloaded })));
      const unloading = rt.unload('m', 1).then(() => (unloaded = true));
      expect(() => rt.resolve({ name: 'm', version: 1 })).toThrowError(expect.objectContaining({ code: 'ACCEL_ERR_NOT_READY' }));
      expect(await Promise.all(inFlight)).toEqual([1, 2, 3].map(() => ({ version: 1, unloadedBefore: false })));
      await unloading;
      expect(rt.status({ name: 'm' }).map((s) => `${s.version} ${s.state}`)).toEqual(['2 AVAILABLE']);
      await expect(rt.unload('m', 1)).rejects.toMatchObject({ code: 'ACCEL_ERR_VERSION_NOT_FOUND' });
      await rt.unload('m', 2);
      expect(() => rt.resolve({ name: 'm' })).toThrowError(expect.objectContaining({ code: 'ACCEL_ERR_MODEL_NOT_FOUND' }));
      expect(rt.ready).toBe(false);
    } finally {
      await rt.close();
      dir.cleanup();
    }
  });

  it('with force, answers queued requests ACCEL_ERR_SHUTTING_DOWN at once on close', async () => {
    const dir = modelDir();
    const rt = new Runtime({ threads: 1, batching: { maxBatchSize: 1 } });
    await rt.load([{ name: 'm', path: dir.write('a.onnx', slowModel(400)) }]);
    const x = { x: { dtype: 'float32' as const, shape: [64, 512], data: new Float32Array(64 * 512) } };
    const queued = Array.from({ length: 8 }, () => rt.predict({}, x).then(() => 'ok', (e: AccelError) => e.code));
    await rt.close({ force: true });
    const seen = await Promise.all(queued);
    expect(seen.filter((c) => c === 'ACCEL_ERR_SHUTTING_DOWN').length).toBeGreaterThanOrEqual(7);
    expect(seen.every((c) => c === 'ok' || c === 'ACCEL_ERR_SHUTTING_DOWN')).toBe(true);
    dir.cleanup();
  });
});
