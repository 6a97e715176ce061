/**
 * What pages (functions/domain/alerts.ts) and what a rollout's end sends
 * (functions/usecases/rollout.ts `complete`, on the in-memory store): a
 * rollback triggers under the rollout's dedup key, the sweeper's recovery
 * triggers, a later promotion resolves the earlier alerts of the service,
 * and nothing else pages.
 */
import { jobRunDeadLettered, rolloutAlerts } from '../../../functions/domain/alerts';
import { stagedPlan } from '../../helpers/staged-plan';
import type { JobRunRecord } from '../../../functions/domain/jobs';
import type { RolloutRecord } from '../../../functions/domain/records';
import { complete } from '../../../functions/usecases/rollout';
import { admitRunning, world } from '../../helpers/fast-rollout';

const rollout = (id: string, status: RolloutRecord['status'], extra: Partial<RolloutRecord> = {}) =>
  ({
    id,
    service: 'api',
    project: 'proj-1',
    image: 'us-docker.pkg.dev/p/apps/api@sha256:abc',
    status,
    regions: {},
    ...extra,
  }) as unknown as RolloutRecord;

describe('rolloutAlerts', () => {
  it('triggers a critical alert for a rollback, keyed by the rollout', () => {
    const alerts = rolloutAlerts(
      rollout('api-2', 'ROLLED_BACK', {
        outcomeReason: 'us-central1: error rate 40%',
        regions: { 'us-central1': { status: 'ROLLED_BACK' } } as never,
      }),
    );
    expect(alerts).toEqual([
      {
        action: 'trigger',
        dedupKey: 'glidepath/rollout/api-2',
        summary: 'api: rollout api-2 rolled back in production: us-central1: error rate 40%',
        severity: 'critical',
        source: 'run.googleapis.com/projects/proj-1/services/api',
        component: 'api',
        details: {
          rolloutId: 'api-2',
          service: 'api',
          image: 'us-docker.pkg.dev/p/apps/api@sha256:abc',
          status: 'ROLLED_BACK',
          reason: 'us-central1: error rate 40%',
          regions: 'us-central1: ROLLED_BACK',
        },
      },
    ]);
  });

  describe('a staged service: only a rollback in production pages', () => {
    const staged = (id: string, regions: Record<string, string>, only?: string[]) =>
      rollout(id, 'ROLLED_BACK', {
        plan: stagedPlan(id, only),
        regions: Object.fromEntries(Object.entries(regions).map(([r, status]) => [r, { status }])) as never,
      });

    it('pages for a rollback in a production region, after staging promoted', () => {
      const alerts = rolloutAlerts(
        staged('api-2', { 'us-west1': 'PROMOTED', 'us-central1': 'PROMOTED', 'us-east1': 'ROLLED_BACK' }),
      );
      expect(alerts).toMatchObject([{ action: 'trigger', dedupKey: 'glidepath/rollout/api-2' }]);
    });

    it('does not page for a rollback in staging, nor resolve it later', () => {
      const inStaging = staged('api-3', { 'us-west1': 'ROLLED_BACK' });
      expect(rolloutAlerts(inStaging)).toEqual([]);
      // A manual redeploy to staging's region alone: its only stage is staging, not production.
      expect(rolloutAlerts(staged('api-4', { 'us-west1': 'ROLLED_BACK' }, ['us-west1']))).toEqual([]);
      const paged = staged('api-5', { 'us-west1': 'PROMOTED', 'us-central1': 'ROLLED_BACK' });
      expect(
        rolloutAlerts(rollout('api-6', 'PROMOTED'), {
          earlier: [rollout('api-6', 'PROMOTED'), inStaging, paged],
        }),
      ).toEqual([{ action: 'resolve', dedupKey: 'glidepath/rollout/api-5' }]);
    });
  });

  it("triggers for a rollout the sweeper recovered, not for a workflow's own failure or an abort", () => {
    const failed = rollout('api-3', 'FAILED', { outcomeReason: 'execution vanished' });
    expect(rolloutAlerts(failed, { recoveredBySweeper: true })).toMatchObject([
      {
        action: 'trigger',
        dedupKey: 'glidepath/rollout/api-3',
        severity: 'error',
        summary: 'api: rollout api-3 was stuck and recovered by the sweeper: execution vanished',
      },
    ]);
    expect(rolloutAlerts(failed)).toEqual([]);
    expect(rolloutAlerts(rollout('api-4', 'ABORTED'))).toEqual([]);
    expect(rolloutAlerts(rollout('api-5', 'SUPERSEDED'))).toEqual([]);
  });

  it('resolves, on a promotion, the alerts of the earlier rollouts back to the last promoted one', () => {
    const history = [
      rollout('api-9', 'RUNNING'), // newer, queued behind: not resolved
      rollout('api-8', 'PROMOTED'),
      rollout('api-7', 'ROLLED_BACK'),
      rollout('api-6', 'ABORTED'),
      rollout('api-5', 'FAILED'),
      rollout('api-4', 'PROMOTED'),
      rollout('api-3', 'ROLLED_BACK'), // before the last promotion: already resolved then
    ];
    expect(rolloutAlerts(rollout('api-8', 'PROMOTED'), { earlier: history })).toEqual([
      { action: 'resolve', dedupKey: 'glidepath/rollout/api-7' },
      { action: 'resolve', dedupKey: 'glidepath/rollout/api-5' },
    ]);
  });

  it('triggers for a dead-lettered job run, keyed by the run', () => {
    const run = {
      id: 'nightly-20261130T0200',
      job: 'nightly',
      project: 'proj-1',
      region: 'us-central1',
      attempts: [{ number: 1 }, { number: 2, error: 'exit code 3', failureClass: 'exit-code' }],
    } as unknown as JobRunRecord;
    expect(jobRunDeadLettered(run, 'job-nightly-20261130T0200')).toEqual({
      action: 'trigger',
      dedupKey: 'glidepath/job-run/nightly-20261130T0200',
      summary: 'job nightly failed after 2 attempt(s) and was dead-lettered: exit code 3',
      severity: 'error',
      source: 'run.googleapis.com/projects/proj-1/locations/us-central1/jobs/nightly',
      component: 'nightly',
      details: {
        jobRunId: 'nightly-20261130T0200',
        job: 'nightly',
        attempts: '2',
        deadLetterId: 'job-nightly-20261130T0200',
        failureClass: 'exit-code',
      },
    });
  });
});

