/** glidepath.example.yaml: a valid policy, and the source of the example's scheduler jobs. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { parsePolicyYaml } from '../../functions/domain/policy';
import { REPO } from './tf';

const text = readFileSync(join(REPO, 'glidepath.example.yaml'), 'utf8');

it('parses with parsePolicyYaml: two services, two jobs', () => {
  const policy = parsePolicyYaml(text);
  expect(policy.services.map((s) => s.name)).toEqual(['api', 'web']);
  expect(policy.jobs.map((j) => j.name)).toEqual(['nightly-report', 'hourly-sync']);
  // The per-service overrides of the example really apply.
  const web = policy.services.find((s) => s.name === 'web')!;
  expect(web.steps.map((s) => s.percent)).toEqual([5, 25, 75]);
  expect(web.analysis).toMatchObject({ minRequests: 500, onInconclusive: 'hold', maxExtensions: 3 });
  expect(web.smoke).toMatchObject({ path: '/healthz', expectStatus: 200 });
});

it('gives Terraform what it reads from each job: name, schedule and time zone', () => {
  // Terraform reads the raw YAML (yamldecode), not the zod output: the fields must be there as written.
  const raw = parseYaml(text) as { jobs: Array<Record<string, unknown>> };
  const policy = parsePolicyYaml(text);
  expect(
    raw.jobs.map((j) => ({ name: j.name, schedule: j.schedule, timeZone: j.timeZone ?? 'Etc/UTC' })),
  ).toEqual(policy.jobs.map((j) => ({ name: j.name, schedule: j.schedule, timeZone: j.timeZone })));
});

it('defaults a missing time zone the same way in Terraform and in the policy schema', () => {
  const schedulerTf = readFileSync(join(REPO, 'terraform', 'scheduler.tf'), 'utf8');
  const fallback = /time_zone\s*=\s*try\(each\.value\.timeZone, "([^"]+)"\)/.exec(schedulerTf)?.[1];
  const policy = parsePolicyYaml(
    'jobs:\n  - { name: j, project: my-project, region: us-central1, schedule: "0 * * * *" }\n',
  );
  expect(fallback).toBe(policy.jobs[0].timeZone);
});
