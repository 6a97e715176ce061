/**
 * Rollout state in Firestore (design brief §4). The service lease and the
 * (service, digest) deduplication are taken in one transaction, so two
 * images arriving at once can never both become the active rollout.
 */
// Types only: loading the Firestore library is deferred to the first request (cold start).
import type { Firestore, Transaction } from '@google-cloud/firestore';
import type { z } from 'zod';
import { RolloutRecord, ServiceRecord, type RegionRecord, type RolloutStatus } from '../domain/records';
import {
  admission,
  authorization,
  finished,
  mayClaimLaunch,
  mergedRegion,
  nextInQueue,
  statusWithExecution,
  withRegionClaimed,
  withRegionReleased,
  type StoreWrites,
} from '../domain/store-rules';
import { GlidepathError, fromSdkError } from '../shared/errors';
import { parseOrThrow } from '../domain/validation';
import type { AdmitInput, Admission, Authorization, RolloutEvent, RolloutStore } from '../ports';

export const COLLECTIONS = {
  rollouts: 'rollouts',
  services: 'services',
  jobRuns: 'jobRuns',
  jobRollouts: 'jobRollouts',
  jobLocks: 'jobLocks',
  deadLetters: 'deadLetters',
  dedup: 'dedup',
  events: 'events',
  slackOutbox: 'slackOutbox',
  pagerOutbox: 'pagerOutbox',
} as const;

/** gRPC ALREADY_EXISTS: a create() of a document that exists. */
export const ALREADY_EXISTS = 6;

function read<S extends z.ZodType>(schema: S, data: unknown, what: string): z.output<S> {
  return parseOrThrow(schema, data, `corrupt ${what}`);
}

export class FirestoreRolloutStore implements RolloutStore {
  constructor(private readonly db: Firestore) {}

  private rolloutDoc(id: string) {
    return this.db.collection(COLLECTIONS.rollouts).doc(id);
  }
  private serviceDoc(name: string) {
    return this.db.collection(COLLECTIONS.services).doc(name);
  }

  async getRollout(id: string): Promise<RolloutRecord | undefined> {
    const snap = await guardFirestore(`read rollout ${id}`, () => this.rolloutDoc(id).get());
    return snap.exists ? read(RolloutRecord, snap.data(), `rollout ${id}`) : undefined;
  }

  async getService(name: string): Promise<ServiceRecord | undefined> {
    const snap = await guardFirestore(`read service ${name}`, () => this.serviceDoc(name).get());
    return snap.exists ? read(ServiceRecord, snap.data(), `service ${name}`) : undefined;
  }

  /** Every service Glidepath has seen (one small document each; the sweeper walks them). */
  async listServices(): Promise<ServiceRecord[]> {
    const snap = await guardFirestore('list services', () => this.db.collection(COLLECTIONS.services).get());
    return snap.docs.map((d) => read(ServiceRecord, d.data(), `service ${d.id}`));
  }

  /**
   * Records a new rollout and takes the service's lease, honouring
   * `onNewImage` when another rollout of the service is active.
   */
  async admit(input: AdmitInput): Promise<Admission> {
    const dedupRef = this.db.collection(COLLECTIONS.dedup).doc(input.dedupKey);
    return guardFirestore(`admit rollout ${input.rollout.id}`, () =>
      this.db.runTransaction(async (tx) => {
        const [dedupSnap, serviceSnap] = await tx.getAll(dedupRef, this.serviceDoc(input.rollout.service));
        const stored = dedupSnap.data() as { rolloutId: string; expiresAt: { toDate(): Date } } | undefined;
        const dedup = stored && { rolloutId: stored.rolloutId, expiresAt: stored.expiresAt.toDate() };
        const service = serviceSnap.exists
          ? read(ServiceRecord, serviceSnap.data(), `service ${input.rollout.service}`)
          : undefined;
        const { admission: result, writes } = admission(input, {
          ...(dedup ? { dedup, dedupRollout: await this.readInTx(tx, dedup.rolloutId) } : {}),
          ...(service ? { service } : {}),
          ...(service?.activeRollout ? { active: await this.readInTx(tx, service.activeRollout) } : {}),
        });
        if (writes.dedup) tx.set(dedupRef, writes.dedup);
        this.writeInTx(tx, input.now, writes);
        return result;
      }),
    );
  }

