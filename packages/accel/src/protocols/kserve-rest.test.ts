import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectClose, tinyExpectedFor } from '../test-util/expect';
import pkg from '../../package.json' with { type: 'json' };
import { channelMeans, modelDir, tinyClassifier, tinyReference, twoInputModel } from '../test-util/models';
import { f32Bytes, samplePhoto, solidPng, startTestServer } from '../test-util/server';
import { fromHalf, rawBytes, tensorFromRaw, tensorFromValues, toHalf } from './kserve-tensor';

const SIZE = 8;
const files = modelDir();
let server: Awaited<ReturnType<typeof startTestServer>>;

const PIXELS = Array.from({ length: 3 * SIZE * SIZE }, (_, i) => Math.sin(i) * 2);
const PIXELS_EXPECTED = tinyReference(channelMeans(Float32Array.from(PIXELS), SIZE));

/** BYTES elements as binary tensor data: each a 4-byte little-endian length, then the bytes. */
function lengthPrefixed(items: Buffer[]): Buffer {
  return Buffer.concat(items.flatMap((b) => [Buffer.from(Uint32Array.of(b.length).buffer), b]));
}

/** A binary-extension body: the JSON header, then the binary parts. */
function binaryBody(header: unknown, ...parts: Buffer[]) {
  const json = Buffer.from(JSON.stringify(header));
  return { body: Buffer.concat([json, ...parts]), length: String(json.length) };
}

async function infer(path: string, body: unknown, headers: Record<string, string> = { 'content-type': 'application/json' }) {
  const res = await fetch(server.rest + path, { method: 'POST', headers, body: Buffer.isBuffer(body) ? new Uint8Array(body) : JSON.stringify(body) });
  const bytes = Buffer.from(await res.arrayBuffer());
  const jsonLength = res.headers.get('inference-header-content-length');
  const split = jsonLength === null ? bytes.length : Number(jsonLength);
  return { status: res.status, headers: res.headers, body: JSON.parse(bytes.subarray(0, split).toString()), binary: bytes.subarray(split) };
}
async function get(path: string) {
  const res = await fetch(server.rest + path);
  return { status: res.status, body: (await res.json()) as any };
}
function floats(bytes: Buffer): Float32Array {
  return new Float32Array(Uint8Array.from(bytes).buffer);
}

beforeAll(async () => {
  server = await startTestServer([
    { name: 'tiny', path: files.write('tiny1.onnx', tinyClassifier()), version: 1 },
    { name: 'tiny', path: files.write('tiny2.onnx', tinyClassifier()), version: 2 },
    { name: 'pair', path: files.write('pair.onnx', twoInputModel()) },
  ]);
});
afterAll(async () => {
  await server.shutdown();
  files.cleanup();
});

describe('KServe v2 REST: health and metadata', () => {
  it('answers server metadata, liveness and readiness', async () => {
    expect(await get('/v2')).toEqual({ status: 200, body: { name: 'accel', version: pkg.version, extensions: ['binary_tensor_data'] } });
    expect(await get('/v2/health/live')).toEqual({ status: 200, body: { live: true } });
    expect(await get('/v2/health/ready')).toEqual({ status: 200, body: { ready: true } });
  });

  it('describes a model: versions, platform, the signature inputs (with the images alias) and graph outputs', async () => {
    const expected = {
      name: 'tiny',
      versions: ['1', '2'],
      platform: 'onnxruntime',
      inputs: [
        { name: 'images', datatype: 'BYTES', shape: [-1] },
        { name: 'input', datatype: 'FP32', shape: [-1, 3, 8, 8] },
      ],
      outputs: [{ name: 'probs', datatype: 'FP32', shape: [-1, 5] }],
    };
    expect(await get('/v2/models/tiny')).toEqual({ status: 200, body: expected });
    expect(await get('/v2/models/tiny/versions/1')).toEqual({ status: 200, body: expected });
    const pair = await get('/v2/models/pair');
    expect(pair.body.inputs.map((i: any) => i.name)).toEqual(['a', 'b']);
    expect(pair.body.outputs).toEqual([
      { name: 'sum', datatype: 'FP32', shape: [-1, 2] },
      { name: 'product', datatype: 'FP32', shape: [-1, 2] },
    ]);
  });

  it('reports model readiness, and 404 for models and versions that do not exist', async () => {
    expect(await get('/v2/models/tiny/ready')).toEqual({ status: 200, body: { name: 'tiny', ready: true } });
    expect(await get('/v2/models/tiny/versions/2/ready')).toEqual({ status: 200, body: { name: 'tiny', ready: true } });
    const noVersion = await get('/v2/models/tiny/versions/7/ready');
    expect(noVersion.status).toBe(404);
    expect(noVersion.body).toEqual({ error: 'Model "tiny" has no version 7. Versions served: 2, 1.', code: 'ACCEL_ERR_VERSION_NOT_FOUND' });
    const noModel = await get('/v2/models/resnet');
    expect(noModel.status).toBe(404);
    expect(noModel.body.code).toBe('ACCEL_ERR_MODEL_NOT_FOUND');
    expect(noModel.body.error).toMatch(/Model "resnet" is not served here. Models served: "pair", "tiny"/);
  });
});

