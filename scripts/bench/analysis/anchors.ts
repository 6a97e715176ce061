/**
 * The judges the bench compares, each behind the same steps (see
 * scripts/bench/analysis.ts) and consulted at its own documented cadence:
 * at the end of every minute of a step (Flagger, cloud-run-release-manager:
 * both poll every minute) or at the end of each bake and of each extension
 * bake of the same length (Glidepath's workflow, Kayenta's canary stage, a
 * fixed bake). Each look sees all of the step's per-minute observations so
 * far and answers PASS (next step), FAIL (roll back) or WAIT. The anchors
 * follow their documented defaults; each default is cited where it is used.
 */
import type { IntervalObservation } from '../../../functions/domain/observations';
import type { AnalysisSettings } from '../../../functions/domain/policy';
import { judge } from '../../../functions/domain/analysis/judge';
import { mergeDistributions, quantile } from '../../../functions/domain/analysis/histogram';

export type Decision = 'PASS' | 'FAIL' | 'WAIT';

export interface Look {
  step: number;
  /** Minutes into the step, 1-based: the data covers minutes 1..minute. */
  minute: number;
  bakeMinutes: number;
  canary: IntervalObservation[];
  stable: IntervalObservation[];
  settings: AnalysisSettings;
}

/** One judge for one rollout: it may keep state across looks and steps. */
export type JudgeFactory = () => (look: Look) => Decision;

/** When a judge is consulted: every minute, or at the end of each bake and extension bake. */
export type Cadence = 'minute' | 'bake';

const requestsOf = (i: IntervalObservation) =>
  Object.values(i.requests).reduce((a: number, b) => a + (b ?? 0), 0);
const errorsOf = (i: IntervalObservation) => i.requests['5xx'] ?? 0;

const glidepathVerdict = (look: Look) =>
  judge({
    canary: { revision: 'canary', intervals: look.canary },
    stable: { revision: 'stable', intervals: look.stable },
    settings: look.settings,
    elapsedSeconds: look.minute * 60,
  }).verdict;

/**
 * Glidepath as its workflow runs it: the judge in functions/domain/analysis,
 * consulted after each bake and each extension bake (cadence 'bake');
 * INCONCLUSIVE extends the bake.
 */
export const glidepath: JudgeFactory = () => (look) => {
  const v = glidepathVerdict(look);
  return v === 'INCONCLUSIVE' ? 'WAIT' : v;
};

/**
 * Not what the workflow does (informational): the same judge also consulted
 * every minute during a bake, acting on FAIL at once but on PASS only at the
 * end of a bake or extension. The always-valid tests make the extra looks
 * free of false-rollback inflation; this shows what they would buy.
 */
export const glidepathFailFast: JudgeFactory = () => (look) => {
  const v = glidepathVerdict(look);
  if (v === 'FAIL') return 'FAIL';
  return v === 'PASS' && look.minute % look.bakeMinutes === 0 ? 'PASS' : 'WAIT';
};

/** The time baseline: bake each step for its full time, then go on; it never looks at metrics. */
export const fixedBake: JudgeFactory = () => (look) => (look.minute >= look.bakeMinutes ? 'PASS' : 'WAIT');

/**
 * cloud-run-release-manager (GoogleCloudPlatform/cloud-run-release-manager,
 * cmd/operator/main.go flags and pkg/health/health.go Diagnose):
 * - candidate only, no comparison with stable;
 * - `-max-error-rate` default 1.0 (percent) on 5xx; latency flags default 0 (off);
 * - `-min-requests` default 100: fewer requests make the diagnosis Inconclusive;
 * - `-cli-run-interval` default 60 s: checked every minute, over the last
 *   `-healthcheck-offset` 30 minutes (which covers a whole step here);
 * - Unhealthy rolls back at once; Healthy rolls forward once `-min-wait`
 *   (default 30m) has passed, replaced here by the step's bake so that every
 *   judge runs the same steps.
 */
export const releaseManager: JudgeFactory = () => (look) => {
  const requests = look.canary.reduce((a, i) => a + requestsOf(i), 0);
  const errors = look.canary.reduce((a, i) => a + errorsOf(i), 0);
  if (requests < 100) return 'WAIT';
  if ((100 * errors) / requests > 1.0) return 'FAIL';
  return look.minute >= look.bakeMinutes ? 'PASS' : 'WAIT';
};

/**
 * Flagger (docs.flagger.app/usage/metrics, "Builtin metrics", and the
 * canary analysis examples): every `interval: 1m` it checks the last minute
 * of the canary alone: request-success-rate `thresholdRange.min: 99` (non-5xx
 * share, percent) and request-duration `thresholdRange.max: 500` (P99, ms,
 * histogram_quantile over the interval). A query with no values halts
 * advancement and counts as a failed check ("Halt advancement no values
 * found", pkg/controller/scheduler_metrics.go). `threshold: 5` failed checks
 * roll back; the count is kept for the whole analysis. A step advances at the
 * end of its bake on a passing check.
 */
