/**
 * `npm run bench -- analysis [--runs N] [--seed S]`: false rollbacks, missed
 * regressions and decision times of the canary judge against the anchors
 * (scripts/bench/analysis/anchors.ts), on simulated Cloud Run traffic.
 *
 * Protocol: the policy's default steps (10% for 5m, then 50% for 5m) with
 * maxExtensions 3, so a step lasts at most 20 minutes. Each judge is
 * consulted at its own cadence (anchors.ts): Glidepath as its workflow runs
 * it, after each bake and each extension bake (minutes 5, 10, 15, 20 of a
 * step); Flagger and cloud-run-release-manager every minute, as they poll.
 * A look sees all of the step's per-minute observations so far (Cloud
 * Monitoring's ingestion delay shifts every judge alike, so it is left out)
 * and answers PASS, FAIL or WAIT. FAIL rolls back; PASS of the last step
 * promotes; a step that reaches 20 minutes without a decision ends
 * INCONCLUSIVE (rolled back under the default onInconclusive: fail, and
 * counted as a rollback in `*WithInconclusive` figures). Every case runs at 1, 20 and 200 req/s in total,
 * canary at the step's share, with base 5xx rates of 0.1% and 1%; all judges
 * see the very same simulated minutes.
 */
import { BUILT_IN_DEFAULTS, parsePolicy } from '../../functions/domain/policy';
import type { IntervalObservation } from '../../functions/domain/observations';
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