describe('KServe v2 REST: infer', () => {
  it('takes FP32 JSON data (flat or nested) and answers the $inference_response shape', async () => {
    const flat = await infer('/v2/models/tiny/infer', {
      id: 'req-1',
      inputs: [{ name: 'input', shape: [1, 3, SIZE, SIZE], datatype: 'FP32', data: PIXELS }],
    });
    expect(flat.status).toBe(200);
    expect(flat.headers.get('content-type')).toMatch(/^application\/json/);
    expect(flat.body).toEqual({
      model_name: 'tiny',
      model_version: '2',
      id: 'req-1',
      outputs: [{ name: 'probs', datatype: 'FP32', shape: [1, 5], data: expect.any(Array) }],
    });
    expectClose(flat.body.outputs[0].data, PIXELS_EXPECTED);
    const nested = [0, 1, 2].map((c) => Array.from({ length: SIZE }, (_, y) => PIXELS.slice(c * 64 + y * 8, c * 64 + y * 8 + 8)));
    const res = await infer('/v2/models/tiny/versions/1/infer', { inputs: [{ name: 'input', shape: [1, 3, SIZE, SIZE], datatype: 'FP32', data: [nested] }] });
    expect(res.body.model_version).toBe('1');
    expect(res.body).not.toHaveProperty('id');
    expectClose(res.body.outputs[0].data, PIXELS_EXPECTED);
  });

  it('answers the outputs asked for, in order, with exact values', async () => {
    const res = await infer('/v2/models/pair/infer', {
      inputs: [
        { name: 'a', shape: [2, 2], datatype: 'FP32', data: [1, 2, 0, 1] },
        { name: 'b', shape: [2, 2], datatype: 'FP32', data: [[3, 4], [5, 6]] },
      ],
      outputs: [{ name: 'product' }, { name: 'sum' }],
    });
    expect(res.body.outputs).toEqual([
      { name: 'product', datatype: 'FP32', shape: [2, 2], data: [3, 8, 0, 6] },
      { name: 'sum', datatype: 'FP32', shape: [2, 2], data: [4, 6, 5, 7] },
    ]);
  });

  it('takes JPEG and PNG BYTES under "images" as binary tensor data and returns a binary output', async () => {
    const photo = await samplePhoto();
    const red = await solidPng(255, 0, 0);
    const data = lengthPrefixed([photo, red]);
    const { body, length } = binaryBody(
      {
        inputs: [{ name: 'images', shape: [2], datatype: 'BYTES', parameters: { binary_data_size: data.length } }],
        outputs: [{ name: 'probs', parameters: { binary_data: true } }],
      },
      data,
    );
    for (const headers of [{ 'content-type': 'application/octet-stream' }, {}] as Array<Record<string, string>>) {
      const res = await infer('/v2/models/tiny/infer', body, { ...headers, 'inference-header-content-length': length });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/octet-stream');
      expect(res.body).toEqual({
        model_name: 'tiny',
        model_version: '2',
        outputs: [{ name: 'probs', datatype: 'FP32', shape: [2, 5], parameters: { binary_data_size: 40 } }],
      });
      const probs = floats(res.binary);
      expectClose(probs.subarray(0, 5), await tinyExpectedFor(photo));
      expectClose(probs.subarray(5), await tinyExpectedFor(red));
    }
  });

  it('takes binary FP32 input, mixes JSON and binary outputs, and honours binary_data_output', async () => {
    const a = f32Bytes([1, 2]);
    const b = f32Bytes([3, 4]);
    const inputs = [
      { name: 'a', shape: [1, 2], datatype: 'FP32', parameters: { binary_data_size: 8 } },
      { name: 'b', shape: [1, 2], datatype: 'FP32', parameters: { binary_data_size: 8 } },
    ];
    const mixed = binaryBody({ inputs, outputs: [{ name: 'sum', parameters: { binary_data: true } }, { name: 'product' }] }, a, b);
    const res = await infer('/v2/models/pair/infer', mixed.body, { 'inference-header-content-length': mixed.length });
    expect(res.body.outputs).toEqual([
      { name: 'sum', datatype: 'FP32', shape: [1, 2], parameters: { binary_data_size: 8 } },
      { name: 'product', datatype: 'FP32', shape: [1, 2], data: [3, 8] },
    ]);
    expect(Array.from(floats(res.binary))).toEqual([4, 6]);

    const all = binaryBody({ inputs, parameters: { binary_data_output: true } }, a, b);
    const res2 = await infer('/v2/models/pair/infer', all.body, { 'inference-header-content-length': all.length });
    expect(res2.body.outputs.map((o: any) => o.parameters)).toEqual([{ binary_data_size: 8 }, { binary_data_size: 8 }]);
    expect(Array.from(floats(res2.binary))).toEqual([4, 6, 3, 8]);

    const jsonOnly = binaryBody({ inputs }, a, b);
    const res3 = await infer('/v2/models/pair/infer', jsonOnly.body, { 'inference-header-content-length': jsonOnly.length });
    expect(res3.headers.get('inference-header-content-length')).toBeNull();
    expect(res3.body.outputs[0].data).toEqual([4, 6]);
  });

  it('takes BYTES in JSON as {"b64": ...} elements (an Accel extension: JSON strings are UTF-8 text)', async () => {
    const photo = await samplePhoto();
    const res = await infer('/v2/models/tiny/infer', { inputs: [{ name: 'images', shape: [1], datatype: 'BYTES', data: [{ b64: photo.toString('base64') }] }] });
    expect(res.status).toBe(200);
    expectClose(res.body.outputs[0].data, await tinyExpectedFor(photo));
  });
});

