/**
 * PagerDuty, through the Events API v2 (PagerDuty/developer-docs,
 * docs/events-API-v2/02-Trigger-Events.md and 01-Overview.md): one POST per
 * alert to https://events.pagerduty.com/v2/enqueue with the integration's
 * `routing_key`, `event_action` trigger or resolve, and our `dedup_key`
 * (at most 255 characters), so the resolve finds the alert the trigger
 * opened. A trigger carries `payload.summary` (at most 1024 characters),
 * `payload.source` and `payload.severity` (critical, error, warning or info),
 * all required. 202 means accepted; 429 and 5xx are worth retrying, 400 is not
 * (the event is wrong). Like Slack, PagerDuty is told through the notifier
 * interface and never fails a rollout: a failure is reported as false and the
 * notice waits in the `pagerOutbox` (functions/adapters/outbox.ts).
 */
import type { Notifier, PagerAlert, SlackMessage } from '../ports';
import { postJsonWithRetry } from '../shared/http-post';
import type { Logger } from '../shared/log';

const MAX_SUMMARY = 1024;
const MAX_DEDUP_KEY = 255;

interface PagerDutyOptions {
  url: string;
  routingKey: string;
  attempts?: number;
  timeoutMs?: number;
  backoffMs?: number;
}

/** The Events API v2 body of one alert. */
function pagerDutyEvent(routingKey: string, alert: PagerAlert, now: Date): Record<string, unknown> {
  const base = {
    routing_key: routingKey,
    event_action: alert.action,
    dedup_key: alert.dedupKey.slice(0, MAX_DEDUP_KEY),
  };
  if (alert.action === 'resolve') return base;
  return {
    ...base,
    client: 'Glidepath',
    payload: {
      summary: (alert.summary ?? alert.dedupKey).slice(0, MAX_SUMMARY),
      source: alert.source ?? 'glidepath',
      severity: alert.severity ?? 'error',
      timestamp: now.toISOString(),
      ...(alert.component ? { component: alert.component } : {}),
      group: 'glidepath',
      class: 'deployment',
      ...(alert.details ? { custom_details: alert.details } : {}),
    },
  };
}

export class PagerDutyNotifier implements Notifier {
  constructor(
    private readonly opts: PagerDutyOptions,
    private readonly log: Logger,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Sends the notice's alerts in order; a notice without alerts has nothing for PagerDuty. */
  async notify(message: SlackMessage): Promise<boolean> {
    for (const alert of message.alerts ?? []) if (!(await this.send(alert))) return false;
    return true;
  }

  private async send(alert: PagerAlert): Promise<boolean> {
    const { url, routingKey, attempts = 3, timeoutMs = 3000, backoffMs = 200 } = this.opts;
    const sent = await postJsonWithRetry(url, () => pagerDutyEvent(routingKey, alert, this.now()), {
      attempts,
      timeoutMs,
      backoffMs,
      errorBodyChars: 300,
    });
    if (sent.ok) return true;
    this.log.error('pagerduty event failed', {
      dedupKey: alert.dedupKey,
      action: alert.action,
      error: sent.error,
      attempts,
    });
    return false;
  }
}
