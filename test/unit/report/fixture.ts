/**
 * A rollout as Firestore keeps it, for the report's tests: shop:v3-bad,
 * promoted nowhere. us-central1 looked twice at 10% (INCONCLUSIVE, then PASS
 * after an extension) and FAILed at 50% on 5xx; europe-west1 PASSed at 10%
 * and was rolled back with the rest. Every figure is written out here.
 */
import type { RolloutPlan } from '../../../functions/domain/plan';
import { doraFigures } from '../../../functions/domain/dora';
import { lookRecord, type LookRecord } from '../../../functions/domain/looks';
import type { IntervalObservation } from '../../../functions/domain/observations';
import { RolloutRecord } from '../../../functions/domain/records';
import type { ReportEvent, ReportInput } from '../../../functions/report/model';
import { SETTINGS } from '../analysis/helpers';

const T0 = Date.UTC(2026, 0, 1, 12, 0);
export const at = (minutes: number) => new Date(T0 + minutes * 60_000).toISOString();

const tail = (n: number) => Math.ceil(n / 50);

function minutesOf(from: number, to: number, perMinute: number, errors: number, p99Bucket: number) {
  const intervals: IntervalObservation[] = [];
  for (let m = from; m < to; m++)
    intervals.push({
      startTime: at(m),
      endTime: at(m + 1),
      requests: { '2xx': perMinute - errors, '5xx': errors },
      latency: {
        count: perMinute,
        bucketOptions: { explicitBuckets: { bounds: [0, 50, 100, 200, 400, 800] } },
        // 98% in (0,50], 2% in bucket p99Bucket: the p99 is that bucket's middle.
        bucketCounts: [0, perMinute - tail(perMinute), 0, 0, 0, 0, 0].map((c, i) =>
          i === p99Bucket ? c + tail(perMinute) : c,
        ),
      },
    });
  return intervals;
}

const look = (
  region: string,
  step: number,
  percent: number,
  from: number,
  to: number,
  verdict: LookRecord['verdict'],
  reasons: string[],
  canaryErrors: number,
): LookRecord =>
  lookRecord({
    region,
    step,
    percent,
    at: new Date(at(to)),
    windowStart: new Date(at(from)),
    canary: { revision: 'shop-v3', intervals: minutesOf(from, to, 100, canaryErrors, 4) },
    stable: { revision: 'shop-v2', intervals: minutesOf(from, to, 400, 4, 2) },
    settings: SETTINGS,
    judgement: { verdict, reasons },
  });

const plan: RolloutPlan = {
  rolloutId: 'shop-abc',
  service: 'shop',
  project: 'demo-project',
  image: 'us-docker.pkg.dev/demo/apps/shop@sha256:' + 'b'.repeat(64),
  digest: 'sha256:' + 'b'.repeat(64),
  revisionTag: 'gp-bbbbbbbbbbbb',
  waves: [{ regions: ['us-central1'] }, { regions: ['europe-west1'] }],
  maxParallelRegions: 10,
  steps: [
    { percent: 10, bakeSeconds: 120 },
    { percent: 50, bakeSeconds: 120 },
  ],
  analysis: SETTINGS,
  smoke: { path: '/health', expectStatus: 200, attempts: 3, timeoutSeconds: 5 },
  rollbackPromotedRegions: false,
  source: 'gcr',
};

export const ROLLOUT = RolloutRecord.parse({
  id: 'shop-abc',
  service: 'shop',
  project: 'demo-project',
  image: 'us-docker.pkg.dev/demo/apps/shop@sha256:' + 'b'.repeat(64),
  digest: 'sha256:' + 'b'.repeat(64),
  tag: 'v3-bad',
  source: 'gcr',
  status: 'ROLLED_BACK',
  plan,
  createdAt: at(0),
  updatedAt: at(9),
  endedAt: at(9),
  outcomeReason: 'us-central1: FAIL at step 2',
  regions: {
    'us-central1': {
      status: 'ROLLED_BACK',
      stableRevision: 'shop-v2',
      candidateRevision: 'shop-v3',
      reason: '5xx 6.00% vs stable 1.00%',
      traffic: { 'shop-v2': 100 },
      steps: [
        { index: 0, percent: 10, verdict: 'PASS', reasons: ['ok'], extensions: 1, startedAt: at(1) },
        { index: 1, percent: 50, verdict: 'FAIL', reasons: ['5xx'], extensions: 0, startedAt: at(5) },
      ],
    },
    'europe-west1': {
      status: 'ROLLED_BACK',
      stableRevision: 'shop-v2',
      candidateRevision: 'shop-v3',
      reason: 'rolled back with us-central1',
      traffic: { 'shop-v2': 100 },
      steps: [{ index: 0, percent: 10, verdict: 'PASS', reasons: ['ok'], extensions: 0, startedAt: at(1) }],
    },
  },
});

export const EVENTS: ReportEvent[] = [
  { at: at(0.5), type: 'deployed', region: 'us-central1', message: 'candidate shop-v3 at 0%' },
  { at: at(1), type: 'shifted', region: 'us-central1', step: 0, message: 'candidate at 10%' },
  { at: at(5), type: 'shifted', region: 'us-central1', step: 1, message: 'candidate at 50%' },
  { at: at(8), type: 'rolled_back', region: 'us-central1', message: '5xx 6.00% vs stable 1.00%' },
  { at: at(0.5), type: 'deployed', region: 'europe-west1', message: 'candidate shop-v3 at 0%' },
  { at: at(1), type: 'shifted', region: 'europe-west1', step: 0, message: 'candidate at 10%' },
  { at: at(8.5), type: 'rolled_back', region: 'europe-west1', message: 'rolled back with us-central1' },
];

export const LOOKS: LookRecord[] = [
  look(
    'us-central1',
    0,
    10,
    1,
    3,
    'INCONCLUSIVE',
    ['canary has 180 requests, fewer than minRequests 200'],
    1,
  ),
  look('us-central1', 0, 10, 1, 5, 'PASS', ['5xx 1.00% vs 1.00%: no evidence of harm'], 1),
  look('us-central1', 1, 50, 5, 8, 'FAIL', ['5xx 6.00% vs stable 1.00% (+5.00pp > +0.50pp), p<0.001'], 6),
  look('europe-west1', 0, 10, 1, 3, 'PASS', ['5xx 1.00% vs 1.00%: no evidence of harm'], 1),
];

export function reportInput(): ReportInput {
  return {
    rollout: ROLLOUT,
    events: EVENTS,
    looks: LOOKS,
    dora: doraFigures([ROLLOUT], new Date(at(10))),
    now: new Date(at(10)),
  };
}
