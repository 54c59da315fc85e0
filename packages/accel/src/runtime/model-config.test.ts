import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { modelDir, tinyClassifier } from '../test-util/models';
import { applyModels, readModelConfig } from './model-config';
import { Runtime } from './runtime';

const dir = modelDir();
afterAll(() => dir.cleanup());
const a = dir.write('a.onnx', tinyClassifier());
const b = dir.write('b.onnx', tinyClassifier());
const broken = dir.write('broken.onnx', 'not a model');

const served = (rt: Runtime) => rt.servables().map((s) => `${s.name}:${s.version} ${s.state}`).sort();

describe('readModelConfig', () => {
  it('reads name, path (relative to the file) and version; numbers versions left out like --model', () => {
    const file = dir.write('models.json', JSON.stringify({ models: [{ name: 'm', path: 'a.onnx', version: 3 }, { name: 'm', path: 'b.onnx' }] }));
    expect(readModelConfig(file)).toEqual([{ name: 'm', path: a, version: 3 }, { name: 'm', path: b }]);
  });

  it('names the file and the problem', () => {
    const cases: Array<[string, RegExp]> = [
      ['{"models": [', /models\.json: .*JSON/],
      ['{"model": []}', /expected \{"models": \[/],
      ['{"models": [{"name": "m"}]}', /models\[0\] needs a "name" and a "path"/],
      ['{"models": [{"name": "m", "path": "a.onnx", "version": 0}]}', /models\[0\]\.version must be a positive integer, got 0/],
    ];
    for (const [text, message] of cases) {
      const file = dir.write('models.json', text);
      expect(() => readModelConfig(file)).toThrowError(expect.objectContaining({ code: 'ACCEL_ERR_USAGE', message: expect.stringMatching(message) }));
    }
    expect(() => readModelConfig(join(dir.dir, 'missing.json'))).toThrowError(/missing\.json: ENOENT/);
  });
});

describe('applyModels', () => {
  it('loads the versions listed, then unloads the ones no longer listed', async () => {
    const rt = new Runtime({ threads: 1 });
    try {
      await rt.load([{ name: 'm', path: a, version: 1 }, { name: 'other', path: a }]);
      const r = await applyModels(rt, [{ name: 'm', path: b, version: 2 }]);
      expect(r).toEqual({ loaded: ['m:2'], unloaded: expect.arrayContaining(['m:1', 'other:1']), failed: [], kept: [] });
      expect(served(rt)).toEqual(['m:2 AVAILABLE']);
      // Applying the same list again changes nothing.
      expect(await applyModels(rt, [{ name: 'm', path: b, version: 2 }])).toEqual({ loaded: [], unloaded: [], failed: [], kept: [] });
    } finally {
      await rt.close();
    }
  });

  it('keeps the old version serving when the new one fails to load', async () => {
    const rt = new Runtime({ threads: 1 });
    try {
      await rt.load([{ name: 'm', path: a, version: 1 }]);
      const r = await applyModels(rt, [{ name: 'm', path: broken, version: 2 }]);
      expect(r).toEqual({ loaded: [], unloaded: [], failed: ['m:2'], kept: ['m:1'] });
      expect(served(rt)).toEqual(['m:1 AVAILABLE']);
      expect(rt.status({ name: 'm' }).map((s) => `${s.version} ${s.state}`)).toEqual(['2 FAILED', '1 AVAILABLE']);
      // Fixed under the same version number: it loads, and the old one goes.
      writeFileSync(broken, tinyClassifier());
      expect(await applyModels(rt, [{ name: 'm', path: broken, version: 2 }])).toEqual({ loaded: ['m:2'], unloaded: ['m:1'], failed: [], kept: [] });
      expect(rt.status({ name: 'm' }).map((s) => `${s.version} ${s.state}`)).toEqual(['2 AVAILABLE']);
    } finally {
      await rt.close();
    }
  });
});
