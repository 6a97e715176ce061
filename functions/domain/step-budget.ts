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
import type { ApprovalPosition } from './policy';

export const MAX_STEPS_PER_EXECUTION = 100_000;
/**
 * The share of the limit a worst case may use: an action retried on a
 * transient error (up to 5 times, workflows/*.workflows.yaml) spends steps
 * that no plan foresees.
 */
export const STEP_BUDGET = 90_000;

/** Steps of rollout.workflows.yaml, as counted by the Workflows emulator. */
const ROLLOUT_STEPS = {
  /** main's own steps: init, try, pick_stages, the final complete. */
  base: 10,
  /**
   * One stage (a plan without stages is one): gate_or_not, start_stage,
   * run_waves, promotion_gate_or_not, judge_stage. Every stage runs in the
   * same execution, so a staged rollout's stages add up.
   */
  perStage: 5,
  /**
   * An approval gate before a stage, at its dearest: the wait timed out and
   * the record is asked (expire_gate); an answered gate costs 10.
   */
  perGate: 15,
  /**
   * An approval gate before a stage's final promotion, at its dearest (timed
   * out, the record asked), and the settling of the held regions beyond it.
   */
  perPromotionGate: 20,
  /** Settling one held region (promote or roll back) beyond what promoting it in place costs. */
  perHeldRegion: 1,
  /** One wave: run_wave's bookkeeping. */
  perWave: 9,
  /** One region: deploy, smoke, first shift, hold or promote, and the wave's sorting of it. */
  perRegion: 26,
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
const JOB_RUN_STEPS = {
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

/** The shape of one stage of a rollout: regions per wave, looks per traffic step, and where its gate stands. */
interface StageShape {
  regionsPerWave: number[];
  looksPerStep: number[];
  gate?: ApprovalPosition;
}

const regionsOf = (stage: StageShape) => stage.regionsPerWave.reduce((a, b) => a + b, 0);

/** Steps a rollout spends when every region promotes and no gate times out (the emulator's exact count, ungated). */
export function promotingRolloutSteps(...stages: StageShape[]): number {
  return stages.reduce<number>((total, stage) => {
    const perRegion =
      ROLLOUT_STEPS.perRegion +
      stage.looksPerStep.reduce((n, looks) => n + ROLLOUT_STEPS.perStep + looks * ROLLOUT_STEPS.perLook, 0);
    return (
      total +
      ROLLOUT_STEPS.perStage +
      (stage.gate === 'stage' ? ROLLOUT_STEPS.perGate : 0) +
      (stage.gate === 'promotion'
        ? ROLLOUT_STEPS.perPromotionGate + regionsOf(stage) * ROLLOUT_STEPS.perHeldRegion
        : 0) +
      stage.regionsPerWave.length * ROLLOUT_STEPS.perWave +
      regionsOf(stage) * perRegion
    );
  }, ROLLOUT_STEPS.base);
}

/** The most steps a rollout of these stages can spend, whatever its regions' outcomes. */
export function worstRolloutSteps(...stages: StageShape[]): number {
  const regions = stages.reduce((n, stage) => n + regionsOf(stage), 0);
  return promotingRolloutSteps(...stages) + regions * ROLLOUT_STEPS.regionEndAllowance;
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

/** One stage as the policy gives it (a service without stages is one). */
interface StageBudgetInput {
  waves: string[][];
  /** Each traffic step's bake, in seconds. */
  bakes: number[];
  analysis: StepSchedule['analysis'];
  gate?: ApprovalPosition;
}

/**
 * The rollout's worst case from its policy, all stages together (they run in
 * one execution): why it cannot run, or undefined when it fits.
 */
export function rolloutOverBudget(stages: StageBudgetInput[]): string | undefined {
  const shapes = stages.map((stage): StageShape => ({
    regionsPerWave: stage.waves.map((w) => w.length),
    looksPerStep: stage.bakes.map((bakeSeconds, i) =>
      maxLooks({ bakeSeconds, last: i === stage.bakes.length - 1, analysis: stage.analysis }),
    ),
    ...(stage.gate ? { gate: stage.gate } : {}),
  }));
  const worst = worstRolloutSteps(...shapes);
  if (worst <= STEP_BUDGET) return undefined;
  const regions = shapes.reduce((n, shape) => n + regionsOf(shape), 0);
  const looks = shapes.reduce((n, shape) => n + shape.looksPerStep.reduce((a, b) => a + b, 0), 0);
  const steps = stages.reduce((n, stage) => n + stage.bakes.length, 0);
  const held = stages.some((stage) => stage.analysis.onInconclusive === 'hold');
  return (
    `expected a rollout that fits one Workflows execution (at most ${MAX_STEPS_PER_EXECUTION} steps, ` +
    `${STEP_BUDGET} planned), got a worst case of ${worst} steps: ${regions} region(s) × ${looks} look(s) ` +
    `across ${steps} step(s)${stages.length > 1 ? ` in ${stages.length} stages` : ''}` +
    (held
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
