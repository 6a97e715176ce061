/**
 * The machinery behind `glidepath simulate`, `npm start` and the end-to-end
 * tests: the whole system on the local cloud. Each push is published as a
 * real Artifact Registry `gcr` event; the real intake function, the real
 * workflow YAML on the Workflows emulator, the real actions and adapters do
 * the rest, while a load generator sends traffic through the Cloud Run
 * emulator's front door so the canary analysis sees real metrics.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { JobsClient, ServicesClient } from '@google-cloud/run';
import {
  grantLocalInvokers,
  loadService,
  startLocalCloud,
  type LocalCloud,
  type LocalCloudOptions,
} from './local-cloud';
import { waitFor } from './util';
import { parseImageRef } from '../functions/domain/image';
import {
  jobWaves,
  parsePolicyYaml,
  type JobPolicy,
  type Policy,
  type ServicePolicy,
} from '../functions/domain/policy';
import { JobRolloutRecord, jobRolloutId } from '../functions/domain/job-rollout';
import { RolloutRecord, isRegionBusy, isTerminal } from '../functions/domain/records';
import { readPlan, stagePlan } from '../functions/domain/plan';
import { describeDecider } from '../functions/domain/gates';
import { localClientOptions } from '../functions/shared/endpoint';
import { reportObjectName } from '../functions/adapters/reports';

interface SimulationOptions extends Omit<LocalCloudOptions, 'policyFile'> {
  policyFile: string;
  /** Image profiles JSON (see docs/local-cloud.md). */
  profilesFile?: string;
  /** `repository:tag` references, in order. */
  pushes: string[];
  /** Publish the next push while the previous rollout is in its first step (service pushes; a job push waits for its rollout's end). */
  overlap?: boolean;
  /** Requests per second sent to each service in each region. */
  ratePerSecond?: number;
  /** Give up on a rollout after this long (real time). */
  rolloutTimeoutMs?: number;
  /** Called on every change, for progress displays. */
  onProgress?: (rollouts: RolloutRecord[]) => void;
  /** Keep the local cloud running after the simulation (`npm start -- --keep`). */
  keep?: boolean;
  /** A running local cloud to use instead of starting one. */
  cloud?: LocalCloud;
  /**
   * Answer every approval gate as soon as its message arrives: a signed click on
   * its gp_approve / gp_reject button through the slack-interactions function, as
   * the gate's first Slack-id approver.
   */
  answerGates?: 'approve' | 'reject';
  /** With `answerGates`: click only once the approval message has been up this long (a person reading it). */
  answerAfterMs?: number;
}

export interface SimulatedRollout {
  id: string;
  service: string;
  image: string;
  status: string;
  reason?: string;
  regions: Record<string, { status: string; traffic: Record<string, number>; reason?: string }>;
  seconds: number;
  billableSteps?: number;
  /** The report's path, when the local cloud writes reports (LocalCloudOptions.reportDir). */
  report?: string;
  /** A staged rollout's stages, in order: how each ended and its gate's answer. */
  stages?: SimulatedStage[];
}

interface SimulatedStage {
  name: string;
  /** PROMOTED when every region of the stage promoted; else the first other status, or NOT_STARTED. */
  outcome: string;
  gate?: { name: string; status: string; decidedBy?: string };
}

/** A job image rollout (a push of a job's repository) and the image each region's job runs afterwards. */
export interface SimulatedJobRollout {
  id: string;
  job: string;
  image: string;
  status: string;
  reason?: string;
  regions: Record<
    string,
    {
      status: string;
      /** The job's container image(s) in that region after the rollout (GetJob), comma-separated. */
      image: string;
      failureClass?: string;
      error?: string;
    }
  >;
  seconds: number;
}

interface SimulationResult {
  rollouts: SimulatedRollout[];
  /** Job image rollouts, in push order. */
  jobRollouts: SimulatedJobRollout[];
  slack: string[];
  cloud?: LocalCloud;
}

/** A digest for a pushed tag, as a registry would compute one: stable per reference. */
export function digestOf(reference: string): string {
  return `sha256:${createHash('sha256').update(reference).digest('hex')}`;
}

