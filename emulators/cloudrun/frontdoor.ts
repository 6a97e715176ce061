/**
 * The Cloud Run emulator's HTTP side. Every Ready revision is a real
 * node:http listener on its own loopback port; one front-door listener routes
 * service URLs by the traffic percentages (weighted random, seeded) and tag
 * URLs to their revision. The router hands each request to the chosen
 * revision's handler in-process, so routing costs no extra socket hop.
 * Each answered request is recorded as Cloud Run's request_count and
 * request_latencies.
 *
 *   service URL  http://127.0.0.1:PORT/s/<region>/<service>[/path]
 *   tag URL      http://127.0.0.1:PORT/t/<region>/<service>/<tag>[/path]
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { lognormalSampler, type ServiceProfile } from './profiles';
import type { Routes } from './traffic';
import type { MetricStore, RevisionLabels } from '../monitoring/store';
import type { InvokerVerdict } from './invoker';

const HEALTH_PATH = '/health';

/** Cloud Run's answer (429) when every instance is busy at max instances (docs/local-cloud.md). */
const NO_AVAILABLE_INSTANCE =
  'The request was aborted because there was no available instance. Additional troubleshooting documentation can be found at: https://cloud.google.com/run/docs/troubleshooting#abort-request';

interface RevisionRuntime {
  labels: RevisionLabels;
  profile: ServiceProfile;
  /**
   * Requests it serves at once: max instances × concurrency per instance.
   * Beyond it, Cloud Run answers 429 and the request never reaches a container.
   */
  capacity: number;
  /** The revision's own listener, e.g. http://127.0.0.1:40123 */
  url?: string;
}

interface LiveRevision extends RevisionRuntime {
  server: Server;
  sampleLatency: () => number;
  coldStartPending: boolean;
  inFlight: number;
}

interface Route {
  /** Cumulative percentages, for a weighted pick. */
  cumulative: { upTo: number; revision: string }[];
  tags: Map<string, string>;
}

interface FrontDoorOptions {
  /** Told every routing change (the real traffic), e.g. by invariant checks. */
  onRoutes?: (region: string, service: string, weights: Array<{ revision: string; percent: number }>) => void;
  random: () => number;
  /** When false, responses are sent at once but the sampled latency is still recorded. */
  simulateLatency: boolean;
  metrics: MetricStore;
  /** Cloud Run's invoker check of one service; a refusal never reaches a container. */
  authorize: (region: string, service: string, authorization: string | undefined) => InvokerVerdict;
  /**
   * Requests recorded in Monitoring per request served on a service URL
   * (default 1). The local cloud at --speed N sets N: each real request is
   * recorded, plus N − 1 statistically generated ones drawn from the same
   * revision's profile (5xx rate, latency distribution), so that the judge
   * sees the request counts and distributions of N× real time.
   */
  evidencePerRequest?: number;
}

