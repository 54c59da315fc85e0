/**
 * The full image (runtime + app + models): reproducible, runs the server in a chroot of the
 * unpacked rootfs, and round-trips through a real registry. Full builds are slow (gzip of
 * ~250 MB), so this file builds twice from scratch and once more with cached runtime/app layers.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { modelDir, tinyClassifier } from '../test-util/models';
import { buildImage, type BuildResult } from './build';
import type { ImageIndex } from './layout';
import { pushImage } from './push';
import { freePort, missingTools, runTool, startRegistry, toolPath, type TestRegistry } from './test-registry';

const tmp = modelDir();
const created = new Date('2024-06-01T00:00:00Z');
const model = tmp.write('tiny.onnx', tinyClassifier());
const cacheDir = join(tmp.dir, 'cache');
let image: BuildResult;

beforeAll(async () => {
  image = await buildImage({ name: 'tiny', version: 1, models: [{ name: 'tiny', version: 1, path: model }], outDir: join(tmp.dir, 'a'), created, cacheDir });
}, 300_000);
afterAll(() => tmp.cleanup());

describe('full image', () => {
  it('holds node, its libraries and the app, and a second build from scratch gives the same digest', async () => {
    expect(image.layers.map((l) => l.name)).toEqual(['runtime', 'app', 'models']);
    expect(image.contents.libraries).toEqual(expect.arrayContaining(['/lib/x86_64-linux-gnu/libc.so.6', '/lib64/ld-linux-x86-64.so.2', '/lib/x86_64-linux-gnu/libstdc++.so.6']));
    expect(image.contents.packages).toEqual(expect.arrayContaining(['node_modules/onnxruntime-node', 'node_modules/sharp', 'node_modules/fastify', 'node_modules/tsx']));
    expect(image.contents.packages.filter((p) => /@tensorflow|\/pg$|@types/.test(p))).toEqual([]);
    console.log(`full image: ${(image.size / 1e6).toFixed(1)} MB compressed; layers ${image.layers.map((l) => `${l.name} ${(l.size / 1e6).toFixed(1)}/${(l.tarSize / 1e6).toFixed(1)} MB`).join(', ')}`);

    const again = await buildImage({ name: 'tiny', version: 1, models: [{ name: 'tiny', version: 1, path: model }], outDir: join(tmp.dir, 'b'), created });
    expect(again.layers.map((l) => l.cached)).toEqual([false, false, false]);
    expect(again.digest).toBe(image.digest);
  }, 300_000);

  it('a changed model changes only the models layer and the manifest', async () => {
    const other = tmp.write('other.onnx', tinyClassifier({ size: 16 }));
    const changed = await buildImage({ name: 'tiny', version: 1, models: [{ name: 'tiny', version: 1, path: other }], outDir: join(tmp.dir, 'c'), created, cacheDir });
    expect(changed.layers.map((l) => l.cached)).toEqual([true, true, false]);
    expect(changed.layers.slice(0, 2).map((l) => l.digest)).toEqual(image.layers.slice(0, 2).map((l) => l.digest));
    expect(changed.layers[2]!.digest).not.toBe(image.layers[2]!.digest);
    expect(changed.digest).not.toBe(image.digest);
  }, 300_000);

  const noChroot = missingTools(['umoci', 'chroot'], true);
  it.skipIf(noChroot)(`serves the model from a chroot of the unpacked image${noChroot ? ` (skipped: ${noChroot})` : ''}`, async () => {
    const bundle = join(tmp.dir, 'bundle');
    runTool('umoci', ['unpack', '--image', `${join(tmp.dir, 'a')}:1`, bundle]);
    const [grpc, rest] = [await freePort(), await freePort()];
    const cmd = image.config.config.Cmd.map((a) => (a === '8500' ? String(grpc) : a === '8501' ? String(rest) : a));
    const env = Object.fromEntries(image.config.config.Env.map((e) => e.split('=', 2) as [string, string]));
    let child: ChildProcess | undefined;
    let log = '';
    try {
      child = spawn(toolPath('chroot'), [join(bundle, 'rootfs'), ...image.config.config.Entrypoint, ...cmd], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
      child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
      let ready: unknown;
      for (let i = 0; i < 300 && child.exitCode === null; i++) {
        ready = await fetch(`http://127.0.0.1:${rest}/readyz`).then((r) => (r.ok ? r.json() : undefined), () => undefined);
        if (ready) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(ready, `server log:\n${log}`).toEqual({ ready: true, models: [{ name: 'tiny', version: 1, state: 'AVAILABLE' }] });
    } finally {
      if (child && child.exitCode === null) {
        const exited = new Promise((r) => child!.once('exit', r));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child!.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(bundle, { recursive: true, force: true });
    }
  }, 120_000);

  const noRegistry = missingTools(['docker-registry', 'skopeo']);
  describe.skipIf(noRegistry)(`pushed to a registry${noRegistry ? ` (skipped: ${noRegistry})` : ''}`, () => {
    let registry: TestRegistry;
    beforeAll(async () => {
      registry = await startRegistry();
    });
    afterAll(async () => registry?.stop());

    it('keeps its digest through push, skopeo inspect and skopeo copy back, and a second push uploads nothing', async () => {
      const ref = `${registry.host}/accel/tiny:1`;
      const progress: number[] = [];
      const pushed = await pushImage(join(tmp.dir, 'a'), ref, { insecure: true, onProgress: (done, total) => progress.push(done / total) });
      expect(pushed).toMatchObject({ digest: image.digest, reference: ref, uploaded: 4, skipped: 0 });
      expect(progress.at(-1)).toBe(1);

      const inspected = JSON.parse(runTool('skopeo', ['inspect', '--tls-verify=false', `docker://${ref}`])) as { Digest: string; Labels: Record<string, string>; Architecture: string; Os: string };
      expect(inspected).toMatchObject({ Digest: image.digest, Architecture: 'amd64', Os: 'linux', Labels: { 'ai.accel.models': image.config.config.Labels['ai.accel.models'] } });

      const copy = join(tmp.dir, 'copy');
      runTool('skopeo', ['copy', '--src-tls-verify=false', `docker://${ref}`, `oci:${copy}:1`]);
      const index = JSON.parse(readFileSync(join(copy, 'index.json'), 'utf8')) as ImageIndex;
      expect(index.manifests.map((m) => m.digest)).toEqual([image.digest]);

      const again = await pushImage(join(tmp.dir, 'a'), `${registry.host}/accel/tiny:latest`, { insecure: true });
      expect(again).toMatchObject({ digest: image.digest, uploaded: 0, skipped: 4 });
    }, 180_000);
  });
});
