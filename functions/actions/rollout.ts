/**
 * The rollout workflow's actions: thin HTTP wrappers over
 * usecases/rollout.ts. A stopped rollout answers 409 so the workflow ends.
 */
import { z } from 'zod';
import { defineAction, ok, stop, type Action, type ActionContext, type ActionResult } from './action';
import * as rollout from '../usecases/rollout';
import * as gates from '../usecases/gates';
import { ROLLOUT_STATUSES } from '../domain/records';

const RolloutId = z.string().regex(/^[a-z][a-z0-9-]{1,100}$/, 'expected a rollout id');
const Region = z.string().regex(/^[a-z]+-[a-z]+\d+$/, 'expected a region such as "us-central1"');
const ExecutionId = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,100}$/)
  .optional();
const InRegion = z.strictObject({ rolloutId: RolloutId, region: Region, executionId: ExecutionId });
const AtStep = z.strictObject({
  rolloutId: RolloutId,
  region: Region,
  step: z.number().int().min(0).max(19),
  executionId: ExecutionId,
});

/** The use-case dependencies, from the runtime. */
export function rolloutDeps(ctx: ActionContext): rollout.RolloutDeps {
  const { rt } = ctx;
  return {
    store: rt.store,
    router: rt.router(),
    metrics: rt.metrics(),
    looks: rt.looks,
    reportSource: rt.reportSource,
    ...(rt.reports ? { reports: rt.reports } : {}),
    notifier: rt.notifier,
    launcher: rt.launcher,
    clock: rt.clock,
    log: ctx.log,
    timeScale: rt.config.GLIDEPATH_TIME_SCALE,
    idTokens: rt.idTokens(),
    probe: async (url, { timeoutMs, idToken }) =>
      (
        await fetch(url, {
          headers: { authorization: `Bearer ${idToken}` },
          signal: AbortSignal.timeout(timeoutMs),
          redirect: 'manual',
        })
      ).status,
  };
}

async function guarded(fn: () => Promise<Record<string, unknown>>): Promise<ActionResult> {
  try {
    return ok(await fn());
  } catch (err) {
    if (err instanceof rollout.RolloutStopped) return stop(err.message);
    throw err;
  }
}

/** The Slack channel of a service, from the policy. */
const channelOf =
  ({ rt }: ActionContext) =>
  (service: string): string | undefined =>
    rt.policy.services.find((s) => s.name === service)?.slack?.channel;

/** What deciding a gate needs (the Slack interaction function and the CLI bind decideGate with it). */
export function gateDecisionDeps(ctx: ActionContext): gates.GateDeps {
  const { rt } = ctx;
  return {
    gates: rt.gates,
    callbacks: rt.gateCallbacks(),
    clock: rt.clock,
    log: ctx.log,
    notifier: rt.notifier,
    channelOf: channelOf(ctx),
  };
}

function gateDeps(ctx: ActionContext): gates.GateActionDeps {
  const { rt } = ctx;
  return {
    store: rt.store,
    gates: rt.gates,
    clock: rt.clock,
    log: ctx.log,
    notifier: rt.notifier,
    channelOf: channelOf(ctx),
    timeScale: rt.config.GLIDEPATH_TIME_SCALE,
  };
}

const GateName = z.string().regex(/^(before|promote)-[a-z][a-z0-9-]{0,29}$/, 'expected a gate name');

