import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, symlink, truncate, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BlobStore } from './blobs';
import { extractTar, packFolder } from './tar';

let tmp: string;
beforeEach(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'accel-tar-'));
});
afterEach(async () => {
  await rm(tmp, { recursive: true, force: true });
});

const LONG = `deep/${'n'.repeat(90)}/${'f'.repeat(120)}.bin`; // too long for ustar: pax header

async function makeTree(dir: string): Promise<void> {
  await mkdir(join(dir, 'a/b'), { recursive: true });
  await mkdir(join(dir, 'empty'));
  await mkdir(join(dir, 'deep', 'n'.repeat(90)), { recursive: true });
  await writeFile(join(dir, 'a/b/weights.bin'), createHash('sha512').update('w').digest());
  await writeFile(join(dir, 'a-b.txt'), 'sorts before a/ in byte order');
  await writeFile(join(dir, 'B.txt'), 'upper case sorts first');
  await writeFile(join(dir, 'ünï.txt'), 'utf-8 name');
  await writeFile(join(dir, 'run.sh'), '#!/bin/sh\necho hi\n', { mode: 0o755 });
  await writeFile(join(dir, 'zero'), '');
  await writeFile(join(dir, LONG), Buffer.alloc(1000, 3));
}

async function bytesOf(stream: AsyncIterable<unknown>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

/** Every entry of a tree: path, kind, executable bit, content hash. */
async function snapshot(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    const path = join(e.parentPath, e.name);
    const rel = path.slice(dir.length + 1);
    if (e.isDirectory()) out.push(`${rel}/`);
    else out.push(`${rel} ${(await stat(path)).mode & 0o111 ? 'x' : '-'} ${createHash('sha256').update(await readFile(path)).digest('hex')}`);
  }
  return out.sort();
}

async function headers(archive: Buffer): Promise<tar.Header[]> {
  const extract = tar.extract();
  Readable.from([archive]).pipe(extract);
  const out: tar.Header[] = [];
  for await (const entry of extract) {
    out.push(entry.header);
    entry.resume();
  }
  return out;
}

async function handMadeTar(entries: { header: tar.Header | Partial<tar.Header>; body?: string }[]): Promise<Buffer> {
  const pack = tar.pack();
  for (const { header, body } of entries) pack.entry(header as tar.Header, body ?? '');
  pack.finalize();
  return bytesOf(pack);
}

describe('packFolder', () => {
  it('gives identical bytes for the same folder, whatever its mtimes and permissions', async () => {
    const src = join(tmp, 'src');
    await makeTree(src);
    const first = await bytesOf(packFolder(src));
    expect(await bytesOf(packFolder(src))).toEqual(first);

    const later = new Date('2031-05-06T07:08:09Z');
    for (const p of ['a', 'a/b/weights.bin', 'run.sh', 'zero', LONG]) await utimes(join(src, p), later, later);
    await chmod(join(src, 'a-b.txt'), 0o600);
    await chmod(join(src, 'a'), 0o700);
    await chmod(join(src, 'run.sh'), 0o700);
    expect(await bytesOf(packFolder(src))).toEqual(first);
  });

  it('writes sorted ustar entries with fixed metadata', async () => {
    const src = join(tmp, 'src');
    await makeTree(src);
    const list = await headers(await bytesOf(packFolder(src)));
    const names = list.map((h) => h.name);
    expect(names.slice(0, 6)).toEqual(['B.txt', 'a-b.txt', 'a/', 'a/b/', 'a/b/weights.bin', 'deep/']);
    expect(names).toContain(LONG);
    expect(names).toContain('empty/');
    expect(names.at(-1)).toBe('ünï.txt');
    for (const h of list) {
      expect([h.mtime?.getTime(), h.uid, h.gid, h.uname, h.gname]).toEqual([0, 0, 0, '', '']);
      expect(h.mode).toBe(h.type === 'directory' || h.name === 'run.sh' ? 0o755 : 0o644);
    }
  });

  it('refuses symbolic links, naming the path; dereference stores links to files as files', async () => {
    const src = join(tmp, 'src');
    await makeTree(src);
    await symlink(join(src, 'run.sh'), join(src, 'a', 'link.sh'));
    const err = await bytesOf(packFolder(src)).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ACCEL_ERR_UNSUPPORTED_FILE' });
    expect((err as Error).message).toContain(join(src, 'a', 'link.sh'));
    expect((err as Error).message).toContain('symbolic link');

    const dest = join(tmp, 'dest');
    await extractTar(packFolder(src, { dereference: true }), dest);
    expect(await readFile(join(dest, 'a', 'link.sh'), 'utf8')).toBe('#!/bin/sh\necho hi\n');

    await symlink(join(src, 'a'), join(src, 'dirlink'));
    await expect(bytesOf(packFolder(src, { dereference: true }))).rejects.toMatchObject({ code: 'ACCEL_ERR_UNSUPPORTED_FILE' });
  });

  it('streams a 200 MB file into the blob store without holding it in memory', async () => {
    const src = join(tmp, 'big');
    await mkdir(src);
    await writeFile(join(src, 'model.bin'), '');
    await truncate(join(src, 'model.bin'), 200 * 1024 * 1024); // sparse: quick to make, 200 MB to read
    const store = new BlobStore(join(tmp, 'store'));
    const before = process.memoryUsage().arrayBuffers;
    let peak = 0;
    const { size } = await store.put(packFolder(src), { onProgress: () => (peak = Math.max(peak, process.memoryUsage().arrayBuffers)) });
    expect(size).toBe(512 + 200 * 1024 * 1024 + 1024);
    expect(peak - before).toBeLessThan(100 * 1024 * 1024);
  }, 60_000);

  it('stops reading files when the consumer gives up', async () => {
    const src = join(tmp, 'big');
    const file = join(src, 'model.bin');
    await mkdir(src);
    await writeFile(file, '');
    await truncate(file, 64 * 1024 * 1024);
    const stream = packFolder(src);
    const store = new BlobStore(join(tmp, 'store'));
    const quit = new Error('enough');
    await expect(store.put(stream, { onProgress: (n) => { if (n > 4 << 20) throw quit; } })).rejects.toBe(quit);
    expect(stream.destroyed).toBe(true);
    if (process.platform !== 'linux') return;
    const openFiles = async () => Promise.all((await readdir('/proc/self/fd')).map((fd) => readlink(`/proc/self/fd/${fd}`).catch(() => '')));
    for (let i = 0; i < 50 && (await openFiles()).includes(file); i++) await new Promise((r) => setTimeout(r, 20));
    expect(await openFiles()).not.toContain(file);
  });
});

