import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import * as grpc from '@grpc/grpc-js';
import { protobufRoot } from '@accel/client/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LIMIT, PIXELS, ModelInferRequest, PredictRequest, Rand, SIZE, encode, imagePool, nested, type Case, type Pool, type Protocol } from '../test-util/fuzz';
import { kserveGrpcCase, tfCase, tfShape } from '../test-util/fuzz-grpc';
import { kserveRestCase, tfRestCase } from '../test-util/fuzz-rest';
import { channelMeans, modelDir, tinyClassifier, tinyReference, twoInputModel } from '../test-util/models';
import { f32Bytes, floatsOf, startTestServer } from '../test-util/server';

/*
 * Fuzzing every predict API of one real server with generated malformed requests (seeded: each
 * run sends the same ones; the generators are in test-util/fuzz*.ts). Each request has a class
 * and the statuses its class may get: the right error (INVALID_ARGUMENT / 400 mostly), or success
 * for the generated requests that are valid. Never INTERNAL / 500, never a hang; the server
 * answers a good request afterwards.
 */
const SEED = 0x5eed_2024;
const TOTAL = 10_000;
const IN_FLIGHT = 16;
const DEADLINE_MS = 20_000;
const root = protobufRoot();

const GENERATORS: Record<Protocol, (r: Rand, pool: Pool) => Case> = {
  'tf-grpc': tfCase,
  'kserve-grpc': kserveGrpcCase,
  'tf-rest': tfRestCase,
  'kserve-rest': kserveRestCase,
};
const METHOD: Partial<Record<Protocol, string>> = {
  'tf-grpc': '/tensorflow.serving.PredictionService/Predict',
  'kserve-grpc': '/inference.GRPCInferenceService/ModelInfer',
};

const files = modelDir();
let server: Awaited<ReturnType<typeof startTestServer>>;
let channel: grpc.Client;
const connect = () =>
  new grpc.Client(server.grpcAddress, grpc.credentials.createInsecure(), { 'grpc.max_send_message_length': 8 * LIMIT, 'grpc.max_receive_message_length': 8 * LIMIT });

beforeAll(async () => {
  server = await startTestServer(
    [
      { name: 'tiny', path: files.write('tiny.onnx', tinyClassifier({ size: SIZE })) },
      { name: 'pair', path: files.write('pair.onnx', twoInputModel()) },
    ],
    { maxMessageBytes: LIMIT },
  );
  channel = connect();
});
afterAll(async () => {
  channel.close();
  await server.shutdown();
  files.cleanup();
});

/** Raw bytes as one gRPC request; resolves with the status name and details. */
function sendGrpc(method: string, bytes: Uint8Array): Promise<{ outcome: string; detail: string; body?: Buffer }> {
  return new Promise((resolve) => {
    channel.makeUnaryRequest(
      method,
      (b: Uint8Array) => Buffer.from(b),
      (b: Buffer) => b,
      bytes,
      new grpc.Metadata(),
      { deadline: Date.now() + DEADLINE_MS },
      (err, res) => resolve(err ? { outcome: grpc.status[err.code], detail: `${err.details} [${err.metadata?.get('accel-error-code')[0] ?? ''}]` } : { outcome: 'OK', detail: '', body: res }),
    );
  });
}

async function sendRest(c: NonNullable<Case['rest']>): Promise<{ outcome: string; detail: string; body?: string }> {
  const headers: Record<string, string> = { ...c.headers };
  if (c.type !== '') headers['content-type'] = c.type ?? 'application/json';
  try {
    const res = await fetch(server.rest + c.path, { method: 'POST', headers, body: typeof c.body === 'string' ? c.body : new Uint8Array(c.body), signal: AbortSignal.timeout(DEADLINE_MS) });
    const text = await res.text();
    return { outcome: String(res.status), detail: res.ok ? '' : text.slice(0, 300), body: text };
  } catch (err) {
    return { outcome: `no answer (${(err as Error).name})`, detail: (err as Error).message };
  }
}

// A full collection before measuring, so that heap and Buffers show what is retained, not what V8 has yet to free.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const memory = () => {
  gc();
  const m = process.memoryUsage();
  return { rss: m.rss, heap: m.heapUsed, buffers: m.arrayBuffers };
};
const mb = (n: number) => Math.round(n / 1024 / 1024);

