/**
 * Builds the adapters an entry point needs, lazily and once per instance:
 * nothing creates a client at import time, so a bundle loads fast and
 * without network access.
 */
import { Firestore } from '@google-cloud/firestore';
import { ExecutionsClient } from '@google-cloud/workflows';
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
  firestore: Firestore;
  store: FirestoreRolloutStore;
  launcher: WorkflowsLauncher;
  notifier: SlackWebhookNotifier;
  clock: typeof systemClock;
}

let cached: Runtime | undefined;
let overrides: Partial<Runtime> = {};

export function runtime(): Runtime {
  if (cached) return cached;
  const config = loadConfig();
  const log = overrides.log ?? createLogger({ component: 'glidepath' });
  const firestore = new Firestore({ projectId: config.GLIDEPATH_PROJECT, ignoreUndefinedProperties: true });
  const executions = new ExecutionsClient({
    projectId: config.GLIDEPATH_PROJECT,
    ...localClientOptions(config.GLIDEPATH_WORKFLOWS_ENDPOINT),
  });
  cached = {
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
  return cached;
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
