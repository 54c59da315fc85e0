/**
 * Pushes an image from an OCI image layout to a registry over the OCI distribution API: each
 * blob the registry lacks is uploaded (POST, then one monolithic PUT streamed from the file),
 * then the manifest is PUT under the tag and the registry's digest checked against ours.
 */
import { createReadStream, promises as fs } from 'node:fs';
import { Readable, Transform } from 'node:stream';
import { AccelError } from '../errors';
import { OciLayout, type Descriptor } from './layout';
import { formatReference, parseReference, type ImageReference } from './reference';

export interface PushOptions {
  /** Plain HTTP instead of HTTPS (a registry on this machine or a private network). */
  insecure?: boolean;
  /** Reference of the image inside the layout (default: its only image, else the tag). */
  layoutRef?: string;
  /** Bytes sent (or found already present) so far, and the total of every blob and the manifest. */
  onProgress?: (done: number, total: number) => void;
}

export interface PushResult {
  /** Manifest digest, as the registry confirmed it. */
  digest: string;
  /** Normalized destination (`host:port/repo:tag`). */
  reference: string;
  /** Blobs uploaded, and blobs the registry already had. */
  uploaded: number;
  skipped: number;
  /** Bytes uploaded (blobs and manifest). */
  bytes: number;
}

/**
 * Pushes the image of `layoutDir` to `ref` (`HOST[:PORT]/REPO[:TAG]`).
 *
 * @example
 * const { digest } = await pushImage('/ws/images/resnet/1', '127.0.0.1:5000/accel/resnet:1', { insecure: true });
 */
export async function pushImage(layoutDir: string, ref: string, opts: PushOptions = {}): Promise<PushResult> {
  const dest = parseReference(ref);
  const layout = new OciLayout(layoutDir);
  const index = await layout.readIndex();
  const layoutRef = opts.layoutRef ?? (index.manifests.length === 1 ? undefined : dest.tag);
  const { descriptor, manifest, bytes: manifestBytes } = await layout.resolve(layoutRef);
  const registry = new Registry(dest, opts.insecure ?? false);
  await registry.check();

  const blobs: Descriptor[] = [...manifest.layers, manifest.config];
  const total = blobs.reduce((n, b) => n + b.size, 0) + manifestBytes.byteLength;
  let done = 0;
  const result: PushResult = { digest: descriptor.digest, reference: formatReference(dest), uploaded: 0, skipped: 0, bytes: 0 };
  for (const blob of blobs) {
    if (await registry.hasBlob(blob.digest)) {
      result.skipped++;
      done += blob.size;
      opts.onProgress?.(done, total);
      continue;
    }
    const path = layout.blobPath(blob.digest);
    const st = await fs.stat(path).catch(() => {
      throw new AccelError('ACCEL_ERR_INTERNAL', { reason: `blob ${blob.digest} is missing from ${layoutDir}; build the image again` });
    });
    const base = done;
    await registry.uploadBlob(blob.digest, path, st.size, (n) => opts.onProgress?.(base + n, total));
    done += blob.size;
    result.uploaded++;
    result.bytes += st.size;
  }
  const confirmed = await registry.putManifest(dest.tag, manifest.mediaType, manifestBytes);
  if (confirmed && confirmed !== descriptor.digest) {
    throw registryError(dest, `the registry stored the manifest as ${confirmed}, not ${descriptor.digest}`);
  }
  result.bytes += manifestBytes.byteLength;
  opts.onProgress?.(total, total);
  return result;
}

/** The few distribution-API calls a push needs, with errors that name the registry and the step. */
class Registry {
  private readonly base: string;
  constructor(
    private readonly ref: ImageReference,
    insecure: boolean,
  ) {
    this.base = `${insecure ? 'http' : 'https'}://${ref.registry}`;
  }

