import * as grpc from '@grpc/grpc-js';
import { unpackAny } from '@accel/client/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectClose, tinyExpectedFor } from '../test-util/expect';
import { channelMeans, modelDir, tinyClassifier, tinyReference, twoInputModel } from '../test-util/models';
import { f32Bytes, floatsOf, rawGrpcClient, samplePhoto, solidPng, startTestServer } from '../test-util/server';

const SIZE = 8;
const files = modelDir();
let server: Awaited<ReturnType<typeof startTestServer>>;
let client: ReturnType<typeof rawGrpcClient>;

const jpegTensor = (images: Buffer[]) => ({ dtype: 'DT_STRING', tensor_shape: { dim: [{ size: images.length }] }, string_val: images });



async function grpcError(p: Promise<unknown>): Promise<grpc.ServiceError> {
  const err = await p.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (e: grpc.ServiceError) => e,
  );
  return err;
}

beforeAll(async () => {
  server = await startTestServer([
    { name: 'tiny', path: files.write('tiny1.onnx', tinyClassifier()), version: 1 },
    { name: 'tiny', path: files.write('tiny3.onnx', tinyClassifier()), version: 3 },
  ]);
  client = rawGrpcClient(server.grpcAddress);
});
afterAll(async () => {
  client.close();
  await server.shutdown();
  files.cleanup();
});

