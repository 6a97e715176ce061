/**
 * The rollout plan: fixed at intake and passed to the `rollout` workflow as
 * its argument (waves → regions → steps, with analysis and smoke resolved).
 * Everything the workflow needs is here, so a policy edit never changes a
 * rollout that is already running.
 */
import { z } from 'zod';
import { Analysis, type AnalysisSettings, type ServicePolicy } from './policy';
import { pinnedImage, shortDigest } from './image';
import type { RolloutRecord } from './records';
import { describeIssues } from './validation';
import { candidateTag } from './tags';

export type RolloutSource = 'gcr' | 'cloud-builds' | 'manual';

/** What intake decided to roll out, before it has an id. */
export interface RolloutRequest {
  service: ServicePolicy;
  repository: string;
  digest: string;
  /** The pushed tag, when there was one. */
  tag?: string;
  source: RolloutSource;
  /** For manual requests: the subset of regions to deploy to. */
  regions?: string[];
  reason?: string;
  requestedBy?: string;
  /** From Cloud Build substitutions (COMMIT_SHA / SHORT_SHA), when known. */
  commit?: string;
  buildId?: string;
  logUrl?: string;
}

export interface PlanStep {
  percent: number;
  bakeSeconds: number;
}

export interface RolloutPlan {
  rolloutId: string;
  service: string;
  project: string;
  /** repository@digest: rollouts always deploy the immutable digest. */
  image: string;
  digest: string;
  /** The revision tag of the candidate, `gp-<hex of the digest>` (see `candidateTag`). */
  revisionTag: string;
  /** Regions as maps, not nested arrays: Firestore cannot store an array of arrays. */
  waves: { regions: string[] }[];
  maxParallelRegions: number;
  steps: PlanStep[];
  analysis: AnalysisSettings;
  smoke: { path: string; expectStatus: number; attempts: number; timeoutSeconds: number };
  rollbackPromotedRegions: boolean;
  source: RolloutSource;
}

const Percent = z.number().int().min(1).max(100);

/**
 * The plan as stored with its rollout and read back by the actions and the
 * sweeper: checked field by field, never cast, so a corrupt plan fails its
 * rollout with the field named instead of a TypeError (or NaN) later.
 */
export const RolloutPlanSchema = z.object({
  rolloutId: z.string().min(1),
  service: z.string().min(1),
  project: z.string().min(1),
  image: z.string().min(1),
  digest: z.string().min(1),
  revisionTag: z.string().min(1),
  waves: z.array(z.object({ regions: z.array(z.string().min(1)).min(1) })).min(1),
  maxParallelRegions: z.number().int().min(1),
  steps: z.array(z.object({ percent: Percent, bakeSeconds: z.number().min(0) })).min(1),
  analysis: Analysis,
  smoke: z.object({
    path: z.string().min(1),
    expectStatus: z.number().int().min(100).max(599),
    attempts: z.number().int().min(1),
    timeoutSeconds: z.number().positive(),
  }),
  rollbackPromotedRegions: z.boolean(),
  source: z.enum(['gcr', 'cloud-builds', 'manual']),
}) satisfies z.ZodType<RolloutPlan>;

/** The rollout's stored plan, or what is wrong with it (every problem names its field). */
export function readPlan(
  rollout: Pick<RolloutRecord, 'id' | 'plan'>,
): { plan: RolloutPlan } | { corrupt: string } {
  const parsed = RolloutPlanSchema.safeParse(rollout.plan, { reportInput: true });
  if (parsed.success) return { plan: parsed.data };
  return {
    corrupt: `the stored plan of rollout ${rollout.id} is corrupt: ${describeIssues(parsed.error, 'plan').join('; ')}`,
  };
}

/** A rollout id that sorts by time and says what it is: `api-1a2b3c4d5e6f-lx3k9q`. */
export function rolloutId(service: string, digest: string, at: Date): string {
  return `${service}-${shortDigest(digest)}-${at.getTime().toString(36)}`;
}

export function buildPlan(request: RolloutRequest, id: string): RolloutPlan {
  const s = request.service;
  const wanted = request.regions ? new Set(request.regions) : undefined;
  const waves = s.waves
    .map((w) => ({ regions: w.filter((r) => !wanted || wanted.has(r)) }))
    .filter((w) => w.regions.length > 0);
  return {
    rolloutId: id,
    service: s.name,
    project: s.project,
    image: pinnedImage(request),
    digest: request.digest,
    revisionTag: candidateTag(s.name, request.digest),
    waves,
    maxParallelRegions: s.maxParallelRegions,
    steps: s.steps.map((st) => ({ percent: st.percent, bakeSeconds: st.bake })),
    analysis: s.analysis,
    smoke: {
      path: s.smoke.path,
      expectStatus: s.smoke.expectStatus,
      attempts: s.smoke.attempts,
      timeoutSeconds: s.smoke.timeout,
    },
    rollbackPromotedRegions: s.rollbackPromotedRegions,
    source: request.source,
  };
}
