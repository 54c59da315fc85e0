/**
 * Dynamic batching benchmark (`npm run bench:batching`, part of `npm run bench`): on a
 * ResNet-50-sized model (random weights, speed only), JPEG input over gRPC, measured in one run:
 *   - best in-process throughput: decode + run in this process, batch 1, 4 and 8;
 *   - `accel serve` with batching on (--max-batch-size 8) and off (1), at concurrency 1 and 8.
 * Prints images/s, p50/p99 and the ratios the targets are stated in; writes bench/out/batching.json.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { PredictionClient } from '@accel/client';
import { Runtime } from '../packages/accel/src/runtime/runtime';
import { samplePhoto } from '../packages/accel/src/test-util/server';
import { buildZooModel } from '../packages/accel/src/zoo/build';
import { resnet } from '../packages/accel/src/zoo/resnet';

const HERE = dirname(fileURLToPath(import.meta.url));
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const WARMUP_S = 2;

interface Cell { imagesPerSecond: number; p50: number; p99: number; requests: number }

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))];

async function closedLoop(concurrency: number, once: () => Promise<unknown>, imagesPerRequest = 1): Promise<Cell> {
  const latencies: number[] = [];
  const warmEnd = performance.now() + WARMUP_S * 1000;
  const end = warmEnd + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const t0 = performance.now();
        await once();
        if (t0 >= warmEnd) latencies.push(performance.now() - t0);
      }
    }),
  );
  return { imagesPerSecond: (latencies.length * imagesPerRequest) / SECONDS, p50: pct(latencies, 0.5), p99: pct(latencies, 0.99), requests: latencies.length };
}

async function serve(modelPath: string, maxBatch: number): Promise<{ child: ChildProcess; port: number }> {
  const bin = join(HERE, '..', 'packages', 'accel', 'bin', 'accel.js');
  const child = spawn(process.execPath, [bin, 'serve', '--model', `resnet50-random=${modelPath}`, '--host', '127.0.0.1', '--grpc-port', '0', '--rest-port', '0', '--max-batch-size', String(maxBatch), '-o', 'json', '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let text = '';
  for await (const line of createInterface({ input: child.stdout! })) {
    text += line + '\n';
    try {
      return { child, port: Number((JSON.parse(text) as { grpc: string }).grpc.split(':').pop()) };
    } catch {
      /* keep reading */
    }
  }
  throw new Error('accel serve exited before it was ready');
}

const dir = join(tmpdir(), 'accel-bench');
mkdirSync(dir, { recursive: true });
const modelPath = join(dir, 'resnet50-random.onnx');
if (!existsSync(modelPath)) writeFileSync(modelPath, buildZooModel(resnet(50)).bytes);
const image = await samplePhoto();

process.stderr.write(`in-process, ${SECONDS} s per batch size ...\n`);
const runtime = new Runtime({ batching: { maxBatchSize: 1 } });
await runtime.load([{ name: 'r', path: modelPath }]);
const inProcess: Record<string, Cell> = {};
for (const n of [1, 4, 8]) {
  inProcess[n] = await closedLoop(1, () => runtime.predict({}, { images: { dtype: 'string', shape: [n], data: new Array(n).fill(image) } }), n);
}
await runtime.close();
const bestInProcess = Math.max(...Object.values(inProcess).map((c) => c.imagesPerSecond));

const served: Record<string, Record<number, Cell>> = {};
for (const [label, maxBatch] of [['batching on (max 8)', 8], ['batching off', 1]] as const) {
  const server = await serve(modelPath, maxBatch);
  const client = new PredictionClient({ address: `127.0.0.1:${server.port}`, modelName: 'resnet50-random' });
  served[label] = {};
  for (const c of [1, 8]) {
    process.stderr.write(`${label}, concurrency ${c} ...\n`);
    served[label][c] = await closedLoop(c, () => client.scoreImage(image));
  }
  client.close();
  server.child.kill('SIGTERM');
}

const on = served['batching on (max 8)'];
const off = served['batching off'];
const row = (name: string, c: Cell) => `${name.padEnd(34)}${c.imagesPerSecond.toFixed(1).padStart(9)}  ${c.p50.toFixed(1).padStart(8)}  ${c.p99.toFixed(1).padStart(8)}`;
console.log(`\nresnet50-random, gRPC, JPEG input, ${SECONDS} s per cell (2 cores)`);
console.log(`${'mode'.padEnd(34)}${'images/s'.padStart(9)}  ${'p50 ms'.padStart(8)}  ${'p99 ms'.padStart(8)}`);
for (const n of [1, 4, 8]) console.log(row(`in-process, batch ${n}`, inProcess[n]));
for (const [label, cells] of Object.entries(served)) for (const c of [1, 8]) console.log(row(`server, ${label}, concurrency ${c}`, cells[c]));
const ratios = {
  c8OnOverOff: on[8].imagesPerSecond / off[8].imagesPerSecond,
  c8OnOverBestInProcess: on[8].imagesPerSecond / bestInProcess,
  c8P99OverBatch1P50: on[8].p99 / on[1].p50,
  c1P50OnOverOff: on[1].p50 / off[1].p50,
};
console.log(`\nconcurrency 8, images/s, batching on / off:          ${ratios.c8OnOverOff.toFixed(3)}x (target >= 1.1)`);
console.log(`concurrency 8, images/s, batching on / best in-proc: ${ratios.c8OnOverBestInProcess.toFixed(3)}x (target >= 0.95)`);
console.log(`concurrency 8 p99 / concurrency 1 p50 (batching on): ${ratios.c8P99OverBatch1P50.toFixed(2)}x (target <= 3)`);
console.log(`concurrency 1 p50, batching on / off:               ${ratios.c1P50OnOverOff.toFixed(3)}x (target within 3%)`);
mkdirSync(join(HERE, 'out'), { recursive: true });
writeFileSync(join(HERE, 'out', 'batching.json'), JSON.stringify({ seconds: SECONDS, inProcess, served, ratios }, null, 2));
