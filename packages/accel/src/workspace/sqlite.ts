import Database from 'better-sqlite3';
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

/**
 * The embedded metadata store: one SQLite file in WAL mode. Writers that race take turns
 * (immediate transactions with a busy timeout), so two processes registering the same name get
 * consecutive versions.
 */
export class SqliteStore implements MetadataStore {
  readonly backend = 'sqlite';
  private readonly db: Database.Database;

  constructor(path: string) {
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.pragma('busy_timeout = 10000');
    this.db.pragma('foreign_keys = ON');
    this.db.transaction(() => {
      for (const sql of SCHEMA) this.db.exec(sql);
      this.db.prepare('INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)').run('schema_version', String(SCHEMA_VERSION));
    }).immediate();
  }

  async close(): Promise<void> {
    this.db.close();
  }

  async insertModel(m: NewModel): Promise<ModelRecord> {
    const insert = this.db.transaction((): Row => {
      const { next } = this.db.prepare('SELECT COALESCE(MAX(version), 0) + 1 AS next FROM models WHERE name = ?').get(m.name) as { next: number };
      const row = {
        name: m.name,
        version: next,
        digest: m.digest,
        size: m.size,
        format: m.format,
        file_name: m.fileName,
        description: m.description,
        tags: JSON.stringify(m.tags),
        properties: JSON.stringify(m.properties),
        created_at: now(),
      };
      this.db
        .prepare(
          `INSERT INTO models (name, version, digest, size, format, file_name, description, tags, properties, created_at)
           VALUES (@name, @version, @digest, @size, @format, @file_name, @description, @tags, @properties, @created_at)`,
        )
        .run(row);
      return row;
    });
    return modelFromRow(insert.immediate());
  }

  async getModel(name: string, version?: number): Promise<ModelRecord | undefined> {
    const row =
      version === undefined
        ? this.db.prepare('SELECT * FROM models WHERE name = ? ORDER BY version DESC LIMIT 1').get(name)
        : this.db.prepare('SELECT * FROM models WHERE name = ? AND version = ?').get(name, version);
    return row ? modelFromRow(row as Row) : undefined;
  }

  async listModels(filter: { name?: string; tags?: Record<string, string> } = {}): Promise<ModelRecord[]> {
    const rows = (
      filter.name
        ? this.db.prepare('SELECT * FROM models WHERE name = ? ORDER BY name, version DESC').all(filter.name)
        : this.db.prepare('SELECT * FROM models ORDER BY name, version DESC').all()
    ) as Row[];
    const records = rows.map(modelFromRow);
    const tags = Object.entries(filter.tags ?? {});
    return tags.length ? records.filter((r) => tags.every(([k, v]) => r.tags[k] === v)) : records;
  }

  async updateModelTags(name: string, version: number, set: Record<string, string>, remove: readonly string[]): Promise<ModelRecord | undefined> {
    const update = this.db.transaction((): Row | undefined => {
      const row = this.db.prepare('SELECT * FROM models WHERE name = ? AND version = ?').get(name, version) as Row | undefined;
      if (!row) return undefined;
      const tags = { ...(JSON.parse(String(row.tags)) as Record<string, string>), ...set };
      for (const k of remove) delete tags[k];
      const json = JSON.stringify(tags);
      this.db.prepare('UPDATE models SET tags = ? WHERE name = ? AND version = ?').run(json, name, version);
      return { ...row, tags: json };
    });
    const row = update.immediate();
    return row ? modelFromRow(row) : undefined;
  }

  async deleteModel(name: string, version: number): Promise<boolean> {
    return this.db.transaction(() => {
      this.db.prepare('DELETE FROM edges WHERE from_kind = ? AND from_id = ?').run('model', `${name}:${version}`);
      return this.db.prepare('DELETE FROM models WHERE name = ? AND version = ?').run(name, version).changes > 0;
    }).immediate();
  }

  async addEdges(from: ArtifactRef, to: readonly ArtifactRef[], relation: Relation): Promise<void> {
    const stmt = this.db.prepare('INSERT OR IGNORE INTO edges (from_kind, from_id, to_kind, to_id, relation) VALUES (?, ?, ?, ?, ?)');
    this.db.transaction(() => {
      for (const t of to) stmt.run(from.kind, from.id, t.kind, t.id, relation);
    }).immediate();
  }

