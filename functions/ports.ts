/**
 * The small interfaces that hide every GCP service from the domain and the
 * use cases. Adapters in `functions/adapters/` implement them with the real
 * `@google-cloud/*` clients; on a laptop the same adapters talk to the local
 * cloud. Every adapter throws GlidepathError (functions/shared/errors.ts).
 */
import type { RevisionObservations } from './domain/observations';
import type { ExecutionView } from './domain/sweep';
import type {
  DeadLetterRecord,
  GateRecord,
  RegionRecord,
  RolloutRecord,
  RolloutStatus,
  ServiceRecord,
} from './domain/records';
import type { JobAttempt, JobRunRecord, JobRunStatus } from './domain/jobs';
import type { JobRegionRecord, JobRolloutRecord } from './domain/job-rollout';
import type { LookRecord } from './domain/looks';
import type { ReportEvent } from './report/model';
import type { Decider, GateCallbackBody, GateDecision } from './domain/gates';

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
  /**
   * How many requests the whole service (every revision) served in the window,
   * and when the first of them was served (a service younger than the window).
   * Informational: one try, answered or failed within 5 s, so a caller adds no timer of its own.
   */
  serviceRequests(
    service: ServiceRef,
    window: { start: Date; end: Date },
  ): Promise<{ requests: number; firstServed?: string }>;
}

export interface JobExecutionState {
  name: string;
  /** RUNNING until completionTime is set; then SUCCEEDED or FAILED. */
  state: 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'CANCELLED';
  succeededCount: number;
  failedCount: number;
  startTime?: string;
  completionTime?: string;
  /** The Completed condition's message, when the execution did not succeed. */
  error?: string;
  /** The Completed condition's `reason` (CommonReason) and `executionReason` names, when set. */
  reason?: string;
  executionReason?: string;
}