/** The service or job of the policy whose repository is pushed to. */
function targetOf(
  policy: Policy,
  repository: string,
): { service: ServicePolicy } | { job: JobPolicy & { image: string } } {
  const service = policy.services.find((x) => x.image === repository);
  if (service) return { service };
  const job = policy.jobs.find((x) => x.image === repository);
  if (job?.image) return { job: { ...job, image: job.image } };
  throw new Error(`push ${repository}: no service or job in the policy uses this repository`);
}

export async function simulate(opts: SimulationOptions): Promise<SimulationResult> {
  const policy = parsePolicyYaml(readFileSync(opts.policyFile, 'utf8'));
  const profiles: Record<string, unknown> = opts.profilesFile
    ? JSON.parse(readFileSync(opts.profilesFile, 'utf8'))
    : {};
  const cloud =
    opts.cloud ??
    (await startLocalCloud({
      ...opts,
      cloudRun: { ...opts.cloudRun, ...(opts.profilesFile ? { profilesPath: opts.profilesFile } : {}) },
    }));
  const services = new ServicesClient(localClientOptions(cloud.cloudRun.grpcHost));
  const jobs = new JobsClient(localClientOptions(cloud.cloudRun.grpcHost));
  const load = new AbortController();
  const loads: Array<Promise<unknown>> = [];
  const seen = new Set<string>();
  const results: SimulatedRollout[] = [];
  const jobResults: SimulatedJobRollout[] = [];
  try {
    for (const [i, push] of opts.pushes.entries()) {
      const parsed = parseImageRef(push);
      if (!parsed.ok || !parsed.ref.tag)
        throw new Error(`--push ${push}: expected repository:tag (${parsed.ok ? 'no tag' : parsed.error})`);
      const target = targetOf(policy, parsed.ref.repository);
      const digest = digestOf(push);
      const pinned = `${parsed.ref.repository}@${digest}`;
      // The profile written for repository:tag also describes the same image by digest.
      const profile = profiles[push] ?? profiles[parsed.ref.repository];
      if (profile) cloud.cloudRun.setProfile(pinned, profile as never);
      const gcrEvent = {
        action: 'INSERT',
        digest: pinned,
        tag: `${parsed.ref.repository}:${parsed.ref.tag}`,
      };

      if ('job' in target) {
        const { job } = target;
        if (!seen.has(`job:${job.name}`)) {
          seen.add(`job:${job.name}`);
          // As for services: the first push of a job that does not exist yet creates it.
          if (await createJobIfAbsent(jobs, job, pinned)) continue;
        }
        const publishedAt = Date.now();
        await cloud.pubsub.topic('gcr').publishMessage({ json: gcrEvent });
        const ended = await waitForJobRollout(cloud, jobRolloutId(job.name, digest), opts);
        // As for services: the record ends before the finish action's lock release and Slack.
        if (ended.executionName) await executionEnded(cloud, ended.executionName, ended.id);
        jobResults.push(await summarizeJobRollout(jobs, ended, publishedAt));
        continue;
      }
      const { service } = target;

      if (!seen.has(service.name)) {
        seen.add(service.name);
        // The first push of a service that does not exist yet is its setup, not a rollout.
        const setup = await createServiceIfAbsent(services, service, pinned);
        for (const region of service.waves.flat()) {
          loads.push(
            loadService(
              cloud,
              { region, service: service.name },
              { ratePerSecond: opts.ratePerSecond ?? 40, signal: load.signal, maxInFlight: 64 },
            ).catch(() => undefined),
          );
        }
        if (setup) continue;
      }
      const publishedAt = Date.now();
      await cloud.pubsub.topic('gcr').publishMessage({ json: gcrEvent });
      const next = opts.pushes[i + 1];
      const waitForEnd = !opts.overlap || !next;
      const rollout = await waitForRollout(
        cloud,
        service.name,
        digest,
        opts,
        waitForEnd ? 'end' : 'first-step',
      );
      if (waitForEnd) results.push(await summarize(cloud, services, rollout, publishedAt));
      else
        results.push({
          id: rollout.id,
          service: service.name,
          image: pinned,
          status: 'PENDING',
          regions: {},
          seconds: 0,
        });
    }
    // Overlapped rollouts: report how each one ended.
    for (const [i, r] of results.entries()) {
      if (r.status !== 'PENDING') continue;
      const ended = await waitFor(
        async () => {
          const rec = await readRollout(cloud, r.id);
          return rec &&
            isTerminal(rec.status) &&
            !Object.values(rec.regions).some((reg) => isRegionBusy(reg.status))
            ? rec
            : undefined;
        },
        { timeoutMs: opts.rolloutTimeoutMs ?? 600_000, what: `rollout ${r.id} to end` },
      );
      results[i] = await summarize(cloud, services, ended, Date.parse(ended.createdAt));
    }
    return {
      rollouts: results,
      jobRollouts: jobResults,
      slack: cloud.slack.posts.map((p) => p.text),
      ...(opts.keep ? { cloud } : {}),
    };
  } finally {
    load.abort();
    await Promise.all(loads);
    await services.close();
    await jobs.close();
    if (!opts.keep && !opts.cloud) await cloud.stop();
  }
}

