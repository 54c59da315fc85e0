import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { imagenetLabels } from '@accel/client';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { modelDir, tinyClassifier } from '../test-util/models';
import { Workspace } from '../workspace/workspace';
import { SidecarCache, classLabels } from './labels';

const files = modelDir();
let ws: Workspace;

function folder(name: string, contents: Record<string, string | Uint8Array>): string {
  const dir = join(files.dir, name);
  mkdirSync(dir, { recursive: true });
  for (const [file, bytes] of Object.entries(contents)) writeFileSync(join(dir, file), bytes);
  return dir;
}

beforeAll(async () => {
  ws = await Workspace.open(join(files.dir, 'ws'), { create: true });
});
afterAll(async () => {
  await ws.close();
  files.cleanup();
});

describe('SidecarCache', () => {
  it("reads the labels of a model folder's sidecar from its blob, once per model version", async () => {
    const labels = ['cat', 'dog', 'fox', 'owl', 'yak'];
    const m = await ws.registerModel(folder('with', { 'a-notes.txt': 'before the sidecar', 'model.accel.json': JSON.stringify({ labels, preprocess: {} }), 'model.onnx': tinyClassifier() }), { name: 'with' });
    const cache = new SidecarCache(ws);
    const open = vi.spyOn(ws.blobs, 'open');
    try {
      expect(await cache.get(m)).toMatchObject({ labels });
      expect(await cache.get(m)).toMatchObject({ labels });
      expect(open).toHaveBeenCalledTimes(1);
    } finally {
      open.mockRestore();
    }
  });

  it('gives no labels for a single-file model or a folder without a sidecar', async () => {
    const cache = new SidecarCache(ws);
    const file = await ws.registerModel(files.write('plain.onnx', tinyClassifier()), { name: 'plain' });
    const bare = await ws.registerModel(folder('bare', { 'model.onnx': tinyClassifier() }), { name: 'bare' });
    expect(await cache.get(file)).toEqual({});
    expect(await cache.get(bare)).toEqual({});
  });

  it('reads again when a version number now names other content (the latest was deleted and registered anew)', async () => {
    const cache = new SidecarCache(ws);
    const first = await ws.registerModel(folder('again-1', { 'model.accel.json': JSON.stringify({ labels: ['old'] }), 'model.onnx': tinyClassifier() }), { name: 'again' });
    expect(await cache.get(first)).toEqual({ labels: ['old'] });
    await ws.delete([{ kind: 'model', id: first.id }]);
    const second = await ws.registerModel(folder('again-2', { 'model.accel.json': JSON.stringify({ labels: ['new'] }), 'model.onnx': tinyClassifier() }), { name: 'again' });
    expect(second.id).toBe(first.id);
    expect(await cache.get(second)).toEqual({ labels: ['new'] });
  });
});

describe('classLabels', () => {
  it("prefers the sidecar's labels, then ImageNet names for 1000 classes, else none (the index is shown)", () => {
    expect(classLabels({ labels: ['a', 'b'] }, 1000)).toEqual(['a', 'b']);
    expect(classLabels({}, 1000)).toEqual(imagenetLabels());
    const withBackground = classLabels({ labels: [] }, 1001)!;
    expect([withBackground[0], withBackground[290]]).toEqual(['background', imagenetLabels()[289]]);
    expect(classLabels({}, 5)).toBeUndefined();
  });
});
