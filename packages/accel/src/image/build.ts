/**
 * Daemonless, reproducible image builds: three layers (runtime, app, models), an OCI image
 * config and manifest, written as an OCI image layout. The same inputs (files and `created`)
 * give the same manifest digest.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AccelError } from '../errors';
import { appEntries, modelEntries, type ImageModel } from './app-files';
import { MEDIA_TYPES, OciLayout, type Descriptor, type ImageManifest } from './layout';
import { runtimeEntries } from './rootfs';
import { writeLayer, type LayerBlob, type LayerEntry } from './tar-layer';

export const GRPC_PORT = 8500;
export const REST_PORT = 8501;
export const ENTRYPOINT = ['/usr/local/bin/node', '/app/packages/accel/bin/accel.js', 'serve'] as const;
export const MODELS_LABEL = 'ai.accel.models';

export type LayerName = 'runtime' | 'app' | 'models';

export interface BuildOptions {
  name: string;
  version: number;
  models: ImageModel[];
  /** OCI image layout folder (created if missing). */
  outDir: string;
  /** Image creation time: every file's mtime, config `created`; fixes the digest. */
  created: Date;
  /** Reference name in index.json (default: the version). */
  tag?: string;
  /** Extra config labels. */
  labels?: Record<string, string>;
  /** Called as each layer is written: uncompressed bytes so far and the expected total (equal once done). */
  onProgress?: (layer: LayerName, bytes: number, totalBytes: number) => void;
  /** Repository root holding packages/ and node_modules/ (default: this checkout). */
  repoRoot?: string;
  /** Only the models layer (tests, or images layered on a runtime supplied otherwise). */
  modelsOnly?: boolean;
  /** Folder where layer blobs are kept by content of their inputs and reused by later builds. */
  cacheDir?: string;
  /** gzip level (default 6). */
  level?: number;
}

export interface BuiltLayer extends LayerBlob {
  name: LayerName;
  cached: boolean;
}

export interface BuildResult {
  /** Manifest digest (`sha256:...`). */
  digest: string;
  /** Bytes of config + layers (compressed), as a registry stores them. */
  size: number;
  /** Reference name of the manifest in the layout's index.json. */
  ref: string;
  layers: BuiltLayer[];
  config: ImageConfig;
  manifest: ImageManifest;
  /** What went into the image, for the build log. */
  contents: { libraries: string[]; packages: string[]; appBytes: number; models: { name: string; version: number; digest: string; servePath: string }[] };
}

export interface ImageConfig {
  created: string;
  architecture: 'amd64';
  os: 'linux';
  config: {
    Entrypoint: string[];
    Cmd: string[];
    ExposedPorts: Record<string, Record<string, never>>;
    Env: string[];
    WorkingDir: string;
    Labels: Record<string, string>;
  };
  rootfs: { type: 'layers'; diff_ids: string[] };
  history: { created: string; created_by: string; comment?: string }[];
}

export const DEFAULT_REPO_ROOT = resolve(fileURLToPath(new URL('../../../..', import.meta.url)));

/**
 * Builds the image and writes it to `outDir` as an OCI image layout.
 *
 * @example
 * const image = await buildImage({ name: 'resnet', version: 1, models: [{ name: 'resnet50', version: 2, path: '/ws/models/resnet50/2/model.onnx' }], outDir: '/ws/images/resnet/1', created: new Date('2024-01-01T00:00:00Z') });
 * console.log(image.digest, image.size);
 */
