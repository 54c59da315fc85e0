import { afterEach, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { PredictionClient, type PredictionClientOptions } from './client';
import { PredictionError, StatusCode, httpStatusToCode } from './errors';
import { jsonToTensor, tensorToJson } from './rest';

// ---------------------------------------------------------------------------
// A fake TF Serving REST server that records requests. A handler returns
// [status, body] (body JSON-encoded unless a string), or null to hang.
// ---------------------------------------------------------------------------
interface Req { method: string; url: string; headers: IncomingHttpHeaders; body: any }
type Handler = (req: Req, n: number) => [number, unknown] | null;

const servers: Server[] = [];
const clients: PredictionClient[] = [];

async function fakeRest(handler: Handler): Promise<{ port: number; requests: Req[] }> {
  const requests: Req[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const r: Req = { method: req.method!, url: req.url!, headers: req.headers, body: text ? JSON.parse(text) : undefined };
      requests.push(r);
      const reply = handler(r, requests.length);
      if (!reply) return;
      const [status, body] = reply;
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(typeof body === 'string' ? body : JSON.stringify(body));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  servers.push(server);
  return { port: (server.address() as AddressInfo).port, requests };
}

function client(port: number, opts: Partial<PredictionClientOptions> = {}): PredictionClient {
  const c = new PredictionClient({ address: `http://127.0.0.1:${port}`, protocol: 'rest', modelName: 'resnet50', backoffMs: 5, ...opts });
  clients.push(c);
  return c;
}

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => { s.closeAllConnections(); s.close(r); })));
});

async function rejection(p: Promise<unknown>): Promise<PredictionError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(PredictionError);
  return err as PredictionError;
}