export const flagger: JudgeFactory = () => {
  let failedChecks = 0;
  return (look) => {
    const last = look.canary[look.canary.length - 1];
    const requests = last ? requestsOf(last) : 0;
    const histogram = last?.latency ? mergeDistributions([last.latency]) : undefined;
    const ok =
      requests > 0 &&
      (100 * (requests - errorsOf(last))) / requests >= 99 &&
      histogram !== undefined &&
      quantile(histogram, 0.99) <= 500;
    if (!ok && ++failedChecks >= 5) return 'FAIL';
    return ok && look.minute >= look.bakeMinutes ? 'PASS' : 'WAIT';
  };
};

// ---- Kayenta ---------------------------------------------------------------

/** Kayenta's IQRDetector(factor = 3.0, reduceSensitivity = true) as configured in NetflixACAJudge.transformMetric. */
function removeOutliers(values: number[]): number[] {
  if (values.length < 4) return values;
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p: number) => {
    const x = p * (sorted.length - 1);
    const lo = Math.floor(x);
    return sorted[lo] + (x - lo) * ((sorted[Math.min(lo + 1, sorted.length - 1)] ?? sorted[lo]) - sorted[lo]);
  };
  const q1 = at(0.25);
  const q3 = at(0.75);
  const iqr = q3 - q1;
  if (iqr === 0) return values; // reduceSensitivity: a zero spread flags nothing
  return values.filter((v) => v >= q1 - 3 * iqr && v <= q3 + 3 * iqr);
}

/**
 * MannWhitneyClassifier(fraction = 0.25, confLevel = 0.98) from
 * NetflixACAJudge.classifyMetric (spinnaker/kayenta, kayenta-judge): the
 * Hodges–Lehmann shift of experiment over control with its confidence
 * interval (R's wilcox.test conf.int, normal approximation here); "High" when
 * the interval's lower end exceeds fraction × |estimate|. Direction: increase
 * (errors and latency are bad when they go up).
 */
function mannWhitneyHigh(experiment: number[], control: number[]): boolean | undefined {
  if (experiment.length === 0 || control.length === 0) return undefined; // Nodata
  const diffs: number[] = [];
  for (const x of experiment) for (const y of control) diffs.push(x - y);
  diffs.sort((a, b) => a - b);
  const m = experiment.length;
  const n = control.length;
  const mid = diffs.length / 2;
  const estimate = diffs.length % 2 ? diffs[Math.floor(mid)] : (diffs[mid - 1] + diffs[mid]) / 2;
  const z = 2.3263478740408408; // qnorm(1 - (1 - 0.98) / 2)
  const k = Math.floor((m * n) / 2 - z * Math.sqrt((m * n * (m + n + 1)) / 12));
  if (k < 0) return false;
  const lower = diffs[k];
  return lower > 0.25 * Math.abs(estimate);
}

/**
 * Kayenta (NetflixACAJudge + WeightedSumScorer + ThresholdScoreClassifier):
 * one analysis at the end of each bake (the canary stage's interval), on
 * per-minute points of the 5xx rate and the p99 latency for canary
 * (experiment) and stable (control); score = share of metrics classified
 * Pass (Nodata metrics left out), pass threshold 95 and marginal 75 (the
 * canary config's scoreThresholds in Kayenta's examples). Below marginal
 * fails; between marginal and pass extends the bake.
 */
export const kayenta: JudgeFactory = () => (look) => {
  if (look.minute % look.bakeMinutes !== 0) return 'WAIT';
  const points = (intervals: IntervalObservation[], metric: 'errors' | 'p99') =>
    removeOutliers(
      intervals.flatMap((i) => {
        if (metric === 'errors') {
          const r = requestsOf(i);
          return r > 0 ? [errorsOf(i) / r] : []; // NaN points are removed (Transforms.removeNaNs)
        }
        const h = i.latency ? mergeDistributions([i.latency]) : undefined;
        return h ? [quantile(h, 0.99)] : [];
      }),
    );
  const results = (['errors', 'p99'] as const).map((metric) =>
    mannWhitneyHigh(points(look.canary, metric), points(look.stable, metric)),
  );
  const classified = results.filter((r): r is boolean => r !== undefined);
  if (classified.length === 0) return 'WAIT';
  const score = (100 * classified.filter((high) => !high).length) / classified.length;
  return score >= 95 ? 'PASS' : score < 75 ? 'FAIL' : 'WAIT';
};

export const JUDGES: Record<string, { cadence: Cadence; create: JudgeFactory; informational?: true }> = {
  glidepath: { cadence: 'bake', create: glidepath },
  'release-manager': { cadence: 'minute', create: releaseManager },
  flagger: { cadence: 'minute', create: flagger },
  kayenta: { cadence: 'bake', create: kayenta },
  'fixed-bake': { cadence: 'bake', create: fixedBake },
  'glidepath-failfast': { cadence: 'minute', create: glidepathFailFast, informational: true },
};
