/**
 * Scheduled jobs end to end on the local cloud: Google's Pub/Sub and
 * Firestore emulators, our Workflows emulator running workflows/job-run,
 * the Cloud Run emulator's Jobs API, the functions hosted in-process by the
 * functions-framework, and the Slack sink.
 */
import { Firestore } from '@google-cloud/firestore';
import { PubSub } from '@google-cloud/pubsub';
import { ExecutionsClient, JobsClient } from '@google-cloud/run';
import type { ClientOptions } from 'google-gax';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ACK_DEADLINE_SECONDS,
  describeWithEmulators,
  expectNoRedelivery,
  testProjectId,
} from '../../helpers/emulators';
import { hostFunction, pushEndpoint, type HostedFunction } from '../../../emulators/functions-host';
import { ensurePushSubscription } from '../../../emulators/pubsub-setup';
import { startSlackSink, type SlackSink } from '../../../emulators/slack-sink';
import { startCloudRunEmulator, type CloudRunEmulator } from '../../../emulators/cloudrun';
import { startWorkflowsEmulator, type WorkflowsEmulator } from '../../../emulators/workflows';
import { realClock } from '../../../emulators/workflows/runtime';
import { waitFor } from '../../../emulators/util';
import { localClientOptions } from '../../../functions/shared/endpoint';
import { createLogger } from '../../../functions/shared/log';
import { configureRuntime } from '../../../functions/entry/runtime';
import { FirestoreJobStore } from '../../../functions/adapters/job-store';
import { FirestoreDeadLetterStore } from '../../../functions/adapters/dead-letter-store';
import { runCli } from '../../helpers/cli';
import type { JobRunRecord } from '../../../functions/domain/jobs';
import type { DeadLetterRecord } from '../../../functions/domain/records';
import '../../../functions/entry/actions';
import '../../../functions/entry/job-trigger';
import '../../../functions/entry/dead-letter';
import '../../../functions/entry/sweeper';
import { ExecutionsClient as WorkflowExecutionsClient } from '@google-cloud/workflows';
import { mintOidcToken } from '../../../functions/shared/oidc';
import type { JobSweepReport } from '../../../functions/usecases/job-sweep';

const REGION = 'us-central1';
const SA = 'glidepath-workflows@test.iam.gserviceaccount.com';
const OIDC_SECRET = 'jobs-test-secret';
const SCHEDULER_SA = 'glidepath-scheduler@test.iam.gserviceaccount.com';
/** A 30 s backoff sleeps 0.6 s; a 10 s status poll 0.2 s. */
const SLEEP_SCALE = 50;
const JOB_IDS = [
  'flaky-report',
  'broken-export',
  'nightly-sync',
  'locked-export',
  'every-class',
  'stuck-report',
  'orphaned-report',
];
/** Every sleep the workflows asked for (ms, scaled): the backoff schedule without wall-clock bounds. */
let sleeps: number[] = [];

