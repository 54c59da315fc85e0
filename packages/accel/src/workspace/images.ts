/**
 * Container images and deployed services in the workspace: their names, records and `uses`
 * edges (service -> image and compute, image -> models), and the built-in image deleter. The
 * Workspace facade calls these; building (src/image) and deploying (src/deploy) live elsewhere.
 */
import { rm, rmdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { AccelError } from '../errors';
import { isFinal, LOST_AFTER_MS } from './jobs';
import { checkName, parseModelRef } from './names';
import type { ArtifactRef, ImagePatch, ImageRecord, ServicePatch, ServiceRecord } from './types';
import { modelId } from './types';
import type { Workspace } from './workspace';

/** What `accel image create` records before the build job runs. */
export interface NewImageOptions {
  name: string;
  /** Models to serve, `name:version` (or `name` for the latest version). */
  models: readonly string[];
  tags?: Record<string, string>;
  /** The build job, when it is already known (it can also be set later with updateImage). */
  jobId?: string;
}

export type NewServiceOptions = Omit<ServiceRecord, 'createdAt' | 'updatedAt'>;

const IMAGE_NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;
/** RFC 1035 label, as Kubernetes requires for Service and Deployment names. */
const SERVICE_NAME = /^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** Image names are lowercase, like OCI repository names: an uppercase letter gets its own message. */
export function checkImageName(name: string): string {
  if (/[A-Z]/.test(name) && IMAGE_NAME.test(name.toLowerCase())) {
    throw new AccelError('ACCEL_ERR_USAGE', {
      reason: `Image name "${name}" is invalid: image names must be lowercase (letters, digits, ".", "_", "-"; at most 63 characters); use "${name.toLowerCase()}"`,
    });
  }
  return checkName('Image', name);
}

export function checkServiceName(name: string): string {
  if (SERVICE_NAME.test(name)) return name;
  throw new AccelError('ACCEL_ERR_USAGE', {
    reason: `Service name "${name}" is invalid: use lowercase letters, digits and '-', starting with a letter and ending with a letter or digit, at most 63 characters (it names Kubernetes objects)`,
  });
}

/** `name:version` -> parts (image and model ids). */
export function splitId(id: string): { name: string; version: number } {
  const i = id.lastIndexOf(':');
  return { name: id.slice(0, i), version: Number(id.slice(i + 1)) };
}

/**
 * Records a new image version in state Building, located at `images/<name>/<version>`, with
 * `uses` edges to its models (so they cannot be deleted under it).
 */
export async function createImageRecord(ws: Workspace, opts: NewImageOptions): Promise<ImageRecord> {
  checkImageName(opts.name);
  if (opts.models.length === 0) throw new AccelError('ACCEL_ERR_USAGE', { reason: `image ${opts.name} needs at least one model` });
  const models: string[] = [];
  for (const ref of opts.models) {
    const { name, version } = parseModelRef(ref);
    const id = (await ws.getModel(name, version)).id;
    if (!models.includes(id)) models.push(id);
  }
  const record = await ws.store.insertImage({
    name: opts.name,
    state: 'Building',
    digest: '',
    size: 0,
    // The store fills in the version it assigns.
    location: `images/${opts.name}/{version}`,
    models,
    tags: opts.tags ?? {},
    jobId: opts.jobId ?? '',
    error: '',
  });
  const ref: ArtifactRef = { kind: 'image', id: record.id };
  await ws.store.addEdges(ref, models.map((id) => ({ kind: 'model', id })), 'uses');
  // A model deleted between the lookup and the edges would leave the image pointing at nothing.
  for (const id of models) {
    const { name, version } = splitId(id);
    if (!(await ws.store.getModel(name, version))) {
      await ws.store.deleteImage(record.name, record.version);
      throw new AccelError('ACCEL_ERR_ARTIFACT_NOT_FOUND', { what: 'Model', name: id, hint: ' It was deleted while the image was being created.' });
    }
  }
  return record;
}

export async function getImage(ws: Workspace, name: string, version?: number): Promise<ImageRecord> {
  const image = await ws.store.getImage(name, version);
  if (image) return image;
  const versions = (await ws.store.listImages({ name })).map((r) => r.version);
  const hint = versions.length ? ` Versions: ${versions.join(', ')}.` : ' See `accel image list`.';
  throw new AccelError('ACCEL_ERR_ARTIFACT_NOT_FOUND', { what: 'Image', name: version === undefined ? name : modelId(name, version), hint });
}

export async function updateImage(ws: Workspace, name: string, version: number, patch: ImagePatch): Promise<ImageRecord> {
  return (await ws.store.updateImage(name, version, patch)) ?? getImage(ws, name, version);
}

/** Records a service with `uses` edges to its image and compute target; the name must be free. */
export async function createServiceRecord(ws: Workspace, s: NewServiceOptions): Promise<ServiceRecord> {
  checkServiceName(s.name);
  const image = splitId(s.image);
  await getImage(ws, image.name, image.version);
  await ws.getCompute(s.compute);
  const record = await ws.store.insertService(s);
  await ws.store.addEdges(
    { kind: 'service', id: s.name },
    [
      { kind: 'image', id: s.image },
      { kind: 'compute', id: s.compute },
    ],
    'uses',
  );
  return record;
}

export async function getService(ws: Workspace, name: string): Promise<ServiceRecord> {
  const s = await ws.store.getService(name);
  if (!s) throw new AccelError('ACCEL_ERR_ARTIFACT_NOT_FOUND', { what: 'Service', name, hint: ' See `accel service list`.' });
  return s;
}

export async function updateService(ws: Workspace, name: string, patch: ServicePatch): Promise<ServiceRecord> {
  return (await ws.store.updateService(name, patch)) ?? getService(ws, name);
}

/**
 * Images left Building by a build that ended without saying so (its process was killed; the job
 * itself is failed on open) become Failed with the job's error, so that no half-built image
 * looks usable or still in progress. Runs on every open, after interrupted jobs are failed.
 */
export async function failInterruptedBuilds(ws: Workspace): Promise<ImageRecord[]> {
  const failed: ImageRecord[] = [];
  for (const image of await ws.store.listImages()) {
    if (image.state !== 'Building') continue;
    let error: string;
    if (image.jobId) {
      const job = await ws.store.getJob(image.jobId);
      if (job && !isFinal(job)) continue;
      error = job ? `build job ${job.id} ${job.state}: ${job.error || 'no error recorded'}` : `build job ${image.jobId} is gone`;
    } else {
      // The command that records the image names its job a moment later; it was stopped in between.
      if (Date.now() - Date.parse(image.createdAt) < LOST_AFTER_MS) continue;
      error = 'the build never started';
    }
    failed.push(await updateImage(ws, image.name, image.version, { state: 'Failed', error }));
  }
  return failed;
}

/** An image whose build job still runs cannot be deleted: the job would write into the folder being removed. */
export async function refuseIfBuilding(ws: Workspace, ref: ArtifactRef): Promise<void> {
  const { name, version } = splitId(ref.id);
  const image = await ws.store.getImage(name, version);
  const job = image?.jobId ? await ws.store.getJob(image.jobId) : undefined;
  if (image && job && !isFinal(job)) {
    throw new AccelError('ACCEL_ERR_USAGE', {
      reason: `image ${image.id} is still being built by job ${job.id} (${job.state}): wait for it (\`accel image logs ${image.id} --follow\`) or cancel it (\`accel job cancel ${job.id}\`), then delete the image`,
    });
  }
}

/** The built-in image deleter: the record (and its edges), then its layout folder. */
export async function deleteImageArtifact(ws: Workspace, ref: ArtifactRef): Promise<void> {
  const { name, version } = splitId(ref.id);
  const image = await ws.store.getImage(name, version);
  await ws.store.deleteImage(name, version);
  if (!image) return;
  const dir = join(ws.dir, image.location);
  await rm(dir, { recursive: true, force: true });
  // `images/<name>` goes too once its last version is gone.
  await rmdir(dirname(dir)).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST' && err.code !== 'ENOENT') throw err;
  });
}
