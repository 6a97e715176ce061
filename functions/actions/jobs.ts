/**
 * The actions of the `job-run` workflow: start an attempt, read its status,
 * finish the run. Each is idempotent by run id and attempt number, so the
 * workflow may retry any of them.
 */
import { z } from 'zod';
import { defineAction, ok, stop, type Action, type ActionContext } from './action';
import { attemptStatus, finishRun, startAttempt, type JobActionDeps } from '../usecases/jobs';

const RunId = z.string().min(1).max(200);
const Attempt = z.number().int().min(1).max(20);

/** What the job use cases need, from the runtime (also the sweeper's, for job runs). */
export function jobActionDeps(ctx: Pick<ActionContext, 'rt' | 'log'>): JobActionDeps {
  return {
    store: ctx.rt.jobStore,
    deadLetters: ctx.rt.deadLetters,
    jobs: ctx.rt.jobs(),
    locks: ctx.rt.jobLocks,
    notifier: ctx.rt.notifier,
    publisher: ctx.rt.publisher(),
    deadLetterTopic: ctx.rt.config.GLIDEPATH_DEAD_LETTER_TOPIC,
    clock: ctx.rt.clock,
    log: ctx.log,
  };
}

function deps(ctx: ActionContext, runId: string): JobActionDeps {
  return jobActionDeps({ rt: ctx.rt, log: ctx.log.child({ jobRunId: runId }) });
}

export const JOB_ACTIONS: Record<string, Action> = {
  job_run_attempt: defineAction(
    z.strictObject({ runId: RunId, attempt: Attempt, lockTimedOut: z.boolean().default(false) }),
    async (ctx, input) => {
      const result = await startAttempt(
        deps(ctx, input.runId),
        input.runId,
        input.attempt,
        input.lockTimedOut,
      );
      return 'finished' in result
        ? stop(`job run ${input.runId} is already ${result.finished}`)
        : ok({ ...result });
    },
  ),
  job_attempt_status: defineAction(
    z.strictObject({ runId: RunId, attempt: Attempt, timedOut: z.boolean().default(false) }),
    async (ctx, input) =>
      ok({ ...(await attemptStatus(deps(ctx, input.runId), input.runId, input.attempt, input.timedOut)) }),
  ),
  job_run_finish: defineAction(
    z.strictObject({ runId: RunId, result: z.enum(['SUCCEEDED', 'FAILED']) }),
    async (ctx, input) => ok({ ...(await finishRun(deps(ctx, input.runId), input.runId, input.result)) }),
  ),
};
