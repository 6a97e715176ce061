/**
 * What the rollout workflow asks for, region by region (design brief §1):
 * deploy at 0%, smoke, shift, analyze, promote, rollback, complete.
 *
 * Every operation is idempotent (a workflow retry repeats it harmlessly)
 * and records state in Firestore *before* it moves traffic, so that a
 * rollback can always restore exactly what was recorded.
 */
import type {
  Clock,
  Fence,
  IdTokenSource,
  LookStore,
  MetricsSource,
  Notifier,
  ReportPublisher,
  ReportSource,
  RolloutStore,
  ServiceRef,
  TrafficRouter,
  WorkflowLauncher,
} from '../ports';
import { readPlan, stagePlan, type RolloutPlan } from '../domain/plan';
import { rolloutLabels } from '../domain/labels';
import {
  isTerminal,
  regionsStopTakesBack,
  type RegionRecord,
  type RolloutRecord,
  type RolloutStatus,
  type StopStatus,
} from '../domain/records';
import { judge, type Judgement } from '../domain/analysis/judge';
import {
  coveredSeconds,
  decideLook,
  LOOK_SECONDS,
  lookWindow,
  type LookAction,
} from '../domain/analysis/looks';
import {
  promoted,
  restored,
  servingSplit,
  shifted,
  stableRevision,
  trafficMap,
  withCandidateAtZero,
  type Share,
} from '../domain/traffic';
import * as slack from '../domain/slack';
import { GlidepathError } from '../shared/errors';
import type { Logger } from '../shared/log';
import { recordLook } from './looks';
import { publishReport } from './report';
import { rolloutAlerts } from '../domain/alerts';
import { startClaimedExecution } from './launch';

export interface RolloutDeps {
  store: RolloutStore;
  router: TrafficRouter;
  metrics: MetricsSource;
  /** What the judge saw at each look, for the report. */
  looks: LookStore;
  /** The report at the end of a rollout: made from Firestore, published where configured. */
  reportSource: ReportSource;
  reports?: ReportPublisher;
  notifier: Notifier;
  launcher: WorkflowLauncher;
  clock: Clock;
  log: Logger;
  /** Policy seconds per real second: 1 on GCP; the local cloud's --speed compresses time. */
  timeScale?: number;
  /** ID tokens of the actions identity: the smoke test calls a private service. */
  idTokens: IdTokenSource;
  /** Calls `url` once with the ID token and returns the HTTP status (smoke test). */
  probe(url: string, opts: { timeoutMs: number; idToken: string }): Promise<number>;
}

/** A stop: the rollout is no longer the active one; the workflow ends cleanly (HTTP 409). */
export class RolloutStopped extends Error {}

const OPERATION_TIMEOUT_MS = 5 * 60_000;

/**
 * The stored plan as the region runs it (a staged rollout's region: its
 * stage's project, steps and analysis); a corrupt one is a permanent error
 * that fails the region with the field named.
 */
function planOf(rollout: RolloutRecord, region: string): RolloutPlan {
  const read = readPlan(rollout);
  if ('corrupt' in read) throw new GlidepathError('invalid', read.corrupt);
  return stagePlan(read.plan, region);
}

/** The region's service; its project is the stage's (a rollback works even when the plan is corrupt). */
function refOf(rollout: RolloutRecord, region: string): ServiceRef {
  const read = readPlan(rollout);
  const project = 'plan' in read ? stagePlan(read.plan, region).project : rollout.project;
  return { project, region, service: rollout.service };
}

async function active(deps: RolloutDeps, rolloutId: string, executionId?: string): Promise<RolloutRecord> {
  const a = await deps.store.authorize(rolloutId, executionId);
  if ('stop' in a) throw new RolloutStopped(a.stop);
  return a.rollout;
}

/** A revision name of our own, so the new revision and its 0% tag land in one update. */
function candidateRevisionName(rollout: RolloutRecord): string {
  const suffix = rollout.id.slice(rollout.service.length + 1).replace(/[^a-z0-9-]/g, '');
  return `${rollout.service}-${suffix}`.slice(0, 63).replace(/-+$/, '');
}

