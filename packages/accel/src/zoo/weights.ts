/**
 * Pretrained weights for the zoo, pinned by sha256: downloaded (resumably) or imported into a
 * cache `cacheDir/<sha256>/<file>`. Downloads grow in `cacheDir/partial/<sha256>.part`, hashed as
 * they are written; only a complete file whose size and digest match the pin is fsynced and renamed
 * into place, so a file under its cache name is never partial and always matches its pin.
 */
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { AccelError } from '../errors';

/**
 * Base URL of the project's release mirror (placeholder until the first release is published).
 * Offline machines set ACCEL_ZOO_MIRROR to a reachable mirror, or add the file with `accel zoo import`.
 */
export const DEFAULT_ZOO_MIRROR = 'https://models.accel.dev/zoo/v1';

/** Where one weights file comes from, and the pin it must match. */
export interface WeightsSource {
  /** File name, e.g. `resnet50-v1.onnx`; also its name in the cache. */
  file: string;
  /** 64 hex digits: the sha256 of the file (the pin). */
  sha256: string;
  /** Size in bytes, when known: checked too, and a download is stopped once it exceeds it. */
  size?: number;
  /** Full URL; default `${mirror}/${file}`. */
  url?: string;
}

export interface PulledWeights {
  /** The verified file in the cache. */
  path: string;
  sha256: string;
  size: number;
  /** True if the file was already cached (nothing was read or downloaded). */
  cached: boolean;
}

export interface PullOptions {
  /** Base URL; default {@link zooMirror}. Ignored when the source has a `url`. */
  mirror?: string;
  /** Bytes done (resumed bytes included) and total (0 if unknown), after each chunk. */
  onProgress?(done: number, total: number): void;
  /** Aborting rejects with the signal's reason and keeps the `.part` for the next pull. */
  signal?: AbortSignal;
  fetchImpl?: typeof fetch;
}

/** The mirror weights are pulled from: `ACCEL_ZOO_MIRROR`, else {@link DEFAULT_ZOO_MIRROR}. */
export function zooMirror(): string {
  return process.env.ACCEL_ZOO_MIRROR?.trim() || DEFAULT_ZOO_MIRROR;
}

/**
 * Returns the pinned weights file from the cache, downloading it first if needed. An interrupted
 * download keeps its `.part` and the next pull resumes it with a Range request.
 *
 * @example
 * const w = await pullWeights({ file: 'resnet50-v1.onnx', sha256: '3f1c...' }, join(home, 'zoo'), { onProgress: progressPrinter('resnet50') });
 * // w.path: <home>/zoo/3f1c.../resnet50-v1.onnx
 */
export async function pullWeights(source: WeightsSource, cacheDir: string, opts: PullOptions = {}): Promise<PulledWeights> {
  const pin = checkSource(source);
  const hit = await cacheHit(cacheDir, pin);
  if (hit) return hit;
  const url = source.url ?? `${(opts.mirror ?? zooMirror()).replace(/\/+$/, '')}/${encodeURIComponent(pin.file)}`;
  const part = join(cacheDir, 'partial', `${pin.sha256}.part`);
  await fs.mkdir(dirname(part), { recursive: true });
  let state = await hashExisting(part);
  for (;;) {
    const resumed = state.size;
    const res = await request(url, resumed, pin, opts);
    if (resumed > 0 && res.status === 416) {
      // Nothing left to send: the part is either complete or not what we think it is.
      await res.body?.cancel();
      if (matchesPin(state, pin)) {
        opts.onProgress?.(resumed, resumed);
        return commit(part, cacheDir, pin, state.size);
      }
      state = await restart(part);
      continue;
    }
    const appending = res.status === 206 && rangeStart(res) === resumed;
    if (res.status === 206 && !appending && resumed > 0) {
      await res.body?.cancel();
      state = await restart(part);
      continue;
    }
    if (res.status !== 200 && !appending) {
      await res.body?.cancel();
      throw downloadFailed(pin, url, `the server answered HTTP ${res.status} ${res.statusText}`.trim(), resumed);
    }
    if (!appending) state = { hash: createHash('sha256'), size: 0 }; // a 200 is the whole file: start over
    await receive(res, part, state, pin, url, opts);
    return finish(part, cacheDir, pin, state, url);
  }
}

/**
 * Adds a local copy of the weights to the cache (for machines without internet access), verified
 * against the same pin as a download. A file already cached is kept as is.
 */
