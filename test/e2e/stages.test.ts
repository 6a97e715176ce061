/**
 * Issue 16 end to end on the local cloud: staging (0% → smoke → 100%, no
 * canary), an approval gate whose message is answered by a signed Slack click
 * through the real interaction function, then the production canary; a
 * rejection leaves production untouched. Every part is the real one: intake,
 * the rollout workflow on the Workflows emulator with its callback, the
 * actions, Firestore, the Cloud Run emulator.
 */
import { join } from 'node:path';
import { describeWithEmulators } from '../helpers/emulators';
import { simulate } from '../../emulators/simulate';
import { startLocalCloud, type LocalCloud } from '../../emulators/local-cloud';

const policyFile = join(__dirname, '../fixtures/e2e/staged.policy.yaml');
const SHOP = 'us-docker.pkg.dev/e2e-staged/apps/shop';
const CART = 'us-docker.pkg.dev/e2e-staged/apps/cart';

describeWithEmulators('stages and an approval gate', () => {
  let cloud: LocalCloud;
  beforeAll(async () => {
    cloud = await startLocalCloud({
      projectId: 'e2e-staged',
      policyFile,
      speed: 40,
      reuseGoogleEmulators: true,
      cloudRun: { readyDelayMs: 100, simulateLatency: false },
    });
  }, 60_000);
  afterAll(async () => {
    await cloud?.stop();
  });

  it('runs staging, waits at the gate, and an approval click runs the production canary', async () => {
    const { rollouts } = await simulate({
      policyFile,
      pushes: [`${SHOP}:v1`, `${SHOP}:v2`],
      cloud,
      ratePerSecond: 60,
      rolloutTimeoutMs: 150_000,
      answerGates: 'approve',
    });
    expect(rollouts).toHaveLength(1);
    const [r] = rollouts;
    expect(r.status).toBe('PROMOTED');
    expect(r.stages).toEqual([
      { name: 'staging', outcome: 'PROMOTED' },
      {
        name: 'production',
        outcome: 'PROMOTED',
        gate: { name: 'before-production', status: 'APPROVED', decidedBy: 'U0LEAD (Slack U0LEAD)' },
      },
    ]);
    expect(r.regions['us-west1'].status).toBe('PROMOTED');
    expect(r.regions['us-central1'].status).toBe('PROMOTED');
    // The approval message went out with its buttons, and the thread records who decided.
    const texts = cloud.slack.posts.map((p) => p.text);
    expect(texts).toContainEqual(expect.stringMatching(/approval needed to start stage production/));
    expect(texts).toContainEqual(
      expect.stringMatching(/approved gate before-production of shop .* by U0LEAD/),
    );
  }, 200_000);

  it('a rejection ends the rollout REJECTED after staging; production keeps its revision', async () => {
    const { rollouts } = await simulate({
      policyFile,
      pushes: [`${SHOP}:v3`],
      cloud,
      ratePerSecond: 60,
      rolloutTimeoutMs: 150_000,
      answerGates: 'reject',
    });
    const [r] = rollouts;
    expect(r.status).toBe('REJECTED');
    expect(r.reason).toMatch(/gate before-production rejected by U0LEAD \(Slack U0LEAD\)/);
    expect(r.stages).toEqual([
      { name: 'staging', outcome: 'PROMOTED' },
      {
        name: 'production',
        outcome: 'NOT_STARTED',
        gate: { name: 'before-production', status: 'REJECTED', decidedBy: 'U0LEAD (Slack U0LEAD)' },
      },
    ]);
    expect(r.regions['us-central1'].status).toBe('UNTOUCHED');
  }, 200_000);

  it('a Reject during the production canary, held at its last step before promotion, restores both regions and leaves one consistent record and thread', async () => {
    const { rollouts } = await simulate({
      policyFile,
      pushes: [`${CART}:v1`, `${CART}:v2`],
      cloud,
      ratePerSecond: 60,
      rolloutTimeoutMs: 150_000,
      answerGates: 'reject',
    });
    expect(rollouts).toHaveLength(1);
    const [r] = rollouts;
    const why =
      /^gate promote-production rejected by U0LEAD \(Slack U0LEAD\): Reject clicked in Slack; the canary of stage production rolled back/;
    expect(r.status).toBe('REJECTED');
    expect(r.reason).toMatch(why);
    expect(r.stages).toEqual([
      { name: 'staging', outcome: 'PROMOTED' },
      {
        name: 'production',
        outcome: 'ROLLED_BACK',
        gate: { name: 'promote-production', status: 'REJECTED', decidedBy: 'U0LEAD (Slack U0LEAD)' },
      },
    ]);

    // Firestore: the gate's decision once, with who and why, and its callback delivered; each
    // production region ran its canary to 50%, passed, held, and went back to its stable revision.
    const record = (await cloud.firestore.doc(`rollouts/${r.id}`).get()).data()!;
    expect(record.gates['promote-production']).toMatchObject({
      status: 'REJECTED',
      decision: 'reject',
      decidedBy: { via: 'slack', id: 'U0LEAD' },
      reason: 'Reject clicked in Slack',
      callbackSentAt: expect.any(String),
    });
    for (const region of ['us-central1', 'us-east1']) {
      const rec = record.regions[region];
      expect(rec.status).toBe('ROLLED_BACK');
      expect(rec.reason).toMatch(why);
      expect(rec.steps.map((s: { percent: number; verdict?: string }) => [s.percent, s.verdict])).toEqual([
        [50, 'PASS'],
      ]);
      // Cloud Run itself: the stable revision serves everything again, the candidate nothing.
      expect(rec.stableRevision).toEqual(expect.any(String));
      expect(r.regions[region]).toMatchObject({
        status: 'ROLLED_BACK',
        traffic: { [rec.stableRevision]: 100 },
      });
      expect(Object.keys(r.regions[region].traffic)).toEqual([rec.stableRevision]);
    }
    expect(r.regions['us-west1'].status).toBe('PROMOTED');

    // Slack: the approval message (its buttons replaced by the decision), the decision, each
    // region's rollback, then the end, in that order, and no promotion in production.
    const posts = cloud.slack.posts.filter((p) => p.text.includes('cart'));
    const at = (pattern: RegExp): number => {
      const i = posts.findIndex((p) => pattern.test(p.text));
      expect({ pattern: String(pattern), found: i >= 0 }).toEqual({ pattern: String(pattern), found: true });
      return i;
    };
    const order = [
      at(/approval needed to promote stage production/),
      at(/rejected gate promote-production of cart .* by U0LEAD/),
      Math.max(at(/cart rolled back in us-central1/), at(/cart rolled back in us-east1/)),
      at(new RegExp(`Rollout ${r.id} of cart REJECTED`)),
    ];
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(posts.filter((p) => /cart promoted in us-(central1|east1)/.test(p.text))).toEqual([]);
    const approval = posts[order[0]];
    expect(approval.replaced).toHaveLength(1);
    expect(approval.blocks.some((b) => (b as { type: string }).type === 'actions')).toBe(false);
    expect(JSON.stringify(approval.blocks)).toContain('Rejected by <@U0LEAD>');
  }, 200_000);
});
