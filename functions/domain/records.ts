/**
 * Firestore documents (design brief §4), validated with zod on read and on
 * write so that a bad document is caught where it is touched, not later.
 */
import { z } from 'zod';

export const ROLLOUT_STATUSES = [
  'PENDING',
  'RUNNING',
  'PROMOTED',
  'ROLLED_BACK',
  'FAILED',
  'SUPERSEDED',
  'ABORTED',
  /** A gate's approver rejected it (functions/domain/gates.ts). */
  'REJECTED',
  /** Nobody answered a gate before its timeout; later stages were never touched. */
  'EXPIRED',
] as const;
export type RolloutStatus = (typeof ROLLOUT_STATUSES)[number];
const TERMINAL_STATUSES: ReadonlySet<RolloutStatus> = new Set([
  'PROMOTED',
  'ROLLED_BACK',
  'FAILED',
  'SUPERSEDED',
  'ABORTED',
  'REJECTED',
  'EXPIRED',
]);

export function isTerminal(status: RolloutStatus): boolean {
  return TERMINAL_STATUSES.has(status);
}

const Iso = z.string().min(1);

/** How a stop from outside the workflow ends a rollout: Abort, or Roll back now. */
export type StopStatus = Extract<RolloutStatus, 'ABORTED' | 'ROLLED_BACK'>;

/**
 * The regions a stop takes back to their recorded split: every region it
 * touched for ROLLED_BACK ("Roll back now"), those not promoted for ABORTED.
 */
export function regionsStopTakesBack(rollout: Pick<RolloutRecord, 'regions'>, status: StopStatus): string[] {
  return Object.keys(rollout.regions).filter(
    (r) => status === 'ROLLED_BACK' || rollout.regions[r].status !== 'PROMOTED',
  );
}

const REGION_STATUSES = [
  'PENDING',
  'DEPLOYING',
  'SMOKE',
  'SHIFTING',
  'PROMOTED',
  'ROLLED_BACK',
  'FAILED',
  'SKIPPED',
] as const;

/** A region whose rollout is still working on it (a candidate may be serving). */
export function isRegionBusy(status: string): boolean {
  return status === 'DEPLOYING' || status === 'SMOKE' || status === 'SHIFTING';
}

const StepRecord = z.object({
  index: z.number().int(),
  percent: z.number(),
  verdict: z.enum(['PASS', 'FAIL', 'INCONCLUSIVE']).optional(),
  reasons: z.array(z.string()).default([]),
  figures: z.record(z.string(), z.unknown()).optional(),
  extensions: z.number().int().default(0),
  /** PASS points (bake end, then each extension's) already taken by a look; each look is in `looks`. */
  passPointsTaken: z.number().int().optional(),
  startedAt: Iso.optional(),
  judgedAt: Iso.optional(),
});

const Share = z.object({ revision: z.string(), percent: z.number() });

export const RegionRecord = z.object({
  status: z.enum(REGION_STATUSES),
  stableRevision: z.string().nullable().optional(),
  /** The serving split before anything moved: what a rollback restores exactly. */
  recordedSplit: z.array(Share).optional(),
  candidateRevision: z.string().optional(),
  tagUrl: z.string().optional(),
  traffic: z.record(z.string(), z.number()).default({}),
  steps: z.array(StepRecord).default([]),
  reason: z.string().optional(),
  updatedAt: Iso.optional(),
});
export type RegionRecord = z.output<typeof RegionRecord>;

/** Who answered: a Slack user (id, and email when known) or a CLI caller (email from ADC, as `redeploy` records it). */
export interface Decider {
  via: 'slack' | 'cli';
  id: string;
  email?: string;
  name?: string;
}

const DeciderSchema = z.object({
  via: z.enum(['slack', 'cli']),
  id: z.string().min(1),
  email: z.string().min(1).optional(),
  name: z.string().min(1).optional(),
}) satisfies z.ZodType<Decider>;

