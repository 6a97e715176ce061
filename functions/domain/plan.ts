/**
 * The rollout plan: fixed at intake and passed to the `rollout` workflow as
 * its argument (waves → regions → steps, with analysis and smoke resolved).
 * Everything the workflow needs is here, so a policy edit never changes a
 * rollout that is already running.
 */
import { z } from 'zod';
import {
  APPROVAL_POSITIONS,
  Analysis,
  type AnalysisSettings,
  type ApprovalPosition,
  type ServicePolicy,
} from './policy';
import { pinnedImage, shortDigest } from './image';
import type { RolloutRecord } from './records';
import { describeIssues } from './validation';
import { candidateTag } from './tags';

type RolloutSource = 'gcr' | 'cloud-builds' | 'manual';

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

interface PlanStep {
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
  /**
   * A staged service's stages, in order. The plan's own project, waves, steps
   * and analysis are then the last stage's; the workflow runs each stage with
   * its own (`stagePlan`).
   */
  stages?: PlanStage[];
}

interface PlanStage {
  name: string;
  project: string;
  waves: { regions: string[] }[];
  steps: PlanStep[];
  analysis: AnalysisSettings;
  /**
   * A gate before the stage, or before its final promotion (`before`): the
   * workflow waits for one of `approvers`, at most `timeoutSeconds`.
   */
  approval?: { approvers: string[]; timeoutSeconds: number; before: ApprovalPosition };
  /**
   * True for the policy's last stage: a rollback in it pages
   * (functions/domain/alerts.ts). Unset in plans stored before it existed.
   */
  production?: boolean;
}

const Percent = z.number().int().min(1).max(100);
const PlanSteps = z.array(z.object({ percent: Percent, bakeSeconds: z.number().min(0) }));
const PlanWaves = z.array(z.object({ regions: z.array(z.string().min(1)).min(1) })).min(1);
const PlanStageSchema = z.object({
  name: z.string().min(1),
  project: z.string().min(1),
  waves: PlanWaves,
  steps: PlanSteps,
  analysis: Analysis,
  approval: z
    .object({
      approvers: z.array(z.string().min(1)).min(1),
      timeoutSeconds: z.number().positive(),
      // Plans stored before gates could stand before a promotion had only gates before a stage.
      before: z.enum(APPROVAL_POSITIONS).default('stage'),
    })
    .optional(),
  production: z.boolean().optional(),
}) satisfies z.ZodType<PlanStage>;

/**
 * The plan as stored with its rollout and read back by the actions and the
 * sweeper: checked field by field, never cast, so a corrupt plan fails its
 * rollout with the field named instead of a TypeError (or NaN) later.
 */
const RolloutPlanSchema = z
  .object({
    rolloutId: z.string().min(1),
    service: z.string().min(1),
    project: z.string().min(1),
    image: z.string().min(1),
    digest: z.string().min(1),
    revisionTag: z.string().min(1),
    waves: PlanWaves,
    maxParallelRegions: z.number().int().min(1),
    // A stage may have no steps (0% → smoke → 100%), so a staged plan's own steps may be empty too.
    steps: PlanSteps,
    analysis: Analysis,
    smoke: z.object({
      path: z.string().min(1),
      expectStatus: z.number().int().min(100).max(599),
      attempts: z.number().int().min(1),
      timeoutSeconds: z.number().positive(),
    }),
    rollbackPromotedRegions: z.boolean(),
    source: z.enum(['gcr', 'cloud-builds', 'manual']),
    stages: z.array(PlanStageSchema).min(1).optional(),
  })
  .superRefine((plan, ctx) => {
    if (!plan.stages && plan.steps.length === 0)
      ctx.addIssue({
        code: 'too_small',
        origin: 'array',
        minimum: 1,
        inclusive: true,
        path: ['steps'],
        message: 'expected at least 1 step',
      });
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

const planSteps = (steps: { percent: number; bake: number }[]): PlanStep[] =>
  steps.map((st) => ({ percent: st.percent, bakeSeconds: st.bake }));

export function buildPlan(request: RolloutRequest, id: string): RolloutPlan {
  const s = request.service;
  const wanted = request.regions ? new Set(request.regions) : undefined;
  const wavesOf = (waves: string[][]) =>
    waves
      .map((w) => ({ regions: w.filter((r) => !wanted || wanted.has(r)) }))
      .filter((w) => w.regions.length > 0);
  const waves = wavesOf(s.waves);
  const stages = s.stages
    ?.map((stage, i, all): PlanStage => ({
      name: stage.name,
      project: stage.project,
      waves: wavesOf(stage.waves),
      steps: planSteps(stage.steps),
      analysis: stage.analysis,
      ...(stage.approval
        ? {
            approval: {
              approvers: stage.approval.approvers,
              timeoutSeconds: stage.approval.timeout,
              before: stage.approval.before,
            },
          }
        : {}),
      // Marked before a manual request's regions may drop stages: the last one left may be staging.
      production: i === all.length - 1,
    }))
    .filter((stage) => stage.waves.length > 0);
  const last = stages?.[stages.length - 1];
  return {
    rolloutId: id,
    service: s.name,
    project: s.project,
    image: pinnedImage(request),
    digest: request.digest,
    revisionTag: candidateTag(s.name, request.digest),
    waves: last?.waves ?? waves,
    maxParallelRegions: s.maxParallelRegions,
    steps: last?.steps ?? planSteps(s.steps),
    analysis: last?.analysis ?? s.analysis,
    smoke: {
      path: s.smoke.path,
      expectStatus: s.smoke.expectStatus,
      attempts: s.smoke.attempts,
      timeoutSeconds: s.smoke.timeout,
    },
    rollbackPromotedRegions: s.rollbackPromotedRegions,
    source: request.source,
    ...(stages?.length ? { stages } : {}),
  };
}

/**
 * The plan a region of a staged rollout runs under: its stage's project,
 * steps and analysis. (A region is in one stage only; see policy.ts.) A plan
 * without stages is its own.
 */
export function stagePlan(plan: RolloutPlan, region: string): RolloutPlan {
  const stage = plan.stages?.find((st) => st.waves.some((w) => w.regions.includes(region)));
  if (!stage) return plan;
  return {
    ...plan,
    project: stage.project,
    waves: stage.waves,
    steps: stage.steps,
    analysis: stage.analysis,
  };
}
