/**
 * The local Cloud Run Admin API v2 and Cloud Monitoring v3, on one gRPC
 * server, plus the HTTP front door that serves the revisions. See
 * docs/local-cloud.md for the URL forms, image profiles and options.
 */
import { Server, ServerCredentials, type UntypedServiceImplementation } from '@grpc/grpc-js';
import type { FaultInjector } from '../faults';
import { FrontDoor } from './frontdoor';
import type { InvokerVerdict } from './invoker';
import { JobsApi, type ExecutionOutcome } from './jobs-api';
import { OperationStore } from './operations';
import {
  loadProfilesFile,
  lookupProfile,
  parseImageProfile,
  seededRandom,
  type ImageProfile,
  type JobProfileInput,
  type ServiceProfileInput,
} from './profiles';
import { ServicesApi } from './services-api';
import { realTimers, type EmulatorTimers } from './timers';
import { MetricStore } from '../monitoring/store';
import { metricService } from '../monitoring/service';

export interface CloudRunEmulatorOptions {
  /** gRPC port for Run and Monitoring; 0 (default) picks a free one. */
  port?: number;
  /** HTTP front-door port; 0 (default) picks a free one. */
  frontDoorPort?: number;
  /** Image profiles JSON; defaults to $GLIDEPATH_IMAGE_PROFILES, else every image is healthy. */
  profilesPath?: string;
  /** Time for a new revision to become Ready (or fail), and for traffic changes to apply. Default 300 ms. */
  readyDelayMs?: number;
  /**
   * Monitoring data becomes visible this long after the end of the sampling
   * period that holds it. Default 0 and 0: at once. The local cloud sets
   * GCP's documented 180 s and 60 s, scaled by its speed (MONITORING_DELAY).
   */
  ingestionDelayMs?: number;
  samplePeriodMs?: number;
  /** The Monitoring store's clock (default Date.now): a test moves it to cross the ingestion delay without waiting. */
  monitoringClock?: () => number;
  /** The delays of revisions, routes and job executions (default: real timers); HeldTimers pauses them. */
  timers?: EmulatorTimers;
  /** Requests recorded in Monitoring per request served on a service URL (FrontDoorOptions). Default 1. */
  evidencePerRequest?: number;
  /** Seed of the RNG behind traffic splits, errors, latencies and names. Default 1. */
  seed?: number;
  /** Actually delay responses by the sampled latency (default true); when false, the latency is only recorded. */
  simulateLatency?: boolean;
  /** Fault injection (emulators/faults.ts): `run.<Method>`, `monitoring.<Method>`, `run.operation`. */
  faults?: FaultInjector;
  /**
   * The secret the local cloud signs its OIDC tokens with (functions/shared/oidc.ts). The front door
   * accepts only tokens signed with it; without it, only public services answer.
   */
  oidcSecret?: string;
  /** ListTimeSeries' largest page (points, or series with HEADERS). Default 100,000, as in the API. */
  monitoringMaxPageSize?: number;
  /**
   * Metrics scopes: a scoping project → the other projects it monitors. ListTimeSeries on a
   * scoping project answers with their series too (cloud.google.com/monitoring/settings#concept-scope).
   */
  metricsScopes?: Record<string, string[]>;
  /** Called whenever a service's routes change (invariant checks watch the real traffic). */
  onRoutes?: (region: string, service: string, weights: Array<{ revision: string; percent: number }>) => void;
}

export interface CloudRunEmulator {
  /** "127.0.0.1:port" of the gRPC server (Cloud Run Admin v2 and longrunning). */
  grpcHost: string;
  /** The same server also serves google.monitoring.v3.MetricService. */
  monitoringHost: string;
  /** e.g. http://127.0.0.1:41234; service URLs are <frontDoorUrl>/s/<region>/<service>. */
  frontDoorUrl: string;
  /** Sets or replaces the profile of an image reference or repository; applies to revisions and executions created afterwards. */
  setProfile(image: string, profile: ServiceProfileInput & JobProfileInput): void;
  /** Scripts the outcomes of a job's next executions, e.g. ['fail', 'fail', 'succeed']. `job` is its full resource name. */
  setJobOutcomes(job: string, outcomes: ExecutionOutcome[]): void;
  /** Changes a service's spec at once, as a concurrent client would (bumps generation and etag). `service` is its full resource name. */
  modifyService(service: string, mutate: (spec: Record<string, any>) => void): void; // eslint-disable-line @typescript-eslint/no-explicit-any
  /** The Monitoring store: inject points for tests and fault injection. */
  metrics: MetricStore;
  stop(): Promise<void>;
}

