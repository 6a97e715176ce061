/**
 * Scheduled Cloud Run Jobs (design brief §1 Jobs), purely: the backoff
 * schedule, the decision on a trigger message, the run id that makes a
 * duplicate delivery harmless, and the `jobRuns/{id}` document.
 */
import { createHash } from 'node:crypto';
import type { KnownBlock } from '@slack/types';
import { z } from 'zod';
import type { SlackMessage } from '../ports';
import { JobTrigger, decodeMessage, type PubsubMessage } from './messages';
import type { JobPolicy, Policy } from './policy';
import { boundReason, show } from './validation';
import { DEFAULT_RETRY_ON, FAILURE_CLASSES } from './job-failures';
import { jobPollSeconds } from './step-budget';

/** The retry settings a run is started with, in seconds (resolved from the policy at trigger time). */
export const RetrySettings = z.object({
  maxAttempts: z.number().int().min(1),
  initialBackoffSeconds: z.number().min(0),
  multiplier: z.number().min(1),
  maxBackoffSeconds: z.number().min(0),
  /** The failure classes worth another attempt (runs recorded before classes existed get the default). */
  retryOn: z.array(z.enum(FAILURE_CLASSES)).default([...DEFAULT_RETRY_ON]),
});
export type RetrySettings = z.output<typeof RetrySettings>;

export function retrySettings(job: JobPolicy): RetrySettings {
  return {
    maxAttempts: job.retry.maxAttempts,
    initialBackoffSeconds: job.retry.initialBackoff,
    multiplier: job.retry.multiplier,
    maxBackoffSeconds: job.retry.maxBackoff,
    retryOn: [...(job.retry.on ?? DEFAULT_RETRY_ON)],
  };
}

/**
 * The wait after failed attempt `attempt` (1-based) before the next one:
 * `min(initial × multiplier^(attempt−1), max)` seconds.
 */
export function backoffSeconds(retry: Omit<RetrySettings, 'retryOn'>, attempt: number): number {
  if (!Number.isInteger(attempt) || attempt < 1)
    throw new RangeError(`attempt: expected an integer ≥ 1, got ${attempt}`);
  return Math.min(retry.initialBackoffSeconds * retry.multiplier ** (attempt - 1), retry.maxBackoffSeconds);
}

/** The waits between attempts of a run that fails every time: one fewer than maxAttempts. */
export function backoffSchedule(retry: Omit<RetrySettings, 'retryOn'>): number[] {
  return Array.from({ length: retry.maxAttempts - 1 }, (_, i) => backoffSeconds(retry, i + 1));
}

const JOB_RUN_STATUSES = ['PENDING', 'RUNNING', 'SUCCEEDED', 'FAILED'] as const;
export type JobRunStatus = (typeof JOB_RUN_STATUSES)[number];

const Iso = z.string().min(1);

export const JobAttempt = z.object({
  number: z.number().int().min(1),
  /** When this attempt's start was claimed; a stale claim without an execution may be taken over. */
  claimedAt: Iso,
  executionName: z.string().optional(),
  startedAt: Iso.optional(),
  /** When Glidepath saw the execution finish (the backoff starts from here). */
  endedAt: Iso.optional(),
  result: z.enum(['STARTING', 'RUNNING', 'SUCCEEDED', 'FAILED']),
  error: z.string().optional(),
  /** Why a failed attempt failed (functions/domain/job-failures.ts), and what that was read from. */
  failureClass: z.enum(FAILURE_CLASSES).optional(),
  evidence: z.string().optional(),
  /** Whether another attempt follows this failed one: false for a class not in `retry.on`, or the last. */
  retried: z.boolean().optional(),
  /** The wait planned before the next attempt, when this one failed and attempts remain. */
  backoffSeconds: z.number().optional(),
});
export type JobAttempt = z.output<typeof JobAttempt>;

/** The trigger message as received, kept for the dead letter and for a replay. */
const OriginalMessage = z.object({
  topic: z.string(),
  messageId: z.string().optional(),
  publishTime: z.string().optional(),
  data: z.string().optional(),
  attributes: z.record(z.string(), z.string()).default({}),
});
type OriginalMessage = z.output<typeof OriginalMessage>;

