/** Builders of per-minute observations for the judge's tests. */
import type { IntervalObservation, RevisionObservations } from '../../../functions/domain/observations';
import { BUILT_IN_DEFAULTS, type AnalysisSettings } from '../../../functions/domain/policy';
import {
  BASE_LATENCY,
  bucketProbabilities,
  CLOUD_RUN_LATENCY_BUCKETS,
  type Latency,
} from '../../../scripts/bench/analysis/simulate';

export const SETTINGS: AnalysisSettings = structuredClone(BUILT_IN_DEFAULTS.analysis) as AnalysisSettings;

/** Expected (not random) bucket counts of `n` requests from a lognormal. */
function histogram(n: number, latency: Latency) {
  const counts = bucketProbabilities(latency).map((p) => Math.round(p * n));
  return {
    count: counts.reduce((a, b) => a + b, 0),
    bucketOptions: CLOUD_RUN_LATENCY_BUCKETS,
    bucketCounts: counts,
  };
}

/** `minutes` identical minutes of `perMinute` requests, `errorRate` of them 5xx. */
export function revision(
  name: string,
  minutes: number,
  perMinute: number,
  errorRate: number,
  latency: Latency | null = BASE_LATENCY,
  clientErrorRate = 0,
): RevisionObservations {
  const intervals: IntervalObservation[] = Array.from({ length: minutes }, (_, m) => {
    const errors = Math.round(perMinute * errorRate);
    const client = Math.round(perMinute * clientErrorRate);
    return {
      startTime: new Date(Date.UTC(2026, 0, 1, 0, m)).toISOString(),
      endTime: new Date(Date.UTC(2026, 0, 1, 0, m + 1)).toISOString(),
      requests: { '2xx': perMinute - errors - client, '4xx': client, '5xx': errors },
      ...(latency ? { latency: histogram(perMinute, latency) } : {}),
    };
  });
  return { revision: name, intervals };
}

export const p99Scaled = (ratio: number): Latency => ({
  medianMs: 50,
  sigma: Math.log(6 * ratio) / 2.3263478740408408,
});
