/**
 * Slack Block Kit messages, built purely from domain records and
 * type-checked against @slack/types.
 */
import type { KnownBlock } from '@slack/types';
import type { SlackMessage } from '../ports';
import type { RolloutPlan } from './plan';
import { describeReach, type Reach } from './analysis/reach';
import type { RegionRecord, RolloutRecord } from './records';
import { rolloutControls } from './interactions';

function message(text: string, blocks: KnownBlock[], channel?: string): SlackMessage {
  return { text, blocks, ...(channel ? { channel } : {}) };
}

const header = (text: string): KnownBlock => ({
  type: 'header',
  text: { type: 'plain_text', text: text.slice(0, 150) },
});
const section = (markdown: string): KnownBlock => ({
  type: 'section',
  text: { type: 'mrkdwn', text: markdown.slice(0, 3000) },
});
const fields = (pairs: Array<[string, string]>): KnownBlock => ({
  type: 'section',
  fields: pairs.slice(0, 10).map(([k, v]) => ({ type: 'mrkdwn', text: `*${k}*\n${v}`.slice(0, 2000) })),
});
const context = (markdown: string): KnownBlock => ({
  type: 'context',
  elements: [{ type: 'mrkdwn', text: markdown.slice(0, 3000) }],
});

function planSummary(plan: RolloutPlan): string {
  const waves = plan.waves.map((w, i) => `wave ${i + 1}: ${w.regions.join(', ')}`).join(' → ');
  const steps = plan.steps.map((s) => `${s.percent}% for ${Math.round(s.bakeSeconds)}s`).join(', ');
  return `${waves}\nsteps: ${steps}, then 100%`;
}

/** The service's recent traffic against minRequests (analysis/reach.ts), or why it is unknown. */
export type TrafficNote = { region: string; reach: Reach } | { unknown: string };

function trafficNote(note: TrafficNote): KnownBlock {
  if ('unknown' in note) return context(`Recent traffic unknown (${note.unknown}): minRequests not checked.`);
  const rate = note.reach.requestsPerMinute;
  return context(
    [
      `Recent traffic: ${rate >= 10 ? Math.round(rate) : rate.toFixed(1)} requests/min in ${note.region} (the quietest region of wave 1, past hour).`,
      ...describeReach(note.reach),
    ].join('\n'),
  );
}

export function rolloutStarted(
  rollout: RolloutRecord,
  plan: RolloutPlan,
  channel?: string,
  traffic?: TrafficNote,
): SlackMessage {
  const who =
    rollout.source === 'manual'
      ? `manual redeploy by ${rollout.requestedBy}: ${rollout.reason}`
      : `from ${rollout.source}`;
  return message(
    `🚀 Rollout ${rollout.id} of ${rollout.service} started` +
      (traffic && 'reach' in traffic && traffic.reach.warnings.length
        ? ` ⚠️ ${traffic.reach.warnings[0]}`
        : ''),
    [
      header(`🚀 ${rollout.service}: rollout started`),
      fields([
        ['Image', `\`${rollout.image}\``],
        ['Commit', rollout.commit ? `\`${rollout.commit.slice(0, 12)}\`` : '—'],
        ['Trigger', who],
        ['Rollout', `\`${rollout.id}\``],
      ]),
      section(planSummary(plan)),
      ...(traffic ? [trafficNote(traffic)] : []),
      ...(rollout.logUrl ? [context(`<${rollout.logUrl}|Build log>`)] : []),
      rolloutControls(rollout.id),
    ],
    channel,
  );
}

export function rolloutQueued(rollout: RolloutRecord, behind: string, channel?: string): SlackMessage {
  return message(
    `⏳ Rollout ${rollout.id} of ${rollout.service} queued behind ${behind}`,
    [section(`⏳ *${rollout.service}*: \`${rollout.image}\` is queued behind rollout \`${behind}\`.`)],
    channel,
  );
}

