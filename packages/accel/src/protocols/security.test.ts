import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { PredictionClient, PredictionError } from '@accel/client';
import { loadServingProtos } from '@accel/client/proto';
import { Agent, fetch } from 'undici';
import { opensslAvailable } from '../test-util/processes';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createDevCerts } from '../cli/certs';
import { Runtime } from '../runtime/runtime';
import { modelDir, tinyClassifier } from '../test-util/models';
import { startTestServer } from '../test-util/server';
import { ApiKeys } from './auth';
import { startServer } from './server';

const BIN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'accel.js');
const SIZE = 8;
const PIXELS = Array.from({ length: 3 * SIZE * SIZE }, (_, i) => Math.cos(i));
const NESTED = [[0, 1, 2].map((c) => Array.from({ length: SIZE }, (_, y) => PIXELS.slice(c * 64 + y * 8, c * 64 + y * 8 + 8)))];
const PRIMARY = 'primary-7d41c0a9e2';
const SECONDARY = 'secondary-3b95f6d1';
const WRONG = 'primary-7d41c0a9e3';

const files = modelDir();
const model = files.write('tiny.onnx', tinyClassifier({ size: SIZE }));

const openssl = opensslAvailable('the TLS tests (they make a test certificate)');

/** A server certificate for localhost and 127.0.0.1 and the CA that signed it (`accel certs create`), made now. */
async function devPair(name: string): Promise<{ cert: string; key: string; ca: string }> {
  const made = await createDevCerts({ out: join(files.dir, name), days: 1 });
  return { ...made.server, ca: made.ca.cert };
}

// ---------------------------------------------------------------------------
// One probe per protected API: each makes a real call and reports what the
// caller saw, as { ok } or { code (gRPC) | status (HTTP), message, accelCode }.
// ---------------------------------------------------------------------------
interface Seen {
  ok: boolean;
  code?: number;
  status?: number;
  message?: string;
  accelCode?: string;
  wwwAuthenticate?: string | null;
}
interface Target {
  grpcAddress: string;
  rest: string;
  /** Trusted CA when the server speaks TLS. */
  ca?: Buffer;
}
type Unary = (req: unknown, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: unknown) => void) => void;

const opened: Array<{ close(): void }> = [];

function grpcCaller(t: Target) {
  const protos = loadServingProtos();
  const creds = t.ca ? grpc.credentials.createSsl(t.ca) : grpc.credentials.createInsecure();
  const stubs = {
    PredictionService: new protos.PredictionService(t.grpcAddress, creds),
    ModelService: new protos.ModelService(t.grpcAddress, creds),
    GRPCInferenceService: new protos.GRPCInferenceService(t.grpcAddress, creds),
  };
  opened.push(...Object.values(stubs));
  return (service: keyof typeof stubs, method: string, request: unknown, authorization?: string): Promise<Seen> => {
    const stub = stubs[service] as unknown as Record<string, Unary>;
    const md = new grpc.Metadata();
    if (authorization !== undefined) md.set('authorization', authorization);
    return new Promise((resolve) =>
      stub[method].call(stub, request, md, { deadline: Date.now() + 30_000 }, (err) =>
        resolve(err ? { ok: false, code: err.code, message: err.details, accelCode: String(err.metadata.get('accel-error-code')[0] ?? '') } : { ok: true }),
      ),
    );
  };
}

function restCaller(t: Target) {
  const dispatcher = new Agent({ connect: t.ca ? { ca: t.ca } : {} });
  opened.push({ close: () => void dispatcher.close() });
  return async (method: 'GET' | 'POST', path: string, body?: unknown, authorization?: string): Promise<Seen> => {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (authorization !== undefined) headers.authorization = authorization;
    const res = await fetch(t.rest + path, { method, headers, body: typeof body === 'string' ? body : body === undefined ? undefined : JSON.stringify(body), dispatcher });
    const text = await res.text();
    if (res.ok) return { ok: true, status: res.status };
    const json = JSON.parse(text) as { error: string; code: string };
    return { ok: false, status: res.status, message: json.error, accelCode: json.code, wwwAuthenticate: res.headers.get('www-authenticate') };
  };
}

