/**
 * Scheduled jobs: a trigger message becomes one job run and one `job-run`
 * workflow execution; the workflow's actions start attempts, watch them,
 * and finish the run (dead letter and Slack after the last failure).
 * Every step is idempotent by run id and attempt number.
 */
import type {
  Clock,
  DeadLetterStore,
  JobLocks,
  JobRunner,
  JobStore,
  Notifier,
  Publisher,
  WorkflowLauncher,
} from '../ports';
import type { Policy } from '../domain/policy';
import { TOPICS, type PubsubMessage } from '../domain/messages';
import { labelValue } from '../domain/labels';
import {
  backoffSeconds,
  decideJobTrigger,
  jobFailedMessage,
  jobRecoveredMessage,
  jobRunArgument,
  retrySettings,
  type JobAttempt,
  type JobRunRecord,
} from '../domain/jobs';
import { classifyFailure, type FailureClass, type FailureEvidence } from '../domain/job-failures';
import { jobRunLifetimeSeconds } from '../domain/job-sweep';
import { GlidepathError, fromSdkError } from '../shared/errors';
import type { Logger } from '../shared/log';
import { KIND_ATTRIBUTE, recordRejection } from './dead-letter';
import { startClaimedExecution } from './launch';
import { jobRunDeadLettered } from '../domain/alerts';

export interface JobTriggerDeps {
  policy: Policy;
  store: Pick<JobStore, 'createRun' | 'claimLaunch' | 'releaseLaunch' | 'recordExecution'>;
  /** Where rejected triggers are recorded. */
  deadLetters: Pick<DeadLetterStore, 'createDeadLetter'>;
  launcher: WorkflowLauncher;
  notifier: Notifier;
  clock: Clock;
  log: Logger;
}

interface JobTriggerResult {
  outcome: 'started' | 'ignored' | 'rejected';
  reason: string;
  runId?: string;
}

export async function handleJobTrigger(
  deps: JobTriggerDeps,
  message: PubsubMessage,
): Promise<JobTriggerResult> {
  const messageId = message.messageId ?? message.message_id;
  const decision = decideJobTrigger(deps.policy, message);
  if (decision.outcome === 'rejected') {
    await recordRejection({ ...deps, store: deps.deadLetters }, TOPICS.jobTriggers, message, decision.reason);
    deps.log.warn('job trigger rejected', { messageId, outcome: 'rejected', reason: decision.reason });
    return { outcome: 'rejected', reason: decision.reason };
  }
  const { job, runId } = decision;
  const log = deps.log.child({ messageId, job: job.name, jobRunId: runId });
  const now = deps.clock.now().toISOString();
  const creation = await deps.store.createRun({
    id: runId,
    job: job.name,
    project: job.project,
    region: job.region,
    status: 'PENDING',
    trigger: decision.trigger,
    ...(decision.scheduledAt ? { scheduledAt: decision.scheduledAt } : {}),
    ...(decision.overrides ? { overrides: decision.overrides } : {}),
    retry: retrySettings(job),
    timeoutSeconds: job.timeout,
    ...(job.slack ? { slackChannel: job.slack.channel } : {}),
    message: {
      topic: TOPICS.jobTriggers,
      ...(messageId ? { messageId } : {}),
      ...(message.publishTime ? { publishTime: message.publishTime } : {}),
      ...(message.data !== undefined ? { data: message.data } : {}),
      attributes: message.attributes ?? {},
    },
    launchClaimedAt: now,
    attempts: [],
    createdAt: now,
    updatedAt: now,
  });
  if (creation.kind === 'created') {
    await launch(deps, creation.run, log);
    return { outcome: 'started', reason: `job run ${runId} started`, runId };
  }
  // A delivery that crashed between creating the run and starting it leaves it PENDING: finish its work.
  if (await deps.store.claimLaunch(runId, deps.clock.now())) {
    await launch(deps, creation.run, log);
    return { outcome: 'started', reason: `job run ${runId} started by a redelivery`, runId };
  }
  const reason = `duplicate delivery: job run ${runId} already exists (${creation.run.status})`;
  log.info('job trigger ignored', { outcome: 'ignored', reason });
  return { outcome: 'ignored', reason, runId };
}

