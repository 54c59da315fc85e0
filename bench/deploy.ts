/**
 * Deployment benchmark (`npm run bench:deploy`, part of `npm run bench`), in one run on a
 * ResNet-50-sized model (random weights: speed only, the name says so):
 *   image     build time and size of a fresh image (no layer cache)
 *   ready     time from `accel deploy` to Healthy on a `local` target and on a `container` target
 *             (targets: < 5 s and < 15 s)
 *   latency   gRPC scoring of the sample JPEG, p50 over the container's veth vs the local process
 * The container part needs root, runc, umoci and iproute2; it is skipped (and says so) without.
 * Writes bench/out/deploy.json.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PredictionClient } from '@accel/client';
import { SAMPLE_PHOTO } from '../packages/accel/src/assets';
import { deployService } from '../packages/accel/src/deploy/deploy';
import { defaultProvisioners } from '../packages/accel/src/workspace/compute';
import { Workspace } from '../packages/accel/src/workspace/workspace';
import { buildZooModel } from '../packages/accel/src/zoo/build';
import { resnet } from '../packages/accel/src/zoo/resnet';

const HERE = dirname(fileURLToPath(import.meta.url));
const CALLS = Number(process.env.BENCH_DEPLOY_CALLS ?? 50);
const root = mkdtempSync(join(tmpdir(), 'accel-bench-deploy-'));
const photo = await readFile(SAMPLE_PHOTO);
const quiet = () => undefined;

async function p50(grpcUri: string, key: string): Promise<number> {
  const client = new PredictionClient({ address: grpcUri, apiKey: key });
  try {
    for (let i = 0; i < 5; i++) await client.scoreImage(photo);
    const times: number[] = [];
    for (let i = 0; i < CALLS; i++) {
      const t0 = performance.now();
      await client.scoreImage(photo);
      times.push(performance.now() - t0);
    }
    return times.sort((a, b) => a - b)[times.length >> 1]!;
  } finally {
    client.close();
  }
}

const results: Record<string, unknown> = {};
const ws = await Workspace.open(join(root, 'ws'), { create: true });
try {
  const built = buildZooModel(resnet(50));
  const dir = join(root, 'resnet50-random');
  mkdirSync(dir);
  writeFileSync(join(dir, 'model.onnx'), built.bytes);
  writeFileSync(join(dir, 'model.accel.json'), JSON.stringify(built.sidecar));
  const model = await ws.registerModel(dir, { name: 'resnet50-random' });

  const image = await ws.createImageRecord({ name: 'resnet50-random', models: [model.id], tags: {} });
  const t0 = performance.now();
  const job = await ws.startJob('image-build', { name: image.name, version: image.version });
  await ws.updateImage(image.name, image.version, { jobId: job.id });
  const done = await job.waitForCompletion();
  if (done.state !== 'succeeded') throw new Error(`image build: ${done.error}`);
  const buildSeconds = (performance.now() - t0) / 1000;
  const img = await ws.getImage(image.name, image.version);
  results.image = { buildSeconds, sizeMB: img.size / 1e6, digest: img.digest };
  process.stderr.write(`image: ${buildSeconds.toFixed(1)} s, ${(img.size / 1e6).toFixed(1)} MB\n`);

  const container = await defaultProvisioners().container({ name: 'probe', type: 'container', acceleratorType: 'cpu', accelerators: 1, properties: {} });
  const targets = container.state === 'Succeeded' ? (['local', 'container'] as const) : (['local'] as const);
  if (container.state !== 'Succeeded') process.stderr.write(`container target skipped: ${container.errors.join('; ')}\n`);
  for (const type of targets) {
    await ws.createCompute({ name: `${type}-box`, type, accelerators: 1, acceleratorType: 'cpu', properties: {} });
    const r = await deployService(ws, { name: `bench-${type}`, image: img.id, compute: `${type}-box`, auth: true }, quiet);
    const latency = await p50(r.service.grpcUri, r.service.keys.primary!);
    results[type] = { readySeconds: r.readyMs! / 1000, grpcP50Ms: latency, scoringUri: r.service.scoringUri };
    process.stderr.write(`${type}: ready in ${(r.readyMs! / 1000).toFixed(2)} s, gRPC p50 ${latency.toFixed(2)} ms\n`);
  }
  for (const type of targets) await ws.delete([{ kind: 'service', id: `bench-${type}` }]);
} finally {
  await ws.close();
  rmSync(root, { recursive: true, force: true });
}

const local = results.local as { readySeconds: number; grpcP50Ms: number };
const box = results.container as { readySeconds: number; grpcP50Ms: number } | undefined;
const image = results.image as { buildSeconds: number; sizeMB: number };
console.log(`\ndeployment of resnet50-random (2 cores, ${CALLS} gRPC calls of the sample JPEG per target)`);
console.log(`image build (no cache)          ${image.buildSeconds.toFixed(1)} s, ${image.sizeMB.toFixed(1)} MB`);
console.log(`deploy -> Healthy, local        ${local.readySeconds.toFixed(2)} s (target < 5 s)`);
if (box) console.log(`deploy -> Healthy, container    ${box.readySeconds.toFixed(2)} s (target < 15 s)`);
console.log(`gRPC p50, local process         ${local.grpcP50Ms.toFixed(2)} ms`);
if (box) {
  console.log(`gRPC p50, container over veth   ${box.grpcP50Ms.toFixed(2)} ms`);
  console.log(`container / local p50           ${(box.grpcP50Ms / local.grpcP50Ms).toFixed(3)}x`);
}
mkdirSync(join(HERE, 'out'), { recursive: true });
writeFileSync(join(HERE, 'out', 'deploy.json'), `${JSON.stringify(results, null, 2)}\n`);
