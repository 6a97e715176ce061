/**
 * The small interfaces that hide every GCP service from the domain and the
 * use cases. Adapters in `functions/adapters/` implement them with the real
 * `@google-cloud/*` clients; on a laptop the same adapters talk to the local
 * cloud. Every adapter throws GlidepathError (functions/shared/errors.ts).
 */
import type { RevisionObservations } from './domain/observations';
import type { ExecutionView } from './domain/sweep';
import type { LookRecord } from './domain/looks';

export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/** Identifies one Cloud Run service in one region. */
export interface ServiceRef {
  project: string;
  region: string;
  service: string;
}

/**
 * One traffic target of a Cloud Run service, as in the Admin API v2
 * (`TrafficTarget`): either a named revision or the latest ready revision.
 */
export interface TrafficTarget {
  type: 'REVISION' | 'LATEST';
  revision?: string;
  percent: number;
  tag?: string;
}

/** What a rollout needs to know about a service in one region. */
export interface ServiceSnapshot {
  ref: ServiceRef;
  etag: string;
  generation: number;
  /** The container image of the current template. */
  image: string;
  latestReadyRevision?: string;
  latestCreatedRevision?: string;
  /** The traffic the service is configured with (spec). */
  traffic: TrafficTarget[];
  /** Per-tag URLs reported in `trafficStatuses`. */
  tagUrls: Record<string, string>;
  /** The service's own URL. */
  url?: string;
}

export interface RevisionState {
  name: string;
  image: string;
  /** Ready condition: true, false (with reason) or still reconciling. */
  ready: 'true' | 'false' | 'unknown';
  reason?: string;
}

/**
 * Called after every read of the service and before the etag-guarded write
 * that follows it; throws if the caller may no longer change the service.
 * With the etag, it fences out a caller that lost its lease mid-call: a
 * newer writer changes the etag, so the stale write fails, re-reads, and
 * meets the fence.
 */
export type Fence = () => Promise<void>;

/**
 * Deploys revisions and moves traffic. Every write uses the service's etag
 * and retries a bounded number of times on conflict, re-reading the service
 * and re-applying `plan` to the fresh snapshot.
 */
export interface TrafficRouter {
  /** The service, or undefined when it does not exist in that region. */
  getService(ref: ServiceRef): Promise<ServiceSnapshot | undefined>;
  getRevision(ref: ServiceRef, revision: string): Promise<RevisionState | undefined>;
  /**
   * Creates revision `revisionName` from the current template with `image`,
   * with traffic set by `plan(snapshot)` (which pins the existing split and
   * adds the candidate's tag at 0%). Waits for the operation, up to `timeoutMs`.
   */
  deployRevision(
    ref: ServiceRef,
    input: {
      image: string;
      revisionName: string;
      plan: (current: ServiceSnapshot) => TrafficTarget[];
      timeoutMs: number;
      fence?: Fence;
    },
  ): Promise<ServiceSnapshot>;
  /** Replaces the traffic with `plan(current)`; waits for the operation, up to `timeoutMs`. */
  setTraffic(
    ref: ServiceRef,
    plan: (current: ServiceSnapshot) => TrafficTarget[],
    opts: { timeoutMs: number; fence?: Fence },
  ): Promise<ServiceSnapshot>;
}

/**
 * ID tokens of this function's own identity, for calling IAM-protected Cloud
 * Run URLs (the smoke test). Cloud Run accepts a token whose audience is the
 * service's URL or one of its custom audiences (docs/deploy.md, "Calling the
 * candidate").
 */
export interface IdTokenSource {
  /** A token whose `aud` claim is `audience`, sent as `Authorization: Bearer <token>`. */
  idToken(audience: string): Promise<string>;
}

/** Reads a revision's request counts and latency distributions from Cloud Monitoring. */
export interface MetricsSource {
  observe(
    revision: ServiceRef & { revision: string },
    window: { start: Date; end: Date; alignmentSeconds: number },
  ): Promise<RevisionObservations>;
}

export interface JobExecutionState {
  name: string;
  /** RUNNING until completionTime is set; then SUCCEEDED or FAILED. */
  state: 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'CANCELLED';
  succeededCount: number;
  failedCount: number;
  startTime?: string;
  completionTime?: string;
  error?: string;
}

export interface JobRunner {
  /** Starts an execution of the job and returns its full resource name. */
  run(
    job: { project: string; region: string; job: string },
    overrides?: { args?: string[]; env?: Record<string, string> },
  ): Promise<string>;
  getExecution(executionName: string): Promise<JobExecutionState>;
  /**
   * The job's recent execution whose container env holds `marker` (set through
   * `run`'s env override), if any: lets a retried start find the execution a
   * crashed call started instead of starting a second one.
   */
  findExecution(
    job: { project: string; region: string; job: string },
    marker: { name: string; value: string },
  ): Promise<string | undefined>;
}

/** Starts and cancels Workflows executions. */
export interface WorkflowLauncher {
  /** Returns the server-assigned execution name. */
  start(workflow: 'rollout' | 'job-run', argument: unknown, labels: Record<string, string>): Promise<string>;
  cancel(executionName: string): Promise<void>;
  /** What Workflows says about an execution: MISSING when it does not exist. */
  state(executionName: string): Promise<ExecutionView>;
}

/** A Slack Block Kit message with a plain-text fallback. */
export interface SlackMessage {
  text: string;
  blocks: unknown[];
  channel?: string;
}

export interface Notifier {
  /** Posts a message; never throws: a Slack outage must not fail a rollout. Returns whether it was delivered. */
  notify(message: SlackMessage): Promise<boolean>;
}

/** What the judge saw at each look (functions/domain/looks.ts), kept with the rollout for its report. */
export interface LookStore {
  record(rolloutId: string, look: LookRecord): Promise<void>;
  /** Every look of the rollout, oldest first. */
  list(rolloutId: string): Promise<LookRecord[]>;
}
