/**
 * A staged service's rollout plan, as intake builds it and Firestore stores
 * it: staging in us-west1, then production (the last stage) in us-central1
 * and us-east1, its canary held for a gate before promotion.
 */
import { buildPlan } from '../../functions/domain/plan';
import { parsePolicy } from '../../functions/domain/policy';

const SERVICE = {
  name: 'api',
  image: 'us-docker.pkg.dev/p/apps/api',
  stages: [
    { name: 'staging', project: 'api-staging', waves: [['us-west1']], steps: [] },
    {
      name: 'production',
      project: 'api-production',
      waves: [['us-central1'], ['us-east1']],
      approval: { approvers: ['U0LEAD'], before: 'promotion' },
    },
  ],
};

/** The stored plan (JSON) of rollout `id`; with `regions`, a manual request for those regions only. */
export function stagedPlan(id: string, regions?: string[]): Record<string, unknown> {
  const [service] = parsePolicy({ services: [SERVICE] }).services;
  const plan = buildPlan(
    {
      service,
      repository: service.image,
      digest: `sha256:${'a'.repeat(64)}`,
      source: 'manual',
      ...(regions ? { regions } : {}),
    },
    id,
  );
  return JSON.parse(JSON.stringify(plan)) as Record<string, unknown>;
}
