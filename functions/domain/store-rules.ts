/**
 * What a store decides, as pure functions of the records it has read. The
 * Firestore adapters apply them inside one transaction; the in-memory stores
 * of the fast tests apply them under JavaScript's single thread. Both run the
 * same contract suite (test/integration/store-contract.test.ts), and the rules
 * live here once, so the fake cannot drift from the real store.
 */
import type {
  AdmitInput,
  Admission,
  AttemptClaim,
  Authorization,
  ReplayClaim,
  RolloutEvent,
  VerifyClaim,
} from '../ports';
import { GlidepathError } from '../shared/errors';
import type { JobAttempt, JobRunRecord, JobRunStatus } from './jobs';
import type { JobRegionRecord, JobRolloutRecord } from './job-rollout';
import {
  RegionRecord,
  RolloutRecord,
  ServiceRecord,
  isTerminal,
  type DeadLetterRecord,
  type RolloutStatus,
} from './records';
import { parseOrThrow } from './validation';

/** How long one delivery (or one action call) may hold the right to start something before another may take over. */
const CLAIM_MS = 30_000;

/** A record that a delivery starts an execution for: a rollout or a job run. */
interface Launchable {
  status: string;
  executionName?: string;
  queuedBehind?: string;
  launchClaimedAt?: string | null;
}

/**
 * Whether this caller should start the record's execution now (and so claim
 * it): only a PENDING record with no execution, not queued. A fresh claim by
 * another delivery is a conflict (transient), so Pub/Sub redelivers later.
 */
export function mayClaimLaunch(what: string, record: Launchable, now: Date): boolean {
  if (record.status !== 'PENDING' || record.executionName || record.queuedBehind) return false;
  if (record.launchClaimedAt && now.getTime() - Date.parse(record.launchClaimedAt) < CLAIM_MS)
    throw new GlidepathError('conflict', `${what} is being started by another delivery; retry later`);
  return true;
}

/** The status a record moves to once its execution is recorded: a PENDING one is RUNNING from then on. */
export function statusWithExecution<S extends string>(status: S): S | 'RUNNING' {
  return status === 'PENDING' ? 'RUNNING' : status;
}

// Rollouts and services.

/** The (service, digest) deduplication entry of an admission. */
export interface DedupEntry {
  rolloutId: string;
  expiresAt: Date;
}

/** What `admit` reads: the dedup entry and its rollout, the service and its active rollout. */
interface AdmissionReads {
  dedup?: DedupEntry;
  dedupRollout?: RolloutRecord;
  service?: ServiceRecord;
  active?: RolloutRecord;
}

/** What `admit` writes: rollouts (whole), the service (whole), the dedup entry and events. */
export interface StoreWrites {
  rollouts: RolloutRecord[];
  service?: ServiceRecord;
  dedup?: DedupEntry;
  events: Array<{ rolloutId: string; event: RolloutEvent }>;
}

const NO_WRITES: StoreWrites = { rollouts: [], events: [] };

export function admission(
  input: AdmitInput,
  reads: AdmissionReads,
): { admission: Admission; writes: StoreWrites } {
  const nowIso = input.now.toISOString();
  const { dedup, dedupRollout } = reads;
  if (dedup && dedup.expiresAt > input.now && dedupRollout)
    return {
      admission: {
        kind: 'duplicate',
        rollout: dedupRollout,
        reason: `same image already admitted as rollout ${dedupRollout.id} (${dedupRollout.status})`,
      },
      writes: NO_WRITES,
    };
  const service =
    reads.service ??
    parseOrThrow(ServiceRecord, { name: input.rollout.service, updatedAt: nowIso }, 'new service');
  const running = reads.active && !isTerminal(reads.active.status) ? reads.active : undefined;
  const fresh = (extra: Partial<RolloutRecord>): RolloutRecord =>
    parseOrThrow(
      RolloutRecord,
      { ...input.rollout, status: 'PENDING', createdAt: nowIso, updatedAt: nowIso, ...extra },
      'new rollout',
    );
  const dedupEntry = {
    rolloutId: input.rollout.id,
    expiresAt: new Date(input.now.getTime() + input.dedupTtlSeconds * 1000),
  };

  if (running && running.digest === input.rollout.digest)
    return {
      admission: {
        kind: 'duplicate',
        rollout: running,
        reason: `rollout ${running.id} of this image is already ${running.status}`,
      },
      writes: NO_WRITES,
    };
  if (running && input.onNewImage === 'ignore')
    return {
      admission: {
        kind: 'ignored',
        reason: `rollout ${running.id} of ${running.service} is running and onNewImage is "ignore"`,
        active: running,
      },
      writes: NO_WRITES,
    };
  if (running && input.onNewImage === 'queue') {
    const rollout = fresh({ queuedBehind: running.id });
    return {
      admission: { kind: 'queued', rollout, behind: running.id },
      writes: {
        rollouts: [rollout],
        service: { ...service, queue: [...service.queue, rollout.id], updatedAt: nowIso },
        dedup: dedupEntry,
        events: [
          {
            rolloutId: rollout.id,
            event: { type: 'queued', message: `queued behind rollout ${running.id}` },
          },
        ],
      },
    };
  }
  // The admitting delivery also holds the launch claim: it starts the execution next.
  const rollout = fresh({ launchClaimedAt: nowIso });
  const writes: StoreWrites = {
    rollouts: [rollout],
    service: { ...service, activeRollout: rollout.id, activeDigest: rollout.digest, updatedAt: nowIso },
    dedup: dedupEntry,
    events: [
      { rolloutId: rollout.id, event: { type: 'admitted', message: `admitted from ${rollout.source}` } },
    ],
  };
  if (!running) return { admission: { kind: 'started', rollout }, writes };
  const superseded: RolloutRecord = {
    ...running,
    status: 'SUPERSEDED',
    supersededBy: rollout.id,
    updatedAt: nowIso,
    endedAt: nowIso,
    outcomeReason: `superseded by ${rollout.id}`,
  };
  writes.rollouts.push(superseded);
  writes.events.push({
    rolloutId: running.id,
    event: { type: 'superseded', message: `superseded by rollout ${rollout.id}` },
  });
  return { admission: { kind: 'started', rollout, superseded }, writes };
}

