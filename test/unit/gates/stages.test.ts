/** Stages in the policy and the plan: validation naming the field, defaults, and the plan a region runs under. */
import { buildPlan, readPlan, stagePlan } from '../../../functions/domain/plan';
import { DEFAULT_APPROVAL_TIMEOUT_SECONDS, parsePolicy } from '../../../functions/domain/policy';
import { policyProblems as problems } from '../../helpers/policy-problems';

const staged = {
  name: 'api',
  image: 'us-docker.pkg.dev/my-project/apps/api',
  steps: [
    { percent: 10, bake: '5m' },
    { percent: 50, bake: '5m' },
  ],
  stages: [
    { name: 'staging', project: 'api-staging', waves: [['us-central1']], steps: [] },
    {
      name: 'production',
      project: 'api-production',
      waves: [['us-east1'], ['europe-west1']],
      analysis: { minRequests: 500 },
      approval: { approvers: ['U024BE7LH', 'lead@example.com'] },
    },
  ],
};

describe('stages in the policy', () => {
  it('resolves each stage: its own project and waves, steps from the service unless set, analysis merged', () => {
    const [service] = parsePolicy({ services: [staged] }).services;
    expect(service.stages).toEqual([
      {
        name: 'staging',
        project: 'api-staging',
        waves: [['us-central1']],
        steps: [],
        analysis: expect.objectContaining({ minRequests: 200 }),
      },
      {
        name: 'production',
        project: 'api-production',
        waves: [['us-east1'], ['europe-west1']],
        steps: [
          { percent: 10, bake: 300 },
          { percent: 50, bake: 300 },
        ],
        analysis: expect.objectContaining({ minRequests: 500, maxExtensions: 3 }),
        approval: { approvers: ['U024BE7LH', 'lead@example.com'], timeout: 24 * 3600, before: 'stage' },
      },
    ]);
    expect(DEFAULT_APPROVAL_TIMEOUT_SECONDS).toBe(86_400);
    // What reads the service without knowing stages sees production.
    expect(service.project).toBe('api-production');
    expect(service.waves).toEqual([['us-east1'], ['europe-west1']]);
  });

  it('leaves a service without stages exactly as before', () => {
    const [service] = parsePolicy({
      services: [{ name: 'api', project: 'my-project', image: staged.image, waves: [['us-central1']] }],
    }).services;
    expect(service.stages).toBeUndefined();
    expect(service.project).toBe('my-project');
  });

  it.each([
    [{ ...staged, project: 'my-project' }, 'services[0].project: expected no project beside `stages`'],
    [{ ...staged, waves: [['us-west1']] }, 'services[0].waves: expected no waves beside `stages`'],
    [
      { name: 'api', image: staged.image, waves: [['us-central1']] },
      'services[0].project: expected a GCP project id (or `stages`)',
    ],
    [
      { ...staged, stages: [staged.stages[0], { ...staged.stages[1], name: 'staging' }] },
      'services[0].stages[1].name: expected a unique stage name, got "staging" again',
    ],
    [
      { ...staged, stages: [staged.stages[0], { ...staged.stages[1], waves: [['us-central1']] }] },
      'services[0].stages[1].waves[0][0]: expected each region in one stage only, got us-central1 again (already in stage staging)',
    ],
    [
      { ...staged, stages: [{ ...staged.stages[0], approval: { approvers: ['bob'] } }] },
      'services[0].stages[0].approval.approvers[0]: expected a Slack user id such as "U024BE7LH" or an email address',
    ],
    [
      { ...staged, stages: [{ ...staged.stages[0], approval: { approvers: [] } }] },
      'services[0].stages[0].approval.approvers',
    ],
    [
      {
        ...staged,
        stages: [{ ...staged.stages[0], approval: { approvers: ['U024BE7LH'], timeout: '400d' } }],
      },
      'services[0].stages[0].approval.timeout: expected a duration',
    ],
    [
      {
        ...staged,
        stages: [{ ...staged.stages[0], approval: { approvers: ['U024BE7LH'], timeout: '9000h' } }],
      },
      'services[0].stages[0].approval.timeout: expected at most 31536000 seconds',
    ],
    [
      {
        ...staged,
        stages: [{ ...staged.stages[0], approval: { approvers: ['U024BE7LH'], timeout: '10s' } }],
      },
      'services[0].stages[0].approval.timeout: expected at least 60 seconds',
    ],
    [
      {
        ...staged,
        stages: [{ ...staged.stages[0], approval: { approvers: ['U024BE7LH'], before: 'promote' } }],
      },
      'services[0].stages[0].approval.before: expected one of stage, promotion',
    ],
    [
      { ...staged, stages: [{ ...staged.stages[0], name: 'Staging' }] },
      'services[0].stages[0].name: expected a stage name',
    ],
    [
      { ...staged, stages: [{ ...staged.stages[0], colour: 'blue' }] },
      'services[0].stages[0]: unknown field(s) "colour"',
    ],
  ])('rejects case %# naming the field', (service, expected) => {
    expect(problems({ services: [service] })).toContain(expected);
  });
});

