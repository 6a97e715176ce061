/**
 * Rollout state in Firestore (design brief §4). The service lease and the
 * (service, digest) deduplication are taken in one transaction, so two
 * images arriving at once can never both become the active rollout.
 */
// Types only: loading the Firestore library is deferred to the first request (cold start).
import type { Firestore, Transaction } from '@google-cloud/firestore';
import type { z } from 'zod';
import {
  RegionRecord,
  RolloutRecord,
  ServiceRecord,
  isTerminal,
  type RolloutStatus,
} from '../domain/records';
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
} as const;

/** gRPC ALREADY_EXISTS: a create() of a document that exists. */
export const ALREADY_EXISTS = 6;

/** How long one intake delivery may hold the right to start a rollout's execution. */
const LAUNCH_CLAIM_MS = 30_000;

/** A queued rollout once it holds the lease: no longer behind anyone. */
function dequeued({ queuedBehind, ...rollout }: RolloutRecord): RolloutRecord {
  return rollout;
}

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
    const nowIso = input.now.toISOString();
    const dedupRef = this.db.collection(COLLECTIONS.dedup).doc(input.dedupKey);
    return guardFirestore(`admit rollout ${input.rollout.id}`, () =>
      this.db.runTransaction(async (tx) => {
        const [dedupSnap, serviceSnap] = await tx.getAll(dedupRef, this.serviceDoc(input.rollout.service));
        if (dedupSnap.exists) {
          const dedup = dedupSnap.data() as { rolloutId: string; expiresAt: { toDate(): Date } };
          if (dedup.expiresAt.toDate() > input.now) {
            const existing = await this.readInTx(tx, dedup.rolloutId);
            if (existing)
              return {
                kind: 'duplicate',
                rollout: existing,
                reason: `same image already admitted as rollout ${existing.id} (${existing.status})`,
              };
          }
        }
        const service = serviceSnap.exists
          ? read(ServiceRecord, serviceSnap.data(), `service ${input.rollout.service}`)
          : read(ServiceRecord, { name: input.rollout.service, updatedAt: nowIso }, 'new service');
        const active = service.activeRollout ? await this.readInTx(tx, service.activeRollout) : undefined;
        const running = active && !isTerminal(active.status) ? active : undefined;

        const fresh = (extra: Partial<RolloutRecord>): RolloutRecord =>
          read(
            RolloutRecord,
            { ...input.rollout, status: 'PENDING', createdAt: nowIso, updatedAt: nowIso, ...extra },
            'new rollout',
          );
        const writeDedup = (): void => {
          tx.set(dedupRef, {
            rolloutId: input.rollout.id,
            expiresAt: new Date(input.now.getTime() + input.dedupTtlSeconds * 1000),
          });
        };

        if (running && running.digest === input.rollout.digest) {
          return {
            kind: 'duplicate',
            rollout: running,
            reason: `rollout ${running.id} of this image is already ${running.status}`,
          };
        }
        if (running && input.onNewImage === 'ignore') {
          return {
            kind: 'ignored',
            reason: `rollout ${running.id} of ${running.service} is running and onNewImage is "ignore"`,
            active: running,
          };
        }
        if (running && input.onNewImage === 'queue') {
          const rollout = fresh({ queuedBehind: running.id });
          tx.set(this.rolloutDoc(rollout.id), rollout);
          tx.set(this.serviceDoc(service.name), {
            ...service,
            queue: [...service.queue, rollout.id],
            updatedAt: nowIso,
          });
          writeDedup();
          this.eventInTx(tx, rollout.id, input.now, {
            type: 'queued',
            message: `queued behind rollout ${running.id}`,
          });
          return { kind: 'queued', rollout, behind: running.id };
        }
        // The admitting delivery also holds the launch claim: it starts the execution next.
        const rollout = fresh({ launchClaimedAt: nowIso });
        tx.set(this.rolloutDoc(rollout.id), rollout);
        tx.set(this.serviceDoc(service.name), {
          ...service,
          activeRollout: rollout.id,
          activeDigest: rollout.digest,
          updatedAt: nowIso,
        });
        writeDedup();
        this.eventInTx(tx, rollout.id, input.now, {
          type: 'admitted',
          message: `admitted from ${rollout.source}`,
        });
        if (running) {
          const superseded = {
            ...running,
            status: 'SUPERSEDED' as const,
            supersededBy: rollout.id,
            updatedAt: nowIso,
            endedAt: nowIso,
            outcomeReason: `superseded by ${rollout.id}`,
          };
          tx.set(this.rolloutDoc(running.id), superseded);
          this.eventInTx(tx, running.id, input.now, {
            type: 'superseded',
            message: `superseded by rollout ${rollout.id}`,
          });
          return { kind: 'started', rollout, superseded };
        }
        return { kind: 'started', rollout };
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
        const snap = await tx.get(this.rolloutDoc(id));
        if (!snap.exists) return false;
        const data = read(RolloutRecord, snap.data(), `rollout ${id}`);
        if (data.status !== 'PENDING' || data.executionName || data.queuedBehind) return false;
        if (data.launchClaimedAt && now.getTime() - Date.parse(data.launchClaimedAt) < LAUNCH_CLAIM_MS) {
          throw new GlidepathError(
            'conflict',
            `rollout ${id} is being started by another delivery; retry later`,
          );
        }
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
        const status: RolloutStatus = current.status === 'PENDING' ? 'RUNNING' : current.status;
        tx.update(this.rolloutDoc(id), { executionName, status, updatedAt: now.toISOString() });
        this.eventInTx(tx, id, now, {
          type: 'execution_started',
          message: `workflow execution ${executionName}`,
        });
      }),
    );
  }

  /**
   * The rollout, if it may still act: RUNNING, holding its service's lease,
   * and (when given) driven by this very workflow execution. Otherwise the
   * reason it must stop.
   */
  async authorize(id: string, executionId?: string): Promise<Authorization> {
    const rollout = await this.getRollout(id);
    if (!rollout) return { stop: `rollout ${id} not found` };
    // PENDING too: the execution's first call can arrive before intake has recorded its name.
    const startingUp = rollout.status === 'PENDING' && !rollout.queuedBehind;
    if (rollout.status !== 'RUNNING' && !startingUp) return { stop: `rollout ${id} is ${rollout.status}` };
    if (executionId && rollout.executionName && !rollout.executionName.endsWith(`/${executionId}`))
      return { stop: `rollout ${id} is driven by ${rollout.executionName}, not execution ${executionId}` };
    const service = await this.getService(rollout.service);
    if (service?.activeRollout !== id)
      return { stop: `rollout ${id} no longer holds the lease of ${rollout.service}` };
    return { rollout, service };
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
        const merged = read(
          RegionRecord,
          { ...(rollout.regions[region] ?? { status: 'PENDING' }), ...patch, updatedAt: now.toISOString() },
          `region ${region}`,
        );
        // update() with a field path replaces the region's record whole; a merging set()
        // would keep map keys that are gone (a rolled-back candidate's share of the traffic).
        // (Region names are validated: no dots, so the path has exactly two segments.)
        tx.update(this.rolloutDoc(id), `regions.${region}`, merged, 'updatedAt', now.toISOString());
        if (event) this.eventInTx(tx, id, now, { region, ...event });
        return merged;
      }),
    );
  }

  /**
   * Takes the region's candidate slot of a service for `rolloutId`, which
   * must hold the lease. The slot may change hands only from `replacing`,
   * whose candidate the caller has already taken down.
   */
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
        const holder = service.candidates[region];
        if (holder === rolloutId) return;
        if (service.activeRollout !== rolloutId)
          throw new GlidepathError(
            'conflict',
            `rollout ${rolloutId} does not hold the lease of ${serviceName}`,
          );
        if (holder && holder !== replacing)
          throw new GlidepathError(
            'conflict',
            `the ${region} candidate slot of ${serviceName} is held by ${holder}, whose candidate is not taken down yet`,
          );
        tx.set(this.serviceDoc(serviceName), {
          ...service,
          candidates: { ...service.candidates, [region]: rolloutId },
          updatedAt: now.toISOString(),
        });
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
        const candidates = { ...service.candidates };
        if (candidates[region] === rolloutId) delete candidates[region];
        tx.set(this.serviceDoc(serviceName), {
          ...service,
          candidates,
          lastGood: lastGood ? { ...service.lastGood, [region]: lastGood } : service.lastGood,
          updatedAt: now.toISOString(),
        });
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
        const nextId = service?.activeRollout === id ? service.queue[0] : undefined;
        const queued = nextId ? await this.readInTx(tx, nextId) : undefined;
        const next = queued ? dequeued(queued) : undefined;
        const nowIso = now.toISOString();
        const ended = isTerminal(rollout.status)
          ? rollout
          : { ...rollout, status, outcomeReason: reason, endedAt: nowIso, updatedAt: nowIso };
        tx.set(this.rolloutDoc(id), ended);
        if (service) {
          const holds = service.activeRollout === id;
          tx.set(this.serviceDoc(rollout.service), {
            ...service,
            activeRollout: holds ? (next?.id ?? null) : service.activeRollout,
            activeDigest: holds ? (next?.digest ?? null) : service.activeDigest,
            queue: holds && next ? service.queue.slice(1) : service.queue,
            lastFailedDigest:
              status === 'ROLLED_BACK' || status === 'FAILED' ? rollout.digest : service.lastFailedDigest,
            updatedAt: nowIso,
          });
        }
        if (next) tx.set(this.rolloutDoc(next.id), next); // no merge: `queuedBehind` goes
        if (!isTerminal(rollout.status))
          this.eventInTx(tx, id, now, { type: 'finished', message: `${status}: ${reason}` });
        return { rollout: ended, ...(next ? { next } : {}) };
      }),
    );
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
