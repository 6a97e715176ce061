/**
 * Builds the adapters an entry point needs, lazily and once per instance:
 * nothing creates a client at import time, and each client library is
 * loaded only when first used, so a cold start pays only for what it needs.
 */
import type * as firestoreModule from '@google-cloud/firestore';
import type * as pubsubModule from '@google-cloud/pubsub';
import type * as pubsubAdapter from '../adapters/pubsub';
import type * as workflowsModule from '@google-cloud/workflows';
import type * as cloudrunAdapter from '../adapters/cloudrun';
import type * as monitoringAdapter from '../adapters/monitoring';
import type * as jobsAdapter from '../adapters/jobs';
import type * as authModule from 'google-auth-library';
import { googleIdTokenSource, localIdTokenSource } from '../adapters/id-token';
import type * as storageModule from '@google-cloud/storage';
import { loadConfig, loadPolicy, type Config } from '../shared/config';
import { firestoreEmulatorOptions, localClientOptions, pubsubEmulatorOptions } from '../shared/endpoint';
import { createLogger, type Logger } from '../shared/log';
import { FirestoreRolloutStore } from '../adapters/firestore-store';
import { FirestoreGateStore } from '../adapters/gate-store';
import { googleAccessToken, httpGateCallbackSender } from '../adapters/gate-callbacks';
import { localAccessToken } from '../shared/oidc';
import { FirestoreJobStore } from '../adapters/job-store';
import { FirestoreJobLocks, FirestoreJobRolloutStore } from '../adapters/job-rollout-store';
import { FirestoreDeadLetterStore } from '../adapters/dead-letter-store';
import { FirestoreLookStore } from '../adapters/look-store';
import { FirestoreReportSource } from '../adapters/report-source';
import { CloudStorageReportPublisher, FolderReportPublisher } from '../adapters/reports';
import { WorkflowsLauncher } from '../adapters/workflows';
import { SlackResponseUrlResponder, SlackWebhookNotifier } from '../adapters/slack';
import { FanoutNotifier, OutboxNotifier, PAGER_OUTBOX } from '../adapters/outbox';
import { PagerDutyNotifier } from '../adapters/pagerduty';
import {
  systemClock,
  type Clock,
  type IdTokenSource,
  type DeadLetterStore,
  type JobLocks,
  type JobRolloutStore,
  type JobRunner,
  type JobStore,
  type JobTemplates,
  type LookStore,
  type ReportPublisher,
  type ReportSource,
  type MetricsSource,
  type NoticeOutbox,
  type Notifier,
  type GateCallbackSender,
  type GateStore,
  type Publisher,
  type RolloutStore,
  type SlackResponder,
  type TrafficRouter,
  type WorkflowLauncher,
} from '../ports';
import type { Policy } from '../domain/policy';

export interface Runtime {
  config: Config;
  policy: Policy;
  log: Logger;
  firestore: firestoreModule.Firestore;
  store: RolloutStore;
  /** Approval gates of rollouts (functions/usecases/gates.ts). */
  gates: GateStore;
  jobStore: JobStore;
  jobRollouts: JobRolloutStore;
  /** The locks that keep a job's runs and image rollouts apart. */
  jobLocks: JobLocks;
  deadLetters: DeadLetterStore;
  /** What the judge saw at each look (functions/domain/looks.ts). */
  looks: LookStore;
  reportSource: ReportSource;
  /** Where reports go: the bucket on GCP, a folder on the local cloud; none when neither is configured. */
  reports?: ReportPublisher;
  launcher: WorkflowLauncher;
  /** Slack (and PagerDuty, when configured), with undelivered notices kept in outboxes for the sweeper. */
  notifier: Notifier;
  outbox: NoticeOutbox;
  /** Answers Slack clicks through their response_url. */
  responder: SlackResponder;
  clock: Clock;
  router(): TrafficRouter;
  metrics(): MetricsSource;
  jobs(): JobRunner;
  jobTemplates(): JobTemplates;
  /** ID tokens of this function's identity (the smoke test calls private services). */
  idTokens(): IdTokenSource;
  publisher(): Publisher;
  /** Sends gate decisions to Workflows callbacks, with an access token of this function's identity. */
  gateCallbacks(): GateCallbackSender;
}

let cached: Runtime | undefined;
let overrides: Partial<Runtime> = {};

/** Memoises a factory: the client is created on first use. */
function once<T>(make: () => T): () => T {
  let value: T | undefined;
  return () => (value ??= make());
}

