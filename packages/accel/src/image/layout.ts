/**
 * OCI image layout folders (image-spec `image-layout.md`): `oci-layout`, `index.json` and
 * content-addressed `blobs/sha256/<hex>`.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { AccelError } from '../errors';

export const MEDIA_TYPES = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
} as const;

export const REF_NAME = 'org.opencontainers.image.ref.name';

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

export interface ImageManifest {
  schemaVersion: 2;
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
}

/** An OCI image layout folder. */
export class OciLayout {
  constructor(readonly dir: string) {}

  /** Creates the folder, `oci-layout` and `blobs/sha256` (idempotent). */
  async init(): Promise<void> {
    await fs.mkdir(join(this.dir, 'blobs', 'sha256'), { recursive: true });
    await fs.writeFile(join(this.dir, 'oci-layout'), `${JSON.stringify({ imageLayoutVersion: '1.0.0' })}\n`);
  }

  blobPath(digest: string): string {
    const m = /^sha256:([0-9a-f]{64})$/.exec(digest);
    if (!m) throw new AccelError('ACCEL_ERR_INTERNAL', { reason: `"${digest}" is not a sha256 digest` });
    return join(this.dir, 'blobs', 'sha256', m[1]!);
  }

  /** A temporary path inside the layout, for a blob being written (same file system: rename is atomic). */
  tempPath(label: string): string {
    return join(this.dir, 'blobs', 'sha256', `.tmp-${label}-${process.pid}-${Date.now()}`);
  }

  /** Moves a finished temporary file to its content address. */
  async adopt(tmp: string, digest: string): Promise<void> {
    await fs.rename(tmp, this.blobPath(digest));
  }

  /** Stores `value` as canonical JSON (insertion-ordered keys, no whitespace) and returns its descriptor. */
  async putJson(value: unknown, mediaType: string): Promise<Descriptor & { bytes: Buffer }> {
    const bytes = Buffer.from(JSON.stringify(value));
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    await fs.writeFile(this.blobPath(digest), bytes);
    return { mediaType, digest, size: bytes.byteLength, bytes };
  }

  async readBlob(digest: string): Promise<Buffer> {
    return fs.readFile(this.blobPath(digest));
  }

  async readIndex(): Promise<ImageIndex> {
    const text = await fs.readFile(join(this.dir, 'index.json'), 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') throw new AccelError('ACCEL_ERR_USAGE', { reason: `${this.dir} is not an OCI image layout (no index.json)` });
      throw err;
    });
    return JSON.parse(text) as ImageIndex;
  }

  /** Points `ref` at `manifest` in index.json, keeping the layout's other references. */
  async tag(manifest: Descriptor, ref: string): Promise<void> {
    const existing = await this.readIndex().catch(() => undefined);
    const others = (existing?.manifests ?? []).filter((d) => d.annotations?.[REF_NAME] !== ref);
    const index: ImageIndex = {
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.index,
      manifests: [...others, { mediaType: manifest.mediaType, digest: manifest.digest, size: manifest.size, annotations: { [REF_NAME]: ref } }],
    };
    await fs.writeFile(join(this.dir, 'index.json'), JSON.stringify(index));
  }

  /**
   * The manifest `ref` names; without `ref`, the only manifest of the layout.
   */
  async resolve(ref?: string): Promise<{ descriptor: Descriptor; manifest: ImageManifest; bytes: Buffer }> {
    const index = await this.readIndex();
    const refs = index.manifests.map((d) => d.annotations?.[REF_NAME] ?? d.digest);
    const descriptor = ref === undefined ? (index.manifests.length === 1 ? index.manifests[0] : undefined) : index.manifests.find((d) => d.annotations?.[REF_NAME] === ref);
    if (!descriptor) {
      const what = ref === undefined ? 'several images; name one' : `no image "${ref}"`;
      throw new AccelError('ACCEL_ERR_USAGE', { reason: `${this.dir} holds ${what} (references: ${refs.join(', ') || 'none'})` });
    }
    const bytes = await this.readBlob(descriptor.digest);
    return { descriptor, manifest: JSON.parse(bytes.toString('utf8')) as ImageManifest, bytes };
  }
}