/** Creates the service with `image` serving 100% in every region of its waves; false if it already exists. */
async function createServiceIfAbsent(
  client: ServicesClient,
  service: ServicePolicy,
  image: string,
): Promise<boolean> {
  // A staged service exists in each stage's project.
  const sites = (service.stages ?? [service]).flatMap((part) =>
    part.waves.flat().map((region) => ({ project: part.project, region })),
  );
  const [first] = sites;
  const exists = await client
    .getService({ name: `projects/${first.project}/locations/${first.region}/services/${service.name}` })
    .then(
      () => true,
      (err: { code?: number }) => (err.code === 5 ? false : Promise.reject(err)),
    );
  if (exists) return false;
  for (const { project, region } of sites) {
    const [op] = await client.createService({
      parent: `projects/${project}/locations/${region}`,
      serviceId: service.name,
      service: { template: { containers: [{ image }] } },
    });
    await op.promise();
    await grantLocalInvokers(client, `projects/${project}/locations/${region}/services/${service.name}`);
  }
  return true;
}

/** Creates the job with `image` in every region of its waves; false if it already exists. */
async function createJobIfAbsent(client: JobsClient, job: JobPolicy, image: string): Promise<boolean> {
  const regions = jobWaves(job).flat();
  const exists = await client
    .getJob({ name: `projects/${job.project}/locations/${regions[0]}/jobs/${job.name}` })
    .then(
      () => true,
      (err: { code?: number }) => (err.code === 5 ? false : Promise.reject(err)),
    );
  if (exists) return false;
  for (const region of regions) {
    const [op] = await client.createJob({
      parent: `projects/${job.project}/locations/${region}`,
      jobId: job.name,
      job: { template: { template: { containers: [{ image }], maxRetries: 0 } } },
    });
    await op.promise();
  }
  return true;
}

/** Waits for the job rollout to end (SUCCEEDED or FAILED, its restores done). */
function waitForJobRollout(
  cloud: LocalCloud,
  id: string,
  opts: SimulationOptions,
): Promise<JobRolloutRecord> {
  return waitFor(
    async () => {
      const snap = await cloud.firestore.doc(`jobRollouts/${id}`).get();
      const r = snap.exists ? JobRolloutRecord.parse(snap.data()) : undefined;
      return r && (r.status === 'SUCCEEDED' || r.status === 'FAILED') ? r : undefined;
    },
    { timeoutMs: opts.rolloutTimeoutMs ?? 600_000, what: `job rollout ${id} to end`, intervalMs: 250 },
  );
}

async function summarizeJobRollout(
  client: JobsClient,
  rollout: JobRolloutRecord,
  startedAt: number,
): Promise<SimulatedJobRollout> {
  const regions: SimulatedJobRollout['regions'] = {};
  for (const region of rollout.waves.flat()) {
    const [job] = await client.getJob({
      name: `projects/${rollout.project}/locations/${region}/jobs/${rollout.job}`,
    });
    const rec = rollout.regions[region];
    regions[region] = {
      status: rec.status,
      image: (job.template?.template?.containers ?? []).map((c) => c.image).join(', '),
      ...(rec.failureClass ? { failureClass: rec.failureClass } : {}),
      ...(rec.error ? { error: rec.error } : {}),
    };
  }
  const ended = rollout.finishedAt ? Date.parse(rollout.finishedAt) : Date.now();
  return {
    id: rollout.id,
    job: rollout.job,
    image: rollout.image,
    status: rollout.status,
    ...(rollout.reason ? { reason: rollout.reason } : {}),
    regions,
    seconds: Math.round((ended - startedAt) / 100) / 10,
  };
}