describeWithEmulators('scheduled jobs on the local cloud', () => {
  const projectId = testProjectId(__filename);
  let cloudRun: CloudRunEmulator;
  let workflows: WorkflowsEmulator;
  let slack: SlackSink;
  const fns: HostedFunction[] = [];
  let failing: Server;
  let pubsub: PubSub;
  let db: Firestore;
  let store: FirestoreJobStore;
  let deadLetters: FirestoreDeadLetterStore;
  const logs: Array<Record<string, unknown>> = [];
  let sweeper: HostedFunction;
  let policyFile: string;

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'glidepath-jobs-'));
    policyFile = join(dir, 'glidepath.yaml');
    const job = (name: string, retry: string, extra = '') =>
      `  - { name: ${name}, project: ${projectId}, region: ${REGION}, schedule: '0 2 * * *', timeout: 60s, retry: ${retry}${extra} }`;
    writeFileSync(
      policyFile,
      [
        'jobs:',
        job('flaky-report', '{ maxAttempts: 3, initialBackoff: 30s, multiplier: 2, maxBackoff: 45s }'),
        job('broken-export', '{ maxAttempts: 2, initialBackoff: 10s, multiplier: 2, maxBackoff: 1m }'),
        job('nightly-sync', '{ maxAttempts: 1, initialBackoff: 10s, multiplier: 1, maxBackoff: 10s }'),
        job('locked-export', '{ maxAttempts: 3, initialBackoff: 10s, multiplier: 1, maxBackoff: 10s }'),
        job(
          'every-class',
          '{ maxAttempts: 6, initialBackoff: 10s, multiplier: 1, maxBackoff: 10s }',
          ', overridable: { args: true, env: [MODE] }',
        ),
        job(
          'stuck-report',
          '{ maxAttempts: 2, initialBackoff: 10s, multiplier: 1, maxBackoff: 10s }',
          ', timeout: 20s',
        ).replace('timeout: 60s, ', ''),
        job('orphaned-report', '{ maxAttempts: 2, initialBackoff: 10s, multiplier: 1, maxBackoff: 10s }'),
      ].join('\n'),
    );
    cloudRun = await startCloudRunEmulator();
    const jobsClient = new JobsClient(localClientOptions(cloudRun.grpcHost) as ClientOptions);
    for (const id of JOB_IDS) {
      const [op] = await jobsClient.createJob({
        parent: `projects/${projectId}/locations/${REGION}`,
        jobId: id,
        job: {
          template: { template: { containers: [{ image: `us-docker.pkg.dev/${projectId}/jobs/${id}:v1` }] } },
        },
      });
      await op.promise();
    }
    await jobsClient.close();
    slack = await startSlackSink();
    const actions = await hostFunction('actions');
    fns.push(actions);
    workflows = await startWorkflowsEmulator({
      env: { 'job-run': { ACTIONS_URL: actions.url } },
      serviceAccount: SA,
      oidcSecret: OIDC_SECRET,
      sleepScale: SLEEP_SCALE,
      clock: {
        now: realClock.now,
        sleep: (ms, signal) => {
          sleeps.push(ms);
          return realClock.sleep(ms, signal);
        },
      },
    });
    Object.assign(process.env, {
      GLIDEPATH_PROJECT: projectId,
      GLIDEPATH_LOCATION: REGION,
      GLIDEPATH_POLICY_FILE: policyFile,
      GLIDEPATH_WORKFLOWS_ENDPOINT: workflows.host,
      GLIDEPATH_RUN_ENDPOINT: cloudRun.grpcHost,
      GLIDEPATH_WORKFLOW_SA: SA,
      GLIDEPATH_SCHEDULER_SA: SCHEDULER_SA,
      GLIDEPATH_LOCAL_OIDC_SECRET: OIDC_SECRET,
      SLACK_WEBHOOK_URL: slack.url,
    });
    configureRuntime({ log: createLogger({}, (line) => logs.push(JSON.parse(line))) });

    const trigger = await hostFunction('jobTrigger');
    const deadLetter = await hostFunction('deadLetter');
    sweeper = await hostFunction('sweeper');
    fns.push(trigger, deadLetter, sweeper);
    // An endpoint that never acknowledges: its messages can only end on the dead-letter topic.
    failing = createServer((_req, res) => res.writeHead(500).end());
    await new Promise<void>((resolve) => failing.listen(0, '127.0.0.1', resolve));

    pubsub = new PubSub({ projectId });
    db = new Firestore({ projectId });
    store = new FirestoreJobStore(db);
    deadLetters = new FirestoreDeadLetterStore(db);
    const dlq = { deadLetterTopic: 'glidepath-dead-letters', maxDeliveryAttempts: 5 };
    await ensurePushSubscription(pubsub, {
      topic: 'glidepath-job-triggers',
      name: 'glidepath-job-triggers-job-trigger',
      endpoint: pushEndpoint(trigger, projectId, 'glidepath-job-triggers'),
      ...dlq,
    });
    await ensurePushSubscription(pubsub, {
      topic: 'glidepath-dead-letters',
      name: 'glidepath-dead-letters-dead-letter',
      endpoint: pushEndpoint(deadLetter, projectId, 'glidepath-dead-letters'),
      // Short, so that "no redelivery" is checked over a window that a redelivery could not miss.
      ackDeadlineSeconds: ACK_DEADLINE_SECONDS,
      minimumBackoffSeconds: 0,
    });
    const failingUrl = `http://127.0.0.1:${(failing.address() as AddressInfo).port}/projects/${projectId}/topics/gcr`;
    await ensurePushSubscription(pubsub, {
      topic: 'gcr',
      name: 'gcr-poison',
      endpoint: failingUrl,
      ...dlq,
      minimumBackoffSeconds: 0,
    });
  });

  afterAll(async () => {
    await Promise.all(fns.map((f) => f.stop()));
    await new Promise((resolve) => failing?.close(resolve));
    await workflows?.stop();
    await cloudRun?.stop();
    await slack?.stop();
    await pubsub?.close();
    await db?.terminate();
  });

  const publish = (topic: string, payload: unknown, attributes: Record<string, string> = {}) =>
    pubsub.topic(topic).publishMessage({ data: Buffer.from(JSON.stringify(payload)), attributes });
  const finishedRun = (id: string) =>
    waitFor(
      async () => {
        const run = await store.getRun(id);
        // Finished, and told Slack when there was something to tell (a failure, or a recovery after one).
        const quiet = run?.status === 'SUCCEEDED' && run.attempts.length === 1;
        return run && (run.status === 'SUCCEEDED' || run.status === 'FAILED') && (quiet || run.notifiedAt)
          ? run
          : undefined;
      },
      { timeoutMs: 30_000, what: `job run ${id} to finish`, intervalMs: 100 },
    );
  const deadLetter = (id: string) =>
    waitFor(async () => deadLetters.getDeadLetter(id), {
      timeoutMs: 45_000,
      what: `dead letter ${id}`,
      intervalMs: 200,
    });
  const ms = (iso: string | undefined) => Date.parse(iso ?? '');

  it('retries with the exact backoff schedule, recording every attempt, and tells Slack it recovered', async () => {
    cloudRun.setJobOutcomes(`projects/${projectId}/locations/${REGION}/jobs/flaky-report`, [
      'fail',
      'fail',
      'succeed',
    ]);
    sleeps = [];
    const messageId = await publish('glidepath-job-triggers', { job: 'flaky-report' });
    const run = await finishedRun(`flaky-report-m${messageId}`);

    expect(run).toMatchObject({ status: 'SUCCEEDED', trigger: 'manual', job: 'flaky-report' });
    expect(run.attempts.map((a) => [a.number, a.result, a.backoffSeconds])).toEqual([
      [1, 'FAILED', 30],
      [2, 'FAILED', 45], // min(30 × 2, 45): capped
      [3, 'SUCCEEDED', undefined],
    ]);
    for (const a of run.attempts) {
      expect(a.executionName).toMatch(
        new RegExp(`^projects/${projectId}/locations/${REGION}/jobs/flaky-report/executions/`),
      );
      expect(ms(a.endedAt)).toBeGreaterThanOrEqual(ms(a.startedAt));
    }
    expect(run.attempts[0].error).toBeTruthy();
    // The workflow slept exactly the backoffs, scaled (0.6 s then 0.9 s). The other sleeps are
    // shorter: the status polls (10 s) and any HTTP retry's first backoffs (1, 2, 4, 8 s).
    const scaled = (seconds: number) => (seconds * 1000) / SLEEP_SCALE;
    expect(sleeps.filter((s) => s > scaled(10))).toEqual([scaled(30), scaled(45)]);
    // And no attempt started before its backoff was over.
    const waits = [1, 2].map((i) => ms(run.attempts[i].startedAt) - ms(run.attempts[i - 1].endedAt));
    expect(waits[0]).toBeGreaterThanOrEqual(scaled(30));
    expect(waits[1]).toBeGreaterThanOrEqual(scaled(45));

    // notifiedAt is claimed just before the post: wait for the post itself.
    await waitFor(() => slack.posts.some((p) => p.text.includes(run.id)), {
      timeoutMs: 5000,
      what: 'the recovered message',
    });
    expect(slack.posts.filter((p) => p.text.includes(run.id))).toEqual([
      expect.objectContaining({ text: expect.stringMatching(/recovered on attempt 3/) }),
    ]);
    expect(await deadLetters.getDeadLetter(`job-failed-${run.id}`)).toBeUndefined();
  });

  let failedRun: JobRunRecord;
  let jobFailed: DeadLetterRecord;

  it('after the last failed attempt writes a dead letter with every attempt and the original message, publishes it and tells Slack once', async () => {
    cloudRun.setJobOutcomes(`projects/${projectId}/locations/${REGION}/jobs/broken-export`, ['fail', 'fail']);
    const messageId = await publish(
      'glidepath-job-triggers',
      { job: 'broken-export' },
      { requestedBy: 'test' },
    );
    failedRun = await finishedRun(`broken-export-m${messageId}`);
    expect(failedRun.status).toBe('FAILED');
    expect(failedRun.attempts.map((a) => a.result)).toEqual(['FAILED', 'FAILED']);

    jobFailed = await deadLetter(`job-failed-${failedRun.id}`);
    expect(jobFailed).toMatchObject({
      kind: 'job-failed',
      source: 'glidepath-job-triggers',
      messageId,
      data: Buffer.from(JSON.stringify({ job: 'broken-export' })).toString('base64'),
      attributes: { requestedBy: 'test' },
      replayed: false,
    });
    const attempts = (jobFailed.details?.attempts ?? []) as Array<{
      number: number;
      error?: string;
      executionName?: string;
    }>;
    expect(attempts.map((a) => a.number)).toEqual([1, 2]);
    for (const a of attempts) expect(a.error && a.executionName).toBeTruthy();
    expect(failedRun.deadLetterMessageId).toBeTruthy();

    // The dead-letter function saw the job-failed message and did not record or announce it again.
    await waitFor(
      () => logs.find((l) => l.messageId === failedRun.deadLetterMessageId && l.outcome === 'ignored'),
      { timeoutMs: 10_000, what: 'dead-letter function to see the job-failed message' },
    );
    await waitFor(() => slack.posts.some((p) => p.text.includes(failedRun.id)), {
      timeoutMs: 5000,
      what: 'the failure message',
    });
    const announced = slack.posts.filter((p) => p.text.includes(failedRun.id));
    expect(announced).toHaveLength(1);
    expect(announced[0].text).toMatch(/failed after 2 attempts/);
    const undeliverable = await db.collection('deadLetters').where('kind', '==', 'undeliverable').get();
    expect(undeliverable.docs.filter((d) => (d.data().attributes ?? {}).glidepathKind)).toHaveLength(0);
  });

  const jobName = (id: string) => `projects/${projectId}/locations/${REGION}/jobs/${id}`;

  it('sends a class outside retry.on straight to the dead-letter queue with its class and evidence', async () => {
    cloudRun.setJobOutcomes(jobName('locked-export'), ['image-permission', 'succeed', 'succeed']);
    const messageId = await publish('glidepath-job-triggers', { job: 'locked-export' });
    const run = await finishedRun(`locked-export-m${messageId}`);
    expect(run.status).toBe('FAILED');
    // One attempt of three: a permission error is not retried.
    expect(run.attempts.map((a) => [a.number, a.result, a.failureClass, a.retried])).toEqual([
      [1, 'FAILED', 'configuration', false],
    ]);
    expect(run.attempts[0].evidence).toMatch(
      /must have permission to read the image.*reason CONTAINER_PERMISSION_DENIED/,
    );
    const letter = await deadLetter(`job-failed-${run.id}`);
    expect(letter.reason).toMatch(
      /^job locked-export failed after 1 attempt\(s\) \[configuration\]: .*not retried: configuration is not in retry\.on\)$/,
    );
    expect(letter.details).toMatchObject({
      failureClass: 'configuration',
      evidence: expect.stringContaining('must have permission to read the image'),
    });
    await waitFor(() => slack.posts.some((p) => p.text.includes(run.id)), {
      timeoutMs: 5000,
      what: 'the failure message',
    });
    const post = slack.posts.find((p) => p.text.includes(run.id));
    expect(JSON.stringify(post?.blocks)).toContain('attempt 1: FAILED [configuration]');
    const history = await cli('alice@example.com', 'jobs', 'history', 'locked-export');
    expect(history.out).toContain('#1 FAILED [configuration]');
  });

  it('records the class of each injected cause, retrying each one in retry.on', async () => {
    const injected = ['out-of-memory', 'network', 'timeout', 'exit-code', 'image-missing'] as const;
    cloudRun.setJobOutcomes(jobName('every-class'), [...injected, 'succeed']);
    const messageId = await publish('glidepath-job-triggers', { job: 'every-class' });
    const run = await finishedRun(`every-class-m${messageId}`);
    // image-missing is a configuration error: the run stops there, on attempt 5 of 6.
    expect(run.status).toBe('FAILED');
    expect(run.attempts.map((a) => [a.failureClass, a.retried])).toEqual([
      ['out-of-memory', true],
      ['network', true],
      ['timeout', true],
      ['exit-code', true],
      ['configuration', false],
    ]);
  });

  it('cancels an execution still running after the job’s timeout and records the attempt as timeout', async () => {
    cloudRun.setJobOutcomes(jobName('stuck-report'), ['hang', 'succeed']);
    const messageId = await publish('glidepath-job-triggers', { job: 'stuck-report' });
    const run = await finishedRun(`stuck-report-m${messageId}`);
    expect(run.status).toBe('SUCCEEDED');
    expect(run.attempts.map((a) => [a.result, a.failureClass])).toEqual([
      ['FAILED', 'timeout'],
      ['SUCCEEDED', undefined],
    ]);
    expect(run.attempts[0].error).toMatch(/job's timeout of 20s; execution cancelled/);
    const executions = new ExecutionsClient(localClientOptions(cloudRun.grpcHost) as ClientOptions);
    try {
      const [hung] = await executions.getExecution({ name: run.attempts[0].executionName });
      expect(hung.cancelledCount).toBe(1);
      expect(hung.completionTime).toBeTruthy();
    } finally {
      await executions.close();
    }
  });

  it('passes the env overrides a job allows and rejects the others with the reason', async () => {
    cloudRun.setJobOutcomes(jobName('every-class'), ['succeed']);
    const allowedId = await publish('glidepath-job-triggers', {
      job: 'every-class',
      overrides: { env: { MODE: 'full' } },
    });
    const run = await finishedRun(`every-class-m${allowedId}`);
    expect(run).toMatchObject({ status: 'SUCCEEDED', overrides: { env: { MODE: 'full' } } });
    const executions = new ExecutionsClient(localClientOptions(cloudRun.grpcHost) as ClientOptions);
    try {
      const [execution] = await executions.getExecution({ name: run.attempts[0].executionName });
      expect(execution.template?.containers?.[0].env).toEqual(
        expect.arrayContaining([expect.objectContaining({ name: 'MODE', value: 'full' })]),
      );
    } finally {
      await executions.close();
    }

    const refusedId = await publish('glidepath-job-triggers', {
      job: 'every-class',
      overrides: { env: { MODE: 'full', TOKEN: 'x' } },
    });
    const rejected = await deadLetter(`rejected-${refusedId}`);
    expect(rejected.reason).toBe(
      'overrides.env: job every-class allows overriding MODE (jobs[].overridable.env), got "TOKEN"',
    );
    expect(await store.getRun(`every-class-m${refusedId}`)).toBeUndefined();
  });

  /** Calls the sweeper function once, as Cloud Scheduler does; returns the job-run part of its report. */
  const sweepJobRuns = async (): Promise<JobSweepReport> => {
    const token = mintOidcToken({ serviceAccount: SCHEDULER_SA, audience: sweeper.url, secret: OIDC_SECRET });
    const res = await fetch(sweeper.url, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    return ((await res.json()) as { jobRuns: JobSweepReport }).jobRuns;
  };

  it('the sweeper ends a job run whose workflow execution died: reason, dead letter, Slack', async () => {
    cloudRun.setJobOutcomes(jobName('orphaned-report'), ['hang']);
    const messageId = await publish('glidepath-job-triggers', { job: 'orphaned-report' });
    const runId = `orphaned-report-m${messageId}`;
    const running = await waitFor(
      async () => {
        const run = await store.getRun(runId);
        return run?.executionName && run.attempts[0]?.result === 'RUNNING' ? run : undefined;
      },
      { timeoutMs: 20_000, what: `attempt 1 of ${runId} to run`, intervalMs: 100 },
    );
    // The workflow execution dies: cancelled from outside, its finish never runs.
    const workflowExecutions = new WorkflowExecutionsClient(
      localClientOptions(workflows.host) as ClientOptions,
    );
    try {
      await workflowExecutions.cancelExecution({ name: running.executionName! });
    } finally {
      await workflowExecutions.close();
    }

    const report = await sweepJobRuns();
    expect(report.recovered).toEqual([
      {
        jobRunId: runId,
        job: 'orphaned-report',
        reason: expect.stringMatching(/^workflow execution .* is CANCELLED/),
        deadLetterId: `job-failed-${runId}`,
      },
    ]);
    const ended = await store.getRun(runId);
    expect(ended).toMatchObject({
      status: 'FAILED',
      endReason: expect.stringMatching(/^ended by the sweeper: workflow execution .* is CANCELLED/),
    });
    expect(ended?.attempts.map((a) => [a.result, a.retried])).toEqual([['FAILED', false]]);
    // Nobody watched the Cloud Run execution any more: it was cancelled too.
    const executions = new ExecutionsClient(localClientOptions(cloudRun.grpcHost) as ClientOptions);
    try {
      const [execution] = await executions.getExecution({ name: running.attempts[0].executionName });
      expect(execution.cancelledCount).toBe(1);
    } finally {
      await executions.close();
    }
    const letter = await deadLetter(`job-failed-${runId}`);
    expect(letter.reason).toMatch(
      /^job orphaned-report ended by the sweeper: workflow execution .* is CANCELLED/,
    );
    await waitFor(() => slack.posts.some((p) => p.text.includes(runId)), {
      timeoutMs: 5000,
      what: 'the failure message',
    });
    expect(JSON.stringify(slack.posts.find((p) => p.text.includes(runId))?.blocks)).toContain(
      'It was ended by the sweeper',
    );
    // A second sweep finds nothing left to do.
    expect((await sweepJobRuns()).recovered).toEqual([]);
  });

  /** Runs the `glidepath` CLI in-process against the emulators; returns its stdout and exit code. */
  const cli = (operator: string, ...args: string[]) => runCli(operator, [...args, '--project', projectId]);

  it('`jobs run --args … --env K=V` publishes a trigger with those overrides', async () => {
    cloudRun.setJobOutcomes(jobName('every-class'), ['succeed']);
    const published = await cli(
      'alice@example.com',
      'jobs',
      'run',
      'every-class',
      '--config',
      policyFile,
      '--env',
      'MODE=nightly',
      '--json',
      '--args',
      '--day',
      '2026-03-01',
    );
    expect(published.code).toBe(0);
    const { runId } = JSON.parse(published.out) as { runId: string };
    const run = await finishedRun(runId);
    expect(run).toMatchObject({
      status: 'SUCCEEDED',
      trigger: 'manual',
      overrides: { args: ['--day', '2026-03-01'], env: { MODE: 'nightly' } },
      message: { attributes: { requestedBy: 'alice@example.com' } },
    });
  });

  it('replays a dead letter from the CLI into a new run once, and refuses a second replay', async () => {
    expect(jobFailed).toBeDefined();
    const shown = await cli('alice@example.com', 'dlq', 'show', jobFailed.id);
    expect(shown.out).toContain('"job": "broken-export"');
    expect(shown.out).toContain('requestedBy=test');
    cloudRun.setJobOutcomes(`projects/${projectId}/locations/${REGION}/jobs/broken-export`, ['succeed']);
    const first = await cli('alice@example.com', 'dlq', 'replay', jobFailed.id, '--json');
    expect(first.code).toBe(0);
    const replayed = JSON.parse(first.out) as { kind: string; topic: string; messageId: string };
    expect(replayed).toMatchObject({ kind: 'replayed', topic: 'glidepath-job-triggers' });
    const replayRun = await finishedRun(`broken-export-m${replayed.messageId}`);
    expect(replayRun).toMatchObject({ status: 'SUCCEEDED', trigger: 'replay' });
    expect(replayRun.message.attributes).toEqual({ requestedBy: 'test', replayOf: jobFailed.id });
    expect(await deadLetters.getDeadLetter(jobFailed.id)).toMatchObject({
      replayed: true,
      replayedBy: 'alice@example.com',
      replayMessageId: replayed.messageId,
    });

    const second = await cli('bob@example.com', 'dlq', 'replay', jobFailed.id);
    expect(second.code).toBe(1);
    expect(second.err).toContain(
      `refused: dead letter ${jobFailed.id} was already replayed by alice@example.com`,
    );
    const history = JSON.parse(
      (await cli('alice@example.com', 'jobs', 'history', 'broken-export', '--json')).out,
    ) as JobRunRecord[];
    expect(history.map((r) => [r.trigger, r.status])).toEqual([
      ['replay', 'SUCCEEDED'],
      ['manual', 'FAILED'],
    ]);
  });

  it('starts one run for a duplicate scheduler delivery', async () => {
    // Both copies must fall in the same minute: do not start in the last seconds of one.
    await waitFor(() => new Date().getUTCSeconds() < 50, {
      timeoutMs: 15_000,
      what: 'the start of a minute',
    });
    cloudRun.setJobOutcomes(`projects/${projectId}/locations/${REGION}/jobs/nightly-sync`, [
      'succeed',
      'succeed',
    ]);
    const scheduler = { job: 'nightly-sync' };
    const ids = await Promise.all([
      publish('glidepath-job-triggers', scheduler, scheduler),
      publish('glidepath-job-triggers', scheduler, scheduler),
    ]);
    const outcomes = await Promise.all(
      ids.map((id) =>
        waitFor(() => logs.find((l) => l.messageId === id && l.outcome), {
          timeoutMs: 10_000,
          what: `outcome of ${id}`,
        }),
      ),
    );
    expect(outcomes.map((o) => o.outcome).sort()).toEqual(['ignored', 'started']);
    const runs = await store.listRuns('nightly-sync', 10);
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({
      trigger: 'schedule',
      id: expect.stringMatching(/^nightly-sync-\d{12}$/),
    });
    const run = await finishedRun(runs[0].id);
    expect(run.attempts).toHaveLength(1);
    expect(run.status).toBe('SUCCEEDED');
  });

  it('moves a poison message to deadLetters after the subscription’s maximum deliveries and tells Slack once', async () => {
    const messageId = await publish('gcr', { action: 'INSERT', digest: 'poison' }, { origin: 'poison-test' });
    const undeliverable = await waitFor(
      async () =>
        (await db.collection('deadLetters').where('kind', '==', 'undeliverable').get()).docs
          .map((d) => d.data() as DeadLetterRecord)
          .find((r) => r.attributes.origin === 'poison-test'),
      { timeoutMs: 45_000, what: 'the poison message in deadLetters', intervalMs: 250 },
    );
    expect(undeliverable).toMatchObject({
      source: 'gcr',
      subscription: 'gcr-poison',
      deliveryCount: 5,
      data: Buffer.from(JSON.stringify({ action: 'INSERT', digest: 'poison' })).toString('base64'),
    });
    expect(undeliverable.attributes.CloudPubSubDeadLetterSourceDeliveryCount).toBe('5');
    expect(undeliverable.messageId).not.toBe(messageId); // the dead-letter topic's own message id
    // The record is written before Slack is told: wait for the post, then see it stays the only one.
    const posts = () => slack.posts.filter((p) => p.text.includes(undeliverable.id)).length;
    await waitFor(() => posts() > 0, { timeoutMs: 10_000, what: `the Slack post of ${undeliverable.id}` });
    await expectNoRedelivery(`Slack post of ${undeliverable.id}`, posts);
  });

  it('keeps the dead letter when Slack is down, and acknowledges it', async () => {
    slack.setMode('error');
    try {
      const before = slack.attempts;
      await publish('gcr', { action: 'INSERT', digest: 'poison-2' }, { origin: 'slack-outage' });
      const record = await waitFor(
        async () =>
          (await db.collection('deadLetters').where('kind', '==', 'undeliverable').get()).docs
            .map((d) => d.data() as DeadLetterRecord)
            .find((r) => r.attributes.origin === 'slack-outage'),
        { timeoutMs: 45_000, what: 'the dead letter despite the Slack outage', intervalMs: 250 },
      );
      await waitFor(
        () =>
          slack.attempts > before &&
          logs.find((l) => l.deadLetterId === record.id && l.outcome === 'recorded'),
        { timeoutMs: 10_000, what: 'the failed Slack post' },
      );
      expect(slack.posts.filter((p) => p.text.includes(record.id))).toHaveLength(0);
      expect(logs.find((l) => l.deadLetterId === record.id && l.outcome === 'recorded')).toMatchObject({
        slack: false,
      });
      // Acknowledged: the dead-letter function handled it once through the redelivery window.
      await expectNoRedelivery(
        `dead letter ${record.id}`,
        () =>
          logs.filter(
            (l) => l.deadLetterId === record.id && (l.outcome === 'recorded' || l.outcome === 'duplicate'),
          ).length,
      );
    } finally {
      slack.setMode('ok');
    }
  });
});
