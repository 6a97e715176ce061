/**
 * Recovery on the local cloud (issue #9): what the workflow cannot clean up
 * itself (its execution died, its actions crashed on every retry, it went
 * silent, Slack was down), the stuck-rollout sweeper puts right.
 */
import { join } from 'node:path';
import { ExecutionsClient } from '@google-cloud/workflows';
import type { ClientOptions } from 'google-gax';
import { describeWithEmulators } from '../helpers/emulators';
import { simulate, digestOf } from '../../emulators/simulate';
import { startLocalCloud, type LocalCloud } from '../../emulators/local-cloud';
import { waitFor } from '../../emulators/util';
import { localClientOptions } from '../../functions/shared/endpoint';
import { RolloutRecord } from '../../functions/domain/records';
import { DEFAULT_SWEEP_SETTINGS } from '../../functions/domain/sweep';
import { rolloutDeps } from '../../functions/actions/rollout';
import { runtime } from '../../functions/entry/runtime';
import { sweep } from '../../functions/usecases/sweep';
import type { ServiceSnapshot, TrafficRouter, TrafficTarget } from '../../functions/ports';
import { trafficMap } from '../../functions/domain/traffic';

const fixtures = join(__dirname, '../fixtures/e2e');
const policyFile = join(fixtures, 'policy.yaml');
const profilesFile = join(fixtures, 'profiles.json');
const API = 'us-docker.pkg.dev/e2e-project/apps/api';
const CANARY = 'us-central1';

