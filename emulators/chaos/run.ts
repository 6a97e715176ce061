/**
 * The chaos run (issue #9): many seeded rollouts and job runs on the whole
 * local cloud, each under its own random faults, each checked against the
 * safety invariants of design brief §6 once it has settled.
 *
 * Rollouts of different services run in parallel (one worker per service,
 * its scenarios one after another); job runs likewise (one worker per job).
 * The sweeper runs every couple of seconds, as Cloud Scheduler would.
 * Every violation names its scenario and the command that replays it.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExecutionsClient as RunExecutionsClient, JobsClient, ServicesClient } from '@google-cloud/run';
import { ExecutionsClient as WorkflowExecutionsClient } from '@google-cloud/workflows';
import type { ClientOptions } from 'google-gax';
import {
  grantLocalInvokers,
  loadService,
  startLocalCloud,
  type LocalCloud,
  type LocalCloudOptions,
} from '../local-cloud';
import { waitFor } from '../util';
import { digestOf } from '../simulate';
import type { Runtime } from '../../functions/entry/runtime';
import { RolloutRecord, isRegionBusy, isTerminal } from '../../functions/domain/records';
import type { JobRunRecord } from '../../functions/domain/jobs';
import { JobRolloutRecord, VERIFY_MARKER, jobRolloutId } from '../../functions/domain/job-rollout';
import { localClientOptions } from '../../functions/shared/endpoint';
import { TOPICS } from '../../functions/domain/messages';
import { seededRandom } from '../cloudrun/profiles';
import {
  checkFailuresNoticed,
  checkFinalTraffic,
  checkJobImageRollout,
  checkGates,
  checkJobRun,
  checkMessages,
  checkOneCandidate,
  type GateExpectation,
  type JobExpectation,
  type JobImageExpectation,
  type JobImageObserved,
  type PublishedMessage,
  type RouteChange,
  type Violation,
} from './invariants';
import {
  APPROVAL_KINDS,
  INJECTED_CLASS,
  jobImageScenario,
  jobScenario,
  type ApprovalKind,
  rolloutScenario,
  scenarioSeed,
  type ImageKind,
  type RolloutScenario,
} from './scenario';

export interface ChaosOptions {
  seed: number;
  rollouts: number;
  jobRuns: number;
  /** Job image rollouts (default 0). */
  jobRollouts?: number;
  /** Services rolled out in parallel (default 6), jobs run in parallel (default 5), jobs whose images roll out in parallel (default 2). */
  services?: number;
  jobs?: number;
  imageJobs?: number;
  /** Run only this rollout scenario (by index), to replay a failing seed. */
  only?: number;
  /**
   * Approval scenarios (issue 16), on services whose production holds its
   * canary for a gate before promotion: scenario i answers its gate as
   * APPROVAL_KINDS[i mod 4] says (default 0).
   */
  approvals?: number;
  /** Gated services, one worker each (default 2). */
  gatedServices?: number;
  /** Run only this approval scenario (by index). */
  onlyApproval?: number;
  /** Divides workflow sleeps: 60 makes a 2-minute bake last 2 s. */
  speed?: number;
  /** Every liveness wait of a scenario (default SCENARIO_TIMEOUT_MS). */
  scenarioTimeoutMs?: number;
  reuseGoogleEmulators?: boolean;
  projectId?: string;
  /** Runtime overrides: used to prove that breaking a safety rule makes the run fail. */
  runtime?: Partial<Runtime>;
  /** Wraps the real traffic router: used to prove that a broken rollback makes the run fail. */
  wrapRouter?: LocalCloudOptions['wrapRouter'];
  /** The scenario of a seed (and index); default: rolloutScenario (random images and faults). */
  scenario?: (seed: number, index: number) => RolloutScenario;
  progress?: (line: string) => void;
  /** Also report each scenario's rollout events with their times (for replays). */
  trace?: boolean;
  /** Glidepath's structured log lines (default: dropped). */
  logLine?: (line: string) => void;
}

interface ChaosViolation extends Violation {
  scenario: string;
  replay: string;
}

export interface ChaosReport {
  seed: number;
  rollouts: { run: number; byStatus: Record<string, number>; recoveredBySweeper: number };
  approvals: { run: number; byKind: Record<string, number>; gates: Record<string, number> };
  jobRuns: { run: number; byStatus: Record<string, number> };
  /** `killed`: scenarios whose job-rollout execution was killed (the sweeper must end them). */
  jobRollouts: { run: number; byStatus: Record<string, number>; killed: number };
  faultsInjected: number;
  faults: Record<string, number>;
  messages: { published: number; hostile: number; lost: number; doubled: number };
  violations: ChaosViolation[];
  seconds: number;
}

const PROJECT = 'chaos-project';
const REGIONS = ['us-central1', 'europe-west1'];
const JOB_REGION = 'us-central1';
const MAX_ATTEMPTS = 3;
const repository = (service: string): string => `us-docker.pkg.dev/${PROJECT}/apps/${service}`;
const jobRepository = (job: string): string => `us-docker.pkg.dev/${PROJECT}/jobs/${job}`;
const PROFILES: Record<ImageKind, Record<string, unknown>> = {
  good: {},
  bad: { errorRate: 0.5 },
  crash: { startupFailure: true },
  sick: { healthStatus: 503 },
};

/** Who may answer the gated services' gates (a Slack user id: a button click carries no email). */
const GATE_APPROVER = 'UCHAOSLEAD';
/** The gates' timeout: 20 s of real time at --speed 60, long enough to click in time under load. */
const GATE_TIMEOUT = '20m';

