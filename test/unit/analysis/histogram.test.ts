import { countAbove, mergeDistributions, quantile } from '../../../functions/domain/analysis/histogram';
import type { BucketOptions } from '../../../functions/domain/observations';
import {
  BASE_LATENCY,
  bucketProbabilities,
  CLOUD_RUN_LATENCY_BUCKETS,
} from '../../../scripts/bench/analysis/simulate';

const merged = (bucketOptions: BucketOptions, bucketCounts: number[]) =>
  mergeDistributions([{ count: bucketCounts.reduce((a, b) => a + b, 0), bucketOptions, bucketCounts }])!;

describe('histogram interpolation', () => {
  // Bounds 1, 2, 4, 8, ...: 100 values in [2, 4).
  const exponential = merged(
    { exponentialBuckets: { numFiniteBuckets: 10, growthFactor: 2, scale: 1 } },
    [0, 0, 100],
  );

  test('inside an exponential bucket, a percentile is interpolated on a log scale', () => {
    // Halfway through [2, 4) in log(ms) is the geometric mean 2√2, not the arithmetic 3.
    expect(quantile(exponential, 0.5)).toBeCloseTo(2 * Math.SQRT2, 9);
    expect(quantile(exponential, 0.25)).toBeCloseTo(2 * 2 ** 0.25, 9);
  });

  test('inside an exponential bucket, the share above a threshold is interpolated on a log scale', () => {
    expect(countAbove(exponential, 2 * Math.SQRT2)).toBeCloseTo(50, 9);
    expect(countAbove(exponential, 3)).toBeCloseTo(100 * (1 - Math.log2(3 / 2)), 9);
  });

  test('linear and explicit buckets keep linear interpolation', () => {
    const linear = merged({ linearBuckets: { numFiniteBuckets: 10, width: 2, offset: 2 } }, [0, 100]);
    expect(quantile(linear, 0.5)).toBeCloseTo(3, 9);
    expect(countAbove(linear, 3.5)).toBeCloseTo(25, 9);
    const explicit = merged({ explicitBuckets: { bounds: [0, 10, 100] } }, [0, 0, 100]);
    expect(quantile(explicit, 0.5)).toBeCloseTo(55, 9);
  });

  test("a lognormal's percentiles are read closely from Cloud Run's 40%-wide buckets", () => {
    // 1e6 requests with exact (not random) bucket shares; the true p50 is 50 ms, p99 300 ms.
    // Linear interpolation reads 50.6 ms (+1.2%) and 302.3 ms (+0.78%).
    const counts = bucketProbabilities(BASE_LATENCY).map((p) => p * 1e6);
    const h = merged(CLOUD_RUN_LATENCY_BUCKETS, counts);
    expect(Math.abs(quantile(h, 0.5) / 50 - 1)).toBeLessThan(0.002);
    expect(Math.abs(quantile(h, 0.99) / 300 - 1)).toBeLessThan(0.007);
  });
});
