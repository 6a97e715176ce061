/**
 * The chaos suite in CI (issue #9): 12 seeded rollouts (every fault kind at
 * least once), 4 approval scenarios (issue 16: one of each kind), 8 job
 * runs and 6 job image rollouts under random faults on the whole local cloud, every safety
 * invariant checked after each. `npm run bench -- chaos` runs the full
 * counts. CHAOS_SEED picks another seed; a failure prints the command that
 * replays the failing scenario.
 */
import { describeWithEmulators, testProjectId } from '../helpers/emulators';
import { runChaos, type ChaosReport } from '../../emulators/chaos/run';

const SEED = Number(process.env.CHAOS_SEED ?? 20261122);

describeWithEmulators('chaos: rollouts and job runs under random faults', () => {
  let report: ChaosReport;
  beforeAll(async () => {
    report = await runChaos({
      seed: SEED,
      rollouts: Number(process.env.CHAOS_ROLLOUTS ?? 12),
      jobRuns: Number(process.env.CHAOS_JOB_RUNS ?? 8),
      jobRollouts: Number(process.env.CHAOS_JOB_ROLLOUTS ?? 6),
      services: 4,
      jobs: 3,
      imageJobs: 2,
      // One approval scenario of each kind (reject, twice, late, superseded) on two gated services.
      approvals: Number(process.env.CHAOS_APPROVALS ?? 4),
      gatedServices: 2,
      reuseGoogleEmulators: true,
      projectId: testProjectId(__filename),
    });
  }, 600_000);

  it('violates no safety invariant (a failure names its scenario and replay command)', () => {
    expect(report.violations).toEqual([]);
  });

  it('really injected faults of every kind and ran every scenario to its end', () => {
    const points = Object.keys(report.faults).map((k) => k.split(':')[0].split('.')[0]);
    for (const kind of ['run', 'monitoring', 'actions', 'push', 'slack']) expect(points).toContain(kind);
    expect(report.rollouts.run).toBeGreaterThanOrEqual(12);
    expect(Object.values(report.rollouts.byStatus).reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(12);
    expect(Object.values(report.jobRuns.byStatus).reduce((a, b) => a + b, 0)).toBe(report.jobRuns.run);
    // Job image rollouts: good images and verifications failing in either wave, under UpdateJob faults.
    expect(report.jobRollouts.run).toBeGreaterThanOrEqual(6);
    expect(report.jobRollouts.byStatus.SUCCEEDED).toBeGreaterThanOrEqual(1);
    expect(report.jobRollouts.byStatus.FAILED).toBeGreaterThanOrEqual(1);
    // Scenario 3's job-rollout execution is killed: with no violation, the sweeper ended it.
    expect(report.jobRollouts.killed).toBeGreaterThanOrEqual(1);
    expect(Object.keys(report.faults)).toEqual(
      expect.arrayContaining(['run.UpdateJob:error', 'run.UpdateJob:etag']),
    );
    expect(report.messages).toMatchObject({ lost: 0, doubled: 0 });
    expect(report.approvals.byKind).toEqual({ reject: 1, twice: 1, late: 1, superseded: 1 });
  });
});