function writePolicy(services: string[], jobs: string[], gated: string[], imageJobs: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'glidepath-chaos-'));
  const file = join(dir, 'glidepath.yaml');
  const lines = [
    '# Chaos policy: real minutes, run at --speed 60 (a 2-minute bake lasts 2 s).',
    'defaults:',
    '  steps: [{ percent: 10, bake: 2m }, { percent: 50, bake: 2m }]',
    '  analysis:',
    '    minRequests: 5',
    '    maxExtensions: 2',
    '    onInconclusive: fail',
    '    errorRate: { maxAbsolute: 0.05, maxIncrease: 0.03 }',
    '    latency: { percentile: 99, maxMs: 2000, maxRatio: 3 }',
    '  smoke: { path: /health, expectStatus: 200, attempts: 2, timeout: 2s }',
    '  onNewImage: supersede',
    'services:',
    ...services.map(
      (s) =>
        `  - { name: ${s}, project: ${PROJECT}, image: ${repository(s)}, waves: [[${REGIONS[0]}], [${REGIONS[1]}]] }`,
    ),
    // Production holds its canary at the last step in both regions until its gate is answered.
    ...gated.map(
      (s) =>
        `  - { name: ${s}, image: ${repository(s)}, stages: [{ name: production, project: ${PROJECT}, waves: [[${REGIONS[0]}], [${REGIONS[1]}]], approval: { approvers: [${GATE_APPROVER}], timeout: ${GATE_TIMEOUT}, before: promotion } }] }`,
    ),
    'jobs:',
    ...jobs.map(
      (j) =>
        `  - { name: ${j}, project: ${PROJECT}, region: ${JOB_REGION}, schedule: '0 3 * * *', timeout: 60s, retry: { maxAttempts: ${MAX_ATTEMPTS}, initialBackoff: 10s, multiplier: 2, maxBackoff: 30s } }`,
    ),
    // Jobs whose images roll out (never run on a schedule here): two waves, a verification each.
    ...imageJobs.map(
      (j) =>
        `  - { name: ${j}, project: ${PROJECT}, region: ${REGIONS[0]}, schedule: '0 4 * * *', image: ${jobRepository(j)}, waves: [[${REGIONS[0]}], [${REGIONS[1]}]], verify: { args: [--check], timeout: 30s } }`,
    ),
  ];
  writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

interface Context {
  opts: ChaosOptions;
  cloud: LocalCloud;
  services: ServicesClient;
  workflowExecutions: WorkflowExecutionsClient;
  runExecutions: RunExecutionsClient;
  jobsClient: JobsClient;
  routes: RouteChange[];
  published: PublishedMessage[];
  violations: ChaosViolation[];
  rollouts: RolloutRecord[];
  gateExpectations: GateExpectation[];
  approvalKinds: ApprovalKind[];
  jobStatuses: string[];
  jobChecks: Array<{
    expected: JobExpectation;
    runs: JobRunRecord[];
    started: number;
    deadLettered: boolean;
    label: string;
  }>;
  jobImageStatuses: string[];
  jobImageChecks: Array<{ expected: JobImageExpectation; observed: JobImageObserved; label: string }>;
}

