/**
 * The one catalogue of Accel errors. Every error a user can see has a code here, a message
 * template, the gRPC status and the HTTP status it maps to. Protocol adapters translate an
 * {@link AccelError} to their wire status at the edge and nowhere else.
 */

// gRPC status codes (google.rpc.Code): one table, shared with the client SDK.
export { StatusCode as GrpcStatus, statusCodeName as grpcStatusName } from '@accel/client/errors';
import { StatusCode as GrpcStatus } from '@accel/client/errors';

interface CatalogueEntry {
  readonly grpc: number;
  readonly http: number;
  /** Message template; `{name}` placeholders are filled from the error's params. */
  readonly message: string;
}

export const ERRORS = {
  ACCEL_ERR_MODEL_NOT_FOUND: {
    grpc: GrpcStatus.NOT_FOUND,
    http: 404,
    message: 'Model "{model}" is not served here. Models served: {available}.',
  },
  ACCEL_ERR_VERSION_NOT_FOUND: {
    grpc: GrpcStatus.NOT_FOUND,
    http: 404,
    message: 'Model "{model}" has no version {version}. Versions served: {available}.',
  },
  ACCEL_ERR_NO_DEFAULT_MODEL: {
    grpc: GrpcStatus.NOT_FOUND,
    http: 404,
    message:
      'The request names no model and this server serves several ({available}) with none marked default. Set model_spec.name, or start the server with --default NAME.',
  },
  ACCEL_ERR_SIGNATURE_NOT_FOUND: {
    grpc: GrpcStatus.INVALID_ARGUMENT,
    http: 400,
    message: 'Signature "{signature}" not found for model "{model}". Signatures: serving_default.',
  },
  ACCEL_ERR_MISSING_INPUT: {
    grpc: GrpcStatus.INVALID_ARGUMENT,
    http: 400,
    message: 'Input "{input}" is required by model "{model}" and is missing from the request. Inputs: {expected}.',
  },
  ACCEL_ERR_UNKNOWN_INPUT: {
    grpc: GrpcStatus.INVALID_ARGUMENT,
    http: 400,
    message: 'Input "{input}" is not an input of model "{model}". Inputs: {expected}.',
  },
  ACCEL_ERR_UNKNOWN_OUTPUT: {
    grpc: GrpcStatus.INVALID_ARGUMENT,
    http: 400,
    message: 'Output "{output}" in output_filter is not an output of model "{model}". Outputs: {expected}.',
  },
  ACCEL_ERR_BAD_DTYPE: {
    grpc: GrpcStatus.INVALID_ARGUMENT,
    http: 400,
    message: 'Input "{input}" has dtype {got}; model "{model}" expects {expected}.',
  },
  ACCEL_ERR_BAD_SHAPE: {
    grpc: GrpcStatus.INVALID_ARGUMENT,
    http: 400,
    message: 'Input "{input}" has shape {got}; model "{model}" expects {expected}.',
  },
  ACCEL_ERR_BAD_TENSOR: {
    grpc: GrpcStatus.INVALID_ARGUMENT,
    http: 400,
    message: 'Input "{input}" is malformed: {reason}.',
  },
  ACCEL_ERR_BAD_IMAGE: {
    grpc: GrpcStatus.INVALID_ARGUMENT,
    http: 400,
    message: 'Input "{input}" item {index} is not a decodable JPEG or PNG image: {reason}.',
  },
  ACCEL_ERR_EMPTY_BATCH: {
    grpc: GrpcStatus.INVALID_ARGUMENT,
    http: 400,
    message: 'Input "{input}" holds an empty batch; send at least one item.',
  },
  ACCEL_ERR_BATCH_MISMATCH: {
    grpc: GrpcStatus.INVALID_ARGUMENT,
    http: 400,
    message: 'Inputs disagree on the batch size: {detail}.',
  },
  ACCEL_ERR_BATCH_TOO_LARGE: {
    grpc: GrpcStatus.INVALID_ARGUMENT,
    http: 400,
    message: 'Input "{input}" holds {rows} rows; one request may hold at most {limit}. Split it into smaller requests (the server merges them into batches) or raise --max-request-batch.',
  },
  ACCEL_ERR_BAD_REQUEST: {
    grpc: GrpcStatus.INVALID_ARGUMENT,
    http: 400,
    message: 'Malformed request: {reason}.',
  },
  ACCEL_ERR_NO_ROUTE: {
    grpc: GrpcStatus.UNIMPLEMENTED,
    http: 404,
    message: 'No API at {method} {path}. See the REST API in the README.',
  },
  ACCEL_ERR_TOO_LARGE: {
    grpc: GrpcStatus.RESOURCE_EXHAUSTED,
    http: 413,
    message: 'Request of {size} bytes exceeds the limit of {limit} bytes{hint}.',
  },
  ACCEL_ERR_QUEUE_FULL: {
    grpc: GrpcStatus.RESOURCE_EXHAUSTED,
    http: 429,
    message: 'Model "{model}" version {version} has {queued} requests queued (limit {limit}); retry after {retryAfterMs} ms or raise --max-queue.',
  },
  ACCEL_ERR_DEADLINE_EXCEEDED: {
    grpc: GrpcStatus.DEADLINE_EXCEEDED,
    http: 504,
    message: 'The request to model "{model}" passed its deadline after {waitedMs} ms in the queue; it was not run.',
  },
  ACCEL_ERR_REQUEST_TIMEOUT: {
    grpc: GrpcStatus.DEADLINE_EXCEEDED,
    http: 504,
    message: 'The request to model "{model}" version {version} did not finish within {timeoutMs} ms and was abandoned; send smaller requests, retry later, or raise --request-timeout-ms.',
  },
  ACCEL_ERR_CANCELLED: {
    grpc: GrpcStatus.CANCELLED,
    http: 499,
    message: 'The client cancelled the request to model "{model}" while it was queued; it was not run.',
  },
  ACCEL_ERR_NOT_READY: {
    grpc: GrpcStatus.UNAVAILABLE,
    http: 503,
    message: 'Model "{model}" version {version} is not ready ({state}).',
  },
  ACCEL_ERR_SHUTTING_DOWN: {
    grpc: GrpcStatus.UNAVAILABLE,
    http: 503,
    message: 'The server is shutting down and accepts no new requests.',
  },
  ACCEL_ERR_UNAUTHENTICATED: {
    grpc: GrpcStatus.UNAUTHENTICATED,
    http: 401,
    message:
      'Request refused: {problem}. This server requires an API key: send it as "authorization: Bearer <key>" (HTTP header or gRPC metadata), e.g. curl -H "Authorization: Bearer $KEY" or PredictionClient({ apiKey }).',
  },
  ACCEL_ERR_BAD_KEY_FILE: {
    grpc: GrpcStatus.FAILED_PRECONDITION,
    http: 500,
    message:
      'API key file {path} is not usable: {reason}. It must be a JSON object of key names to keys, e.g. {"primary": "...", "secondary": ""}, with at least one non-empty key of printable ASCII and no spaces (or the key\'s SHA-256 as "sha256:<64 hex digits>").',
  },
  ACCEL_ERR_BAD_TLS: {
    grpc: GrpcStatus.FAILED_PRECONDITION,
    http: 500,
    message: 'Cannot serve TLS with certificate {cert} and key {key}: {reason}. Give a PEM certificate (chain), its PEM private key and, with --tls-ca, a PEM bundle of the CA certificates that sign client certificates.',
  },
  ACCEL_ERR_CERTS_FAILED: {
    grpc: GrpcStatus.FAILED_PRECONDITION,
    http: 500,
    message: 'Could not create the development certificates in {dir}: {reason}.',
  },
  ACCEL_ERR_MODEL_LOAD: {
    grpc: GrpcStatus.FAILED_PRECONDITION,
    http: 500,
    message: 'Could not load model "{model}" version {version} from {path}: {reason}.',
  },
  ACCEL_ERR_INFERENCE: {
    grpc: GrpcStatus.INTERNAL,
    http: 500,
    message: 'Model "{model}" version {version} failed to run: {reason}.',
  },
  ACCEL_ERR_WORKSPACE_NOT_FOUND: {
    grpc: GrpcStatus.FAILED_PRECONDITION,
    http: 500,
    message: 'No workspace at {path}. Create one with `accel workspace init {path}` (or set ACCEL_HOME).',
  },
  ACCEL_ERR_BAD_NAME: {
    grpc: GrpcStatus.INVALID_ARGUMENT,
    http: 400,
    message: '{what} name "{name}" is invalid: names are lowercase letters, digits, ".", "_" and "-", start with a letter or digit, at most 63 characters.',
  },
  ACCEL_ERR_ARTIFACT_NOT_FOUND: {
    grpc: GrpcStatus.NOT_FOUND,
    http: 404,
    message: '{what} "{name}" does not exist in this workspace.{hint}',
  },
  ACCEL_ERR_ALREADY_EXISTS: {
    grpc: GrpcStatus.ALREADY_EXISTS,
    http: 409,
    message: '{what} "{name}" already exists.',
  },
  ACCEL_ERR_IN_USE: {
    grpc: GrpcStatus.FAILED_PRECONDITION,
    http: 409,
    message: '{what} is still used by {dependents}. Delete in this order: {order}; or delete with --cascade.',
  },
  ACCEL_ERR_QUOTA_EXCEEDED: {
    grpc: GrpcStatus.RESOURCE_EXHAUSTED,
    http: 409,
    message: 'Compute target "{compute}" has {free} of {total} {type} accelerators free ({inUse} in use); {requested} requested. Free one (delete a service) or use another target; see `accel usage`.',
  },
  ACCEL_ERR_COMPUTE_UNAVAILABLE: {
    grpc: GrpcStatus.FAILED_PRECONDITION,
    http: 409,
    message: 'Compute target "{compute}" is {state}: {reason}.',
  },
  ACCEL_ERR_BAD_DIGEST: {
    grpc: GrpcStatus.INVALID_ARGUMENT,
    http: 400,
    message: 'Digest "{digest}" is invalid: a digest is "sha256:" followed by 64 lowercase hex digits.',
  },
  ACCEL_ERR_BLOB_NOT_FOUND: {
    grpc: GrpcStatus.NOT_FOUND,
    http: 404,
    message: 'Blob {digest} is not in the blob store at {root}. Register the artifact that holds it again.',
  },
  ACCEL_ERR_BLOB_CORRUPT: {
    grpc: GrpcStatus.DATA_LOSS,
    http: 500,
    message: 'Blob {digest} is corrupt: its content hashes to {actual}. Delete {path} and register the artifact that holds it again.',
  },
  ACCEL_ERR_UNSUPPORTED_FILE: {
    grpc: GrpcStatus.INVALID_ARGUMENT,
    http: 400,
    message: 'Cannot pack "{path}": it is a {type}; a folder to register may hold only regular files and directories.{hint}',
  },
  ACCEL_ERR_UNSAFE_ARCHIVE: {
    grpc: GrpcStatus.INVALID_ARGUMENT,
    http: 400,
    message: 'Refusing to extract tar entry "{entry}": {reason}.',
  },
  ACCEL_ERR_CHECKSUM_MISMATCH: {
    grpc: GrpcStatus.DATA_LOSS,
    http: 502,
    message: 'Weights "{file}" from {source} do not match their pin: {detail}. Nothing was cached. The file is damaged or not the pinned version: check the mirror (ACCEL_ZOO_MIRROR) or the file, then pull or import again.',
  },
  ACCEL_ERR_DOWNLOAD_FAILED: {
    grpc: GrpcStatus.UNAVAILABLE,
    http: 502,
    message: 'Could not download weights "{file}" from {url}: {reason}.{kept} If this machine cannot reach that mirror, set ACCEL_ZOO_MIRROR to one it can reach, or copy the file here and add it with `accel zoo import`.',
  },
  ACCEL_ERR_CONVERT_BAD_MODEL: {
    grpc: GrpcStatus.INVALID_ARGUMENT,
    http: 400,
    message: 'Cannot read "{file}" as a {format}: {reason}.',
  },
  ACCEL_ERR_CONVERT_UNKNOWN_TENSOR: {
    grpc: GrpcStatus.INVALID_ARGUMENT,
    http: 400,
    message: 'Tensor "{tensor}" is not in the graph.{hint}',
  },
  ACCEL_ERR_CONVERT_UNSUPPORTED_OPS: {
    grpc: GrpcStatus.UNIMPLEMENTED,
    http: 501,
    message: 'The graph uses {count} op type(s) the converter does not support: {ops}.',
  },
  ACCEL_ERR_CONVERT_NODE: {
    grpc: GrpcStatus.INVALID_ARGUMENT,
    http: 400,
    message: 'Cannot convert node "{node}" (op {op}): {reason}.',
  },
  ACCEL_ERR_CONVERT_MISMATCH: {
    grpc: GrpcStatus.INTERNAL,
    http: 500,
    message: 'The converted model disagrees with the reference on output "{output}": max relative error {error} exceeds the tolerance {tolerance}.',
  },
  ACCEL_ERR_QUANTIZE_NO_IMAGES: {
    grpc: GrpcStatus.INVALID_ARGUMENT,
    http: 400,
    message: 'Found no images in "{dir}": {reason}. Give a folder of JPEG or PNG files (dot files and subfolders are skipped).',
  },
  ACCEL_ERR_QUANTIZE_BAD_IMAGE: {
    grpc: GrpcStatus.INVALID_ARGUMENT,
    http: 400,
    message: 'Cannot read "{file}" as a JPEG or PNG image: {reason}. Remove it from the folder or replace it.',
  },
  ACCEL_ERR_QUANTIZE_NOT_IMAGE_MODEL: {
    grpc: GrpcStatus.INVALID_ARGUMENT,
    http: 400,
    message: 'Model "{model}" cannot be calibrated with images: {reason}. Quantization needs one float32 image input (NCHW or NHWC with 3 channels).',
  },
  ACCEL_ERR_SERVICE_FAILED: {
    grpc: GrpcStatus.UNAVAILABLE,
    http: 503,
    message: 'Service "{service}" did not become healthy: {reason}. Last log lines:{log}',
  },
  ACCEL_ERR_SERVICE_UNAVAILABLE: {
    grpc: GrpcStatus.UNAVAILABLE,
    http: 503,
    message: 'Service "{service}" ({state}) cannot answer: {reason}. See `accel service show {service}` and `accel service logs {service}`.',
  },
  ACCEL_ERR_FORBIDDEN_ORIGIN: {
    grpc: GrpcStatus.PERMISSION_DENIED,
    http: 403,
    message: 'Request refused: {problem}. Open the dashboard at the address `accel ui` printed.',
  },
  ACCEL_ERR_USAGE: {
    grpc: GrpcStatus.INVALID_ARGUMENT,
    http: 400,
    message: '{reason}',
  },
  ACCEL_ERR_INTERNAL: {
    grpc: GrpcStatus.INTERNAL,
    http: 500,
    message: 'Internal error: {reason}.',
  },
} as const satisfies Record<string, CatalogueEntry>;

