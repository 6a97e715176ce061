/**
 * A verified Slack click (functions/entry/slack-interactions.ts checked its
 * signature): answers a gate (`gp_approve` / `gp_reject`, through
 * decideGate) or stops a running rollout (`gp_abort` / `gp_rollback`), then
 * tells Slack through the click's `response_url`: the original message is
 * replaced with the decision for everyone to see, and anything that changed
 * nothing (not allowed, already decided, rollout ended) is told only to the
 * user who clicked.
 *
 * A stop answers within Slack's 3 seconds: the click's request only records
 * it (execution cancelled, record ended) and hands the slow part, restoring
 * the regions, to the rollout-stops worker through Pub/Sub (docs/slack.md).
 */
import type { Clock, RolloutStore, SlackResponder, SlackResponse } from '../ports';
import type { Policy } from '../domain/policy';
import { isTerminal, regionsStopTakesBack, type RolloutRecord } from '../domain/records';
import type { RolloutStop } from '../domain/messages';
import {
  GATE_ACTIONS,
  GateButtonValue,
  ROLLOUT_ACTIONS,
  RolloutButtonValue,
  decidedMessage,
  ephemeral,
  mention,
  stoppingText,
  type BlockActionsPayload,
  type GateAction,
  type RolloutAction,
} from '../domain/interactions';
import { describeIssues } from '../domain/validation';
import type { Logger } from '../shared/log';
import type { z } from 'zod';
import { isApprover } from '../domain/gates';
import type { DecideGateResult, Decider, GateDecision } from './gates';

export interface InteractionDeps {
  store: RolloutStore;
  policy: Policy;
  clock: Clock;
  log: Logger;
  responder: SlackResponder;
  /** functions/usecases/gates.ts's decideGate, bound to its ports. */
  decideGate(input: {
    rolloutId: string;
    gate: string;
    decision: GateDecision;
    by: Decider;
    reason?: string;
  }): Promise<DecideGateResult>;
  /** functions/usecases/rollout.ts's recordStop, bound to its ports: the fast half of a stop. */
  recordStop(
    rolloutId: string,
    status: RolloutStop['status'],
    reason: string,
  ): Promise<{ rollout: RolloutRecord; stopped: boolean }>;
  /** Hands a recorded stop to the rollout-stops worker (Pub/Sub `glidepath-rollout-stops`). */
  publishStop(stop: RolloutStop): Promise<void>;
}

/**
 * What a click came to; `decided` changed something, the others changed
 * nothing. `afterAnswer` runs once the clicking user has been answered.
 */
type ClickOutcome =
  | { kind: 'decided'; message: string; afterAnswer?: () => Promise<void> }
  | { kind: 'not_allowed'; message: string }
  | { kind: 'unchanged'; message: string }
  | { kind: 'invalid'; message: string };

const STOPS: Record<RolloutAction, { status: RolloutStop['status']; verb: string; button: string }> = {
  gp_abort: { status: 'ABORTED', verb: 'aborted', button: 'Abort' },
  gp_rollback: { status: 'ROLLED_BACK', verb: 'rolled back', button: 'Roll back now' },
};

/**
 * Who may press Abort / Roll back now on a service's messages: its
 * `operators` when the policy lists them, otherwise everyone who may approve
 * one of its stages (whoever may let a release through may stop it), and
 * for a service with neither, nobody: a button nobody may press is refused,
 * never open to the whole channel.
 */
function operatorsOf(policy: Policy, service: string): string[] {
  const s = policy.services.find((x) => x.name === service);
  if (s?.operators) return s.operators;
  return [...new Set((s?.stages ?? []).flatMap((stage) => stage.approval?.approvers ?? []))];
}

export async function handleClick(
  deps: InteractionDeps,
  payload: BlockActionsPayload,
): Promise<ClickOutcome> {
  const action = payload.actions[0];
  const by: Decider = {
    via: 'slack',
    id: payload.user.id,
    ...(payload.user.name || payload.user.username
      ? { name: payload.user.name ?? payload.user.username }
      : {}),
  };
  const log = deps.log.child({ actionId: action.action_id, slackUser: by.id });
  const outcome = await decide(deps, action.action_id, action.value, {
    by,
    responseUrl: payload.response_url,
    original: payload.message,
  });
  log.info('slack click answered', { outcome: outcome.kind, detail: outcome.message });
  const response: SlackResponse =
    outcome.kind === 'decided'
      ? decidedMessage(payload.message, outcome.message)
      : ephemeral(outcome.message);
  if (!(await deps.responder.respond(payload.response_url, response)))
    log.warn('slack click answer not delivered to response_url', { outcome: outcome.kind });
  // After the answer, so the worker's final answer on response_url always comes after this one.
  if (outcome.kind === 'decided' && outcome.afterAnswer) await outcome.afterAnswer();
  return outcome;
}

