import { timingSafeEqual } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { AccelError } from '../errors';
import { HASHED_KEY, keyDigest } from './key-hash';
import { grpcError } from './tfserving-grpc';
import { sendError } from './tfserving-rest';

/** Always open, keys or not: liveness and readiness (Kubernetes probes send no key). */
export const HEALTH_REST_ROUTES: ReadonlySet<string> = new Set(['/healthz', '/readyz', '/v2/health/live', '/v2/health/ready']);
/**
 * Left open when keys are set, unless `--metrics-auth`: the health routes and /metrics
 * (Prometheus scrapes without a key by default). They tell whether the server is up and how
 * busy it is, never a prediction.
 */
export const OPEN_REST_ROUTES: ReadonlySet<string> = new Set([...HEALTH_REST_ROUTES, '/metrics']);
export const OPEN_GRPC_METHODS: ReadonlySet<string> = new Set(['/inference.GRPCInferenceService/ServerLive', '/inference.GRPCInferenceService/ServerReady']);

/** Keys travel in a header: printable ASCII, no spaces. */
const KEY_CHARS = /^[\x21-\x7e]+$/;

/** Why a key (or `sha256:` hash) value is unusable, or undefined when it is fine. */
function keyProblem(value: string): string | undefined {
  if (!KEY_CHARS.test(value)) return 'has spaces or characters outside printable ASCII';
  if (/^sha256:/i.test(value) && !HASHED_KEY.test(value)) return 'starts with "sha256:" but is not "sha256:" and 64 hex digits';
  return undefined;
}

/** The SHA-256 a presented key must match: decoded from a `sha256:` value, else computed. */
const storedDigest = (value: string) => {
  const hex = HASHED_KEY.exec(value)?.[1];
  return hex ? Buffer.from(hex, 'hex') : keyDigest(value);
};

/** A key named in a file or on the command line, kept only as its SHA-256. */
interface StoredKey {
  name: string;
  digest: Buffer;
}

export interface ApiKeysOptions {
  /** Keys that never change (`--api-key`). */
  keys?: readonly string[];
  /** A JSON file `{"name": "key" | "sha256:<hex>", ...}` re-read when it changes (`--api-keys-file`). */
  file?: string;
  /** How often the file is stat'ed, besides fs.watch on its folder. Default 2000 ms. */
  pollMs?: number;
  /** Watch the file's folder with fs.watch. Default true. */
  watch?: boolean;
  logger?: Logger;
}

