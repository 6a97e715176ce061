/**
 * A rollout use case's world without emulators: the in-memory rollout store,
 * a small Cloud Run of services and revisions that checks what Cloud Run
 * checks on a traffic write (the split sums to 100, every revision exists),
 * per-revision traffic profiles for Monitoring, and recorders for Slack,
 * Workflows and the smoke probe. The Cloud Run and Monitoring emulators
 * behind the real adapters are tested in test/integration; this is for the
 * use cases' decisions.
 */
import { BUILT_IN_DEFAULTS, type AnalysisSettings } from '../../functions/domain/policy';
import type { RolloutPlan } from '../../functions/domain/plan';
import type { RolloutRecord } from '../../functions/domain/records';
import type { ExecutionView } from '../../functions/domain/sweep';
import type { LookRecord } from '../../functions/domain/looks';
import type {
  Fence,
  RevisionState,
  ServiceRef,
  ServiceSnapshot,
  SlackMessage,
  TrafficRouter,
  TrafficTarget,
} from '../../functions/ports';
import { GlidepathError } from '../../functions/shared/errors';
import { createLogger } from '../../functions/shared/log';
import type { RolloutDeps } from '../../functions/usecases/rollout';
import { revision as observed } from '../unit/analysis/helpers';
import { InMemoryRolloutStore } from './memory-stores';

export const PROJECT = 'proj-1';
export const REGION = 'us-central1';
export const STABLE = 'api-00001-old';
export const DIGEST = 'sha256:' + 'c'.repeat(64);
/** The rollout most tests drive, and its candidate revision (named after it: candidateRevisionName). */
export const ID = 'api-cccccccccccc-1';
export const CANDIDATE = 'api-cccccccccccc-1';
export const EXECUTION = `projects/${PROJECT}/locations/${REGION}/workflows/rollout/executions/e1`;

function plan(id: string, extra: Partial<RolloutPlan> = {}): RolloutPlan {
  return {
    rolloutId: id,
    service: 'api',
    project: PROJECT,
    image: `us-docker.pkg.dev/${PROJECT}/apps/api@${DIGEST}`,
    digest: DIGEST,
    revisionTag: 'gp-cccccccccccc',
    waves: [{ regions: [REGION] }],
    maxParallelRegions: 10,
    steps: [
      { percent: 10, bakeSeconds: 300 },
      { percent: 50, bakeSeconds: 300 },
    ],
    analysis: structuredClone(BUILT_IN_DEFAULTS.analysis) as AnalysisSettings,
    smoke: { path: '/health', expectStatus: 200, attempts: 3, timeoutSeconds: 5 },
    rollbackPromotedRegions: false,
    source: 'gcr',
    ...extra,
  };
}

const key = (ref: ServiceRef) => `${ref.project}/${ref.region}/${ref.service}`;

/**
 * Services and revisions in memory. A write calls the fence first, as the
 * real adapter does before every etag-guarded write, and refuses what Cloud
 * Run refuses. Every traffic write is kept, in order, for the tests.
 */
class FakeCloudRun implements TrafficRouter {
  private readonly services = new Map<string, ServiceSnapshot>();
  private readonly revisions = new Map<string, RevisionState>();
  /** Every traffic list written, per region, oldest first. */
  readonly writes: Array<{ region: string; traffic: TrafficTarget[] }> = [];
  /** The next deploy's operation fails with this error (then it is cleared). */
  failNextDeploy?: GlidepathError;
  /** Runs after the read and before the fence of every write: another writer's move in between. */
  beforeWrite?: () => Promise<void>;

  addService(ref: ServiceRef, traffic: TrafficTarget[], revisions: string[]): void {
    for (const name of revisions) this.revisions.set(name, { name, image: 'old-image', ready: 'true' });
    const latest = revisions[revisions.length - 1];
    this.services.set(key(ref), {
      ref,
      etag: '"1"',
      generation: 1,
      image: 'old-image',
      latestReadyRevision: latest,
      latestCreatedRevision: latest,
      traffic,
      tagUrls: {},
      url: `https://${ref.service}-abc-uc.a.run.app`,
    });
  }

