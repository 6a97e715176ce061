/**
 * The job-run sweeper: a `job-run` workflow execution that died leaves its
 * run PENDING or RUNNING for ever. Each such run is diagnosed like a stuck
 * rollout (functions/domain/job-sweep.ts); a stuck one has its workflow
 * execution cancelled if it is merely overdue, its running Cloud Run
 * execution cancelled, its open attempt closed, and is then finished as
 * FAILED with the reason: dead letter, Pub/Sub summary and Slack, exactly
 * as after a last failed attempt. Every step is idempotent, so two sweeps
 * at once, or a sweep racing the workflow's own finish, do no harm.
 */
import { diagnoseJobRun } from '../domain/job-sweep';
import type { SweepSettings } from '../domain/sweep';
import type { JobStore, WorkflowLauncher } from '../ports';
import { finishRun, type JobActionDeps } from './jobs';

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

export interface JobSweepReport {
  checked: number;
  recovered: SweptJobRun[];
  /** Runs that could not be ended this time (retried at the next sweep). */
  errors: Array<{ jobRunId: string; error: string }>;
}

/** How many unfinished runs one sweep looks at; the rest wait for the next sweep. */
const JOB_SWEEP_LIMIT = 200;

export async function sweepJobRuns(deps: JobSweepDeps): Promise<JobSweepReport> {
  const report: JobSweepReport = { checked: 0, recovered: [], errors: [] };
  for (const run of await deps.store.listUnfinishedRuns(JOB_SWEEP_LIMIT)) {
    report.checked++;
    try {
      const execution = run.executionName ? await deps.launcher.state(run.executionName) : undefined;
      const diagnosis = diagnoseJobRun(run, execution, deps.clock.now(), deps.settings);
      if (!diagnosis.stuck) continue;
      const log = deps.log.child({ jobRunId: run.id, job: run.job });
      log.warn('stuck job run found; ending it', { reason: diagnosis.reason });
      if (diagnosis.cancelExecution && run.executionName) await deps.launcher.cancel(run.executionName);
      const endReason = `ended by the sweeper: ${diagnosis.reason}`;
      for (const attempt of run.attempts) {
        if (attempt.result !== 'STARTING' && attempt.result !== 'RUNNING') continue;
        // Nobody watches this execution any more: stop it rather than let it run unobserved.
        if (attempt.executionName) await deps.jobs.cancel(attempt.executionName);
        await deps.store.updateAttempt(
          run.id,
          attempt.number,
          { result: 'FAILED', error: endReason, endedAt: deps.clock.now().toISOString(), retried: false },
          deps.clock.now(),
        );
      }
      const finished = await finishRun({ ...deps, log }, run.id, 'FAILED', endReason);
      report.recovered.push({
        jobRunId: run.id,
        job: run.job,
        reason: diagnosis.reason,
        ...(finished.deadLetterId ? { deadLetterId: finished.deadLetterId } : {}),
      });
    } catch (err) {
      report.errors.push({ jobRunId: run.id, error: (err as Error).message });
      deps.log.error('sweep of a job run failed; retried at the next sweep', {
        jobRunId: run.id,
        error: (err as Error).message,
      });
    }
  }
  return report;
}