async function launch(deps: JobTriggerDeps, run: JobRunRecord, log: Logger): Promise<void> {
  const executionName = await startClaimedExecution(deps, run.id, () =>
    deps.launcher.start('job-run', jobRunArgument(run), {
      job_run_id: labelValue(run.id),
      job: labelValue(run.job),
    }),
  );
  log.info('job run started', { outcome: 'started', reason: `trigger ${run.trigger}`, executionName });
}

// The actions of the job-run workflow.

export interface JobActionDeps {
  store: Pick<
    JobStore,
    | 'getRun'
    | 'claimAttempt'
    | 'releaseAttempt'
    | 'updateAttempt'
    | 'finishRun'
    | 'updateRun'
    | 'claimNotification'
  >;
  deadLetters: Pick<DeadLetterStore, 'createDeadLetter'>;
  jobs: JobRunner;
  /** The job's lock, shared with its image rollouts: a run holds it from its first attempt to its finish. */
  locks: JobLocks;
  notifier: Notifier;
  publisher: Publisher;
  deadLetterTopic: string;
  clock: Clock;
  log: Logger;
}

/** What the workflow needs to know about one attempt. */
interface AttemptView {
  attempt: number;
  executionName?: string;
  done: boolean;
  succeeded: boolean;
  error?: string;
  failureClass?: FailureClass;
  /** For a failed attempt: whether another attempt follows (false: the workflow stops and finishes). */
  retried?: boolean;
  /** Seconds to wait before the next attempt; absent when it succeeded or was the last. */
  backoffSeconds?: number;
}

function view(a: JobAttempt): AttemptView {
  const done = a.result === 'SUCCEEDED' || a.result === 'FAILED';
  return {
    attempt: a.number,
    ...(a.executionName ? { executionName: a.executionName } : {}),
    done,
    succeeded: a.result === 'SUCCEEDED',
    ...(a.error ? { error: a.error } : {}),
    ...(a.failureClass ? { failureClass: a.failureClass } : {}),
    ...(a.retried !== undefined ? { retried: a.retried } : {}),
    ...(a.backoffSeconds !== undefined ? { backoffSeconds: a.backoffSeconds } : {}),
  };
}

/**
 * The final fields of a failed attempt: its class and evidence, and the wait
 * before the next one when attempts remain and the class is in `retry.on`.
 */
function failed(
  run: JobRunRecord,
  number: number,
  error: string,
  evidence: FailureEvidence,
  now: Date,
): Partial<JobAttempt> {
  const classified = classifyFailure(evidence);
  const retried = number < run.retry.maxAttempts && run.retry.retryOn.includes(classified.failureClass);
  return {
    result: 'FAILED',
    error,
    failureClass: classified.failureClass,
    evidence: classified.evidence,
    retried,
    endedAt: now.toISOString(),
    ...(retried ? { backoffSeconds: backoffSeconds(run.retry, number) } : {}),
  };
}

/** The env var that tags an attempt's execution, so a retried start can find it. */
const ATTEMPT_MARKER = 'GLIDEPATH_JOB_ATTEMPT';

function attemptMarker(runId: string, number: number): { name: string; value: string } {
  return { name: ATTEMPT_MARKER, value: `${runId}/${number}` };
}

/**
 * Starts attempt `number` of a run (once: a retried call returns the same
 * execution). Each execution carries the attempt's marker in its env, so a
 * call that crashed after Cloud Run started the execution, but before it was
 * recorded, is found by the retry rather than started twice. A job that
 * cannot be run at all (not found, no permission) is a failed attempt,
 * retried by the workflow like any other failure; a transient error answers
 * 503 so the workflow's retry policy calls again.
 */
