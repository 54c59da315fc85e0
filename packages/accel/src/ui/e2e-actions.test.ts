/**
 * The dashboard's other actions end to end (playwright-core + Debian's chromium): editing a model's
 * tags, quantizing through the page (and what the form refuses), cancelling jobs, regenerating a
 * service key and reading the service log. The fixtures are made in the workspace directly (a tiny
 * classifier served by a `local` service with keys): e2e.test.ts covers registering, converting,
 * building and deploying through the pages.
 */
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { PredictionClient } from '@accel/client';
import type { Browser, Page } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SAMPLE_PHOTO } from '../assets';
import { realModel } from '../convert/npm-models';
import { stopService } from '../deploy/deploy';
import { tinyClassifier } from '../test-util/models';
import { deployTestService } from '../test-util/services';
import type { ServiceRecord } from '../workspace/types';
import { HAVE_CHROMIUM, SHOTS, launchChromium, openPage, until, waitText } from '../test-util/browser';
import { createWorkspaceKey } from './keys';
import { startTestUi, type TestUi } from './test-server';

const LABELS = ['cat', 'dog', 'fox', 'owl', 'yak'];


/** Six JPEGs made from the sample photo (flipped, turned, smaller, grey, darker): a calibration folder. */
async function calibrationFolder(dir: string): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const variants = [(s: sharp.Sharp) => s, (s: sharp.Sharp) => s.flop(), (s: sharp.Sharp) => s.rotate(90), (s: sharp.Sharp) => s.resize(200, 200), (s: sharp.Sharp) => s.grayscale(), (s: sharp.Sharp) => s.modulate({ brightness: 0.6 })];
  for (const [i, v] of variants.entries()) await v(sharp(SAMPLE_PHOTO)).jpeg().toFile(join(dir, `photo-${i}.jpg`));
  return dir;
}

