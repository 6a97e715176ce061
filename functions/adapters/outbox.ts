/**
 * A notice that could not be delivered is not dropped: it waits in Firestore
 * (`slackOutbox` for Slack, `pagerOutbox` for PagerDuty) and the sweeper
 * delivers it later, so an outage delays the team's notices but loses none.
 * Each provider has its own outbox, so one's outage never holds the other's
 * notices back.
 */
import type { Firestore } from '@google-cloud/firestore';
import type { FlushReport, NoticeOutbox, Notifier, SlackMessage } from '../ports';
import type { Logger } from '../shared/log';
import { COLLECTIONS } from './firestore-store';
import { fromSdkError } from '../shared/errors';
import type { DeadLetterRecord } from '../domain/records';

/** A day of five-minute sweeps; after that the notice moves to `deadLetters` (kept, no longer retried). */
const OUTBOX_MAX_ATTEMPTS = 288;

interface OutboxEntry {
  message: SlackMessage;
  createdAt: string;
  attempts: number;
}

/** Which provider an outbox holds notices for: its collection and the name in logs and dead letters. */
interface OutboxTarget {
  provider: 'slack' | 'pagerduty';
  collection: string;
}

export const SLACK_OUTBOX: OutboxTarget = { provider: 'slack', collection: COLLECTIONS.slackOutbox };
export const PAGER_OUTBOX: OutboxTarget = { provider: 'pagerduty', collection: COLLECTIONS.pagerOutbox };

export class OutboxNotifier implements Notifier, NoticeOutbox {
  constructor(
    private readonly slack: Notifier,
    private readonly db: Firestore,
    private readonly log: Logger,
    private readonly now: () => Date,
    private readonly target: OutboxTarget = SLACK_OUTBOX,
  ) {}

  private get outbox() {
    return this.db.collection(this.target.collection);
  }

  async notify(message: SlackMessage): Promise<boolean> {
    if (await this.slack.notify(message)) return true;
    const entry: OutboxEntry = { message, createdAt: this.now().toISOString(), attempts: 1 };
    try {
      // JSON round trip: Block Kit may hold undefined fields that Firestore refuses.
      await this.outbox.add(JSON.parse(JSON.stringify(entry)));
      this.log.warn(`${this.target.provider} notice queued in the outbox`, { slackText: message.text });
    } catch (err) {
      this.log.error(
        `${this.target.provider} notice lost: neither ${this.target.provider} nor the outbox took it`,
        {
          slackText: message.text,
          error: fromSdkError(err, `queue ${this.target.provider} notice`).message,
        },
      );
    }
    return false;
  }

  /** Re-sends queued notices, oldest first; stops at the first failure (the provider is still down). */
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
    const { provider } = this.target;
    const record: DeadLetterRecord = {
      id: `${provider}-${id}`,
      kind: 'undeliverable',
      source: provider,
      reason: `${provider === 'slack' ? 'Slack' : 'PagerDuty'} refused this notice ${entry.attempts} times since ${entry.createdAt}`,
      data: Buffer.from(JSON.stringify(entry.message)).toString('base64'),
      attributes: {},
      createdAt: this.now().toISOString(),
      replayed: false,
    };
    const batch = this.db.batch();
    batch.set(this.db.collection(COLLECTIONS.deadLetters).doc(record.id), record);
    batch.delete(this.outbox.doc(id));
    await batch.commit();
    this.log.error(`${provider} notice given up; kept in deadLetters`, { deadLetterId: record.id });
  }
}

/**
 * Every provider gets every notice (Flagger's pkg/notifier: one interface,
 * many providers), each through its own outbox; a provider takes only its
 * part (Slack the message, PagerDuty the alerts). Delivered means delivered
 * to all; nothing is lost either way (the outboxes keep what failed).
 */
export class FanoutNotifier implements Notifier, NoticeOutbox {
  constructor(private readonly providers: Array<Notifier & NoticeOutbox>) {}

  async notify(message: SlackMessage): Promise<boolean> {
    const delivered = await Promise.all(this.providers.map((p) => p.notify(message)));
    return delivered.every(Boolean);
  }

  async flush(limit?: number): Promise<FlushReport> {
    const reports = [];
    for (const p of this.providers) reports.push(await p.flush(limit));
    return {
      delivered: reports.reduce((n, r) => n + r.delivered, 0),
      pending: reports.reduce((n, r) => n + r.pending, 0),
    };
  }
}
