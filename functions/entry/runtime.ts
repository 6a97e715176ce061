/**
 * Builds the adapters an entry point needs, lazily and once per instance:
 * nothing creates a client at import time, so a bundle loads fast and
 * without network access.
 */
import type * as firestoreModule from '@google-cloud/firestore';
import type * as workflowsModule from '@google-cloud/workflows';
import { loadConfig, loadPolicy, type Config } from '../shared/config';
import { localClientOptions } from '../shared/endpoint';
import { createLogger, type Logger } from '../shared/log';
import { FirestoreRolloutStore } from '../adapters/firestore-store';
import { WorkflowsLauncher } from '../adapters/workflows';
import { SlackWebhookNotifier } from '../adapters/slack';
import { systemClock } from '../ports';
import type { Policy } from '../domain/policy';

export interface Runtime {
  config: Config;
  policy: Policy;
  log: Logger;
  firestore: firestoreModule.Firestore;
  store: FirestoreRolloutStore;
  launcher: WorkflowsLauncher;
  notifier: SlackWebhookNotifier;
  clock: typeof systemClock;
}

let cached: Promise<Runtime> | undefined;
let overrides: Partial<Runtime> = {};

/**
 * The client libraries are imported on first use, not at module load: a
 * cold start then pays for them only when a request arrives.
 */
export function runtime(): Promise<Runtime> {
  cached ??= build();
  return cached;
}

async function build(): Promise<Runtime> {
  // Plain require, not import(): jest runs CommonJS without ESM support.
  /* eslint-disable @typescript-eslint/no-require-imports */
  const { Firestore } = require('@google-cloud/firestore') as typeof firestoreModule;
  const { ExecutionsClient } = require('@google-cloud/workflows') as typeof workflowsModule;
  /* eslint-enable @typescript-eslint/no-require-imports */
  const config = loadConfig();
  const log = overrides.log ?? createLogger({ component: 'glidepath' });
  const firestore = new Firestore({ projectId: config.GLIDEPATH_PROJECT, ignoreUndefinedProperties: true });
  const executions = new ExecutionsClient({
    projectId: config.GLIDEPATH_PROJECT,
    ...localClientOptions(config.GLIDEPATH_WORKFLOWS_ENDPOINT),
  });
  return {
    config,
    policy: loadPolicy(config.GLIDEPATH_POLICY_FILE),
    log,
    firestore,
    store: new FirestoreRolloutStore(firestore),
    launcher: new WorkflowsLauncher(executions, config.GLIDEPATH_PROJECT, config.GLIDEPATH_LOCATION),
    notifier: new SlackWebhookNotifier({ url: config.SLACK_WEBHOOK_URL }, log),
    clock: systemClock,
    ...overrides,
  };
}

/**
 * Replaces parts of the runtime (the local cloud injects its logger and
 * clock) and forgets the cached one, so the next call rebuilds it from the
 * current environment.
 */
export function configureRuntime(parts: Partial<Runtime> = {}): void {
  overrides = parts;
  cached = undefined;
}
