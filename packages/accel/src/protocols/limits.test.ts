import { connect as connectHttp2 } from 'node:http2';
import { connect as connectTcp } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { loadServingProtos } from '@accel/client/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bombJpeg, bombPng } from '../test-util/images';
import { modelDir, slowModel, tinyClassifier } from '../test-util/models';
import { exited, runAccel, spawnServe } from '../test-util/processes';
import { rawGrpcClient, solidPng, startTestServer } from '../test-util/server';

// Each limit of `accel serve`, seen on the wire (both protocols where it applies).
const SIZE = 8;
const files = modelDir();
const tinyPath = files.write('tiny.onnx', tinyClassifier({ size: SIZE }));
let server: Awaited<ReturnType<typeof startTestServer>>;
let tf: ReturnType<typeof rawGrpcClient>;
let kserve: grpc.Client;

type Unary = (req: unknown, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: unknown) => void) => void;

/** Settles a call as { ok } or { code, details, accelCode }. */
function outcome(p: Promise<unknown>) {
  return p.then(
    () => ({ ok: true }) as const,
    (e: grpc.ServiceError) => ({ ok: false, code: e.code, details: e.details, accelCode: String(e.metadata?.get('accel-error-code')[0] ?? '') }) as const,
  );
}

function modelInfer(client: grpc.Client, request: unknown, deadlineMs = 30_000): Promise<unknown> {
  const fn = (client as unknown as Record<string, Unary>).ModelInfer.bind(client);
  return new Promise((resolve, reject) => fn(request, new grpc.Metadata(), { deadline: Date.now() + deadlineMs }, (err, res) => (err ? reject(err) : resolve(res))));
}

