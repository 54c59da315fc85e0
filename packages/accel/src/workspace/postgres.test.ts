import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { PostgresStore } from './postgres';
import { SCHEMA } from './schema';
import { describeStoreContract } from './store.contract';
import type { NewImage, NewModel } from './types';

// Start a server with `bash scripts/pg-test-server.sh`; it prints the URL to set.
const url = process.env.ACCEL_TEST_DATABASE_URL;

describe.skipIf(!url)('postgres (set ACCEL_TEST_DATABASE_URL to run)', () => {
  const schemas: string[] = [];
  const freshSchema = () => {
    const schema = `accel_test_${randomBytes(6).toString('hex')}`;
    schemas.push(schema);
    return schema;
  };

  afterAll(async () => {
    const admin = new pg.Pool({ connectionString: url });
    try {
      for (const schema of schemas) await admin.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(schema)} CASCADE`);
    } finally {
      await admin.end();
    }
  });

  describeStoreContract('postgres', () => PostgresStore.connect(url!, { schema: freshSchema() }));

  const model = (name: string): NewModel => ({
    name,
    digest: `sha256:${'a'.repeat(64)}`,
    size: 2 ** 40,
    format: 'file',
    fileName: 'model.onnx',
    description: '',
    tags: {},
    properties: {},
  });

  /** Two stores with their own pools on one schema, like two processes; both connect at once. */
  async function twoProcesses(): Promise<[PostgresStore, PostgresStore]> {
    const schema = freshSchema();
    return Promise.all([PostgresStore.connect(url!, { schema }), PostgresStore.connect(url!, { schema })]);
  }

  it('gives two processes inserting one name distinct, consecutive versions', async () => {
    const [a, b] = await twoProcesses();
    try {
      const inserts = Array.from({ length: 30 }, (_, i) => (i % 2 ? a : b).insertModel(model('shared')));
      const versions = (await Promise.all(inserts)).map((m) => m.version);
      expect(versions.sort((x, y) => x - y)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
      expect((await a.getModel('shared'))?.size).toBe(2 ** 40);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('gives two processes creating images of one name distinct, consecutive versions', async () => {
    const [a, b] = await twoProcesses();
    const image: NewImage = { name: 'shared', state: 'Building', digest: '', size: 0, location: 'images/shared/{version}', models: ['m:1'], tags: {}, jobId: '', error: '' };
    try {
      const versions = (await Promise.all(Array.from({ length: 30 }, (_, i) => (i % 2 ? a : b).insertImage(image)))).map((m) => m.version);
      expect(versions.sort((x, y) => x - y)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
      expect((await a.listImages()).map((i) => i.location)).toEqual(Array.from({ length: 30 }, (_, i) => `images/shared/${30 - i}`));
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('upgrades a schema made before images and services existed, keeping its records', async () => {
    const schema = freshSchema();
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      await admin.query(`CREATE SCHEMA ${schema}`);
      await admin.query(`SET search_path = ${schema}`);
      for (const sql of SCHEMA.filter((q) => !/TABLE IF NOT EXISTS (images|services) /.test(q))) await admin.query(sql);
      await admin.query(`INSERT INTO models VALUES ('old', 1, 'sha256:${'a'.repeat(64)}', 3, 'file', 'm.onnx', '', '{}', '{}', '2025-01-01T00:00:00.000Z')`);
      expect((await admin.query(`SELECT 1 FROM information_schema.tables WHERE table_schema = $1 AND table_name IN ('images', 'services')`, [schema])).rowCount).toBe(0);
    } finally {
      await admin.end();
    }
    const store = await PostgresStore.connect(url!, { schema });
    try {
      expect((await store.getModel('old'))?.id).toBe('old:1');
      expect((await store.insertImage({ name: 'new', state: 'Building', digest: '', size: 0, location: 'images/new/{version}', models: ['old:1'], tags: {}, jobId: '', error: '' })).id).toBe('new:1');
      expect((await store.insertService({ name: 'svc', image: 'new:1', compute: 'edge', target: 'local', state: 'Transitioning', scoringUri: '', grpcUri: '', config: {}, keys: {}, runtime: {}, errors: '' })).name).toBe('svc');
    } finally {
      await store.close();
    }
  });

  it('numbers log chunks 1, 2, 3... when two processes append at once', async () => {
    const [a, b] = await twoProcesses();
    try {
      await a.createJob({ id: 'job-1', kind: 'convert', inputs: {}, host: 'h' });
      await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).appendJobLog('job-1', `${i}\n`)));
      expect((await b.jobLog('job-1')).map((c) => c.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('never over-allocates when two processes allocate at once', async () => {
    const [a, b] = await twoProcesses();
    try {
      await a.insertCompute({ name: 'gpu', type: 'local', acceleratorType: 'gpu', accelerators: 3, state: 'Succeeded', errors: [], properties: {} });
      const results = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => (i % 2 ? a : b).allocate('gpu', { kind: 'service', id: `s${i}` }, 1)));
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(3);
      expect((await b.allocations('gpu')).length).toBe(3);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('keeps schemas apart and refuses a schema name it would have to quote', async () => {
    const [a, b] = [await PostgresStore.connect(url!, { schema: freshSchema() }), await PostgresStore.connect(url!, { schema: freshSchema() })];
    try {
      await a.insertModel(model('only-in-a'));
      expect(await b.getModel('only-in-a')).toBeUndefined();
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
    await expect(PostgresStore.connect(url!, { schema: 'Bad; DROP' })).rejects.toMatchObject({ code: 'ACCEL_ERR_USAGE' });
  });
});
