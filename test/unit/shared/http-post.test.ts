/**
 * The bounded-retry POST shared by the Slack webhook and PagerDuty notifiers
 * (functions/shared/http-post.ts), against a local HTTP server that answers a
 * scripted list of statuses: which statuses are retried, how many tries, the
 * error it reports, and a fresh body on each try.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { postJsonWithRetry } from '../../../functions/shared/http-post';

interface Received {
  contentType: string | undefined;
  body: unknown;
}

let server: Server;
let url: string;
let statuses: number[];
let received: Received[];

beforeAll(async () => {
  server = createServer((req, res) => {
    let data = '';
    req.on('data', (chunk: Buffer) => (data += chunk.toString()));
    req.on('end', () => {
      received.push({ contentType: req.headers['content-type'], body: JSON.parse(data) });
      const status = statuses.shift() ?? 500;
      res.writeHead(status).end(`answer ${status} ${'y'.repeat(400)}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
});
afterAll(async () => new Promise<void>((resolve) => server.close(() => resolve())));
beforeEach(() => {
  received = [];
});

const opts = { attempts: 3, timeoutMs: 2000, backoffMs: 1 };

test('retries 503 and 429, then succeeds on a 2xx, posting JSON each time', async () => {
  statuses = [503, 429, 202];
  let n = 0;
  const result = await postJsonWithRetry(url, () => ({ n: ++n }), opts);
  expect(result).toEqual({ ok: true });
  expect(received).toEqual([
    { contentType: 'application/json', body: { n: 1 } },
    { contentType: 'application/json', body: { n: 2 } },
    { contentType: 'application/json', body: { n: 3 } },
  ]);
});

test('a 4xx other than 429 is not retried; the error keeps the asked part of the body', async () => {
  statuses = [400, 202];
  const result = await postJsonWithRetry(url, () => ({}), { ...opts, errorBodyChars: 10 });
  expect(result).toEqual({ ok: false, error: 'HTTP 400 answer 400' });
  expect(received).toHaveLength(1);
});

test('stops after `attempts` tries and reports the last status alone by default', async () => {
  statuses = [500, 502, 503, 202];
  const result = await postJsonWithRetry(url, () => ({}), opts);
  expect(result).toEqual({ ok: false, error: 'HTTP 503' });
  expect(received).toHaveLength(3);
});

test('a network error is retried and reported as its message', async () => {
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const port = (closed.address() as AddressInfo).port;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  let tries = 0;
  const result = await postJsonWithRetry(`http://127.0.0.1:${port}/`, () => ({ try: ++tries }), opts);
  expect(result).toEqual({ ok: false, error: 'fetch failed' });
  expect(tries).toBe(3);
});
