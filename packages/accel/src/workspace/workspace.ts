import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import { homedir, hostname } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { AccelError } from '../errors';
import { BlobStore } from './blobs';
import { defaultProvisioners, type Provisioner } from './compute';
import { deletionPlan, refuseIfUsed } from './graph';
import * as images from './images';
import type { NewImageOptions, NewServiceOptions } from './images';
import { defaultJobKinds } from './job-kinds';
import { JobKinds, failInterruptedJobs, isFinal, newJobId, runJob } from './jobs';
import { checkName } from './names';
import { SqliteStore } from './sqlite';
import { extractTar, packFolder } from './tar';
import type { ArtifactKind, ArtifactRef, ComputeRecord, ComputeType, ImagePatch, ImageRecord, JobRecord, MetadataStore, ModelRecord, ServicePatch, ServiceRecord } from './types';
import { modelId } from './types';

const MARKER = 'workspace.json';
const BIN = fileURLToPath(new URL('../../bin/accel.js', import.meta.url));

/** The workspace folder: `ACCEL_HOME`, else `~/.accel`. */
export function defaultWorkspaceDir(): string {
  return resolve(process.env.ACCEL_HOME || join(homedir(), '.accel'));
}

export interface RegisterOptions {
  name: string;
  description?: string;
  tags?: Record<string, string>;
  properties?: Record<string, string>;
  /** Artifacts this model was made from (a converted model names its source). */
  derivedFrom?: ArtifactRef[];
  onProgress?: (bytes: number, total: number) => void;
}

export interface WorkspaceOptions {
  /** Metadata store; default: SQLite in the folder, or PostgreSQL when ACCEL_DATABASE_URL is set. */
  store?: MetadataStore;
  jobKinds?: JobKinds<Workspace>;
  provisioners?: Record<ComputeType, Provisioner>;
  /**
   * What else deleting an artifact of a kind takes, run before the workspace drops its record
   * (and an image's layout folder): the deploy module stops a service's processes or objects
   * this way. If it throws, the artifact and its record stay.
   *
   * @example
   * Workspace.open(dir, { deleters: { image: (ref) => audit('image deleted', ref.id) } });
   */
  deleters?: Partial<Record<ArtifactKind, Deleter>>;
}

export type Deleter = (ref: ArtifactRef, ws: Workspace) => Promise<void>;

export interface JobHandle {
  id: string;
  /** Streams the job's log (when `showOutput`) until it ends; resolves with its final record. */
  waitForCompletion(opts?: { showOutput?: boolean; out?: NodeJS.WritableStream; pollMs?: number }): Promise<JobRecord>;
}

export interface VerifyReport {
  blobs: number;
  bytes: number;
  seconds: number;
  missing: Array<{ digest: string; usedBy: string[] }>;
  corrupt: Array<{ digest: string; actual: string }>;
  unreferenced: number;
  ok: boolean;
}

async function openStore(dir: string): Promise<MetadataStore> {
  const url = process.env.ACCEL_DATABASE_URL;
  if (url) {
    const { PostgresStore } = await import('./postgres');
    return PostgresStore.connect(url);
  }
  return new SqliteStore(join(dir, 'workspace.db'));
}

/**
 * A workspace: metadata (SQLite by default) plus a content-addressed blob store. Registers
 * model versions, runs jobs with stored logs, keeps the dependency graph, deletes in
 * dependency order, tracks compute targets and their accelerators, and records container
 * images (OCI layouts under `images/`) and the services running them.
 *
 * @example
 * const ws = await Workspace.open('/tmp/ws', { create: true });
 * const m = await ws.registerModel('resnet50.onnx', { name: 'resnet50', tags: { stage: 'dev' } });
 * m.id; // 'resnet50:1'
 * await ws.close();
 */
/** Deleting a service stops what runs it first (its process, container or Kubernetes objects). */
const stopDeployedService: Deleter = async (ref, ws) => (await import('../deploy/deploy')).stopService(ws, ref.id, { forget: true });

export class Workspace {
  readonly blobs: BlobStore;
  readonly jobKinds: JobKinds<Workspace>;
  private readonly provisioners: Record<ComputeType, Provisioner>;
  private readonly deleters: Partial<Record<ArtifactKind, Deleter>>;
  private readonly recordDeleters: Record<ArtifactKind, (ref: ArtifactRef) => Promise<unknown>>;

