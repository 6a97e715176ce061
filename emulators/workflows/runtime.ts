/** What the interpreter and the standard library need from the outside world. */
import type { Logger } from '../../functions/shared/log';

/** Injectable time, so tests can check backoff against a virtual clock. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Resolves after `ms`, or rejects promptly when `signal` aborts. */
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

export const realClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason);
      const timer = setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      const onAbort = (): void => {
        clearTimeout(timer);
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
    }),
};

export interface HttpCallback {
  url: string;
  method: string;
}
export interface CallbackRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  query: Record<string, string[]>;
  body: unknown;
  receivedTime: string;
}
/** The emulator's callback endpoint: creates URLs and delivers the requests made to them. */
export interface CallbackHub {
  /** `execution`: the execution's resource name (`projects/…/workflows/…/executions/{id}`). */
  create(execution: string, method: string): HttpCallback;
  /** Resolves with the first request not yet consumed; rejects on abort. */
  next(url: string, signal: AbortSignal): Promise<CallbackRequest>;
}

export interface Runtime {
  clock: Clock;
  /** Divides every sys.sleep and retry backoff (local-only speedup). */
  sleepScale: number;
  signal: AbortSignal;
  /** What sys.get_env sees: user env vars plus the GOOGLE_CLOUD_* built-ins. */
  env: Record<string, string>;
  logger: Logger;
  serviceAccount: string;
  oidcSecret: string;
  callbacks?: CallbackHub;
  executionId: string;
}

/** Sleeps for `seconds` of workflow time, scaled by sleepScale. */
export function workflowSleep(rt: Runtime, seconds: number): Promise<void> {
  return rt.clock.sleep((seconds * 1000) / rt.sleepScale, rt.signal);
}
