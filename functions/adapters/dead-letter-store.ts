/**
 * Dead letters in Firestore `deadLetters/{id}`: rejected messages, messages
 * Pub/Sub gave up on, failed job runs, and Slack notices given up on. A dead
 * letter is written with create(), and a replay is claimed in a transaction,
 * so duplicates are harmless and a dead letter is replayed at most once.
 */
import type { Firestore } from '@google-cloud/firestore';
import { DeadLetterRecord } from '../domain/records';
import { parseOrThrow } from '../domain/validation';
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
}