/**
 * The rollout, if it may still act: RUNNING, holding its service's lease,
 * and (when given) driven by this very workflow execution. Otherwise the
 * reason it must stop.
 */
export function authorization(
  id: string,
  executionId: string | undefined,
  rollout: RolloutRecord | undefined,
  service: ServiceRecord | undefined,
): Authorization {
  if (!rollout) return { stop: `rollout ${id} not found` };
  // PENDING too: the execution's first call can arrive before intake has recorded its name.
  const startingUp = rollout.status === 'PENDING' && !rollout.queuedBehind;
  if (rollout.status !== 'RUNNING' && !startingUp) return { stop: `rollout ${id} is ${rollout.status}` };
  if (executionId && rollout.executionName && !rollout.executionName.endsWith(`/${executionId}`))
    return { stop: `rollout ${id} is driven by ${rollout.executionName}, not execution ${executionId}` };
  if (service?.activeRollout !== id)
    return { stop: `rollout ${id} no longer holds the lease of ${rollout.service}` };
  return { rollout, service };
}

/** The rollout's record of one region with `patch` merged in (the traffic map replaced whole). */
export function mergedRegion(
  rollout: RolloutRecord,
  region: string,
  patch: Partial<RegionRecord>,
  now: Date,
): RegionRecord {
  return parseOrThrow(
    RegionRecord,
    { ...(rollout.regions[region] ?? { status: 'PENDING' }), ...patch, updatedAt: now.toISOString() },
    `region ${region}`,
  );
}

/**
 * The service with the region's candidate slot taken by `rolloutId`, which
 * must hold the lease; undefined when it holds the slot already. The slot may
 * change hands only from `replacing`, whose candidate the caller has taken down.
 */
export function withRegionClaimed(
  service: ServiceRecord,
  region: string,
  rolloutId: string,
  now: Date,
  replacing?: string,
): ServiceRecord | undefined {
  const holder = service.candidates[region];
  if (holder === rolloutId) return undefined;
  if (service.activeRollout !== rolloutId)
    throw new GlidepathError('conflict', `rollout ${rolloutId} does not hold the lease of ${service.name}`);
  if (holder && holder !== replacing)
    throw new GlidepathError(
      'conflict',
      `the ${region} candidate slot of ${service.name} is held by ${holder}, whose candidate is not taken down yet`,
    );
  return {
    ...service,
    candidates: { ...service.candidates, [region]: rolloutId },
    updatedAt: now.toISOString(),
  };
}

/** The service with the region's slot freed if `rolloutId` holds it, and a promoted revision recorded as last good. */
export function withRegionReleased(
  service: ServiceRecord,
  region: string,
  rolloutId: string,
  now: Date,
  lastGood?: string,
): ServiceRecord {
  const candidates = { ...service.candidates };
  if (candidates[region] === rolloutId) delete candidates[region];
  return {
    ...service,
    candidates,
    lastGood: lastGood ? { ...service.lastGood, [region]: lastGood } : service.lastGood,
    updatedAt: now.toISOString(),
  };
}

