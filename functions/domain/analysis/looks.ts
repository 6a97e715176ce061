/**
 * When the rollout workflow looks at a step, which data a look may judge,
 * and what it may act on. Pure.
 *
 * Cloud Run's request_count and request_latencies are "Sampled every 60
 * seconds. After sampling, data is not visible for up to 180 seconds"
 * (https://cloud.google.com/monitoring/api/metrics_gcp_p_z#gcp-run, and
 * https://cloud.google.com/monitoring/api/v3/latency-n-retention). So every
 * sample that ended by t − 180 s is visible at t: a look at t judges the
 * window up to t − 180 s, which is complete. A request waits up to one
 * sampling period to be sampled (the phase is not documented), so it is
 * judged at the latest 240 s after it was served.
 *
 * One window per region, from the first traffic shift to t − 180 s: every
 * minute between the first shift and the promotion is judged, by the looks
 * of the step it was served in or of the next one, without waiting for the
 * data at each step boundary (which would add 240 s per step). The harm
 * tests are always valid over a growing sample, so one window is also one
 * test with one α per check for the whole region, where a window per step
 * would spend α once per step. The last step's PASS waits until its last
 * minute's data has arrived (bake + 240 s).
 *
 * FAIL is checked at every look, once a minute (the alignment period).
 * PASS is acted on only at the end of the bake and of each extension (the
 * first look at or after each such point): a point estimate is not a test,
 * and asking it every minute would promote candidates at a limit more often.
 */
import type { AnalysisSettings } from '../policy';
import type { RevisionObservations } from '../observations';

export const SAMPLE_PERIOD_SECONDS = 60;
/** The documented worst ingestion delay after sampling. */
export const INGESTION_DELAY_SECONDS = 180;
/** A request is visible at the latest this long after it was served: sampling, then ingestion. */
export const DATA_DELAY_SECONDS = SAMPLE_PERIOD_SECONDS + INGESTION_DELAY_SECONDS;
/** Looks come once per alignment period. */
export const LOOK_SECONDS = 60;
/** onInconclusive: hold keeps looking for at most this long per step. */
const HOLD_LIMIT_SECONDS = 24 * 3600;

export interface StepSchedule {
  bakeSeconds: number;
  /** The last traffic step: its PASS promotes, so it waits for the last minute's data. */
  last: boolean;
  analysis: Pick<AnalysisSettings, 'maxExtensions' | 'onInconclusive'>;
}

/** How many PASS points a step has: the bake, then each extension (or a day of them under hold). */
export function passPoints(s: StepSchedule): number {
  const extensions =
    s.analysis.onInconclusive === 'hold'
      ? Math.max(s.analysis.maxExtensions, Math.floor(HOLD_LIMIT_SECONDS / Math.max(s.bakeSeconds, 1)))
      : s.analysis.maxExtensions;
  return 1 + extensions;
}

/** Seconds into the step of PASS point j (1-based): j bakes, plus the data delay on the last step. */
export function passPointSeconds(s: StepSchedule, j: number): number {
  return j * s.bakeSeconds + (s.last ? DATA_DELAY_SECONDS : 0);
}

interface LookPlan {
  /** The PASS point this look takes (1-based), when it is the first look at or after one not yet taken. */
  passPoint?: number;
  /**
   * The step's last PASS point has been reached: INCONCLUSIVE now ends the step. True for every
   * look from then on, so a look retried after the one that took it (a lost answer) still ends it.
   */
  lastChance: boolean;
  /** Seconds until the next look: the next alignment period, or the next PASS point if sooner. */
  nextLookSeconds: number;
}

/**
 * What a look `elapsedSeconds` into a step may act on, given how many PASS
 * points earlier looks took (a retried look takes none twice).
 */
export function planLook(s: StepSchedule, elapsedSeconds: number, passPointsTaken: number): LookPlan {
  const total = passPoints(s);
  let reached = 0;
  while (reached < total && passPointSeconds(s, reached + 1) <= elapsedSeconds) reached++;
  const passPoint = reached > passPointsTaken ? reached : undefined;
  const nextMinute = (Math.floor(elapsedSeconds / LOOK_SECONDS) + 1) * LOOK_SECONDS;
  const nextPass = reached < total ? passPointSeconds(s, reached + 1) : Infinity;
  return {
    ...(passPoint !== undefined ? { passPoint } : {}),
    lastChance: reached === total,
    nextLookSeconds: Math.max(1, Math.min(nextMinute, nextPass) - elapsedSeconds),
  };
}

/** What a look does with the judge's verdict. */
export type LookAction = 'PASS' | 'FAIL' | 'INCONCLUSIVE' | 'WATCH';

interface LookOutcome {
  /** PASS/FAIL/INCONCLUSIVE end the step; WATCH looks again after nextLookSeconds. */
  action: LookAction;
  passPointsTaken: number;
  nextLookSeconds: number;
  /** Why an INCONCLUSIVE ends the step before its last PASS point. */
  gaveUp?: string;
}

/**
 * A look's action: FAIL at once; PASS only at a PASS point; INCONCLUSIVE at
 * the last PASS point, or as soon as minRequests is out of reach by then
 * (under onInconclusive: fail, waiting would only roll back later).
 * Reachability is projected at twice the canary's rate so far, so a quiet
 * start does not give up a step that later traffic would carry.
 */
