import { describe, expect, it, vi } from 'vitest';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { PROTO_DIR, SERVING_PROTO_FILES, loadServingProtos, packAny, protobufRoot, unpackAny } from './proto';

// ---------------------------------------------------------------------------
// Minimal wire reader: a message's top-level fields in wire order.
// ---------------------------------------------------------------------------
interface WireField {
  no: number;
  wt: number;
  /** varint value (as bigint-safe string) for wire type 0 */
  varint?: string;
  /** payload for wire type 2 */
  bytes?: Uint8Array;
}

function wireFields(buf: Uint8Array): WireField[] {
  const r = protobuf.Reader.create(buf);
  const out: WireField[] = [];
  while (r.pos < r.len) {
    const tag = r.uint32();
    const no = tag >>> 3;
    const wt = tag & 7;
    if (wt === 0) out.push({ no, wt, varint: String(r.int64()) });
    else if (wt === 2) out.push({ no, wt, bytes: r.bytes() });
    else {
      r.skipType(wt);
      out.push({ no, wt });
    }
  }
  return out;
}

const numbers = (buf: Uint8Array) => wireFields(buf).map((f) => f.no);
const field = (buf: Uint8Array, no: number) => wireFields(buf).filter((f) => f.no === no);
const one = (buf: Uint8Array, no: number): WireField => {
  const fs = field(buf, no);
  expect(fs, `field ${no}`).toHaveLength(1);
  return fs[0]!;
};
const text = (b: Uint8Array | undefined) => Buffer.from(b ?? []).toString('utf8');

// Little-endian float32 bytes, as TF stores tensor_content.
function f32le(values: number[]): Buffer {
  const b = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => b.writeFloatLE(v, i * 4));
  return b;
}