type DeployOutcome =
  | { outcome: 'deployed'; candidate: string; stable: string | null; tagUrl: string }
  | { outcome: 'failed'; reason: string };

export async function deploy(
  deps: RolloutDeps,
  rolloutId: string,
  region: string,
  executionId?: string,
): Promise<DeployOutcome> {
  const rollout = await active(deps, rolloutId, executionId);
  const plan = planOf(rollout, region);
  const ref = refOf(rollout, region);
  const now = () => deps.clock.now();
  const existing = rollout.regions[region];
  const candidate = existing?.candidateRevision ?? candidateRevisionName(rollout);
  const failRegion = async (reason: string): Promise<DeployOutcome> => {
    await deps.store.updateRegion(
      rolloutId,
      region,
      now(),
      { status: 'FAILED', reason },
      { type: 'deploy_failed', message: reason },
    );
    return { outcome: 'failed', reason };
  };

  let snapshot = await deps.router.getService(ref);
  if (!snapshot) {
    const reason = `service ${rollout.service} not found in ${region}; create it first`;
    return failRegion(reason);
  }

  // One candidate per service and region: a superseded rollout's candidate goes first, and is
  // recorded as rolled back before the slot changes hands, so a retry after a crash in between
  // still finds the work to do.
  const holder = (await deps.store.getService(rollout.service))?.candidates[region];
  if (holder && holder !== rolloutId) {
    const superseded = await deps.store.getRollout(holder);
    if (superseded)
      await restoreRecordedSplit(
        deps,
        superseded,
        region,
        `superseded by ${rolloutId}`,
        takeoverFence(deps, rolloutId, region, holder, executionId),
      );
    snapshot = (await deps.router.getService(ref)) ?? snapshot;
  }
  await deps.store.claimRegion(rollout.service, region, rolloutId, now(), holder);

  // Record the stable revision and the exact split before anything moves.
  let recorded = existing?.recordedSplit;
  if (!recorded) {
    recorded = servingSplit(snapshot);
    const stable = stableRevision(recorded) ?? null;
    await deps.store.updateRegion(
      rolloutId,
      region,
      now(),
      {
        status: 'DEPLOYING',
        stableRevision: stable,
        recordedSplit: recorded,
        candidateRevision: candidate,
        traffic: trafficMap(snapshot.traffic, snapshot.latestReadyRevision),
      },
      { type: 'stable_recorded', message: `stable ${stable ?? '(none)'}; split ${JSON.stringify(recorded)}` },
    );
  }

  if (!snapshot.tagUrls[plan.revisionTag] || snapshot.latestCreatedRevision !== candidate) {
    try {
      snapshot = await deps.router.deployRevision(ref, {
        image: plan.image,
        revisionName: candidate,
        plan: (current) => withCandidateAtZero(current, candidate, plan.revisionTag),
        timeoutMs: OPERATION_TIMEOUT_MS,
        fence: liveFence(deps, rolloutId, region, executionId),
      });
    } catch (err) {
      if (!(err instanceof GlidepathError) || err.transient) throw err;
      const reason = `revision ${candidate} did not become ready: ${err.message}`;
      return failRegion(reason);
    }
  }
  const tagUrl = snapshot.tagUrls[plan.revisionTag] ?? '';
  await deps.store.updateRegion(
    rolloutId,
    region,
    now(),
    {
      status: 'SMOKE',
      candidateRevision: candidate,
      tagUrl,
      traffic: trafficMap(snapshot.traffic, snapshot.latestReadyRevision),
    },
    { type: 'deployed', message: `candidate ${candidate} at 0% on ${tagUrl}` },
  );
  deps.log.info('candidate deployed', { region, candidate, tagUrl });
  return { outcome: 'deployed', candidate, stable: stableRevision(recorded) ?? null, tagUrl };
}

