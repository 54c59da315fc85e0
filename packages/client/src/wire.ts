/**
 * TF Serving messages in the shape @grpc/proto-loader reads and writes them
 * (keepCase, int64 as decimal strings, enums as names, bytes as Buffer). The
 * REST API's JSON for status and metadata has the same shape.
 */
import type { TensorProtoObject } from './tensor';

/** Which model a call addresses. `version` and `label` are exclusive. */
export interface ModelRef {
  name?: string;
  version?: string;
  label?: string;
  signatureName?: string;
}

/** tensorflow.serving.ModelSpec. `version` and `version_label` are exclusive. */
export interface ModelSpec {
  name?: string;
  version?: { value?: string | number } | null;
  version_label?: string;
  signature_name?: string;
}

/** tensorflow.serving.PredictRequest. An empty `output_filter` asks for every output. */
export interface PredictRequest {
  model_spec?: ModelSpec;
  inputs: Record<string, TensorProtoObject>;
  output_filter?: string[];
}

/** tensorflow.serving.PredictResponse. */
export interface PredictResponse {
  model_spec?: ModelSpec;
  outputs: Record<string, TensorProtoObject>;
}

/** tensorflow.TensorInfo (dense tensors). */
export interface TensorInfo {
  name?: string;
  dtype?: string;
  tensor_shape?: { dim?: Array<{ size?: string | number; name?: string }>; unknown_rank?: boolean };
}

/** tensorflow.SignatureDef. */
export interface SignatureDef {
  inputs?: Record<string, TensorInfo>;
  outputs?: Record<string, TensorInfo>;
  method_name?: string;
}

/** GetModelMetadataResponse with its `signature_def` Any unpacked into a SignatureDefMap. */
export interface ModelMetadata {
  model_spec?: ModelSpec;
  metadata: { signature_def?: { signature_def?: Record<string, SignatureDef> } };
}

/** GetModelStatusResponse. `state` is UNKNOWN, START, LOADING, AVAILABLE, UNLOADING or END. */
export interface ModelStatus {
  model_version_status?: Array<{
    version?: string;
    state?: string;
    status?: { error_code?: string; error_message?: string };
  }>;
}

/** The ModelSpec for a ModelRef; undefined when it names nothing (then no model_spec is sent). */
export function specOf(ref: ModelRef): ModelSpec | undefined {
  if (!ref.name && !ref.version && !ref.label && !ref.signatureName) return undefined;
  const spec: ModelSpec = {};
  if (ref.name) spec.name = ref.name;
  if (ref.version !== undefined) spec.version = { value: ref.version };
  if (ref.label !== undefined) spec.version_label = ref.label;
  if (ref.signatureName) spec.signature_name = ref.signatureName;
  return spec;
}

export function optionalSpec(ref: ModelRef): { model_spec?: ModelSpec } {
  const spec = specOf(ref);
  return spec ? { model_spec: spec } : {};
}

export function refOf(spec: ModelSpec | undefined): ModelRef {
  const ref: ModelRef = {};
  if (spec?.name) ref.name = spec.name;
  if (spec?.version?.value !== undefined) ref.version = String(spec.version.value);
  if (spec?.version_label) ref.label = spec.version_label;
  if (spec?.signature_name) ref.signatureName = spec.signature_name;
  return ref;
}
