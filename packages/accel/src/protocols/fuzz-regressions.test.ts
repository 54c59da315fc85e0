import * as grpc from '@grpc/grpc-js';
import { protobufRoot } from '@accel/client/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { modelDir, tinyClassifier, twoInputModel } from '../test-util/models';
import { f32Bytes, startTestServer } from '../test-util/server';

// Bugs the fuzz run (fuzz.test.ts) found, one plain test each.
const SIZE = 8;
const files = modelDir();
let server: Awaited<ReturnType<typeof startTestServer>>;
let client: grpc.Client;

const PredictRequest = protobufRoot().lookupType('tensorflow.serving.PredictRequest');
const valid = PredictRequest.encode(
  PredictRequest.fromObject({
    model_spec: { name: 'tiny' },
    inputs: { input: { dtype: 'DT_FLOAT', tensor_shape: { dim: [1, 3, SIZE, SIZE].map((size) => ({ size })) }, tensor_content: f32Bytes(new Array(3 * SIZE * SIZE).fill(0.5)) } },
  }),
).finish();

/** Raw bytes as the request body of `method`; resolves with the status, details and Accel code. */
function raw(method: string, bytes: Uint8Array): Promise<{ code: number; details: string; accelCode: string }> {
  return new Promise((resolve) =>
    client.makeUnaryRequest(method, (b: Uint8Array) => Buffer.from(b), (b: Buffer) => b, bytes, new grpc.Metadata(), { deadline: Date.now() + 30_000 }, (err) =>
      resolve(err ? { code: err.code, details: err.details, accelCode: String(err.metadata.get('accel-error-code')[0] ?? '') } : { code: grpc.status.OK, details: '', accelCode: '' }),
    ),
  );
}

async function post(path: string, body: string) {
  const res = await fetch(server.rest + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  return { status: res.status, body: (await res.json()) as { error: string; code: string } };
}

beforeAll(async () => {
  server = await startTestServer([
    { name: 'tiny', path: files.write('tiny.onnx', tinyClassifier({ size: SIZE })) },
    { name: 'pair', path: files.write('pair.onnx', twoInputModel()) },
  ]);
  client = new grpc.Client(server.grpcAddress, grpc.credentials.createInsecure());
});
afterAll(async () => {
  client.close();
  await server.shutdown();
  files.cleanup();
});

describe('found by fuzzing', () => {
  it('answers INVALID_ARGUMENT, not INTERNAL, to a gRPC body that is not a valid protobuf message', async () => {
    expect(await raw('/tensorflow.serving.PredictionService/Predict', valid)).toMatchObject({ code: grpc.status.OK });
    // A length cut short, a group that never ends, wire type 7 (there is none), a tag cut short.
    const bodies = [Buffer.from([0x0a, 0xff]), Buffer.from([0x0b]), Buffer.from([0x0f]), Buffer.from([0xff])];
    const methods = ['/tensorflow.serving.PredictionService/Predict', '/tensorflow.serving.PredictionService/GetModelMetadata', '/tensorflow.serving.ModelService/GetModelStatus', '/inference.GRPCInferenceService/ModelInfer', '/inference.GRPCInferenceService/ModelMetadata'];
    for (const method of methods) {
      for (const body of bodies) {
        const seen = await raw(method, body);
        expect(seen, `${method} ${body.toString('hex')}`).toMatchObject({ code: grpc.status.INVALID_ARGUMENT, accelCode: 'ACCEL_ERR_BAD_REQUEST' });
        expect(seen.details).toMatch(new RegExp(`the body is not a valid protobuf request for ${method.replace(/\./g, '\\.')}`));
      }
    }
    expect(await raw('/tensorflow.serving.PredictionService/Predict', valid.subarray(0, 20))).toMatchObject({ code: grpc.status.INVALID_ARGUMENT, accelCode: 'ACCEL_ERR_BAD_REQUEST' });
  });

  it('answers 400, not 500 (stack overflow), to deeply nested JSON on both REST APIs', async () => {
    const lists = (depth: number) => '['.repeat(depth) + '1' + ']'.repeat(depth);
    const objects = (depth: number) => '{"k":'.repeat(depth) + '1' + '}'.repeat(depth);
    const bodies: Array<[string, string]> = [
      ['/v1/models/tiny:predict', `{"instances": ${lists(200_000)}}`],
      ['/v1/models/tiny:predict', `{"instances": [{"input": ${objects(50_000)}}]}`],
      ['/v2/models/tiny/infer', `{"inputs": [{"name": "input", "datatype": "FP32", "shape": [1], "data": ${lists(200_000)}}]}`],
      ['/v2/models/tiny/infer', `{"inputs": [{"name": "input", "datatype": "FP32", "shape": [1], "data": [${objects(50_000)}]}]}`],
    ];
    for (const [path, body] of bodies) {
      expect(await post(path, body)).toEqual({ status: 400, body: { code: 'ACCEL_ERR_BAD_REQUEST', error: 'Malformed request: the JSON nests deeper than 40 levels.' } });
    }
    // Tensors of ordinary rank still go through.
    expect((await post('/v1/models/pair:predict', JSON.stringify({ instances: [{ a: [1, 2], b: [3, 4] }] }))).status).toBe(200);
  });

  it('refuses a single value broadcast over a huge shape before allocating it', async () => {
    // ~30 bytes on the wire that declared 2^27 floats (512 MB), allocated and filled before the shape was refused.
    for (const [model, name, dims] of [['pair', 'a', [2 ** 26, 2]], ['tiny', 'input', [1_000_000, 3, SIZE, SIZE]]] as const) {
      const body = PredictRequest.encode(
        PredictRequest.fromObject({ model_spec: { name: model }, inputs: { [name]: { dtype: 'DT_FLOAT', tensor_shape: { dim: dims.map((size) => ({ size })) }, float_val: [1.5] } } }),
      ).finish();
      expect(body.length).toBeLessThan(64);
      const seen = await raw('/tensorflow.serving.PredictionService/Predict', body);
      expect(seen).toMatchObject({ code: grpc.status.INVALID_ARGUMENT, accelCode: 'ACCEL_ERR_BAD_TENSOR' });
      expect(seen.details).toMatch(/one value broadcast over shape \[.*\] would fill \d+ bytes \(at most 67108864\); send the values/);
    }
    // A broadcast of ordinary size still works (TF's single-value broadcast).
    const small = PredictRequest.encode(
      PredictRequest.fromObject({ model_spec: { name: 'pair' }, inputs: { a: { dtype: 'DT_FLOAT', tensor_shape: { dim: [{ size: 4 }, { size: 2 }] }, float_val: [1] }, b: { dtype: 'DT_FLOAT', tensor_shape: { dim: [{ size: 4 }, { size: 2 }] }, float_val: [2] } } }),
    ).finish();
    expect(await raw('/tensorflow.serving.PredictionService/Predict', small)).toMatchObject({ code: grpc.status.OK });
  });
});
