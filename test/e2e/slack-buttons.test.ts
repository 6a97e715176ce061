/**
 * Slack's buttons end to end: a rollout runs on the local cloud, its Slack
 * message arrives in the sink with Abort / Roll back now, and the test
 * clicks them as Slack would, with a signed `block_actions` payload through
 * the real slack-interactions function on the functions host. Each case
 * asserts the Firestore record, the traffic and what the channel sees.
 * Abort / Roll back now answer at once and the rollout-stops function
 * restores the regions afterwards (Pub/Sub push): the cases wait for its
 * final answer on the message, with a deadline.
 */
import { join } from 'node:path';
import { simulate, digestOf } from '../../emulators/simulate';
import { startLocalCloud, type LocalCloud } from '../../emulators/local-cloud';
import type { SlackPost } from '../../emulators/slack-sink';
import { signedRequest } from '../../emulators/slack-click';
import { waitFor } from '../../emulators/util';
import { describeWithEmulators } from '../helpers/emulators';
import type { TrafficRouter } from '../../functions/ports';

/**
 * Cloud Run's traffic writes, held while `held` is set: a stop's restore
 * cannot finish until released, so a test can see what answers first.
 */
class HeldTraffic {
  private release: (() => void) | undefined;
  private gate: Promise<void> = Promise.resolve();
  hold(): void {
    this.gate = new Promise((resolve) => (this.release = resolve));
  }
  open(): void {
    this.release?.();
    this.release = undefined;
  }
  wrap(router: TrafficRouter): TrafficRouter {
    return {
      getService: (ref) => router.getService(ref),
      getRevision: (ref, revision) => router.getRevision(ref, revision),
      deployRevision: (ref, input) => router.deployRevision(ref, input),
      setTraffic: async (ref, plan, opts) => {
        await this.gate;
        return router.setTraffic(ref, plan, opts);
      },
    };
  }
}

const fixtures = join(__dirname, '../fixtures/e2e');
const policyFile = join(fixtures, 'slack-policy.yaml');
const profilesFile = join(fixtures, 'profiles.json');
const API = 'us-docker.pkg.dev/e2e-project/apps/api';
const OPERATOR = { id: 'UOPS1', name: 'ops-alice' };
const STRANGER = { id: 'UOTHER9', name: 'bob' };