/**
 * Waits for the workflow execution of a rollout whose record has ended, so that what its last
 * action does after the record (report, Slack, lock, queued rollout) is there; a minute at most,
 * so an execution that never ends is reported instead of hanging the simulation.
 */
async function executionEnded(cloud: LocalCloud, executionName: string, rolloutId: string): Promise<void> {
  let ended = false;
  void cloud.workflows.settled(executionName).then(() => (ended = true));
  await waitFor(() => ended, {
    timeoutMs: 60_000,
    what: `workflow execution ${executionName} to end after rollout ${rolloutId} did`,
  });
}

async function readRollout(cloud: LocalCloud, id: string): Promise<RolloutRecord | undefined> {
  const snap = await cloud.firestore.doc(`rollouts/${id}`).get();
  return snap.exists ? RolloutRecord.parse(snap.data()) : undefined;
}

async function waitForRollout(
  cloud: LocalCloud,
  service: string,
  digest: string,
  opts: SimulationOptions,
  until: 'end' | 'first-step',
): Promise<RolloutRecord> {
  const answered = new Set<string>();
  return waitFor(
    async () => {
      const docs = await cloud.firestore
        .collection('rollouts')
        .where('service', '==', service)
        .where('digest', '==', digest)
        .get();
      const rollouts = docs.docs.map((d) => RolloutRecord.parse(d.data()));
      if (rollouts.length) opts.onProgress?.(rollouts);
      const r = rollouts.sort((a, b) => b.createdAt.localeCompare(a.createdAt))[0];
      if (!r) return undefined;
      if (opts.answerGates)
        await answerWaitingGates(cloud, r, opts.answerGates, answered, opts.answerAfterMs ?? 0);
      // Ended: terminal, and no region still busy (an aborted rollout restores its regions after it is marked).
      if (isTerminal(r.status) && !Object.values(r.regions).some((reg) => isRegionBusy(reg.status))) return r;
      if (until === 'first-step' && Object.values(r.regions).some((reg) => reg.steps.length > 0)) return r;
      return undefined;
    },
    {
      timeoutMs: opts.rolloutTimeoutMs ?? 600_000,
      what: `rollout of ${service}@${digest.slice(0, 19)}`,
      intervalMs: 250,
    },
  );
}

/** Clicks the approval message of each waiting gate once, as its first Slack-id approver. */
async function answerWaitingGates(
  cloud: LocalCloud,
  rollout: RolloutRecord,
  decision: 'approve' | 'reject',
  answered: Set<string>,
  afterMs: number,
): Promise<void> {
  for (const gate of Object.values(rollout.gates ?? {})) {
    const key = `${rollout.id}/${gate.name}`;
    if (gate.status !== 'WAITING' || answered.has(key)) continue;
    const value = JSON.stringify({ rolloutId: rollout.id, gate: gate.name });
    const post = cloud.slack.posts.find((p) => JSON.stringify(p.blocks).includes(JSON.stringify(value)));
    if (!post) continue; // the message is on its way
    if (Date.now() - Date.parse(post.receivedAt) < afterMs) continue; // still being read
    const approver = gate.approvers.find((a) => !a.includes('@'));
    if (!approver)
      throw new Error(
        `gate ${gate.name} of ${rollout.id}: --approve/--reject click as a Slack user id approver, and it has none`,
      );
    answered.add(key);
    const click = await cloud.click(post, decision === 'approve' ? 'gp_approve' : 'gp_reject', {
      id: approver,
    });
    if (click.status !== 200)
      throw new Error(`clicking ${decision} on gate ${gate.name} answered HTTP ${click.status}`);
  }
}

