/**
 * `glidepath simulate` with job images in `--push` (issue 17): each push is a
 * real `gcr` event through the intake function, the `job-rollout` workflow on
 * the Workflows emulator and the actions against the Cloud Run emulator's
 * jobs; the summary lists each job rollout with the image every region's job
 * runs afterwards.
 */
import { join } from 'node:path';
import { describeWithEmulators } from '../helpers/emulators';
import { simulate, digestOf } from '../../emulators/simulate';
import { startLocalCloud, type LocalCloud } from '../../emulators/local-cloud';
import { summarize } from '../../cli/commands/simulate';

const policyFile = join(__dirname, '../fixtures/e2e/jobs.policy.yaml');
const profilesFile = join(__dirname, '../fixtures/e2e/jobs.profiles.json');
const LEDGER = 'us-docker.pkg.dev/e2e-jobs/jobs/ledger';
const pinned = (tag: string) => `${LEDGER}@${digestOf(`${LEDGER}:${tag}`)}`;

describeWithEmulators('simulate: job image pushes', () => {
  let cloud: LocalCloud;
  beforeAll(async () => {
    cloud = await startLocalCloud({
      projectId: 'e2e-jobs',
      policyFile,
      speed: 40,
      reuseGoogleEmulators: true,
      cloudRun: { readyDelayMs: 100, simulateLatency: false, profilesPath: profilesFile },
    });
  }, 60_000);
  afterAll(async () => {
    await cloud?.stop();
  });

  it('creates the job on its first push, rolls out a good image everywhere, and rolls back a failing one in the first region only', async () => {
    const result = await simulate({
      policyFile,
      profilesFile,
      pushes: [`${LEDGER}:v1`, `${LEDGER}:v2`, `${LEDGER}:v3-oom`],
      cloud,
      rolloutTimeoutMs: 120_000,
    });
    expect(result.rollouts).toEqual([]);
    const { jobRollouts } = summarize(result);
    // v1 created the job: a setup, not a rollout.
    expect(jobRollouts).toHaveLength(2);
    const [good, bad] = jobRollouts;
    expect(good).toMatchObject({ job: 'ledger', image: pinned('v2'), status: 'SUCCEEDED' });
    expect(good.regions).toEqual({
      'us-central1': { status: 'VERIFIED', image: pinned('v2') },
      'europe-west1': { status: 'VERIFIED', image: pinned('v2') },
      'asia-southeast1': { status: 'VERIFIED', image: pinned('v2') },
    });
    expect(bad).toMatchObject({ job: 'ledger', image: pinned('v3-oom'), status: 'FAILED' });
    expect(bad.reason).toMatch(/^us-central1 \[out-of-memory\]: verification failed: /);
    expect(bad.regions['us-central1']).toMatchObject({
      status: 'RESTORED',
      image: pinned('v2'),
      failureClass: 'out-of-memory',
    });
    // The later wave is never touched: still v2, never updated.
    expect(bad.regions['europe-west1']).toEqual({ status: 'PENDING', image: pinned('v2') });
    expect(bad.regions['asia-southeast1']).toEqual({ status: 'PENDING', image: pinned('v2') });
    expect(result.slack).toContainEqual(
      expect.stringMatching(/Job ledger now runs (\S+:)?v2 in us-central1, europe-west1, asia-southeast1/),
    );
    expect(result.slack).toContainEqual(
      expect.stringMatching(/Job ledger: image (\S+:)?v3-oom was rolled back/),
    );
  }, 200_000);
});
