import * as grpc from '@grpc/grpc-js';
import { loadServingProtos } from '@accel/client/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectClose, tinyExpectedFor } from '../test-util/expect';
import pkg from '../../package.json' with { type: 'json' };
import { channelMeans, modelDir, tinyClassifier, tinyReference, twoInputModel } from '../test-util/models';
import { f32Bytes, samplePhoto, solidPng, startTestServer } from '../test-util/server';

const SIZE = 8;
const files = modelDir();
let server: Awaited<ReturnType<typeof startTestServer>>;
let client: grpc.Client;

type Method = 'ServerLive' | 'ServerReady' | 'ServerMetadata' | 'ModelReady' | 'ModelMetadata' | 'ModelInfer';
type Unary = (req: unknown, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: any) => void) => void;

/** One call to inference.GRPCInferenceService, with a deadline like a real client sets. */
function call(method: Method, request: unknown = {}): Promise<any> {
  const fn = (client as unknown as Record<string, Unary>)[method].bind(client);
  return new Promise((resolve, reject) =>
    fn(request, new grpc.Metadata(), { deadline: Date.now() + 30_000 }, (err, res) => (err ? reject(err) : resolve(res))),
  );
}
async function failure(p: Promise<unknown>): Promise<grpc.ServiceError> {
  return p.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (e: grpc.ServiceError) => e,
  );
}

function floats(bytes: Uint8Array): Float32Array {
  return new Float32Array(Uint8Array.from(bytes).buffer);
}
/** BYTES elements as raw contents: each a 4-byte little-endian length, then the bytes. */
function lengthPrefixed(items: Buffer[]): Buffer {
  return Buffer.concat(items.flatMap((b) => [Buffer.from(Uint32Array.of(b.length).buffer), b]));
}
const PIXELS = Array.from({ length: 3 * SIZE * SIZE }, (_, i) => Math.sin(i) * 2);
const PIXELS_EXPECTED = tinyReference(channelMeans(Float32Array.from(PIXELS), SIZE));
const IMAGE_SHAPE = [1, 3, SIZE, SIZE];

beforeAll(async () => {
  server = await startTestServer([
    { name: 'tiny', path: files.write('tiny1.onnx', tinyClassifier()), version: 1 },
    { name: 'tiny', path: files.write('tiny3.onnx', tinyClassifier()), version: 3 },
    { name: 'pair', path: files.write('pair.onnx', twoInputModel()) },
  ]);
  const { GRPCInferenceService } = loadServingProtos();
  client = new GRPCInferenceService(server.grpcAddress, grpc.credentials.createInsecure());
});
afterAll(async () => {
  client.close();
  await server.shutdown();
  files.cleanup();
});

describe('GRPCInferenceService: health and metadata', () => {
  it('answers ServerLive, ServerReady and ServerMetadata', async () => {
    expect(await call('ServerLive')).toEqual({ live: true });
    expect(await call('ServerReady')).toEqual({ ready: true });
    expect(await call('ServerMetadata')).toEqual({ name: 'accel', version: pkg.version, extensions: ['binary_tensor_data'] });
  });

  it('answers ModelReady for a model or a version, NOT_FOUND for what does not exist', async () => {
    expect(await call('ModelReady', { name: 'tiny' })).toEqual({ ready: true });
    expect(await call('ModelReady', { name: 'tiny', version: '1' })).toEqual({ ready: true });
    const err = await failure(call('ModelReady', { name: 'tiny', version: '2' }));
    expect(err.code).toBe(grpc.status.NOT_FOUND);
    expect(err.metadata.get('accel-error-code')).toEqual(['ACCEL_ERR_VERSION_NOT_FOUND']);
  });

  it('describes a model with its versions, the images alias, and int64 shapes', async () => {
    const res = await call('ModelMetadata', { name: 'tiny' });
    expect(res).toEqual({
      name: 'tiny',
      versions: ['1', '3'],
      platform: 'onnxruntime',
      inputs: [
        { name: 'images', datatype: 'BYTES', shape: ['-1'] },
        { name: 'input', datatype: 'FP32', shape: ['-1', '3', '8', '8'] },
      ],
      outputs: [{ name: 'probs', datatype: 'FP32', shape: ['-1', '5'] }],
    });
    const err = await failure(call('ModelMetadata', { name: 'resnet' }));
    expect(err.code).toBe(grpc.status.NOT_FOUND);
    expect(err.details).toMatch(/Model "resnet" is not served here. Models served: "pair", "tiny"/);
  });
});

