/**
 * The canary judge: compares the candidate with the stable revision over the
 * same window, from Cloud Monitoring counts and histograms alone, and says
 * PASS, FAIL or INCONCLUSIVE with its reasons and the figures behind them.
 *
 * Four checks (see docs/analysis.md):
 * - errorIncrease: canary 5xx rate − stable 5xx rate against maxIncrease;
 * - errorCeiling: canary 5xx rate against maxAbsolute;
 * - latencyRatio: canary percentile against maxRatio × the stable's;
 * - latencyCeiling: canary percentile against maxMs.
 * A check FAILs when an always-valid sequential test (sequential.ts) shows,
 * at level ALPHA_FAIL, that the canary is beyond its limit. Otherwise it
 * passes when its point estimate is within the limit, and stays open when the
 * point estimate is beyond the limit without being significant yet.
 *
 * The verdict is FAIL if any check fails; PASS when the canary has at least
 * minRequests requests, every check that applies has data, and every check
 * passes ("enough traffic seen and no evidence of harm, nothing trending
 * beyond a limit"); INCONCLUSIVE otherwise (the workflow extends the bake).
 * Pure and synchronous.
 */
import type { AnalysisSettings } from '../policy';
import type { IntervalObservation, RevisionObservations } from '../observations';
import { countAbove, mergeDistributions, quantile, type MergedHistogram } from './histogram';
import {
  alwaysValidP,
  confidenceBounds,
  differenceFamily,
  proportionFamily,
  type TestFamily,
} from './sequential';

/** Per-check chance of blaming a candidate that is exactly at its limit, over all looks of a step. */
const ALPHA_FAIL = 0.01;
/**
 * A ceiling is blamed on the candidate only if the stable revision is clearly
 * under it, at this level: a stable that may itself be at the ceiling (a
 * shared incident, or a service that always runs near it) leaves the
 * comparison with stable to decide.
 */
const ALPHA_STABLE_UNDER = 0.05;
/** No harm verdict rests on fewer bad requests than this, whatever the normal approximation says. */
const MIN_BAD_REQUESTS = 5;

/**
 * Mixture scale (sequential.ts) of the harm tests: tuned to large effects (a
 * 503 storm must FAIL at the first look, on few requests).
 */
const TAU_FAIL = 0.1;
const tauStable = (limit: number) => Math.max(limit, 0.001);

const LOG_FAIL = Math.log(1 / ALPHA_FAIL);
const LOG_STABLE_UNDER = Math.log(1 / ALPHA_STABLE_UNDER);

type Verdict = 'PASS' | 'FAIL' | 'INCONCLUSIVE';
type CheckName = 'errorIncrease' | 'errorCeiling' | 'latencyRatio' | 'latencyCeiling';
/** fail: significant evidence of harm; pass: point estimate within the limit (or a shared breach); open: beyond it, not yet significant. */
type CheckStatus = 'fail' | 'pass' | 'open';

export interface JudgeInput {
  canary: RevisionObservations;
  /** Absent when there is no stable revision (first deploy): absolute ceilings only. */
  stable?: RevisionObservations;
  settings: AnalysisSettings;
  /** Seconds since the step began; reported, and named in reasons about missing data. */
  elapsedSeconds: number;
}

interface RevisionSummary {
  revision: string;
  requests: number;
  /** 5xx responses; 4xx are the client's doing and never count as errors. */
  errors: number;
  clientErrors: number;
  errorRate: number;
  /** Requests in the latency histogram, and the policy's percentile from it (ms). */
  latencyCount: number;
  latencyMs?: number;
}

interface CheckFigures {
  status: CheckStatus;
  /** The harm test, in words. */
  statistic: string;
  /** Point values: 5xx rate or percentile latency (ms). */
  canary: number;
  stable?: number;
  /** The point estimate and its limit, in the policy's units (5xx share, ratio, ms). */
  estimate: number;
  limit: number;
  /** Whether the point estimate is within the limit (a ceiling the stable shares counts as within). */
  withinLimit: boolean;
  /** 99% always-valid bounds (ALPHA_FAIL each side) on the tested quantity, in the statistic's units. */
  lower: number;
  upper: number;
  /** Always-valid p-value of "within the limit": below ALPHA_FAIL, the check FAILs. */
  pWithin: number;
  n: number;
  nStable?: number;
}

