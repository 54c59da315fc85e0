import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { emit, parseOutputFormat, renderTable } from './output';

import { SAMPLE_PHOTO } from '../assets';

/** The sample photo of the original service's samples (ImageNet class 289, snow leopard). */
export const SAMPLE_IMAGE = SAMPLE_PHOTO;

async function step<T>(n: number, total: number, what: string, fn: () => Promise<T>): Promise<T> {
  process.stderr.write(`[${n}/${total}] ${what} ...`);
  const t0 = performance.now();
  const value = await fn();
  process.stderr.write(` ${((performance.now() - t0) / 1000).toFixed(2)} s\n`);
  return value;
}

async function sampleImage(path: string | undefined): Promise<{ path: string; note?: string }> {
  if (path) return { path };
  if (existsSync(SAMPLE_IMAGE)) return { path: SAMPLE_IMAGE };
  const { default: sharp } = await import('sharp');
  const generated = join(tmpdir(), 'accel-demo-sample.jpg');
  await sharp({ create: { width: 500, height: 375, channels: 3, background: { r: 180, g: 170, b: 160 } } }).jpeg().toFile(generated);
  return { path: generated, note: `sample photo not found at ${SAMPLE_IMAGE}; scored a generated image instead` };
}

export function demoCommand(): Command {
  return new Command('demo')
    .description('The main job on embedded defaults: make a model, serve it, score an image over gRPC, print the top 5')
    .option('--image <file>', 'image to score (default: the sample snow leopard photo)')
    .option('--workdir <dir>', 'where the model is written', join(tmpdir(), 'accel-demo'))
    .option('--keep-running', 'leave the server running after scoring (Ctrl-C to stop)')
    .option('-o, --output <format>', 'output format: table, json, yaml', 'table')
    .action(async (flags: { image?: string; workdir: string; keepRunning?: boolean; output: string }) => {
      const format = parseOutputFormat(flags.output);
      const [{ PredictionClient, imagenetLabels, topK }, { Runtime }, { startServer }, { buildZooModel }, { resnet }] = await Promise.all([
        import('@accel/client'),
        import('../runtime/runtime'),
        import('../protocols/server'),
        import('../zoo/build'),
        import('../zoo/resnet'),
      ]);
      const total = 4;
      const modelPath = join(flags.workdir, 'resnet50-random.onnx');
      const built = await step(1, total, 'building ResNet-50 (random weights: no trained weights ship offline yet)', async () => {
        mkdirSync(flags.workdir, { recursive: true });
        const m = buildZooModel(resnet(50));
        writeFileSync(modelPath, m.bytes);
        writeFileSync(modelPath.replace(/\.onnx$/, '.accel.json'), JSON.stringify(m.sidecar, null, 2));
        return m;
      });
      const runtime = new Runtime();
      const server = await step(2, total, 'loading and warming up the model, starting gRPC + REST', async () => {
        await runtime.load([{ name: 'resnet50-random', path: modelPath }]);
        return startServer(runtime, { host: '127.0.0.1', grpcPort: 0, restPort: 0 });
      });
      const image = await sampleImage(flags.image);
      const client = new PredictionClient({ address: `127.0.0.1:${server.grpcPort}` });
      try {
        const { probs, latencyMs } = await step(3, total, `scoring ${image.path} over gRPC (no model_spec, input "images", output "output_alias")`, async () => {
          await client.scoreImage(readFileSync(image.path)); // first call opens the channel
          const t0 = performance.now();
          const probs = await client.scoreFile(image.path);
          return { probs, latencyMs: performance.now() - t0 };
        });
        const top = await step(4, total, 'mapping to ImageNet labels', async () => topK(probs, 5, imagenetLabels()));
        const result = {
          model: 'resnet50-random',
          parameters: built.parameters,
          grpc: `127.0.0.1:${server.grpcPort}`,
          rest: `127.0.0.1:${server.restPort}`,
          image: image.path,
          latencyMs: Number(latencyMs.toFixed(2)),
          note: [image.note, 'weights are random: the classes below show the pipeline working, not a real prediction'].filter(Boolean).join('; '),
          top,
        };
        emit(format, result, () =>
          [
            renderTable(['RANK', 'CLASS', 'LABEL', 'CONFIDENCE'], top.map((t, i) => [i + 1, t.index, t.label ?? '', `${(t.probability * 100).toFixed(2)}%`])),
            `gRPC round trip ${latencyMs.toFixed(1)} ms (batch 1). Note: ${result.note}.`,
          ].join('\n'),
        );
        if (flags.keepRunning) {
          process.stderr.write(`serving on gRPC 127.0.0.1:${server.grpcPort}, REST 127.0.0.1:${server.restPort}; Ctrl-C to stop\n`);
          await new Promise<void>((r) => process.once('SIGINT', () => r()));
        }
      } finally {
        client.close();
        await server.shutdown();
      }
    });
}
