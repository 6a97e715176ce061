/**
 * The actions of the `job-rollout` workflow: take the job's lock, update one
 * region, drive its verification, finish (restoring on failure). Each is
 * idempotent by (rollout id, region), so the workflow may retry any of them.
 */
import { z } from 'zod';
import { defineAction, ok, stop, type Action, type ActionContext } from './action';
import {
  beginJobRollout,
  finishJobRollout,
  updateJobRegion,
  verifyJobRegion,
  type JobRolloutDeps,
} from '../usecases/job-rollout';

const RolloutId = z.string().min(1).max(200);
const Region = z.string().regex(/^[a-z]+-[a-z]+\d+$/, 'expected a region such as "us-central1"');

/** What the job rollout use cases need, from the runtime. */
export function jobRolloutDeps(ctx: Pick<ActionContext, 'rt' | 'log'>): JobRolloutDeps {
  return {
    store: ctx.rt.jobRollouts,
    locks: ctx.rt.jobLocks,
    templates: ctx.rt.jobTemplates(),
    jobs: ctx.rt.jobs(),
    notifier: ctx.rt.notifier,
    clock: ctx.rt.clock,
    log: ctx.log,
  };
}

function deps(ctx: ActionContext, rolloutId: string, region?: string): JobRolloutDeps {
  return jobRolloutDeps({
    rt: ctx.rt,
    log: ctx.log.child({ jobRolloutId: rolloutId, ...(region ? { region } : {}) }),
  });
}

const answer = (result: Record<string, unknown>) =>
  'stop' in result && typeof result.stop === 'string' ? stop(result.stop) : ok(result);

export const JOB_ROLLOUT_ACTIONS: Record<string, Action> = {
  job_rollout_begin: defineAction(z.strictObject({ rolloutId: RolloutId }), async (ctx, input) =>
    answer({ ...(await beginJobRollout(deps(ctx, input.rolloutId), input.rolloutId)) }),
  ),
  job_rollout_update: defineAction(
    z.strictObject({ rolloutId: RolloutId, region: Region }),
    async (ctx, input) =>
      answer({
        ...(await updateJobRegion(deps(ctx, input.rolloutId, input.region), input.rolloutId, input.region)),
      }),
  ),
  job_rollout_verify: defineAction(
    z.strictObject({ rolloutId: RolloutId, region: Region, timedOut: z.boolean().default(false) }),
    async (ctx, input) =>
      answer({
        ...(await verifyJobRegion(
          deps(ctx, input.rolloutId, input.region),
          input.rolloutId,
          input.region,
          input.timedOut,
        )),
      }),
  ),
  job_rollout_finish: defineAction(
    z.strictObject({
      rolloutId: RolloutId,
      result: z.enum(['SUCCEEDED', 'FAILED']),
      reason: z.string().optional(),
    }),
    async (ctx, input) =>
      ok({
        ...(await finishJobRollout(deps(ctx, input.rolloutId), input.rolloutId, input.result, input.reason)),
      }),
  ),
};
