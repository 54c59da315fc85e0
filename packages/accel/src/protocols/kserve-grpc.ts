import * as grpc from '@grpc/grpc-js';
import { loadServingProtos } from '@accel/client/proto';
import type { ModelRef, Runtime } from '../runtime/runtime';
import type { PredictOptions } from '../runtime/servable';
import type { DType, NamedTensors } from '../runtime/tensor';
import {
  SERVER_METADATA,
  badRequest,
  badTensor,
  defaultOutputs,
  dtypeFromKServe,
  kserveDatatype,
  kserveRef,
  modelMetadata,
  modelReady,
  parseShape,
  rawBytes,
  tensorFromRaw,
  tensorFromValues,
} from './kserve-tensor';
import type { ServerMetrics } from './metrics';
import { addDecodingService, grpcError } from './tfserving-grpc';

/** InferTensorContents as proto-loader gives it (int64 as strings, bytes as Buffers). */
type ContentsObject = Record<string, unknown[] | undefined>;

interface InferInputObject {
  name?: string;
  datatype?: string;
  shape?: Array<string | number>;
  contents?: ContentsObject | null;
}

interface ModelInferRequestObject {
  model_name?: string;
  model_version?: string;
  id?: string;
  inputs?: InferInputObject[];
  outputs?: Array<{ name?: string }>;
  raw_input_contents?: Uint8Array[];
}

/** The typed field of InferTensorContents that carries each dtype (FP16 has none: raw only). */
const CONTENTS_FIELD: Record<DType, string | undefined> = {
  bool: 'bool_contents',
  int8: 'int_contents',
  int16: 'int_contents',
  int32: 'int_contents',
  int64: 'int64_contents',
  uint8: 'uint_contents',
  uint16: 'uint_contents',
  uint32: 'uint_contents',
  uint64: 'uint64_contents',
  float16: undefined,
  float32: 'fp32_contents',
  float64: 'fp64_contents',
  string: 'bytes_contents',
};

type Callback = grpc.sendUnaryData<unknown>;
type Call<T> = grpc.ServerUnaryCall<T, unknown>;

/** ModelInferRequest inputs -> named tensors, from `raw_input_contents` (one per input, in order) or typed `contents`. */
export function decodeInferInputs(req: ModelInferRequestObject): NamedTensors {
  const list = req.inputs ?? [];
  if (list.length === 0) throw badRequest('the request has no inputs');
  const raw = req.raw_input_contents ?? [];
  if (raw.length > 0 && raw.length !== list.length) {
    throw badRequest(`raw_input_contents has ${raw.length} entries but there are ${list.length} inputs; send one per input, in the same order`);
  }
  const inputs: NamedTensors = {};
  for (const [i, input] of list.entries()) {
    const name = input.name;
    if (!name) throw badRequest(`inputs[${i}] has no name`);
    if (Object.hasOwn(inputs, name)) throw badRequest(`input "${name}" is given twice`);
    const dtype = dtypeFromKServe(name, input.datatype);
    const shape = parseShape(name, input.shape ?? []);
    const filled = Object.entries(input.contents ?? {}).filter(([, v]) => Array.isArray(v) && v.length > 0);
    if (raw.length > 0) {
      if (filled.length > 0) throw badTensor(name, 'it has both contents and raw_input_contents; send one');
      inputs[name] = tensorFromRaw(name, dtype, shape, raw[i]);
      continue;
    }
    const field = CONTENTS_FIELD[dtype];
    if (!field) throw badTensor(name, `${kserveDatatype(dtype)} has no typed contents field; send it in raw_input_contents`);
    const other = filled.find(([f]) => f !== field);
    if (other) throw badTensor(name, `datatype ${kserveDatatype(dtype)} reads contents.${field}, but the values are in contents.${other[0]}`);
    inputs[name] = tensorFromValues(name, dtype, shape, input.contents?.[field] ?? []);
  }
  return inputs;
}

/** The call's deadline (when it has one) and a signal aborted when the client cancels. */
function predictOptions(call: Call<unknown>): PredictOptions {
  const d = call.getDeadline();
  const ms = d instanceof Date ? d.getTime() : Number(d);
  const controller = new AbortController();
  call.once('cancelled', () => controller.abort());
  return { deadline: Number.isFinite(ms) ? ms : undefined, signal: controller.signal };
}

/** KServe v2 / Open Inference Protocol `inference.GRPCInferenceService` over the runtime core; outputs as raw_output_contents. */
export function addKServeServices(server: grpc.Server, runtime: Runtime, metrics: ServerMetrics): void {
  const protos = loadServingProtos();

  const modelInfer = async (call: Call<ModelInferRequestObject>, callback: Callback) => {
    const started = performance.now();
    let ref: ModelRef = {};
    try {
      const req = call.request;
      ref = kserveRef(req.model_name ?? '', req.model_version);
      const inputs = decodeInferInputs(req);
      const servable = runtime.resolve(ref);
      const asked = (req.outputs ?? []).map((o, i) => {
        if (!o.name) throw badRequest(`outputs[${i}] has no name`);
        return o.name;
      });
      if (new Set(asked).size !== asked.length) throw badRequest('an output is asked for twice');
      const names = asked.length ? asked : defaultOutputs(servable);
      const result = await runtime.predict({ name: servable.name, version: servable.version }, inputs, {
        outputFilter: names,
        ...predictOptions(call),
      });
      metrics.observe('kserve-grpc', started, { result });
      callback(null, {
        model_name: result.model,
        model_version: String(result.version),
        id: req.id ?? '',
        outputs: names.map((name) => {
          const t = result.outputs[name];
          return { name, datatype: kserveDatatype(t.dtype), shape: t.shape };
        }),
        raw_output_contents: names.map((name) => rawBytes(result.outputs[name])),
      });
    } catch (err) {
      metrics.observe('kserve-grpc', started, { error: err, model: ref.name, version: ref.version });
      callback(grpcError(err));
    }
  };

  /** A unary handler whose thrown AccelErrors become gRPC statuses. */
  const unary =
    <T>(fn: (req: T) => unknown) =>
    (call: Call<T>, callback: Callback) => {
      try {
        callback(null, fn(call.request));
      } catch (err) {
        callback(grpcError(err));
      }
    };

  type ModelRequest = { name?: string; version?: string };
  addDecodingService(server, protos.GRPCInferenceService.service, {
    ServerLive: unary(() => ({ live: true })),
    ServerReady: unary(() => ({ ready: runtime.ready })),
    ServerMetadata: unary(() => SERVER_METADATA),
    ModelReady: unary((req: ModelRequest) => ({ ready: modelReady(runtime, kserveRef(req.name ?? '', req.version)) })),
    ModelMetadata: unary((req: ModelRequest) => modelMetadata(runtime, runtime.resolve(kserveRef(req.name ?? '', req.version)))),
    ModelInfer: (call: Call<ModelInferRequestObject>, cb: Callback) => void modelInfer(call, cb),
  });
}
