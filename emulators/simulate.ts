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
import { ServicesClient } from '@google-cloud/run';
import {
  grantLocalInvokers,
  loadService,
  startLocalCloud,
  type LocalCloud,
  type LocalCloudOptions,
} from './local-cloud';
import { waitFor } from './util';
import { parseImageRef } from '../functions/domain/image';
import { parsePolicyYaml, type Policy, type ServicePolicy } from '../functions/domain/policy';
import { RolloutRecord, isRegionBusy, isTerminal } from '../functions/domain/records';
import { localClientOptions } from '../functions/shared/endpoint';
import { reportObjectName } from '../functions/adapters/reports';

export interface SimulationOptions extends Omit<LocalCloudOptions, 'policyFile'> {
  policyFile: string;
  /** Image profiles JSON (see docs/local-cloud.md). */
  profilesFile?: string;
  /** `repository:tag` references, in order. */
  pushes: string[];
  /** Publish the next push while the previous rollout is in its first step. */
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
}

export interface SimulationResult {
  rollouts: SimulatedRollout[];
  slack: string[];
  cloud?: LocalCloud;
}

/** A digest for a pushed tag, as a registry would compute one: stable per reference. */
export function digestOf(reference: string): string {
  return `sha256:${createHash('sha256').update(reference).digest('hex')}`;
}

function serviceFor(policy: Policy, repository: string): ServicePolicy {
  const s = policy.services.find((x) => x.image === repository);
  if (!s) throw new Error(`push ${repository}: no service in the policy uses this repository`);
  return s;
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
  const load = new AbortController();
  const loads: Array<Promise<unknown>> = [];
  const seen = new Set<string>();
  const results: SimulatedRollout[] = [];
  try {
    for (const [i, push] of opts.pushes.entries()) {
      const parsed = parseImageRef(push);
      if (!parsed.ok || !parsed.ref.tag)
        throw new Error(`--push ${push}: expected repository:tag (${parsed.ok ? 'no tag' : parsed.error})`);
      const service = serviceFor(policy, parsed.ref.repository);
      const digest = digestOf(push);
      const pinned = `${parsed.ref.repository}@${digest}`;
      // The profile written for repository:tag also describes the same image by digest.
      const profile = profiles[push] ?? profiles[parsed.ref.repository];
      if (profile) cloud.cloudRun.setProfile(pinned, profile as never);

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
      await cloud.pubsub.topic('gcr').publishMessage({
        json: { action: 'INSERT', digest: pinned, tag: `${parsed.ref.repository}:${parsed.ref.tag}` },
      });
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
      slack: cloud.slack.posts.map((p) => p.text),
      ...(opts.keep ? { cloud } : {}),
    };
  } finally {
    load.abort();
    await Promise.all(loads);
    await services.close();
    if (!opts.keep && !opts.cloud) await cloud.stop();
  }
}

/** Creates the service with `image` serving 100% in every region of its waves; false if it already exists. */
async function createServiceIfAbsent(
  client: ServicesClient,
  service: ServicePolicy,
  image: string,
): Promise<boolean> {
  const [first] = service.waves.flat();
  const exists = await client
    .getService({ name: `projects/${service.project}/locations/${first}/services/${service.name}` })
    .then(
      () => true,
      (err: { code?: number }) => (err.code === 5 ? false : Promise.reject(err)),
    );
  if (exists) return false;
  for (const region of service.waves.flat()) {
    const [op] = await client.createService({
      parent: `projects/${service.project}/locations/${region}`,
      serviceId: service.name,
      service: { template: { containers: [{ image }] } },
    });
    await op.promise();
    await grantLocalInvokers(
      client,
      `projects/${service.project}/locations/${region}/services/${service.name}`,
    );
  }
  return true;
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

async function summarize(
  cloud: LocalCloud,
  client: ServicesClient,
  rollout: RolloutRecord,
  startedAt: number,
): Promise<SimulatedRollout> {
  // First: the report is rendered in this process (the local cloud hosts the functions), and
  // while Vega draws, gRPC calls made here would wait on the busy event loop.
  const report = await reportOf(cloud, rollout);
  const regions: SimulatedRollout['regions'] = {};
  for (const wave of (rollout.plan as { waves: Array<{ regions: string[] }> }).waves) {
    for (const region of wave.regions) {
      const svc = await client
        .getService({ name: `projects/${rollout.project}/locations/${region}/services/${rollout.service}` })
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
