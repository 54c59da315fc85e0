import { createServer, request, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HAVE_CHROMIUM, launchChromium } from '../test-util/browser';
import { isLoopbackName, originProblem } from './origin';
import { startTestUi, type TestUi } from './test-server';


/** A raw HTTP request with the Host and Origin headers a browser would send. */
function raw(url: string, opts: { method?: string; host?: string; origin?: string; body?: string; type?: string }): Promise<{ status: number; body: any }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {};
    if (opts.host) headers.host = opts.host;
    if (opts.origin) headers.origin = opts.origin;
    if (opts.type) headers['content-type'] = opts.type;
    const req = request({ host: u.hostname, port: u.port, path: u.pathname, method: opts.method ?? 'GET', headers }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, body: text ? JSON.parse(text) : undefined }));
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

describe('originProblem', () => {
  it('knows loopback names', () => {
    for (const h of ['localhost', '127.0.0.1', '127.1.2.3', '[::1]', '::1', 'app.localhost']) expect(isLoopbackName(h)).toBe(true);
    for (const h of ['10.0.0.1', 'example.com', '127.0.0.1.example.com', '0.0.0.0']) expect(isLoopbackName(h)).toBe(false);
  });

  it('lets tools without Origin and same-origin pages through, refuses other origins and non-loopback Host names on loopback', () => {
    expect(originProblem({ host: '127.0.0.1:8080' }, { loopbackOnly: true })).toBeUndefined();
    expect(originProblem({ host: 'localhost:8080', origin: 'http://localhost:8080' }, { loopbackOnly: true })).toBeUndefined();
    expect(originProblem({ host: '127.0.0.1:8080', origin: 'http://127.0.0.1:9999' }, { loopbackOnly: true })).toMatch(/another origin/);
    expect(originProblem({ host: '127.0.0.1:8080', origin: 'null' }, { loopbackOnly: true })).toMatch(/another origin/);
    expect(originProblem({ host: 'rebound.example:8080', origin: 'http://rebound.example:8080' }, { loopbackOnly: true })).toMatch(/loopback host names/);
    expect(originProblem({}, { loopbackOnly: true })).toMatch(/loopback host names/);
    expect(originProblem({ host: 'accel.example:8080', origin: 'https://accel.example:8080' }, { loopbackOnly: false })).toBeUndefined();
    expect(originProblem({ host: 'accel.example:8080', origin: 'https://evil.example' }, { loopbackOnly: false })).toMatch(/another origin/);
  });
});

describe('the control plane against web pages of other sites', () => {
  let ui: TestUi;
  beforeAll(async () => {
    ui = await startTestUi();
  });
  afterAll(async () => ui?.close());

  it('answers a cross-origin request 403 ACCEL_ERR_FORBIDDEN_ORIGIN and registers nothing', async () => {
    const form = '--b\r\ncontent-disposition: form-data; name="name"\r\n\r\nplanted\r\n--b\r\ncontent-disposition: form-data; name="file"; filename="m.bin"\r\n\r\nx\r\n--b--\r\n';
    const res = await raw(`${ui.url}/api/models`, { method: 'POST', origin: 'http://evil.example', body: form, type: 'multipart/form-data; boundary=b' });
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('ACCEL_ERR_FORBIDDEN_ORIGIN');
    expect(await ui.ws.listModels()).toEqual([]);
  });

  it('answers a DNS-rebound name 403, health included, and a loopback name as usual', async () => {
    const rebound = await raw(`${ui.url}/api/health`, { host: `rebound.example:${new URL(ui.url).port}` });
    expect(rebound.status).toBe(403);
    expect(rebound.body.error.message).toMatch(/loopback host names/);
    expect((await raw(`${ui.url}/api/health`, { host: `localhost:${new URL(ui.url).port}` })).status).toBe(200);
    expect((await raw(`${ui.url}/api/models`, { origin: ui.url })).status).toBe(200);
  });

  it.skipIf(!HAVE_CHROMIUM)('stops a form that a page on another origin posts from a real browser, while our own page works', async () => {
    // The attacker's page: another port of this machine (another origin), posting a model upload form.
    const evil: Server = createServer((_req, res) => {
      res.setHeader('content-type', 'text/html');
      res.end(`<form id=f method=post enctype=multipart/form-data action="${ui.url}/api/models"><input name=name value=planted><input type=file name=file id=file></form><script>const t = new DataTransfer(); t.items.add(new File(['x'], 'm.bin')); document.getElementById('file').files = t.files; document.getElementById('f').submit()</script>`);
    });
    await new Promise<void>((r) => evil.listen(0, '127.0.0.1', r));
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const answer = page.waitForResponse((r) => r.url() === `${ui.url}/api/models`);
      await page.goto(`http://127.0.0.1:${(evil.address() as { port: number }).port}/`);
      expect((await answer).status()).toBe(403);
      expect(await ui.ws.listModels()).toEqual([]);
      // The dashboard itself, same origin, reads the API.
      await page.goto(`${ui.url}/`);
      expect(await page.evaluate(async () => (await fetch('/api/models', { method: 'GET' })).status)).toBe(200);
    } finally {
      await browser.close();
      evil.close();
    }
  });
});
