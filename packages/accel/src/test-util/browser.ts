import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Browser, Locator, Page } from 'playwright-core';
import { expect } from 'vitest';

/** Debian's chromium, which `scripts/system-packages.sh` installs; browser tests skip (and say so) without it. */
export const CHROMIUM = '/usr/bin/chromium';
export const HAVE_CHROMIUM = existsSync(CHROMIUM);
/** Where the dashboard tests write the screenshots the README shows. */
export const SHOTS = fileURLToPath(new URL('../../../../docs/screenshots/', import.meta.url));

/** Headless chromium as these machines run it: no sandbox (root), no GPU, no calls home. */
export async function launchChromium(): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
}

/** expect.poll with room for a busy 2-core machine (its default gives up after 1 s). */
export const until = <T>(fn: () => T | Promise<T>, timeout = 60_000) => expect.poll(fn, { timeout, interval: 200 });

/** Waits until `locator` shows text matching `re` (no timing assertion: the timeout only bounds a hang). */
export const waitText = (locator: Locator, re: RegExp, timeout = 60_000) =>
  expect.poll(async () => (await locator.textContent()) ?? '', { timeout, interval: 300 }).toMatch(re);

/** Opens `hash` of the dashboard at `url` and waits for the page's heading. */
export async function openPage(page: Page, url: string, hash: string, heading: string | RegExp): Promise<void> {
  await page.goto(`${url}/${hash}`);
  await until(() => page.getByRole('heading', { level: 1, name: heading }).isVisible()).toBe(true);
}
