/**
 * The dashboard end to end: playwright-core drives Debian's chromium against `accel ui` started
 * in this process. A real trained TF.js model (nsfwjs MobileNetV2, the one `npm run demo` uses)
 * is registered by upload, converted, built into an image, deployed with keys and scored through
 * the pages; then everything is deleted in dependency order. Screenshots of the main steps are
 * written to docs/screenshots/ (the README shows them).
 */
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PredictionClient, topK } from '@accel/client';
import type { Browser, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SAMPLE_PHOTO } from '../assets';
import { realModel } from '../convert/npm-models';
import { createWorkspaceKey } from './keys';
import { startTestUi, type TestUi } from './test-server';

const CHROMIUM = '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
if (!HAVE_CHROMIUM) {
  console.warn(`ui/e2e.test.ts skipped: ${CHROMIUM} is absent (scripts/system-packages.sh installs Debian's chromium).`);
}

const SHOTS = fileURLToPath(new URL('../../../../docs/screenshots/', import.meta.url));
const LABELS = ['Drawing', 'Hentai', 'Neutral', 'Porn', 'Sexy'];
const LONG = 6 * 60_000;

/** expect.poll with room for a busy 2-core machine (its default gives up after 1 s). */
const until = <T>(fn: () => T | Promise<T>, timeout = 60_000) => expect.poll(fn, { timeout, interval: 200 });

/** Presses Tab until `target` has the focus; fails after `max` presses. */
async function tabTo(page: Page, target: Locator, max = 40): Promise<void> {
  for (let i = 0; i < max; i++) {
    await page.keyboard.press('Tab');
    if (await target.evaluate((el) => el === document.activeElement)) return;
  }
  throw new Error(`${max} presses of Tab did not reach ${String(target)}`);
}

