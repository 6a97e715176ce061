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
});