  async getService(ref: ServiceRef): Promise<ServiceSnapshot | undefined> {
    const s = this.services.get(key(ref));
    return s && structuredClone(s);
  }

  async getRevision(_ref: ServiceRef, name: string): Promise<RevisionState | undefined> {
    return this.revisions.get(name);
  }

  async deployRevision(
    ref: ServiceRef,
    input: Parameters<TrafficRouter['deployRevision']>[1],
  ): Promise<ServiceSnapshot> {
    const current = this.required(ref);
    await this.beforeWrite?.();
    await input.fence?.();
    if (this.failNextDeploy) {
      const err = this.failNextDeploy;
      this.failNextDeploy = undefined;
      throw err;
    }
    this.revisions.set(input.revisionName, { name: input.revisionName, image: input.image, ready: 'true' });
    return this.write(
      {
        ...current,
        image: input.image,
        latestCreatedRevision: input.revisionName,
        latestReadyRevision: input.revisionName,
      },
      input.plan(structuredClone(current)),
    );
  }

  async setTraffic(
    ref: ServiceRef,
    plan: (current: ServiceSnapshot) => TrafficTarget[],
    opts: { timeoutMs: number; fence?: Fence },
  ): Promise<ServiceSnapshot> {
    const current = this.required(ref);
    await this.beforeWrite?.();
    await opts.fence?.();
    return this.write(current, plan(structuredClone(current)));
  }

  private required(ref: ServiceRef): ServiceSnapshot {
    const s = this.services.get(key(ref));
    if (!s) throw new GlidepathError('not_found', `service ${ref.service} not found in ${ref.region}`);
    return s;
  }

  private write(service: ServiceSnapshot, traffic: TrafficTarget[]): ServiceSnapshot {
    const total = traffic.reduce((n, t) => n + t.percent, 0);
    if (total !== 100) throw new GlidepathError('invalid', `traffic must sum to 100, got ${total}`);
    for (const t of traffic)
      if (t.type === 'REVISION' && !this.revisions.has(t.revision!))
        throw new GlidepathError('failed', `Revision '${t.revision}' does not exist or is deleted`);
    const tagUrls = Object.fromEntries(
      traffic
        .filter((t) => t.tag)
        .map((t) => [t.tag!, `https://${t.tag}---${service.ref.service}-abc-uc.a.run.app`]),
    );
    const next = {
      ...service,
      traffic,
      tagUrls,
      etag: `"${service.generation + 1}"`,
      generation: service.generation + 1,
    };
    this.services.set(key(service.ref), next);
    this.writes.push({ region: service.ref.region, traffic: structuredClone(traffic) });
    return structuredClone(next);
  }
}

/** Per revision, requests per minute and their 5xx share: what Monitoring answers over any window. */
type Profiles = Record<string, { perMinute: number; errorRate: number }>;

export interface World {
  deps: RolloutDeps;
  store: InMemoryRolloutStore;
  run: FakeCloudRun;
  /** Advances the clock. */
  tick(seconds: number): void;
  now(): Date;
  profiles: Profiles;
  /** Status codes the smoke probe answers, one per call (the last repeats). */
  probeAnswers: Array<number | Error>;
  probed: string[];
  slack: SlackMessage[];
  started: Array<{ workflow: string; argument: unknown }>;
  cancelled: string[];
  executions: Map<string, ExecutionView>;
  looks: LookRecord[];
}

