/** Job image rollouts, the pure half: policy, intake's decision, the template change, the record. */
import { decideIntake } from '../../../functions/domain/intake';
import { parsePolicy } from '../../../functions/domain/policy';
import {
  JobRolloutRecord,
  jobRolloutId,
  newJobRollout,
  toJobRolloutDocument,
  withImage,
} from '../../../functions/domain/job-rollout';

const REPO = 'us-docker.pkg.dev/my-project/jobs/report';
const DIGEST = `sha256:${'a'.repeat(64)}`;
const base = { name: 'report', project: 'my-project', region: 'us-central1', schedule: '0 2 * * *' };

describe('the policy of a job image', () => {
  it('accepts an image with tag filters, waves and a verification, and fills the verification timeout', () => {
    const [job] = parsePolicy({
      jobs: [
        {
          ...base,
          image: REPO,
          tags: ['^v'],
          waves: [['us-central1'], ['europe-west1', 'asia-east1']],
          verify: { args: ['--dry-run'], env: { MODE: 'verify' } },
        },
      ],
    }).jobs;
    expect(job.verify).toEqual({ args: ['--dry-run'], env: { MODE: 'verify' }, timeout: 600 });
  });

  it('refuses tags, waves or verify without image, naming the field', () => {
    expect(() => parsePolicy({ jobs: [{ ...base, verify: { timeout: '1m' } }] })).toThrow(
      'jobs[0].verify: expected only with jobs[].image (the repository whose pushes roll out), got verify without image',
    );
    expect(() => parsePolicy({ jobs: [{ ...base, waves: [['us-central1']] }] })).toThrow(
      /jobs\[0\]\.waves: expected only with/,
    );
  });

  it("refuses waves that leave out the job's own region, a region twice, a bad repository, and unknown verify fields", () => {
    expect(() => parsePolicy({ jobs: [{ ...base, image: REPO, waves: [['europe-west1']] }] })).toThrow(
      "jobs[0].waves: expected the job's own region us-central1 in one of its waves (its scheduled runs use that region's template), got europe-west1",
    );
    expect(() =>
      parsePolicy({ jobs: [{ ...base, image: REPO, waves: [['us-central1'], ['us-central1']] }] }),
    ).toThrow(/jobs\[0\]\.waves\.1\.0|expected each region once, got us-central1 again/);
    expect(() => parsePolicy({ jobs: [{ ...base, image: `${REPO}:v1` }] })).toThrow(
      /jobs\[0\]\.image: expected an image repository path/,
    );
    expect(() => parsePolicy({ jobs: [{ ...base, image: REPO, verify: { command: ['x'] } }] })).toThrow(
      /jobs\[0\]\.verify/,
    );
  });
});

describe("intake of a job's image", () => {
  const policy = parsePolicy({ jobs: [{ ...base, image: REPO, tags: ['^v\\d'] }] });
  const gcr = (repository: string, tag: string) => ({
    data: Buffer.from(
      JSON.stringify({ action: 'INSERT', digest: `${repository}@${DIGEST}`, tag: `${repository}:${tag}` }),
    ).toString('base64'),
    messageId: '1',
  });

  it('a push of its repository with a matching tag is a job rollout', () => {
    const decision = decideIntake(policy, 'gcr', gcr(REPO, 'v2'));
    expect(decision).toMatchObject({
      outcome: 'rollout',
      requests: [],
      jobRequests: [{ job: { name: 'report' }, repository: REPO, digest: DIGEST, tag: 'v2', source: 'gcr' }],
    });
    expect(decision.reason).toBe(`job report ← ${REPO}@${DIGEST.slice(0, 19)}`);
  });

  it('a tag outside the filters, and an image of a look-alike repository, are ignored with the reason', () => {
    expect(decideIntake(policy, 'gcr', gcr(REPO, 'nightly'))).toEqual({
      outcome: 'ignored',
      reason: `tag "nightly" matches none of job report's tag filters ^v\\d`,
    });
    expect(decideIntake(policy, 'gcr', gcr(`${REPO}-evil`, 'v2'))).toEqual({
      outcome: 'ignored',
      reason: `no service or job in the policy uses repository ${REPO}-evil`,
    });
  });
});

describe('the template change', () => {
  const template = (containers: Array<{ name?: string; image: string }>) =>
    JSON.stringify({ taskCount: 1, template: { containers, maxRetries: 0 } });

  it('replaces the image of the one container of the repository and nothing else', () => {
    const before = template([
      { name: 'main', image: `${REPO}:v1` },
      { name: 'proxy', image: 'gcr.io/x/proxy:1' },
    ]);
    const after = withImage(before, REPO, `${REPO}@${DIGEST}`);
    expect(after).toEqual({
      template: template([
        { name: 'main', image: `${REPO}@${DIGEST}` },
        { name: 'proxy', image: 'gcr.io/x/proxy:1' },
      ]),
    });
  });

  it('refuses a template with no container of the repository, or several, naming the containers', () => {
    expect(withImage(template([{ name: 'main', image: 'gcr.io/x/other:1' }]), REPO, 'x')).toEqual({
      error: `template.containers: expected exactly one container running an image of ${REPO}, got 0 among main (gcr.io/x/other:1)`,
    });
    expect(withImage(template([{ image: `${REPO}:a` }, { image: `${REPO}:b` }]), REPO, 'x')).toMatchObject({
      error: expect.stringContaining(`got 2 among #0 (${REPO}:a), #1 (${REPO}:b)`),
    });
  });
});

describe('the record', () => {
  it('is one per job and digest, and survives Firestore (no array inside an array)', () => {
    const [job] = parsePolicy({
      jobs: [{ ...base, image: REPO, waves: [['us-central1'], ['europe-west1']] }],
    }).jobs;
    const r = newJobRollout(job, { repository: REPO, digest: DIGEST, source: 'gcr' }, new Date(0));
    expect(r.id).toBe(jobRolloutId('report', DIGEST));
    expect(jobRolloutId('report', DIGEST)).not.toBe(jobRolloutId('export', DIGEST));
    expect(r.regions).toEqual({
      'us-central1': { status: 'PENDING' },
      'europe-west1': { status: 'PENDING' },
    });
    const stored = toJobRolloutDocument(r);
    expect(stored.waves).toEqual([{ regions: ['us-central1'] }, { regions: ['europe-west1'] }]);
    expect(JobRolloutRecord.parse(stored).waves).toEqual([['us-central1'], ['europe-west1']]);
  });
});
