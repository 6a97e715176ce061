/**
 * Latency histograms as Cloud Monitoring reports them
 * (google.api.Distribution): bucket counts with an underflow bucket first and
 * an overflow bucket last. The judge only ever needs two things from them:
 * how many requests were slower than a threshold, and a percentile. Both
 * interpolate inside the bucket that holds the answer: on a log scale inside
 * exponential buckets (each bucket spans a fixed ratio, and latencies are
 * roughly lognormal, so their density is flat in log(ms), not in ms), and
 * linearly inside linear or explicit buckets, as Prometheus'
 * histogram_quantile does.
 */
import type { BucketOptions, LatencyDistribution } from '../observations';

/** The finite boundaries of a layout: bucket i (1..N) is [bounds[i-1], bounds[i]). */
export function bucketBoundaries(options: BucketOptions): number[] {
  if (options.explicitBuckets) return options.explicitBuckets.bounds;
  if (options.exponentialBuckets) {
    const { numFiniteBuckets, growthFactor, scale } = options.exponentialBuckets;
    return Array.from({ length: numFiniteBuckets + 1 }, (_, i) => scale * growthFactor ** i);
  }
  if (options.linearBuckets) {
    const { numFiniteBuckets, width, offset } = options.linearBuckets;
    return Array.from({ length: numFiniteBuckets + 1 }, (_, i) => offset + width * i);
  }
  throw new Error('bucketOptions: expected linearBuckets, exponentialBuckets or explicitBuckets, got none');
}

/** Several distributions summed into one histogram over a shared layout. */
export interface MergedHistogram {
  /** Finite boundaries, ascending; counts has bounds.length + 1 entries (underflow, finite..., overflow). */
  bounds: number[];
  counts: number[];
  total: number;
  /** Exponential layout: interpolate inside a bucket on a log scale. */
  logScale: boolean;
}

function sameLayout(a: BucketOptions, b: BucketOptions): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Sums distributions; they must share one bucket layout (Cloud Run's never changes within a metric). */
export function mergeDistributions(distributions: LatencyDistribution[]): MergedHistogram | undefined {
  const present = distributions.filter((d) => d.count > 0);
  if (present.length === 0) return undefined;
  const layout = present[0].bucketOptions;
  const bounds = bucketBoundaries(layout);
  const counts = new Array<number>(bounds.length + 1).fill(0);
  for (const d of present) {
    if (!sameLayout(d.bucketOptions, layout)) {
      throw new Error(
        `latency distributions use different bucket layouts: ${JSON.stringify(layout)} and ${JSON.stringify(d.bucketOptions)}`,
      );
    }
    if (d.bucketCounts.length > counts.length) {
      throw new Error(
        `latency distribution has ${d.bucketCounts.length} bucket counts, expected at most ${counts.length}`,
      );
    }
    d.bucketCounts.forEach((c, i) => (counts[i] += c));
  }
  return {
    bounds,
    counts,
    total: counts.reduce((a, b) => a + b, 0),
    logScale: layout.exponentialBuckets !== undefined,
  };
}

/** Where `x` sits inside [lo, hi), from 0 to 1, on the histogram's scale. */
function position(h: MergedHistogram, lo: number, hi: number, x: number): number {
  return h.logScale && lo > 0 ? Math.log(x / lo) / Math.log(hi / lo) : (x - lo) / (hi - lo);
}

/** The value at `fraction` (0 to 1) of the way through [lo, hi), on the histogram's scale. */
function valueAt(h: MergedHistogram, lo: number, hi: number, fraction: number): number {
  return h.logScale && lo > 0 ? lo * (hi / lo) ** fraction : lo + fraction * (hi - lo);
}

/**
 * How many values exceed `threshold`, interpolating inside its bucket. Values
 * in the overflow bucket count as exceeding any threshold: their size is unknown.
 */
export function countAbove(h: MergedHistogram, threshold: number): number {
  const { bounds, counts } = h;
  let above = counts[counts.length - 1];
  for (let i = bounds.length - 1; i >= 1; i--) {
    const lo = bounds[i - 1];
    const hi = bounds[i];
    if (threshold <= lo) above += counts[i];
    else if (threshold < hi) above += counts[i] * (1 - position(h, lo, hi, threshold));
    else break;
  }
  if (threshold < bounds[0]) above += counts[0]; // The underflow bucket has no width to interpolate over.
  return above;
}

/**
 * The value below which a fraction `q` of the values fall, or Infinity when
 * it lies in the overflow bucket (or q ≥ 1), 0 when q ≤ 0.
 */
export function quantile(h: MergedHistogram, q: number): number {
  if (q <= 0) return 0;
  if (q >= 1) return Infinity;
  const target = q * h.total;
  let below = h.counts[0];
  if (below >= target) return h.bounds[0];
  for (let i = 1; i < h.counts.length - 1; i++) {
    const c = h.counts[i];
    if (below + c >= target && c > 0) {
      return valueAt(h, h.bounds[i - 1], h.bounds[i], (target - below) / c);
    }
    below += c;
  }
  return Infinity;
}
