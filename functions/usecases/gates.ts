/**
 * Deciding an approval gate (issue 16; the contract in
 * /work/notes/GATE-CONTRACT.md). The decision is recorded once, atomically,
 * with its callback queued in the same transaction; only then is the
 * callback sent. A callback that could not be sent stays queued and the
 * sweeper re-sends it (`resendGateCallbacks`), so no decision is lost.
 */
import {
  approvalRequested,
  callbackBody,
  gateDecided,
  gateName,
  GATE_POSITION,
  type Decider,
  type GatePosition,
  type GateDecision,
} from '../domain/gates';
import { readPlan } from '../domain/plan';
import type { GateRecord } from '../domain/records';
import type { Clock, GateCallbackSender, GateStore, Notifier, RolloutStore } from '../ports';
import { GlidepathError, fromSdkError } from '../shared/errors';
import type { Logger } from '../shared/log';

export type { Decider, GateDecision } from '../domain/gates';

export interface GateDeps {
  gates: GateStore;
  callbacks: GateCallbackSender;
  clock: Clock;
  log: Logger;
  notifier: Notifier;
  /** The Slack channel of the rollout's service, when it has one. */
  channelOf?: (service: string) => string | undefined;
}

export type DecideGateResult =
  | { kind: 'decided'; rolloutId: string; gate: string; decision: GateDecision; message: string }
  | { kind: 'not_allowed'; message: string }
  | { kind: 'unchanged'; message: string };

export async function decideGate(
  deps: GateDeps,
  input: { rolloutId: string; gate: string; decision: GateDecision; by: Decider; reason?: string },
): Promise<DecideGateResult> {
  const recorded = await deps.gates.decide({ ...input, now: deps.clock.now() });
  if (recorded.kind !== 'recorded') {
    deps.log.info(`gate decision not recorded: ${recorded.message}`, {
      rolloutId: input.rolloutId,
      gate: input.gate,
    });
    return recorded;
  }
  const { rollout, gate } = recorded;
  deps.log.info(`gate ${gate.name} ${gate.status}`, {
    rolloutId: rollout.id,
    service: rollout.service,
    gate: gate.name,
    decidedBy: gate.decidedBy,
  });
  await deps.notifier.notify(gateDecided(rollout, gate, deps.channelOf?.(rollout.service)));
  const sent = await sendCallback(deps, rollout.id, gate);
  const verb = gate.decision === 'approve' ? 'approved' : 'rejected';
  return {
    kind: 'decided',
    rolloutId: rollout.id,
    gate: gate.name,
    decision: input.decision,
    message: sent
      ? `gate ${gate.name} of rollout ${rollout.id} ${verb}`
      : `gate ${gate.name} of rollout ${rollout.id} ${verb}; the workflow has not been told yet (the sweeper re-sends it)`,
  };
}

/** Sends a recorded decision to its callback; true once the workflow has it. */
async function sendCallback(
  deps: Pick<GateDeps, 'gates' | 'callbacks' | 'clock' | 'log'>,
  rolloutId: string,
  gate: GateRecord,
): Promise<boolean> {
  try {
    await deps.callbacks.send(gate.callbackUrl, callbackBody(rolloutId, gate));
  } catch (err) {
    const error = fromSdkError(err, `send the callback of gate ${gate.name}`);
    // `not_found`: the execution has ended (or never had this callback): nobody is left to tell.
    const final = error.code === 'not_found';
    await deps.gates.callbackFailed(rolloutId, gate.name, error.message, deps.clock.now(), final);
    deps.log.warn(final ? 'gate callback dropped: no such callback' : 'gate callback queued for a retry', {
      rolloutId,
      gate: gate.name,
      error: error.message,
    });
    return false;
  }
  await deps.gates.callbackSent(rolloutId, gate.name, deps.clock.now());
  return true;
}

/** How many times the sweeper sends one decision before it keeps it only as a record. */
const GATE_CALLBACK_MAX_ATTEMPTS = 288;

