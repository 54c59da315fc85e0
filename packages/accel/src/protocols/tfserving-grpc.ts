import * as grpc from '@grpc/grpc-js';
import { loadServingProtos, packAny } from '@accel/client/proto';
import { AccelError, toAccelError } from '../errors';
import type { ModelRef, Runtime } from '../runtime/runtime';
import type { NamedTensors } from '../runtime/tensor';
import type { ServerMetrics } from './metrics';
import { modelRefFromSpec, specFor, versionStatusObject, type ModelSpecObject } from './model-spec';
import { decodeTensorProto, encodeTensorProto, signatureDefObject, type TensorProtoObject } from './tf-tensor';

interface PredictRequestObject {
  model_spec?: ModelSpecObject | null;
  inputs?: Record<string, TensorProtoObject>;
  output_filter?: string[];
}

type Callback = grpc.sendUnaryData<unknown>;

/** An AccelError as a gRPC status, with its catalogue code in the trailers. */
export function grpcError(err: unknown): Partial<grpc.StatusObject> {
  const e = toAccelError(err);
  const metadata = new grpc.Metadata();
  metadata.set('accel-error-code', e.code);
  // gRPC's retry policy reads this trailer as "retry after this many ms".
  if (e.params.retryAfterMs !== undefined) metadata.set('grpc-retry-pushback-ms', String(e.params.retryAfterMs));
  return { code: e.grpcCode, details: e.message, metadata };
}

/** The caller's deadline and a signal aborted when the call is cancelled, for the batcher's queue. */
export function callLifetime(call: grpc.ServerUnaryCall<unknown, unknown>): { deadline?: number; signal: AbortSignal } {
  const controller = new AbortController();
  call.once('cancelled', () => controller.abort());
  const d = call.getDeadline();
  const deadline = d instanceof Date ? d.getTime() : Number.isFinite(d) ? Number(d) : undefined;
  return { deadline, signal: controller.signal };
}

/** A request body that did not decode as its method's protobuf message. */
class Undecodable {
  constructor(readonly reason: string) {}
}

/**
 * `server.addService`, except that a body that is not a valid protobuf message of the method's
 * request type is answered INVALID_ARGUMENT (ACCEL_ERR_BAD_REQUEST); grpc-js would answer INTERNAL.
 */
export function addDecodingService(server: grpc.Server, service: grpc.ServiceDefinition, impl: Record<string, grpc.handleUnaryCall<never, unknown>>): void {
  const tolerant: grpc.ServiceDefinition = Object.fromEntries(
    Object.entries(service).map(([name, method]) => {
      const requestDeserialize = (bytes: Buffer): unknown => {
        try {
          return method.requestDeserialize(bytes);
        } catch (err) {
          return new Undecodable((err as Error).message);
        }
      };
      return [name, { ...method, requestDeserialize }];
    }),
  );
  const guarded: grpc.UntypedServiceImplementation = {};
  for (const [name, handler] of Object.entries(impl)) {
    guarded[name] = (call: grpc.ServerUnaryCall<unknown, unknown>, callback: Callback) => {
      if (!(call.request instanceof Undecodable)) return handler(call as never, callback);
      const reason = `the body is not a valid protobuf request for ${service[name].path} (${call.request.reason})`;
      callback(grpcError(new AccelError('ACCEL_ERR_BAD_REQUEST', { reason })));
    };
  }
  server.addService(tolerant, guarded);
}

/**
 * TF Serving's PredictionService (Predict, GetModelMetadata) and ModelService (GetModelStatus)
 * over the runtime core. Only wire translation lives here.
 */
export function addTfServingServices(server: grpc.Server, runtime: Runtime, metrics: ServerMetrics): void {
  const protos = loadServingProtos();

  const predict = async (call: grpc.ServerUnaryCall<PredictRequestObject, unknown>, callback: Callback) => {
    const started = performance.now();
    let ref: ModelRef = {};
    try {
      const req = call.request;
      ref = modelRefFromSpec(req.model_spec);
      const entries = Object.entries(req.inputs ?? {});
      if (entries.length === 0) throw new AccelError('ACCEL_ERR_BAD_REQUEST', { reason: 'the request has no inputs' });
      const inputs: NamedTensors = {};
      for (const [name, proto] of entries) inputs[name] = decodeTensorProto(name, proto);
      const result = await runtime.predict(ref, inputs, {
        outputFilter: req.output_filter,
        signatureName: req.model_spec?.signature_name || undefined,
        ...callLifetime(call),
      });
      const outputs: Record<string, TensorProtoObject> = {};
      for (const [name, t] of Object.entries(result.outputs)) outputs[name] = encodeTensorProto(t);
      callback(null, { model_spec: specFor(result.model, result.version), outputs });
      metrics.observe('grpc', started, { result });
    } catch (err) {
      callback(grpcError(err));
      metrics.observe('grpc', started, { error: err, model: ref.name, version: ref.version });
    }
  };

  const getModelMetadata = (
    call: grpc.ServerUnaryCall<{ model_spec?: ModelSpecObject; metadata_field?: string[] }, unknown>,
    callback: Callback,
  ) => {
    try {
      const fields = call.request.metadata_field ?? [];
      const unknown = fields.filter((f) => f !== 'signature_def');
      if (unknown.length) {
        throw new AccelError('ACCEL_ERR_BAD_REQUEST', { reason: `metadata_field ${unknown.join(', ')} is not supported; ask for "signature_def"` });
      }
      const servable = runtime.resolve(modelRefFromSpec(call.request.model_spec));
      const map = { signature_def: { [servable.signature.name]: signatureDefObject(servable.signature) } };
      const batching = Object.fromEntries(
        Object.entries(servable.batching).map(([k, v]) => [k, Array.isArray(v) ? { list_value: { values: v.map((n) => ({ number_value: n })) } } : { number_value: v }]),
      );
      callback(null, {
        model_spec: specFor(servable.name, servable.version, ''),
        metadata: {
          signature_def: packAny('tensorflow.serving.SignatureDefMap', map),
          // Accel's addition: the dynamic batching config, as a google.protobuf.Struct.
          batching: packAny('google.protobuf.Struct', { fields: batching }),
        },
      });
    } catch (err) {
      callback(grpcError(err));
    }
  };

  const getModelStatus = (call: grpc.ServerUnaryCall<{ model_spec?: ModelSpecObject }, unknown>, callback: Callback) => {
    try {
      const statuses = runtime.status(modelRefFromSpec(call.request.model_spec));
      callback(null, { model_version_status: statuses.map(versionStatusObject) });
    } catch (err) {
      callback(grpcError(err));
    }
  };

  addDecodingService(server, protos.PredictionService.service, {
    Predict: (call: grpc.ServerUnaryCall<PredictRequestObject, unknown>, cb: Callback) => void predict(call, cb),
    GetModelMetadata: getModelMetadata,
  });
  addDecodingService(server, protos.ModelService.service, { GetModelStatus: getModelStatus });
}
