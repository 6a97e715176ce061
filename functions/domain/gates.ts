/**
 * Approval gates (issue 16): a rollout with `stages` may wait, before a stage
 * or before a stage's final promotion, for one of the gate's approvers. The
 * workflow waits on a Workflows callback; a decision is recorded here once,
 * then sent to that callback (functions/usecases/gates.ts).
 */
import type { KnownBlock } from '@slack/types';
import type { SlackMessage } from '../ports';
import type { ApprovalPosition } from './policy';
import { type Decider, type GateRecord, type RolloutRecord, isTerminal } from './records';

export { GateRecord } from './records';

export type GateDecision = 'approve' | 'reject';

export type { Decider } from './records';

/** Where a gate stands in its stage: before the stage starts, or before its final promotion (to 100%). */
export type GatePosition = 'before' | 'promote';

/** The gate position of a stage's `approval.before` (policy.ts). */
export const GATE_POSITION: Record<ApprovalPosition, GatePosition> = {
  stage: 'before',
  promotion: 'promote',
};

/** A gate's name, unique in its rollout: `before-production`, `promote-staging`. */
export function gateName(position: GatePosition, stage: string): string {
  return `${position}-${stage}`;
}

/**
 * True when `by` is one of `approvers`: a Slack user id matches exactly, an
 * email case-insensitively (an approver entry is an email when it has an `@`).
 */
export function isApprover(approvers: string[], by: Decider): boolean {
  const email = by.email?.toLowerCase();
  return approvers.some((a) =>
    a.includes('@') ? email !== undefined && a.toLowerCase() === email : by.via === 'slack' && a === by.id,
  );
}

export function describeDecider(by: Decider): string {
  const who = by.name ?? by.email ?? by.id;
  return by.via === 'slack' ? `${who} (Slack ${by.id})` : `${who} (CLI)`;
}

/** What a decision does to a rollout's gate, decided purely from the stored records. */
type DecisionPlan =
  | { kind: 'record'; rollout: RolloutRecord; gate: GateRecord }
  | { kind: 'not_allowed'; message: string }
  | { kind: 'unchanged'; message: string };

/**
 * The one place that says whether a decision counts: only for a gate that is
 * WAITING, of a rollout still running, before the gate expires, and from one
 * of its approvers. Anything else changes nothing and says why.
 */
export function planDecision(
  rollout: RolloutRecord | undefined,
  input: { rolloutId: string; gate: string; decision: GateDecision; by: Decider; reason?: string; now: Date },
): DecisionPlan {
  if (!rollout) return { kind: 'unchanged', message: `rollout ${input.rolloutId} not found` };
  const gate = rollout.gates?.[input.gate];
  if (!gate) return { kind: 'unchanged', message: `rollout ${rollout.id} has no gate ${input.gate}` };
  if (!isApprover(gate.approvers, input.by))
    return {
      kind: 'not_allowed',
      message: `${describeDecider(input.by)} is not an approver of gate ${gate.name} of rollout ${rollout.id} (approvers: ${gate.approvers.join(', ')})`,
    };
  if (gate.decision && gate.decidedBy)
    return {
      kind: 'unchanged',
      message: `gate ${gate.name} of rollout ${rollout.id} was already ${gate.decision === 'approve' ? 'approved' : 'rejected'} by ${describeDecider(gate.decidedBy)} at ${gate.decidedAt}`,
    };
  if (gate.status !== 'WAITING')
    return { kind: 'unchanged', message: `gate ${gate.name} of rollout ${rollout.id} is ${gate.status}` };
  if (isTerminal(rollout.status))
    return {
      kind: 'unchanged',
      message: `rollout ${rollout.id} is ${rollout.status}${rollout.outcomeReason ? ` (${rollout.outcomeReason})` : ''}: the decision changes nothing`,
    };
  if (input.now.getTime() >= Date.parse(gate.expiresAt))
    return {
      kind: 'unchanged',
      message: `gate ${gate.name} of rollout ${rollout.id} expired at ${gate.expiresAt}`,
    };
  return {
    kind: 'record',
    rollout,
    gate: {
      ...gate,
      status: input.decision === 'approve' ? 'APPROVED' : 'REJECTED',
      decision: input.decision,
      decidedBy: input.by,
      decidedAt: input.now.toISOString(),
      ...(input.reason ? { reason: input.reason } : {}),
    },
  };
}

