import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';

const BIN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'accel.js');
const dir = mkdtempSync(join(tmpdir(), 'accel-zoo-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const accel = (args: string[]) => {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 180_000, env: { ...process.env, ACCEL_HOME: join(dir, 'home') } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
};

describe('accel zoo', () => {
  it('lists the catalogue with sizes, parameters and outputs', () => {
    const rows = JSON.parse(accel(['zoo', 'list', '-o', 'json']).stdout) as Array<{ name: string; parameters: number; outputs: string[]; input: string }>;
    const resnet = rows.find((r) => r.name === 'resnet50')!;
    expect(resnet).toMatchObject({ input: '224x224', parameters: 25_557_032, outputs: ['classifier/resnet_v1_50/predictions/Softmax:0'] });
    expect(accel(['zoo', 'list']).stdout).toMatch(/^NAME\s+INT8 VARIANT\s+INPUT\s+PARAMS\s+GMACS\s+OUTPUTS\s+PREPROCESSING\s+WEIGHTS CACHED\nresnet50\s+QuantizedResnet50\s+224x224\s+25\.6 M/);
    expect(resnet).toMatchObject({ cachedWeights: [] });
  });

  it('builds a model with its sidecar, and round-trips weights through a built file', async () => {
    const random = join(dir, 'resnet50-random.onnx');
    const first = accel(['zoo', 'build', 'resnet50', '--weights', 'random', '--seed', '3', '-o', random]);
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/wrote .*resnet50-random.onnx .*25557032 parameters/);
    expect(JSON.parse(readFileSync(join(dir, 'resnet50-random.accel.json'), 'utf8'))).toMatchObject({
      preprocess: { width: 224, height: 224, layout: 'NCHW' },
      zoo: { architecture: 'resnet50', weights: 'random' },
    });
    const loaded = join(dir, 'resnet50.onnx');
    const second = JSON.parse(accel(['zoo', 'build', 'resnet50', '--weights', random, '--out', loaded, '-o', 'json']).stdout);
    expect(second).toMatchObject({ name: 'resnet50', parameters: 25_557_032 });
    const x = new ort.Tensor('float32', new Float32Array(3 * 224 * 224).map((_, i) => Math.cos(i)), [1, 3, 224, 224]);
    const out = 'classifier/resnet_v1_50/predictions/Softmax:0';
    const a = await (await ort.InferenceSession.create(random)).run({ 'input:0': x });
    const b = await (await ort.InferenceSession.create(loaded)).run({ 'input:0': x });
    expect(Array.from(b[out].data as Float32Array)).toEqual(Array.from(a[out].data as Float32Array));
  }, 120_000);

  it('imports a weights file against its pin and lists it as cached', async () => {
    const { sha256File } = await import('../zoo/weights');
    const file = join(dir, 'resnet50-random.onnx');
    const pin = await sha256File(file);
    const bad = accel(['zoo', 'import', 'resnet50', file, '--sha256', '0'.repeat(64)]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/Nothing was cached/);
    expect(accel(['zoo', 'import', 'resnet50', file, '--sha256', pin]).stdout).toMatch(/^imported: .*resnet50-random.onnx/);
    const rows = JSON.parse(accel(['zoo', 'list', '-o', 'json']).stdout) as Array<{ name: string; cachedWeights: string[] }>;
    expect(rows.find((r) => r.name === 'resnet50')!.cachedWeights).toEqual([expect.stringContaining(pin)]);
  }, 60_000);

  it('explains what is missing', () => {
    const noWeights = accel(['zoo', 'build', 'resnet50', '-o', join(dir, 'x.onnx')]);
    expect(noWeights.code).toBe(2);
    expect(noWeights.stderr).toMatch(/no pretrained resnet50 weights are published yet: pass --weights FILE .* or --weights random/);
    expect(accel(['zoo', 'build', 'resnet51', '--weights', 'random', '-o', join(dir, 'x.onnx')]).stderr).toMatch(/no model "resnet51" in the zoo \(models: resnet50, resnet152/);
    expect(accel(['zoo', 'build', 'resnet50', '--weights', join(dir, 'nope.onnx'), '-o', join(dir, 'x.onnx')]).stderr).toMatch(/cannot read weights file .*nope.onnx: ENOENT/);
  });
});
