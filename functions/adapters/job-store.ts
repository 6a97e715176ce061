/**
 * Job runs and dead letters in Firestore (design brief §4): `jobRuns/{id}`
 * and `deadLetters/{id}`. Every write that must happen once (a run, an
 * attempt's start, a dead letter, a replay, a Slack message) is a create()
 * or a transaction, so duplicate deliveries and retried actions are harmless.
 */
import type { Firestore, Transaction } from '@google-cloud/firestore';
import type { PubSub } from '@google-cloud/pubsub';
import { DeadLetterRecord } from '../domain/records';
import { JobRunRecord, type JobAttempt, type JobRunStatus } from '../domain/jobs';
import { parseOrThrow } from '../domain/validation';
import { GlidepathError, fromSdkError } from '../shared/errors';
import { COLLECTIONS } from './firestore-store';

/** How long one delivery (or one action call) may hold the right to start something before another may take over. */
export const CLAIM_MS = 30_000;

const ALREADY_EXISTS = 6;

/** Publishes one message; returns its message id. */
export type Publish = (topic: string, data: Buffer, attributes: Record<string, string>) => Promise<string>;

export function pubsubPublisher(pubsub: PubSub): Publish {
  return async (topic, data, attributes) => {
    try {
      return await pubsub.topic(topic).publishMessage({ data, attributes });
    } catch (err) {
      throw fromSdkError(err, `publish to ${topic}`);
    }
  };
}

export type RunCreation = { kind: 'created'; run: JobRunRecord } | { kind: 'duplicate'; run: JobRunRecord };

/** What `claimAttempt` found: start the execution now, or it already exists. */
export type AttemptClaim =
  | { kind: 'start'; run: JobRunRecord }
  | { kind: 'started'; run: JobRunRecord; attempt: JobAttempt }
  | { kind: 'finished'; run: JobRunRecord };

export type ReplayClaim = { kind: 'claimed'; record: DeadLetterRecord } | { kind: 'refused'; reason: string };

export class FirestoreJobStore {
  constructor(private readonly db: Firestore) {}

  private runDoc(id: string) {
    return this.db.collection(COLLECTIONS.jobRuns).doc(id);
  }
  private deadLetterDoc(id: string) {
    return this.db.collection(COLLECTIONS.deadLetters).doc(id);
  }

  async getRun(id: string): Promise<JobRunRecord | undefined> {
    const snap = await this.guard(`read job run ${id}`, () => this.runDoc(id).get());
    return snap.exists ? parseOrThrow(JobRunRecord, snap.data(), `corrupt job run ${id}`) : undefined;
  }

  /** The newest runs of a job first. */
  async listRuns(job: string, limit: number): Promise<JobRunRecord[]> {
    const snap = await this.guard(`list runs of ${job}`, () =>
      this.db
        .collection(COLLECTIONS.jobRuns)
        .where('job', '==', job)
        .orderBy('createdAt', 'desc')
        .limit(limit)
        .get(),
    );
    return snap.docs.map((d) => parseOrThrow(JobRunRecord, d.data(), `corrupt job run ${d.id}`));
  }

  /** Creates the run unless it exists; the creating delivery holds the launch claim. */
  async createRun(run: JobRunRecord): Promise<RunCreation> {
    const valid = parseOrThrow(JobRunRecord, run, 'job run');
    return this.guard(`create job run ${valid.id}`, async () => {
      try {
        await this.runDoc(valid.id).create(valid);
        return { kind: 'created', run: valid };
      } catch (err) {
        if ((err as { code?: number })?.code !== ALREADY_EXISTS) throw err;
        const existing = await this.getRun(valid.id);
        if (!existing)
          throw new GlidepathError('unavailable', `job run ${valid.id} exists and vanished; retry`);
        return { kind: 'duplicate', run: existing };
      }
    });
  }

  /**
   * For a duplicate delivery: true if this caller should start the run's
   * workflow (none started, no fresh claim). A fresh claim by another
   * delivery throws a transient error, so Pub/Sub redelivers later.
   */
  async claimLaunch(id: string, now: Date): Promise<boolean> {
    return this.transact(`claim launch of job run ${id}`, id, (run, tx) => {
      if (run.executionName || run.status !== 'PENDING') return false;
      if (run.launchClaimedAt && now.getTime() - Date.parse(run.launchClaimedAt) < CLAIM_MS)
        throw new GlidepathError(
          'conflict',
          `job run ${id} is being started by another delivery; retry later`,
        );
      tx.update(this.runDoc(id), { launchClaimedAt: now.toISOString() });
      return true;
    });
  }

