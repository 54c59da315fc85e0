import type { Allocation, ComputeRecord, Edge, ImageRecord, JobRecord, ModelRecord, ServiceRecord } from './types';

/**
 * The metadata schema, shared by the SQLite and PostgreSQL stores (plain SQL both accept).
 * JSON columns are TEXT so that both backends store and return the same strings. Every
 * statement is idempotent and runs at each open, so an older workspace gains new tables in
 * place; SCHEMA_VERSION changes only when an existing table changes shape.
 */
export const SCHEMA_VERSION = 1;

export const SCHEMA: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS models (
     name TEXT NOT NULL, version INTEGER NOT NULL, digest TEXT NOT NULL, size BIGINT NOT NULL,
     format TEXT NOT NULL, file_name TEXT NOT NULL, description TEXT NOT NULL,
     tags TEXT NOT NULL, properties TEXT NOT NULL, created_at TEXT NOT NULL,
     PRIMARY KEY (name, version))`,
  `CREATE INDEX IF NOT EXISTS models_digest ON models (digest)`,
  `CREATE TABLE IF NOT EXISTS edges (
     from_kind TEXT NOT NULL, from_id TEXT NOT NULL, to_kind TEXT NOT NULL, to_id TEXT NOT NULL, relation TEXT NOT NULL,
     PRIMARY KEY (from_kind, from_id, to_kind, to_id, relation))`,
  `CREATE INDEX IF NOT EXISTS edges_to ON edges (to_kind, to_id)`,
  `CREATE TABLE IF NOT EXISTS jobs (
     id TEXT PRIMARY KEY, kind TEXT NOT NULL, state TEXT NOT NULL, inputs TEXT NOT NULL, outputs TEXT NOT NULL,
     error TEXT NOT NULL, pid INTEGER, host TEXT NOT NULL, cancel_requested INTEGER NOT NULL,
     created_at TEXT NOT NULL, started_at TEXT, ended_at TEXT, heartbeat_at TEXT)`,
  `CREATE TABLE IF NOT EXISTS job_logs (
     job_id TEXT NOT NULL, seq INTEGER NOT NULL, text TEXT NOT NULL, at TEXT NOT NULL,
     PRIMARY KEY (job_id, seq))`,
  `CREATE TABLE IF NOT EXISTS computes (
     name TEXT PRIMARY KEY, type TEXT NOT NULL, accelerator_type TEXT NOT NULL, accelerators INTEGER NOT NULL,
     state TEXT NOT NULL, errors TEXT NOT NULL, properties TEXT NOT NULL, created_at TEXT NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS allocations (
     compute TEXT NOT NULL, owner_kind TEXT NOT NULL, owner_id TEXT NOT NULL, count INTEGER NOT NULL, created_at TEXT NOT NULL,
     PRIMARY KEY (compute, owner_kind, owner_id))`,
  `CREATE TABLE IF NOT EXISTS images (
     name TEXT NOT NULL, version INTEGER NOT NULL, state TEXT NOT NULL, digest TEXT NOT NULL, size BIGINT NOT NULL,
     location TEXT NOT NULL, models TEXT NOT NULL, tags TEXT NOT NULL, job_id TEXT NOT NULL, error TEXT NOT NULL,
     created_at TEXT NOT NULL,
     PRIMARY KEY (name, version))`,
  `CREATE TABLE IF NOT EXISTS services (
     name TEXT PRIMARY KEY, image TEXT NOT NULL, compute TEXT NOT NULL, target TEXT NOT NULL, state TEXT NOT NULL,
     scoring_uri TEXT NOT NULL, grpc_uri TEXT NOT NULL, config TEXT NOT NULL, keys TEXT NOT NULL, runtime TEXT NOT NULL,
     errors TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL)`,
];

/** Row -> record mappers shared by both stores (column names are the same). */

type Row = Record<string, unknown>;
const json = <T>(v: unknown): T => JSON.parse(String(v)) as T;

export function modelFromRow(r: Row): ModelRecord {
  const name = String(r.name);
  const version = Number(r.version);
  return {
    name,
    version,
    id: `${name}:${version}`,
    digest: String(r.digest),
    size: Number(r.size),
    format: r.format as ModelRecord['format'],
    fileName: String(r.file_name),
    description: String(r.description),
    tags: json(r.tags),
    properties: json(r.properties),
    createdAt: String(r.created_at),
  };
}

export function jobFromRow(r: Row): JobRecord {
  return {
    id: String(r.id),
    kind: String(r.kind),
    state: r.state as JobRecord['state'],
    inputs: json(r.inputs),
    outputs: json(r.outputs),
    error: String(r.error),
    pid: r.pid === null || r.pid === undefined ? null : Number(r.pid),
    host: String(r.host),
    cancelRequested: Boolean(Number(r.cancel_requested)),
    createdAt: String(r.created_at),
    startedAt: (r.started_at as string | null) ?? null,
    endedAt: (r.ended_at as string | null) ?? null,
    heartbeatAt: (r.heartbeat_at as string | null) ?? null,
  };
}

export function computeFromRow(r: Row): ComputeRecord {
  return {
    name: String(r.name),
    type: r.type as ComputeRecord['type'],
    acceleratorType: String(r.accelerator_type),
    accelerators: Number(r.accelerators),
    state: r.state as ComputeRecord['state'],
    errors: json(r.errors),
    properties: json(r.properties),
    createdAt: String(r.created_at),
  };
}

export function edgeFromRow(r: Row): Edge {
  return {
    from: { kind: r.from_kind as Edge['from']['kind'], id: String(r.from_id) },
    to: { kind: r.to_kind as Edge['to']['kind'], id: String(r.to_id) },
    relation: r.relation as Edge['relation'],
  };
}

export function allocationFromRow(r: Row): Allocation {
  return {
    compute: String(r.compute),
    owner: { kind: r.owner_kind as Allocation['owner']['kind'], id: String(r.owner_id) },
    count: Number(r.count),
    createdAt: String(r.created_at),
  };
}

export function imageFromRow(r: Row): ImageRecord {
  const name = String(r.name);
  const version = Number(r.version);
  return {
    name,
    version,
    id: `${name}:${version}`,
    state: r.state as ImageRecord['state'],
    digest: String(r.digest),
    size: Number(r.size),
    location: String(r.location),
    models: json(r.models),
    tags: json(r.tags),
    jobId: String(r.job_id),
    error: String(r.error),
    createdAt: String(r.created_at),
  };
}

export function serviceFromRow(r: Row): ServiceRecord {
  return {
    name: String(r.name),
    image: String(r.image),
    compute: String(r.compute),
    target: r.target as ServiceRecord['target'],
    state: r.state as ServiceRecord['state'],
    scoringUri: String(r.scoring_uri),
    grpcUri: String(r.grpc_uri),
    config: json(r.config),
    keys: json(r.keys),
    runtime: json(r.runtime),
    errors: String(r.errors),
    createdAt: String(r.created_at),
    updatedAt: String(r.updated_at),
  };
}

/** The job columns an update may set, with their SQL names and how values are stored. */
export const JOB_COLUMNS: Record<string, [string, (v: unknown) => unknown]> = {
  state: ['state', (v) => v],
  outputs: ['outputs', (v) => JSON.stringify(v)],
  error: ['error', (v) => v],
  pid: ['pid', (v) => v],
  host: ['host', (v) => v],
  cancelRequested: ['cancel_requested', (v) => (v ? 1 : 0)],
  startedAt: ['started_at', (v) => v],
  endedAt: ['ended_at', (v) => v],
  heartbeatAt: ['heartbeat_at', (v) => v],
};

export const COMPUTE_COLUMNS: Record<string, [string, (v: unknown) => unknown]> = {
  state: ['state', (v) => v],
  errors: ['errors', (v) => JSON.stringify(v)],
  properties: ['properties', (v) => JSON.stringify(v)],
};

export const IMAGE_COLUMNS: Record<string, [string, (v: unknown) => unknown]> = {
  state: ['state', (v) => v],
  digest: ['digest', (v) => v],
  size: ['size', (v) => v],
  error: ['error', (v) => v],
  jobId: ['job_id', (v) => v],
};

export const SERVICE_COLUMNS: Record<string, [string, (v: unknown) => unknown]> = {
  image: ['image', (v) => v],
  state: ['state', (v) => v],
  scoringUri: ['scoring_uri', (v) => v],
  grpcUri: ['grpc_uri', (v) => v],
  config: ['config', (v) => JSON.stringify(v)],
  keys: ['keys', (v) => JSON.stringify(v)],
  runtime: ['runtime', (v) => JSON.stringify(v)],
  errors: ['errors', (v) => v],
};

/** (column, stored value) for each patch key the table knows; undefined values are skipped. */
export function patchColumns(columns: Record<string, [string, (v: unknown) => unknown]>, patch: object): Array<[string, unknown]> {
  const out: Array<[string, unknown]> = [];
  for (const [key, value] of Object.entries(patch)) {
    const column = columns[key];
    if (column && value !== undefined) out.push([column[0], column[1](value)]);
  }
  return out;
}
