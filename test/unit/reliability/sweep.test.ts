import { diagnose, quietSeconds, DEFAULT_SWEEP_SETTINGS } from '../../../functions/domain/sweep';
import { RolloutRecord } from '../../../functions/domain/records';
import type { RolloutPlan } from '../../../functions/domain/plan';

const NOW = new Date('2026-11-22T12:00:00Z');
const ago = (seconds: number): string => new Date(NOW.getTime() - seconds * 1000).toISOString();
const plan: RolloutPlan = {
  rolloutId: 'api-abc',
  service: 'api',
  project: 'p',
  image: 'us-docker.pkg.dev/p/apps/api@sha256:' + 'a'.repeat(64),
  digest: 'sha256:' + 'a'.repeat(64),
  revisionTag: 'gp-aaaaaaaaaaaa',
  waves: [{ regions: ['us-central1'] }],
  maxParallelRegions: 10,
  steps: [
    { percent: 10, bakeSeconds: 600 },
    { percent: 50, bakeSeconds: 1800 },
  ],
  analysis: {
    minRequests: 200,
    maxExtensions: 3,
    onInconclusive: 'fail',
    errorRate: { maxAbsolute: 0.01, maxIncrease: 0.005 },
    latency: { percentile: 99, maxMs: 1000, maxRatio: 1.25 },
  },
  smoke: { path: '/health', expectStatus: 200, attempts: 3, timeoutSeconds: 5 },
  rollbackPromotedRegions: false,
  source: 'gcr',
};

function rollout(extra: Record<string, unknown> = {}): RolloutRecord {
  return RolloutRecord.parse({
    id: 'api-abc',
    service: 'api',
    project: 'p',
    image: 'us-docker.pkg.dev/p/apps/api@sha256:' + 'a'.repeat(64),
    digest: 'sha256:' + 'a'.repeat(64),
    source: 'gcr',
    status: 'RUNNING',
    plan,
    executionName: 'projects/p/locations/l/workflows/rollout/executions/e1',
    createdAt: ago(3600),
    updatedAt: ago(60),
    ...extra,
  });
}

describe('the sweeper decision', () => {
  it('takes back a rollout whose stored plan is corrupt, naming the field, instead of throwing', () => {
    const d = diagnose(rollout({ plan: {} }), { state: 'ACTIVE' }, NOW);
    expect(d).toMatchObject({ stuck: true, cancelExecution: true, finish: true });
    expect(d.stuck && d.reason).toMatch(/^the stored plan of rollout api-abc is corrupt: .*plan\.steps/);
    const badStep = { ...plan, steps: [{ percent: 'ten', bakeSeconds: 600 }] };
    const e = diagnose(rollout({ plan: badStep }), { state: 'FAILED' }, NOW);
    expect(e).toMatchObject({ stuck: true, cancelExecution: false, finish: true });
    expect(e.stuck && e.reason).toMatch(/plan\.steps\[0\]\.percent: expected number.*got "ten"/);
  });

  it('leaves a rollout alone while its execution is active and its heartbeat fresh', () => {
    expect(diagnose(rollout(), { state: 'ACTIVE' }, NOW)).toMatchObject({ stuck: false });
  });

  it('allows the longest bake plus the grace before calling an active execution silent', () => {
    const limit = quietSeconds(plan) + DEFAULT_SWEEP_SETTINGS.heartbeatGraceSeconds;
    expect(limit).toBe(1800 + 900);
    expect(diagnose(rollout({ updatedAt: ago(limit - 1) }), { state: 'ACTIVE' }, NOW).stuck).toBe(false);
    expect(diagnose(rollout({ updatedAt: ago(limit + 1) }), { state: 'ACTIVE' }, NOW)).toEqual({
      stuck: true,
      cancelExecution: true,
      finish: true,
      reason: expect.stringMatching(/no heartbeat from workflow execution .*e1 for 45m \(limit 45m\)/),
    });
  });

  it('never waits less than a Cloud Run operation and the smoke test, even with short bakes', () => {
    expect(quietSeconds({ ...plan, steps: [{ percent: 10, bakeSeconds: 30 }] })).toBe(300 + 15);
  });

  it.each(['FAILED', 'CANCELLED', 'SUCCEEDED', 'MISSING'] as const)(
    'recovers a RUNNING rollout whose execution is %s, without cancelling anything',
    (state) => {
      const d = diagnose(rollout(), { state, error: 'boom' }, NOW);
      expect(d).toMatchObject({ stuck: true, cancelExecution: false, finish: true });
      expect(d.stuck && d.reason).toContain('api-abc is RUNNING and still holds api');
    },
  );

  it('cleans up after a finished rollout whose execution died before taking its candidates down', () => {
    const d = diagnose(rollout({ status: 'SUPERSEDED' }), { state: 'FAILED' }, NOW);
    expect(d).toMatchObject({ stuck: true, finish: false });
  });

  it('waits for intake to start the execution, then gives up after the launch grace', () => {
    const pending = (claimed: number) =>
      rollout({ status: 'PENDING', executionName: undefined, launchClaimedAt: ago(claimed) });
    expect(diagnose(pending(60), undefined, NOW).stuck).toBe(false);
    expect(diagnose(pending(601), undefined, NOW)).toMatchObject({
      stuck: true,
      finish: true,
      reason: 'no workflow execution was started for 10m (limit 10m)',
    });
  });

  it('never touches a queued rollout or an execution Workflows cannot describe yet', () => {
    expect(diagnose(rollout({ status: 'PENDING', queuedBehind: 'api-x' }), undefined, NOW).stuck).toBe(false);
    expect(diagnose(rollout(), { state: 'UNKNOWN' }, NOW).stuck).toBe(false);
    expect(diagnose(rollout(), { state: 'QUEUED' }, NOW).stuck).toBe(false);
  });
});