/** What the workflow receives in the callback request's body. */
export interface GateCallbackBody {
  rolloutId: string;
  gate: string;
  decision: GateDecision;
  by: string;
  reason?: string;
  decidedAt: string;
}

export function callbackBody(rolloutId: string, gate: GateRecord): GateCallbackBody {
  return {
    rolloutId,
    gate: gate.name,
    decision: gate.decision ?? 'reject',
    by: gate.decidedBy ? describeDecider(gate.decidedBy) : 'unknown',
    ...(gate.reason ? { reason: gate.reason } : {}),
    decidedAt: gate.decidedAt ?? '',
  };
}

/** The value of the `gp_approve` / `gp_reject` buttons (see /work/notes/GATE-CONTRACT.md). */
interface GateButtonValue {
  rolloutId: string;
  gate: string;
}

const approverText = (a: string): string => (a.includes('@') ? a : `<@${a}>`);

/** The message posted when a gate opens: who may answer, until when, and the Approve / Reject buttons. */
export function approvalRequested(
  rollout: Pick<RolloutRecord, 'id' | 'service' | 'image'>,
  gate: GateRecord,
  channel?: string,
): SlackMessage {
  const value = JSON.stringify({ rolloutId: rollout.id, gate: gate.name } satisfies GateButtonValue);
  const what =
    gate.position === 'before' ? `start stage *${gate.stage}*` : `promote stage *${gate.stage}* to 100%`;
  const blocks: KnownBlock[] = [
    {
      type: 'section',
      text: {
        type: 'mrkdwn',
        text: `✋ *${rollout.service}*: approval needed to ${what} for \`${rollout.image}\``.slice(0, 3000),
      },
    },
    {
      type: 'context',
      elements: [
        {
          type: 'mrkdwn',
          text: `approvers: ${gate.approvers.map(approverText).join(', ')} · expires ${gate.expiresAt} · rollout \`${rollout.id}\` · gate \`${gate.name}\``.slice(
            0,
            3000,
          ),
        },
      ],
    },
    {
      type: 'actions',
      block_id: `gate:${gate.name}`.slice(0, 255),
      elements: [
        {
          type: 'button',
          action_id: 'gp_approve',
          style: 'primary',
          text: { type: 'plain_text', text: 'Approve' },
          value,
        },
        {
          type: 'button',
          action_id: 'gp_reject',
          style: 'danger',
          text: { type: 'plain_text', text: 'Reject' },
          value,
        },
      ],
    },
  ];
  return {
    text: `✋ ${rollout.service}: approval needed to ${gate.position === 'before' ? 'start' : 'promote'} stage ${gate.stage} (rollout ${rollout.id})`,
    blocks,
    ...(channel ? { channel } : {}),
  };
}

/** The thread's record of a decision (posted once, when it is recorded). */
export function gateDecided(
  rollout: Pick<RolloutRecord, 'id' | 'service'>,
  gate: GateRecord,
  channel?: string,
): SlackMessage {
  const verb = gate.decision === 'approve' ? '👍 approved' : '👎 rejected';
  const who = gate.decidedBy ? describeDecider(gate.decidedBy) : 'unknown';
  const text = `${verb} gate ${gate.name} of ${rollout.service} (rollout ${rollout.id}) by ${who}${gate.reason ? `: ${gate.reason}` : ''}`;
  return {
    text,
    blocks: [{ type: 'section', text: { type: 'mrkdwn', text: text.slice(0, 3000) } }],
    ...(channel ? { channel } : {}),
  };
}