export async function smoke(
  deps: RolloutDeps,
  rolloutId: string,
  region: string,
  executionId?: string,
): Promise<{ passed: boolean; reason: string }> {
  const rollout = await active(deps, rolloutId, executionId);
  const { smoke: s } = planOf(rollout, region);
  const record = rollout.regions[region];
  if (!record?.tagUrl)
    throw new GlidepathError('invalid', `region ${region} has no candidate to smoke-test; deploy first`);
  const url = record.tagUrl.replace(/\/$/, '') + s.path;
  // Cloud Run checks the token's audience against the service's URL (or a custom audience), not
  // the tag URL the request goes to (docs/deploy.md, "Calling the candidate").
  const service = await deps.router.getService(refOf(rollout, region));
  if (!service?.url)
    throw new GlidepathError(
      'not_found',
      `service ${rollout.service} in ${region} has no URL to take the smoke test's ID token audience from`,
    );
  const idToken = await deps.idTokens.idToken(service.url);
  const seen: string[] = [];
  for (let attempt = 1; attempt <= s.attempts; attempt++) {
    const status = await deps
      .probe(url, { timeoutMs: s.timeoutSeconds * 1000, idToken })
      .catch((err: Error) => err.message);
    seen.push(String(status));
    if (status === s.expectStatus) {
      const reason = `GET ${s.path} answered ${status} on attempt ${attempt}`;
      await deps.store.updateRegion(
        rolloutId,
        region,
        deps.clock.now(),
        { status: 'SHIFTING' },
        { type: 'smoke_passed', message: reason },
      );
      return { passed: true, reason };
    }
  }
  const reason = `smoke test failed: GET ${s.path} expected ${s.expectStatus}, got ${seen.join(', ')} in ${s.attempts} attempts`;
  await deps.store.updateRegion(
    rolloutId,
    region,
    deps.clock.now(),
    { reason },
    { type: 'smoke_failed', message: reason },
  );
  return { passed: false, reason };
}

export async function shift(
  deps: RolloutDeps,
  rolloutId: string,
  region: string,
  step: number,
  executionId?: string,
): Promise<{ percent: number; traffic: Record<string, number> }> {
  const rollout = await active(deps, rolloutId, executionId);
  const plan = planOf(rollout, region);
  const record = requireCandidate(rollout, region);
  const percent = plan.steps[step]?.percent;
  if (percent === undefined)
    throw new GlidepathError('invalid', `step: expected 0–${plan.steps.length - 1}, got ${step}`);
  if (!record.stableRevision)
    throw new GlidepathError('invalid', `region ${region} has no stable revision to shift from`);
  const snapshot = await deps.router.setTraffic(
    refOf(rollout, region),
    (current) =>
      shifted(current, record.stableRevision!, record.candidateRevision!, plan.revisionTag, percent),
    { timeoutMs: OPERATION_TIMEOUT_MS, fence: liveFence(deps, rolloutId, region, executionId) },
  );
  const traffic = trafficMap(snapshot.traffic, snapshot.latestReadyRevision);
  const steps = [...record.steps];
  // A retried shift keeps the step's original start: the analysis window must not shrink.
  steps[step] = steps[step] ?? {
    index: step,
    percent,
    reasons: [],
    extensions: 0,
    startedAt: deps.clock.now().toISOString(),
  };
  await deps.store.updateRegion(
    rolloutId,
    region,
    deps.clock.now(),
    { status: 'SHIFTING', traffic, steps },
    { type: 'shifted', step, message: `candidate at ${percent}%` },
  );
  return { percent, traffic };
}

/** What one look at a step decided (functions/domain/analysis/looks.ts). */
interface LookResult {
  /** PASS, FAIL and INCONCLUSIVE end the step; WATCH: look again in nextLookSeconds. */
  verdict: LookAction;
  reasons: string[];
  nextLookSeconds: number;
  /** PASS points (bake end, extension ends) passed without a PASS. */
  extensions: number;
  /** The judge's own verdict on the window, which the look may not act on yet. */
  judged: Judgement['verdict'];
  window: { start: string; end: string };
}