describe('the plan of a staged service', () => {
  const [service] = parsePolicy({ services: [staged] }).services;
  const request = {
    service,
    repository: staged.image,
    digest: `sha256:${'a'.repeat(64)}`,
    source: 'manual' as const,
  };

  it('carries each stage, with the last stage as the plan’s own project, waves and steps, and reads back valid', () => {
    const plan = buildPlan(request, 'api-1');
    expect(plan.stages?.map((s) => [s.name, s.project, s.steps.length, s.approval?.timeoutSeconds])).toEqual([
      ['staging', 'api-staging', 0, undefined],
      ['production', 'api-production', 2, 86_400],
    ]);
    expect(plan.project).toBe('api-production');
    expect(plan.waves).toEqual([{ regions: ['us-east1'] }, { regions: ['europe-west1'] }]);
    expect(readPlan({ id: 'api-1', plan: JSON.parse(JSON.stringify(plan)) })).toEqual({ plan });
  });

  it('carries where each gate stands: before the stage unless the policy says before its promotion; an older stored plan reads as before the stage', () => {
    const [promoting] = parsePolicy({
      services: [
        {
          ...staged,
          stages: [
            staged.stages[0],
            { ...staged.stages[1], approval: { approvers: ['U024BE7LH'], before: 'promotion' } },
          ],
        },
      ],
    }).services;
    const plan = buildPlan({ ...request, service: promoting }, 'api-3');
    expect(plan.stages?.[1].approval).toEqual({
      approvers: ['U024BE7LH'],
      timeoutSeconds: 86_400,
      before: 'promotion',
    });
    expect(buildPlan(request, 'api-1').stages?.[1].approval?.before).toBe('stage');
    const stored = JSON.parse(JSON.stringify(buildPlan(request, 'api-1'))) as {
      stages: { approval?: Record<string, unknown> }[];
    };
    delete stored.stages[1].approval!.before;
    const read = readPlan({ id: 'api-1', plan: stored });
    expect('plan' in read && read.plan.stages?.[1].approval?.before).toBe('stage');
  });

  it('runs a region under its stage: staging’s project and no steps, production’s project and analysis', () => {
    const plan = buildPlan(request, 'api-1');
    expect(stagePlan(plan, 'us-central1')).toMatchObject({ project: 'api-staging', steps: [] });
    expect(stagePlan(plan, 'europe-west1')).toMatchObject({
      project: 'api-production',
      analysis: expect.objectContaining({ minRequests: 500 }),
    });
  });

  it('drops the stages a manual request’s regions leave empty', () => {
    const plan = buildPlan({ ...request, regions: ['us-east1'] }, 'api-2');
    expect(plan.stages?.map((s) => s.name)).toEqual(['production']);
  });

  it('refuses a stored plan without steps when it has no stages, naming the field', () => {
    const plan = buildPlan(request, 'api-1');
    const { stages: _stages, ...flat } = { ...plan, steps: [] };
    expect(readPlan({ id: 'api-1', plan: flat })).toEqual({
      corrupt: expect.stringMatching(/plan\.steps: expected at least 1 step/),
    });
  });
});
