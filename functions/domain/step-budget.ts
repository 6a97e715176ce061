/**
 * Google Workflows stops an execution after 100,000 steps ("Maximum number
 * of steps executed in a single execution", https://cloud.google.com/workflows/quotas),
 * and every step counts, in subworkflows and parallel branches too. A rollout
 * spends steps at every look (once a minute, up to a day per step under
 * `onInconclusive: hold`), and a job run at every status poll, so the worst
 * case of each is computed here, from the policy, before anything runs: a
 * rollout that could exceed the budget is refused at policy load, and a job
 * run polls less often instead (its timeout is fixed by the job).
 *
 * The step costs are those of the shipped workflows: the Workflows emulator
 * counts them, and test/unit/workflows/step-budget.test.ts fails when the
 * YAML changes without them. Pure.
 */
import { LOOK_SECONDS, planLook, type StepSchedule } from './analysis/looks';

export const MAX_STEPS_PER_EXECUTION = 100_000;
/**
 * The share of the limit a worst case may use: an action retried on a
 * transient error (up to 5 times, workflows/*.workflows.yaml) spends steps
 * that no plan foresees.
 */
export const STEP_BUDGET = 90_000;

/** Steps of rollout.workflows.yaml, as counted by the Workflows emulator. */
export const ROLLOUT_STEPS = {
  /**
   * main's own steps: init, try, the final complete, and the stage loop's
   * (pick_stages, one stage's gate_or_not, start_stage, run_waves, judge_stage).
   * A staged plan adds these per stage, and a gate's run_gate; each stage is
   * checked on its own (functions/domain/policy.ts).
   */
  base: 14,
  /** One wave: run_wave's bookkeeping. */
  perWave: 8,
  /** One region: deploy, smoke, first shift, promote, and the wave's sorting of it. */
  perRegion: 25,
  /**
   * What a region's end may cost beyond promotion: a rollback instead, and
   * its share of `rollbackPromotedRegions` after another region failed.
   */
  regionEndAllowance: 10,
  /** One traffic step: run_step's init and return, beyond its looks. */
  perStep: 2,
  /** One look: the sleep, the analyze action, the decision. */
  perLook: 6,
} as const;

/** Steps of job-run.workflows.yaml, as counted by the Workflows emulator. */
export const JOB_RUN_STEPS = {
  base: 8,
  /** One attempt: the lock check, start, the timeout check, backoff, beyond its polls. */
  perAttempt: 19,
  /** One status poll: the sleep, the status action, the check. */
  perPoll: 6,
  /**
   * One poll while an image rollout holds the job's lock: the start action, the check, the
   * sleep. A run waits at most once and for at most maxPolls − 1 of them before it starts
   * (or maxPolls, and then the attempt fails without polling, which costs less).
   */
  perLockPoll: 6,
} as const;

/** The shape of a rollout: regions per wave, and how many looks each traffic step takes. */
export interface RolloutShape {
  regionsPerWave: number[];
  looksPerStep: number[];
}

/** Steps a rollout of this shape spends when every region promotes (the emulator's exact count). */
export function promotingRolloutSteps(shape: RolloutShape): number {
  const perRegion =
    ROLLOUT_STEPS.perRegion +
    shape.looksPerStep.reduce((n, looks) => n + ROLLOUT_STEPS.perStep + looks * ROLLOUT_STEPS.perLook, 0);
  const regions = shape.regionsPerWave.reduce((a, b) => a + b, 0);
  return ROLLOUT_STEPS.base + shape.regionsPerWave.length * ROLLOUT_STEPS.perWave + regions * perRegion;
}

/** The most steps a rollout of this shape can spend, whatever its regions' outcomes. */
export function worstRolloutSteps(shape: RolloutShape): number {
  const regions = shape.regionsPerWave.reduce((a, b) => a + b, 0);
  return promotingRolloutSteps(shape) + regions * ROLLOUT_STEPS.regionEndAllowance;
}

/**
 * The most looks a step can take: one a minute (and one at each PASS point)
 * until its last PASS point, where it ends whatever the verdict
 * (functions/domain/analysis/looks.ts).
 */
export function maxLooks(step: StepSchedule): number {
  let elapsed = 0;
  let taken = 0;
  let wait = LOOK_SECONDS; // the workflow's first wait
  for (let looks = 1; ; looks++) {
    elapsed += wait;
    const plan = planLook(step, elapsed, taken);
    if (plan.lastChance) return looks;
    taken = plan.passPoint ?? taken;
    wait = plan.nextLookSeconds;
  }
}

/** The rollout's worst case from its policy: why it cannot run, or undefined when it fits. */
export function rolloutOverBudget(service: {
  waves: string[][];
  /** Each traffic step's bake, in seconds. */
  bakes: number[];
  analysis: StepSchedule['analysis'];
}): string | undefined {
  const looksPerStep = service.bakes.map((bakeSeconds, i) =>
    maxLooks({ bakeSeconds, last: i === service.bakes.length - 1, analysis: service.analysis }),
  );
  const worst = worstRolloutSteps({ regionsPerWave: service.waves.map((w) => w.length), looksPerStep });
  if (worst <= STEP_BUDGET) return undefined;
  const regions = service.waves.flat().length;
  const looks = looksPerStep.reduce((a, b) => a + b, 0);
  return (
    `expected a rollout that fits one Workflows execution (at most ${MAX_STEPS_PER_EXECUTION} steps, ` +
    `${STEP_BUDGET} planned), got a worst case of ${worst} steps: ${regions} region(s) × ${looks} look(s) ` +
    `across ${service.bakes.length} step(s)` +
    (service.analysis.onInconclusive === 'hold'
      ? ', each step held up to 24 h under onInconclusive: hold; use onInconclusive: fail, fewer steps, or fewer regions'
      : '; use fewer steps, fewer extensions (maxExtensions), shorter bakes, or fewer regions')
  );
}

/** Seconds between a job run's status polls: 10 s, or longer when the timeout × attempts would exceed the budget. */
export function jobPollSeconds(timeoutSeconds: number, maxAttempts: number, minimum: number): number {
  const pollsPerAttempt = Math.floor(
    (STEP_BUDGET - JOB_RUN_STEPS.base - maxAttempts * JOB_RUN_STEPS.perAttempt) /
      (maxAttempts * JOB_RUN_STEPS.perPoll + JOB_RUN_STEPS.perLockPoll),
  );
  return Math.max(minimum, Math.ceil(timeoutSeconds / pollsPerAttempt));
}

/**
 * Steps a job run spends when it first waits for the job's lock as long as it can and still
 * starts, and every attempt polls until its timeout (the emulator's exact count).
 */
export function worstJobRunSteps(run: { maxAttempts: number; maxPolls: number }): number {
  return (
    JOB_RUN_STEPS.base +
    run.maxAttempts * (JOB_RUN_STEPS.perAttempt + run.maxPolls * JOB_RUN_STEPS.perPoll) +
    (run.maxPolls - 1) * JOB_RUN_STEPS.perLockPoll
  );
}
