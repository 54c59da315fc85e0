import { f32Bytes } from './server';
import { BAD, HUGE_DIMS, MANGLED, MISSING, ModelInferRequest, OK, PIXELS, PredictRequest, SIZE, encode, mangle, oversized, withUnknownFields, type Allowed, type Case, type Pool, type Rand } from './fuzz';

// gRPC requests for the fuzz test: TF Serving Predict and KServe ModelInfer, as serialized bytes.

// ---------------------------------------------------------------------------
// TF Serving Predict (gRPC)
// ---------------------------------------------------------------------------
export const tfShape = (dims: Array<number | string>) => ({ dim: dims.map((size) => ({ size })) });
export const tfFloats = (rows: number, values: number[], r: Rand) =>
  r.chance(0.5)
    ? { dtype: 'DT_FLOAT', tensor_shape: tfShape([rows, 3, SIZE, SIZE]), tensor_content: f32Bytes(values) }
    : { dtype: 'DT_FLOAT', tensor_shape: tfShape([rows, 3, SIZE, SIZE]), float_val: values };
export const tfImages = (items: Buffer[]) => ({ dtype: 'DT_STRING', tensor_shape: tfShape([items.length]), string_val: items });

export function tfValid(r: Rand, pool: Pool): object {
  const rows = 1 + r.int(3);
  if (r.chance(0.3)) {
    const pair = { dtype: 'DT_FLOAT', tensor_shape: tfShape([rows, 2]), float_val: r.floats(rows * 2) };
    return { model_spec: { name: 'pair' }, inputs: { a: pair, b: { ...pair, float_val: r.floats(rows * 2) } } };
  }
  const inputs = r.chance(0.5) ? { images: tfImages(Array.from({ length: rows }, () => r.pick(pool.good))) } : { input: tfFloats(rows, r.floats(rows * PIXELS), r) };
  return { model_spec: { name: 'tiny', ...(r.chance(0.3) ? { version: { value: 1 } } : {}) }, inputs, ...(r.chance(0.3) ? { output_filter: ['probs'] } : {}) };
}

