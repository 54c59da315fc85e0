import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { modelDir, tinyClassifier } from '../test-util/models';
import { buildImage, type BuildResult } from './build';
import { pushImage } from './push';
import { freePort, missingTools, runTool, startRegistry, type TestRegistry } from './test-registry';

const tmp = modelDir();
const layout = join(tmp.dir, 'layout');
let image: BuildResult;
beforeAll(async () => {
  const model = tmp.write('tiny.onnx', tinyClassifier());
  image = await buildImage({ name: 'tiny', version: 2, models: [{ name: 'tiny', version: 2, path: model }], outDir: layout, created: new Date('2024-01-01T00:00:00Z'), modelsOnly: true });
});
afterAll(() => tmp.cleanup());

/** A loopback HTTP server answering with `handler`; records the requests it saw. */
async function fakeRegistry(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ host: string; seen: string[]; server: Server }> {
  const seen: string[] = [];
  const server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    req.resume();
    req.on('end', () => handler(req, res));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { host: `127.0.0.1:${(server.address() as { port: number }).port}`, seen, server };
}

describe('pushImage', () => {
  const noRegistry = missingTools(['docker-registry', 'skopeo']);
  describe.skipIf(noRegistry)(`to docker-registry${noRegistry ? ` (skipped: ${noRegistry})` : ''}`, () => {
    let registry: TestRegistry;
    beforeAll(async () => {
      registry = await startRegistry();
    });
    afterAll(async () => registry?.stop());

    it('uploads the blobs and the manifest under the tag; the registry serves the same digest', async () => {
      const pushed = await pushImage(layout, `${registry.host}/team/tiny:v2`, { insecure: true });
      expect(pushed).toMatchObject({ digest: image.digest, reference: `${registry.host}/team/tiny:v2`, uploaded: 2, skipped: 0 });
      const head = await fetch(`http://${registry.host}/v2/team/tiny/manifests/v2`, { method: 'HEAD', headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
      expect(head.headers.get('docker-content-digest')).toBe(image.digest);
      const inspected = JSON.parse(runTool('skopeo', ['inspect', '--tls-verify=false', `docker://${registry.host}/team/tiny:v2`])) as { Digest: string };
      expect(inspected.Digest).toBe(image.digest);
      // The same blobs under another repository are uploaded again (blobs are per repository).
      expect(await pushImage(layout, `${registry.host}/other/tiny`, { insecure: true })).toMatchObject({ uploaded: 2, skipped: 0, reference: `${registry.host}/other/tiny:latest` });
    });
  });

  it('says so when no registry listens at the address', async () => {
    const port = await freePort();
    await expect(pushImage(layout, `127.0.0.1:${port}/tiny:1`, { insecure: true })).rejects.toMatchObject({
      code: 'ACCEL_ERR_INTERNAL',
      message: expect.stringMatching(new RegExp(`push to 127.0.0.1:${port}/tiny:1 failed: checking the API: cannot reach http://127.0.0.1:${port} \\(ECONNREFUSED\\)`)),
    });
  });

  it('refuses a bad reference and an image the layout does not hold, as usage errors', async () => {
    await expect(pushImage(layout, 'tiny:1', { insecure: true })).rejects.toMatchObject({ code: 'ACCEL_ERR_USAGE', message: expect.stringMatching(/no registry host/) });
    await expect(pushImage(layout, '127.0.0.1:1/tiny:1', { insecure: true, layoutRef: '9' })).rejects.toMatchObject({ code: 'ACCEL_ERR_USAGE', message: expect.stringMatching(/holds no image "9" \(references: 2\)/) });
    await expect(pushImage(join(tmp.dir, 'nothing'), '127.0.0.1:1/tiny:1')).rejects.toMatchObject({ code: 'ACCEL_ERR_USAGE', message: expect.stringMatching(/is not an OCI image layout/) });
  });

  it('reports a registry that asks for authentication', async () => {
    const fake = await fakeRegistry((_req, res) => res.writeHead(401, { 'www-authenticate': 'Bearer realm="x"' }).end());
    try {
      await expect(pushImage(layout, `${fake.host}/tiny:1`, { insecure: true })).rejects.toMatchObject({ code: 'ACCEL_ERR_INTERNAL', message: expect.stringMatching(/requires authentication/) });
    } finally {
      fake.server.close();
    }
  });

  it('fails when the registry stores the manifest under another digest, and passes its error text on', async () => {
    const fake = await fakeRegistry((req, res) => {
      if (req.url === '/v2/') return res.writeHead(200).end('{}');
      if (req.method === 'HEAD') return res.writeHead(404).end();
      if (req.method === 'POST' && req.url === '/v2/tiny/blobs/uploads/') return res.writeHead(202, { location: '/v2/tiny/blobs/uploads/abc?_state=x' }).end();
      if (req.method === 'PUT' && req.url!.startsWith('/v2/tiny/blobs/uploads/abc?_state=x&digest=sha256%3A')) return res.writeHead(201).end();
      if (req.method === 'PUT' && req.url === '/v2/tiny/manifests/1') return res.writeHead(201, { 'docker-content-digest': `sha256:${'0'.repeat(64)}` }).end();
      res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ errors: [{ code: 'UNSUPPORTED', message: 'nope' }] }));
    });
    try {
      await expect(pushImage(layout, `${fake.host}/tiny:1`, { insecure: true })).rejects.toThrow(`the registry stored the manifest as sha256:${'0'.repeat(64)}, not ${image.digest}`);
      expect(fake.seen.filter((s) => s.startsWith('PUT')).length).toBe(3);
      await expect(pushImage(layout, `${fake.host}/bad:1`, { insecure: true })).rejects.toThrow(/starting the upload of sha256:\w+ answered HTTP 400 \(UNSUPPORTED: nope\)/);
    } finally {
      fake.server.close();
    }
  });
});
