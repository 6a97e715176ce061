/**
 * Job image rollouts (docs/jobs.md, "Image rollouts"), purely: the record
 * kept in `jobRollouts/{id}`, its id (the (job, digest) deduplication), the
 * `job-rollout` workflow's argument, the template change, the job lock's
 * lifetimes, the sweeper's diagnosis, and the Slack messages.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { SlackMessage } from '../ports';
import { parseImageRef, pinnedImage, sameRepository } from './image';
import { jobWaves, type JobPolicy } from './policy';
import { FAILURE_CLASSES } from './job-failures';
import { POLL_SECONDS, retrySettings, slackMessage } from './jobs';
import { diagnoseDriven, jobRunLifetimeSeconds, type JobSweepDiagnosis } from './job-sweep';
import type { ExecutionView, SweepSettings } from './sweep';

const Iso = z.string().min(1);

const JOB_REGION_STATUSES = [
  'PENDING',
  'UPDATED',
  'VERIFIED',
  'FAILED',
  'RESTORED',
  'RESTORE_FAILED',
] as const;

export const JobRegionRecord = z.object({
  status: z.enum(JOB_REGION_STATUSES),
  /** The template before Glidepath changed it (JSON of the Admin API's ExecutionTemplate), recorded once. */
  previousTemplate: z.string().optional(),
  previousImage: z.string().optional(),
  /** The verification execution (started once per region, found again by its marker). */
  verifyExecution: z.string().optional(),
  verifyStartedAt: Iso.optional(),
  /** Set by the call that is starting the verification execution (JobRolloutStore.claimVerify); null once released. */
  verifyClaimedAt: Iso.nullable().optional(),
  error: z.string().optional(),
  failureClass: z.enum(FAILURE_CLASSES).optional(),
  /** Why the recorded template could not be put back (RESTORE_FAILED). */
  restoreError: z.string().optional(),
  updatedAt: Iso.optional(),
});
export type JobRegionRecord = z.output<typeof JobRegionRecord>;

export const JobRolloutRecord = z.object({
  id: z.string().min(1),
  job: z.string().min(1),
  project: z.string().min(1),
  repository: z.string().min(1),
  digest: z.string().min(1),
  image: z.string().min(1),
  tag: z.string().optional(),
  source: z.enum(['gcr', 'cloud-builds']),
  messageId: z.string().optional(),
  status: z.enum(['PENDING', 'RUNNING', 'SUCCEEDED', 'FAILED']),
  /** Firestore holds no array directly inside an array: a stored wave is `{regions: [...]}` (toJobRolloutDocument). */
  waves: z
    .array(z.union([z.array(z.string()).min(1), z.object({ regions: z.array(z.string()).min(1) })]))
    .min(1)
    .transform((waves) => waves.map((w) => (Array.isArray(w) ? w : w.regions))),
  verify: z
    .object({
      args: z.array(z.string()).optional(),
      env: z.record(z.string(), z.string()).optional(),
      timeoutSeconds: z.number().positive(),
    })
    .optional(),
  regions: z.record(z.string(), JobRegionRecord),
  slackChannel: z.string().optional(),
  executionName: z.string().optional(),
  launchClaimedAt: Iso.nullable().optional(),
  /**
   * The longest the rollout waits for a run of the job to release the job's
   * lock: a healthy run's lifetime. Bounds the execution's life for the
   * sweeper; absent on records written before it was kept.
   */
  lockWaitSeconds: z.number().nonnegative().optional(),
  reason: z.string().optional(),
  createdAt: Iso,
  updatedAt: Iso,
  finishedAt: Iso.optional(),
});
export type JobRolloutRecord = z.output<typeof JobRolloutRecord>;

/** The record as Firestore stores it. */
export function toJobRolloutDocument(r: JobRolloutRecord): Record<string, unknown> {
  return { ...r, waves: r.waves.map((regions) => ({ regions })) };
}

/** One job rollout per (job, digest): a redelivery or a second push of the same image is a duplicate. */
export function jobRolloutId(job: string, digest: string): string {
  const hash = createHash('sha256').update(`${job}|${digest}`).digest('hex');
  return `${job}-${hash.slice(0, 12)}`;
}

export function newJobRollout(
  job: JobPolicy,
  pushed: {
    repository: string;
    digest: string;
    tag?: string;
    source: 'gcr' | 'cloud-builds';
    messageId?: string;
  },
  now: Date,
): JobRolloutRecord & { lockWaitSeconds: number } {
  const waves = jobWaves(job);
  const at = now.toISOString();
  return {
    id: jobRolloutId(job.name, pushed.digest),
    job: job.name,
    project: job.project,
    repository: pushed.repository,
    digest: pushed.digest,
    image: pinnedImage(pushed),
    ...(pushed.tag ? { tag: pushed.tag } : {}),
    source: pushed.source,
    ...(pushed.messageId ? { messageId: pushed.messageId } : {}),
    status: 'PENDING',
    waves,
    ...(job.verify
      ? {
          verify: {
            ...(job.verify.args ? { args: job.verify.args } : {}),
            ...(job.verify.env ? { env: job.verify.env } : {}),
            timeoutSeconds: job.verify.timeout,
          },
        }
      : {}),
    regions: Object.fromEntries(waves.flat().map((r) => [r, { status: 'PENDING' as const }])),
    ...(job.slack ? { slackChannel: job.slack.channel } : {}),
    lockWaitSeconds: jobRunLifetimeSeconds({ retry: retrySettings(job), timeoutSeconds: job.timeout }),
    launchClaimedAt: at,
    createdAt: at,
    updatedAt: at,
  };
}

