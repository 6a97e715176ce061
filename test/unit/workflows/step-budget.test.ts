/**
 * The 100,000-step limit (functions/domain/step-budget.ts): the step costs
 * the policy check uses are exactly what the Workflows emulator counts on the
 * shipped YAML, and the worst case the policy accepts runs to its end.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { runWorkflow } from '../../../emulators/workflows';
import {
  MAX_STEPS_PER_EXECUTION,
  STEP_BUDGET,
  jobPollSeconds,
  maxLooks,
  promotingRolloutSteps,
  worstJobRunSteps,
  worstRolloutSteps,
} from '../../../functions/domain/step-budget';
import { jobRunArgument } from '../../../functions/domain/jobs';
import { parsePolicy } from '../../../functions/domain/policy';
import { virtualClock } from './helpers';
import type { CallbackHub } from '../../../emulators/workflows/runtime';

const source = (name: string): string =>
  readFileSync(join(__dirname, '..', '..', '..', 'workflows', `${name}.workflows.yaml`), 'utf8');

type Answer = (path: string, body: Record<string, unknown>) => unknown;
let server: Server;
let base: string;
let answer: Answer;
beforeAll(async () => {
  server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(answer(req.url ?? '', raw ? JSON.parse(raw) : {})));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

/** A callback endpoint that answers every gate at once with `decision`, or never (the wait times out). */
const gateAnswers = (decision: 'approve' | 'reject' | 'never'): CallbackHub => ({
  create: (_execution, method) => ({ url: 'http://127.0.0.1:1/callbacks/budget', method }),
  next: (url, signal) =>
    decision === 'never'
      ? new Promise((_, reject) => signal.addEventListener('abort', () => reject(new Error('aborted'))))
      : Promise.resolve({
          method: 'POST',
          url,
          headers: {},
          query: {},
          body: { decision, by: 'lead@example.com' },
          receivedTime: new Date().toISOString(),
        }),
});

const run = (workflow: string, argument: unknown, callbacks?: CallbackHub) =>
  runWorkflow(source(workflow), argument, {
    clock: virtualClock(),
    env: { ACTIONS_URL: base },
    serviceAccount: 'wf@p.iam.gserviceaccount.com',
    oidcSecret: 'budget',
    ...(callbacks ? { callbacks } : {}),
  });

/**
 * The rollout's actions: every region deploys over a stable revision; each
 * step WATCHes `looks(step) - 1` times, then answers `end(region, step)`.
 */
function rolloutActions(
  looks: (step: number) => number,
  end: (region: string, step: number) => string,
): Answer {
  const seen = new Map<string, number>();
  return (path, body) => {
    if (path === '/deploy') return { outcome: 'deployed', stable: 'stable-rev' };
    if (path === '/smoke') return { passed: true };
    if (path === '/open_gate') return { gate: 'production-gate' };
    // The wait timed out, but the record holds an approval made just before.
    if (path === '/expire_gate') return { status: 'APPROVED' };
    if (path !== '/analyze') return {};
    const [region, step] = [String(body.region), Number(body.step)];
    const n = (seen.get(`${region}/${step}`) ?? 0) + 1;
    seen.set(`${region}/${step}`, n);
    if (n < looks(step)) return { verdict: 'WATCH', nextLookSeconds: 60 };
    return { verdict: end(region, step), reasons: ['budget test'], extensions: 0 };
  };
}

function plan(regionsPerWave: number[], steps: number, rollbackPromotedRegions = false) {
  let r = 0;
  return {
    rolloutId: 'budget',
    maxParallelRegions: 10,
    rollbackPromotedRegions,
    waves: regionsPerWave.map((n) => ({ regions: Array.from({ length: n }, () => `region-${r++}`) })),
    steps: Array.from({ length: steps }, () => ({ percent: 10, bakeSeconds: 60 })),
  };
}