function listen(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

function send(res: ServerResponse, status: number, body: object): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export class FrontDoor {
  private server?: Server;
  private port = 0;
  private readonly revisions = new Map<string, LiveRevision>();
  private readonly routes = new Map<string, Route>();
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(private readonly opts: FrontDoorOptions) {}

  async start(port: number): Promise<void> {
    this.server = createServer((req, res) => this.route(req, res));
    this.port = await listen(this.server, port);
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  serviceUrl(region: string, service: string): string {
    return `${this.url}/s/${region}/${service}`;
  }

  tagUrl(region: string, service: string, tag: string): string {
    return `${this.url}/t/${region}/${service}/${tag}`;
  }

  private static key(region: string, service: string): string {
    return `${region}/${service}`;
  }

  /** Starts the revision's listener; it serves from then on. */
  async addRevision(rev: RevisionRuntime): Promise<string> {
    const live: LiveRevision = {
      ...rev,
      server: createServer((req, res) => this.serve(live, req, res, req.url ?? '/', false)),
      sampleLatency: lognormalSampler(rev.profile.latencyMs, this.opts.random),
      coldStartPending: rev.profile.coldStartMs > 0,
      inFlight: 0,
    };
    const port = await listen(live.server, 0);
    live.url = `http://127.0.0.1:${port}`;
    this.revisions.set(FrontDoor.revisionKey(rev.labels), live);
    return live.url;
  }

  private static revisionKey(l: Pick<RevisionLabels, 'location' | 'service_name' | 'revision_name'>): string {
    return `${l.location}/${l.service_name}/${l.revision_name}`;
  }

  async removeRevision(labels: RevisionLabels): Promise<void> {
    const key = FrontDoor.revisionKey(labels);
    const live = this.revisions.get(key);
    if (!live) return;
    this.revisions.delete(key);
    await close(live.server);
  }

  /** Replaces the routing of one service; `undefined` removes it. */
  setRoutes(region: string, service: string, routes: Routes | undefined): void {
    const key = FrontDoor.key(region, service);
    this.opts.onRoutes?.(region, service, routes?.weights.map((w) => ({ ...w })) ?? []);
    if (!routes) {
      this.routes.delete(key);
      return;
    }
    let upTo = 0;
    const cumulative = routes.weights.map((w) => ({ upTo: (upTo += w.percent), revision: w.revision }));
    this.routes.set(key, { cumulative, tags: routes.tags });
  }

  private route(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? '/';
    const m = /^\/(s|t)\/([^/?]+)\/([^/?]+)(.*)$/.exec(url);
    if (!m)
      return send(res, 404, {
        error: `no route for ${url}; expected /s/<region>/<service>/... or /t/<region>/<service>/<tag>/...`,
      });
    const [, kind, region, service] = m;
    let rest = m[4];
    const route = this.routes.get(FrontDoor.key(region, service));
    if (!route) return send(res, 404, { error: `service ${service} in ${region} not found` });
    const verdict = this.opts.authorize(region, service, req.headers.authorization);
    if (!verdict.ok) return send(res, verdict.status, { error: verdict.message });
    let revision: string | undefined;
    if (kind === 't') {
      const t = /^\/([^/?]+)(.*)$/.exec(rest);
      revision = t ? route.tags.get(t[1]) : undefined;
      if (!t || !revision)
        return send(res, 404, { error: `tag ${t?.[1] ?? ''} of service ${service} in ${region} not found` });
      rest = t[2];
    } else {
      const r = this.opts.random() * 100;
      revision = route.cumulative.find((c) => r < c.upTo)?.revision;
    }
    const live = revision ? this.revisions.get(`${region}/${service}/${revision}`) : undefined;
    if (!live) return send(res, 503, { error: `no ready revision serves ${service} in ${region}` });
    this.serve(live, req, res, rest.startsWith('/') ? rest : `/${rest}`, kind !== 't');
  }

  private sampleStatus(p: ServiceProfile): number {
    if (p.errorRate > 0 && this.opts.random() < p.errorRate) return this.opts.random() < 0.5 ? 500 : 503;
    return 200;
  }

  /** The statistically generated requests that stand beside one real one (evidencePerRequest). */
  private recordGenerated(rev: LiveRevision, atMs: number): void {
    const extra = (this.opts.evidencePerRequest ?? 1) - 1;
    const n = Math.floor(extra) + (this.opts.random() < extra % 1 ? 1 : 0);
    const byStatus = new Map<number, number[]>();
    for (let i = 0; i < n; i++) {
      const status = this.sampleStatus(rev.profile);
      const latencies = byStatus.get(status) ?? [];
      latencies.push(rev.sampleLatency());
      byStatus.set(status, latencies);
    }
    for (const [responseCode, latenciesMs] of byStatus)
      this.opts.metrics.inject({ revision: rev.labels, responseCode, atMs, latenciesMs });
  }

  private serve(
    rev: LiveRevision,
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    viaService: boolean,
  ): void {
    req.resume();
    // At max instances the request is refused before any container sees it, so no metric counts it.
    if (rev.inFlight >= rev.capacity) return send(res, 429, { error: NO_AVAILABLE_INSTANCE });
    const startedAt = Date.now();
    const p = rev.profile;
    const pathname = path.split('?')[0];
    const status = pathname === HEALTH_PATH ? (p.healthStatus ?? 200) : this.sampleStatus(p);
    const latencyMs = rev.sampleLatency();
    // The first request waits for the container to start; request_latencies leaves that wait out.
    const startupMs = rev.coldStartPending ? p.coldStartMs : 0;
    rev.coldStartPending = false;
    this.opts.metrics.recordRequest(rev.labels, status, latencyMs, startedAt);
    if (viaService && pathname !== HEALTH_PATH) this.recordGenerated(rev, startedAt);
    // The recorded latency is echoed so that tests can compare Monitoring's figures with the truth.
    const body = { revision: rev.labels.revision_name, path, status, latencyMs, startupMs };
    if (!this.opts.simulateLatency) return send(res, status, body);
    rev.inFlight++;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      rev.inFlight--;
      send(res, status, body);
    }, startupMs + latencyMs);
    this.timers.add(timer);
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    const servers = [...this.revisions.values()].map((r) => r.server);
    this.revisions.clear();
    this.routes.clear();
    if (this.server) servers.push(this.server);
    await Promise.all(servers.map(close));
  }
}
