import {
  describeReach,
  minRequestsReach,
  quietestRecentRate,
  recentRate,
  recentTrafficWindow,
} from '../../../functions/domain/analysis/reach';

const steps = [
  { percent: 10, bakeSeconds: 300 },
  { percent: 50, bakeSeconds: 300 },
];
const fail = { minRequests: 200, maxExtensions: 3, onInconclusive: 'fail' as const };

describe('minRequests against the service recent traffic', () => {
  test('a busy service reaches it at the end of the first bake', () => {
    // 600/min → 60/min on the canary; the first look at 300 s sees 60 s of it (300 − 240): 60 < 200.
    // Extension 1 at 600 s sees 360 s: 360 ≥ 200.
    const reach = minRequestsReach(steps, fail, 600);
    expect(reach.warnings).toEqual([]);
    expect(reach.steps[0]).toMatchObject({ canaryPerMinute: 60, reachedAtSeconds: 600, extensionsNeeded: 1 });
    // Step 2 starts with 600 canary requests served: the window already holds them at its first point.
    expect(reach.steps[1]).toMatchObject({
      canaryPerMinute: 300,
      reachedAtSeconds: 540,
      extensionsNeeded: 0,
    });
  });

  test('a quiet service is warned, with three changes each enough on its own', () => {
    // 20/min → 2/min on the canary; the last look (4 × 300 = 1200 s) sees 960 s: 32 requests.
    const reach = minRequestsReach(steps, fail, 20);
    expect(reach.steps).toEqual([{ step: 1, percent: 10, canaryPerMinute: 2 }]);
    expect(reach.warnings).toEqual([
      "step 1 (10%) cannot reach minRequests 200 within its 3 extension(s) at the service's recent 20 requests/min: " +
        'its canary gets 2.0/min, 32 by its last look, so it would roll back INCONCLUSIVE. ' +
        // 200 / (20 × 16 min) = 62.5% → 63%; bake: (100 min × 60 + 240) / 4 = 1560 s → 26m.
        'lower analysis.minRequests to 32, or raise steps[0].percent to 63%, or lengthen steps[0].bake to 26m.',
    ]);
    // Each change is enough: the warning goes.
    expect(minRequestsReach(steps, { ...fail, minRequests: 32 }, 20).warnings).toEqual([]);
    expect(
      minRequestsReach(
        [
          { ...steps[0], percent: 63 },
          { ...steps[1], percent: 80 },
        ],
        fail,
        20,
      ).warnings,
    ).toEqual([]);
    expect(minRequestsReach([{ ...steps[0], bakeSeconds: 26 * 60 }, steps[1]], fail, 20).warnings).toEqual(
      [],
    );
    // One less is not.
    expect(
      minRequestsReach(
        [
          { ...steps[0], percent: 62 },
          { ...steps[1], percent: 80 },
        ],
        fail,
        20,
      ).warnings,
    ).toHaveLength(1);
  });

  test('under hold the warning says it would hold; no traffic at all is said plainly', () => {
    expect(minRequestsReach(steps, { ...fail, onInconclusive: 'hold' }, 20).warnings[0]).toMatch(
      /so it would hold, waiting for traffic/,
    );
    expect(minRequestsReach(steps, fail, 0).warnings).toEqual([
      'no requests in the past hour: a first rollout (no stable revision yet) promotes after its smoke test, but a deployed service without traffic cannot reach minRequests 200 at any step, so a rollout would roll back INCONCLUSIVE; send it traffic during rollouts, or lower analysis.minRequests',
    ]);
  });

  test('the rate is taken over the part of the window the service was serving, at least a minute', () => {
    const window = { start: new Date('2026-11-30T07:00:00Z'), end: new Date('2026-11-30T08:00:00Z') };
    expect(recentRate({ requests: 6000 }, window)).toBe(100);
    expect(recentRate({ requests: 6000, firstServed: '2026-11-30T07:50:00Z' }, window)).toBe(600);
    // Older than the window: the whole window counts.
    expect(recentRate({ requests: 6000, firstServed: '2026-11-30T06:00:00Z' }, window)).toBe(100);
    expect(recentRate({ requests: 30, firstServed: '2026-11-30T07:59:50Z' }, window)).toBe(30);
    expect(recentRate({ requests: 0 }, window)).toBe(0);
    // At 60× on the local cloud, the window's real minute is a policy hour.
    const fast = { start: new Date('2026-11-30T07:59:00Z'), end: new Date('2026-11-30T08:00:00Z') };
    expect(recentRate({ requests: 6000 }, fast, 60)).toBe(100);
  });

  test("the past hour ends 180 s back, where Monitoring's data has arrived; scaled on the local cloud", () => {
    const now = Date.parse('2026-11-30T08:00:00Z');
    expect(recentTrafficWindow(now)).toEqual({
      start: new Date('2026-11-30T06:57:00Z'),
      end: new Date('2026-11-30T07:57:00Z'),
    });
    expect(recentTrafficWindow(now, 60)).toEqual({
      start: new Date('2026-11-30T07:58:57Z'),
      end: new Date('2026-11-30T07:59:57Z'),
    });
  });

  test('the quietest first-wave region is the one a step must reach minRequests in', () => {
    const window = { start: new Date('2026-11-30T07:00:00Z'), end: new Date('2026-11-30T08:00:00Z') };
    const counts = [
      { region: 'us-central1', traffic: { requests: 6000 } },
      // Fewer requests, but only serving for the last 10 minutes: 300/min, busier than 100/min.
      { region: 'europe-west1', traffic: { requests: 3000, firstServed: '2026-11-30T07:50:00Z' } },
      { region: 'asia-east1', traffic: { requests: 4800 } },
    ];
    expect(quietestRecentRate(counts, window)).toEqual({ region: 'asia-east1', perMinute: 80 });
    expect(quietestRecentRate(counts.slice(0, 2), window)).toEqual({ region: 'us-central1', perMinute: 100 });
    expect(() => quietestRecentRate([], window)).toThrow(
      'regions: expected at least one first-wave region, got none',
    );
  });

  test('the last step counts its data delay, and people get one line per step', () => {
    const one = minRequestsReach([{ percent: 10, bakeSeconds: 300 }], fail, 600);
    // The only step is the last: its first PASS point is 300 + 240 s, which sees 300 s: 300 ≥ 200.
    expect(one.steps[0]).toMatchObject({ reachedAtSeconds: 540, extensionsNeeded: 0 });
    expect(describeReach(minRequestsReach(steps, fail, 600))).toEqual([
      'step 1 (10%): the canary gets 60/min; minRequests 200 is in the window 10m into the step (after 1 extension(s))',
      'step 2 (50%): the canary gets 300/min; minRequests 200 is in the window 9m into the step (at the end of its bake)',
    ]);
  });
});
