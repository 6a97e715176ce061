/**
 * Simulated Cloud Run traffic, minute by minute, in the form Cloud Monitoring
 * reports it: per-minute request counts by response_code_class and a latency
 * histogram per revision. Arrivals are Poisson, so the count in each
 * (class, bucket) cell is an independent Poisson draw (Poisson splitting);
 * there is no need to draw single requests, which keeps 200 req/s cheap.
 */
import type {
  BucketOptions,
  IntervalObservation,
  LatencyDistribution,
} from '../../../functions/domain/observations';
import {
  bucketBoundaries,
  countAbove,
  mergeDistributions,
} from '../../../functions/domain/analysis/histogram';
import { normalCdf } from '../../../functions/domain/analysis/sequential';

/**
 * The layout assumed for run.googleapis.com/request_latencies: exponential,
 * 100 finite buckets, growth factor 1.4, scale 1 ms. (The judge reads the
 * layout from each point, so nothing depends on this choice but the bench.)
 */
export const CLOUD_RUN_LATENCY_BUCKETS: BucketOptions = {
  exponentialBuckets: { numFiniteBuckets: 100, growthFactor: 1.4, scale: 1 },
};
const BOUNDS = bucketBoundaries(CLOUD_RUN_LATENCY_BUCKETS);

/** sfc32: small, fast, seedable; good enough for simulation. */
export function rng(seed: number): () => number {
  let a = 0x9e3779b9 ^ seed;
  let b = 0x243f6a88 ^ (seed * 31);
  let c = 0xb7e15162;
  let d = 1;
  const next = () => {
    a |= 0;
    b |= 0;
    c |= 0;
    d |= 0;
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  for (let i = 0; i < 15; i++) next();
  return next;
}

/** Poisson draw: inversion for small means, a rounded normal for large ones. */
function poisson(random: () => number, mean: number): number {
  if (mean <= 0) return 0;
  if (mean < 30) {
    const limit = Math.exp(-mean);
    let k = 0;
    let p = random();
    while (p > limit) {
      k++;
      p *= random();
    }
    return k;
  }
  const u = Math.max(random(), 1e-12);
  const z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
  return Math.max(0, Math.round(mean + Math.sqrt(mean) * z));
}

/** A lognormal latency: median (ms) and the log-scale spread σ. */
export interface Latency {
  medianMs: number;
  sigma: number;
}

/** p99 = median × exp(2.326 σ); with median 50 ms and p99 300 ms, σ = ln 6 / 2.326. */
export const Z99 = 2.3263478740408408;
export const BASE_LATENCY: Latency = { medianMs: 50, sigma: Math.log(300 / 50) / Z99 };

/** The probability of each histogram bucket (underflow first, overflow last) under a lognormal. */
export function bucketProbabilities(l: Latency): number[] {
  const cdf = (x: number) => normalCdf((Math.log(x) - Math.log(l.medianMs)) / l.sigma);
  const p = [cdf(BOUNDS[0])];
  for (let i = 1; i < BOUNDS.length; i++) p.push(cdf(BOUNDS[i]) - cdf(BOUNDS[i - 1]));
  p.push(1 - cdf(BOUNDS[BOUNDS.length - 1]));
  return p;
}

/** What one revision does in one minute. */
export interface MinuteBehaviour {
  /** Requests per second reaching this revision. */
  rate: number;
  /** Share of requests answered 5xx, and how those are slow (undefined: like successes). */
  errorRate: number;
  latency: number[];
  errorLatency?: number[];
}

/** One simulated minute: what Cloud Monitoring reports, and the bad requests it holds (ground truth). */
interface SimulatedMinute {
  observation: IntervalObservation;
  /** 5xx, plus other requests slower than `slowMs`. */
  bad: number;
}

const CLIENT_ERROR_RATE = 0.02; // 4xx: present in real traffic, never errors

/**
 * One minute of one revision, as a Cloud Monitoring alignment period would
 * report it, with the count of bad requests: 5xx, and others slower than `slowMs`.
 */
export function simulateMinute(
  random: () => number,
  minute: number,
  b: MinuteBehaviour,
  slowMs = Infinity,
): SimulatedMinute {
  const mean = b.rate * 60;
  const errors = poisson(random, mean * b.errorRate);
  const clientErrors = poisson(random, mean * CLIENT_ERROR_RATE);
  const ok = poisson(random, mean * (1 - b.errorRate - CLIENT_ERROR_RATE));
  const counts = new Array<number>(b.latency.length).fill(0);
  // Split a Poisson total across buckets: each bucket is an independent Poisson of its share.
  const fill = (probabilities: number[], total: number) =>
    probabilities.map((p, i) => {
      const n = p > 1e-9 ? poisson(random, total * p) : 0;
      counts[i] += n;
      return n;
    });
  const fast = fill(b.latency, mean * (1 - b.errorRate));
  fill(b.errorLatency ?? b.latency, mean * b.errorRate);
  const requests: IntervalObservation['requests'] = {};
  if (ok) requests['2xx'] = ok;
  if (clientErrors) requests['4xx'] = clientErrors;
  if (errors) requests['5xx'] = errors;
  const count = counts.reduce((a, c) => a + c, 0);
  const latency: LatencyDistribution | undefined =
    count > 0
      ? { count, bucketOptions: CLOUD_RUN_LATENCY_BUCKETS, bucketCounts: trimmed(counts) }
      : undefined;
  const start = new Date(Date.UTC(2026, 0, 1, 0, minute)).toISOString();
  const end = new Date(Date.UTC(2026, 0, 1, 0, minute + 1)).toISOString();
  const slowOk = Number.isFinite(slowMs) ? slowerThan(fast, slowMs) : 0;
  return {
    observation: { startTime: start, endTime: end, requests, ...(latency ? { latency } : {}) },
    bad: errors + Math.round(slowOk),
  };
}

/** How many of a minute's non-5xx requests (bucket counts) were slower than `ms`, interpolated. */
function slowerThan(bucketCounts: number[], ms: number): number {
  const count = bucketCounts.reduce((a, c) => a + c, 0);
  const h = mergeDistributions([
    { count, bucketOptions: CLOUD_RUN_LATENCY_BUCKETS, bucketCounts: trimmed(bucketCounts) },
  ]);
  return h ? countAbove(h, ms) : 0;
}

/** Without trailing zero buckets, as Cloud Monitoring reports bucketCounts. */
const trimmed = (counts: number[]) => {
  let last = counts.length;
  while (last > 0 && counts[last - 1] === 0) last--;
  return counts.slice(0, last);
};