describe('rollout workflow', () => {
  test.each([
    [[1], [1]],
    [[1], [4]],
    [[2], [1, 3]],
    [[1, 1], [2]],
    [
      [1, 2],
      [3, 1, 2],
    ],
  ])(
    'waves %j, looks per step %j: the emulator counts what the policy check computes',
    async (waves, looks) => {
      answer = rolloutActions(
        (step) => looks[step],
        () => 'PASS',
      );
      const result = await run('rollout', plan(waves, looks.length));
      expect(result.state).toBe('SUCCEEDED');
      expect(result.stats.steps).toBe(promotingRolloutSteps({ regionsPerWave: waves, looksPerStep: looks }));
    },
  );

  test.each(['FAIL', 'INCONCLUSIVE'])(
    'a region ending %s in the last wave, with rollbackPromotedRegions, stays within the worst case',
    async (verdict) => {
      const waves = [2, 3];
      const looks = [3, 2];
      answer = rolloutActions(
        (step) => looks[step],
        (region, step) => (region === 'region-4' && step === 1 ? verdict : 'PASS'),
      );
      const result = await run('rollout', plan(waves, looks.length, true));
      expect(result).toMatchObject({ state: 'SUCCEEDED', result: { status: 'ROLLED_BACK' } });
      expect(result.stats.steps).toBeGreaterThan(
        promotingRolloutSteps({ regionsPerWave: waves, looksPerStep: looks }),
      );
      expect(result.stats.steps).toBeLessThanOrEqual(
        worstRolloutSteps({ regionsPerWave: waves, looksPerStep: looks }),
      );
    },
  );
});

describe('a staged rollout: every stage in the one execution', () => {
  type Gate = 'stage' | 'promotion' | undefined;
  const stage = (name: string, regionsPerWave: number[], gate: Gate) => ({
    name,
    project: `${name}-project`,
    waves: regionsPerWave.map((n, w) => ({
      regions: Array.from({ length: n }, (_, i) => `${name}-region-${w}-${i}`),
    })),
    steps: [{ percent: 10, bakeSeconds: 60 }],
    ...(gate ? { approval: { approvers: ['lead@example.com'], timeoutSeconds: 3600, before: gate } } : {}),
  });
  const staged = (gate: Gate, production = [2]) => ({
    ...plan([1], 1),
    stages: [stage('staging', [1], undefined), stage('production', production, gate)],
  });
  const shapes = (gate: Gate, production = [2]) => [
    { regionsPerWave: [1], looksPerStep: [2] },
    { regionsPerWave: production, looksPerStep: [2], ...(gate ? { gate } : {}) },
  ];

  test('the stages add up, as the emulator counts them', async () => {
    answer = rolloutActions(
      () => 2,
      () => 'PASS',
    );
    const result = await run('rollout', staged(undefined));
    expect(result).toMatchObject({ state: 'SUCCEEDED', result: { status: 'PROMOTED' } });
    expect(result.stats.steps).toBe(promotingRolloutSteps(...shapes(undefined)));
  });

  test('a gate costs at most perGate: exactly when its wait times out and the record decides, less when answered', async () => {
    answer = rolloutActions(
      () => 2,
      () => 'PASS',
    );
    const timedOut = await run('rollout', staged('stage'), gateAnswers('never'));
    expect(timedOut).toMatchObject({ state: 'SUCCEEDED', result: { status: 'PROMOTED' } });
    expect(timedOut.stats.steps).toBe(promotingRolloutSteps(...shapes('stage')));
    answer = rolloutActions(
      () => 2,
      () => 'PASS',
    );
    const answered = await run('rollout', staged('stage'), gateAnswers('approve'));
    expect(answered).toMatchObject({ state: 'SUCCEEDED', result: { status: 'PROMOTED' } });
    expect(answered.stats.steps).toBeLessThan(timedOut.stats.steps);
  });

  test.each([[[1]], [[2]], [[1, 3]]])(
    'a gate before the final promotion of a stage of waves %j: exactly perPromotionGate + perHeldRegion per region when it times out and the record decides, less when answered',
    async (production) => {
      answer = rolloutActions(
        () => 2,
        () => 'PASS',
      );
      const timedOut = await run('rollout', staged('promotion', production), gateAnswers('never'));
      expect(timedOut).toMatchObject({ state: 'SUCCEEDED', result: { status: 'PROMOTED' } });
      expect(timedOut.stats.steps).toBe(promotingRolloutSteps(...shapes('promotion', production)));
      answer = rolloutActions(
        () => 2,
        () => 'PASS',
      );
      const answered = await run('rollout', staged('promotion', production), gateAnswers('approve'));
      expect(answered).toMatchObject({ state: 'SUCCEEDED', result: { status: 'PROMOTED' } });
      expect(answered.stats.steps).toBeLessThan(timedOut.stats.steps);
    },
  );

  test('a rejected promotion gate, and a region failing while the others hold, stay within the worst case', async () => {
    const production = [2, 2];
    answer = rolloutActions(
      () => 2,
      () => 'PASS',
    );
    const rejected = await run('rollout', staged('promotion', production), gateAnswers('reject'));
    expect(rejected).toMatchObject({ state: 'SUCCEEDED', result: { status: 'REJECTED' } });
    expect(rejected.stats.steps).toBeLessThanOrEqual(worstRolloutSteps(...shapes('promotion', production)));
    answer = rolloutActions(
      () => 2,
      (region) => (region === 'production-region-1-1' ? 'FAIL' : 'PASS'),
    );
    const failed = await run('rollout', staged('promotion', production), gateAnswers('never'));
    expect(failed).toMatchObject({ state: 'SUCCEEDED', result: { status: 'ROLLED_BACK' } });
    expect(failed.stats.steps).toBeLessThanOrEqual(worstRolloutSteps(...shapes('promotion', production)));
  });
});

