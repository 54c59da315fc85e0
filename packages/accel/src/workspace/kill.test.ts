/**
 * kill -9 of the CLI in the middle of each step that writes to the workspace (register,
 * convert, image build): afterwards the workspace opens, the interrupted job is failed, no
 * half-written artifact is listed as usable, `accel workspace verify` is clean, and the same
 * command succeeds when run again. The blob-level version (a writer killed mid-put) is in
 * blobs.test.ts.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { smallTfCnn, writeTfjsGraphModel } from '../test-util/convert';
import { tinyClassifier } from '../test-util/models';
import { bigFile, killWhen, runAccel } from '../test-util/processes';
import { Workspace } from './workspace';

let root: string;
let wsDir: string;
const accel = (args: string[]) => runAccel(args, { workspace: wsDir });

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'accel-kill-'));
  wsDir = join(root, 'ws');
  expect(runAccel(['workspace', 'init', wsDir]).code).toBe(0);
  await writeTfjsGraphModel(smallTfCnn().graph, join(root, 'tiny-tf'));
  expect(accel(['model', 'register', join(root, 'tiny-tf'), '--name', 'tiny-tf']).code).toBe(0);
  writeFileSync(join(root, 'tiny.onnx'), tinyClassifier());
  expect(accel(['model', 'register', join(root, 'tiny.onnx'), '--name', 'tiny']).code).toBe(0);
}, 120_000);
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Kills `accel ARGS --workspace DIR` once its output matches `when`; fails unless it was still running. */
async function killMidway(args: string[], when: RegExp): Promise<void> {
  const killed = await killWhen([...args, '--workspace', wsDir], when);
  expect(killed.signal, `it ended by itself before the kill:\n${killed.output}`).toBe('SIGKILL');
}

/** `accel workspace verify` finds every blob intact and none missing (exit code 0). */
function expectVerifyClean() {
  const verify = accel(['workspace', 'verify', '-o', 'json']);
  expect(verify.code, verify.stderr).toBe(0);
  expect(JSON.parse(verify.stdout)).toMatchObject({ ok: true, missing: [], corrupt: [] });
}

async function withWorkspace<T>(fn: (ws: Workspace) => Promise<T>): Promise<T> {
  const ws = await Workspace.open(wsDir);
  try {
    return await fn(ws);
  } finally {
    await ws.close();
  }
}

describe('kill -9 of the CLI', () => {
  it('during `model register`: no row, no partial blob, verify clean; the same register then gives version 1', async () => {
    const args = ['model', 'register', bigFile(join(root, 'big.bin'), 400, 1), '--name', 'big'];
    await killMidway(args, /registering .*: [1-9]\d%/);
    await withWorkspace(async (ws) => {
      expect(await ws.listModels({ name: 'big' })).toEqual([]);
      expect(await ws.verify()).toMatchObject({ ok: true, missing: [], corrupt: [] });
    });
    // Opening removed the killed writer's temp file.
    expect(readdirSync(join(wsDir, 'blobs', 'tmp'))).toEqual([]);
    expectVerifyClean();
    const again = accel([...args, '-o', 'json']);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ id: 'big:1' });
  }, 240_000);

  it('during `convert`: the job is failed as interrupted, no converted model is listed, verify clean; convert then succeeds', async () => {
    const args = ['convert', 'tiny-tf', '--input-tensors', 'input_1:0', '--output-tensors', 'model/predictions/Softmax:0'];
    await killMidway(args, /parsing: /);
    await withWorkspace(async (ws) => {
      const [job] = await ws.store.listJobs({ kind: 'convert' });
      expect(job).toMatchObject({ state: 'failed', error: expect.stringMatching(/^interrupted: process \d+ ended without finishing the job$/) });
      expect(await ws.listModels({ name: 'tiny-tf-onnx' })).toEqual([]);
    });
    expectVerifyClean();
    const again = accel([...args, '-o', 'json']);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ state: 'succeeded', model: 'tiny-tf-onnx:1' });
  }, 240_000);

  it('during `image create`: the job is failed and the image Failed (not left Building), verify clean; image create then succeeds', async () => {
    const args = ['image', 'create', 'img', '--model', 'tiny'];
    await killMidway(args, /layer app: /);
    const half = await withWorkspace(async (ws) => {
      const image = await ws.getImage('img', 1);
      expect(image).toMatchObject({ state: 'Failed', error: expect.stringMatching(/^build job image-build-\S+ failed: interrupted: process \d+ ended/) });
      expect(await ws.getJob(image.jobId)).toMatchObject({ state: 'failed' });
      return ws.imageDir(image);
    });
    expectVerifyClean();
    const again = accel([...args, '-o', 'json']);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ id: 'img:2', state: 'Succeeded' });
    // The half-written layout goes with its record.
    expect(accel(['image', 'delete', 'img:1']).code).toBe(0);
    expect(existsSync(half)).toBe(false);
  }, 300_000);
});
