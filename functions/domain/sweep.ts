/**
 * The stuck-rollout sweeper's decision (issue #9), pure: given a rollout
 * that holds its service's lease or a region's candidate slot, and what
 * Workflows says about its execution, is anyone still driving it?
 *
 * A rollout is stuck when its workflow execution ended or vanished while
 * the rollout still holds something, when its execution never started, or
 * when its heartbeat (the record's `updatedAt`, written by every action)
 * is older than the longest quiet period its plan allows.
 */
import { readPlan, type RolloutPlan } from './plan';
import { isTerminal, type RolloutRecord, type StopStatus } from './records';

/** Workflows execution states, plus MISSING (not found) and UNKNOWN (no data: assume alive). */
export type ExecutionState =
  'ACTIVE' | 'QUEUED' | 'SUCCEEDED' | 'FAILED' | 'CANCELLED' | 'MISSING' | 'UNKNOWN';

export interface ExecutionView {
  state: ExecutionState;
  error?: string;
}

export interface SweepSettings {
  /** Added to the plan's longest quiet period before a live execution counts as stale. */
  heartbeatGraceSeconds: number;
  /** How long a rollout may wait for its execution to be started by intake. */
  launchGraceSeconds: number;
}

export const DEFAULT_SWEEP_SETTINGS: SweepSettings = {
  heartbeatGraceSeconds: 15 * 60,
  launchGraceSeconds: 10 * 60,
};

/**
 * The longest an action-free gap may last in a healthy rollout: a bake (the
 * workflow sleeps through it), or a Cloud Run operation plus the smoke test.
 */
const OPERATION_SECONDS = 5 * 60;

export function quietSeconds(plan: Pick<RolloutPlan, 'steps' | 'smoke' | 'stages'>): number {
  const steps = [...plan.steps, ...(plan.stages ?? []).flatMap((stage) => stage.steps)];
  const longestBake = Math.max(0, ...steps.map((s) => s.bakeSeconds));
  const smoke = plan.smoke.attempts * plan.smoke.timeoutSeconds;
  return Math.max(longestBake, OPERATION_SECONDS + smoke);
}

type Diagnosis =
  | { stuck: false; why: string }
  | {
      stuck: true;
      reason: string;
      /** The execution is alive but silent: stop it before taking its regions back. */
      cancelExecution: boolean;
      /** The rollout is not finished yet: end it as FAILED. */
      finish: boolean;
    };

export const ENDED: ReadonlySet<ExecutionState> = new Set(['SUCCEEDED', 'FAILED', 'CANCELLED', 'MISSING']);

/** How an ENDED execution is told in a sweeper's reason: gone, or its final state and error. */
export function endedExecution(executionName: string, execution: ExecutionView | undefined): string {
  if (execution?.state === 'MISSING') return `workflow execution ${executionName} no longer exists`;
  const error = execution?.error ? ` (${execution.error})` : '';
  return `workflow execution ${executionName} is ${execution?.state ?? 'UNKNOWN'}${error}`;
}

export function ageSeconds(iso: string | null | undefined, now: Date): number {
  const t = iso ? Date.parse(iso) : NaN;
  return Number.isFinite(t) ? (now.getTime() - t) / 1000 : Infinity;
}

export function minutes(seconds: number): string {
  return `${Math.round(seconds / 60)}m`;
}

/**
 * A stop recorded from Slack (recordStop: the execution cancelled, the
 * rollout ended ABORTED or ROLLED_BACK) that nobody settled: the
 * rollout-stops message was lost or dead-lettered, so no end was posted
 * (RolloutStore.claimEndNotice). The CLI's stop and a workflow's own end
 * never look like this: the first settles at once, the second's execution
 * is not CANCELLED.
 */
export function isUnsettledStop(
  rollout: RolloutRecord,
  execution: ExecutionView | undefined,
): rollout is RolloutRecord & { status: StopStatus; outcomeReason: string } {
  return (
    (rollout.status === 'ABORTED' || rollout.status === 'ROLLED_BACK') &&
    !rollout.endNoticeAt &&
    rollout.outcomeReason !== undefined &&
    execution?.state === 'CANCELLED'
  );
}

export function diagnose(
  rollout: RolloutRecord,
  execution: ExecutionView | undefined,
  now: Date,
  settings: SweepSettings = DEFAULT_SWEEP_SETTINGS,
): Diagnosis {
  if (rollout.queuedBehind) return { stuck: false, why: `queued behind ${rollout.queuedBehind}` };
  const finish = !isTerminal(rollout.status);
  const read = readPlan(rollout);

  if (!rollout.executionName) {
    if (finish) {
      const waited = ageSeconds(rollout.launchClaimedAt ?? rollout.createdAt, now);
      if (waited <= settings.launchGraceSeconds) return { stuck: false, why: 'waiting for its execution' };
      return {
        stuck: true,
        reason: `no workflow execution was started for ${minutes(waited)} (limit ${minutes(settings.launchGraceSeconds)})`,
        cancelExecution: false,
        finish,
      };
    }
    return { stuck: true, reason: `${rollout.status} without an execution`, cancelExecution: false, finish };
  }

  const state = execution?.state ?? 'UNKNOWN';
  // Every action of its execution would fail on it: take the regions back now.
  if ('corrupt' in read)
    return { stuck: true, reason: read.corrupt, cancelExecution: !ENDED.has(state), finish };
  const { plan } = read;
  if (ENDED.has(state)) {
    return {
      stuck: true,
      reason: `${endedExecution(rollout.executionName, execution)} but rollout ${rollout.id} is ${rollout.status} and still holds ${rollout.service}`,
      cancelExecution: false,
      finish,
    };
  }
  // Waiting at a gate spends no steps and calls no action until the gate is answered or expires.
  const gate = Object.values(rollout.gates ?? {}).find((g) => g.status === 'WAITING');
  // Ended (superseded) while its execution waits at a gate nobody may answer any more: without this,
  // its canaries held before promotion would serve until the gate's timeout (24 h by default).
  if (gate && !finish)
    return {
      stuck: true,
      reason: `rollout ${rollout.id} is ${rollout.status} but its execution still waits at gate ${gate.name}, which nobody may answer any more`,
      cancelExecution: true,
      finish,
    };
  if (gate && ageSeconds(gate.expiresAt, now) <= settings.heartbeatGraceSeconds)
    return { stuck: false, why: `waiting at gate ${gate.name} until ${gate.expiresAt}` };
  const limit = quietSeconds(plan) + settings.heartbeatGraceSeconds;
  const silent = ageSeconds(rollout.updatedAt, now);
  if (silent <= limit)
    return { stuck: false, why: `execution ${state}, heartbeat ${Math.round(silent)}s ago` };
  return {
    stuck: true,
    reason: `no heartbeat from workflow execution ${rollout.executionName} for ${minutes(silent)} (limit ${minutes(limit)})`,
    cancelExecution: true,
    finish,
  };
}