/**
 * One look at a step: judges the window from the region's first traffic
 * shift to Cloud Monitoring's ingestion delay ago (complete data only), then
 * decides what the look may act on: FAIL at any look, PASS at the end of the
 * bake or an extension (on the last step, once its last minute's data has
 * arrived). Keeps the look (window, verdict, action, reasons, series) for the report.
 */
export async function analyze(
  deps: RolloutDeps,
  rolloutId: string,
  region: string,
  step: number,
  executionId?: string,
): Promise<LookResult> {
  const rollout = await active(deps, rolloutId, executionId);
  const plan = planOf(rollout, region);
  const record = requireCandidate(rollout, region);
  const stepRecord = record.steps[step];
  const firstShift = record.steps[0]?.startedAt;
  if (!stepRecord?.startedAt || !firstShift)
    throw new GlidepathError('invalid', `step ${step} in ${region} has not started; shift first`);
  const now = deps.clock.now();
  const scale = deps.timeScale ?? 1;
  const window = lookWindow(new Date(firstShift), now, scale);
  const ref = refOf(rollout, region);
  const observe = (revision: string) =>
    window.complete
      ? deps.metrics.observe({ ...ref, revision }, { ...window, alignmentSeconds: LOOK_SECONDS })
      : Promise.resolve({ revision, intervals: [] });
  const [canary, stable] = await Promise.all([
    observe(record.candidateRevision!),
    record.stableRevision ? observe(record.stableRevision) : Promise.resolve(undefined),
  ]);
  const windowSeconds = ((window.end.getTime() - window.start.getTime()) / 1000) * scale;
  const elapsedSeconds = ((now.getTime() - new Date(stepRecord.startedAt).getTime()) / 1000) * scale;
  const judgement = judge({
    canary,
    ...(stable ? { stable } : {}),
    settings: plan.analysis,
    elapsedSeconds: Math.round(windowSeconds),
  });
  const outcome = decideLook({
    schedule: {
      bakeSeconds: plan.steps[step].bakeSeconds,
      last: step === plan.steps.length - 1,
      analysis: plan.analysis,
    },
    elapsedSeconds,
    passPointsTaken: stepRecord.passPointsTaken ?? 0,
    verdict: judgement.verdict,
    canaryRequests: judgement.figures.canary.requests,
    coveredSeconds: coveredSeconds(window, [canary, stable], scale),
    minRequests: plan.analysis.minRequests,
  });
  const reasons = outcome.gaveUp ? [outcome.gaveUp, ...judgement.reasons] : judgement.reasons;
  const tookPassPoint = outcome.passPointsTaken > (stepRecord.passPointsTaken ?? 0);
  const extensions = Math.max(0, outcome.passPointsTaken - (outcome.action === 'PASS' ? 1 : 0));
  const look = { windowStart: window.start.toISOString(), windowEnd: window.end.toISOString() };
  const steps = [...record.steps];
  steps[step] = {
    ...stepRecord,
    // A WATCH keeps the step's verdict, except that an INCONCLUSIVE at a PASS point extends the bake.
    ...(outcome.action !== 'WATCH'
      ? { verdict: outcome.action }
      : tookPassPoint
        ? { verdict: 'INCONCLUSIVE' as const }
        : {}),
    reasons,
    figures: JSON.parse(JSON.stringify(judgement.figures)),
    passPointsTaken: outcome.passPointsTaken,
    extensions,
    judgedAt: now.toISOString(),
  };
  const verdictText =
    outcome.action === judgement.verdict ? outcome.action : `${outcome.action} (judged ${judgement.verdict})`;
  await deps.store.updateRegion(
    rolloutId,
    region,
    now,
    { steps },
    {
      type: 'analyzed',
      step,
      message: `${verdictText} on ${look.windowStart}..${look.windowEnd}: ${reasons.join('; ')}`,
    },
  );
  await recordLook(deps, rolloutId, {
    region,
    step,
    percent: stepRecord.percent,
    at: now,
    windowStart: window.start,
    windowEnd: window.end,
    action: outcome.action,
    canary,
    ...(stable ? { stable } : {}),
    settings: plan.analysis,
    judgement: { verdict: judgement.verdict, reasons },
  });
  deps.log.info('step analyzed', {
    event: 'step_analyzed',
    service: rollout.service,
    region,
    step,
    verdict: outcome.action,
    judged: judgement.verdict,
    windowStart: look.windowStart,
    windowEnd: look.windowEnd,
    reasons,
  });
  return {
    verdict: outcome.action,
    reasons,
    nextLookSeconds: outcome.nextLookSeconds,
    extensions,
    judged: judgement.verdict,
    window: { start: look.windowStart, end: look.windowEnd },
  };
}