/** Who clicked, and where the click's answers go. */
interface Clicker {
  by: Decider;
  responseUrl: string;
  original: BlockActionsPayload['message'];
}

async function decide(
  deps: InteractionDeps,
  actionId: string,
  value: string | undefined,
  clicker: Clicker,
): Promise<ClickOutcome> {
  const { by } = clicker;
  if ((GATE_ACTIONS as readonly string[]).includes(actionId)) {
    const parsed = parseValue(GateButtonValue, value, actionId);
    if ('invalid' in parsed) return { kind: 'invalid', message: parsed.invalid };
    const decision: GateDecision = (actionId as GateAction) === 'gp_approve' ? 'approve' : 'reject';
    const result = await deps.decideGate({
      ...parsed.value,
      decision,
      by,
      reason: `${decision === 'approve' ? 'Approve' : 'Reject'} clicked in Slack`,
    });
    return result.kind === 'decided'
      ? {
          kind: 'decided',
          message: `${decision === 'approve' ? '👍 Approved' : '👎 Rejected'} by ${mention(by.id)} at ${deps.clock.now().toISOString()}: ${result.message}`,
        }
      : result;
  }
  if ((ROLLOUT_ACTIONS as readonly string[]).includes(actionId)) {
    const parsed = parseValue(RolloutButtonValue, value, actionId);
    if ('invalid' in parsed) return { kind: 'invalid', message: parsed.invalid };
    return stop(deps, STOPS[actionId as RolloutAction], parsed.value.rolloutId, clicker);
  }
  return {
    kind: 'invalid',
    message: `action_id: expected one of ${[...GATE_ACTIONS, ...ROLLOUT_ACTIONS].join(', ')}, got ${JSON.stringify(actionId)}`,
  };
}

async function stop(
  deps: InteractionDeps,
  how: (typeof STOPS)[RolloutAction],
  rolloutId: string,
  { by, responseUrl, original }: Clicker,
): Promise<ClickOutcome> {
  const rollout = await deps.store.getRollout(rolloutId);
  if (!rollout) return { kind: 'unchanged', message: `rollout ${rolloutId} not found: nothing changed` };
  if (isTerminal(rollout.status)) return { kind: 'unchanged', message: endedMessage(rollout) };
  const operators = operatorsOf(deps.policy, rollout.service);
  if (!isApprover(operators, by))
    return {
      kind: 'not_allowed',
      message: `${mention(by.id)} may not ${how.button} rollout ${rolloutId}: only the operators of ${rollout.service} may (${operators.length ? operators.map((o) => (o.includes('@') ? o : mention(o))).join(', ') : 'its policy lists none'}). Nothing changed.`,
    };
  const at = deps.clock.now().toISOString();
  const reason = `${how.verb} by ${by.name ?? by.id} (Slack ${by.id}) with the ${how.button} button at ${at}`;
  const { rollout: ended, stopped } = await deps.recordStop(rolloutId, how.status, reason);
  if (!stopped) return { kind: 'unchanged', message: endedMessage(ended) };
  const notice = { rolloutId, status: how.status, by: by.id, at };
  const restoring = regionsStopTakesBack(ended, how.status).filter(
    (r) => ended.regions[r].candidateRevision && ended.regions[r].status !== 'ROLLED_BACK',
  ).length;
  return {
    kind: 'decided',
    message: stoppingText(notice, restoring),
    // If this publish fails, the rollout is ended and its canary waits for the sweeper (docs/slack.md).
    afterAnswer: () =>
      deps.publishStop({ ...notice, reason, responseUrl, ...(original ? { original } : {}) }),
  };
}

const endedMessage = (rollout: RolloutRecord): string =>
  `rollout ${rollout.id} already ended ${rollout.status}${rollout.outcomeReason ? ` (${rollout.outcomeReason})` : ''}: nothing changed`;

function parseValue<T>(
  schema: z.ZodType<T>,
  value: string | undefined,
  actionId: string,
): { value: T } | { invalid: string } {
  let json: unknown;
  try {
    json = JSON.parse(value ?? '');
  } catch {
    return {
      invalid: `actions[0].value of ${actionId}: expected a JSON object, got ${JSON.stringify((value ?? '').slice(0, 100))}`,
    };
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success)
    return { invalid: `${actionId} button value: ${describeIssues(parsed.error, 'value').join('; ')}` };
  return { value: parsed.data };
}
