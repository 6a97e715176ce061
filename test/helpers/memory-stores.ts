/**
 * In-memory stores for fast tests of the use cases, in the way powertools
 * tests its idempotency layer against an in-memory persistence layer. They
 * apply the same rules as the Firestore adapters (functions/domain/store-rules.ts)
 * and pass the same contract suite (test/integration/store-contract.test.ts).
 *
 * Like Firestore, they keep copies: a record handed out can be changed by the
 * caller without changing what is stored, and every read is validated. No
 * method awaits between its read and its write, so each is atomic.
 */
import type { z } from 'zod';
import { JobRunRecord, type JobAttempt, type JobRunStatus } from '../../functions/domain/jobs';
import {
  DeadLetterRecord,
  RolloutRecord,
  ServiceRecord,
  type RegionRecord,
  type RolloutStatus,
} from '../../functions/domain/records';
import {
  admission,
  attemptClaim,
  authorization,
  finished,
  jobRegionPatched,
  jobRolloutEnding,
  mayClaimLaunch,
  mergedRegion,
  nextInQueue,
  replayClaim,
  replayReleased,
  runEnding,
  statusWithExecution,
  updatedAttempt,
  verifyClaim,
  withRegionClaimed,
  withRegionReleased,
  withoutStartingAttempt,
  type DedupEntry,
  type StoreWrites,
} from '../../functions/domain/store-rules';
import { JobRolloutRecord, type JobRegionRecord } from '../../functions/domain/job-rollout';
import { parseOrThrow } from '../../functions/domain/validation';
import { GlidepathError } from '../../functions/shared/errors';
import type {
  AdmitInput,
  Admission,
  AttemptClaim,
  Authorization,
  DeadLetterStore,
  JobLocks,
  JobRolloutStore,
  JobStore,
  ReplayClaim,
  RolloutEvent,
  RolloutStore,
  RunCreation,
  VerifyClaim,
} from '../../functions/ports';

/** A table of validated copies, as Firestore keeps documents. */
class Table<S extends z.ZodType> {
  private readonly rows = new Map<string, unknown>();
  constructor(
    private readonly schema: S,
    private readonly what: string,
  ) {}

  get(id: string): z.output<S> | undefined {
    const row = this.rows.get(id);
    return row === undefined
      ? undefined
      : parseOrThrow(this.schema, structuredClone(row), `corrupt ${this.what} ${id}`);
  }
  set(id: string, value: z.output<S>): void {
    this.rows.set(id, structuredClone(value));
  }
  all(): Array<z.output<S>> {
    return [...this.rows.keys()].map((id) => this.get(id)!);
  }
}

interface StoredEvent extends RolloutEvent {
  at: string;
}

export class InMemoryRolloutStore implements RolloutStore {
  private readonly rollouts = new Table(RolloutRecord, 'rollout');
  private readonly services = new Table(ServiceRecord, 'service');
  private readonly dedup = new Map<string, DedupEntry>();
  private readonly history = new Map<string, StoredEvent[]>();

  /** The rollout's events, oldest first (Firestore: `rollouts/{id}/events`). */
  events(id: string): StoredEvent[] {
    return structuredClone(this.history.get(id) ?? []);
  }

  /** Writes a rollout as it is, for a test's starting state (a corrupt plan, say). */
  put(rollout: RolloutRecord): void {
    this.rollouts.set(rollout.id, rollout);
  }

  async getRollout(id: string): Promise<RolloutRecord | undefined> {
    return this.rollouts.get(id);
  }

  async getService(name: string): Promise<ServiceRecord | undefined> {
    return this.services.get(name);
  }

  async listServices(): Promise<ServiceRecord[]> {
    return this.services.all();
  }

  async admit(input: AdmitInput): Promise<Admission> {
    const dedup = this.dedup.get(input.dedupKey);
    const service = this.services.get(input.rollout.service);
    const active = service?.activeRollout ? this.rollouts.get(service.activeRollout) : undefined;
    const dedupRollout = dedup ? this.rollouts.get(dedup.rolloutId) : undefined;
    const result = admission(input, {
      ...(dedup ? { dedup } : {}),
      ...(dedupRollout ? { dedupRollout } : {}),
      ...(service ? { service } : {}),
      ...(active ? { active } : {}),
    });
    if (result.writes.dedup) this.dedup.set(input.dedupKey, { ...result.writes.dedup });
    this.write(input.now, result.writes);
    return result.admission;
  }

