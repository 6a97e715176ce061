/**
 * A Slack message that could not be delivered is not dropped: it waits in
 * Firestore `slackOutbox` and the sweeper delivers it later, so a Slack
 * outage delays the team's notices but loses none.
 */
import type { Firestore } from '@google-cloud/firestore';
import type { FlushReport, NoticeOutbox, Notifier, SlackMessage } from '../ports';
import type { Logger } from '../shared/log';
import { COLLECTIONS } from './firestore-store';
import { fromSdkError } from '../shared/errors';
import type { DeadLetterRecord } from '../domain/records';

/** A day of five-minute sweeps; after that the notice moves to `deadLetters` (kept, no longer retried). */
export const OUTBOX_MAX_ATTEMPTS = 288;

export interface OutboxEntry {
  message: SlackMessage;
  createdAt: string;
  attempts: number;
}

export class OutboxNotifier implements Notifier, NoticeOutbox {
  constructor(
    private readonly slack: Notifier,
    private readonly db: Firestore,
    private readonly log: Logger,
    private readonly now: () => Date,
  ) {}

  private get outbox() {
    return this.db.collection(COLLECTIONS.slackOutbox);
  }

  async notify(message: SlackMessage): Promise<boolean> {
    if (await this.slack.notify(message)) return true;
    const entry: OutboxEntry = { message, createdAt: this.now().toISOString(), attempts: 1 };
    try {
      // JSON round trip: Block Kit may hold undefined fields that Firestore refuses.
      await this.outbox.add(JSON.parse(JSON.stringify(entry)));
      this.log.warn('slack notice queued in the outbox', { slackText: message.text });
    } catch (err) {
      this.log.error('slack notice lost: neither Slack nor the outbox took it', {
        slackText: message.text,
        error: fromSdkError(err, 'queue slack notice').message,
      });
    }
    return false;
  }

  /** Re-sends queued notices, oldest first; stops at the first failure (Slack is still down). */
  async flush(limit = 50): Promise<FlushReport> {
    const snap = await this.outbox.orderBy('createdAt').limit(limit).get();
    let delivered = 0;
    for (const [i, doc] of snap.docs.entries()) {
      const entry = doc.data() as OutboxEntry;
      if (await this.slack.notify(entry.message)) {
        await doc.ref.delete();
        delivered++;
        continue;
      }
      const attempts = entry.attempts + 1;
      if (attempts < OUTBOX_MAX_ATTEMPTS) await doc.ref.update({ attempts });
      else await this.giveUp(doc.id, entry);
      return { delivered, pending: snap.size - i };
    }
    return { delivered, pending: 0 };
  }

  private async giveUp(id: string, entry: OutboxEntry): Promise<void> {
    const record: DeadLetterRecord = {
      id: `slack-${id}`,
      kind: 'undeliverable',
      source: 'slack',
      reason: `Slack refused this notice ${entry.attempts} times since ${entry.createdAt}`,
      data: Buffer.from(JSON.stringify(entry.message)).toString('base64'),
      attributes: {},
      createdAt: this.now().toISOString(),
      replayed: false,
    };
    const batch = this.db.batch();
    batch.set(this.db.collection(COLLECTIONS.deadLetters).doc(record.id), record);
    batch.delete(this.outbox.doc(id));
    await batch.commit();
    this.log.error('slack notice given up; kept in deadLetters', { deadLetterId: record.id });
  }
}
