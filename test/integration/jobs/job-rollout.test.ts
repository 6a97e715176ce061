/**
 * Job image rollouts end to end on the local cloud: a push on the `gcr`
 * topic reaches the intake function (Google's Pub/Sub emulator), which
 * starts the `job-rollout` workflow on our Workflows emulator; its actions
 * update the jobs of the Cloud Run emulator (UpdateJob), run the
 * verification, and restore the recorded template on failure. A rollout whose
 * workflow execution dies is ended by the sweeper function, called as Cloud
 * Scheduler calls it.
 */
import { Firestore } from '@google-cloud/firestore';
import { PubSub } from '@google-cloud/pubsub';
import { ExecutionsClient, JobsClient, protos } from '@google-cloud/run';
import { ExecutionsClient as WorkflowExecutionsClient } from '@google-cloud/workflows';
import type { ClientOptions } from 'google-gax';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeWithEmulators, testProjectId } from '../../helpers/emulators';
import { hostFunction, pushEndpoint, type HostedFunction } from '../../../emulators/functions-host';
import { ensurePushSubscription } from '../../../emulators/pubsub-setup';
import { startSlackSink, type SlackSink } from '../../../emulators/slack-sink';
import { startCloudRunEmulator, type CloudRunEmulator } from '../../../emulators/cloudrun';
import { startWorkflowsEmulator, type WorkflowsEmulator } from '../../../emulators/workflows';
import { waitFor } from '../../../emulators/util';
import { localClientOptions } from '../../../functions/shared/endpoint';
import { createLogger } from '../../../functions/shared/log';
import { configureRuntime } from '../../../functions/entry/runtime';
import { FirestoreJobLocks, FirestoreJobRolloutStore } from '../../../functions/adapters/job-rollout-store';
import { jobRolloutId, type JobRolloutRecord } from '../../../functions/domain/job-rollout';
import { mintOidcToken } from '../../../functions/shared/oidc';
import type { JobRolloutSweepReport } from '../../../functions/usecases/job-sweep';
import { runCli } from '../../helpers/cli';
import '../../../functions/entry/actions';
import '../../../functions/entry/intake';
import '../../../functions/entry/sweeper';