  async claimLaunch(id: string, now: Date): Promise<boolean> {
    const rollout = this.rollouts.get(id);
    if (!rollout || !mayClaimLaunch(`rollout ${id}`, rollout, now)) return false;
    this.rollouts.set(id, { ...rollout, launchClaimedAt: now.toISOString() });
    return true;
  }

  async releaseLaunch(id: string): Promise<void> {
    this.rollouts.set(id, { ...this.required(id), launchClaimedAt: null });
  }

  async recordExecution(id: string, executionName: string, now: Date): Promise<void> {
    const rollout = this.required(id);
    const status = statusWithExecution(rollout.status);
    this.rollouts.set(id, { ...rollout, executionName, status, updatedAt: now.toISOString() });
    this.event(id, now, { type: 'execution_started', message: `workflow execution ${executionName}` });
  }

  async authorize(id: string, executionId?: string): Promise<Authorization> {
    const rollout = this.rollouts.get(id);
    return authorization(id, executionId, rollout, rollout && this.services.get(rollout.service));
  }

  async updateRegion(
    id: string,
    region: string,
    now: Date,
    patch: Partial<RegionRecord>,
    event?: RolloutEvent,
  ): Promise<RegionRecord> {
    const rollout = this.required(id);
    const merged = mergedRegion(rollout, region, patch, now);
    this.rollouts.set(id, {
      ...rollout,
      regions: { ...rollout.regions, [region]: merged },
      updatedAt: now.toISOString(),
    });
    if (event) this.event(id, now, { region, ...event });
    return merged;
  }

  async claimRegion(
    serviceName: string,
    region: string,
    rolloutId: string,
    now: Date,
    replacing?: string,
  ): Promise<void> {
    const service =
      this.services.get(serviceName) ??
      parseOrThrow(
        ServiceRecord,
        { name: serviceName, updatedAt: now.toISOString() },
        `service ${serviceName}`,
      );
    const claimed = withRegionClaimed(service, region, rolloutId, now, replacing);
    if (claimed) this.services.set(serviceName, claimed);
  }

  async releaseRegion(
    serviceName: string,
    region: string,
    rolloutId: string,
    now: Date,
    lastGood?: string,
  ): Promise<void> {
    const service = this.services.get(serviceName);
    if (service)
      this.services.set(serviceName, withRegionReleased(service, region, rolloutId, now, lastGood));
  }

  async finish(
    id: string,
    status: RolloutStatus,
    reason: string,
    now: Date,
  ): Promise<{ rollout: RolloutRecord; next?: RolloutRecord }> {
    const rollout = this.required(id);
    const service = this.services.get(rollout.service);
    const nextId = nextInQueue(service, id);
    const queued = nextId ? this.rollouts.get(nextId) : undefined;
    const { writes, ...result } = finished(rollout, service, queued, status, reason, now);
    this.write(now, writes);
    return structuredClone(result);
  }

  async claimEndNotice(id: string, now: Date): Promise<boolean> {
    const rollout = this.required(id);
    if (rollout.endNoticeAt) return false;
    this.rollouts.set(id, { ...rollout, endNoticeAt: now.toISOString() });
    return true;
  }

  private required(id: string): RolloutRecord {
    const rollout = this.rollouts.get(id);
    if (!rollout) throw new GlidepathError('not_found', `rollout ${id} not found`);
    return rollout;
  }

  private write(now: Date, writes: StoreWrites): void {
    for (const rollout of writes.rollouts) this.rollouts.set(rollout.id, rollout);
    if (writes.service) this.services.set(writes.service.name, writes.service);
    for (const { rolloutId, event } of writes.events) this.event(rolloutId, now, event);
  }

  private event(id: string, now: Date, event: RolloutEvent): void {
    this.history.set(id, [...(this.history.get(id) ?? []), { at: now.toISOString(), ...event }]);
  }
}

export class InMemoryJobStore implements JobStore {
  private readonly runs = new Table(JobRunRecord, 'job run');

  async getRun(id: string): Promise<JobRunRecord | undefined> {
    return this.runs.get(id);
  }

  async listRuns(job: string, limit: number): Promise<JobRunRecord[]> {
    return this.runs
      .all()
      .filter((r) => r.job === job)
      .sort((a, b) => b.createdAt.localeCompare(a.createdAt))
      .slice(0, limit);
  }

  async createRun(run: JobRunRecord): Promise<RunCreation> {
    const valid = parseOrThrow(JobRunRecord, run, 'job run');
    const existing = this.runs.get(valid.id);
    if (existing) return { kind: 'duplicate', run: existing };
    this.runs.set(valid.id, valid);
    return { kind: 'created', run: valid };
  }