/** `{"primary": "k1", "secondary": "sha256:<hex>"}` -> named keys or hashes; empty values are unused slots. */
export function parseKeyFile(text: string, path: string): Map<string, string> {
  const bad = (reason: string) => new AccelError('ACCEL_ERR_BAD_KEY_FILE', { path, reason });
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw bad(`it is not valid JSON (${(err as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw bad('it is not a JSON object');
  const keys = new Map<string, string>();
  for (const [name, value] of Object.entries(json)) {
    if (typeof value !== 'string') throw bad(`"${name}" is not a string`);
    if (value === '') continue;
    const problem = keyProblem(value);
    if (problem) throw bad(`key "${name}" ${problem}`);
    keys.set(name, value);
  }
  if (keys.size === 0) throw bad('it holds no key');
  return keys;
}

/** The key sent in `authorization`: `Bearer KEY` or the bare key. */
export function presentedKey(header: string | undefined): string | undefined {
  const value = header?.trim();
  if (!value) return undefined;
  const m = /^bearer(?:\s+(.*))?$/i.exec(value);
  return m ? m[1]?.trim() || undefined : value;
}

/**
 * The API keys a server accepts: fixed keys plus those of a key file, which is re-read when
 * it changes (fs.watch on its folder, a periodic stat, or {@link ApiKeys.reload} on SIGHUP).
 * A file that becomes unreadable or invalid keeps the last good keys and logs an error.
 */
export class ApiKeys {
  readonly file?: string;
  #fixed: StoredKey[];
  #fromFile: StoredKey[] = [];
  #logger?: Logger;
  #lastText?: string;
  #lastStat?: string;
  #watcher?: FSWatcher;
  #timer?: NodeJS.Timeout;
  #debounce?: NodeJS.Timeout;
  #reloading: Promise<boolean> = Promise.resolve(true);

  private constructor(opts: ApiKeysOptions) {
    this.#logger = opts.logger;
    this.file = opts.file === undefined ? undefined : resolve(opts.file);
    this.#fixed = (opts.keys ?? []).map((key, i) => {
      const problem = keyProblem(key);
      if (problem) throw new AccelError('ACCEL_ERR_USAGE', { reason: `--api-key #${i + 1} ${problem}` });
      return { name: `--api-key #${i + 1}`, digest: storedDigest(key) };
    });
  }

  /** Loads the keys (a bad key file fails here, before anything is served) and starts watching the file. */
  static async open(opts: ApiKeysOptions): Promise<ApiKeys> {
    const keys = new ApiKeys(opts);
    if (keys.file) {
      keys.#load(await readKeyFile(keys.file), keys.file);
      keys.#lastStat = await statSignature(keys.file);
      keys.#watch(opts.pollMs ?? 2000, opts.watch ?? true);
    }
    if (keys.count === 0) throw new AccelError('ACCEL_ERR_USAGE', { reason: 'no API key given' });
    return keys;
  }

  get count(): number {
    return this.#fixed.length + this.#fromFile.length;
  }

  /** Names of the accepted keys (never the keys). */
  get names(): string[] {
    return [...this.#fixed, ...this.#fromFile].map((k) => k.name);
  }

  /**
   * Why an `authorization` value is refused, or undefined when it carries an accepted key.
   * Every stored key is compared, in constant time, against the hash of the one presented
   * (SHA-256 digests: always 32 bytes, so timingSafeEqual never sees unequal lengths).
   */
  refusal(header: string | undefined): string | undefined {
    const key = presentedKey(header);
    if (key === undefined) return 'no API key was sent';
    const h = keyDigest(key);
    let ok = false;
    for (const k of [...this.#fixed, ...this.#fromFile]) ok = timingSafeEqual(k.digest, h) || ok;
    return ok ? undefined : 'the API key is not valid';
  }

  /** Re-reads the key file now (SIGHUP). Resolves false when it was bad and the old keys stay. */
  reload(reason = 'change'): Promise<boolean> {
    this.#reloading = this.#reloading.then(() => this.#reload(reason));
    return this.#reloading;
  }

  close(): void {
    this.#watcher?.close();
    clearInterval(this.#timer);
    clearTimeout(this.#debounce);
  }

  async #reload(reason: string): Promise<boolean> {
    const file = this.file;
    if (!file) return true;
    this.#lastStat = await statSignature(file);
    try {
      const text = await readKeyFile(file);
      if (text === this.#lastText && reason === 'change') return true;
      this.#load(text, file);
      this.#logger?.info({ file, keys: this.names, reason }, `reloaded API keys from ${file} (${reason}): ${this.names.join(', ')}`);
      return true;
    } catch (err) {
      const e = err instanceof AccelError ? err : new AccelError('ACCEL_ERR_BAD_KEY_FILE', { path: file, reason: (err as Error).message });
      this.#lastText = undefined;
      this.#logger?.error({ file, code: e.code, keys: this.names, reason }, `${e.message} Keeping the ${this.count} keys loaded before: ${this.names.join(', ')}.`);
      return false;
    }
  }

  #load(text: string, file: string): void {
    const parsed = parseKeyFile(text, file);
    this.#fromFile = [...parsed].map(([name, key]) => ({ name, digest: storedDigest(key) }));
    this.#lastText = text;
  }

  #watch(pollMs: number, useWatch: boolean): void {
    const file = this.file!;
    if (useWatch) {
      // The folder, not the file: editors and Kubernetes Secret volumes replace the file
      // (rename, symlink swap), which a watch on the old inode would miss.
      try {
        this.#watcher = watch(dirname(file), { persistent: false }, (_event, name) => {
          // Several events arrive per write; read once they settle, not a half-written file.
          if (name !== null && name !== basename(file) && !name.startsWith('..')) return;
          clearTimeout(this.#debounce);
          this.#debounce = setTimeout(() => void this.reload(), 50);
        });
        this.#watcher.on('error', (err) => this.#logger?.warn({ file, err }, `stopped watching ${dirname(file)}; polling ${file} every ${pollMs} ms`));
      } catch (err) {
        this.#logger?.warn({ file, err }, `cannot watch ${dirname(file)}; polling ${file} every ${pollMs} ms`);
      }
    }
    this.#timer = setInterval(() => {
      void statSignature(file).then((s) => {
        if (s !== this.#lastStat) void this.reload();
      });
    }, pollMs);
    this.#timer.unref();
  }
}

async function readKeyFile(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new AccelError('ACCEL_ERR_BAD_KEY_FILE', { path: file, reason: `it cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})` });
  }
}

/** What a change of the file changes: inode, size, times (or the error reading them). */
async function statSignature(file: string): Promise<string> {
  try {
    const s = await stat(file, { bigint: true });
    return `${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
  } catch (err) {
    return `error:${(err as NodeJS.ErrnoException).code}`;
  }
}

const refused = (problem: string) => new AccelError('ACCEL_ERR_UNAUTHENTICATED', { problem });

/** The key check of every gRPC call but {@link OPEN_GRPC_METHODS}, before the request message is read. */
export function grpcAuthInterceptor(keys: ApiKeys, onRefused: (problem: string) => void): grpc.ServerInterceptor {
  return (method, call) => {
    if (OPEN_GRPC_METHODS.has(method.path)) return new grpc.ServerInterceptingCall(call);
    const listener = new grpc.ServerListenerBuilder()
      .withOnReceiveMetadata((metadata, next) => {
        const value = metadata.get('authorization')[0];
        const problem = keys.refusal(typeof value === 'string' ? value : undefined);
        if (problem === undefined) return next(metadata);
        onRefused(problem);
        const { code = grpc.status.UNAUTHENTICATED, details = '', metadata: trailers } = grpcError(refused(problem));
        call.sendStatus({ code, details, metadata: trailers });
      })
      .build();
    return new grpc.ServerInterceptingCall(call, new grpc.ResponderBuilder().withStart((next) => next(listener)).build());
  };
}

/** The key check of every REST request but the `open` routes ({@link OPEN_REST_ROUTES} by default), before the body is read. */
export function addRestAuth(app: FastifyInstance, keys: ApiKeys, onRefused: (problem: string) => void, open: ReadonlySet<string> = OPEN_REST_ROUTES): void {
  app.addHook('onRequest', async (req, reply) => {
    if (req.routeOptions.url !== undefined && open.has(req.routeOptions.url)) return;
    const problem = keys.refusal(req.headers.authorization);
    if (problem === undefined) return;
    onRefused(problem);
    reply.header('www-authenticate', 'Bearer realm="accel"');
    return sendError(reply, refused(problem));
  });
}