const US = 'us-central1';
const EU = 'europe-west1';
const SA = 'glidepath-workflows@test.iam.gserviceaccount.com';
const SCHEDULER_SA = 'glidepath-scheduler@test.iam.gserviceaccount.com';
const OIDC_SECRET = 'job-rollout-test-secret';
/** A 10 s poll sleeps 0.2 s. */
const SLEEP_SCALE = 50;
const digestOf = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}`;

describeWithEmulators('job image rollouts on the local cloud', () => {
  const projectId = testProjectId(__filename);
  const repo = (job: string) => `us-docker.pkg.dev/${projectId}/jobs/${job}`;
  let cloudRun: CloudRunEmulator;
  let workflows: WorkflowsEmulator;
  let slack: SlackSink;
  let jobsClient: JobsClient;
  let executionsClient: ExecutionsClient;
  const fns: HostedFunction[] = [];
  let pubsub: PubSub;
  let db: Firestore;
  let store: FirestoreJobRolloutStore;
  let policyFile: string;
  let sweeper: HostedFunction;
  /** What the hosted functions logged: the evidence that they handled a message or polled the lock. */
  const logs: Array<Record<string, unknown>> = [];

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'glidepath-job-rollout-'));
    policyFile = join(dir, 'glidepath.yaml');
    const job = (name: string, extra: string) =>
      `  - { name: ${name}, project: ${projectId}, region: ${US}, schedule: '0 2 * * *', image: ${repo(name)}, waves: [[${US}], [${EU}]]${extra} }`;
    writeFileSync(
      policyFile,
      [
        'jobs:',
        job('report', ", tags: ['^v'], verify: { args: ['--dry-run'], env: { MODE: verify }, timeout: 60s }"),
        job('export', ', verify: { timeout: 60s }'),
        job('sync', ''),
        job('orphan', ', verify: { timeout: 60s }'),
      ].join('\n'),
    );
    cloudRun = await startCloudRunEmulator();
    const clientOptions = localClientOptions(cloudRun.grpcHost) as ClientOptions;
    jobsClient = new JobsClient(clientOptions);
    executionsClient = new ExecutionsClient(clientOptions);
    for (const id of ['report', 'export', 'sync', 'orphan'])
      for (const region of [US, EU]) {
        const [op] = await jobsClient.createJob({
          parent: `projects/${projectId}/locations/${region}`,
          jobId: id,
          job: {
            template: {
              taskCount: 1,
              template: {
                containers: [
                  { image: `${repo(id)}:v1`, args: ['--daily'], env: [{ name: 'TZ', value: 'UTC' }] },
                ],
                maxRetries: 0,
              },
            },
          },
        });
        await op.promise();
      }
    slack = await startSlackSink();
    const actions = await hostFunction('actions');
    fns.push(actions);
    workflows = await startWorkflowsEmulator({
      env: { 'job-rollout': { ACTIONS_URL: actions.url } },
      serviceAccount: SA,
      oidcSecret: OIDC_SECRET,
      sleepScale: SLEEP_SCALE,
    });
    Object.assign(process.env, {
      GLIDEPATH_PROJECT: projectId,
      GLIDEPATH_LOCATION: US,
      GLIDEPATH_POLICY_FILE: policyFile,
      GLIDEPATH_WORKFLOWS_ENDPOINT: workflows.host,
      GLIDEPATH_RUN_ENDPOINT: cloudRun.grpcHost,
      GLIDEPATH_WORKFLOW_SA: SA,
      GLIDEPATH_SCHEDULER_SA: SCHEDULER_SA,
      GLIDEPATH_LOCAL_OIDC_SECRET: OIDC_SECRET,
      SLACK_WEBHOOK_URL: slack.url,
    });
    configureRuntime({ log: createLogger({}, (line) => logs.push(JSON.parse(line))) });
    const intake = await hostFunction('intake');
    sweeper = await hostFunction('sweeper');
    fns.push(intake, sweeper);
    pubsub = new PubSub({ projectId });
    db = new Firestore({ projectId });
    store = new FirestoreJobRolloutStore(db);
    await ensurePushSubscription(pubsub, {
      topic: 'gcr',
      name: 'gcr-intake',
      endpoint: pushEndpoint(intake, projectId, 'gcr'),
    });
  });

  afterAll(async () => {
    await Promise.all(fns.map((f) => f.stop()));
    await workflows?.stop();
    await cloudRun?.stop();
    await slack?.stop();
    await jobsClient?.close();
    await executionsClient?.close();
    await pubsub?.close();
    await db?.terminate();
  });

  const push = (job: string, digest: string, tag: string) =>
    pubsub.topic('gcr').publishMessage({
      data: Buffer.from(
        JSON.stringify({ action: 'INSERT', digest: `${repo(job)}@${digest}`, tag: `${repo(job)}:${tag}` }),
      ),
    });
  const finished = (id: string) =>
    waitFor(
      async () => {
        const r = await store.get(id);
        return r && (r.status === 'SUCCEEDED' || r.status === 'FAILED') ? r : undefined;
      },
      { timeoutMs: 30_000, what: `job rollout ${id} to finish`, intervalMs: 100 },
    );
  const getJob = async (job: string, region: string) =>
    (await jobsClient.getJob({ name: `projects/${projectId}/locations/${region}/jobs/${job}` }))[0];
  const executionsOf = async (job: string, region: string) =>
    (
      await executionsClient.listExecutions(
        { parent: `projects/${projectId}/locations/${region}/jobs/${job}` },
        { autoPaginate: false },
      )
    )[0];
  const image = (job: protos.google.cloud.run.v2.IJob) => job.template?.template?.containers?.[0]?.image;

  test('a good image is verified and rolled out wave by wave: one verification per region, with its args and env', async () => {
    const digest = digestOf(1);
    await push('report', digest, 'v2');
    const r = await finished(jobRolloutId('report', digest));
    expect(r).toMatchObject({ status: 'SUCCEEDED', image: `${repo('report')}@${digest}`, tag: 'v2' });
    for (const region of [US, EU]) {
      const job = await getJob('report', region);
      expect(image(job)).toBe(`${repo('report')}@${digest}`);
      // Only the image changed: the rest of the template is the user's.
      expect(job.template?.template?.containers?.[0]).toMatchObject({
        args: ['--daily'],
        env: [{ name: 'TZ', value: 'UTC' }],
      });
      expect(r.regions[region]).toMatchObject({ status: 'VERIFIED', previousImage: `${repo('report')}:v1` });
      const runs = await executionsOf('report', region);
      expect(runs).toHaveLength(1);
      expect(runs[0].name).toBe(r.regions[region].verifyExecution);
      expect(runs[0].template?.containers?.[0]).toMatchObject({
        image: `${repo('report')}@${digest}`,
        args: ['--dry-run'],
      });
      expect(runs[0].template?.containers?.[0].env).toEqual(
        expect.arrayContaining([
          { name: 'MODE', value: 'verify', values: 'value' },
          { name: 'GLIDEPATH_JOB_VERIFY', value: `${r.id}/${region}`, values: 'value' },
        ]),
      );
    }
    await waitFor(() => slack.posts.find((m) => m.text.includes(`Job report now runs v2`)), {
      timeoutMs: 10_000,
      what: 'the Slack message of the rollout',
    });
  });

  test('a tag outside the filters and a second push of the same digest start nothing', async () => {
    const digest = digestOf(1);
    const before = await getJob('report', US);
    const filtered = await push('report', digestOf(2), 'nightly');
    const again = await push('report', digest, 'v2-again');
    // The intake logs its outcome once it has handled a message: only then does "nothing started" mean
    // anything (a fixed wait would pass vacuously whenever the delivery was late).
    const outcomeOf = (messageId: string) =>
      waitFor(() => logs.find((l) => l.messageId === messageId && l.outcome), {
        timeoutMs: 20_000,
        what: `the intake's outcome for message ${messageId}`,
      });
    expect(await outcomeOf(filtered)).toMatchObject({
      outcome: 'ignored',
      reason: `tag "nightly" matches none of job report's tag filters ^v`,
    });
    expect(await outcomeOf(again)).toMatchObject({
      outcome: 'ignored',
      reason: `duplicate: job rollout ${jobRolloutId('report', digest)} of report exists (SUCCEEDED)`,
    });
    // The only record of the digest is the finished one; no record exists for the filtered tag.
    expect(await store.get(jobRolloutId('report', digestOf(2)))).toBeUndefined();
    expect((await store.listForJob('report', 10)).map((r) => r.id)).toEqual([jobRolloutId('report', digest)]);
    expect((await getJob('report', US)).etag).toBe(before.etag);
  });

  test('an image that fails its verification in the first region is rolled back there; the later wave is never touched', async () => {
    const digest = digestOf(3);
    const bad = `${repo('export')}@${digest}`;
    cloudRun.setProfile(bad, { failRate: 1, durationMs: 100 });
    const usBefore = await getJob('export', US);
    const euBefore = await getJob('export', EU);
    await push('export', digest, 'v2');
    const r: JobRolloutRecord = await finished(jobRolloutId('export', digest));
    expect(r.status).toBe('FAILED');
    expect(r.regions[US]).toMatchObject({ status: 'RESTORED', failureClass: 'exit-code' });
    expect(r.reason).toMatch(/^us-central1 \[exit-code\]: verification failed: Task export-\S+-task0 failed/);
    expect(r.regions[EU]).toEqual({ status: 'PENDING' });

    // The template is back as it was recorded: the same image, args and env, a newer generation.
    const usAfter = await getJob('export', US);
    expect(usAfter.template).toEqual(usBefore.template);
    expect(Number(usAfter.generation)).toBe(Number(usBefore.generation) + 2);
    const verifications = await executionsOf('export', US);
    expect(verifications).toHaveLength(1);
    expect(verifications[0].template?.containers?.[0].image).toBe(bad);
    // The later wave: not one write, not one execution.
    const euAfter = await getJob('export', EU);
    expect(euAfter.etag).toBe(euBefore.etag);
    expect(await executionsOf('export', EU)).toHaveLength(0);
    const message = await waitFor(
      () => slack.posts.find((m) => m.text.includes('Job export: image v2 was rolled back')),
      { timeoutMs: 10_000, what: 'the Slack message of the rollback' },
    );
    expect(JSON.stringify(message)).toContain('europe-west1: PENDING');
  });

  test('a rollout waits while a run of the job holds the job, then goes on', async () => {
    const locks = new FirestoreJobLocks(db);
    const holder = 'run:sync-m1';
    await locks.acquire('sync', holder, new Date(Date.now() + 600_000), new Date());
    const digest = digestOf(4);
    const before = await getJob('sync', US);
    await push('sync', digest, 'v2');
    const id = jobRolloutId('sync', digest);
    await waitFor(async () => (await store.get(id))?.status === 'RUNNING', {
      timeoutMs: 10_000,
      what: 'the rollout to start',
    });
    // Three lock polls (0.2 s apart) find the job held: it is not changed while the run holds it.
    // Counted from the rollout's own log, so the check cannot pass before the rollout has tried.
    await waitFor(
      () =>
        logs.filter(
          (l) =>
            l.jobRolloutId === id && l.message === 'job rollout waits for the job' && l.heldBy === holder,
        ).length >= 3,
      { timeoutMs: 20_000, what: `three refused lock polls of ${id}` },
    );
    expect((await store.get(id))?.regions[US]).toEqual({ status: 'PENDING' });
    expect((await getJob('sync', US)).etag).toBe(before.etag);
    await locks.release('sync', holder);
    const r = await finished(id);
    expect(r.status).toBe('SUCCEEDED');
    expect(image(await getJob('sync', EU))).toBe(`${repo('sync')}@${digest}`);
    // The rollout gives the lock back right after it records the end (finishJobRollout), long
    // before its lease (jobRolloutLockSeconds, minutes) would let a run take it.
    await waitFor(
      async () =>
        'acquired' in (await locks.acquire('sync', 'run:sync-m2', new Date(Date.now() + 60_000), new Date())),
      { timeoutMs: 5_000, what: 'the rollout to release the job lock' },
    );
  });

  /** Runs the `glidepath` CLI in-process against the emulators. */
  const cli = (...args: string[]) =>
    runCli('alice@example.com', [...args, '--config', policyFile, '--project', projectId]);

  test('`jobs status` shows the image in each region and the last rollout; `jobs rollback --region` restores the recorded template there only', async () => {
    const good = `${repo('report')}@${digestOf(1)}`;
    const status = await cli('jobs', 'status', 'report', '--json');
    expect(status.code).toBe(0);
    expect(JSON.parse(status.out)).toMatchObject({
      job: 'report',
      regions: [
        { region: US, images: [good] },
        { region: EU, images: [good] },
      ],
      lastRollout: { id: jobRolloutId('report', digestOf(1)), status: 'SUCCEEDED' },
    });
    const text = await cli('jobs', 'status', 'report');
    expect(text.out).toContain(`${US}  ${good}\n`);
    expect(text.out).toMatch(
      /last rollout: \S+ {2}report-[0-9a-f]{12} {2}SUCCEEDED {2}v2 {2}\(us-central1 VERIFIED, europe-west1 VERIFIED\)/,
    );

    const euBefore = await getJob('report', EU);
    const back = await cli('jobs', 'rollback', 'report', '--region', US, '--json');
    expect(back.code).toBe(0);
    expect(JSON.parse(back.out)).toEqual({
      job: 'report',
      regions: [
        {
          region: US,
          outcome: 'restored',
          image: `${repo('report')}:v1`,
          rolloutId: jobRolloutId('report', digestOf(1)),
        },
      ],
    });
    expect(image(await getJob('report', US))).toBe(`${repo('report')}:v1`);
    expect((await getJob('report', EU)).etag).toBe(euBefore.etag);
    // A second rollback finds the template already there; a region the job's waves lack is refused.
    expect(
      JSON.parse((await cli('jobs', 'rollback', 'report', '--region', US, '--json')).out).regions,
    ).toEqual([expect.objectContaining({ region: US, outcome: 'unchanged' })]);
    await expect(cli('jobs', 'rollback', 'report', '--region', 'asia-east1')).rejects.toThrow(
      '--region: expected one of us-central1, europe-west1, got "asia-east1"',
    );
  });
  /** Calls the sweeper function once, as Cloud Scheduler does; returns the job-rollout part of its answer. */
  const sweepJobRollouts = async (): Promise<JobRolloutSweepReport> => {
    const token = mintOidcToken({ serviceAccount: SCHEDULER_SA, audience: sweeper.url, secret: OIDC_SECRET });
    const res = await fetch(sweeper.url, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    return ((await res.json()) as { jobRollouts: JobRolloutSweepReport }).jobRollouts;
  };

  test('the sweeper ends a rollout whose workflow execution was cancelled mid-verification: template restored, verification cancelled, lock released, FAILED with its reason, Slack told', async () => {
    const digest = digestOf(5);
    cloudRun.setJobOutcomes(`projects/${projectId}/locations/${US}/jobs/orphan`, ['hang']);
    const usBefore = await getJob('orphan', US);
    const euBefore = await getJob('orphan', EU);
    await push('orphan', digest, 'v2');
    const id = jobRolloutId('orphan', digest);
    const verifying = await waitFor(
      async () => {
        const r = await store.get(id);
        return r?.regions[US].verifyExecution ? r : undefined;
      },
      { timeoutMs: 20_000, what: `the verification of ${id} in ${US} to start`, intervalMs: 100 },
    );
    expect(image(await getJob('orphan', US))).toBe(`${repo('orphan')}@${digest}`);
    // The workflow execution dies: cancelled from outside, its finish never runs.
    const workflowExecutions = new WorkflowExecutionsClient(
      localClientOptions(workflows.host) as ClientOptions,
    );
    try {
      await workflowExecutions.cancelExecution({ name: verifying.executionName! });
    } finally {
      await workflowExecutions.close();
    }

    const reason = `workflow execution ${verifying.executionName} is CANCELLED but job rollout ${id} is RUNNING`;
    expect(await sweepJobRollouts()).toEqual({
      checked: 1,
      recovered: [{ jobRolloutId: id, job: 'orphan', reason, restored: [US] }],
      errors: [],
    });
    expect((await getJob('orphan', US)).template).toEqual(usBefore.template);
    expect((await getJob('orphan', EU)).etag).toBe(euBefore.etag);
    const [verification] = await executionsOf('orphan', US);
    expect(verification.name).toBe(verifying.regions[US].verifyExecution);
    expect(verification.cancelledCount).toBe(1);
    const ended = await store.get(id);
    expect(ended).toMatchObject({ status: 'FAILED', reason: `ended by the sweeper: ${reason}` });
    expect(ended?.regions).toMatchObject({ [US]: { status: 'RESTORED' }, [EU]: { status: 'PENDING' } });
    const locks = new FirestoreJobLocks(db);
    expect(await locks.acquire('orphan', 'run:orphan-m1', new Date(Date.now() + 60_000), new Date())).toEqual(
      {
        acquired: true,
      },
    );
    await locks.release('orphan', 'run:orphan-m1');
    const message = await waitFor(
      () => slack.posts.find((m) => m.text.includes('Job orphan: image v2 was rolled back')),
      { timeoutMs: 10_000, what: 'the Slack message of the sweeper' },
    );
    expect(message.text).toContain(`ended by the sweeper: ${reason}`);
    expect((await cli('jobs', 'status', 'orphan')).out).toContain(
      `FAILED  v2  (${US} RESTORED, ${EU} PENDING)  ended by the sweeper: ${reason}`,
    );

    // A second sweep finds nothing left to do.
    const generation = (await getJob('orphan', US)).generation;
    expect(await sweepJobRollouts()).toEqual({ checked: 0, recovered: [], errors: [] });
    expect((await getJob('orphan', US)).generation).toBe(generation);
    expect(slack.posts.filter((m) => m.text.includes('Job orphan'))).toHaveLength(1);
  });
});