export interface Judgement {
  verdict: Verdict;
  reasons: string[];
  figures: {
    elapsedSeconds: number;
    minRequests: number;
    alphaFail: number;
    canary: RevisionSummary;
    stable?: RevisionSummary;
    checks: Partial<Record<CheckName, CheckFigures>>;
  };
}

interface Totals {
  summary: RevisionSummary;
  histogram?: MergedHistogram;
}

function totals(obs: RevisionObservations, percentile: number): Totals {
  const sum = (cls: keyof IntervalObservation['requests']) =>
    obs.intervals.reduce((a, i) => a + (i.requests[cls] ?? 0), 0);
  const requests = obs.intervals.reduce(
    (a, i) => a + Object.values(i.requests).reduce((x: number, y) => x + (y ?? 0), 0),
    0,
  );
  const errors = sum('5xx');
  const histogram = mergeDistributions(obs.intervals.flatMap((i) => (i.latency ? [i.latency] : [])));
  return {
    summary: {
      revision: obs.revision,
      requests,
      errors,
      clientErrors: sum('4xx'),
      errorRate: requests > 0 ? errors / requests : 0,
      latencyCount: histogram?.total ?? 0,
      ...(histogram ? { latencyMs: quantile(histogram, percentile / 100) } : {}),
    },
    histogram,
  };
}

const pct = (x: number) =>
  `${(x * 100).toFixed(x !== 0 && Math.abs(x) < 0.001 ? 3 : x !== 0 && Math.abs(x) < 0.01 ? 2 : 1)}%`;
const pp = (x: number) =>
  `${x >= 0 ? '+' : '−'}${(Math.abs(x) * 100).toFixed(Math.abs(x) < 0.0001 && x !== 0 ? 3 : 2)}pp`;
const ms = (x: number) => (Number.isFinite(x) ? `${Math.round(x)}ms` : 'beyond the last bucket');
const pText = (p: number) => (p < 0.001 ? 'p<0.001' : `p=${p.toFixed(3)}`);

/** log((e^a + e^b) / 2): the mixture of two e-values, itself an e-value. */
const logMean = (a: number, b: number) => Math.max(a, b) + Math.log1p(Math.exp(-Math.abs(a - b))) - Math.LN2;

/**
 * The harm tests mix two scales: TAU_FAIL for large effects on few requests
 * (a 503 storm), and the limit's own size for effects just beyond it (a p99
 * 50% slower, 5xx twice the base). An average of two mixture ratios is a
 * mixture ratio over the averaged prior, so the always-valid guarantee holds;
 * the price is at most log 2 of evidence on either effect.
 */
function harmFamily(family: TestFamily, limit: number): TestFamily {
  const small = Math.max(limit, 0.001);
  return {
    ...family,
    logRatioAbove: (t) => logMean(family.logRatioAbove(t, TAU_FAIL), family.logRatioAbove(t, small)),
    logRatioBelow: (t) => logMean(family.logRatioBelow(t, TAU_FAIL), family.logRatioBelow(t, small)),
  };
}

/** The harm test of a quantity against its limit, with its 99% always-valid bounds. */
function weigh(family: TestFamily, limit: number, scale = limit) {
  const harm = harmFamily(family, scale);
  const above = harm.logRatioAbove(limit, TAU_FAIL);
  const bounds = confidenceBounds(harm, ALPHA_FAIL, TAU_FAIL);
  return {
    beyond: above >= LOG_FAIL,
    pWithin: alwaysValidP(above),
    lower: bounds.lower,
    upper: bounds.upper,
  };
}

type Weighed = ReturnType<typeof weigh>;

const statusOf = (failed: boolean, withinLimit: boolean): CheckStatus =>
  failed ? 'fail' : withinLimit ? 'pass' : 'open';

/** The end of a reason: why the check is where it is, with its p-value and n. */
function verdictText(status: CheckStatus, w: Weighed, n: number): string {
  if (status === 'fail') return `${pText(w.pWithin)}, n=${n}`;
  if (status === 'pass') return `no evidence of harm, n=${n}`;
  return `not yet significant, ${pText(w.pWithin)}, n=${n}: waiting for more data`;
}

interface Check {
  name: CheckName;
  figures: CheckFigures;
  reason: string;
}

