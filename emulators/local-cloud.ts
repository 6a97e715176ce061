/**
 * The whole local cloud, started with one call (used by `npm start`,
 * `glidepath simulate`, `npm run local-cloud` and the end-to-end tests):
 *
 * - Google's Pub/Sub and Firestore emulators;
 * - our Cloud Run Admin v2 + Monitoring v3 emulator with its HTTP front door;
 * - our Workflows emulator running the real `workflows/*.workflows.yaml`;
 * - Glidepath's Cloud Functions, served in-process by the real
 *   functions-framework, with push subscriptions shaped like Terraform's
 *   (dead-letter policy to `glidepath-dead-letters`);
 * - a Slack webhook sink.
 *
 * Everything binds to free loopback ports; `stop()` shuts it all down.
 */
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { PubSub } from '@google-cloud/pubsub';
import { Firestore } from '@google-cloud/firestore';
import { startGoogleEmulators, type GoogleEmulators } from './google';
import { startCloudRunEmulator, type CloudRunEmulator, type CloudRunEmulatorOptions } from './cloudrun';
import { INGESTION_DELAY_SECONDS, SAMPLE_PERIOD_SECONDS } from '../functions/domain/analysis/looks';
import { startWorkflowsEmulator, type WorkflowsEmulator } from './workflows';
import { startSlackSink, type SlackPost, type SlackSink } from './slack-sink';
import { clickButton, type SlackUser } from './slack-click';
import { startPagerDutySink, type PagerDutySink } from './pagerduty-sink';
import { FaultInjector, crashingJobRunner, crashingLauncher, crashingRouter } from './faults';
import { hostFunction, pushEndpoint, type HostedFunction } from './functions-host';
import { ensurePushSubscription, ensureTopic } from './pubsub-setup';
import { FUNCTIONS } from '../functions/catalog';
import type { TrafficRouter } from '../functions/ports';
import { TOPICS } from '../functions/domain/messages';
import { configureRuntime, type Runtime } from '../functions/entry/runtime';
import { createLogger, type Logger } from '../functions/shared/log';
import {
  firestoreEmulatorOptions,
  localClientOptions,
  pubsubEmulatorOptions,
} from '../functions/shared/endpoint';
import { createCloudRunTrafficRouter } from '../functions/adapters/cloudrun';
import { createCloudRunJobRunner } from '../functions/adapters/jobs';
import { WorkflowsLauncher } from '../functions/adapters/workflows';
import { ExecutionsClient } from '@google-cloud/workflows';
import type { ServicesClient } from '@google-cloud/run';
import { runLoad, type LoadOptions, type LoadResult } from './loadgen';
import { mintOidcToken } from '../functions/shared/oidc';
import type { SweepReport as RolloutSweepReport } from '../functions/usecases/sweep';
import type { JobSweepReport } from '../functions/usecases/job-sweep';

/** How long one sweeper call may take before the caller gives up on it (Cloud Scheduler's attempt deadline). */
const SWEEP_ATTEMPT_DEADLINE_MS = 60_000;

/** The sweeper's answer: the rollouts it recovered, and the job runs it ended. */
type SweepReport = RolloutSweepReport & { jobRuns: JobSweepReport };
export interface LocalCloudOptions {
  projectId?: string;
  location?: string;
  policyFile: string;
  /**
   * Divides every workflow sleep (bake times, backoffs) and Cloud Monitoring's
   * delay: 60 makes a 5-minute bake last 5 s, and the 180 s ingestion delay 3 s.
   */
  speed?: number;
  cloudRun?: CloudRunEmulatorOptions;
  /** Where Glidepath's structured logs go; default: dropped. */
  logLine?: (line: string) => void;
  /** Prints Slack posts as they arrive. */
  printSlack?: (text: string) => void;
  /** Reuse already-running Google emulators (the jest global setup's). */
  reuseGoogleEmulators?: boolean;
  maxDeliveryAttempts?: number;
  /** Extra runtime overrides. */
  runtime?: Partial<Runtime>;
  /** Seed of the fault injector's RNG (see emulators/faults.ts). */
  faultSeed?: number;
  /** Routing changes of every service (the real traffic), for invariant checks. */
  onRoutes?: CloudRunEmulatorOptions['onRoutes'];
  /** Wraps the real traffic router (a deliberately broken one proves the chaos checks bite). */
  wrapRouter?: (router: TrafficRouter) => TrafficRouter;
  /** Call the sweeper this often, as Cloud Scheduler does on GCP (every 5 minutes); default: never. */
  sweepEveryMs?: number;
  /** The folder rollout reports go to (GLIDEPATH_REPORT_DIR); default: no reports. */
  reportDir?: string;
}