describe('the policy check', () => {
  const service = (regions: number) => ({
    name: 'held',
    project: 'budget-project',
    image: 'us-docker.pkg.dev/p/apps/held',
    waves: [
      Array.from(
        { length: regions },
        (_, i) => ['us-central1', 'us-east1', 'us-west1', 'europe-west1', 'europe-west4', 'asia-east1'][i],
      ),
    ],
    steps: [
      { percent: 10, bake: '5m' },
      { percent: 50, bake: '5m' },
    ],
    analysis: { onInconclusive: 'hold' },
  });

  test('refuses a rollout whose worst case exceeds the budget, naming the service, the figure and what to change', () => {
    expect(() => parsePolicy({ services: [service(6)] })).toThrow(
      /services\[0\] \(held\): expected a rollout that fits one Workflows execution \(at most 100000 steps, 90000 planned\), got a worst case of \d+ steps: 6 region\(s\).*use onInconclusive: fail, fewer steps, or fewer regions/,
    );
    expect(() =>
      parsePolicy({ services: [{ ...service(6), analysis: { onInconclusive: 'fail' } }] }),
    ).not.toThrow();
  });

  test('adds the stages of a staged service up: each fits alone, together they do not', () => {
    const [staging, production] = [service(3).waves[0], ['europe-west1', 'europe-west4', 'asia-east1']];
    const { project: _project, waves: _waves, ...rest } = service(3);
    const staged = {
      ...rest,
      stages: [
        { name: 'staging', project: 'budget-staging', waves: [staging] },
        {
          name: 'production',
          project: 'budget-production',
          waves: [production],
          approval: { approvers: ['lead@example.com'] },
        },
      ],
    };
    expect(() =>
      parsePolicy({ services: [{ ...rest, project: 'budget-project', waves: [staging] }] }),
    ).not.toThrow();
    expect(() => parsePolicy({ services: [staged] })).toThrow(
      /services\[0\] \(held\): .*got a worst case of \d+ steps: 6 region\(s\) × \d+ look\(s\) across 4 step\(s\) in 2 stages/,
    );
  });

  test('the largest rollout it accepts runs to its end in the emulator, every step held to its last look', async () => {
    // Five regions, two steps held a day each: the most held regions the budget allows.
    const policy = parsePolicy({ services: [service(5)] }).services[0];
    const looks = policy.steps.map((s, i) =>
      maxLooks({ bakeSeconds: s.bake, last: i === policy.steps.length - 1, analysis: policy.analysis }),
    );
    expect(looks[0]).toBeGreaterThan(24 * 60);
    const shape = { regionsPerWave: [5], looksPerStep: looks };
    expect(worstRolloutSteps(shape)).toBeLessThanOrEqual(STEP_BUDGET);
    answer = rolloutActions(
      (step) => looks[step],
      (region, step) => (region === 'region-4' && step === 1 ? 'INCONCLUSIVE' : 'PASS'),
    );
    const result = await run('rollout', {
      ...plan([5], 2, true),
      steps: policy.steps.map((s) => ({ percent: s.percent, bakeSeconds: s.bake })),
    });
    expect(result).toMatchObject({ state: 'SUCCEEDED', result: { status: 'ROLLED_BACK' } });
    expect(result.stats.steps).toBeLessThanOrEqual(worstRolloutSteps(shape));
    expect(result.stats.steps).toBeLessThan(MAX_STEPS_PER_EXECUTION);
  }, 180_000);
});