export async function promote(
  deps: RolloutDeps,
  rolloutId: string,
  region: string,
  executionId?: string,
): Promise<{ traffic: Record<string, number>; note?: string }> {
  const rollout = await active(deps, rolloutId, executionId);
  const plan = planOf(rollout, region);
  const record = requireCandidate(rollout, region);
  const snapshot = await deps.router.setTraffic(
    refOf(rollout, region),
    (current) => promoted(current, record.candidateRevision!, plan.revisionTag),
    { timeoutMs: OPERATION_TIMEOUT_MS, fence: liveFence(deps, rolloutId, region, executionId) },
  );
  const traffic = trafficMap(snapshot.traffic, snapshot.latestReadyRevision);
  const note = record.stableRevision
    ? undefined
    : 'no stable revision to compare against: promoted after the smoke test';
  await deps.store.updateRegion(
    rolloutId,
    region,
    deps.clock.now(),
    { status: 'PROMOTED', traffic, ...(note ? { reason: note } : {}) },
    { type: 'promoted', message: note ?? 'candidate at 100%' },
  );
  await deps.store.releaseRegion(
    rollout.service,
    region,
    rolloutId,
    deps.clock.now(),
    record.candidateRevision,
  );
  await deps.notifier.notify(slack.regionPromoted(rollout, region, record, note));
  deps.log.info('region promoted', { region, candidate: record.candidateRevision });
  return { traffic, ...(note ? { note } : {}) };
}

/**
 * Restores the recorded split in one region, whatever the rollout's status:
 * a superseded or aborted rollout's candidate must still be taken down. A
 * region whose slot another rollout holds is left alone.
 */
export async function rollbackRegion(
  deps: RolloutDeps,
  rolloutId: string,
  region: string,
  reason: string,
  opts: { includePromoted?: boolean; executionId?: string } = {},
): Promise<{ traffic: Record<string, number> | null }> {
  const rollout = await deps.store.getRollout(rolloutId);
  if (!rollout) throw new GlidepathError('not_found', `rollout ${rolloutId} not found`);
  const record = rollout.regions[region];
  if (isStaleExecution(deps, rollout, opts.executionId, 'rollback'))
    return { traffic: record?.traffic ?? null };
  const service = await deps.store.getService(rollout.service);
  const holder = service?.candidates[region];
  if (!record || (holder && holder !== rolloutId)) return { traffic: record?.traffic ?? null };
  if (record.status === 'PROMOTED' && !opts.includePromoted) return { traffic: record.traffic };
  // Already rolled back by a call that died before freeing the slot: just free it.
  let traffic: Record<string, number> | null = record.traffic;
  if (record.status !== 'ROLLED_BACK') {
    try {
      traffic = await restoreRecordedSplit(deps, rollout, region, reason, slotFence(deps, rollout, region));
    } catch (err) {
      // Another rollout took the region between our check and the write: it restores it now.
      if (err instanceof RolloutStopped) return { traffic: record.traffic };
      throw err;
    }
  }
  // A promoted region taken back serves its recorded stable revision again: that is the last good one now.
  const restoredGood = record.status === 'PROMOTED' ? (record.stableRevision ?? undefined) : undefined;
  await deps.store.releaseRegion(rollout.service, region, rolloutId, deps.clock.now(), restoredGood);
  return { traffic };
}

