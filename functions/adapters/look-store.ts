/**
 * The judge's looks in Firestore: one document each in the rollout's `looks`
 * subcollection (rollouts/{id}/looks/{region~step~at}), so the rollout's own
 * document stays small however many looks a step takes.
 */
import type { Firestore } from '@google-cloud/firestore';
import { LookRecord, lookId } from '../domain/looks';
import { parseOrThrow } from '../domain/validation';
import { fromSdkError } from '../shared/errors';
import type { LookStore } from '../ports';
import { COLLECTIONS } from './firestore-store';

const LOOKS = 'looks';

export class FirestoreLookStore implements LookStore {
  constructor(private readonly db: Firestore) {}

  private looks(rolloutId: string) {
    return this.db.collection(COLLECTIONS.rollouts).doc(rolloutId).collection(LOOKS);
  }

  async record(rolloutId: string, look: LookRecord): Promise<void> {
    const valid = parseOrThrow(LookRecord, look, `look of ${rolloutId}`);
    try {
      await this.looks(rolloutId).doc(lookId(valid)).set(valid);
    } catch (err) {
      throw fromSdkError(err, `record a look of ${rolloutId}`);
    }
  }

  async list(rolloutId: string): Promise<LookRecord[]> {
    let snap;
    try {
      snap = await this.looks(rolloutId).orderBy('at').get();
    } catch (err) {
      throw fromSdkError(err, `list the looks of ${rolloutId}`);
    }
    return snap.docs.map((d) => parseOrThrow(LookRecord, d.data(), `corrupt look ${rolloutId}/${d.id}`));
  }
}
