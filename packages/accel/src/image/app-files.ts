/**
 * The app layer (the Accel sources, the client package and the production dependency closure
 * under /app) and the models layer (/models/NAME/VERSION/...).
 *
 * Dependencies are found as Node resolves them: a package required from folder D is looked up
 * in D/node_modules, then in each parent's node_modules up to the repository root, and lands at
 * the same path relative to the root under /app. Workspace links (node_modules/@accel/client ->
 * ../../packages/client) stay links.
 */
import { createHash } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { AccelError } from '../errors';
import { packFolder } from '../workspace/tar';
import { isElfX64 } from './rootfs';
import type { LayerEntry } from './tar-layer';

/** Packages the server never loads at run time: the TF converter stack, Postgres, the Kubernetes client, type packages. */
export const EXCLUDED_PACKAGES: readonly RegExp[] = [/^@tensorflow\//, /^pg$/, /^@types\//, /^@kubernetes\/client-node$/];

/** Files no package loads at run time: type declarations and source maps. */
const NOT_RUNTIME = /\.d\.[cm]?ts$|\.map$/;

/** Files dropped from a package, by package name: other platforms' binaries, build leftovers. */
const PRUNE: Record<string, (rel: string) => boolean> = {
  'onnxruntime-node': (rel) => /^bin\/napi-v\d+\/[^/]+\/[^/]+(\/|$)/.test(rel) && !/^bin\/napi-v\d+\/linux\/x64(\/|$)/.test(rel),
  'better-sqlite3': (rel) => /^(deps|src)\//.test(rel) || (rel.startsWith('build/') && rel !== 'build/Release/better_sqlite3.node'),
};

export interface AppLayer {
  entries: LayerEntry[];
  /** Host paths of the x86-64 ELF files shipped (native addons and their libraries). */
  elfFiles: string[];
  /** Dependency packages included, as paths relative to the repository root. */
  packages: string[];
  /** Bytes of file contents. */
  bytes: number;
}

export interface AppOptions {
  /** The repository root (holds package.json, packages/, node_modules/). */
  repoRoot: string;
}

/**
 * Entries of the app layer.
 *
 * @example
 * const app = await appEntries({ repoRoot: '/work/main' });
 * console.log(app.packages.length, app.bytes);
 */
export async function appEntries(opts: AppOptions): Promise<AppLayer> {
  const root = resolve(opts.repoRoot);
  const out = new Collector(root);
  await out.file(join(root, 'package.json'));
  const accel = join(root, 'packages/accel');
  for (const part of ['bin', 'src', 'assets']) await out.tree(join(accel, part), skipTests);
  await out.file(join(accel, 'package.json'));
  const client = join(root, 'packages/client');
  const clientPkg = await readPackage(client);
  for (const part of clientPkg.files ?? ['src']) await out.tree(join(client, part), skipTests);
  await out.file(join(client, 'package.json'));

  const packages = new Set<string>();
  const queue: string[] = [accel];
  const seen = new Set<string>([accel, client]);
  while (queue.length) {
    const from = queue.shift()!;
    const pkg = await readPackage(from);
    const deps = { ...(pkg.dependencies ?? {}) };
    const optional = new Set(Object.keys(pkg.optionalDependencies ?? {}));
    for (const name of optional) deps[name] ??= '';
    for (const name of Object.keys(deps).sort()) {
      if (EXCLUDED_PACKAGES.some((re) => re.test(name))) continue;
      const found = await locate(root, from, name);
      if (!found) {
        if (optional.has(name)) continue; // another platform's build, not installed here
        throw new AccelError('ACCEL_ERR_INTERNAL', { reason: `dependency "${name}" of ${relative(root, from) || '.'} is not installed; run npm install and build again` });
      }
      const st = await fs.lstat(found);
      const real = await fs.realpath(found);
      if (st.isSymbolicLink()) {
        if (!inside(root, real)) throw new AccelError('ACCEL_ERR_INTERNAL', { reason: `dependency "${name}" links outside the repository (${real})` });
        out.link(found, await fs.readlink(found));
      } else if (!seen.has(found)) {
        await out.tree(found, (rel) => !rel.startsWith('node_modules') && !NOT_RUNTIME.test(rel) && !PRUNE[name]?.(rel));
        packages.add(relative(root, found));
      }
      if (!seen.has(real)) {
        seen.add(real);
        seen.add(found);
        queue.push(st.isSymbolicLink() ? real : found);
      }
    }
    // The client's own dependencies (it is reached through a link, its files are added above).
    if (from === accel && !queue.includes(client)) queue.push(client);
  }
  const elfFiles: string[] = [];
  for (const e of out.entries) {
    if (e.type === 'file' && e.source && /\.node$|\.so(\.\d+)*$/.test(e.source) && (await isElfX64(e.source))) elfFiles.push(e.source);
  }
  return { entries: out.entries, elfFiles: elfFiles.sort(), packages: [...packages].sort(), bytes: out.bytes };
}

const skipTests = (rel: string) => !rel.endsWith('.test.ts') && !rel.split('/').includes('test-util') && !rel.endsWith('test-registry.ts');

/** Where Node finds package `name` required from folder `from` (not following links), or undefined. */
async function locate(root: string, from: string, name: string): Promise<string | undefined> {
  for (let dir = from; inside(root, dir); dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (await fs.lstat(candidate).catch(() => null)) return candidate;
    if (dir === root) break;
  }
  return undefined;
}

function inside(root: string, p: string): boolean {
  const rel = relative(root, p);
  return rel === '' || (!rel.startsWith('..') && !rel.startsWith(sep));
}

interface PackageJson {
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  files?: string[];
}

async function readPackage(dir: string): Promise<PackageJson> {
  return JSON.parse(await fs.readFile(join(dir, 'package.json'), 'utf8')) as PackageJson;
}

/** Builds entries for host paths under `root`, placed under `app/`. */
class Collector {
  readonly entries: LayerEntry[] = [];
  bytes = 0;
  constructor(private readonly root: string) {}

  private imagePath(host: string): string {
    return `app/${relative(this.root, host).split(sep).join('/')}`;
  }

  async file(host: string): Promise<void> {
    const st = await fs.stat(host);
    this.entries.push({ path: this.imagePath(host), type: 'file', source: host, mode: st.mode & 0o111 ? 0o755 : 0o644 });
    this.bytes += st.size;
  }

  link(host: string, target: string): void {
    this.entries.push({ path: this.imagePath(host), type: 'symlink', linkTarget: target, mode: 0o777 });
  }

  /** Every file below `dir` whose path relative to `dir` passes `keep`. Links inside the repo stay links. */
  async tree(dir: string, keep: (rel: string) => boolean): Promise<void> {
    const walk = async (rel: string): Promise<void> => {
      const names = (await fs.readdir(rel ? join(dir, rel) : dir)).sort();
      for (const name of names) {
        const r = rel ? `${rel}/${name}` : name;
        if (!keep(r)) continue;
        const host = join(dir, r);
        const st = await fs.lstat(host);
        if (st.isDirectory()) {
          this.entries.push({ path: this.imagePath(host), type: 'dir', mode: 0o755 });
          await walk(r);
        } else if (st.isSymbolicLink()) {
          const target = await fs.readlink(host);
          const real = await fs.realpath(host).catch(() => undefined);
          if (real && inside(this.root, real) && !target.startsWith('/')) this.link(host, target);
          else if (real && (await fs.stat(real)).isFile()) await this.fileAs(host, real);
          // dangling links and links to folders outside the repository are left out
        } else if (st.isFile()) await this.file(host);
      }
    };
    const st = await fs.stat(dir).catch(() => null);
    if (!st) return;
    if (st.isFile()) return this.file(dir);
    this.entries.push({ path: this.imagePath(dir), type: 'dir', mode: 0o755 });
    await walk('');
  }

  private async fileAs(host: string, source: string): Promise<void> {
    const st = await fs.stat(source);
    this.entries.push({ path: this.imagePath(host), type: 'file', source, mode: st.mode & 0o111 ? 0o755 : 0o644 });
    this.bytes += st.size;
  }
}

/** A model to put in the image: a file, or a folder (served as FOLDER/model.onnx). */
export interface ImageModel {
  name: string;
  version: number;
  /** Host file or folder. */
  path: string;
  /** Content digest (`sha256:...`) if known (the workspace's model digest); computed otherwise. */
  digest?: string;
}

export interface ModelsLayer {
  entries: LayerEntry[];
  models: { name: string; version: number; digest: string; servePath: string; bytes: number }[];
}

/**
 * Entries of the models layer: a file lands at /models/NAME/VERSION/FILE, a folder's content at
 * /models/NAME/VERSION/. The digest of a file is the sha256 of its bytes, of a folder the sha256
 * of its deterministic tar (the same digest the workspace gives a registered folder).
 */
export async function modelEntries(models: readonly ImageModel[]): Promise<ModelsLayer> {
  const entries: LayerEntry[] = [];
  const described: ModelsLayer['models'] = [];
  const seen = new Set<string>();
  for (const m of models) {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(m.name)) throw new AccelError('ACCEL_ERR_USAGE', { reason: `model name "${m.name}" cannot be a folder name in the image (letters, digits, ".", "_", "-")` });
    if (!Number.isInteger(m.version) || m.version < 1) throw new AccelError('ACCEL_ERR_USAGE', { reason: `model "${m.name}" version must be a positive integer, got ${m.version}` });
    if (seen.has(`${m.name}:${m.version}`)) throw new AccelError('ACCEL_ERR_USAGE', { reason: `model ${m.name}:${m.version} is given twice` });
    seen.add(`${m.name}:${m.version}`);
    const st = await fs.stat(m.path).catch(() => {
      throw new AccelError('ACCEL_ERR_USAGE', { reason: `model ${m.name}:${m.version}: "${m.path}" does not exist` });
    });
    const base = `models/${m.name}/${m.version}`;
    const before = entries.length;
    let bytes = 0;
    if (st.isFile()) {
      entries.push({ path: `${base}/${basename(m.path)}`, type: 'file', source: resolve(m.path), mode: 0o644 });
      bytes = st.size;
    } else if (st.isDirectory()) {
      const c = new Collector(resolve(m.path));
      await c.tree(resolve(m.path), () => true);
      for (const e of c.entries.slice(1)) entries.push({ ...e, path: `${base}/${e.path.slice('app/'.length)}`, ...(e.type === 'file' ? { mode: 0o644 } : {}) });
      bytes = c.bytes;
    } else throw new AccelError('ACCEL_ERR_USAGE', { reason: `model ${m.name}:${m.version}: "${m.path}" is neither a file nor a folder` });
    if (entries.length === before) entries.push({ path: base, type: 'dir', mode: 0o755 });
    const digest = m.digest ?? (await contentDigest(m.path, st.isFile()));
    described.push({ name: m.name, version: m.version, digest, servePath: st.isFile() ? `/${base}/${basename(m.path)}` : `/${base}`, bytes });
  }
  return { entries, models: described };
}

async function contentDigest(path: string, isFile: boolean): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(isFile ? createReadStream(path) : packFolder(path), async (source: AsyncIterable<Buffer>) => {
    for await (const chunk of source) hash.update(chunk);
  });
  return `sha256:${hash.digest('hex')}`;
}
