/**
 * `npm run bench -- analysis [--runs N] [--seed S]`: false rollbacks, missed
 * regressions, decision times and blast radius of the canary judge against
 * the anchors (scripts/bench/analysis/anchors.ts), on simulated Cloud Run traffic.
 *
 * Protocol: the policy's default steps (10% for 5m, then 50% for 5m) with
 * maxExtensions 3, so a step lasts at most 20 minutes (Glidepath's last step
 * 4 more: it waits for its last minute's data). Time runs in minutes from the
 * region's first traffic shift; each judge is asked every minute and follows
 * its own cadence (anchors.ts). Every judge sees Cloud Monitoring alike: a
 * minute is one sample, visible up to 180 s after it ends, so a look at
 * minute t sees the minutes that ended by t − 3 (functions/domain/analysis/looks.ts).
 * FAIL rolls back; PASS of the last step promotes; INCONCLUSIVE, or a step
 * that runs out of minutes, ends INCONCLUSIVE (rolled back under the default
 * onInconclusive: fail, counted in the `*WithInconclusive` figures). Every
 * case runs at 1, 20 and 200 req/s in total, canary at the step's share, with
 * base 5xx rates of 0.1% and 1%; all judges see the very same simulated minutes.
 *
 * Regressions are graded against the default policy: `withinPolicy` (allowed:
 * reported only), `atLimit` (exactly at a limit, ambiguous by design: reported
 * only), `mustCatch` (twice the limit: a 5xx increase of 2 × maxIncrease, a p99
 * ratio of 1.5 with maxRatio 1.25) and beyond. The regression figures count
 * the regressions beyond the limit (mustCatch included); the onset is the
 * first shift, and a missed (promoted) regression counts as never rolled back
 * (blast radius and time to stable: Infinity, printed as null when a median).
 * Blast radius: the candidate's bad requests (5xx, or slower than the latency
 * limit min(maxMs, maxRatio × the stable's p99)) from the onset to the rollback.
 */
import { BUILT_IN_DEFAULTS, parsePolicy } from '../../functions/domain/policy';
import type { IntervalObservation } from '../../functions/domain/observations';
import { INGESTION_DELAY_SECONDS } from '../../functions/domain/analysis/looks';
import { JUDGES, type Decision } from './analysis/anchors';
import {
  BASE_LATENCY,
  Z99,
  bucketProbabilities,
  rng,
  simulateMinute,
  type Latency,
  type MinuteBehaviour,
} from './analysis/simulate';

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = Number(process.argv[i + 1]);
  if (!Number.isInteger(v) || v < 1) {
    process.stderr.write(
      `--${name}: expected a positive integer, got ${JSON.stringify(process.argv[i + 1])}\n`,
    );
    process.exit(2);
  }
  return v;
}
const RUNS = option('runs', 200);
const SEED = option('seed', 1);

const settings = parsePolicy({
  services: [
    {
      name: 'bench',
      project: 'bench-project',
      image: 'us-docker.pkg.dev/p/r/bench',
      waves: [['us-central1']],
    },
  ],
}).services[0].analysis;
const STEPS = BUILT_IN_DEFAULTS.steps.map((s) => ({
  share: s.percent / 100,
  bakeMinutes: Number.parseInt(s.bake, 10),
}));
const MAX_MINUTES = (1 + settings.maxExtensions) * 5;
/** A minute's sample is visible this many minutes after it ends, to every judge alike. */
const DELAY_MINUTES = INGESTION_DELAY_SECONDS / 60;
/** The latency limit of the blast radius: the stable's p99 is BASE_LATENCY's, 300 ms. */
const SLOW_MS = Math.min(settings.latency.maxMs, settings.latency.maxRatio * 300);

/** How a case makes each revision behave, per step and minute (1-based within the step). */
type Grade = 'withinPolicy' | 'atLimit' | 'beyond' | 'mustCatch';
interface Case {
  name: string;
  kind: 'healthy' | 'regression';
  /** How far beyond the default policy's limit a regression is at this base rate (default: beyond). */
  grade?: (baseErrorRate: number) => Grade;
  canary(
    base: number,
    step: number,
    minute: number,
  ): { errorRate: number; latency: Latency; errorLatency?: Latency; load: number };
  stable(base: number, step: number, minute: number): { errorRate: number; latency: Latency; load: number };
}