export async function runChaos(opts: ChaosOptions): Promise<ChaosReport> {
  const started = Date.now();
  const serviceNames = Array.from({ length: opts.services ?? 6 }, (_, i) => `chaos-${i}`);
  const jobNames = Array.from({ length: opts.jobs ?? 5 }, (_, i) => `chaos-job-${i}`);
  const gatedNames = Array.from({ length: opts.gatedServices ?? 2 }, (_, i) => `chaos-gated-${i}`);
  const imageJobNames = Array.from({ length: opts.imageJobs ?? 2 }, (_, i) => `chaos-img-${i}`);
  const routes: RouteChange[] = [];
  const cloud = await startLocalCloud({
    projectId: opts.projectId ?? 'glidepath-chaos',
    policyFile: writePolicy(serviceNames, jobNames, gatedNames, imageJobNames),
    speed: opts.speed ?? 60,
    reuseGoogleEmulators: opts.reuseGoogleEmulators ?? false,
    cloudRun: { readyDelayMs: 100, simulateLatency: false },
    faultSeed: opts.seed,
    sweepEveryMs: 1500,
    maxDeliveryAttempts: 5,
    onRoutes: (region, service, weights) => routes.push({ region, service, weights }),
    ...(opts.runtime ? { runtime: opts.runtime } : {}),
    ...(opts.wrapRouter ? { wrapRouter: opts.wrapRouter } : {}),
    ...(opts.logLine ? { logLine: opts.logLine } : {}),
  });
  const clientOptions = localClientOptions(cloud.cloudRun.grpcHost) as ClientOptions;
  const ctx: Context = {
    opts,
    cloud,
    services: new ServicesClient(clientOptions),
    jobsClient: new JobsClient(clientOptions),
    runExecutions: new RunExecutionsClient(clientOptions),
    workflowExecutions: new WorkflowExecutionsClient(
      localClientOptions(cloud.workflows.host) as ClientOptions,
    ),
    routes,
    published: [],
    violations: [],
    rollouts: [],
    gateExpectations: [],
    approvalKinds: [],
    jobStatuses: [],
    jobChecks: [],
    jobImageStatuses: [],
    jobImageChecks: [],
  };
  const load = new AbortController();
  const loads: Array<Promise<unknown>> = [];
  try {
    await createServices(ctx, [...serviceNames, ...gatedNames]);
    await createJobs(ctx, jobNames);
    await createImageJobs(ctx, imageJobNames);
    for (const service of [...serviceNames, ...gatedNames])
      for (const region of REGIONS)
        loads.push(
          loadService(
            cloud,
            { region, service },
            { ratePerSecond: 15, signal: load.signal, maxInFlight: 16 },
          ).catch(() => undefined),
        );
    // Pub/Sub at its worst, for the whole run: failed pushes and redeliveries of handled messages.
    cloud.faults.add({ at: 'push.before', effect: 'fail', probability: 0.05 });
    cloud.faults.add({ at: 'push.after', effect: 'fail', probability: 0.05 });

    const rolloutIndices =
      opts.only !== undefined
        ? [opts.only]
        : opts.onlyApproval !== undefined
          ? []
          : Array.from({ length: opts.rollouts }, (_, i) => i);
    const onlyOne = opts.only !== undefined || opts.onlyApproval !== undefined;
    const jobIndices = onlyOne ? [] : Array.from({ length: opts.jobRuns }, (_, i) => i);
    const approvalIndices =
      opts.onlyApproval !== undefined
        ? [opts.onlyApproval]
        : opts.only !== undefined
          ? []
          : Array.from({ length: opts.approvals ?? 0 }, (_, i) => i);
    const jobImageIndices = onlyOne ? [] : Array.from({ length: opts.jobRollouts ?? 0 }, (_, i) => i);
    await Promise.all([
      ...serviceNames.map(async (service, w) => {
        for (const index of rolloutIndices.filter((i) => i % serviceNames.length === w))
          await runRolloutScenario(ctx, service, index);
      }),
      ...gatedNames.map(async (service, w) => {
        for (const index of approvalIndices.filter((i) => i % gatedNames.length === w))
          await runApprovalScenario(ctx, service, index);
      }),
      ...jobNames.map(async (job, w) => {
        for (const index of jobIndices.filter((i) => i % jobNames.length === w))
          await runJobScenario(ctx, job, index);
      }),
      ...imageJobNames.map(async (job, w) => {
        for (const index of jobImageIndices.filter((i) => i % imageJobNames.length === w))
          await runJobImageScenario(ctx, job, index);
      }),
    ]);

    // Faults off, one last sweep: queued Slack notices go out, as they would once Slack is back.
    cloud.faults.clear();
    await cloud.sweep();
    await checkGlobal(ctx);
    const faults = { ...cloud.faults.counts };
    return {
      seed: opts.seed,
      rollouts: {
        run: rolloutIndices.length,
        byStatus: tally(ctx.rollouts.map((r) => r.status)),
        recoveredBySweeper: ctx.rollouts.filter((r) => r.outcomeReason?.includes('recovered by the sweeper'))
          .length,
      },
      approvals: {
        run: approvalIndices.length,
        byKind: tally(ctx.approvalKinds),
        gates: tally(
          ctx.rollouts
            .filter((r) => gatedNames.includes(r.service))
            .flatMap((r) => Object.values(r.gates ?? {}).map((g) => g.status)),
        ),
      },
      jobRuns: { run: jobIndices.length, byStatus: tally(ctx.jobStatuses) },
      jobRollouts: {
        run: jobImageIndices.length,
        byStatus: tally(ctx.jobImageStatuses),
        killed: ctx.jobImageChecks.filter((c) => c.expected.killed).length,
      },
      faultsInjected: Object.values(faults).reduce((a, b) => a + b, 0),
      faults,
      messages: {
        published: ctx.published.length,
        hostile: ctx.published.filter((m) => 'rejected' in m.expect).length,
        lost: ctx.violations.filter((v) => v.invariant === 'message-accounting' && /started 0/.test(v.detail))
          .length,
        doubled: ctx.violations.filter(
          (v) => v.invariant === 'message-accounting' && /started [2-9]/.test(v.detail),
        ).length,
      },
      violations: ctx.violations,
      seconds: Math.round((Date.now() - started) / 100) / 10,
    };
  } finally {
    load.abort();
    await Promise.all(loads);
    await Promise.all([
      ctx.services.close(),
      ctx.jobsClient.close(),
      ctx.runExecutions.close(),
      ctx.workflowExecutions.close(),
    ]);
    await cloud.stop();
  }
}

function tally(xs: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of xs) out[x] = (out[x] ?? 0) + 1;
  return out;
}

/**
 * How long a scenario may take to reach each point it waits for. These waits only find a rollout
 * or run that never ends (the `settled` invariant); no safety invariant depends on them. Idle, the
 * CI suite's chaos run takes about 90 s and a wait a few seconds; beside the other suites on 2
 * cores it took 205 s, and a 60 s wait for a job verification to start ran out (stop 24), taking
 * the next scenario on the same job with it. So the deadline is generous: a hang is still caught.
 */
const SCENARIO_TIMEOUT_MS = 240_000;
const scenarioTimeout = (ctx: Context): number => ctx.opts.scenarioTimeoutMs ?? SCENARIO_TIMEOUT_MS;

/** A job's runs or image rollouts have all ended (there is at least one). */
const allEnded = (records: ReadonlyArray<{ status: string }>): boolean =>
  records.length > 0 && records.every((r) => r.status === 'SUCCEEDED' || r.status === 'FAILED');

/** Waits, within the scenario's timeout, until the job scenario's records have all ended. */
function untilAllEnded(
  ctx: Context,
  records: () => Promise<ReadonlyArray<{ status: string }>>,
  what: string,
): Promise<true> {
  return waitFor(async () => allEnded(await records()), {
    timeoutMs: scenarioTimeout(ctx),
    intervalMs: 300,
    what,
  });
}

/** Cancels the workflow execution of the record `driving` finds once it is there: only the sweeper can end it. */
async function killExecution(
  ctx: Context,
  driving: () => Promise<{ executionName?: string } | undefined>,
  what: string,
): Promise<void> {
  const record = await waitFor(driving, { timeoutMs: scenarioTimeout(ctx), intervalMs: 200, what });
  await ctx.workflowExecutions.cancelExecution({ name: record.executionName! });
}

/** A job scenario that did not end in time, or whose driving failed: the `settled` violation, with where its records stand. */
function unsettled(ctx: Context, job: string, label: string, err: Error, records: unknown[]): void {
  ctx.violations.push({
    invariant: 'settled',
    subject: job,
    detail: `${err.message}; records: ${JSON.stringify(records).slice(0, 2000)}`,
    scenario: label,
    replay: replayCommand(ctx),
  });
}

