/**
 * Dashboard benchmark (`npm run bench:ui`, part of `npm run bench`), in one run:
 *   weight    bytes of the dashboard's files (what a browser loads, no build step), raw and gzip
 *   list      GET /api/models over 1,000 model versions vs the same listModels() in-process
 *   render    headless chromium: opening #/models until its first 100 rows are shown, then
 *             "Show all" until all 1,000 are
 *   score     POST /api/services/NAME/score (browser -> control plane -> gRPC) vs @accel/client
 *             straight to the service, p50 on the sample JPEG, ResNet-50-sized model with
 *             random weights (speed only, the name says so) on a `local` target
 * Writes bench/out/ui.json.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { PredictionClient } from '@accel/client';
import { SAMPLE_PHOTO } from '../packages/accel/src/assets';
import { deployService } from '../packages/accel/src/deploy/deploy';
import { WEB_ROOT } from '../packages/accel/src/ui/server';
import { HAVE_CHROMIUM, launchChromium } from '../packages/accel/src/test-util/browser';
import { startTestUi } from '../packages/accel/src/ui/test-server';
import { buildZooModel } from '../packages/accel/src/zoo/build';
import { resnet } from '../packages/accel/src/zoo/resnet';

const HERE = dirname(fileURLToPath(import.meta.url));
const VERSIONS = Number(process.env.BENCH_UI_VERSIONS ?? 1000);
const CALLS = Number(process.env.BENCH_UI_CALLS ?? 50);
const photo = readFileSync(SAMPLE_PHOTO);
const scratch = mkdtempSync(join(tmpdir(), 'accel-bench-ui-'));

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
async function p50(fn: () => Promise<unknown>, n: number): Promise<number> {
  for (let i = 0; i < 5; i++) await fn();
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  return median(times);
}

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => (statSync(join(dir, name)).isDirectory() ? files(join(dir, name)) : [join(dir, name)]));
}

const results: Record<string, unknown> = {};
const weight = files(WEB_ROOT).filter((f) => !f.endsWith('.test.ts'));
results.weight = {
  files: weight.length,
  bytes: weight.reduce((n, f) => n + statSync(f).size, 0),
  gzipBytes: weight.reduce((n, f) => n + gzipSync(readFileSync(f)).length, 0),
};

const ui = await startTestUi({ dir: join(scratch, 'ws') });
try {
  const tiny = join(scratch, 'tiny.bin');
  writeFileSync(tiny, 'a file standing for a model');
  for (let i = 0; i < VERSIONS; i++) await ui.ws.registerModel(tiny, { name: `model-${i % 10}`, tags: { n: String(i) } });
  const api = await p50(async () => (await ui.call('/api/models')).json(), 20);
  const inProcess = await p50(() => ui.ws.listModels(), 20);
  results.list = { versions: VERSIONS, apiP50Ms: api, inProcessP50Ms: inProcess };
  process.stderr.write(`list: API ${api.toFixed(2)} ms, in-process ${inProcess.toFixed(2)} ms\n`);

  if (HAVE_CHROMIUM) {
    const browser = await launchChromium();
    try {
      const times: number[] = [];
      const all: number[] = [];
      for (let i = 0; i < 5; i++) {
        const page = await browser.newPage();
        const t0 = performance.now();
        await page.goto(`${ui.url}/#/models`);
        await page.getByRole('button', { name: `Show all ${VERSIONS} rows` }).waitFor({ timeout: 60_000 });
        const first = performance.now() - t0;
        const t1 = performance.now();
        await page.getByRole('button', { name: `Show all ${VERSIONS} rows` }).click();
        await page.waitForFunction((n) => document.querySelectorAll('main table tbody tr').length >= n, VERSIONS, { timeout: 60_000 });
        times.push(first);
        all.push(performance.now() - t1);
        await page.close();
      }
      results.render = { rows: VERSIONS, firstRowsP50Ms: median(times.slice(1)), allRowsP50Ms: median(all.slice(1)) };
      process.stderr.write(`render: first rows ${median(times.slice(1)).toFixed(0)} ms, all ${median(all.slice(1)).toFixed(0)} ms\n`);
    } finally {
      await browser.close();
    }
  }

  const built = buildZooModel(resnet(50));
  const dir = join(scratch, 'resnet50-random');
  mkdirSync(dir);
  writeFileSync(join(dir, 'model.onnx'), built.bytes);
  writeFileSync(join(dir, 'model.accel.json'), JSON.stringify(built.sidecar));
  const model = await ui.ws.registerModel(dir, { name: 'resnet50-random' });
  const image = await ui.ws.createImageRecord({ name: 'resnet50-random', models: [model.id], tags: {} });
  const job = await ui.ws.startJob('image-build', { name: image.name, version: image.version });
  await ui.ws.updateImage(image.name, image.version, { jobId: job.id });
  const done = await job.waitForCompletion();
  if (done.state !== 'succeeded') throw new Error(`image build: ${done.error}`);
  await ui.ws.createCompute({ name: 'box', type: 'local', accelerators: 1, acceleratorType: 'cpu', properties: {} });
  const { service } = await deployService(ui.ws, { name: 'bench-ui', image: image.id, compute: 'box', auth: true }, () => undefined);
  try {
    const client = new PredictionClient({ address: service.grpcUri, apiKey: service.keys.primary });
    const direct = await p50(() => client.scoreImage(photo), CALLS);
    client.close();
    const viaUi = await p50(async () => {
      const res = await ui.call('/api/services/bench-ui/score', { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: photo });
      if (res.status !== 200) throw new Error(`score: ${res.status} ${await res.text()}`);
      return res.json();
    }, CALLS);
    results.score = { directP50Ms: direct, viaDashboardP50Ms: viaUi };
  } finally {
    await ui.ws.delete([{ kind: 'service', id: 'bench-ui' }]);
  }
} finally {
  await ui.close();
  rmSync(scratch, { recursive: true, force: true });
}

const w = results.weight as { files: number; bytes: number; gzipBytes: number };
const l = results.list as { apiP50Ms: number; inProcessP50Ms: number };
const r = results.render as { firstRowsP50Ms: number; allRowsP50Ms: number } | undefined;
const s = results.score as { directP50Ms: number; viaDashboardP50Ms: number };
console.log(`\ndashboard (2 cores, one run)`);
console.log(`page weight                      ${w.files} files, ${(w.bytes / 1024).toFixed(1)} KB (${(w.gzipBytes / 1024).toFixed(1)} KB gzip), no build step`);
console.log(`GET /api/models, ${VERSIONS} versions  ${l.apiP50Ms.toFixed(2)} ms p50 (in-process listModels ${l.inProcessP50Ms.toFixed(2)} ms: ${(l.apiP50Ms / l.inProcessP50Ms).toFixed(2)}x)`);
console.log(r ? `#/models, first 100 rows shown   ${r.firstRowsP50Ms.toFixed(0)} ms p50 (headless chromium, page load to table)` : 'render: skipped (no /usr/bin/chromium)');
if (r) console.log(`"Show all", ${VERSIONS} rows shown   ${r.allRowsP50Ms.toFixed(0)} ms p50 (${(r.allRowsP50Ms / r.firstRowsP50Ms).toFixed(2)}x the first page)`);
console.log(`score p50 via dashboard API      ${s.viaDashboardP50Ms.toFixed(2)} ms`);
console.log(`score p50 direct gRPC client     ${s.directP50Ms.toFixed(2)} ms`);
console.log(`dashboard / direct               ${(s.viaDashboardP50Ms / s.directP50Ms).toFixed(3)}x`);
mkdirSync(join(HERE, 'out'), { recursive: true });
writeFileSync(join(HERE, 'out', 'ui.json'), `${JSON.stringify(results, null, 2)}\n`);