const steady = (base: number) => ({ errorRate: base, latency: BASE_LATENCY, load: 1 });
/** A slow day-long swing, seen over 40 minutes as a ±30% drift in load and ±10% in latency. */
const diurnal = (base: number, step: number, minute: number) => {
  const t = ((step * MAX_MINUTES + minute) / 40) * Math.PI;
  return {
    errorRate: base * (1 + 0.3 * Math.sin(t)),
    latency: { ...BASE_LATENCY, medianMs: 50 * (1 + 0.1 * Math.sin(t)) },
    load: 1 + 0.3 * Math.sin(t),
  };
};
/** Minutes 2–3 of the first step: 10× the error rate on both revisions (a shared dependency fails). */
const incident = (base: number, step: number, minute: number) => ({
  ...steady(base),
  errorRate: step === 0 && (minute === 2 || minute === 3) ? Math.min(1, base * 10) : base,
});
/** Low, bursty traffic: most minutes at 20% of the rate, one in five at 420%. */
const bursty = (base: number, step: number, minute: number) => ({
  ...steady(base),
  load: (step * 7 + minute) % 5 === 0 ? 4.2 : 0.2,
});
/** σ for a p99 scaled by `ratio` at the same median. */
const tailWider = (ratio: number): Latency => ({ medianMs: 50, sigma: Math.log(6 * ratio) / Z99 });

const { maxIncrease, maxAbsolute } = settings.errorRate;
/** A 5xx regression to `rate` on base `b`: graded by its increase against maxIncrease. */
const errorGrade = (b: number, rate: number): Grade => {
  const increase = rate - b;
  if (increase <= maxIncrease + 1e-12 && rate <= maxAbsolute) return 'withinPolicy';
  if (Math.abs(increase - maxIncrease) < 1e-12) return 'atLimit';
  return increase >= 2 * maxIncrease - 1e-12 ? 'mustCatch' : 'beyond';
};

const CASES: Case[] = [
  { name: 'healthy', kind: 'healthy', canary: steady, stable: steady },
  { name: 'diurnal-drift', kind: 'healthy', canary: diurnal, stable: diurnal },
  { name: 'shared-incident', kind: 'healthy', canary: incident, stable: incident },
  { name: 'bursty-low-traffic', kind: 'healthy', canary: bursty, stable: bursty },
  {
    name: '5xx-x2',
    kind: 'regression',
    grade: (b) => errorGrade(b, b * 2),
    canary: (b) => steady(b * 2),
    stable: steady,
  },
  {
    name: '5xx-x5',
    kind: 'regression',
    grade: (b) => errorGrade(b, b * 5),
    canary: (b) => steady(b * 5),
    stable: steady,
  },
  // Exactly maxIncrease: ambiguous by design.
  {
    name: '5xx+0.5pp',
    kind: 'regression',
    grade: () => 'atLimit',
    canary: (b) => steady(b + 0.005),
    stable: steady,
  },
  // Twice maxIncrease: must be caught.
  {
    name: '5xx+1pp',
    kind: 'regression',
    grade: () => 'mustCatch',
    canary: (b) => steady(b + 0.01),
    stable: steady,
  },
  // Exactly maxRatio 1.25: ambiguous by design.
  {
    name: 'p99+25%',
    kind: 'regression',
    grade: () => 'atLimit',
    canary: (b) => ({ ...steady(b), latency: tailWider(1.25) }),
    stable: steady,
  },
  // A p99 ratio of 1.5 against maxRatio 1.25: must be caught.
  {
    name: 'p99+50%',
    kind: 'regression',
    grade: () => 'mustCatch',
    canary: (b) => ({ ...steady(b), latency: tailWider(1.5) }),
    stable: steady,
  },
  // The whole distribution 20% slower: p99 ×1.2, inside the default maxRatio 1.25 on p99.
  {
    name: 'p50+20%',
    kind: 'regression',
    grade: () => 'withinPolicy',
    canary: (b) => ({ ...steady(b), latency: { ...BASE_LATENCY, medianMs: 60 } }),
    stable: steady,
  },
  {
    name: '503-on-30%',
    kind: 'regression',
    canary: (b) => ({ ...steady(b), errorRate: b + 0.3, errorLatency: { medianMs: 5, sigma: 0.5 } }),
    stable: steady,
  },
];
const RATES = [1, 20, 200];
const BASES = [0.001, 0.01];

type Outcome = {
  result: 'promoted' | 'failed' | 'inconclusive';
  /** From the first shift (the onset) to the decision. */
  seconds: number;
  /** The candidate's bad requests from the first shift to the decision. */
  blast: number;
};

const probabilityCache = new Map<string, number[]>();
const probabilities = (l: Latency) => {
  const key = `${l.medianMs}/${l.sigma}`;
  let p = probabilityCache.get(key);
  if (!p) probabilityCache.set(key, (p = bucketProbabilities(l)));
  return p;
};