  async edgesTo(ref: ArtifactRef): Promise<Edge[]> {
    return (this.db.prepare('SELECT * FROM edges WHERE to_kind = ? AND to_id = ? ORDER BY from_kind, from_id').all(ref.kind, ref.id) as Row[]).map(edgeFromRow);
  }

  async edgesFrom(ref: ArtifactRef): Promise<Edge[]> {
    return (this.db.prepare('SELECT * FROM edges WHERE from_kind = ? AND from_id = ? ORDER BY to_kind, to_id').all(ref.kind, ref.id) as Row[]).map(edgeFromRow);
  }

  async listEdges(filter: { fromKind?: ArtifactKind } = {}): Promise<Edge[]> {
    const where = filter.fromKind ? 'WHERE from_kind = ?' : '';
    const params = filter.fromKind ? [filter.fromKind] : [];
    return (this.db.prepare(`SELECT * FROM edges ${where} ORDER BY from_kind, from_id, to_kind, to_id`).all(...params) as Row[]).map(edgeFromRow);
  }

  async removeEdgesFrom(ref: ArtifactRef): Promise<void> {
    this.db.prepare('DELETE FROM edges WHERE from_kind = ? AND from_id = ?').run(ref.kind, ref.id);
  }

  async createJob(job: Pick<JobRecord, 'id' | 'kind' | 'inputs' | 'host'>): Promise<JobRecord> {
    this.db
      .prepare(
        `INSERT INTO jobs (id, kind, state, inputs, outputs, error, pid, host, cancel_requested, created_at)
         VALUES (?, ?, 'queued', ?, '{}', '', NULL, ?, 0, ?)`,
      )
      .run(job.id, job.kind, JSON.stringify(job.inputs), job.host, now());
    return (await this.getJob(job.id))!;
  }

  private patchJob(id: string, patch: JobPatch, onlyIfOpen: boolean): JobRecord | undefined {
    const sets: string[] = [];
    const values: unknown[] = [];
    for (const [key, value] of Object.entries(patch)) {
      const column = JOB_COLUMNS[key];
      if (!column || value === undefined) continue;
      sets.push(`${column[0]} = ?`);
      values.push(column[1](value));
    }
    if (sets.length) {
      const guard = onlyIfOpen ? ` AND state NOT IN (${FINAL_JOB_STATES.map(() => '?').join(', ')})` : '';
      this.db.prepare(`UPDATE jobs SET ${sets.join(', ')} WHERE id = ?${guard}`).run(...values, id, ...(onlyIfOpen ? FINAL_JOB_STATES : []));
    }
    const row = this.db.prepare('SELECT * FROM jobs WHERE id = ?').get(id);
    return row ? jobFromRow(row as Row) : undefined;
  }

  async updateJob(id: string, patch: JobPatch): Promise<JobRecord | undefined> {
    return this.patchJob(id, patch, false);
  }

  async finishJob(id: string, patch: JobPatch & { state: JobState }): Promise<JobRecord | undefined> {
    return this.patchJob(id, patch, true);
  }

  async getJob(id: string): Promise<JobRecord | undefined> {
    const row = this.db.prepare('SELECT * FROM jobs WHERE id = ?').get(id);
    return row ? jobFromRow(row as Row) : undefined;
  }

  async listJobs(filter: { kind?: string; states?: readonly JobState[] } = {}): Promise<JobRecord[]> {
    const where: string[] = [];
    const values: unknown[] = [];
    if (filter.kind) {
      where.push('kind = ?');
      values.push(filter.kind);
    }
    if (filter.states?.length) {
      where.push(`state IN (${filter.states.map(() => '?').join(', ')})`);
      values.push(...filter.states);
    }
    const sql = `SELECT * FROM jobs ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC, id DESC`;
    return (this.db.prepare(sql).all(...values) as Row[]).map(jobFromRow);
  }

  async appendJobLog(id: string, text: string): Promise<void> {
    this.db.transaction(() => {
      const { next } = this.db.prepare('SELECT COALESCE(MAX(seq), 0) + 1 AS next FROM job_logs WHERE job_id = ?').get(id) as { next: number };
      this.db.prepare('INSERT INTO job_logs (job_id, seq, text, at) VALUES (?, ?, ?, ?)').run(id, next, text, now());
    }).immediate();
  }