export async function startAttempt(
  deps: JobActionDeps,
  runId: string,
  number: number,
  lockTimedOut = false,
): Promise<AttemptView | { finished: JobRunRecord['status'] } | { waitingFor: string }> {
  const marker = attemptMarker(runId, number);
  const held = await takeJobLock(deps, runId);
  if (held && !lockTimedOut) return { waitingFor: held };
  let claim;
  try {
    claim = await deps.store.claimAttempt(runId, number, deps.clock.now());
  } catch (err) {
    // Another call holds the claim: it may have died after starting the execution.
    if (!(err instanceof GlidepathError) || err.code !== 'conflict') throw err;
    const run = await deps.store.getRun(runId);
    const started = run && (await deps.jobs.findExecution(run, marker));
    if (!started) throw err;
    return recordStarted(deps, runId, number, started);
  }
  if (claim.kind === 'finished') return { finished: claim.run.status };
  if (claim.kind === 'started') return view(claim.attempt);
  const { run } = claim;
  if (held) {
    // Waited the job's whole timeout for an image rollout of the job: this attempt fails without running.
    const error = `not started: ${held} kept the job for longer than the job's timeout of ${run.timeoutSeconds}s`;
    const evidence: FailureEvidence = { stage: 'start', code: 'conflict', message: error };
    const now = deps.clock.now();
    return view(
      await deps.store.updateAttempt(runId, number, failed(run, number, error, evidence, now), now),
    );
  }
  let executionName: string;
  try {
    executionName =
      (await deps.jobs.findExecution(run, marker)) ??
      (await deps.jobs.run(
        { project: run.project, region: run.region, job: run.job },
        { ...run.overrides, env: { ...run.overrides?.env, [marker.name]: marker.value } },
      ));
  } catch (err) {
    const e = fromSdkError(err);
    if (e.transient) {
      await deps.store.releaseAttempt(runId, number, deps.clock.now());
      throw e;
    }
    deps.log.warn('job attempt could not start', { attempt: number, error: e.message });
    const evidence: FailureEvidence = { stage: 'start', code: e.code, message: e.message };
    return view(
      await deps.store.updateAttempt(
        runId,
        number,
        failed(run, number, e.message, evidence, deps.clock.now()),
        deps.clock.now(),
      ),
    );
  }
  return recordStarted(deps, runId, number, executionName);
}

/** The lock holder name of a job run (image rollouts hold `rollout:<id>`). */
const runHolder = (runId: string): string => `run:${runId}`;

/**
 * Takes (or renews) the job's lock for the run, until the longest a healthy
 * run lives; returns who holds it when that is an image rollout of the job.
 * A finished or missing run takes nothing: claiming the attempt answers it.
 */
async function takeJobLock(deps: JobActionDeps, runId: string): Promise<string | undefined> {
  const run = await deps.store.getRun(runId);
  if (!run || run.status === 'SUCCEEDED' || run.status === 'FAILED') return undefined;
  const now = deps.clock.now();
  const until = new Date(now.getTime() + jobRunLifetimeSeconds(run) * 1000);
  const lock = await deps.locks.acquire(run.job, runHolder(runId), until, now);
  if (!('heldBy' in lock)) return undefined;
  deps.log.info('job run waits for the job', { job: run.job, heldBy: lock.heldBy });
  return lock.heldBy;
}

async function recordStarted(
  deps: JobActionDeps,
  runId: string,
  number: number,
  executionName: string,
): Promise<AttemptView> {
  const now = deps.clock.now();
  deps.log.info('job attempt started', { attempt: number, executionName });
  return view(
    await deps.store.updateAttempt(
      runId,
      number,
      { executionName, startedAt: now.toISOString(), result: 'RUNNING' },
      now,
    ),
  );
}

/**
 * Reads attempt `number`'s execution and records its end when it has one.
 * `timedOut`: the workflow has polled for the job's whole timeout, so a
 * still-running execution counts as a failed attempt.
 */
export async function attemptStatus(
  deps: JobActionDeps,
  runId: string,
  number: number,
  timedOut: boolean,
): Promise<AttemptView> {
  const run = await deps.store.getRun(runId);
  if (!run) throw new GlidepathError('not_found', `job run ${runId} not found`);
  const attempt = run.attempts.find((a) => a.number === number);
  if (!attempt?.executionName)
    throw new GlidepathError('invalid', `attempt: expected a started attempt of ${runId}, got ${number}`);
  if (attempt.result === 'SUCCEEDED' || attempt.result === 'FAILED') return view(attempt);
  const execution = await deps.jobs.getExecution(attempt.executionName);
  const now = deps.clock.now();
  let patch: Partial<JobAttempt>;
  if (execution.state === 'SUCCEEDED') patch = { result: 'SUCCEEDED', endedAt: now.toISOString() };
  else if (execution.state === 'FAILED' || execution.state === 'CANCELLED') {
    const error = execution.error ?? `execution ${execution.state.toLowerCase()}`;
    const evidence: FailureEvidence = {
      stage: 'execution',
      message: error,
      ...(execution.reason ? { reason: execution.reason } : {}),
      ...(execution.executionReason ? { executionReason: execution.executionReason } : {}),
    };
    patch = failed(run, number, error, evidence, now);
  } else if (timedOut) {
    // Past the job's timeout: stop the execution, so a later attempt never runs beside it.
    await deps.jobs.cancel(attempt.executionName);
    const error = `timed out: still running after the job's timeout of ${run.timeoutSeconds}s; execution cancelled`;
    patch = failed(run, number, error, { stage: 'deadline', message: error }, now);
  } else return view(attempt);
  const stored = await deps.store.updateAttempt(runId, number, patch, now);
  deps.log.log(stored.result === 'SUCCEEDED' ? 'INFO' : 'WARNING', 'job attempt ended', {
    attempt: number,
    result: stored.result,
    error: stored.error,
    failureClass: stored.failureClass,
    executionName: stored.executionName,
  });
  return view(stored);
}