export const JobRunRecord = z.object({
  id: z.string().min(1),
  job: z.string().min(1),
  project: z.string().min(1),
  region: z.string().min(1),
  status: z.enum(JOB_RUN_STATUSES),
  trigger: z.enum(['schedule', 'manual', 'replay']),
  /** For scheduled runs: the minute the scheduler fired (publishTime truncated), the dedup key. */
  scheduledAt: Iso.optional(),
  overrides: JobTrigger.shape.overrides,
  retry: RetrySettings,
  timeoutSeconds: z.number().positive(),
  slackChannel: z.string().optional(),
  message: OriginalMessage,
  executionName: z.string().optional(),
  /** Set by the delivery that is starting the workflow execution. */
  launchClaimedAt: Iso.nullable().optional(),
  attempts: z.array(JobAttempt).default([]),
  createdAt: Iso,
  updatedAt: Iso,
  finishedAt: Iso.optional(),
  /** Why the run was ended from outside its workflow (the sweeper), when it was. */
  endReason: z.string().optional(),
  deadLetterId: z.string().optional(),
  deadLetterMessageId: z.string().optional(),
  /** Set when the final Slack message was claimed, so it is posted once. */
  notifiedAt: Iso.optional(),
});
export type JobRunRecord = z.output<typeof JobRunRecord>;

export type JobTriggerDecision =
  | {
      outcome: 'start';
      job: JobPolicy;
      runId: string;
      trigger: JobRunRecord['trigger'];
      scheduledAt?: string;
      overrides?: JobTrigger['overrides'];
    }
  | { outcome: 'rejected'; reason: string };

/** Firestore document ids may not contain '/'; message ids are digits on Pub/Sub, but hash anything odd. */
function safeIdPart(value: string): string {
  return /^[A-Za-z0-9_.-]{1,100}$/.test(value)
    ? value
    : createHash('sha256').update(value).digest('hex').slice(0, 32);
}

/** `2026-01-02T03:04:59.123Z` → `202601020304`. */
function minuteKey(iso: string): string {
  return iso.slice(0, 16).replace(/[-T:]/g, '');
}

/**
 * Decides what a message on `glidepath-job-triggers` starts.
 *
 * The run id is the idempotency key. Cloud Scheduler puts no schedule time
 * on a Pub/Sub message, so a scheduler message (the `job` attribute that
 * Terraform sets, and no overrides) is keyed by its publishTime truncated to
 * the minute: a redelivery, or a duplicate publish in the same minute, is the
 * same run. A hand-published message (`glidepath jobs run`, a replay) is
 * keyed by its message id: each one is a run of its own.
 */
export function decideJobTrigger(policy: Policy, message: PubsubMessage): JobTriggerDecision {
  const decision = decide(policy, message);
  return decision.outcome === 'rejected' ? { ...decision, reason: boundReason(decision.reason) } : decision;
}

function decide(policy: Policy, message: PubsubMessage): JobTriggerDecision {
  const decoded = decodeMessage(JobTrigger, message.data, 'job trigger');
  if (!decoded.ok) return { outcome: 'rejected', reason: decoded.reason };
  const { job: name, overrides } = decoded.value;
  const job = policy.jobs.find((j) => j.name === name);
  if (!job) {
    const known = policy.jobs.map((j) => j.name).join(', ') || 'none';
    return {
      outcome: 'rejected',
      reason: `job: expected a job of the policy (${known}), got ${show(name)}`,
    };
  }
  const refused = overrides && refusedOverride(job, overrides);
  if (refused) return { outcome: 'rejected', reason: refused };
  const attributes = message.attributes ?? {};
  const messageId = message.messageId ?? message.message_id;
  const fromScheduler = attributes.job === name && !attributes.replayOf && !overrides && message.publishTime;
  if (fromScheduler) {
    const scheduled = new Date(message.publishTime!);
    if (Number.isNaN(scheduled.getTime()))
      return {
        outcome: 'rejected',
        reason: `publishTime: expected an RFC 3339 time, got ${show(message.publishTime)}`,
      };
    const scheduledAt = `${scheduled.toISOString().slice(0, 16)}:00.000Z`;
    return {
      outcome: 'start',
      job,
      runId: `${name}-${minuteKey(scheduledAt)}`,
      trigger: 'schedule',
      scheduledAt,
    };
  }
  if (!messageId)
    return {
      outcome: 'rejected',
      reason: 'messageId: expected the Pub/Sub message id of a hand-published trigger, got nothing',
    };
  return {
    outcome: 'start',
    job,
    runId: `${name}-m${safeIdPart(messageId)}`,
    trigger: attributes.replayOf ? 'replay' : 'manual',
    ...(overrides ? { overrides } : {}),
  };
}