function errorIncrease(c: RevisionSummary, s: RevisionSummary, maxIncrease: number): Check {
  const w = weigh(differenceFamily(c.errors, c.requests, s.errors, s.requests), maxIncrease);
  const estimate = c.errorRate - s.errorRate;
  const withinLimit = estimate <= maxIncrease;
  const status = statusOf(w.beyond && c.errors >= MIN_BAD_REQUESTS, withinLimit);
  const reason =
    `5xx ${pct(c.errorRate)} vs stable ${pct(s.errorRate)} ` +
    `(${pp(estimate)} ${withinLimit ? '≤' : '>'} ${pp(maxIncrease)} allowed, ${verdictText(status, w, c.requests)})`;
  return {
    name: 'errorIncrease',
    reason,
    figures: {
      status,
      statistic: 'difference of 5xx proportions (canary − stable), normal mSPRT',
      canary: c.errorRate,
      stable: s.errorRate,
      estimate,
      limit: maxIncrease,
      withinLimit,
      lower: w.lower,
      upper: w.upper,
      pWithin: w.pWithin,
      n: c.requests,
      nStable: s.requests,
    },
  };
}

/**
 * A ceiling on a proportion (5xx share, or share of requests slower than
 * maxMs). With a stable revision, exceeding it FAILs only when the canary is
 * also clearly worse than stable (a shared incident is not the candidate's
 * doing), and when the stable is not clearly under the ceiling itself the
 * ceiling cannot tell them apart, so the comparison with stable decides: the
 * check counts as within its limit (`shared`).
 */
function ceiling(
  canary: { bad: number; n: number },
  stable: { bad: number; n: number } | undefined,
  limit: number,
): { status: CheckStatus; withinLimit: boolean; shared: boolean; w: Weighed } {
  const w = weigh(proportionFamily(canary.bad, canary.n), limit);
  const enough = canary.bad >= MIN_BAD_REQUESTS;
  const pointWithin = canary.bad / canary.n <= limit;
  if (!stable || stable.n === 0) {
    return { status: statusOf(w.beyond && enough, pointWithin), withinLimit: pointWithin, shared: false, w };
  }
  const worseThanStable =
    harmFamily(differenceFamily(canary.bad, canary.n, stable.bad, stable.n), limit).logRatioAbove(
      0,
      TAU_FAIL,
    ) >= LOG_FAIL;
  if (w.beyond && enough && worseThanStable) return { status: 'fail', withinLimit: false, shared: false, w };
  if (pointWithin) return { status: 'pass', withinLimit: true, shared: false, w };
  const stableUnder =
    proportionFamily(stable.bad, stable.n).logRatioBelow(limit, tauStable(limit)) >= LOG_STABLE_UNDER;
  if (!stableUnder) return { status: 'pass', withinLimit: true, shared: true, w };
  return { status: 'open', withinLimit: false, shared: false, w };
}

function errorCeiling(c: RevisionSummary, s: RevisionSummary | undefined, maxAbsolute: number): Check {
  const r = ceiling({ bad: c.errors, n: c.requests }, s && { bad: s.errors, n: s.requests }, maxAbsolute);
  const head = `5xx ${pct(c.errorRate)}${s ? ` (stable ${pct(s.errorRate)})` : ''}`;
  const reason = r.shared
    ? `${head}: the stable revision is at the ${pct(maxAbsolute)} ceiling too, so the ceiling is not blamed on the candidate; the comparison with stable decides`
    : r.status === 'fail'
      ? `${head} over the ${pct(maxAbsolute)} ceiling (at least ${pct(r.w.lower)}, ${verdictText(r.status, r.w, c.requests)})`
      : `${head} ${r.withinLimit ? '≤' : '>'} the ${pct(maxAbsolute)} ceiling (${verdictText(r.status, r.w, c.requests)})`;
  return {
    name: 'errorCeiling',
    reason,
    figures: {
      status: r.status,
      statistic: 'canary 5xx proportion against maxAbsolute, normal mSPRT (score variance)',
      canary: c.errorRate,
      ...(s ? { stable: s.errorRate } : {}),
      estimate: c.errorRate,
      limit: maxAbsolute,
      withinLimit: r.withinLimit,
      lower: r.w.lower,
      upper: r.w.upper,
      pWithin: r.w.pWithin,
      n: c.requests,
      ...(s ? { nStable: s.requests } : {}),
    },
  };
}

