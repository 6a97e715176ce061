import fc from 'fast-check';
import { judge, type JudgeInput } from '../../../functions/domain/analysis/judge';
import { BASE_LATENCY } from '../../../scripts/bench/analysis/simulate';
import { SETTINGS, p99Scaled, revision } from './helpers';

const input = (over: Partial<JudgeInput>): JudgeInput => ({
  canary: revision('canary', 10, 600, 0.001),
  stable: revision('stable', 10, 5400, 0.001),
  settings: SETTINGS,
  elapsedSeconds: 600,
  ...over,
});

describe('judge: rules', () => {
  // [name, input, verdict, a reason the verdict must carry]
  test.each([
    [
      'a healthy canary with plenty of traffic',
      {},
      'PASS',
      /^5xx 0\.17% vs stable 0\.093% \(\+0\.07pp ≤ \+0\.50pp allowed, no evidence of harm, n=6000\)$/,
    ],
    [
      'a healthy canary at realistic traffic: no proof of equivalence needed, only no evidence of harm',
      { canary: revision('c', 1, 2000, 0.0095), stable: revision('s', 1, 18000, 0.01) },
      'PASS',
      /^5xx 0\.95% vs stable 1\.0% \(−0\.05pp ≤ \+0\.50pp allowed, no evidence of harm, n=2000\)$/,
    ],
    [
      'exactly at minRequests, healthy',
      { canary: revision('c', 1, 200, 0), stable: revision('s', 1, 1800, 0) },
      'PASS',
      /^p99 \d+ms vs stable \d+ms \(×\d\.\d\d ≤ ×1\.25 allowed, no evidence of harm, n=\d+\)$/,
    ],
    [
      '5xx 2.4% vs stable 0.9%',
      { canary: revision('c', 10, 600, 0.024), stable: revision('s', 10, 5400, 0.009) },
      'FAIL',
      /^5xx 2\.3% vs stable 0\.91% \(\+1\.43pp > \+0\.50pp allowed, p<0\.001, n=6000\)$/,
    ],
    [
      'p99 ×1.5 of stable',
      { canary: revision('c', 10, 2000, 0.001, p99Scaled(1.5)) },
      'FAIL',
      /^p99 \d+ms vs stable \d+ms \(×1\.\d\d > ×1\.25 allowed: [\d.]+% of canary requests slower than \d+ms, p<0\.001, n=\d+\)$/,
    ],
    [
      'p99 over the 1000ms ceiling without a stable',
      { canary: revision('c', 10, 600, 0.001, { medianMs: 700, sigma: 0.4 }), stable: undefined },
      'FAIL',
      /over the 1000ms ceiling/,
    ],
    [
      '503 on 30% of 40 requests (a storm FAILs even below minRequests)',
      { canary: revision('c', 1, 40, 0.3), stable: revision('s', 1, 360, 0.001) },
      'FAIL',
      /^5xx 30\.0% vs stable 0\.\d+% \(\+\d+\.\d\dpp > \+0\.50pp allowed, p[<=]0\.00\d+, n=40\)$/,
    ],
    [
      '5xx 2.0% vs 1.0% on 600 requests: beyond +0.5pp, not yet significant',
      { canary: revision('c', 1, 600, 0.02), stable: revision('s', 1, 5400, 0.01) },
      'INCONCLUSIVE',
      /^5xx 2\.0% vs stable 1\.0% \(\+1\.00pp > \+0\.50pp allowed, not yet significant, p=[\d.]+, n=600: waiting for more data\)$/,
    ],
    [
      'p99 ×1.4 on 600 requests: beyond ×1.25, not yet significant',
      { canary: revision('c', 1, 600, 0.001, p99Scaled(1.4)), stable: revision('s', 1, 5400, 0.001) },
      'INCONCLUSIVE',
      /^p99 \d+ms vs stable \d+ms \(×1\.3\d > ×1\.25 allowed, not yet significant/,
    ],
    [
      'no data at all',
      { canary: { revision: 'c', intervals: [] } },
      'INCONCLUSIVE',
      /^no canary requests after 600s/,
    ],
    [
      'fewer than minRequests, all healthy',
      { canary: revision('c', 1, 150, 0) },
      'INCONCLUSIVE',
      /^only 150 canary requests, at least 200 needed to pass$/,
    ],
    [
      'requests but no latency distribution',
      { canary: revision('c', 10, 600, 0.001, null) },
      'INCONCLUSIVE',
      /^no latency distribution for the canary/,
    ],
    [
      'no latency distribution for the stable',
      { stable: revision('s', 10, 5400, 0.001, null) },
      'INCONCLUSIVE',
      /^no latency distribution for the stable revision/,
    ],
  ] as const)('%s → %s', (_name, over, verdict, reason) => {
    const j = judge(input(over as Partial<JudgeInput>));
    expect(j.verdict).toBe(verdict);
    expect(j.reasons).toContainEqual(expect.stringMatching(reason));
  });

  test('FAIL reasons name the figures: rates, margin, p-value and n', () => {
    const j = judge(input({ canary: revision('c', 10, 500, 0.024), stable: revision('s', 10, 5400, 0.009) }));
    expect(j.verdict).toBe('FAIL');
    expect(j.reasons[0]).toMatch(
      /^5xx 2\.4% vs stable 0\.91% \(\+1\.49pp > \+0\.50pp allowed, p(<0\.001|=0\.00\d), n=5000\)$/,
    );
    expect(j.figures.checks.errorIncrease).toMatchObject({ status: 'fail', n: 5000, limit: 0.005 });
    expect(j.figures.checks.errorIncrease!.pWithin).toBeLessThan(0.01);
  });

  test('a handful of bad requests never FAILs, however unlikely', () => {
    const j = judge(input({ canary: revision('c', 1, 4, 1), stable: revision('s', 1, 36, 0) }));
    expect(j.verdict).toBe('INCONCLUSIVE');
  });

  test('an absolute ceiling FAILs as soon as it is clearly exceeded, even within maxIncrease of stable', () => {
    // 1.4% vs 1.0%: +0.4pp is inside maxIncrease, but 1.4% is clearly over the 1% ceiling.
    const j = judge(
      input({ canary: revision('c', 10, 3000, 0.014), stable: revision('s', 10, 27000, 0.01) }),
    );
    expect(j.verdict).toBe('FAIL');
    expect(j.figures.checks.errorCeiling!.status).toBe('fail');
  });

  test('4xx are not errors', () => {
    const j = judge(input({ canary: revision('c', 10, 600, 0, BASE_LATENCY, 0.3) }));
    expect(j.verdict).toBe('PASS');
    expect(j.figures.canary).toMatchObject({ clientErrors: 1800, errors: 0 });
  });

  test('no stable: judged on absolute ceilings only, and says so', () => {
    const j = judge(input({ stable: undefined }));
    expect(j.verdict).toBe('PASS');
    expect(j.reasons).toContain('no stable revision: judged on the absolute ceilings only');
    expect(j.figures.checks.errorIncrease).toBeUndefined();
    expect(j.figures.checks.latencyRatio).toBeUndefined();
  });

  test('PASS needs every point estimate within its limit, not only the absence of significant harm', () => {
    // 2.0% vs 1.0% on 600 requests: no significant evidence of harm, but +1pp is beyond +0.5pp.
    const j = judge(input({ canary: revision('c', 1, 600, 0.02), stable: revision('s', 1, 5400, 0.01) }));
    expect(j.verdict).toBe('INCONCLUSIVE');
    expect(j.figures.checks.errorIncrease).toMatchObject({ status: 'open', withinLimit: false });
    expect(j.figures.checks.errorIncrease!.pWithin).toBeGreaterThan(0.01);
    // The same rates with enough evidence FAIL.
    const more = judge(
      input({ canary: revision('c', 10, 600, 0.02), stable: revision('s', 10, 5400, 0.01) }),
    );
    expect(more.verdict).toBe('FAIL');
  });

  test('a shared incident is not blamed on the candidate, and the canary passes', () => {
    // Both revisions at 4.6% 5xx (over the 1% ceiling) and both slow: the problem is not the candidate's.
    const slow = { medianMs: 200, sigma: BASE_LATENCY.sigma * 1.5 };
    const j = judge(
      input({ canary: revision('c', 10, 3000, 0.046, slow), stable: revision('s', 10, 27000, 0.046, slow) }),
    );
    expect(j.verdict).toBe('PASS');
    expect(j.reasons.some((r) => /stable revision is at the 1\.0% ceiling too/.test(r))).toBe(true);
    expect(j.reasons.some((r) => /at the 1000ms ceiling too/.test(r))).toBe(true);
  });

  test('the same incident on the canary alone FAILs', () => {
    const j = judge(
      input({ canary: revision('c', 10, 3000, 0.046), stable: revision('s', 10, 27000, 0.001) }),
    );
    expect(j.verdict).toBe('FAIL');
  });
});

describe('judge: properties', () => {
  test('fewer than minRequests canary requests never PASS', () => {
    // A high minRequests, so that the statistics alone would often pass: the rule itself must hold.
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6000 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.integer({ min: 1, max: 5 }),
        fc.double({ min: 0, max: 0.02, noNaN: true }),
        fc.boolean(),
        (minRequests, fraction, minutes, errorRate, withStable) => {
          const perMinute = Math.floor(((minRequests - 1) * fraction) / minutes);
          const j = judge(
            input({
              settings: { ...SETTINGS, minRequests },
              canary: revision('c', minutes, perMinute, errorRate),
              stable: withStable ? revision('s', minutes, 20000, 0) : undefined,
            }),
          );
          expect(j.verdict).not.toBe('PASS');
        },
      ),
      { numRuns: 150 },
    );
  });

  test('the verdict is FAIL whenever any check fails, and PASS only when every point estimate is within its limit', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0, max: 0.05, noNaN: true }),
        fc.double({ min: 1, max: 2, noNaN: true }),
        fc.integer({ min: 1, max: 10 }),
        (err, ratio, minutes) => {
          const j = judge(input({ canary: revision('c', minutes, 300, err, p99Scaled(ratio)) }));
          const checks = Object.values(j.figures.checks).map((c) => c!);
          const statuses = checks.map((c) => c.status);
          expect(j.verdict === 'FAIL').toBe(statuses.includes('fail'));
          if (j.verdict === 'PASS')
            expect(checks.every((c) => c.status === 'pass' && c.withinLimit)).toBe(true);
          if (statuses.includes('open') && !statuses.includes('fail')) expect(j.verdict).toBe('INCONCLUSIVE');
          // A failing check is always backed by a significant always-valid p-value.
          for (const c of checks) if (c.status === 'fail') expect(c.pWithin).toBeLessThan(0.01);
        },
      ),
      { numRuns: 100 },
    );
  });
});