describe('proto files', () => {
  it('live under PROTO_DIR by canonical import path', () => {
    expect(PROTO_DIR).toMatch(/packages[\\/]client[\\/]proto$/);
    for (const f of [
      ...SERVING_PROTO_FILES,
      'tensorflow/core/framework/types.proto',
      'tensorflow/core/framework/tensor.proto',
      'tensorflow/core/framework/tensor_shape.proto',
      'tensorflow/core/framework/resource_handle.proto',
      'tensorflow/core/protobuf/meta_graph.proto',
      'tensorflow/core/protobuf/error_codes.proto',
      'tensorflow_serving/apis/model.proto',
      'tensorflow_serving/apis/predict.proto',
      'tensorflow_serving/apis/get_model_metadata.proto',
      'tensorflow_serving/apis/get_model_status.proto',
      'tensorflow_serving/apis/status.proto',
    ]) {
      expect(existsSync(join(PROTO_DIR, f)), f).toBe(true);
    }
  });

  it('load through @grpc/proto-loader without include-path warnings (well-known types are bundled)', () => {
    const warn = vi.spyOn(process, 'emitWarning');
    try {
      const s = loadServingProtos();
      expect(warn).not.toHaveBeenCalled();
      expect(s.packageDefinition['google.protobuf.Any']).toBeDefined();
      expect(s.packageDefinition['google.protobuf.Int64Value']).toBeDefined();
      expect(Object.keys(s.PredictionService.service).sort()).toEqual(['GetModelMetadata', 'Predict']);
      expect(s.PredictionService.service.Predict!.path).toBe('/tensorflow.serving.PredictionService/Predict');
      expect(s.PredictionService.service.GetModelMetadata!.path).toBe(
        '/tensorflow.serving.PredictionService/GetModelMetadata',
      );
      expect(Object.keys(s.ModelService.service)).toEqual(['GetModelStatus']);
      expect(s.ModelService.service.GetModelStatus!.path).toBe('/tensorflow.serving.ModelService/GetModelStatus');
      expect(Object.keys(s.GRPCInferenceService.service).sort()).toEqual(
        ['ModelInfer', 'ModelMetadata', 'ModelReady', 'ServerLive', 'ServerMetadata', 'ServerReady'],
      );
      expect(s.GRPCInferenceService.service.ModelInfer!.path).toBe('/inference.GRPCInferenceService/ModelInfer');
      expect(typeof s.PredictionService).toBe('function');
      expect(loadServingProtos()).toBe(s); // cached
    } finally {
      warn.mockRestore();
    }
  });

  it('load through protobufjs with the expected field numbers', () => {
    const root = protobufRoot();
    const ids = (name: string) =>
      Object.fromEntries(root.lookupType(name).fieldsArray.map((f) => [f.name, f.id]));

    expect(ids('tensorflow.TensorShapeProto')).toEqual({ dim: 2, unknown_rank: 3 });
    expect(ids('tensorflow.TensorShapeProto.Dim')).toEqual({ size: 1, name: 2 });
    expect(ids('tensorflow.TensorProto')).toEqual({
      dtype: 1, tensor_shape: 2, version_number: 3, tensor_content: 4, half_val: 13, float_val: 5,
      double_val: 6, int_val: 7, string_val: 8, scomplex_val: 9, int64_val: 10, bool_val: 11,
      dcomplex_val: 12, resource_handle_val: 14, variant_val: 15, uint32_val: 16, uint64_val: 17,
      float8_val: 18,
    });
    expect(ids('tensorflow.TensorInfo')).toMatchObject({ name: 1, dtype: 2, tensor_shape: 3, coo_sparse: 4 });
    expect(ids('tensorflow.SignatureDef')).toEqual({ inputs: 1, outputs: 2, method_name: 3, defaults: 4 });
    expect(ids('tensorflow.serving.ModelSpec')).toEqual({ name: 1, version: 2, version_label: 4, signature_name: 3 });
    expect(ids('tensorflow.serving.PredictRequest')).toEqual({ model_spec: 1, inputs: 2, output_filter: 3 });
    expect(ids('tensorflow.serving.PredictResponse')).toEqual({ model_spec: 2, outputs: 1 });
    expect(ids('tensorflow.serving.SignatureDefMap')).toEqual({ signature_def: 1 });
    expect(ids('tensorflow.serving.GetModelMetadataRequest')).toEqual({ model_spec: 1, metadata_field: 2 });
    expect(ids('tensorflow.serving.GetModelMetadataResponse')).toEqual({ model_spec: 1, metadata: 2 });
    expect(ids('tensorflow.serving.StatusProto')).toEqual({ error_code: 1, error_message: 2 });
    expect(ids('tensorflow.serving.ModelVersionStatus')).toEqual({ version: 1, state: 2, status: 3 });
    expect(ids('inference.ModelInferRequest')).toMatchObject({ inputs: 5, outputs: 6, raw_input_contents: 7 });
    expect(ids('inference.ModelInferResponse')).toMatchObject({ outputs: 5, raw_output_contents: 6 });

    const dt = root.lookupEnum('tensorflow.DataType').values;
    expect(dt).toMatchObject({
      DT_INVALID: 0, DT_FLOAT: 1, DT_DOUBLE: 2, DT_INT32: 3, DT_UINT8: 4, DT_INT16: 5, DT_INT8: 6,
      DT_STRING: 7, DT_COMPLEX64: 8, DT_INT64: 9, DT_BOOL: 10, DT_QINT8: 11, DT_QUINT8: 12,
      DT_QINT32: 13, DT_BFLOAT16: 14, DT_QINT16: 15, DT_QUINT16: 16, DT_UINT16: 17,
      DT_COMPLEX128: 18, DT_HALF: 19, DT_RESOURCE: 20, DT_VARIANT: 21, DT_UINT32: 22, DT_UINT64: 23,
    });
    expect(root.lookupEnum('tensorflow.serving.ModelVersionStatus.State').values).toEqual({
      UNKNOWN: 0, START: 10, LOADING: 20, AVAILABLE: 30, UNLOADING: 40, END: 50,
    });
    const code = root.lookupEnum('tensorflow.error.Code').values;
    expect(code).toMatchObject({ OK: 0, INVALID_ARGUMENT: 3, NOT_FOUND: 5, UNAVAILABLE: 14, UNAUTHENTICATED: 16 });
  });
});

