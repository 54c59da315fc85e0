import { createHash, randomBytes } from 'node:crypto';
import { existsSync, promises as fs } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_ZOO_MIRROR, importWeights, pullWeights, sha256File, zooMirror, type WeightsSource } from './weights';

const MB = 1 << 20;
const DATA = randomBytes(5 * MB);
const SHA = createHash('sha256').update(DATA).digest('hex');
const OTHER_SHA = createHash('sha256').update('something else').digest('hex');
const FILE = 'resnet50-test.onnx';

/** A mirror serving DATA at /files/FILE: Range support, redirects under /moved/, and a one-off cut. */
const mirror = {
  requests: [] as { path: string; range?: string; acceptEncoding?: string; status: number }[],
  /** Cut the connection after sending this many body bytes, once. */
  cutAfter: undefined as number | undefined,
  ignoreRange: false,
};
let server: Server;
let base = '';
let cacheDir = '';

beforeAll(async () => {
  server = createServer((req, res) => {
    const path = req.url ?? '';
    const record = { path, range: req.headers.range, acceptEncoding: req.headers['accept-encoding'] as string | undefined, status: 200 };
    mirror.requests.push(record);
    const reply = (status: number, headers: Record<string, string | number>, body: Buffer = Buffer.alloc(0)) => {
      record.status = status;
      res.writeHead(status, { 'content-length': body.length, ...headers });
      const cut = mirror.cutAfter;
      if (cut === undefined || cut >= body.length) return res.end(body);
      mirror.cutAfter = undefined;
      res.write(body.subarray(0, cut), () => res.socket?.destroy());
    };
    if (path.startsWith('/moved/')) return reply(302, { location: `/files/${path.slice('/moved/'.length)}` });
    if (path !== `/files/${FILE}`) return reply(404, {}, Buffer.from('not found'));
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (!m || mirror.ignoreRange) return reply(200, {}, DATA);
    const start = Number(m[1]);
    if (start >= DATA.length) return reply(416, { 'content-range': `bytes */${DATA.length}` });
    reply(206, { 'content-range': `bytes ${start}-${DATA.length - 1}/${DATA.length}` }, DATA.subarray(start));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

beforeEach(async () => {
  Object.assign(mirror, { requests: [], cutAfter: undefined, ignoreRange: false });
  cacheDir = await fs.mkdtemp(join(tmpdir(), 'accel-weights-'));
  return () => fs.rm(cacheDir, { recursive: true, force: true });
});

const source = (over: Partial<WeightsSource> = {}): WeightsSource => ({ file: FILE, sha256: SHA, size: DATA.length, ...over });
const pull = (over: Partial<WeightsSource> = {}, opts: Parameters<typeof pullWeights>[2] = {}) =>
  pullWeights(source(over), cacheDir, { mirror: `${base}/files/`, ...opts });
const cachedPath = (sha = SHA) => join(cacheDir, sha, FILE);
const partPath = (sha = SHA) => join(cacheDir, 'partial', `${sha}.part`);
const noNetwork = (() => {
  throw new Error('no network access expected');
}) as typeof fetch;

describe('pullWeights', () => {
  it('downloads, verifies and caches the file; a second pull makes no request', async () => {
    const first = await pull();
    expect(first).toEqual({ path: cachedPath(), sha256: SHA, size: DATA.length, cached: false });
    expect((await fs.readFile(first.path)).equals(DATA)).toBe(true);
    expect(await sha256File(first.path)).toBe(SHA);
    expect(mirror.requests).toHaveLength(1);
    expect(mirror.requests[0]).toMatchObject({ path: `/files/${FILE}`, range: undefined, acceptEncoding: 'identity' });
    expect(await fs.readdir(join(cacheDir, 'partial'))).toEqual([]);

    const second = await pull({}, { fetchImpl: noNetwork });
    expect(second).toEqual({ ...first, cached: true });
    expect(mirror.requests).toHaveLength(1);
  });

  it('reports progress up to the total', async () => {
    const calls: [number, number][] = [];
    await pull({ size: undefined }, { onProgress: (done, total) => calls.push([done, total]) });
    expect(calls.length).toBeGreaterThan(1);
    expect(calls.every(([, total]) => total === DATA.length)).toBe(true);
    expect(calls.every(([done], i) => i === 0 || done > calls[i - 1][0])).toBe(true);
    expect(calls.at(-1)).toEqual([DATA.length, DATA.length]);
  });

  it('refuses content that does not match the pin (ACCEL_ERR_CHECKSUM_MISMATCH) and caches nothing', async () => {
    const err = await pull({ sha256: OTHER_SHA }).catch((e) => e);
    expect(err.code).toBe('ACCEL_ERR_CHECKSUM_MISMATCH');
    for (const text of [OTHER_SHA, SHA, `${base}/files/${FILE}`, 'Nothing was cached']) expect(err.message).toContain(text);
    expect(existsSync(cachedPath(OTHER_SHA))).toBe(false);
    expect(existsSync(cachedPath())).toBe(false);
    expect(await fs.readdir(join(cacheDir, 'partial'))).toEqual([]);
  });

  it('stops a download that grows past the pinned size', async () => {
    const err = await pull({ size: MB }).catch((e) => e);
    expect(err.code).toBe('ACCEL_ERR_CHECKSUM_MISMATCH');
    expect(err.message).toContain(`expected ${MB} bytes`);
    expect(existsSync(partPath())).toBe(false);
    expect(existsSync(cachedPath())).toBe(false);
  });

  it('keeps the part of an interrupted download and resumes it with a Range request', async () => {
    mirror.cutAfter = 2 * MB;
    const err = await pull().catch((e) => e);
    expect(err.code).toBe('ACCEL_ERR_DOWNLOAD_FAILED');
    for (const text of [`${base}/files/${FILE}`, 'ACCEL_ZOO_MIRROR', 'accel zoo import', 'next pull resumes']) expect(err.message).toContain(text);
    expect(existsSync(cachedPath())).toBe(false);
    const kept = (await fs.stat(partPath())).size;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThanOrEqual(2 * MB);

    const calls: [number, number][] = [];
    const result = await pull({}, { onProgress: (done, total) => calls.push([done, total]) });
    expect(mirror.requests.at(-1)).toMatchObject({ range: `bytes=${kept}-`, status: 206 });
    expect(calls[0][0]).toBeGreaterThan(kept);
    expect(calls.at(-1)).toEqual([DATA.length, DATA.length]);
    expect((await fs.readFile(result.path)).equals(DATA)).toBe(true);
    expect(existsSync(partPath())).toBe(false);
  });

  it('starts over when the server ignores Range and answers 200', async () => {
    await fs.mkdir(join(cacheDir, 'partial'));
    await fs.writeFile(partPath(), Buffer.alloc(MB, 7)); // wrong bytes: appending to them would fail the pin
    mirror.ignoreRange = true;
    const result = await pull();
    expect(mirror.requests).toEqual([expect.objectContaining({ range: `bytes=${MB}-`, status: 200 })]);
    expect((await fs.readFile(result.path)).equals(DATA)).toBe(true);
  });

  it('on 416 keeps a part that is already complete, and restarts a wrong one', async () => {
    await fs.mkdir(join(cacheDir, 'partial'));
    await fs.writeFile(partPath(), DATA);
    expect((await pull()).cached).toBe(false);
    expect(mirror.requests.map((r) => r.status)).toEqual([416]);
    expect((await fs.readFile(cachedPath())).equals(DATA)).toBe(true);

    await fs.rm(join(cacheDir, SHA), { recursive: true });
    mirror.requests = [];
    await fs.writeFile(partPath(), Buffer.alloc(DATA.length + 10, 1));
    await pull({ size: undefined });
    expect(mirror.requests.map((r) => [r.range, r.status])).toEqual([[`bytes=${DATA.length + 10}-`, 416], [undefined, 200]]);
    expect((await fs.readFile(cachedPath())).equals(DATA)).toBe(true);
  });

  it('follows redirects', async () => {
    const result = await pullWeights(source({ url: `${base}/moved/${FILE}` }), cacheDir);
    expect((await fs.readFile(result.path)).equals(DATA)).toBe(true);
    expect(mirror.requests.map((r) => r.status)).toEqual([302, 200]);
  });

  it('names the URL on a 404 or a refused connection (ACCEL_ERR_DOWNLOAD_FAILED)', async () => {
    const err = await pull({ file: 'missing.onnx' }).catch((e) => e);
    expect(err.code).toBe('ACCEL_ERR_DOWNLOAD_FAILED');
    expect(err.message).toContain(`${base}/files/missing.onnx`);
    expect(err.message).toContain('HTTP 404');
    expect(err.message).toContain('ACCEL_ZOO_MIRROR');

    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const dead = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
    await new Promise((resolve) => closed.close(resolve));
    const refused = await pull({}, { mirror: dead }).catch((e) => e);
    expect(refused.code).toBe('ACCEL_ERR_DOWNLOAD_FAILED');
    expect(refused.message).toContain(`${dead}/${FILE}`);
    expect(refused.message).toContain('ECONNREFUSED');
  });

  it('rejects with the abort reason when the signal is aborted', async () => {
    const err = await pull({}, { signal: AbortSignal.abort() }).catch((e) => e);
    expect(err.name).toBe('AbortError');
    expect(existsSync(cachedPath())).toBe(false);
  });

  it('refuses a source that is not a plain file name or a sha256 (ACCEL_ERR_USAGE)', async () => {
    for (const bad of [{ file: '../escape.onnx' }, { sha256: 'abc' }, { size: -1 }]) {
      await expect(pull(bad, { fetchImpl: noNetwork })).rejects.toMatchObject({ code: 'ACCEL_ERR_USAGE' });
    }
    expect(mirror.requests).toEqual([]);
  });
});

describe('importWeights', () => {
  it('adds a local file that matches the pin', async () => {
    const local = join(cacheDir, 'download.onnx');
    await fs.writeFile(local, DATA);
    await fs.mkdir(join(cacheDir, 'partial'));
    await fs.writeFile(partPath(), DATA.subarray(0, MB)); // an abandoned download
    const result = await importWeights(source(), local, cacheDir);
    expect(result).toEqual({ path: cachedPath(), sha256: SHA, size: DATA.length, cached: false });
    expect((await fs.readFile(result.path)).equals(DATA)).toBe(true);
    expect(await fs.readdir(join(cacheDir, 'partial'))).toEqual([]);
    expect((await importWeights(source(), local, cacheDir)).cached).toBe(true);
    expect((await pull({}, { fetchImpl: noNetwork })).cached).toBe(true);
  });

  it('refuses a local file that does not match the pin, leaving nothing behind', async () => {
    const local = join(cacheDir, 'download.onnx');
    await fs.writeFile(local, DATA.subarray(0, DATA.length - 1));
    const err = await importWeights(source(), local, cacheDir).catch((e) => e);
    expect(err.code).toBe('ACCEL_ERR_CHECKSUM_MISMATCH');
    for (const text of [SHA, local, 'Nothing was cached']) expect(err.message).toContain(text);
    expect(existsSync(cachedPath())).toBe(false);
    expect(await fs.readdir(join(cacheDir, 'partial'))).toEqual([]);
    await expect(importWeights(source(), join(cacheDir, 'nope.onnx'), cacheDir)).rejects.toMatchObject({ code: 'ACCEL_ERR_USAGE' });
  });
});

describe('zooMirror', () => {
  it('is ACCEL_ZOO_MIRROR when set, else the default https mirror', () => {
    const saved = process.env.ACCEL_ZOO_MIRROR;
    try {
      delete process.env.ACCEL_ZOO_MIRROR;
      expect(zooMirror()).toBe(DEFAULT_ZOO_MIRROR);
      expect(DEFAULT_ZOO_MIRROR).toMatch(/^https:\/\//);
      process.env.ACCEL_ZOO_MIRROR = 'http://mirror.local/zoo';
      expect(zooMirror()).toBe('http://mirror.local/zoo');
    } finally {
      if (saved === undefined) delete process.env.ACCEL_ZOO_MIRROR;
      else process.env.ACCEL_ZOO_MIRROR = saved;
    }
  });
});