/** Puts the recorded split back, records it and tells Slack. The caller owns the region's slot (see `fence`). */
async function restoreRecordedSplit(
  deps: RolloutDeps,
  rollout: RolloutRecord,
  region: string,
  reason: string,
  fence: Fence,
): Promise<Record<string, number> | null> {
  const record = rollout.regions[region];
  // Nothing was deployed (e.g. the service does not exist there): nothing to restore.
  if (!record?.candidateRevision || record.status === 'ROLLED_BACK') return record?.traffic ?? null;
  let traffic: Record<string, number> | null = null;
  if (record.recordedSplit?.length && record.candidateRevision) {
    const recorded: Share[] = record.recordedSplit;
    const snapshot = await deps.router.setTraffic(
      refOf(rollout, region),
      (current) => restored(current, recorded),
      { timeoutMs: OPERATION_TIMEOUT_MS, fence },
    );
    traffic = trafficMap(snapshot.traffic, snapshot.latestReadyRevision);
  }
  await deps.store.updateRegion(
    rollout.id,
    region,
    deps.clock.now(),
    { status: 'ROLLED_BACK', reason, ...(traffic ? { traffic } : {}) },
    { type: 'rolled_back', message: reason },
  );
  await deps.notifier.notify(
    slack.regionRolledBack(rollout, region, { ...record, ...(traffic ? { traffic } : {}) }, reason),
  );
  deps.log.warn('region rolled back', { rolloutId: rollout.id, service: rollout.service, region, reason });
  return traffic;
}

/**
 * Ends the rollout, releases the lease and starts the next queued rollout, if
 * any. The end's notice pages (functions/domain/alerts.ts) for a rollback or a
 * rollout the sweeper recovered, and resolves the service's earlier alerts
 * when it promoted.
 */
export async function complete(
  deps: RolloutDeps,
  rolloutId: string,
  status: RolloutStatus,
  reason: string,
  executionId?: string,
  opts: { recoveredBySweeper?: boolean } = {},
): Promise<{ status: RolloutStatus }> {
  const current = await deps.store.getRollout(rolloutId);
  if (!current) throw new GlidepathError('not_found', `rollout ${rolloutId} not found`);
  if (isStaleExecution(deps, current, executionId, 'complete')) return { status: current.status };
  const { rollout, next } = await deps.store.finish(rolloutId, status, reason, deps.clock.now());
  deps.log.info('rollout finished', {
    event: 'rollout_finished',
    rolloutId,
    service: rollout.service,
    status: rollout.status,
    reason,
  });
  const ended = rollout.status === status;
  const alerts = ended
    ? rolloutAlerts(rollout, {
        recoveredBySweeper: opts.recoveredBySweeper === true,
        ...(status === 'PROMOTED' ? { earlier: await deps.reportSource.history(rollout.service, 20) } : {}),
      })
    : [];
  await deps.notifier.notify({
    ...slack.rolloutCompleted(rollout, await publishReport(deps, rolloutId)),
    ...(alerts.length ? { alerts } : {}),
  });
  if (next) await startQueued(deps, next);
  return { status: rollout.status };
}

/**
 * Starts the execution of the rollout that `finish` handed the service's
 * lease to, under its launch claim: a retried complete or a redelivered stop
 * starts it once (a rollout already started, or being started, is left alone).
 */
async function startQueued(deps: RolloutDeps, next: RolloutRecord): Promise<string | undefined> {
  if (!(await deps.store.claimLaunch(next.id, deps.clock.now()))) return undefined;
  const executionName = await startClaimedExecution(deps, next.id, () =>
    deps.launcher.start('rollout', next.plan, rolloutLabels(next)),
  );
  deps.log.info('queued rollout started', { rolloutId: next.id, executionName });
  return next.id;
}