type GrpcCall = ReturnType<typeof grpcCaller>;
type RestCall = ReturnType<typeof restCaller>;
type Probe = (authorization?: string) => Promise<Seen>;

const TF_INPUT = { dtype: 'DT_FLOAT', tensor_shape: { dim: [1, 3, SIZE, SIZE].map((size) => ({ size })) }, float_val: PIXELS };
const K_INPUT = { name: 'input', datatype: 'FP32', shape: [1, 3, SIZE, SIZE] };

/** Every protected API, by name. */
const PROBES: Record<string, (g: GrpcCall, r: RestCall) => Probe> = {
  'TF Serving gRPC Predict': (g) => (a) => g('PredictionService', 'Predict', { model_spec: { name: 'tiny' }, inputs: { input: TF_INPUT } }, a),
  'TF Serving gRPC GetModelMetadata': (g) => (a) => g('PredictionService', 'GetModelMetadata', { model_spec: { name: 'tiny' }, metadata_field: ['signature_def'] }, a),
  'TF Serving gRPC ModelService.GetModelStatus': (g) => (a) => g('ModelService', 'GetModelStatus', { model_spec: { name: 'tiny' } }, a),
  'KServe gRPC ModelInfer': (g) => (a) => g('GRPCInferenceService', 'ModelInfer', { model_name: 'tiny', inputs: [{ ...K_INPUT, contents: { fp32_contents: PIXELS } }] }, a),
  'KServe gRPC ModelMetadata': (g) => (a) => g('GRPCInferenceService', 'ModelMetadata', { name: 'tiny' }, a),
  'KServe gRPC ServerMetadata': (g) => (a) => g('GRPCInferenceService', 'ServerMetadata', {}, a),
  'TF Serving REST predict': (_g, r) => (a) => r('POST', '/v1/models/tiny:predict', { inputs: { input: NESTED } }, a),
  'TF Serving REST status': (_g, r) => (a) => r('GET', '/v1/models/tiny', undefined, a),
  'TF Serving REST metadata': (_g, r) => (a) => r('GET', '/v1/models/tiny/metadata', undefined, a),
  'KServe REST infer': (_g, r) => (a) => r('POST', '/v2/models/tiny/infer', { inputs: [{ ...K_INPUT, data: PIXELS }] }, a),
  'KServe REST model metadata': (_g, r) => (a) => r('GET', '/v2/models/tiny', undefined, a),
  'KServe REST server metadata': (_g, r) => (a) => r('GET', '/v2', undefined, a),
};

function probes(t: Target): Record<string, Probe> {
  const g = grpcCaller(t);
  const r = restCaller(t);
  return Object.fromEntries(Object.entries(PROBES).map(([name, make]) => [name, make(g, r)]));
}

/** What a refused call looks like on its protocol: UNAUTHENTICATED or 401 + WWW-Authenticate, with a message saying how to send a key. */
function expectRefused(seen: Seen, problem: string) {
  expect(seen.ok).toBe(false);
  if (seen.status === undefined) expect(seen.code).toBe(grpc.status.UNAUTHENTICATED);
  else {
    expect(seen.status).toBe(401);
    expect(seen.wwwAuthenticate).toBe('Bearer realm="accel"');
  }
  expect(seen.accelCode).toBe('ACCEL_ERR_UNAUTHENTICATED');
  expect(seen.message).toBe(
    `Request refused: ${problem}. This server requires an API key: send it as "authorization: Bearer <key>" (HTTP header or gRPC metadata), e.g. curl -H "Authorization: Bearer $KEY" or PredictionClient({ apiKey }).`,
  );
}

async function allowedAndRefused(probe: Probe) {
  expectRefused(await probe(), 'no API key was sent');
  expectRefused(await probe('Bearer '), 'no API key was sent');
  expectRefused(await probe(`Bearer ${WRONG}`), 'the API key is not valid');
  expectRefused(await probe(WRONG), 'the API key is not valid');
  expect(await probe(`Bearer ${PRIMARY}`)).toMatchObject({ ok: true });
  expect(await probe(`bearer ${SECONDARY}`)).toMatchObject({ ok: true });
  expect(await probe(PRIMARY)).toMatchObject({ ok: true });
  expect(await probe(SECONDARY)).toMatchObject({ ok: true });
}

