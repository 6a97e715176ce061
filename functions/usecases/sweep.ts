/**
 * The stuck-rollout sweeper (issue #9), run by Cloud Scheduler. It walks
 * every service's lease and candidate slots; a rollout that holds one but
 * that no live workflow execution drives any more is brought to the safe
 * state: its execution cancelled if it is merely silent, every region it
 * holds restored to the recorded split, the rollout ended as FAILED with
 * the reason, and Slack told. It also re-sends Slack notices that waited
 * in the outbox. Running it twice at once is harmless: every step is the
 * same idempotent, slot-checked operation the workflow itself uses.
 */
import { diagnose, isUnsettledStop, type SweepSettings } from '../domain/sweep';
import { readPlan } from '../domain/plan';
import { isRegionBusy } from '../domain/records';
import type { FlushReport, NoticeOutbox } from '../ports';
import { complete, rollbackRegion, settleStop, type RolloutDeps } from './rollout';

export interface SweepDeps extends RolloutDeps {
  outbox: NoticeOutbox;
  settings: SweepSettings;
}

interface SweptRollout {
  rolloutId: string;
  service: string;
  reason: string;
  regions: string[];
}

export interface SweepReport {
  checked: number;
  recovered: SweptRollout[];
  /** Rollouts that could not be recovered this time (retried at the next sweep). */
  errors: Array<{ rolloutId: string; error: string }>;
  outbox: FlushReport;
}

export async function sweep(deps: SweepDeps): Promise<SweepReport> {
  const report: SweepReport = { checked: 0, recovered: [], errors: [], outbox: { delivered: 0, pending: 0 } };
  for (const service of await deps.store.listServices()) {
    const holders = new Set([service.activeRollout, ...Object.values(service.candidates)]);
    for (const rolloutId of holders) {
      if (!rolloutId) continue;
      report.checked++;
      try {
        const swept = await sweepRollout(deps, rolloutId);
        if (swept) report.recovered.push(swept);
      } catch (err) {
        report.errors.push({ rolloutId, error: (err as Error).message });
        deps.log.error('sweep of a rollout failed; retried at the next sweep', {
          rolloutId,
          error: (err as Error).message,
        });
      }
    }
  }
  report.outbox = await deps.outbox.flush();
  return report;
}

async function sweepRollout(deps: SweepDeps, rolloutId: string): Promise<SweptRollout | undefined> {
  const rollout = await deps.store.getRollout(rolloutId);
  if (!rollout) return undefined;
  const execution = rollout.executionName ? await deps.launcher.state(rollout.executionName) : undefined;
  const diagnosis = diagnose(rollout, execution, deps.clock.now(), deps.settings);
  if (!diagnosis.stuck) return undefined;

  const log = deps.log.child({ rolloutId, service: rollout.service });
  log.warn('stuck rollout found; restoring the safe state', { reason: diagnosis.reason });
  // Settled as the rollout-stops worker would have: its regions (promoted ones too for Roll back now,
  // as far as this rollout still holds them), its end posted once, the queued rollout started.
  if (isUnsettledStop(rollout, execution)) {
    const stop = { rolloutId, status: rollout.status, reason: rollout.outcomeReason };
    const settled = await settleStop(deps, stop);
    if (settled.kind === 'settled')
      return {
        rolloutId,
        service: rollout.service,
        reason: `settled a stop whose rollout-stops message never arrived: ${stop.reason}`,
        regions: settled.restored,
      };
  }
  if (diagnosis.cancelExecution && rollout.executionName) await deps.launcher.cancel(rollout.executionName);

  const reason = `recovered by the sweeper: ${diagnosis.reason}`;
  // A corrupt plan says nothing reliable about promoted regions: they are left as they are.
  const stored = readPlan(rollout);
  const includePromoted = 'plan' in stored && stored.plan.rollbackPromotedRegions;
  const service = await deps.store.getService(rollout.service);
  const regions = Object.keys(rollout.regions).filter(
    (r) =>
      service?.candidates[r] === rolloutId ||
      isRegionBusy(rollout.regions[r].status) ||
      (includePromoted && diagnosis.finish && rollout.regions[r].status === 'PROMOTED'),
  );
  for (const region of regions) await rollbackRegion(deps, rolloutId, region, reason, { includePromoted });
  if (diagnosis.finish)
    await complete(deps, rolloutId, 'FAILED', reason, undefined, { recoveredBySweeper: true });
  return { rolloutId, service: rollout.service, reason: diagnosis.reason, regions };
}
