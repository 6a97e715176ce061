/**
 * Can a service's traffic carry its rollout? From the service's recent
 * request rate (all revisions, in its quietest first-wave region), when does
 * each step's canary reach `minRequests` at the judge's window, and which
 * step never does within its extensions? Said before anything runs (in
 * `glidepath timeline` and the rollout's start message), because a quiet
 * service otherwise learns it only from an INCONCLUSIVE rollback. Pure.
 *
 * The model is the workflow's (looks.ts): one window per region from the
 * first shift, so the canary's requests add up across steps; a look at t
 * sees what was served up to t − 240 s (60 s sampling + 180 s ingestion);
 * a step passes at its first PASS point where the canary has minRequests.
 */
import { formatDuration } from '../duration';
import type { AnalysisSettings } from '../policy';
import {
  DATA_DELAY_SECONDS,
  INGESTION_DELAY_SECONDS,
  passPointSeconds,
  passPoints,
  type StepSchedule,
} from './looks';

interface StepReach {
  step: number;
  percent: number;
  /** The canary's share of the recent rate, requests per minute. */
  canaryPerMinute: number;
  /** Seconds into the step of the PASS point where minRequests is first in the window; absent: never. */
  reachedAtSeconds?: number;
  /** 0: at the end of the bake; n: after n extensions. */
  extensionsNeeded?: number;
}

export interface Reach {
  requestsPerMinute: number;
  minRequests: number;
  steps: StepReach[];
  /** What to change when a step cannot reach minRequests within its extensions. */
  warnings: string[];
}

/**
 * Requests per minute from a window's count: over the part of the window the
 * service was serving (from its first counted request), so a service younger
 * than the window is not taken for a quiet one; at least a minute.
 * `timeScale` compresses policy time on the local cloud (1 on GCP).
 */
export function recentRate(
  traffic: { requests: number; firstServed?: string },
  window: { start: Date; end: Date },
  timeScale = 1,
): number {
  if (traffic.requests === 0) return 0;
  const from = Math.max(
    window.start.getTime(),
    Date.parse(traffic.firstServed ?? '') || window.start.getTime(),
  );
  const minutes = ((window.end.getTime() - from) * timeScale) / 60_000;
  return traffic.requests / Math.max(1, minutes);
}

/** The recent traffic is read over this past hour (policy time). */
const RECENT_WINDOW_SECONDS = 3600;

/** The past hour, ending where Monitoring's data has arrived; `timeScale` as in recentRate. */
export function recentTrafficWindow(nowMs: number, timeScale = 1): { start: Date; end: Date } {
  const ms = (seconds: number) => (seconds * 1000) / timeScale;
  const end = nowMs - ms(INGESTION_DELAY_SECONDS);
  return { start: new Date(end - ms(RECENT_WINDOW_SECONDS)), end: new Date(end) };
}

/**
 * The quietest region's recent rate, from each first-wave region's count over
 * `window`: a first step must reach minRequests there too. Throws on no region.
 */
export function quietestRecentRate(
  counts: ReadonlyArray<{ region: string; traffic: { requests: number; firstServed?: string } }>,
  window: { start: Date; end: Date },
  timeScale = 1,
): { region: string; perMinute: number } {
  if (counts.length === 0) throw new Error('regions: expected at least one first-wave region, got none');
  return counts
    .map(({ region, traffic }) => ({ region, perMinute: recentRate(traffic, window, timeScale) }))
    .reduce((quietest, r) => (r.perMinute < quietest.perMinute ? r : quietest));
}

type Analysis = Pick<AnalysisSettings, 'minRequests' | 'maxExtensions' | 'onInconclusive'>;

