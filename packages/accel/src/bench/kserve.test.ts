import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { PredictionError } from '@accel/client';
import { loadServingProtos } from '@accel/client/proto';
import { afterEach, describe, expect, it } from 'vitest';
import { KServeGrpcClient, KServeRestClient, baseUrl, decodeBytesTensor, encodeBytesTensor, v2ModelPath } from './kserve';

const images = [Buffer.from('first image'), Buffer.from([0xff, 0xd8, 0xff, 0, 1, 2])];
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function body(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** A KServe v2 REST server written from the spec, independent of Accel's: it checks the framing of each request. */
async function fakeRestServer(answer: (header: any, inputs: Buffer[]) => { status: number; header?: object; binary?: Buffer; text?: string }) {
  const seen: Array<{ url: string; header: any; inputs: Buffer[] }> = [];
  const server: Server = createServer(async (req, res) => {
    const raw = await body(req);
    const n = Number(req.headers['inference-header-content-length']);
    const header = JSON.parse(raw.subarray(0, n).toString('utf8'));
    const inputs = decodeBytesTensor(raw.subarray(n, n + header.inputs[0].parameters.binary_data_size));
    seen.push({ url: req.url!, header, inputs });
    const a = answer(header, inputs);
    if (a.text !== undefined) return res.writeHead(a.status, { 'content-type': 'application/json' }).end(a.text);
    const json = Buffer.from(JSON.stringify(a.header));
    res.writeHead(a.status, { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(json.length) });
    res.end(Buffer.concat([json, a.binary ?? Buffer.alloc(0)]));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  return { address: `127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

describe('KServe v2 wire', () => {
  it('frames BYTES elements as a 4-byte little-endian length and the bytes', () => {
    const raw = encodeBytesTensor(images);
    expect(raw.readUInt32LE(0)).toBe(11);
    expect(raw.subarray(4, 15).toString()).toBe('first image');
    expect(raw.readUInt32LE(15)).toBe(6);
    expect(raw.length).toBe(4 + 11 + 4 + 6);
    expect(decodeBytesTensor(raw)).toEqual(images);
    expect(() => decodeBytesTensor(raw.subarray(0, 20))).toThrow(/declares 6 bytes; only 1 remain/);
    expect(() => decodeBytesTensor(raw.subarray(0, 17))).toThrow(/inside a length prefix/);
  });

  it('builds URLs and model paths', () => {
    expect(baseUrl('localhost', 8501)).toBe('http://localhost:8501');
    expect(baseUrl('[::1]:9000', 8501)).toBe('http://[::1]:9000');
    expect(baseUrl('https://gw.example/accel/', 8501)).toBe('https://gw.example/accel');
    expect(v2ModelPath('a b')).toBe('/v2/models/a%20b');
    expect(v2ModelPath('m', '3')).toBe('/v2/models/m/versions/3');
  });

  it('REST: posts the JSON header, its length and the binary images; accepts a binary answer', async () => {
    const out = Buffer.from(new Float32Array([0.25, 0.75]).buffer);
    const fake = await fakeRestServer(() => ({
      status: 200,
      header: { model_name: 'm', outputs: [{ name: 'probs', datatype: 'FP32', shape: [1, 2], parameters: { binary_data_size: out.length } }] },
      binary: out,
    }));
    const client = new KServeRestClient(fake.address, 'm', '2', 5_000);
    await client.infer(images);
    expect(fake.seen).toHaveLength(1);
    const [req] = fake.seen;
    expect(req.url).toBe('/v2/models/m/versions/2/infer');
    expect(req.header.inputs).toEqual([{ name: 'images', datatype: 'BYTES', shape: [2], parameters: { binary_data_size: 25 } }]);
    expect(req.header.parameters).toEqual({ binary_data_output: true });
    expect(req.inputs).toEqual(images);
  });

  it('REST: accepts a plain JSON answer and maps errors to status names', async () => {
    let status = 200;
    const fake = await fakeRestServer(() =>
      status === 200 ? { status, text: JSON.stringify({ outputs: [{ name: 'probs', datatype: 'FP32', shape: [1], data: [1] }] }) } : { status, text: JSON.stringify({ error: 'no such model' }) },
    );
    const client = new KServeRestClient(fake.address, 'm', undefined, 5_000);
    await client.infer(images.slice(0, 1));
    status = 404;
    const err = await client.infer(images).catch((e) => e);
    expect(err).toBeInstanceOf(PredictionError);
    expect(err).toMatchObject({ codeName: 'NOT_FOUND', httpStatus: 404, details: 'no such model' });
    status = 200;
    const short = await fakeRestServer(() => ({ status: 200, header: { outputs: [{ name: 'p', parameters: { binary_data_size: 8 } }] }, binary: Buffer.alloc(4) }));
    const bad = await new KServeRestClient(short.address, 'm', undefined, 5_000).infer(images).catch((e) => e);
    expect(bad).toMatchObject({ codeName: 'INTERNAL' });
    expect(bad.details).toMatch(/declare 8 binary bytes but 4 follow/);
    const down = await new KServeRestClient('127.0.0.1:1', 'm', undefined, 5_000).infer(images).catch((e) => e);
    expect(down).toMatchObject({ codeName: 'UNAVAILABLE' });
  });

  it('gRPC: sends ModelInfer with the images in raw_input_contents and maps errors', async () => {
    const { GRPCInferenceService } = loadServingProtos();
    const requests: any[] = [];
    const server = new grpc.Server();
    server.addService(GRPCInferenceService.service, {
      ModelInfer: (call: grpc.ServerUnaryCall<any, any>, cb: grpc.sendUnaryData<any>) => {
        requests.push(call.request);
        if (call.request.model_name !== 'm') return cb({ code: grpc.status.NOT_FOUND, details: `no model ${call.request.model_name}` });
        cb(null, { model_name: 'm', outputs: [{ name: 'probs', datatype: 'FP32', shape: [1, 2] }], raw_output_contents: [Buffer.alloc(8)] });
      },
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    cleanups.push(() => new Promise<void>((r) => server.tryShutdown(() => r())));
    const client = new KServeGrpcClient(`127.0.0.1:${port}`, 'm', undefined, 5_000);
    cleanups.push(() => client.close());
    await client.infer(images);
    expect(requests[0]).toMatchObject({ model_name: 'm', inputs: [{ name: 'images', datatype: 'BYTES', shape: ['2'] }] });
    expect(requests[0].raw_input_contents).toHaveLength(1);
    expect(decodeBytesTensor(requests[0].raw_input_contents[0])).toEqual(images);

    const other = new KServeGrpcClient(`127.0.0.1:${port}`, 'x', '1', 5_000);
    cleanups.push(() => other.close());
    const err = await other.infer(images).catch((e) => e);
    expect(err).toBeInstanceOf(PredictionError);
    expect(err).toMatchObject({ codeName: 'NOT_FOUND', details: 'no model x' });
    expect(requests[1].model_version).toBe('1');
  });
});