describe('complete: the end notice carries the alerts', () => {
  it('pages once for a rollback: a later complete of the ended rollout pages nothing', async () => {
    const w = world();
    await admitRunning(w, 'r1');
    await complete(w.deps, 'r1', 'ROLLED_BACK', 'us-central1: error rate 40%');
    expect(w.slack.at(-1)!.alerts).toMatchObject([{ action: 'trigger', dedupKey: 'glidepath/rollout/r1' }]);
    // A retried complete (or the sweeper) meets a rollout already ended otherwise: no second page.
    await complete(w.deps, 'r1', 'FAILED', 'late', undefined, { recoveredBySweeper: true });
    expect(w.slack.at(-1)!.alerts).toBeUndefined();
  });

  it('resolves the earlier alerts when a later rollout promotes', async () => {
    const w = world();
    await admitRunning(w, 'r1');
    await complete(w.deps, 'r1', 'ROLLED_BACK', 'bad');
    await admitRunning(w, 'r2', { digest: `sha256:${'d'.repeat(64)}` });
    w.deps.reportSource.history = async () =>
      [(await w.store.getRollout('r2'))!, (await w.store.getRollout('r1'))!].map((r) =>
        r.id === 'r2' ? { ...r, status: 'PROMOTED' as const } : r,
      );
    await complete(w.deps, 'r2', 'PROMOTED', 'promoted in every region');
    expect(w.slack.at(-1)!.alerts).toEqual([{ action: 'resolve', dedupKey: 'glidepath/rollout/r1' }]);
  });
});