export async function importWeights(
  source: WeightsSource,
  localFile: string,
  cacheDir: string,
  opts: { onProgress?(done: number, total: number): void } = {},
): Promise<PulledWeights> {
  const pin = checkSource(source);
  const hit = await cacheHit(cacheDir, pin);
  if (hit) return hit;
  let input;
  try {
    input = await fs.open(localFile, 'r');
  } catch (err) {
    throw new AccelError('ACCEL_ERR_USAGE', { reason: `cannot read weights file "${localFile}": ${(err as Error).message}` });
  }
  const total = (await input.stat()).size;
  const tmp = join(cacheDir, 'partial', `${pin.sha256}.import-${process.pid}-${randomBytes(6).toString('hex')}.tmp`);
  const state = { hash: createHash('sha256'), size: 0 };
  try {
    await fs.mkdir(dirname(tmp), { recursive: true });
    const output = await fs.open(tmp, 'wx', 0o644);
    await pipeline(
      input.createReadStream({ highWaterMark: 1 << 20 }),
      async function* (chunks: AsyncIterable<Buffer>) {
        for await (const chunk of chunks) {
          state.hash.update(chunk);
          state.size += chunk.byteLength;
          yield chunk;
          opts.onProgress?.(state.size, total);
        }
      },
      output.createWriteStream(),
    );
    const result = await finish(tmp, cacheDir, pin, state, localFile);
    await fs.rm(join(cacheDir, 'partial', `${pin.sha256}.part`), { force: true }); // a stale download is moot now
    return result;
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  } finally {
    await input.close().catch(() => undefined); // already closed by the read stream when it finished
  }
}

/** The sha256 of a file's content, as 64 lowercase hex digits (streamed). */
export async function sha256File(path: string): Promise<string> {
  return (await hashExisting(path, true)).hash.digest('hex');
}

interface Pin {
  file: string;
  sha256: string;
  size?: number;
}

interface HashState {
  hash: Hash;
  size: number;
}

function checkSource(source: WeightsSource): Pin {
  const sha256 = String(source.sha256).toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(sha256)) throw usage(`'sha256' of weights "${source.file}" must be 64 hex digits, got "${String(source.sha256).slice(0, 80)}"`);
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.+-]{0,254}$/.test(source.file)) throw usage(`'file' must be a plain file name (letters, digits, "._+-"), got "${String(source.file).slice(0, 80)}"`);
  if (source.size !== undefined && !(Number.isSafeInteger(source.size) && source.size >= 0)) throw usage(`'size' of weights "${source.file}" must be a byte count, got ${source.size}`);
  return { file: source.file, sha256, size: source.size };
}

function usage(reason: string): AccelError {
  return new AccelError('ACCEL_ERR_USAGE', { reason });
}

async function cacheHit(cacheDir: string, pin: Pin): Promise<PulledWeights | null> {
  const path = join(cacheDir, pin.sha256, pin.file);
  const st = await fs.stat(path).catch(() => null);
  return st?.isFile() ? { path, sha256: pin.sha256, size: st.size, cached: true } : null;
}

