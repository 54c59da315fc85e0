/**
 * Workspace records and the metadata store interface. The embedded default is SQLite
 * (sqlite.ts); a shared workspace uses PostgreSQL (postgres.ts). Both pass the same contract
 * tests (store.contract.ts). Every method is atomic on its own.
 */

/** Kinds of artifacts the dependency graph links. Ids: model `name:version`, image `name:version`, service and compute `name`. */
export type ArtifactKind = 'service' | 'compute' | 'image' | 'model';

export interface ArtifactRef {
  kind: ArtifactKind;
  id: string;
}

/**
 * `uses`: the artifact needs the other to work (a service uses its image and compute target,
 * an image uses its models); deleting a used artifact is refused unless cascading.
 * `derived_from`: provenance (a converted model comes from its source); never blocks a delete.
 */
export type Relation = 'uses' | 'derived_from';

export interface Edge {
  from: ArtifactRef;
  to: ArtifactRef;
  relation: Relation;
}

export interface ModelRecord {
  name: string;
  version: number;
  /** `name:version` */
  id: string;
  digest: string;
  size: number;
  /** A single file, or a folder stored as one deterministic tar blob. */
  format: 'file' | 'folder';
  /** Base name of what was registered (file name, or folder name). */
  fileName: string;
  description: string;
  tags: Record<string, string>;
  properties: Record<string, string>;
  createdAt: string;
}

export type NewModel = Omit<ModelRecord, 'version' | 'id' | 'createdAt'>;

export type JobState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

export const FINAL_JOB_STATES: readonly JobState[] = ['succeeded', 'failed', 'cancelled'];

export interface JobRecord {
  id: string;
  kind: string;
  state: JobState;
  inputs: Record<string, unknown>;
  outputs: Record<string, unknown>;
  error: string;
  /** Process running the job, and its host: an interrupted job is found by a dead pid on this host. */
  pid: number | null;
  host: string;
  cancelRequested: boolean;
  createdAt: string;
  startedAt: string | null;
  endedAt: string | null;
  heartbeatAt: string | null;
}

export type JobPatch = Partial<Pick<JobRecord, 'state' | 'outputs' | 'error' | 'pid' | 'host' | 'cancelRequested' | 'startedAt' | 'endedAt' | 'heartbeatAt'>>;

export interface LogChunk {
  seq: number;
  text: string;
  at: string;
}

/** `local`: supervised server processes on this machine; `container`: runc containers on this machine (the edge box); `kubernetes`: a cluster. */
export type ComputeType = 'local' | 'container' | 'kubernetes';
export type ProvisioningState = 'Creating' | 'Succeeded' | 'Failed';

export interface ComputeRecord {
  name: string;
  type: ComputeType;
  acceleratorType: string;
  accelerators: number;
  state: ProvisioningState;
  errors: string[];
  properties: Record<string, string>;
  createdAt: string;
}

export interface Allocation {
  compute: string;
  owner: ArtifactRef;
  count: number;
  createdAt: string;
}

export type ImageState = 'Building' | 'Succeeded' | 'Failed';

/** A container image built by `accel image create`: an OCI image layout in the workspace folder. */
export interface ImageRecord {
  name: string;
  version: number;
  /** `name:version` */
  id: string;
  state: ImageState;
  /** Manifest digest (`sha256:...`); empty until built. */
  digest: string;
  /** Bytes of config + layers (compressed), as a registry stores them. */
  size: number;
  /** Folder of the OCI image layout, relative to the workspace folder (`images/<name>/<version>`). */
  location: string;
  /** Model ids (`name:version`) the image serves. */
  models: string[];
  tags: Record<string, string>;
  /** The build job (its log is the build log). */
  jobId: string;
  error: string;
  createdAt: string;
}

export type NewImage = Omit<ImageRecord, 'version' | 'id' | 'createdAt'>;
export type ImagePatch = Partial<Pick<ImageRecord, 'state' | 'digest' | 'size' | 'error' | 'jobId'>>;

export type ServiceState = 'Transitioning' | 'Healthy' | 'Unhealthy' | 'Failed' | 'Stopped';
export type DeployTargetType = ComputeType;

/** A deployed web service: an image running on a compute target. */
export interface ServiceRecord {
  name: string;
  /** Image id (`name:version`). */
  image: string;
  compute: string;
  target: DeployTargetType;
  state: ServiceState;
  scoringUri: string;
  grpcUri: string;
  /** Deployment settings (replicas, autoscale, auth, tls) as given. */
  config: Record<string, unknown>;
  /** API keys when auth is on (`primary`, `secondary`), else empty. */
  keys: Record<string, string>;
  /** What the target needs to find the running service again (pid, container id, namespace...). */
  runtime: Record<string, unknown>;
  errors: string;
  createdAt: string;
  updatedAt: string;
}

export type ServicePatch = Partial<Pick<ServiceRecord, 'image' | 'state' | 'scoringUri' | 'grpcUri' | 'config' | 'keys' | 'runtime' | 'errors'>>;

