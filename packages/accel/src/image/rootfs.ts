/**
 * The runtime layer: the node binary at /usr/local/bin/node, every shared library that node and
 * the app's native addons load (found with `ldd`), the dynamic loader, and the few files a
 * process expects (/etc/passwd, /etc/group, /tmp). No shell, no package manager.
 *
 * Host paths are mirrored: a library at /lib/x86_64-linux-gnu/libc.so.6 lands at the same path
 * in the image, and every symbolic link met on the way (/lib -> usr/lib, libstdc++.so.6 ->
 * libstdc++.so.6.0.30) is kept as a link next to the file it points at, so the loader finds
 * libraries under the names and directories it was built to search.
 */
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import { AccelError } from '../errors';
import type { LayerEntry } from './tar-layer';

const run = promisify(execFile);

export interface RuntimeOptions {
  /** Host node binary (default `process.execPath`). */
  nodePath?: string;
  /** Host paths of the app's ELF files (addons, their .so files); their libraries are added. */
  elfFiles?: readonly string[];
  /** Libraries under this host folder ship in the app layer and are not copied here. */
  appRoot?: string;
}

export interface RuntimeLayer {
  entries: LayerEntry[];
  /** Host paths of the libraries found (sorted), for the build log. */
  libraries: string[];
}

const PASSWD = 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n';
const GROUP = 'root:x:0:\nnogroup:x:65534:\n';

/**
 * Entries of the runtime layer.
 *
 * @example
 * const { entries } = await runtimeEntries({ elfFiles: ['/repo/node_modules/sharp/...node'], appRoot: '/repo' });
 */
export async function runtimeEntries(opts: RuntimeOptions = {}): Promise<RuntimeLayer> {
  const nodePath = await fs.realpath(opts.nodePath ?? process.execPath);
  const libs = new Set<string>();
  for (const elf of [nodePath, ...(opts.elfFiles ?? [])]) {
    for (const lib of await sharedLibraries(elf)) {
      if (opts.appRoot && !relative(opts.appRoot, lib).startsWith('..')) continue;
      libs.add(lib);
    }
  }
  const entries = new Map<string, LayerEntry>();
  const add = (e: LayerEntry) => entries.set(e.path, e);
  add({ path: 'usr/local/bin/node', type: 'file', source: nodePath, mode: 0o755 });
  for (const lib of [...libs].sort()) await addHostPath(lib, add);
  add({ path: 'etc/passwd', type: 'file', data: Buffer.from(PASSWD), mode: 0o644 });
  add({ path: 'etc/group', type: 'file', data: Buffer.from(GROUP), mode: 0o644 });
  add({ path: 'tmp', type: 'dir', mode: 0o1777 });
  add({ path: 'root', type: 'dir', mode: 0o700 });
  return { entries: [...entries.values()], libraries: [...libs].sort() };
}

/**
 * Absolute host paths of the shared libraries `file` loads, the dynamic loader included, as
 * `ldd` resolves them; empty for a static executable. A library ldd cannot find is an error.
 */
export async function sharedLibraries(file: string): Promise<string[]> {
  let stdout: string;
  try {
    ({ stdout } = await run('ldd', [file], { maxBuffer: 1 << 20 }));
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stdout?: string; stderr?: string };
    if (e.code === 'ENOENT') throw internal('`ldd` is not installed; it is needed to find the shared libraries of the image (apt-get install libc-bin)');
    if (/not a dynamic executable/.test(`${e.stdout ?? ''}${e.stderr ?? ''}`)) return [];
    throw internal(`ldd ${file} failed: ${(e.stderr ?? e.message).trim()}`);
  }
  if (/not a dynamic executable|statically linked/.test(stdout)) return [];
  const out: string[] = [];
  const missing: string[] = [];
  for (const line of stdout.split('\n')) {
    const arrow = /^\s*(\S+)\s+=>\s+(.*?)\s*(\(0x[0-9a-f]+\))?$/.exec(line);
    if (arrow) {
      if (arrow[2] === 'not found') missing.push(arrow[1]!);
      else if (isAbsolute(arrow[2]!)) out.push(arrow[2]!);
      continue;
    }
    const direct = /^\s*(\/\S+)\s+\(0x[0-9a-f]+\)$/.exec(line);
    if (direct) out.push(direct[1]!);
  }
  if (missing.length) throw internal(`${file} needs ${missing.join(', ')}, which this host does not have; install them and build again`);
  return out;
}

/**
 * Adds host path `path` at the same place in the image: each symbolic link met on the way
 * (directories included) becomes a link entry, then the file it ends at.
 */
export async function addHostPath(path: string, add: (e: LayerEntry) => void, depth = 0): Promise<void> {
  if (depth > 40) throw internal(`too many symbolic links resolving ${path}`);
  const parts = resolve(path).split('/').filter(Boolean);
  let cur = '/';
  for (let i = 0; i < parts.length; i++) {
    const next = join(cur, parts[i]!);
    const st = await fs.lstat(next).catch(() => {
      throw internal(`${path} does not exist on this host`);
    });
    if (st.isSymbolicLink()) {
      const target = await fs.readlink(next);
      add({ path: next.slice(1), type: 'symlink', mode: 0o777, linkTarget: target });
      const resolved = isAbsolute(target) ? target : join(dirname(next), target);
      return addHostPath(join(resolved, ...parts.slice(i + 1)), add, depth + 1);
    }
    if (i === parts.length - 1) {
      if (!st.isFile()) throw internal(`${path} is not a regular file`);
      add({ path: next.slice(1), type: 'file', source: next, mode: st.mode & 0o777 });
      return;
    }
    if (!st.isDirectory()) throw internal(`${next} is not a directory`);
    cur = next;
  }
}

/** True for an x86-64 ELF file (magic, 64-bit class, machine EM_X86_64). */
export async function isElfX64(file: string): Promise<boolean> {
  const fh = await fs.open(file, 'r');
  try {
    const buf = Buffer.alloc(20);
    const { bytesRead } = await fh.read(buf, 0, 20, 0);
    return bytesRead === 20 && buf.readUInt32BE(0) === 0x7f454c46 && buf[4] === 2 && buf.readUInt16LE(18) === 0x3e;
  } finally {
    await fh.close();
  }
}

function internal(reason: string): AccelError {
  return new AccelError('ACCEL_ERR_INTERNAL', { reason });
}
