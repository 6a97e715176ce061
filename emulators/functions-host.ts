/**
 * Serves Glidepath's Cloud Functions locally with the real
 * functions-framework server, so a Pub/Sub push or a workflow's HTTP call
 * takes the same path as on GCP (including the raw-push → CloudEvent
 * conversion). Pub/Sub push endpoints must be `<url>/projects/P/topics/T`:
 * the framework reads the topic from that path.
 *
 * With a FaultInjector, a push can fail before or after the function ran,
 * and a request can "crash" (see crashCurrentRequest).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { once } from 'node:events';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import type { FaultInjector } from './faults';

export interface HostedFunction {
  name: string;
  url: string;
  server: Server;
  /** Lets the requests being served finish (bounded), then closes; a second call waits for the first. */
  stop(): Promise<void>;
}

const currentRequest = new AsyncLocalStorage<ServerResponse>();

/**
 * Kills the HTTP request being served, as if the instance died: the socket
 * is destroyed and the caller never resumes (the returned promise never
 * settles), so no later line of the handler runs.
 */
export function crashCurrentRequest(): Promise<never> {
  const res = currentRequest.getStore();
  if (!res) throw new Error('crashCurrentRequest: not inside a hosted function request');
  res.socket?.destroy();
  return new Promise<never>(() => undefined);
}

/** How long stop() lets requests being served finish before it cuts their connections. */
const STOP_DRAIN_MS = 10_000;

const PUSH_PATH = /^\/projects\/[^/]+\/topics\/([^/?]+)/;

/** `target` must already be registered (import its entry module first). */
export async function hostFunction(
  target: string,
  port = 0,
  faults?: FaultInjector,
): Promise<HostedFunction> {
  const server = getTestServer(target);
  const inFlight = new Set<ServerResponse>();
  const handlers = server.listeners('request') as Array<(req: IncomingMessage, res: ServerResponse) => void>;
  server.removeAllListeners('request');
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const topic = PUSH_PATH.exec(req.url ?? '')?.[1];
    if (topic && faults?.fire('push.before', topic)) {
      res.writeHead(503).end('injected fault: push failed before the function ran');
      return;
    }
    if (topic && faults?.fire('push.after', topic)) {
      // The function runs to completion, but Pub/Sub sees a failure and redelivers.
      const writeHead = res.writeHead.bind(res) as (...args: unknown[]) => ServerResponse;
      res.writeHead = ((_status: number, ...rest: unknown[]) =>
        writeHead(503, ...rest)) as typeof res.writeHead;
    }
    inFlight.add(res);
    res.once('close', () => inFlight.delete(res));
    currentRequest.run(res, () => {
      for (const handle of handlers) handle.call(server, req, res);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let stopping: Promise<void> | undefined;
  return {
    name: target,
    url,
    server,
    stop: () => (stopping ??= drainAndClose()),
  };

  async function drainAndClose(): Promise<void> {
    // Drain first: a handler cut off mid-way would go on writing to emulators that stop next
    // (and into whatever runs after). A handler that outlives the bound is cut off anyway.
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    let bound: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all([...inFlight].map((res) => once(res, 'close'))),
      new Promise((resolve) => (bound = setTimeout(resolve, STOP_DRAIN_MS))),
    ]);
    clearTimeout(bound);
    server.closeAllConnections();
    await closed;
  }
}

/** The push endpoint for a topic, in the path form the functions-framework expects. */
export function pushEndpoint(fn: HostedFunction, project: string, topic: string): string {
  return `${fn.url}/projects/${project}/topics/${topic}`;
}