function bindGrpc(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${port}`, ServerCredentials.createInsecure(), (err, bound) =>
      err ? reject(err) : resolve(bound),
    ),
  );
}

export async function startCloudRunEmulator(
  options: CloudRunEmulatorOptions = {},
): Promise<CloudRunEmulator> {
  const profilesPath = options.profilesPath ?? process.env.GLIDEPATH_IMAGE_PROFILES;
  const profiles: Map<string, ImageProfile> = profilesPath ? loadProfilesFile(profilesPath) : new Map();
  const profileFor = (image: string): ImageProfile => lookupProfile(profiles, image);
  const random = seededRandom(options.seed ?? 1);
  const metrics = new MetricStore({
    ingestionDelayMs: options.ingestionDelayMs ?? 0,
    samplePeriodMs: options.samplePeriodMs ?? 0,
    now: options.monitoringClock ?? Date.now,
  });
  const frontDoor: FrontDoor = new FrontDoor({
    random,
    simulateLatency: options.simulateLatency ?? true,
    metrics,
    ...(options.evidencePerRequest !== undefined ? { evidencePerRequest: options.evidencePerRequest } : {}),
    authorize: (region, service, authorization): InvokerVerdict =>
      services.authorizeInvoker(region, service, authorization),
    ...(options.onRoutes ? { onRoutes: options.onRoutes } : {}),
  });
  await frontDoor.start(options.frontDoorPort ?? 0);

  const operations = new OperationStore(options.faults);
  const services: ServicesApi = new ServicesApi({
    operations,
    frontDoor,
    profileFor,
    readyDelayMs: options.readyDelayMs ?? 300,
    random,
    timers: options.timers ?? realTimers,
    ...(options.oidcSecret ? { oidcSecret: options.oidcSecret } : {}),
  });
  const jobs = new JobsApi({ operations, profileFor, random, timers: options.timers ?? realTimers });

  const server = new Server();
  const run = [
    services.servicesGrpc(),
    services.revisionsGrpc(),
    jobs.jobsGrpc(),
    jobs.executionsGrpc(),
    operations.grpc(),
  ];
  for (const s of run) server.addService(s.definition, withFaults('run', s.implementation, options.faults));
  const monitoring = metricService(metrics, {
    maxPageSize: options.monitoringMaxPageSize,
    metricsScopes: options.metricsScopes,
  });
  server.addService(
    monitoring.definition,
    withFaults('monitoring', monitoring.implementation, options.faults),
  );
  let port: number;
  try {
    port = await bindGrpc(server, options.port ?? 0);
  } catch (err) {
    await frontDoor.stop();
    throw err;
  }
  const host = `127.0.0.1:${port}`;
  return {
    grpcHost: host,
    monitoringHost: host,
    frontDoorUrl: frontDoor.url,
    setProfile: (image, profile) => profiles.set(image, parseImageProfile(image, profile)),
    setJobOutcomes: (job, outcomes) => jobs.setOutcomes(job, outcomes),
    modifyService: (service, mutate) => services.modifyService(service, mutate),
    metrics,
    stop: async () => {
      operations.releaseWaiters();
      jobs.stop();
      await services.stop();
      await frontDoor.stop();
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      server.forceShutdown();
    },
  };
}

/** What a fault rule's `subject` is matched against: the resource the call is about. */
function subjectOf(request: Record<string, unknown> | undefined): string {
  const r = request ?? {};
  // UpdateService and UpdateJob carry the resource, whose name is the subject.
  const resource = (r.service ?? r.job) as { name?: string } | undefined;
  const named = resource?.name ?? r.name ?? r.parent ?? '';
  return `${String(named)} ${typeof r.filter === 'string' ? r.filter : ''}`.trim();
}

/** Wraps every unary method so `<label>.<Method>` rules can fail, delay or silence it. */
function withFaults(
  label: string,
  implementation: UntypedServiceImplementation,
  faults: FaultInjector | undefined,
): UntypedServiceImplementation {
  if (!faults) return implementation;
  const wrapped: UntypedServiceImplementation = {};
  for (const [method, handler] of Object.entries(implementation)) {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- grpc-js unary (call, callback) pairs
    wrapped[method] = ((call: any, callback: any) => {
      const fault = faults.fire(`${label}.${method}`, subjectOf(call.request));
      if (!fault) return (handler as any)(call, callback); // eslint-disable-line @typescript-eslint/no-explicit-any
      switch (fault.effect) {
        case 'error':
          return callback({
            code: fault.code ?? 14,
            details: `injected fault: ${label}.${method} unavailable`,
          });
        case 'etag':
          return callback({
            code: 10,
            details: `injected fault: the etag of '${subjectOf(call.request)}' is stale: the resource has been modified since it was read. Read it again and retry.`,
          });
        case 'silent':
          return callback(null, {});
        case 'incomplete':
          // The answer of a query that failed in part: the second half of the series is missing
          // and execution_errors says so (metric_service.proto, ListTimeSeriesResponse).
          // eslint-disable-next-line @typescript-eslint/no-explicit-any
          return (handler as any)(call, (err: unknown, answer: { timeSeries?: unknown[] } | undefined) =>
            err
              ? callback(err)
              : callback(null, {
                  ...answer,
                  timeSeries: (answer?.timeSeries ?? []).slice(
                    0,
                    Math.ceil((answer?.timeSeries ?? []).length / 2),
                  ),
                  executionErrors: [
                    {
                      code: fault.code ?? 14,
                      message: `injected fault: ${label}.${method} read part of the data`,
                    },
                  ],
                }),
          );
        default:
          // eslint-disable-next-line @typescript-eslint/no-explicit-any
          setTimeout(() => (handler as any)(call, callback), fault.delayMs ?? 1000);
      }
    }) as UntypedServiceImplementation[string];
  }
  return wrapped;
}

export type { ExecutionOutcome } from './jobs-api';
export type { ServiceProfileInput, JobProfileInput } from './profiles';
