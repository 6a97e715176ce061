/**
 * The stored plan is read back through a schema, never cast: every plan
 * intake builds must pass it (or every rollout would fail), and a corrupt
 * one is refused with the field named.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parsePolicyYaml } from '../../../functions/domain/policy';
import { buildPlan, readPlan } from '../../../functions/domain/plan';

const REPO = join(__dirname, '..', '..', '..');
const DIGEST = 'sha256:' + 'b'.repeat(64);
const policies = ['test/fixtures/policy.yaml', 'glidepath.example.yaml', 'scripts/demo/policy.yaml'].map(
  (f) => parsePolicyYaml(readFileSync(join(REPO, f), 'utf8')),
);
const services = policies.flatMap((p) => p.services);

it('has services to check', () => {
  expect(services.length).toBeGreaterThanOrEqual(3);
});

it.each(services.map((s) => [s.name, s] as const))(
  'accepts the plan intake builds for %s',
  (_name, service) => {
    const plan = buildPlan(
      { service, repository: 'us-docker.pkg.dev/p/apps/x', digest: DIGEST, source: 'gcr' },
      `${service.name}-bbbbbbbbbbbb-abc`,
    );
    // Through JSON, as Firestore stores it.
    const stored = JSON.parse(JSON.stringify(plan));
    expect(readPlan({ id: 'r1', plan: stored })).toEqual({ plan });
  },
);

it('names every field of an empty plan', () => {
  const read = readPlan({ id: 'r1', plan: {} });
  expect('corrupt' in read && read.corrupt).toMatch(/^the stored plan of rollout r1 is corrupt: /);
  for (const field of ['plan.rolloutId', 'plan.steps', 'plan.analysis', 'plan.waves'])
    expect('corrupt' in read && read.corrupt).toContain(field);
});

it('refuses a step percent outside 1–100 and a negative bake', () => {
  const service = services[0];
  const plan = buildPlan(
    { service, repository: 'us-docker.pkg.dev/p/apps/x', digest: DIGEST, source: 'gcr' },
    'r1',
  );
  const read = readPlan({ id: 'r1', plan: { ...plan, steps: [{ percent: 120, bakeSeconds: -1 }] } });
  expect('corrupt' in read && read.corrupt).toMatch(/plan\.steps\[0\]\.percent: .*120/);
  expect('corrupt' in read && read.corrupt).toMatch(/plan\.steps\[0\]\.bakeSeconds: .*-1/);
});