const keysFile = files.write('keys.json', JSON.stringify({ primary: PRIMARY, secondary: SECONDARY }));
let keys: ApiKeys;
let server: Awaited<ReturnType<typeof startTestServer>>;

beforeAll(async () => {
  keys = await ApiKeys.open({ file: keysFile, pollMs: 100 });
  server = await startTestServer([{ name: 'tiny', path: model }], { apiKeys: keys });
});
afterAll(async () => {
  for (const c of opened.splice(0)) c.close();
  await server?.shutdown();
  keys?.close();
  files.cleanup();
});

describe('API keys on every protocol (plain text)', () => {
  let plain: Record<string, Probe>;
  beforeAll(() => {
    plain = probes({ grpcAddress: server.grpcAddress, rest: server.rest });
  });
  it.each(Object.keys(PROBES))('%s: no key or a wrong one is refused; primary and secondary, Bearer or bare, work', async (name) => {
    await allowedAndRefused(plain[name]);
  });

  it('leaves liveness, readiness and /metrics open (probes and scrapers send no key)', async () => {
    const r = restCaller({ grpcAddress: server.grpcAddress, rest: server.rest });
    for (const path of ['/healthz', '/readyz', '/v2/health/live', '/v2/health/ready']) expect(await r('GET', path), path).toEqual({ ok: true, status: 200 });
    const g = grpcCaller({ grpcAddress: server.grpcAddress, rest: server.rest });
    expect(await g('GRPCInferenceService', 'ServerLive', {})).toEqual({ ok: true });
    expect(await g('GRPCInferenceService', 'ServerReady', {})).toEqual({ ok: true });
    const metrics = await (await fetch(server.rest + '/metrics')).text();
    expect(metrics).toMatch(/^accel_unauthenticated_requests_total\{protocol="grpc"\} [1-9]/m);
    expect(metrics).toMatch(/^accel_unauthenticated_requests_total\{protocol="rest"\} [1-9]/m);
  });

  it('refuses unknown paths without a key (no hint of which routes exist) and checks the key before reading the body', async () => {
    const r = restCaller({ grpcAddress: server.grpcAddress, rest: server.rest });
    expectRefused(await r('GET', '/no/such/route'), 'no API key was sent');
    expectRefused(await r('POST', '/v1/models/tiny:predict', 'this is not JSON'), 'no API key was sent');
    expect(await r('POST', '/v1/models/tiny:predict', 'this is not JSON', `Bearer ${PRIMARY}`)).toMatchObject({ status: 400, accelCode: 'ACCEL_ERR_BAD_REQUEST' });
  });

  it('the @accel/client apiKey option authenticates over gRPC and REST; without it, UNAUTHENTICATED, not retried', async () => {
    for (const protocol of ['grpc', 'rest'] as const) {
      const address = protocol === 'grpc' ? server.grpcAddress : server.rest;
      const good = new PredictionClient({ address, protocol, modelName: 'tiny', apiKey: SECONDARY });
      const none = new PredictionClient({ address, protocol, modelName: 'tiny' });
      opened.push(good, none);
      expect(await good.scoreTensor(PIXELS, [1, 3, SIZE, SIZE], { outputs: ['probs'] })).toHaveLength(5);
      expect((await good.getModelStatus()).model_version_status?.[0]).toMatchObject({ state: 'AVAILABLE' });
      const err = await none.scoreTensor(PIXELS, [1, 3, SIZE, SIZE], { outputs: ['probs'] }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PredictionError);
      expect(err).toMatchObject({ codeName: 'UNAUTHENTICATED', accelCode: 'ACCEL_ERR_UNAUTHENTICATED', attempts: 1 });
      expect((err as PredictionError).details).toMatch(/^Request refused: no API key was sent\. .*PredictionClient\(\{ apiKey \}\)/);
    }
  });

  it('takes a rotated key file without a restart: the new key works, the removed one is refused', async () => {
    const rotated = 'rotated-0c8e5b72a4';
    const g = grpcCaller({ grpcAddress: server.grpcAddress, rest: server.rest });
    const r = restCaller({ grpcAddress: server.grpcAddress, rest: server.rest });
    const status = (a: string) => g('ModelService', 'GetModelStatus', { model_spec: { name: 'tiny' } }, a);
    try {
      writeFileSync(keysFile, JSON.stringify({ primary: SECONDARY, secondary: rotated }));
      await vi.waitFor(async () => expectRefused(await status(`Bearer ${PRIMARY}`), 'the API key is not valid'), { timeout: 15_000, interval: 50 });
      expectRefused(await r('GET', '/v1/models/tiny', undefined, `Bearer ${PRIMARY}`), 'the API key is not valid');
      expect(await status(`Bearer ${rotated}`)).toEqual({ ok: true });
      expect(await r('GET', '/v1/models/tiny', undefined, rotated)).toMatchObject({ ok: true });
      expect(await r('GET', '/v1/models/tiny', undefined, SECONDARY)).toMatchObject({ ok: true });

      writeFileSync(keysFile, '{"primary": ');
      expect(await keys.reload('test')).toBe(false);
      expect(await status(`Bearer ${rotated}`)).toEqual({ ok: true });
    } finally {
      writeFileSync(keysFile, JSON.stringify({ primary: PRIMARY, secondary: SECONDARY }));
      await keys.reload('test');
    }
  });
});

