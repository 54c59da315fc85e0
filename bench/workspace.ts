/**
 * Workspace benchmark (`npm run bench`, or `npm run bench:workspace`): in one run,
 *   register  a 500 MB file (streamed: MB/s, and peak RSS growth to show constant memory)
 *   verify    rehash every blob (MB/s)
 *   list      `model list` over 10,000 versions (ms; target < 100 ms)
 * Writes bench/out/workspace.json.
 */
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Workspace } from '../packages/accel/src/workspace/workspace';

const HERE = dirname(fileURLToPath(import.meta.url));
const SIZE_MB = Number(process.env.BENCH_REGISTER_MB ?? 500);
const VERSIONS = Number(process.env.BENCH_VERSIONS ?? 10_000);

const root = mkdtempSync(join(tmpdir(), 'accel-bench-ws-'));
try {
  const ws = await Workspace.open(join(root, 'ws'), { create: true });
  const big = join(root, 'big.bin');
  const fd = openSync(big, 'w');
  const chunk = Buffer.alloc(1 << 20);
  for (let i = 0; i < SIZE_MB; i++) {
    chunk.writeUInt32LE(i, 0);
    writeSync(fd, chunk);
  }
  closeSync(fd);

  let peakRss = process.memoryUsage().rss;
  const rssBefore = peakRss;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 20);
  let t0 = performance.now();
  await ws.registerModel(big, { name: 'big' });
  const registerS = (performance.now() - t0) / 1000;
  clearInterval(sampler);

  t0 = performance.now();
  const report = await ws.verify();
  const verifyS = (performance.now() - t0) / 1000;

  const small = join(root, 'small.onnx');
  writeFileSync(small, 'small');
  const blob = await ws.blobs.putFile(small);
  process.stderr.write(`inserting ${VERSIONS} versions ...\n`);
  t0 = performance.now();
  for (let i = 0; i < VERSIONS; i++) {
    await ws.store.insertModel({ name: `m${i % 100}`, digest: blob.digest, size: blob.size, format: 'file', fileName: 'small.onnx', description: '', tags: { i: String(i) }, properties: {} });
  }
  const insertS = (performance.now() - t0) / 1000;
  const listTimes: number[] = [];
  for (let i = 0; i < 7; i++) {
    t0 = performance.now();
    const all = await ws.listModels();
    listTimes.push(performance.now() - t0);
    if (all.length !== VERSIONS + 1) throw new Error(`listed ${all.length}`);
  }
  listTimes.sort((a, b) => a - b);
  await ws.close();

  const result = {
    registerMB: SIZE_MB,
    registerMBps: SIZE_MB / registerS,
    registerPeakRssGrowthMB: (peakRss - rssBefore) / 1e6,
    verifyMBps: report.bytes / 1e6 / verifyS,
    insertsPerSecond: VERSIONS / insertS,
    listVersions: VERSIONS + 1,
    listMedianMs: listTimes[3],
  };
  console.log(`\nworkspace (SQLite metadata, local disk)`);
  console.log(`register ${SIZE_MB} MB file   ${result.registerMBps.toFixed(0)} MB/s, peak RSS growth ${result.registerPeakRssGrowthMB.toFixed(1)} MB (streamed)`);
  console.log(`verify (rehash)            ${result.verifyMBps.toFixed(0)} MB/s`);
  console.log(`register metadata only     ${result.insertsPerSecond.toFixed(0)} versions/s (each its own durable transaction)`);
  console.log(`model list, ${result.listVersions} versions  ${result.listMedianMs.toFixed(1)} ms median of 7 (target < 100 ms)`);
  mkdirSync(join(HERE, 'out'), { recursive: true });
  writeFileSync(join(HERE, 'out', 'workspace.json'), JSON.stringify(result, null, 2));
} finally {
  rmSync(root, { recursive: true, force: true });
}
