/**
 * The rollout plan: fixed at intake and passed to the `rollout` workflow as
 * its argument (waves → regions → steps, with analysis and smoke resolved).
 * Everything the workflow needs is here, so a policy edit never changes a
 * rollout that is already running.
 */
import type { AnalysisSettings, ServicePolicy } from './policy';
import { shortDigest } from './image';
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
    image: `${request.repository}@${request.digest}`,
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
