import { diagnose, quietSeconds, DEFAULT_SWEEP_SETTINGS } from '../../../functions/domain/sweep';
import { RolloutRecord } from '../../../functions/domain/records';

const NOW = new Date('2026-11-22T12:00:00Z');
const ago = (seconds: number): string => new Date(NOW.getTime() - seconds * 1000).toISOString();
const plan = {
  steps: [
    { percent: 10, bakeSeconds: 600 },
    { percent: 50, bakeSeconds: 1800 },
  ],
  smoke: { path: '/health', expectStatus: 200, attempts: 3, timeoutSeconds: 5 },
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
