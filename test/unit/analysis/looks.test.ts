import {
  coveredSeconds,
  decideLook,
  lookWindow,
  planLook,
  type StepSchedule,
} from '../../../functions/domain/analysis/looks';

const analysis = { maxExtensions: 3, onInconclusive: 'fail' as const };
const first: StepSchedule = { bakeSeconds: 300, last: false, analysis };
const last: StepSchedule = { bakeSeconds: 300, last: true, analysis };

describe('looks: when a look may act', () => {
  test('a look comes every minute; PASS points are the bake ends, and the last step waits 240 s more', () => {
    expect(planLook(first, 60, 0)).toEqual({ lastChance: false, nextLookSeconds: 60 });
    expect(planLook(first, 300, 0)).toEqual({ passPoint: 1, lastChance: false, nextLookSeconds: 60 });
    // A look that already took a PASS point (a retry, or the next minute) takes none again.
    expect(planLook(first, 360, 1)).toEqual({ lastChance: false, nextLookSeconds: 60 });
    expect(planLook(first, 1200, 3)).toEqual({ passPoint: 4, lastChance: true, nextLookSeconds: 60 });
    // Last step: 300 s bake + 60 s sampling + 180 s ingestion.
    expect(planLook(last, 300, 0).passPoint).toBeUndefined();
    expect(planLook(last, 539, 0).passPoint).toBeUndefined();
    expect(planLook(last, 540, 0).passPoint).toBe(1);
    // A late look lands on the next point: the wait is cut short to meet it.
    expect(planLook({ ...first, bakeSeconds: 90 }, 60, 0).nextLookSeconds).toBe(30);
  });

  const look = (over: Partial<Parameters<typeof decideLook>[0]>) =>
    decideLook({
      schedule: first,
      elapsedSeconds: 120,
      passPointsTaken: 0,
      verdict: 'INCONCLUSIVE',
      canaryRequests: 100,
      coveredSeconds: 60,
      minRequests: 200,
      ...over,
    });

  test('a look retried after the one that took the last PASS point (its answer lost) still ends the step', () => {
    // Found by the chaos suite: the retry took no PASS point, so it WATCHed for ever.
    expect(look({ elapsedSeconds: 1230, passPointsTaken: 4 }).action).toBe('INCONCLUSIVE');
    expect(look({ elapsedSeconds: 1230, passPointsTaken: 4, verdict: 'PASS' }).action).toBe('PASS');
    expect(look({ elapsedSeconds: 1230, passPointsTaken: 4, verdict: 'FAIL' }).action).toBe('FAIL');
  });

  test('FAIL acts at any look; PASS only at a PASS point', () => {
    expect(look({ verdict: 'FAIL', elapsedSeconds: 60 }).action).toBe('FAIL');
    expect(look({ verdict: 'PASS', elapsedSeconds: 240 }).action).toBe('WATCH');
    expect(look({ verdict: 'PASS', elapsedSeconds: 300 })).toMatchObject({
      action: 'PASS',
      passPointsTaken: 1,
    });
  });

  test('INCONCLUSIVE extends to the next PASS point, and ends the step at the last', () => {
    expect(look({ elapsedSeconds: 300 })).toMatchObject({ action: 'WATCH', passPointsTaken: 1 });
    expect(look({ elapsedSeconds: 1200, passPointsTaken: 3 })).toMatchObject({
      action: 'INCONCLUSIVE',
      passPointsTaken: 4,
    });
  });

  test('under onInconclusive: fail, a step gives up as soon as minRequests is out of reach; never under hold', () => {
    // 6 requests a minute: at most 6 + 2 × 6 × 19 = 234 by minute 20... reachable at 200.
    expect(look({ elapsedSeconds: 60, canaryRequests: 6, coveredSeconds: 60 }).action).toBe('WATCH');
    // 3 a minute: at most 3 + 2 × 3 × 19 = 117 < 200.
    const gaveUp = look({ elapsedSeconds: 60, canaryRequests: 3, coveredSeconds: 60 });
    expect(gaveUp.action).toBe('INCONCLUSIVE');
    expect(gaveUp.gaveUp).toMatch(/minRequests 200 is out of reach: 3 canary requests so far/);
    const hold = { ...first, analysis: { ...analysis, onInconclusive: 'hold' as const } };
    expect(look({ schedule: hold, elapsedSeconds: 60, canaryRequests: 3 }).action).toBe('WATCH');
    // Nothing to project from before a whole minute has arrived.
    expect(look({ elapsedSeconds: 60, canaryRequests: 0, coveredSeconds: 0 }).action).toBe('WATCH');
  });
});