describeWithEmulators('recovery by the stuck-rollout sweeper', () => {
  let cloud: LocalCloud;
  let executions: ExecutionsClient;
  /**
   * While set, called by the next traffic write to api in the canary region that restores a split
   * (only the revision that served most keeps serving, where several served), just before that
   * write reaches Cloud Run. A case arms its fault there, so that a restore, and not a rollout's
   * shift or promotion, is the call refused (a fault rule can only match the service's name).
   * Cleared once called.
   */
  let refuseNextRestore: (() => void) | undefined;
  const isRestore = (current: ServiceSnapshot, next: TrafficTarget[]): boolean => {
    const before = Object.entries(trafficMap(current.traffic, current.latestReadyRevision));
    const after = Object.keys(trafficMap(next, current.latestReadyRevision));
    const largest = before.sort((x, y) => y[1] - x[1])[0]?.[0];
    return before.length > 1 && after.length === 1 && after[0] === largest;
  };
  const wrapRouter = (router: TrafficRouter): TrafficRouter => ({
    ...router,
    setTraffic: async (ref, plan, opts) => {
      if (refuseNextRestore && ref.service === 'api' && ref.region === CANARY) {
        const current = await router.getService(ref);
        if (current && isRestore(current, plan(current))) {
          refuseNextRestore();
          refuseNextRestore = undefined;
        }
      }
      return router.setTraffic(ref, plan, opts);
    },
  });
  beforeAll(async () => {
    cloud = await startLocalCloud({
      wrapRouter,
      projectId: 'e2e-recovery',
      policyFile,
      speed: 40,
      reuseGoogleEmulators: true,
      cloudRun: { profilesPath: profilesFile, readyDelayMs: 100, simulateLatency: false },
    });
    executions = new ExecutionsClient(localClientOptions(cloud.workflows.host) as ClientOptions);
    await simulate({ policyFile, profilesFile, pushes: [`${API}:base`], cloud, ratePerSecond: 40 });
  }, 120_000);
  afterAll(async () => {
    cloud?.faults.clear();
    await executions?.close();
    await cloud?.stop();
  });

  /** Publishes a push (simulate runs the load) and returns the rollout once `ready` holds. */
  function start(push: string, ready: (r: RolloutRecord) => boolean) {
    const done = simulate({
      policyFile,
      profilesFile,
      pushes: [push],
      cloud,
      ratePerSecond: 40,
      rolloutTimeoutMs: 120_000,
    });
    const rollout = waitFor(
      async () => {
        const q = await cloud.firestore.collection('rollouts').where('digest', '==', digestOf(push)).get();
        const r = q.docs[0] ? RolloutRecord.parse(q.docs[0].data()) : undefined;
        return r && ready(r) ? r : undefined;
      },
      { timeoutMs: 90_000, what: `rollout of ${push}` },
    );
    return { done, rollout };
  }
  const inFirstStep = (r: RolloutRecord) => (r.regions[CANARY]?.steps.length ?? 0) > 0;
  const servingIn = async (service: string, region: string) => {
    const rt = runtime();
    const snap = await rt.router().getService({ project: 'e2e-project', region, service });
    return Object.fromEntries(
      snap!.traffic
        .filter((t) => t.percent > 0)
        .map((t) => [t.revision ?? snap!.latestReadyRevision, t.percent]),
    );
  };
  const read = async (id: string) =>
    RolloutRecord.parse((await cloud.firestore.doc(`rollouts/${id}`).get()).data());

  it('takes back the canary of a rollout whose workflow execution died', async () => {
    const { done, rollout } = start(`${API}:orphan`, inFirstStep);
    const r = await rollout;
    const stable = r.regions[CANARY].stableRevision!;
    expect(await servingIn('api', CANARY)).toMatchObject({ [r.regions[CANARY].candidateRevision!]: 10 });
    // The execution dies: cancelled from outside, its except path never runs.
    await executions.cancelExecution({ name: r.executionName! });

    const report = await cloud.sweep();
    expect(report.recovered).toEqual([
      expect.objectContaining({
        rolloutId: r.id,
        regions: [CANARY],
        reason: expect.stringMatching(/is CANCELLED/),
      }),
    ]);
    expect(await servingIn('api', CANARY)).toEqual({ [stable]: 100 });
    const after = await read(r.id);
    expect(after.status).toBe('FAILED');
    expect(after.outcomeReason).toMatch(/^recovered by the sweeper: workflow execution .* is CANCELLED/);
    expect(after.regions[CANARY]).toMatchObject({ status: 'ROLLED_BACK', traffic: { [stable]: 100 } });
    expect((await cloud.firestore.doc('services/api').get()).data()).toMatchObject({
      activeRollout: null,
      candidates: {},
    });
    const slack = cloud.slack.posts.map((p) => p.text);
    expect(slack).toContainEqual(expect.stringContaining(`Rollout ${r.id} of api FAILED`));
    expect(slack).toContainEqual(
      expect.stringContaining('api rolled back in us-central1: recovered by the sweeper'),
    );
    // A second sweep finds nothing left to do.
    expect((await cloud.sweep()).recovered).toEqual([]);
    await done;
  }, 150_000);

  it('restores the split after an action crashed on every retry and the execution gave up', async () => {
    // The shift to 10% dies after Cloud Run applied it, on every retry; then Cloud Run
    // refuses the workflow's own rollback until its retries run out too.
    const offs = [
      cloud.faults.add({
        at: 'actions.crash',
        effect: 'crash',
        subject: /^api\/us-central1 setTraffic$/,
        times: 6,
      }),
      cloud.faults.add({
        at: 'run.UpdateService',
        effect: 'error',
        code: 14,
        subject: /locations\/us-central1\/services\/api$/,
        afterCalls: 7, // the deploy and the six shift attempts go through
      }),
    ];
    try {
      const push = `${API}:crashing`;
      const { done, rollout } = start(push, (r) =>
        Boolean(r.executionName && r.regions[CANARY]?.candidateRevision),
      );
      const r = await rollout;
      await cloud.workflows.settled(r.executionName!);
      const [execution] = await executions.getExecution({ name: r.executionName! });
      expect(execution.state).toBe('FAILED');
      const candidate = (await read(r.id)).regions[CANARY].candidateRevision!;
      // Unsafe until the sweeper comes: the candidate still takes 10%.
      expect(await servingIn('api', CANARY)).toMatchObject({ [candidate]: 10 });
      for (const off of offs) off();

      const report = await cloud.sweep();
      expect(report.recovered.map((s) => s.rolloutId)).toContain(r.id);
      const stable = r.regions[CANARY].stableRevision!;
      expect(await servingIn('api', CANARY)).toEqual({ [stable]: 100 });
      const after = await read(r.id);
      expect(['FAILED', 'ROLLED_BACK']).toContain(after.status);
      expect(after.regions[CANARY]).toMatchObject({ status: 'ROLLED_BACK', traffic: { [stable]: 100 } });
      await done;
    } finally {
      for (const off of offs) off();
    }
  }, 150_000);

  it('cancels a live execution that stopped beating, then rolls back', async () => {
    const push = 'us-docker.pkg.dev/e2e-project/apps/patient:v9';
    await simulate({
      policyFile,
      profilesFile,
      pushes: ['us-docker.pkg.dev/e2e-project/apps/patient:v1'],
      cloud,
      ratePerSecond: 40,
    });
    const { done, rollout } = start(push, inFirstStep);
    const r = await rollout;
    const rt = runtime();
    // The sweeper's clock two hours ahead: the held rollout's heartbeat is stale.
    const later = { now: () => new Date(Date.now() + 2 * 3600_000) };
    const report = await sweep({
      ...rolloutDeps({ rt, log: rt.log }),
      clock: later,
      outbox: rt.outbox,
      settings: DEFAULT_SWEEP_SETTINGS,
    });
    expect(report.recovered).toEqual([
      expect.objectContaining({
        rolloutId: r.id,
        reason: expect.stringMatching(/no heartbeat .* for 12\dm/),
      }),
    ]);
    const [execution] = await executions.getExecution({ name: r.executionName! });
    expect(execution.state).toBe('CANCELLED');
    expect(await servingIn('patient', CANARY)).toEqual({ [r.regions[CANARY].stableRevision!]: 100 });
    expect((await read(r.id)).status).toBe('FAILED');
    await done;
  }, 150_000);

  it('keeps Slack notices through an outage and delivers them at the next sweep', async () => {
    cloud.slack.setMode('error');
    let id: string;
    try {
      const { rollouts } = await simulate({
        policyFile,
        profilesFile,
        pushes: [`${API}:bad`],
        cloud,
        ratePerSecond: 40,
        rolloutTimeoutMs: 120_000,
      });
      id = rollouts[0].id;
      expect(rollouts[0].status).toBe('ROLLED_BACK');
      // The final notice is sent after the status is written: wait until it is queued.
      await waitFor(
        async () =>
          (await cloud.firestore.collection('slackOutbox').get()).docs.find((d) =>
            String(d.data().message?.text).includes(`Rollout ${id} of api ROLLED_BACK`),
          ),
        { timeoutMs: 20_000, what: 'the final notice in the outbox' },
      );
      expect(cloud.slack.posts.map((p) => p.text)).not.toContainEqual(
        expect.stringContaining(`Rollout ${id} `),
      );
    } finally {
      cloud.slack.setMode('ok');
    }
    const report = await cloud.sweep();
    expect(report.outbox).toEqual({ delivered: expect.any(Number), pending: 0 });
    expect(report.outbox.delivered).toBeGreaterThanOrEqual(2);
    expect(cloud.slack.posts.map((p) => p.text)).toContainEqual(
      expect.stringContaining(`Rollout ${id!} of api ROLLED_BACK`),
    );
    expect((await cloud.firestore.collection('slackOutbox').get()).size).toBe(0);
  }, 150_000);

  it('takes a superseded candidate down even when the first takeover attempt is refused', async () => {
    const older = start(`${API}:older`, inFirstStep);
    const a = await older.rollout;
    // The first attempt to take the older candidate down fails: normally the newer rollout's takeover
    // (its deploy is retried); on a slow machine the older rollout's own restore may come first.
    // Armed by that restore itself: armed now, the older rollout's own next shift could take it.
    let off = (): void => undefined;
    let armed = false;
    // The count is the whole suite's: an earlier case's UpdateService faults are in it too.
    const refusedBefore = cloud.faults.counts['run.UpdateService:error'] ?? 0;
    refuseNextRestore = () => {
      armed = true;
      off = cloud.faults.add({
        at: 'run.UpdateService',
        effect: 'error',
        code: 14,
        subject: /locations\/us-central1\/services\/api$/,
        times: 1,
      });
    };
    try {
      const { rollouts } = await simulate({
        policyFile,
        profilesFile,
        pushes: [`${API}:newer`],
        cloud,
        ratePerSecond: 40,
        rolloutTimeoutMs: 120_000,
      });
      expect(armed).toBe(true);
      expect(cloud.faults.counts['run.UpdateService:error'] - refusedBefore).toBe(1);
      const b = rollouts[0];
      expect({ status: b.status, reason: b.reason }).toEqual({
        status: 'PROMOTED',
        reason: 'promoted in every region',
      });
      const old = await read(a.id);
      expect(old.status).toBe('SUPERSEDED');
      // Taken down by whichever comes first after the refusal: the newer rollout's retried takeover,
      // or the older rollout's own next action, which is refused (superseded) and takes its
      // candidates down where the newer one has not yet. Both are the product's; on a loaded
      // machine the second one won.
      expect(old.regions[CANARY]).toMatchObject({
        status: 'ROLLED_BACK',
        reason: expect.stringMatching(new RegExp(`^(superseded by ${b.id}|rollout ${a.id} is SUPERSEDED)$`)),
      });
      expect(await servingIn('api', CANARY)).toEqual({ [`api-${b.id.slice('api-'.length)}`]: 100 });
    } finally {
      refuseNextRestore = undefined;
      off();
    }
    await older.done;
  }, 150_000);

  it('refuses a sweep without Cloud Scheduler identity', async () => {
    const res = await fetch(cloud.functions.sweeper.url, { method: 'POST' });
    expect(res.status).toBe(401);
  });
});
