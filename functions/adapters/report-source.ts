/** A rollout's report data from Firestore: its record, its events, its looks, and its service's history. */
import type { Firestore } from '@google-cloud/firestore';
import { z } from 'zod';
import { RolloutRecord } from '../domain/records';
import { parseOrThrow } from '../domain/validation';
import type { LookRecord } from '../domain/looks';
import type { ReportSource } from '../ports';
import type { ReportEvent } from '../report/model';
import { fromSdkError } from '../shared/errors';
import { COLLECTIONS } from './firestore-store';
import { FirestoreLookStore } from './look-store';

const StoredEvent = z.object({
  at: z.string(),
  type: z.string(),
  message: z.string(),
  region: z.string().optional(),
  step: z.number().optional(),
});

/** The rollouts of a service, newest first (composite index service ASC, createdAt DESC in terraform/firestore.tf). */
export async function listRollouts(db: Firestore, service: string, limit: number): Promise<RolloutRecord[]> {
  const snap = await db
    .collection(COLLECTIONS.rollouts)
    .where('service', '==', service)
    .orderBy('createdAt', 'desc')
    .limit(limit)
    .get();
  return snap.docs.map((d) => parseOrThrow(RolloutRecord, d.data(), `corrupt rollout ${d.id}`));
}

export class FirestoreReportSource implements ReportSource {
  private readonly lookStore: FirestoreLookStore;
  constructor(private readonly db: Firestore) {
    this.lookStore = new FirestoreLookStore(db);
  }

  private async guard<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if ((err as Error)?.name === 'ValidationError') throw err;
      throw fromSdkError(err, what);
    }
  }

  rollout(id: string): Promise<RolloutRecord | undefined> {
    return this.guard(`read rollout ${id}`, async () => {
      const snap = await this.db.collection(COLLECTIONS.rollouts).doc(id).get();
      return snap.exists ? parseOrThrow(RolloutRecord, snap.data(), `corrupt rollout ${id}`) : undefined;
    });
  }

  events(id: string): Promise<ReportEvent[]> {
    return this.guard(`read the events of ${id}`, async () => {
      const snap = await this.db
        .collection(COLLECTIONS.rollouts)
        .doc(id)
        .collection(COLLECTIONS.events)
        .orderBy('at')
        .get();
      return snap.docs.map((d) => parseOrThrow(StoredEvent, d.data(), `corrupt event ${id}/${d.id}`));
    });
  }

  looks(id: string): Promise<LookRecord[]> {
    return this.lookStore.list(id);
  }

  history(service: string, limit: number): Promise<RolloutRecord[]> {
    return this.guard(`list the rollouts of ${service}`, () => listRollouts(this.db, service, limit));
  }
}
