/**
 * Inbound Pub/Sub messages in their real formats (design brief §3), decoded
 * and validated. Decoding never throws: every failure becomes a `rejected`
 * reason that names the field, the value and what was expected.
 */
import { z } from 'zod';
import { boundReason, describeIssues, formatPath, illFormedTextAt, isWellFormed, show } from './validation';

/** Pub/Sub's own limit is 10 MB; no legitimate Glidepath message comes near 256 KiB. */
export const MAX_PAYLOAD_BYTES = 256 * 1024;

export const TOPICS = {
  gcr: 'gcr',
  cloudBuilds: 'cloud-builds',
  deployRequests: 'glidepath-deploy-requests',
  jobTriggers: 'glidepath-job-triggers',
  rolloutStops: 'glidepath-rollout-stops',
  deadLetters: 'glidepath-dead-letters',
} as const;

const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

/** Text is stored as it is, and Firestore keeps only valid UTF-8: no lone surrogates. */
const WELL_FORMED = 'expected well-formed Unicode text (no lone surrogates)';

/** Pub/Sub allows 100 attributes (keys ≤ 256 bytes, values ≤ 1024); dead-lettering adds a few of its own. */
const MAX_ATTRIBUTES = 128;

/**
 * A message id: Pub/Sub's are decimal digits. It names Firestore documents
 * (`deadLetters/rejected-<id>`), so it may never hold a `/`, a space or a
 * control character.
 */
export const MessageId = z
  .string()
  .regex(
    /^[\x21-\x2e\x30-\x7e]{1,256}$/,
    'expected a message id of 1-256 printable ASCII characters, no "/"',
  );

/** A Pub/Sub message as pushed (and as `glidepath plan --message` reads it). */
export const PubsubMessage = z.object({
  // Base64 (so ASCII): whatever else it holds, a record of the message fits in a Firestore document.
  data: z
    .string()
    .max(Math.ceil((MAX_PAYLOAD_BYTES * 4) / 3) + 4)
    .regex(BASE64, 'expected base64')
    .optional(),
  // Kept as a map in records: Firestore refuses field names like `__x__` and empty ones.
  attributes: z
    .record(
      z
        .string()
        .min(1)
        .max(256)
        .regex(/^(?!__[\s\S]*__$)/, 'expected an attribute name that is not "__…__" (reserved in Firestore)')
        .refine(isWellFormed, WELL_FORMED),
      z.string().max(1024).refine(isWellFormed, WELL_FORMED),
    )
    .refine((a) => Object.keys(a).length <= MAX_ATTRIBUTES, {
      error: `expected at most ${MAX_ATTRIBUTES} attributes`,
    })
    .optional(),
  messageId: MessageId.optional(),
  message_id: MessageId.optional(),
  publishTime: z.string().max(64).refine(isWellFormed, WELL_FORMED).optional(),
  deliveryAttempt: z.number().int().optional(),
});
export type PubsubMessage = z.output<typeof PubsubMessage>;

export const GcrEvent = z.object({
  action: z.enum(['INSERT', 'DELETE']),
  digest: z.string().max(600).optional(),
  tag: z.string().max(600).optional(),
});
export type GcrEvent = z.output<typeof GcrEvent>;

export const CloudBuildEvent = z.object({
  id: z.string().min(1).max(128),
  projectId: z.string().max(64).optional(),
  status: z.string().max(64),
  results: z
    .object({
      images: z
        .array(z.object({ name: z.string().max(600), digest: z.string().max(128).optional() }))
        .max(100)
        .optional(),
    })
    .optional(),
  images: z.array(z.string().max(600)).max(100).optional(),
  substitutions: z.record(z.string(), z.string().max(1024)).optional(),
  buildTriggerId: z.string().max(128).optional(),
  logUrl: z.string().max(1024).optional(),
});
export type CloudBuildEvent = z.output<typeof CloudBuildEvent>;

export const DeployRequest = z.strictObject({
  service: z.string().min(1).max(63),
  image: z.string().min(1).max(600),
  reason: z.string().min(1).max(1000),
  requestedBy: z.string().min(1).max(256),
  regions: z.array(z.string().max(64)).min(1).max(50).optional(),
});
export type DeployRequest = z.output<typeof DeployRequest>;

