/**
 * Glidepath's own error codes. Adapters translate SDK errors into these, so
 * use cases decide on a handful of meanings instead of gRPC/HTTP details.
 *
 * Only known transient causes are transient (retried by Pub/Sub redelivery
 * or the workflow's retry policy): gRPC UNAVAILABLE, RESOURCE_EXHAUSTED,
 * ABORTED and DEADLINE_EXCEEDED, HTTP 429 and 5xx, and network errors.
 * Anything else, our own domain errors included, is permanent: retrying it
 * only repeats the same answer, so the caller fails with its message instead.
 */
export type ErrorCode =
  | 'unavailable'
  | 'conflict'
  | 'deadline'
  | 'not_found'
  | 'invalid'
  | 'permission'
  /** Permanent and none of the above: a bug, a refused request, an unexpected answer. */
  | 'internal'
  /** A long-running operation finished with an error: final whatever its code, never retried. */
  | 'failed';

const TRANSIENT_CODES: ReadonlySet<ErrorCode> = new Set(['unavailable', 'deadline', 'conflict']);

export class GlidepathError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    override readonly cause?: unknown,
  ) {
    super(message);
    this.name = 'GlidepathError';
  }

  /** Transient errors are worth retrying (Pub/Sub redelivery, workflow retry). */
  get transient(): boolean {
    return TRANSIENT_CODES.has(this.code);
  }
}

// gRPC status codes, as numbers, from google/rpc/code.proto. Only UNAVAILABLE,
// RESOURCE_EXHAUSTED, ABORTED and DEADLINE_EXCEEDED map to a transient code;
// the rest (CANCELLED, UNKNOWN, ALREADY_EXISTS, INTERNAL, DATA_LOSS…) are permanent.
const GRPC_TO_CODE: Record<number, ErrorCode> = {
  3: 'invalid', // INVALID_ARGUMENT
  4: 'deadline', // DEADLINE_EXCEEDED
  5: 'not_found', // NOT_FOUND
  7: 'permission', // PERMISSION_DENIED
  8: 'unavailable', // RESOURCE_EXHAUSTED (429)
  9: 'invalid', // FAILED_PRECONDITION
  10: 'conflict', // ABORTED (etag mismatch, transaction contention)
  11: 'invalid', // OUT_OF_RANGE
  14: 'unavailable', // UNAVAILABLE
  16: 'permission', // UNAUTHENTICATED
};

/** Node's and undici's codes for a connection that failed or broke: the network, not the request. */
const NETWORK_ERROR_CODES: ReadonlySet<string> = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

function httpCode(status: number): ErrorCode {
  if (status === 429 || (status >= 500 && status <= 599)) return 'unavailable';
  if (status === 404) return 'not_found';
  if (status === 401 || status === 403) return 'permission';
  if (status === 400) return 'invalid';
  return 'internal';
}

interface ErrorShape {
  name?: unknown;
  code?: unknown;
  status?: unknown;
  response?: { status?: unknown };
  details?: unknown;
  message?: unknown;
  cause?: unknown;
}

function codeOf(err: unknown): ErrorCode {
  const e = (err ?? {}) as ErrorShape;
  // Before the numeric code: a DOMException's `code` is not a gRPC status.
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return 'deadline';
  // gRPC statuses are 0–16; @google-cloud/storage's ApiError carries the HTTP status in `code`.
  if (typeof e.code === 'number')
    return e.code >= 100 ? httpCode(e.code) : (GRPC_TO_CODE[e.code] ?? 'internal');
  if (typeof e.code === 'string' && NETWORK_ERROR_CODES.has(e.code)) return 'unavailable';
  const status = typeof e.status === 'number' ? e.status : e.response?.status;
  if (typeof status === 'number') return httpCode(status);
  if (e.name === 'ValidationError') return 'invalid';
  // fetch() wraps the network failure: `TypeError: fetch failed` with the socket error as its cause.
  if (e.cause !== undefined && e.cause !== err) {
    const inner = codeOf(e.cause);
    if (inner === 'unavailable' || inner === 'deadline') return inner;
  }
  return 'internal';
}

/**
 * Maps any error (a `@google-cloud/*` client's gRPC status in `code`, an HTTP
 * status, a network error, our own domain errors) to a GlidepathError.
 * `what` says what was being done; it prefixes the message.
 */
export function fromSdkError(err: unknown, what?: string): GlidepathError {
  if (err instanceof GlidepathError) return err;
  const e = (err ?? {}) as ErrorShape;
  const detail = typeof e.details === 'string' && e.details ? e.details : String(e.message ?? err);
  return new GlidepathError(codeOf(err), what ? `${what}: ${detail}` : detail, err);
}
