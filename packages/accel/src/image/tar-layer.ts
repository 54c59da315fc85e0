/**
 * Deterministic, streamed image layers: a tar of a list of entries, gzip-compressed, written to a
 * file while the sha256 of the compressed blob (the layer digest) and of the tar (the diff_id)
 * are computed. Nothing is held in memory but one read chunk.
 *
 * Determinism: entries sorted by name in byte order (directories named `dir/`), every parent
 * directory present, uid/gid 0, uname/gname empty, mtime = the image's `created` time, POSIX
 * ustar with PAX headers only for names or link targets ustar cannot hold; gzip from node's zlib
 * at a fixed level with header mtime 0.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream, createWriteStream, promises as fs } from 'node:fs';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { constants as zc, createGzip } from 'node:zlib';
import tar, { type Header, type Pack } from 'tar-stream';
import { AccelError } from '../errors';

/** One file, directory or symbolic link of a layer. */
export interface LayerEntry {
  /** Path inside the image, `/`-separated, no leading slash (`usr/local/bin/node`). */
  path: string;
  type: 'file' | 'dir' | 'symlink';
  /** Host file a `file` entry copies (absolute). */
  source?: string;
  /** Contents of a `file` entry given in memory (small files: `/etc/passwd`). */
  data?: Buffer;
  /** Permission bits (`0o755`); setuid/setgid/sticky kept. */
  mode: number;
  /** Target of a `symlink` entry, stored as given. */
  linkTarget?: string;
}

export interface LayerProgress {
  /** Uncompressed tar bytes written so far, and the expected total. */
  bytes: number;
  totalBytes: number;
}

export interface WriteLayerOptions {
  /** Modification time of every entry (SOURCE_DATE_EPOCH-style). */
  created: Date;
  /** gzip level (default 6). The same level and node version give the same bytes. */
  level?: number;
  onProgress?: (p: LayerProgress) => void;
}

export interface LayerBlob {
  /** `sha256:` of the gzip blob. */
  digest: string;
  /** `sha256:` of the uncompressed tar. */
  diffId: string;
  /** Bytes of the gzip blob. */
  size: number;
  /** Bytes of the uncompressed tar. */
  tarSize: number;
  /** Number of entries, parents included. */
  entries: number;
}

const READ_CHUNK = 1 << 20;
const BLOCK = 512;

interface Sized extends LayerEntry {
  size: number;
}

/**
 * Validates entries, adds missing parent directories (0755) and sorts them as they are written.
 * The same path given twice must describe the same thing; no entry may sit below a non-directory.
 */
export async function normalizeEntries(entries: readonly LayerEntry[]): Promise<Sized[]> {
  const byPath = new Map<string, Sized>();
  for (const e of entries) {
    checkPath(e.path);
    const prev = byPath.get(e.path);
    if (prev) {
      const same = prev.type === e.type && prev.source === e.source && prev.linkTarget === e.linkTarget && prev.mode === e.mode && (prev.data ?? Buffer.alloc(0)).equals(e.data ?? Buffer.alloc(0));
      if (!same) throw internal(`layer path "${e.path}" is given twice with different contents`);
      continue;
    }
    byPath.set(e.path, { ...e, size: 0 });
  }
  for (const e of [...byPath.values()]) {
    const parts = e.path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join('/');
      const p = byPath.get(parent);
      if (!p) byPath.set(parent, { path: parent, type: 'dir', mode: 0o755, size: 0 });
      else if (p.type !== 'dir') throw internal(`layer path "${e.path}" lies below "${parent}", which is a ${p.type}`);
    }
  }
  for (const e of byPath.values()) {
    if (e.type === 'file') {
      if (e.data) e.size = e.data.byteLength;
      else if (e.source) {
        const st = await fs.stat(e.source).catch((err: NodeJS.ErrnoException) => {
          throw internal(`cannot read "${e.source}" for layer path "${e.path}": ${err.code ?? err.message}`);
        });
        if (!st.isFile()) throw internal(`"${e.source}" (layer path "${e.path}") is not a regular file`);
        e.size = st.size;
      } else throw internal(`layer file "${e.path}" has neither source nor data`);
    } else if (e.type === 'symlink' && !e.linkTarget) throw internal(`layer symlink "${e.path}" has no target`);
  }
  const key = (e: Sized) => Buffer.from(e.type === 'dir' ? `${e.path}/` : e.path);
  return [...byPath.values()].sort((a, b) => Buffer.compare(key(a), key(b)));
}