  private constructor(
    readonly dir: string,
    readonly store: MetadataStore,
    opts: WorkspaceOptions,
  ) {
    this.blobs = new BlobStore(join(dir, 'blobs'));
    this.jobKinds = opts.jobKinds ?? defaultJobKinds();
    this.provisioners = opts.provisioners ?? defaultProvisioners();
    this.deleters = { service: stopDeployedService, ...opts.deleters };
    this.recordDeleters = {
      model: (ref) => this.deleteModelRow(ref),
      compute: (ref) => this.store.deleteCompute(ref.id),
      image: (ref) => images.deleteImageArtifact(this, ref),
      service: (ref) => this.store.deleteService(ref.id),
    };
  }

  /** Opens the workspace at `dir` (default: ACCEL_HOME or ~/.accel); `create` makes it if missing. */
  static async open(dir = defaultWorkspaceDir(), opts: WorkspaceOptions & { create?: boolean } = {}): Promise<Workspace> {
    const root = resolve(dir);
    if (!existsSync(join(root, MARKER))) {
      if (!opts.create) throw new AccelError('ACCEL_ERR_WORKSPACE_NOT_FOUND', { path: root });
      mkdirSync(join(root, 'blobs'), { recursive: true });
      writeFileSync(join(root, MARKER), JSON.stringify({ format: 1, createdAt: new Date().toISOString() }, null, 2) + '\n');
    }
    const store = opts.store ?? (await openStore(root));
    const ws = new Workspace(root, store, opts);
    await ws.blobs.cleanTemp(60_000);
    await failInterruptedJobs(store);
    await images.failInterruptedBuilds(ws);
    return ws;
  }

  get createdAt(): string {
    return (JSON.parse(readFileSync(join(this.dir, MARKER), 'utf8')) as { createdAt: string }).createdAt;
  }

  async close(): Promise<void> {
    await this.store.close();
  }

  // ---- models -------------------------------------------------------------------------

  /** Registers a file or a folder (stored as one deterministic tar) as the next version of `name`. */
  async registerModel(path: string, opts: RegisterOptions): Promise<ModelRecord> {
    checkName('Model', opts.name);
    let info;
    try {
      info = await stat(path);
    } catch (err) {
      throw new AccelError('ACCEL_ERR_USAGE', { reason: `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` });
    }
    if (!info.isFile() && !info.isDirectory()) throw new AccelError('ACCEL_ERR_USAGE', { reason: `${path} is neither a file nor a folder` });
    for (const ref of opts.derivedFrom ?? []) await this.requireArtifact(ref);
    const progress = opts.onProgress && ((bytes: number) => opts.onProgress!(bytes, info.isFile() ? info.size : 0));
    let blob: { digest: string; size: number };
    try {
      blob = info.isFile() ? await this.blobs.putFile(path, { onProgress: progress }) : await this.blobs.put(packFolder(path), { onProgress: progress });
    } catch (err) {
      if (err instanceof AccelError) throw err;
      throw new AccelError('ACCEL_ERR_USAGE', { reason: `cannot read ${path}: ${(err as Error).message}` });
    }
    const record = await this.store.insertModel({
      name: opts.name,
      digest: blob.digest,
      size: blob.size,
      format: info.isFile() ? 'file' : 'folder',
      fileName: basename(resolve(path)),
      description: opts.description ?? '',
      tags: opts.tags ?? {},
      properties: opts.properties ?? {},
    });
    if (opts.derivedFrom?.length) await this.store.addEdges({ kind: 'model', id: record.id }, opts.derivedFrom, 'derived_from');
    return record;
  }

  /** A model version, the latest when `version` is undefined; ACCEL_ERR_ARTIFACT_NOT_FOUND otherwise. */
  async getModel(name: string, version?: number): Promise<ModelRecord> {
    const m = await this.store.getModel(name, version);
    if (m) return m;
    const versions = (await this.store.listModels({ name })).map((r) => r.version);
    const hint = versions.length ? ` Versions: ${versions.join(', ')}.` : ' See `accel model list`.';
    throw new AccelError('ACCEL_ERR_ARTIFACT_NOT_FOUND', { what: 'Model', name: version === undefined ? name : modelId(name, version), hint });
  }

  listModels(filter?: { name?: string; tags?: Record<string, string> }): Promise<ModelRecord[]> {
    return this.store.listModels(filter);
  }

