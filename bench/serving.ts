/**
 * Serving overhead benchmark (`npm run bench`): one model, one image, batch 1, measured in one run:
 *   in-process  runtime.predict (JPEG decode + ONNX Runtime run) in this process
 *   gRPC        @accel/client -> `accel serve` (a child process) -> Predict, end to end
 *   REST        @accel/client (REST) -> the same server, base64 JSON
 * Modes are interleaved in rounds so that machine noise hits them alike. Prints p50/p90/p99
 * and the ratios to in-process; writes bench/out/serving.json.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { PredictionClient } from '@accel/client';
import { Runtime } from '../packages/accel/src/runtime/runtime';
import { buildZooModel } from '../packages/accel/src/zoo/build';
import { resnet } from '../packages/accel/src/zoo/resnet';
import { tinyClassifier } from '../packages/accel/src/test-util/models';
import { samplePhoto } from '../packages/accel/src/test-util/server';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 8);
const PER_ROUND = Number(process.env.BENCH_PER_ROUND ?? 25);
const QUICK = process.argv.includes('--quick');

interface Stats { p50: number; p90: number; p99: number; mean: number; n: number; serverMean?: number }

function stats(xs: number[]): Stats {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { p50: q(0.5), p90: q(0.9), p99: q(0.99), mean: s.reduce((a, b) => a + b, 0) / s.length, n: s.length };
}

async function startServer(modelName: string, modelPath: string): Promise<{ child: ChildProcess; grpcPort: number; restPort: number }> {
  const bin = join(HERE, '..', 'packages', 'accel', 'bin', 'accel.js');
  const child = spawn(process.execPath, [bin, 'serve', '--model', `${modelName}=${modelPath}`, '--host', '127.0.0.1', '--grpc-port', '0', '--rest-port', '0', '-o', 'json', '--log-level', 'warn'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let text = '';
  for await (const line of createInterface({ input: child.stdout! })) {
    text += line + '\n';
    try {
      const summary = JSON.parse(text) as { grpc: string; rest: string };
      return { child, grpcPort: Number(summary.grpc.split(':').pop()), restPort: Number(summary.rest.split(':').pop()) };
    } catch {
      /* the JSON summary spans several lines */
    }
  }
  throw new Error('accel serve exited before it was ready');
}

async function measure(label: string, modelName: string, modelPath: string, image: Buffer) {
  const runtime = new Runtime();
  await runtime.load([{ name: modelName, path: modelPath }]);
  const server = await startServer(modelName, modelPath);
  const grpc = new PredictionClient({ address: `127.0.0.1:${server.grpcPort}`, modelName });
  const rest = new PredictionClient({ address: `127.0.0.1:${server.restPort}`, protocol: 'rest', modelName });
  const modes: Record<string, () => Promise<unknown>> = {
    'in-process': () => runtime.predict({ name: modelName }, { images: { dtype: 'string', shape: [1], data: [image] } }),
    grpc: () => grpc.scoreImage(image),
    rest: () => rest.scoreImage(image),
  };
  const samples: Record<string, number[]> = Object.fromEntries(Object.keys(modes).map((m) => [m, []]));
  for (const run of Object.values(modes)) for (let i = 0; i < 5; i++) await run(); // warm-up
  const rounds = QUICK ? 2 : ROUNDS;
  for (let r = 0; r < rounds; r++) {
    for (const [mode, run] of Object.entries(modes)) {
      for (let i = 0; i < (QUICK ? 5 : PER_ROUND); i++) {
        const t0 = performance.now();
        await run();
        samples[mode].push(performance.now() - t0);
      }
    }
    process.stderr.write(`  ${label}: round ${r + 1}/${rounds}\r`);
  }
  process.stderr.write('\n');
  const metrics = await (await fetch(`http://127.0.0.1:${server.restPort}/metrics`)).text();
  grpc.close();
  rest.close();
  server.child.kill('SIGTERM');
  await runtime.close();
  const result = Object.fromEntries(Object.entries(samples).map(([m, xs]) => [m, stats(xs)])) as Record<'in-process' | 'grpc' | 'rest', Stats>;
  // Mean time inside the server per protocol (warm-up included), to split off the transport.
  for (const protocol of ['grpc', 'rest'] as const) {
    const value = (kind: string) =>
      Number(new RegExp(`^accel_request_duration_seconds_${kind}\\{[^}]*protocol="${protocol}"\\} (\\S+)$`, 'm').exec(metrics)?.[1] ?? NaN);
    result[protocol].serverMean = (value('sum') / value('count')) * 1000;
  }
  return result;
}

function print(label: string, r: Record<string, Stats>) {
  const base = r['in-process'];
  console.log(`\n${label} (batch 1, ${base.n} requests per mode, ms)`);
  console.log('mode         p50      p90      p99     mean  in server  p50 ratio  p99 ratio');
  for (const [mode, s] of Object.entries(r)) {
    const inServer = s.serverMean === undefined ? '-' : s.serverMean.toFixed(2);
    console.log(
      `${mode.padEnd(11)}${s.p50.toFixed(2).padStart(7)}  ${s.p90.toFixed(2).padStart(7)}  ${s.p99.toFixed(2).padStart(7)}  ${s.mean.toFixed(2).padStart(7)}  ${inServer.padStart(9)}   ${(s.p50 / base.p50).toFixed(3).padStart(7)}x ${(s.p99 / base.p99).toFixed(3).padStart(8)}x`,
    );
  }
  console.log('("in server": mean time from request decoded to response handed to the transport; mean minus it is the transport cost.)');
}

const dir = join(tmpdir(), 'accel-bench');
mkdirSync(dir, { recursive: true });
const image = await samplePhoto();
const tinyPath = join(dir, 'tiny-transport.onnx');
writeFileSync(tinyPath, tinyClassifier({ size: 224 }));
const resnetPath = join(dir, 'resnet50-random.onnx');
process.stderr.write('building resnet50-random (random weights, speed only) ...\n');
writeFileSync(resnetPath, buildZooModel(resnet(50)).bytes);

const results = {
  machine: { cpus: (await import('node:os')).cpus().length, node: process.version },
  image: { bytes: image.length },
  tiny: await measure('tiny conv net, 224x224 input (transport + decode cost)', 'tiny', tinyPath, image),
  resnet50: await measure('resnet50-random, 224x224 (ResNet-50-sized, random weights)', 'resnet50-random', resnetPath, image),
};
print('tiny conv net, 224x224 input: what transport and decode cost', results.tiny);
print('resnet50-random (ResNet-50 sized, random weights)', results.resnet50);
const outDir = join(HERE, 'out');
mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, 'serving.json'), JSON.stringify(results, null, 2));
console.log(`\nwrote ${join(outDir, 'serving.json')}`);