describe('PredictRequest / PredictResponse on the wire', () => {
  const request = {
    model_spec: { name: 'resnet', version: { value: '7' }, signature_name: 'serving_default' },
    inputs: {
      image_bytes: {
        dtype: 'DT_STRING',
        tensor_shape: { dim: [{ size: '2' }] },
        string_val: [Buffer.from('jpeg-1'), Buffer.from([0xff, 0xd8, 0x00])],
      },
      scale: {
        dtype: 'DT_FLOAT',
        tensor_shape: { dim: [{ size: '1' }, { size: '3' }] },
        tensor_content: f32le([0.5, -1, 2.25]),
      },
    },
    output_filter: ['probabilities', 'classes'],
  };

  it('uses model_spec=1, inputs=2 (map entries key=1/value=2), output_filter=3', () => {
    const method = loadServingProtos().PredictionService.service.Predict!;
    const bytes = method.requestSerialize(request);

    // Same bytes whether encoded by grpc-js/proto-loader or by protobufjs directly.
    const T = protobufRoot().lookupType('tensorflow.serving.PredictRequest');
    expect(Buffer.from(T.encode(T.fromObject(request)).finish())).toEqual(bytes);

    const top = wireFields(bytes);
    expect(top.every((f) => f.wt === 2)).toBe(true);
    expect(numbers(bytes).sort()).toEqual([1, 2, 2, 3, 3]);
    expect(field(bytes, 3).map((f) => text(f.bytes))).toEqual(['probabilities', 'classes']);

    // ModelSpec: name=1, version=2 (Int64Value.value=1), signature_name=3.
    const spec = one(bytes, 1).bytes!;
    expect(text(one(spec, 1).bytes)).toBe('resnet');
    expect(one(one(spec, 2).bytes!, 1).varint).toBe('7');
    expect(text(one(spec, 3).bytes)).toBe('serving_default');

    const entries = new Map(
      field(bytes, 2).map((e) => [text(one(e.bytes!, 1).bytes), one(e.bytes!, 2).bytes!] as const),
    );
    expect([...entries.keys()].sort()).toEqual(['image_bytes', 'scale']);

    // DT_STRING tensor: dtype=1 (7), tensor_shape=2 -> dim=2 -> size=1, string_val=8 (repeated bytes).
    const s = entries.get('image_bytes')!;
    expect(one(s, 1).varint).toBe('7');
    const sDims = field(one(s, 2).bytes!, 2).map((d) => one(d.bytes!, 1).varint);
    expect(sDims).toEqual(['2']);
    expect(field(s, 8).map((f) => Buffer.from(f.bytes!))).toEqual([Buffer.from('jpeg-1'), Buffer.from([0xff, 0xd8, 0x00])]);
    expect(numbers(s).sort((a, b) => a - b)).toEqual([1, 2, 8, 8]);

    // DT_FLOAT tensor: dtype=1 (1), tensor_content=4 holding little-endian float32.
    const f = entries.get('scale')!;
    expect(one(f, 1).varint).toBe('1');
    expect(field(one(f, 2).bytes!, 2).map((d) => one(d.bytes!, 1).varint)).toEqual(['1', '3']);
    expect(Buffer.from(one(f, 4).bytes!)).toEqual(f32le([0.5, -1, 2.25]));
    expect(numbers(f).sort((a, b) => a - b)).toEqual([1, 2, 4]);
  });

  it('decodes with proto-loader options (longs/enums as strings, bytes as Buffer, oneof names)', () => {
    const method = loadServingProtos().PredictionService.service.Predict!;
    const decoded = method.requestDeserialize(method.requestSerialize(request));
    expect(decoded.model_spec).toEqual({
      name: 'resnet',
      version: { value: '7' },
      signature_name: 'serving_default',
      version_choice: 'version',
    });
    expect(decoded.inputs.image_bytes.dtype).toBe('DT_STRING');
    expect(decoded.inputs.image_bytes.string_val[1]).toEqual(Buffer.from([0xff, 0xd8, 0x00]));
    expect(Buffer.isBuffer(decoded.inputs.scale.tensor_content)).toBe(true);
    expect(decoded.inputs.scale.tensor_content).toEqual(f32le([0.5, -1, 2.25]));
    expect(decoded.inputs.scale.tensor_shape.dim).toEqual([{ size: '1' }, { size: '3' }]);
    expect(decoded.output_filter).toEqual(['probabilities', 'classes']);
  });

  it('packs float_val as a packed field (tag 5, wire type 2)', () => {
    const T = protobufRoot().lookupType('tensorflow.TensorProto');
    const bytes = T.encode(T.fromObject({ dtype: 'DT_FLOAT', float_val: [1, 2] })).finish();
    expect(Buffer.from(bytes)).toEqual(Buffer.from([0x08, 0x01, 0x2a, 0x08, ...f32le([1, 2])]));
  });

  it('PredictResponse: outputs=1, model_spec=2 (hand-built bytes decode)', () => {
    const method = loadServingProtos().PredictionService.service.Predict!;
    // outputs { key: "y" value { dtype: DT_FLOAT float_val: [0.25] } }  model_spec { name: "m" }
    const tensor = Buffer.from([0x08, 0x01, 0x2a, 0x04, ...f32le([0.25])]);
    const entry = Buffer.from([0x0a, 0x01, 0x79, 0x12, tensor.length, ...tensor]);
    const wire = Buffer.from([0x0a, entry.length, ...entry, 0x12, 0x03, 0x0a, 0x01, 0x6d]);
    const decoded = method.responseDeserialize(wire);
    expect(decoded.model_spec).toEqual({ name: 'm' });
    expect(decoded.outputs.y.dtype).toBe('DT_FLOAT');
    expect(decoded.outputs.y.float_val).toEqual([0.25]);

    const bytes = method.responseSerialize({ model_spec: { name: 'm' }, outputs: { y: { dtype: 'DT_FLOAT', float_val: [0.25] } } });
    expect(Buffer.from(bytes)).toEqual(wire);
    expect(numbers(bytes)).toEqual([1, 2]);
  });
});