describeWithEmulators('Slack buttons on the local cloud', () => {
  let cloud: LocalCloud;
  const traffic = new HeldTraffic();
  beforeAll(async () => {
    cloud = await startLocalCloud({
      wrapRouter: (router) => traffic.wrap(router),
      projectId: 'e2e-slack-buttons',
      policyFile,
      speed: 40,
      reuseGoogleEmulators: true,
      cloudRun: { profilesPath: profilesFile, readyDelayMs: 100, simulateLatency: false },
    });
  }, 60_000);
  afterAll(async () => {
    traffic.open();
    await cloud?.stop();
  });

  const run = (pushes: string[]) =>
    simulate({ policyFile, profilesFile, pushes, cloud, ratePerSecond: 60, rolloutTimeoutMs: 240_000 });
  const record = async (id: string) => (await cloud.firestore.doc(`rollouts/${id}`).get()).data()!;
  const rolloutOf = (push: string, ready: (d: FirebaseFirestore.DocumentData) => boolean, what: string) =>
    waitFor(
      async () => {
        const q = await cloud.firestore.collection('rollouts').where('digest', '==', digestOf(push)).get();
        const d = q.docs[0]?.data();
        if (
          d &&
          !ready(d) &&
          ['PROMOTED', 'ROLLED_BACK', 'FAILED', 'ABORTED', 'SUPERSEDED'].includes(d.status)
        )
          throw new Error(`waiting for ${what}, rollout ${d.id} ended ${d.status}: ${d.outcomeReason}`);
        return d && ready(d) ? d : undefined;
      },
      { timeoutMs: 90_000, what },
    );
  /**
   * The intake posts "started" after it has started the execution and read the recent traffic
   * from Monitoring (functions/usecases/intake.ts, launch): the execution may be in its first
   * step by then, so the post is waited for.
   */
  const startedPost = (rolloutId: string): Promise<SlackPost> =>
    waitFor(
      () =>
        cloud.slack.posts.find((p) => p.text.includes(`Rollout ${rolloutId} `) && p.text.includes('started')),
      { timeoutMs: 20_000, what: `the "started" post of ${rolloutId}` },
    );
  const actionIds = (post: SlackPost) =>
    post.blocks
      .filter((b) => (b as { type: string }).type === 'actions')
      .flatMap((b) => (b as { elements: Array<{ action_id: string }> }).elements.map((e) => e.action_id));
  const answersTo = (post: SlackPost) => cloud.slack.answers.filter((a) => a.ts === post.ts);
  /** The rollout-stops function's answer: the message replaced a second time, after the click's own. */
  const settledText = (post: SlackPost) =>
    waitFor(() => (post.replaced?.length === 2 ? post.text : undefined), {
      timeoutMs: 90_000,
      what: 'the rollout-stops answer on the message',
    });

  it('refuses unsigned, mis-signed and stale clicks with 401, before reading them', async () => {
    const url = cloud.functions['slack-interactions'].url;
    const payload = { type: 'block_actions' };
    const now = Math.floor(Date.now() / 1000);
    const good = signedRequest(cloud.env.SLACK_SIGNING_SECRET, payload, now);
    const cases: Array<[string, Record<string, string>, string]> = [
      ['unsigned', { 'content-type': good.headers['content-type'] }, good.body],
      ['wrong secret', signedRequest('not-the-secret', payload, now).headers, good.body],
      ['stale', signedRequest(cloud.env.SLACK_SIGNING_SECRET, payload, now - 301).headers, good.body],
      ['body changed', good.headers, good.body.replace('block_actions', 'block_actionz')],
    ];
    for (const [what, headers, body] of cases) {
      const res = await fetch(url, { method: 'POST', headers, body });
      expect({ what, status: res.status }).toEqual({ what, status: 401 });
    }
    // Signed correctly it gets past the check, and the payload itself is then refused for what it lacks.
    const res = await fetch(url, { method: 'POST', headers: good.headers, body: good.body });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toMatch(
      /^invalid interaction payload: payload\.user/,
    );
  });

  it('Abort: refused for a stranger, then stops the rollout for an operator, answering before any region is restored; a second click changes nothing', async () => {
    const push = `${API}:v2`;
    const done = run([`${API}:v1`, push]);
    const running = await rolloutOf(push, (d) => d.regions?.['us-central1']?.steps?.length > 0, 'first step');
    const post = await startedPost(running.id);
    expect(actionIds(post)).toEqual(['gp_abort', 'gp_rollback']);

    const refused = await cloud.click(post, 'gp_abort', STRANGER);
    expect(refused.status).toBe(200);
    expect(answersTo(post)).toEqual([
      expect.objectContaining({
        ephemeral: true,
        replaceOriginal: false,
        text: expect.stringMatching(
          /^<@UOTHER9> may not Abort rollout .* only the operators of api may \(<@UOPS1>\)/,
        ),
      }),
    ]);
    expect((await record(running.id)).status).toBe('RUNNING');

    // Every traffic write is held: the click must be answered all the same (Slack allows 3 s).
    traffic.hold();
    let clicked: { status: number; body: unknown } | undefined;
    const clicking = cloud.click(post, 'gp_abort', OPERATOR).then((r) => (clicked = r));
    try {
      await waitFor(() => clicked, { timeoutMs: 30_000, what: 'the click answered while restores are held' });
    } finally {
      // Released only now: with the restore inside the request, the click above never answers.
      traffic.open();
    }
    await clicking;
    expect(clicked).toMatchObject({ status: 200, body: { outcome: 'decided' } });
    const doc = await record(running.id);
    expect(doc.status).toBe('ABORTED');
    expect(doc.outcomeReason).toMatch(
      /^aborted by ops-alice \(Slack UOPS1\) with the Abort button at \d{4}-/,
    );
    // The channel's message says who stopped it, without buttons; then the worker's result replaces it.
    expect(await settledText(post)).toMatch(
      /🛑 Aborted by <@UOPS1> at .*: rollout .* is ABORTED, 1 region restored$/,
    );
    expect(post.replaced![1].text).toMatch(/🛑 Aborting: stopped by <@UOPS1> at .*, restoring 1 region$/);
    expect(actionIds(post)).toEqual([]);
    expect((await record(running.id)).regions['us-central1'].status).toBe('ROLLED_BACK');

    const [r] = (await done).rollouts.slice(-1);
    expect(r.status).toBe('ABORTED');
    expect(r.regions['us-central1'].traffic).toEqual({ [doc.regions['us-central1'].stableRevision]: 100 });

    // A second click on the (stale) message: nothing changes, and only the clicker is told.
    const again = await cloud.click({ ...post, blocks: post.replaced![0].blocks }, 'gp_abort', OPERATOR);
    expect(again).toMatchObject({ status: 200, body: { outcome: 'unchanged' } });
    expect(answersTo(post).slice(-1)[0]).toMatchObject({
      ephemeral: true,
      text: expect.stringMatching(/already ended ABORTED \(aborted by ops-alice/),
    });
    expect((await record(running.id)).outcomeReason).toBe(doc.outcomeReason);
  }, 180_000);

  it('Roll back now: after the first wave promoted, every region it touched goes back to the previous revision', async () => {
    const push = `${API}:v3`;
    const done = run([push]);
    const running = await rolloutOf(
      push,
      (d) =>
        d.regions?.['us-central1']?.status === 'PROMOTED' && d.regions?.['europe-west1']?.steps?.length > 0,
      'first wave promoted, second wave shifting',
    );
    const post = await startedPost(running.id);
    const clicked = await cloud.click(post, 'gp_rollback', OPERATOR);
    expect(clicked).toMatchObject({ status: 200, body: { outcome: 'decided' } });
    expect(await settledText(post)).toMatch(
      /⏪ Rolled back by <@UOPS1> at .*: rollout .* is ROLLED_BACK, 2 regions restored$/,
    );
    const [r] = (await done).rollouts;
    expect(r.status).toBe('ROLLED_BACK');
    const doc = await record(running.id);
    expect(doc.outcomeReason).toMatch(
      /^rolled back by ops-alice \(Slack UOPS1\) with the Roll back now button/,
    );
    for (const region of ['us-central1', 'europe-west1']) {
      expect(doc.regions[region].status).toBe('ROLLED_BACK');
      // Cloud Run's own answer to the restore, recorded by the worker once the operation was done.
      expect(doc.regions[region].traffic).toEqual({ [doc.regions[region].stableRevision]: 100 });
    }
    expect(r.regions['europe-west1'].traffic).toEqual({ [doc.regions['europe-west1'].stableRevision]: 100 });
    // A person rolled it back from Slack: nobody is paged for it.
    expect(cloud.pagerduty.events.filter((e) => e.dedup_key === `glidepath/rollout/${running.id}`)).toEqual(
      [],
    );
  }, 180_000);

  it('PagerDuty: a rollback in production pages; the next rollout that promotes resolves it', async () => {
    const bad = await run([`${API}:bad`]);
    const [rolledBack] = bad.rollouts;
    expect(rolledBack.status).toBe('ROLLED_BACK');
    const key = `glidepath/rollout/${rolledBack.id}`;
    expect(cloud.pagerduty.events.filter((e) => e.dedup_key === key)).toEqual([
      expect.objectContaining({
        event_action: 'trigger',
        routing_key: cloud.env.PAGERDUTY_ROUTING_KEY,
        payload: expect.objectContaining({
          severity: 'critical',
          source: 'run.googleapis.com/projects/e2e-project/services/api',
          summary: expect.stringMatching(
            new RegExp(`^api: rollout ${rolledBack.id} rolled back in production: `),
          ),
        }),
      }),
    ]);
    expect(cloud.pagerduty.open()).toContain(key);

    const good = await run([`${API}:v4`]);
    expect(good.rollouts[0].status).toBe('PROMOTED');
    expect(cloud.pagerduty.events.filter((e) => e.dedup_key === key).map((e) => e.event_action)).toEqual([
      'trigger',
      'resolve',
    ]);
    expect(cloud.pagerduty.open()).toEqual([]);
  }, 240_000);
});
