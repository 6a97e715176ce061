/**
 * Breaking a safety rule on purpose makes the chaos run fail (issue #9).
 * Each case runs a few rollouts of a bad image with one part of Glidepath
 * deliberately broken from the outside, and expects the invariant that
 * rule protects to be reported. (docs/reliability.md lists the mutations
 * made inside the code by hand and what caught each.)
 */
import { describeWithEmulators, testProjectId } from '../helpers/emulators';
import { runChaos, type ChaosOptions } from '../../emulators/chaos/run';
import { rolloutScenario } from '../../emulators/chaos/scenario';
import type { TrafficRouter } from '../../functions/ports';

/** Bad images only, no injected faults: the rollback path must run, and run right. */
const badImages: ChaosOptions['scenario'] = (seed) => ({
  ...rolloutScenario(seed),
  images: [{ tag: `s${seed}-bad`, kind: 'bad' }],
  faults: [],
  killExecution: false,
  hostile: false,
});

/** A router whose rollbacks do nothing: it leaves the candidate's share where it is. */
function forgetfulRollbacks(router: TrafficRouter): TrafficRouter {
  return {
    ...router,
    async setTraffic(ref, plan, opts) {
      const current = (await router.getService(ref))!;
      const next = plan(current).filter((t) => t.percent > 0);
      const isRestore = next.length === 1 && current.traffic.filter((t) => t.percent > 0).length > 1;
      return isRestore ? current : router.setTraffic(ref, plan, opts);
    },
  };
}

describeWithEmulators('the chaos checks catch a broken safety rule', () => {
  const run = (name: string, extra: Partial<ChaosOptions>) =>
    runChaos({
      seed: 7,
      rollouts: 2,
      jobRuns: 0,
      services: 2,
      jobs: 1,
      reuseGoogleEmulators: true,
      projectId: testProjectId(__filename, name),
      scenario: badImages,
      scenarioTimeoutMs: 60_000,
      ...extra,
    });

  it('reports the split left behind when rollbacks do not restore the traffic', async () => {
    const report = await run('rollback', { wrapRouter: forgetfulRollbacks });
    const invariants = new Set(report.violations.map((v) => v.invariant));
    expect(invariants).toContain('final-traffic');
    expect(report.violations[0].replay).toMatch(/^npm run bench -- chaos --seed 7 --services 2 --only \d$/);
  }, 200_000);

  it('reports failures that Slack never heard of when notices are dropped', async () => {
    const report = await run('slack', { runtime: { notifier: { notify: async () => true } } });
    expect(report.violations.filter((v) => v.invariant === 'failure-noticed')).toHaveLength(2);
    expect(report.violations.every((v) => v.invariant === 'failure-noticed')).toBe(true);
  }, 200_000);
});