  async claimLaunch(id: string, now: Date): Promise<boolean> {
    const run = this.required(id);
    if (!mayClaimLaunch(`job run ${id}`, run, now)) return false;
    this.runs.set(id, { ...run, launchClaimedAt: now.toISOString() });
    return true;
  }

  async releaseLaunch(id: string): Promise<void> {
    this.runs.set(id, { ...this.required(id), launchClaimedAt: null });
  }

  async recordExecution(id: string, executionName: string, now: Date): Promise<void> {
    const run = this.required(id);
    this.runs.set(id, {
      ...run,
      executionName,
      status: statusWithExecution(run.status),
      updatedAt: now.toISOString(),
    });
  }

  async claimAttempt(id: string, number: number, now: Date): Promise<AttemptClaim> {
    const run = this.required(id);
    const { claim, attempts } = attemptClaim(run, number, now);
    if (attempts) this.writeAttempts(run, attempts, now);
    return claim;
  }

  async releaseAttempt(id: string, number: number, now: Date): Promise<void> {
    const run = this.required(id);
    const attempts = withoutStartingAttempt(run, number);
    if (attempts) this.writeAttempts(run, attempts, now);
  }

  async updateAttempt(
    id: string,
    number: number,
    patch: Partial<JobAttempt>,
    now: Date,
  ): Promise<JobAttempt> {
    const run = this.required(id);
    const { attempt, attempts } = updatedAttempt(run, number, patch);
    if (attempts) this.writeAttempts(run, attempts, now);
    return attempt;
  }

  async listUnfinishedRuns(limit: number): Promise<JobRunRecord[]> {
    return this.runs
      .all()
      .filter((r) => r.status === 'PENDING' || r.status === 'RUNNING')
      .slice(0, limit)
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  async finishRun(
    id: string,
    status: Extract<JobRunStatus, 'SUCCEEDED' | 'FAILED'>,
    now: Date,
    endReason?: string,
  ): Promise<JobRunRecord> {
    const run = this.required(id);
    const ending = runEnding(run, status, now, endReason);
    if (!ending) return run;
    const ended = { ...run, ...ending };
    this.runs.set(id, ended);
    return ended;
  }

  async updateRun(
    id: string,
    patch: Partial<Pick<JobRunRecord, 'deadLetterId' | 'deadLetterMessageId'>>,
    now: Date,
  ): Promise<void> {
    this.runs.set(id, { ...this.required(id), ...patch, updatedAt: now.toISOString() });
  }

  async claimNotification(id: string, now: Date): Promise<boolean> {
    const run = this.required(id);
    if (run.notifiedAt) return false;
    this.runs.set(id, { ...run, notifiedAt: now.toISOString() });
    return true;
  }

  private required(id: string): JobRunRecord {
    const run = this.runs.get(id);
    if (!run) throw new GlidepathError('not_found', `job run ${id} not found`);
    return run;
  }

  private writeAttempts(run: JobRunRecord, attempts: JobAttempt[], now: Date): void {
    this.runs.set(run.id, { ...run, attempts, updatedAt: now.toISOString() });
  }
}

export class InMemoryDeadLetterStore implements DeadLetterStore {
  private readonly letters = new Table(DeadLetterRecord, 'dead letter');

  async createDeadLetter(record: DeadLetterRecord): Promise<boolean> {
    const valid = parseOrThrow(DeadLetterRecord, record, 'dead letter');
    if (this.letters.get(valid.id)) return false;
    this.letters.set(valid.id, valid);
    return true;
  }

  async getDeadLetter(id: string): Promise<DeadLetterRecord | undefined> {
    return this.letters.get(id);
  }

  async listDeadLetters(opts: { all: boolean; limit: number }): Promise<DeadLetterRecord[]> {
    return this.letters
      .all()
      .filter((d) => opts.all || !d.replayed)
      .sort((a, b) => b.createdAt.localeCompare(a.createdAt))
      .slice(0, opts.limit);
  }

  async claimReplay(id: string, by: string, now: Date): Promise<ReplayClaim> {
    const record = this.letters.get(id);
    if (!record) throw new GlidepathError('not_found', `dead letter ${id} not found`);
    const claim = replayClaim(record, by, now);
    if (claim.kind === 'claimed') this.letters.set(id, claim.record);
    return claim;
  }

  async recordReplay(id: string, replayMessageId: string): Promise<void> {
    const record = this.letters.get(id);
    if (!record) throw new GlidepathError('not_found', `dead letter ${id} not found`);
    this.letters.set(id, { ...record, replayMessageId });
  }

