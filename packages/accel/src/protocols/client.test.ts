import { PredictionClient, PredictionError, topK } from '@accel/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { modelDir, tinyClassifier, twoInputModel } from '../test-util/models';
import { samplePhoto, startTestServer } from '../test-util/server';

const files = modelDir();
let server: Awaited<ReturnType<typeof startTestServer>>;
let photoPath: string;

beforeAll(async () => {
  server = await startTestServer(
    [
      { name: 'tiny', path: files.write('tiny.onnx', tinyClassifier({ size: 32 })) },
      { name: 'pair', path: files.write('pair.onnx', twoInputModel()) },
    ],
    { defaultModel: 'tiny' },
  );
  photoPath = files.write('photo.jpg', await samplePhoto());
});
afterAll(async () => {
  await server.shutdown();
  files.cleanup();
});

describe('@accel/client against the real server', () => {
  it('scoreFile over gRPC equals the in-process result, and REST equals gRPC', async () => {
    const grpc = new PredictionClient({ address: server.grpcAddress });
    const rest = new PredictionClient({ address: server.rest, protocol: 'rest', modelName: 'tiny' });
    try {
      const viaGrpc = await grpc.scoreFile(photoPath);
      const inProcess = await server.runtime.predict({ name: 'tiny' }, { images: { dtype: 'string', shape: [1], data: [await samplePhoto()] } });
      expect(Array.from(viaGrpc)).toEqual(Array.from(inProcess.outputs.output_alias.data as Float32Array));
      const viaRest = await rest.scoreFile(photoPath, { outputs: ['probs'] });
      Array.from(viaRest).forEach((p, i) => expect(p).toBeCloseTo(viaGrpc[i], 6));
      expect(topK(viaGrpc, 3).map((t) => t.index)).toEqual(topK(viaRest, 3).map((t) => t.index));
    } finally {
      grpc.close();
      rest.close();
    }
  });

  it('scores a batch of images and a float tensor', async () => {
    const client = new PredictionClient({ address: server.grpcAddress, modelName: 'pair' });
    try {
      const photo = await samplePhoto();
      const batch = await client.scoreImage([photo, photo], { model: 'tiny' });
      expect(batch).toHaveLength(10);
      expect(Array.from(batch.slice(0, 5))).toEqual(Array.from(batch.slice(5)));
      const tensors = await client.scoreTensorTensors(new Float32Array([1, 2]), [1, 2], { inputName: 'a', outputs: ['sum'] }).catch((e) => e);
      expect(tensors).toBeInstanceOf(PredictionError);
      expect(tensors.codeName).toBe('INVALID_ARGUMENT');
      expect(tensors.accelCode).toBe('ACCEL_ERR_MISSING_INPUT');
    } finally {
      client.close();
    }
  });

  it('surfaces NOT_FOUND without retrying and reads metadata and status', async () => {
    const client = new PredictionClient({ address: server.grpcAddress });
    try {
      const err = await client.scoreFile(photoPath, { model: 'resnet' }).catch((e) => e);
      expect(err).toBeInstanceOf(PredictionError);
      expect(err.codeName).toBe('NOT_FOUND');
      expect(err.attempts).toBe(1);
      const meta = await client.getModelMetadata('tiny');
      expect(Object.keys(meta.metadata.signature_def?.signature_def?.serving_default?.inputs ?? {})).toEqual(['images', 'input']);
      const status = await client.getModelStatus('tiny');
      expect(status.model_version_status?.[0]).toMatchObject({ version: '1', state: 'AVAILABLE' });
    } finally {
      client.close();
    }
  });
});
