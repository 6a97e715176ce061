/**
 * A local stand-in for a Slack incoming webhook: records Block Kit posts and
 * can print them readably. Its failure modes (HTTP 500, a hang) let tests
 * prove that a Slack outage never fails a rollout or loses a dead letter.
 *
 * It keeps interactive messages too: `responseUrl(post)` hands out a click's
 * `response_url`, which, as Slack documents
 * (https://api.slack.com/interactivity/handling#message_responses), takes up
 * to five answers within 30 minutes; `replace_original: true` replaces the
 * message, `response_type: "ephemeral"` is shown to the clicking user only.
 * A sixth answer or an expired URL gets 404, the stricter reading of Slack's
 * silence on what it answers then.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FaultInjector } from './faults';

export interface SlackPost {
  /** The message's id, as Slack's `ts`. */
  ts: string;
  text: string;
  blocks: unknown[];
  channel?: string;
  receivedAt: string;
  /** Earlier versions, oldest first, when an answer replaced the message. */
  replaced?: Array<{ text: string; blocks: unknown[] }>;
}

/** An answer posted to a response_url. */
interface SlackAnswer {
  ts: string;
  text: string;
  blocks?: unknown[];
  ephemeral: boolean;
  replaceOriginal: boolean;
  receivedAt: string;
}

/** Slack's limits on one response_url. */
const RESPONSE_URL_USES = 5;
const RESPONSE_URL_TTL_MS = 30 * 60_000;

type SlackSinkMode = 'ok' | 'error' | 'hang';

export interface SlackSink {
  url: string;
  posts: SlackPost[];
  /** Every answer to a response_url, in order. */
  answers: SlackAnswer[];
  /** A fresh response_url for a click on `post`, as Slack puts in the click's payload. */
  responseUrl(post: SlackPost): string;
  /** The prefix every response_url starts with (GLIDEPATH_SLACK_RESPONSE_URL_PREFIX). */
  responseUrlPrefix: string;
  /** Requests seen, including failed ones. */
  attempts: number;
  setMode(mode: SlackSinkMode): void;
  stop(): Promise<void>;
}

/** Renders a Block Kit message as plain lines for a terminal. */
function renderSlackPost(post: { text: string; blocks: unknown[] }): string {
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
  const answers: SlackAnswer[] = [];
  const responseUrls = new Map<string, { ts: string; uses: number; issuedAt: number }>();
  const sink = { attempts: 0 };
  const answer = (token: string, body: string, res: ServerResponse): void => {
    const grant = responseUrls.get(token);
    if (!grant || grant.uses >= RESPONSE_URL_USES || Date.now() - grant.issuedAt > RESPONSE_URL_TTL_MS) {
      res.writeHead(404).end('expired_url');
      return;
    }
    let parsed: { text?: unknown; blocks?: unknown[]; response_type?: string; replace_original?: boolean };
    try {
      parsed = JSON.parse(body) as typeof parsed;
      if (typeof parsed.text !== 'string') throw new Error('text');
    } catch {
      res.writeHead(400).end('invalid_payload');
      return;
    }
    grant.uses++;
    const post = posts.find((p) => p.ts === grant.ts)!;
    const ephemeral = parsed.response_type === 'ephemeral';
    const replaceOriginal = !ephemeral && parsed.replace_original === true;
    answers.push({
      ts: grant.ts,
      text: parsed.text as string,
      ...(parsed.blocks ? { blocks: parsed.blocks } : {}),
      ephemeral,
      replaceOriginal,
      receivedAt: new Date().toISOString(),
    });
    if (replaceOriginal) {
      post.replaced = [...(post.replaced ?? []), { text: post.text, blocks: post.blocks }];
      post.text = parsed.text as string;
      post.blocks = parsed.blocks ?? [];
      opts.print?.(renderSlackPost(post));
    }
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
  };
  const server: Server = createServer((req: IncomingMessage, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const token = /^\/actions\/([a-f0-9]+)$/.exec(req.url ?? '')?.[1];
      if (token) return answer(token, body, res);
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
        const post: SlackPost = {
          ts: `${Math.floor(Date.now() / 1000)}.${String(posts.length + 1).padStart(6, '0')}`,
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
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: `${base}/services/T000/B000/local`,
    posts,
    answers,
    responseUrlPrefix: `${base}/actions/`,
    responseUrl: (post) => {
      const token = randomBytes(12).toString('hex');
      responseUrls.set(token, { ts: post.ts, uses: 0, issuedAt: Date.now() });
      return `${base}/actions/${token}`;
    },
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