// Plain require, not import(): jest runs CommonJS without ESM support, and
// a deferred require keeps each library off the cold-start path.
/* eslint-disable @typescript-eslint/no-require-imports */
export function runtime(): Runtime {
  if (cached) return cached;
  const config = loadConfig();
  const log = overrides.log ?? createLogger({ component: 'glidepath' });
  const { Firestore } = require('@google-cloud/firestore') as typeof firestoreModule;
  const { ExecutionsClient } = require('@google-cloud/workflows') as typeof workflowsModule;
  const firestore = new Firestore({
    projectId: config.GLIDEPATH_PROJECT,
    ignoreUndefinedProperties: true,
    ...firestoreEmulatorOptions(),
  });
  const executions = new ExecutionsClient({
    projectId: config.GLIDEPATH_PROJECT,
    ...localClientOptions(config.GLIDEPATH_WORKFLOWS_ENDPOINT),
  });
  // An overridden notifier replaces Slack itself; the outbox still wraps it.
  const { notifier: slack, ...parts } = overrides;
  const now = () => (parts.clock ?? systemClock).now();
  const slackOutbox = new OutboxNotifier(
    slack ?? new SlackWebhookNotifier({ url: config.SLACK_WEBHOOK_URL }, log),
    firestore,
    log,
    now,
  );
  // PagerDuty only where a routing key is configured: without one there is nobody to page.
  const routingKey = config.PAGERDUTY_ROUTING_KEY;
  const outbox = routingKey
    ? new FanoutNotifier([
        slackOutbox,
        new OutboxNotifier(
          new PagerDutyNotifier({ url: config.GLIDEPATH_PAGERDUTY_URL, routingKey }, log, now),
          firestore,
          log,
          now,
          PAGER_OUTBOX,
        ),
      ])
    : slackOutbox;
  cached = {
    config,
    policy: loadPolicy(config.GLIDEPATH_POLICY_FILE),
    log,
    firestore,
    store: new FirestoreRolloutStore(firestore),
    gates: new FirestoreGateStore(firestore),
    jobStore: new FirestoreJobStore(firestore),
    jobRollouts: new FirestoreJobRolloutStore(firestore),
    jobLocks: new FirestoreJobLocks(firestore),
    deadLetters: new FirestoreDeadLetterStore(firestore),
    looks: new FirestoreLookStore(firestore),
    reportSource: new FirestoreReportSource(firestore),
    ...reportPublisher(config),
    launcher: new WorkflowsLauncher(executions, config.GLIDEPATH_PROJECT, config.GLIDEPATH_LOCATION),
    notifier: outbox,
    outbox,
    responder: new SlackResponseUrlResponder(
      { allowedPrefix: config.GLIDEPATH_SLACK_RESPONSE_URL_PREFIX },
      log,
    ),
    clock: systemClock,
    router: once(() =>
      (require('../adapters/cloudrun') as typeof cloudrunAdapter).createCloudRunTrafficRouter({
        clientOptions: localClientOptions(config.GLIDEPATH_RUN_ENDPOINT),
        logger: log,
      }),
    ),
    metrics: once(() =>
      (require('../adapters/monitoring') as typeof monitoringAdapter).createMonitoringMetricsSource({
        clientOptions: localClientOptions(config.GLIDEPATH_MONITORING_ENDPOINT),
      }),
    ),
    jobs: once(() =>
      (require('../adapters/jobs') as typeof jobsAdapter).createCloudRunJobRunner({
        clientOptions: localClientOptions(config.GLIDEPATH_RUN_ENDPOINT),
      }),
    ),
    jobTemplates: once(() =>
      (require('../adapters/jobs') as typeof jobsAdapter).createCloudRunJobTemplates({
        clientOptions: localClientOptions(config.GLIDEPATH_RUN_ENDPOINT),
      }),
    ),
    idTokens: once(() => {
      const secret = config.GLIDEPATH_LOCAL_OIDC_SECRET;
      if (!secret) {
        const { GoogleAuth } = require('google-auth-library') as typeof authModule;
        return googleIdTokenSource(new GoogleAuth());
      }
      const identity = config.GLIDEPATH_LOCAL_ACTIONS_SA;
      // Only the smoke probe needs a token: the other actions must not fail on this setting.
      if (!identity)
        return {
          idToken: () =>
            Promise.reject(
              new Error(
                'GLIDEPATH_LOCAL_ACTIONS_SA: expected the local identity of the actions function, got none',
              ),
            ),
        };
      return localIdTokenSource(identity, secret);
    }),
    gateCallbacks: once(() => {
      const secret = config.GLIDEPATH_LOCAL_OIDC_SECRET;
      if (!secret) {
        const { GoogleAuth } = require('google-auth-library') as typeof authModule;
        return httpGateCallbackSender(
          googleAccessToken(new GoogleAuth({ scopes: ['https://www.googleapis.com/auth/cloud-platform'] })),
        );
      }
      const identity = config.GLIDEPATH_LOCAL_ACTIONS_SA;
      return httpGateCallbackSender(async () => {
        if (!identity)
          throw new Error(
            'GLIDEPATH_LOCAL_ACTIONS_SA: expected the local identity of the actions function, got none',
          );
        return localAccessToken(identity, secret);
      });
    }),
    publisher: once(() => {
      const { PubSub } = require('@google-cloud/pubsub') as typeof pubsubModule;
      const { PubsubPublisher } = require('../adapters/pubsub') as typeof pubsubAdapter;
      return new PubsubPublisher(
        new PubSub({
          projectId: config.GLIDEPATH_PROJECT,
          ...pubsubEmulatorOptions(),
        }),
      );
    }),
    ...parts,
  };
  return cached;
}
/* eslint-enable @typescript-eslint/no-require-imports */

/* eslint-disable @typescript-eslint/no-require-imports */
/** The bucket's publisher wins over the folder's; the Storage client loads on the first report. */
function reportPublisher(config: Config): { reports?: ReportPublisher } {
  const bucket = config.GLIDEPATH_REPORT_BUCKET;
  if (bucket) {
    const lazyBucket = once(() => {
      const { Storage } = require('@google-cloud/storage') as typeof storageModule;
      return new Storage({ projectId: config.GLIDEPATH_PROJECT }).bucket(bucket);
    });
    return {
      reports: {
        publish: (rollout, html) => new CloudStorageReportPublisher(lazyBucket()).publish(rollout, html),
      },
    };
  }
  if (config.GLIDEPATH_REPORT_DIR) return { reports: new FolderReportPublisher(config.GLIDEPATH_REPORT_DIR) };
  return {};
}
/* eslint-enable @typescript-eslint/no-require-imports */

/**
 * Replaces parts of the runtime (the local cloud injects its logger; tests
 * inject faults) and forgets the cached one, so the next call rebuilds it
 * from the current environment.
 */
export function configureRuntime(parts: Partial<Runtime> = {}): void {
  overrides = parts;
  cached = undefined;
}