describe('--metrics-auth', () => {
  let guarded: Awaited<ReturnType<typeof startTestServer>>;
  let guardKeys: ApiKeys;
  beforeAll(async () => {
    guardKeys = await ApiKeys.open({ keys: [PRIMARY] });
    guarded = await startTestServer([{ name: 'tiny', path: model }], { apiKeys: guardKeys, metricsAuth: true });
  });
  afterAll(async () => {
    await guarded?.shutdown();
    guardKeys?.close();
  });

  it('makes /metrics need a key; health endpoints stay open', async () => {
    const r = restCaller({ grpcAddress: guarded.grpcAddress, rest: guarded.rest });
    expectRefused(await r('GET', '/metrics'), 'no API key was sent');
    expectRefused(await r('GET', '/metrics', undefined, `Bearer ${WRONG}`), 'the API key is not valid');
    expect(await r('GET', '/metrics', undefined, `Bearer ${PRIMARY}`)).toEqual({ ok: true, status: 200 });
    for (const path of ['/healthz', '/readyz', '/v2/health/live', '/v2/health/ready']) expect(await r('GET', path), path).toEqual({ ok: true, status: 200 });
    const metrics = await (await fetch(guarded.rest + '/metrics', { headers: { authorization: `Bearer ${PRIMARY}` } })).text();
    expect(metrics).toMatch(/^accel_unauthenticated_requests_total\{protocol="rest"\} 2$/m);
  });

  it('is refused without API keys (ACCEL_ERR_USAGE)', async () => {
    const runtime = new Runtime({ threads: 1 });
    try {
      await expect(startServer(runtime, { host: '127.0.0.1', grpcPort: 0, restPort: 0, metricsAuth: true })).rejects.toMatchObject({
        code: 'ACCEL_ERR_USAGE',
        message: '--metrics-auth needs API keys (--api-key or --api-keys-file)',
      });
    } finally {
      await runtime.close();
    }
  });
});