/** The queued rollout that takes the lease when `id` ends, if `id` holds it. */
export function nextInQueue(service: ServiceRecord | undefined, id: string): string | undefined {
  return service?.activeRollout === id ? service.queue[0] : undefined;
}

/**
 * Ends a rollout (once: a terminal rollout keeps its status) and passes the
 * lease to `queued`, the rollout `nextInQueue` named. Returns every record to write.
 */
export function finished(
  rollout: RolloutRecord,
  service: ServiceRecord | undefined,
  queued: RolloutRecord | undefined,
  status: RolloutStatus,
  reason: string,
  now: Date,
): { rollout: RolloutRecord; next?: RolloutRecord; writes: StoreWrites } {
  const nowIso = now.toISOString();
  let next: RolloutRecord | undefined;
  if (queued) {
    const { queuedBehind: _behind, ...dequeued } = queued; // no longer behind anyone
    next = dequeued;
  }
  const ending = !isTerminal(rollout.status); // a terminal rollout keeps its status
  const ended = ending
    ? { ...rollout, status, outcomeReason: reason, endedAt: nowIso, updatedAt: nowIso }
    : rollout;
  const writes: StoreWrites = { rollouts: [ended, ...(next ? [next] : [])], events: [] };
  if (service) {
    const holds = service.activeRollout === rollout.id;
    writes.service = {
      ...service,
      activeRollout: holds ? (next?.id ?? null) : service.activeRollout,
      activeDigest: holds ? (next?.digest ?? null) : service.activeDigest,
      queue: holds && next ? service.queue.slice(1) : service.queue,
      // Only the call that ends the rollout says how it ended: a later finish changes nothing.
      lastFailedDigest:
        ending && (status === 'ROLLED_BACK' || status === 'FAILED')
          ? rollout.digest
          : service.lastFailedDigest,
      updatedAt: nowIso,
    };
  }
  if (ending)
    writes.events.push({
      rolloutId: rollout.id,
      event: { type: 'finished', message: `${status}: ${reason}` },
    });
  return { rollout: ended, ...(next ? { next } : {}), writes };
}

// Job runs.

/**
 * Claims attempt `number` of a run: `start` when this caller should start its
 * execution now (the attempts to write are returned), `started` when it
 * exists already (a retried call), `finished` when the run has ended.
 * Attempts are claimed in order; a fresh claim without an execution is a
 * concurrent call, answered with a conflict (transient).
 */
export function attemptClaim(
  run: JobRunRecord,
  number: number,
  now: Date,
): { claim: AttemptClaim; attempts?: JobAttempt[] } {
  const existing = run.attempts.find((a) => a.number === number);
  if (existing && existing.result !== 'STARTING')
    return { claim: { kind: 'started', run, attempt: existing } };
  if (run.status === 'SUCCEEDED' || run.status === 'FAILED') return { claim: { kind: 'finished', run } };
  if (existing && now.getTime() - Date.parse(existing.claimedAt) < CLAIM_MS)
    throw new GlidepathError(
      'conflict',
      `attempt ${number} of job run ${run.id} is being started by another call; retry later`,
    );
  if (!existing && number !== run.attempts.length + 1)
    throw new GlidepathError(
      'invalid',
      `attempt: expected ${run.attempts.length + 1} (the next attempt of ${run.id}), got ${number}`,
    );
  const claim: JobAttempt = { number, claimedAt: now.toISOString(), result: 'STARTING' };
  return { claim: { kind: 'start', run }, attempts: withAttempt(run, claim) };
}

/** The run's attempts with `attempt` put in its place, in order. */
function withAttempt(run: JobRunRecord, attempt: JobAttempt): JobAttempt[] {
  return run.attempts
    .filter((a) => a.number !== attempt.number)
    .concat(attempt)
    .sort((a, b) => a.number - b.number);
}

/** The attempts without a claimed attempt whose start failed; undefined when there is nothing to drop. */
export function withoutStartingAttempt(run: JobRunRecord, number: number): JobAttempt[] | undefined {
  if (!run.attempts.some((a) => a.number === number && a.result === 'STARTING')) return undefined;
  return run.attempts.filter((a) => a.number !== number);
}

/**
 * Attempt `number` with `patch` merged in, unless it already has a final
 * result; `attempts` to write when it changed.
 */
export function updatedAttempt(
  run: JobRunRecord,
  number: number,
  patch: Partial<JobAttempt>,
): { attempt: JobAttempt; attempts?: JobAttempt[] } {
  const current = run.attempts.find((a) => a.number === number);
  if (!current) throw new GlidepathError('not_found', `attempt ${number} of job run ${run.id} not found`);
  if (current.result === 'SUCCEEDED' || current.result === 'FAILED') return { attempt: current };
  const attempt = { ...current, ...patch };
  return { attempt, attempts: withAttempt(run, attempt) };
}