/** Hashes what a file holds so far (a missing file is empty, unless `mustExist`). */
async function hashExisting(path: string, mustExist = false): Promise<HashState> {
  const state = { hash: createHash('sha256'), size: 0 };
  const handle = await fs.open(path, 'r').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT' && !mustExist) return null;
    throw err;
  });
  if (!handle) return state;
  for await (const chunk of handle.createReadStream({ highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    state.hash.update(chunk);
    state.size += chunk.byteLength;
  }
  return state;
}

async function restart(part: string): Promise<HashState> {
  await fs.rm(part, { force: true });
  return { hash: createHash('sha256'), size: 0 };
}

async function request(url: string, offset: number, pin: Pin, opts: PullOptions): Promise<Response> {
  // identity: a compressed answer would break both Range offsets and Content-Length totals.
  const headers: Record<string, string> = { 'accept-encoding': 'identity' };
  if (offset > 0) headers.range = `bytes=${offset}-`;
  try {
    return await (opts.fetchImpl ?? fetch)(url, { headers, redirect: 'follow', signal: opts.signal });
  } catch (err) {
    throw failure(err, pin, url, offset, opts.signal);
  }
}

/** Start of a 206's Content-Range (`bytes 100-199/5000` -> 100), or -1. */
function rangeStart(res: Response): number {
  const m = /^bytes (\d+)-\d+\/(?:\d+|\*)$/.exec(res.headers.get('content-range') ?? '');
  return m ? Number(m[1]) : -1;
}

/** Total size from Content-Range, else offset + Content-Length, else the pin (0: unknown). */
function totalSize(res: Response, offset: number, pin: Pin): number {
  const range = /\/(\d+)$/.exec(res.headers.get('content-range') ?? '');
  if (range) return Number(range[1]);
  const length = res.headers.get('content-length');
  return length !== null && /^\d+$/.test(length) ? offset + Number(length) : (pin.size ?? 0);
}

/** Appends the body to the part while hashing it (the part is truncated first unless it is being resumed). */
async function receive(res: Response, part: string, state: HashState, pin: Pin, url: string, opts: PullOptions): Promise<void> {
  const total = totalSize(res, state.size, pin);
  const handle = await fs.open(part, state.size > 0 ? 'a' : 'w', 0o644);
  let tooLarge = false;
  try {
    for await (const chunk of (res.body ?? []) as AsyncIterable<Uint8Array>) {
      state.hash.update(chunk);
      await handle.write(chunk);
      state.size += chunk.byteLength;
      if (pin.size !== undefined && state.size > pin.size) {
        tooLarge = true;
        break;
      }
      opts.onProgress?.(state.size, total);
    }
  } catch (err) {
    throw failure(err, pin, url, state.size, opts.signal);
  } finally {
    await handle.close();
  }
  if (tooLarge) {
    await res.body?.cancel().catch(() => undefined);
    await fs.rm(part, { force: true });
    throw mismatch(pin, url, `expected ${pin.size} bytes, but ${url} sent more (download stopped at ${state.size})`);
  }
}

function matchesPin(state: HashState, pin: Pin): boolean {
  return (pin.size === undefined || state.size === pin.size) && state.hash.copy().digest('hex') === pin.sha256;
}

/** Verifies a complete temp file against the pin, then moves it into the cache; deletes it on a mismatch. */
async function finish(tmp: string, cacheDir: string, pin: Pin, state: HashState, from: string): Promise<PulledWeights> {
  const actual = state.hash.digest('hex');
  if (actual !== pin.sha256 || (pin.size !== undefined && state.size !== pin.size)) {
    await fs.rm(tmp, { force: true });
    const expectedSize = pin.size === undefined ? '' : ` (${pin.size} bytes)`;
    throw mismatch(pin, from, `expected sha256 ${pin.sha256}${expectedSize}, got sha256 ${actual} (${state.size} bytes)`, actual);
  }
  return commit(tmp, cacheDir, pin, state.size);
}

async function commit(tmp: string, cacheDir: string, pin: Pin, size: number): Promise<PulledWeights> {
  await fsync(tmp, 'r+');
  const dir = join(cacheDir, pin.sha256);
  await fs.mkdir(dir, { recursive: true });
  await fsync(cacheDir, 'r', true);
  const path = join(dir, pin.file);
  await fs.rename(tmp, path); // atomic: the cache name holds nothing or the whole verified file
  await fsync(dir, 'r', true);
  return { path, sha256: pin.sha256, size, cached: false };
}

async function fsync(path: string, flags: string, isDir = false): Promise<void> {
  if (isDir && process.platform === 'win32') return; // Windows cannot open directories for fsync
  const handle = await fs.open(path, flags);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function mismatch(pin: Pin, source: string, detail: string, actual?: string): AccelError {
  return new AccelError('ACCEL_ERR_CHECKSUM_MISMATCH', { file: pin.file, source, detail, expected: pin.sha256, actual });
}

function downloadFailed(pin: Pin, url: string, reason: string, kept: number, cause?: unknown): AccelError {
  const note = kept > 0 ? ` The ${kept} bytes received so far are kept; the next pull resumes from there.` : '';
  return new AccelError('ACCEL_ERR_DOWNLOAD_FAILED', { file: pin.file, url, reason, kept: note }, { cause });
}

/** A thrown network or file error as ACCEL_ERR_DOWNLOAD_FAILED; an abort rethrows the signal's reason. */
function failure(err: unknown, pin: Pin, url: string, kept: number, signal?: AbortSignal): unknown {
  if (signal?.aborted) return signal.reason;
  if (err instanceof AccelError) return err;
  const e = err as Error & { cause?: { code?: string; message?: string } };
  const cause = e.cause?.message || e.cause?.code;
  return downloadFailed(pin, url, cause ? `${e.message} (${cause})` : String(e.message ?? err), kept, err);
}