interface Minute {
  canary: IntervalObservation;
  stable: IntervalObservation;
  canaryBad: number;
}

/** One rollout's traffic: every minute of every step, drawn once, lazily, and shared by all judges. */
function traffic(c: Case, rate: number, base: number, seed: number) {
  const random = rng(seed);
  const minutes: Minute[][] = STEPS.map(() => []);
  return (step: number, minute: number): Minute => {
    const list = minutes[step];
    while (list.length < minute) {
      const m = list.length + 1;
      const share = STEPS[step].share;
      const cb = c.canary(base, step, m);
      const sb = c.stable(base, step, m);
      const behaviour = (b: typeof cb, r: number): MinuteBehaviour => ({
        rate: r,
        errorRate: b.errorRate,
        latency: probabilities(b.latency),
        ...(b.errorLatency ? { errorLatency: probabilities(b.errorLatency) } : {}),
      });
      const at = step * MAX_MINUTES + m;
      const canary = simulateMinute(random, at, behaviour(cb, rate * share * cb.load), SLOW_MS);
      const stable = simulateMinute(random, at, behaviour(sb, rate * (1 - share) * sb.load));
      list.push({ canary: canary.observation, stable: stable.observation, canaryBad: canary.bad });
    }
    return list[minute - 1];
  };
}

function rollout(judgeName: string, data: ReturnType<typeof traffic>): Outcome {
  const { create, lastStepExtraMinutes = 0 } = JUDGES[judgeName];
  const decide = create();
  // Every minute served since the first shift, with the step it belongs to.
  const served: (Minute & { step: number })[] = [];
  let blast = 0;
  for (let step = 0; step < STEPS.length; step++) {
    const last = step === STEPS.length - 1;
    const limit = MAX_MINUTES + (last ? lastStepExtraMinutes : 0);
    let decision: Decision = 'WAIT';
    let minute = 0;
    while (decision === 'WAIT' && minute < limit) {
      minute++;
      const m = data(step, minute);
      served.push({ ...m, step });
      blast += m.canaryBad;
      const visible = served.slice(0, Math.max(0, served.length - DELAY_MINUTES));
      const ofStep = visible.filter((v) => v.step === step);
      decision = decide({
        step,
        last,
        minute,
        bakeMinutes: STEPS[step].bakeMinutes,
        canary: ofStep.map((v) => v.canary),
        stable: ofStep.map((v) => v.stable),
        rollout: { canary: visible.map((v) => v.canary), stable: visible.map((v) => v.stable) },
        settings,
      });
    }
    const seconds = served.length * 60;
    if (decision === 'FAIL') return { result: 'failed', seconds, blast };
    if (decision !== 'PASS') return { result: 'inconclusive', seconds, blast };
  }
  return { result: 'promoted', seconds: served.length * 60, blast };
}

/** The median; Infinity (a missed regression) is printed as null by JSON. */
const median = (xs: number[]) => {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  const v = s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
  return Number.isFinite(v) ? Math.round(v * 10) / 10 : null;
};
const rate = (k: number, n: number) => (n ? Number((k / n).toFixed(4)) : null);

interface Tally {
  runs: number;
  promoted: number;
  failed: number;
  inconclusive: number;
  promoteSeconds: number[];
  rollbackSeconds: number[];
  failSeconds: number[];
  /** Per run, from the onset: seconds to 100% on stable, and bad requests served (Infinity if promoted). */
  onsetToStableSeconds: number[];
  blastRadius: number[];
}
const tally = (): Tally => ({
  runs: 0,
  promoted: 0,
  failed: 0,
  inconclusive: 0,
  promoteSeconds: [],
  rollbackSeconds: [],
  failSeconds: [],
  onsetToStableSeconds: [],
  blastRadius: [],
});
function add(t: Tally, o: Outcome) {
  t.runs++;
  t[o.result]++;
  if (o.result === 'promoted') t.promoteSeconds.push(o.seconds);
  // Under the default onInconclusive: fail, an undecided step rolls back when its extensions run out.
  else t.rollbackSeconds.push(o.seconds);
  if (o.result === 'failed') t.failSeconds.push(o.seconds);
  const never = o.result === 'promoted';
  t.onsetToStableSeconds.push(never ? Infinity : o.seconds);
  t.blastRadius.push(never ? Infinity : o.blast);
}

