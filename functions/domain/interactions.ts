/**
 * Slack interactivity (issue 16): the buttons on Glidepath's messages, the
 * `block_actions` payload Slack sends when one is clicked
 * (https://api.slack.com/reference/interaction-payloads/block-actions), and
 * the answers posted back to the click's `response_url`
 * (https://api.slack.com/interactivity/handling#message_responses).
 * Pure: the use case (functions/usecases/interactions.ts) does the I/O.
 */
import type { ActionsBlock, Button, KnownBlock } from '@slack/types';
import { z } from 'zod';
import type { SlackResponse } from '../ports';
import type { StopStatus } from './records';

/** The four buttons (see /work/notes/GATE-CONTRACT.md): two answer a gate, two stop a running rollout. */
export const GATE_ACTIONS = ['gp_approve', 'gp_reject'] as const;
export const ROLLOUT_ACTIONS = ['gp_abort', 'gp_rollback'] as const;
export type GateAction = (typeof GATE_ACTIONS)[number];
export type RolloutAction = (typeof ROLLOUT_ACTIONS)[number];

/** The `block_id` of the Abort / Roll back now row, so an answer can take it off the message. */
const ROLLOUT_CONTROLS_BLOCK = 'gp_rollout_controls';

/** The part of a `block_actions` payload Glidepath reads; Slack sends more, which is ignored. */
export const BlockActionsPayload = z.object({
  type: z.literal('block_actions'),
  user: z.object({
    id: z.string().min(1),
    username: z.string().optional(),
    name: z.string().optional(),
  }),
  response_url: z.string().url(),
  actions: z
    .array(
      z.object({
        action_id: z.string().min(1),
        block_id: z.string().optional(),
        value: z.string().optional(),
      }),
    )
    .min(1),
  /** The message the button is on, as posted (absent for an ephemeral message). */
  message: z
    .object({
      text: z.string().optional(),
      blocks: z.array(z.record(z.string(), z.unknown())).optional(),
    })
    .optional(),
});
export type BlockActionsPayload = z.output<typeof BlockActionsPayload>;

export const RolloutButtonValue = z.strictObject({ rolloutId: z.string().min(1) });
export const GateButtonValue = z.strictObject({ rolloutId: z.string().min(1), gate: z.string().min(1) });

const confirm = (title: string, text: string, yes: string): Button['confirm'] => ({
  title: { type: 'plain_text', text: title },
  text: { type: 'mrkdwn', text },
  confirm: { type: 'plain_text', text: yes },
  deny: { type: 'plain_text', text: 'Cancel' },
  style: 'danger',
});

/** Abort and Roll back now, for the messages of a running rollout. */
export function rolloutControls(rolloutId: string): ActionsBlock {
  const value = JSON.stringify({ rolloutId });
  return {
    type: 'actions',
    block_id: ROLLOUT_CONTROLS_BLOCK,
    elements: [
      {
        type: 'button',
        action_id: 'gp_abort',
        text: { type: 'plain_text', text: 'Abort' },
        value,
        confirm: confirm(
          'Abort this rollout?',
          `Stops rollout \`${rolloutId}\` and takes every region not yet promoted back to the split it had before.`,
          'Abort',
        ),
      },
      {
        type: 'button',
        action_id: 'gp_rollback',
        style: 'danger',
        text: { type: 'plain_text', text: 'Roll back now' },
        value,
        confirm: confirm(
          'Roll back now?',
          `Stops rollout \`${rolloutId}\` and takes every region it touched, promoted ones included, back to the split it had before.`,
          'Roll back',
        ),
      },
    ],
  };
}

/** The user's own view of a click's answer: only they see it, and the message stays as it is. */
export function ephemeral(text: string): SlackResponse {
  return { response_type: 'ephemeral', replace_original: false, text: text.slice(0, 3000) };
}

/**
 * The original message, with its buttons taken off and `outcome` added, so
 * the channel sees what was decided and nobody clicks again.
 */
export function decidedMessage(original: BlockActionsPayload['message'], outcome: string): SlackResponse {
  const kept = (original?.blocks ?? []).filter((b) => b.type !== 'actions') as unknown as KnownBlock[];
  return {
    replace_original: true,
    text: `${original?.text ? `${original.text}\n` : ''}${outcome}`.slice(0, 3000),
    blocks: [...kept, { type: 'context', elements: [{ type: 'mrkdwn', text: outcome.slice(0, 3000) }] }],
  };
}

/** A Slack user as `<@U…>`, which Slack renders as their name. */
export const mention = (userId: string): string => `<@${userId}>`;

/** A stop as the channel is told of it: who clicked, when, and what the rollout is now. */
interface StopNotice {
  rolloutId: string;
  status: StopStatus;
  by: string;
  at: string;
}

const STOP_WORDS = {
  ABORTED: { doing: '🛑 Aborting', done: '🛑 Aborted' },
  ROLLED_BACK: { doing: '⏪ Rolling back', done: '⏪ Rolled back' },
} as const;

const regionCount = (n: number): string => `${n} region${n === 1 ? '' : 's'}`;

/** The answer within the click's request: the stop is recorded, the regions are being restored. */
export const stoppingText = (stop: StopNotice, restoring: number): string =>
  `${STOP_WORDS[stop.status].doing}: stopped by ${mention(stop.by)} at ${stop.at}; rollout ${stop.rolloutId} is ${stop.status}, restoring ${regionCount(restoring)}`;

/** The rollout-stops worker's answer once the regions are back. */
export const stoppedText = (stop: StopNotice, restored: number): string =>
  `${STOP_WORDS[stop.status].done} by ${mention(stop.by)} at ${stop.at}: rollout ${stop.rolloutId} is ${stop.status}, ${regionCount(restored)} restored`;
