/**
 * The job use cases (functions/usecases/jobs.ts), fast: the in-memory job
 * and dead-letter stores (held to Firestore's by the contract suite), a
 * recording Cloud Run Jobs runner and Pub/Sub publisher. Each effect of a
 * run (an attempt's execution, the dead letter, its message, Slack) happens
 * once however often the workflow repeats a call.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parsePolicyYaml } from '../../../functions/domain/policy';
import { GlidepathError } from '../../../functions/shared/errors';
import { createLogger } from '../../../functions/shared/log';
import type { SlackMessage } from '../../../functions/ports';
import {
  attemptStatus,
  finishRun,
  handleJobTrigger,
  startAttempt,
  type JobActionDeps,
  type JobTriggerDeps,
} from '../../../functions/usecases/jobs';
import { InMemoryDeadLetterStore, InMemoryJobLocks, InMemoryJobStore } from '../../helpers/memory-stores';
import { FakeJobs } from '../../helpers/fake-jobs';

const policy = parsePolicyYaml(readFileSync(join(__dirname, '../../fixtures/policy.yaml'), 'utf8'));
const scheduled = (messageId: string) => ({
  data: Buffer.from(JSON.stringify({ job: 'nightly-report' })).toString('base64'),
  attributes: { job: 'nightly-report' },
  messageId,
  publishTime: '2026-11-30T02:00:00.250Z',
});

function setup() {
  let now = new Date('2026-11-30T02:00:01Z').getTime();
  const store = new InMemoryJobStore();
  const deadLetters = new InMemoryDeadLetterStore();
  const jobs = new FakeJobs();
  const slack: SlackMessage[] = [];
  const published: Array<{ topic: string; data: unknown; attributes: Record<string, string> }> = [];
  const started: unknown[] = [];
  const common = {
    notifier: { notify: async (m: SlackMessage) => (slack.push(m), true) },
    clock: { now: () => new Date(now) },
    log: createLogger({}, () => undefined),
  };
  const trigger: JobTriggerDeps = {
    ...common,
    policy,
    store,
    deadLetters,
    launcher: {
      start: async (_w, argument) => (
        started.push(argument),
        `workflows/job-run/executions/w${started.length}`
      ),
      cancel: async () => undefined,
      state: async () => ({ state: 'MISSING' }),
    },
  };
  const actions: JobActionDeps = {
    ...common,
    store,
    deadLetters,
    jobs,
    locks: new InMemoryJobLocks(),
    publisher: {
      publish: async (topic, data, attributes) => {
        published.push({ topic, data: JSON.parse(data.toString()), attributes });
        return `m-${published.length}`;
      },
    },
    deadLetterTopic: 'glidepath-dead-letters',
  };
  return {
    trigger,
    actions,
    store,
    deadLetters,
    jobs,
    slack,
    published,
    started,
    tick: (s: number) => void (now += s * 1000),
  };
}

/** A run created and its workflow started; returns its id. */
async function triggered(t: ReturnType<typeof setup>): Promise<string> {
  const result = await handleJobTrigger(t.trigger, scheduled('11'));
  expect(result.outcome).toBe('started');
  return result.runId!;
}

describe('the job trigger', () => {
  it('creates one run per scheduled minute and starts its workflow once, however often the message comes', async () => {
    const t = setup();
    const runId = await triggered(t);
    expect(runId).toBe('nightly-report-202611300200');
    expect(t.started).toEqual([
      {
        runId,
        job: 'nightly-report',
        maxAttempts: 4,
        maxPolls: expect.any(Number),
        pollSeconds: expect.any(Number),
      },
    ]);
    expect(await t.store.getRun(runId)).toMatchObject({
      status: 'RUNNING',
      executionName: 'workflows/job-run/executions/w1',
    });
    const again = await handleJobTrigger(t.trigger, scheduled('12'));
    expect(again).toEqual({
      outcome: 'ignored',
      reason: `duplicate delivery: job run ${runId} already exists (RUNNING)`,
      runId,
    });
    expect(t.started).toHaveLength(1);
  });

  it('records an unknown job as a rejected dead letter and starts nothing', async () => {
    const t = setup();
    const result = await handleJobTrigger(t.trigger, {
      data: Buffer.from(JSON.stringify({ job: 'nope' })).toString('base64'),
      messageId: '5',
    });
    expect(result.outcome).toBe('rejected');
    expect(await t.deadLetters.getDeadLetter('rejected-5')).toMatchObject({
      kind: 'rejected',
      reason: result.reason,
    });
    expect(t.started).toEqual([]);
  });
});

