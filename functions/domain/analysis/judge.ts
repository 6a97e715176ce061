/**
 * The canary judge: compares the candidate with the stable revision over the
 * same window, from Cloud Monitoring counts and histograms alone, and says
 * PASS, FAIL or INCONCLUSIVE with its reasons and the figures behind them.
 *
 * Four checks, each an always-valid sequential test (see sequential.ts and
 * docs/analysis.md):
 * - errorIncrease: canary 5xx rate − stable 5xx rate against maxIncrease;
 * - errorCeiling: canary 5xx rate against maxAbsolute;
 * - latencyRatio: canary percentile against maxRatio × the stable's;
 * - latencyCeiling: canary percentile against maxMs.
 * A check FAILs when the data shows, at level ALPHA_FAIL, that the canary is
 * beyond the allowed margin; it PASSes when the data shows, at level
 * ALPHA_PASS, that it is within it. The verdict is FAIL if any check fails,
 * PASS only if every check passes on at least minRequests canary requests,
 * and INCONCLUSIVE otherwise. Pure and synchronous.
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

/** Per-check chance of blaming a candidate that is exactly at its margin, over all looks of a step. */
export const ALPHA_FAIL = 0.01;
/** Per-check chance of passing a candidate that is exactly at its margin, over all looks of a step. */
export const ALPHA_PASS = 0.05;
/** No harm verdict rests on fewer bad requests than this, whatever the normal approximation says. */
export const MIN_BAD_REQUESTS = 5;

/**
 * Mixture scales (sequential.ts): the harm tests are tuned to large effects
 * (a 503 storm must FAIL within the first minute or two, on few requests);
 * the equivalence tests to effects of the size of the margin itself.
 */
const TAU_FAIL = 0.1;
const tauPass = (limit: number) => Math.max(limit, 0.001);

const LOG_FAIL = Math.log(1 / ALPHA_FAIL);
const LOG_PASS = Math.log(1 / ALPHA_PASS);

export type Verdict = 'PASS' | 'FAIL' | 'INCONCLUSIVE';
export type CheckName = 'errorIncrease' | 'errorCeiling' | 'latencyRatio' | 'latencyCeiling';
export type CheckStatus = 'fail' | 'pass' | 'open';

export interface JudgeInput {
  canary: RevisionObservations;
  /** Absent when there is no stable revision (first deploy): absolute ceilings only. */
  stable?: RevisionObservations;
  settings: AnalysisSettings;
  /** Seconds since the step began; reported, and named in reasons about missing data. */
  elapsedSeconds: number;
}

