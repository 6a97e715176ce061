/**
 * The PagerDuty notifier (functions/adapters/pagerduty.ts) against the
 * PagerDuty sink, behind the same outbox as Slack (functions/adapters/outbox.ts)
 * on Google's Firestore emulator: events as the Events API v2 documents them,
 * retries on 5xx, no retry on 400, and an outage's alerts kept in
 * `pagerOutbox` until a flush delivers them.
 */
import { Firestore } from '@google-cloud/firestore';
import { startPagerDutySink, type PagerDutySink } from '../../../emulators/pagerduty-sink';
import {
  FanoutNotifier,
  OutboxNotifier,
  PAGER_OUTBOX,
  SLACK_OUTBOX,
} from '../../../functions/adapters/outbox';
import { PagerDutyNotifier } from '../../../functions/adapters/pagerduty';
import type { Notifier, PagerAlert, SlackMessage } from '../../../functions/ports';
import { createLogger } from '../../../functions/shared/log';
import { describeWithEmulators, testProjectId } from '../../helpers/emulators';

const KEY = 'a'.repeat(32);
const NOW = new Date('2026-11-30T08:00:00Z');
const log = createLogger({}, () => undefined);
const trigger: PagerAlert = {
  action: 'trigger',
  dedupKey: 'glidepath/rollout/api-1',
  summary: 'x'.repeat(2000),
  severity: 'critical',
  source: 'run.googleapis.com/projects/p/services/api',
  component: 'api',
  details: { rolloutId: 'api-1' },
};
const notice = (alerts?: PagerAlert[]): SlackMessage => ({
  text: 'rolled back',
  blocks: [],
  ...(alerts ? { alerts } : {}),
});

describeWithEmulators('PagerDuty notifier', () => {
  let sink: PagerDutySink;
  let db: Firestore;
  beforeAll(async () => {
    sink = await startPagerDutySink();
    db = new Firestore({ projectId: testProjectId(__filename) });
  });
  afterAll(async () => {
    await sink?.stop();
    await db?.terminate();
  });
  beforeEach(async () => {
    sink.setMode('ok');
    sink.events.length = 0;
    for (const d of (await db.collection(PAGER_OUTBOX.collection).get()).docs) await d.ref.delete();
  });
  const pager = (routingKey = KEY) =>
    new PagerDutyNotifier({ url: sink.url, routingKey, attempts: 3, backoffMs: 1 }, log, () => NOW);

  it('sends a trigger with the documented fields, the summary cut to 1024 characters; a resolve closes it', async () => {
    expect(await pager().notify(notice([trigger]))).toBe(true);
    expect(sink.events).toEqual([
      {
        routing_key: KEY,
        event_action: 'trigger',
        dedup_key: 'glidepath/rollout/api-1',
        client: 'Glidepath',
        payload: {
          summary: 'x'.repeat(1024),
          source: 'run.googleapis.com/projects/p/services/api',
          severity: 'critical',
          timestamp: '2026-11-30T08:00:00.000Z',
          component: 'api',
          group: 'glidepath',
          class: 'deployment',
          custom_details: { rolloutId: 'api-1' },
        },
      },
    ]);
    expect(sink.open()).toEqual(['glidepath/rollout/api-1']);
    expect(await pager().notify(notice([{ action: 'resolve', dedupKey: 'glidepath/rollout/api-1' }]))).toBe(
      true,
    );
    expect(sink.events[1]).toEqual({
      routing_key: KEY,
      event_action: 'resolve',
      dedup_key: 'glidepath/rollout/api-1',
    });
    expect(sink.open()).toEqual([]);
  });

  it('has nothing to send for a notice without alerts', async () => {
    const before = sink.attempts;
    expect(await pager().notify(notice())).toBe(true);
    expect(sink.attempts).toBe(before);
  });

  it('retries a 5xx and a 429 a bounded number of times, and does not retry a 400', async () => {
    sink.setMode('error');
    let before = sink.attempts;
    expect(await pager().notify(notice([trigger]))).toBe(false);
    expect(sink.attempts - before).toBe(3);
    sink.setMode('throttle');
    before = sink.attempts;
    expect(await pager().notify(notice([trigger]))).toBe(false);
    expect(sink.attempts - before).toBe(3);
    sink.setMode('ok');
    before = sink.attempts;
    expect(await pager('short-key').notify(notice([trigger]))).toBe(false);
    expect(sink.attempts - before).toBe(1);
    expect(sink.events).toEqual([]);
  });

  it('keeps an outage’s alerts in pagerOutbox, apart from Slack’s, and delivers them at the next flush', async () => {
    sink.setMode('error');
    const slackPosts: SlackMessage[] = [];
    const slack: Notifier = { notify: async (m) => (slackPosts.push(m), true) };
    const fanout = new FanoutNotifier([
      new OutboxNotifier(slack, db, log, () => NOW, SLACK_OUTBOX),
      new OutboxNotifier(pager(), db, log, () => NOW, PAGER_OUTBOX),
    ]);
    expect(await fanout.notify(notice([trigger]))).toBe(false);
    expect(slackPosts).toHaveLength(1); // Slack got its message; only PagerDuty's part waits
    const queued = await db.collection(PAGER_OUTBOX.collection).get();
    expect(queued.docs.map((d) => d.data().message.alerts)).toEqual([[trigger]]);
    expect(sink.events).toEqual([]);

    expect(await fanout.flush()).toEqual({ delivered: 0, pending: 1 });
    sink.setMode('ok');
    expect(await fanout.flush()).toEqual({ delivered: 1, pending: 0 });
    expect(sink.events.map((e) => [e.event_action, e.dedup_key])).toEqual([
      ['trigger', 'glidepath/rollout/api-1'],
    ]);
    expect((await db.collection(PAGER_OUTBOX.collection).get()).size).toBe(0);
    expect(slackPosts).toHaveLength(1);
  });
});