const GATE_STATUSES = ['WAITING', 'APPROVED', 'REJECTED', 'EXPIRED'] as const;

/** One gate of a rollout, kept in the rollout's `gates` map under its name. */
export const GateRecord = z.object({
  name: z.string().min(1),
  stage: z.string().min(1),
  position: z.enum(['before', 'promote']),
  approvers: z.array(z.string().min(1)).min(1),
  status: z.enum(GATE_STATUSES),
  /** The Workflows callback the execution awaits (events.create_callback_endpoint). */
  callbackUrl: z.string().min(1),
  openedAt: Iso,
  expiresAt: Iso,
  decision: z.enum(['approve', 'reject']).optional(),
  decidedBy: DeciderSchema.optional(),
  decidedAt: Iso.optional(),
  reason: z.string().optional(),
  /** When the decision reached the callback; unset while it waits in the `gateCallbacks` outbox. */
  callbackSentAt: Iso.optional(),
});
export type GateRecord = z.output<typeof GateRecord>;

export const RolloutRecord = z.object({
  id: z.string().min(1),
  service: z.string().min(1),
  project: z.string().min(1),
  image: z.string().min(1),
  digest: z.string().min(1),
  tag: z.string().optional(),
  source: z.enum(['gcr', 'cloud-builds', 'manual']),
  status: z.enum(ROLLOUT_STATUSES),
  plan: z.record(z.string(), z.unknown()),
  executionName: z.string().optional(),
  /** Set by the intake delivery that is starting the execution (see RolloutStore.claimLaunch). */
  launchClaimedAt: Iso.nullable().optional(),
  messageId: z.string().optional(),
  reason: z.string().optional(),
  requestedBy: z.string().optional(),
  commit: z.string().optional(),
  buildId: z.string().optional(),
  logUrl: z.string().optional(),
  queuedBehind: z.string().optional(),
  supersededBy: z.string().optional(),
  regions: z.record(z.string(), RegionRecord).default({}),
  createdAt: Iso,
  updatedAt: Iso,
  endedAt: Iso.optional(),
  outcomeReason: z.string().optional(),
  /** When a stopped rollout's end was claimed for posting (RolloutStore.claimEndNotice): it is posted once. */
  endNoticeAt: Iso.optional(),
  /** Approval gates by name (functions/domain/gates.ts); only rollouts with stages have any. */
  gates: z.record(z.string(), GateRecord).optional(),
});
export type RolloutRecord = z.output<typeof RolloutRecord>;

export const ServiceRecord = z.object({
  name: z.string().min(1),
  /** The lease: the one rollout allowed to change this service's traffic. */
  activeRollout: z.string().nullable().default(null),
  activeDigest: z.string().nullable().default(null),
  /** Rollouts waiting under `onNewImage: queue`, oldest first. */
  queue: z.array(z.string()).default([]),
  /** Per region, the rollout whose candidate is deployed there: at most one at any time. */
  candidates: z.record(z.string(), z.string()).default({}),
  lastGood: z.record(z.string(), z.string()).default({}),
  lastFailedDigest: z.string().nullable().default(null),
  updatedAt: Iso,
});
export type ServiceRecord = z.output<typeof ServiceRecord>;

export const DeadLetterRecord = z.object({
  id: z.string().min(1),
  kind: z.enum(['rejected', 'undeliverable', 'job-failed']),
  source: z.string(),
  subscription: z.string().optional(),
  reason: z.string(),
  data: z.string().optional(),
  attributes: z.record(z.string(), z.string()).default({}),
  messageId: z.string().optional(),
  deliveryCount: z.number().int().optional(),
  details: z.record(z.string(), z.unknown()).optional(),
  createdAt: Iso,
  replayed: z.boolean().default(false),
  replayedBy: z.string().optional(),
  replayedAt: Iso.optional(),
  replayMessageId: z.string().optional(),
});
export type DeadLetterRecord = z.output<typeof DeadLetterRecord>;