export function rolloutSuperseded(old: RolloutRecord, by: RolloutRecord, channel?: string): SlackMessage {
  return message(
    `⏭️ Rollout ${old.id} of ${old.service} superseded by ${by.id}`,
    [
      section(
        `⏭️ *${old.service}*: rollout \`${old.id}\` (\`${old.image}\`) is superseded by \`${by.id}\` (\`${by.image}\`). Its candidate will be rolled back before the new one deploys.`,
      ),
    ],
    channel,
  );
}

export function messageRejected(source: string, reason: string, messageId: string | undefined): SlackMessage {
  return message(`⛔ Rejected a message on ${source}: ${reason}`, [
    header(`⛔ Message rejected on ${source}`),
    section(reason),
    context(`message ${messageId ?? '(no id)'} · recorded in Firestore deadLetters · \`glidepath dlq list\``),
  ]);
}

const splitText = (traffic: Record<string, number>): string =>
  Object.entries(traffic)
    .map(([revision, percent]) => `\`${revision}\` ${percent}%`)
    .join(', ') || '—';

export function regionPromoted(
  rollout: RolloutRecord,
  region: string,
  record: RegionRecord,
  note?: string,
): SlackMessage {
  return message(`✅ ${rollout.service} promoted in ${region}`, [
    section(
      `✅ *${rollout.service}* promoted in *${region}*: \`${record.candidateRevision}\` now serves 100%.`,
    ),
    ...(note ? [context(`⚠️ ${note}`)] : []),
    context(`rollout \`${rollout.id}\``),
    // Later waves may still be running: the rollout can be stopped from here too.
    rolloutControls(rollout.id),
  ]);
}

export function regionRolledBack(
  rollout: RolloutRecord,
  region: string,
  record: RegionRecord,
  reason: string,
): SlackMessage {
  const lastStep = [...record.steps].reverse().find((s) => s.verdict);
  return message(`⏪ ${rollout.service} rolled back in ${region}: ${reason}`, [
    header(`⏪ ${rollout.service}: rolled back in ${region}`),
    section(`*Reason:* ${reason}`),
    fields([
      ['Candidate', record.candidateRevision ? `\`${record.candidateRevision}\`` : '—'],
      ['Restored', splitText(record.traffic)],
      ['Image', `\`${rollout.image}\``],
      ['Rollout', `\`${rollout.id}\``],
    ]),
    ...(lastStep
      ? [
          section(
            `*Step ${lastStep.index + 1} (${lastStep.percent}%): ${lastStep.verdict}*\n${lastStep.reasons.join('\n')}`,
          ),
        ]
      : []),
    ...(rollout.logUrl ? [context(`<${rollout.logUrl}|Build log>`)] : []),
  ]);
}

/** The rollout's end; with `reportUrl`, a link to its report (functions/report/). */
export function rolloutCompleted(rollout: RolloutRecord, reportUrl?: string): SlackMessage {
  const seconds = rollout.endedAt
    ? (Date.parse(rollout.endedAt) - Date.parse(rollout.createdAt)) / 1000
    : undefined;
  const icon = rollout.status === 'PROMOTED' ? '🏁' : rollout.status === 'SUPERSEDED' ? '⏭️' : '🛑';
  const regions = Object.entries(rollout.regions)
    .map(([region, r]) => `${region}: ${r.status}`)
    .join(', ');
  return message(`${icon} Rollout ${rollout.id} of ${rollout.service} ${rollout.status}`, [
    section(
      `${icon} *${rollout.service}* rollout \`${rollout.id}\` *${rollout.status}*${rollout.outcomeReason ? `: ${rollout.outcomeReason}` : ''}`,
    ),
    context(
      `${seconds !== undefined ? `total ${Math.round(seconds)}s · ` : ''}${regions || 'no regions touched'}`,
    ),
    ...(reportUrl ? [section(`📈 <${reportUrl}|Report: what the judge saw>`)] : []),
  ]);
}
