import {
  doraFigures,
  failureDetectedAt,
  leadTimeSeconds,
  median,
  timeToRestoreSeconds,
} from '../../../functions/domain/dora';
import { RolloutRecord } from '../../../functions/domain/records';
import { stagedPlan } from '../../helpers/staged-plan';

const T0 = Date.parse('2025-01-01T00:00:00Z');
const at = (minutes: number): string => new Date(T0 + minutes * 60_000).toISOString();

function rollout(status: RolloutRecord['status'], extra: Record<string, unknown> = {}): RolloutRecord {
  return RolloutRecord.parse({
    id: `api-${Math.random().toString(36).slice(2, 8)}`,
    service: 'api',
    project: 'p',
    image: 'us-docker.pkg.dev/p/apps/api@sha256:aaaa',
    digest: 'sha256:aaaa',
    source: 'gcr',
    status,
    plan: {},
    createdAt: at(0),
    updatedAt: at(0),
    ...extra,
  });
}

const failedRegion = (judged: number | undefined, updated: number) => ({
  status: 'ROLLED_BACK',
  updatedAt: at(updated),
  steps: [
    {
      index: 0,
      percent: 10,
      verdict: judged === undefined ? undefined : 'FAIL',
      judgedAt: judged === undefined ? undefined : at(judged),
    },
  ],
});

const promotedRegion = { status: 'PROMOTED', updatedAt: at(1) };
const stagedRollout = stagedPlan('api-staged');

describe('median', () => {
  it.each([
    [[], null],
    [[3], 3],
    [[5, 1, 3], 3],
    [[4, 1, 3, 2], 2.5],
  ])('median(%j) = %j', (values, expected) => expect(median(values)).toBe(expected));
});

describe('lead time', () => {
  it.each([
    ['promoted, 30 min', rollout('PROMOTED', { endedAt: at(30) }), 1800],
    ['promoted without endedAt', rollout('PROMOTED'), undefined],
    ['rolled back', rollout('ROLLED_BACK', { endedAt: at(30) }), undefined],
    ['running', rollout('RUNNING'), undefined],
    ['endedAt before createdAt', rollout('PROMOTED', { createdAt: at(10), endedAt: at(5) }), undefined],
  ])('%s', (_name, r, expected) => expect(leadTimeSeconds(r)).toBe(expected));
});

describe('time to restore', () => {
  it.each([
    [
      'FAIL verdict at 10, ended at 12',
      rollout('ROLLED_BACK', { endedAt: at(12), regions: { 'us-central1': failedRegion(10, 12) } }),
      120,
    ],
    [
      'earliest FAIL verdict across regions',
      rollout('ROLLED_BACK', {
        endedAt: at(20),
        regions: { a: failedRegion(15, 20), b: failedRegion(5, 20) },
      }),
      900,
    ],
    [
      'no verdict (smoke failed): failed region updatedAt',
      rollout('FAILED', { endedAt: at(9), regions: { a: failedRegion(undefined, 8) } }),
      60,
    ],
    ['no region data', rollout('FAILED', { endedAt: at(9) }), undefined],
    ['not a failure', rollout('PROMOTED', { endedAt: at(9), regions: { a: failedRegion(3, 8) } }), undefined],
    ['no endedAt', rollout('ROLLED_BACK', { regions: { a: failedRegion(3, 8) } }), undefined],
  ])('%s', (_name, r, expected) => expect(timeToRestoreSeconds(r)).toBe(expected));

  it('prefers the FAIL verdict over the region timestamp', () => {
    const r = rollout('ROLLED_BACK', { endedAt: at(12), regions: { a: failedRegion(10, 11) } });
    expect(failureDetectedAt(r)).toBe(T0 + 10 * 60_000);
  });
});

