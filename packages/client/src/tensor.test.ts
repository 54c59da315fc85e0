import { describe, expect, it } from 'vitest';
import { loadServingProtos } from './proto';
import { decodeTensor, encodeTensor, floatTensorProto, stringTensorProto, toFloat32, type TensorProtoObject } from './tensor';

const dims = (...s: number[]) => ({ dim: s.map((size) => ({ size: String(size) })) });

function f32le(values: number[]): Buffer {
  const b = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => b.writeFloatLE(v, i * 4));
  return b;
}

describe('decodeTensor', () => {
  it('reads DT_FLOAT tensor_content, even at an unaligned offset', () => {
    const backing = Buffer.concat([Buffer.from([0xaa]), f32le([0.5, -1, 2.25, 3])]);
    const content = backing.subarray(1); // byteOffset 1: not 4-aligned
    const t = decodeTensor({ dtype: 'DT_FLOAT', tensor_shape: dims(2, 2), tensor_content: content });
    expect(t.dtype).toBe('DT_FLOAT');
    expect(t.shape).toEqual([2, 2]);
    expect(t.data).toBeInstanceOf(Float32Array);
    expect(Array.from(t.data as Float32Array)).toEqual([0.5, -1, 2.25, 3]);
  });

  it('reads float_val, repeating the last value when the field is shorter than the shape', () => {
    expect(Array.from(decodeTensor({ dtype: 'DT_FLOAT', tensor_shape: dims(3), float_val: [0.25, 0.75, 0] }).data as Float32Array)).toEqual([0.25, 0.75, 0]);
    expect(Array.from(decodeTensor({ dtype: 'DT_FLOAT', tensor_shape: dims(2, 2), float_val: [7] }).data as Float32Array)).toEqual([7, 7, 7, 7]);
    expect(Array.from(decodeTensor({ dtype: 'DT_FLOAT', tensor_shape: dims(2) }).data as Float32Array)).toEqual([0, 0]);
  });

  it('reads DT_DOUBLE, DT_INT32, DT_INT64, DT_UINT8, DT_BOOL and DT_STRING', () => {
    const d = Buffer.alloc(16);
    d.writeDoubleLE(1e300, 0);
    d.writeDoubleLE(-0.125, 8);
    expect(Array.from(decodeTensor({ dtype: 'DT_DOUBLE', tensor_shape: dims(2), tensor_content: d }).data as Float64Array)).toEqual([1e300, -0.125]);
    expect(Array.from(decodeTensor({ dtype: 'DT_INT32', tensor_shape: dims(2), int_val: [-3, 4] }).data as Int32Array)).toEqual([-3, 4]);
    const i64 = decodeTensor({ dtype: 'DT_INT64', tensor_shape: dims(2), int64_val: ['9007199254740993', '-2'] });
    expect(i64.data).toBeInstanceOf(BigInt64Array);
    expect(Array.from(i64.data as BigInt64Array)).toEqual([9007199254740993n, -2n]);
    const c64 = Buffer.alloc(8);
    c64.writeBigInt64LE(-5n);
    expect(Array.from(decodeTensor({ dtype: 'DT_INT64', tensor_shape: dims(1), tensor_content: c64 }).data as BigInt64Array)).toEqual([-5n]);
    expect(Array.from(decodeTensor({ dtype: 'DT_UINT8', tensor_shape: dims(3), int_val: [0, 128, 255] }).data as Uint8Array)).toEqual([0, 128, 255]);
    expect(Array.from(decodeTensor({ dtype: 'DT_UINT8', tensor_shape: dims(2), tensor_content: Buffer.from([9, 250]) }).data as Uint8Array)).toEqual([9, 250]);
    expect(Array.from(decodeTensor({ dtype: 'DT_BOOL', tensor_shape: dims(2), bool_val: [true, false] }).data as Uint8Array)).toEqual([1, 0]);
    const s = decodeTensor({ dtype: 'DT_STRING', tensor_shape: dims(2), string_val: [Buffer.from('a'), Buffer.from([0xff, 0])] });
    expect((s.data as Uint8Array[]).map((b) => Buffer.from(b))).toEqual([Buffer.from('a'), Buffer.from([0xff, 0])]);
  });

  it('treats a missing shape as a scalar and accepts numeric dtypes', () => {
    const t = decodeTensor({ dtype: 1, float_val: [3.5] });
    expect(t).toEqual({ dtype: 'DT_FLOAT', shape: [], data: Float32Array.from([3.5]) });
  });

  it('says what is wrong with a malformed tensor', () => {
    expect(() => decodeTensor({ dtype: 'DT_FLOAT', tensor_shape: dims(3), tensor_content: f32le([1, 2]) }, 'probs')).toThrow(
      'tensor "probs" has 8 bytes of tensor_content; shape [3] of DT_FLOAT needs 12',
    );
    expect(() => decodeTensor({ dtype: 'DT_FLOAT', tensor_shape: dims(1), float_val: [1, 2] }, 'y')).toThrow('tensor "y" has 2 values but its shape holds 1');
    expect(() => decodeTensor({ dtype: 'DT_HALF', tensor_shape: dims(1) }, 'h')).toThrow(/tensor "h" has dtype DT_HALF; the client decodes DT_FLOAT/);
    expect(() => decodeTensor({ dtype: 'DT_FLOAT', tensor_shape: dims(-1) }, 'u')).toThrow(/unknown or invalid shape \[-1\]/);
  });
});