  async releaseLaunch(id: string): Promise<void> {
    await this.guard(`release launch of job run ${id}`, () =>
      this.runDoc(id).update({ launchClaimedAt: null }),
    );
  }

  async recordExecution(id: string, executionName: string, now: Date): Promise<void> {
    await this.transact(`record execution of job run ${id}`, id, (run, tx) => {
      tx.update(this.runDoc(id), {
        executionName,
        status: run.status === 'PENDING' ? 'RUNNING' : run.status,
        updatedAt: now.toISOString(),
      });
    });
  }

  /**
   * Claims attempt `number` of a run: `start` when this caller should start
   * its execution now, `started` when it exists already (a retried call).
   * Attempts are claimed in order; a fresh claim without an execution is a
   * concurrent call, answered with a transient error.
   */
  async claimAttempt(id: string, number: number, now: Date): Promise<AttemptClaim> {
    return this.transact(`claim attempt ${number} of job run ${id}`, id, (run, tx) => {
      const existing = run.attempts.find((a) => a.number === number);
      if (existing && existing.result !== 'STARTING') return { kind: 'started', run, attempt: existing };
      if (run.status === 'SUCCEEDED' || run.status === 'FAILED') return { kind: 'finished', run };
      if (existing && now.getTime() - Date.parse(existing.claimedAt) < CLAIM_MS)
        throw new GlidepathError(
          'conflict',
          `attempt ${number} of job run ${id} is being started by another call; retry later`,
        );
      if (!existing && number !== run.attempts.length + 1)
        throw new GlidepathError(
          'invalid',
          `attempt: expected ${run.attempts.length + 1} (the next attempt of ${id}), got ${number}`,
        );
      const claim: JobAttempt = { number, claimedAt: now.toISOString(), result: 'STARTING' };
      this.writeAttempt(tx, run, claim, now);
      return { kind: 'start', run };
    });
  }

  /** Drops a claimed attempt whose start failed transiently, so the retried call can claim it at once. */
  async releaseAttempt(id: string, number: number, now: Date): Promise<void> {
    await this.transact(`release attempt ${number} of job run ${id}`, id, (run, tx) => {
      if (!run.attempts.some((a) => a.number === number && a.result === 'STARTING')) return;
      tx.update(this.runDoc(id), {
        attempts: run.attempts.filter((a) => a.number !== number),
        updatedAt: now.toISOString(),
      });
    });
  }

  /** Merges `patch` into attempt `number`, unless the attempt already has a final result. Returns the attempt as stored. */
  async updateAttempt(
    id: string,
    number: number,
    patch: Partial<JobAttempt>,
    now: Date,
  ): Promise<JobAttempt> {
    return this.transact(`update attempt ${number} of job run ${id}`, id, (run, tx) => {
      const current = run.attempts.find((a) => a.number === number);
      if (!current) throw new GlidepathError('not_found', `attempt ${number} of job run ${id} not found`);
      if (current.result === 'SUCCEEDED' || current.result === 'FAILED') return current;
      const next = { ...current, ...patch };
      this.writeAttempt(tx, run, next, now);
      return next;
    });
  }

  /** Sets the run's final status once; returns the run as stored (its first final status wins). */
  async finishRun(
    id: string,
    status: Extract<JobRunStatus, 'SUCCEEDED' | 'FAILED'>,
    now: Date,
  ): Promise<JobRunRecord> {
    return this.transact(`finish job run ${id}`, id, (run, tx) => {
      if (run.status === 'SUCCEEDED' || run.status === 'FAILED') return run;
      const patch = { status, finishedAt: now.toISOString(), updatedAt: now.toISOString() };
      tx.update(this.runDoc(id), patch);
      return { ...run, ...patch };
    });
  }

  async updateRun(
    id: string,
    patch: Partial<Pick<JobRunRecord, 'deadLetterId' | 'deadLetterMessageId'>>,
    now: Date,
  ): Promise<void> {
    await this.guard(`update job run ${id}`, () =>
      this.runDoc(id).update({ ...patch, updatedAt: now.toISOString() }),
    );
  }

  /** True once, for the caller that should post the run's final Slack message. */
  async claimNotification(id: string, now: Date): Promise<boolean> {
    return this.transact(`claim notification of job run ${id}`, id, (run, tx) => {
      if (run.notifiedAt) return false;
      tx.update(this.runDoc(id), { notifiedAt: now.toISOString() });
      return true;
    });
  }

