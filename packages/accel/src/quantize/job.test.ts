import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawGrpcClient, startTestServer } from '../test-util/server';
import { optimizedOps, synthCnn } from './test-models';

/**
 * `accel quantize` end to end on the synthetic CNN: a registered ONNX folder with its sidecar,
 * calibrated on generated photos-like images, registered as `<name>-int8` with lineage, and
 * served like any other model.
 */
const BIN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'accel.js');
let root: string;
let wsDir: string;
/** Where the first test downloaded the int8 model. */
let int8Folder: string;

function accel(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args, '--workspace', wsDir], { cwd: root, encoding: 'utf8', timeout: 180_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A smooth colour gradient with a shape, different per index. */
async function picture(k: number): Promise<Buffer> {
  const w = 40;
  const h = 32;
  const px = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const inside = (x - 10 - k) ** 2 + (y - 16) ** 2 < 60 + 10 * (k % 4);
      px.set([(x * 6 + k * 20) % 256, inside ? 230 : (y * 7) % 256, (k * 37) % 256], (y * w + x) * 3);
    }
  }
  return sharp(px, { raw: { width: w, height: h, channels: 3 } }).jpeg().toBuffer();
}

const PREPROCESS = { width: 16, height: 16, layout: 'NCHW', channelOrder: 'RGB', resize: 'stretch', cropFraction: 1, scale: 1 / 255, mean: [0, 0, 0], std: [1, 1, 1] };
const LABELS = ['a', 'b', 'c', 'd', 'e'];

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'accel-quantize-job-'));
  wsDir = join(root, 'ws');
  expect(spawnSync(process.execPath, [BIN, 'workspace', 'init', wsDir]).status).toBe(0);
  mkdirSync(join(root, 'synth'));
  writeFileSync(join(root, 'synth', 'model.onnx'), synthCnn());
  writeFileSync(join(root, 'synth', 'model.accel.json'), JSON.stringify({ preprocess: PREPROCESS, labels: LABELS }));
  expect(accel(['model', 'register', join(root, 'synth'), '--name', 'synth', '--tag', 'task=classify']).code).toBe(0);
  mkdirSync(join(root, 'calib'));
  for (let k = 0; k < 20; k++) writeFileSync(join(root, 'calib', `p${String(k).padStart(2, '0')}.jpg`), await picture(k));
  mkdirSync(join(root, 'broken'));
  writeFileSync(join(root, 'broken', 'a.jpg'), await picture(1));
  writeFileSync(join(root, 'broken', 'b.jpg'), 'not a jpeg');
  mkdirSync(join(root, 'empty'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('accel quantize (job)', () => {
  it('registers an int8 model linked to its source, with the report and serving settings in its sidecar', () => {
    const r = accel(['quantize', 'synth', '--calibration', 'calib', '-o', 'json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ state: 'succeeded', name: 'synth-int8', version: 1, source: 'synth:1' });
    expect(out.report.images).toBe(4); // every 5th of 20 held out
    expect(out.report.top1Agreement).toBeGreaterThanOrEqual(0.75);
    expect(out.report.latency.batch1.int8Ms).toBeGreaterThan(0);
    expect(r.stderr).toMatch(/top-1 \d+\.\d% of images predict the same class/);

    const show = JSON.parse(accel(['model', 'show', 'synth-int8', '-o', 'json']).stdout);
    expect(show.tags).toEqual({ format: 'onnx', quantized: 'int8', task: 'classify' });
    expect(show.derivedFrom).toEqual(['model synth:1']);

    const dl = join(root, 'dl');
    const folder: string = JSON.parse(accel(['model', 'download', 'synth-int8', dl, '-o', 'json']).stdout).path;
    int8Folder = folder;
    const sidecar = JSON.parse(readFileSync(join(folder, 'model.accel.json'), 'utf8'));
    expect(sidecar.labels).toEqual(LABELS);
    expect(sidecar.preprocess).toMatchObject({ width: 16, height: 16, layout: 'NCHW' });
    expect(sidecar.quantization).toMatchObject({ source: 'synth:1', method: 'percentile', perChannel: true, calibrationImages: 16, evaluationImages: 4 });
    expect(sidecar.quantization.floatNodes).toEqual([expect.objectContaining({ op: 'Softmax' })]);
  });

  it('serves the quantized model like any other: JPEG in over gRPC, integer kernels inside', async () => {
    const folder = int8Folder;
    expect(await optimizedOps(readFileSync(join(folder, 'model.onnx')))).toContain('QLinearConv');
    const server = await startTestServer([{ name: 'synth', path: join(folder, 'model.onnx') }]);
    const client = rawGrpcClient(server.grpcAddress);
    try {
      const res = await client.call('Predict', {
        model_spec: { name: 'synth' },
        inputs: { image: { dtype: 'DT_STRING', tensor_shape: { dim: [{ size: 1 }] }, string_val: [await picture(3)] } },
      });
      const scores = Object.values(res.outputs as Record<string, { float_val: number[]; tensor_content: Buffer }>)[0]!;
      const values = scores.float_val?.length ? scores.float_val : Array.from(new Float32Array(new Uint8Array(scores.tensor_content).buffer));
      expect(values).toHaveLength(5);
      expect(values.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 3);
    } finally {
      client.close();
      await server.shutdown();
    }
  });

  it('fails clearly on unreadable or missing calibration images and registers nothing', () => {
    const broken = accel(['quantize', 'synth', '--calibration', 'broken', '--name', 'never', '-o', 'json']);
    expect(broken.code).not.toBe(0);
    expect(JSON.parse(broken.stdout)).toMatchObject({ state: 'failed', error: expect.stringMatching(/Cannot read ".*broken\/b\.jpg" as a JPEG or PNG image/) });
    const empty = accel(['quantize', 'synth', '--calibration', 'empty', '--name', 'never', '-o', 'json']);
    expect(empty.code).not.toBe(0);
    expect(empty.stderr).toContain('ACCEL_ERR_QUANTIZE_NO_IMAGES');
    expect(accel(['model', 'show', 'never']).code).not.toBe(0);
  });
});