const started = Date.now();
const judgeNames = Object.keys(JUDGES);
const byJudge = Object.fromEntries(
  judgeNames.map((j) => [
    j,
    {
      healthy: tally(),
      healthyByRate: Object.fromEntries(RATES.map((r) => [r, tally()])),
      healthyAt20rpsPlus: tally(),
      regression: tally(),
      gated: tally(),
      twiceLimit: tally(),
      cases: {} as Record<string, Tally & { grade: Grade }>,
    },
  ]),
);
let seed = SEED * 1_000_003;
for (const c of CASES) {
  for (const r of RATES) {
    for (const base of BASES) {
      const grade = c.kind === 'healthy' ? undefined : (c.grade?.(base) ?? 'beyond');
      const key = `${c.name} @${r}rps base${base * 100}%`;
      for (const j of judgeNames)
        byJudge[j].cases[key] = { ...tally(), ...(grade ? { grade } : {}) } as Tally & { grade: Grade };
      for (let run = 0; run < RUNS; run++) {
        const data = traffic(c, r, base, seed++);
        for (const j of judgeNames) {
          const o = rollout(j, data);
          const J = byJudge[j];
          add(J.cases[key], o);
          if (c.kind === 'healthy') {
            add(J.healthy, o);
            add(J.healthyByRate[r], o);
            if (r >= 20) add(J.healthyAt20rpsPlus, o);
          } else if (grade === 'beyond' || grade === 'mustCatch') {
            add(J.regression, o);
            if (grade === 'mustCatch' && r >= 20) add(J.twiceLimit, o);
          }
          // The previous detection figure, kept for comparison: x2 errors and p99 +25% at 20 req/s and above.
          if ((c.name === '5xx-x2' || c.name === 'p99+25%') && r >= 20 && grade !== 'withinPolicy')
            add(J.gated, o);
        }
      }
    }
  }
}

const judges = Object.fromEntries(
  judgeNames.map((j) => {
    const J = byJudge[j];
    const caught = (t: Tally) => rate(t.runs - t.promoted, t.runs);
    return [
      j,
      {
        ...(JUDGES[j].informational ? { informational: true } : {}),
        cadence: JUDGES[j].cadence,
        falseRollbackRate: rate(J.healthy.failed, J.healthy.runs),
        falseRollbackRateByRps: Object.fromEntries(
          RATES.map((r) => [r, rate(J.healthyByRate[r].failed, J.healthyByRate[r].runs)]),
        ),
        healthyInconclusiveRate: rate(J.healthy.inconclusive, J.healthy.runs),
        // Under the default onInconclusive: fail, an undecided healthy canary is rolled back too.
        falseRollbackRateWithInconclusive: rate(J.healthy.failed + J.healthy.inconclusive, J.healthy.runs),
        falseRollbackRateWithInconclusiveAt20rpsPlus: rate(
          J.healthyAt20rpsPlus.failed + J.healthyAt20rpsPlus.inconclusive,
          J.healthyAt20rpsPlus.runs,
        ),
        missedRegressionRate: rate(J.regression.promoted, J.regression.runs),
        regressionsFailedRate: rate(J.regression.failed, J.regression.runs),
        caughtAtTwiceLimitAt20rpsPlus: caught(J.twiceLimit),
        caughtX2And25pctAt20rpsPlus: caught(J.gated),
        medianSecondsToRollback: median(J.regression.rollbackSeconds),
        medianSecondsToRollbackOnFail: median(J.regression.failSeconds),
        medianSecondsOnsetToStable: median(J.regression.onsetToStableSeconds),
        medianBlastRadius: median(J.regression.blastRadius),
        medianSecondsToPromote: median(J.healthy.promoteSeconds),
        byCase: Object.fromEntries(
          Object.entries(J.cases).map(([k, t]) => [
            k,
            {
              ...(t.grade ? { grade: t.grade } : {}),
              promoted: rate(t.promoted, t.runs),
              failed: rate(t.failed, t.runs),
              inconclusive: rate(t.inconclusive, t.runs),
              medianSecondsToPromote: median(t.promoteSeconds),
              medianSecondsToRollback: median(t.rollbackSeconds),
              ...(t.grade ? { medianBlastRadius: median(t.blastRadius) } : {}),
            },
          ]),
        ),
      },
    ];
  }),
);

process.stdout.write(
  JSON.stringify({
    judges,
    seed: SEED,
    runs: RUNS,
    ingestionDelaySeconds: INGESTION_DELAY_SECONDS,
    runsPerJudge: CASES.length * RATES.length * BASES.length * RUNS,
    seconds: (Date.now() - started) / 1000,
  }) + '\n',
);