/** The fields that end a run, or undefined when it has ended already (its first final status wins). */
export function runEnding(
  run: JobRunRecord,
  status: Extract<JobRunStatus, 'SUCCEEDED' | 'FAILED'>,
  now: Date,
  endReason?: string,
): Pick<JobRunRecord, 'status' | 'finishedAt' | 'updatedAt' | 'endReason'> | undefined {
  if (run.status === 'SUCCEEDED' || run.status === 'FAILED') return undefined;
  return {
    status,
    finishedAt: now.toISOString(),
    updatedAt: now.toISOString(),
    ...(endReason ? { endReason } : {}),
  };
}

// Job image rollouts.

/** The region's record; a region outside the rollout's waves is a clear error. */
export function jobRegion(r: JobRolloutRecord, region: string): JobRegionRecord {
  const rec = r.regions[region];
  if (!rec)
    throw new GlidepathError(
      'invalid',
      `region: expected one of ${r.waves.flat().join(', ')} (job rollout ${r.id}), got ${region}`,
    );
  return rec;
}

/** The region's record with `patch` merged in, and the rollout holding it. */
export function jobRegionPatched(
  r: JobRolloutRecord,
  region: string,
  patch: Partial<JobRegionRecord>,
  now: Date,
): { rollout: JobRolloutRecord; region: JobRegionRecord } {
  const next = { ...jobRegion(r, region), ...patch, updatedAt: now.toISOString() };
  return {
    rollout: { ...r, regions: { ...r.regions, [region]: next }, updatedAt: now.toISOString() },
    region: next,
  };
}

/** The fields that end a job rollout, or undefined when it has ended already (its first end wins). */
export function jobRolloutEnding(
  r: JobRolloutRecord,
  status: 'SUCCEEDED' | 'FAILED',
  reason: string | undefined,
  now: Date,
): Pick<JobRolloutRecord, 'status' | 'finishedAt' | 'updatedAt' | 'reason'> | undefined {
  if (r.status === 'SUCCEEDED' || r.status === 'FAILED') return undefined;
  return {
    status,
    finishedAt: now.toISOString(),
    updatedAt: now.toISOString(),
    ...(reason ? { reason } : {}),
  };
}

/**
 * Claims the start of a region's verification execution: `start` when this
 * caller should start it (with the region record to write), `taken` when an
 * execution is recorded, the region moved past UPDATED, or the rollout ended.
 * A fresh claim without an execution is a concurrent call, answered with a
 * conflict (transient); a stale one (its caller died) is taken over.
 */
export function verifyClaim(
  r: JobRolloutRecord,
  region: string,
  now: Date,
): { claim: VerifyClaim; region?: JobRegionRecord } {
  const rec = jobRegion(r, region);
  const ended = r.status === 'SUCCEEDED' || r.status === 'FAILED';
  if (ended || rec.verifyExecution || rec.status !== 'UPDATED')
    return { claim: { kind: 'taken', rollout: r } };
  if (rec.verifyClaimedAt && now.getTime() - Date.parse(rec.verifyClaimedAt) < CLAIM_MS)
    throw new GlidepathError(
      'conflict',
      `the verification of ${region} (job rollout ${r.id}) is being started by another call; retry later`,
    );
  const next = { ...rec, verifyClaimedAt: now.toISOString(), updatedAt: now.toISOString() };
  return {
    claim: { kind: 'start', rollout: { ...r, regions: { ...r.regions, [region]: next } } },
    region: next,
  };
}

// Dead letters.

/** Marks a dead letter replayed by `by` (before anything is published), or refuses a second replay. */
export function replayClaim(record: DeadLetterRecord, by: string, now: Date): ReplayClaim {
  if (record.replayed) {
    const as = record.replayMessageId
      ? ` as message ${record.replayMessageId}`
      : ' (publish in progress or failed)';
    return {
      kind: 'refused',
      reason: `dead letter ${record.id} was already replayed by ${record.replayedBy ?? 'unknown'} at ${record.replayedAt ?? 'unknown time'}${as}; a dead letter is replayed at most once`,
    };
  }
  return {
    kind: 'claimed',
    record: { ...record, replayed: true, replayedBy: by, replayedAt: now.toISOString() },
  };
}

/** A claimed replay given back after its publish failed; undefined when it was recorded (or never claimed). */
export function replayReleased(record: DeadLetterRecord): DeadLetterRecord | undefined {
  if (record.replayMessageId || !record.replayed) return undefined;
  const { replayedBy: _by, replayedAt: _at, ...rest } = record;
  return { ...rest, replayed: false };
}