  /** Writes the model's file (or folder) into `dir`; returns the path written. Never leaves a partial file. */
  async downloadModel(name: string, version: number | undefined, dir: string): Promise<string> {
    const m = await this.getModel(name, version);
    mkdirSync(dir, { recursive: true });
    const target = join(dir, m.fileName);
    const temp = join(dir, `.${m.fileName}.${process.pid}.partial`);
    try {
      if (m.format === 'file') await pipeline(await this.blobs.open(m.digest), createWriteStream(temp));
      else await extractTar(await this.blobs.open(m.digest), temp);
      await rm(target, { recursive: true, force: true });
      await rename(temp, target);
    } finally {
      await rm(temp, { recursive: true, force: true });
    }
    return target;
  }

  async tagModel(name: string, version: number | undefined, set: Record<string, string>, remove: readonly string[] = []): Promise<ModelRecord> {
    const m = await this.getModel(name, version);
    return (await this.store.updateModelTags(m.name, m.version, set, remove))!;
  }

  /** What the model (all versions, or one) is linked to, both ways. */
  async lineage(name: string, version?: number) {
    const m = await this.getModel(name, version);
    const ref: ArtifactRef = { kind: 'model', id: m.id };
    return { model: m, from: await this.store.edgesFrom(ref), to: await this.store.edgesTo(ref) };
  }

  // ---- images and services ------------------------------------------------------------

  /** Records the next version of an image in state Building (the `image-build` job builds it), using its models. */
  createImageRecord(opts: NewImageOptions): Promise<ImageRecord> {
    return images.createImageRecord(this, opts);
  }

  /** An image version, the latest when `version` is undefined; ACCEL_ERR_ARTIFACT_NOT_FOUND otherwise. */
  getImage(name: string, version?: number): Promise<ImageRecord> {
    return images.getImage(this, name, version);
  }

  /** Newest first (name, then version descending). */
  listImages(filter?: { name?: string }): Promise<ImageRecord[]> {
    return this.store.listImages(filter);
  }

  updateImage(name: string, version: number, patch: ImagePatch): Promise<ImageRecord> {
    return images.updateImage(this, name, version, patch);
  }

  /** Absolute path of the image's OCI layout folder. */
  imageDir(image: Pick<ImageRecord, 'location'>): string {
    return join(this.dir, image.location);
  }

  /** Records a service (name: an RFC 1035 label) using an existing image and compute target; ACCEL_ERR_ALREADY_EXISTS if the name is taken. */
  createServiceRecord(s: NewServiceOptions): Promise<ServiceRecord> {
    return images.createServiceRecord(this, s);
  }

  getService(name: string): Promise<ServiceRecord> {
    return images.getService(this, name);
  }

  /** By name. */
  listServices(): Promise<ServiceRecord[]> {
    return this.store.listServices();
  }

  updateService(name: string, patch: ServicePatch): Promise<ServiceRecord> {
    return images.updateService(this, name, patch);
  }

  // ---- delete in dependency order -----------------------------------------------------

  /**
   * Deletes artifacts. Refuses (ACCEL_ERR_IN_USE, naming the users and the order) when others
   * still use them, unless `cascade`, which deletes the users first. Returns what was deleted,
   * in order, and garbage-collects blobs nobody points at any more. Each artifact's registered
   * deleter (stopping a service) runs before its record goes; an image also loses its layout
   * folder, and is refused while its build job still runs.
   */
  async delete(targets: readonly ArtifactRef[], opts: { cascade?: boolean; dryRun?: boolean } = {}): Promise<ArtifactRef[]> {
    for (const t of targets) await this.requireArtifact(t);
    const plan = await deletionPlan(this.store, targets);
    if (!opts.cascade) refuseIfUsed(targets, plan, targets.map((t) => `${t.kind} ${t.id}`).join(', '));
    for (const ref of plan) if (ref.kind === 'image') await images.refuseIfBuilding(this, ref);
    if (opts.dryRun) return plan;
    const before = await this.store.referencedDigests();
    for (const ref of plan) {
      await this.deleters[ref.kind]?.(ref, this);
      await this.recordDeleters[ref.kind](ref);
      await this.store.release(ref);
      await this.store.removeEdgesFrom(ref);
    }
    const after = await this.store.referencedDigests();
    for (const digest of before) if (!after.has(digest)) await this.blobs.delete(digest);
    return plan;
  }