export function world(start = new Date('2026-11-30T08:00:00Z')): World {
  let now = start.getTime();
  const store = new InMemoryRolloutStore();
  const run = new FakeCloudRun();
  const profiles: Profiles = {};
  const w: World = {
    deps: undefined as unknown as RolloutDeps, // set below: it closes over `w`
    store,
    run,
    tick: (seconds) => void (now += seconds * 1000),
    now: () => new Date(now),
    profiles,
    probeAnswers: [200],
    probed: [],
    slack: [],
    started: [],
    cancelled: [],
    executions: new Map(),
    looks: [],
  };
  w.deps = {
    store,
    router: run,
    metrics: {
      observe: async (rev, window) => {
        const p = profiles[rev.revision] ?? { perMinute: 0, errorRate: 0 };
        const minutes = Math.floor((window.end.getTime() - window.start.getTime()) / 60_000);
        return observed(rev.revision, minutes, p.perMinute, p.errorRate);
      },
      serviceRequests: async (_ref, window) => {
        const minutes = Math.floor((window.end.getTime() - window.start.getTime()) / 60_000);
        return { requests: Object.values(profiles).reduce((n, p) => n + p.perMinute * minutes, 0) };
      },
    },
    looks: {
      record: async (_id, look) => void w.looks.push(look),
      list: async () => w.looks,
    },
    reportSource: {
      rollout: (id) => store.getRollout(id),
      events: async () => [],
      looks: async () => [],
      history: async () => [],
    },
    notifier: { notify: async (m) => (w.slack.push(m), true) },
    launcher: {
      start: async (workflow, argument) => {
        w.started.push({ workflow, argument });
        return `projects/${PROJECT}/locations/${REGION}/workflows/${workflow}/executions/e${w.started.length + 1}`;
      },
      cancel: async (name) => void w.cancelled.push(name),
      state: async (name) => w.executions.get(name) ?? { state: 'MISSING' },
    },
    clock: { now: () => new Date(now) },
    log: createLogger({}, () => undefined),
    idTokens: { idToken: async (audience) => `token-for-${audience}` },
    probe: async (url) => {
      w.probed.push(url);
      const answer = w.probeAnswers.length > 1 ? w.probeAnswers.shift()! : w.probeAnswers[0];
      if (answer instanceof Error) throw answer;
      return answer;
    },
  };
  return w;
}

/** The service serving `STABLE` at 100% through LATEST, as after a plain deploy. */
export function serveStable(w: World): void {
  w.run.addService(
    { project: PROJECT, region: REGION, service: 'api' },
    [{ type: 'LATEST', percent: 100 }],
    [STABLE],
  );
}

/** Admits rollout `id` of `plan(id, extra)` (superseding any other) and records its execution. */
export async function admitRunning(
  w: World,
  id: string,
  extra: Partial<RolloutPlan> = {},
  executionName = EXECUTION,
): Promise<RolloutRecord> {
  await admit(w, plan(id, extra), 'supersede', 'started');
  await w.store.recordExecution(id, executionName, w.now());
  return (await w.store.getRollout(id))!;
}

/** Admits rollout `id` of another image, `digest`, queued behind the service's running rollout. */
export async function admitQueued(w: World, id: string, digest: string): Promise<RolloutRecord> {
  await admit(
    w,
    plan(id, { digest, image: `us-docker.pkg.dev/${PROJECT}/apps/api@${digest}` }),
    'queue',
    'queued',
  );
  return (await w.store.getRollout(id))!;
}

async function admit(
  w: World,
  p: RolloutPlan,
  onNewImage: 'supersede' | 'queue',
  expected: 'started' | 'queued',
): Promise<void> {
  const admission = await w.store.admit({
    rollout: {
      id: p.rolloutId,
      service: 'api',
      project: PROJECT,
      image: p.image,
      digest: p.digest,
      source: 'gcr',
      plan: { ...p },
    },
    dedupKey: `key-${p.rolloutId}`,
    onNewImage,
    now: w.now(),
    dedupTtlSeconds: 3600,
  });
  if (admission.kind !== expected)
    throw new Error(`expected rollout ${p.rolloutId} to be ${expected}, got ${admission.kind}`);
}

/** The traffic of the newest write to Cloud Run. */
export const lastWrite = (w: World) => w.run.writes[w.run.writes.length - 1]?.traffic;