export const JobTrigger = z.strictObject({
  job: z.string().min(1).max(63),
  overrides: z
    .strictObject({
      args: z.array(z.string().max(4096)).max(100).optional(),
      // Kept as a map in the job run: Firestore refuses field names like `__x__`.
      env: z
        .record(z.string().regex(/^(?!__.*__$)[A-Za-z_][A-Za-z0-9_]*$/), z.string().max(32768))
        .optional(),
    })
    .optional(),
});
export type JobTrigger = z.output<typeof JobTrigger>;

/**
 * A stop recorded by the slack-interactions function (Abort / Roll back now):
 * the rollout-stops worker restores its regions, posts its end and tells the
 * click's `response_url` how it went. `status` and `reason` are those the
 * stop recorded; the worker settles only a rollout whose record ended with
 * exactly these (docs/slack.md "Abort and Roll back now").
 */
export const RolloutStop = z.strictObject({
  rolloutId: z.string().min(1).max(256),
  status: z.enum(['ABORTED', 'ROLLED_BACK']),
  reason: z.string().min(1).max(2000),
  /** The Slack user who clicked, and when. */
  by: z.string().min(1).max(64),
  at: z.iso.datetime(),
  /** Slack's response_url of the click: the worker replaces the message with the final result. */
  responseUrl: z.url().max(2000).optional(),
  /** The message the button was on (text and blocks, buttons taken off): replaced with the result. */
  original: z
    .strictObject({
      text: z.string().max(40_000).optional(),
      blocks: z.array(z.record(z.string(), z.unknown())).max(50).optional(),
    })
    .optional(),
});
export type RolloutStop = z.output<typeof RolloutStop>;

type Decoded<T> = { ok: true; value: T } | { ok: false; reason: string };

/** base64 → UTF-8 → JSON, with a reason for each way it can fail. */
function decodeJsonData(data: string | undefined): Decoded<unknown> {
  if (data === undefined || data === '')
    return { ok: false, reason: 'message.data: expected base64-encoded JSON, got nothing' };
  if (!BASE64.test(data))
    return { ok: false, reason: `message.data: expected base64, got ${show(data.slice(0, 40))}` };
  const bytes = Buffer.from(data, 'base64');
  if (bytes.length > MAX_PAYLOAD_BYTES)
    return {
      ok: false,
      reason: `message.data: expected at most ${MAX_PAYLOAD_BYTES} bytes, got ${bytes.length}`,
    };
  const text = bytes.toString('utf8');
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (e) {
    return {
      ok: false,
      reason: boundReason(
        `message.data: expected JSON, got ${show(text.slice(0, 60))} (${(e as Error).message})`,
        400,
      ),
    };
  }
}

/** Decodes and validates a message body against `schema`; problems are joined into one reason. */
export function decodeMessage<S extends z.ZodType>(
  schema: S,
  data: string | undefined,
  what: string,
): Decoded<z.output<S>> {
  const json = decodeJsonData(data);
  if (!json.ok) return json;
  const r = schema.safeParse(json.value, { reportInput: true });
  if (!r.success)
    return { ok: false, reason: boundReason(`invalid ${what}: ${describeIssues(r.error).join('; ')}`) };
  // JSON can spell a lone surrogate (`"\ud800"`); no store Glidepath writes to can keep one.
  const illFormed = illFormedTextAt(r.data);
  if (illFormed !== undefined)
    return {
      ok: false,
      reason: `invalid ${what}: ${formatPath(illFormed)}: expected well-formed Unicode text, got a lone surrogate`,
    };
  return { ok: true, value: r.data };
}

/** Maps a subscription or topic resource name (`projects/p/subscriptions/gcr-intake`) to the topic it reads. */
export function topicOf(resource: string | undefined): string | undefined {
  if (!resource || typeof resource !== 'string') return undefined;
  const name = resource.split('/').pop() ?? '';
  const all = Object.values(TOPICS) as string[];
  // Subscriptions are named `<topic>` or `<topic>-<suffix>`; take the longest topic that fits.
  return all.filter((t) => name === t || name.startsWith(`${t}-`)).sort((a, b) => b.length - a.length)[0];
}
