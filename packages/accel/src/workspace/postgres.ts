import pg from 'pg';
import { AccelError } from '../errors';
import {
  COMPUTE_COLUMNS,
  IMAGE_COLUMNS,
  JOB_COLUMNS,
  SERVICE_COLUMNS,
  SCHEMA,
  SCHEMA_VERSION,
  allocationFromRow,
  computeFromRow,
  edgeFromRow,
  imageFromRow,
  jobFromRow,
  modelFromRow,
  patchColumns,
  serviceFromRow,
} from './schema';
import type {
  Allocation,
  ArtifactKind,
  ArtifactRef,
  ComputeRecord,
  Edge,
  ImagePatch,
  ImageRecord,
  JobPatch,
  JobRecord,
  JobState,
  LogChunk,
  MetadataStore,
  ModelRecord,
  NewImage,
  NewModel,
  Relation,
  ServicePatch,
  ServiceRecord,
} from './types';
import { FINAL_JOB_STATES } from './types';

type Row = Record<string, unknown>;
const now = () => new Date().toISOString();

/** Unquoted PostgreSQL identifier, so it can go into search_path and DDL as is. */
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;
const UNIQUE_VIOLATION = '23505';
/** First key of every advisory lock Accel takes ("ACCE"), so they stay apart from other users' locks. */
const LOCK_CLASS = 0x41434345;

/**
 * The shared metadata store: PostgreSQL through a connection pool. Writers that must not race
 * (version numbers, log sequence numbers, accelerator allocation) serialise on an advisory lock
 * or a row lock inside a transaction, so separate processes get the same guarantees as SQLite.
 * Text is ordered with COLLATE "C" to match SQLite's byte order whatever the database locale.
 */
export class PostgresStore implements MetadataStore {
  readonly backend = 'postgres';
  /** Tail of each in-process queue, by key (see inOrder). */
  private readonly queues = new Map<string, Promise<unknown>>();

  private constructor(private readonly pool: pg.Pool) {}