describe('attempts', () => {
  it('starts an attempt once: a retried call gets the same execution', async () => {
    const t = setup();
    const runId = await triggered(t);
    const first = await startAttempt(t.actions, runId, 1);
    expect(first).toMatchObject({
      attempt: 1,
      done: false,
      executionName: expect.stringMatching(/executions\/x1$/),
    });
    expect(await startAttempt(t.actions, runId, 1)).toEqual(first);
    expect(t.jobs.executions.size).toBe(1);
    expect([...t.jobs.executions.values()][0].env).toEqual({ GLIDEPATH_JOB_ATTEMPT: `${runId}/1` });
  });

  it('while a crashed call’s claim is fresh, finds the execution it started (by its marker) instead of starting a second one', async () => {
    const t = setup();
    const runId = await triggered(t);
    // The first call claimed the attempt and started the execution, then died before recording it.
    await t.store.claimAttempt(runId, 1, new Date('2026-11-30T02:00:02Z'));
    const name = await t.jobs.run(
      { project: 'my-project', region: 'us-central1', job: 'nightly-report' },
      { env: { GLIDEPATH_JOB_ATTEMPT: `${runId}/1` } },
    );
    const view = await startAttempt(t.actions, runId, 1);
    expect(view).toMatchObject({ attempt: 1, executionName: name });
    expect(t.jobs.executions.size).toBe(1);
  });

  it('once a crashed call’s claim has expired, the new claim still finds its execution by the marker', async () => {
    const t = setup();
    const runId = await triggered(t);
    await t.store.claimAttempt(runId, 1, new Date('2026-11-30T02:00:01Z'));
    const name = await t.jobs.run(
      { project: 'my-project', region: 'us-central1', job: 'nightly-report' },
      { env: { GLIDEPATH_JOB_ATTEMPT: `${runId}/1` } },
    );
    t.tick(31);
    expect(await startAttempt(t.actions, runId, 1)).toMatchObject({ attempt: 1, executionName: name });
    expect(t.jobs.executions.size).toBe(1);
  });

  it('a transient start error gives the claim back and throws, so the retry can start the attempt at once', async () => {
    const t = setup();
    const runId = await triggered(t);
    t.jobs.failNextRun = new GlidepathError('unavailable', 'Cloud Run is unavailable');
    await expect(startAttempt(t.actions, runId, 1)).rejects.toMatchObject({ transient: true });
    expect((await t.store.getRun(runId))?.attempts).toEqual([]);
    expect(await startAttempt(t.actions, runId, 1)).toMatchObject({ attempt: 1, done: false });
  });

  it('a job that cannot run at all is a failed attempt of class configuration, not retried by default', async () => {
    const t = setup();
    const runId = await triggered(t);
    t.jobs.failNextRun = new GlidepathError('not_found', 'Job nightly-report not found');
    expect(await startAttempt(t.actions, runId, 1)).toMatchObject({
      attempt: 1,
      done: true,
      succeeded: false,
      failureClass: 'configuration',
      retried: false,
    });
  });

  it('a non-zero exit is retried after the backoff; the last attempt is not', async () => {
    const t = setup();
    const runId = await triggered(t);
    const exits = {
      state: 'FAILED' as const,
      error: 'Task failed with exit code 1',
      executionReason: 'NON_ZERO_EXIT_CODE',
    };
    const first = await startAttempt(t.actions, runId, 1);
    expect(await attemptStatus(t.actions, runId, 1, false)).toMatchObject({ done: false });
    t.jobs.end((first as { executionName: string }).executionName, exits);
    expect(await attemptStatus(t.actions, runId, 1, false)).toMatchObject({
      done: true,
      failureClass: 'exit-code',
      retried: true,
      backoffSeconds: 30,
    });
    for (const n of [2, 3, 4]) {
      const v = await startAttempt(t.actions, runId, n);
      t.jobs.end((v as { executionName: string }).executionName, exits);
      const status = await attemptStatus(t.actions, runId, n, false);
      expect([status.retried, status.backoffSeconds]).toEqual(
        n < 4 ? [true, 30 * 2 ** (n - 1)] : [false, undefined],
      );
    }
  });

  it('past the job’s timeout, cancels the still-running execution and records a timeout', async () => {
    const t = setup();
    const runId = await triggered(t);
    const v = (await startAttempt(t.actions, runId, 1)) as { executionName: string };
    const status = await attemptStatus(t.actions, runId, 1, true);
    expect(t.jobs.cancelled).toEqual([v.executionName]);
    expect(status).toMatchObject({ done: true, succeeded: false, failureClass: 'timeout' });
    expect(status.error).toMatch(
      /^timed out: still running after the job's timeout of \d+s; execution cancelled$/,
    );
  });
});

describe('finishing a run', () => {
  it('after the last failure: one dead letter, one message on the dead-letter topic, one Slack post, however often called', async () => {
    const t = setup();
    const runId = await triggered(t);
    const v = (await startAttempt(t.actions, runId, 1)) as { executionName: string };
    t.jobs.end(v.executionName, {
      state: 'FAILED',
      error: 'Task failed with exit code 3',
      executionReason: 'NON_ZERO_EXIT_CODE',
    });
    await attemptStatus(t.actions, runId, 1, false);
    const first = await finishRun(t.actions, runId, 'FAILED');
    const again = await finishRun(t.actions, runId, 'FAILED');
    expect(first).toEqual({ status: 'FAILED', deadLetterId: `job-failed-${runId}` });
    expect(again).toEqual(first);
    expect(await t.deadLetters.listDeadLetters({ all: true, limit: 10 })).toEqual([
      expect.objectContaining({
        id: `job-failed-${runId}`,
        kind: 'job-failed',
        reason: 'job nightly-report failed after 1 attempt(s) [exit-code]: Task failed with exit code 3',
      }),
    ]);
    expect(t.published).toEqual([
      expect.objectContaining({
        topic: 'glidepath-dead-letters',
        attributes: expect.objectContaining({
          glidepathKind: 'job-failed',
          jobRunId: runId,
          failureClass: 'exit-code',
        }),
      }),
    ]);
    expect(await t.store.getRun(runId)).toMatchObject({ status: 'FAILED', deadLetterMessageId: 'm-1' });
    expect(t.slack).toHaveLength(1);
  });

  it('a success keeps its status even if a late FAILED arrives, and needs no dead letter', async () => {
    const t = setup();
    const runId = await triggered(t);
    expect(await finishRun(t.actions, runId, 'SUCCEEDED')).toEqual({ status: 'SUCCEEDED' });
    expect(await finishRun(t.actions, runId, 'FAILED')).toEqual({ status: 'SUCCEEDED' });
    expect(await t.deadLetters.listDeadLetters({ all: true, limit: 10 })).toEqual([]);
    expect(t.published).toEqual([]);
  });
});
