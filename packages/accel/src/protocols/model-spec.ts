import { AccelError, grpcStatusName } from '../errors';
import type { ModelRef, VersionStatus } from '../runtime/runtime';

/** A TF Serving ModelSpec as proto-loader gives it (keepCase, int64 as string, oneofs). */
export interface ModelSpecObject {
  name?: string;
  version?: { value?: string | number } | null;
  version_label?: string;
  signature_name?: string;
}

/** ModelSpec -> ModelRef. An absent or empty spec addresses the default model, latest version. */
export function modelRefFromSpec(spec: ModelSpecObject | null | undefined): ModelRef {
  if (!spec) return {};
  const ref: ModelRef = { name: spec.name || undefined };
  if (spec.version && spec.version.value !== undefined) ref.version = parseVersion(spec.version.value);
  if (spec.version_label) ref.versionLabel = spec.version_label;
  return ref;
}

/** A version number from a path segment or an Int64Value; 400 when it is not a positive integer. */
export function parseVersion(value: string | number): number {
  const v = Number(value);
  if (!Number.isSafeInteger(v) || v < 0) {
    throw new AccelError('ACCEL_ERR_BAD_REQUEST', { reason: `version "${value}" is not a non-negative integer` });
  }
  return v;
}

/** The ModelSpec a response names: the model and version that answered. */
export function specFor(model: string, version: number, signatureName = 'serving_default'): ModelSpecObject {
  return { name: model, version: { value: String(version) }, signature_name: signatureName };
}

/** A version's status as TF Serving's ModelVersionStatus (gRPC and REST alike). A failed load shows as END with its error. */
export function versionStatusObject(s: VersionStatus) {
  const failed = s.state === 'FAILED';
  return {
    version: String(s.version),
    state: failed ? 'END' : s.state,
    status: failed ? { error_code: grpcStatusName(s.error!.grpcCode), error_message: s.error!.message } : { error_code: 'OK', error_message: '' },
  };
}