export type ErrorCode = keyof typeof ERRORS;
export type ErrorParams = Record<string, string | number | bigint | boolean | undefined>;

/** An error with a catalogue code; adapters map it to wire statuses. */
export class AccelError extends Error {
  readonly code: ErrorCode;
  readonly grpcCode: number;
  readonly httpStatus: number;
  readonly params: ErrorParams;

  constructor(code: ErrorCode, params: ErrorParams = {}, options?: { cause?: unknown }) {
    super(formatMessage(ERRORS[code].message, params), options);
    this.name = 'AccelError';
    this.code = code;
    this.grpcCode = ERRORS[code].grpc;
    this.httpStatus = ERRORS[code].http;
    this.params = params;
  }
}

function formatMessage(template: string, params: ErrorParams): string {
  return template.replace(/\{(\w+)\}/g, (_, key: string) => String(params[key] ?? `<${key}>`));
}

/** Any thrown value as an AccelError (unknown errors become ACCEL_ERR_INTERNAL). */
export function toAccelError(err: unknown): AccelError {
  if (err instanceof AccelError) return err;
  const reason = err instanceof Error ? err.message : String(err);
  return new AccelError('ACCEL_ERR_INTERNAL', { reason }, { cause: err });
}

/** Formats a list of names for messages: `"a", "b"` or `none`. */
export function nameList(names: Iterable<string | number>): string {
  const list = [...names].map((n) => (typeof n === 'number' ? String(n) : `"${n}"`));
  return list.length ? list.join(', ') : 'none';
}