  /** Writes the dead letter unless one with its id exists; true if this call created it. */
  async createDeadLetter(record: DeadLetterRecord): Promise<boolean> {
    const valid = parseOrThrow(DeadLetterRecord, record, 'dead letter');
    return this.guard(`record dead letter ${valid.id}`, async () => {
      try {
        await this.deadLetterDoc(valid.id).create(valid);
        return true;
      } catch (err) {
        if ((err as { code?: number })?.code === ALREADY_EXISTS) return false;
        throw err;
      }
    });
  }

  async getDeadLetter(id: string): Promise<DeadLetterRecord | undefined> {
    const snap = await this.guard(`read dead letter ${id}`, () => this.deadLetterDoc(id).get());
    return snap.exists ? parseOrThrow(DeadLetterRecord, snap.data(), `corrupt dead letter ${id}`) : undefined;
  }

  /** Newest first; only those not replayed yet unless `all`. */
  async listDeadLetters(opts: { all: boolean; limit: number }): Promise<DeadLetterRecord[]> {
    const col = this.db.collection(COLLECTIONS.deadLetters);
    const query = (opts.all ? col : col.where('replayed', '==', false))
      .orderBy('createdAt', 'desc')
      .limit(opts.limit);
    const snap = await this.guard('list dead letters', () => query.get());
    return snap.docs.map((d) => parseOrThrow(DeadLetterRecord, d.data(), `corrupt dead letter ${d.id}`));
  }

  /**
   * Marks the dead letter replayed by `by`, in a transaction, before anything
   * is published: of two replays, one wins and the other is refused.
   */
  async claimReplay(id: string, by: string, now: Date): Promise<ReplayClaim> {
    return this.guard(`claim replay of dead letter ${id}`, () =>
      this.db.runTransaction(async (tx) => {
        const snap = await tx.get(this.deadLetterDoc(id));
        if (!snap.exists) throw new GlidepathError('not_found', `dead letter ${id} not found`);
        const record = parseOrThrow(DeadLetterRecord, snap.data(), `corrupt dead letter ${id}`);
        if (record.replayed) {
          const as = record.replayMessageId
            ? ` as message ${record.replayMessageId}`
            : ' (publish in progress or failed)';
          return {
            kind: 'refused' as const,
            reason: `dead letter ${id} was already replayed by ${record.replayedBy ?? 'unknown'} at ${record.replayedAt ?? 'unknown time'}${as}; a dead letter is replayed at most once`,
          };
        }
        const claimed = { ...record, replayed: true, replayedBy: by, replayedAt: now.toISOString() };
        tx.update(this.deadLetterDoc(id), { replayed: true, replayedBy: by, replayedAt: claimed.replayedAt });
        return { kind: 'claimed' as const, record: claimed };
      }),
    );
  }

  async recordReplay(id: string, replayMessageId: string): Promise<void> {
    await this.guard(`record replay of dead letter ${id}`, () =>
      this.deadLetterDoc(id).update({ replayMessageId }),
    );
  }

  /** Gives a claimed replay back after its publish failed, so it can be tried again. */
  async releaseReplay(id: string): Promise<void> {
    await this.guard(`release replay of dead letter ${id}`, () =>
      this.db.runTransaction(async (tx) => {
        const snap = await tx.get(this.deadLetterDoc(id));
        if (!snap.exists) return;
        const record = parseOrThrow(DeadLetterRecord, snap.data(), `corrupt dead letter ${id}`);
        if (record.replayMessageId) return;
        // Rewrites the record without the replay fields (the schema has no null for them).
        const rest: Partial<DeadLetterRecord> = { ...record, replayed: false };
        delete rest.replayedBy;
        delete rest.replayedAt;
        tx.set(this.deadLetterDoc(id), rest);
      }),
    );
  }

  private writeAttempt(tx: Transaction, run: JobRunRecord, attempt: JobAttempt, now: Date): void {
    const attempts = run.attempts
      .filter((a) => a.number !== attempt.number)
      .concat(attempt)
      .sort((a, b) => a.number - b.number);
    tx.update(this.runDoc(run.id), { attempts, updatedAt: now.toISOString() });
  }

  private transact<T>(what: string, id: string, fn: (run: JobRunRecord, tx: Transaction) => T): Promise<T> {
    return this.guard(what, () =>
      this.db.runTransaction(async (tx) => {
        const snap = await tx.get(this.runDoc(id));
        if (!snap.exists) throw new GlidepathError('not_found', `job run ${id} not found`);
        return fn(parseOrThrow(JobRunRecord, snap.data(), `corrupt job run ${id}`), tx);
      }),
    );
  }

  private async guard<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof GlidepathError || (err as Error)?.name === 'ValidationError') throw err;
      throw fromSdkError(err, what);
    }
  }
}