export function tfCase(r: Rand, pool: Pool): Case {
  const spec = { name: 'tiny' };
  const one = (input: object, kind: string, allowed: Allowed = BAD): Case => ({ kind, allowed, grpc: encode(PredictRequest, { model_spec: spec, inputs: { input } }) });
  switch (r.int(16)) {
    case 0:
      return { kind: 'valid', allowed: OK, grpc: encode(PredictRequest, tfValid(r, pool)) };
    case 1: {
      const values = r.floats(PIXELS).map((v) => (r.chance(0.2) ? r.pick([NaN, Infinity, -Infinity, 3.4e38, -0]) : v));
      return one(tfFloats(1, values, r), 'NaN/Inf floats', OK);
    }
    case 2: {
      const n = PIXELS * 4 + r.pick([-4, -3, -1, 1, 2, 4, 8, -PIXELS * 4]);
      return one({ dtype: 'DT_FLOAT', tensor_shape: tfShape([1, 3, SIZE, SIZE]), tensor_content: r.bytes(n) }, 'tensor_content length mismatch');
    }
    case 3: {
      const dtype = r.pick(['DT_DOUBLE', 'DT_INT32', 'DT_HALF', 'DT_INT64', 'DT_BOOL', 'DT_UINT8', 'DT_COMPLEX64', 'DT_RESOURCE', 'DT_INVALID', 'DT_BFLOAT16']);
      return one({ dtype, tensor_shape: tfShape([1, 3, SIZE, SIZE]), tensor_content: r.bytes(PIXELS * 8) }, 'wrong dtype');
    }
    case 4: {
      const rank = r.int(6);
      const dims = Array.from({ length: rank }, () => r.int(6));
      const n = dims.reduce((a, b) => a * b, 1);
      const fits = rank === 4 && dims[1] === 3 && dims[2] === SIZE && dims[3] === SIZE && dims[0] > 0;
      return one({ dtype: 'DT_FLOAT', tensor_shape: tfShape(dims), float_val: r.floats(n) }, 'wrong shape', fits ? OK : BAD);
    }
    case 5: {
      const dims = r.pick(HUGE_DIMS);
      const body = r.chance(0.5) ? { float_val: [1.5] } : { tensor_content: r.bytes(16) };
      return one({ dtype: 'DT_FLOAT', tensor_shape: tfShape(dims), ...body }, 'huge declared shape');
    }
    case 6:
      return one(tfImages(Array.from({ length: 1 + r.int(3) }, () => pool.garbage(r))), 'garbage images');
    case 7: {
      const kind = r.pick(['unknown model', 'unknown version', 'version label']);
      const model_spec = kind === 'unknown model' ? { name: `no-such-${r.int(1000)}` } : kind === 'unknown version' ? { name: 'tiny', version: { value: 7 + r.int(100) } } : { name: 'tiny', version_label: 'stable' };
      return { kind, allowed: MISSING, grpc: encode(PredictRequest, { model_spec, inputs: { input: tfFloats(1, r.floats(PIXELS), r) } }) };
    }
    case 8: {
      const variant = r.int(5);
      const base = { model_spec: spec, inputs: { input: tfFloats(1, r.floats(PIXELS), r) } };
      const msg =
        variant === 0 ? { ...base, inputs: { nope: base.inputs.input } }
        : variant === 1 ? { ...base, output_filter: ['nope'] }
        : variant === 2 ? { ...base, model_spec: { ...spec, signature_name: 'classify' } }
        : variant === 3 ? { model_spec: spec }
        : { model_spec: { name: 'pair' }, inputs: { a: { dtype: 'DT_FLOAT', tensor_shape: tfShape([1, 2]), float_val: [1, 2] } } };
      return { kind: 'wrong names', allowed: BAD, grpc: encode(PredictRequest, msg) };
    }
    case 9: {
      const rows = 65 + r.int(100);
      return one(tfImages(new Array(rows).fill(pool.good[0])), 'batch over --max-request-batch');
    }
    case 10: {
      const f = (rows: number) => ({ dtype: 'DT_FLOAT', tensor_shape: tfShape([rows, 2]), float_val: r.floats(rows * 2) });
      return { kind: 'batch mismatch', allowed: BAD, grpc: encode(PredictRequest, { model_spec: { name: 'pair' }, inputs: { a: f(1), b: f(2 + r.int(3)) } }) };
    }
    case 11:
      return { kind: 'unknown fields', allowed: OK, grpc: withUnknownFields(encode(PredictRequest, tfValid(r, pool)), r) };
    case 12:
      // Rarer than the others: a megabyte each, on the one connection all the calls share.
      if (r.chance(0.5)) return { kind: 'valid', allowed: OK, grpc: encode(PredictRequest, tfValid(r, pool)) };
      return { kind: 'over the message limit', allowed: ['RESOURCE_EXHAUSTED'], grpc: encode(PredictRequest, { model_spec: spec, inputs: { images: tfImages([oversized(r)]) } }) };
    case 13:
      return { kind: 'no model named (several served)', allowed: MISSING, grpc: encode(PredictRequest, { inputs: { input: tfFloats(1, r.floats(PIXELS), r) } }) };
    default: {
      const { kind, bytes } = mangle(encode(PredictRequest, tfValid(r, pool)), r);
      return { kind, allowed: MANGLED, grpc: bytes };
    }
  }
}

// ---------------------------------------------------------------------------
// KServe ModelInfer (gRPC)
// ---------------------------------------------------------------------------
export const lengthPrefixed = (items: Buffer[]) => Buffer.concat(items.flatMap((b) => [Buffer.from(Uint32Array.of(b.length).buffer), b]));

