/**
 * A small, bounded load generator for the local cloud: sends GET requests at
 * a steady rate to a loopback URL for a duration, a number of requests, or
 * until aborted, and counts the answers by status.
 */
import { Agent, request } from 'node:http';

export interface LoadOptions {
  /** Loopback only: http://127.0.0.1:…, http://localhost:… or http://[::1]:… */
  url: string;
  /** Requests per second, 1 to 20,000. */
  ratePerSecond: number;
  /** Stops after this long (at most one hour). */
  durationMs?: number;
  /** Stops after this many requests. */
  maxRequests?: number;
  signal?: AbortSignal;
  /** Requests in flight at most; beyond it, sends are skipped and counted as `dropped`. Default 256. */
  maxInFlight?: number;
  /** The `Authorization` header of each request, e.g. `Bearer <ID token>` for a private service. */
  authorization?: () => string;
}

export interface LoadResult {
  sent: number;
  /** Answers by HTTP status. */
  byStatus: Record<number, number>;
  /** Transport errors (refused, reset). */
  errors: number;
  /** Sends skipped because maxInFlight requests were pending. */
  dropped: number;
  elapsedMs: number;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);
const TICK_MS = 10;

function check(opts: LoadOptions): URL {
  let url: URL;
  try {
    url = new URL(opts.url);
  } catch {
    throw new Error(`loadgen: url ${JSON.stringify(opts.url)} is not a valid URL`);
  }
  if (url.protocol !== 'http:' || !LOOPBACK.has(url.hostname))
    throw new Error(
      `loadgen: url ${JSON.stringify(opts.url)} is not allowed; expected http:// on a loopback host (127.0.0.1, localhost, [::1])`,
    );
  if (!(opts.ratePerSecond >= 1 && opts.ratePerSecond <= 20_000))
    throw new Error(`loadgen: ratePerSecond ${opts.ratePerSecond} is out of range; expected 1 to 20000`);
  if (opts.durationMs === undefined && opts.maxRequests === undefined && !opts.signal)
    throw new Error('loadgen: give durationMs, maxRequests or signal, or the load never stops');
  if (opts.durationMs !== undefined && !(opts.durationMs > 0 && opts.durationMs <= 3_600_000))
    throw new Error(`loadgen: durationMs ${opts.durationMs} is out of range; expected 1 to 3600000`);
  if (opts.maxRequests !== undefined && !(Number.isInteger(opts.maxRequests) && opts.maxRequests > 0))
    throw new Error(`loadgen: maxRequests ${opts.maxRequests} is not a positive integer`);
  return url;
}

export async function runLoad(opts: LoadOptions): Promise<LoadResult> {
  const url = check(opts);
  const maxInFlight = opts.maxInFlight ?? 256;
  const agent = new Agent({ keepAlive: true, maxSockets: maxInFlight });
  const result: LoadResult = { sent: 0, byStatus: {}, errors: 0, dropped: 0, elapsedMs: 0 };
  const started = Date.now();
  const deadline = opts.durationMs !== undefined ? started + opts.durationMs : Infinity;
  const limit = opts.maxRequests ?? Infinity;
  let inFlight = 0;
  let attempted = 0;

  const fire = (): Promise<void> =>
    new Promise((resolve) => {
      inFlight++;
      result.sent++;
      const headers = opts.authorization ? { authorization: opts.authorization() } : {};
      const req = request(url, { agent, method: 'GET', headers }, (res) => {
        res.resume();
        res.on('end', () => {
          result.byStatus[res.statusCode ?? 0] = (result.byStatus[res.statusCode ?? 0] ?? 0) + 1;
          inFlight--;
          resolve();
        });
      });
      req.on('error', () => {
        result.errors++;
        inFlight--;
        resolve();
      });
      req.end();
    });

  const pending = new Set<Promise<void>>();
  try {
    while (!opts.signal?.aborted && Date.now() < deadline && attempted < limit) {
      // Send what is due by now, so that a slow tick catches up instead of drifting.
      const due = Math.min(limit, Math.floor(((Date.now() - started) / 1000) * opts.ratePerSecond) + 1);
      while (attempted < due) {
        attempted++;
        if (inFlight >= maxInFlight) {
          result.dropped++;
          continue;
        }
        const p = fire();
        pending.add(p);
        void p.then(() => pending.delete(p));
      }
      await new Promise((r) => setTimeout(r, TICK_MS));
    }
    await Promise.all(pending);
  } finally {
    agent.destroy();
  }
  result.elapsedMs = Date.now() - started;
  return result;
}
