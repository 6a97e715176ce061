/**
 * The judges the bench compares, each behind the same steps (see
 * scripts/bench/analysis.ts) and consulted at its own documented cadence:
 * every minute of a step (Glidepath's workflow, Flagger,
 * cloud-run-release-manager) or at the end of each bake and of each extension
 * bake of the same length (Kayenta's canary stage, a fixed bake). Every judge
 * sees Cloud Monitoring as it is: a look sees only the minutes whose data has
 * arrived (INGESTION_DELAY_SECONDS after each minute, functions/domain/analysis/looks.ts), and
 * answers PASS (next step), FAIL (roll back), WAIT, or INCONCLUSIVE (gives
 * up). The anchors follow their documented defaults; each default is cited
 * where it is used.
 */
import type { IntervalObservation } from '../../../functions/domain/observations';
import type { AnalysisSettings } from '../../../functions/domain/policy';
import { judge } from '../../../functions/domain/analysis/judge';
import { mergeDistributions, quantile } from '../../../functions/domain/analysis/histogram';
import { DATA_DELAY_SECONDS, decideLook } from '../../../functions/domain/analysis/looks';

export type Decision = 'PASS' | 'FAIL' | 'WAIT' | 'INCONCLUSIVE';

interface Look {
  step: number;
  /** The last traffic step: its PASS promotes. */
  last: boolean;
  /** Minutes into the step, 1-based. */
  minute: number;
  bakeMinutes: number;
  /** This step's minutes whose data has arrived. */
  canary: IntervalObservation[];
  stable: IntervalObservation[];
  /** Every minute since the region's first traffic shift whose data has arrived. */
  rollout: { canary: IntervalObservation[]; stable: IntervalObservation[] };
  settings: AnalysisSettings;
}

/** One judge for one rollout: it may keep state across looks and steps. */
type JudgeFactory = () => (look: Look) => Decision;

/** When a judge is consulted: every minute, or at the end of each bake and extension bake. */
type Cadence = 'minute' | 'bake';

const requestsOf = (i: IntervalObservation) =>
  Object.values(i.requests).reduce((a: number, b) => a + (b ?? 0), 0);
const errorsOf = (i: IntervalObservation) => i.requests['5xx'] ?? 0;

const judgementOf = (canary: IntervalObservation[], stable: IntervalObservation[], look: Look) =>
  judge({
    canary: { revision: 'canary', intervals: canary },
    stable: { revision: 'stable', intervals: stable },
    settings: look.settings,
    elapsedSeconds: look.minute * 60,
  });

/**
 * Glidepath as its workflow runs it (functions/domain/analysis/looks.ts): a
 * look every minute over one window from the first shift to the ingestion
 * delay ago; FAIL at any look; PASS acted on at the end of the bake and of each
 * extension, and on the last step only once its last minute's data has
 * arrived; INCONCLUSIVE at the last PASS point, or once minRequests is out of reach.
 */
const glidepath: JudgeFactory = () => {
  let step = -1;
  let taken = 0;
  return (look) => {
    if (look.step !== step) [step, taken] = [look.step, 0];
    const j = judgementOf(look.rollout.canary, look.rollout.stable, look);
    const outcome = decideLook({
      schedule: { bakeSeconds: look.bakeMinutes * 60, last: look.last, analysis: look.settings },
      elapsedSeconds: look.minute * 60,
      passPointsTaken: taken,
      verdict: j.verdict,
      canaryRequests: j.figures.canary.requests,
      coveredSeconds: look.rollout.canary.length * 60,
      minRequests: look.settings.minRequests,
    });
    taken = outcome.passPointsTaken;
    return outcome.action === 'WATCH' ? 'WAIT' : outcome.action;
  };
};

/**
 * The previous workflow (informational): one look at the end of each bake and
 * extension bake, over the step's own window (its data so far); the last
 * minutes of each step are judged by no look.
 */
const glidepathBakeEnds: JudgeFactory = () => (look) => {
  if (look.minute % look.bakeMinutes !== 0) return 'WAIT';
  const v = judgementOf(look.canary, look.stable, look).verdict;
  return v === 'INCONCLUSIVE' ? 'WAIT' : v;
};

/** The time baseline: bake each step for its full time, then go on; it never looks at metrics. */
const fixedBake: JudgeFactory = () => (look) => (look.minute >= look.bakeMinutes ? 'PASS' : 'WAIT');

/**
 * cloud-run-release-manager (GoogleCloudPlatform/cloud-run-release-manager,
 * cmd/operator/main.go flags and pkg/health/health.go Diagnose):
 * - candidate only, no comparison with stable;
 * - `-max-error-rate` default 1.0 (percent) on 5xx; latency flags default 0 (off);
 * - `-min-requests` default 100: fewer requests make the diagnosis Inconclusive;
 * - `-cli-run-interval` default 60 s: checked every minute, over the last
 *   `-healthcheck-offset` 30 minutes (here: the last 30 whose data has arrived);
 * - Unhealthy rolls back at once; Healthy rolls forward once `-min-wait`
 *   (default 30m) has passed, replaced here by the step's bake so that every
 *   judge runs the same steps.
 */
const releaseManager: JudgeFactory = () => (look) => {
  const window = look.rollout.canary.slice(-30);
  const requests = window.reduce((a, i) => a + requestsOf(i), 0);
  const errors = window.reduce((a, i) => a + errorsOf(i), 0);
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
 * end of its bake on a passing check. Its queries are taken to be offset by
 * Cloud Monitoring's delay (the last minute whose data has arrived), and
 * nothing is checked before the canary's first minute has arrived.
 */
const flagger: JudgeFactory = () => {
  let failedChecks = 0;
  return (look) => {
    const last = look.rollout.canary[look.rollout.canary.length - 1];
    if (!last) return 'WAIT';
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
 * fails; between marginal and pass extends the bake. The analysis interval
 * is the bake's length, offset by Cloud Monitoring's delay (the last
 * bakeMinutes minutes whose data has arrived).
 */
const kayenta: JudgeFactory = () => (look) => {
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
    mannWhitneyHigh(
      points(look.rollout.canary.slice(-look.bakeMinutes), metric),
      points(look.rollout.stable.slice(-look.bakeMinutes), metric),
    ),
  );
  const classified = results.filter((r): r is boolean => r !== undefined);
  if (classified.length === 0) return 'WAIT';
  const score = (100 * classified.filter((high) => !high).length) / classified.length;
  return score >= 95 ? 'PASS' : score < 75 ? 'FAIL' : 'WAIT';
};

export const JUDGES: Record<
  string,
  { cadence: Cadence; create: JudgeFactory; informational?: true; lastStepExtraMinutes?: number }
> = {
  // The last step's PASS waits for its last minute's data: DATA_DELAY_SECONDS more.
  glidepath: { cadence: 'minute', create: glidepath, lastStepExtraMinutes: DATA_DELAY_SECONDS / 60 },
  'release-manager': { cadence: 'minute', create: releaseManager },
  flagger: { cadence: 'minute', create: flagger },
  kayenta: { cadence: 'bake', create: kayenta },
  'fixed-bake': { cadence: 'bake', create: fixedBake },
  'glidepath-bake-ends': { cadence: 'bake', create: glidepathBakeEnds, informational: true },
};
