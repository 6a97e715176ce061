import type { Notifier, SlackMessage, SlackResponder, SlackResponse } from '../ports';
import { postJsonWithRetry } from '../shared/http-post';
import type { Logger } from '../shared/log';

interface SlackWebhookOptions {
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
    // The Slack part only: a notice's pager alerts are PagerDuty's.
    const slackBody = { text: message.text, blocks: message.blocks, channel: message.channel };
    const sent = await postJsonWithRetry(url, () => slackBody, { attempts, timeoutMs, backoffMs });
    if (sent.ok) return true;
    this.log.error('slack notification failed', { slackText: message.text, error: sent.error, attempts });
    return false;
  }
}

/**
 * Answers a click through its `response_url`. The URL comes from the signed
 * payload, and only one under `allowedPrefix` (Slack's own host on GCP) is
 * ever called, so even a leaked signing secret cannot point this function at
 * another host.
 */
export class SlackResponseUrlResponder implements SlackResponder {
  constructor(
    private readonly opts: { allowedPrefix: string; timeoutMs?: number },
    private readonly log: Logger,
  ) {}

  async respond(responseUrl: string, response: SlackResponse): Promise<boolean> {
    if (!responseUrl.startsWith(this.opts.allowedPrefix)) {
      this.log.error('slack response_url refused', {
        responseUrl: responseUrl.slice(0, 200),
        expected: `a URL under ${this.opts.allowedPrefix}`,
      });
      return false;
    }
    try {
      const res = await fetch(responseUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(response),
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? 3000),
      });
      if (res.ok) return true;
      this.log.error('slack response_url answered an error', { status: res.status });
    } catch (err) {
      this.log.error('slack response_url unreachable', { error: (err as Error).message });
    }
    return false;
  }
}
