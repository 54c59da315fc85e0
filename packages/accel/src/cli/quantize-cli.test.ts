import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tinyClassifier } from '../test-util/models';

const BIN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'accel.js');
let root: string;
let wsDir: string;

function accel(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args, '--workspace', wsDir], { cwd: root, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The error a `-o json` run printed on stderr. */
const errorOf = (stderr: string) => JSON.parse(stderr.trim().split('\n').pop()!).error as { code: string; message: string };

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'accel-quantize-cli-'));
  wsDir = join(root, 'ws');
  expect(spawnSync(process.execPath, [BIN, 'workspace', 'init', wsDir]).status).toBe(0);
  writeFileSync(join(root, 'tiny.onnx'), tinyClassifier({ size: 8 }));
  expect(accel(['model', 'register', join(root, 'tiny.onnx'), '--name', 'tiny']).code).toBe(0);
  mkdirSync(join(root, 'calib'));
  writeFileSync(join(root, 'calib', 'a.png'), await sharp({ create: { width: 8, height: 8, channels: 3, background: '#808080' } }).png().toBuffer());
  mkdirSync(join(root, 'empty'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('accel quantize', () => {
  it('documents its flags in --help', () => {
    const r = accel(['quantize', '--help']);
    expect(r.code).toBe(0);
    for (const flag of ['--calibration <dir>', '--evaluation <dir>', '--method <method>', 'minmax, entropy, percentile', '--per-channel', '--no-per-channel', '--exclude <node>', '--name <name>', '--limit <n>', '--no-wait']) {
      expect(r.stdout.replace(/\s+/g, ' ')).toContain(flag);
    }
  });

  it('refuses bad flags before starting a job (ACCEL_ERR_USAGE, exit code 2)', () => {
    const method = accel(['quantize', 'tiny', '--calibration', 'calib', '--method', 'fastest', '-o', 'json']);
    expect(method.code).toBe(2);
    expect(errorOf(method.stderr)).toEqual({ code: 'ACCEL_ERR_USAGE', message: '--method must be one of minmax, entropy, percentile, got "fastest"' });
    const limit = accel(['quantize', 'tiny', '--calibration', 'calib', '--limit', '0']);
    expect([limit.code, limit.stderr]).toEqual([2, 'error: --limit must be a positive integer, got "0"\n']);
    const missing = accel(['quantize', 'tiny']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("required option '--calibration <dir>' not specified");
  });

  it('checks the image folders, resolved from the working directory, before starting a job', () => {
    const r = accel(['quantize', 'tiny', '--calibration', 'nowhere', '-o', 'json']);
    expect(r.code).toBe(1);
    expect(errorOf(r.stderr)).toEqual({ code: 'ACCEL_ERR_QUANTIZE_NO_IMAGES', message: expect.stringContaining(`Found no images in "${join(root, 'nowhere')}": the folder does not exist`) });
    const empty = accel(['quantize', 'tiny', '--calibration', 'calib', '--evaluation', 'empty', '-o', 'json']);
    expect(errorOf(empty.stderr)).toMatchObject({ code: 'ACCEL_ERR_QUANTIZE_NO_IMAGES', message: expect.stringContaining(`"${join(root, 'empty')}": it holds no files (0 entries seen`) });
  });

  it('names an unknown model (ACCEL_ERR_ARTIFACT_NOT_FOUND, exit code 1) and starts no job', () => {
    const r = accel(['quantize', 'nope:3', '--calibration', 'calib', '-o', 'json']);
    expect(r.code).toBe(1);
    expect(errorOf(r.stderr)).toMatchObject({ code: 'ACCEL_ERR_ARTIFACT_NOT_FOUND', message: expect.stringContaining('Model "nope:3" does not exist') });
    expect(JSON.parse(accel(['job', 'list', '-o', 'json']).stdout)).toEqual([]);
  });
});