export interface LocalCloud {
  projectId: string;
  location: string;
  env: Record<string, string>;
  google?: GoogleEmulators;
  cloudRun: CloudRunEmulator;
  workflows: WorkflowsEmulator;
  slack: SlackSink;
  /** PagerDuty's Events API v2, recording what would page someone. */
  pagerduty: PagerDutySink;
  functions: Record<string, HostedFunction>;
  /** Switchable faults in Cloud Run, Monitoring, the functions, Pub/Sub pushes and Slack. */
  faults: FaultInjector;
  /** An ID token of `serviceAccount` for `audience`, as Google would sign it (locally: the shared secret). */
  idToken(serviceAccount: string, audience: string): string;
  /** Calls the sweeper function once, with Cloud Scheduler's identity; returns its report. */
  sweep(): Promise<SweepReport>;
  /**
   * Clicks the button `actionId` of a message in the Slack sink as `user`: a
   * payload signed as Slack signs it, through the slack-interactions function.
   */
  click(post: SlackPost, actionId: string, user: SlackUser): Promise<{ status: number; body: unknown }>;
  /** What the last periodic sweep (`sweepEveryMs`) answered, or why it failed. */
  lastSweep(): string;
  pubsub: PubSub;
  firestore: Firestore;
  log: Logger;
  /** Human-readable endpoint list. */
  endpoints(): Record<string, string>;
  stop(): Promise<void>;
}

const WORKFLOW_SA = 'glidepath-workflows@local.iam.gserviceaccount.com';
const SCHEDULER_SA = 'glidepath-scheduler@local.iam.gserviceaccount.com';
/** The actions function's identity: its smoke test calls the candidate with this account's ID token. */
const ACTIONS_SA = 'glidepath-actions@local.iam.gserviceaccount.com';
/** The load generator's identity, standing in for a service's own clients. */
export const LOADGEN_SA = 'loadgen@local.iam.gserviceaccount.com';