  async jobLog(id: string, afterSeq = 0): Promise<LogChunk[]> {
    return (this.db.prepare('SELECT seq, text, at FROM job_logs WHERE job_id = ? AND seq > ? ORDER BY seq').all(id, afterSeq) as Row[]).map((r) => ({
      seq: Number(r.seq),
      text: String(r.text),
      at: String(r.at),
    }));
  }

  async insertCompute(c: Omit<ComputeRecord, 'createdAt'>): Promise<ComputeRecord> {
    try {
      this.db
        .prepare(
          `INSERT INTO computes (name, type, accelerator_type, accelerators, state, errors, properties, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(c.name, c.type, c.acceleratorType, c.accelerators, c.state, JSON.stringify(c.errors), JSON.stringify(c.properties), now());
    } catch (err) {
      if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
        throw new AccelError('ACCEL_ERR_ALREADY_EXISTS', { what: 'Compute target', name: c.name });
      }
      throw err;
    }
    return (await this.getCompute(c.name))!;
  }

  async getCompute(name: string): Promise<ComputeRecord | undefined> {
    const row = this.db.prepare('SELECT * FROM computes WHERE name = ?').get(name);
    return row ? computeFromRow(row as Row) : undefined;
  }

  async listComputes(): Promise<ComputeRecord[]> {
    return (this.db.prepare('SELECT * FROM computes ORDER BY name').all() as Row[]).map(computeFromRow);
  }

  async updateCompute(name: string, patch: Partial<Pick<ComputeRecord, 'state' | 'errors' | 'properties'>>): Promise<ComputeRecord | undefined> {
    for (const [key, value] of Object.entries(patch)) {
      const column = COMPUTE_COLUMNS[key];
      if (column && value !== undefined) this.db.prepare(`UPDATE computes SET ${column[0]} = ? WHERE name = ?`).run(column[1](value), name);
    }
    return this.getCompute(name);
  }

  async deleteCompute(name: string): Promise<boolean> {
    return this.db.prepare('DELETE FROM computes WHERE name = ?').run(name).changes > 0;
  }

  async allocate(compute: string, owner: ArtifactRef, count: number): Promise<Allocation> {
    const take = this.db.transaction((): Row => {
      const c = this.db.prepare('SELECT * FROM computes WHERE name = ?').get(compute) as Row | undefined;
      if (!c) throw new AccelError('ACCEL_ERR_ARTIFACT_NOT_FOUND', { what: 'Compute target', name: compute, hint: ' See `accel compute list`.' });
      const { used } = this.db.prepare('SELECT COALESCE(SUM(count), 0) AS used FROM allocations WHERE compute = ? AND NOT (owner_kind = ? AND owner_id = ?)').get(compute, owner.kind, owner.id) as { used: number };
      const total = Number(c.accelerators);
      if (used + count > total) {
        throw new AccelError('ACCEL_ERR_QUOTA_EXCEEDED', { compute, free: total - used, total, inUse: used, requested: count, type: String(c.accelerator_type) });
      }
      const row = { compute, owner_kind: owner.kind, owner_id: owner.id, count, created_at: now() };
      this.db
        .prepare('INSERT OR REPLACE INTO allocations (compute, owner_kind, owner_id, count, created_at) VALUES (@compute, @owner_kind, @owner_id, @count, @created_at)')
        .run(row);
      return row;
    });
    return allocationFromRow(take.immediate());
  }

  async release(owner: ArtifactRef): Promise<void> {
    this.db.prepare('DELETE FROM allocations WHERE owner_kind = ? AND owner_id = ?').run(owner.kind, owner.id);
  }

  async allocations(compute?: string): Promise<Allocation[]> {
    const rows = compute
      ? this.db.prepare('SELECT * FROM allocations WHERE compute = ? ORDER BY created_at').all(compute)
      : this.db.prepare('SELECT * FROM allocations ORDER BY compute, created_at').all();
    return (rows as Row[]).map(allocationFromRow);
  }

  /** A `{version}` in the location becomes the version assigned, which the caller cannot know beforehand. */
  async insertImage(i: NewImage): Promise<ImageRecord> {
    const insert = this.db.transaction((): Row => {
      const { next } = this.db.prepare('SELECT COALESCE(MAX(version), 0) + 1 AS next FROM images WHERE name = ?').get(i.name) as { next: number };
      const row = {
        name: i.name,
        version: next,
        state: i.state,
        digest: i.digest,
        size: i.size,
        location: i.location.replaceAll('{version}', String(next)),
        models: JSON.stringify(i.models),
        tags: JSON.stringify(i.tags),
        job_id: i.jobId,
        error: i.error,
        created_at: now(),
      };
      this.db
        .prepare(
          `INSERT INTO images (name, version, state, digest, size, location, models, tags, job_id, error, created_at)
           VALUES (@name, @version, @state, @digest, @size, @location, @models, @tags, @job_id, @error, @created_at)`,
        )
        .run(row);
      return row;
    });
    return imageFromRow(insert.immediate());
  }

  async getImage(name: string, version?: number): Promise<ImageRecord | undefined> {
    const row =
      version === undefined
        ? this.db.prepare('SELECT * FROM images WHERE name = ? ORDER BY version DESC LIMIT 1').get(name)
        : this.db.prepare('SELECT * FROM images WHERE name = ? AND version = ?').get(name, version);
    return row ? imageFromRow(row as Row) : undefined;
  }

  async listImages(filter: { name?: string } = {}): Promise<ImageRecord[]> {
    const rows = filter.name
      ? this.db.prepare('SELECT * FROM images WHERE name = ? ORDER BY version DESC').all(filter.name)
      : this.db.prepare('SELECT * FROM images ORDER BY name, version DESC').all();
    return (rows as Row[]).map(imageFromRow);
  }

  async updateImage(name: string, version: number, patch: ImagePatch): Promise<ImageRecord | undefined> {
    const sets = patchColumns(IMAGE_COLUMNS, patch);
    if (sets.length) {
      this.db.prepare(`UPDATE images SET ${sets.map(([c]) => `${c} = ?`).join(', ')} WHERE name = ? AND version = ?`).run(...sets.map(([, v]) => v), name, version);
    }
    return this.getImage(name, version);
  }

  async deleteImage(name: string, version: number): Promise<boolean> {
    return this.db.transaction(() => {
      this.db.prepare('DELETE FROM edges WHERE from_kind = ? AND from_id = ?').run('image', `${name}:${version}`);
      return this.db.prepare('DELETE FROM images WHERE name = ? AND version = ?').run(name, version).changes > 0;
    }).immediate();
  }

  async insertService(s: Omit<ServiceRecord, 'createdAt' | 'updatedAt'>): Promise<ServiceRecord> {
    const at = now();
    try {
      this.db
        .prepare(
          `INSERT INTO services (name, image, compute, target, state, scoring_uri, grpc_uri, config, keys, runtime, errors, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(s.name, s.image, s.compute, s.target, s.state, s.scoringUri, s.grpcUri, JSON.stringify(s.config), JSON.stringify(s.keys), JSON.stringify(s.runtime), s.errors, at, at);
    } catch (err) {
      if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') throw new AccelError('ACCEL_ERR_ALREADY_EXISTS', { what: 'Service', name: s.name });
      throw err;
    }
    return (await this.getService(s.name))!;
  }

  async getService(name: string): Promise<ServiceRecord | undefined> {
    const row = this.db.prepare('SELECT * FROM services WHERE name = ?').get(name);
    return row ? serviceFromRow(row as Row) : undefined;
  }

  async listServices(): Promise<ServiceRecord[]> {
    return (this.db.prepare('SELECT * FROM services ORDER BY name').all() as Row[]).map(serviceFromRow);
  }

  async updateService(name: string, patch: ServicePatch): Promise<ServiceRecord | undefined> {
    const sets = [...patchColumns(SERVICE_COLUMNS, patch), ['updated_at', now()] as [string, unknown]];
    this.db.prepare(`UPDATE services SET ${sets.map(([c]) => `${c} = ?`).join(', ')} WHERE name = ?`).run(...sets.map(([, v]) => v), name);
    return this.getService(name);
  }

  async deleteService(name: string): Promise<boolean> {
    return this.db.transaction(() => {
      this.db.prepare('DELETE FROM edges WHERE from_kind = ? AND from_id = ?').run('service', name);
      return this.db.prepare('DELETE FROM services WHERE name = ?').run(name).changes > 0;
    }).immediate();
  }

  async referencedDigests(): Promise<Set<string>> {
    return new Set((this.db.prepare('SELECT DISTINCT digest FROM models').all() as Row[]).map((r) => String(r.digest)));
  }
}