/**
 * Canary percentile against maxRatio × the stable's. The point estimate is the
 * ratio of the two percentiles. The harm test is a tail-exceedance test: if
 * the canary's P-th percentile is at most T, at most a share (1 − P/100) of
 * its requests are slower than T. T is maxRatio × the stable's percentile,
 * taken at the upper end of the stable's own quantile confidence sequence
 * (Howard & Ramdas, "Sequential estimation of quantiles", 2022), so the
 * stable's sampling noise cannot make the canary look guilty.
 */
function latencyRatio(c: Totals, s: Totals, percentile: number, maxRatio: number): Check {
  const ch = c.histogram!;
  const sh = s.histogram!;
  const q = percentile / 100;
  const tail = 1 - q;
  const stableQ = confidenceBounds(proportionFamily(q * sh.total, sh.total), ALPHA_FAIL, tail);
  const failAt = maxRatio * quantile(sh, stableQ.upper);
  // A stable percentile beyond the last bucket leaves nothing the canary could be clearly slower than.
  const slowAtFail = Number.isFinite(failAt) ? countAbove(ch, failAt) : 0;
  const w = weigh(proportionFamily(slowAtFail, ch.total), tail);
  const canaryMs = c.summary.latencyMs!;
  const stableMs = s.summary.latencyMs!;
  const ratio = canaryMs / stableMs;
  // NaN (both beyond the last bucket, or both 0) is not within: there is nothing to compare.
  const withinLimit = ratio <= maxRatio;
  const status = statusOf(w.beyond && slowAtFail >= MIN_BAD_REQUESTS, withinLimit);
  const ratioText = Number.isFinite(ratio) ? `×${ratio.toFixed(2)}` : 'ratio undefined';
  const evidence =
    status === 'fail'
      ? `: ${pct(slowAtFail / ch.total)} of canary requests slower than ${ms(failAt)}, ${verdictText(status, w, ch.total)}`
      : `, ${verdictText(status, w, ch.total)}`;
  const reason = `p${percentile} ${ms(canaryMs)} vs stable ${ms(stableMs)} (${ratioText} ${withinLimit ? '≤' : '>'} ×${maxRatio} allowed${evidence})`;
  return {
    name: 'latencyRatio',
    reason,
    figures: {
      status,
      statistic: `share of canary requests slower than ${maxRatio} × stable p${percentile}, against ${pct(tail)} (normal mSPRT)`,
      canary: canaryMs,
      stable: stableMs,
      estimate: ratio,
      limit: maxRatio,
      withinLimit,
      lower: w.lower,
      upper: w.upper,
      pWithin: w.pWithin,
      n: ch.total,
      nStable: sh.total,
    },
  };
}

function latencyCeiling(c: Totals, s: Totals | undefined, percentile: number, maxMs: number): Check {
  const ch = c.histogram!;
  const tail = 1 - percentile / 100;
  const sh = s?.histogram;
  const slow = countAbove(ch, maxMs);
  const r = ceiling({ bad: slow, n: ch.total }, sh && { bad: countAbove(sh, maxMs), n: sh.total }, tail);
  const canaryMs = c.summary.latencyMs!;
  const head = `p${percentile} ${ms(canaryMs)}${s?.summary.latencyMs !== undefined ? ` (stable ${ms(s.summary.latencyMs)})` : ''}`;
  const reason = r.shared
    ? `${head}: the stable revision is at the ${maxMs}ms ceiling too, so the ceiling is not blamed on the candidate; the comparison with stable decides`
    : r.status === 'fail'
      ? `${head} over the ${maxMs}ms ceiling (${pct(slow / ch.total)} of requests slower, at most ${pct(tail)} allowed, ${verdictText(r.status, r.w, ch.total)})`
      : `${head} ${r.withinLimit ? '≤' : '>'} the ${maxMs}ms ceiling (${verdictText(r.status, r.w, ch.total)})`;
  return {
    name: 'latencyCeiling',
    reason,
    figures: {
      status: r.status,
      statistic: `share of canary requests slower than ${maxMs}ms, against ${pct(tail)} (normal mSPRT)`,
      canary: canaryMs,
      ...(s?.summary.latencyMs !== undefined ? { stable: s.summary.latencyMs } : {}),
      estimate: canaryMs,
      limit: maxMs,
      withinLimit: r.withinLimit,
      lower: r.w.lower,
      upper: r.w.upper,
      pWithin: r.w.pWithin,
      n: ch.total,
      ...(sh ? { nStable: sh.total } : {}),
    },
  };
}

