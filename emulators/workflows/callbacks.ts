/**
 * The emulator's HTTP endpoint for `events.create_callback_endpoint`
 * callbacks, in the form of Google's sendHttpCallback
 * (`/v1/projects/P/locations/L/workflows/W/executions/ID/callbacks/ID`), which
 * requires an OAuth 2.0 access token (scope cloud-platform) of an identity
 * holding `workflows.callbacks.send`. Locally the token is the HS256 stand-in
 * of functions/shared/oidc.ts (`localAccessToken`); see docs/workflows-emulator.md.
 */
import { randomUUID } from 'node:crypto';
import { type IncomingMessage, type Server, createServer } from 'node:http';
import { LOCAL_ACCESS_TOKEN_AUDIENCE, verifyOidcSignature } from '../../functions/shared/oidc';
import type { CallbackHub, CallbackRequest, HttpCallback } from './runtime';
import { decodeJson } from './values';

interface CallbackAuth {
  /** The secret local tokens are signed with; without one, every callback is refused (401). */
  secret?: string;
  /** The identities granted workflows.callbacks.send; any valid token when absent. */
  senders?: string[];
}

interface Endpoint {
  method: string;
  queue: CallbackRequest[];
  waiters: ((req: CallbackRequest) => void)[];
}

export class CallbackServer implements CallbackHub {
  private readonly endpoints = new Map<string, Endpoint>();
  private server?: Server;
  private baseUrl = '';

  constructor(private readonly auth: CallbackAuth = {}) {}

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

  /** `execution`: the execution's resource name, `projects/…/executions/{id}`. */
  create(execution: string, method: string): HttpCallback {
    const url = `${this.baseUrl}/v1/${execution}/callbacks/${Date.now()}_${randomUUID()}`;
    this.endpoints.set(new URL(url).pathname, { method, queue: [], waiters: [] });
    return { url, method };
  }

  /** URLs of the callbacks an execution created (like GCP's ListCallbacks). */
  urlsFor(executionId: string): string[] {
    const marker = `/executions/${executionId}/callbacks/`;
    return [...this.endpoints.keys()].filter((p) => p.includes(marker)).map((p) => this.baseUrl + p);
  }

  /** 401 without a valid access token, 403 for an identity without workflows.callbacks.send. */
  private refusal(req: IncomingMessage): [number, unknown] | undefined {
    const token = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
    const unauthenticated = (why: string): [number, unknown] => [
      401,
      {
        error: {
          code: 401,
          status: 'UNAUTHENTICATED',
          message: `Request is missing a valid OAuth 2 access token: ${why}`,
        },
      },
    ];
    if (!token) return unauthenticated('no Authorization: Bearer header');
    if (!this.auth.secret) return unauthenticated('this emulator has no oidcSecret to verify tokens with');
    let claims;
    try {
      claims = verifyOidcSignature(token, this.auth.secret);
    } catch (err) {
      return unauthenticated((err as Error).message);
    }
    if (claims.aud !== LOCAL_ACCESS_TOKEN_AUDIENCE)
      return unauthenticated(`an ID token (aud ${claims.aud}) is not an access token`);
    if (this.auth.senders && !this.auth.senders.includes(claims.email))
      return [
        403,
        {
          error: {
            code: 403,
            status: 'PERMISSION_DENIED',
            message: `Permission 'workflows.callbacks.send' denied for ${claims.email}`,
          },
        },
      ];
    return undefined;
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
    const refused = this.refusal(req);
    if (refused) return refused;
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
