/**
 * Zoo baselines (`npm run bench:zoo`, part of `npm run bench`): ONNX Runtime latency of each zoo
 * model at batch 1 and batch 8, random weights (speed only; the names say so), sessions created
 * as the server creates them. Writes bench/out/zoo.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { INPUT_NAME, buildZooModel } from '../packages/accel/src/zoo/build';
import { ARCHITECTURES } from '../packages/accel/src/zoo/catalog';
import { sessionOptions } from '../packages/accel/src/runtime/session-options';

const HERE = dirname(fileURLToPath(import.meta.url));
const RUNS = Number(process.env.BENCH_ZOO_RUNS ?? 7);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

const results: Array<{ model: string; parameters: number; gmacs: number; batch1Ms: number; batch8Ms: number; imagesPerSecondAt8: number }> = [];
for (const arch of ARCHITECTURES) {
  process.stderr.write(`${arch.name}-random ...\n`);
  const built = buildZooModel(arch);
  const session = await ort.InferenceSession.create(built.bytes, sessionOptions({}));
  const { height, width } = arch.preprocess;
  const timing: Record<number, number> = {};
  for (const n of [1, 8]) {
    const x = new ort.Tensor('float32', new Float32Array(n * 3 * height * width).fill(0.1), [n, 3, height, width]);
    await session.run({ [INPUT_NAME]: x });
    const times: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const t0 = performance.now();
      await session.run({ [INPUT_NAME]: x });
      times.push(performance.now() - t0);
    }
    timing[n] = median(times);
  }
  await session.release();
  results.push({ model: `${built.name}`, parameters: built.parameters, gmacs: arch.publishedGmacs, batch1Ms: timing[1], batch8Ms: timing[8], imagesPerSecondAt8: (8 * 1000) / timing[8] });
}
console.log(`\nzoo models in ONNX Runtime (CPU, ${RUNS} runs, median ms; random weights: speed only)`);
console.log('model               params(M)  GMACs   batch 1   batch 8   images/s @8   b8 per image / b1');
for (const r of results) {
  console.log(
    `${r.model.padEnd(20)}${(r.parameters / 1e6).toFixed(1).padStart(9)}  ${r.gmacs.toFixed(1).padStart(5)}  ${r.batch1Ms.toFixed(1).padStart(8)}  ${r.batch8Ms.toFixed(1).padStart(8)}  ${r.imagesPerSecondAt8.toFixed(1).padStart(12)}  ${(r.batch8Ms / 8 / r.batch1Ms).toFixed(2).padStart(10)}`,
  );
}
mkdirSync(join(HERE, 'out'), { recursive: true });
writeFileSync(join(HERE, 'out', 'zoo.json'), JSON.stringify(results, null, 2));