describe('PredictionClient over REST', () => {
  it('POSTs a columnar body with b64 images and reads a bare single-output response', async () => {
    const fake = await fakeRest(() => [200, { outputs: [[0.1, 0.9]] }]);
    const probs = await client(fake.port, { apiKey: 'k3y', serviceName: 'svc' }).scoreImage([Buffer.from('jpeg-1'), Uint8Array.of(0xff)]);
    expect(probs).toBeInstanceOf(Float32Array);
    expect(Array.from(probs)).toEqual([Math.fround(0.1), Math.fround(0.9)]);

    const req = fake.requests[0]!;
    expect(req.method).toBe('POST');
    expect(req.url).toBe('/v1/models/resnet50:predict');
    expect(req.headers['content-type']).toBe('application/json');
    expect(req.headers.authorization).toBe('Bearer k3y');
    expect(req.headers['x-accel-service']).toBe('svc');
    expect(req.body).toEqual({ inputs: { images: [{ b64: Buffer.from('jpeg-1').toString('base64') }, { b64: '/w==' }] } });
  });

  it('addresses versions and labels in the URL and sends signature_name', async () => {
    const fake = await fakeRest(() => [200, { outputs: [1] }]);
    const c = client(fake.port);
    await c.scoreImage(Buffer.from('x'), { version: 3 });
    await c.scoreImage(Buffer.from('x'), { model: 'vgg 16', version: 'canary', signatureName: 'serving_default' });
    expect(fake.requests.map((r) => r.url)).toEqual(['/v1/models/resnet50/versions/3:predict', '/v1/models/vgg%2016/labels/canary:predict']);
    expect(fake.requests[1]!.body.signature_name).toBe('serving_default');
  });

  it('scoreTensor sends nested arrays built from data and shape', async () => {
    const fake = await fakeRest(() => [200, { outputs: { output_alias: [[1, 2]], extra: 'ignored' } }]);
    const out = await client(fake.port).scoreTensor(Float32Array.of(1, 2, 3, 4, 5, 6), [1, 2, 3], { inputName: 'x' });
    expect(fake.requests[0]!.body.inputs).toEqual({ x: [[[1, 2, 3], [4, 5, 6]]] });
    expect(Array.from(out)).toEqual([1, 2]);
  });

  it('picks requested outputs from a map response and decodes shapes, strings and b64', async () => {
    const fake = await fakeRest(() => [200, { outputs: { probs: [[0.5, 0.25], [0.125, 1]], names: [['a', 'b']], raw_bytes: [{ b64: 'AAE=' }] } }]);
    const c = client(fake.port);
    const t = await c.scoreImageTensors(Buffer.from('x'), { outputs: ['probs', 'names', 'raw_bytes'] });
    expect(t.probs).toEqual({ dtype: 'DT_FLOAT', shape: [2, 2], data: Float32Array.of(0.5, 0.25, 0.125, 1) });
    expect(t.names!.shape).toEqual([1, 2]);
    expect((t.names!.data as Buffer[]).map(String)).toEqual(['a', 'b']);
    expect(t.raw_bytes!.data).toEqual([Buffer.from([0, 1])]);

    const err = await rejection(c.scoreImage(Buffer.from('x'), { outputs: ['nope'] }));
    expect(err.code).toBe(StatusCode.INVALID_ARGUMENT);
    expect(err.message).toContain('output "nope" is not in the response; it has: probs, names, raw_bytes');
  });

  it.each([
    [400, StatusCode.INVALID_ARGUMENT],
    [401, StatusCode.UNAUTHENTICATED],
    [404, StatusCode.NOT_FOUND],
    [413, StatusCode.RESOURCE_EXHAUSTED],
    [429, StatusCode.RESOURCE_EXHAUSTED],
    [500, StatusCode.INTERNAL],
  ])('maps HTTP %i to gRPC code %i with the body error, without retrying', async (http, code) => {
    const fake = await fakeRest(() => [http, { error: `server says ${http}` }]);
    const err = await rejection(client(fake.port).scoreImage(Buffer.from('x')));
    expect(err).toMatchObject({ code, httpStatus: http, details: `server says ${http}`, attempts: 1 });
    expect(fake.requests).toHaveLength(1);
  });

  it('retries 503 (UNAVAILABLE) and then succeeds', async () => {
    const fake = await fakeRest((_r, n) => (n < 3 ? [503, { error: 'warming up' }] : [200, { outputs: [0.5] }]));
    expect(Array.from(await client(fake.port).scoreImage(Buffer.from('x')))).toEqual([0.5]);
    expect(fake.requests).toHaveLength(3);
  });

  it('keeps a non-JSON error body as the message', async () => {
    const fake = await fakeRest(() => [502, 'Bad Gateway from proxy']);
    const err = await rejection(client(fake.port, { retries: 0 }).scoreImage(Buffer.from('x')));
    expect(err).toMatchObject({ code: StatusCode.UNAVAILABLE, httpStatus: 502, details: 'Bad Gateway from proxy' });
  });

  it('honours the deadline when the server never answers', async () => {
    const fake = await fakeRest(() => null);
    const started = Date.now();
    const err = await rejection(client(fake.port).scoreImage(Buffer.from('x'), { deadlineMs: 300 }));
    expect(err.code).toBe(StatusCode.DEADLINE_EXCEEDED);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('fails with UNAVAILABLE (retried) when nothing listens', async () => {
    const fake = await fakeRest(() => [200, {}]);
    await new Promise((r) => servers.pop()!.close(r));
    const err = await rejection(client(fake.port, { retries: 1 }).scoreImage(Buffer.from('x')));
    expect(err.code).toBe(StatusCode.UNAVAILABLE);
    expect(err.attempts).toBe(2);
  });

  it('needs a model name, and says why', async () => {
    const fake = await fakeRest(() => [200, { outputs: [1] }]);
    await expect(client(fake.port, { modelName: undefined }).scoreImage(Buffer.from('x'))).rejects.toThrow(
      /REST needs a model name.*\/v1\/models\/\{name\}.*'modelName'/,
    );
    expect(fake.requests).toHaveLength(0);
  });

  it('getModelStatus and getModelMetadata GET the model URLs', async () => {
    const fake = await fakeRest((r) =>
      r.url.endsWith('/metadata')
        ? [200, { model_spec: { name: 'resnet50', version: '2' }, metadata: { signature_def: { signature_def: { serving_default: { method_name: 'tensorflow/serving/predict' } } } } }]
        : [200, { model_version_status: [{ version: '2', state: 'AVAILABLE', status: { error_code: 'OK', error_message: '' } }] }],
    );
    const c = client(fake.port);
    expect((await c.getModelStatus(undefined, 2)).model_version_status![0]!.state).toBe('AVAILABLE');
    const md = await c.getModelMetadata();
    expect(md.metadata.signature_def!.signature_def!.serving_default!.method_name).toBe('tensorflow/serving/predict');
    expect(fake.requests.map((r) => `${r.method} ${r.url}`)).toEqual(['GET /v1/models/resnet50/versions/2', 'GET /v1/models/resnet50/metadata']);
  });

  it('predict converts a raw PredictRequest to JSON and the response back to TensorProtos', async () => {
    const fake = await fakeRest(() => [200, { outputs: { y: [[0.5]], z: [1] } }]);
    const res = await client(fake.port).predict({
      model_spec: { name: 'half_plus_two', version: { value: '1' } },
      inputs: { x: { dtype: 'DT_FLOAT', tensor_shape: { dim: [{ size: '2' }] }, float_val: [1, 2] } },
      output_filter: ['y'],
    });
    expect(fake.requests[0]!.url).toBe('/v1/models/half_plus_two/versions/1:predict');
    expect(fake.requests[0]!.body).toEqual({ inputs: { x: [1, 2] } });
    expect(Object.keys(res.outputs)).toEqual(['y']);
    expect(res.outputs.y!.dtype).toBe('DT_FLOAT');
    expect(res.outputs.y!.tensor_shape!.dim).toEqual([{ size: '1' }, { size: '1' }]);
  });

  it('checks the tls option against useSsl and rootCerts', () => {
    expect(new PredictionClient({ address: 'h:1', protocol: 'rest', tls: true }).target).toBe('https://h:1');
    expect(new PredictionClient({ address: 'h:1', protocol: 'rest', tls: { ca: 'PEM' } }).target).toBe('https://h:1');
    expect(new PredictionClient({ address: 'h:1', protocol: 'rest', tls: false }).target).toBe('http://h:1');
    expect(() => new PredictionClient({ address: 'h:1', tls: true, useSsl: false })).toThrow("'useSsl' false contradicts 'tls'");
    expect(() => new PredictionClient({ address: 'h:1', tls: { ca: 'A' }, rootCerts: 'B' })).toThrow("give the CA once");
    expect(() => new PredictionClient({ address: 'h:1', rootCerts: 'PEM', useSsl: false })).toThrow('needs TLS, but TLS is off');
    expect(() => new PredictionClient({ address: 'h:1', tls: 'yes' as never })).toThrow("'tls' must be true, false or { ca, cert, key }");
  });
});

let openssl = true;
try {
  execFileSync('openssl', ['version'], { stdio: 'ignore' });
} catch {
  openssl = false;
  console.warn('skipping the REST TLS test: no openssl binary to make a test certificate');
}

describe.skipIf(!openssl)('PredictionClient over REST with TLS', () => {
  it('trusts the CA given in tls: { ca } (or rootCerts), sends the key, and refuses an untrusted server', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'accel-rest-tls-'));
    try {
      const [keyFile, certFile] = [join(dir, 'key.pem'), join(dir, 'cert.pem')];
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '1',
        '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { stdio: 'ignore' });
      const cert = readFileSync(certFile);
      const seen: IncomingHttpHeaders[] = [];
      const server = createHttpsServer({ key: readFileSync(keyFile), cert }, (req, res) => {
        seen.push(req.headers);
        req.resume().on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ outputs: [0.5] })));
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      servers.push(server);
      const port = (server.address() as AddressInfo).port;

      const trusted = client(port, { address: `127.0.0.1:${port}`, tls: { ca: cert }, apiKey: 'tls-key' });
      expect(trusted.target).toBe(`https://127.0.0.1:${port}`);
      expect(Array.from(await trusted.scoreImage(Buffer.from('x')))).toEqual([0.5]);
      expect(seen[0]!.authorization).toBe('Bearer tls-key');
      expect(Array.from(await client(port, { address: `https://127.0.0.1:${port}`, rootCerts: cert.toString() }).scoreImage(Buffer.from('x')))).toEqual([0.5]);

      const untrusted = await rejection(client(port, { address: `127.0.0.1:${port}`, tls: true, retries: 0 }).scoreImage(Buffer.from('x')));
      expect(untrusted.code).toBe(StatusCode.UNAVAILABLE);
      expect(untrusted.details).toMatch(/SELF_SIGNED|self.signed/i);

      const plain = await rejection(client(port, { address: `http://127.0.0.1:${port}`, retries: 0 }).scoreImage(Buffer.from('x')));
      expect(plain.code).toBe(StatusCode.UNAVAILABLE);
      expect(plain.details).toMatch(/if it serves TLS, use an https:\/\/ address or tls: true/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('TF Serving JSON <-> tensors', () => {
  it('infers shapes from nesting, including scalars and empty lists', () => {
    expect(jsonToTensor(3)).toEqual({ dtype: 'DT_FLOAT', shape: [], data: Float32Array.of(3) });
    expect(jsonToTensor([]).shape).toEqual([0]);
    expect(jsonToTensor([[true, false]])).toEqual({ dtype: 'DT_BOOL', shape: [1, 2], data: Uint8Array.of(1, 0) });
    expect(() => jsonToTensor([[1, 2], [3]], 'y')).toThrow('output "y" is not a regular nested list');
    expect(() => jsonToTensor([1, 'a'], 'y')).toThrow('output "y" holds 1; expected numbers, booleans, strings or {"b64": ...}');
  });

  it('writes tensors as nested lists, bytes as b64, int64 as numbers', () => {
    expect(tensorToJson({ dtype: 'DT_FLOAT', shape: [2, 1], data: Float32Array.of(1, 2) })).toEqual([[1], [2]]);
    expect(tensorToJson({ dtype: 'DT_FLOAT', shape: [], data: Float32Array.of(5) })).toBe(5);
    expect(tensorToJson({ dtype: 'DT_STRING', shape: [1], data: [Buffer.from('hi')] })).toEqual([{ b64: 'aGk=' }]);
    expect(tensorToJson({ dtype: 'DT_INT64', shape: [1], data: BigInt64Array.of(-3n) })).toEqual([-3]);
    expect(() => tensorToJson({ dtype: 'DT_INT64', shape: [1], data: BigInt64Array.of(2n ** 60n) }, 'ids')).toThrow(/JSON numbers cannot carry exactly/);
  });

  it('maps HTTP statuses to gRPC codes', () => {
    expect([400, 401, 403, 404, 413, 429, 500, 501, 503, 504, 418].map(httpStatusToCode)).toEqual([3, 16, 7, 5, 8, 8, 13, 12, 14, 14, 2]);
  });
});