describe('GRPCInferenceService/ModelInfer', () => {
  it('takes FP32 in typed contents and answers raw_output_contents', async () => {
    const res = await call('ModelInfer', {
      model_name: 'tiny',
      id: 'req-7',
      inputs: [{ name: 'input', datatype: 'FP32', shape: IMAGE_SHAPE, contents: { fp32_contents: PIXELS } }],
    });
    expect(res).toMatchObject({
      model_name: 'tiny',
      model_version: '3',
      id: 'req-7',
      outputs: [{ name: 'probs', datatype: 'FP32', shape: ['1', '5'] }],
    });
    expect(res.raw_output_contents).toHaveLength(1);
    expectClose(floats(res.raw_output_contents[0]), PIXELS_EXPECTED);
  });

  it('takes FP32 in raw_input_contents and serves the version asked for', async () => {
    const res = await call('ModelInfer', {
      model_name: 'tiny',
      model_version: '1',
      inputs: [{ name: 'input', datatype: 'FP32', shape: IMAGE_SHAPE }],
      raw_input_contents: [f32Bytes(PIXELS)],
    });
    expect(res.model_version).toBe('1');
    expectClose(floats(res.raw_output_contents[0]), PIXELS_EXPECTED);
  });

  it('takes JPEG and PNG BYTES under "images" in raw_input_contents (length-prefixed) and in bytes_contents', async () => {
    const photo = await samplePhoto();
    const red = await solidPng(255, 0, 0);
    const raw = await call('ModelInfer', {
      model_name: 'tiny',
      inputs: [{ name: 'images', datatype: 'BYTES', shape: [2] }],
      raw_input_contents: [lengthPrefixed([photo, red])],
    });
    expect(raw.outputs).toEqual([{ name: 'probs', datatype: 'FP32', shape: ['2', '5'] }]);
    const probs = floats(raw.raw_output_contents[0]);
    expectClose(probs.subarray(0, 5), await tinyExpectedFor(photo));
    expectClose(probs.subarray(5), await tinyExpectedFor(red));
    const typed = await call('ModelInfer', {
      model_name: 'tiny',
      inputs: [{ name: 'images', datatype: 'BYTES', shape: [1], contents: { bytes_contents: [red] } }],
    });
    expectClose(floats(typed.raw_output_contents[0]), await tinyExpectedFor(red));
  });

  it('answers the outputs asked for, in order, one raw buffer each', async () => {
    const res = await call('ModelInfer', {
      model_name: 'pair',
      inputs: [
        { name: 'a', datatype: 'FP32', shape: [2, 2], contents: { fp32_contents: [1, 2, 0, 1] } },
        { name: 'b', datatype: 'FP32', shape: [2, 2], contents: { fp32_contents: [3, 4, 5, 6] } },
      ],
      outputs: [{ name: 'product' }, { name: 'sum' }],
    });
    expect(res.outputs.map((o: any) => o.name)).toEqual(['product', 'sum']);
    expect(Array.from(floats(res.raw_output_contents[0]))).toEqual([3, 8, 0, 6]);
    expect(Array.from(floats(res.raw_output_contents[1]))).toEqual([4, 6, 5, 7]);
    const all = await call('ModelInfer', {
      model_name: 'pair',
      inputs: [
        { name: 'a', datatype: 'FP32', shape: [1, 2] },
        { name: 'b', datatype: 'FP32', shape: [1, 2] },
      ],
      raw_input_contents: [f32Bytes([1, 2]), f32Bytes([3, 4])],
    });
    expect(all.outputs.map((o: any) => o.name)).toEqual(['sum', 'product']);
  });

  const input = (over: Record<string, unknown> = {}) => ({ name: 'input', datatype: 'FP32', shape: IMAGE_SHAPE, contents: { fp32_contents: PIXELS }, ...over });
  const cases: Array<[string, Record<string, unknown>, grpc.status, string, RegExp]> = [
    ['unknown model', { model_name: 'resnet', inputs: [input()] }, grpc.status.NOT_FOUND, 'ACCEL_ERR_MODEL_NOT_FOUND', /Model "resnet" is not served here/],
    ['unknown version', { model_name: 'tiny', model_version: '2', inputs: [input()] }, grpc.status.NOT_FOUND, 'ACCEL_ERR_VERSION_NOT_FOUND', /no version 2. Versions served: 1, 3/],
    ['a version that is not a number', { model_name: 'tiny', model_version: 'latest', inputs: [input()] }, grpc.status.INVALID_ARGUMENT, 'ACCEL_ERR_BAD_REQUEST', /version "latest" is not a non-negative integer/],
    ['no model name', { inputs: [input()] }, grpc.status.INVALID_ARGUMENT, 'ACCEL_ERR_BAD_REQUEST', /names no model; set model_name/],
    ['wrong datatype', { model_name: 'tiny', inputs: [input({ datatype: 'INT32', contents: { int_contents: PIXELS.map(Math.round) } })] }, grpc.status.INVALID_ARGUMENT, 'ACCEL_ERR_BAD_DTYPE', /Input "input" has dtype int32; model "tiny" expects float32/],
    ['wrong shape', { model_name: 'tiny', inputs: [input({ shape: [1, 3, 4, 4], contents: { fp32_contents: PIXELS.slice(0, 48) } })] }, grpc.status.INVALID_ARGUMENT, 'ACCEL_ERR_BAD_SHAPE', /has shape \[1,3,4,4\]; model "tiny" expects \[-1,3,8,8\]/],
    ['contents length mismatch', { model_name: 'tiny', inputs: [input({ contents: { fp32_contents: [1, 2] } })] }, grpc.status.INVALID_ARGUMENT, 'ACCEL_ERR_BAD_TENSOR', /data has 2 elements; shape \[1,3,8,8\] needs 192/],
    ['raw length mismatch', { model_name: 'tiny', inputs: [input({ contents: undefined })], raw_input_contents: [f32Bytes([1, 2, 3])] }, grpc.status.INVALID_ARGUMENT, 'ACCEL_ERR_BAD_TENSOR', /binary data has 12 bytes; shape \[1,3,8,8\] of FP32 needs 768/],
    ['raw and inputs in different numbers', { model_name: 'pair', inputs: [{ name: 'a', datatype: 'FP32', shape: [1, 2] }, { name: 'b', datatype: 'FP32', shape: [1, 2] }], raw_input_contents: [f32Bytes([1, 2])] }, grpc.status.INVALID_ARGUMENT, 'ACCEL_ERR_BAD_REQUEST', /raw_input_contents has 1 entries but there are 2 inputs/],
    ['both contents and raw', { model_name: 'tiny', inputs: [input()], raw_input_contents: [f32Bytes(PIXELS)] }, grpc.status.INVALID_ARGUMENT, 'ACCEL_ERR_BAD_TENSOR', /both contents and raw_input_contents/],
    ['contents in the wrong field', { model_name: 'tiny', inputs: [input({ contents: { fp64_contents: PIXELS } })] }, grpc.status.INVALID_ARGUMENT, 'ACCEL_ERR_BAD_TENSOR', /datatype FP32 reads contents.fp32_contents, but the values are in contents.fp64_contents/],
    ['FP16 in typed contents', { model_name: 'tiny', inputs: [input({ datatype: 'FP16' })] }, grpc.status.INVALID_ARGUMENT, 'ACCEL_ERR_BAD_TENSOR', /FP16 has no typed contents field; send it in raw_input_contents/],
    ['truncated BYTES', { model_name: 'tiny', inputs: [{ name: 'images', datatype: 'BYTES', shape: [1] }], raw_input_contents: [Buffer.from([9, 0])] }, grpc.status.INVALID_ARGUMENT, 'ACCEL_ERR_BAD_TENSOR', /BYTES element 0 has a truncated 4-byte length prefix/],
    ['corrupt image', { model_name: 'tiny', inputs: [{ name: 'images', datatype: 'BYTES', shape: [1], contents: { bytes_contents: [Buffer.from('nope')] } }] }, grpc.status.INVALID_ARGUMENT, 'ACCEL_ERR_BAD_IMAGE', /item 0 is not a decodable JPEG or PNG image/],
    ['no inputs', { model_name: 'tiny' }, grpc.status.INVALID_ARGUMENT, 'ACCEL_ERR_BAD_REQUEST', /the request has no inputs/],
    ['unknown output', { model_name: 'tiny', inputs: [input()], outputs: [{ name: 'logits' }] }, grpc.status.INVALID_ARGUMENT, 'ACCEL_ERR_UNKNOWN_OUTPUT', /Output "logits"/],
    ['empty batch', { model_name: 'tiny', inputs: [{ name: 'images', datatype: 'BYTES', shape: [0] }], raw_input_contents: [Buffer.alloc(0)] }, grpc.status.INVALID_ARGUMENT, 'ACCEL_ERR_EMPTY_BATCH', /holds an empty batch/],
  ];
  for (const [name, request, code, accelCode, message] of cases) {
    it(`answers ${grpc.status[code]} for ${name}`, async () => {
      const err = await failure(call('ModelInfer', request));
      expect(err.code).toBe(code);
      expect(err.metadata.get('accel-error-code')).toEqual([accelCode]);
      expect(err.details).toMatch(message);
    });
  }

  it('counts requests under protocol="kserve-grpc"', async () => {
    const text = await (await fetch(`${server.rest}/metrics`)).text();
    expect(text).toMatch(/accel_requests_total\{model="tiny",version="3",protocol="kserve-grpc",status="OK"\} [1-9]/);
    expect(text).toMatch(/accel_requests_total\{model="resnet",version="",protocol="kserve-grpc",status="NOT_FOUND"\} [1-9]/);
    expect(text).toMatch(/accel_requests_total\{model="tiny",version="",protocol="kserve-grpc",status="INVALID_ARGUMENT"\} [1-9]/);
  });
});