describe('looks: windows', () => {
  const t0 = new Date('2026-01-01T00:00:00Z');
  const at = (s: number) => new Date(t0.getTime() + s * 1000);

  test('a window runs from the first shift to 180 s ago, scaled on the local cloud', () => {
    expect(lookWindow(t0, at(100))).toEqual({ start: t0, end: t0, complete: false });
    expect(lookWindow(t0, at(240))).toEqual({ start: t0, end: at(60), complete: true });
    expect(lookWindow(t0, at(240 / 60), 60)).toEqual({ start: t0, end: at(1), complete: true });
  });

  test('the samples surely cover the window up to one sample period before its end, and up to the last period returned', () => {
    // Shift at :50; the window runs to 2:50. The last minute before 2:50 may still be unsampled.
    const window = { start: at(50), end: at(170) };
    const period = (start: number) => ({
      startTime: at(start).toISOString(),
      endTime: at(start + 60).toISOString(),
      requests: { '2xx': 1 },
    });
    expect(coveredSeconds(window, [{ intervals: [] }, { intervals: [period(0)] }])).toBe(10);
    expect(coveredSeconds(window, [{ intervals: [period(0)] }, undefined])).toBe(10);
    expect(coveredSeconds(window, [{ intervals: [] }, undefined])).toBe(0);
    expect(coveredSeconds(window, [{ intervals: [period(60)] }, { intervals: [period(0)] }])).toBe(60);
    expect(coveredSeconds(window, [{ intervals: [period(110)] }])).toBe(60);
    // Sped up 40×, the sample period is 1.5 s of real time.
    expect(coveredSeconds({ start: at(0), end: at(3) }, [{ intervals: [period(0)] }], 40)).toBe(60);
  });

  test('an aligned point that ends where the query asked covers no more than the sampled part (found by the e2e suite)', () => {
    // Monitoring aligns periods to the query's end, so the one point ends at the window's end even
    // when only the smoke probe of the first seconds is visible yet. At 40×, 66 s of window.
    const window = { start: at(0), end: at(1.65) };
    const point = {
      startTime: at(-58.35).toISOString(),
      endTime: at(1.65).toISOString(),
      requests: { '2xx': 1 },
    };
    const covered = coveredSeconds(window, [{ intervals: [point] }, { intervals: [point] }], 40);
    expect(covered).toBeCloseTo(6, 6);
    const o = decideLook({
      schedule: first,
      elapsedSeconds: 240,
      passPointsTaken: 0,
      verdict: 'INCONCLUSIVE',
      canaryRequests: 1,
      coveredSeconds: covered,
      minRequests: 20,
    });
    expect(o.action).toBe('WATCH');
  });

  test('a minute of window with seconds of visible traffic gives no step up (found by the e2e suite under load)', () => {
    // 2 canary requests in the 10 s the samples cover are 12 a minute: 200 is in reach by minute 20.
    const covered = coveredSeconds({ start: at(50), end: at(110) }, [
      {
        intervals: [
          { startTime: at(0).toISOString(), endTime: at(60).toISOString(), requests: { '2xx': 2 } },
        ],
      },
    ]);
    const o = decideLook({
      schedule: first,
      elapsedSeconds: 240,
      passPointsTaken: 0,
      verdict: 'INCONCLUSIVE',
      canaryRequests: 2,
      coveredSeconds: covered,
      minRequests: 200,
    });
    expect(o.action).toBe('WATCH');
  });

  test('with the delay on, no minute from the first shift to the end of the last bake goes unjudged before promotion', () => {
    // The workflow's timing: looks as planned, steps advancing on PASS at their PASS points.
    for (const bakeSeconds of [60, 120, 300, 450]) {
      for (const steps of [1, 2, 3]) {
        let now = 0;
        const windows: Array<{ start: number; end: number; look: number; complete: boolean }> = [];
        let lastBakeEnd = 0;
        for (let k = 0; k < steps; k++) {
          const schedule = { bakeSeconds, last: k === steps - 1, analysis };
          const stepStart = now;
          let taken = 0;
          let action = 'WATCH';
          let wait = 60;
          while (action === 'WATCH') {
            now += wait;
            const w = lookWindow(t0, at(now));
            windows.push({
              start: (w.start.getTime() - t0.getTime()) / 1000,
              end: (w.end.getTime() - t0.getTime()) / 1000,
              look: now,
              complete: w.complete,
            });
            const o = decideLook({
              schedule,
              elapsedSeconds: now - stepStart,
              passPointsTaken: taken,
              verdict: 'PASS',
              canaryRequests: 1e6,
              coveredSeconds: 600,
              minRequests: 200,
            });
            [action, taken, wait] = [o.action, o.passPointsTaken, o.nextLookSeconds];
          }
          expect(action).toBe('PASS');
          lastBakeEnd = stepStart + bakeSeconds;
        }
        // Every look judges only complete data (samples that ended 180 s before it), or nothing.
        for (const w of windows.filter((x) => x.complete)) expect(w.end).toBeLessThanOrEqual(w.look - 180);
        for (const w of windows.filter((x) => !x.complete)) expect(w.end).toBe(w.start);
        // Every window starts at the first shift, and the promoting look covers the last bake
        // and its sampling period: everything served before the bake ended has been judged.
        expect(windows.every((w) => w.start === 0)).toBe(true);
        expect(windows[windows.length - 1].end).toBeGreaterThanOrEqual(lastBakeEnd + 60);
      }
    }
  });
});