export async function buildImage(opts: BuildOptions): Promise<BuildResult> {
  if (!/^[a-z0-9]+([._-][a-z0-9]+)*$/.test(opts.name)) throw new AccelError('ACCEL_ERR_USAGE', { reason: `image name "${opts.name}" must be lowercase letters and digits, separated by ".", "_" or "-"` });
  if (!opts.models.length) throw new AccelError('ACCEL_ERR_USAGE', { reason: 'an image needs at least one model' });
  if (Number.isNaN(opts.created.getTime())) throw new AccelError('ACCEL_ERR_USAGE', { reason: 'created is not a valid date' });
  const created = new Date(Math.floor(opts.created.getTime() / 1000) * 1000);
  const createdIso = created.toISOString().replace('.000Z', 'Z');
  const repoRoot = resolve(opts.repoRoot ?? DEFAULT_REPO_ROOT);
  const layout = new OciLayout(opts.outDir);
  await layout.init();

  const models = await modelEntries(opts.models);
  const plan: { name: LayerName; entries: LayerEntry[]; createdBy: string }[] = [];
  const contents: BuildResult['contents'] = { libraries: [], packages: [], appBytes: 0, models: models.models.map(({ name, version, digest, servePath }) => ({ name, version, digest, servePath })) };
  if (!opts.modelsOnly) {
    const app = await appEntries({ repoRoot });
    const runtime = await runtimeEntries({ elfFiles: app.elfFiles, appRoot: repoRoot });
    contents.libraries = runtime.libraries;
    contents.packages = app.packages;
    contents.appBytes = app.bytes;
    plan.push({ name: 'runtime', entries: runtime.entries, createdBy: `accel image: runtime (node ${process.version}, ${runtime.libraries.length} shared libraries)` });
    plan.push({ name: 'app', entries: app.entries, createdBy: `accel image: app (/app, ${app.packages.length} packages)` });
  }
  plan.push({ name: 'models', entries: models.entries, createdBy: `accel image: models (${models.models.map((m) => `${m.name}:${m.version}`).join(', ')})` });

  const layers: BuiltLayer[] = [];
  for (const step of plan) {
    const progress = (bytes: number, totalBytes: number) => opts.onProgress?.(step.name, bytes, totalBytes);
    layers.push(await buildLayer(layout, step.name, step.entries, created, opts, progress));
  }

  const config: ImageConfig = {
    created: createdIso,
    architecture: 'amd64',
    os: 'linux',
    config: {
      Entrypoint: [...ENTRYPOINT],
      Cmd: [...models.models.flatMap((m) => ['--model', `${m.name}=${m.servePath}:${m.version}`]), '--grpc-port', String(GRPC_PORT), '--rest-port', String(REST_PORT)],
      ExposedPorts: { [`${GRPC_PORT}/tcp`]: {}, [`${REST_PORT}/tcp`]: {} },
      Env: ['PATH=/usr/local/bin:/usr/bin:/bin', 'NODE_ENV=production'],
      WorkingDir: '/app',
      Labels: sortKeys({
        ...(opts.labels ?? {}),
        [MODELS_LABEL]: models.models.map((m) => `${m.name}:${m.version}@${m.digest}`).join(','),
        'org.opencontainers.image.created': createdIso,
        'org.opencontainers.image.title': opts.name,
        'org.opencontainers.image.version': String(opts.version),
      }),
    },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    history: plan.map((p) => ({ created: createdIso, created_by: p.createdBy })),
  };
  const configDesc = await layout.putJson(config, MEDIA_TYPES.config);
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.manifest,
    config: { mediaType: MEDIA_TYPES.config, digest: configDesc.digest, size: configDesc.size },
    layers: layers.map((l): Descriptor => ({ mediaType: MEDIA_TYPES.layerGzip, digest: l.digest, size: l.size })),
    annotations: { 'org.opencontainers.image.created': createdIso },
  };
  const manifestDesc = await layout.putJson(manifest, MEDIA_TYPES.manifest);
  const ref = opts.tag ?? String(opts.version);
  await layout.tag(manifestDesc, ref);
  return {
    digest: manifestDesc.digest,
    size: configDesc.size + layers.reduce((n, l) => n + l.size, 0),
    ref,
    layers,
    config,
    manifest,
    contents,
  };
}

async function buildLayer(
  layout: OciLayout,
  name: LayerName,
  entries: LayerEntry[],
  created: Date,
  opts: BuildOptions,
  progress: (bytes: number, total: number) => void,
): Promise<BuiltLayer> {
  const key = opts.cacheDir ? await cacheKey(entries, created, opts.level ?? 6) : undefined;
  if (opts.cacheDir && key) {
    const hit = await readCache(opts.cacheDir, key);
    if (hit) {
      await linkOrCopy(join(opts.cacheDir, 'blobs', hit.digest.slice(7)), layout.blobPath(hit.digest));
      progress(hit.tarSize, hit.tarSize);
      return { ...hit, name, cached: true };
    }
  }
  const tmp = layout.tempPath(name);
  try {
    const blob = await writeLayer(entries, tmp, {
      created,
      level: opts.level,
      onProgress: (p) => {
        progress(p.bytes, p.totalBytes);
      },
    });
    await layout.adopt(tmp, blob.digest);
    progress(blob.tarSize, blob.tarSize);
    if (opts.cacheDir && key) await writeCache(opts.cacheDir, key, blob, layout.blobPath(blob.digest));
    return { ...blob, name, cached: false };
  } finally {
    await fs.rm(tmp, { force: true });
  }
}

/**
 * A layer's cache key: every entry's path, type, mode and link target, with the size, mtime and
 * inode of its source file (or the hash of its data), plus `created` and the gzip level and node
 * version (zlib's output may change between versions).
 */
async function cacheKey(entries: readonly LayerEntry[], created: Date, level: number): Promise<string> {
  const h = createHash('sha256').update(JSON.stringify({ v: 1, node: process.version, created: created.getTime(), level }));
  const sorted = [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  for (const e of sorted) {
    let content = '';
    if (e.data) content = createHash('sha256').update(e.data).digest('hex');
    else if (e.source) {
      const st = await fs.stat(e.source);
      content = `${e.source}:${st.size}:${st.mtimeMs}:${st.ino}`;
    }
    h.update(`${JSON.stringify([e.path, e.type, e.mode, e.linkTarget ?? '', content])}\n`);
  }
  return h.digest('hex');
}

async function readCache(dir: string, key: string): Promise<LayerBlob | undefined> {
  const text = await fs.readFile(join(dir, 'layers', `${key}.json`), 'utf8').catch(() => undefined);
  if (!text) return undefined;
  const blob = JSON.parse(text) as LayerBlob;
  const st = await fs.stat(join(dir, 'blobs', blob.digest.slice(7))).catch(() => undefined);
  return st?.size === blob.size ? blob : undefined;
}

async function writeCache(dir: string, key: string, blob: LayerBlob, path: string): Promise<void> {
  await fs.mkdir(join(dir, 'layers'), { recursive: true });
  await fs.mkdir(join(dir, 'blobs'), { recursive: true });
  await linkOrCopy(path, join(dir, 'blobs', blob.digest.slice(7)));
  await fs.writeFile(join(dir, 'layers', `${key}.json`), JSON.stringify(blob));
}

async function linkOrCopy(from: string, to: string): Promise<void> {
  if (await fs.stat(to).catch(() => undefined)) return;
  await fs.link(from, to).catch(() => fs.copyFile(from, to));
}

function sortKeys(o: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
