/**
 * DORA figures for one service, computed purely from its rollout records
 * (no I/O, no clock: `now` is an argument). What each figure measures:
 *
 * - deployment frequency: PROMOTED rollouts per day over the window, the
 *   window running from the oldest record's createdAt to `now` (at least
 *   one day, so a single fresh promotion reads as 1/day, not 1000/day);
 * - lead time: for PROMOTED rollouts, createdAt → endedAt, i.e. from the
 *   intake of the build/push event (the rollout record is written when the
 *   Cloud Build / Artifact Registry / manual message is admitted) to the
 *   promotion of the last region. It does not include the time from commit
 *   to image push, which Glidepath never sees. Median and mean, in seconds;
 * - change failure rate: (ROLLED_BACK + FAILED) / finished rollouts, where
 *   finished means PROMOTED, ROLLED_BACK or FAILED. SUPERSEDED and ABORTED
 *   rollouts were stopped by a person or a newer image, not by a failure;
 *   REJECTED and EXPIRED ones by an approver's decision, or nobody's, at a
 *   gate (a rejected canary held before its promotion included); a staged
 *   rollout ROLLED_BACK before production (its staging failed: caught where
 *   it should be) deployed nothing to production; all these are left out and
 *   counted as `excluded`. PENDING/RUNNING ones have no outcome yet and are
 *   left out too. FAILED counts wherever it happened (the record may not say);
 * - time to restore: for each ROLLED_BACK or FAILED rollout, from failure
 *   detection to its endedAt (when the rollback completed). Failure
 *   detection is the earliest `judgedAt` of a FAIL verdict in any region;
 *   when there is none (a failed smoke test or deploy), the earliest
 *   `updatedAt` of a region that ended ROLLED_BACK or FAILED, bounded by
 *   endedAt; a record with neither is not counted. Median and mean, in seconds.
 */
import { rolledBackInProduction } from './alerts';
import type { RolloutRecord } from './records';

export interface DoraFigures {
  /** The rollouts the figures were computed from. */
  rollouts: number;
  window: { from: string | null; to: string; days: number };
  deploymentFrequency: { promoted: number; perDay: number };
  leadTime: { measured: number; medianSeconds: number | null; meanSeconds: number | null; measures: string };
  changeFailureRate: { failed: number; finished: number; rate: number | null; excluded: number };
  timeToRestore: {
    measured: number;
    medianSeconds: number | null;
    meanSeconds: number | null;
    measures: string;
  };
}

const DAY_MS = 86_400_000;

const LEAD_TIME_MEASURES = 'rollout createdAt (build/push event admitted) to endedAt (promoted)';
const TIME_TO_RESTORE_MEASURES = 'first FAIL verdict (or failed region) to endedAt (rollback complete)';

function ms(iso: string | undefined | null): number | undefined {
  if (!iso) return undefined;
  const t = Date.parse(iso);
  return Number.isFinite(t) ? t : undefined;
}

export function median(values: number[]): number | null {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function mean(values: number[]): number | null {
  return values.length ? values.reduce((a, b) => a + b, 0) / values.length : null;
}

const round = (n: number | null, digits = 3): number | null =>
  n === null ? null : Math.round(n * 10 ** digits) / 10 ** digits;

/** A change failure: FAILED, or rolled back in production (functions/domain/alerts.ts). */
function isFailure(r: RolloutRecord): boolean {
  return r.status === 'FAILED' || rolledBackInProduction(r);
}

/** Ended without a verdict on the change in production (see the header). */
const EXCLUDED: ReadonlySet<string> = new Set([
  'SUPERSEDED',
  'ABORTED',
  'REJECTED',
  'EXPIRED',
  'ROLLED_BACK',
]);

/** Lead time in seconds of a promoted rollout; undefined for any other. */
export function leadTimeSeconds(r: RolloutRecord): number | undefined {
  if (r.status !== 'PROMOTED') return undefined;
  const start = ms(r.createdAt);
  const end = ms(r.endedAt);
  return start !== undefined && end !== undefined && end >= start ? (end - start) / 1000 : undefined;
}

/** When the failure of a failed rollout was detected (ms), as documented above. */
export function failureDetectedAt(r: RolloutRecord): number | undefined {
  if (!isFailure(r)) return undefined;
  const verdicts: number[] = [];
  const regions: number[] = [];
  for (const region of Object.values(r.regions)) {
    for (const step of region.steps) {
      const t = ms(step.judgedAt);
      if (step.verdict === 'FAIL' && t !== undefined) verdicts.push(t);
    }
    const t = ms(region.updatedAt);
    if ((region.status === 'ROLLED_BACK' || region.status === 'FAILED') && t !== undefined) regions.push(t);
  }
  if (verdicts.length) return Math.min(...verdicts);
  if (!regions.length) return undefined;
  const end = ms(r.endedAt);
  const first = Math.min(...regions);
  return end !== undefined ? Math.min(first, end) : first;
}

/** Time to restore in seconds of a failed rollout; undefined for any other or without the timestamps. */
export function timeToRestoreSeconds(r: RolloutRecord): number | undefined {
  const detected = failureDetectedAt(r);
  const end = ms(r.endedAt);
  if (detected === undefined || end === undefined || end < detected) return undefined;
  return (end - detected) / 1000;
}

export function doraFigures(records: readonly RolloutRecord[], now: Date): DoraFigures {
  const created = records.map((r) => ms(r.createdAt)).filter((t): t is number => t !== undefined);
  const from = created.length ? Math.min(...created) : undefined;
  const days = from === undefined ? 1 : Math.max(1, (now.getTime() - from) / DAY_MS);
  const promoted = records.filter((r) => r.status === 'PROMOTED').length;
  const leads = records.map(leadTimeSeconds).filter((s): s is number => s !== undefined);
  const finished = records.filter((r) => r.status === 'PROMOTED' || isFailure(r)).length;
  const failed = records.filter(isFailure).length;
  const excluded = records.filter((r) => EXCLUDED.has(r.status) && !isFailure(r)).length;
  const restores = records.map(timeToRestoreSeconds).filter((s): s is number => s !== undefined);
  return {
    rollouts: records.length,
    window: {
      from: from === undefined ? null : new Date(from).toISOString(),
      to: now.toISOString(),
      days: round(days)!,
    },
    deploymentFrequency: { promoted, perDay: round(promoted / days)! },
    leadTime: {
      measured: leads.length,
      medianSeconds: round(median(leads)),
      meanSeconds: round(mean(leads)),
      measures: LEAD_TIME_MEASURES,
    },
    changeFailureRate: { failed, finished, rate: finished ? round(failed / finished, 4) : null, excluded },
    timeToRestore: {
      measured: restores.length,
      medianSeconds: round(median(restores)),
      meanSeconds: round(mean(restores)),
      measures: TIME_TO_RESTORE_MEASURES,
    },
  };
}
