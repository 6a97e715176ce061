/**
 * Intake: a Pub/Sub message becomes rollouts, an ignore, or a recorded
 * rejection. Every message ends in exactly one of those three outcomes;
 * transient failures throw so that Pub/Sub redelivers.
 */
import { createHash } from 'node:crypto';
import type {
  Admission,
  Clock,
  JobRolloutStore,
  MetricsSource,
  Notifier,
  RolloutStore,
  WorkflowLauncher,
} from '../ports';
import type { Policy } from '../domain/policy';
import type { PubsubMessage } from '../domain/messages';
import { decideIntake } from '../domain/intake';
import { rolloutLabels } from '../domain/labels';
import { buildPlan, readPlan, rolloutId, type RolloutPlan, type RolloutRequest } from '../domain/plan';
import type { RolloutRecord } from '../domain/records';
import * as slack from '../domain/slack';
import { minRequestsReach, quietestRecentRate, recentTrafficWindow } from '../domain/analysis/reach';
import type { Logger } from '../shared/log';
import { recordRejection, type DeadLetterDeps } from './dead-letter';
import { admitJobRollout, type JobRolloutAdmission } from './job-rollout';
import { startClaimedExecution } from './launch';

export interface IntakeDeps {
  policy: Policy;
  store: Pick<RolloutStore, 'admit' | 'claimLaunch' | 'releaseLaunch' | 'recordExecution' | 'finish'>;
  /** Job image rollouts: pushes of a job's repository (docs/jobs.md). */
  jobRollouts: Pick<JobRolloutStore, 'create' | 'claimLaunch' | 'releaseLaunch' | 'recordExecution'>;
  /** Where rejected messages are recorded (shared with the job trigger). */
  deadLetters: DeadLetterDeps['store'];
  launcher: WorkflowLauncher;
  notifier: Notifier;
  clock: Clock;
  log: Logger;
  dedupTtlSeconds: number;
  /** For the start message's traffic check: the service's recent request rate. */
  metrics: Pick<MetricsSource, 'serviceRequests'>;
  /** Divides policy time on the local cloud (1 on GCP). */
  timeScale: number;
}

interface IntakeResult {
  outcome: 'rollout' | 'ignored' | 'rejected';
  reason: string;
  /** `resumed`: a redelivery started the execution that an earlier delivery admitted but failed to start. */
  rollouts: Array<{ id: string; service: string; status: string; admission: Admission['kind'] | 'resumed' }>;
  /** Job image rollouts this message started (or found already started: `duplicate`). */
  jobRollouts: JobRolloutAdmission[];
}

/** The dedup key: (service, digest) for images, the message itself for manual requests. */
function dedupKey(request: RolloutRequest, messageId: string | undefined, data: string | undefined): string {
  const identity =
    request.source === 'manual'
      ? `manual|${request.service.name}|${
          messageId ??
          createHash('sha256')
            .update(data ?? '')
            .digest('hex')
        }`
      : `image|${request.service.name}|${request.digest}`;
  return createHash('sha256').update(identity).digest('hex').slice(0, 40);
}

export async function handleIntake(
  deps: IntakeDeps,
  topic: string | undefined,
  message: PubsubMessage,
): Promise<IntakeResult> {
  const messageId = message.messageId ?? message.message_id;
  const log = deps.log.child({ messageId, topic });
  const decision = decideIntake(deps.policy, topic, message);

  if (decision.outcome === 'rejected') {
    await recordRejection({ ...deps, store: deps.deadLetters }, topic ?? 'unknown', message, decision.reason);
    log.warn('message rejected', { outcome: 'rejected', reason: decision.reason });
    return { outcome: 'rejected', reason: decision.reason, rollouts: [], jobRollouts: [] };
  }
  if (decision.outcome === 'ignored') {
    log.info('message ignored', { outcome: 'ignored', reason: decision.reason });
    return { outcome: 'ignored', reason: decision.reason, rollouts: [], jobRollouts: [] };
  }

  const rollouts: IntakeResult['rollouts'] = [];
  const notes: string[] = [];
  for (const request of decision.requests) {
    const { admission, resumed } = await admitOne(deps, request, messageId, message.data, log);
    const r = admission.kind === 'ignored' ? admission.active : admission.rollout;
    const kind = resumed ? 'resumed' : admission.kind;
    rollouts.push({ id: r.id, service: r.service, status: r.status, admission: kind });
    // Duplicates and ignores say why; started, queued and resumed rollouts name themselves.
    notes.push('reason' in admission && !resumed ? admission.reason : `${kind} ${r.id}`);
  }
  const jobRollouts: JobRolloutAdmission[] = [];
  for (const request of decision.jobRequests) {
    const admitted = await admitJobRollout(
      { store: deps.jobRollouts, launcher: deps.launcher, clock: deps.clock, log },
      request,
      messageId,
    );
    jobRollouts.push(admitted);
    notes.push(
      admitted.admission === 'duplicate'
        ? `duplicate: job rollout ${admitted.id} of ${request.job.name} exists (${admitted.status})`
        : `${admitted.admission} job rollout ${admitted.id}`,
    );
  }
  const startedAny =
    rollouts.some((r) => r.admission !== 'duplicate' && r.admission !== 'ignored') ||
    jobRollouts.some((r) => r.admission !== 'duplicate');
  const outcome = startedAny ? 'rollout' : 'ignored';
  const reason = notes.join('; ');
  log.info(startedAny ? 'rollout admitted' : 'message ignored', {
    outcome,
    reason,
    rollouts: rollouts.map((r) => r.id),
    jobRollouts: jobRollouts.map((r) => r.id),
  });
  return { outcome, reason, rollouts, jobRollouts };
}