/**
 * An answer Cloud Monitoring flagged incomplete can miss any series, the 5xx one as easily as the
 * 2xx one: it never passes nor fails, whatever its figures say.
 */
export function judge(input: JudgeInput): Judgement {
  const judgement = judgeData(input);
  const incomplete = [
    ...(input.canary.incomplete ?? []).map((why) => `canary ${input.canary.revision}: ${why}`),
    ...(input.stable?.incomplete ?? []).map((why) => `stable ${input.stable!.revision}: ${why}`),
  ];
  if (incomplete.length === 0) return judgement;
  return {
    ...judgement,
    verdict: 'INCONCLUSIVE',
    reasons: [
      `incomplete metrics, no verdict on them (was ${judgement.verdict}): ${incomplete.join('; ')}`,
      ...judgement.reasons,
    ],
  };
}

function judgeData(input: JudgeInput): Judgement {
  const { settings, elapsedSeconds } = input;
  const { percentile } = settings.latency;
  const canary = totals(input.canary, percentile);
  const stableTotals = input.stable ? totals(input.stable, percentile) : undefined;
  // A stable that served nothing in the window gives nothing to compare with.
  const stable = stableTotals && stableTotals.summary.requests > 0 ? stableTotals : undefined;
  const c = canary.summary;
  const figures: Judgement['figures'] = {
    elapsedSeconds,
    minRequests: settings.minRequests,
    alphaFail: ALPHA_FAIL,
    canary: c,
    ...(stableTotals ? { stable: stableTotals.summary } : {}),
    checks: {},
  };
  const notes: string[] = [];
  if (!input.stable) notes.push('no stable revision: judged on the absolute ceilings only');
  else if (!stable)
    notes.push(`stable ${input.stable.revision} served no requests: judged on the absolute ceilings only`);

  if (c.requests === 0) {
    return {
      verdict: 'INCONCLUSIVE',
      reasons: [
        `no canary requests after ${elapsedSeconds}s (Cloud Monitoring data lags up to 180s)`,
        ...notes,
      ],
      figures,
    };
  }

  const checks: Check[] = [];
  if (stable) checks.push(errorIncrease(c, stable.summary, settings.errorRate.maxIncrease));
  checks.push(errorCeiling(c, stable?.summary, settings.errorRate.maxAbsolute));
  const missingLatency: string[] = [];
  if (canary.histogram) {
    if (stable?.histogram) checks.push(latencyRatio(canary, stable, percentile, settings.latency.maxRatio));
    else if (stable)
      missingLatency.push(
        'no latency distribution for the stable revision: the latency ratio cannot be checked',
      );
    checks.push(latencyCeiling(canary, stable, percentile, settings.latency.maxMs));
  } else {
    missingLatency.push('no latency distribution for the canary: latency cannot be checked');
  }
  for (const check of checks) figures.checks[check.name] = check.figures;

  const failed = checks.filter((k) => k.figures.status === 'fail');
  if (failed.length > 0) {
    return { verdict: 'FAIL', reasons: [...failed.map((k) => k.reason), ...notes], figures };
  }
  const open = checks.filter((k) => k.figures.status === 'open');
  const passed = checks.filter((k) => k.figures.status === 'pass');
  const tooFew =
    c.requests < settings.minRequests
      ? [`only ${c.requests} canary requests, at least ${settings.minRequests} needed to pass`]
      : [];
  if (open.length === 0 && missingLatency.length === 0 && tooFew.length === 0) {
    return { verdict: 'PASS', reasons: [...passed.map((k) => k.reason), ...notes], figures };
  }
  return {
    verdict: 'INCONCLUSIVE',
    reasons: [
      ...tooFew,
      ...missingLatency,
      ...open.map((k) => k.reason),
      ...passed.map((k) => k.reason),
      ...notes,
    ],
    figures,
  };
}
