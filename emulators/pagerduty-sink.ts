/**
 * A local stand-in for PagerDuty's Events API v2 (POST /v2/enqueue): it
 * checks each event against the documented fields (PagerDuty/developer-docs,
 * docs/events-API-v2/02-Trigger-Events.md: `routing_key` the 32-character
 * integration key, `event_action` trigger / acknowledge / resolve,
 * `dedup_key` at most 255 characters, and for a trigger `payload.summary` at
 * most 1024 characters, `payload.source`, `payload.severity` one of critical,
 * error, warning, info), answers 202 with the dedup key as PagerDuty does, or
 * 400 naming what is wrong, and records every accepted event. It keeps the
 * alerts open by dedup key: a trigger opens one, a resolve closes it, and a
 * resolve of no open alert is dropped, as the docs say. `setMode('error')`
 * answers 500 and `'throttle'` 429, both of which PagerDuty says to retry.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

interface PagerDutyEvent {
  routing_key: string;
  event_action: 'trigger' | 'acknowledge' | 'resolve';
  dedup_key?: string;
  payload?: { summary: string; source: string; severity: string; [k: string]: unknown };
  [k: string]: unknown;
}

type PagerDutySinkMode = 'ok' | 'error' | 'throttle';

export interface PagerDutySink {
  /** The enqueue URL (GLIDEPATH_PAGERDUTY_URL). */
  url: string;
  /** Every accepted event, in order. */
  events: PagerDutyEvent[];
  /** Requests seen, including refused ones. */
  attempts: number;
  /** Dedup keys of the alerts open now (triggered, not resolved). */
  open(): string[];
  setMode(mode: PagerDutySinkMode): void;
  stop(): Promise<void>;
}

const SEVERITIES = new Set(['critical', 'error', 'warning', 'info']);
const ACTIONS = new Set(['trigger', 'acknowledge', 'resolve']);

/** What PagerDuty would refuse in `event`, per its documented fields. */
function pagerDutyProblems(event: Record<string, unknown>): string[] {
  const problems: string[] = [];
  if (typeof event.routing_key !== 'string' || event.routing_key.length !== 32)
    problems.push('routing_key: expected the 32-character integration key');
  if (typeof event.event_action !== 'string' || !ACTIONS.has(event.event_action))
    problems.push('event_action: expected trigger, acknowledge or resolve');
  if (event.dedup_key !== undefined && (typeof event.dedup_key !== 'string' || event.dedup_key.length > 255))
    problems.push('dedup_key: expected a string of at most 255 characters');
  if (event.event_action !== 'trigger' && typeof event.dedup_key !== 'string')
    problems.push('dedup_key: required to acknowledge or resolve');
  if (event.event_action === 'trigger') {
    const payload = event.payload as Record<string, unknown> | undefined;
    if (typeof payload?.summary !== 'string' || !payload.summary || payload.summary.length > 1024)
      problems.push('payload.summary: expected 1 to 1024 characters');
    if (typeof payload?.source !== 'string' || !payload.source) problems.push('payload.source: required');
    if (typeof payload?.severity !== 'string' || !SEVERITIES.has(payload.severity))
      problems.push('payload.severity: expected critical, error, warning or info');
  }
  return problems;
}

export async function startPagerDutySink(opts: { port?: number } = {}): Promise<PagerDutySink> {
  let mode: PagerDutySinkMode = 'ok';
  const events: PagerDutyEvent[] = [];
  const open = new Set<string>();
  const sink = { attempts: 0 };
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      sink.attempts++;
      const reply = (status: number, json: unknown) =>
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(json));
      if (req.method !== 'POST' || req.url !== '/v2/enqueue')
        return reply(404, {
          status: 'not found',
          message: `expected POST /v2/enqueue, got ${req.method} ${req.url}`,
        });
      if (mode === 'error') return reply(500, { status: 'error', message: 'injected fault' });
      if (mode === 'throttle') return reply(429, { status: 'throttled', message: 'injected fault' });
      let event: Record<string, unknown>;
      try {
        event = JSON.parse(body) as Record<string, unknown>;
      } catch {
        return reply(400, {
          status: 'invalid event',
          message: 'Event object is invalid',
          errors: ['invalid JSON'],
        });
      }
      const problems = pagerDutyProblems(event);
      if (problems.length)
        return reply(400, { status: 'invalid event', message: 'Event object is invalid', errors: problems });
      const accepted = event as PagerDutyEvent;
      const dedupKey = accepted.dedup_key ?? `generated-${events.length + 1}`;
      events.push(accepted);
      if (accepted.event_action === 'trigger') open.add(dedupKey);
      if (accepted.event_action === 'resolve') open.delete(dedupKey);
      reply(202, { status: 'success', message: 'Event processed', dedup_key: dedupKey });
    });
  });
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, '127.0.0.1', () => resolve()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v2/enqueue`,
    events,
    get attempts() {
      return sink.attempts;
    },
    open: () => [...open],
    setMode: (m) => {
      mode = m;
    },
    stop: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