/** `job J failed after N attempt(s) [class]: error`, and why it stopped early when it did. */
function failedRunReason(run: JobRunRecord): string {
  if (run.endReason) return `job ${run.job} ${run.endReason}`;
  const last = run.attempts.at(-1);
  const early =
    last?.failureClass && last.retried === false && run.attempts.length < run.retry.maxAttempts
      ? ` (not retried: ${last.failureClass} is not in retry.on)`
      : '';
  return `job ${run.job} failed after ${run.attempts.length} attempt(s)${last?.failureClass ? ` [${last.failureClass}]` : ''}${last?.error ? `: ${last.error}` : ''}${early}`;
}

/**
 * Ends the run. After the last failure: the dead letter (with every attempt
 * and the original message), a message on the dead-letter topic marked
 * `glidepathKind=job-failed`, and Slack. A success after failures tells
 * Slack it recovered. Each effect happens once however often this is called.
 */
export async function finishRun(
  deps: JobActionDeps,
  runId: string,
  result: 'SUCCEEDED' | 'FAILED',
  endReason?: string,
): Promise<{ status: JobRunRecord['status']; deadLetterId?: string }> {
  const now = deps.clock.now();
  let run = await deps.store.finishRun(runId, result, now, endReason);
  if (run.status === 'FAILED') {
    const deadLetterId = `job-failed-${run.id}`;
    const last = run.attempts.at(-1);
    await deps.deadLetters.createDeadLetter({
      id: deadLetterId,
      kind: 'job-failed',
      source: run.message.topic,
      reason: failedRunReason(run),
      ...(run.message.data !== undefined ? { data: run.message.data } : {}),
      attributes: run.message.attributes,
      ...(run.message.messageId ? { messageId: run.message.messageId } : {}),
      details: {
        job: run.job,
        jobRunId: run.id,
        executionName: run.executionName,
        ...(last?.failureClass ? { failureClass: last.failureClass, evidence: last.evidence } : {}),
        attempts: run.attempts,
        message: run.message,
      },
      createdAt: now.toISOString(),
      replayed: false,
    });
    if (!run.deadLetterMessageId) {
      const payload = {
        deadLetterId,
        job: run.job,
        jobRunId: run.id,
        ...(last?.failureClass ? { failureClass: last.failureClass } : {}),
        attempts: run.attempts,
        message: run.message,
      };
      const deadLetterMessageId = await deps.publisher.publish(
        deps.deadLetterTopic,
        Buffer.from(JSON.stringify(payload)),
        {
          [KIND_ATTRIBUTE]: 'job-failed',
          deadLetterId,
          job: run.job,
          jobRunId: run.id,
          ...(last?.failureClass ? { failureClass: last.failureClass } : {}),
        },
      );
      await deps.store.updateRun(runId, { deadLetterId, deadLetterMessageId }, now);
      run = { ...run, deadLetterId, deadLetterMessageId };
    }
    if (await deps.store.claimNotification(runId, now))
      await deps.notifier.notify({
        ...jobFailedMessage(run, deadLetterId),
        alerts: [jobRunDeadLettered(run, deadLetterId)],
      });
    // The job's lock goes last: its image rollout waits until the failure is fully recorded.
    await deps.locks.release(run.job, runHolder(runId));
    deps.log.error('job run failed', { outcome: 'failed', attempts: run.attempts.length, deadLetterId });
    return { status: run.status, deadLetterId };
  }
  await deps.locks.release(run.job, runHolder(runId));
  if (run.attempts.length > 1 && (await deps.store.claimNotification(runId, now)))
    await deps.notifier.notify(jobRecoveredMessage(run));
  deps.log.info('job run succeeded', { outcome: 'succeeded', attempts: run.attempts.length });
  return { status: run.status };
}