  /**
   * Connects and creates the tables if missing, in `opts.schema` when given (created if needed
   * and put on every pooled connection's search_path).
   *
   * @example
   * const store = await PostgresStore.connect('postgres://accel:accel@db:5432/accel', { schema: 'team_a' });
   */
  static async connect(url: string, opts: { schema?: string } = {}): Promise<PostgresStore> {
    const { schema } = opts;
    if (schema !== undefined && !SCHEMA_NAME.test(schema)) {
      throw new AccelError('ACCEL_ERR_USAGE', {
        reason: `a PostgreSQL schema name is lowercase letters, digits and "_", starting with a letter or "_", at most 63 characters; got "${schema}"`,
      });
    }
    const types = new pg.TypeOverrides();
    types.setTypeParser(pg.types.builtins.INT8, Number);
    const pool = new pg.Pool({ ...connection(url, schema), types });
    // An idle client whose connection dies is dropped by the pool; without a listener the
    // 'error' event would crash the process. The next query opens a fresh connection.
    pool.on('error', () => undefined);
    const store = new PostgresStore(pool);
    try {
      await store.tx(async (c) => {
        // Concurrent CREATE ... IF NOT EXISTS can still collide in the catalogue: take turns.
        await lock(c, 'schema');
        if (schema) await c.query(`CREATE SCHEMA IF NOT EXISTS ${pg.escapeIdentifier(schema)}`);
        for (const sql of SCHEMA) await c.query(sql);
        await c.query('INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT DO NOTHING', ['schema_version', String(SCHEMA_VERSION)]);
      });
    } catch (err) {
      await pool.end();
      throw err;
    }
    return store;
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  async insertModel(m: NewModel): Promise<ModelRecord> {
    const row = await this.inOrder(`model:${m.name}`, () =>
      this.tx(async (c) => {
        await lock(c, `model:${m.name}`);
        const next = await one(c, 'SELECT COALESCE(MAX(version), 0) + 1 AS next FROM models WHERE name = $1', [m.name]);
        return one(
          c,
          `INSERT INTO models (name, version, digest, size, format, file_name, description, tags, properties, created_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING *`,
          [m.name, next!.next, m.digest, m.size, m.format, m.fileName, m.description, JSON.stringify(m.tags), JSON.stringify(m.properties), now()],
        );
      }),
    );
    return modelFromRow(row!);
  }

  async getModel(name: string, version?: number): Promise<ModelRecord | undefined> {
    const row =
      version === undefined
        ? await one(this.pool, 'SELECT * FROM models WHERE name = $1 ORDER BY version DESC LIMIT 1', [name])
        : await one(this.pool, 'SELECT * FROM models WHERE name = $1 AND version = $2', [name, version]);
    return row ? modelFromRow(row) : undefined;
  }

  async listModels(filter: { name?: string; tags?: Record<string, string> } = {}): Promise<ModelRecord[]> {
    const rows = filter.name
      ? await all(this.pool, 'SELECT * FROM models WHERE name = $1 ORDER BY version DESC', [filter.name])
      : await all(this.pool, 'SELECT * FROM models ORDER BY name COLLATE "C", version DESC');
    const records = rows.map(modelFromRow);
    const tags = Object.entries(filter.tags ?? {});
    return tags.length ? records.filter((r) => tags.every(([k, v]) => r.tags[k] === v)) : records;
  }

  async updateModelTags(name: string, version: number, set: Record<string, string>, remove: readonly string[]): Promise<ModelRecord | undefined> {
    const row = await this.tx(async (c) => {
      const current = await one(c, 'SELECT tags FROM models WHERE name = $1 AND version = $2 FOR UPDATE', [name, version]);
      if (!current) return undefined;
      const tags = { ...(JSON.parse(String(current.tags)) as Record<string, string>), ...set };
      for (const k of remove) delete tags[k];
      return one(c, 'UPDATE models SET tags = $1 WHERE name = $2 AND version = $3 RETURNING *', [JSON.stringify(tags), name, version]);
    });
    return row ? modelFromRow(row) : undefined;
  }

  async deleteModel(name: string, version: number): Promise<boolean> {
    return this.tx(async (c) => {
      await c.query('DELETE FROM edges WHERE from_kind = $1 AND from_id = $2', ['model', `${name}:${version}`]);
      return ((await c.query('DELETE FROM models WHERE name = $1 AND version = $2', [name, version])).rowCount ?? 0) > 0;
    });
  }

  async addEdges(from: ArtifactRef, to: readonly ArtifactRef[], relation: Relation): Promise<void> {
    await this.tx(async (c) => {
      for (const t of to) {
        await c.query('INSERT INTO edges (from_kind, from_id, to_kind, to_id, relation) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING', [
          from.kind,
          from.id,
          t.kind,
          t.id,
          relation,
        ]);
      }
    });
  }

  async edgesTo(ref: ArtifactRef): Promise<Edge[]> {
    return (await all(this.pool, 'SELECT * FROM edges WHERE to_kind = $1 AND to_id = $2 ORDER BY from_kind COLLATE "C", from_id COLLATE "C"', [ref.kind, ref.id])).map(edgeFromRow);
  }

  async edgesFrom(ref: ArtifactRef): Promise<Edge[]> {
    return (await all(this.pool, 'SELECT * FROM edges WHERE from_kind = $1 AND from_id = $2 ORDER BY to_kind COLLATE "C", to_id COLLATE "C"', [ref.kind, ref.id])).map(edgeFromRow);
  }

  async listEdges(filter: { fromKind?: ArtifactKind } = {}): Promise<Edge[]> {
    const where = filter.fromKind ? 'WHERE from_kind = $1' : '';
    const params = filter.fromKind ? [filter.fromKind] : [];
    return (await all(this.pool, `SELECT * FROM edges ${where} ORDER BY from_kind COLLATE "C", from_id COLLATE "C", to_kind COLLATE "C", to_id COLLATE "C"`, params)).map(edgeFromRow);
  }

  async removeEdgesFrom(ref: ArtifactRef): Promise<void> {
    await this.pool.query('DELETE FROM edges WHERE from_kind = $1 AND from_id = $2', [ref.kind, ref.id]);
  }

  async createJob(job: Pick<JobRecord, 'id' | 'kind' | 'inputs' | 'host'>): Promise<JobRecord> {
    const row = await one(
      this.pool,
      `INSERT INTO jobs (id, kind, state, inputs, outputs, error, pid, host, cancel_requested, created_at)
       VALUES ($1, $2, 'queued', $3, '{}', '', NULL, $4, 0, $5) RETURNING *`,
      [job.id, job.kind, JSON.stringify(job.inputs), job.host, now()],
    );
    return jobFromRow(row!);
  }

  private async patchJob(id: string, patch: JobPatch, onlyIfOpen: boolean): Promise<JobRecord | undefined> {
    const sets: string[] = [];
    const values: unknown[] = [];
    for (const [key, value] of Object.entries(patch)) {
      const column = JOB_COLUMNS[key];
      if (!column || value === undefined) continue;
      values.push(column[1](value));
      sets.push(`${column[0]} = $${values.length}`);
    }
    if (sets.length) {
      values.push(id);
      let sql = `UPDATE jobs SET ${sets.join(', ')} WHERE id = $${values.length}`;
      if (onlyIfOpen) {
        values.push(FINAL_JOB_STATES);
        sql += ` AND state <> ALL($${values.length}::text[])`;
      }
      const updated = await one(this.pool, `${sql} RETURNING *`, values);
      if (updated) return jobFromRow(updated);
    }
    // Nothing to set, no such job, or a final job left as it was: report it as it is.
    return this.getJob(id);
  }

  async updateJob(id: string, patch: JobPatch): Promise<JobRecord | undefined> {
    return this.patchJob(id, patch, false);
  }

  async finishJob(id: string, patch: JobPatch & { state: JobState }): Promise<JobRecord | undefined> {
    return this.patchJob(id, patch, true);
  }

  async getJob(id: string): Promise<JobRecord | undefined> {
    const row = await one(this.pool, 'SELECT * FROM jobs WHERE id = $1', [id]);
    return row ? jobFromRow(row) : undefined;
  }

  async listJobs(filter: { kind?: string; states?: readonly JobState[] } = {}): Promise<JobRecord[]> {
    const where: string[] = [];
    const values: unknown[] = [];
    if (filter.kind) {
      values.push(filter.kind);
      where.push(`kind = $${values.length}`);
    }
    if (filter.states?.length) {
      values.push(filter.states);
      where.push(`state = ANY($${values.length}::text[])`);
    }
    const sql = `SELECT * FROM jobs ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at COLLATE "C" DESC, id COLLATE "C" DESC`;
    return (await all(this.pool, sql, values)).map(jobFromRow);
  }

  async appendJobLog(id: string, text: string): Promise<void> {
    await this.inOrder(`job-log:${id}`, () =>
      this.tx(async (c) => {
        await lock(c, `job-log:${id}`);
        await c.query(
          `INSERT INTO job_logs (job_id, seq, text, at)
           SELECT $1, COALESCE(MAX(seq), 0) + 1, $2, $3 FROM job_logs WHERE job_id = $1`,
          [id, text, now()],
        );
      }),
    );
  }

  async jobLog(id: string, afterSeq = 0): Promise<LogChunk[]> {
    return (await all(this.pool, 'SELECT seq, text, at FROM job_logs WHERE job_id = $1 AND seq > $2 ORDER BY seq', [id, afterSeq])).map((r) => ({
      seq: Number(r.seq),
      text: String(r.text),
      at: String(r.at),
    }));
  }

  async insertCompute(c: Omit<ComputeRecord, 'createdAt'>): Promise<ComputeRecord> {
    try {
      const row = await one(
        this.pool,
        `INSERT INTO computes (name, type, accelerator_type, accelerators, state, errors, properties, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *`,
        [c.name, c.type, c.acceleratorType, c.accelerators, c.state, JSON.stringify(c.errors), JSON.stringify(c.properties), now()],
      );
      return computeFromRow(row!);
    } catch (err) {
      if ((err as { code?: string }).code === UNIQUE_VIOLATION) {
        throw new AccelError('ACCEL_ERR_ALREADY_EXISTS', { what: 'Compute target', name: c.name });
      }
      throw err;
    }
  }

  async getCompute(name: string): Promise<ComputeRecord | undefined> {
    const row = await one(this.pool, 'SELECT * FROM computes WHERE name = $1', [name]);
    return row ? computeFromRow(row) : undefined;
  }

  async listComputes(): Promise<ComputeRecord[]> {
    return (await all(this.pool, 'SELECT * FROM computes ORDER BY name COLLATE "C"')).map(computeFromRow);
  }

  async updateCompute(name: string, patch: Partial<Pick<ComputeRecord, 'state' | 'errors' | 'properties'>>): Promise<ComputeRecord | undefined> {
    const sets: string[] = [];
    const values: unknown[] = [];
    for (const [key, value] of Object.entries(patch)) {
      const column = COMPUTE_COLUMNS[key];
      if (!column || value === undefined) continue;
      values.push(column[1](value));
      sets.push(`${column[0]} = $${values.length}`);
    }
    if (!sets.length) return this.getCompute(name);
    values.push(name);
    const row = await one(this.pool, `UPDATE computes SET ${sets.join(', ')} WHERE name = $${values.length} RETURNING *`, values);
    return row ? computeFromRow(row) : undefined;
  }

  async deleteCompute(name: string): Promise<boolean> {
    return ((await this.pool.query('DELETE FROM computes WHERE name = $1', [name])).rowCount ?? 0) > 0;
  }

  async allocate(compute: string, owner: ArtifactRef, count: number): Promise<Allocation> {
    const row = await this.inOrder(`allocate:${compute}`, () =>
      this.tx(async (c) => {
        // The row lock makes concurrent allocations on one target take turns.
        const target = await one(c, 'SELECT accelerators, accelerator_type FROM computes WHERE name = $1 FOR UPDATE', [compute]);
        if (!target) throw new AccelError('ACCEL_ERR_ARTIFACT_NOT_FOUND', { what: 'Compute target', name: compute, hint: ' See `accel compute list`.' });
        const { used } = (await one(
          c,
          'SELECT COALESCE(SUM(count), 0) AS used FROM allocations WHERE compute = $1 AND NOT (owner_kind = $2 AND owner_id = $3)',
          [compute, owner.kind, owner.id],
        ))!;
        const inUse = Number(used);
        const total = Number(target.accelerators);
        if (inUse + count > total) {
          throw new AccelError('ACCEL_ERR_QUOTA_EXCEEDED', { compute, free: total - inUse, total, inUse, requested: count, type: String(target.accelerator_type) });
        }
        return one(
          c,
          `INSERT INTO allocations (compute, owner_kind, owner_id, count, created_at) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (compute, owner_kind, owner_id) DO UPDATE SET count = EXCLUDED.count, created_at = EXCLUDED.created_at
           RETURNING *`,
          [compute, owner.kind, owner.id, count, now()],
        );
      }),
    );
    return allocationFromRow(row!);
  }

  async release(owner: ArtifactRef): Promise<void> {
    await this.pool.query('DELETE FROM allocations WHERE owner_kind = $1 AND owner_id = $2', [owner.kind, owner.id]);
  }

  async allocations(compute?: string): Promise<Allocation[]> {
    const rows = compute
      ? await all(this.pool, 'SELECT * FROM allocations WHERE compute = $1 ORDER BY created_at COLLATE "C"', [compute])
      : await all(this.pool, 'SELECT * FROM allocations ORDER BY compute COLLATE "C", created_at COLLATE "C"');
    return rows.map(allocationFromRow);
  }

  /** A `{version}` in the location becomes the version assigned, which the caller cannot know beforehand. */
  async insertImage(i: NewImage): Promise<ImageRecord> {
    const row = await this.inOrder(`image:${i.name}`, () =>
      this.tx(async (c) => {
        await lock(c, `image:${i.name}`);
        const next = await one(c, 'SELECT COALESCE(MAX(version), 0) + 1 AS next FROM images WHERE name = $1', [i.name]);
        return one(
          c,
          `INSERT INTO images (name, version, state, digest, size, location, models, tags, job_id, error, created_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING *`,
          [i.name, next!.next, i.state, i.digest, i.size, i.location.replaceAll('{version}', String(next!.next)), JSON.stringify(i.models), JSON.stringify(i.tags), i.jobId, i.error, now()],
        );
      }),
    );
    return imageFromRow(row!);
  }

  async getImage(name: string, version?: number): Promise<ImageRecord | undefined> {
    const row =
      version === undefined
        ? await one(this.pool, 'SELECT * FROM images WHERE name = $1 ORDER BY version DESC LIMIT 1', [name])
        : await one(this.pool, 'SELECT * FROM images WHERE name = $1 AND version = $2', [name, version]);
    return row ? imageFromRow(row) : undefined;
  }

  async listImages(filter: { name?: string } = {}): Promise<ImageRecord[]> {
    const rows = filter.name
      ? await all(this.pool, 'SELECT * FROM images WHERE name = $1 ORDER BY version DESC', [filter.name])
      : await all(this.pool, 'SELECT * FROM images ORDER BY name COLLATE "C", version DESC');
    return rows.map(imageFromRow);
  }

  async updateImage(name: string, version: number, patch: ImagePatch): Promise<ImageRecord | undefined> {
    const sets = patchColumns(IMAGE_COLUMNS, patch);
    if (!sets.length) return this.getImage(name, version);
    const values = [...sets.map(([, v]) => v), name, version];
    const sql = `UPDATE images SET ${sets.map(([col], i) => `${col} = $${i + 1}`).join(', ')} WHERE name = $${sets.length + 1} AND version = $${sets.length + 2} RETURNING *`;
    const row = await one(this.pool, sql, values);
    return row ? imageFromRow(row) : undefined;
  }

  async deleteImage(name: string, version: number): Promise<boolean> {
    return this.tx(async (c) => {
      await c.query('DELETE FROM edges WHERE from_kind = $1 AND from_id = $2', ['image', `${name}:${version}`]);
      return ((await c.query('DELETE FROM images WHERE name = $1 AND version = $2', [name, version])).rowCount ?? 0) > 0;
    });
  }

  async insertService(s: Omit<ServiceRecord, 'createdAt' | 'updatedAt'>): Promise<ServiceRecord> {
    const at = now();
    try {
      const row = await one(
        this.pool,
        `INSERT INTO services (name, image, compute, target, state, scoring_uri, grpc_uri, config, keys, runtime, errors, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) RETURNING *`,
        [s.name, s.image, s.compute, s.target, s.state, s.scoringUri, s.grpcUri, JSON.stringify(s.config), JSON.stringify(s.keys), JSON.stringify(s.runtime), s.errors, at],
      );
      return serviceFromRow(row!);
    } catch (err) {
      if ((err as { code?: string }).code === UNIQUE_VIOLATION) throw new AccelError('ACCEL_ERR_ALREADY_EXISTS', { what: 'Service', name: s.name });
      throw err;
    }
  }

  async getService(name: string): Promise<ServiceRecord | undefined> {
    const row = await one(this.pool, 'SELECT * FROM services WHERE name = $1', [name]);
    return row ? serviceFromRow(row) : undefined;
  }

  async listServices(): Promise<ServiceRecord[]> {
    return (await all(this.pool, 'SELECT * FROM services ORDER BY name COLLATE "C"')).map(serviceFromRow);
  }

  async updateService(name: string, patch: ServicePatch): Promise<ServiceRecord | undefined> {
    const sets: Array<[string, unknown]> = [...patchColumns(SERVICE_COLUMNS, patch), ['updated_at', now()]];
    const sql = `UPDATE services SET ${sets.map(([col], i) => `${col} = $${i + 1}`).join(', ')} WHERE name = $${sets.length + 1} RETURNING *`;
    const row = await one(this.pool, sql, [...sets.map(([, v]) => v), name]);
    return row ? serviceFromRow(row) : undefined;
  }

  async deleteService(name: string): Promise<boolean> {
    return this.tx(async (c) => {
      await c.query('DELETE FROM edges WHERE from_kind = $1 AND from_id = $2', ['service', name]);
      return ((await c.query('DELETE FROM services WHERE name = $1', [name])).rowCount ?? 0) > 0;
    });
  }

  async referencedDigests(): Promise<Set<string>> {
    return new Set((await all(this.pool, 'SELECT DISTINCT digest FROM models')).map((r) => String(r.digest)));
  }

  /**
   * Runs calls with the same key one after another, in call order. SQLite applies one process's
   * calls in the order they are made; a pool would let them overtake each other, so log chunks
   * could land out of order and a later allocation could win over an earlier one. Other processes
   * are kept apart by the locks in the database.
   */
  private inOrder<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const run = (this.queues.get(key) ?? Promise.resolve()).then(fn);
    const tail = run.catch(() => undefined);
    this.queues.set(key, tail);
    void tail.then(() => {
      if (this.queues.get(key) === tail) this.queues.delete(key);
    });
    return run;
  }

