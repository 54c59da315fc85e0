import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { modelDir, tinyClassifier } from '../test-util/models';
import { buildImage, type BuildOptions } from './build';
import { MEDIA_TYPES, REF_NAME, type ImageIndex, type ImageManifest } from './layout';

const tmp = modelDir();
afterAll(() => tmp.cleanup());
const created = new Date('2024-03-01T12:00:00Z');
const modelA = tmp.write('a.onnx', tinyClassifier());
const modelB = tmp.write('b.onnx', tinyClassifier({ size: 16 }));
const sha = (b: Buffer | Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const json = <T>(path: string) => JSON.parse(readFileSync(path, 'utf8')) as T;

function opts(out: string, models: BuildOptions['models']): BuildOptions {
  return { name: 'tiny', version: 3, models, outDir: join(tmp.dir, out), created, modelsOnly: true };
}

describe('buildImage (models layer only)', () => {
  it('is reproducible: the same inputs give the same manifest, in a valid OCI layout', async () => {
    const a = await buildImage(opts('out1', [{ name: 'tiny', version: 1, path: modelA }]));
    const b = await buildImage(opts('out2', [{ name: 'tiny', version: 1, path: modelA }]));
    expect(b.digest).toBe(a.digest);
    const dir = join(tmp.dir, 'out1');
    expect(json(join(dir, 'oci-layout'))).toEqual({ imageLayoutVersion: '1.0.0' });
    const index = json<ImageIndex>(join(dir, 'index.json'));
    expect(index.manifests).toEqual([{ mediaType: MEDIA_TYPES.manifest, digest: a.digest, size: expect.any(Number), annotations: { [REF_NAME]: '3' } }]);
    const manifestBytes = readFileSync(join(dir, 'blobs/sha256', a.digest.slice(7)));
    expect(sha(manifestBytes)).toBe(a.digest);
    expect(manifestBytes.equals(readFileSync(join(tmp.dir, 'out2/blobs/sha256', a.digest.slice(7))))).toBe(true);
    const manifest = JSON.parse(manifestBytes.toString()) as ImageManifest;
    expect(manifest.mediaType).toBe(MEDIA_TYPES.manifest);
    expect(manifest.config.mediaType).toBe(MEDIA_TYPES.config);
    expect(manifest.layers.map((l) => l.mediaType)).toEqual([MEDIA_TYPES.layerGzip]);
    for (const d of [manifest.config, ...manifest.layers]) {
      const blob = readFileSync(join(dir, 'blobs/sha256', d.digest.slice(7)));
      expect([sha(blob), blob.byteLength]).toEqual([d.digest, d.size]);
    }
    expect(a.size).toBe(manifest.config.size + manifest.layers[0]!.size);
  });

  it('writes the config the server needs: entrypoint, one --model per model, ports, labels, history', async () => {
    const folder = join(tmp.dir, 'folder-model');
    mkdirSync(folder);
    tmp.write('folder-model/model.onnx', tinyClassifier());
    const r = await buildImage({ ...opts('out3', [{ name: 'tiny', version: 1, path: modelA }, { name: 'other', version: 7, path: folder, digest: 'sha256:' + 'ab'.repeat(32) }]), labels: { team: 'vision' } });
    expect(r.config).toMatchObject({
      architecture: 'amd64',
      os: 'linux',
      created: '2024-03-01T12:00:00Z',
      config: {
        Entrypoint: ['/usr/local/bin/node', '/app/packages/accel/bin/accel.js', 'serve'],
        Cmd: ['--model', 'tiny=/models/tiny/1/a.onnx:1', '--model', 'other=/models/other/7:7', '--grpc-port', '8500', '--rest-port', '8501'],
        ExposedPorts: { '8500/tcp': {}, '8501/tcp': {} },
        Env: ['PATH=/usr/local/bin:/usr/bin:/bin', 'NODE_ENV=production'],
        WorkingDir: '/app',
        Labels: {
          'ai.accel.models': `tiny:1@${sha(readFileSync(modelA))},other:7@sha256:${'ab'.repeat(32)}`,
          'org.opencontainers.image.created': '2024-03-01T12:00:00Z',
          team: 'vision',
        },
      },
      rootfs: { type: 'layers', diff_ids: [r.layers[0]!.diffId] },
    });
    expect(r.config.history).toEqual([{ created: '2024-03-01T12:00:00Z', created_by: 'accel image: models (tiny:1, other:7)' }]);
  });

  it('a changed model changes the models layer and the manifest', async () => {
    const a = await buildImage(opts('out4', [{ name: 'tiny', version: 1, path: modelA }]));
    const b = await buildImage(opts('out5', [{ name: 'tiny', version: 1, path: modelB }]));
    expect(b.layers[0]!.digest).not.toBe(a.layers[0]!.digest);
    expect(b.digest).not.toBe(a.digest);
  });

  it('reuses a cached layer blob for unchanged inputs and still gives the same digest', async () => {
    const cacheDir = join(tmp.dir, 'cache');
    const first = await buildImage({ ...opts('out6', [{ name: 'tiny', version: 1, path: modelA }]), cacheDir });
    const seen: string[] = [];
    const second = await buildImage({ ...opts('out7', [{ name: 'tiny', version: 1, path: modelA }]), cacheDir, onProgress: (layer, bytes, total) => seen.push(`${layer} ${bytes}/${total}`) });
    expect(first.layers.map((l) => l.cached)).toEqual([false]);
    expect(second.layers.map((l) => l.cached)).toEqual([true]);
    expect(second.digest).toBe(first.digest);
    expect(seen).toEqual([`models ${first.layers[0]!.tarSize}/${first.layers[0]!.tarSize}`]);
    expect(readFileSync(join(tmp.dir, 'out7/blobs/sha256', second.layers[0]!.digest.slice(7))).byteLength).toBe(second.layers[0]!.size);
  });

  it('refuses what cannot become an image, with usage errors', async () => {
    await expect(buildImage({ ...opts('bad', [{ name: 'tiny', version: 1, path: modelA }]), name: 'Tiny' })).rejects.toMatchObject({ code: 'ACCEL_ERR_USAGE', message: expect.stringMatching(/image name "Tiny" must be lowercase/) });
    await expect(buildImage(opts('bad', []))).rejects.toMatchObject({ code: 'ACCEL_ERR_USAGE', message: expect.stringMatching(/at least one model/) });
    await expect(buildImage(opts('bad', [{ name: 'tiny', version: 1, path: join(tmp.dir, 'nope.onnx') }]))).rejects.toMatchObject({ code: 'ACCEL_ERR_USAGE', message: expect.stringMatching(/nope.onnx" does not exist/) });
    await expect(buildImage(opts('bad', [{ name: 'a/b', version: 1, path: modelA }]))).rejects.toMatchObject({ code: 'ACCEL_ERR_USAGE' });
  });
});
