/**
 * Dead letters in Firestore `deadLetters/{id}`: rejected messages, messages
 * Pub/Sub gave up on, failed job runs, and Slack notices given up on. A dead
 * letter is written with create(), and a replay is claimed in a transaction,
 * so duplicates are harmless and a dead letter is replayed at most once.
 */
import type { Firestore } from '@google-cloud/firestore';
import { DeadLetterRecord } from '../domain/records';
import { parseOrThrow } from '../domain/validation';
import { replayClaim, replayReleased } from '../domain/store-rules';
import { GlidepathError } from '../shared/errors';
import type { DeadLetterStore, ReplayClaim } from '../ports';
import { ALREADY_EXISTS, COLLECTIONS, guardFirestore } from './firestore-store';

export class FirestoreDeadLetterStore implements DeadLetterStore {
  constructor(private readonly db: Firestore) {}

  private deadLetterDoc(id: string) {
    return this.db.collection(COLLECTIONS.deadLetters).doc(id);
  }

  /** Writes the dead letter unless one with its id exists; true if this call created it. */
  async createDeadLetter(record: DeadLetterRecord): Promise<boolean> {
    const valid = parseOrThrow(DeadLetterRecord, record, 'dead letter');
    return guardFirestore(`record dead letter ${valid.id}`, async () => {
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
    const snap = await guardFirestore(`read dead letter ${id}`, () => this.deadLetterDoc(id).get());
    return snap.exists ? parseOrThrow(DeadLetterRecord, snap.data(), `corrupt dead letter ${id}`) : undefined;
  }

  /** Newest first; only those not replayed yet unless `all`. */
  async listDeadLetters(opts: { all: boolean; limit: number }): Promise<DeadLetterRecord[]> {
    const col = this.db.collection(COLLECTIONS.deadLetters);
    const query = (opts.all ? col : col.where('replayed', '==', false))
      .orderBy('createdAt', 'desc')
      .limit(opts.limit);
    const snap = await guardFirestore('list dead letters', () => query.get());
    return snap.docs.map((d) => parseOrThrow(DeadLetterRecord, d.data(), `corrupt dead letter ${d.id}`));
  }

  /**
   * Marks the dead letter replayed by `by`, in a transaction, before anything
   * is published: of two replays, one wins and the other is refused.
   */
  async claimReplay(id: string, by: string, now: Date): Promise<ReplayClaim> {
    return guardFirestore(`claim replay of dead letter ${id}`, () =>
      this.db.runTransaction(async (tx) => {
        const snap = await tx.get(this.deadLetterDoc(id));
        if (!snap.exists) throw new GlidepathError('not_found', `dead letter ${id} not found`);
        const claim = replayClaim(
          parseOrThrow(DeadLetterRecord, snap.data(), `corrupt dead letter ${id}`),
          by,
          now,
        );
        if (claim.kind === 'claimed') tx.set(this.deadLetterDoc(id), claim.record);
        return claim;
      }),
    );
  }

  async recordReplay(id: string, replayMessageId: string): Promise<void> {
    await guardFirestore(`record replay of dead letter ${id}`, () =>
      this.deadLetterDoc(id).update({ replayMessageId }),
    );
  }

  /** Gives a claimed replay back after its publish failed, so it can be tried again. */
  async releaseReplay(id: string): Promise<void> {
    await guardFirestore(`release replay of dead letter ${id}`, () =>
      this.db.runTransaction(async (tx) => {
        const snap = await tx.get(this.deadLetterDoc(id));
        if (!snap.exists) return;
        const released = replayReleased(
          parseOrThrow(DeadLetterRecord, snap.data(), `corrupt dead letter ${id}`),
        );
        // The whole record, without the replay fields (the schema has no null for them).
        if (released) tx.set(this.deadLetterDoc(id), released);
      }),
    );
  }
}
