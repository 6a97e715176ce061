import { join } from 'node:path';
import { describeWithEmulators } from '../helpers/emulators';
import { simulate } from '../../emulators/simulate';
import { startLocalCloud, type LocalCloud } from '../../emulators/local-cloud';

const fixtures = join(__dirname, '../fixtures/e2e');
const policyFile = join(fixtures, 'policy.yaml');
const profilesFile = join(fixtures, 'profiles.json');
const API = 'us-docker.pkg.dev/e2e-project/apps/api';

describeWithEmulators('rollout end to end on the local cloud', () => {
  let cloud: LocalCloud;
  beforeAll(async () => {
    cloud = await startLocalCloud({
      projectId: 'e2e-rollout',
      policyFile,
      speed: 40,
      reuseGoogleEmulators: true,
      cloudRun: { profilesPath: profilesFile, readyDelayMs: 100, simulateLatency: false },
    });
  }, 60_000);
  afterAll(() => cloud?.stop());

  const run = (pushes: string[]) =>
    simulate({ policyFile, profilesFile, pushes, cloud, ratePerSecond: 60, rolloutTimeoutMs: 120_000 });

  it('promotes a good image across both waves', async () => {
    const result = await run([`${API}:v1`, `${API}:v2`]);
    const [r] = result.rollouts;
    expect(r.status).toBe('PROMOTED');
    for (const region of ['us-central1', 'europe-west1', 'asia-southeast1']) {
      expect(r.regions[region].status).toBe('PROMOTED');
      const traffic = Object.entries(r.regions[region].traffic);
      expect(traffic).toHaveLength(1);
      expect(traffic[0][1]).toBe(100);
      expect(traffic[0][0]).toMatch(/^api-/);
    }
    const doc = (await cloud.firestore.doc(`rollouts/${r.id}`).get()).data()!;
    expect(doc.regions['us-central1'].steps.map((s: { verdict: string }) => s.verdict)).toEqual(['PASS', 'PASS']);
    expect(result.slack.some((t) => t.includes('promoted in us-central1'))).toBe(true);
  }, 180_000);
});
