/**
 * Content-addressed blob store of the embedded workspace: `root/sha256/<2 hex>/<64 hex>`, temp
 * files in `root/tmp/`. A blob is written to a temp file while hashing, fsynced, then renamed into
 * place, so a crash at any point never leaves a partial or misnamed file under `sha256/`.
 */
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AccelError } from '../errors';

const DIGEST = /^sha256:([0-9a-f]{64})$/;
const HEX64 = /^[0-9a-f]{64}$/;
/** Temp files are `<writer pid>-<random>.tmp`, so a cleaner can tell a crashed writer from a live one. */
const TEMP_NAME = /^(\d+)-[0-9a-f]+\.tmp$/;
const READ_CHUNK = 1 << 20;

export interface BlobInfo {
  /** `sha256:<64 hex>` */
  digest: string;
  size: number;
}

export interface PutOptions {
  /** Called after each chunk with the number of bytes stored so far. */
  onProgress?(bytes: number): void;
}

export type BlobSource = NodeJS.ReadableStream | AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

/** True if `digest` is `sha256:` followed by 64 lowercase hex digits. */
export function isDigest(digest: unknown): digest is string {
  return typeof digest === 'string' && DIGEST.test(digest);
}

/** The hex part of a digest; throws ACCEL_ERR_BAD_DIGEST for anything else (so no digest can name a path). */
export function digestHex(digest: string): string {
  const m = typeof digest === 'string' ? DIGEST.exec(digest) : null;
  if (!m) throw new AccelError('ACCEL_ERR_BAD_DIGEST', { digest: String(digest).slice(0, 100) });
  return m[1];
}

export class BlobStore {
  readonly root: string;
  private readonly blobDir: string;
  private readonly tmpDir: string;

  constructor(root: string) {
    this.root = resolve(root);
    this.blobDir = join(this.root, 'sha256');
    this.tmpDir = join(this.root, 'tmp');
  }

