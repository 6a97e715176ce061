import {
  MAX_POINTS,
  MAX_REASON_CHARS,
  MAX_REASONS,
  firestoreSize,
  lookId,
  lookRecord,
} from '../../../functions/domain/looks';
import type { IntervalObservation, RevisionObservations } from '../../../functions/domain/observations';
import { SETTINGS } from '../analysis/helpers';

const minute = (m: number) => new Date(Date.UTC(2026, 0, 1, 0, m)).toISOString();

/** Explicit buckets [0,100,200,400]: counts put the p99 of 100 requests inside (200, 400]. */
function interval(m: number, ok: number, errors: number, buckets?: number[]): IntervalObservation {
  return {
    startTime: minute(m),
    endTime: minute(m + 1),
    requests: { '2xx': ok, '4xx': 3, '5xx': errors },
    ...(buckets
      ? {
          latency: {
            count: buckets.reduce((a, b) => a + b, 0),
            bucketOptions: { explicitBuckets: { bounds: [0, 100, 200, 400] } },
            bucketCounts: buckets,
          },
        }
      : {}),
  };
}

const base = {
  region: 'us-central1',
  step: 1,
  percent: 50,
  at: new Date('2026-01-01T00:05:00Z'),
  windowStart: new Date('2026-01-01T00:00:00Z'),
  settings: SETTINGS,
  judgement: { verdict: 'FAIL' as const, reasons: ['5xx 6.0% vs 1.0%'] },
};

describe('lookRecord', () => {
  it('keeps per-minute requests, 5xx and the policy percentile of each revision', () => {
    const canary: RevisionObservations = {
      revision: 'shop-v3',
      // 100 requests: 90 in (0,100], 8 in (100,200], 2 in (200,400]: the 99th falls halfway into (200,400]: 300.
      intervals: [interval(0, 94, 6, [0, 90, 8, 2, 0]), interval(1, 40, 0)],
    };
    const stable: RevisionObservations = { revision: 'shop-v2', intervals: [interval(0, 99, 1, [0, 100])] };
    const look = lookRecord({ ...base, canary, stable });
    expect(look.canary).toEqual({
      revision: 'shop-v3',
      t: [Date.UTC(2026, 0, 1) / 1000, Date.UTC(2026, 0, 1, 0, 1) / 1000],
      requests: [103, 43],
      errors: [6, 0],
      latencyMs: [300, null],
      dropped: 0,
    });
    expect(look.stable?.latencyMs).toEqual([99]);
    expect(look.verdict).toBe('FAIL');
    expect(look.reasons).toEqual(['5xx 6.0% vs 1.0%']);
    expect(look.percentile).toBe(99);
    expect(look.limits).toEqual({
      errorMaxAbsolute: 0.01,
      errorMaxIncrease: 0.005,
      latencyMaxMs: 1000,
      latencyMaxRatio: 1.25,
    });
    expect(look.at).toBe('2026-01-01T00:05:00.000Z');
  });

  it('records a percentile beyond the last bucket as null, not Infinity', () => {
    const canary = { revision: 'c', intervals: [interval(0, 10, 0, [0, 0, 0, 0, 10])] };
    expect(lookRecord({ ...base, canary }).canary.latencyMs).toEqual([null]);
  });

  it('stays bounded: the newest MAX_POINTS minutes, reasons capped, far under the 1 MiB document limit', () => {
    const many = (name: string): RevisionObservations => ({
      revision: name,
      intervals: Array.from({ length: 10_000 }, (_, m) => interval(m, 1_000_000, 123_456, [1, 2, 3, 4, 5])),
    });
    const reasons = Array.from({ length: 40 }, () => 'é'.repeat(5000));
    const look = lookRecord({
      ...base,
      canary: many('c'.repeat(63)),
      stable: many('s'.repeat(63)),
      judgement: { verdict: 'INCONCLUSIVE', reasons },
    });
    expect(look.canary.t).toHaveLength(MAX_POINTS);
    expect(look.canary.dropped).toBe(10_000 - MAX_POINTS);
    expect(look.canary.t.at(-1)).toBe(Date.UTC(2026, 0, 1, 0, 9_999) / 1000);
    expect(look.reasons).toHaveLength(MAX_REASONS + 1);
    expect(look.reasons[0]).toHaveLength(MAX_REASON_CHARS);
    expect(look.reasons.at(-1)).toBe(`(${40 - MAX_REASONS} more reasons left out)`);
    const size = firestoreSize(look) + Buffer.byteLength(`rollouts/x/looks/${lookId(look)}`);
    expect(size).toBeLessThan(64 * 1024);
  });
});

describe('firestoreSize (https://cloud.google.com/firestore/docs/storage-size)', () => {
  it('counts strings as UTF-8 bytes + 1, numbers 8, null 1, keys as strings, 32 per document', () => {
    // 'task' 5 + 'é' 3; 'n' 2 + 8; 'l' 2 + [8 + 1]; document 32.
    expect(firestoreSize({ task: 'é', n: 1, l: [2, null] })).toBe(5 + 3 + 2 + 8 + 2 + 9 + 32);
  });
});

describe('lookId', () => {
  it('sorts by region, step and time', () => {
    expect(lookId({ region: 'us-central1', step: 2, at: '2026-01-01T00:05:00.000Z' })).toBe(
      'us-central1~02~2026-01-01T00:05:00.000Z',
    );
  });
});
