/**
 * What Cloud Monitoring tells about one revision over a window, per
 * alignment period: request counts by `response_code_class` from
 * `run.googleapis.com/request_count`, and the latency distribution from
 * `run.googleapis.com/request_latencies` (milliseconds). These are the only
 * inputs the judge ever sees: counts and histograms, never raw requests.
 */

/** Bucket layouts from google.api.Distribution.BucketOptions. */
export interface BucketOptions {
  linearBuckets?: { numFiniteBuckets: number; width: number; offset: number };
  exponentialBuckets?: { numFiniteBuckets: number; growthFactor: number; scale: number };
  explicitBuckets?: { bounds: number[] };
}

export interface LatencyDistribution {
  count: number;
  bucketOptions: BucketOptions;
  /** Underflow bucket first, overflow bucket last, as in the API; may be shorter (trailing zeros omitted). */
  bucketCounts: number[];
}

export type ResponseCodeClass = '1xx' | '2xx' | '3xx' | '4xx' | '5xx';

export interface IntervalObservation {
  /** RFC 3339. */
  startTime: string;
  endTime: string;
  requests: Partial<Record<ResponseCodeClass, number>>;
  latency?: LatencyDistribution;
}

export interface RevisionObservations {
  revision: string;
  /** Oldest first. Periods with no data are simply absent. */
  intervals: IntervalObservation[];
  /**
   * Why the data may be missing some points: Cloud Monitoring flagged its answer incomplete
   * (`execution_errors`), or more pages remained than were read. The judge never passes on it.
   */
  incomplete?: string[];
}