async function post(base: string, path: string, body: unknown, contentType = 'application/json') {
  const res = await fetch(base + path, { method: 'POST', headers: { 'content-type': contentType }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as { error?: string; code?: string } };
}

const images = (items: Buffer[]) => ({ dtype: 'DT_STRING', tensor_shape: { dim: [{ size: items.length }] }, string_val: items });

beforeAll(async () => {
  server = await startTestServer([{ name: 'tiny', path: tinyPath }], { maxRequestBatch: 4, maxMessageBytes: 256 * 1024, maxConcurrentStreams: 7, socketIdleTimeoutMs: 300 });
  tf = rawGrpcClient(server.grpcAddress);
  const protos = loadServingProtos();
  kserve = new protos.GRPCInferenceService(server.grpcAddress, grpc.credentials.createInsecure(), { 'grpc.max_send_message_length': 8 * 1024 * 1024 });
});
afterAll(async () => {
  tf.close();
  kserve.close();
  await server.shutdown();
  files.cleanup();
});

/** The HTTP/2 SETTINGS a gRPC port announces. */
function remoteSettings(address: string): Promise<{ maxConcurrentStreams?: number }> {
  return new Promise((resolve, reject) => {
    const session = connectHttp2(`http://${address}`);
    session.once('error', reject);
    session.once('remoteSettings', (s) => {
      session.close();
      resolve(s);
    });
  });
}

describe('accel serve flags', () => {
  it('passes --max-request-batch and --max-concurrent-streams to the server, and refuses 0', async () => {
    const { child, summary } = await spawnServe(['--model', `tiny=${tinyPath}`, '--max-request-batch', '2', '--max-concurrent-streams', '9', '--request-timeout-ms', '5000']);
    try {
      const b64 = { b64: (await solidPng(1, 2, 3)).toString('base64') };
      const refused = await post(`http://${summary.rest}`, '/v1/models/tiny:predict', { instances: [b64, b64, b64] });
      expect(refused).toMatchObject({ status: 400, body: { code: 'ACCEL_ERR_BATCH_TOO_LARGE', error: expect.stringMatching(/holds 3 rows; one request may hold at most 2/) } });
      expect((await post(`http://${summary.rest}`, '/v1/models/tiny:predict', { instances: [b64, b64] })).status).toBe(200);
      expect((await remoteSettings(summary.grpc)).maxConcurrentStreams).toBe(9);
    } finally {
      child.kill('SIGTERM');
      await exited(child);
    }
    const zero = runAccel(['serve', '--model', `tiny=${tinyPath}`, '--max-request-batch', '0']);
    expect(zero.code).not.toBe(0);
    expect(zero.stderr).toMatch(/--max-request-batch must be at least 1/);
  });
});

describe('--max-request-batch', () => {
  it('refuses a request with more rows than the limit, before decoding, on every protocol', async () => {
    const png = await solidPng(10, 20, 30);
    const four = await outcome(tf.call('Predict', { model_spec: { name: 'tiny' }, inputs: { images: images([png, png, png, png]) } }));
    expect(four).toEqual({ ok: true });

    const five = await outcome(tf.call('Predict', { model_spec: { name: 'tiny' }, inputs: { images: images([png, png, png, png, png]) } }));
    expect(five).toMatchObject({ ok: false, code: grpc.status.INVALID_ARGUMENT, accelCode: 'ACCEL_ERR_BATCH_TOO_LARGE' });
    expect((five as { details: string }).details).toMatch(/Input "images" holds 5 rows; one request may hold at most 4\. .*--max-request-batch/);

    const rows = 5 * 3 * SIZE * SIZE;
    const kGrpc = await outcome(modelInfer(kserve, { model_name: 'tiny', inputs: [{ name: 'input', datatype: 'FP32', shape: [5, 3, SIZE, SIZE], contents: { fp32_contents: new Array(rows).fill(0.5) } }] }));
    expect(kGrpc).toMatchObject({ ok: false, code: grpc.status.INVALID_ARGUMENT, accelCode: 'ACCEL_ERR_BATCH_TOO_LARGE' });

    const b64 = { b64: png.toString('base64') };
    const rest = await post(server.rest, '/v1/models/tiny:predict', { instances: [b64, b64, b64, b64, b64] });
    expect(rest).toMatchObject({ status: 400, body: { code: 'ACCEL_ERR_BATCH_TOO_LARGE' } });
    const kRest = await post(server.rest, '/v2/models/tiny/infer', { inputs: [{ name: 'input', datatype: 'FP32', shape: [5, 3, SIZE, SIZE], data: new Array(rows).fill(0.5) }] });
    expect(kRest).toMatchObject({ status: 400, body: { code: 'ACCEL_ERR_BATCH_TOO_LARGE' } });
  });
});

describe('decompression bombs (--max-image-pixels)', () => {
  it('refuses a 70-byte PNG and a JPEG declaring billions of pixels at once, without allocating', async () => {
    const bombs = [bombPng(50_000, 50_000), await bombJpeg(65_000, 65_000)];
    expect(bombs[0].length).toBeLessThan(100);
    const rssBefore = process.memoryUsage().rss;
    for (const bomb of bombs) {
      const t0 = performance.now();
      const viaGrpc = await outcome(tf.call('Predict', { model_spec: { name: 'tiny' }, inputs: { images: images([bomb]) } }));
      expect(viaGrpc).toMatchObject({ ok: false, code: grpc.status.INVALID_ARGUMENT, accelCode: 'ACCEL_ERR_BAD_IMAGE' });
      expect((viaGrpc as { details: string }).details).toMatch(/declares more pixels than the pixel limit of 50000000 \(--max-image-pixels\)/);
      const viaRest = await post(server.rest, '/v1/models/tiny:predict', { instances: [{ b64: bomb.toString('base64') }] });
      expect(viaRest).toMatchObject({ status: 400, body: { code: 'ACCEL_ERR_BAD_IMAGE' } });
      const viaKServe = await post(server.rest, '/v2/models/tiny/infer', { inputs: [{ name: 'images', datatype: 'BYTES', shape: [1], data: [{ b64: bomb.toString('base64') }] }] });
      expect(viaKServe).toMatchObject({ status: 400, body: { code: 'ACCEL_ERR_BAD_IMAGE' } });
      expect(performance.now() - t0).toBeLessThan(2_000);
    }
    // 50,000 x 50,000 RGB would be 7.5 GB decoded.
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(100 * 1024 * 1024);
  });
});

describe('--max-message-bytes', () => {
  it('answers RESOURCE_EXHAUSTED on gRPC and 413 on both REST APIs', async () => {
    const big = Buffer.alloc(300 * 1024, 7);
    const viaGrpc = await outcome(tf.call('Predict', { model_spec: { name: 'tiny' }, inputs: { images: images([big]) } }));
    expect(viaGrpc).toMatchObject({ ok: false, code: grpc.status.RESOURCE_EXHAUSTED });
    const viaKServeGrpc = await outcome(modelInfer(kserve, { model_name: 'tiny', raw_input_contents: [big], inputs: [{ name: 'images', datatype: 'BYTES', shape: [1] }] }));
    expect(viaKServeGrpc).toMatchObject({ ok: false, code: grpc.status.RESOURCE_EXHAUSTED });
    const body = { instances: [{ b64: big.toString('base64') }] };
    expect(await post(server.rest, '/v1/models/tiny:predict', body)).toMatchObject({ status: 413, body: { code: 'ACCEL_ERR_TOO_LARGE' } });
    const kBody = { inputs: [{ name: 'images', datatype: 'BYTES', shape: [1], data: [{ b64: big.toString('base64') }] }] };
    expect(await post(server.rest, '/v2/models/tiny/infer', kBody)).toMatchObject({ status: 413, body: { code: 'ACCEL_ERR_TOO_LARGE' } });
  });
});

describe('connections', () => {
  it('announces --max-concurrent-streams in the HTTP/2 SETTINGS of the gRPC port', async () => {
    expect((await remoteSettings(server.grpcAddress)).maxConcurrentStreams).toBe(7);
  });

  it('still answers every call when a client sends more than the streams allowed at once', async () => {
    const png = await solidPng(1, 2, 3);
    const calls = Array.from({ length: 20 }, () => outcome(tf.call('Predict', { model_spec: { name: 'tiny' }, inputs: { images: images([png]) } })));
    expect(await Promise.all(calls)).toEqual(new Array(20).fill({ ok: true }));
  });

  it('closes a REST connection that goes silent mid-request (slowloris)', async () => {
    const socket = connectTcp(server.restPort, '127.0.0.1');
    const t0 = performance.now();
    const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(performance.now() - t0)));
    socket.on('error', () => undefined);
    socket.write('POST /v1/models/tiny:predict HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n{"instances": [');
    const afterMs = await closed;
    expect(afterMs).toBeGreaterThanOrEqual(250);
    expect(afterMs).toBeLessThan(5_000);
  });
});

