/**
 * Deterministic tar of a folder, so that registering the same folder twice gives the same blob
 * digest, and safe extraction of such a tar.
 *
 * The archive is POSIX ustar (pax headers only for names too long for ustar), streamed: file
 * contents are never held in memory. Entries are sorted by name (byte order; directories are
 * included, named `dir/`); mtime is 0 (1970), uid/gid 0, uname/gname empty; modes are 0755 for
 * directories and executable files, 0644 otherwise. Only regular files and directories are
 * packed: symbolic links are refused (their target may lie outside the folder and differ between
 * machines) unless `dereference` is set, which stores a link to a regular file as that file.
 * Links to directories, devices, sockets and FIFOs are always refused.
 */
import { createReadStream, createWriteStream, promises as fs, type Stats } from 'node:fs';
import { dirname, join, resolve, sep } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar, { type Header, type Pack } from 'tar-stream';
import { AccelError } from '../errors';

const FIXED_MTIME = new Date(0);
const READ_CHUNK = 1 << 20;

export interface PackOptions {
  /** Store a symbolic link to a regular file as that file (default: refuse every symbolic link). */
  dereference?: boolean;
}

export type TarSource = NodeJS.ReadableStream | AsyncIterable<Uint8Array>;

interface PackEntry {
  /** Path inside the folder, `/`-separated, no trailing slash. */
  rel: string;
  abs: string;
  type: 'file' | 'directory';
  mode: number;
  size: number;
}

/**
 * A deterministic tar of `dir` (the folder's content, not the folder itself). Errors (an
 * unsupported file, an unreadable folder) surface as an error of the returned stream, before any
 * byte if the folder holds an unsupported file.
 *
 * @example
 * const { digest } = await blobs.put(packFolder('models/resnet'));
 */
export function packFolder(dir: string, opts: PackOptions = {}): Readable {
  const pack = tar.pack();
  const root = resolve(dir);
  (async () => {
    const entries = await listFolder(root, opts);
    for (const entry of entries) await addEntry(pack, entry);
    pack.finalize();
  })().catch((err: unknown) => pack.destroy(err as Error));
  return Readable.from(pack, { objectMode: false });
}

/** Every file and directory under `root`, sorted by entry name in byte order. */
async function listFolder(root: string, opts: PackOptions): Promise<PackEntry[]> {
  const out: PackEntry[] = [];
  async function visit(relDir: string): Promise<void> {
    for (const name of await fs.readdir(relDir ? join(root, relDir) : root)) {
      const rel = relDir ? `${relDir}/${name}` : name;
      const abs = join(root, rel);
      let st = await fs.lstat(abs);
      if (st.isSymbolicLink()) {
        const target = opts.dereference ? await fs.stat(abs).catch(() => null) : null;
        if (!target?.isFile()) throw unsupported(abs, st, opts);
        st = target;
      }
      if (st.isDirectory()) {
        out.push({ rel, abs, type: 'directory', mode: 0o755, size: 0 });
        await visit(rel);
      } else if (st.isFile()) {
        out.push({ rel, abs, type: 'file', mode: st.mode & 0o111 ? 0o755 : 0o644, size: st.size });
      } else {
        throw unsupported(abs, st, opts);
      }
    }
  }
  await visit('');
  // Sorted by entry name as stored (directories end in `/`): `LC_ALL=C tar tf x.tar | sort -c` holds.
  const key = new Map(out.map((e) => [e, Buffer.from(e.type === 'directory' ? `${e.rel}/` : e.rel)]));
  return out.sort((a, b) => Buffer.compare(key.get(a)!, key.get(b)!));
}

function addEntry(pack: Pack, entry: PackEntry): Promise<void> {
  const header: Header = {
    name: entry.type === 'directory' ? `${entry.rel}/` : entry.rel,
    type: entry.type,
    size: entry.size,
    mode: entry.mode,
    mtime: FIXED_MTIME,
    uid: 0,
    gid: 0,
    uname: '',
    gname: '',
    linkname: '',
    devmajor: 0,
    devminor: 0,
  };
  return new Promise<void>((resolvePromise, reject) => {
    const sink = pack.entry(header, (err) => (err ? reject(err) : resolvePromise()));
    // A file that changes size while packed fails the entry ("Size mismatch") instead of corrupting the tar.
    if (entry.type === 'file') pipeline(createReadStream(entry.abs, { highWaterMark: READ_CHUNK }), sink).catch(reject);
  });
}

