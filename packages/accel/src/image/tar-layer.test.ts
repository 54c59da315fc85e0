import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import tar, { type Header } from 'tar-stream';
import { afterAll, describe, expect, it } from 'vitest';
import { writeLayer, type LayerEntry } from './tar-layer';

const dir = mkdtempSync(join(tmpdir(), 'accel-tar-layer-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const created = new Date('2024-05-06T07:08:09Z');

async function readTar(buf: Buffer): Promise<{ header: Header; body: Buffer }[]> {
  const out: { header: Header; body: Buffer }[] = [];
  const ex = tar.extract();
  const done = new Promise<void>((resolve, reject) => {
    ex.on('entry', (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: unknown) => chunks.push(c as Buffer));
      stream.on('end', () => {
        out.push({ header, body: Buffer.concat(chunks) });
        next();
      });
    });
    ex.on('finish', () => resolve());
    ex.on('error', reject);
  });
  ex.end(buf);
  await done;
  return out;
}

describe('writeLayer', () => {
  const src = join(dir, 'hello.txt');
  writeFileSync(src, 'hello from the host\n');
  const longName = `${'deep/'.repeat(30)}file.txt`; // fits ustar's prefix + name
  const paxName = `pax/${'n'.repeat(120)}.txt`; // a component longer than 100: needs PAX
  const entries: LayerEntry[] = [
    { path: 'usr/local/bin/tool', type: 'file', source: src, mode: 0o755 },
    { path: 'etc/passwd', type: 'file', data: Buffer.from('root:x:0:0::/:\n'), mode: 0o644 },
    { path: 'lib', type: 'symlink', linkTarget: 'usr/lib', mode: 0o777 },
    { path: 'tmp', type: 'dir', mode: 0o1777 },
    { path: longName, type: 'file', data: Buffer.from('x'), mode: 0o600 },
    { path: paxName, type: 'file', data: Buffer.from('y'), mode: 0o644 },
  ];

  it('writes a sorted tar with parents, root owner and fixed mtime, and reports both digests', async () => {
    const file = join(dir, 'a.tar.gz');
    const blob = await writeLayer(entries, file, { created });
    const gz = readFileSync(file);
    expect(blob.size).toBe(gz.byteLength);
    expect(blob.digest).toBe(`sha256:${createHash('sha256').update(gz).digest('hex')}`);
    const raw = gunzipSync(gz);
    expect(blob.tarSize).toBe(raw.byteLength);
    expect(blob.diffId).toBe(`sha256:${createHash('sha256').update(raw).digest('hex')}`);
    expect(gz.readUInt32LE(4)).toBe(0); // gzip header mtime

    const items = await readTar(raw);
    const names = items.map((i) => i.header.name);
    const deepDirs = Array.from({ length: 30 }, (_, i) => `${'deep/'.repeat(i + 1)}`);
    expect(names).toEqual([...deepDirs, longName, 'etc/', 'etc/passwd', 'lib', 'pax/', paxName, 'tmp/', 'usr/', 'usr/local/', 'usr/local/bin/', 'usr/local/bin/tool']);
    for (const { header } of items) {
      expect([header.uid, header.gid, header.uname, header.gname]).toEqual([0, 0, '', '']);
      expect(header.mtime?.getTime()).toBe(created.getTime());
    }
    const by = new Map(items.map((i) => [i.header.name, i]));
    expect(by.get('usr/local/bin/tool')!.body.toString()).toBe('hello from the host\n');
    expect(by.get('usr/local/bin/tool')!.header.mode).toBe(0o755);
    expect(by.get('tmp/')!.header.mode).toBe(0o1777);
    expect(by.get('lib')!.header).toMatchObject({ type: 'symlink', linkname: 'usr/lib' });
    expect(by.get(longName)!.header.mode).toBe(0o600);
    expect(by.get(paxName)!.body.toString()).toBe('y');
    // PAX only where ustar cannot hold the name: one extended header (tar-stream names it and the
    // ustar header after it "PaxHeader"), for the 120-character component alone.
    expect(raw.toString('latin1').match(/PaxHeader/g)?.length ?? 0).toBe(2);
    expect(raw.toString('latin1').match(/ path=/g)?.length ?? 0).toBe(1);
  });

  it('gives identical bytes for the same entries in any order, and differs when created changes', async () => {
    const a = await writeLayer(entries, join(dir, 'b1.tar.gz'), { created });
    const b = await writeLayer([...entries].reverse(), join(dir, 'b2.tar.gz'), { created });
    expect(b).toEqual(a);
    expect(readFileSync(join(dir, 'b1.tar.gz')).equals(readFileSync(join(dir, 'b2.tar.gz')))).toBe(true);
    const c = await writeLayer(entries, join(dir, 'b3.tar.gz'), { created: new Date(created.getTime() + 1000) });
    expect(c.diffId).not.toBe(a.diffId);
  });

  it('reports progress up to the tar size', async () => {
    const seen: number[] = [];
    const blob = await writeLayer(entries, join(dir, 'p.tar.gz'), { created, onProgress: (p) => seen.push(p.bytes) });
    expect(seen.at(-1)).toBe(blob.tarSize);
  });

  it('refuses an entry below a file or link, a path with "..", and a missing source', async () => {
    await expect(writeLayer([...entries, { path: 'lib/x86_64/libc.so', type: 'file', data: Buffer.from(''), mode: 0o644 }], join(dir, 'e.tar.gz'), { created })).rejects.toThrow(/below "lib", which is a symlink/);
    await expect(writeLayer([{ path: 'a/../b', type: 'dir', mode: 0o755 }], join(dir, 'e.tar.gz'), { created })).rejects.toThrow(/"a\/..\/b" must be relative/);
    await expect(writeLayer([{ path: 'x', type: 'file', source: join(dir, 'missing'), mode: 0o644 }], join(dir, 'e.tar.gz'), { created })).rejects.toThrow(/cannot read .*missing.* ENOENT/);
  });
});

describe('writeLayer on a changing file', () => {
  it('fails with the file named when a source grows while it is packed', async () => {
    const src = join(dir, 'growing.bin');
    writeFileSync(src, Buffer.alloc(4 << 20));
    let grown = false;
    const write = writeLayer([{ path: 'big.bin', type: 'file', source: src, mode: 0o644 }], join(dir, 'g.tar.gz'), {
      created,
      onProgress: () => {
        if (!grown) {
          grown = true;
          writeFileSync(src, Buffer.alloc(8 << 20));
        }
      },
    });
    await expect(write).rejects.toMatchObject({ code: 'ACCEL_ERR_INTERNAL', message: expect.stringMatching(/growing.bin" changed while it was packed into layer path "big.bin"/) });
  });
});