export interface RevisionSummary {
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

export interface CheckFigures {
  status: CheckStatus;
  /** The test, in words. */
  statistic: string;
  /** Point values: 5xx rate or percentile latency (ms). */
  canary: number;
  stable?: number;
  /** The tested quantity and its limit, in the statistic's own units. */
  estimate: number;
  limit: number;
  /** Confidence-sequence bounds on the quantity: lower at ALPHA_FAIL, upper at ALPHA_PASS. */
  lower: number;
  upper: number;
  /** Always-valid p-value of "within the limit" (small: FAIL) and of "beyond it" (small: PASS). */
  pWithin: number;
  pBeyond: number;
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
    alphaPass: number;
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
  `${x >= 0 ? '+' : '−'}${(Math.abs(x) * 100).toFixed(Math.abs(x) < 0.001 && x !== 0 ? 3 : 2)}pp`;
const ms = (x: number) => (Number.isFinite(x) ? `${Math.round(x)}ms` : 'beyond the last bucket');
const pText = (p: number) => (p < 0.001 ? 'p<0.001' : `p=${p.toFixed(3)}`);

/** The one-sided tests of a quantity against its limit, with the bounds to report. */
function weigh(family: TestFamily, limit: number, passScale = limit) {
  const above = family.logRatioAbove(limit, TAU_FAIL);
  const below = family.logRatioBelow(limit, tauPass(passScale));
  const failBounds = confidenceBounds(family, ALPHA_FAIL, TAU_FAIL);
  const passBounds = confidenceBounds(family, ALPHA_PASS, tauPass(passScale));
  return {
    beyond: above >= LOG_FAIL,
    within: below >= LOG_PASS,
    pWithin: alwaysValidP(above),
    pBeyond: alwaysValidP(below),
    lower: failBounds.lower,
    upper: passBounds.upper,
  };
}

interface Check {
  name: CheckName;
  figures: CheckFigures;
  reason: string;
}

function errorIncrease(c: RevisionSummary, s: RevisionSummary, maxIncrease: number): Check {
  const w = weigh(differenceFamily(c.errors, c.requests, s.errors, s.requests), maxIncrease);
  const estimate = c.errorRate - s.errorRate;
  const status: CheckStatus = w.beyond && c.errors >= MIN_BAD_REQUESTS ? 'fail' : w.within ? 'pass' : 'open';
  const head = `5xx ${pct(c.errorRate)} vs stable ${pct(s.errorRate)}`;
  const tail = `n=${c.requests}`;
  const reason =
    status === 'fail'
      ? `${head} (${pp(estimate)} > ${pp(maxIncrease)} allowed, ${pText(w.pWithin)}, ${tail})`
      : status === 'pass'
        ? `${head} (${pp(estimate)}, at most ${pp(w.upper)} ≤ ${pp(maxIncrease)} allowed, ${pText(w.pBeyond)}, ${tail})`
        : `${head} (${pp(estimate)}; not yet clear against ${pp(maxIncrease)} allowed: could be ${pp(w.lower)} to ${pp(w.upper)}, ${tail})`;
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
      lower: w.lower,
      upper: w.upper,
      pWithin: w.pWithin,
      pBeyond: w.pBeyond,
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
 * ceiling cannot tell them apart, so the comparison with stable decides.
 */
function ceiling(
  canary: { bad: number; n: number },
  stable: { bad: number; n: number } | undefined,
  limit: number,
): { status: CheckStatus; shared: boolean; w: ReturnType<typeof weigh> } {
  const w = weigh(proportionFamily(canary.bad, canary.n), limit);
  const enough = canary.bad >= MIN_BAD_REQUESTS;
  if (!stable || stable.n === 0) {
    return { status: w.beyond && enough ? 'fail' : w.within ? 'pass' : 'open', shared: false, w };
  }
  const worseThanStable =
    differenceFamily(canary.bad, canary.n, stable.bad, stable.n).logRatioAbove(0, TAU_FAIL) >= LOG_FAIL;
  const stableUnder = proportionFamily(stable.bad, stable.n).logRatioBelow(limit, tauPass(limit)) >= LOG_PASS;
  if (w.beyond && enough && worseThanStable) return { status: 'fail', shared: false, w };
  if (w.within || !stableUnder) return { status: 'pass', shared: !w.within, w };
  return { status: 'open', shared: false, w };
}

function errorCeiling(c: RevisionSummary, s: RevisionSummary | undefined, maxAbsolute: number): Check {
  const r = ceiling({ bad: c.errors, n: c.requests }, s && { bad: s.errors, n: s.requests }, maxAbsolute);
  const head = `5xx ${pct(c.errorRate)}${s ? ` (stable ${pct(s.errorRate)})` : ''}`;
  const reason =
    r.status === 'fail'
      ? `${head} over the ${pct(maxAbsolute)} ceiling (at least ${pct(r.w.lower)}, ${pText(r.w.pWithin)}, n=${c.requests})`
      : r.shared
        ? `${head}: the stable revision is at the ${pct(maxAbsolute)} ceiling too, so the ceiling is not blamed on the candidate; the comparison with stable decides`
        : r.status === 'pass'
          ? `${head} under the ${pct(maxAbsolute)} ceiling (at most ${pct(r.w.upper)}, ${pText(r.w.pBeyond)}, n=${c.requests})`
          : `${head}; not yet clear against the ${pct(maxAbsolute)} ceiling: could be up to ${pct(r.w.upper)} (n=${c.requests})`;
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
      lower: r.w.lower,
      upper: r.w.upper,
      pWithin: r.w.pWithin,
      pBeyond: r.w.pBeyond,
      n: c.requests,
      ...(s ? { nStable: s.requests } : {}),
    },
  };
}

/**
 * Canary percentile against maxRatio × the stable's, as a tail-exceedance
 * test: if the canary's P-th percentile is at most T, at most a share
 * (1 − P/100) of its requests are slower than T. T is maxRatio × the stable's
 * percentile, taken at the end of the stable's own quantile confidence
 * sequence that favours the candidate's innocence for FAIL and its guilt for
 * PASS (Howard & Ramdas, "Sequential estimation of quantiles", 2022).
 */
function latencyRatio(c: Totals, s: Totals, percentile: number, maxRatio: number): Check {
  const ch = c.histogram!;
  const sh = s.histogram!;
  const q = percentile / 100;
  const tail = 1 - q;
  const stableQ = (alpha: number) => confidenceBounds(proportionFamily(q * sh.total, sh.total), alpha, tail);
  const stableHigh = quantile(sh, stableQ(ALPHA_FAIL).upper);
  const stableLow = quantile(sh, stableQ(ALPHA_PASS).lower);
  const failAt = maxRatio * stableHigh;
  const passAt = maxRatio * stableLow;
  // A stable percentile beyond the last bucket leaves nothing the canary could be clearly slower than.
  const slowAtFail = Number.isFinite(failAt) ? countAbove(ch, failAt) : 0;
  const failTest = weigh(proportionFamily(slowAtFail, ch.total), tail);
  const passTest = weigh(proportionFamily(countAbove(ch, passAt), ch.total), tail);
  const status: CheckStatus =
    failTest.beyond && slowAtFail >= MIN_BAD_REQUESTS ? 'fail' : passTest.within ? 'pass' : 'open';
  const canaryMs = c.summary.latencyMs!;
  const stableMs = s.summary.latencyMs!;
  const ratio = canaryMs / stableMs;
  const head = `p${percentile} ${ms(canaryMs)} vs stable ${ms(stableMs)}`;
  const share = (x: number) => pct(x / ch.total);
  const reason =
    status === 'fail'
      ? `${head} (×${ratio.toFixed(2)} > ×${maxRatio} allowed: ${share(slowAtFail)} of canary requests slower than ${ms(failAt)}, ${pText(failTest.pWithin)}, n=${ch.total})`
      : status === 'pass'
        ? `${head} (×${ratio.toFixed(2)} ≤ ×${maxRatio} allowed: at most ${pct(passTest.upper)} of canary requests slower than ${ms(passAt)}, ${pText(passTest.pBeyond)}, n=${ch.total})`
        : `${head} (×${ratio.toFixed(2)}; not yet clear against ×${maxRatio} allowed, n=${ch.total})`;
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
      lower: failTest.lower,
      upper: passTest.upper,
      pWithin: failTest.pWithin,
      pBeyond: passTest.pBeyond,
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
  const reason =
    r.status === 'fail'
      ? `${head} over the ${maxMs}ms ceiling (${pct(slow / ch.total)} of requests slower, at most ${pct(tail)} allowed, ${pText(r.w.pWithin)}, n=${ch.total})`
      : r.shared
        ? `${head}: the stable revision is at the ${maxMs}ms ceiling too, so the ceiling is not blamed on the candidate; the comparison with stable decides`
        : r.status === 'pass'
          ? `${head} under the ${maxMs}ms ceiling (${pText(r.w.pBeyond)}, n=${ch.total})`
          : `${head}; not yet clear against the ${maxMs}ms ceiling (n=${ch.total})`;
  return {
    name: 'latencyCeiling',
    reason,
    figures: {
      status: r.status,
      statistic: `share of canary requests slower than ${maxMs}ms, against ${pct(tail)} (normal mSPRT)`,
      canary: canaryMs,
      ...(s?.summary.latencyMs !== undefined ? { stable: s.summary.latencyMs } : {}),
      estimate: slow / ch.total,
      limit: tail,
      lower: r.w.lower,
      upper: r.w.upper,
      pWithin: r.w.pWithin,
      pBeyond: r.w.pBeyond,
      n: ch.total,
      ...(sh ? { nStable: sh.total } : {}),
    },
  };
}

export function judge(input: JudgeInput): Judgement {
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
    alphaPass: ALPHA_PASS,
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