  /**
   * Stores what `source` yields and returns its digest and size. Constant memory, back-pressure
   * respected. Storing content that is already present keeps the existing blob.
   */
  async put(source: BlobSource, opts: PutOptions = {}): Promise<BlobInfo> {
    await fs.mkdir(this.tmpDir, { recursive: true });
    const tmp = join(this.tmpDir, `${process.pid}-${randomBytes(8).toString('hex')}.tmp`);
    const hash = createHash('sha256');
    let size = 0;
    try {
      // The file exists before any byte flows, so a failure at any point leaves a name to remove.
      const handle = await fs.open(tmp, 'wx', 0o644);
      await pipeline(
        source as AsyncIterable<Uint8Array>, // pipeline iterates each kind of source the same way
        async function* (chunks: AsyncIterable<unknown>) {
          for await (const chunk of chunks) {
            const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Uint8Array);
            hash.update(bytes);
            size += bytes.byteLength;
            yield bytes;
            opts.onProgress?.(size);
          }
        },
        handle.createWriteStream(), // closes the handle when done or destroyed
      );
      await fsync(tmp, 'r+'); // fsync flushes the file, whichever descriptor asks
      const digest = `sha256:${hash.digest('hex')}`;
      await this.commit(tmp, digest);
      return { digest, size };
    } catch (err) {
      await fs.rm(tmp, { force: true });
      throw err;
    }
  }

  /** Stores a file's content (streamed). A missing or unreadable file rejects before anything is written. */
  async putFile(path: string, opts: PutOptions = {}): Promise<BlobInfo> {
    const handle = await fs.open(path, 'r');
    const stream = handle.createReadStream({ highWaterMark: READ_CHUNK });
    try {
      return await this.put(stream, opts);
    } finally {
      stream.destroy(); // closes the file when put failed before reading it
    }
  }

  putBytes(bytes: Uint8Array | string): Promise<BlobInfo> {
    return this.put([typeof bytes === 'string' ? Buffer.from(bytes) : bytes]);
  }

  async has(digest: string): Promise<boolean> {
    return (await this.statOrNull(digest)) !== null;
  }

  /** Path of a stored blob; throws ACCEL_ERR_BLOB_NOT_FOUND if it is not stored. Never write to it. */
  async path(digest: string): Promise<string> {
    await this.stat(digest);
    return this.blobPath(digest);
  }

  async size(digest: string): Promise<number> {
    return (await this.stat(digest)).size;
  }

  /** A stream of the blob's content; throws ACCEL_ERR_BLOB_NOT_FOUND if it is not stored. */
  async open(digest: string): Promise<Readable> {
    const path = this.blobPath(digest);
    try {
      const handle = await fs.open(path, 'r');
      return handle.createReadStream({ highWaterMark: READ_CHUNK });
    } catch (err) {
      throw this.notFoundOr(err, digest);
    }
  }

  /** Removes a blob; deleting a missing blob is not an error. */
  async delete(digest: string): Promise<void> {
    await fs.rm(this.blobPath(digest), { force: true });
  }

  /** Every stored blob, sorted by digest. Files that are not blobs are ignored. */
  async list(): Promise<BlobInfo[]> {
    const out: BlobInfo[] = [];
    for (const shard of (await readdirOrEmpty(this.blobDir)).sort()) {
      if (!/^[0-9a-f]{2}$/.test(shard)) continue;
      for (const name of (await readdirOrEmpty(join(this.blobDir, shard))).sort()) {
        if (!HEX64.test(name) || !name.startsWith(shard)) continue;
        const st = await fs.stat(join(this.blobDir, shard, name)).catch(() => null);
        if (st?.isFile()) out.push({ digest: `sha256:${name}`, size: st.size });
      }
    }
    return out;
  }

  /** Rehashes a blob: `ok` tells whether its content still matches its digest; `actual` is the content's digest. */
  async verify(digest: string): Promise<{ ok: boolean; actual: string; size: number }> {
    const hash = createHash('sha256');
    let size = 0;
    await pipeline(await this.open(digest), async (chunks: AsyncIterable<Buffer>) => {
      for await (const chunk of chunks) {
        hash.update(chunk);
        size += chunk.byteLength;
      }
    });
    const actual = `sha256:${hash.digest('hex')}`;
    return { ok: actual === digest, actual, size };
  }

  /** Throws ACCEL_ERR_BLOB_CORRUPT if a blob's content no longer matches its digest. */
  async assertIntact(digest: string): Promise<void> {
    const { ok, actual } = await this.verify(digest);
    if (!ok) throw new AccelError('ACCEL_ERR_BLOB_CORRUPT', { digest, actual, path: this.blobPath(digest) });
  }

  /**
   * Removes temp files left by crashed writers: those whose writer process (pid in the name) is
   * dead, or whose name is not a writer's. Temp files of live writers survive, unless older than
   * `olderThanMs` (a backstop against reused pids). Returns the number of files removed.
   */
  async cleanTemp(olderThanMs = Infinity): Promise<number> {
    let removed = 0;
    const now = Date.now();
    for (const name of await readdirOrEmpty(this.tmpDir)) {
      const path = join(this.tmpDir, name);
      const m = TEMP_NAME.exec(name);
      let stale = !m || !processAlive(Number(m[1]));
      if (!stale && Number.isFinite(olderThanMs)) {
        const st = await fs.stat(path).catch(() => null);
        stale = st !== null && now - st.mtimeMs > olderThanMs;
      }
      if (stale) {
        await fs.rm(path, { force: true, recursive: true });
        removed++;
      }
    }
    return removed;
  }

  private blobPath(digest: string): string {
    const hex = digestHex(digest);
    return join(this.blobDir, hex.slice(0, 2), hex);
  }

  private async statOrNull(digest: string) {
    try {
      return await fs.stat(this.blobPath(digest));
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  private async stat(digest: string) {
    const st = await this.statOrNull(digest);
    if (!st) throw this.notFound(digest);
    return st;
  }

  private notFound(digest: string): AccelError {
    return new AccelError('ACCEL_ERR_BLOB_NOT_FOUND', { digest, root: this.root });
  }

  private notFoundOr(err: unknown, digest: string): unknown {
    return isNotFound(err) ? this.notFound(digest) : err;
  }

  /** Moves a complete, fsynced temp file into place under its digest (or drops it if already stored). */
  private async commit(tmp: string, digest: string): Promise<void> {
    const final = this.blobPath(digest);
    const shard = dirname(final);
    const created = await fs.mkdir(shard, { recursive: true });
    // New directories must reach the disk too: fsync the parent of each one created.
    const stop = created === undefined ? shard : dirname(resolve(created));
    for (let dir = shard; dir !== stop && dir !== dirname(dir); dir = dirname(dir)) await fsyncDir(dirname(dir));
    if (await this.has(digest)) {
      await fs.rm(tmp, { force: true });
      return;
    }
    await fs.rename(tmp, final);
    await fsyncDir(shard);
  }
}

async function fsync(path: string, flags: string): Promise<void> {
  const handle = await fs.open(path, flags);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Makes a rename or create in `dir` durable. Windows cannot open directories for fsync. */
async function fsyncDir(dir: string): Promise<void> {
  if (process.platform !== 'win32') await fsync(dir, 'r');
}

function processAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await fs.readdir(dir);
  } catch (err) {
    if (isNotFound(err)) return [];
    throw err;
  }
}

function isNotFound(err: unknown): boolean {
  return (err as NodeJS.ErrnoException)?.code === 'ENOENT';
}
