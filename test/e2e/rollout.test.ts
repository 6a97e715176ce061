/**
 * End-to-end rollouts through simulate's machinery: the real intake and
 * actions functions, the real workflow YAML on the Workflows emulator, the
 * Cloud Run emulator under load, Google's emulators and the Slack sink.
 * Every case asserts the final traffic per region and the Firestore record.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServicesClient } from '@google-cloud/run';
import { describeWithEmulators } from '../helpers/emulators';
import { simulate, digestOf, type SimulatedRollout } from '../../emulators/simulate';
import { startLocalCloud, type LocalCloud } from '../../emulators/local-cloud';
import { waitFor } from '../../emulators/util';
import { localClientOptions } from '../../functions/shared/endpoint';
import { abort } from '../../functions/usecases/rollout';
import { rolloutDeps } from '../../functions/actions/rollout';
import { runtime } from '../../functions/entry/runtime';
import type { TrafficRouter } from '../../functions/ports';

const fixtures = join(__dirname, '../fixtures/e2e');
const policyFile = join(fixtures, 'policy.yaml');
const profilesFile = join(fixtures, 'profiles.json');
const API = 'us-docker.pkg.dev/e2e-project/apps/api';
const WEB = 'us-docker.pkg.dev/e2e-project/apps/web';
const ALL = ['us-central1', 'europe-west1', 'asia-southeast1'];

describeWithEmulators('rollout end to end on the local cloud', () => {
  let cloud: LocalCloud;
  let services: ServicesClient;
  /** While set, traffic writes that promote (LATEST at 100%) wait for it to resolve; all else passes. */
  let promotionsHeld: Promise<void> | undefined;
  const wrapRouter = (router: TrafficRouter): TrafficRouter => ({
    ...router,
    setTraffic: async (ref, plan, opts) => {
      const held = promotionsHeld;
      if (held) {
        const current = await router.getService(ref);
        if (current && plan(current).some((t) => t.type === 'LATEST' && t.percent === 100)) await held;
      }
      return router.setTraffic(ref, plan, opts);
    },
  });
  beforeAll(async () => {
    cloud = await startLocalCloud({
      wrapRouter,
      projectId: 'e2e-rollout',
      policyFile,
      speed: 40,
      reuseGoogleEmulators: true,
      reportDir: mkdtempSync(join(tmpdir(), 'glidepath-e2e-reports-')),
      cloudRun: { profilesPath: profilesFile, readyDelayMs: 100, simulateLatency: false },
    });
    services = new ServicesClient(localClientOptions(cloud.cloudRun.grpcHost));
  }, 60_000);
  afterAll(async () => {
    await services?.close();
    await cloud?.stop();
  });

  const run = (pushes: string[], overlap = false) =>
    simulate({
      policyFile,
      profilesFile,
      pushes,
      cloud,
      overlap,
      ratePerSecond: 60,
      rolloutTimeoutMs: 240_000,
    });
  const record = async (id: string) => (await cloud.firestore.doc(`rollouts/${id}`).get()).data()!;
  const onlyRevision = (r: SimulatedRollout, region: string) => {
    const traffic = Object.entries(r.regions[region].traffic);
    expect(traffic).toHaveLength(1);
    expect(traffic[0][1]).toBe(100);
    return traffic[0][0];
  };
  const revisionOf = (rolloutId: string) => `api-${rolloutId.slice('api-'.length)}`;

  it('promotes a good image across both waves', async () => {
    const { rollouts, slack } = await run([`${API}:v1`, `${API}:v2`]);
    const [r] = rollouts;
    // The reason is part of the expectation so that a rollback says why.
    expect({ status: r.status, reason: r.reason }).toEqual({
      status: 'PROMOTED',
      reason: 'promoted in every region',
    });
    for (const region of ALL) {
      expect(r.regions[region].status).toBe('PROMOTED');
      expect(onlyRevision(r, region)).toBe(revisionOf(r.id));
    }
    const doc = await record(r.id);
    expect(doc.regions['us-central1'].steps.map((s: { verdict: string }) => s.verdict)).toEqual([
      'PASS',
      'PASS',
    ]);
    expect(doc.regions['us-central1'].stableRevision).toMatch(/^api-0000/);
    // With Cloud Monitoring's delay on (180 s after each 60 s sample, at 40×), every look judges
    // one window from the first shift to the delay ago, and the promoting look covers the last bake.
    const looks = (await cloud.firestore.collection(`rollouts/${r.id}/looks`).get()).docs.map(
      (d) =>
        d.data() as {
          region: string;
          step: number;
          at: string;
          windowStart: string;
          windowEnd: string;
          action: string;
        },
    );
    for (const region of ALL) {
      const steps = doc.regions[region].steps as Array<{ startedAt: string }>;
      const mine = looks.filter((l) => l.region === region).sort((a, b) => a.at.localeCompare(b.at));
      expect(mine.length).toBeGreaterThan(steps.length);
      for (const l of mine) expect(l.windowStart).toBe(steps[0].startedAt);
      // A look before any sample is visible judges an empty window.
      for (const l of mine.filter((x) => x.windowEnd !== x.windowStart))
        expect(Date.parse(l.windowEnd)).toBeLessThanOrEqual(Date.parse(l.at) - 180_000 / 40);
      const promoting = mine[mine.length - 1];
      expect(promoting).toMatchObject({ step: 1, action: 'PASS' });
      expect(Date.parse(promoting.windowEnd)).toBeGreaterThanOrEqual(
        Date.parse(steps[1].startedAt) + 120_000 / 40,
      );
    }
    expect((await cloud.firestore.doc('services/api').get()).data()).toMatchObject({
      activeRollout: null,
      candidates: {},
    });
    expect(slack.some((t) => t.includes('promoted in us-central1'))).toBe(true);
  }, 180_000);

  it('rolls back a bad image in the canary region and leaves later waves untouched', async () => {
    const before = await services.getService({
      name: 'projects/e2e-project/locations/europe-west1/services/api',
    });
    const { rollouts, slack } = await run([`${API}:bad`]);
    const [r] = rollouts;
    expect(r.status).toBe('ROLLED_BACK');
    const doc = await record(r.id);
    const stable = doc.regions['us-central1'].stableRevision;
    expect(onlyRevision(r, 'us-central1')).toBe(stable);
    expect(doc.regions['us-central1'].status).toBe('ROLLED_BACK');
    expect(doc.regions['europe-west1']).toBeUndefined();
    expect(doc.regions['asia-southeast1']).toBeUndefined();
    const after = await services.getService({
      name: 'projects/e2e-project/locations/europe-west1/services/api',
    });
    expect(after[0].generation).toBe(before[0].generation);
    expect((await cloud.firestore.doc('services/api').get()).data()).toMatchObject({
      lastFailedDigest: digestOf(`${API}:bad`),
    });
    expect(slack.some((t) => t.includes('rolled back in us-central1'))).toBe(true);

    // What the judge saw is kept with the rollout: the look that rolled back is a FAIL, and its
    // series show the divergence (the bad image answers 5xx far more often than the stable one).
    const looks = (await cloud.firestore.collection(`rollouts/${r.id}/looks`).get()).docs.map(
      (d) =>
        d.data() as {
          region: string;
          action: string;
          reasons: string[];
          canary: { requests: number[]; errors: number[] };
          stable: { requests: number[]; errors: number[] };
        },
    );
    const failing = looks.filter((l) => l.action === 'FAIL');
    expect(failing).toHaveLength(1);
    const [fail] = failing;
    expect(fail.region).toBe('us-central1');
    const rate = (s: { requests: number[]; errors: number[] }) =>
      s.errors.reduce((a, b) => a + b, 0) /
      Math.max(
        1,
        s.requests.reduce((a, b) => a + b, 0),
      );
    expect(rate(fail.canary)).toBeGreaterThan(rate(fail.stable) + 0.05);
    // The report is written at the end, holds that look, and the final Slack message links to it.
    expect(r.report).toBeDefined();
    const html = readFileSync(r.report!, 'utf8');
    expect(html).toContain(r.id);
    expect(html).toContain('ROLLED_BACK');
    expect(html).toContain('FAIL');
    const final = cloud.slack.posts.find(
      (p) => p.text.includes(r.id) && JSON.stringify(p).includes(r.report!),
    );
    expect(final).toBeDefined();
  }, 180_000);

  it('fails a region whose revision never becomes ready, with traffic untouched', async () => {
    const { rollouts } = await run([`${API}:crash`]);
    const [r] = rollouts;
    expect(r.status).toBe('ROLLED_BACK');
    expect(r.reason).toMatch(/did not become ready/);
    const doc = await record(r.id);
    expect(onlyRevision(r, 'us-central1')).toBe(doc.regions['us-central1'].stableRevision);
  }, 120_000);

  it('rolls back when the smoke test fails on the tag URL', async () => {
    const { rollouts } = await run([`${API}:sick`]);
    const [r] = rollouts;
    expect(r.status).toBe('ROLLED_BACK');
    expect(r.reason).toMatch(/smoke test failed: GET \/health expected 200, got 503, 503/);
    const doc = await record(r.id);
    expect(onlyRevision(r, 'us-central1')).toBe(doc.regions['us-central1'].stableRevision);
  }, 120_000);

  it('supersedes a running rollout: one candidate per region, the newer image wins', async () => {
    // The older rollout may not promote before the newer image's intake has superseded it: on a
    // stalled machine it once did (its steps take seconds at 40×), and nothing was superseded.
    let release = (): void => undefined;
    promotionsHeld = new Promise((resolve) => (release = resolve));
    const running = run([`${API}:v3`, `${API}:v4`], true);
    running.catch(() => undefined); // awaited below; a failure meanwhile is reported there
    try {
      await waitFor(
        async () => {
          const q = await cloud.firestore
            .collection('rollouts')
            .where('digest', '==', digestOf(`${API}:v3`))
            .get();
          return q.docs[0]?.data().status === 'SUPERSEDED';
        },
        { timeoutMs: 120_000, what: 'the older rollout to be superseded' },
      );
    } finally {
      promotionsHeld = undefined;
      release();
    }
    const { rollouts } = await running;
    const [old, next] = rollouts;
    expect(old.status).toBe('SUPERSEDED');
    expect({ status: next.status, reason: next.reason }).toEqual({
      status: 'PROMOTED',
      reason: 'promoted in every region',
    });
    for (const region of ALL) expect(onlyRevision(next, region)).toBe(revisionOf(next.id));
    const oldDoc = await record(old.id);
    for (const region of Object.keys(oldDoc.regions))
      expect(['ROLLED_BACK', 'FAILED']).toContain(oldDoc.regions[region].status);
  }, 180_000);

  it('rolls back promoted regions too when rollbackPromotedRegions is on', async () => {
    await run([`${WEB}:v1`]);
    // web's second wave fails: its europe-west1 service is gone.
    const [op] = await services.deleteService({
      name: 'projects/e2e-project/locations/europe-west1/services/web',
    });
    await op.promise();
    const { rollouts } = await run([`${WEB}:v2`]);
    const [r] = rollouts;
    expect(r.reason).toMatch(/europe-west1: service web not found in europe-west1; create it first/);
    expect(r.status).toBe('ROLLED_BACK');
    const doc = await record(r.id);
    expect(doc.regions['europe-west1']).toMatchObject({
      status: 'FAILED',
      reason: 'service web not found in europe-west1; create it first',
    });
    expect(doc.regions['us-central1'].status).toBe('ROLLED_BACK');
    const [svc] = await services.getService({
      name: 'projects/e2e-project/locations/us-central1/services/web',
    });
    const serving = (svc.traffic ?? []).filter((t) => (t.percent ?? 0) > 0);
    expect(serving).toEqual([
      expect.objectContaining({ revision: doc.regions['us-central1'].stableRevision, percent: 100 }),
    ]);
  }, 180_000);

  it('aborts a rollout: execution cancelled, candidate traffic restored', async () => {
    const push = `${API}:v5`;
    const digest = digestOf(push);
    const done = run([push]);
    const rolloutDoc = await waitFor(
      async () => {
        const q = await cloud.firestore.collection('rollouts').where('digest', '==', digest).get();
        const d = q.docs[0]?.data();
        return d?.regions?.['us-central1']?.steps?.length ? d : undefined;
      },
      { timeoutMs: 60_000, what: 'rollout in its first step' },
    );
    const rt = runtime();
    const aborted = await abort(rolloutDeps({ rt, log: rt.log }), rolloutDoc.id, 'e2e test');
    expect(aborted.status).toBe('ABORTED');
    const [r] = (await done).rollouts;
    expect(r.status).toBe('ABORTED');
    expect(onlyRevision(r, 'us-central1')).toBe(aborted.regions['us-central1'].stableRevision);
    expect(aborted.regions['us-central1'].status).toBe('ROLLED_BACK');
  }, 180_000);

  it('rolls back INCONCLUSIVE under onInconclusive: fail as soon as minRequests is out of reach', async () => {
    const { rollouts } = await run([
      'us-docker.pkg.dev/e2e-project/apps/quiet:v1',
      'us-docker.pkg.dev/e2e-project/apps/quiet:v2',
    ]);
    const [r] = rollouts;
    expect(r.status).toBe('ROLLED_BACK');
    expect(r.reason).toMatch(
      /step 1 INCONCLUSIVE after \d extensions: \[minRequests 1000000 is out of reach/,
    );
    const doc = await record(r.id);
    expect(doc.regions['us-central1'].steps[0]).toMatchObject({ verdict: 'INCONCLUSIVE' });
    expect(Object.values(r.regions['us-central1'].traffic)).toEqual([100]);
    expect(Object.keys(r.regions['us-central1'].traffic)).toEqual([
      doc.regions['us-central1'].stableRevision,
    ]);
  }, 120_000);

  it('keeps holding past maxExtensions under onInconclusive: hold, never promoting', async () => {
    const setup = 'us-docker.pkg.dev/e2e-project/apps/patient:v1';
    const push = 'us-docker.pkg.dev/e2e-project/apps/patient:v2';
    await run([setup]);
    const done = run([push]);
    const held = await waitFor(
      async () => {
        const q = await cloud.firestore.collection('rollouts').where('digest', '==', digestOf(push)).get();
        const d = q.docs[0]?.data();
        return d?.regions?.['us-central1']?.steps?.[0]?.extensions > 3 ? d : undefined;
      },
      { timeoutMs: 60_000, what: 'a held step past maxExtensions (2)' },
    );
    expect(held.status).toBe('RUNNING');
    expect(held.regions['us-central1']).toMatchObject({ status: 'SHIFTING' });
    expect(held.regions['us-central1'].steps[0].verdict).toBe('INCONCLUSIVE');
    const rt = runtime();
    await abort(rolloutDeps({ rt, log: rt.log }), held.id, 'e2e test');
    const [r] = (await done).rollouts;
    expect(r.status).toBe('ABORTED');
    expect(Object.keys(r.regions['us-central1'].traffic)).toEqual([
      held.regions['us-central1'].stableRevision,
    ]);
  }, 120_000);

  it('refuses an actions call without the workflow identity', async () => {
    const res = await fetch(`${cloud.functions.actions.url}/deploy`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer forged.token.here' },
      body: JSON.stringify({ rolloutId: 'api-x', region: 'us-central1' }),
    });
    expect(res.status).toBe(403);
    const anonymous = await fetch(`${cloud.functions.actions.url}/deploy`, { method: 'POST', body: '{}' });
    expect(anonymous.status).toBe(401);
  });

  it('finishes a rollout during a Slack outage', async () => {
    cloud.slack.setMode('error');
    try {
      const { rollouts } = await run([`${API}:v6`]);
      expect({ status: rollouts[0].status, reason: rollouts[0].reason }).toEqual({
        status: 'PROMOTED',
        reason: 'promoted in every region',
      });
    } finally {
      cloud.slack.setMode('ok');
    }
  }, 180_000);
});
