/**
 * The job sweeper's decision, pure: given an unfinished job run or job image
 * rollout and what Workflows says about the `job-run` or `job-rollout`
 * execution that drives it, is anyone still driving it? The same diagnosis
 * as for rollouts (functions/domain/sweep.ts): the execution ended or
 * vanished, it was never started, or it has outlived the longest a healthy
 * one can take.
 */
import { POLL_SECONDS, type JobRunRecord } from './jobs';
import { jobPollSeconds } from './step-budget';
import { ageSeconds, ENDED, endedExecution, minutes, type ExecutionView, type SweepSettings } from './sweep';

export type JobSweepDiagnosis =
  | { stuck: false; why: string }
  | {
      stuck: true;
      reason: string;
      /** The execution is alive but has outlived any healthy one: stop it before ending the record. */
      cancelExecution: boolean;
    };

/**
 * The longest a healthy `job-run` execution lives: every attempt polled to
 * the job's timeout (plus the poll that notices it), the longest
 * backoff between each pair of attempts, and one wait for the job's lock.
 */
export function jobRunLifetimeSeconds(run: Pick<JobRunRecord, 'retry' | 'timeoutSeconds'>): number {
  const { maxAttempts, maxBackoffSeconds } = run.retry;
  const poll = jobPollSeconds(run.timeoutSeconds, maxAttempts, POLL_SECONDS);
  const attempts = maxAttempts * (run.timeoutSeconds + 2 * poll) + (maxAttempts - 1) * maxBackoffSeconds;
  // Before its first attempt a run may wait, for at most its timeout (and the poll that notices it),
  // for an image rollout of the job to release the job's lock (docs/jobs.md).
  return attempts + run.timeoutSeconds + poll;
}

/** What the diagnosis reads of a job run or a job rollout. */
interface Driven {
  id: string;
  status: string;
  executionName?: string;
  launchClaimedAt?: string | null;
  createdAt: string;
}

/**
 * The diagnosis shared by job runs and job rollouts. `noun` names the record
 * ('job run'), `workflow` the workflow that drives it; `lifetimeSeconds` is
 * the longest a healthy execution lives, counted from the record's creation.
 */
export function diagnoseDriven(
  record: Driven,
  names: { noun: string; workflow: string },
  lifetimeSeconds: number,
  execution: ExecutionView | undefined,
  now: Date,
  settings: SweepSettings,
): JobSweepDiagnosis {
  if (record.status === 'SUCCEEDED' || record.status === 'FAILED')
    return { stuck: false, why: record.status };
  if (!record.executionName) {
    const waited = ageSeconds(record.launchClaimedAt ?? record.createdAt, now);
    if (waited <= settings.launchGraceSeconds) return { stuck: false, why: 'waiting for its execution' };
    return {
      stuck: true,
      reason: `no ${names.workflow} workflow execution was started for ${minutes(waited)} (limit ${minutes(settings.launchGraceSeconds)})`,
      cancelExecution: false,
    };
  }
  const state = execution?.state ?? 'UNKNOWN';
  if (ENDED.has(state)) {
    return {
      stuck: true,
      reason: `${endedExecution(record.executionName, execution)} but ${names.noun} ${record.id} is ${record.status}`,
      cancelExecution: false,
    };
  }
  const limit = lifetimeSeconds + settings.heartbeatGraceSeconds;
  const age = ageSeconds(record.createdAt, now);
  if (age <= limit) return { stuck: false, why: `execution ${state}, ${Math.round(age)}s old` };
  return {
    stuck: true,
    reason: `workflow execution ${record.executionName} is still ${state} after ${minutes(age)}, longer than any healthy ${names.noun} (limit ${minutes(limit)})`,
    cancelExecution: true,
  };
}

export function diagnoseJobRun(
  run: JobRunRecord,
  execution: ExecutionView | undefined,
  now: Date,
  settings: SweepSettings,
): JobSweepDiagnosis {
  const names = { noun: 'job run', workflow: 'job-run' };
  return diagnoseDriven(run, names, jobRunLifetimeSeconds(run), execution, now, settings);
}