describe('job-run workflow', () => {
  /** How many job_run_attempt calls the first attempt makes before it has the job's lock. */
  let lockPolls = 1;
  // The first attempt waits for the job's lock as long as it can and still starts; every
  // attempt polls until its timeout, then is retried after a backoff.
  const timingOut: Answer = (path, body) => {
    if (path === '/job_run_attempt')
      return lockPolls-- > 1 ? { waitingFor: 'rollout:j-0123456789ab' } : { done: false };
    if (path === '/job_attempt_status')
      return body.timedOut
        ? { done: true, succeeded: false, retried: true, backoffSeconds: 5 }
        : { done: false };
    return {};
  };

  test.each([
    [1, 1],
    [2, 5],
    [3, 7],
  ])(
    '%i attempts of %i polls: the emulator counts what the budget computes',
    async (maxAttempts, maxPolls) => {
      answer = timingOut;
      lockPolls = maxPolls;
      const result = await run('job-run', { runId: 'r', job: 'j', maxAttempts, maxPolls, pollSeconds: 10 });
      expect(result.state).toBe('SUCCEEDED');
      expect(result.stats.steps).toBe(worstJobRunSteps({ maxAttempts, maxPolls }));
    },
  );

  test('a long timeout polls less often instead of running out of steps; 10 s polls where they fit', () => {
    expect(jobPollSeconds(3600, 3, 10)).toBe(10);
    const week = jobRunArgument({
      id: 'r',
      job: 'j',
      timeoutSeconds: 7 * 24 * 3600,
      retry: { maxAttempts: 20 },
    });
    expect(week.pollSeconds).toBeGreaterThan(10);
    expect(worstJobRunSteps(week)).toBeLessThanOrEqual(STEP_BUDGET);
  });

  test('the worst job run (20 attempts, each polled to a week-long timeout) runs to its end in the emulator', async () => {
    answer = timingOut;
    const argument = jobRunArgument({
      id: 'r',
      job: 'j',
      timeoutSeconds: 7 * 24 * 3600,
      retry: { maxAttempts: 20 },
    });
    lockPolls = argument.maxPolls;
    const result = await run('job-run', argument);
    expect(result.state).toBe('SUCCEEDED');
    expect(result.stats.steps).toBe(worstJobRunSteps(argument));
    expect(result.stats.steps).toBeLessThan(MAX_STEPS_PER_EXECUTION);
  }, 180_000);
});
