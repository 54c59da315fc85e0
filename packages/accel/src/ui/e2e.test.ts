/**
 * The dashboard end to end: playwright-core drives Debian's chromium against `accel ui` started
 * in this process. A real trained TF.js model (nsfwjs MobileNetV2, the one `npm run demo` uses)
 * is registered by upload, converted, built into an image, deployed with keys and scored through
 * the pages. A small SSD detector (an ONNX folder with its sidecar) goes the same way onto a second
 * compute target, and the boxes Try it draws are checked against the API's detections. Then
 * everything is deleted in dependency order. Screenshots of the main steps are written to
 * docs/screenshots/ (the README shows them). e2e-actions.test.ts covers the other actions.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { PredictionClient, topK } from '@accel/client';
import type { Browser, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SAMPLE_PHOTO } from '../assets';
import { realModel } from '../convert/npm-models';
import { CHROMIUM, HAVE_CHROMIUM, SHOTS, launchChromium, openPage, until, waitText as waitTextWithin } from '../test-util/browser';
import { twoBoxSsd } from '../test-util/models';
import { createWorkspaceKey } from './keys';
import { startTestUi, type TestUi } from './test-server';

if (!HAVE_CHROMIUM) {
  console.warn(`ui/e2e.test.ts skipped: ${CHROMIUM} is absent (scripts/system-packages.sh installs Debian's chromium).`);
}

const LABELS = ['Drawing', 'Hentai', 'Neutral', 'Porn', 'Sexy'];
const SSD_LABELS = ['background', 'cat', 'dog'];
const LONG = 6 * 60_000;


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
  let scratch: string;

  const go = (hash: string, heading: string | RegExp) => openPage(page, ui.url, hash, heading);
  const shot = async (name: string) => {
    const path = join(SHOTS, name);
    await page.screenshot({ path, animations: 'disabled' });
    expect(statSync(path).size).toBeLessThan(250_000);
  };
  /** Long jobs: a generous bound on a hang, no timing assertion. */
  const waitText = (locator: Locator, re: RegExp, timeout = LONG) => waitTextWithin(locator, re, timeout);

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
    scratch = mkdtempSync(join(tmpdir(), 'accel-e2e-'));
    ui = await startTestUi();
    key = createWorkspaceKey(ui.dir);
    ui.useKey(key);
    browser = await launchChromium();
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
    if (scratch) rmSync(scratch, { recursive: true, force: true });
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
    await page.getByLabel('Tags', { exact: true }).fill('framework=tfjs, task=classify');
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

  }, LONG);

  it('registers an SSD detector folder, builds and deploys it onto a second compute target; Try it draws the API\'s detections', async () => {
    // As convert leaves a model: model.onnx with its sidecar (SSD post-processing, class labels).
    const folder = join(scratch, 'tiny-ssd');
    mkdirSync(folder);
    writeFileSync(join(folder, 'model.onnx'), twoBoxSsd());
    writeFileSync(join(folder, 'model.accel.json'), JSON.stringify({ postprocess: { type: 'ssd', maxDetections: 10 }, labels: SSD_LABELS }));
    await go('#/models', 'Models');
    await page.getByLabel('Name', { exact: true }).fill('tiny-ssd');
    // No format tag: a folder with model.onnx at its top is taken as ONNX, ready to build (not a TensorFlow source).
    await page.getByLabel('Tags', { exact: true }).fill('task=detect');
    await page.getByLabel('Model folder').setInputFiles(folder);
    await page.getByRole('button', { name: 'Register' }).click();
    await waitText(page.getByRole('row', { name: /^tiny-ssd 1 / }), /onnx/, 30_000);
    await page.getByRole('button', { name: 'Build image from tiny-ssd:1' }).click();
    const dialog = page.getByRole('dialog', { name: /^Build an image/ });
    await dialog.getByLabel('Image name').fill('ssd-image');
    await dialog.getByRole('button', { name: 'Build image' }).click();
    await until(() => page.url()).toMatch(/#\/jobs\/.+/);
    await waitText(page.getByRole('status', { name: 'Job state' }), /succeeded|failed|cancelled/, 150_000);
    expect(await page.getByRole('status', { name: 'Job state' }).textContent()).toMatch(/succeeded/);

    await go('#/compute', 'Compute');
    await page.getByLabel('Name', { exact: true }).fill('edge-2');
    await page.getByRole('button', { name: 'Create compute target' }).click();
    await waitText(page.getByRole('row', { name: /edge-2/ }), /0 in use, 1 free of 1/, 15_000);
    await go('#/services', 'Services');
    await page.getByLabel('Service name').fill('ssd-demo');
    await until(() => page.getByLabel('Image', { exact: true }).locator('option').allTextContents()).toContain('ssd-image:1');
    await page.getByLabel('Image', { exact: true }).selectOption('ssd-image:1');
    await page.getByLabel('Compute target').selectOption('edge-2');
    await page.getByRole('button', { name: 'Deploy' }).click();
    await waitText(page.getByRole('row', { name: /ssd-demo/ }), /Healthy|Failed/, 150_000);
    const deployed = await ui.ws.getService('ssd-demo');
    expect(deployed.state, `ssd-demo: ${deployed.errors}`).toBe('Healthy');

    await go('#/try/ssd-demo', 'Try it');
    await until(() => page.getByLabel('Service', { exact: true }).inputValue()).toBe('ssd-demo');
    await page.getByLabel('Image to score').setInputFiles(SAMPLE_PHOTO);
    const boxes = page.getByRole('img', { name: /^Detections: / });
    await until(() => boxes.locator('rect').count()).toBeGreaterThan(0);
    const direct = await ui.json('/api/services/ssd-demo/score?k=5', { method: 'POST', body: new Uint8Array(readFileSync(SAMPLE_PHOTO)), headers: { 'content-type': 'image/jpeg' } });
    expect(direct.status).toBe(200);
    const { detections, width, height } = direct.body as { detections: Array<{ box: number[]; label: string; score: number }>; width: number; height: number };
    expect(detections.map((d) => d.label)).toEqual(['cat', 'dog']);
    const says = detections.map((d) => `${d.label} ${(d.score * 100).toFixed(0)}%`);
    expect(await boxes.getAttribute('aria-label')).toBe(`Detections: ${says.join(', ')}`);
    expect(await boxes.locator('text').allTextContents()).toEqual(says);
    // Each box where the API puts it, in the uploaded image's pixels.
    const drawn = await boxes.locator('rect').evaluateAll((rects) => rects.map((r) => ['x', 'y', 'width', 'height'].map((a) => Number(r.getAttribute(a)))));
    const expected = detections.map(({ box: [y0, x0, y1, x1] }) => [x0! * width, y0! * height, (x1! - x0!) * width, (y1! - y0!) * height]);
    expect(drawn.length).toBe(expected.length);
    drawn.forEach((r, i) => r.forEach((v, j) => expect(v).toBeCloseTo(expected[i]![j]!, 3)));
    await waitText(page.getByRole('region', { name: 'Result' }), new RegExp(`${detections.length} objects detected`), 5_000);
    await shot('detections.png');
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
    for (const name of [/^model nsfw-mobilenet:1, source/, /^model nsfw-mobilenet-onnx:1, converted/, /^image nsfw-image:1/, /^service nsfw-demo/, /^compute edge(,|$)/]) {
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
    expect((await ui.ws.listServices()).map((s) => s.name).sort()).toEqual(['nsfw-demo', 'ssd-demo']);

    await deleteThrough('#/services', 'Services', 'Delete service nsfw-demo', ['service nsfw-demo']);
    await deleteThrough('#/services', 'Services', 'Delete service ssd-demo', ['service ssd-demo']);
    await deleteThrough('#/compute', 'Compute', 'Delete compute edge-2', ['compute edge-2']);
    await deleteThrough('#/compute', 'Compute', 'Delete compute edge', ['compute edge']);
    await deleteThrough('#/images', 'Images', 'Delete image nsfw-image:1', ['image nsfw-image:1']);
    await deleteThrough('#/images', 'Images', 'Delete image ssd-image:1', ['image ssd-image:1']);
    await deleteThrough('#/models', 'Models', 'Delete model nsfw-mobilenet-onnx:1', ['model nsfw-mobilenet-onnx:1']);
    await deleteThrough('#/models', 'Models', 'Delete model nsfw-mobilenet:1', ['model nsfw-mobilenet:1']);
    await deleteThrough('#/models', 'Models', 'Delete model tiny-ssd:1', ['model tiny-ssd:1']);

    expect(await ui.ws.listServices()).toEqual([]);
    expect(await ui.ws.listComputes()).toEqual([]);
    expect(await ui.ws.listImages()).toEqual([]);
    expect(await ui.ws.listModels()).toEqual([]);
    await go('#/lineage', 'Lineage');
    await waitText(page.getByRole('main'), /the graph is empty/, 10_000);
  }, LONG);
});
