import { existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { SAMPLE_PHOTO } from '../assets';
import type { ComputeType } from '../workspace/types';
import { emit, parseOutputFormat, renderTable } from './output';

/** The sample photo of the original service's samples (ImageNet class 289, snow leopard). */
export const SAMPLE_IMAGE = SAMPLE_PHOTO;

/** The trained network the demo scores with: nsfwjs's MobileNetV2 (a Keras model in TF.js layers format, uint8 weights) and its five classes. */
const DEMO_MODEL = 'nsfwjs/mobilenet_v2';
const DEMO_LABELS = ['Drawing', 'Hentai', 'Neutral', 'Porn', 'Sexy'];

const steps: Array<{ step: string; seconds: number }> = [];

async function step<T>(n: number, total: number, what: string, fn: () => Promise<T>): Promise<T> {
  process.stderr.write(`\n[${n}/${total}] ${what}\n`);
  const t0 = performance.now();
  const value = await fn();
  const seconds = (performance.now() - t0) / 1000;
  steps.push({ step: what, seconds });
  process.stderr.write(`[${n}/${total}] done in ${seconds.toFixed(2)} s\n`);
  return value;
}

/** The container target when this machine can run it (root, runc, umoci, iproute2), else a local process. */
async function pickTarget(wanted: string): Promise<ComputeType> {
  if (wanted === 'local' || wanted === 'container') return wanted;
  const { defaultProvisioners } = await import('../workspace/compute');
  const probe = await defaultProvisioners().container({ name: 'probe', type: 'container', acceleratorType: 'cpu', accelerators: 1, properties: {} });
  return probe.state === 'Succeeded' ? 'container' : 'local';
}

export function demoCommand(): Command {
  return new Command('demo')
    .description('The main job end to end on embedded defaults: fetch a trained TensorFlow model, register, convert, build an image, deploy with keys, score the sample photo over gRPC, print the top 5, clean up')
    .option('--image <file>', 'photo to score (default: the sample snow leopard photo)', SAMPLE_IMAGE)
    .option('--workspace <dir>', 'workspace folder (made fresh)', join(tmpdir(), 'accel-demo', 'workspace'))
    .addOption(new Option('--target <type>', 'where to deploy: a runc container when this machine can, else a local process').choices(['auto', 'local', 'container']).default('auto'))
    .option('--cleanup', 'delete everything afterwards, in dependency order (service, compute, image, models)')
    .option('-o, --output <format>', 'output format: table, json, yaml', 'table')
    .action(async (flags: { image: string; workspace: string; target: string; cleanup?: boolean; output: string }) => {
      const format = parseOutputFormat(flags.output);
      const [{ PredictionClient, topK }, { Workspace }, { realModel }, { deployService }] = await Promise.all([
        import('@accel/client'),
        import('../workspace/workspace'),
        import('../convert/npm-models'),
        import('../deploy/deploy'),
      ]);
      const total = flags.cleanup ? 8 : 7;
      if (existsSync(flags.workspace)) rmSync(flags.workspace, { recursive: true, force: true });
      const ws = await Workspace.open(flags.workspace, { create: true });
      try {
        const source = await step(1, total, `fetching the trained model ${DEMO_MODEL} (npm registry, cached after the first run)`, async () => realModel(DEMO_MODEL));
        const registered = await step(2, total, 'registering it in the workspace (SQLite + content-addressed blobs)', async () => {
          const m = await ws.registerModel(join(source.modelJson, '..'), { name: 'nsfw-mobilenet', tags: { framework: 'tfjs', task: 'classify' }, description: 'nsfwjs MobileNetV2 (TF.js layers model)' });
          process.stderr.write(`registered ${m.id} (${(m.size / 1e6).toFixed(1)} MB, ${m.digest.slice(0, 19)})\n`);
          return m;
        });
        const converted = await step(3, total, 'converting TensorFlow -> optimized ONNX (a workspace job)', async () => {
          const job = await ws.startJob('convert', {
            model: registered.name,
            name: 'nsfw-mobilenet-onnx',
            preprocess: { scale: 1 / 255, mean: 0, std: 1, resize: 'stretch' },
            labels: DEMO_LABELS,
          });
          const done = await job.waitForCompletion({ showOutput: true });
          if (done.state !== 'succeeded') throw new Error(`conversion ${done.state}: ${done.error}`);
          return ws.getModel('nsfw-mobilenet-onnx');
        });
        const image = await step(4, total, 'building the container image (OCI, no Docker daemon)', async () => {
          const record = await ws.createImageRecord({ name: 'nsfw-image', models: [converted.id], tags: {} });
          const job = await ws.startJob('image-build', { name: record.name, version: record.version });
          await ws.updateImage(record.name, record.version, { jobId: job.id });
          const done = await job.waitForCompletion({ showOutput: true });
          if (done.state !== 'succeeded') throw new Error(`image build ${done.state}: ${done.error}`);
          return ws.getImage(record.name, record.version);
        });
        const type = await pickTarget(flags.target);
        const deployed = await step(5, total, `deploying to a ${type} target with API keys, waiting until healthy`, async () => {
          await ws.createCompute({ name: 'edge', type, accelerators: 1, acceleratorType: 'cpu', properties: {} });
          return deployService(ws, { name: 'nsfw-demo', image: image.id, compute: 'edge', auth: true }, (line) => process.stderr.write(`${line}\n`));
        });
        const service = deployed.service;
        const scored = await step(6, total, `scoring ${flags.image} over gRPC with the primary key`, async () => {
          const client = new PredictionClient({ address: service.grpcUri, apiKey: service.keys.primary });
          try {
            await client.scoreFile(flags.image); // the first call opens the channel
            const t0 = performance.now();
            const result = await client.scoreFile(flags.image);
            return { result, latencyMs: performance.now() - t0 };
          } finally {
            client.close();
          }
        });
        const top = await step(7, total, 'top 5 classes', async () => topK(scored.result, 5, DEMO_LABELS));
        const summary = {
          model: converted.id,
          source: registered.id,
          image: image.id,
          imageDigest: image.digest,
          imageSizeMB: Number((image.size / 1e6).toFixed(1)),
          service: service.name,
          target: type,
          scoringUri: service.scoringUri,
          grpc: service.grpcUri,
          photo: flags.image,
          latencyMs: Number(scored.latencyMs.toFixed(2)),
          readySeconds: deployed.readyMs === undefined ? undefined : Number((deployed.readyMs / 1000).toFixed(2)),
          top,
          steps,
        };
        if (flags.cleanup) {
          await step(8, total, 'cleaning up in dependency order: service, compute, image, converted model, source model', async () => {
            for (const ref of [
              { kind: 'service' as const, id: service.name },
              { kind: 'compute' as const, id: 'edge' },
              { kind: 'image' as const, id: image.id },
              { kind: 'model' as const, id: converted.id },
              { kind: 'model' as const, id: registered.id },
            ]) {
              await ws.delete([ref]);
              process.stderr.write(`deleted ${ref.kind} ${ref.id}\n`);
            }
          });
        }
        emit(format, summary, () =>
          [
            renderTable(['RANK', 'CLASS', 'CONFIDENCE'], top.map((t, i) => [i + 1, t.label ?? String(t.index), `${(t.probability * 100).toFixed(2)}%`])),
            `${converted.id} (converted from ${registered.id}) in image ${image.id} (${summary.imageSizeMB} MB), service ${service.name} on a ${type} target, ready in ${summary.readySeconds ?? '-'} s; gRPC round trip ${scored.latencyMs.toFixed(1)} ms (batch 1).`,
            flags.cleanup ? 'Everything was deleted again.' : `Still running: scoring URI ${service.scoringUri}, gRPC ${service.grpcUri}; stop it with: accel service delete ${service.name} --workspace ${flags.workspace}`,
          ].join('\n'),
        );
      } finally {
        await ws.close();
      }
    });
}