export async function startLocalCloud(opts: LocalCloudOptions): Promise<LocalCloud> {
  const projectId = opts.projectId ?? 'glidepath-local';
  const location = opts.location ?? 'us-central1';
  const stops: Array<() => Promise<void>> = [];
  const stopAll = async () => {
    for (const s of stops.reverse()) await s().catch(() => undefined);
  };
  try {
    let google: GoogleEmulators | undefined;
    if (
      !opts.reuseGoogleEmulators ||
      !process.env.PUBSUB_EMULATOR_HOST ||
      !process.env.FIRESTORE_EMULATOR_HOST
    ) {
      google = await startGoogleEmulators();
      Object.assign(process.env, google.env);
      stops.push(() => google!.stop());
    }
    const faults = new FaultInjector(opts.faultSeed ?? 1);
    const speed = opts.speed ?? 1;
    // Signs every local ID token: the workflows' and the scheduler's calls, the smoke test, the load.
    const oidcSecret = randomBytes(24).toString('hex');
    const cloudRun = await startCloudRunEmulator({
      // Cloud Monitoring's documented delay, on by default, in the local cloud's time.
      ingestionDelayMs: (INGESTION_DELAY_SECONDS * 1000) / speed,
      samplePeriodMs: (SAMPLE_PERIOD_SECONDS * 1000) / speed,
      // What N× real time would show the judge: N× the requests, from the same distributions.
      evidencePerRequest: speed,
      ...opts.cloudRun,
      oidcSecret,
      faults,
      ...(opts.onRoutes ? { onRoutes: opts.onRoutes } : {}),
    });
    stops.push(() => cloudRun.stop());
    const slack = await startSlackSink({ faults, ...(opts.printSlack ? { print: opts.printSlack } : {}) });
    stops.push(() => slack.stop());
    const pagerduty = await startPagerDutySink();
    stops.push(() => pagerduty.stop());
    // The Slack app's signing secret: clicks (cloud.click) are signed with it, as Slack signs them.
    const slackSigningSecret = randomBytes(16).toString('hex');

    const env: Record<string, string> = {
      GLIDEPATH_PROJECT: projectId,
      GLIDEPATH_LOCATION: location,
      GLIDEPATH_POLICY_FILE: opts.policyFile,
      GLIDEPATH_RUN_ENDPOINT: cloudRun.grpcHost,
      GLIDEPATH_MONITORING_ENDPOINT: cloudRun.monitoringHost,
      GLIDEPATH_WORKFLOW_SA: WORKFLOW_SA,
      GLIDEPATH_SCHEDULER_SA: SCHEDULER_SA,
      GLIDEPATH_LOCAL_OIDC_SECRET: oidcSecret,
      GLIDEPATH_LOCAL_ACTIONS_SA: ACTIONS_SA,
      SLACK_WEBHOOK_URL: slack.url,
      SLACK_SIGNING_SECRET: slackSigningSecret,
      GLIDEPATH_SLACK_RESPONSE_URL_PREFIX: slack.responseUrlPrefix,
      // A 32-character integration key, as PagerDuty issues them.
      PAGERDUTY_ROUTING_KEY: randomBytes(16).toString('hex'),
      GLIDEPATH_PAGERDUTY_URL: pagerduty.url,
      // The actions judge in policy time: their look windows stop the (scaled) ingestion delay ago.
      GLIDEPATH_TIME_SCALE: String(speed),
      PUBSUB_EMULATOR_HOST: process.env.PUBSUB_EMULATOR_HOST!,
      FIRESTORE_EMULATOR_HOST: process.env.FIRESTORE_EMULATOR_HOST!,
    };
    if (opts.reportDir) env.GLIDEPATH_REPORT_DIR = resolve(opts.reportDir);
    else delete process.env.GLIDEPATH_REPORT_DIR;
    Object.assign(process.env, env);
    const log = createLogger({}, opts.logLine ?? (() => undefined));

    // The functions, served by the real functions-framework.
    const functions: Record<string, HostedFunction> = {};
    for (const spec of FUNCTIONS) {
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- loads the entry by path to register its target
      require(join(__dirname, '..', spec.entry));
      functions[spec.name] = await hostFunction(spec.target, 0, faults);
      stops.push(() => functions[spec.name].stop());
    }

    const workflows = await startWorkflowsEmulator({
      workflowsDir: join(__dirname, '..', 'workflows'),
      env: {
        rollout: { ACTIONS_URL: functions.actions.url },
        'job-run': { ACTIONS_URL: functions.actions.url },
        'job-rollout': { ACTIONS_URL: functions.actions.url },
      },
      serviceAccount: WORKFLOW_SA,
      oidcSecret,
      // Only the functions' identity holds workflows.callbacks.send (gate decisions).
      callbackSenders: [ACTIONS_SA],
      sleepScale: speed,
      logger: log,
    });
    stops.push(() => workflows.stop());
    env.GLIDEPATH_WORKFLOWS_ENDPOINT = workflows.host;
    process.env.GLIDEPATH_WORKFLOWS_ENDPOINT = workflows.host;
    // The real router and job runner on the emulator, wrapped so `actions.crash` can kill an action mid-call.
    const cloudRunRouter = createCloudRunTrafficRouter({
      clientOptions: localClientOptions(cloudRun.grpcHost),
      logger: log,
    });
    stops.push(() => cloudRunRouter.close());
    const router = crashingRouter(opts.wrapRouter?.(cloudRunRouter) ?? cloudRunRouter, faults);
    const cloudRunJobs = createCloudRunJobRunner({ clientOptions: localClientOptions(cloudRun.grpcHost) });
    stops.push(() => cloudRunJobs.close());
    const jobs = crashingJobRunner(cloudRunJobs, faults);
    const executions = new ExecutionsClient({ projectId, ...localClientOptions(workflows.host) });
    stops.push(() => executions.close());
    const launcher = crashingLauncher(new WorkflowsLauncher(executions, projectId, location), faults);
    configureRuntime({ log, router: () => router, jobs: () => jobs, launcher, ...opts.runtime });

    // Topics and push subscriptions, as Terraform declares them.
    const pubsub = new PubSub({ projectId, ...pubsubEmulatorOptions() });
    stops.push(() => pubsub.close());
    await ensureTopic(pubsub, TOPICS.deadLetters);
    for (const spec of FUNCTIONS) {
      if (spec.trigger === 'http') continue;
      for (const topic of spec.trigger) {
        await ensurePushSubscription(pubsub, {
          topic,
          name: `${topic}-${spec.name}`,
          endpoint: pushEndpoint(functions[spec.name], projectId, topic),
          // The dead-letter subscription must not dead-letter into itself.
          ...(topic === TOPICS.deadLetters
            ? {}
            : { deadLetterTopic: TOPICS.deadLetters, maxDeliveryAttempts: opts.maxDeliveryAttempts ?? 5 }),
        });
      }
    }
    const firestore = new Firestore({
      projectId,
      ignoreUndefinedProperties: true,
      ...firestoreEmulatorOptions(),
    });
    stops.push(() => firestore.terminate());

    const sweep = async (): Promise<SweepReport> => {
      const url = functions.sweeper.url;
      const token = mintOidcToken({ serviceAccount: SCHEDULER_SA, audience: url, secret: oidcSecret });
      // Cloud Scheduler gives an HTTP job's attempt a deadline (3 minutes by default,
      // https://cloud.google.com/scheduler/docs/reference/rest/v1/projects.locations.jobs#Job.FIELDS.attempt_deadline):
      // a hung sweep never keeps the next one from running.
      const res = await fetch(url, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}` },
        signal: AbortSignal.timeout(SWEEP_ATTEMPT_DEADLINE_MS),
      });
      const body = (await res.json()) as SweepReport & { error?: string };
      if (res.status >= 500 && !body.recovered)
        throw new Error(`sweeper answered ${res.status}: ${body.error}`);
      return body;
    };
    // Stops run last-in first-out, so this runs right after the sweep timer is cleared: the
    // functions finish the requests they are serving while the clients and emulators they call
    // are still up (each function's own stop above is then a no-op).
    stops.push(async () => {
      await Promise.all(Object.values(functions).map((f) => f.stop()));
    });
    // The last periodic sweep's outcome, for a test that times out waiting for a recovery.
    let lastSweep = 'none yet';
    if (opts.sweepEveryMs) {
      // A tick is skipped while the previous sweep runs: on GCP a sweep of seconds every 5
      // minutes never overlaps the next, and piled-up sweeps on a loaded laptop only slow it down.
      let sweeping = false;
      const timer = setInterval(() => {
        if (sweeping) return;
        sweeping = true;
        sweep()
          .then((r) => {
            lastSweep = `${new Date().toISOString()}: checked ${r.checked}, recovered ${r.recovered.length}, errors ${JSON.stringify(r.errors).slice(0, 400)}`;
          })
          .catch((err: Error) => {
            lastSweep = `${new Date().toISOString()}: ${err.message.slice(0, 400)}`;
            log.warn('periodic sweep failed', { error: err.message });
          })
          .finally(() => (sweeping = false));
      }, opts.sweepEveryMs);
      stops.push(async () => clearInterval(timer));
    }

    return {
      projectId,
      location,
      env,
      ...(google ? { google } : {}),
      cloudRun,
      workflows,
      slack,
      pagerduty,
      functions,
      faults,
      sweep,
      click: (post, actionId, user) =>
        clickButton({
          functionUrl: functions['slack-interactions'].url,
          secret: slackSigningSecret,
          sink: slack,
          post,
          actionId,
          user,
        }),
      lastSweep: () => lastSweep,
      idToken: (serviceAccount, audience) => mintOidcToken({ serviceAccount, audience, secret: oidcSecret }),
      pubsub,
      firestore,
      log,
      endpoints: () => ({
        'Pub/Sub emulator': env.PUBSUB_EMULATOR_HOST,
        'Firestore emulator': env.FIRESTORE_EMULATOR_HOST,
        'Cloud Run Admin v2 + Monitoring v3 (gRPC)': cloudRun.grpcHost,
        'Cloud Run front door (HTTP)': cloudRun.frontDoorUrl,
        'Workflows Executions (gRPC)': workflows.host,
        ...Object.fromEntries(Object.entries(functions).map(([name, f]) => [`function ${name}`, f.url])),
        'Slack webhook sink': slack.url,
        'PagerDuty Events API sink': pagerduty.url,
      }),
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/**
 * What Terraform and a service's owners do for a service Glidepath manages:
 * roles/run.invoker for the actions identity (the smoke test; terraform/iam.tf)
 * and for the load generator (standing in for the service's own clients).
 * The service stays private: nobody else may call it.
 */
export async function grantLocalInvokers(client: ServicesClient, serviceName: string): Promise<void> {
  await client.setIamPolicy({
    resource: serviceName,
    policy: {
      bindings: [
        {
          role: 'roles/run.invoker',
          members: [`serviceAccount:${ACTIONS_SA}`, `serviceAccount:${LOADGEN_SA}`],
        },
      ],
    },
  });
}

/** Load on a private service through the front door, with the load generator's ID token (see grantLocalInvokers). */
export function loadService(
  cloud: Pick<LocalCloud, 'cloudRun' | 'idToken'>,
  target: { region: string; service: string },
  opts: Omit<LoadOptions, 'url' | 'authorization'>,
): Promise<LoadResult> {
  const serviceUrl = `${cloud.cloudRun.frontDoorUrl}/s/${target.region}/${target.service}`;
  let token = '';
  let mintedAt = -Infinity;
  return runLoad({
    ...opts,
    url: `${serviceUrl}/`,
    // A token lasts an hour; a fresh one every 30 minutes keeps a long `--keep` run authenticated.
    authorization: () => {
      if (Date.now() - mintedAt > 30 * 60_000) {
        token = cloud.idToken(LOADGEN_SA, serviceUrl);
        mintedAt = Date.now();
      }
      return `Bearer ${token}`;
    },
  });
}