export function kValid(r: Rand, pool: Pool): object {
  const rows = 1 + r.int(3);
  const raw = r.chance(0.5);
  if (r.chance(0.3)) {
    const t = (name: string) => ({ name, datatype: 'FP32', shape: [rows, 2], ...(raw ? {} : { contents: { fp32_contents: r.floats(rows * 2) } }) });
    return { model_name: 'pair', inputs: [t('a'), t('b')], ...(raw ? { raw_input_contents: [f32Bytes(r.floats(rows * 2)), f32Bytes(r.floats(rows * 2))] } : {}) };
  }
  if (r.chance(0.5)) {
    const items = Array.from({ length: rows }, () => r.pick(pool.good));
    const input = { name: 'images', datatype: 'BYTES', shape: [rows], ...(raw ? {} : { contents: { bytes_contents: items } }) };
    return { model_name: 'tiny', inputs: [input], ...(raw ? { raw_input_contents: [lengthPrefixed(items)] } : {}) };
  }
  const values = r.floats(rows * PIXELS);
  const input = { name: 'input', datatype: 'FP32', shape: [rows, 3, SIZE, SIZE], ...(raw ? {} : { contents: { fp32_contents: values } }) };
  return { model_name: 'tiny', model_version: r.chance(0.3) ? '1' : '', id: `req-${r.int(1e6)}`, inputs: [input], ...(raw ? { raw_input_contents: [f32Bytes(values)] } : {}), ...(r.chance(0.3) ? { outputs: [{ name: 'probs' }] } : {}) };
}