/** The `job-rollout` workflow's argument: the loop's shape; the actions read the rest from the record. */
interface JobRolloutArgument {
  rolloutId: string;
  waves: string[][];
  /** Status polls of the verification execution that fit in its timeout. */
  maxPolls: number;
  pollSeconds: number;
  /** Polls while a run of the job holds the job's lock, before the rollout gives up. */
  maxLockPolls: number;
}

export function jobRolloutArgument(
  r: Pick<JobRolloutRecord, 'id' | 'waves' | 'verify'>,
  runLifetimeSeconds: number,
): JobRolloutArgument {
  return {
    rolloutId: r.id,
    waves: r.waves,
    maxPolls: Math.max(1, Math.ceil((r.verify?.timeoutSeconds ?? POLL_SECONDS) / POLL_SECONDS)),
    pollSeconds: POLL_SECONDS,
    maxLockPolls: Math.max(1, Math.ceil(runLifetimeSeconds / POLL_SECONDS)),
  };
}

/**
 * How long a rollout may hold its job's lock before a run may take it anyway
 * (a rollout whose workflow died never releases it): per region, one update,
 * the verification's timeout plus a poll, and one restore, with a minute each.
 */
export function jobRolloutLockSeconds(r: Pick<JobRolloutRecord, 'waves' | 'verify'>): number {
  const regions = r.waves.flat().length;
  return regions * ((r.verify?.timeoutSeconds ?? 0) + POLL_SECONDS + 3 * 60) + 60;
}

/**
 * The sweeper's diagnosis of an unfinished job rollout, as for job runs
 * (functions/domain/job-sweep.ts). A healthy execution lives at most its
 * wait for the job's lock (polled: one poll more) and then the lock's own
 * lifetime. A record without `lockWaitSeconds` is never judged overdue,
 * only dead or never started: its healthy lifetime is unknown.
 */
export function diagnoseJobRollout(
  r: JobRolloutRecord,
  execution: ExecutionView | undefined,
  now: Date,
  settings: SweepSettings,
): JobSweepDiagnosis {
  const names = { noun: 'job rollout', workflow: 'job-rollout' };
  const lifetime =
    r.lockWaitSeconds === undefined ? Infinity : r.lockWaitSeconds + POLL_SECONDS + jobRolloutLockSeconds(r);
  return diagnoseDriven(r, names, lifetime, execution, now, settings);
}

/** The env var that marks a verification execution, so a retried start finds it instead of starting another. */
export const VERIFY_MARKER = 'GLIDEPATH_JOB_VERIFY';

/**
 * An ExecutionTemplate as the Admin API holds it, reduced to what the image
 * change needs; every other field is carried through untouched.
 */
interface TemplateShape {
  template?: { containers?: Array<{ name?: string; image?: string }> };
}

/** The images of a template's containers, in order. */
export function templateImages(templateJson: string): string[] {
  const t = JSON.parse(templateJson) as TemplateShape;
  return (t.template?.containers ?? []).map((c) => c.image ?? '');
}

/**
 * The template with `image` in the one container whose image is under
 * `repository`; an error naming the containers when none or several are.
 */
export function withImage(
  templateJson: string,
  repository: string,
  image: string,
): { template: string } | { error: string } {
  const t = JSON.parse(templateJson) as TemplateShape;
  const containers = t.template?.containers ?? [];
  const matching = containers.filter((c) => {
    const ref = c.image ? parseImageRef(c.image) : undefined;
    return ref?.ok === true && sameRepository(ref.ref.repository, repository);
  });
  const named = containers.map((c, i) => `${c.name || `#${i}`} (${c.image ?? 'no image'})`).join(', ');
  if (matching.length !== 1)
    return {
      error: `template.containers: expected exactly one container running an image of ${repository}, got ${matching.length} among ${named || 'no containers'}`,
    };
  matching[0].image = image;
  return { template: JSON.stringify(t) };
}

// Slack.

function regionLines(r: JobRolloutRecord): string {
  return r.waves
    .flat()
    .map((region) => {
      const s = r.regions[region];
      return `• ${region}: ${s?.status ?? 'PENDING'}${s?.failureClass ? ` [${s.failureClass}]` : ''}${s?.error ? ` — ${s.error}` : ''}${s?.restoreError ? ` — restore failed: ${s.restoreError}` : ''}`;
    })
    .join('\n');
}

export function jobRolloutFinishedMessage(r: JobRolloutRecord): SlackMessage {
  const short = r.tag ?? r.digest.slice(0, 19);
  const note = `job rollout \`${r.id}\` · \`glidepath jobs status ${r.job}\``;
  if (r.status === 'SUCCEEDED')
    return slackMessage(
      `✅ Job ${r.job} now runs ${short} in ${r.waves.flat().join(', ')}`,
      `✅ *${r.job}* now runs \`${r.image}\`.\n${regionLines(r)}`,
      note,
      r.slackChannel,
    );
  return slackMessage(
    `❌ Job ${r.job}: image ${short} was rolled back (${r.reason ?? 'failed'})`,
    `❌ *${r.job}*: image \`${r.image}\` failed${r.reason ? `: ${r.reason}` : ''}. The previous template was restored where it had changed; later regions were not touched.\n${regionLines(r)}`,
    note,
    r.slackChannel,
  );
}