/** The command that replays one rollout scenario alone, or (without an index) the whole run. */
function replayCommand(ctx: Context, index?: number): string {
  const whole = `npm run bench -- chaos --seed ${ctx.opts.seed}`;
  return index === undefined ? whole : `${whole} --services ${ctx.opts.services ?? 6} --only ${index}`;
}

async function createServices(ctx: Context, names: string[]): Promise<void> {
  for (const name of names)
    for (const region of REGIONS) {
      const [op] = await ctx.services.createService({
        parent: `projects/${PROJECT}/locations/${region}`,
        serviceId: name,
        service: { template: { containers: [{ image: `${repository(name)}@${digestOf(`${name}:base`)}` }] } },
      });
      await op.promise();
      await grantLocalInvokers(ctx.services, `projects/${PROJECT}/locations/${region}/services/${name}`);
    }
}

async function createJobs(ctx: Context, names: string[]): Promise<void> {
  for (const name of names) {
    const [op] = await ctx.jobsClient.createJob({
      parent: `projects/${PROJECT}/locations/${JOB_REGION}`,
      jobId: name,
      job: {
        template: { template: { containers: [{ image: `${jobRepository(name)}:v1` }] } },
      },
    });
    await op.promise();
  }
}

/** The jobs whose images roll out, in every region of their waves, with args and env of their own to keep. */
async function createImageJobs(ctx: Context, names: string[]): Promise<void> {
  for (const name of names)
    for (const region of REGIONS) {
      const [op] = await ctx.jobsClient.createJob({
        parent: `projects/${PROJECT}/locations/${region}`,
        jobId: name,
        job: {
          template: {
            template: {
              containers: [
                {
                  image: `${jobRepository(name)}:v1`,
                  args: ['--daily'],
                  env: [{ name: 'TZ', value: 'UTC' }],
                },
              ],
              maxRetries: 0,
            },
          },
        },
      });
      await op.promise();
    }
}

/** JSON with sorted keys: two reads of the same template compare equal whatever their key order. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b)))
      : v,
  );
}

async function jobTemplate(
  ctx: Context,
  job: string,
  region: string,
): Promise<{ template: string; images: string[] }> {
  const [j] = await ctx.jobsClient.getJob({ name: `projects/${PROJECT}/locations/${region}/jobs/${job}` });
  return {
    template: canonical(j.template),
    images: (j.template?.template?.containers ?? []).map((c) => c.image ?? ''),
  };
}

/** The executions of the job in the region that carry the marker value (a rollout's verification). */
async function executionsMarked(ctx: Context, job: string, region: string, marker: string): Promise<number> {
  const [executions] = await ctx.runExecutions.listExecutions({
    parent: `projects/${PROJECT}/locations/${region}/jobs/${job}`,
    pageSize: 1000,
  });
  return executions.filter((e) =>
    e.template?.containers?.some((c) => c.env?.some((v) => v.name === VERIFY_MARKER && v.value === marker)),
  ).length;
}

/** The real traffic of a service in a region: serving revisions and their percent. */
async function realTraffic(ctx: Context, service: string, region: string): Promise<Record<string, number>> {
  const [svc] = await ctx.services.getService({
    name: `projects/${PROJECT}/locations/${region}/services/${service}`,
  });
  const out: Record<string, number> = {};
  const latest = svc.latestReadyRevision?.split('/').pop() ?? '';
  for (const t of svc.trafficStatuses ?? [])
    if (t.percent) out[t.revision || latest] = (out[t.revision || latest] ?? 0) + t.percent;
  return out;
}

async function publish(
  ctx: Context,
  topic: string,
  json: unknown,
  expect: PublishedMessage['expect'],
  attributes: Record<string, string> = {},
): Promise<string> {
  const messageId = await ctx.cloud.pubsub.topic(topic).publishMessage({ json, attributes });
  ctx.published.push({ messageId, topic, expect });
  return messageId;
}

interface Outgoing {
  topic: string;
  json: unknown;
  attributes?: Record<string, string>;
}

/** The messages announcing one image: a gcr event, its duplicates, and maybe a Cloud Build event. */
function imageMessages(sc: RolloutScenario, service: string, tag: string): Outgoing[] {
  const repo = repository(service);
  const digest = digestOf(`${service}:${tag}`);
  const gcr: Outgoing = {
    topic: TOPICS.gcr,
    json: { action: 'INSERT', digest: `${repo}@${digest}`, tag: `${repo}:${tag}` },
  };
  const messages: Outgoing[] = Array.from({ length: 1 + sc.duplicates }, () => gcr);
  if (sc.alsoCloudBuild)
    messages.push({
      topic: TOPICS.cloudBuilds,
      json: {
        id: `build-${tag}`,
        projectId: PROJECT,
        status: 'SUCCESS',
        images: [`${repo}:${tag}`],
        results: { images: [{ name: `${repo}:${tag}`, digest }] },
      },
      attributes: { buildId: `build-${tag}`, status: 'SUCCESS' },
    });
  if (sc.shuffle) {
    const rnd = seededRandom(sc.seed);
    messages.sort(() => rnd() - 0.5);
  }
  return messages;
}

async function rolloutsOf(ctx: Context, service: string, digests: string[]): Promise<RolloutRecord[]> {
  const snap = await ctx.cloud.firestore.collection('rollouts').where('service', '==', service).get();
  return snap.docs
    .map((d) => RolloutRecord.parse(d.data()))
    .filter((r) => digests.includes(r.digest))
    .sort((a, b) => a.createdAt.localeCompare(b.createdAt));
}

