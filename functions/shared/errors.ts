/**
 * Glidepath's own error codes. Adapters translate SDK errors into these, so
 * use cases decide on a handful of meanings instead of gRPC/HTTP details.
 */
/** `failed`: a long-running operation finished with an error; final, never retried. */
export type ErrorCode =
  'unavailable' | 'conflict' | 'not_found' | 'invalid' | 'permission' | 'deadline' | 'failed';

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
    return this.code === 'unavailable' || this.code === 'deadline' || this.code === 'conflict';
  }
}

// gRPC status codes, as numbers, from google/rpc/code.proto.
const GRPC_TO_CODE: Record<number, ErrorCode> = {
  1: 'unavailable', // CANCELLED
  2: 'unavailable', // UNKNOWN
  3: 'invalid', // INVALID_ARGUMENT
  4: 'deadline', // DEADLINE_EXCEEDED
  5: 'not_found', // NOT_FOUND
  6: 'conflict', // ALREADY_EXISTS
  7: 'permission', // PERMISSION_DENIED
  8: 'unavailable', // RESOURCE_EXHAUSTED (429)
  9: 'invalid', // FAILED_PRECONDITION
  10: 'conflict', // ABORTED (etag mismatch, transaction contention)
  11: 'invalid', // OUT_OF_RANGE
  12: 'invalid', // UNIMPLEMENTED
  13: 'unavailable', // INTERNAL
  14: 'unavailable', // UNAVAILABLE
  16: 'permission', // UNAUTHENTICATED
};

/** Maps any error thrown by a `@google-cloud/*` client (gRPC status in `code`) to a GlidepathError. */
export function fromSdkError(err: unknown, what: string): GlidepathError {
  if (err instanceof GlidepathError) return err;
  const e = err as { code?: unknown; details?: unknown; message?: unknown };
  const code = typeof e?.code === 'number' ? (GRPC_TO_CODE[e.code] ?? 'unavailable') : 'unavailable';
  const detail = typeof e?.details === 'string' && e.details ? e.details : String(e?.message ?? err);
  return new GlidepathError(code, `${what}: ${detail}`, err);
}