describe.skipIf(!HAVE_CHROMIUM)('dashboard actions end to end (tags, quantize, cancel, keys, logs)', () => {
  let ui: TestUi;
  let browser: Browser;
  let page: Page;
  let service: ServiceRecord;
  let scratch: string;
  let calibration: string;

  const go = (hash: string, heading: string | RegExp) => openPage(page, ui.url, hash, heading);
  const jobState = () => page.getByRole('status', { name: 'Job state' });
  const jobId = () => decodeURIComponent(page.url().split('#/jobs/')[1] ?? '');

  beforeAll(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'accel-e2e-actions-'));
    calibration = await calibrationFolder(join(scratch, 'calibration'));
    ui = await startTestUi();
    const key = createWorkspaceKey(ui.dir);
    ui.useKey(key);
    service = await deployTestService(ui.ws, { service: 'vision', auth: true, models: [{ name: 'tiny', onnx: tinyClassifier(), sidecar: { labels: LABELS } }] });
    // format=onnx: a folder holding model.onnx, ready to serve (else it is taken as a TensorFlow source).
    await ui.ws.tagModel('tiny', 1, { format: 'onnx', team: 'vision', stage: 'test' }, []);
    // A real model whose conversion takes seconds: long enough to cancel.
    await ui.ws.registerModel(dirname(realModel('nsfwjs/mobilenet_v2').modelJson), { name: 'nsfw' });
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.setDefaultTimeout(30_000);
    // The key as the key dialog would keep it (e2e.test.ts covers that dialog).
    await page.addInitScript((k) => sessionStorage.setItem('accel.apiKey', k), key);
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    if (ui) {
      await stopService(ui.ws, 'vision', { forget: true }).catch(() => undefined);
      await ui.close();
    }
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  }, 120_000);

  it("edits a model version's tags in a dialog (change, remove, add): the table and the API agree", async () => {
    await go('#/models', 'Models');
    const row = page.getByRole('row', { name: /^tiny 1 / });
    await waitText(row, /team=vision/, 15_000);
    await page.getByRole('button', { name: 'Edit tags of tiny:1' }).click();
    const dialog = page.getByRole('dialog', { name: 'Edit tags of tiny:1' });
    const tag = (n: number) => dialog.getByRole('group', { name: `Tag ${n}` });
    const keys = () => dialog.getByLabel('Key', { exact: true }).evaluateAll((els) => els.map((e) => (e as HTMLInputElement).value));
    expect((await keys()).sort()).toEqual(['format', 'stage', 'team']);
    await tag((await keys()).indexOf('team') + 1).getByLabel('Value').fill('ml');
    await dialog.getByRole('button', { name: `Remove tag ${(await keys()).indexOf('stage') + 1}` }).click();
    expect(await dialog.getByRole('group').count()).toBe(2);
    await dialog.getByRole('button', { name: 'Add tag' }).click();
    // The new row's key has the focus: typing fills it.
    await page.keyboard.type('owner');
    await tag(3).getByLabel('Value').fill('ana');
    await dialog.getByRole('button', { name: 'Save tags' }).click();
    await until(() => dialog.count()).toBe(0);
    await waitText(row, /owner=ana/, 15_000);
    expect(await row.textContent()).toMatch(/team=ml/);
    expect(await row.textContent()).not.toMatch(/stage=/);
    expect((await ui.json('/api/models/tiny/versions/1')).body.tags).toEqual({ format: 'onnx', team: 'ml', owner: 'ana' });
  });

  it('refuses a quantize form without images, then quantizes through the page watching the job log', async () => {
    await go('#/models', 'Models');
    await page.getByRole('button', { name: 'Quantize tiny:1' }).click();
    const dialog = page.getByRole('dialog', { name: 'Quantize tiny:1 to int8' });
    await expect.poll(() => dialog.getByText(/on the machine running accel ui/).count()).toBe(2);
    const error = dialog.getByRole('alert');
    await dialog.getByRole('button', { name: 'Quantize' }).click();
    await waitText(error, /Give the calibration folder/, 5_000);
    await dialog.getByLabel('Calibration folder').fill(join(scratch, 'no-such-folder'));
    await dialog.getByRole('button', { name: 'Quantize' }).click();
    await waitText(error, /ACCEL_ERR_QUANTIZE_NO_IMAGES/, 10_000);
    expect(await ui.ws.store.listJobs({ kind: 'quantize' })).toEqual([]);

    await dialog.getByLabel('Calibration folder').fill(calibration);
    await dialog.getByLabel('Method').selectOption('minmax');
    expect(await dialog.getByLabel('Per-channel weight scales').isChecked()).toBe(true);
    await dialog.getByLabel('Output model name').fill('tiny-int8');
    await dialog.getByLabel('Limit').fill('6');
    await page.screenshot({ path: join(SHOTS, 'quantize.png'), animations: 'disabled' });
    expect(statSync(join(SHOTS, 'quantize.png')).size).toBeLessThan(250_000);
    await dialog.getByRole('button', { name: 'Quantize' }).click();
    await until(() => page.url()).toMatch(/#\/jobs\/.+/);
    await waitText(jobState(), /succeeded|failed|cancelled/, 120_000);
    expect(await jobState().textContent()).toMatch(/quantize.*succeeded/);
    expect(await page.getByLabel(/^Log of job /).textContent()).toMatch(/succeeded/);
    const [job] = await ui.ws.store.listJobs({ kind: 'quantize' });
    expect(job!.inputs).toMatchObject({ model: 'tiny', version: 1, calibration, method: 'minmax', perChannel: true, name: 'tiny-int8', limit: 6 });

    await go('#/models', 'Models');
    await waitText(page.getByRole('row', { name: /^tiny-int8 1 / }), /quantized/, 15_000);
    // A quantized model can be built into an image, not quantized again.
    expect(await page.getByRole('button', { name: 'Build image from tiny-int8:1' }).count()).toBe(1);
    expect(await page.getByRole('button', { name: 'Quantize tiny-int8:1' }).count()).toBe(0);
  }, 180_000);

  it('cancels running jobs from the job page and from the jobs list: both end cancelled', async () => {
    const startConvert = async () => {
      await go('#/models', 'Models');
      await page.getByRole('button', { name: 'Convert nsfw:1' }).click();
      await page.getByRole('dialog', { name: 'Convert nsfw:1 to ONNX' }).getByRole('button', { name: 'Convert' }).click();
      await until(() => page.url()).toMatch(/#\/jobs\/.+/);
      return jobId();
    };
    const first = await startConvert();
    await page.getByRole('button', { name: 'Cancel job' }).click();
    await waitText(jobState(), /cancelled|succeeded|failed/, 60_000);
    expect(await jobState().textContent()).toMatch(/cancelled/);
    await until(() => page.getByRole('button', { name: 'Cancel job' }).isVisible()).toBe(false);

    const second = await startConvert();
    await go('#/jobs', 'Jobs');
    await page.getByRole('button', { name: `Cancel job ${second}` }).click();
    for (const id of [first, second]) await waitText(page.getByRole('row', { name: new RegExp(`Log of job ${id}`) }), /cancelled/, 60_000);
    expect(await page.getByRole('button', { name: `Cancel job ${second}` }).count()).toBe(0);
    for (const id of [first, second]) expect((await ui.ws.getJob(id)).state).toBe('cancelled');
    expect(await ui.ws.listModels({ name: 'nsfw-onnx' })).toEqual([]);
  }, 120_000);

  it('regenerates the primary key after a confirmation: the new key works against the service, the old one is refused', async () => {
    const old = service.keys.primary!;
    await go('#/services/vision', 'Service vision');
    await page.getByRole('button', { name: 'Show keys' }).click();
    const primary = page.getByLabel('Primary key', { exact: true });
    await until(() => primary.textContent(), 10_000).toBe(old);
    expect(await page.getByLabel('Secondary key', { exact: true }).textContent()).toBe(service.keys.secondary);

    // Cancelling changes nothing.
    await page.getByRole('button', { name: 'Regenerate primary key' }).click();
    const dialog = page.getByRole('dialog', { name: 'Regenerate the primary key of vision?' });
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await until(() => dialog.count()).toBe(0);
    expect((await ui.ws.getService('vision')).keys.primary).toBe(old);

    await page.getByRole('button', { name: 'Regenerate primary key' }).click();
    await dialog.getByRole('button', { name: 'Regenerate primary key' }).click();
    await until(() => dialog.count()).toBe(0);
    await until(async () => (await primary.textContent()) !== old).toBe(true);
    const fresh = (await primary.textContent())!;
    expect(await page.getByRole('region', { name: 'Keys' }).textContent()).toMatch(/Primary \(new\).*This is the new primary key|This is the new primary key.*Primary \(new\)/s);
    expect((await ui.json('/api/services/vision/keys')).body).toEqual({ primary: fresh, secondary: service.keys.secondary });
    await page.screenshot({ path: join(SHOTS, 'service-keys.png'), animations: 'disabled' });

    const score = async (apiKey: string) => {
      const client = new PredictionClient({ address: service.grpcUri, apiKey, retries: 0 });
      try {
        return await client.scoreFile(SAMPLE_PHOTO).then(() => 'ok', (err: { codeName?: string }) => err.codeName ?? String(err));
      } finally {
        client.close();
      }
    };
    // The service reads its keys file again on its own schedule.
    await until(() => score(fresh), 30_000).toBe('ok');
    await until(() => score(old), 30_000).toBe('UNAUTHENTICATED');
    expect(await score(service.keys.secondary!)).toBe('ok');
  }, 120_000);

  it("shows the service's log", async () => {
    await go('#/services/vision', 'Service vision');
    await page.getByRole('button', { name: 'Service log' }).click();
    const log = page.getByRole('region', { name: 'Service log' }).locator('pre');
    await waitText(log, /ready/, 10_000);
    const api = (await ui.json('/api/services/vision/logs?tail=100')).body.log as string;
    const firstLine = api.split('\n')[0]!;
    expect(firstLine.length).toBeGreaterThan(0);
    expect(await log.textContent()).toContain(firstLine);
  });
});
