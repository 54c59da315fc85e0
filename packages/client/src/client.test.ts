import { afterEach, describe, expect, expectTypeOf, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { PredictionClient } from './client';
import { StatusCode } from './errors';
import { packAny } from './proto';
import { NEVER, cleanup, client, f32le, fakeServer, okPredict, probsOut, rejection, status } from './test-util/fake-grpc';

afterEach(cleanup);

describe('PredictionClient over gRPC', () => {
  it('scoreImage sends a DT_STRING [N] tensor under "images", no model_spec, and output_filter [output_alias]', async () => {
    const fake = await fakeServer({ Predict: okPredict });
    const probs = await client(fake).scoreImage([Buffer.from('jpeg-1'), Uint8Array.of(0xff, 0xd8)]);
    expect(probs).toBeInstanceOf(Float32Array);
    expect(Array.from(probs)).toEqual([0.25, 0.75]);

    const req = fake.calls[0]!.request;
    expect(req.model_spec).toBeUndefined();
    expect(Object.keys(req.inputs)).toEqual(['images']);
    expect(req.inputs.images.dtype).toBe('DT_STRING');
    expect(req.inputs.images.tensor_shape.dim).toEqual([{ size: '2' }]);
    expect(req.inputs.images.string_val).toEqual([Buffer.from('jpeg-1'), Buffer.from([0xff, 0xd8])]);
    expect(req.output_filter).toEqual(['output_alias']);
  });

  it('sends model_spec when a model is named (client default or per call; numeric version or label)', async () => {
    const fake = await fakeServer({ Predict: okPredict });
    const c = client(fake, { modelName: 'resnet50', modelVersion: 2 });
    await c.scoreImage(Buffer.from('x'));
    await c.scoreImage(Buffer.from('x'), { model: 'vgg16', version: 'stable', signatureName: 'serving_default', inputName: 'in' });
    expect(fake.calls[0]!.request.model_spec).toEqual({ name: 'resnet50', version: { value: '2' }, version_choice: 'version' });
    expect(fake.calls[1]!.request.model_spec).toMatchObject({ name: 'vgg16', version_label: 'stable', signature_name: 'serving_default' });
    expect(Object.keys(fake.calls[1]!.request.inputs)).toEqual(['in']);
  });

  it('sends the apiKey as a bearer token and serviceName as x-accel-service', async () => {
    const fake = await fakeServer({ Predict: okPredict });
    await client(fake, { apiKey: 's3cret', serviceName: 'my-svc' }).scoreImage(Buffer.from('x'));
    expect(fake.calls[0]!.metadata.authorization).toBe('Bearer s3cret');
    expect(fake.calls[0]!.metadata['x-accel-service']).toBe('my-svc');

    await client(fake).scoreImage(Buffer.from('x'));
    expect(fake.calls[1]!.metadata.authorization).toBeUndefined();
  });

  it('retries UNAVAILABLE and then succeeds', async () => {
    const fake = await fakeServer({
      Predict: (_r, n) => {
        if (n < 3) throw status(grpc.status.UNAVAILABLE, 'warming up');
        return okPredict();
      },
    });
    expect(Array.from(await client(fake).scoreImage(Buffer.from('x')))).toEqual([0.25, 0.75]);
    expect(fake.calls).toHaveLength(3);
  });

  it('gives up after `retries` extra attempts with the last UNAVAILABLE error', async () => {
    const fake = await fakeServer({ Predict: () => { throw status(grpc.status.UNAVAILABLE, 'overloaded'); } });
    const err = await rejection(client(fake, { retries: 2 }).scoreImage(Buffer.from('x')));
    expect(err.code).toBe(StatusCode.UNAVAILABLE);
    expect(err.codeName).toBe('UNAVAILABLE');
    expect(err.attempts).toBe(3);
    expect(fake.calls).toHaveLength(3);
  });

  it('does not retry INVALID_ARGUMENT and surfaces the server message and Accel code', async () => {
    const fake = await fakeServer({
      Predict: () => { throw status(grpc.status.INVALID_ARGUMENT, 'Input "pics" is not an input of model "m"', 'ACCEL_ERR_UNKNOWN_INPUT'); },
    });
    const err = await rejection(client(fake).scoreImage(Buffer.from('x'), { inputName: 'pics' }));
    expect(err).toMatchObject({ code: 3, codeName: 'INVALID_ARGUMENT', details: 'Input "pics" is not an input of model "m"', accelCode: 'ACCEL_ERR_UNKNOWN_INPUT', attempts: 1 });
    expect(err.message).toBe('INVALID_ARGUMENT: Input "pics" is not an input of model "m"');
    expect(err.httpStatus).toBeUndefined();
    expect(fake.calls).toHaveLength(1);
  });

  it('honours the deadline when the server never answers', async () => {
    const fake = await fakeServer({ Predict: () => NEVER });
    const started = Date.now();
    const err = await rejection(client(fake).scoreImage(Buffer.from('x'), { deadlineMs: 300 }));
    const elapsed = Date.now() - started;
    expect(err.code).toBe(StatusCode.DEADLINE_EXCEEDED);
    expect(elapsed).toBeGreaterThanOrEqual(250);
    expect(elapsed).toBeLessThan(5_000);
    expect(fake.calls).toHaveLength(1);
  });

  it('keeps retries inside one overall deadline', async () => {
    const fake = await fakeServer({ Predict: () => { throw status(grpc.status.UNAVAILABLE, 'down'); } });
    const started = Date.now();
    const err = await rejection(client(fake, { retries: 1_000, backoffMs: 20 }).scoreImage(Buffer.from('x'), { deadlineMs: 400 }));
    expect([StatusCode.UNAVAILABLE, StatusCode.DEADLINE_EXCEEDED]).toContain(err.code);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(fake.calls.length).toBeGreaterThan(1);
    expect(fake.calls.length).toBeLessThan(1_000);
  });

  it('decodes tensor_content and float_val outputs; several outputs give a map, [] gives all', async () => {
    const fake = await fakeServer({
      Predict: () => ({
        outputs: {
          output_alias: probsOut([0.5, 0.5]),
          logits: { dtype: 'DT_FLOAT', tensor_shape: { dim: [{ size: '3' }] }, float_val: [1, -2, 3] },
          classes: { dtype: 'DT_INT64', tensor_shape: { dim: [{ size: '1' }] }, int64_val: ['7'] },
        },
      }),
    });
    const c = client(fake);
    const both = await c.scoreImage(Buffer.from('x'), { outputs: ['output_alias', 'logits'] });
    expectTypeOf(both).toEqualTypeOf<Record<'output_alias' | 'logits', Float32Array>>();
    expect(Array.from(both.logits)).toEqual([1, -2, 3]);
    expect(Array.from(both.output_alias)).toEqual([0.5, 0.5]);
    expect(fake.calls[0]!.request.output_filter).toEqual(['output_alias', 'logits']);

    const one = await c.scoreImage(Buffer.from('x'), { outputs: ['logits'] });
    expectTypeOf(one).toEqualTypeOf<Float32Array>();

    const all = await c.scoreImageTensors(Buffer.from('x'), { outputs: [] });
    expect(fake.calls[2]!.request.output_filter ?? []).toEqual([]);
    expect(Object.keys(all).sort()).toEqual(['classes', 'logits', 'output_alias']);
    expect(all.output_alias).toEqual({ dtype: 'DT_FLOAT', shape: [1, 2], data: Float32Array.of(0.5, 0.5) });
    expect(all.classes).toEqual({ dtype: 'DT_INT64', shape: [1], data: BigInt64Array.of(7n) });
  });

  it('reports a requested output the server left out as INVALID_ARGUMENT', async () => {
    const fake = await fakeServer({ Predict: okPredict });
    const err = await rejection(client(fake).scoreImage(Buffer.from('x'), { outputs: ['missing'] }));
    expect(err.code).toBe(StatusCode.INVALID_ARGUMENT);
    expect(err.message).toContain('output "missing" is not in the response; it has: output_alias');
  });

  it('scoreTensor sends DT_FLOAT as little-endian tensor_content; scoreFile reads the file', async () => {
    const fake = await fakeServer({ Predict: okPredict });
    const c = client(fake);
    await c.scoreTensor(Float32Array.of(0.5, -1, 2.25, 4, 5, 6), [1, 2, 3], { inputName: 'pixels' });
    const t = fake.calls[0]!.request.inputs.pixels;
    expect(t.dtype).toBe('DT_FLOAT');
    expect(t.tensor_shape.dim.map((d: { size: string }) => d.size)).toEqual(['1', '2', '3']);
    expect(t.tensor_content).toEqual(f32le([0.5, -1, 2.25, 4, 5, 6]));
    await expect(c.scoreTensor([1, 2], [3])).rejects.toThrow("'shape' [3] holds 3 elements but 'data' has 2");

    const dir = mkdtempSync(join(tmpdir(), 'accel-client-'));
    try {
      writeFileSync(join(dir, 'cat.jpg'), Buffer.from([0xff, 0xd8, 0xff, 0xe0]));
      expect(Array.from(await c.scoreFile(join(dir, 'cat.jpg')))).toEqual([0.25, 0.75]);
      expect(fake.calls[1]!.request.inputs.images.string_val).toEqual([Buffer.from([0xff, 0xd8, 0xff, 0xe0])]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('predict passes a raw PredictRequest through and returns the raw response', async () => {
    const fake = await fakeServer({ Predict: okPredict });
    const res = await client(fake).predict({
      model_spec: { name: 'm' },
      inputs: { x: { dtype: 'DT_FLOAT', tensor_shape: { dim: [{ size: '1' }] }, float_val: [1] } },
    });
    expect(res.outputs.output_alias!.tensor_content).toEqual(f32le([0.25, 0.75]));
    expect(fake.calls[0]!.request.model_spec).toEqual({ name: 'm' });
    expect(fake.calls[0]!.request.inputs.x.float_val).toEqual([1]);
  });

  it('getModelMetadata asks for signature_def and unpacks the SignatureDefMap', async () => {
    const sigs = {
      signature_def: {
        serving_default: {
          inputs: { images: { name: 'images:0', dtype: 'DT_STRING', tensor_shape: { dim: [{ size: '-1' }] } } },
          outputs: { output_alias: { name: 'Softmax:0', dtype: 'DT_FLOAT', tensor_shape: { dim: [{ size: '-1' }, { size: '1000' }] } } },
          method_name: 'tensorflow/serving/predict',
        },
      },
    };
    const fake = await fakeServer({
      GetModelMetadata: () => ({ model_spec: { name: 'resnet50', version: { value: '1' } }, metadata: { signature_def: packAny('tensorflow.serving.SignatureDefMap', sigs) } }),
    });
    const md = await client(fake).getModelMetadata('resnet50');
    expect(fake.calls[0]!.request).toEqual({ model_spec: { name: 'resnet50' }, metadata_field: ['signature_def'] });
    expect(md.model_spec?.name).toBe('resnet50');
    const sd = md.metadata.signature_def!.signature_def!.serving_default!;
    expect(sd.method_name).toBe('tensorflow/serving/predict');
    expect(sd.outputs!.output_alias!.tensor_shape!.dim).toEqual([{ size: '-1' }, { size: '1000' }]);
  });

  it('getModelStatus calls ModelService with the model and version', async () => {
    const fake = await fakeServer({
      GetModelStatus: () => ({ model_version_status: [{ version: '3', state: 'AVAILABLE', status: { error_code: 'OK', error_message: '' } }] }),
    });
    const st = await client(fake).getModelStatus('resnet50', 3);
    expect(fake.calls[0]).toMatchObject({ method: 'GetModelStatus', request: { model_spec: { name: 'resnet50', version: { value: '3' } } } });
    expect(st.model_version_status![0]).toMatchObject({ version: '3', state: 'AVAILABLE' });
  });

  it('types scoreImage by the outputs asked for', async () => {
    const fake = await fakeServer({ Predict: okPredict });
    const c = client(fake);
    expectTypeOf(await c.scoreImage(Buffer.from('x'), { deadlineMs: 1_000 })).toEqualTypeOf<Float32Array>();
    const dynamic: string[] = ['output_alias'];
    const r = await c.scoreImage(Buffer.from('x'), { outputs: dynamic });
    expectTypeOf(r).toEqualTypeOf<Float32Array | Record<string, Float32Array>>();
    expect(r).toBeInstanceOf(Float32Array);
  });

  it('refuses calls after close()', async () => {
    const fake = await fakeServer({ Predict: okPredict });
    const c = client(fake);
    c.close();
    const err = await rejection(c.scoreImage(Buffer.from('x')));
    expect(err.codeName).toBe('FAILED_PRECONDITION');
    expect(fake.calls).toHaveLength(0);
  });

  it('treats options given as undefined as not given', async () => {
    const fake = await fakeServer({ Predict: okPredict });
    const c = client(fake, { retries: undefined, deadlineMs: undefined, backoffMs: undefined, modelVersion: undefined });
    expect(Array.from(await c.scoreImage(Buffer.from('x')))).toEqual([0.25, 0.75]);
  });

  it('validates its arguments, naming the parameter', async () => {
    expect(() => new PredictionClient({ address: 'h', deadlineMs: 0 })).toThrow("'deadlineMs' must be a positive number");
    expect(() => new PredictionClient({ address: 'h', retries: -1 })).toThrow("'retries' must be a non-negative integer");
    expect(() => new PredictionClient({ address: 'h', protocol: 'http' as 'rest' })).toThrow("'protocol' must be 'grpc' or 'rest'");
    const c = client({ port: 1 });
    await expect(c.scoreImage([])).rejects.toThrow("'images' must be a Uint8Array or a non-empty array of them");
  });
});