describe('GetModelMetadata: SignatureDefMap packed in google.protobuf.Any', () => {
  const signatureDefMap = {
    signature_def: {
      serving_default: {
        inputs: {
          x: { name: 'serving_default_x:0', dtype: 'DT_FLOAT', tensor_shape: { dim: [{ size: '-1' }, { size: '3' }] } },
        },
        outputs: {
          y: { name: 'StatefulPartitionedCall:0', dtype: 'DT_FLOAT', tensor_shape: { dim: [{ size: '-1' }, { size: '1' }] } },
        },
        method_name: 'tensorflow/serving/predict',
      },
    },
  };

  it('round-trips through Any with the TF Serving type_url', () => {
    const any = packAny('tensorflow.serving.SignatureDefMap', signatureDefMap);
    expect(any.type_url).toBe('type.googleapis.com/tensorflow.serving.SignatureDefMap');
    expect(numbers(any.value)).toEqual([1]); // signature_def = 1

    const method = loadServingProtos().PredictionService.service.GetModelMetadata!;
    const wire = method.responseSerialize({
      model_spec: { name: 'half_plus_two', version: { value: '123' } },
      metadata: { signature_def: any },
    });
    expect(numbers(wire)).toEqual([1, 2]); // model_spec = 1, metadata = 2
    const anyBytes = one(one(wire, 2).bytes!, 2).bytes!;
    expect(text(one(anyBytes, 1).bytes)).toBe('type.googleapis.com/tensorflow.serving.SignatureDefMap');
    expect(Buffer.from(one(anyBytes, 2).bytes!)).toEqual(Buffer.from(any.value));

    const resp = method.responseDeserialize(wire);
    expect(resp.model_spec.version).toEqual({ value: '123' });
    const got = resp.metadata.signature_def;
    expect(got.type_url).toBe('type.googleapis.com/tensorflow.serving.SignatureDefMap');
    expect(Buffer.isBuffer(got.value)).toBe(true);

    const { typeName, message } = unpackAny(got);
    expect(typeName).toBe('tensorflow.serving.SignatureDefMap');
    const sig = (message as typeof signatureDefMap).signature_def.serving_default;
    expect(sig.method_name).toBe('tensorflow/serving/predict');
    expect(sig.inputs.x).toMatchObject({ name: 'serving_default_x:0', dtype: 'DT_FLOAT', encoding: 'name' });
    expect(sig.inputs.x.tensor_shape.dim).toEqual([{ size: '-1' }, { size: '3' }]);
    expect(sig.outputs.y.name).toBe('StatefulPartitionedCall:0');
  });

  it('GetModelMetadataRequest uses model_spec=1, metadata_field=2', () => {
    const method = loadServingProtos().PredictionService.service.GetModelMetadata!;
    const wire = method.requestSerialize({ model_spec: { name: 'm' }, metadata_field: ['signature_def'] });
    expect(Buffer.from(wire)).toEqual(Buffer.from([0x0a, 0x03, 0x0a, 0x01, 0x6d, 0x12, 0x0d, ...Buffer.from('signature_def')]));
  });
});