  async releaseReplay(id: string): Promise<void> {
    const record = this.letters.get(id);
    const released = record && replayReleased(record);
    if (released) this.letters.set(id, released);
  }
}

/** The job locks (functions/ports.ts, JobLocks) in memory: the same take-unless-held-and-unexpired rule. */
export class InMemoryJobLocks implements JobLocks {
  readonly held = new Map<string, { holder: string; until: Date }>();

  async acquire(
    job: string,
    holder: string,
    until: Date,
    now: Date,
  ): Promise<{ acquired: true } | { heldBy: string }> {
    const current = this.held.get(job);
    if (current && current.holder !== holder && current.until.getTime() > now.getTime())
      return { heldBy: current.holder };
    this.held.set(job, { holder, until });
    return { acquired: true };
  }

  async release(job: string, holder: string): Promise<void> {
    if (this.held.get(job)?.holder === holder) this.held.delete(job);
  }
}

/** Job image rollouts (functions/ports.ts, JobRolloutStore) in memory, by the Firestore store's rules. */
export class InMemoryJobRolloutStore implements JobRolloutStore {
  private readonly rollouts = new Table(JobRolloutRecord, 'job rollout');

  async get(id: string): Promise<JobRolloutRecord | undefined> {
    return this.rollouts.get(id);
  }

  async listForJob(job: string, limit: number): Promise<JobRolloutRecord[]> {
    return this.rollouts
      .all()
      .filter((r) => r.job === job)
      .sort((a, b) => b.createdAt.localeCompare(a.createdAt))
      .slice(0, limit);
  }

  async listUnfinished(limit: number): Promise<JobRolloutRecord[]> {
    return this.rollouts
      .all()
      .filter((r) => r.status === 'PENDING' || r.status === 'RUNNING')
      .slice(0, limit)
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  async create(
    record: JobRolloutRecord,
  ): Promise<{ kind: 'created' | 'duplicate'; rollout: JobRolloutRecord }> {
    const valid = parseOrThrow(JobRolloutRecord, record, 'job rollout');
    const existing = this.rollouts.get(valid.id);
    if (existing) return { kind: 'duplicate', rollout: existing };
    this.rollouts.set(valid.id, valid);
    return { kind: 'created', rollout: valid };
  }

  async claimLaunch(id: string, now: Date): Promise<boolean> {
    const r = this.required(id);
    if (!mayClaimLaunch(`job rollout ${id}`, r, now)) return false;
    this.rollouts.set(id, { ...r, launchClaimedAt: now.toISOString() });
    return true;
  }

  async releaseLaunch(id: string): Promise<void> {
    this.rollouts.set(id, { ...this.required(id), launchClaimedAt: null });
  }

  async recordExecution(id: string, executionName: string, now: Date): Promise<void> {
    const r = this.required(id);
    this.rollouts.set(id, {
      ...r,
      executionName,
      status: statusWithExecution(r.status),
      updatedAt: now.toISOString(),
    });
  }

  async claimVerify(id: string, region: string, now: Date): Promise<VerifyClaim> {
    const r = this.required(id);
    const { claim, region: next } = verifyClaim(r, region, now);
    if (next) this.rollouts.set(id, jobRegionPatched(r, region, next, now).rollout);
    return claim;
  }

  async releaseVerify(id: string, region: string, now: Date): Promise<void> {
    await this.updateRegion(id, region, { verifyClaimedAt: null }, now);
  }

  async updateRegion(
    id: string,
    region: string,
    patch: Partial<JobRegionRecord>,
    now: Date,
  ): Promise<JobRolloutRecord> {
    const { rollout } = jobRegionPatched(this.required(id), region, patch, now);
    this.rollouts.set(id, rollout);
    return rollout;
  }

  async finish(
    id: string,
    status: 'SUCCEEDED' | 'FAILED',
    reason: string | undefined,
    now: Date,
  ): Promise<{ rollout: JobRolloutRecord; changed: boolean }> {
    const r = this.required(id);
    const patch = jobRolloutEnding(r, status, reason, now);
    if (!patch) return { rollout: r, changed: false };
    const rollout = { ...r, ...patch };
    this.rollouts.set(id, rollout);
    return { rollout, changed: true };
  }

  private required(id: string): JobRolloutRecord {
    const r = this.rollouts.get(id);
    if (!r) throw new GlidepathError('not_found', `job rollout ${id} not found`);
    return r;
  }
}