export function minRequestsReach(
  steps: ReadonlyArray<{ percent: number; bakeSeconds: number }>,
  analysis: Analysis,
  requestsPerMinute: number,
): Reach {
  const { minRequests } = analysis;
  const result: StepReach[] = [];
  const warnings: string[] = [];
  if (!(requestsPerMinute > 0))
    return {
      requestsPerMinute: 0,
      minRequests,
      steps: [],
      warnings: [
        `no requests in the past hour: a first rollout (no stable revision yet) promotes after its smoke test, ` +
          `but a deployed service without traffic cannot reach minRequests ${minRequests} at any step, so a rollout ` +
          (analysis.onInconclusive === 'hold'
            ? 'would hold, waiting for traffic'
            : 'would roll back INCONCLUSIVE') +
          '; send it traffic during rollouts, or lower analysis.minRequests',
      ],
    };
  // Canary requests served before the current step began, and that step's start from the first shift.
  let before = 0;
  for (const [k, step] of steps.entries()) {
    const schedule = scheduleOf(steps, k, analysis);
    const canaryPerMinute = (requestsPerMinute * step.percent) / 100;
    // Served by `t` seconds into this step and visible to a look then.
    const visibleAt = (t: number) => before + (canaryPerMinute * Math.max(0, t - DATA_DELAY_SECONDS)) / 60;
    const points = Math.min(passPoints(schedule), 1 + analysis.maxExtensions);
    let reached: number | undefined;
    for (let j = 1; j <= points && reached === undefined; j++)
      if (visibleAt(passPointSeconds(schedule, j)) >= minRequests) reached = j;
    if (reached === undefined) {
      result.push({ step: k + 1, percent: step.percent, canaryPerMinute });
      warnings.push(
        advice(steps, k, analysis, requestsPerMinute, visibleAt(passPointSeconds(schedule, points))),
      );
      return { requestsPerMinute, minRequests, steps: result, warnings };
    }
    const at = passPointSeconds(schedule, reached);
    result.push({
      step: k + 1,
      percent: step.percent,
      canaryPerMinute,
      reachedAtSeconds: at,
      extensionsNeeded: reached - 1,
    });
    before += (canaryPerMinute * at) / 60;
  }
  return { requestsPerMinute, minRequests, steps: result, warnings };
}

function scheduleOf(
  steps: ReadonlyArray<{ bakeSeconds: number }>,
  k: number,
  analysis: Analysis,
): StepSchedule {
  return { bakeSeconds: steps[k].bakeSeconds, last: k === steps.length - 1, analysis };
}

/** Why step k never gets there, and the three ways out, each enough on its own. */
function advice(
  steps: ReadonlyArray<{ percent: number; bakeSeconds: number }>,
  k: number,
  analysis: Analysis,
  requestsPerMinute: number,
  visibleAtLastLook: number,
): string {
  const step = steps[k];
  const extensions = analysis.maxExtensions;
  const lastLook = passPointSeconds(scheduleOf(steps, k, analysis), 1 + extensions);
  const judged = Math.max(0, lastLook - DATA_DELAY_SECONDS) / 60; // minutes of this step's traffic judged
  const then =
    analysis.onInconclusive === 'hold'
      ? 'it would hold, waiting for traffic'
      : 'it would roll back INCONCLUSIVE';
  const fixes: string[] = [`lower analysis.minRequests to ${Math.max(1, Math.floor(visibleAtLastLook))}`];
  if (k === 0 && judged > 0) {
    const percent = Math.ceil((100 * analysis.minRequests) / (requestsPerMinute * judged));
    if (percent < 100) fixes.push(`raise steps[0].percent to ${percent}%`);
    const canaryPerMinute = (requestsPerMinute * step.percent) / 100;
    const bake = Math.ceil(
      ((analysis.minRequests / canaryPerMinute) * 60 + DATA_DELAY_SECONDS) / (1 + extensions),
    );
    fixes.push(`lengthen steps[0].bake to ${formatDuration(Math.ceil(bake / 60) * 60)}`);
  }
  return (
    `step ${k + 1} (${step.percent}%) cannot reach minRequests ${analysis.minRequests} within its ` +
    `${extensions} extension(s) at the service's recent ${round(requestsPerMinute)} requests/min: ` +
    `its canary gets ${round((requestsPerMinute * step.percent) / 100)}/min, ${Math.floor(visibleAtLastLook)} ` +
    `by its last look, so ${then}. ${fixes.join(', or ')}.`
  );
}

const round = (n: number) => (n >= 10 ? String(Math.round(n)) : n.toFixed(1));

/** One line per step for people: when minRequests is reached, or the warning. */
export function describeReach(reach: Reach): string[] {
  const lines = reach.steps
    .filter((s) => s.reachedAtSeconds !== undefined)
    .map(
      (s) =>
        `step ${s.step} (${s.percent}%): the canary gets ${round(s.canaryPerMinute)}/min; minRequests ${reach.minRequests} is in the window ${formatDuration(s.reachedAtSeconds!)} into the step` +
        (s.extensionsNeeded ? ` (after ${s.extensionsNeeded} extension(s))` : ' (at the end of its bake)'),
    );
  return [...lines, ...reach.warnings.map((w) => `⚠️ ${w}`)];
}