describe('doraFigures', () => {
  const now = new Date(T0 + 4 * 86_400_000); // four days after the first rollout

  it.each([
    {
      name: 'no rollouts',
      records: [],
      expect: {
        perDay: 0,
        promoted: 0,
        rate: null,
        finished: 0,
        failed: 0,
        excluded: 0,
        lead: null,
        ttr: null,
        days: 1,
      },
    },
    {
      name: 'two promoted, one rolled back, one superseded, one aborted, one running',
      records: [
        rollout('PROMOTED', { endedAt: at(20) }),
        rollout('PROMOTED', { createdAt: at(60), endedAt: at(100) }),
        rollout('ROLLED_BACK', {
          createdAt: at(200),
          endedAt: at(215),
          regions: { a: failedRegion(210, 215) },
        }),
        rollout('SUPERSEDED', { createdAt: at(300), endedAt: at(301) }),
        rollout('ABORTED', { createdAt: at(400), endedAt: at(401) }),
        rollout('RUNNING', { createdAt: at(500) }),
      ],
      expect: {
        perDay: 0.5,
        promoted: 2,
        rate: 0.3333,
        finished: 3,
        failed: 1,
        excluded: 2,
        lead: 1800,
        ttr: 300,
        days: 4,
      },
    },
    {
      name: 'a rejected, an expired, and a staged rollout rolled back in staging are left out; one rolled back in production counts',
      records: [
        rollout('PROMOTED', { endedAt: at(20) }),
        rollout('REJECTED', {
          createdAt: at(100),
          endedAt: at(130),
          plan: stagedRollout,
          // The canary held before promotion, rolled back when the gate was rejected.
          regions: { 'us-west1': promotedRegion, 'us-central1': failedRegion(undefined, 129) },
        }),
        rollout('EXPIRED', { createdAt: at(200), endedAt: at(260), plan: stagedRollout }),
        rollout('ROLLED_BACK', {
          createdAt: at(300),
          endedAt: at(305),
          plan: stagedRollout,
          regions: { 'us-west1': failedRegion(302, 305) },
        }),
        rollout('ROLLED_BACK', {
          createdAt: at(400),
          endedAt: at(410),
          plan: stagedRollout,
          regions: { 'us-west1': promotedRegion, 'us-central1': failedRegion(404, 410) },
        }),
      ],
      expect: {
        perDay: 0.25,
        promoted: 1,
        rate: 0.5,
        finished: 2,
        failed: 1,
        excluded: 3,
        lead: 1200,
        ttr: 360,
        days: 4,
      },
    },
    {
      name: 'failed and rolled back both count as failures',
      records: [
        rollout('FAILED', { endedAt: at(10), regions: { a: failedRegion(undefined, 9) } }),
        rollout('ROLLED_BACK', { endedAt: at(30), regions: { a: failedRegion(27, 30) } }),
      ],
      expect: {
        perDay: 0,
        promoted: 0,
        rate: 1,
        finished: 2,
        failed: 2,
        excluded: 0,
        lead: null,
        ttr: 120,
        days: 4,
      },
    },
    {
      name: 'a fresh window counts as one day',
      records: [rollout('PROMOTED', { createdAt: now.toISOString(), endedAt: now.toISOString() })],
      expect: {
        perDay: 1,
        promoted: 1,
        rate: 0,
        finished: 1,
        failed: 0,
        excluded: 0,
        lead: 0,
        ttr: null,
        days: 1,
      },
    },
  ])('$name', ({ records, expect: e }) => {
    const d = doraFigures(records, now);
    expect(d.rollouts).toBe(records.length);
    expect(d.window.days).toBe(e.days);
    expect(d.deploymentFrequency).toEqual({ promoted: e.promoted, perDay: e.perDay });
    expect(d.changeFailureRate).toEqual({
      failed: e.failed,
      finished: e.finished,
      rate: e.rate,
      excluded: e.excluded,
    });
    expect(d.leadTime.medianSeconds).toBe(e.lead);
    expect(d.timeToRestore.medianSeconds).toBe(e.ttr);
  });
});