describe.skipIf(!openssl)('TLS with API keys', () => {
  let tlsServer: Awaited<ReturnType<typeof startTestServer>>;
  let ca: Buffer;
  let target: Target;
  let tlsKeys: ApiKeys;

  beforeAll(async () => {
    const { cert, key, ca: caFile } = await devPair('server');
    ca = readFileSync(caFile);
    tlsKeys = await ApiKeys.open({ keys: [PRIMARY, SECONDARY] });
    tlsServer = await startTestServer([{ name: 'tiny', path: model }], { apiKeys: tlsKeys, tls: { cert: readFileSync(cert), key: readFileSync(key) } });
    target = { grpcAddress: tlsServer.grpcAddress, rest: `https://127.0.0.1:${tlsServer.restPort}`, ca };
  });
  afterAll(async () => {
    await tlsServer?.shutdown();
    tlsKeys?.close();
  });

  it('serves every protocol over TLS to a client trusting the certificate, and still checks keys', async () => {
    expect(tlsServer.tls).toBe(true);
    for (const [name, probe] of Object.entries(probes(target))) {
      expect(await probe(`Bearer ${PRIMARY}`), name).toMatchObject({ ok: true });
      expectRefused(await probe(), 'no API key was sent');
    }
    expect(await restCaller(target)('GET', '/healthz')).toEqual({ ok: true, status: 200 });
  });

  it('the @accel/client tls: { ca } and apiKey options score over gRPC and REST', async () => {
    const viaGrpc = new PredictionClient({ address: target.grpcAddress, modelName: 'tiny', apiKey: PRIMARY, tls: { ca } });
    const viaRest = new PredictionClient({ address: target.rest, protocol: 'rest', modelName: 'tiny', apiKey: PRIMARY, tls: { ca } });
    opened.push(viaGrpc, viaRest);
    const a = await viaGrpc.scoreTensor(PIXELS, [1, 3, SIZE, SIZE], { outputs: ['probs'] });
    const b = await viaRest.scoreTensor(PIXELS, [1, 3, SIZE, SIZE], { outputs: ['probs'] });
    Array.from(a).forEach((p, i) => expect(p).toBeCloseTo(b[i], 6));
  });

  it('fails clearly for a plain-text client and for a client that does not trust the certificate', async () => {
    const plainGrpc = new PredictionClient({ address: target.grpcAddress, modelName: 'tiny', apiKey: PRIMARY, retries: 0, deadlineMs: 5_000 });
    const plainRest = new PredictionClient({ address: `http://127.0.0.1:${tlsServer.restPort}`, protocol: 'rest', modelName: 'tiny', apiKey: PRIMARY, retries: 0 });
    const untrusted = new PredictionClient({ address: target.grpcAddress, modelName: 'tiny', apiKey: PRIMARY, tls: true, retries: 0 });
    const untrustedRest = new PredictionClient({ address: target.rest, protocol: 'rest', modelName: 'tiny', apiKey: PRIMARY, retries: 0 });
    opened.push(plainGrpc, plainRest, untrusted, untrustedRest);
    const status = (c: PredictionClient) => c.getModelStatus().catch((e: PredictionError) => e);
    expect(await status(plainGrpc)).toMatchObject({ codeName: 'UNAVAILABLE', details: expect.stringContaining('if the server uses TLS, set tls: true') });
    expect(await status(plainRest)).toMatchObject({
      codeName: 'UNAVAILABLE',
      details: expect.stringContaining('closed the connection without answering; if it serves TLS, use an https:// address or tls: true'),
    });
    const distrust = "the server's certificate is not trusted: give its CA as tls: { ca }";
    expect(await status(untrusted)).toMatchObject({ codeName: 'UNAVAILABLE', details: expect.stringContaining(distrust) });
    expect(await status(untrustedRest)).toMatchObject({ codeName: 'UNAVAILABLE', details: expect.stringContaining(distrust) });
  });

  it('refuses to start with a certificate and a key that do not match', async () => {
    const [a, b] = await Promise.all([devPair('a'), devPair('b')]);
    const runtime = new Runtime({ threads: 1 });
    try {
      await expect(
        startServer(runtime, { host: '127.0.0.1', grpcPort: 0, restPort: 0, tls: { cert: readFileSync(a.cert), key: readFileSync(b.key), certFile: a.cert, keyFile: b.key } }),
      ).rejects.toMatchObject({ code: 'ACCEL_ERR_BAD_TLS', message: expect.stringContaining(`Cannot serve TLS with certificate ${a.cert} and key ${b.key}`) });
    } finally {
      await runtime.close();
    }
  });
});

