import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parsePolicy, parsePolicyYaml } from '../../../functions/domain/policy';
import { parseDuration } from '../../../functions/domain/duration';
import { policyProblems as problems } from '../../helpers/policy-problems';

const base = {
  name: 'api',
  project: 'my-project',
  image: 'us-docker.pkg.dev/my-project/apps/api',
  waves: [['us-central1']],
};

describe('policy file', () => {
  it('parses the fixture and merges defaults into each service', () => {
    const policy = parsePolicyYaml(readFileSync(join(__dirname, '../../fixtures/policy.yaml'), 'utf8'));
    expect(policy.services.map((s) => s.name)).toEqual(['api', 'checkout', 'worker']);
    const checkout = policy.services[1];
    expect(checkout.steps).toEqual([
      { percent: 10, bake: 300 },
      { percent: 50, bake: 300 },
    ]);
    expect(checkout.onNewImage).toBe('queue');
    expect(checkout.smoke.timeout).toBe(5);
    expect(policy.jobs[0].retry).toEqual({
      maxAttempts: 4,
      initialBackoff: 30,
      multiplier: 2,
      maxBackoff: 600,
    });
  });

  it('lets a service override part of the analysis and keeps the rest from defaults', () => {
    const policy = parsePolicy({
      defaults: { analysis: { minRequests: 50 } },
      services: [{ ...base, analysis: { latency: { maxMs: 400 } } }],
    });
    expect(policy.services[0].analysis.minRequests).toBe(50);
    expect(policy.services[0].analysis.latency).toEqual({ percentile: 99, maxMs: 400, maxRatio: 1.25 });
  });

  it.each([
    [
      { services: [base, { ...base, name: 'web', steps: [{ percent: 120, bake: '5m' }] }] },
      'services[1].steps[0].percent: expected 1–99, got 120',
    ],
    [
      {
        services: [
          {
            ...base,
            steps: [
              { percent: 50, bake: '5m' },
              { percent: 10, bake: '5m' },
            ],
          },
        ],
      },
      'services[0].steps[1].percent: expected percents in ascending order',
    ],
    [
      { services: [{ ...base, steps: [{ percent: 10, bake: '5 minutes' }] }] },
      'services[0].steps[0].bake: expected a duration such as "30s"',
    ],
    [{ defaults: { analysis: { onInconclusive: 'maybe' } } }, 'defaults.analysis.onInconclusive'],
    [
      { services: [{ ...base, image: 'us-docker.pkg.dev/p/../api' }] },
      'services[0].image: expected an image repository path',
    ],
    [{ services: [{ ...base, tags: ['(unclosed'] }] }, 'services[0].tags[0]: expected a regular expression'],
    [{ services: [base, base] }, 'services[1].name: expected a unique name, got "api" again'],
    [
      { services: [{ ...base, waves: [['us-central1'], ['us-central1']] }] },
      'services[0].waves[1][0]: expected each region once',
    ],
    [{ services: [{ ...base, colour: 'blue' }] }, 'services[0]: unknown field(s) "colour"'],
    [
      { jobs: [{ name: 'j', project: 'my-project', region: 'us-central1', schedule: 'daily' }] },
      'jobs[0].schedule: expected a five-field cron expression',
    ],
  ])('rejects %j naming the field', (doc, expected) => {
    expect(problems(doc)).toContain(expected);
  });

  describe("service names, as Cloud Run validates them, within the tag URL's 46 characters", () => {
    it.each([
      ['9api', 'expected a Cloud Run name'],
      ['api-', 'expected a Cloud Run name'],
      ['Api', 'expected a Cloud Run name'],
      ['api_v2', 'expected a Cloud Run name'],
    ])('refuses %j', (name, message) => {
      expect(problems({ services: [{ ...base, name }] })).toContain(`services[0].name: ${message}`);
    });

    it('accepts a name of 37 characters, whose candidate tag fits', () => {
      expect(
        parsePolicy({ services: [{ ...base, name: `a${'b'.repeat(36)}` }] }).services[0].name,
      ).toHaveLength(37);
    });

    it('refuses a name of 38 characters at load, naming the limit', () => {
      const name = `a${'b'.repeat(37)}`;
      expect(problems({ services: [{ ...base, name }] })).toContain(
        `services[0].name: expected at most 37 characters: Cloud Run limits a traffic tag and the service name together to 46 characters, and Glidepath's candidate tag needs at least 9 ("gp-" and 6 hex of the digest), got ${name} (38 characters)`,
      );
    });

    it("keeps jobs at Cloud Run's own 49 characters: they have no tag URL", () => {
      const job = {
        name: `j${'o'.repeat(48)}`,
        project: 'my-project',
        region: 'us-central1',
        schedule: '0 2 * * *',
      };
      expect(parsePolicy({ jobs: [job] }).jobs[0].name).toHaveLength(49);
    });
  });

  it('refuses a first step that ends before any of its requests is surely visible in Monitoring (found by the speed sweep)', () => {
    const withSteps = (bake: string, maxExtensions: number, onInconclusive = 'fail') => ({
      services: [
        {
          ...base,
          steps: [
            { percent: 10, bake },
            { percent: 50, bake },
          ],
          analysis: { maxExtensions, onInconclusive },
        },
      ],
    });
    // 1m × (1 + 2) = 180 s, and 1m × (1 + 3) = 240 s: no sample of the step is surely visible by then.
    expect(problems(withSteps('1m', 2))).toContain(
      "services[0] (api): steps[0]: expected a first step that lasts beyond Cloud Monitoring's data delay (240 s",
    );
    expect(problems(withSteps('1m', 3))).toMatch(
      /ends it at 240 s before any of its requests is surely visible/,
    );
    expect(() => parsePolicy(withSteps('61s', 3))).not.toThrow();
    expect(() => parsePolicy(withSteps('2m', 2))).not.toThrow();
    // Held steps keep looking; a single step is the last one, which waits for its data.
    expect(() => parsePolicy(withSteps('1m', 2, 'hold'))).not.toThrow();
    expect(() =>
      parsePolicy({
        services: [{ ...base, steps: [{ percent: 50, bake: '1m' }], analysis: { maxExtensions: 0 } }],
      }),
    ).not.toThrow();
    // Each stage is checked on its own, and named.
    const staged = {
      services: [
        {
          name: 'api',
          image: base.image,
          stages: [
            { name: 'staging', project: 'my-project-stg', waves: [['us-east1']], steps: [] },
            {
              name: 'production',
              project: 'my-project-prod',
              waves: [['us-central1']],
              steps: [
                { percent: 10, bake: '30s' },
                { percent: 50, bake: '30s' },
              ],
            },
          ],
        },
      ],
    };
    expect(problems(staged)).toMatch(
      /services\[0\] \(api\): stages\[1\] \(production\) steps\[0\]: expected a first step/,
    );
  });

  it('reports a YAML syntax error instead of throwing something opaque', () => {
    expect(() => parsePolicyYaml('services: [')).toThrow(/expected YAML/);
  });

  it.each([
    ['30s', 30],
    ['5m', 300],
    ['1h', 3600],
    ['250ms', 0.25],
    [45, 45],
    ['5', undefined],
    ['-1s', undefined],
    [-3, undefined],
    [null, undefined],
  ])('duration %j is %j seconds', (input, seconds) => {
    expect(parseDuration(input)).toBe(seconds);
  });
});