  /** Every version of a model, or one. */
  async modelRefs(name: string, version?: number): Promise<ArtifactRef[]> {
    if (version !== undefined) return [{ kind: 'model', id: (await this.getModel(name, version)).id }];
    const all = await this.store.listModels({ name });
    if (all.length === 0) await this.getModel(name);
    return all.map((m) => ({ kind: 'model', id: m.id }));
  }

  private async requireArtifact(ref: ArtifactRef): Promise<unknown> {
    switch (ref.kind) {
      case 'model': {
        const { name, version } = images.splitId(ref.id);
        return this.getModel(name, version);
      }
      case 'image': {
        const { name, version } = images.splitId(ref.id);
        return this.getImage(name, version);
      }
      case 'compute':
        return this.getCompute(ref.id);
      case 'service':
        return this.getService(ref.id);
    }
  }

  private async deleteModelRow(ref: ArtifactRef): Promise<void> {
    const { name, version } = images.splitId(ref.id);
    await this.store.deleteModel(name, version);
  }

  /** Removes blobs that no record points at and that are older than `graceMs` (a register may be in flight). */
  async gc(graceMs = 10 * 60_000): Promise<{ removed: string[]; bytes: number }> {
    const referenced = await this.store.referencedDigests();
    const removed: string[] = [];
    let bytes = 0;
    for (const blob of await this.blobs.list()) {
      if (referenced.has(blob.digest)) continue;
      const { mtimeMs } = await stat(await this.blobs.path(blob.digest));
      if (Date.now() - mtimeMs < graceMs) continue;
      await this.blobs.delete(blob.digest);
      removed.push(blob.digest);
      bytes += blob.size;
    }
    return { removed, bytes };
  }

  /** Rehashes every blob; reports records pointing at missing or corrupt blobs. */
  async verify(onProgress?: (done: number, total: number) => void): Promise<VerifyReport> {
    const started = performance.now();
    const referenced = await this.store.referencedDigests();
    const models = await this.store.listModels();
    const blobs = await this.blobs.list();
    const present = new Set(blobs.map((b) => b.digest));
    const report: VerifyReport = { blobs: 0, bytes: 0, seconds: 0, missing: [], corrupt: [], unreferenced: 0, ok: true };
    for (const digest of referenced) {
      if (!present.has(digest)) report.missing.push({ digest, usedBy: models.filter((m) => m.digest === digest).map((m) => `model ${m.id}`) });
    }
    const total = blobs.reduce((s, b) => s + b.size, 0);
    for (const b of blobs) {
      const result = await this.blobs.verify(b.digest);
      if (!result.ok) report.corrupt.push({ digest: b.digest, actual: result.actual });
      if (!referenced.has(b.digest)) report.unreferenced++;
      report.blobs++;
      report.bytes += b.size;
      onProgress?.(report.bytes, total);
    }
    report.seconds = (performance.now() - started) / 1000;
    report.ok = report.missing.length === 0 && report.corrupt.length === 0;
    return report;
  }

  // ---- jobs ---------------------------------------------------------------------------

  /**
   * Starts a job of a registered kind. By default it runs in this process; `detached` hands it
   * to a background `accel job run` process that outlives this one.
   */
  async startJob(kind: string, inputs: Record<string, unknown>, opts: { detached?: boolean } = {}): Promise<JobHandle> {
    this.jobKinds.get(kind);
    const job = await this.store.createJob({ id: newJobId(kind), kind, inputs, host: hostname() });
    if (opts.detached) {
      const child = spawn(process.execPath, [BIN, 'job', 'run', job.id, '--workspace', this.dir], { detached: true, stdio: 'ignore' });
      child.unref();
    } else {
      void runJob(this.store, this.jobKinds, this, job.id);
    }
    return this.jobHandle(job.id);
  }

  /** Runs a queued job here (what `accel job run` does). */
  runQueuedJob(id: string): Promise<JobRecord> {
    return runJob(this.store, this.jobKinds, this, id);
  }

  jobHandle(id: string): JobHandle {
    return {
      id,
      waitForCompletion: async ({ showOutput = false, out = process.stderr, pollMs = 100 } = {}) => {
        let seq = 0;
        for (;;) {
          const job = await this.getJob(id);
          const chunks = await this.store.jobLog(id, seq);
          for (const c of chunks) {
            if (showOutput) out.write(c.text);
            seq = c.seq;
          }
          if (isFinal(job)) {
            for (const c of await this.store.jobLog(id, seq)) if (showOutput) out.write(c.text);
            return job;
          }
          await new Promise((r) => setTimeout(r, pollMs));
        }
      },
    };
  }