  private async call(step: string, url: string, init: RequestInit & { duplex?: 'half' }): Promise<Response> {
    try {
      return await fetch(url, { redirect: 'follow', ...init });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      const why = cause?.code ?? cause?.message ?? (err as Error).message;
      const hint = this.base.startsWith('https') && /SSL|TLS|EPROTO|CERT|wrong version/i.test(`${cause?.code} ${cause?.message}`) ? '; for a plain-HTTP registry use --insecure' : '';
      throw registryError(this.ref, `${step}: cannot reach ${this.base} (${why})${hint}`);
    }
  }

  async check(): Promise<void> {
    const res = await this.call('checking the API', `${this.base}/v2/`, { method: 'GET' });
    await res.arrayBuffer();
    if (res.status === 401) throw registryError(this.ref, `${this.base} requires authentication, which accel image push does not support yet`);
    if (res.status !== 200) throw registryError(this.ref, `${this.base}/v2/ answered HTTP ${res.status}: not an OCI distribution registry`);
  }

  async hasBlob(digest: string): Promise<boolean> {
    const res = await this.call(`checking blob ${short(digest)}`, `${this.base}/v2/${this.ref.repository}/blobs/${digest}`, { method: 'HEAD' });
    await res.arrayBuffer();
    if (res.status === 200) return true;
    if (res.status === 404) return false;
    throw registryError(this.ref, `HEAD blob ${short(digest)} answered HTTP ${res.status}`);
  }

  async uploadBlob(digest: string, path: string, size: number, onBytes: (n: number) => void): Promise<void> {
    const started = await this.call(`starting upload of ${short(digest)}`, `${this.base}/v2/${this.ref.repository}/blobs/uploads/`, { method: 'POST', headers: { 'content-length': '0' } });
    if (started.status !== 202) throw registryError(this.ref, `starting the upload of ${short(digest)} answered ${await describe(started)}`);
    await started.arrayBuffer();
    const location = started.headers.get('location');
    if (!location) throw registryError(this.ref, 'the registry started an upload without a Location header');
    const url = new URL(location, `${this.base}/v2/`);
    url.searchParams.set('digest', digest);
    let sent = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        sent += chunk.byteLength;
        onBytes(sent);
        cb(null, chunk);
      },
    });
    const body = Readable.toWeb(createReadStream(path).pipe(counter)) as unknown as ReadableStream<Uint8Array>;
    const res = await this.call(`uploading ${short(digest)}`, url.toString(), {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
      body,
      duplex: 'half',
    });
    if (res.status !== 201) throw registryError(this.ref, `uploading blob ${short(digest)} answered ${await describe(res)}`);
    await res.arrayBuffer();
  }

  /** PUTs the manifest; returns the registry's Docker-Content-Digest (empty when it sends none). */
  async putManifest(tag: string, mediaType: string, bytes: Buffer): Promise<string> {
    const res = await this.call('putting the manifest', `${this.base}/v2/${this.ref.repository}/manifests/${tag}`, {
      method: 'PUT',
      headers: { 'content-type': mediaType },
      body: new Blob([new Uint8Array(bytes)]),
    });
    if (res.status !== 201) throw registryError(this.ref, `putting the manifest answered ${await describe(res)}`);
    await res.arrayBuffer();
    return res.headers.get('docker-content-digest') ?? '';
  }
}

/** `HTTP 400 (MANIFEST_INVALID: manifest invalid)` from a registry error response. */
async function describe(res: Response): Promise<string> {
  const text = await res.text().catch(() => '');
  try {
    const body = JSON.parse(text) as { errors?: { code?: string; message?: string; detail?: unknown }[] };
    const errors = (body.errors ?? []).map((e) => `${e.code ?? '?'}: ${e.message ?? ''}${e.detail ? ` ${JSON.stringify(e.detail)}` : ''}`);
    if (errors.length) return `HTTP ${res.status} (${errors.join('; ')})`;
  } catch {
    // not JSON: fall through to the raw text
  }
  return `HTTP ${res.status}${text ? ` (${text.slice(0, 200).trim()})` : ''}`;
}

function short(digest: string): string {
  return digest.slice(0, 19);
}

function registryError(ref: ImageReference, reason: string): AccelError {
  return new AccelError('ACCEL_ERR_INTERNAL', { reason: `push to ${formatReference(ref)} failed: ${reason}` });
}
