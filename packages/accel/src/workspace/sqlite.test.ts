import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { SqliteStore } from './sqlite';
import { describeStoreContract } from './store.contract';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describeStoreContract('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'accel-sqlite-'));
  dirs.push(dir);
  return new SqliteStore(join(dir, 'workspace.db'));
});
