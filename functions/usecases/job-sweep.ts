/**
 * The job sweeper: a `job-run` or `job-rollout` workflow execution that
 * died leaves its job run, or its job image rollout, PENDING or RUNNING for
 * ever. Each is diagnosed like a stuck rollout (functions/domain/job-sweep.ts);
 * a stuck one has its workflow execution cancelled if it is merely overdue,
 * and is then ended the way its own workflow ends it on failure:
 * - a job run: its running Cloud Run execution cancelled, its open attempt
 *   closed, then finished as FAILED with the reason: dead letter, Pub/Sub
 *   summary and Slack, exactly as after a last failed attempt;
 * - a job rollout: finished as FAILED with the reason, which restores the
 *   recorded template in every region it changed (cancelling a verification
 *   still running there), releases the job's lock and tells Slack.
 * Every step is idempotent, so two sweeps at once, or a sweep racing the
 * workflow's own finish, do no harm.
 */
import { diagnoseJobRun, type JobSweepDiagnosis } from '../domain/job-sweep';
import { diagnoseJobRollout } from '../domain/job-rollout';
import type { ExecutionView, SweepSettings } from '../domain/sweep';
import type { Clock, JobRolloutStore, JobStore, WorkflowLauncher } from '../ports';
import type { Logger } from '../shared/log';
import { finishRun, type JobActionDeps } from './jobs';
import { finishJobRollout, type JobRolloutDeps } from './job-rollout';

interface SweepEachDeps {
  launcher: Pick<WorkflowLauncher, 'state' | 'cancel'>;
  settings: SweepSettings;
  clock: Clock;
  log: Logger;
}

/** What a sweep of one kind found; `errors`: records not ended this time (retried at the next sweep). */
interface SweepReportOf<Ended, Failed> {
  checked: number;
  recovered: Ended[];
  errors: Failed[];
}

/** How many unfinished records of each kind one sweep looks at; the rest wait for the next sweep. */
const JOB_SWEEP_LIMIT = 200;

/**
 * Diagnoses each record and ends the stuck ones with `end`; a record that
 * could not be ended is reported in `errors` (and retried at the next sweep).
 */
async function sweepEach<R extends { id: string; job: string; executionName?: string }, Ended, Failed>(
  deps: SweepEachDeps,
  records: R[],
  kind: { noun: string; idKey: string },
  diagnose: (r: R, e: ExecutionView | undefined, now: Date, s: SweepSettings) => JobSweepDiagnosis,
  end: (r: R, reason: string, log: Logger) => Promise<Ended>,
  failed: (r: R, error: string) => Failed,
): Promise<SweepReportOf<Ended, Failed>> {
  const report: SweepReportOf<Ended, Failed> = { checked: 0, recovered: [], errors: [] };
  for (const r of records) {
    report.checked++;
    try {
      const execution = r.executionName ? await deps.launcher.state(r.executionName) : undefined;
      const diagnosis = diagnose(r, execution, deps.clock.now(), deps.settings);
      if (!diagnosis.stuck) continue;
      const log = deps.log.child({ [kind.idKey]: r.id, job: r.job });
      log.warn(`stuck ${kind.noun} found; ending it`, { reason: diagnosis.reason });
      if (diagnosis.cancelExecution && r.executionName) await deps.launcher.cancel(r.executionName);
      report.recovered.push(await end(r, diagnosis.reason, log));
    } catch (err) {
      report.errors.push(failed(r, (err as Error).message));
      deps.log.error(`sweep of a ${kind.noun} failed; retried at the next sweep`, {
        [kind.idKey]: r.id,
        error: (err as Error).message,
      });
    }
  }
  return report;
}

const endReason = (reason: string) => `ended by the sweeper: ${reason}`;

interface JobSweepDeps extends JobActionDeps {
  store: JobActionDeps['store'] & Pick<JobStore, 'listUnfinishedRuns'>;
  launcher: Pick<WorkflowLauncher, 'state' | 'cancel'>;
  settings: SweepSettings;
}

interface SweptJobRun {
  jobRunId: string;
  job: string;
  reason: string;
  deadLetterId?: string;
}

export type JobSweepReport = SweepReportOf<SweptJobRun, { jobRunId: string; error: string }>;

export async function sweepJobRuns(deps: JobSweepDeps): Promise<JobSweepReport> {
  return sweepEach(
    deps,
    await deps.store.listUnfinishedRuns(JOB_SWEEP_LIMIT),
    { noun: 'job run', idKey: 'jobRunId' },
    diagnoseJobRun,
    async (run, reason, log): Promise<SweptJobRun> => {
      for (const attempt of run.attempts) {
        if (attempt.result !== 'STARTING' && attempt.result !== 'RUNNING') continue;
        // Nobody watches this execution any more: stop it rather than let it run unobserved.
        if (attempt.executionName) await deps.jobs.cancel(attempt.executionName);
        await deps.store.updateAttempt(
          run.id,
          attempt.number,
          {
            result: 'FAILED',
            error: endReason(reason),
            endedAt: deps.clock.now().toISOString(),
            retried: false,
          },
          deps.clock.now(),
        );
      }
      const finished = await finishRun({ ...deps, log }, run.id, 'FAILED', endReason(reason));
      return {
        jobRunId: run.id,
        job: run.job,
        reason,
        ...(finished.deadLetterId ? { deadLetterId: finished.deadLetterId } : {}),
      };
    },
    (run, error) => ({ jobRunId: run.id, error }),
  );
}

interface JobRolloutSweepDeps extends JobRolloutDeps {
  store: JobRolloutStore;
  launcher: Pick<WorkflowLauncher, 'state' | 'cancel'>;
  settings: SweepSettings;
}

interface SweptJobRollout {
  jobRolloutId: string;
  job: string;
  reason: string;
  /** The regions whose recorded template was put back. */
  restored: string[];
}

export type JobRolloutSweepReport = SweepReportOf<SweptJobRollout, { jobRolloutId: string; error: string }>;

export async function sweepJobRollouts(deps: JobRolloutSweepDeps): Promise<JobRolloutSweepReport> {
  return sweepEach(
    deps,
    await deps.store.listUnfinished(JOB_SWEEP_LIMIT),
    { noun: 'job rollout', idKey: 'jobRolloutId' },
    diagnoseJobRollout,
    async (r, reason, log): Promise<SweptJobRollout> => {
      const finished = await finishJobRollout({ ...deps, log }, r.id, 'FAILED', endReason(reason));
      return { jobRolloutId: r.id, job: r.job, reason, restored: finished.restored };
    },
    (r, error) => ({ jobRolloutId: r.id, error }),
  );
}
