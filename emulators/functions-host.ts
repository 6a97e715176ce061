/**
 * Serves Glidepath's Cloud Functions locally with the real
 * functions-framework server, so a Pub/Sub push or a workflow's HTTP call
 * takes the same path as on GCP (including the raw-push → CloudEvent
 * conversion). Pub/Sub push endpoints must be `<url>/projects/P/topics/T`:
 * the framework reads the topic from that path.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getTestServer } from '@google-cloud/functions-framework/testing';

export interface HostedFunction {
  name: string;
  url: string;
  server: Server;
  stop(): Promise<void>;
}

/** `target` must already be registered (import its entry module first). */
export async function hostFunction(target: string, port = 0): Promise<HostedFunction> {
  const server = getTestServer(target);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    name: target,
    url,
    server,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}

/** The push endpoint for a topic, in the path form the functions-framework expects. */
export function pushEndpoint(fn: HostedFunction, project: string, topic: string): string {
  return `${fn.url}/projects/${project}/topics/${topic}`;
}