  async getJob(id: string): Promise<JobRecord> {
    const job = await this.store.getJob(id);
    if (!job) throw new AccelError('ACCEL_ERR_ARTIFACT_NOT_FOUND', { what: 'Job', name: id, hint: ' See `accel job list`.' });
    return job;
  }

  /** Cancels a job: a queued one at once, a running one at its next heartbeat. */
  async cancelJob(id: string): Promise<JobRecord> {
    const job = await this.getJob(id);
    if (isFinal(job)) return job;
    if (job.state === 'queued' && job.pid === null) {
      await this.store.appendJobLog(id, 'cancelled before it started\n');
      return (await this.store.finishJob(id, { state: 'cancelled', error: 'cancelled by request', endedAt: new Date().toISOString() }))!;
    }
    return (await this.store.updateJob(id, { cancelRequested: true }))!;
  }

  // ---- compute targets and quota ------------------------------------------------------

  async createCompute(c: { name: string; type: ComputeType; accelerators: number; acceleratorType?: string; properties?: Record<string, string> }): Promise<ComputeRecord> {
    checkName('Compute target', c.name);
    if (!Number.isSafeInteger(c.accelerators) || c.accelerators < 1) {
      throw new AccelError('ACCEL_ERR_USAGE', { reason: `--accelerators must be a positive integer, got ${c.accelerators}` });
    }
    const provision = this.provisioners[c.type];
    if (!provision) throw new AccelError('ACCEL_ERR_USAGE', { reason: `--type must be one of ${Object.keys(this.provisioners).join(', ')}, got "${c.type}"` });
    const base = { name: c.name, type: c.type, acceleratorType: c.acceleratorType ?? 'cpu', accelerators: c.accelerators, properties: c.properties ?? {} };
    await this.store.insertCompute({ ...base, state: 'Creating', errors: [] });
    const result = await provision(base).catch((err: Error) => ({ state: 'Failed' as const, errors: [err.message], properties: undefined }));
    return (await this.store.updateCompute(c.name, { state: result.state, errors: result.errors, properties: { ...base.properties, ...result.properties } }))!;
  }

  async getCompute(name: string): Promise<ComputeRecord> {
    const c = await this.store.getCompute(name);
    if (!c) throw new AccelError('ACCEL_ERR_ARTIFACT_NOT_FOUND', { what: 'Compute target', name, hint: ' See `accel compute list`.' });
    return c;
  }

  listComputes(): Promise<ComputeRecord[]> {
    return this.store.listComputes();
  }

  /**
   * Takes accelerators on a target for `owner` (one model per accelerator): fails at once with
   * ACCEL_ERR_COMPUTE_UNAVAILABLE if the target is not provisioned, ACCEL_ERR_QUOTA_EXCEEDED if too few are free.
   */
  async allocate(compute: string, owner: ArtifactRef, count = 1) {
    const c = await this.getCompute(compute);
    if (c.state !== 'Succeeded') {
      throw new AccelError('ACCEL_ERR_COMPUTE_UNAVAILABLE', { compute, state: c.state, reason: c.errors.join('; ') || 'not provisioned' });
    }
    const allocation = await this.store.allocate(compute, owner, count);
    await this.store.addEdges(owner, [{ kind: 'compute', id: compute }], 'uses');
    return allocation;
  }

  /** Accelerators per compute target: total, in use, free (like a cloud quota listing). */
  async usage(): Promise<Array<{ compute: string; type: ComputeType; acceleratorType: string; state: string; total: number; inUse: number; free: number; users: string[] }>> {
    const allocations = await this.store.allocations();
    return (await this.store.listComputes()).map((c) => {
      const mine = allocations.filter((a) => a.compute === c.name);
      const inUse = mine.reduce((s, a) => s + a.count, 0);
      return {
        compute: c.name,
        type: c.type,
        acceleratorType: c.acceleratorType,
        state: c.state,
        total: c.accelerators,
        inUse,
        free: Math.max(0, c.accelerators - inUse),
        users: mine.map((a) => `${a.owner.kind} ${a.owner.id}`),
      };
    });
  }
}

