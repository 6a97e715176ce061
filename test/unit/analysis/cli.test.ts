import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { analyzeRecorded } from '../../../cli/commands/analyze';
import { formatTimeline } from '../../../cli/commands/timeline';
import { planTimeline } from '../../../functions/domain/analysis/timeline';
import { parsePolicyYaml } from '../../../functions/domain/policy';
import { readFileSync } from 'node:fs';

const root = join(__dirname, '../../..');
const fixtures = join(root, 'test/fixtures/analysis');
const cli = (...args: string[]) =>
  spawnSync('node', [join(root, 'scripts/glidepath.js'), ...args], { encoding: 'utf8', cwd: root });
const policy = parsePolicyYaml(readFileSync(join(fixtures, 'glidepath.yaml'), 'utf8'));
const metrics = JSON.parse(readFileSync(join(fixtures, 'metrics.json'), 'utf8'));

describe('glidepath analyze', () => {
  test('judges a recorded canary with a 503 storm: FAIL, exit 0, JSON with reasons and figures', () => {
    const r = cli(
      'analyze',
      '--config',
      join(fixtures, 'glidepath.yaml'),
      '--service',
      'api',
      '--metrics',
      join(fixtures, 'metrics.json'),
    );
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.verdict).toBe('FAIL');
    expect(out.reasons[0]).toMatch(/^5xx 25\.8% vs stable 0\.09\d?% \(/);
    expect(out.figures.canary).toMatchObject({ revision: 'api-00002-gp', requests: 1200, errors: 310 });
    expect(out.figures.elapsedSeconds).toBe(120);
  });

  test('malformed metrics: exit 2 naming the field and the value', () => {
    const broken = structuredClone(metrics);
    broken.canary.requestCount.timeSeries[1].points[0].value.int64Value = 'many';
    const j = () => analyzeRecorded(policy, 'api', broken);
    expect(j).toThrow(
      'metrics.canary.requestCount.timeSeries[1].points[0].value.int64Value: expected a non-negative int64 (string, number or Long), got "many"',
    );
    const r = cli(
      'analyze',
      '--config',
      join(fixtures, 'glidepath.yaml'),
      '--service',
      'api',
      '--metrics',
      join(fixtures, 'glidepath.yaml'),
    );
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/metrics file .*expected JSON/);
  });

  test('an unknown service or a missing canary is a usage error', () => {
    expect(() => analyzeRecorded(policy, 'nope', metrics)).toThrow('--service: no service "nope"');
    expect(() => analyzeRecorded(policy, 'api', { stable: metrics.stable })).toThrow(
      /^metrics\.canary: expected \{requestCount/,
    );
  });

  test('without a stable: ceilings only, said in the reasons', () => {
    const j = analyzeRecorded(policy, 'api', { canary: metrics.canary }, 120);
    expect(j.verdict).toBe('FAIL');
    expect(j.reasons).toContain('no stable revision: judged on the absolute ceilings only');
  });
});

describe('glidepath timeline', () => {
  const service = policy.services[0];

  test("counts every extension, and the last step waits for its last minute's data", () => {
    const t = planTimeline(service);
    // Default steps 10% and 50%, 5m each; maxExtensions 3. The first step passes at its bake's end
    // (its last minutes are judged by the next step's looks); the last one 60 s sampling + 180 s later.
    expect(t.steps.map((s) => [s.earliestPassSeconds, s.worstRollbackSeconds])).toEqual([
      [300, 1200],
      [540, 1440],
    ]);
    expect(
      t.waves.map((w) => [w.earliestStartSeconds, w.earliestPromotedSeconds, w.latestPromotedSeconds]),
    ).toEqual([
      [0, 840, 2640],
      [840, 1680, 5280],
    ]);
    expect(t.judgedWithinSeconds).toBe(300);
    expect(formatTimeline(t)).toContain('wave 2: europe-west1, asia-southeast1: starts +14m..+44m');
    expect(formatTimeline(t)).toContain('rolled back within 5m of its start');
  });

  test('regions beyond maxParallelRegions run in batches', () => {
    const t = planTimeline({ ...service, maxParallelRegions: 1 });
    expect(t.waves[1]).toMatchObject({ batches: 2, earliestPromotedSeconds: 840 + 2 * 840 });
  });

  test('the CLI prints JSON with --json and text otherwise', () => {
    const json = cli('timeline', '--config', join(fixtures, 'glidepath.yaml'), '--service', 'api', '--json');
    expect(json.status).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({
      service: 'api',
      ingestionDelaySeconds: 180,
      earliestCompleteSeconds: 1680,
    });
    const text = cli('timeline', '--config', join(fixtures, 'glidepath.yaml'), '--service', 'api');
    expect(text.stdout).toMatch(/^api: 2 wave\(s\), steps 10% → 50% → 100%/);
  });

  test('--rate checks minRequests against the traffic, warning a quiet service with what to change', () => {
    const args = ['timeline', '--config', join(fixtures, 'glidepath.yaml'), '--service', 'api'];
    const quiet = cli(...args, '--rate', '20');
    expect(quiet.status).toBe(0);
    expect(quiet.stdout).toContain('  traffic: 20 requests/min (--rate)');
    expect(quiet.stdout).toMatch(
      /⚠️ step 1 \(10%\) cannot reach minRequests \d+ within its 3 extension\(s\)/,
    );
    const busy = JSON.parse(cli(...args, '--rate', '100000', '--json').stdout);
    expect(busy.traffic.reach).toMatchObject({ requestsPerMinute: 100000, warnings: [] });
    expect(busy.traffic.reach.steps[0]).toMatchObject({ step: 1, extensionsNeeded: 0 });
    const bad = cli(...args, '--rate', 'lots');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('--rate: expected requests per minute, a number ≥ 0, got "lots"');
  });
});
