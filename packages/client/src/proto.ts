/**
 * Protobuf definitions for the TensorFlow Serving gRPC API (and the KServe v2 /
 * Open Inference Protocol API), loaded from the hand-written .proto files in
 * `packages/client/proto/`, which is laid out by canonical import path.
 *
 * Two views of the same files:
 *  - `loadServingProtos()`: @grpc/proto-loader + grpc-js objects, for clients
 *    and `server.addService(...)`.
 *  - `protobufRoot()`: a protobufjs Root, for encoding/decoding individual
 *    messages (TensorProto, SignatureDefMap packed into google.protobuf.Any, ...).
 *
 * google/protobuf/{any,wrappers}.proto are not shipped here: protobufjs bundles
 * the well-known types and resolves those imports itself.
 */
import { isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';

/** Absolute path of `packages/client/proto`. */
export const PROTO_DIR: string = fileURLToPath(new URL('../proto', import.meta.url));

/** Entry files (relative to PROTO_DIR); their imports are pulled in transitively. */
export const SERVING_PROTO_FILES: readonly string[] = [
  'tensorflow_serving/apis/prediction_service.proto',
  'tensorflow_serving/apis/model_service.proto',
  'inference/grpc_predict_v2.proto',
];

/**
 * proto-loader options. keepCase keeps the .proto snake_case field names;
 * int64 values come out as decimal strings and enums as their names; unset
 * fields are left out (defaults: false); a set oneof is reported by name.
 * bytes fields use the default representation: Node Buffers.
 */
export const PROTO_LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: false,
  oneofs: true,
  includeDirs: [PROTO_DIR],
};

/** TF Serving type URL prefix used in GetModelMetadataResponse.metadata. */
export const TYPE_URL_PREFIX = 'type.googleapis.com/';

export interface ServingProtos {
  /** Raw proto-loader output (keyed by fully qualified service/type name). */
  packageDefinition: protoLoader.PackageDefinition;
  /** `grpc.loadPackageDefinition(packageDefinition)`; walk it loosely if needed. */
  grpcObject: grpc.GrpcObject;
  /** `tensorflow.serving.PredictionService` (Predict, GetModelMetadata). */
  PredictionService: grpc.ServiceClientConstructor;
  /** `tensorflow.serving.ModelService` (GetModelStatus). */
  ModelService: grpc.ServiceClientConstructor;
  /** `inference.GRPCInferenceService` (KServe v2). */
  GRPCInferenceService: grpc.ServiceClientConstructor;
}

function serviceAt(root: grpc.GrpcObject, dotted: string): grpc.ServiceClientConstructor {
  let node: unknown = root;
  for (const part of dotted.split('.')) {
    if (node === null || (typeof node !== 'object' && typeof node !== 'function')) {
      node = undefined;
      break;
    }
    node = (node as Record<string, unknown>)[part];
  }
  if (typeof node !== 'function' || !('service' in node)) {
    throw new Error(`gRPC service ${dotted} not found in ${PROTO_DIR}`);
  }
  return node as grpc.ServiceClientConstructor;
}

let servingCache: ServingProtos | undefined;

/** Loads the serving protos once (synchronously) and returns the cached result. */
export function loadServingProtos(): ServingProtos {
  if (servingCache) return servingCache;
  const packageDefinition = protoLoader.loadSync([...SERVING_PROTO_FILES], PROTO_LOADER_OPTIONS);
  const grpcObject = grpc.loadPackageDefinition(packageDefinition);
  servingCache = {
    packageDefinition,
    grpcObject,
    PredictionService: serviceAt(grpcObject, 'tensorflow.serving.PredictionService'),
    ModelService: serviceAt(grpcObject, 'tensorflow.serving.ModelService'),
    GRPCInferenceService: serviceAt(grpcObject, 'inference.GRPCInferenceService'),
  };
  return servingCache;
}

let rootCache: protobuf.Root | undefined;

/**
 * A protobufjs Root with the same files loaded (snake_case field names, as with
 * proto-loader's keepCase). Cached; treat it as read-only.
 */
export function protobufRoot(): protobuf.Root {
  if (rootCache) return rootCache;
  const root = new protobuf.Root();
  // Resolve every non-bundled import against PROTO_DIR (the bundled
  // google/protobuf/* files are matched before resolvePath is consulted).
  root.resolvePath = (_origin, target) => (isAbsolute(target) ? target : join(PROTO_DIR, target));
  root.loadSync([...SERVING_PROTO_FILES, 'google/protobuf/struct.proto'], { keepCase: true });
  root.resolveAll();
  rootCache = root;
  return root;
}

/**
 * Packs `message` (a plain object of fully qualified type `typeName`, e.g.
 * 'tensorflow.serving.SignatureDefMap') into a google.protobuf.Any object.
 */
export function packAny(typeName: string, message: Record<string, unknown>): { type_url: string; value: Uint8Array } {
  const type = protobufRoot().lookupType(typeName);
  // fromObject (not verify) so enum names and int64 strings are accepted.
  return { type_url: TYPE_URL_PREFIX + typeName, value: type.encode(type.fromObject(message)).finish() };
}

/**
 * Unpacks a google.protobuf.Any (`{ type_url, value }`) whose type is loaded in
 * protobufRoot(); returns a plain object (int64 as string, enums as names,
 * bytes as Buffer/Uint8Array as decoded).
 */
export function unpackAny(any: { type_url?: string; value?: Uint8Array }): { typeName: string; message: Record<string, unknown> } {
  const url = any.type_url ?? '';
  const typeName = url.slice(url.lastIndexOf('/') + 1);
  if (!typeName) throw new Error('unpackAny: empty type_url');
  const type = protobufRoot().lookupType(typeName);
  const decoded = type.decode(any.value ?? new Uint8Array(0));
  const message = type.toObject(decoded, { longs: String, enums: String, oneofs: true });
  return { typeName, message };
}