describe('accel serve flags', () => {
  const run = (args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 120_000 });

  it('--help lists the API key and TLS flags and the key file format', () => {
    const help = run(['serve', '--help']);
    expect(help.status).toBe(0);
    for (const flag of ['--api-key <key>', '--api-keys-file <file>', '--tls-cert <file>', '--tls-key <file>', '--tls-ca <file>', '--metrics-auth']) {
      expect(help.stdout).toContain(flag);
    }
    expect(help.stdout).toContain('"sha256:<64 hex digits>" is the SHA-256 of a key');
    expect(help.stdout).toContain('{"primary": "9f2c...", "secondary": "41ab..."}');
    expect(help.stdout).toMatch(/Left open: \/healthz, \/readyz/);
  });

  it('refuses a bad key file and a half TLS pair before loading any model', () => {
    const bad = run(['serve', '--model', `tiny=${model}`, '--api-keys-file', files.write('bad.json', '["k"]'), '-o', 'json']);
    expect(bad.status).toBe(1);
    expect(JSON.parse(bad.stderr.trim().split('\n').at(-1)!).error).toMatchObject({ code: 'ACCEL_ERR_BAD_KEY_FILE' });
    const half = run(['serve', '--model', `tiny=${model}`, '--tls-cert', 'cert.pem']);
    expect(half.status).toBe(2);
    expect(half.stderr).toContain('--tls-cert and --tls-key go together');
    const caOnly = run(['serve', '--model', `tiny=${model}`, '--tls-ca', 'ca.pem']);
    expect(caOnly.status).toBe(2);
    expect(caOnly.stderr).toContain('--tls-ca (client certificates) needs TLS: give --tls-cert and --tls-key too');
    const metricsOnly = run(['serve', '--model', `tiny=${model}`, '--metrics-auth', '-o', 'json']);
    expect(metricsOnly.status).toBe(2);
    expect(JSON.parse(metricsOnly.stderr.trim().split('\n').at(-1)!).error).toMatchObject({ code: 'ACCEL_ERR_USAGE', message: '--metrics-auth needs API keys: give --api-key or --api-keys-file' });
  });

  it.skipIf(!openssl)('serves with --api-keys-file and --tls-cert/--tls-key, reloads keys on SIGHUP, stops on SIGTERM', async () => {
    const { cert, key, ca: caFile } = await devPair('cli');
    const file = files.write('cli-keys.json', JSON.stringify({ primary: PRIMARY, secondary: '' }));
    const child: ChildProcess = spawn(
      process.execPath,
      [BIN, 'serve', '--model', `tiny=${model}`, '--api-keys-file', file, '--tls-cert', cert, '--tls-key', key, '--host', '127.0.0.1', '--grpc-port', '0', '--rest-port', '0', '-o', 'json'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      let text = '';
      let summary: any;
      for await (const line of createInterface({ input: child.stdout! })) {
        text += line + '\n';
        try {
          summary = JSON.parse(text);
          break;
        } catch {
          /* keep reading */
        }
      }
      expect(summary, stderr).toBeDefined();
      expect(summary).toMatchObject({ tls: true, auth: { keys: ['primary'], file } });
      const t: Target = { grpcAddress: summary.grpc, rest: `https://${summary.rest}`, ca: readFileSync(caFile) };
      const { 'TF Serving gRPC ModelService.GetModelStatus': grpcStatus, 'KServe REST infer': restInfer } = probes(t);
      expect(await grpcStatus(`Bearer ${PRIMARY}`)).toEqual({ ok: true });
      expect(await restInfer(PRIMARY)).toMatchObject({ ok: true });
      expectRefused(await restInfer(), 'no API key was sent');

      writeFileSync(file, JSON.stringify({ primary: SECONDARY }));
      child.kill('SIGHUP');
      await vi.waitFor(() => expect(stderr).toMatch(/"msg":"reloaded API keys from .*cli-keys\.json \(SIGHUP\): primary"/), { timeout: 15_000, interval: 50 });
      expect(await grpcStatus(`Bearer ${SECONDARY}`)).toEqual({ ok: true });
      expectRefused(await grpcStatus(`Bearer ${PRIMARY}`), 'the API key is not valid');
      expect(stderr).not.toContain(PRIMARY);
      expect(stderr).not.toContain(SECONDARY);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });
});
