/**
 * The local Cloud Run Admin API v2 and Cloud Monitoring v3, on one gRPC
 * server, plus the HTTP front door that serves the revisions. See
 * docs/local-cloud.md for the URL forms, image profiles and options.
 */
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { FrontDoor } from './frontdoor';
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
  /** Monitoring data becomes visible only this long after it was written. Default 0 (GCP: up to 180 s). */
  ingestionDelayMs?: number;
  /** Seed of the RNG behind traffic splits, errors, latencies and names. Default 1. */
  seed?: number;
  /** Actually delay responses by the sampled latency (default true); when false, the latency is only recorded. */
  simulateLatency?: boolean;
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
  const metrics = new MetricStore({ ingestionDelayMs: options.ingestionDelayMs ?? 0, now: Date.now });
  const frontDoor = new FrontDoor({ random, simulateLatency: options.simulateLatency ?? true, metrics });
  await frontDoor.start(options.frontDoorPort ?? 0);

  const operations = new OperationStore();
  const services = new ServicesApi({
    operations,
    frontDoor,
    profileFor,
    readyDelayMs: options.readyDelayMs ?? 300,
    random,
  });
  const jobs = new JobsApi({ operations, profileFor, random });

  const server = new Server();
  for (const s of [
    services.servicesGrpc(),
    services.revisionsGrpc(),
    jobs.jobsGrpc(),
    jobs.executionsGrpc(),
    operations.grpc(),
    metricService(metrics),
  ])
    server.addService(s.definition, s.implementation);
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

export type { ExecutionOutcome } from './jobs-api';
export type { ServiceProfileInput, JobProfileInput } from './profiles';