describe.skipIf(!HAVE_CHROMIUM)('dashboard end to end (playwright-core + chromium)', () => {
  let ui: TestUi;
  let browser: Browser;
  let page: Page;
  let key: string;

  const go = async (hash: string, heading: string | RegExp) => {
    await page.goto(`${ui.url}/${hash}`);
    await until(() => page.getByRole('heading', { level: 1, name: heading }).isVisible()).toBe(true);
  };
  const shot = async (name: string) => {
    const path = join(SHOTS, name);
    await page.screenshot({ path, animations: 'disabled' });
    expect(statSync(path).size).toBeLessThan(250_000);
  };
  /** Waits until `locator` shows text matching `re` (long jobs: generous timeout, no timing assertion). */
  const waitText = (locator: Locator, re: RegExp, timeout = LONG) =>
    expect.poll(async () => (await locator.textContent()) ?? '', { timeout, interval: 500 }).toMatch(re);

  /** Deletes through the page: the dry-run dialog must list `expected`, in order. */
  const deleteThrough = async (hash: string, heading: string, button: string, expected: string[]) => {
    await go(hash, heading);
    await page.getByRole('button', { name: button }).click();
    const dialog = page.getByRole('dialog', { name: /^Delete / });
    await until(() => dialog.isVisible()).toBe(true);
    expect(await dialog.getByRole('list', { name: 'What would be deleted, in order' }).getByRole('listitem').allTextContents()).toEqual(expected);
    await dialog.getByRole('button', { name: /^Delete( \d+ items)?$/ }).click();
    await until(() => dialog.count()).toBe(0);
    await until(() => page.getByRole('button', { name: button }).count()).toBe(0);
  };

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    ui = await startTestUi();
    key = createWorkspaceKey(ui.dir);
    ui.useKey(key);
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.setDefaultTimeout(30_000);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    if (ui) {
      // A failed run must not leave a server process behind.
      for (const s of await ui.ws.listServices().catch(() => [])) await ui.ws.delete([{ kind: 'service', id: s.name }], { cascade: true }).catch(() => {});
      await ui.close();
    }
  }, 120_000);

  it('asks for the workspace key, shows why a wrong one is refused, and works with the right one', async () => {
    await page.goto(`${ui.url}/#/models`);
    const dialog = page.getByRole('dialog', { name: 'Workspace API key' });
    await until(() => dialog.isVisible()).toBe(true);
    await dialog.getByLabel('API key').fill('not-the-key');
    await dialog.getByRole('button', { name: 'Use key' }).click();
    await waitText(dialog.getByRole('alert'), /ACCEL_ERR_UNAUTHENTICATED/, 10_000);
    await dialog.getByLabel('API key').fill(key);
    await dialog.getByRole('button', { name: 'Use key' }).click();
    await until(() => dialog.isVisible()).toBe(false);
    await waitText(page.getByRole('main'), /No models yet/, 10_000);
  });

  it('shows an API error to the user (register with an invalid name)', async () => {
    await go('#/models', 'Models');
    await page.getByLabel('Name', { exact: true }).fill('Not A Valid Name!');
    await page.getByLabel('Model files').setInputFiles({ name: 'model.pb', mimeType: 'application/octet-stream', buffer: Buffer.from('not a model') });
    await page.getByRole('button', { name: 'Register' }).click();
    await waitText(page.getByRole('alert').filter({ hasText: 'ACCEL_ERR' }), /ACCEL_ERR_BAD_REQUEST|ACCEL_ERR_BAD_NAME/, 10_000);
    expect(await ui.ws.listModels()).toEqual([]);
  });

  it('creates a local compute target with the keyboard only', async () => {
    await go('#/models', 'Models');
    await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
    await tabTo(page, page.getByRole('button', { name: 'Skip to content' }), 3);
    await tabTo(page, page.getByRole('link', { name: 'Compute' }));
    await page.keyboard.press('Enter');
    await until(() => page.getByRole('heading', { level: 1, name: 'Compute' }).evaluate((el) => el === document.activeElement)).toBe(true);
    await tabTo(page, page.getByLabel('Name', { exact: true }));
    await page.keyboard.type('edge');
    await tabTo(page, page.getByLabel('Type', { exact: true }), 2);
    expect(await page.getByLabel('Type', { exact: true }).inputValue()).toBe('local');
    await tabTo(page, page.getByLabel('Accelerators', { exact: true }), 2);
    await page.keyboard.press('Control+A');
    await page.keyboard.type('1');
    await tabTo(page, page.getByRole('button', { name: 'Create compute target' }), 4);
    await page.keyboard.press('Enter');
    await waitText(page.getByRole('row', { name: /edge/ }), /0 in use, 1 free of 1/, 15_000);
    expect((await ui.ws.getCompute('edge')).type).toBe('local');
    // The main actions of the other pages are reachable too.
    await go('#/models', 'Models');
    await tabTo(page, page.getByRole('button', { name: 'Register' }));
    await go('#/services', 'Services');
    await tabTo(page, page.getByRole('button', { name: 'Deploy' }));
  });

  it('registers the trained model by uploading its folder, converts it watching the live log', async () => {
    const folder = dirname(realModel('nsfwjs/mobilenet_v2').modelJson);
    await go('#/models', 'Models');
    await page.getByLabel('Name', { exact: true }).fill('nsfw-mobilenet');
    await page.getByLabel('Description').fill('nsfwjs MobileNetV2 (TF.js layers model)');
    await page.getByLabel('Tags').fill('framework=tfjs, task=classify');
    await page.getByLabel('Model folder').setInputFiles(folder);
    await page.getByRole('button', { name: 'Register' }).click();
    await waitText(page.getByRole('row', { name: /nsfw-mobilenet/ }), /source/, 60_000);
    const source = await ui.ws.getModel('nsfw-mobilenet');
    expect(source.tags).toEqual({ framework: 'tfjs', task: 'classify' });

    await page.getByRole('button', { name: 'Convert nsfw-mobilenet:1' }).click();
    const dialog = page.getByRole('dialog', { name: 'Convert nsfw-mobilenet:1 to ONNX' });
    await dialog.getByLabel('Output model name').fill('nsfw-mobilenet-onnx');
    await dialog.getByLabel('Scale', { exact: true }).fill('1/255');
    await dialog.getByLabel('Mean', { exact: true }).fill('0');
    await dialog.getByLabel('Std', { exact: true }).fill('1');
    await dialog.getByLabel('Resize').selectOption('stretch');
    await dialog.getByLabel('Class labels').fill(LABELS.join(', '));
    await dialog.getByRole('button', { name: 'Convert' }).click();
    await until(() => page.url()).toMatch(/#\/jobs\/.+/);
    const log = page.getByLabel(/^Log of job /);
    const state = page.getByRole('status', { name: 'Job state' });
    // A few lines in (or done, whichever comes first): the log is streaming.
    await expect.poll(async () => ((await log.textContent()) ?? '').split('\n').length > 4 || /succeeded|failed/.test((await state.textContent()) ?? ''), { timeout: LONG }).toBe(true);
    await shot('job-log.png');
    await waitText(page.getByRole('status', { name: 'Job state' }), /succeeded|failed|cancelled/);
    expect(await page.getByRole('status', { name: 'Job state' }).textContent()).toMatch(/succeeded/);
    const converted = await ui.ws.getModel('nsfw-mobilenet-onnx');
    expect(converted.version).toBe(1);
  }, LONG);

  it('builds an image from the converted model', async () => {
    await go('#/models', 'Models');
    await waitText(page.getByRole('row', { name: /nsfw-mobilenet-onnx/ }), /converted/, 10_000);
    await page.getByRole('button', { name: 'Build image from nsfw-mobilenet-onnx:1' }).click();
    const dialog = page.getByRole('dialog', { name: /^Build an image/ });
    await dialog.getByLabel('Image name').fill('nsfw-image');
    await dialog.getByRole('button', { name: 'Build image' }).click();
    await until(() => page.url()).toMatch(/#\/jobs\/.+/);
    await waitText(page.getByRole('status', { name: 'Job state' }), /succeeded|failed|cancelled/);
    expect(await page.getByRole('status', { name: 'Job state' }).textContent()).toMatch(/succeeded/);
    expect((await ui.ws.getImage('nsfw-image')).state).toBe('Succeeded');
  }, LONG);

  it('deploys the image with keys and waits until it is Healthy', async () => {
    await go('#/services', 'Services');
    await page.getByLabel('Service name').fill('nsfw-demo');
    await until(() => page.getByLabel('Image', { exact: true }).locator('option').allTextContents()).toContain('nsfw-image:1');
    await page.getByLabel('Image', { exact: true }).selectOption('nsfw-image:1');
    await page.getByLabel('Compute target').selectOption('edge');
    await page.getByLabel('Require API keys').check();
    await page.getByRole('button', { name: 'Deploy' }).click();
    await waitText(page.getByRole('row', { name: /nsfw-demo/ }), /Healthy/);
    const svc = await ui.ws.getService('nsfw-demo');
    expect(svc.keys.primary).toBeTruthy();
    await waitText(page.getByRole('row', { name: /nsfw-demo/ }), new RegExp(svc.scoringUri.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')), 10_000);
  }, LONG);

  it('scores the sample photo on Try it: the top 5 shown equal the client library\'s', async () => {
    await go('#/try/nsfw-demo', 'Try it');
    await until(() => page.getByLabel('Service', { exact: true }).inputValue()).toBe('nsfw-demo');
    await page.getByLabel('Image to score').setInputFiles(SAMPLE_PHOTO);
    const bars = page.getByRole('list', { name: 'Top 5 classes' }).getByRole('listitem');
    await expect.poll(() => bars.count(), { timeout: 60_000 }).toBe(5);
    const shown = (await bars.allTextContents()).map((t) => t.replace(/\s+/g, ' ').trim());

    const svc = await ui.ws.getService('nsfw-demo');
    const client = new PredictionClient({ address: svc.grpcUri, apiKey: svc.keys.primary });
    try {
      const expected = topK(await client.scoreFile(SAMPLE_PHOTO), 5, LABELS).map((t) => `${t.label} ${(t.probability * 100).toFixed(2)}%`);
      expect(shown).toEqual(expected);
    } finally {
      client.close();
    }
    await waitText(page.getByLabel('Latency'), /Latency: \d+(\.\d+)? ms/, 5_000);
    expect(await page.getByRole('img', { name: /^Preview of / }).isVisible()).toBe(true);
    await shot('try-it.png');

    // SSD answers: no detector is deployed here, so the score answer is stubbed in the browser to check the drawing only.
    const fake = { service: 'nsfw-demo', model: 'ssd', version: 1, latencyMs: 5, width: 900, height: 600, top: [{ index: 0, label: 'cat', probability: 0.9 }],
      detections: [{ box: [0.1, 0.2, 0.6, 0.7], label: 'cat', score: 0.91 }, { box: [0.5, 0.5, 0.9, 0.95], label: 'dog', score: 0.55 }] };
    await page.route('**/api/services/nsfw-demo/score*', (route) => route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify(fake) }));
    await page.getByRole('button', { name: 'Score again' }).click();
    const boxes = page.getByRole('img', { name: 'Detections: cat 91%, dog 55%' });
    await until(() => boxes.locator('rect').count()).toBe(2);
    expect(await boxes.locator('text').allTextContents()).toEqual(['cat 91%', 'dog 55%']);
    await page.unroute('**/api/services/nsfw-demo/score*');
  }, LONG);

  it('draws the live metrics of the service while it is scored', async () => {
    await go('#/services/nsfw-demo', 'Service nsfw-demo');
    const svc = await ui.ws.getService('nsfw-demo');
    const client = new PredictionClient({ address: svc.grpcUri, apiKey: svc.keys.primary });
    const latency = page.getByRole('img', { name: 'Latency' });
    const points = async (chart: Locator) => ((await chart.count()) ? Number(await chart.getAttribute('data-points')) : 0);
    try {
      // Score until two samples have seen requests (the page samples every 2 s).
      for (let i = 0; i < 120 && (await points(latency)) < 4; i++) {
        await client.scoreFile(SAMPLE_PHOTO);
        await page.waitForTimeout(250);
      }
    } finally {
      client.close();
    }
    expect(await points(latency)).toBeGreaterThanOrEqual(4);
    expect(await points(page.getByRole('img', { name: 'Requests per second' }))).toBeGreaterThanOrEqual(2);
    await waitText(page.getByRole('figure').filter({ hasText: 'Latency' }), /p50 \d+(\.\d+)? ms, p99 \d+(\.\d+)? ms/, 10_000);
    await shot('service-metrics.png');
  }, LONG);

  it('shows the lineage chain: source -> converted -> image -> service, and the compute target', async () => {
    await go('#/lineage', 'Lineage');
    for (const name of [/^model nsfw-mobilenet:1, source/, /^model nsfw-mobilenet-onnx:1, converted/, /^image nsfw-image:1/, /^service nsfw-demo/, /^compute edge/]) {
      await until(() => page.getByRole('link', { name }).count()).toBe(1);
    }
    await page.getByText('The graph as a list').click();
    const links = await page.getByRole('list', { name: 'Lineage links' }).getByRole('listitem').allTextContents();
    expect(links).toEqual(expect.arrayContaining([
      'model nsfw-mobilenet-onnx:1 is derived from model nsfw-mobilenet:1',
      'image nsfw-image:1 uses model nsfw-mobilenet-onnx:1',
      'service nsfw-demo uses image nsfw-image:1',
      'service nsfw-demo uses compute edge',
    ]));
    // Nodes are keyboard-focusable.
    await page.getByRole('link', { name: /^service nsfw-demo/ }).focus();
    await page.keyboard.press('Enter');
    await until(() => page.url()).toMatch(/#\/services\/nsfw-demo$/);
    await go('#/models', 'Models');
    await until(() => page.getByRole('link', { name: /^service nsfw-demo/ }).count()).toBe(1);
    await shot('models.png');
  });

  it('deletes everything in dependency order, each dry run listing what goes', async () => {
    // What deleting the image would take with it (the service that uses it), then cancel.
    await go('#/images', 'Images');
    await page.getByRole('button', { name: 'Delete image nsfw-image:1' }).click();
    const preview = page.getByRole('dialog', { name: 'Delete image nsfw-image:1?' });
    await until(() => preview.getByRole('listitem').allTextContents()).toEqual(['service nsfw-demo', 'image nsfw-image:1']);
    await shot('delete-confirm.png');
    await preview.getByRole('button', { name: 'Cancel' }).click();
    await until(() => preview.count()).toBe(0);
    expect((await ui.ws.listServices()).length).toBe(1);

    await deleteThrough('#/services', 'Services', 'Delete service nsfw-demo', ['service nsfw-demo']);
    await deleteThrough('#/compute', 'Compute', 'Delete compute edge', ['compute edge']);
    await deleteThrough('#/images', 'Images', 'Delete image nsfw-image:1', ['image nsfw-image:1']);
    await deleteThrough('#/models', 'Models', 'Delete model nsfw-mobilenet-onnx:1', ['model nsfw-mobilenet-onnx:1']);
    await deleteThrough('#/models', 'Models', 'Delete model nsfw-mobilenet:1', ['model nsfw-mobilenet:1']);

    expect(await ui.ws.listServices()).toEqual([]);
    expect(await ui.ws.listComputes()).toEqual([]);
    expect(await ui.ws.listImages()).toEqual([]);
    expect(await ui.ws.listModels()).toEqual([]);
    await go('#/lineage', 'Lineage');
    await waitText(page.getByRole('main'), /the graph is empty/, 10_000);
  }, LONG);
});
