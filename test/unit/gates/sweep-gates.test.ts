/** The sweeper and approval gates: a rollout waiting at a gate is silent by design until the gate expires. */
import { buildPlan } from '../../../functions/domain/plan';
import { parsePolicy } from '../../../functions/domain/policy';
import { RolloutRecord } from '../../../functions/domain/records';
import { DEFAULT_SWEEP_SETTINGS, diagnose, quietSeconds } from '../../../functions/domain/sweep';

const NOW = new Date('2026-11-22T12:00:00Z');
const at = (seconds: number): string => new Date(NOW.getTime() + seconds * 1000).toISOString();
const [service] = parsePolicy({
  services: [
    {
      name: 'api',
      image: 'us-docker.pkg.dev/p/apps/api',
      stages: [
        {
          name: 'staging',
          project: 'api-staging',
          waves: [['us-central1']],
          steps: [{ percent: 50, bake: '3h' }],
        },
        {
          name: 'production',
          project: 'api-production',
          waves: [['us-east1']],
          steps: [{ percent: 10, bake: '2h' }],
          approval: { approvers: ['U024BE7LH'] },
        },
      ],
    },
  ],
}).services;
const plan = buildPlan(
  { service, repository: service.image, digest: `sha256:${'a'.repeat(64)}`, source: 'gcr' },
  'api-1',
);

const rollout = (gateStatus: string, expiresIn: number): RolloutRecord =>
  RolloutRecord.parse({
    id: 'api-1',
    service: 'api',
    project: 'api-production',
    image: plan.image,
    digest: plan.digest,
    source: 'gcr',
    status: 'RUNNING',
    plan,
    executionName: 'projects/p/locations/l/workflows/rollout/executions/e1',
    createdAt: at(-5 * 3600),
    // Silent for four hours: past any bake of the plan and the grace.
    updatedAt: at(-4 * 3600),
    gates: {
      'before-production': {
        name: 'before-production',
        stage: 'production',
        position: 'before',
        approvers: ['U024BE7LH'],
        status: gateStatus,
        callbackUrl: 'http://127.0.0.1:1/v1/x/callbacks/1',
        openedAt: at(-4 * 3600),
        expiresAt: at(expiresIn),
      },
    },
  });

describe('the sweeper and a waiting gate', () => {
  it('leaves a rollout waiting at a gate alone until the gate expires', () => {
    expect(diagnose(rollout('WAITING', 3600), { state: 'ACTIVE' }, NOW)).toEqual({
      stuck: false,
      why: `waiting at gate before-production until ${at(3600)}`,
    });
  });

  it('takes a rollout back when its gate expired and nothing happened after the grace', () => {
    const late = -DEFAULT_SWEEP_SETTINGS.heartbeatGraceSeconds - 60;
    expect(diagnose(rollout('WAITING', late), { state: 'ACTIVE' }, NOW)).toMatchObject({ stuck: true });
    expect(diagnose(rollout('APPROVED', 3600), { state: 'ACTIVE' }, NOW)).toMatchObject({ stuck: true });
  });

  it("takes back a superseded rollout still waiting at its gate at once, not at the gate's timeout", () => {
    const superseded = RolloutRecord.parse({
      ...rollout('WAITING', 3600),
      status: 'SUPERSEDED',
      supersededBy: 'api-2',
      outcomeReason: 'superseded by api-2',
      updatedAt: at(-60),
    });
    expect(diagnose(superseded, { state: 'ACTIVE' }, NOW)).toEqual({
      stuck: true,
      reason:
        'rollout api-1 is SUPERSEDED but its execution still waits at gate before-production, which nobody may answer any more',
      cancelExecution: true,
      finish: false,
    });
  });

  it('counts every stage’s bakes in the quiet period, not only the last stage’s', () => {
    expect(quietSeconds(plan)).toBe(3 * 3600);
  });
});