describe('--request-timeout-ms', () => {
  it('answers DEADLINE_EXCEEDED / 504 when a request takes longer, on every protocol', async () => {
    const dir = modelDir();
    const slowPath = dir.write('slow.onnx', slowModel(2000)); // ~10 ms per row
    const slow = await startTestServer([{ name: 'slow', path: slowPath }], { requestTimeoutMs: 150, batching: { maxBatchSize: 1 } });
    const client = rawGrpcClient(slow.grpcAddress);
    const protos = loadServingProtos();
    const kClient = new protos.GRPCInferenceService(slow.grpcAddress, grpc.credentials.createInsecure());
    try {
      const rows = (n: number) => ({ x: { dtype: 'float32' as const, shape: [n, 512], data: new Float32Array(n * 512) } });
      // A long run (~1 s) holds the model: it times out itself, and so does everything queued behind it.
      const t0 = performance.now();
      const long = slow.runtime.predict({}, rows(64)).then(
        () => 'finished',
        (e: { code: string }) => e.code,
      );
      const row = new Array(512).fill(1);
      const [viaGrpc, viaKServe, viaRest, viaKServeRest] = await Promise.all([
        outcome(client.call('Predict', { inputs: { x: { dtype: 'DT_FLOAT', tensor_shape: { dim: [{ size: 1 }, { size: 512 }] }, float_val: row } } })),
        outcome(modelInfer(kClient, { model_name: 'slow', inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 512], contents: { fp32_contents: row } }] })),
        post(slow.rest, '/v1/models/slow:predict', { instances: [row] }),
        post(slow.rest, '/v2/models/slow/infer', { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 512], data: row }] }),
      ]);
      expect(viaGrpc).toMatchObject({ ok: false, code: grpc.status.DEADLINE_EXCEEDED, accelCode: 'ACCEL_ERR_REQUEST_TIMEOUT' });
      expect((viaGrpc as { details: string }).details).toMatch(/did not finish within 150 ms .*--request-timeout-ms/);
      expect(viaKServe).toMatchObject({ ok: false, code: grpc.status.DEADLINE_EXCEEDED, accelCode: 'ACCEL_ERR_REQUEST_TIMEOUT' });
      expect(viaRest).toMatchObject({ status: 504, body: { code: 'ACCEL_ERR_REQUEST_TIMEOUT' } });
      expect(viaKServeRest).toMatchObject({ status: 504, body: { code: 'ACCEL_ERR_REQUEST_TIMEOUT' } });
      expect(await long).toBe('ACCEL_ERR_REQUEST_TIMEOUT');
      expect(performance.now() - t0).toBeLessThan(10_000);

      // The client's own gRPC deadline is honoured too (shorter than the server's limit).
      const patient = await startTestServer([{ name: 'slow', path: slowPath }], { batching: { maxBatchSize: 1 } });
      const pClient = new protos.GRPCInferenceService(patient.grpcAddress, grpc.credentials.createInsecure());
      try {
        const busy = patient.runtime.predict({}, rows(64));
        const t1 = performance.now();
        const hurried = await outcome(modelInfer(pClient, { model_name: 'slow', inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 512], contents: { fp32_contents: row } }] }, 100));
        expect(hurried).toMatchObject({ ok: false, code: grpc.status.DEADLINE_EXCEEDED });
        expect(performance.now() - t1).toBeLessThan(1_000);
        await busy;
      } finally {
        pClient.close();
        await patient.shutdown();
      }

    } finally {
      client.close();
      kClient.close();
      await slow.shutdown();
      dir.cleanup();
    }
  });
});