/** Each stage's outcome from its regions, and its gate's answer. */
function stagesOf(rollout: RolloutRecord): SimulatedStage[] | undefined {
  const read = readPlan(rollout);
  if (!('plan' in read) || !read.plan.stages) return undefined;
  return read.plan.stages.map((stage) => {
    const statuses = stage.waves.flatMap((w) => w.regions.map((r) => rollout.regions[r]?.status));
    const outcome = statuses.every((st) => st === 'PROMOTED')
      ? 'PROMOTED'
      : (statuses.find((st) => st && st !== 'PROMOTED') ?? 'NOT_STARTED');
    const gate = Object.values(rollout.gates ?? {}).find((g) => g.stage === stage.name);
    return {
      name: stage.name,
      outcome,
      ...(gate
        ? {
            gate: {
              name: gate.name,
              status: gate.status,
              ...(gate.decidedBy ? { decidedBy: describeDecider(gate.decidedBy) } : {}),
            },
          }
        : {}),
    };
  });
}

async function summarize(
  cloud: LocalCloud,
  client: ServicesClient,
  rollout: RolloutRecord,
  startedAt: number,
): Promise<SimulatedRollout> {
  // The record ends before the workflow's complete action returns (report, Slack, the queued
  // rollout): wait for the execution, so callers read all the end left behind. A superseded or
  // aborted execution is not waited for: it may sleep on until its next action is refused.
  if (rollout.executionName && rollout.status !== 'SUPERSEDED' && rollout.status !== 'ABORTED')
    await executionEnded(cloud, rollout.executionName, rollout.id);
  // First: the report is rendered in this process (the local cloud hosts the functions), and
  // while Vega draws, gRPC calls made here would wait on the busy event loop.
  const report = await reportOf(cloud, rollout);
  const regions: SimulatedRollout['regions'] = {};
  const read = readPlan(rollout);
  const plan = 'plan' in read ? read.plan : undefined;
  const waves =
    plan?.stages?.flatMap((st) => st.waves) ??
    (rollout.plan as { waves: Array<{ regions: string[] }> }).waves;
  for (const wave of waves) {
    for (const region of wave.regions) {
      const project = plan ? stagePlan(plan, region).project : rollout.project;
      const svc = await client
        .getService({ name: `projects/${project}/locations/${region}/services/${rollout.service}` })
        .then(
          ([s]) => s,
          (err: { code?: number }) => (err.code === 5 ? undefined : Promise.reject(err)),
        );
      const traffic: Record<string, number> = {};
      for (const t of svc?.trafficStatuses ?? [])
        if (t.percent) traffic[t.revision || svc!.latestReadyRevision!.split('/').pop()!] = t.percent;
      const rec = rollout.regions[region];
      regions[region] = {
        status: rec?.status ?? 'UNTOUCHED',
        traffic,
        ...(rec?.reason ? { reason: rec.reason } : {}),
      };
    }
  }
  const stats = rollout.executionName ? cloud.workflows.stats(rollout.executionName) : undefined;
  const stages = stagesOf(rollout);
  const ended = rollout.endedAt ? Date.parse(rollout.endedAt) : Date.now();
  return {
    id: rollout.id,
    service: rollout.service,
    image: rollout.image,
    status: rollout.status,
    ...(rollout.outcomeReason ? { reason: rollout.outcomeReason } : {}),
    regions,
    seconds: Math.round((ended - startedAt) / 100) / 10,
    ...(stats ? { billableSteps: stats.steps } : {}),
    ...(report ? { report } : {}),
    ...(stages ? { stages } : {}),
  };
}

/**
 * The path of the report the complete action writes after the rollout's end.
 * A superseded or aborted rollout is not completed by its workflow, so has none
 * (`glidepath report` makes one on demand).
 */
async function reportOf(cloud: LocalCloud, rollout: RolloutRecord): Promise<string | undefined> {
  const dir = cloud.env.GLIDEPATH_REPORT_DIR;
  if (!dir || rollout.status === 'SUPERSEDED' || rollout.status === 'ABORTED') return undefined;
  const path = join(dir, reportObjectName(rollout));
  return waitFor(() => existsSync(path) && path, { timeoutMs: 60_000, what: `the report ${path}` });
}