async function admitOne(
  deps: IntakeDeps,
  request: RolloutRequest,
  messageId: string | undefined,
  data: string | undefined,
  parentLog: Logger,
): Promise<{ admission: Admission; resumed: boolean }> {
  const now = deps.clock.now();
  const id = rolloutId(request.service.name, request.digest, now);
  const plan = buildPlan(request, id);
  const admission = await deps.store.admit({
    rollout: {
      id,
      service: request.service.name,
      project: request.service.project,
      image: plan.image,
      digest: request.digest,
      source: request.source,
      plan: { ...plan },
      ...(request.tag ? { tag: request.tag } : {}),
      ...(messageId ? { messageId } : {}),
      ...(request.reason ? { reason: request.reason } : {}),
      ...(request.requestedBy ? { requestedBy: request.requestedBy } : {}),
      ...(request.commit ? { commit: request.commit } : {}),
      ...(request.buildId ? { buildId: request.buildId } : {}),
      ...(request.logUrl ? { logUrl: request.logUrl } : {}),
    },
    dedupKey: dedupKey(request, messageId, data),
    onNewImage: request.service.onNewImage,
    now,
    dedupTtlSeconds: deps.dedupTtlSeconds,
  });
  const channel = request.service.slack?.channel;
  const log = parentLog.child({ service: request.service.name });

  if (admission.kind === 'started') {
    await launch(deps, admission.rollout, plan, log, channel);
    if (admission.superseded) {
      const old = admission.superseded;
      // The old execution is not cancelled: at its next action it gets HTTP 409 and
      // takes its own candidates down in the regions the new rollout has not reached.
      await deps.notifier.notify(slack.rolloutSuperseded(old, admission.rollout, channel));
      log.info('rollout superseded', { rolloutId: old.id, supersededBy: admission.rollout.id });
    }
  } else if (admission.kind === 'queued') {
    await deps.notifier.notify(slack.rolloutQueued(admission.rollout, admission.behind, channel));
  } else if (admission.kind === 'duplicate') {
    // A delivery that crashed between admitting and starting leaves a PENDING
    // rollout with no execution: the redelivery finishes the job.
    const r = admission.rollout;
    if (
      r.status === 'PENDING' &&
      !r.executionName &&
      !r.queuedBehind &&
      (await deps.store.claimLaunch(r.id, deps.clock.now()))
    ) {
      const stored = readPlan(r);
      if ('corrupt' in stored) {
        // Redelivering cannot mend it: the rollout ends here, with the field named.
        await deps.store.finish(r.id, 'FAILED', stored.corrupt, deps.clock.now());
        log.error('rollout not started: corrupt plan', { rolloutId: r.id, reason: stored.corrupt });
        return { admission, resumed: false };
      }
      await launch(deps, r, stored.plan, log, channel);
      return { admission, resumed: true };
    }
  }
  return { admission, resumed: false };
}

/** Starts the rollout's execution; the caller holds the launch claim. */
async function launch(
  deps: IntakeDeps,
  rollout: RolloutRecord,
  plan: RolloutPlan,
  log: Logger,
  channel?: string,
): Promise<void> {
  const executionName = await startClaimedExecution(deps, rollout.id, () =>
    deps.launcher.start('rollout', plan, rolloutLabels(rollout)),
  );
  log.info('rollout started', { rolloutId: rollout.id, executionName, image: rollout.image });
  const traffic = await recentTraffic(deps, rollout, plan, log);
  await deps.notifier.notify(slack.rolloutStarted(rollout, plan, channel, traffic));
}

/**
 * The first wave's quietest region's request rate over the past hour, and
 * whether each step can reach minRequests with it (domain/analysis/reach.ts).
 * Never fails the start: an unreadable Monitoring is said in the message.
 * It never holds the start long either: serviceRequests answers or fails
 * within its own deadline (the port's promise).
 */
async function recentTraffic(
  deps: IntakeDeps,
  rollout: RolloutRecord,
  plan: RolloutPlan,
  log: Logger,
): Promise<slack.TrafficNote> {
  const window = recentTrafficWindow(deps.clock.now().getTime(), deps.timeScale);
  try {
    const counts = await Promise.all(
      (plan.waves[0]?.regions ?? []).map(async (region) => ({
        region,
        traffic: await deps.metrics.serviceRequests(
          { project: rollout.project, region, service: rollout.service },
          window,
        ),
      })),
    );
    const { region, perMinute } = quietestRecentRate(counts, window, deps.timeScale);
    return { region, reach: minRequestsReach(plan.steps, plan.analysis, perMinute) };
  } catch (err) {
    log.warn('recent traffic unknown; start message sent without the minRequests check', {
      rolloutId: rollout.id,
      error: (err as Error).message,
    });
    return { unknown: (err as Error).message };
  }
}
