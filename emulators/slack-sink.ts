/**
 * A local stand-in for a Slack incoming webhook: records Block Kit posts and
 * can print them readably. Its failure modes (HTTP 500, a hang) let tests
 * prove that a Slack outage never fails a rollout or loses a dead letter.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FaultInjector } from './faults';

export interface SlackPost {
  text: string;
  blocks: unknown[];
  channel?: string;
  receivedAt: string;
}

export type SlackSinkMode = 'ok' | 'error' | 'hang';

export interface SlackSink {
  url: string;
  posts: SlackPost[];
  /** Requests seen, including failed ones. */
  attempts: number;
  setMode(mode: SlackSinkMode): void;
  stop(): Promise<void>;
}

/** Renders a Block Kit message as plain lines for a terminal. */
export function renderSlackPost(post: { text: string; blocks: unknown[] }): string {
  const lines: string[] = [];
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- Block Kit JSON as posted, read loosely for display
  for (const block of post.blocks as Array<Record<string, any>>) {
    if (block.type === 'header') lines.push(`▌ ${block.text?.text ?? ''}`);
    else if (block.type === 'section') {
      if (block.text?.text) lines.push(`  ${String(block.text.text).replace(/\n/g, '\n  ')}`);
      for (const f of block.fields ?? [])
        lines.push(`  ${String(f.text).replace(/\*/g, '').replace(/\n/, ': ')}`);
    } else if (block.type === 'context')
      lines.push(`  ${(block.elements ?? []).map((e: { text?: string }) => e.text).join(' ')}`);
  }
  return lines.length ? lines.join('\n') : post.text;
}

export async function startSlackSink(
  opts: { print?: (line: string) => void; port?: number; faults?: FaultInjector } = {},
): Promise<SlackSink> {
  let mode: SlackSinkMode = 'ok';
  const posts: SlackPost[] = [];
  const sink = { attempts: 0 };
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      sink.attempts++;
      // An injected fault (per request) or the sink's mode (until changed).
      const fault = opts.faults?.fire('slack', body.slice(0, 200))?.effect;
      if (mode === 'hang' || fault === 'hang') return; // never answers: the client's timeout must fire
      if (mode === 'error' || fault === 'error') {
        res.writeHead(500).end('internal_error');
        return;
      }
      try {
        const parsed = JSON.parse(body) as { text?: string; blocks?: unknown[]; channel?: string };
        if (typeof parsed.text !== 'string') throw new Error('text');
        const post = {
          text: parsed.text,
          blocks: parsed.blocks ?? [],
          ...(parsed.channel ? { channel: parsed.channel } : {}),
          receivedAt: new Date().toISOString(),
        };
        posts.push(post);
        opts.print?.(renderSlackPost(post));
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      } catch {
        res.writeHead(400).end('invalid_payload');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, '127.0.0.1', () => resolve()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/services/T000/B000/local`,
    posts,
    get attempts() {
      return sink.attempts;
    },
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