export const ROLLOUT_ACTIONS: Record<string, Action> = {
  deploy: defineAction(InRegion, (ctx, b) =>
    guarded(() => rollout.deploy(rolloutDeps(ctx), b.rolloutId, b.region, b.executionId)),
  ),
  smoke: defineAction(InRegion, (ctx, b) =>
    guarded(() => rollout.smoke(rolloutDeps(ctx), b.rolloutId, b.region, b.executionId)),
  ),
  shift: defineAction(AtStep, (ctx, b) =>
    guarded(() => rollout.shift(rolloutDeps(ctx), b.rolloutId, b.region, b.step, b.executionId)),
  ),
  // One look at a step (once a minute). With `advance`, a PASS also shifts to
  // the next step in the same call: one workflow step fewer per traffic step
  // (Workflows bills per step).
  analyze: defineAction(AtStep.extend({ advance: z.boolean().default(false) }), (ctx, b) =>
    guarded(async () => {
      const deps = rolloutDeps(ctx);
      const j = await rollout.analyze(deps, b.rolloutId, b.region, b.step, b.executionId);
      const shiftedTo =
        j.verdict === 'PASS' && b.advance
          ? (await rollout.shift(deps, b.rolloutId, b.region, b.step + 1, b.executionId)).percent
          : undefined;
      return {
        verdict: j.verdict,
        reasons: j.reasons,
        nextLookSeconds: j.nextLookSeconds,
        extensions: j.extensions,
        ...(shiftedTo !== undefined ? { shiftedTo } : {}),
      };
    }),
  ),
  promote: defineAction(InRegion, (ctx, b) =>
    guarded(() => rollout.promote(rolloutDeps(ctx), b.rolloutId, b.region, b.executionId)),
  ),
  // Rollback never answers 409: taking a candidate down is always allowed.
  rollback: defineAction(
    z.strictObject({
      rolloutId: RolloutId,
      region: Region,
      reason: z.string().min(1).max(2000),
      includePromoted: z.boolean().default(false),
      executionId: ExecutionId,
    }),
    async (ctx, b) =>
      ok(
        await rollout.rollbackRegion(rolloutDeps(ctx), b.rolloutId, b.region, b.reason, {
          includePromoted: b.includePromoted,
          ...(b.executionId ? { executionId: b.executionId } : {}),
        }),
      ),
  ),
  complete: defineAction(
    z.strictObject({
      rolloutId: RolloutId,
      status: z.enum(ROLLOUT_STATUSES),
      reason: z.string().min(1).max(2000),
      executionId: ExecutionId,
    }),
    async (ctx, b) =>
      ok(await rollout.complete(rolloutDeps(ctx), b.rolloutId, b.status, b.reason, b.executionId)),
  ),
  // The workflow opens a gate with the callback it will await; the approval message goes out here.
  open_gate: defineAction(
    z.strictObject({
      rolloutId: RolloutId,
      stage: z.string().regex(/^[a-z][a-z0-9-]{0,29}$/, 'expected a stage name'),
      position: z.enum(['before', 'promote']),
      callbackUrl: z.url({ protocol: /^https?$/ }),
      executionId: ExecutionId,
    }),
    async (ctx, b) => {
      try {
        const { gate } = await gates.openGate(gateDeps(ctx), b);
        return ok({ gate: gate.name, status: gate.status, expiresAt: gate.expiresAt });
      } catch (err) {
        if (err instanceof gates.GateStopped) return stop(err.message);
        throw err;
      }
    },
  ),
  // The wait timed out: the gate expires unless a decision was recorded first, which then stands.
  expire_gate: defineAction(
    z.strictObject({ rolloutId: RolloutId, gate: GateName, executionId: ExecutionId }),
    async (ctx, b) => {
      const gate = await gates.expireGate(gateDeps(ctx), b);
      return ok({
        gate: gate.name,
        status: gate.status,
        ...(gate.decision ? { decision: gate.decision } : {}),
      });
    },
  ),
  notify: defineAction(
    z.strictObject({ rolloutId: RolloutId, text: z.string().min(1).max(3000), executionId: ExecutionId }),
    async (ctx, b) =>
      ok({
        delivered: await ctx.rt.notifier.notify({
          text: b.text,
          blocks: [
            { type: 'section', text: { type: 'mrkdwn', text: `${b.text} (rollout \`${b.rolloutId}\`)` } },
          ],
        }),
      }),
  ),
};