function unsupported(path: string, st: Stats, opts: PackOptions): AccelError {
  const type = st.isSymbolicLink() ? 'symbolic link' : st.isFIFO() ? 'FIFO' : st.isSocket() ? 'socket' : st.isBlockDevice() || st.isCharacterDevice() ? 'device' : 'special file';
  const hint = !st.isSymbolicLink()
    ? ''
    : opts.dereference
      ? ' Only links to regular files are followed; copy linked folders in (`cp -rL SRC DST`) and register the copy.'
      : ' Copy the folder with links resolved (`cp -rL SRC DST`) and register the copy.';
  return new AccelError('ACCEL_ERR_UNSUPPORTED_FILE', { path, type, hint });
}

/**
 * Extracts a tar into `destDir` (created if missing; it must be empty). Only regular files and
 * directories are extracted; absolute names, `..` components, links and special files are refused
 * with ACCEL_ERR_UNSAFE_ARCHIVE. File modes become 0755 (any execute bit) or 0644. On error,
 * `destDir` may hold part of the tree: extract into a fresh folder and rename it when done.
 */
export async function extractTar(source: TarSource, destDir: string): Promise<void> {
  const root = resolve(destDir);
  await fs.mkdir(root, { recursive: true });
  if ((await fs.readdir(root)).length > 0) throw new AccelError('ACCEL_ERR_ALREADY_EXISTS', { what: 'Non-empty extraction folder', name: root });
  const extract = tar.extract();
  const feeding = pipeline(source, extract);
  feeding.catch(() => {}); // an error here also ends the loop below, which reports it
  for await (const entry of extract) {
    const { name, type } = entry.header;
    const rel = safeRelative(name);
    if (rel === null) {
      entry.resume();
      continue;
    }
    const target = join(root, rel);
    if (!target.startsWith(root + sep)) throw unsafe(name, 'it resolves outside the destination folder');
    if (type === 'directory') {
      entry.resume();
      await fs.mkdir(target, { recursive: true, mode: 0o755 }).catch((err) => rethrowDuplicate(err, name));
    } else if (type === 'file' || type === 'contiguous-file') {
      await fs.mkdir(dirname(target), { recursive: true, mode: 0o755 }).catch((err) => rethrowDuplicate(err, name));
      const mode = (entry.header.mode ?? 0) & 0o111 ? 0o755 : 0o644;
      await pipeline(entry, createWriteStream(target, { flags: 'wx', mode })).catch((err) => rethrowDuplicate(err, name));
    } else {
      throw unsafe(name, `it is a ${type ?? 'entry of unknown type'}; only regular files and directories are extracted`);
    }
  }
  await feeding;
}

/** The entry's path relative to the destination, `null` for the root itself (`./`); throws if unsafe. */
function safeRelative(name: string): string | null {
  if (!name || name.includes('\0')) throw unsafe(name, 'its name is empty or holds a NUL byte');
  if (name.startsWith('/') || /^[A-Za-z]:/.test(name) || (sep === '\\' && name.includes('\\'))) {
    throw unsafe(name, 'its path is absolute');
  }
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw unsafe(name, 'its path holds ".." and could escape the destination folder');
  return parts.length ? parts.join('/') : null;
}

function rethrowDuplicate(err: unknown, name: string): never {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EEXIST' || code === 'EISDIR' || code === 'ENOTDIR') throw unsafe(name, 'it clashes with an earlier entry of the same path');
  throw err;
}

function unsafe(entry: string, reason: string): AccelError {
  return new AccelError('ACCEL_ERR_UNSAFE_ARCHIVE', { entry: entry.slice(0, 300), reason });
}