async function deadLettersOf(ctx: Context, messageIds: string[]): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  // Firestore's `in` takes at most 30 values.
  for (let i = 0; i < messageIds.length; i += 30) {
    const snap = await ctx.cloud.firestore
      .collection('deadLetters')
      .where('messageId', 'in', messageIds.slice(i, i + 30))
      .get();
    for (const d of snap.docs) {
      const id = d.data().messageId as string;
      out[id] = (out[id] ?? 0) + 1;
    }
  }
  return out;
}

async function runRolloutScenario(ctx: Context, service: string, index: number): Promise<void> {
  const sc = (ctx.opts.scenario ?? rolloutScenario)(scenarioSeed(ctx.opts.seed, index), index);
  await runScenario(ctx, service, sc, `rollout scenario ${index} (seed ${sc.seed}) on ${service}`, {
    replay: replayCommand(ctx, index),
  });
}

/** What an approval scenario adds to a rollout scenario's run. */
interface ScenarioHooks {
  replay: string;
  /** Instead of waiting for the first step: what happens before the next image is pushed. */
  beforeNextImage?: (digests: string[], n: number) => Promise<void>;
  /** Called at every poll while the scenario settles (answers gates). */
  whileSettling?: (digests: string[]) => Promise<void>;
}

async function runScenario(
  ctx: Context,
  service: string,
  sc: RolloutScenario,
  label: string,
  hooks: ScenarioHooks,
): Promise<void> {
  const violation = (v: Violation): void => {
    ctx.violations.push({ ...v, scenario: label, replay: hooks.replay });
  };
  const subject = new RegExp(`\\b${service}\\b`);
  const disarm = sc.faults.map((f) => ctx.cloud.faults.add({ ...f, subject }));
  const initial: Record<string, string> = {};
  for (const region of REGIONS) initial[region] = Object.keys(await realTraffic(ctx, service, region))[0];
  const routesFrom = ctx.routes.length;
  const contention = sc.contention ? contend(ctx, service) : undefined;
  const digests = sc.images.map((i) => digestOf(`${service}:${i.tag}`));
  const ids: string[][] = digests.map(() => []);
  try {
    for (const [n, image] of sc.images.entries()) {
      ctx.cloud.cloudRun.setProfile(`${repository(service)}@${digests[n]}`, PROFILES[image.kind] as never);
      for (const m of imageMessages(sc, service, image.tag))
        ids[n].push(
          await publish(ctx, m.topic, m.json, { rollout: { service, digest: digests[n] } }, m.attributes),
        );
      if (n < sc.images.length - 1)
        await (hooks.beforeNextImage?.(digests, n) ?? untilFirstStep(ctx, service, digests[n])).catch(
          () => undefined,
        );
    }
    if (sc.hostile)
      await publish(
        ctx,
        TOPICS.deployRequests,
        {
          service,
          image: `us-docker.pkg.dev/${PROJECT}/apps/${service}-evil@${digestOf('evil')}`,
          reason: 'chaos: an image outside the service repository',
          requestedBy: 'chaos@example.com',
        },
        { rejected: true },
      );
    if (sc.killExecution) {
      const rollout = await untilFirstStep(ctx, service, digests.at(-1)!).catch(() => undefined);
      if (rollout?.executionName)
        await ctx.workflowExecutions.cancelExecution({ name: rollout.executionName }).catch(() => undefined);
    }
    await waitFor(
      async () => {
        await hooks.whileSettling?.(digests);
        return settled(ctx, service, digests, ids);
      },
      {
        timeoutMs: scenarioTimeout(ctx),
        intervalMs: 300,
        what: `${label} to settle`,
      },
    ).catch(async (err: Error) =>
      violation({
        invariant: 'settled',
        subject: service,
        detail: `${err.message}; ${await describeState(ctx, service, digests)}`,
      }),
    );
  } finally {
    for (const off of disarm) off();
    await contention?.stop();
  }
  const rollouts = await rolloutsOf(ctx, service, digests);
  ctx.rollouts.push(...rollouts);
  for (const region of REGIONS)
    for (const v of checkFinalTraffic({
      service,
      region,
      traffic: await realTraffic(ctx, service, region),
      initialRevision: initial[region],
      rollouts,
    }))
      violation(v);
  for (const v of checkOneCandidate(ctx.routes.slice(routesFrom).filter((c) => c.service === service)))
    violation(v);
  if (ctx.opts.trace)
    for (const r of rollouts) ctx.opts.progress?.(`${label}: timeline of ${r.id}\n${await timeline(ctx, r)}`);
  ctx.opts.progress?.(
    `${label}: ${sc.images.map((i) => i.kind).join('+')} → ${rollouts.map((r) => `${r.status} (${r.outcomeReason?.slice(0, 120) ?? ''})`).join(' + ') || 'none'}; faults ${sc.faults.map((f) => `${f.at}:${f.effect}`).join(' ') || 'none'}${sc.killExecution ? ' +kill' : ''}`,
  );
}

/**
 * An approval scenario (issue 16): a gated service's rollout of a healthy
 * image, under the rollout scenario's random faults, holds its canary for the
 * gate before promotion, which is answered as the scenario's kind says:
 * `reject` (a Reject during the production canary), `twice` (Approve clicked
 * twice at once), `late` (Approve clicked after the gate expired), or
 * `superseded` (a second image supersedes the waiting rollout, whose gate is
 * then clicked; the second's gate is approved).
 */