/** The sweeper's part: re-sends decisions whose callback could not be sent. */
export async function resendGateCallbacks(
  deps: Pick<GateDeps, 'gates' | 'callbacks' | 'clock' | 'log'>,
  limit = 50,
): Promise<{ sent: number; pending: number }> {
  const pending = await deps.gates.pendingCallbacks(limit);
  let sent = 0;
  for (const p of pending) {
    if (p.attempts >= GATE_CALLBACK_MAX_ATTEMPTS) {
      await deps.gates.callbackFailed(
        p.rolloutId,
        p.gate.name,
        `given up after ${p.attempts} attempts`,
        deps.clock.now(),
        true,
      );
      deps.log.error('gate callback given up; the decision stays recorded on the rollout', {
        rolloutId: p.rolloutId,
        gate: p.gate.name,
      });
      continue;
    }
    if (await sendCallback(deps, p.rolloutId, p.gate)) sent++;
  }
  return { sent, pending: pending.length - sent };
}

/** What the workflow's gate actions need. */
export interface GateActionDeps {
  store: Pick<RolloutStore, 'authorize'>;
  gates: GateStore;
  clock: Clock;
  log: Logger;
  notifier: Notifier;
  channelOf?: (service: string) => string | undefined;
  /** Policy seconds per real second: 1 on GCP; the local cloud's --speed also shortens the workflow's wait. */
  timeScale?: number;
}

/** Thrown when the rollout may no longer act (superseded, aborted, ended): the workflow stops (409). */
export class GateStopped extends Error {}

/**
 * Opens the gate of `stage` at `position` (before the stage, or before its
 * final promotion, as its policy says): records it WAITING with the callback
 * URL the execution will await, and posts the approval message (once: a
 * retried call finds the gate recorded and posts nothing).
 */
export async function openGate(
  deps: GateActionDeps,
  input: {
    rolloutId: string;
    stage: string;
    position: GatePosition;
    callbackUrl: string;
    executionId?: string;
  },
): Promise<{ gate: GateRecord; posted: boolean }> {
  const auth = await deps.store.authorize(input.rolloutId, input.executionId);
  if ('stop' in auth) throw new GateStopped(auth.stop);
  const { rollout } = auth;
  const read = readPlan(rollout);
  if ('corrupt' in read) throw new GlidepathError('invalid', read.corrupt);
  const stage = read.plan.stages?.find((s) => s.name === input.stage);
  if (!stage?.approval)
    throw new GlidepathError(
      'invalid',
      `stage: rollout ${rollout.id} has no stage ${input.stage} with an approval`,
    );
  if (GATE_POSITION[stage.approval.before] !== input.position)
    throw new GlidepathError(
      'invalid',
      `position: expected ${GATE_POSITION[stage.approval.before]} for the gate of stage ${stage.name} of rollout ${rollout.id} (approval before ${stage.approval.before}), got ${input.position}`,
    );
  const now = deps.clock.now();
  const wanted: GateRecord = {
    name: gateName(input.position, stage.name),
    stage: stage.name,
    position: input.position,
    approvers: stage.approval.approvers,
    status: 'WAITING',
    callbackUrl: input.callbackUrl,
    openedAt: now.toISOString(),
    expiresAt: new Date(
      now.getTime() + (stage.approval.timeoutSeconds * 1000) / (deps.timeScale ?? 1),
    ).toISOString(),
  };
  const gate = await deps.gates.openGate(rollout.id, wanted, now);
  const posted = gate.openedAt === wanted.openedAt && gate.callbackUrl === wanted.callbackUrl;
  if (posted) {
    deps.log.info(`gate ${gate.name} open until ${gate.expiresAt}`, {
      rolloutId: rollout.id,
      service: rollout.service,
      gate: gate.name,
    });
    await deps.notifier.notify(approvalRequested(rollout, gate, deps.channelOf?.(rollout.service)));
  }
  return { gate, posted };
}

/**
 * The workflow's wait timed out: marks the gate EXPIRED, unless a decision
 * was recorded first (its callback may still be on its way), which then
 * stands. Returns the gate as stored, so the workflow follows the record.
 */
export async function expireGate(
  deps: Pick<GateActionDeps, 'gates' | 'clock' | 'log'>,
  input: { rolloutId: string; gate: string },
): Promise<GateRecord> {
  const gate = await deps.gates.expireGate(input.rolloutId, input.gate, deps.clock.now());
  if (!gate) throw new GlidepathError('not_found', `rollout ${input.rolloutId} has no gate ${input.gate}`);
  deps.log.info(`gate ${gate.name} ${gate.status} at the end of its wait`, {
    rolloutId: input.rolloutId,
    gate: gate.name,
  });
  return gate;
}