/** How a case makes each revision behave, per step and minute (1-based within the step). */
interface Case {
  name: string;
  kind: 'healthy' | 'regression';
  /** Regressions the default policy allows at this base rate: reported, but not counted as missed. */
  withinPolicy?: (baseErrorRate: number) => boolean;
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

const CASES: Case[] = [
  { name: 'healthy', kind: 'healthy', canary: steady, stable: steady },
  { name: 'diurnal-drift', kind: 'healthy', canary: diurnal, stable: diurnal },
  { name: 'shared-incident', kind: 'healthy', canary: incident, stable: incident },
  { name: 'bursty-low-traffic', kind: 'healthy', canary: bursty, stable: bursty },
  {
    name: '5xx-x2',
    kind: 'regression',
    withinPolicy: (b) =>
      b * 2 - b <= settings.errorRate.maxIncrease && b * 2 <= settings.errorRate.maxAbsolute,
    canary: (b) => steady(b * 2),
    stable: steady,
  },
  {
    name: '5xx-x5',
    kind: 'regression',
    withinPolicy: (b) =>
      b * 5 - b <= settings.errorRate.maxIncrease && b * 5 <= settings.errorRate.maxAbsolute,
    canary: (b) => steady(b * 5),
    stable: steady,
  },
  { name: '5xx+0.5pp', kind: 'regression', canary: (b) => steady(b + 0.005), stable: steady },
  {
    name: 'p99+25%',
    kind: 'regression',
    canary: (b) => ({ ...steady(b), latency: tailWider(1.25) }),
    stable: steady,
  },
  {
    name: 'p99+50%',
    kind: 'regression',
    canary: (b) => ({ ...steady(b), latency: tailWider(1.5) }),
    stable: steady,
  },
  // The whole distribution 20% slower: p99 ×1.2, inside the default maxRatio 1.25 on p99.
  {
    name: 'p50+20%',
    kind: 'regression',
    withinPolicy: () => true,
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

type Outcome = { result: 'promoted' | 'failed' | 'inconclusive'; seconds: number };

const probabilityCache = new Map<string, number[]>();
const probabilities = (l: Latency) => {
  const key = `${l.medianMs}/${l.sigma}`;
  let p = probabilityCache.get(key);
  if (!p) probabilityCache.set(key, (p = bucketProbabilities(l)));
  return p;
};

/** One rollout's traffic: every minute of every step, drawn once, lazily, and shared by all judges. */
function traffic(c: Case, rate: number, base: number, seed: number) {
  const random = rng(seed);
  const minutes: { canary: IntervalObservation; stable: IntervalObservation }[][] = STEPS.map(() => []);
  return (step: number, minute: number) => {
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
      list.push({
        canary: simulateMinute(random, at, behaviour(cb, rate * share * cb.load)),
        stable: simulateMinute(random, at, behaviour(sb, rate * (1 - share) * sb.load)),
      });
    }
    return list.slice(0, minute);
  };
}

function rollout(judgeName: string, data: ReturnType<typeof traffic>): Outcome {
  const { cadence, create } = JUDGES[judgeName];
  const decide = create();
  let seconds = 0;
  for (let step = 0; step < STEPS.length; step++) {
    let decision: Decision = 'WAIT';
    let minute = 0;
    const every = cadence === 'bake' ? STEPS[step].bakeMinutes : 1;
    while (decision === 'WAIT' && minute + every <= MAX_MINUTES) {
      minute += every;
      const window = data(step, minute);
      decision = decide({
        step,
        minute,
        bakeMinutes: STEPS[step].bakeMinutes,
        canary: window.map((w) => w.canary),
        stable: window.map((w) => w.stable),
        settings,
      });
    }
    seconds += minute * 60;
    if (decision === 'FAIL') return { result: 'failed', seconds };
    if (decision === 'WAIT') return { result: 'inconclusive', seconds };
  }
  return { result: 'promoted', seconds };
}

const median = (xs: number[]) => {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
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
}
const tally = (): Tally => ({
  runs: 0,
  promoted: 0,
  failed: 0,
  inconclusive: 0,
  promoteSeconds: [],
  rollbackSeconds: [],
  failSeconds: [],
});
function add(t: Tally, o: Outcome) {
  t.runs++;
  t[o.result]++;
  if (o.result === 'promoted') t.promoteSeconds.push(o.seconds);
  // Under the default onInconclusive: fail, an undecided step rolls back when its extensions run out.
  else t.rollbackSeconds.push(o.seconds);
  if (o.result === 'failed') t.failSeconds.push(o.seconds);
}

const started = Date.now();
const judgeNames = Object.keys(JUDGES);
const byJudge = Object.fromEntries(
  judgeNames.map((j) => [
    j,
    {
      healthy: tally(),
      healthyAt20rpsPlus: tally(),
      regression: tally(),
      gated: tally(),
      cases: {} as Record<string, Tally & { withinPolicy: boolean }>,
    },
  ]),
);
let seed = SEED * 1_000_003;
for (const c of CASES) {
  for (const r of RATES) {
    for (const base of BASES) {
      const within = c.withinPolicy?.(base) ?? false;
      const key = `${c.name} @${r}rps base${base * 100}%`;
      for (const j of judgeNames) byJudge[j].cases[key] = { ...tally(), withinPolicy: within };
      for (let run = 0; run < RUNS; run++) {
        const data = traffic(c, r, base, seed++);
        for (const j of judgeNames) {
          const o = rollout(j, data);
          const J = byJudge[j];
          add(J.cases[key], o);
          if (c.kind === 'healthy') {
            add(J.healthy, o);
            if (r >= 20) add(J.healthyAt20rpsPlus, o);
          } else if (!within) {
            add(J.regression, o);
            // The detection target: x2 errors and p99 +25% at 20 req/s and above.
            if ((c.name === '5xx-x2' || c.name === 'p99+25%') && r >= 20) add(J.gated, o);
          }
        }
      }
    }
  }
}

const judges = Object.fromEntries(
  judgeNames.map((j) => {
    const J = byJudge[j];
    return [
      j,
      {
        ...(JUDGES[j].informational ? { informational: true } : {}),
        cadence: JUDGES[j].cadence,
        falseRollbackRate: rate(J.healthy.failed, J.healthy.runs),
        healthyInconclusiveRate: rate(J.healthy.inconclusive, J.healthy.runs),
        // Under the default onInconclusive: fail, an undecided healthy canary is rolled back too.
        falseRollbackRateWithInconclusive: rate(J.healthy.failed + J.healthy.inconclusive, J.healthy.runs),
        falseRollbackRateWithInconclusiveAt20rpsPlus: rate(
          J.healthyAt20rpsPlus.failed + J.healthyAt20rpsPlus.inconclusive,
          J.healthyAt20rpsPlus.runs,
        ),
        missedRegressionRate: rate(J.regression.promoted, J.regression.runs),
        regressionsFailedRate: rate(J.regression.failed, J.regression.runs),
        caughtX2And25pctAt20rpsPlus: rate(J.gated.runs - J.gated.promoted, J.gated.runs),
        medianSecondsToRollback: median(J.regression.rollbackSeconds),
        medianSecondsToRollbackOnFail: median(J.regression.failSeconds),
        medianSecondsToPromote: median(J.healthy.promoteSeconds),
        byCase: Object.fromEntries(
          Object.entries(J.cases).map(([k, t]) => [
            k,
            {
              ...(t.withinPolicy ? { withinPolicy: true } : {}),
              promoted: rate(t.promoted, t.runs),
              failed: rate(t.failed, t.runs),
              inconclusive: rate(t.inconclusive, t.runs),
              medianSecondsToPromote: median(t.promoteSeconds),
              medianSecondsToRollback: median(t.rollbackSeconds),
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
    runsPerJudge: CASES.length * RATES.length * BASES.length * RUNS,
    seconds: (Date.now() - started) / 1000,
  }) + '\n',
);