async function runApprovalScenario(ctx: Context, service: string, index: number): Promise<void> {
  const kind = APPROVAL_KINDS[index % APPROVAL_KINDS.length];
  const seed = scenarioSeed(ctx.opts.seed ^ 0xa11, index);
  const base = rolloutScenario(seed, index);
  const sc: RolloutScenario = {
    ...base,
    images: [
      { tag: `g${seed}-a`, kind: 'good' },
      ...(kind === 'superseded' ? [{ tag: `g${seed}-b`, kind: 'good' as const }] : []),
    ],
    // A killed execution at a gate waits for the gate's expiry before the sweeper may end it.
    killExecution: false,
    // The faults a rollout survives, so that most scenarios reach their gate: failed Slack posts
    // (the approval message among them), crashed actions, etag conflicts. Faults that fail the
    // canary are the rollout scenarios' business.
    faults: [
      ...base.faults.filter(
        (f) => f.at === 'slack' || f.effect === 'etag' || (f.at === 'actions.crash' && f.times === undefined),
      ),
      ...(index % 2 ? [{ at: 'slack', effect: 'error' as const, times: 1 }] : []),
    ],
  };
  ctx.approvalKinds.push(kind);
  const clicked = new Set<string>();
  const rolloutsNow = (digests: string[]) => rolloutsOf(ctx, service, digests);
  const waitingGate = (r: RolloutRecord) => Object.values(r.gates ?? {}).find((g) => g.status === 'WAITING');
  const postOf = (rolloutId: string, gate: string) => {
    const value = JSON.stringify(JSON.stringify({ rolloutId, gate }));
    return ctx.cloud.slack.posts.find((p) => JSON.stringify(p.blocks).includes(value));
  };
  const click = async (rolloutId: string, gate: string, actionId: 'gp_approve' | 'gp_reject', times = 1) => {
    const post = postOf(rolloutId, gate);
    if (!post || clicked.has(`${rolloutId}/${gate}`)) return false;
    clicked.add(`${rolloutId}/${gate}`);
    await Promise.all(
      Array.from({ length: times }, () =>
        ctx.cloud.click(post, actionId, { id: GATE_APPROVER }).catch(() => undefined),
      ),
    );
    return true;
  };
  const hooks: ScenarioHooks = {
    replay: `npm run bench -- chaos --seed ${ctx.opts.seed} --gated-services ${ctx.opts.gatedServices ?? 2} --only-approval ${index}`,
    // `superseded`: the second image goes out once the first waits at its gate.
    beforeNextImage: (digests, n) =>
      waitFor(
        async () => (await rolloutsNow([digests[n]])).find((r) => waitingGate(r) || isTerminal(r.status)),
        {
          timeoutMs: scenarioTimeout(ctx),
          intervalMs: 200,
          what: `${service}: rollout ${n + 1} at its gate`,
        },
      ).then(() => undefined),
    whileSettling: async (digests) => {
      for (const r of await rolloutsNow(digests)) {
        const gates = Object.values(r.gates ?? {});
        if (kind === 'late' || (kind === 'superseded' && r.digest === digests[0])) {
          // Clicked only once the gate can no longer count: expired, or its rollout over.
          for (const g of gates)
            if ((g.status !== 'WAITING' || isTerminal(r.status)) && (await click(r.id, g.name, 'gp_approve')))
              ctx.gateExpectations.push({ rolloutId: r.id, undecided: g.decidedBy ? [] : [g.name] });
          continue;
        }
        const gate = waitingGate(r);
        if (!gate) continue;
        if (kind === 'reject') await click(r.id, gate.name, 'gp_reject');
        else await click(r.id, gate.name, 'gp_approve', kind === 'twice' ? 2 : 1);
      }
    },
  };
  await runScenario(
    ctx,
    service,
    sc,
    `approval scenario ${index} (${kind}, seed ${seed}) on ${service}`,
    hooks,
  );
}

/** Settled: every image's rollout ended (or its messages were dead-lettered) and the service holds nothing. */
async function settled(ctx: Context, service: string, digests: string[], ids: string[][]): Promise<boolean> {
  const rollouts = await rolloutsOf(ctx, service, digests);
  for (const [n, digest] of digests.entries()) {
    if (rollouts.some((r) => r.digest === digest)) continue;
    if (Object.keys(await deadLettersOf(ctx, ids[n])).length === 0) return false;
  }
  if (
    rollouts.some(
      (r) => !isTerminal(r.status) || Object.values(r.regions).some((g) => isRegionBusy(g.status)),
    )
  )
    return false;
  const svc = (await ctx.cloud.firestore.doc(`services/${service}`).get()).data();
  return !svc?.activeRollout && Object.keys(svc?.candidates ?? {}).length === 0;
}

/** A rollout's events, one per line, with seconds since it was created. */
async function timeline(ctx: Context, r: RolloutRecord): Promise<string> {
  const events = await ctx.cloud.firestore.collection(`rollouts/${r.id}/events`).orderBy('at').get();
  const t0 = Date.parse(r.createdAt);
  return events.docs
    .map((d) => {
      const e = d.data();
      const at = ((Date.parse(e.at) - t0) / 1000).toFixed(1).padStart(6);
      return `${at}s ${e.type}${e.region ? ` ${e.region}` : ''}${e.step !== undefined ? ` step ${e.step}` : ''}: ${String(e.message).slice(0, 100)}`;
    })
    .join('\n');
}

/** Where a scenario stands, for a violation's detail. */
async function describeState(ctx: Context, service: string, digests: string[]): Promise<string> {
  const rollouts = await rolloutsOf(ctx, service, digests);
  const svc = (await ctx.cloud.firestore.doc(`services/${service}`).get()).data();
  const executions = await Promise.all(
    rollouts.map(async (r) =>
      r.executionName
        ? ((await ctx.workflowExecutions.getExecution({ name: r.executionName }).catch(() => [undefined]))[0]
            ?.state ?? '?')
        : 'none',
    ),
  );
  const lastEvents = await Promise.all(
    rollouts.map(async (r) =>
      (
        await ctx.cloud.firestore.collection(`rollouts/${r.id}/events`).orderBy('at', 'desc').limit(3).get()
      ).docs
        .map(
          (d) =>
            `${d.data().type}${d.data().region ? `@${d.data().region}` : ''}: ${String(d.data().message).slice(0, 80)}`,
        )
        .join(' | '),
    ),
  );
  const parts = rollouts.map(
    (r, i) =>
      `${r.id} ${r.status} (execution ${executions[i]}; ${Object.entries(r.regions)
        .map(([region, g]) => `${region} ${g.status}${g.reason ? ` "${g.reason.slice(0, 80)}"` : ''}`)
        .join(', ')}; last events: ${lastEvents[i]})`,
  );
  return `rollouts: ${parts.join('; ') || 'none'}; service lease ${svc?.activeRollout ?? 'free'}, slots ${JSON.stringify(svc?.candidates ?? {})}; last sweep ${ctx.cloud.lastSweep()}`;
}

