import type { Notifier, SlackMessage } from '../ports';
import type { Logger } from '../shared/log';

export interface SlackWebhookOptions {
  url: string | undefined;
  attempts?: number;
  timeoutMs?: number;
  backoffMs?: number;
}

/**
 * Posts to a Slack incoming webhook. A Slack outage must never fail a
 * rollout, so delivery is retried a bounded number of times, logged, and
 * reported as false rather than thrown.
 */
export class SlackWebhookNotifier implements Notifier {
  constructor(
    private readonly opts: SlackWebhookOptions,
    private readonly log: Logger,
  ) {}

  async notify(message: SlackMessage): Promise<boolean> {
    const { url, attempts = 3, timeoutMs = 3000, backoffMs = 200 } = this.opts;
    if (!url) {
      this.log.warn('slack webhook not configured; message not sent', { slackText: message.text });
      return false;
    }
    let lastError = '';
    for (let attempt = 1; attempt <= attempts; attempt++) {
      try {
        const res = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(message),
          signal: AbortSignal.timeout(timeoutMs),
        });
        if (res.ok) return true;
        lastError = `HTTP ${res.status}`;
        if (res.status < 500 && res.status !== 429) break; // our message is wrong; retrying won't help
      } catch (err) {
        lastError = (err as Error).message;
      }
      if (attempt < attempts) await new Promise((r) => setTimeout(r, backoffMs * 2 ** (attempt - 1)));
    }
    this.log.error('slack notification failed', { slackText: message.text, error: lastError, attempts });
    return false;
  }
}