describe('PredictionService/Predict', () => {
  it('answers a raw request with no model_spec, JPEG under "images", read from "output_alias"', async () => {
    const photo = await samplePhoto();
    const res = await client.call('Predict', { inputs: { images: jpegTensor([photo]) } });
    expect(res.model_spec).toMatchObject({ name: 'tiny', version: { value: '3' }, signature_name: 'serving_default' });
    const out = res.outputs.output_alias;
    expect(out.dtype).toBe('DT_FLOAT');
    expect(out.tensor_shape.dim.map((d: { size: string }) => Number(d.size))).toEqual([1, 5]);
    expectClose(floatsOf(out), await tinyExpectedFor(photo));
  });

  it('serves a specific version and a batch of PNG and JPEG images', async () => {
    const a = await solidPng(255, 0, 0);
    const b = await samplePhoto();
    const res = await client.call('Predict', {
      model_spec: { name: 'tiny', version: { value: '1' } },
      inputs: { input: jpegTensor([a, b]) },
      output_filter: ['probs'],
    });
    expect(res.model_spec.version.value).toBe('1');
    expect(Object.keys(res.outputs)).toEqual(['probs']);
    const probs = floatsOf(res.outputs.probs);
    expectClose(probs.slice(0, 5), await tinyExpectedFor(a));
    expectClose(probs.slice(5), await tinyExpectedFor(b));
  });

  it('accepts DT_FLOAT via tensor_content and via float_val', async () => {
    const x = Array.from({ length: 3 * SIZE * SIZE }, (_, i) => Math.sin(i) * 2);
    const expected = tinyReference(channelMeans(Float32Array.from(x), SIZE));
    const shape = { dim: [1, 3, SIZE, SIZE].map((size) => ({ size })) };
    const viaContent = await client.call('Predict', {
      model_spec: { name: 'tiny' },
      inputs: { input: { dtype: 'DT_FLOAT', tensor_shape: shape, tensor_content: f32Bytes(x) } },
      output_filter: ['probs'],
    });
    expectClose(floatsOf(viaContent.outputs.probs), expected);
    const viaVal = await client.call('Predict', {
      model_spec: { name: 'tiny' },
      inputs: { input: { dtype: 'DT_FLOAT', tensor_shape: shape, float_val: x } },
      output_filter: ['probs'],
    });
    expectClose(floatsOf(viaVal.outputs.probs), expected);
  });

  it('returns NOT_FOUND naming the models and versions that exist', async () => {
    const noModel = await grpcError(client.call('Predict', { model_spec: { name: 'resnet' }, inputs: { images: jpegTensor([await solidPng(1, 2, 3)]) } }));
    expect(noModel.code).toBe(grpc.status.NOT_FOUND);
    expect(noModel.details).toMatch(/Model "resnet" is not served here. Models served: "tiny"/);
    expect(noModel.metadata.get('accel-error-code')).toEqual(['ACCEL_ERR_MODEL_NOT_FOUND']);
    const noVersion = await grpcError(client.call('Predict', { model_spec: { name: 'tiny', version: { value: '2' } }, inputs: { images: jpegTensor([await solidPng(1, 2, 3)]) } }));
    expect(noVersion.code).toBe(grpc.status.NOT_FOUND);
    expect(noVersion.details).toMatch(/no version 2. Versions served: 1, 3/);
    expect(noVersion.metadata.get('accel-error-code')).toEqual(['ACCEL_ERR_VERSION_NOT_FOUND']);
  });

  const bad: Array<[string, () => Promise<unknown>, RegExp, string]> = [
    ['wrong dtype', async () => ({ input: { dtype: 'DT_INT32', tensor_shape: { dim: [{ size: 1 }, { size: 3 }, { size: 8 }, { size: 8 }] }, int_val: new Array(192).fill(1) } }), /Input "input" has dtype int32; model "tiny" expects float32/, 'ACCEL_ERR_BAD_DTYPE'],
    ['wrong shape', async () => ({ input: { dtype: 'DT_FLOAT', tensor_shape: { dim: [{ size: 1 }, { size: 3 }, { size: 4 }, { size: 4 }] }, tensor_content: f32Bytes(new Array(48).fill(0)) } }), /Input "input" has shape \[1,3,4,4\]; model "tiny" expects \[-1,3,8,8\]/, 'ACCEL_ERR_BAD_SHAPE'],
    ['tensor_content length', async () => ({ input: { dtype: 'DT_FLOAT', tensor_shape: { dim: [{ size: 1 }, { size: 3 }, { size: 8 }, { size: 8 }] }, tensor_content: f32Bytes([1, 2, 3]) } }), /tensor_content has 12 bytes; shape \[1,3,8,8\] of float32 needs 768/, 'ACCEL_ERR_BAD_TENSOR'],
    ['missing input', async () => ({ other: jpegTensor([await solidPng(1, 2, 3)]) }), /Input "other" is not an input of model "tiny". Inputs: "images", "input"/, 'ACCEL_ERR_UNKNOWN_INPUT'],
    ['corrupt image', async () => ({ images: jpegTensor([Buffer.from('definitely not a jpeg')]) }), /Input "images" item 0 is not a decodable JPEG or PNG image/, 'ACCEL_ERR_BAD_IMAGE'],
    ['truncated JPEG', async () => ({ images: jpegTensor([(await samplePhoto()).subarray(0, 5000)]) }), /item 0 is not a decodable JPEG or PNG image/, 'ACCEL_ERR_BAD_IMAGE'],
    ['empty batch', async () => ({ images: jpegTensor([]) }), /Input "images" holds an empty batch/, 'ACCEL_ERR_EMPTY_BATCH'],
    ['no inputs', async () => ({}), /the request has no inputs/, 'ACCEL_ERR_BAD_REQUEST'],
    ['string for a float-only input', async () => ({ images: { dtype: 'DT_STRING', tensor_shape: { dim: [{ size: 1 }, { size: 1 }] }, string_val: [Buffer.from('x')] } }), /shape \[1,1\]; model "tiny" expects \[N\] encoded images/, 'ACCEL_ERR_BAD_SHAPE'],
  ];
  for (const [name, inputs, message, code] of bad) {
    it(`returns INVALID_ARGUMENT for ${name}`, async () => {
      const err = await grpcError(client.call('Predict', { model_spec: { name: 'tiny' }, inputs: await inputs() }));
      expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(err.details).toMatch(message);
      expect(err.metadata.get('accel-error-code')).toEqual([code]);
    });
  }

  it('returns INVALID_ARGUMENT for an unknown output in output_filter', async () => {
    const err = await grpcError(client.call('Predict', { inputs: { images: jpegTensor([await solidPng(1, 2, 3)]) }, output_filter: ['logits'] }));
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(err.details).toMatch(/Output "logits" in output_filter is not an output of model "tiny". Outputs: "probs", "output_alias"/);
    expect(err.metadata.get('accel-error-code')).toEqual(['ACCEL_ERR_UNKNOWN_OUTPUT']);
  });

  it('returns INVALID_ARGUMENT for a signature other than serving_default', async () => {
    const err = await grpcError(client.call('Predict', { model_spec: { name: 'tiny', signature_name: 'classify' }, inputs: { images: jpegTensor([await solidPng(1, 2, 3)]) } }));
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(err.details).toBe('Signature "classify" not found for model "tiny". Signatures: serving_default.');
    expect(err.metadata.get('accel-error-code')).toEqual(['ACCEL_ERR_SIGNATURE_NOT_FOUND']);
  });

  it('keeps serving after bad requests', async () => {
    const res = await client.call('Predict', { inputs: { images: jpegTensor([await solidPng(9, 9, 9)]) } });
    expect(floatsOf(res.outputs.output_alias)).toHaveLength(5);
  });
});