export interface MetadataStore {
  /** `sqlite` or `postgres`, for messages. */
  readonly backend: string;
  close(): Promise<void>;

  /** Inserts version max+1 of `name` (1 for a new name); two writers never get the same version. */
  insertModel(model: NewModel): Promise<ModelRecord>;
  /** The given version, or the latest when `version` is undefined. */
  getModel(name: string, version?: number): Promise<ModelRecord | undefined>;
  /** Newest first by name then version descending; tags filter by exact key=value, all must match. */
  listModels(filter?: { name?: string; tags?: Record<string, string> }): Promise<ModelRecord[]>;
  /** Sets and removes tags of one version; returns the updated record, undefined if it does not exist. */
  updateModelTags(name: string, version: number, set: Record<string, string>, remove: readonly string[]): Promise<ModelRecord | undefined>;
  /** Deletes one version and every edge from it; true if it existed. */
  deleteModel(name: string, version: number): Promise<boolean>;

  /** Records that `from` uses or derives from each of `to`. Idempotent. */
  addEdges(from: ArtifactRef, to: readonly ArtifactRef[], relation: Relation): Promise<void>;
  /** Edges pointing at `ref` (who uses or derives from it). */
  edgesTo(ref: ArtifactRef): Promise<Edge[]>;
  /** Edges leaving `ref` (what it uses or derives from). */
  edgesFrom(ref: ArtifactRef): Promise<Edge[]>;
  /** Every edge, ordered by source then target (a whole-workspace view in one query). */
  listEdges(filter?: { fromKind?: ArtifactKind }): Promise<Edge[]>;
  /** Removes every edge leaving `ref` (when `ref` is deleted). */
  removeEdgesFrom(ref: ArtifactRef): Promise<void>;

  createJob(job: Pick<JobRecord, 'id' | 'kind' | 'inputs' | 'host'>): Promise<JobRecord>;
  updateJob(id: string, patch: JobPatch): Promise<JobRecord | undefined>;
  /**
   * Moves a job to a final state only if it is not final yet (a cancelled job stays cancelled
   * even if its runner finishes later). Returns the record as it ends up.
   */
  finishJob(id: string, patch: JobPatch & { state: JobState }): Promise<JobRecord | undefined>;
  getJob(id: string): Promise<JobRecord | undefined>;
  /** Newest first. */
  listJobs(filter?: { kind?: string; states?: readonly JobState[] }): Promise<JobRecord[]>;
  /** Appends one chunk of log text; chunks keep their order (seq 1, 2, ...). */
  appendJobLog(id: string, text: string): Promise<void>;
  /** Chunks with seq > afterSeq, in order. */
  jobLog(id: string, afterSeq?: number): Promise<LogChunk[]>;

  insertCompute(compute: Omit<ComputeRecord, 'createdAt'>): Promise<ComputeRecord>;
  getCompute(name: string): Promise<ComputeRecord | undefined>;
  listComputes(): Promise<ComputeRecord[]>;
  updateCompute(name: string, patch: Partial<Pick<ComputeRecord, 'state' | 'errors' | 'properties'>>): Promise<ComputeRecord | undefined>;
  deleteCompute(name: string): Promise<boolean>;
  /**
   * Takes `count` accelerators of a compute target for `owner`, atomically: throws
   * ACCEL_ERR_QUOTA_EXCEEDED (naming total, in use and free) when fewer are free.
   */
  allocate(compute: string, owner: ArtifactRef, count: number): Promise<Allocation>;
  /** Frees every accelerator `owner` holds. */
  release(owner: ArtifactRef): Promise<void>;
  allocations(compute?: string): Promise<Allocation[]>;

  /** Inserts version max+1 of image `name`, like insertModel. */
  insertImage(image: NewImage): Promise<ImageRecord>;
  /** The given version, or the latest when `version` is undefined. */
  getImage(name: string, version?: number): Promise<ImageRecord | undefined>;
  /** Newest first (name, then version descending). */
  listImages(filter?: { name?: string }): Promise<ImageRecord[]>;
  updateImage(name: string, version: number, patch: ImagePatch): Promise<ImageRecord | undefined>;
  /** Deletes one version and every edge from it; true if it existed. */
  deleteImage(name: string, version: number): Promise<boolean>;

  /** Inserts a service; ACCEL_ERR_ALREADY_EXISTS when the name is taken. */
  insertService(service: Omit<ServiceRecord, 'createdAt' | 'updatedAt'>): Promise<ServiceRecord>;
  getService(name: string): Promise<ServiceRecord | undefined>;
  listServices(): Promise<ServiceRecord[]>;
  updateService(name: string, patch: ServicePatch): Promise<ServiceRecord | undefined>;
  /** Deletes a service and every edge from it; true if it existed. */
  deleteService(name: string): Promise<boolean>;

  /** Every blob digest a record points at (for garbage collection and verify). */
  referencedDigests(): Promise<Set<string>>;
}

export const modelId = (name: string, version: number): string => `${name}:${version}`;
export const refString = (r: ArtifactRef): string => `${r.kind} ${r.id}`;