describe('fuzzing the predict APIs', () => {
  it(`answers ${TOTAL} generated malformed requests with the right error, never INTERNAL/500 or a hang`, async () => {
    const pool = await imagePool();
    const r = new Rand(SEED);
    const protocols = Object.keys(GENERATORS) as Protocol[];
    // Warm up (first requests pay for lazy initialization), then measure memory.
    for (let i = 0; i < 40; i++) {
      const p = protocols[i % 4];
      const c = GENERATORS[p](new Rand(i), pool);
      await (c.grpc ? sendGrpc(METHOD[p]!, c.grpc) : sendRest(c.rest!));
    }
    const before = memory();
    const started = performance.now();

    const counts: Record<string, Record<string, number>> = Object.fromEntries(protocols.map((p) => [p, {}]));
    const failures: string[] = [];
    const timeByKind = new Map<string, { n: number; ms: number }>();
    const rssSamples: number[] = [];
    let next = 0;
    const worker = async () => {
      while (next < TOTAL) {
        const i = next++;
        if (i % (TOTAL / 4) === 0 && i > 0) rssSamples.push(memory().rss);
        const protocol = protocols[i % 4];
        const c = GENERATORS[protocol](r, pool);
        const t0 = performance.now();
        const seen = c.grpc ? await sendGrpc(METHOD[protocol]!, c.grpc) : await sendRest(c.rest!);
        const k = timeByKind.get(`${protocol} ${c.kind}`) ?? { n: 0, ms: 0 };
        timeByKind.set(`${protocol} ${c.kind}`, { n: k.n + 1, ms: k.ms + performance.now() - t0 });
        counts[protocol][seen.outcome] = (counts[protocol][seen.outcome] ?? 0) + 1;
        if (!c.allowed.includes(seen.outcome)) failures.push(`#${i} ${protocol} ${c.kind}: got ${seen.outcome}, expected ${c.allowed.join('|')}: ${seen.detail}`);
      }
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
    const seconds = (performance.now() - started) / 1000;
    const open = memory();
    // Refused over-limit gRPC messages stay buffered (grpc-js / Node http2, ~250 MB at most
    // between client and server) until their connection closes: measure after closing it.
    channel.close();
    channel = connect();
    for (let t = 0; t < 50 && memory().buffers > before.buffers + 64 * 1024 * 1024; t++) await new Promise((ok) => setTimeout(ok, 100));
    const after = memory();

    console.log(`fuzz: ${TOTAL} requests in ${seconds.toFixed(1)} s (${IN_FLIGHT} in flight, seed 0x${SEED.toString(16)})`);
    for (const p of protocols) {
      const total = Object.values(counts[p]).reduce((a, b) => a + b, 0);
      const codes = Object.entries(counts[p]).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ');
      console.log(`  ${p.padEnd(12)} ${total} requests: ${codes}`);
    }
    const slowest = [...timeByKind].sort((a, b) => b[1].ms - a[1].ms).slice(0, 4);
    console.log(`  most time: ${slowest.map(([k, v]) => `${k} ${Math.round(v.ms / 1000)} s (${v.n})`).join('; ')}`);
    console.log(`  memory: rss ${mb(before.rss)} -> ${[...rssSamples, open.rss].map(mb).join(' -> ')} MB (each quarter, after a full GC), ${mb(after.rss)} MB once the gRPC connection closed; heap used ${mb(before.heap)} -> ${mb(after.heap)} MB, buffers ${mb(before.buffers)} -> ${mb(after.buffers)} MB`);
    if (failures.length) console.log(`${failures.length} unexpected answers, first ones:\n${failures.slice(0, 25).join('\n')}`);

    expect(failures).toEqual([]);
    for (const p of protocols) {
      expect(Object.keys(counts[p])).not.toContain('INTERNAL');
      expect(Object.keys(counts[p])).not.toContain('500');
    }
    // Nothing retained: JS heap and Buffers back near where they started. RSS stays higher (memory freed
    // outside the heap that the process keeps; it levels off at ~700 MB over 30,000 requests): a loose bound.
    expect(after.heap - before.heap).toBeLessThan(50 * 1024 * 1024);
    expect(after.buffers - before.buffers).toBeLessThan(64 * 1024 * 1024);
    expect(after.rss - before.rss).toBeLessThan(768 * 1024 * 1024);
  }, 240_000);

  it('still answers a good request correctly on every protocol afterwards', async () => {
    const x = Array.from({ length: PIXELS }, (_, i) => Math.sin(i) * 2);
    const expected = tinyReference(channelMeans(Float32Array.from(x), SIZE));
    const close = (got: number[]) => got.forEach((v, i) => expect(v).toBeCloseTo(expected[i], 5));

    const tf = await sendGrpc(METHOD['tf-grpc']!, encode(PredictRequest, { model_spec: { name: 'tiny' }, inputs: { input: { dtype: 'DT_FLOAT', tensor_shape: tfShape([1, 3, SIZE, SIZE]), tensor_content: f32Bytes(x) } }, output_filter: ['probs'] }));
    expect(tf.outcome).toBe('OK');
    const tfRes = root.lookupType('tensorflow.serving.PredictResponse').toObject(root.lookupType('tensorflow.serving.PredictResponse').decode(tf.body!), { longs: String, enums: String }) as { outputs: Record<string, { tensor_content: Buffer }> };
    close(floatsOf(tfRes.outputs.probs));

    const k = await sendGrpc(METHOD['kserve-grpc']!, encode(ModelInferRequest, { model_name: 'tiny', inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3, SIZE, SIZE], contents: { fp32_contents: x } }], outputs: [{ name: 'probs' }] }));
    expect(k.outcome).toBe('OK');
    const kRes = root.lookupType('inference.ModelInferResponse').decode(k.body!) as unknown as { raw_output_contents: Uint8Array[] };
    close(floatsOf({ tensor_content: Buffer.from(kRes.raw_output_contents[0]) }));

    const rest = await sendRest({ path: '/v1/models/tiny:predict', body: JSON.stringify({ instances: [nested(x, [3, SIZE, SIZE])] }) });
    expect(rest.outcome).toBe('200');
    close((JSON.parse(rest.body!) as { predictions: number[][] }).predictions[0]);

    const kRest = await sendRest({ path: '/v2/models/tiny/infer', body: JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3, SIZE, SIZE], data: x }], outputs: [{ name: 'probs' }] }) });
    expect(kRest.outcome).toBe('200');
    close((JSON.parse(kRest.body!) as { outputs: Array<{ data: number[] }> }).outputs[0].data);
  });
});
