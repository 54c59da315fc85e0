import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { SCHEMA } from './schema';
import { SqliteStore } from './sqlite';
import { describeStoreContract } from './store.contract';

const REPO = fileURLToPath(new URL('../../../..', import.meta.url));
const dirs: string[] = [];
const freshDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'accel-sqlite-'));
  dirs.push(dir);
  return dir;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describeStoreContract('sqlite', async () => new SqliteStore(join(freshDir(), 'workspace.db')));

describe('sqlite across processes and versions', () => {
  it('gives images created by several processes at once distinct, consecutive versions', async () => {
    const db = join(freshDir(), 'workspace.db');
    await new SqliteStore(db).close();
    const module = pathToFileURL(join(REPO, 'packages/accel/src/workspace/sqlite.ts')).href;
    const code = `
      const { SqliteStore } = await import(${JSON.stringify(module)});
      const store = new SqliteStore(${JSON.stringify(db)});
      const image = { name: 'shared', state: 'Building', digest: '', size: 0, location: 'images/shared/{version}', models: [], tags: {}, jobId: '', error: '' };
      // Start together: each waits for "go" on stdin after saying it is ready.
      console.error('ready');
      await new Promise((r) => process.stdin.once('data', r));
      const versions = [];
      for (let i = 0; i < 200; i++) versions.push((await store.insertImage(image)).version);
      await store.close();
      console.log(JSON.stringify(versions));`;
    const children = [0, 1, 2].map(() => {
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: REPO, stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (d) => (out += d));
      const ready = new Promise<void>((resolve) => child.stderr.on('data', (d) => ((err += d), err.includes('ready') && resolve())));
      const done = new Promise<number[]>((resolve, reject) =>
        child.on('exit', (status) => (status === 0 ? resolve(JSON.parse(out) as number[]) : reject(new Error(`child exited ${status}: ${err}`)))),
      );
      return { child, ready: Promise.race([ready, done.then(() => undefined)]), done };
    });
    await Promise.all(children.map((c) => c.ready));
    for (const c of children) c.child.stdin.end('go\n');
    const all = (await Promise.all(children.map((c) => c.done))).flat();
    expect(all.sort((a, b) => a - b)).toEqual(Array.from({ length: 600 }, (_, i) => i + 1));
    const store = new SqliteStore(db);
    try {
      expect((await store.listImages()).map((i) => i.location)).toEqual(Array.from({ length: 600 }, (_, i) => `images/shared/${600 - i}`));
    } finally {
      await store.close();
    }
  }, 60_000);

  it('upgrades a workspace made before images and services existed, keeping its records', async () => {
    const path = join(freshDir(), 'workspace.db');
    const old = new Database(path);
    for (const sql of SCHEMA.filter((s) => !/TABLE IF NOT EXISTS (images|services) /.test(s))) old.exec(sql);
    old.prepare(`INSERT INTO meta (key, value) VALUES ('schema_version', '1')`).run();
    old.prepare(`INSERT INTO models VALUES ('old', 1, 'sha256:${'a'.repeat(64)}', 3, 'file', 'm.onnx', '', '{}', '{}', '2025-01-01T00:00:00.000Z')`).run();
    expect(old.prepare(`SELECT name FROM sqlite_master WHERE name IN ('images', 'services')`).all()).toEqual([]);
    old.close();

    const store = new SqliteStore(path);
    try {
      expect((await store.getModel('old'))?.id).toBe('old:1');
      expect((await store.insertImage({ name: 'new', state: 'Building', digest: '', size: 0, location: 'images/new/{version}', models: ['old:1'], tags: {}, jobId: '', error: '' })).id).toBe('new:1');
      expect((await store.insertService({ name: 'svc', image: 'new:1', compute: 'edge', target: 'local', state: 'Transitioning', scoringUri: '', grpcUri: '', config: {}, keys: {}, runtime: {}, errors: '' })).name).toBe('svc');
    } finally {
      await store.close();
    }
  });
});