/** Why `overrides` go beyond what the job's `overridable` allows, or undefined when they do not. */
export function refusedOverride(
  job: JobPolicy,
  overrides: NonNullable<JobTrigger['overrides']>,
): string | undefined {
  if (overrides.args && !job.overridable.args)
    return `overrides.args: job ${job.name} does not allow args overrides (jobs[].overridable.args is not true), got ${show(overrides.args)}`;
  const allowed = new Set(job.overridable.env);
  const names = Object.keys(overrides.env ?? {}).filter((name) => !allowed.has(name));
  if (names.length > 0)
    return `overrides.env: job ${job.name} allows overriding ${job.overridable.env.join(', ') || 'no env var'} (jobs[].overridable.env), got ${names.map((n) => show(n)).join(', ')}`;
  return undefined;
}

/** The `job-run` workflow's argument: everything its loop needs; the actions read the rest from the run record. */
interface JobRunArgument {
  runId: string;
  job: string;
  maxAttempts: number;
  /** How many status polls fit in the job's timeout. */
  maxPolls: number;
  pollSeconds: number;
}

/** Seconds between status polls of a running execution, unless the step budget asks for fewer polls. */
export const POLL_SECONDS = 10;

export function jobRunArgument(
  run: Pick<JobRunRecord, 'id' | 'job' | 'timeoutSeconds'> & { retry: Pick<RetrySettings, 'maxAttempts'> },
): JobRunArgument {
  const pollSeconds = jobPollSeconds(run.timeoutSeconds, run.retry.maxAttempts, POLL_SECONDS);
  return {
    runId: run.id,
    job: run.job,
    maxAttempts: run.retry.maxAttempts,
    maxPolls: Math.max(1, Math.ceil(run.timeoutSeconds / pollSeconds)),
    pollSeconds,
  };
}

// Slack messages about jobs and dead letters (Block Kit, with a text fallback).

/** A job notice: its markdown section and a context note, each within Block Kit's 3000 characters. */
export function slackMessage(text: string, markdown: string, note: string, channel?: string): SlackMessage {
  const blocks: KnownBlock[] = [
    { type: 'section', text: { type: 'mrkdwn', text: markdown.slice(0, 3000) } },
    { type: 'context', elements: [{ type: 'mrkdwn', text: note.slice(0, 3000) }] },
  ];
  return { text, blocks, ...(channel ? { channel } : {}) };
}

function attemptLines(run: JobRunRecord): string {
  return run.attempts
    .map(
      (a) =>
        `• attempt ${a.number}: ${a.result}${a.failureClass ? ` [${a.failureClass}]` : ''}${a.error ? ` — ${a.error}` : ''}${a.executionName ? ` (\`${a.executionName.split('/').pop()}\`)` : ''}`,
    )
    .join('\n');
}

export function jobFailedMessage(run: JobRunRecord, deadLetterId: string): SlackMessage {
  return slackMessage(
    `❌ Job ${run.job} failed after ${run.attempts.length} attempts (run ${run.id})`,
    `❌ *${run.job}* failed after ${run.attempts.length} attempt(s).${run.endReason ? ` It was ${run.endReason}.` : ''}\n${attemptLines(run)}`,
    `run \`${run.id}\` · dead letter \`${deadLetterId}\` · \`glidepath dlq replay ${deadLetterId}\` runs it again`,
    run.slackChannel,
  );
}

export function jobRecoveredMessage(run: JobRunRecord): SlackMessage {
  return slackMessage(
    `✅ Job ${run.job} recovered on attempt ${run.attempts.length} (run ${run.id})`,
    `✅ *${run.job}* succeeded on attempt ${run.attempts.length} after failures.\n${attemptLines(run)}`,
    `run \`${run.id}\` · \`glidepath jobs history ${run.job}\``,
    run.slackChannel,
  );
}

export function undeliverableMessage(record: {
  id: string;
  source: string;
  subscription?: string;
  deliveryCount?: number;
}): SlackMessage {
  return slackMessage(
    `📭 A message on ${record.source} could not be delivered and was dead-lettered (${record.id})`,
    `📭 A message on *${record.source}* was not acknowledged after ${record.deliveryCount ?? 'several'} deliveries${record.subscription ? ` on \`${record.subscription}\`` : ''}.`,
    `dead letter \`${record.id}\` · \`glidepath dlq show ${record.id}\` · \`glidepath dlq replay ${record.id}\``,
  );
}
