/**
 * Job image rollouts in Firestore, `jobRollouts/{id}`, and the job locks,
 * `jobLocks/{job}`, that keep a job's runs and rollouts apart
 * (docs/jobs.md). Every write that must happen once is a create() or a
 * transaction.
 */
import type { Firestore, Transaction } from '@google-cloud/firestore';
import { JobRolloutRecord, toJobRolloutDocument, type JobRegionRecord } from '../domain/job-rollout';
import { parseOrThrow } from '../domain/validation';
import { GlidepathError } from '../shared/errors';
import type { JobLocks, JobRolloutStore, VerifyClaim } from '../ports';
import {
  jobRegionPatched,
  jobRolloutEnding,
  mayClaimLaunch,
  statusWithExecution,
  verifyClaim,
} from '../domain/store-rules';
import { ALREADY_EXISTS, COLLECTIONS, guardFirestore } from './firestore-store';

export class FirestoreJobRolloutStore implements JobRolloutStore {
  constructor(private readonly db: Firestore) {}

  private doc(id: string) {
    return this.db.collection(COLLECTIONS.jobRollouts).doc(id);
  }

  async get(id: string): Promise<JobRolloutRecord | undefined> {
    const snap = await guardFirestore(`read job rollout ${id}`, () => this.doc(id).get());
    return snap.exists ? parseOrThrow(JobRolloutRecord, snap.data(), `corrupt job rollout ${id}`) : undefined;
  }

  async listForJob(job: string, limit: number): Promise<JobRolloutRecord[]> {
    const snap = await guardFirestore(`list rollouts of job ${job}`, () =>
      this.db
        .collection(COLLECTIONS.jobRollouts)
        .where('job', '==', job)
        .orderBy('createdAt', 'desc')
        .limit(limit)
        .get(),
    );
    return snap.docs.map((d) => parseOrThrow(JobRolloutRecord, d.data(), `corrupt job rollout ${d.id}`));
  }

  /** A filter on status alone, ordered here: the automatic single-field index serves it. */
  async listUnfinished(limit: number): Promise<JobRolloutRecord[]> {
    const snap = await guardFirestore('list unfinished job rollouts', () =>
      this.db
        .collection(COLLECTIONS.jobRollouts)
        .where('status', 'in', ['PENDING', 'RUNNING'])
        .limit(limit)
        .get(),
    );
    return snap.docs
      .map((d) => parseOrThrow(JobRolloutRecord, d.data(), `corrupt job rollout ${d.id}`))
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  async create(
    record: JobRolloutRecord,
  ): Promise<{ kind: 'created' | 'duplicate'; rollout: JobRolloutRecord }> {
    const valid = parseOrThrow(JobRolloutRecord, record, 'job rollout');
    return guardFirestore(`create job rollout ${valid.id}`, async () => {
      try {
        await this.doc(valid.id).create(toJobRolloutDocument(valid));
        return { kind: 'created' as const, rollout: valid };
      } catch (err) {
        if ((err as { code?: number })?.code !== ALREADY_EXISTS) throw err;
        const existing = await this.get(valid.id);
        if (!existing)
          throw new GlidepathError('unavailable', `job rollout ${valid.id} exists and vanished; retry`);
        return { kind: 'duplicate' as const, rollout: existing };
      }
    });
  }

  async claimLaunch(id: string, now: Date): Promise<boolean> {
    return this.transact(`claim launch of job rollout ${id}`, id, (r, tx) => {
      if (!mayClaimLaunch(`job rollout ${id}`, r, now)) return false;
      tx.update(this.doc(id), { launchClaimedAt: now.toISOString() });
      return true;
    });
  }

  async releaseLaunch(id: string): Promise<void> {
    await guardFirestore(`release launch of job rollout ${id}`, () =>
      this.doc(id).update({ launchClaimedAt: null }),
    );
  }

  async recordExecution(id: string, executionName: string, now: Date): Promise<void> {
    await this.transact(`record execution of job rollout ${id}`, id, (r, tx) => {
      tx.update(this.doc(id), {
        executionName,
        status: statusWithExecution(r.status),
        updatedAt: now.toISOString(),
      });
    });
  }

  async claimVerify(id: string, region: string, now: Date): Promise<VerifyClaim> {
    return this.transact(`claim the verification of ${region} (job rollout ${id})`, id, (r, tx) => {
      const { claim, region: next } = verifyClaim(r, region, now);
      if (next) tx.update(this.doc(id), { [`regions.${region}`]: next, updatedAt: now.toISOString() });
      return claim;
    });
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
    return this.transact(`update region ${region} of job rollout ${id}`, id, (r, tx) => {
      const patched = jobRegionPatched(r, region, patch, now);
      tx.update(this.doc(id), { [`regions.${region}`]: patched.region, updatedAt: now.toISOString() });
      return patched.rollout;
    });
  }

  async finish(
    id: string,
    status: 'SUCCEEDED' | 'FAILED',
    reason: string | undefined,
    now: Date,
  ): Promise<{ rollout: JobRolloutRecord; changed: boolean }> {
    return this.transact(`finish job rollout ${id}`, id, (r, tx) => {
      const patch = jobRolloutEnding(r, status, reason, now);
      if (!patch) return { rollout: r, changed: false };
      tx.update(this.doc(id), patch);
      return { rollout: { ...r, ...patch }, changed: true };
    });
  }

  private transact<T>(what: string, id: string, fn: (r: JobRolloutRecord, tx: Transaction) => T): Promise<T> {
    return guardFirestore(what, () =>
      this.db.runTransaction(async (tx) => {
        const snap = await tx.get(this.doc(id));
        if (!snap.exists) throw new GlidepathError('not_found', `job rollout ${id} not found`);
        return fn(parseOrThrow(JobRolloutRecord, snap.data(), `corrupt job rollout ${id}`), tx);
      }),
    );
  }
}

export class FirestoreJobLocks implements JobLocks {
  constructor(private readonly db: Firestore) {}

  private doc(job: string) {
    return this.db.collection(COLLECTIONS.jobLocks).doc(job);
  }

  async acquire(
    job: string,
    holder: string,
    until: Date,
    now: Date,
  ): Promise<{ acquired: true } | { heldBy: string }> {
    return guardFirestore(`lock job ${job}`, () =>
      this.db.runTransaction(async (tx) => {
        const snap = await tx.get(this.doc(job));
        const held = snap.data() as { holder?: string; until?: string } | undefined;
        if (held?.holder && held.holder !== holder && held.until && Date.parse(held.until) > now.getTime())
          return { heldBy: held.holder };
        tx.set(this.doc(job), { holder, until: until.toISOString(), since: now.toISOString() });
        return { acquired: true as const };
      }),
    );
  }

  async release(job: string, holder: string): Promise<void> {
    await guardFirestore(`unlock job ${job}`, () =>
      this.db.runTransaction(async (tx) => {
        const snap = await tx.get(this.doc(job));
        if (snap.exists && (snap.data() as { holder?: string }).holder === holder) tx.delete(this.doc(job));
      }),
    );
  }
}
