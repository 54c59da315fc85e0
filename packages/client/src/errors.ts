/**
 * The one error type the client throws for a failed call, whichever transport
 * carried it: a gRPC status (number and name), the HTTP status when the call
 * went over REST, and the server's own message.
 */

/** gRPC status codes (google.rpc.Code), by name. */
export const StatusCode = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

export type StatusCodeName = keyof typeof StatusCode;

const NAMES: Record<number, StatusCodeName> = Object.fromEntries(
  Object.entries(StatusCode).map(([name, code]) => [code, name as StatusCodeName]),
);

/** The name of a gRPC status code ('UNKNOWN' for numbers outside the table). */
export function statusCodeName(code: number): StatusCodeName {
  return NAMES[code] ?? 'UNKNOWN';
}

/**
 * The gRPC status a REST error status stands for: TF Serving's own mapping where
 * it has one (400, 401, 404, 413/429, 500, 503), grpc's HTTP mapping otherwise.
 */
export function httpStatusToCode(httpStatus: number): number {
  switch (httpStatus) {
    case 400: return StatusCode.INVALID_ARGUMENT;
    case 401: return StatusCode.UNAUTHENTICATED;
    case 403: return StatusCode.PERMISSION_DENIED;
    case 404: return StatusCode.NOT_FOUND;
    case 408: return StatusCode.DEADLINE_EXCEEDED;
    case 409: return StatusCode.ABORTED;
    case 413:
    case 429: return StatusCode.RESOURCE_EXHAUSTED;
    case 499: return StatusCode.CANCELLED;
    case 501: return StatusCode.UNIMPLEMENTED;
    case 502:
    case 503:
    case 504: return StatusCode.UNAVAILABLE;
    default:
      return httpStatus >= 500 ? StatusCode.INTERNAL : StatusCode.UNKNOWN;
  }
}

export interface PredictionErrorInit {
  /** gRPC status code. */
  code: number;
  /** The server's message (or the client's, for local failures). */
  message: string;
  /** HTTP status, when the call went over REST. */
  httpStatus?: number;
  /** Accel's catalogue code (`ACCEL_ERR_*`) when an Accel server sent one. */
  accelCode?: string;
  /** How many attempts were made before giving up. */
  attempts?: number;
  cause?: unknown;
}

/**
 * A failed prediction call.
 *
 * `code`/`codeName` are the gRPC status whichever protocol was used (REST
 * statuses are mapped: 400 -> INVALID_ARGUMENT, 404 -> NOT_FOUND, 503 ->
 * UNAVAILABLE, ...); `httpStatus` is set only for REST; `message` is the
 * server's message, prefixed with the code name.
 */
export class PredictionError extends Error {
  override readonly name = 'PredictionError';
  readonly code: number;
  readonly codeName: StatusCodeName;
  readonly httpStatus?: number;
  readonly accelCode?: string;
  /** The server's message without the code-name prefix. */
  readonly details: string;
  /** Attempts made (1 when the call was not retried). */
  attempts: number;

  constructor(init: PredictionErrorInit) {
    const codeName = statusCodeName(init.code);
    super(`${codeName}: ${init.message}`, init.cause === undefined ? undefined : { cause: init.cause });
    this.code = init.code;
    this.codeName = codeName;
    this.details = init.message;
    this.attempts = init.attempts ?? 1;
    if (init.httpStatus !== undefined) this.httpStatus = init.httpStatus;
    if (init.accelCode !== undefined) this.accelCode = init.accelCode;
  }

  /** True for the one status the client retries: UNAVAILABLE. */
  get retryable(): boolean {
    return this.code === StatusCode.UNAVAILABLE;
  }
}

/** A grpc-js ServiceError (or anything shaped like one) as a PredictionError. */
export function fromGrpcError(err: unknown): PredictionError {
  if (err instanceof PredictionError) return err;
  const e = err as { code?: unknown; details?: unknown; message?: unknown; metadata?: { get(key: string): unknown[] } };
  const code = typeof e?.code === 'number' ? e.code : StatusCode.UNKNOWN;
  const message =
    typeof e?.details === 'string' && e.details ? e.details : typeof e?.message === 'string' ? e.message : String(err);
  let accelCode: string | undefined;
  try {
    const v = e?.metadata?.get('accel-error-code')?.[0];
    if (v !== undefined) accelCode = String(v);
  } catch {
    // metadata without get(): nothing to read
  }
  return new PredictionError({ code, message, accelCode, cause: err });
}