/** Aborts a rollout: stop its execution, then take every region not promoted back to the recorded split. */
export async function abort(deps: RolloutDeps, rolloutId: string, by: string): Promise<RolloutRecord> {
  return (await stopRollout(deps, rolloutId, 'ABORTED', `aborted by ${by}`)).rollout;
}

/**
 * Stops a rollout from outside its workflow, in-process (the CLI's
 * `glidepath abort`): records the stop, then settles it. Slack's buttons do
 * the two halves apart (functions/usecases/interactions.ts): the record
 * within the click's request, the settling in the rollout-stops worker.
 */
export async function stopRollout(
  deps: RolloutDeps,
  rolloutId: string,
  status: StopStatus,
  reason: string,
): Promise<{ rollout: RolloutRecord; stopped: boolean }> {
  const { rollout, stopped } = await recordStop(deps, rolloutId, status, reason);
  if (!stopped) return { rollout, stopped };
  const settled = await settleStop(deps, { rolloutId, status, reason });
  return { rollout: 'rollout' in settled ? settled.rollout : rollout, stopped };
}

/**
 * The fast, durable half of a stop: cancels the execution and ends the
 * rollout with `status` and `reason` (once: `stopped` is false when it had
 * already ended, or a concurrent stop ended it first). Moves no traffic.
 * The lease passes to a queued rollout, which settleStop starts.
 */
export async function recordStop(
  deps: Pick<RolloutDeps, 'store' | 'launcher' | 'clock'>,
  rolloutId: string,
  status: StopStatus,
  reason: string,
): Promise<{ rollout: RolloutRecord; stopped: boolean }> {
  const rollout = await deps.store.getRollout(rolloutId);
  if (!rollout) throw new GlidepathError('not_found', `rollout ${rolloutId} not found`);
  if (isTerminal(rollout.status)) return { rollout, stopped: false };
  if (rollout.executionName) await deps.launcher.cancel(rollout.executionName);
  const { rollout: ended } = await deps.store.finish(rolloutId, status, reason, deps.clock.now());
  // Stopped by this call: the end recorded is this one (not a concurrent stop's or the workflow's).
  return { rollout: ended, stopped: ended.status === status && ended.outcomeReason === reason };
}

/**
 * What settling a stop did; `unchanged` when the record does not hold that
 * stop. `restored`: the regions this stop took back (whichever delivery did);
 * `posted`: this call posted the end (the first to settle it).
 */
type Settlement =
  | { kind: 'settled'; rollout: RolloutRecord; restored: string[]; posted: boolean; started?: string }
  | { kind: 'unchanged'; reason: string };

/**
 * The slow half of a stop, safe to repeat: takes the regions back to the
 * recorded split (those not promoted for ABORTED, every region it touched for
 * ROLLED_BACK, "Roll back now"), posts the end with its report once, and
 * starts the rollout the lease passed to. Only for the stop the record holds:
 * a rollout that ended otherwise (promoted, rolled back by its workflow, a
 * different stop) is left as it is. A region already rolled back is not
 * restored again, nor posted again (rollbackRegion).
 */