describe('KServe v2 REST: errors', () => {
  const input = (over: Record<string, unknown> = {}) => ({ name: 'input', shape: [1, 3, SIZE, SIZE], datatype: 'FP32', data: PIXELS, ...over });
  const cases: Array<[string, string, unknown, number, string, RegExp]> = [
    ['unknown model', '/v2/models/resnet/infer', { inputs: [input()] }, 404, 'ACCEL_ERR_MODEL_NOT_FOUND', /Model "resnet" is not served here/],
    ['unknown version', '/v2/models/tiny/versions/5/infer', { inputs: [input()] }, 404, 'ACCEL_ERR_VERSION_NOT_FOUND', /no version 5. Versions served: 1, 2/],
    ['bad version', '/v2/models/tiny/versions/x/infer', { inputs: [input()] }, 400, 'ACCEL_ERR_BAD_REQUEST', /version "x" is not a non-negative integer/],
    ['wrong datatype', '/v2/models/tiny/infer', { inputs: [input({ datatype: 'INT32', data: PIXELS.map(Math.round) })] }, 400, 'ACCEL_ERR_BAD_DTYPE', /Input "input" has dtype int32; model "tiny" expects float32/],
    ['unknown datatype', '/v2/models/tiny/infer', { inputs: [input({ datatype: 'FLOAT' })] }, 400, 'ACCEL_ERR_BAD_TENSOR', /datatype "FLOAT" is not one of BOOL, UINT8/],
    ['wrong shape', '/v2/models/tiny/infer', { inputs: [input({ shape: [1, 3, 4, 4], data: PIXELS.slice(0, 48) })] }, 400, 'ACCEL_ERR_BAD_SHAPE', /has shape \[1,3,4,4\]; model "tiny" expects \[-1,3,8,8\]/],
    ['data length mismatch', '/v2/models/tiny/infer', { inputs: [input({ data: [1, 2, 3] })] }, 400, 'ACCEL_ERR_BAD_TENSOR', /data has 3 elements; shape \[1,3,8,8\] needs 192/],
    ['non-number data', '/v2/models/tiny/infer', { inputs: [input({ data: ['a', ...PIXELS.slice(1)] })] }, 400, 'ACCEL_ERR_BAD_TENSOR', /data\[0\] is "a"; FP32 data must be numbers/],
    ['negative dimension', '/v2/models/tiny/infer', { inputs: [input({ shape: [-1, 3, 8, 8] })] }, 400, 'ACCEL_ERR_BAD_TENSOR', /must hold non-negative integers/],
    ['no inputs', '/v2/models/tiny/infer', { inputs: [] }, 400, 'ACCEL_ERR_BAD_REQUEST', /"inputs" must be a non-empty list/],
    ['no data', '/v2/models/tiny/infer', { inputs: [input({ data: undefined })] }, 400, 'ACCEL_ERR_BAD_REQUEST', /neither "data" nor parameters.binary_data_size/],
    ['unknown input', '/v2/models/tiny/infer', { inputs: [input({ name: 'x' })] }, 400, 'ACCEL_ERR_UNKNOWN_INPUT', /Input "x" is not an input of model "tiny"/],
    ['missing input', '/v2/models/pair/infer', { inputs: [{ name: 'a', shape: [1, 2], datatype: 'FP32', data: [1, 2] }] }, 400, 'ACCEL_ERR_MISSING_INPUT', /Input "b" is required/],
    ['unknown output', '/v2/models/tiny/infer', { inputs: [input()], outputs: [{ name: 'logits' }] }, 400, 'ACCEL_ERR_UNKNOWN_OUTPUT', /Output "logits" .* Outputs: "probs", "output_alias"/],
    ['corrupt image', '/v2/models/tiny/infer', { inputs: [{ name: 'images', shape: [1], datatype: 'BYTES', data: ['not a jpeg'] }] }, 400, 'ACCEL_ERR_BAD_IMAGE', /item 0 is not a decodable JPEG or PNG image/],
    ['invalid JSON', '/v2/models/tiny/infer', '{"inputs": [', 400, 'ACCEL_ERR_BAD_REQUEST', /the body is not valid JSON/],
  ];
  for (const [name, path, body, status, code, message] of cases) {
    it(`answers ${status} ${code} for ${name}`, async () => {
      const res = await infer(path, typeof body === 'string' ? Buffer.from(body) : body);
      expect(res.status).toBe(status);
      expect(res.headers.get('accel-error-code')).toBe(code);
      expect(res.body.code).toBe(code);
      expect(res.body.error).toMatch(message);
    });
  }

  const header = { inputs: [{ name: 'a', shape: [1, 2], datatype: 'FP32', parameters: { binary_data_size: 8 } }, { name: 'b', shape: [1, 2], datatype: 'FP32', data: [1, 1] }] };
  const binaryCases: Array<[string, (json: Buffer) => [Buffer, string], RegExp]> = [
    ['a header length that is not a number', (j) => [Buffer.concat([j, f32Bytes([1, 2])]), 'abc'], /Inference-Header-Content-Length is "abc"/],
    ['a header length past the body', (j) => [Buffer.concat([j, f32Bytes([1, 2])]), String(j.length + 100)], /at most \d+ \(the body's length\)/],
    ['a header length that cuts the JSON', (j) => [Buffer.concat([j, f32Bytes([1, 2])]), String(j.length - 3)], /the body is not valid JSON/],
    ['binary data shorter than binary_data_size', (j) => [Buffer.concat([j, f32Bytes([1])]), String(j.length)], /needs 8 bytes of binary data at offset 0, but the binary part has 4 bytes/],
    ['binary data left over', (j) => [Buffer.concat([j, f32Bytes([1, 2, 3])]), String(j.length)], /the binary part has 12 bytes but the inputs' binary_data_size add up to 8/],
  ];
  for (const [name, make, message] of binaryCases) {
    it(`answers 400 for ${name}`, async () => {
      const [body, length] = make(Buffer.from(JSON.stringify(header)));
      const res = await infer('/v2/models/pair/infer', body, { 'inference-header-content-length': length });
      expect(res.status).toBe(400);
      expect(res.body.code).toBe('ACCEL_ERR_BAD_REQUEST');
      expect(res.body.error).toMatch(message);
    });
  }

  it('answers 400 when binary data does not match the shape, or BYTES elements are truncated', async () => {
    const short = binaryBody({ inputs: [{ name: 'a', shape: [1, 2], datatype: 'FP32', parameters: { binary_data_size: 4 } }, header.inputs[1]] }, f32Bytes([1]));
    const res = await infer('/v2/models/pair/infer', short.body, { 'inference-header-content-length': short.length });
    expect([res.status, res.body.code]).toEqual([400, 'ACCEL_ERR_BAD_TENSOR']);
    expect(res.body.error).toMatch(/binary data has 4 bytes; shape \[1,2\] of FP32 needs 8/);
    const cut = lengthPrefixed([Buffer.from('abcdef')]).subarray(0, 7);
    const bytes = binaryBody({ inputs: [{ name: 'images', shape: [1], datatype: 'BYTES', parameters: { binary_data_size: 7 } }] }, cut);
    const res2 = await infer('/v2/models/tiny/infer', bytes.body, { 'inference-header-content-length': bytes.length });
    expect([res2.status, res2.body.code]).toEqual([400, 'ACCEL_ERR_BAD_TENSOR']);
    expect(res2.body.error).toMatch(/BYTES element 0 declares 6 bytes but only 3 remain/);
  });

  it('keeps the TF Serving REST API working beside it', async () => {
    const res = await fetch(`${server.rest}/v1/models/pair:predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' }, // as curl -d sends it
      body: JSON.stringify({ inputs: { a: [[1, 1]], b: [[2, 3]] } }),
    });
    expect(await res.json()).toEqual({ outputs: { sum: [[3, 4]], product: [[2, 3]] } });
  });

  it('counts requests under protocol="kserve-rest"', async () => {
    const text = await (await fetch(`${server.rest}/metrics`)).text();
    expect(text).toMatch(/accel_requests_total\{model="pair",version="1",protocol="kserve-rest",status="OK"\} [1-9]/);
    expect(text).toMatch(/accel_requests_total\{model="resnet",version="",protocol="kserve-rest",status="NOT_FOUND"\} [1-9]/);
    expect(text).toMatch(/accel_requests_total\{model="tiny",version="",protocol="kserve-rest",status="INVALID_ARGUMENT"\} [1-9]/);
  });
});

describe('KServe tensor mapping', () => {
  it('converts FP16 both ways, rounding to nearest even', () => {
    for (const v of [0, 1, -2.5, 0.1, 65504, 6.1e-5, 5.96e-8]) expect(fromHalf(toHalf(v))).toBeCloseTo(v, 3);
    expect([toHalf(1), toHalf(-2), toHalf(65520), toHalf(1e-9), toHalf(1 + 2 ** -11)]).toEqual([0x3c00, 0xc000, 0x7c00, 0, 0x3c00]);
    const t = tensorFromValues('h', 'float16', [2], [0.5, -1]);
    expect(Array.from(t.data as Uint16Array)).toEqual([0x3800, 0xbc00]);
  });

  it('round-trips BYTES and INT64 through binary data, and checks integer ranges', () => {
    const bytes = tensorFromValues('s', 'string', [2], ['hé', { b64: 'AAE=' }]);
    expect(tensorFromRaw('s', 'string', [2], rawBytes(bytes))).toEqual(bytes);
    const ints = tensorFromValues('i', 'int64', [2], ['9007199254740993', -4]);
    expect(Array.from(tensorFromRaw('i', 'int64', [2], rawBytes(ints)).data as BigInt64Array)).toEqual([9007199254740993n, -4n]);
    expect(() => tensorFromValues('u', 'uint8', [1], [256])).toThrow(/UINT8 data must be integers from 0 to 255/);
    expect(() => tensorFromValues('b', 'bool', [1], [1])).toThrow(/BOOL data must be true or false/);
  });
});
