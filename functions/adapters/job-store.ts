/**
 * Job runs in Firestore (design brief §4): `jobRuns/{id}`. Every write that
 * must happen once (a run, an attempt's start, a Slack message) is a
 * create() or a transaction, so duplicate deliveries and retried actions are
 * harmless.
 */
import type { Firestore, Transaction } from '@google-cloud/firestore';
import { JobRunRecord, type JobAttempt, type JobRunStatus } from '../domain/jobs';
import {
  attemptClaim,
  mayClaimLaunch,
  runEnding,
  statusWithExecution,
  updatedAttempt,
  withoutStartingAttempt,
} from '../domain/store-rules';
import { parseOrThrow } from '../domain/validation';
import { GlidepathError } from '../shared/errors';
import type { AttemptClaim, JobStore, RunCreation } from '../ports';
import { ALREADY_EXISTS, COLLECTIONS, guardFirestore } from './firestore-store';

export class FirestoreJobStore implements JobStore {
  constructor(private readonly db: Firestore) {}

  private runDoc(id: string) {
    return this.db.collection(COLLECTIONS.jobRuns).doc(id);
  }

  async getRun(id: string): Promise<JobRunRecord | undefined> {
    const snap = await guardFirestore(`read job run ${id}`, () => this.runDoc(id).get());
    return snap.exists ? parseOrThrow(JobRunRecord, snap.data(), `corrupt job run ${id}`) : undefined;
  }

  /** The newest runs of a job first. */
  async listRuns(job: string, limit: number): Promise<JobRunRecord[]> {
    const snap = await guardFirestore(`list runs of ${job}`, () =>
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
    return guardFirestore(`create job run ${valid.id}`, async () => {
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
      if (!mayClaimLaunch(`job run ${id}`, run, now)) return false;
      tx.update(this.runDoc(id), { launchClaimedAt: now.toISOString() });
      return true;
    });
  }

  async releaseLaunch(id: string): Promise<void> {
    await guardFirestore(`release launch of job run ${id}`, () =>
      this.runDoc(id).update({ launchClaimedAt: null }),
    );
  }

  async recordExecution(id: string, executionName: string, now: Date): Promise<void> {
    await this.transact(`record execution of job run ${id}`, id, (run, tx) => {
      tx.update(this.runDoc(id), {
        executionName,
        status: statusWithExecution(run.status),
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
      const { claim, attempts } = attemptClaim(run, number, now);
      if (attempts) this.writeAttempts(tx, id, attempts, now);
      return claim;
    });
  }

  /** Drops a claimed attempt whose start failed transiently, so the retried call can claim it at once. */
  async releaseAttempt(id: string, number: number, now: Date): Promise<void> {
    await this.transact(`release attempt ${number} of job run ${id}`, id, (run, tx) => {
      const attempts = withoutStartingAttempt(run, number);
      if (attempts) this.writeAttempts(tx, id, attempts, now);
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
      const { attempt, attempts } = updatedAttempt(run, number, patch);
      if (attempts) this.writeAttempts(tx, id, attempts, now);
      return attempt;
    });
  }

  /** Runs not finished yet (PENDING or RUNNING), oldest first, for the sweeper. */
  async listUnfinishedRuns(limit: number): Promise<JobRunRecord[]> {
    const snap = await guardFirestore('list unfinished job runs', () =>
      this.db
        .collection(COLLECTIONS.jobRuns)
        .where('status', 'in', ['PENDING', 'RUNNING'])
        .limit(limit)
        .get(),
    );
    return snap.docs
      .map((d) => parseOrThrow(JobRunRecord, d.data(), `corrupt job run ${d.id}`))
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  /** Sets the run's final status once; returns the run as stored (its first final status wins). */
  async finishRun(
    id: string,
    status: Extract<JobRunStatus, 'SUCCEEDED' | 'FAILED'>,
    now: Date,
    endReason?: string,
  ): Promise<JobRunRecord> {
    return this.transact(`finish job run ${id}`, id, (run, tx) => {
      const patch = runEnding(run, status, now, endReason);
      if (!patch) return run;
      tx.update(this.runDoc(id), patch);
      return { ...run, ...patch };
    });
  }

  async updateRun(
    id: string,
    patch: Partial<Pick<JobRunRecord, 'deadLetterId' | 'deadLetterMessageId'>>,
    now: Date,
  ): Promise<void> {
    await guardFirestore(`update job run ${id}`, () =>
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

  private writeAttempts(tx: Transaction, id: string, attempts: JobAttempt[], now: Date): void {
    tx.update(this.runDoc(id), { attempts, updatedAt: now.toISOString() });
  }

  private transact<T>(what: string, id: string, fn: (run: JobRunRecord, tx: Transaction) => T): Promise<T> {
    return guardFirestore(what, () =>
      this.db.runTransaction(async (tx) => {
        const snap = await tx.get(this.runDoc(id));
        if (!snap.exists) throw new GlidepathError('not_found', `job run ${id} not found`);
        return fn(parseOrThrow(JobRunRecord, snap.data(), `corrupt job run ${id}`), tx);
      }),
    );
  }
}
