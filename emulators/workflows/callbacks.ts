/** The emulator's HTTP endpoint for `events.create_callback_endpoint` callbacks. */
import { randomUUID } from 'node:crypto';
import { type IncomingMessage, type Server, createServer } from 'node:http';
import type { CallbackHub, CallbackRequest, HttpCallback } from './runtime';
import { decodeJson } from './values';

interface Endpoint {
  method: string;
  queue: CallbackRequest[];
  waiters: ((req: CallbackRequest) => void)[];
}

export class CallbackServer implements CallbackHub {
  private readonly endpoints = new Map<string, Endpoint>();
  private server?: Server;
  private baseUrl = '';

  async listen(port = 0): Promise<string> {
    this.server = createServer((req, res) => {
      void this.handle(req).then(([status, text]) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(text));
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(port, '127.0.0.1', resolve));
    const addr = this.server.address() as { port: number };
    this.baseUrl = `http://127.0.0.1:${addr.port}`;
    return this.baseUrl;
  }

  close(): Promise<void> {
    return new Promise((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  create(executionId: string, method: string): HttpCallback {
    const url = `${this.baseUrl}/v1/callbacks/${executionId}/${randomUUID()}`;
    this.endpoints.set(new URL(url).pathname, { method, queue: [], waiters: [] });
    return { url, method };
  }

  /** URLs of the callbacks an execution created (like GCP's ListCallbacks). */
  urlsFor(executionId: string): string[] {
    const prefix = `/v1/callbacks/${executionId}/`;
    return [...this.endpoints.keys()].filter((p) => p.startsWith(prefix)).map((p) => this.baseUrl + p);
  }

  next(url: string, signal: AbortSignal): Promise<CallbackRequest> {
    const ep = this.endpoints.get(new URL(url).pathname);
    if (!ep) return Promise.reject(new Error(`unknown callback ${url}`));
    const queued = ep.queue.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const waiter = (req: CallbackRequest): void => {
        signal.removeEventListener('abort', onAbort);
        resolve(req);
      };
      const onAbort = (): void => {
        ep.waiters.splice(ep.waiters.indexOf(waiter), 1);
        reject(signal.reason);
      };
      if (signal.aborted) return reject(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      ep.waiters.push(waiter);
    });
  }

  private async handle(req: IncomingMessage): Promise<[number, unknown]> {
    const url = new URL(req.url ?? '/', this.baseUrl);
    const ep = this.endpoints.get(url.pathname);
    if (!ep) return [404, { error: `no callback at ${url.pathname}` }];
    if (req.method !== ep.method) return [405, { error: `callback expects ${ep.method}, got ${req.method}` }];
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    let body: unknown = text || null;
    if ((req.headers['content-type'] ?? '').includes('json') && text) {
      try {
        body = decodeJson(text);
      } catch {
        return [400, { error: 'callback body is not valid JSON' }];
      }
    }
    const query: Record<string, string[]> = {};
    url.searchParams.forEach((v, k) => (query[k] ??= []).push(v));
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
    const delivered: CallbackRequest = {
      method: req.method!,
      url: url.pathname + url.search,
      headers,
      query,
      body,
      receivedTime: new Date().toISOString(),
    };
    const waiter = ep.waiters.shift();
    if (waiter) waiter(delivered);
    else ep.queue.push(delivered);
    return [200, { received: true }];
  }
}