async function untilFirstStep(ctx: Context, service: string, digest: string): Promise<RolloutRecord> {
  return waitFor(
    async () =>
      (await rolloutsOf(ctx, service, [digest])).find((r) =>
        Object.values(r.regions).some((g) => g.steps.length > 0 || !isRegionBusy(g.status)),
      ),
    {
      timeoutMs: scenarioTimeout(ctx),
      intervalMs: 200,
      what: `${service}@${digest.slice(7, 19)} in its first step`,
    },
  );
}

/** Competing transactions on the service's document: the real emulator's lock contention. */
function contend(ctx: Context, service: string): { stop(): Promise<void> } {
  let running = true;
  const doc = ctx.cloud.firestore.doc(`services/${service}`);
  const loop = (async () => {
    while (running) {
      await ctx.cloud.firestore
        .runTransaction(async (tx) => {
          const snap = await tx.get(doc);
          await new Promise((r) => setTimeout(r, 50)); // hold the lock a while
          if (snap.exists) tx.set(doc, snap.data()!);
        })
        .catch(() => undefined);
      // Busy a sixth of the time: enough to collide with Glidepath's transactions, not to starve them.
      await new Promise((r) => setTimeout(r, 250));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
    },
  };
}

async function runJobScenario(ctx: Context, job: string, index: number): Promise<void> {
  const sc = jobScenario(scenarioSeed(ctx.opts.seed ^ 0x5a5a, index), MAX_ATTEMPTS);
  const label = `job scenario ${index} (seed ${sc.seed}) on ${job}`;
  const jobName = `projects/${PROJECT}/locations/${JOB_REGION}/jobs/${job}`;
  const subject = new RegExp(`\\b${job}\\b`);
  const disarm = sc.faults.map((f) => ctx.cloud.faults.add({ ...f, subject }));
  if (sc.duplicate)
    disarm.push(
      ctx.cloud.faults.add({ at: 'push.after', effect: 'fail', subject: /job-triggers/, times: 1 }),
    );
  ctx.cloud.cloudRun.setJobOutcomes(jobName, sc.outcomes);
  const executionsBefore = await countExecutions(ctx, jobName);
  const expected = {
    job,
    status: sc.outcomes.at(-1) === 'succeed' ? ('SUCCEEDED' as const) : ('FAILED' as const),
    attempts: sc.outcomes.length,
    classes: sc.outcomes.flatMap((o) =>
      o === 'succeed' || o === 'fail' || o === 'hang' ? [] : [INJECTED_CLASS[o]],
    ),
    killed: sc.killExecution,
  };
  const messageId = await ctx.cloud.pubsub.topic(TOPICS.jobTriggers).publishMessage({ json: { job } });
  const runsOf = async (): Promise<JobRunRecord[]> =>
    (await ctx.cloud.firestore.collection('jobRuns').where('job', '==', job).get()).docs
      .map((d) => d.data() as JobRunRecord)
      .filter((r) => r.message?.messageId === messageId);
  try {
    if (sc.killExecution) {
      // The job-run execution dies while its first attempt runs.
      await killExecution(
        ctx,
        async () => (await runsOf()).find((r) => r.executionName && r.attempts[0]?.result === 'RUNNING'),
        `${label}: attempt 1 running`,
      );
    }
    await untilAllEnded(ctx, runsOf, `${label} to finish`);
  } catch (err) {
    unsettled(ctx, job, label, err as Error, await runsOf());
  } finally {
    for (const off of disarm) off();
  }
  const runs = await runsOf();
  ctx.jobStatuses.push(...runs.map((r) => r.status));
  // The run is FAILED a moment before its dead letter is written (the same call writes both, and a
  // retried call finishes it): a failed run must have one soon, not at the same instant.
  const deadLettered =
    runs[0]?.status === 'FAILED'
      ? await waitFor(
          async () => (await ctx.cloud.firestore.doc(`deadLetters/job-failed-${runs[0].id}`).get()).exists,
          { timeoutMs: 30_000, intervalMs: 200, what: `${label}: the failed run's dead letter` },
        ).catch(() => false)
      : (await ctx.cloud.firestore.doc(`deadLetters/job-failed-${runs[0]?.id}`).get()).exists;
  const started = (await countExecutions(ctx, jobName)) - executionsBefore;
  // Slack is checked at the end, once the outbox has been flushed.
  ctx.jobChecks.push({ expected: { ...expected, messageId }, runs, started, deadLettered, label });
  ctx.opts.progress?.(
    `${label}: ${sc.outcomes.join(',')}${sc.killExecution ? ' +kill' : ''} → ${runs.map((r) => r.status).join(',')}`,
  );
}

/**
 * One job image rollout under faults: a push of a new image (maybe twice),
 * the verification scripted to fail with an injected cause in one region or
 * none; once it has ended, the templates, the verifications and the record.
 */
async function runJobImageScenario(ctx: Context, job: string, index: number): Promise<void> {
  const sc = jobImageScenario(scenarioSeed(ctx.opts.seed ^ 0x1717, index), index);
  const label = `job image scenario ${index} (seed ${sc.seed}) on ${job}`;
  const digest = digestOf(`${job}:${sc.tag}`);
  const image = `${jobRepository(job)}@${digest}`;
  const rolloutId = jobRolloutId(job, digest);
  const failing =
    sc.failAt !== undefined ? { region: REGIONS[sc.failAt], class: INJECTED_CLASS[sc.failure] } : undefined;
  const before: Record<string, string> = {};
  for (const region of REGIONS) {
    before[region] = (await jobTemplate(ctx, job, region)).template;
    const outcomes = region === failing?.region ? [sc.failure] : [];
    ctx.cloud.cloudRun.setJobOutcomes(
      `projects/${PROJECT}/locations/${region}/jobs/${job}`,
      sc.killExecution && region === REGIONS[0] ? ['hang'] : outcomes,
    );
  }
  const subject = new RegExp(`\\b${job}\\b`);
  const disarm = sc.faults.map((f) => ctx.cloud.faults.add({ ...f, subject }));
  const push = { action: 'INSERT', digest: image, tag: `${jobRepository(job)}:${sc.tag}` };
  const recordsOf = async (): Promise<JobRolloutRecord[]> =>
    (await ctx.cloud.firestore.collection('jobRollouts').where('digest', '==', digest).get()).docs.map((d) =>
      JobRolloutRecord.parse(d.data()),
    );
  try {
    for (let n = 0; n < (sc.duplicate ? 2 : 1); n++)
      await ctx.cloud.pubsub.topic(TOPICS.gcr).publishMessage({ json: push });
    if (sc.killExecution) {
      // The job-rollout execution dies while the first region's verification runs.
      await killExecution(
        ctx,
        async () =>
          (await recordsOf()).find((r) => r.executionName && r.regions[REGIONS[0]]?.verifyExecution),
        `${label}: the verification in ${REGIONS[0]} running`,
      );
    }
    await untilAllEnded(ctx, recordsOf, `${label} to end`);
  } catch (err) {
    unsettled(ctx, job, label, err as Error, await recordsOf());
  } finally {
    for (const off of disarm) off();
  }
  const records = await recordsOf();
  ctx.jobImageStatuses.push(...records.map((r) => r.status));
  const regions: JobImageObserved['regions'] = {};
  for (const region of REGIONS) {
    const after = await jobTemplate(ctx, job, region);
    regions[region] = {
      before: before[region],
      after: after.template,
      afterImages: after.images,
      verifications: await executionsMarked(ctx, job, region, `${rolloutId}/${region}`),
    };
  }
  // Slack is checked at the end, once the outbox has been flushed.
  ctx.jobImageChecks.push({
    expected: {
      job,
      rolloutId,
      image,
      regions: REGIONS,
      ...(failing ? { failing } : {}),
      ...(sc.killExecution ? { killed: true } : {}),
    },
    observed: { records, regions },
    label,
  });
  ctx.opts.progress?.(
    `${label}: ${failing ? `${sc.failure} in ${failing.region}` : 'good'}${sc.killExecution ? ' +kill' : ''} → ${records.map((r) => r.status).join(',')}`,
  );
}

async function countExecutions(ctx: Context, jobName: string): Promise<number> {
  const [executions] = await ctx.runExecutions.listExecutions({ parent: jobName, pageSize: 1000 });
  return executions.length;
}

/**
 * How long the whole run's checks wait for what they look for. Every record ends before its
 * notice goes out: the complete action, finishRun and finishJobRollout write the end first and
 * post after (the report is rendered in between), and the sweeper posts a recovery after its
 * finish. So the last scenarios' notices may still be on their way when the scenarios have
 * settled, or in the outbox until the next periodic sweep (every 1.5 s). Likewise a hostile
 * message's rejection record: a scenario waits for its images, not for that message, whose push
 * may have failed and wait for its redelivery. Only a post or a record ends the wait, and both
 * only accumulate: what is missing after this long is missing.
 */
const NOTICE_DEADLINE_MS = 30_000;

/** Checks that need the whole run: message accounting and Slack notices after the final sweep. */
async function checkGlobal(ctx: Context): Promise<void> {
  const ids = ctx.published.map((m) => m.messageId);
  const scoped =
    (scenario: string) =>
    (v: Violation): ChaosViolation => ({ ...v, scenario, replay: replayCommand(ctx) });
  const global = scoped('whole run');
  const check = async (): Promise<ChaosViolation[]> => {
    const rolloutsByImage: Record<string, string[]> = {};
    for (const d of (await ctx.cloud.firestore.collection('rollouts').get()).docs) {
      const r = d.data() as RolloutRecord;
      (rolloutsByImage[`${r.service}@${r.digest}`] ??= []).push(r.id);
    }
    const deadLettersByMessage = await deadLettersOf(ctx, ids);
    const slack = ctx.cloud.slack.posts.map((p) => p.text);
    return [
      ...checkMessages(ctx.published, { rolloutsByImage, deadLettersByMessage }).map(global),
      ...checkFailuresNoticed(ctx.rollouts, slack).map(global),
      ...checkGates(ctx.rollouts, slack, ctx.gateExpectations).map(global),
      ...ctx.jobChecks.flatMap((c) =>
        checkJobRun(c.expected, c.runs, c.started, c.deadLettered, slack).map(scoped(c.label)),
      ),
      ...ctx.jobImageChecks.flatMap((c) =>
        checkJobImageRollout(c.expected, c.observed, slack).map(scoped(c.label)),
      ),
    ];
  };
  let found = await check();
  await waitFor(async () => (found = await check()).length === 0, {
    timeoutMs: NOTICE_DEADLINE_MS,
    intervalMs: 250,
    what: "the run's notices and records",
  }).catch(() => undefined);
  ctx.violations.push(...found);
}