export async function settleStop(
  deps: RolloutDeps,
  stop: { rolloutId: string; status: StopStatus; reason: string },
): Promise<Settlement> {
  const rollout = await deps.store.getRollout(stop.rolloutId);
  if (!rollout) return { kind: 'unchanged', reason: `rollout ${stop.rolloutId} not found` };
  if (rollout.status !== stop.status || rollout.outcomeReason !== stop.reason)
    return {
      kind: 'unchanged',
      reason: `rollout ${rollout.id} ended ${rollout.status} (${rollout.outcomeReason ?? 'no reason'}), not by this stop`,
    };
  const includePromoted = stop.status === 'ROLLED_BACK';
  for (const region of regionsStopTakesBack(rollout, stop.status))
    await rollbackRegion(deps, rollout.id, region, stop.reason, { includePromoted });
  const final = (await deps.store.getRollout(rollout.id))!;
  // Rolled back with this stop's reason, by this delivery or an earlier one of the same stop.
  const restored = Object.keys(final.regions).filter(
    (r) => final.regions[r].status === 'ROLLED_BACK' && final.regions[r].reason === stop.reason,
  );
  // Its end is told as every rollout's is, with the report of what the judge saw until the stop. No
  // page: a person stopped it and is there (functions/domain/alerts.ts pages for what nobody watched).
  const posted = await deps.store.claimEndNotice(rollout.id, deps.clock.now());
  if (posted)
    await deps.notifier.notify(slack.rolloutCompleted(final, await publishReport(deps, rollout.id)));
  // The lease went to the rollout queued behind this one: start it, as completing a rollout does.
  const holder = (await deps.store.getService(rollout.service))?.activeRollout;
  const next = holder && holder !== rollout.id ? await deps.store.getRollout(holder) : undefined;
  const started = next ? await startQueued(deps, next) : undefined;
  return { kind: 'settled', rollout: final, restored, posted, ...(started ? { started } : {}) };
}

/**
 * The fence of a live action's traffic write (see ports.Fence): the rollout
 * is still active, driven by this execution, and holds the region's slot.
 */
function liveFence(deps: RolloutDeps, rolloutId: string, region: string, executionId?: string): Fence {
  return async () => {
    const a = await deps.store.authorize(rolloutId, executionId);
    if ('stop' in a) throw new RolloutStopped(a.stop);
    const holder = a.service.candidates[region];
    if (holder !== rolloutId)
      throw new RolloutStopped(
        `rollout ${rolloutId} no longer holds the ${region} candidate slot of ${a.rollout.service} (${holder ?? 'free'})`,
      );
  };
}

/** The fence of a takeover's restore: this rollout is live and the region's slot is still `from`'s. */
function takeoverFence(
  deps: RolloutDeps,
  rolloutId: string,
  region: string,
  from: string,
  executionId?: string,
): Fence {
  return async () => {
    const a = await deps.store.authorize(rolloutId, executionId);
    if ('stop' in a) throw new RolloutStopped(a.stop);
    if (a.service.candidates[region] !== from)
      throw new RolloutStopped(`the ${region} candidate slot of ${a.rollout.service} is no longer ${from}'s`);
  };
}

/** The fence of a rollback's write: the region's slot is still this rollout's (or free). */
function slotFence(deps: RolloutDeps, rollout: RolloutRecord, region: string): Fence {
  return async () => {
    const holder = (await deps.store.getService(rollout.service))?.candidates[region];
    if (holder && holder !== rollout.id)
      throw new RolloutStopped(`region ${region} of ${rollout.service} now belongs to rollout ${holder}`);
  };
}

/**
 * A call from a workflow execution that does not drive this live rollout: a
 * second execution started by an intake redelivery after a crash. Its
 * rollback or completion must not undo what the driving execution does.
 */
function isStaleExecution(
  deps: RolloutDeps,
  rollout: RolloutRecord,
  executionId: string | undefined,
  action: string,
): boolean {
  const stale = Boolean(
    executionId &&
    rollout.executionName &&
    !isTerminal(rollout.status) &&
    !rollout.executionName.endsWith(`/${executionId}`),
  );
  if (stale)
    deps.log.warn(`${action} from a stale execution ignored`, {
      rolloutId: rollout.id,
      executionId,
      drivenBy: rollout.executionName,
    });
  return stale;
}

function requireCandidate(
  rollout: RolloutRecord,
  region: string,
): RegionRecord & { candidateRevision: string } {
  const record = rollout.regions[region];
  if (!record?.candidateRevision)
    throw new GlidepathError('invalid', `region ${region} has no candidate; deploy first`);
  return record as RegionRecord & { candidateRevision: string };
}
