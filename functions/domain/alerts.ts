/**
 * What wakes people up (issue 16), as pager alerts on a notice
 * (ports.PagerAlert; sent by functions/adapters/pagerduty.ts): a rollout
 * rolled back in production, a rollout the sweeper had to recover, a job run
 * that failed for good and was dead-lettered. Each alert's `dedupKey` names
 * its rollout or job run, so a later rollout of the service that promotes
 * resolves exactly the alerts its predecessors raised.
 */
import type { PagerAlert } from '../ports';
import type { JobRunRecord } from './jobs';
import { readPlan } from './plan';
import type { RolloutRecord } from './records';

const rolloutDedupKey = (rolloutId: string): string => `glidepath/rollout/${rolloutId}`;
const jobRunDedupKey = (runId: string): string => `glidepath/job-run/${runId}`;

const serviceSource = (r: Pick<RolloutRecord, 'project' | 'service'>): string =>
  `run.googleapis.com/projects/${r.project}/services/${r.service}`;

/**
 * True when the rollout rolled back in production. Production is a staged
 * service's last stage (the one whose project and waves are the service's
 * own, policy.ts), marked `production` in the plan (a manual request for
staging's regions alone keeps only staging, unmarked); a rollback confined to an
 * earlier stage (staging) wakes nobody: the thread says it. A service without
 * stages is all production, and so is a plan that cannot be read (a page too
 * many beats a missed one).
 */
export function rolledBackInProduction(rollout: RolloutRecord): boolean {
  if (rollout.status !== 'ROLLED_BACK') return false;
  const read = readPlan(rollout);
  const stages = 'plan' in read ? read.plan.stages : undefined;
  if (!stages) return true;
  // A plan stored before stages were marked: its last stage is production.
  const production = stages.every((stage) => stage.production === undefined)
    ? stages.slice(-1)
    : stages.filter((stage) => stage.production);
  return production.some((stage) =>
    stage.waves.some((wave) =>
      wave.regions.some((region) => rollout.regions[region]?.status === 'ROLLED_BACK'),
    ),
  );
}

/** Whether an ended rollout may have raised an alert that a later promotion resolves. */
const mayHaveAlerted = (r: RolloutRecord): boolean => r.status === 'FAILED' || rolledBackInProduction(r);

/**
 * The alerts of a rollout that has just ended: a trigger when it rolled back
 * or the sweeper recovered it; when it promoted, a resolve for each earlier
 * rollout of the service (`earlier`, newest first) back to the last one that
 * promoted, since the service is healthy again.
 */
export function rolloutAlerts(
  rollout: RolloutRecord,
  opts: { recoveredBySweeper?: boolean; earlier?: RolloutRecord[] } = {},
): PagerAlert[] {
  const details = {
    rolloutId: rollout.id,
    service: rollout.service,
    image: rollout.image,
    status: rollout.status,
    reason: rollout.outcomeReason ?? '',
    regions: Object.entries(rollout.regions)
      .map(([region, r]) => `${region}: ${r.status}`)
      .join(', '),
  };
  if (rolledBackInProduction(rollout))
    return [
      {
        action: 'trigger',
        dedupKey: rolloutDedupKey(rollout.id),
        summary: `${rollout.service}: rollout ${rollout.id} rolled back in production${rollout.outcomeReason ? `: ${rollout.outcomeReason}` : ''}`,
        severity: 'critical',
        source: serviceSource(rollout),
        component: rollout.service,
        details,
      },
    ];
  if (opts.recoveredBySweeper)
    return [
      {
        action: 'trigger',
        dedupKey: rolloutDedupKey(rollout.id),
        summary: `${rollout.service}: rollout ${rollout.id} was stuck and recovered by the sweeper${rollout.outcomeReason ? `: ${rollout.outcomeReason}` : ''}`,
        severity: 'error',
        source: serviceSource(rollout),
        component: rollout.service,
        details,
      },
    ];
  if (rollout.status !== 'PROMOTED') return [];
  const earlier = opts.earlier ?? [];
  const resolves: PagerAlert[] = [];
  // Only rollouts older than this one: the list may start with newer ones (queued behind it).
  for (const before of earlier.slice(earlier.findIndex((r) => r.id === rollout.id) + 1)) {
    if (before.status === 'PROMOTED') break;
    if (mayHaveAlerted(before)) resolves.push({ action: 'resolve', dedupKey: rolloutDedupKey(before.id) });
  }
  return resolves;
}

/** A job run that failed for good: its dead letter is recorded, and someone should look. */
export function jobRunDeadLettered(run: JobRunRecord, deadLetterId: string | undefined): PagerAlert {
  const last = run.attempts[run.attempts.length - 1];
  return {
    action: 'trigger',
    dedupKey: jobRunDedupKey(run.id),
    summary: `job ${run.job} failed after ${run.attempts.length} attempt(s) and was dead-lettered${last?.error ? `: ${last.error}` : ''}`,
    severity: 'error',
    source: `run.googleapis.com/projects/${run.project}/locations/${run.region}/jobs/${run.job}`,
    component: run.job,
    details: {
      jobRunId: run.id,
      job: run.job,
      attempts: String(run.attempts.length),
      deadLetterId: deadLetterId ?? '',
      ...(last?.failureClass ? { failureClass: last.failureClass } : {}),
    },
  };
}