export interface JobRunner {
  /** Starts an execution of the job and returns its full resource name. */
  run(
    job: { project: string; region: string; job: string },
    overrides?: { args?: string[]; env?: Record<string, string> },
  ): Promise<string>;
  getExecution(executionName: string): Promise<JobExecutionState>;
  /** Cancels a running execution (CancelExecution); an execution that already ended is left as it is. */
  cancel(executionName: string): Promise<void>;
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

/** A Cloud Run job in one region. */
export interface JobRef {
  project: string;
  region: string;
  job: string;
}

/** A job's execution template as the Admin API v2 holds it (`Job.template`, JSON), with its etag. */
export interface JobTemplateSnapshot {
  etag: string;
  template: string;
  /** The images of the template's containers, in order. */
  images: string[];
}

/** Reads and replaces Cloud Run jobs' templates (GetJob, UpdateJob). */
export interface JobTemplates {
  /** The job, or undefined when it does not exist in that region. */
  getJob(ref: JobRef): Promise<JobTemplateSnapshot | undefined>;
  /**
   * Replaces the template with `template` (UpdateJob with the etag read,
   * so a concurrent change makes it fail with a conflict), and waits for the
   * operation up to `timeoutMs`.
   */
  updateTemplate(
    ref: JobRef,
    input: { etag: string; template: string; timeoutMs: number },
  ): Promise<JobTemplateSnapshot>;
}

/** Starts and cancels Workflows executions. */
export interface WorkflowLauncher {
  /** Returns the server-assigned execution name. */
  start(
    workflow: 'rollout' | 'job-run' | 'job-rollout',
    argument: unknown,
    labels: Record<string, string>,
  ): Promise<string>;
  cancel(executionName: string): Promise<void>;
  /** What Workflows says about an execution: MISSING when it does not exist. */
  state(executionName: string): Promise<ExecutionView>;
}

/**
 * A notice: a Slack Block Kit message with a plain-text fallback, and the
 * pager alerts it raises or clears, if any. Every provider behind `Notifier`
 * takes the part meant for it (Flagger's pkg/notifier: one interface, many
 * providers): Slack the message, PagerDuty the alerts.
 */
export interface SlackMessage {
  text: string;
  blocks: unknown[];
  channel?: string;
  alerts?: PagerAlert[];
}

/**
 * What wakes people up (issue 16): raised (`trigger`) or cleared (`resolve`)
 * under a `dedupKey` per rollout or job run, as PagerDuty's Events API v2
 * correlates them (functions/adapters/pagerduty.ts).
 */
export interface PagerAlert {
  action: 'trigger' | 'resolve';
  dedupKey: string;
  /** Required for a trigger; a resolve carries none. */
  summary?: string;
  severity?: 'critical' | 'error' | 'warning' | 'info';
  /** The affected system, e.g. `run.googleapis.com/projects/P/services/S`. */
  source?: string;
  component?: string;
  details?: Record<string, string>;
}

export interface Notifier {
  /** Posts a message; never throws: a Slack outage must not fail a rollout. Returns whether it was delivered. */
  notify(message: SlackMessage): Promise<boolean>;
}

/** What a click's `response_url` takes (https://api.slack.com/interactivity/handling#message_responses). */
export interface SlackResponse {
  text: string;
  blocks?: unknown[];
  /** `ephemeral`: only the clicking user sees it. */
  response_type?: 'ephemeral' | 'in_channel';
  /** true: the message the button is on is replaced by this one. */
  replace_original?: boolean;
}

/** Answers a Slack click through its `response_url`; never throws (the decision is already recorded). */
export interface SlackResponder {
  respond(responseUrl: string, response: SlackResponse): Promise<boolean>;
}

/** What the Slack outbox reports after re-sending queued notices. */
export interface FlushReport {
  delivered: number;
  pending: number;
}

/** Slack notices that could not be delivered, kept for a later try (the sweeper flushes them). */
export interface NoticeOutbox {
  /** Re-sends queued notices, oldest first; stops at the first failure. */
  flush(limit?: number): Promise<FlushReport>;
}

/** Publishes one Pub/Sub message and returns its message id. */
export interface Publisher {
  publish(topic: string, data: Buffer, attributes: Record<string, string>): Promise<string>;
}

// Rollout state (design brief §4).

export type OnNewImage = 'supersede' | 'queue' | 'ignore';

export interface AdmitInput {
  /** Everything of the new rollout but its lifecycle fields. */
  rollout: Omit<RolloutRecord, 'status' | 'createdAt' | 'updatedAt' | 'regions'>;
  dedupKey: string;
  onNewImage: OnNewImage;
  now: Date;
  dedupTtlSeconds: number;
}

export type Admission =
  | { kind: 'started'; rollout: RolloutRecord; superseded?: RolloutRecord }
  | { kind: 'queued'; rollout: RolloutRecord; behind: string }
  | { kind: 'duplicate'; rollout: RolloutRecord; reason: string }
  | { kind: 'ignored'; reason: string; active: RolloutRecord };

/** One entry of a rollout's history. */
export interface RolloutEvent {
  type: string;
  message: string;
  region?: string;
  step?: number;
  [key: string]: unknown;
}

/** A rollout that may still act, with its service; or the reason it must stop. */
export type Authorization = { rollout: RolloutRecord; service: ServiceRecord } | { stop: string };

/**
 * Rollouts and the services' leases and candidate slots. Every method is
 * atomic: the service lease and the (service, digest) deduplication are taken
 * together, so two images arriving at once can never both become active.
 */
export interface RolloutStore {
  getRollout(id: string): Promise<RolloutRecord | undefined>;
  getService(name: string): Promise<ServiceRecord | undefined>;
  /** Every service Glidepath has seen. */
  listServices(): Promise<ServiceRecord[]>;
  /** Records a new rollout and takes the service's lease, honouring `onNewImage` when another is active. */
  admit(input: AdmitInput): Promise<Admission>;
  /**
   * True if this caller should start the execution of a PENDING rollout that
   * has none yet. A fresh claim by another caller throws a transient error.
   */
  claimLaunch(id: string, now: Date): Promise<boolean>;
  /** Gives up a launch claim after a failed start, so a redelivery can start at once. */
  releaseLaunch(id: string): Promise<void>;
  /** Records the server-assigned execution name; the rollout is RUNNING from here on. */
  recordExecution(id: string, executionName: string, now: Date): Promise<void>;
  /** The rollout if it is RUNNING (or starting), holds its lease and is driven by `executionId` (when given). */
  authorize(id: string, executionId?: string): Promise<Authorization>;
  /** Merges `patch` into the rollout's record of one region (replacing its traffic map) and appends an event. */
  updateRegion(
    id: string,
    region: string,
    now: Date,
    patch: Partial<RegionRecord>,
    event?: RolloutEvent,
  ): Promise<RegionRecord>;
  /**
   * Takes the region's candidate slot for `rolloutId`, which must hold the
   * lease; the slot changes hands only from `replacing`. Throws a conflict otherwise.
   */
  claimRegion(
    serviceName: string,
    region: string,
    rolloutId: string,
    now: Date,
    replacing?: string,
  ): Promise<void>;
  /** Frees the region's slot if `rolloutId` holds it; records a promoted revision as last good. */
  releaseRegion(
    serviceName: string,
    region: string,
    rolloutId: string,
    now: Date,
    lastGood?: string,
  ): Promise<void>;
  /**
   * Ends a rollout (once: a terminal rollout keeps its status) and passes the
   * lease to the next queued rollout, which is returned.
   */
  finish(
    id: string,
    status: RolloutStatus,
    reason: string,
    now: Date,
  ): Promise<{ rollout: RolloutRecord; next?: RolloutRecord }>;
  /** True once, for the caller that should post the end of a stopped rollout (a redelivered stop posts nothing). */
  claimEndNotice(id: string, now: Date): Promise<boolean>;
}

// Job runs (design brief §4).

export type RunCreation = { kind: 'created'; run: JobRunRecord } | { kind: 'duplicate'; run: JobRunRecord };

/** What `claimAttempt` found: start the execution now, or it already exists. */
export type AttemptClaim =
  | { kind: 'start'; run: JobRunRecord }
  | { kind: 'started'; run: JobRunRecord; attempt: JobAttempt }
  | { kind: 'finished'; run: JobRunRecord };

/** Job runs: every write that must happen once is atomic, so duplicate deliveries are harmless. */
export interface JobStore {
  getRun(id: string): Promise<JobRunRecord | undefined>;
  /** The newest runs of a job first. */
  listRuns(job: string, limit: number): Promise<JobRunRecord[]>;
  /** Creates the run unless it exists; the creating caller holds the launch claim. */
  createRun(run: JobRunRecord): Promise<RunCreation>;
  /** For a duplicate delivery: true if this caller should start the run's workflow; a fresh claim elsewhere throws a transient error. */
  claimLaunch(id: string, now: Date): Promise<boolean>;
  releaseLaunch(id: string): Promise<void>;
  recordExecution(id: string, executionName: string, now: Date): Promise<void>;
  /** Claims attempt `number` (in order): `start` it now, or it was `started` already, or the run is `finished`. */
  claimAttempt(id: string, number: number, now: Date): Promise<AttemptClaim>;
  /** Drops a claimed attempt whose start failed transiently. */
  releaseAttempt(id: string, number: number, now: Date): Promise<void>;
  /** Merges `patch` into attempt `number` unless it has a final result; returns the attempt as stored. */
  updateAttempt(id: string, number: number, patch: Partial<JobAttempt>, now: Date): Promise<JobAttempt>;
  /** Runs not finished yet (PENDING or RUNNING), oldest first, for the sweeper. */
  listUnfinishedRuns(limit: number): Promise<JobRunRecord[]>;
  /** Sets the run's final status once (with `endReason`, when ended from outside); returns the run as stored. */
  finishRun(
    id: string,
    status: Extract<JobRunStatus, 'SUCCEEDED' | 'FAILED'>,
    now: Date,
    endReason?: string,
  ): Promise<JobRunRecord>;
  updateRun(
    id: string,
    patch: Partial<Pick<JobRunRecord, 'deadLetterId' | 'deadLetterMessageId'>>,
    now: Date,
  ): Promise<void>;
  /** True once, for the caller that should post the run's final Slack message. */
  claimNotification(id: string, now: Date): Promise<boolean>;
}

/**
 * One lock per job, shared by its runs and its image rollouts, so a run and
 * a rollout of the same job never overlap (docs/jobs.md). A holder whose
 * lock has expired (its workflow died) loses it to the next taker.
 */
export interface JobLocks {
  /** Takes the job's lock for `holder` (or renews it) until `until`; otherwise says who holds it. */
  acquire(
    job: string,
    holder: string,
    until: Date,
    now: Date,
  ): Promise<{ acquired: true } | { heldBy: string }>;
  /** Frees the lock if `holder` has it. */
  release(job: string, holder: string): Promise<void>;
}

/** What `claimVerify` found: start the region's verification now, or another call did (or the region moved on). */
export type VerifyClaim = { kind: 'start' | 'taken'; rollout: JobRolloutRecord };

/** Job image rollouts, `jobRollouts/{id}`. */
export interface JobRolloutStore {
  get(id: string): Promise<JobRolloutRecord | undefined>;
  /** The job's newest rollouts first. */
  listForJob(job: string, limit: number): Promise<JobRolloutRecord[]>;
  /** Up to `limit` PENDING or RUNNING rollouts, oldest first (the sweeper). */
  listUnfinished(limit: number): Promise<JobRolloutRecord[]>;
  /** Creates it unless one with its id exists (the (job, digest) deduplication). */
  create(record: JobRolloutRecord): Promise<{ kind: 'created' | 'duplicate'; rollout: JobRolloutRecord }>;
  /** For a duplicate delivery of a PENDING rollout without execution: true if this caller should start it. */
  claimLaunch(id: string, now: Date): Promise<boolean>;
  releaseLaunch(id: string): Promise<void>;
  recordExecution(id: string, executionName: string, now: Date): Promise<void>;
  /**
   * Claims the start of the region's verification execution: `start` for the
   * one caller that should start it, `taken` when it is recorded already or
   * the region is no longer UPDATED. A fresh claim of another call is a
   * conflict (transient): two calls at once never both start one.
   */
  claimVerify(id: string, region: string, now: Date): Promise<VerifyClaim>;
  /** Drops the claim after a transient failure to start, so a retried call can claim it at once. */
  releaseVerify(id: string, region: string, now: Date): Promise<void>;
  /** Merges `patch` into the region's record; returns the rollout as stored. */
  updateRegion(
    id: string,
    region: string,
    patch: Partial<JobRegionRecord>,
    now: Date,
  ): Promise<JobRolloutRecord>;
  /** Ends the rollout once; `changed` is true only for the call that ended it. */
  finish(
    id: string,
    status: 'SUCCEEDED' | 'FAILED',
    reason: string | undefined,
    now: Date,
  ): Promise<{ rollout: JobRolloutRecord; changed: boolean }>;
}

// Dead letters (rejected messages, undeliverable messages, failed job runs).

export type ReplayClaim = { kind: 'claimed'; record: DeadLetterRecord } | { kind: 'refused'; reason: string };

export interface DeadLetterStore {
  /** Writes the dead letter unless one with its id exists; true if this call created it. */
  createDeadLetter(record: DeadLetterRecord): Promise<boolean>;
  getDeadLetter(id: string): Promise<DeadLetterRecord | undefined>;
  /** Newest first; only those not replayed yet unless `all`. */
  listDeadLetters(opts: { all: boolean; limit: number }): Promise<DeadLetterRecord[]>;
  /** Marks it replayed by `by`, atomically, before anything is published: of two replays, one wins. */
  claimReplay(id: string, by: string, now: Date): Promise<ReplayClaim>;
  recordReplay(id: string, replayMessageId: string): Promise<void>;
  /** Gives a claimed replay back after its publish failed (unless it was recorded). */
  releaseReplay(id: string): Promise<void>;
}

/** What the judge saw at each look (functions/domain/looks.ts), kept with the rollout for its report. */
export interface LookStore {
  record(rolloutId: string, look: LookRecord): Promise<void>;
  /** Every look of the rollout, oldest first. */
  list(rolloutId: string): Promise<LookRecord[]>;
}

/** What a rollout's report is made from (functions/report/model.ts): Firestore only, never Monitoring. */
export interface ReportSource {
  rollout(id: string): Promise<RolloutRecord | undefined>;
  /** The rollout's events, oldest first. */
  events(id: string): Promise<ReportEvent[]>;
  looks(id: string): Promise<LookRecord[]>;
  /** The service's latest rollouts, newest first (for its DORA figures). */
  history(service: string, limit: number): Promise<RolloutRecord[]>;
}

/** Where finished reports go: a private Cloud Storage bucket on GCP, a folder on the local cloud. */
export interface ReportPublisher {
  /** Stores the page; returns where a person opens it (an authenticated URL on GCP, a file path locally). */
  publish(rollout: { id: string; service: string }, html: string): Promise<{ url: string }>;
}

// Approval gates (functions/domain/gates.ts, functions/usecases/gates.ts).

/** A decided gate whose callback has not reached the workflow yet (the `gateCallbacks` outbox). */
export interface PendingGateCallback {
  rolloutId: string;
  gate: GateRecord;
  attempts: number;
}

export type GateDecisionRecord =
  | { kind: 'recorded'; rollout: RolloutRecord; gate: GateRecord }
  | { kind: 'not_allowed'; message: string }
  | { kind: 'unchanged'; message: string };

/** Gates of rollouts; every write is atomic, so of two decisions exactly one is recorded. */
export interface GateStore {
  /** Records a gate the workflow opened (WAITING, with its callback URL); opening it again keeps the first record. */
  openGate(rolloutId: string, gate: GateRecord, now: Date): Promise<GateRecord>;
  /**
   * Records the decision once (planDecision says whether it counts) and, in
   * the same transaction, queues its callback in the outbox.
   */
  decide(input: {
    rolloutId: string;
    gate: string;
    decision: GateDecision;
    by: Decider;
    reason?: string;
    now: Date;
  }): Promise<GateDecisionRecord>;
  /** The callback reached the workflow: marks the gate and empties its outbox entry. */
  callbackSent(rolloutId: string, gate: string, now: Date): Promise<void>;
  /** The callback could not be sent: counts the attempt, keeps the entry (or drops it for good when `final`). */
  callbackFailed(rolloutId: string, gate: string, error: string, now: Date, final: boolean): Promise<void>;
  /** Decisions whose callback is still to be sent, oldest first. */
  pendingCallbacks(limit: number): Promise<PendingGateCallback[]>;
  /** Marks a WAITING gate EXPIRED (the workflow's await timed out); a decided gate keeps its decision. */
  expireGate(rolloutId: string, gate: string, now: Date): Promise<GateRecord | undefined>;
}

/** Sends a decision to a Workflows callback URL, with the token Google requires. */
export interface GateCallbackSender {
  /** Resolves once the callback endpoint accepted it; throws a GlidepathError (`not_found`: no such callback any more). */
  send(url: string, body: GateCallbackBody): Promise<void>;
}