  /**
   * Claims the right to start the execution of a PENDING rollout that has
   * none yet: true if this caller should start it now. A fresh claim by
   * another delivery throws a transient error so Pub/Sub redelivers later.
   */
  async claimLaunch(id: string, now: Date): Promise<boolean> {
    return guardFirestore(`claim launch of ${id}`, () =>
      this.db.runTransaction(async (tx) => {
        const rollout = await this.readInTx(tx, id);
        if (!rollout || !mayClaimLaunch(`rollout ${id}`, rollout, now)) return false;
        tx.update(this.rolloutDoc(id), { launchClaimedAt: now.toISOString() });
        return true;
      }),
    );
  }

  /** Gives up a launch claim after a failed start, so the redelivery can start at once. */
  async releaseLaunch(id: string): Promise<void> {
    await guardFirestore(`release launch of ${id}`, () =>
      this.rolloutDoc(id).update({ launchClaimedAt: null }),
    );
  }

  /** Records the server-assigned execution name; the rollout is RUNNING from here on. */
  async recordExecution(id: string, executionName: string, now: Date): Promise<void> {
    await guardFirestore(`record execution of ${id}`, () =>
      this.db.runTransaction(async (tx) => {
        const current = await this.readInTx(tx, id);
        if (!current) throw new GlidepathError('not_found', `rollout ${id} not found`);
        const status = statusWithExecution(current.status);
        tx.update(this.rolloutDoc(id), { executionName, status, updatedAt: now.toISOString() });
        this.eventInTx(tx, id, now, {
          type: 'execution_started',
          message: `workflow execution ${executionName}`,
        });
      }),
    );
  }

  /** The rollout if it may still act, with its service; otherwise the reason it must stop. */
  async authorize(id: string, executionId?: string): Promise<Authorization> {
    const rollout = await this.getRollout(id);
    const service = rollout && (await this.getService(rollout.service));
    return authorization(id, executionId, rollout, service);
  }

  /** Merges `patch` into the rollout's record of one region and appends an event. */
  async updateRegion(
    id: string,
    region: string,
    now: Date,
    patch: Partial<RegionRecord>,
    event?: RolloutEvent,
  ): Promise<RegionRecord> {
    return guardFirestore(`update ${id}/${region}`, () =>
      this.db.runTransaction(async (tx) => {
        const rollout = await this.readInTx(tx, id);
        if (!rollout) throw new GlidepathError('not_found', `rollout ${id} not found`);
        const merged = mergedRegion(rollout, region, patch, now);
        // update() with a field path replaces the region's record whole; a merging set()
        // would keep map keys that are gone (a rolled-back candidate's share of the traffic).
        // (Region names are validated: no dots, so the path has exactly two segments.)
        tx.update(this.rolloutDoc(id), `regions.${region}`, merged, 'updatedAt', now.toISOString());
        if (event) this.eventInTx(tx, id, now, { region, ...event });
        return merged;
      }),
    );
  }

  /** Takes the region's candidate slot of a service for `rolloutId` (see RolloutStore.claimRegion). */
  async claimRegion(
    serviceName: string,
    region: string,
    rolloutId: string,
    now: Date,
    replacing?: string,
  ): Promise<void> {
    return guardFirestore(`claim ${serviceName}/${region}`, () =>
      this.db.runTransaction(async (tx) => {
        const snap = await tx.get(this.serviceDoc(serviceName));
        const service = read(
          ServiceRecord,
          snap.data() ?? { name: serviceName, updatedAt: now.toISOString() },
          `service ${serviceName}`,
        );
        const claimed = withRegionClaimed(service, region, rolloutId, now, replacing);
        if (claimed) tx.set(this.serviceDoc(serviceName), claimed);
      }),
    );
  }