describe('GetModelMetadata and GetModelStatus', () => {
  it('describes the serving_default signature with aliases, dtypes and shapes', async () => {
    const res = await client.call('GetModelMetadata', { model_spec: { name: 'tiny' }, metadata_field: ['signature_def'] });
    expect(res.model_spec).toMatchObject({ name: 'tiny', version: { value: '3' } });
    const { typeName, message } = unpackAny(res.metadata.signature_def);
    expect(typeName).toBe('tensorflow.serving.SignatureDefMap');
    const sig = (message as any).signature_def.serving_default;
    expect(sig.method_name).toBe('tensorflow/serving/predict');
    expect(sig.inputs.images).toMatchObject({ name: 'input', dtype: 'DT_STRING', tensor_shape: { dim: [{ size: '-1' }] } });
    expect(sig.inputs.input.dtype).toBe('DT_FLOAT');
    expect(sig.inputs.input.tensor_shape.dim.map((d: { size: string }) => d.size)).toEqual(['-1', '3', '8', '8']);
    expect(sig.outputs.output_alias).toMatchObject({ name: 'probs', dtype: 'DT_FLOAT' });
  });

  it('refuses metadata fields it does not have', async () => {
    const err = await grpcError(client.call('GetModelMetadata', { model_spec: { name: 'tiny' }, metadata_field: ['tags'] }));
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
  });

  it('lists every version as AVAILABLE, or the one asked for', async () => {
    const all = await client.call('GetModelStatus', { model_spec: { name: 'tiny' } });
    expect(all.model_version_status.map((s: any) => [s.version, s.state, s.status.error_code])).toEqual([
      ['3', 'AVAILABLE', 'OK'],
      ['1', 'AVAILABLE', 'OK'],
    ]);
    const one = await client.call('GetModelStatus', { model_spec: { name: 'tiny', version: { value: '1' } } });
    expect(one.model_version_status).toHaveLength(1);
    const err = await grpcError(client.call('GetModelStatus', { model_spec: { name: 'nope' } }));
    expect(err.code).toBe(grpc.status.NOT_FOUND);
  });
});

describe('server limits and choices', () => {
  it('answers RESOURCE_EXHAUSTED for a request over the size limit, and serves smaller ones', async () => {
    const dir = modelDir();
    const small = await startTestServer([{ name: 'tiny', path: dir.write('t.onnx', tinyClassifier()) }], { maxMessageBytes: 64 * 1024 });
    const c = rawGrpcClient(small.grpcAddress);
    try {
      const err = await grpcError(c.call('Predict', { inputs: { images: jpegTensor([Buffer.alloc(100 * 1024, 1)]) } }));
      expect(err.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
      const ok = await c.call('Predict', { inputs: { images: jpegTensor([await solidPng(1, 2, 3)]) } });
      expect(floatsOf(ok.outputs.output_alias)).toHaveLength(5);
    } finally {
      c.close();
      await small.shutdown();
      dir.cleanup();
    }
  });

  it('needs a model name when several are served and none is default, and uses --default when set', async () => {
    const dir = modelDir();
    const sources = [
      { name: 'tiny', path: dir.write('t.onnx', tinyClassifier()) },
      { name: 'pair', path: dir.write('p.onnx', twoInputModel()) },
    ];
    const s1 = await startTestServer(sources);
    const c1 = rawGrpcClient(s1.grpcAddress);
    const s2 = await startTestServer(sources, { defaultModel: 'tiny' });
    const c2 = rawGrpcClient(s2.grpcAddress);
    try {
      const request = { inputs: { images: jpegTensor([await solidPng(1, 2, 3)]) } };
      const err = await grpcError(c1.call('Predict', request));
      expect(err.code).toBe(grpc.status.NOT_FOUND);
      expect(err.details).toMatch(/names no model .* \("pair", "tiny"\) with none marked default/);
      expect(err.metadata.get('accel-error-code')).toEqual(['ACCEL_ERR_NO_DEFAULT_MODEL']);
      const ok = await c2.call('Predict', request);
      expect(ok.model_spec.name).toBe('tiny');
    } finally {
      c1.close();
      c2.close();
      await Promise.all([s1.shutdown(), s2.shutdown()]);
      dir.cleanup();
    }
  });

  it('finishes in-flight requests on shutdown and refuses new ones', async () => {
    const dir = modelDir();
    const s = await startTestServer([{ name: 'tiny', path: dir.write('t.onnx', tinyClassifier()) }]);
    const c = rawGrpcClient(s.grpcAddress);
    try {
      const photo = await samplePhoto();
      await c.call('Predict', { inputs: { images: jpegTensor([photo]) } }); // channel connected
      const predict = s.runtime.predict.bind(s.runtime);
      const arrived = new Promise<void>((resolve) => {
        s.runtime.predict = (...args) => (resolve(), predict(...args));
      });
      const big = c.call('Predict', { inputs: { images: jpegTensor(new Array(64).fill(photo)) } });
      await arrived;
      const stopping = s.shutdown(10_000);
      const res = await big;
      expect(floatsOf(res.outputs.output_alias)).toHaveLength(64 * 5);
      await stopping;
      const err = await grpcError(c.call('Predict', { inputs: { images: jpegTensor([photo]) } }));
      expect(err.code).toBe(grpc.status.UNAVAILABLE);
    } finally {
      c.close();
      dir.cleanup();
    }
  });
});