function checkPath(path: string): void {
  if (!path || path.startsWith('/') || path.endsWith('/') || path.split('/').some((c) => c === '' || c === '.' || c === '..')) {
    throw internal(`layer path "${path}" must be relative, without empty, "." or ".." components`);
  }
}

/** Tar bytes of the normalized entries (headers, padded contents, end blocks), PAX excluded. */
function expectedTarSize(entries: readonly Sized[]): number {
  return entries.reduce((n, e) => n + BLOCK + Math.ceil(e.size / BLOCK) * BLOCK, 2 * BLOCK);
}

/**
 * Writes the layer of `entries` to `file` (gzip), streaming, and returns its digests and sizes.
 * A source file that changes size while it is read fails the write.
 *
 * @example
 * const blob = await writeLayer([{ path: 'etc/passwd', type: 'file', data: Buffer.from('root:x:0:0::/:\n'), mode: 0o644 }], '/tmp/l.tar.gz', { created: new Date(0) });
 */
export async function writeLayer(entries: readonly LayerEntry[], file: string, opts: WriteLayerOptions): Promise<LayerBlob> {
  const sorted = await normalizeEntries(entries);
  const totalBytes = expectedTarSize(sorted);
  const pack = tar.pack();
  // The first entry error, with its explanation: the pack stream fails with a bare one.
  let entryError: Error | undefined;
  (async () => {
    for (const e of sorted) await addEntry(pack, e, opts.created);
    pack.finalize();
  })().catch((err: unknown) => {
    entryError ??= err as Error;
    pack.destroy(err as Error);
  });

  const tarTap = new HashTap(createHash('sha256'), (bytes) => opts.onProgress?.({ bytes, totalBytes }));
  const gzTap = new HashTap(createHash('sha256'));
  await pipeline(Readable.from(pack, { objectMode: false }), tarTap, createGzip({ level: opts.level ?? 6, memLevel: 8, strategy: zc.Z_DEFAULT_STRATEGY }), gzTap, createWriteStream(file)).catch(
    async (err: unknown) => {
      await new Promise((r) => setImmediate(r));
      throw entryError ?? err;
    },
  );
  return {
    digest: `sha256:${gzTap.hash.digest('hex')}`,
    diffId: `sha256:${tarTap.hash.digest('hex')}`,
    size: gzTap.bytes,
    tarSize: tarTap.bytes,
    entries: sorted.length,
  };
}

function addEntry(pack: Pack, e: Sized, mtime: Date): Promise<void> {
  const header: Header = {
    name: e.type === 'dir' ? `${e.path}/` : e.path,
    type: e.type === 'dir' ? 'directory' : e.type,
    size: e.type === 'file' ? e.size : 0,
    mode: e.mode & 0o7777,
    mtime,
    uid: 0,
    gid: 0,
    uname: '',
    gname: '',
    linkname: e.type === 'symlink' ? e.linkTarget! : '',
    devmajor: 0,
    devminor: 0,
  };
  return new Promise<void>((resolvePromise, reject) => {
    if (e.type === 'file' && e.data) {
      pack.entry(header, e.data, (err) => (err ? reject(err) : resolvePromise()));
      return;
    }
    const sink = pack.entry(header, (err) => (err ? reject(wrapSize(err, e)) : resolvePromise()));
    if (e.type === 'file') pipeline(createReadStream(e.source!, { highWaterMark: READ_CHUNK }), sink).catch((err: Error) => reject(wrapSize(err, e)));
  });
}

function wrapSize(err: Error, e: Sized): Error {
  return /size/i.test(err.message) ? internal(`"${e.source}" changed while it was packed into layer path "${e.path}"`) : err;
}

/** A pass-through that hashes and counts what flows through it. */
class HashTap extends Transform {
  bytes = 0;
  constructor(
    readonly hash: Hash,
    private readonly onBytes?: (bytes: number) => void,
  ) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.byteLength;
    this.onBytes?.(this.bytes);
    cb(null, chunk);
  }
}

function internal(reason: string): AccelError {
  return new AccelError('ACCEL_ERR_INTERNAL', { reason });
}