  /** Frees the region's candidate slot if `rolloutId` holds it; records a promoted revision as last good. */
  async releaseRegion(
    serviceName: string,
    region: string,
    rolloutId: string,
    now: Date,
    lastGood?: string,
  ): Promise<void> {
    await guardFirestore(`release ${serviceName}/${region}`, () =>
      this.db.runTransaction(async (tx) => {
        const snap = await tx.get(this.serviceDoc(serviceName));
        if (!snap.exists) return;
        const service = read(ServiceRecord, snap.data(), `service ${serviceName}`);
        tx.set(this.serviceDoc(serviceName), withRegionReleased(service, region, rolloutId, now, lastGood));
      }),
    );
  }

  /**
   * Ends a rollout: its status, the service's lease, the last failed digest.
   * Returns the next queued rollout of the service, now holding the lease.
   */
  async finish(
    id: string,
    status: RolloutStatus,
    reason: string,
    now: Date,
  ): Promise<{ rollout: RolloutRecord; next?: RolloutRecord }> {
    return guardFirestore(`finish ${id}`, () =>
      this.db.runTransaction(async (tx) => {
        const rollout = await this.readInTx(tx, id);
        if (!rollout) throw new GlidepathError('not_found', `rollout ${id} not found`);
        const serviceSnap = await tx.get(this.serviceDoc(rollout.service));
        const service = serviceSnap.exists
          ? read(ServiceRecord, serviceSnap.data(), `service ${rollout.service}`)
          : undefined;
        const nextId = nextInQueue(service, id);
        const queued = nextId ? await this.readInTx(tx, nextId) : undefined;
        const { writes, ...result } = finished(rollout, service, queued, status, reason, now);
        this.writeInTx(tx, now, writes); // whole documents, no merge: the next one's `queuedBehind` goes
        return result;
      }),
    );
  }

  /** True once, for the caller that should post the end of a stopped rollout. */
  async claimEndNotice(id: string, now: Date): Promise<boolean> {
    return guardFirestore(`claim the end notice of ${id}`, () =>
      this.db.runTransaction(async (tx) => {
        const rollout = await this.readInTx(tx, id);
        if (!rollout) throw new GlidepathError('not_found', `rollout ${id} not found`);
        if (rollout.endNoticeAt) return false;
        tx.update(this.rolloutDoc(id), { endNoticeAt: now.toISOString() });
        return true;
      }),
    );
  }

  private writeInTx(tx: Transaction, now: Date, writes: StoreWrites): void {
    for (const rollout of writes.rollouts) tx.set(this.rolloutDoc(rollout.id), rollout);
    if (writes.service) tx.set(this.serviceDoc(writes.service.name), writes.service);
    for (const { rolloutId, event } of writes.events) this.eventInTx(tx, rolloutId, now, event);
  }

  private async readInTx(tx: Transaction, id: string): Promise<RolloutRecord | undefined> {
    const snap = await tx.get(this.rolloutDoc(id));
    return snap.exists ? read(RolloutRecord, snap.data(), `rollout ${id}`) : undefined;
  }

  private eventInTx(tx: Transaction, id: string, now: Date, event: RolloutEvent): void {
    tx.set(this.rolloutDoc(id).collection(COLLECTIONS.events).doc(), { at: now.toISOString(), ...event });
  }
}

/** Runs one Firestore call; an SDK error becomes a GlidepathError (ours and validation errors pass through). */
export async function guardFirestore<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof GlidepathError || (err as Error)?.name === 'ValidationError') throw err;
    throw fromSdkError(err, what);
  }
}