describe('extractTar', () => {
  it('restores the packed tree', async () => {
    const src = join(tmp, 'src');
    const dest = join(tmp, 'out', 'dest');
    await makeTree(src);
    await extractTar(packFolder(src), dest);
    expect(await snapshot(dest)).toEqual(await snapshot(src));
    expect((await readdir(dest)).length).toBeGreaterThan(0);
  });

  it('refuses a non-empty destination', async () => {
    await writeFile(join(tmp, 'present'), 'x');
    const archive = await handMadeTar([{ header: { name: 'a.txt' }, body: 'a' }]);
    await expect(extractTar(Readable.from([archive]), tmp)).rejects.toMatchObject({ code: 'ACCEL_ERR_ALREADY_EXISTS' });
  });

  const unsafe: [string, { header: Partial<tar.Header>; body?: string }][] = [
    ['a ../ escape', { header: { name: '../evil.txt' }, body: 'evil' }],
    ['a nested ../ escape', { header: { name: 'ok/../../evil.txt' }, body: 'evil' }],
    ['an absolute path', { header: { name: join(tmp ?? '/tmp', 'evil.txt') }, body: 'evil' }],
    ['a symbolic link', { header: { name: 'link', type: 'symlink', linkname: '../../etc/passwd' } }],
    ['a hard link', { header: { name: 'hard', type: 'link', linkname: 'a.txt' } }],
  ];
  for (const [what, entry] of unsafe) {
    it(`refuses ${what}`, async () => {
      const dest = join(tmp, 'x', 'dest');
      const archive = await handMadeTar([{ header: { name: 'a.txt' }, body: 'a' }, entry]);
      await expect(extractTar(Readable.from([archive]), dest)).rejects.toMatchObject({ code: 'ACCEL_ERR_UNSAFE_ARCHIVE' });
      expect((await readdir(join(tmp, 'x'))).sort()).toEqual(['dest']);
      expect(await readdir(dest)).toEqual(['a.txt']);
    });
  }

  it('refuses two entries with the same path', async () => {
    const archive = await handMadeTar([{ header: { name: 'a.txt' }, body: 'a' }, { header: { name: 'a.txt' }, body: 'b' }]);
    await expect(extractTar(Readable.from([archive]), join(tmp, 'dest'))).rejects.toMatchObject({ code: 'ACCEL_ERR_UNSAFE_ARCHIVE' });
  });
});
