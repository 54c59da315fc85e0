import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, open, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BlobStore, isDigest } from './blobs';

const sha = (data: string | Buffer) => `sha256:${createHash('sha256').update(data).digest('hex')}`;
const REPO = fileURLToPath(new URL('../../../..', import.meta.url));

let root: string;
let store: BlobStore;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'accel-blobs-'));
  store = new BlobStore(root);
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

async function text(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString();
}

async function waitFor(check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('BlobStore', () => {
  it('puts, finds, opens, verifies and deletes a blob', async () => {
    const { digest, size } = await store.putBytes('hello world');
    expect(digest).toBe(sha('hello world'));
    expect(size).toBe(11);
    const hex = digest.slice(7);
    expect(await store.path(digest)).toBe(join(root, 'sha256', hex.slice(0, 2), hex));
    expect(await store.has(digest)).toBe(true);
    expect(await store.size(digest)).toBe(11);
    expect(await text(await store.open(digest))).toBe('hello world');
    expect(await store.verify(digest)).toEqual({ ok: true, actual: digest, size: 11 });
    await store.assertIntact(digest);
    expect(await store.list()).toEqual([{ digest, size: 11 }]);

    await store.delete(digest);
    await store.delete(digest); // idempotent
    expect(await store.has(digest)).toBe(false);
    expect(await store.list()).toEqual([]);
    for (const call of [() => store.path(digest), () => store.open(digest), () => store.size(digest), () => store.verify(digest)]) {
      await expect(call()).rejects.toMatchObject({ code: 'ACCEL_ERR_BLOB_NOT_FOUND' });
    }
  });

  it('stores the same content once, under one digest', async () => {
    const a = await store.putBytes('same');
    const b = await store.put((async function* () {
      yield Buffer.from('sa');
      yield Buffer.from('me');
    })());
    expect(b).toEqual(a);
    expect(await filesUnder(join(root, 'sha256'))).toHaveLength(1);
    expect(await readdir(join(root, 'tmp'))).toEqual([]);
  });

  it('streams a file in and reports progress', async () => {
    const file = join(root, 'input.bin');
    const data = Buffer.alloc(3 * 1024 * 1024 + 5, 7);
    await writeFile(file, data);
    const seen: number[] = [];
    const { digest, size } = await store.putFile(file, { onProgress: (n) => seen.push(n) });
    expect([digest, size]).toEqual([sha(data), data.length]);
    expect(seen.at(-1)).toBe(data.length);
    expect(seen).toEqual([...seen].sort((x, y) => x - y));
  });

  it('detects a blob corrupted in place', async () => {
    const { digest } = await store.putBytes('hello world');
    const handle = await open(await store.path(digest), 'r+');
    await handle.write(Buffer.from('J'), 0, 1, 0);
    await handle.close();
    expect(await store.verify(digest)).toEqual({ ok: false, actual: sha('Jello world'), size: 11 });
    await expect(store.assertIntact(digest)).rejects.toMatchObject({ code: 'ACCEL_ERR_BLOB_CORRUPT' });
  });

  it('leaves no blob and no temp file when the source fails midway', async () => {
    async function* failing() {
      yield Buffer.alloc(1 << 20, 1);
      yield Buffer.alloc(1 << 20, 2);
      throw new Error('source broke');
    }
    await expect(store.put(failing())).rejects.toThrow('source broke');
    await expect(store.put((async function* () {
      throw new Error('broke at once');
    })())).rejects.toThrow('broke at once');
    await expect(store.putFile(join(root, 'missing.bin'))).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await filesUnder(root)).toEqual([]);
  });

  it('refuses malformed digests everywhere (no path traversal)', async () => {
    const hex = 'a'.repeat(64);
    const bad = ['', 'sha256:', `sha256:${hex.toUpperCase()}`, `md5:${hex}`, `sha256:../../${hex.slice(6)}`, `sha256:${hex}/../x`, `sha256:${hex}0`, hex, '../../etc/passwd'];
    for (const digest of bad) {
      expect(isDigest(digest)).toBe(false);
      const calls = [(d: string) => store.has(d), store.path, store.open, store.size, store.delete, store.verify].map((f) => f.bind(store) as (d: string) => Promise<unknown>);
      for (const call of calls) {
        await expect(call(digest)).rejects.toMatchObject({ code: 'ACCEL_ERR_BAD_DIGEST' });
      }
    }
    expect(isDigest(`sha256:${hex}`)).toBe(true);
  });

  it('lists only well-formed blob files', async () => {
    const b = await store.putBytes('b');
    const a = await store.putBytes('a');
    await writeFile(join(root, 'sha256', 'stray'), 'x');
    await writeFile(join(root, 'sha256', a.digest.slice(7, 9), 'not-a-blob'), 'x');
    expect(await store.list()).toEqual([a, b].sort((x, y) => (x.digest < y.digest ? -1 : 1)));
  });

  it('cleanTemp keeps the temp files of live writers and removes the rest', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const writing = store.put((async function* () {
      yield Buffer.from('first ');
      await gate;
      yield Buffer.from('second');
    })());
    const tmp = join(root, 'tmp');
    await waitFor(async () => (await readdir(tmp).catch(() => [])).length === 1);
    await writeFile(join(tmp, '4194305-00ff.tmp'), 'x'); // above any pid_max: a dead writer
    await writeFile(join(tmp, 'junk'), 'x');
    const idle = join(tmp, `${process.pid}-0123.tmp`);
    await writeFile(idle, 'x');
    const hourAgo = new Date(Date.now() - 3600_000);
    await utimes(idle, hourAgo, hourAgo);

    expect(await store.cleanTemp()).toBe(2);
    expect((await readdir(tmp)).sort()).toHaveLength(2);
    expect(await store.cleanTemp(60_000)).toBe(1); // the idle one, though its pid is alive
    release();
    expect((await writing).digest).toBe(sha('first second'));
    expect(await readdir(tmp)).toEqual([]);
  });

  it('a writer killed mid-put leaves only complete blobs, and cleanTemp removes its leftovers', async () => {
    const kept = await store.putBytes('kept');
    const blobsModule = pathToFileURL(join(REPO, 'packages/accel/src/workspace/blobs.ts')).href;
    const code = `
      const { BlobStore } = await import(${JSON.stringify(blobsModule)});
      const chunk = Buffer.alloc(1 << 20);
      async function* generate() {
        for (let i = 0; i < 200; i++) {
          yield Buffer.from(chunk.fill(i));
          await new Promise((r) => setTimeout(r, 5));
        }
      }
      await new BlobStore(${JSON.stringify(root)}).put(generate());
      console.log('finished');`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const exited = new Promise<void>((r) => child.on('exit', () => r()));
    const tmp = join(root, 'tmp');
    const childTemp = async () => (await readdir(tmp)).find((n) => n.startsWith(`${child.pid}-`));
    await waitFor(async () => {
      if (child.exitCode !== null) throw new Error(`child ended early: ${output}`);
      const name = await childTemp();
      return name !== undefined && (await stat(join(tmp, name))).size > 4 * 1024 * 1024;
    });
    child.kill('SIGKILL');
    await exited;
    expect(output).not.toContain('finished');

    const blobs = await store.list();
    expect(blobs).toEqual([kept]);
    for (const file of await filesUnder(join(root, 'sha256'))) {
      expect(sha(await readFile(file))).toBe(`sha256:${file.split('/').at(-1)}`);
    }
    expect(await childTemp()).toBeDefined();
    expect(await store.cleanTemp()).toBe(1);
    expect(await readdir(tmp)).toEqual([]);
  }, 60_000);
});