describe('ModelService.GetModelStatus', () => {
  it('encodes version=1, state=2 (AVAILABLE=30), status=3 (error_code=1, error_message=2)', () => {
    const method = loadServingProtos().ModelService.service.GetModelStatus!;
    const wire = method.responseSerialize({
      model_version_status: [
        { version: '2', state: 'AVAILABLE', status: { error_code: 'OK', error_message: '' } },
        { version: '1', state: 'END', status: { error_code: 'UNAUTHENTICATED', error_message: 'nope' } },
      ],
    });
    const [a, b] = field(wire, 1).map((f) => f.bytes!);
    expect(one(a!, 1).varint).toBe('2');
    expect(one(a!, 2).varint).toBe('30');
    expect(one(b!, 2).varint).toBe('50');
    const st = one(b!, 3).bytes!;
    expect(one(st, 1).varint).toBe('16');
    expect(text(one(st, 2).bytes)).toBe('nope');

    const decoded = method.responseDeserialize(wire);
    expect(decoded.model_version_status[0]).toMatchObject({ version: '2', state: 'AVAILABLE' });
    expect(decoded.model_version_status[1].status).toEqual({ error_code: 'UNAUTHENTICATED', error_message: 'nope' });
  });
});

describe('KServe v2 (inference.GRPCInferenceService)', () => {
  it('puts raw_input_contents at 7 and raw_output_contents at 6', () => {
    const svc = loadServingProtos().GRPCInferenceService.service;
    const req = svc.ModelInfer!.requestSerialize({
      model_name: 'm',
      inputs: [{ name: 'x', datatype: 'FP32', shape: ['1', '3'] }],
      raw_input_contents: [f32le([1, 2, 3])],
    });
    expect(numbers(req)).toEqual([1, 5, 7]);
    expect(Buffer.from(one(req, 7).bytes!)).toEqual(f32le([1, 2, 3]));

    const res = svc.ModelInfer!.responseSerialize({
      model_name: 'm',
      outputs: [{ name: 'y', datatype: 'FP32', shape: ['1'] }],
      raw_output_contents: [f32le([4])],
    });
    expect(numbers(res)).toEqual([1, 5, 6]);
    const decoded = svc.ModelInfer!.responseDeserialize(res);
    expect(decoded.outputs[0]).toMatchObject({ name: 'y', datatype: 'FP32', shape: ['1'] });
    expect(decoded.raw_output_contents[0]).toEqual(f32le([4]));

    const p = protobufRoot().lookupType('inference.InferParameter');
    expect(Object.fromEntries(p.fieldsArray.map((f) => [f.name, f.id]))).toEqual({
      bool_param: 1, int64_param: 2, string_param: 3, double_param: 4, uint64_param: 5,
    });
  });
});