  /** Runs `fn` in a transaction on one pooled connection; rolls back if it throws. */
  private async tx<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      // A connection that cannot even roll back is not returned to the pool.
      await client.query('ROLLBACK').catch((e: Error) => (broken = e));
      throw err;
    } finally {
      client.release(broken);
    }
  }
}

type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

async function all(db: Queryable, sql: string, values: unknown[] = []): Promise<Row[]> {
  return (await db.query<Row>(sql, values)).rows;
}

async function one(db: Queryable, sql: string, values: unknown[] = []): Promise<Row | undefined> {
  return (await all(db, sql, values))[0];
}

/** Holds a transaction-scoped advisory lock on `key` until the transaction ends. */
async function lock(client: pg.PoolClient, key: string): Promise<void> {
  await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [LOCK_CLASS, key]);
}

/**
 * The connection settings, with `-c search_path=<schema>` in the startup options so that every
 * pooled connection starts in the schema. pg lets options in the URL override the config, so
 * options the URL already carries are merged into the URL instead.
 */
function connection(url: string, schema: string | undefined): { connectionString: string; options?: string } {
  if (!schema) return { connectionString: url };
  const searchPath = `-c search_path=${schema}`;
  const parsed = URL.canParse(url) ? new URL(url) : undefined;
  const fromUrl = parsed?.searchParams.get('options');
  if (!parsed || !fromUrl) return { connectionString: url, options: searchPath };
  parsed.searchParams.set('options', `${fromUrl} ${searchPath}`);
  return { connectionString: parsed.toString() };
}