export function decideLook(input: {
  schedule: StepSchedule;
  elapsedSeconds: number;
  passPointsTaken: number;
  verdict: 'PASS' | 'FAIL' | 'INCONCLUSIVE';
  canaryRequests: number;
  /** Seconds of the window the visible samples cover (`coveredSeconds`): the canary's rate is measured over them. */
  coveredSeconds: number;
  minRequests: number;
}): LookOutcome {
  const { schedule, elapsedSeconds, verdict } = input;
  const plan = planLook(schedule, elapsedSeconds, input.passPointsTaken);
  const passPointsTaken = plan.passPoint ?? input.passPointsTaken;
  const base = { passPointsTaken, nextLookSeconds: plan.nextLookSeconds };
  if (verdict === 'FAIL') return { ...base, action: 'FAIL' };
  if ((plan.passPoint !== undefined || plan.lastChance) && verdict === 'PASS')
    return { ...base, action: 'PASS' };
  if (plan.lastChance) return { ...base, action: 'INCONCLUSIVE' };
  const lastPass = passPointSeconds(schedule, passPoints(schedule));
  const rate =
    input.coveredSeconds >= SAMPLE_PERIOD_SECONDS ? input.canaryRequests / input.coveredSeconds : 0;
  const projected = input.canaryRequests + 2 * rate * Math.max(0, lastPass - elapsedSeconds);
  if (
    schedule.analysis.onInconclusive === 'fail' &&
    rate > 0 &&
    input.canaryRequests < input.minRequests &&
    projected < input.minRequests
  ) {
    const perMinute = (rate * 60).toFixed(1);
    return {
      ...base,
      action: 'INCONCLUSIVE',
      gaveUp: `minRequests ${input.minRequests} is out of reach: ${input.canaryRequests} canary requests so far at ${perMinute}/min, at most ${Math.floor(projected)} by the step's last look`,
    };
  }
  return { ...base, action: 'WATCH' };
}

/**
 * Why the first of several steps could never pass, whatever the traffic, or
 * undefined. Under onInconclusive: fail it ends at its last PASS point; if
 * that comes no later than the data delay, no request it served is surely
 * visible to any of its looks, and every healthy image rolls back
 * INCONCLUSIVE. (The last step waits for its data; later steps' windows hold
 * the earlier steps' traffic.)
 */
export function blindFirstStep(
  bakes: readonly number[],
  analysis: Pick<AnalysisSettings, 'maxExtensions' | 'onInconclusive'>,
): string | undefined {
  if (bakes.length < 2 || analysis.onInconclusive !== 'fail') return undefined;
  const schedule = { bakeSeconds: bakes[0], last: false, analysis };
  const end = passPointSeconds(schedule, passPoints(schedule));
  if (end > DATA_DELAY_SECONDS) return undefined;
  return (
    `steps[0]: expected a first step that lasts beyond Cloud Monitoring's data delay (${DATA_DELAY_SECONDS} s: ` +
    `sampled every ${SAMPLE_PERIOD_SECONDS} s, visible up to ${INGESTION_DELAY_SECONDS} s later), got a bake of ` +
    `${bakes[0]} s with maxExtensions ${analysis.maxExtensions}, which ends it at ${end} s before any of its ` +
    `requests is surely visible, so every image would roll back INCONCLUSIVE; use a longer bake, more extensions ` +
    `(maxExtensions), or onInconclusive: hold`
  );
}

/**
 * How many seconds of a look's window its samples surely cover, in policy
 * seconds. The window ends the ingestion delay ago, but Cloud Run's request
 * metrics are "sampled every 60 seconds": what was served in the last sample
 * period before the window's end may still be unsampled, and an aligned
 * point's interval ends where the query asked, not where its data does. So
 * the coverage ends one sample period before the window does, and at the
 * last period Monitoring returned for either revision (the stable one serves
 * all along, so its periods mark what is visible). A rate taken over more
 * would understate the canary's (a minute after the shift it could rest on a
 * few seconds of traffic) and give up a step that traffic would carry.
 * `timeScale` compresses policy time on the local cloud (1 on GCP).
 */
export function coveredSeconds(
  window: { start: Date; end: Date },
  observations: ReadonlyArray<Pick<RevisionObservations, 'intervals'> | undefined>,
  timeScale = 1,
): number {
  const start = window.start.getTime();
  const sampled = window.end.getTime() - (SAMPLE_PERIOD_SECONDS * 1000) / timeScale;
  const ends = observations.flatMap((o) => o?.intervals.map((i) => Date.parse(i.endTime)) ?? []);
  const lastEnd = Math.min(sampled, Math.max(start, ...ends));
  return (Math.max(0, lastEnd - start) / 1000) * timeScale;
}

/**
 * The window a look judges: from the region's first traffic shift to the
 * ingestion delay ago, where every sample is visible. `timeScale` compresses
 * policy time on the local cloud (1 on GCP).
 */
export function lookWindow(
  firstShiftAt: Date,
  now: Date,
  timeScale = 1,
): { start: Date; end: Date; complete: boolean } {
  const end = new Date(now.getTime() - (INGESTION_DELAY_SECONDS * 1000) / timeScale);
  return end > firstShiftAt
    ? { start: firstShiftAt, end, complete: true }
    : { start: firstShiftAt, end: firstShiftAt, complete: false };
}