export function kserveGrpcCase(r: Rand, pool: Pool): Case {
  const one = (input: object, kind: string, allowed: Allowed = BAD, raw?: Buffer[]): Case => ({
    kind,
    allowed,
    grpc: encode(ModelInferRequest, { model_name: 'tiny', inputs: [input], ...(raw ? { raw_input_contents: raw } : {}) }),
  });
  const image = { name: 'input', shape: [1, 3, SIZE, SIZE] };
  switch (r.int(16)) {
    case 0:
      return { kind: 'valid', allowed: OK, grpc: encode(ModelInferRequest, kValid(r, pool)) };
    case 1: {
      const values = r.floats(PIXELS).map((v) => (r.chance(0.2) ? r.pick([NaN, Infinity, -Infinity, -0]) : v));
      return r.chance(0.5) ? one({ ...image, datatype: 'FP32', contents: { fp32_contents: values } }, 'NaN/Inf floats', OK) : one({ ...image, datatype: 'FP32' }, 'NaN/Inf floats', OK, [f32Bytes(values)]);
    }
    case 2:
      return one({ ...image, datatype: 'FP32' }, 'raw length mismatch', BAD, [r.bytes(PIXELS * 4 + r.pick([-4, -1, 1, 3, 4, 100]))]);
    case 3: {
      const datatype = r.pick(['FP64', 'INT32', 'FP16', 'INT64', 'BOOL', 'UINT8', 'BF16', 'fp32', '', 'FP33', 'STRING']);
      return one({ ...image, datatype }, 'wrong datatype', BAD, [r.bytes(PIXELS * (datatype === 'FP64' || datatype === 'INT64' ? 8 : datatype === 'FP16' ? 2 : datatype === 'BOOL' || datatype === 'UINT8' ? 1 : 4))]);
    }
    case 4: {
      const rank = r.int(6);
      const dims = Array.from({ length: rank }, () => r.int(6));
      const n = dims.reduce((a, b) => a * b, 1);
      const fits = rank === 4 && dims[1] === 3 && dims[2] === SIZE && dims[3] === SIZE && dims[0] > 0;
      return one({ name: 'input', datatype: 'FP32', shape: dims, contents: { fp32_contents: r.floats(n) } }, 'wrong shape', fits ? OK : BAD);
    }
    case 5:
      return one({ name: 'input', datatype: 'FP32', shape: r.pick(HUGE_DIMS) }, 'huge declared shape', BAD, [r.bytes(16)]);
    case 6: {
      const items = Array.from({ length: 1 + r.int(3) }, () => pool.garbage(r));
      return r.chance(0.5)
        ? one({ name: 'images', datatype: 'BYTES', shape: [items.length], contents: { bytes_contents: items } }, 'garbage images')
        : one({ name: 'images', datatype: 'BYTES', shape: [items.length] }, 'garbage images', BAD, [lengthPrefixed(items)]);
    }
    case 7: {
      const raw = lengthPrefixed([pool.good[0]]);
      const cut = r.chance(0.5) ? raw.subarray(0, r.int(raw.length)) : Buffer.concat([raw, r.bytes(1 + r.int(3))]);
      return one({ name: 'images', datatype: 'BYTES', shape: [1] }, 'bad BYTES length prefixes', BAD, [cut]);
    }
    case 8: {
      const kind = r.pick(['unknown model', 'unknown version']);
      const msg = { model_name: kind === 'unknown model' ? `no-such-${r.int(1000)}` : 'tiny', model_version: kind === 'unknown model' ? '' : String(5 + r.int(50)), inputs: [{ ...image, datatype: 'FP32', contents: { fp32_contents: r.floats(PIXELS) } }] };
      return { kind, allowed: MISSING, grpc: encode(ModelInferRequest, msg) };
    }
    case 9: {
      const input = { ...image, datatype: 'FP32', contents: { fp32_contents: r.floats(PIXELS) } };
      const variant = r.int(7);
      const msg =
        variant === 0 ? { model_name: 'tiny', inputs: [{ ...input, name: 'nope' }] }
        : variant === 1 ? { model_name: 'tiny', inputs: [input], outputs: [{ name: 'nope' }] }
        : variant === 2 ? { model_name: 'tiny', inputs: [input, input] }
        : variant === 3 ? { model_name: '', inputs: [input] }
        : variant === 4 ? { model_name: 'tiny', model_version: r.pick(['x', '-1', '1.5']), inputs: [input] }
        : variant === 5 ? { model_name: 'tiny', inputs: [{ ...input, contents: { int_contents: [1, 2] } }] }
        : { model_name: 'tiny', inputs: [input], raw_input_contents: [f32Bytes(r.floats(PIXELS)), Buffer.alloc(4)] };
      return { kind: 'wrong names or fields', allowed: BAD, grpc: encode(ModelInferRequest, msg) };
    }
    case 10: {
      const rows = 65 + r.int(60);
      return one({ name: 'images', datatype: 'BYTES', shape: [rows], contents: { bytes_contents: new Array(rows).fill(pool.good[0]) } }, 'batch over --max-request-batch');
    }
    case 11:
      return { kind: 'unknown fields', allowed: OK, grpc: withUnknownFields(encode(ModelInferRequest, kValid(r, pool)), r) };
    case 12:
      if (r.chance(0.5)) return { kind: 'valid', allowed: OK, grpc: encode(ModelInferRequest, kValid(r, pool)) };
      return one({ name: 'images', datatype: 'BYTES', shape: [1] }, 'over the message limit', ['RESOURCE_EXHAUSTED'], [lengthPrefixed([oversized(r)])]);
    case 13: {
      const datatype = r.pick(['INT8', 'UINT8', 'INT16', 'UINT64', 'BOOL']);
      const field = datatype === 'UINT8' || datatype === 'UINT64' ? (datatype === 'UINT8' ? 'uint_contents' : 'uint64_contents') : datatype === 'BOOL' ? 'bool_contents' : 'int_contents';
      const values = datatype === 'BOOL' ? [true] : datatype === 'UINT64' ? ['18446744073709551615'] : [r.pick([1000, -1000, 70_000, 2 ** 31 - 1])];
      return one({ name: 'input', datatype, shape: [1], contents: { [field]: values } }, 'values out of range or wrong dtype');
    }
    default: {
      const { kind, bytes } = mangle(encode(ModelInferRequest, kValid(r, pool)), r);
      return { kind, allowed: MANGLED, grpc: bytes };
    }
  }
}
