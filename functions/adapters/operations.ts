/** Waiting for google-gax long-running operations with a deadline Glidepath controls. */
import { createBackoffSettings, type CallOptions } from 'google-gax';
import { fromSdkError, GlidepathError } from '../shared/errors';

/**
 * Poll from 100 ms, backing off to at most 2 s: Cloud Run updates take
 * seconds, and our own deadline (not gax's) decides when to give up.
 */
export const LRO_CALL_OPTIONS: CallOptions = {
  longrunning: createBackoffSettings(100, 1.5, 2000, null, null, null, null),
};

interface PollingOperation<T> {
  name?: string | null;
  /** The last Operation read; `done` with an error when the operation itself failed. */
  latestResponse?: { done?: boolean | null } | null;
  promise(): Promise<[T, ...unknown[]]>;
  removeAllListeners(event: string): unknown;
}

/**
 * Resolves with the operation's response. Rejects with GlidepathError
 * 'failed' when the operation finished with an error: that is final whatever
 * its code (Cloud Run ends a revision that never became ready with 13,
 * INTERNAL, which as an RPC error would read as transient). An RPC error while
 * polling keeps its usual mapping, and `timeoutMs` gives 'deadline'. Either
 * way polling stops.
 */
export async function awaitOperation<T>(
  operation: PollingOperation<T>,
  timeoutMs: number,
  what: string,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new GlidepathError(
            'deadline',
            `${what}: operation ${operation.name ?? '(unnamed)'} did not finish within ${timeoutMs} ms`,
          ),
        ),
      timeoutMs,
    );
  });
  try {
    const [response] = await Promise.race([operation.promise(), deadline]);
    return response;
  } catch (err) {
    if (err instanceof GlidepathError) throw err;
    if (operation.latestResponse?.done) {
      const message = (err as { message?: unknown })?.message ?? err;
      throw new GlidepathError(
        'failed',
        `${what}: operation ${operation.name ?? '(unnamed)'} failed: ${String(message)}`,
        err,
      );
    }
    throw fromSdkError(err, what);
  } finally {
    clearTimeout(timer);
    // gax polls while 'complete' listeners remain; removing them stops it.
    operation.removeAllListeners('complete');
    operation.removeAllListeners('error');
  }
}