describe('encoding', () => {
  it('floatTensorProto puts little-endian float32 in tensor_content and checks the shape', () => {
    const p = floatTensorProto([0.5, -1, 2.25], [1, 3]);
    expect(p).toEqual({ dtype: 'DT_FLOAT', tensor_shape: dims(1, 3), tensor_content: f32le([0.5, -1, 2.25]) });
    expect(() => floatTensorProto([1, 2], [3])).toThrow("'shape' [3] holds 3 elements but 'data' has 2");
    expect(() => floatTensorProto([1], [1.5])).toThrow("'shape' must be an array of non-negative integers");
  });

  it('stringTensorProto is DT_STRING of shape [N]', () => {
    const p = stringTensorProto([Uint8Array.of(1, 2), Uint8Array.of(3)]);
    expect(p.dtype).toBe('DT_STRING');
    expect(p.tensor_shape).toEqual(dims(2));
    expect(p.string_val!.map((b) => [...b])).toEqual([[1, 2], [3]]);
  });

  it('encodeTensor round-trips through the wire and decodeTensor', () => {
    const method = loadServingProtos().PredictionService.service.Predict!;
    const tensors = {
      f: { dtype: 'DT_FLOAT' as const, shape: [2], data: Float32Array.of(1.5, -2) },
      i: { dtype: 'DT_INT64' as const, shape: [1], data: BigInt64Array.of(-7n) },
      s: { dtype: 'DT_STRING' as const, shape: [1, 1], data: [Buffer.from('jpeg')] },
    };
    const inputs = Object.fromEntries(Object.entries(tensors).map(([k, t]) => [k, encodeTensor(t)]));
    const back = method.requestDeserialize(method.requestSerialize({ inputs })) as { inputs: Record<string, TensorProtoObject> };
    for (const [k, t] of Object.entries(tensors)) expect(decodeTensor(back.inputs[k]!, k)).toEqual(t);
  });

  it('toFloat32 converts numeric tensors and refuses strings', () => {
    expect(toFloat32({ dtype: 'DT_INT64', shape: [2], data: BigInt64Array.of(3n, 4n) })).toEqual(Float32Array.of(3, 4));
    const f = Float32Array.of(1);
    expect(toFloat32({ dtype: 'DT_FLOAT', shape: [1], data: f })).toBe(f);
    expect(() => toFloat32({ dtype: 'DT_STRING', shape: [1], data: [Buffer.from('x')] }, 'names')).toThrow('output "names" is DT_STRING');
  });
});
