/**
 * The job-run sweeper's decision, pure: given an unfinished job run and
 * what Workflows says about the `job-run` execution that drives it, is
 * anyone still driving it? The same diagnosis as for rollouts
 * (functions/domain/sweep.ts): the execution ended or vanished, it was
 * never started, or it has outlived the longest a healthy run can take.
 */
import { POLL_SECONDS, type JobRunRecord } from './jobs';
import { jobPollSeconds } from './step-budget';
import { ageSeconds, ENDED, minutes, type ExecutionView, type SweepSettings } from './sweep';

type JobRunDiagnosis =
  | { stuck: false; why: string }
  | {
      stuck: true;
      reason: string;
      /** The execution is alive but has outlived any healthy run: stop it before ending the run. */
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

export function diagnoseJobRun(
  run: JobRunRecord,
  execution: ExecutionView | undefined,
  now: Date,
  settings: SweepSettings,
): JobRunDiagnosis {
  if (run.status === 'SUCCEEDED' || run.status === 'FAILED') return { stuck: false, why: run.status };
  if (!run.executionName) {
    const waited = ageSeconds(run.launchClaimedAt ?? run.createdAt, now);
    if (waited <= settings.launchGraceSeconds) return { stuck: false, why: 'waiting for its execution' };
    return {
      stuck: true,
      reason: `no job-run workflow execution was started for ${minutes(waited)} (limit ${minutes(settings.launchGraceSeconds)})`,
      cancelExecution: false,
    };
  }
  const state = execution?.state ?? 'UNKNOWN';
  if (ENDED.has(state)) {
    const how =
      state === 'MISSING'
        ? 'no longer exists'
        : `is ${state}${execution?.error ? ` (${execution.error})` : ''}`;
    return {
      stuck: true,
      reason: `workflow execution ${run.executionName} ${how} but job run ${run.id} is ${run.status}`,
      cancelExecution: false,
    };
  }
  const limit = jobRunLifetimeSeconds(run) + settings.heartbeatGraceSeconds;
  const age = ageSeconds(run.createdAt, now);
  if (age <= limit) return { stuck: false, why: `execution ${state}, ${Math.round(age)}s old` };
  return {
    stuck: true,
    reason: `workflow execution ${run.executionName} is still ${state} after ${minutes(age)}, longer than any healthy run (limit ${minutes(limit)})`,
    cancelExecution: true,
  };
}
