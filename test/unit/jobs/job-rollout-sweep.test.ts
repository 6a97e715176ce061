/**
 * The sweeper's part for job image rollouts: the diagnosis
 * (functions/domain/job-rollout.ts, `diagnoseJobRollout`) and the use case
 * (functions/usecases/job-sweep.ts, `sweepJobRollouts`), fast: the in-memory
 * job rollout store (held to Firestore's by the contract suite), in-memory
 * Cloud Run Jobs and Workflows. A rollout whose workflow execution died is
 * ended as a failed one ends: templates restored, lock released, Slack told.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { jobWaves, parsePolicyYaml } from '../../../functions/domain/policy';
import { diagnoseJobRollout, type JobRolloutRecord } from '../../../functions/domain/job-rollout';
import type { ExecutionView } from '../../../functions/domain/sweep';
import { GlidepathError } from '../../../functions/shared/errors';
import { createLogger } from '../../../functions/shared/log';
import type { JobRef, JobTemplates, SlackMessage } from '../../../functions/ports';
import {
  admitJobRollout,
  beginJobRollout,
  updateJobRegion,
  verifyJobRegion,
  type JobRolloutDeps,
} from '../../../functions/usecases/job-rollout';
import { sweepJobRollouts } from '../../../functions/usecases/job-sweep';
import { InMemoryJobLocks, InMemoryJobRolloutStore } from '../../helpers/memory-stores';
import { FakeJobs } from '../../helpers/fake-jobs';

const settings = { heartbeatGraceSeconds: 900, launchGraceSeconds: 600 };
const created = '2026-11-30T10:00:00.000Z';
const at = (seconds: number) => new Date(Date.parse(created) + seconds * 1000);
const EXECUTION = 'projects/p/locations/us-central1/workflows/job-rollout/executions/e1';

const record = (patch: Partial<JobRolloutRecord> = {}): JobRolloutRecord => ({
  id: 'ledger-abc',
  job: 'ledger',
  project: 'p',
  repository: 'us-docker.pkg.dev/p/jobs/ledger',
  digest: `sha256:${'d'.repeat(64)}`,
  image: `us-docker.pkg.dev/p/jobs/ledger@sha256:${'d'.repeat(64)}`,
  source: 'gcr',
  status: 'RUNNING',
  waves: [['us-central1'], ['europe-west1', 'asia-southeast1']],
  verify: { timeoutSeconds: 60 },
  regions: {
    'us-central1': { status: 'UPDATED', previousTemplate: '{}' },
    'europe-west1': { status: 'PENDING' },
    'asia-southeast1': { status: 'PENDING' },
  },
  executionName: EXECUTION,
  lockWaitSeconds: 1000,
  createdAt: created,
  updatedAt: created,
  ...patch,
});

describe('diagnoseJobRollout', () => {
  // 1000 s waiting for the lock + one 10 s poll + 3 regions × (60 s verify + 10 s poll + 180 s) + 60 s
  // = 1820 s, plus the 900 s grace.
  const LIMIT = 2720;

  it('leaves a rollout alone while its execution is alive and within any healthy rollout’s lifetime', () => {
    expect(diagnoseJobRollout(record(), { state: 'ACTIVE' }, at(LIMIT), settings)).toEqual({
      stuck: false,
      why: `execution ACTIVE, ${LIMIT}s old`,
    });
    // Workflows could not say: assumed alive.
    expect(diagnoseJobRollout(record(), undefined, at(LIMIT), settings)).toMatchObject({ stuck: false });
  });

  it('cancels an execution that outlived the longest healthy rollout', () => {
    expect(diagnoseJobRollout(record(), { state: 'ACTIVE' }, at(LIMIT + 1), settings)).toEqual({
      stuck: true,
      reason: `workflow execution ${EXECUTION} is still ACTIVE after 45m, longer than any healthy job rollout (limit 45m)`,
      cancelExecution: true,
    });
  });

  it('ends a rollout whose execution ended or vanished while the record is unfinished, saying how', () => {
    for (const state of ['FAILED', 'CANCELLED', 'SUCCEEDED'] as const)
      expect(diagnoseJobRollout(record(), { state }, at(60), settings)).toEqual({
        stuck: true,
        reason: `workflow execution ${EXECUTION} is ${state} but job rollout ledger-abc is RUNNING`,
        cancelExecution: false,
      });
    expect(
      diagnoseJobRollout(record(), { state: 'FAILED', error: 'step finish: HTTP 500' }, at(60), settings),
    ).toMatchObject({ reason: expect.stringContaining('is FAILED (step finish: HTTP 500) but') });
    expect(diagnoseJobRollout(record(), { state: 'MISSING' }, at(60), settings)).toMatchObject({
      stuck: true,
      reason: `workflow execution ${EXECUTION} no longer exists but job rollout ledger-abc is RUNNING`,
    });
  });

  it('ends a rollout whose execution was never started, after the launch grace', () => {
    const pending = record({
      status: 'PENDING',
      executionName: undefined,
      launchClaimedAt: at(60).toISOString(),
    });
    expect(diagnoseJobRollout(pending, undefined, at(660), settings)).toEqual({
      stuck: false,
      why: 'waiting for its execution',
    });
    expect(diagnoseJobRollout(pending, undefined, at(661), settings)).toEqual({
      stuck: true,
      reason: 'no job-rollout workflow execution was started for 10m (limit 10m)',
      cancelExecution: false,
    });
  });

  it('never touches a finished rollout', () => {
    for (const status of ['SUCCEEDED', 'FAILED'] as const)
      expect(diagnoseJobRollout(record({ status }), { state: 'MISSING' }, at(60), settings)).toEqual({
        stuck: false,
        why: status,
      });
  });

  it('judges a record without lockWaitSeconds (written before it was kept) only on its execution’s end', () => {
    const old = record({ lockWaitSeconds: undefined });
    expect(diagnoseJobRollout(old, { state: 'ACTIVE' }, at(365 * 86_400), settings)).toMatchObject({
      stuck: false,
    });
    expect(diagnoseJobRollout(old, { state: 'CANCELLED' }, at(60), settings)).toMatchObject({ stuck: true });
  });
});

const policy = parsePolicyYaml(readFileSync(join(__dirname, '../../fixtures/e2e/jobs.policy.yaml'), 'utf8'));
const REPOSITORY = 'us-docker.pkg.dev/e2e-jobs/jobs/ledger';
const US = 'us-central1';
const EU = 'europe-west1';
const template = (image: string) => JSON.stringify({ template: { containers: [{ image }] } });
const V1 = template(`${REPOSITORY}:v1`);

/** Cloud Run job templates in memory, per region, with UpdateJob's etag check. */
class FakeTemplates implements JobTemplates {
  readonly jobs = new Map<string, { etag: number; template: string }>();
  readonly updates: Array<{ region: string; template: string }> = [];
  async getJob(ref: JobRef) {
    const job = this.jobs.get(ref.region);
    return job && { etag: String(job.etag), template: job.template, images: [] };
  }
  async updateTemplate(ref: JobRef, input: { etag: string; template: string }) {
    const job = this.jobs.get(ref.region)!;
    if (String(job.etag) !== input.etag)
      throw new GlidepathError('conflict', `job ${ref.job} in ${ref.region} changed meanwhile`);
    this.jobs.set(ref.region, { etag: job.etag + 1, template: input.template });
    this.updates.push({ region: ref.region, template: input.template });
    return { etag: String(job.etag + 1), template: input.template, images: [] };
  }
}

/** A job rollout of ledger whose first region (us-central1) was updated and is being verified. */
async function verifyingRollout() {
  let now = Date.parse(created);
  const store = new InMemoryJobRolloutStore();
  const locks = new InMemoryJobLocks();
  const templates = new FakeTemplates();
  for (const region of jobWaves(policy.jobs[0]).flat()) templates.jobs.set(region, { etag: 1, template: V1 });
  const jobs = new FakeJobs();
  const slack: SlackMessage[] = [];
  const executions = new Map<string, ExecutionView>();
  const cancelled: string[] = [];
  const launcher = {
    start: async () => (executions.set(EXECUTION, { state: 'ACTIVE' }), EXECUTION),
    state: async (name: string) => executions.get(name) ?? { state: 'MISSING' as const },
    cancel: async (name: string) => {
      cancelled.push(name);
      executions.set(name, { state: 'CANCELLED' });
    },
  };
  const deps: JobRolloutDeps = {
    store,
    locks,
    templates,
    jobs,
    notifier: { notify: async (m: SlackMessage) => (slack.push(m), true) },
    clock: { now: () => new Date(now) },
    log: createLogger({}, () => undefined),
  };
  const { id } = await admitJobRollout(
    { ...deps, launcher },
    {
      job: policy.jobs[0],
      repository: REPOSITORY,
      digest: `sha256:${'c'.repeat(64)}`,
      tag: 'v2',
      source: 'gcr',
    },
    undefined,
  );
  expect(await beginJobRollout(deps, id)).toEqual({ locked: true });
  await updateJobRegion(deps, id, US);
  await verifyJobRegion(deps, id, US, false);
  const verification = (await store.get(id))!.regions[US].verifyExecution!;
  expect(templates.jobs.get(US)!.template).not.toBe(V1); // the new image is in
  return {
    id,
    store,
    locks,
    templates,
    jobs,
    slack,
    executions,
    cancelled,
    verification,
    advance: (seconds: number) => (now += seconds * 1000),
    sweep: () => sweepJobRollouts({ ...deps, launcher, settings }),
  };
}

describe('sweepJobRollouts', () => {
  it('ends a rollout whose workflow execution was cancelled: template restored where it changed, verification cancelled, lock released, FAILED with the reason, Slack told', async () => {
    const t = await verifyingRollout();
    t.executions.set(EXECUTION, { state: 'CANCELLED' });
    const reason = `workflow execution ${EXECUTION} is CANCELLED but job rollout ${t.id} is RUNNING`;

    expect(await t.sweep()).toEqual({
      checked: 1,
      recovered: [{ jobRolloutId: t.id, job: 'ledger', reason, restored: [US] }],
      errors: [],
    });
    expect(t.templates.jobs.get(US)!.template).toBe(V1);
    // The later wave was never touched.
    expect(t.templates.updates.map((u) => u.region)).toEqual([US, US]);
    // Nobody would watch the verification any more: it was cancelled.
    expect(t.jobs.cancelled).toEqual([t.verification]);
    expect(t.cancelled).toEqual([]); // the workflow execution had ended already
    const ended = (await t.store.get(t.id))!;
    expect(ended).toMatchObject({ status: 'FAILED', reason: `ended by the sweeper: ${reason}` });
    expect(ended.regions[US].status).toBe('RESTORED');
    expect(ended.regions[EU].status).toBe('PENDING');
    expect(await t.locks.acquire('ledger', 'run:next', at(7200), at(1))).toEqual({ acquired: true });
    expect(t.slack.map((m) => m.text)).toEqual([
      `❌ Job ledger: image v2 was rolled back (ended by the sweeper: ${reason})`,
    ]);

    // A second sweep finds nothing left to do.
    expect(await t.sweep()).toEqual({ checked: 0, recovered: [], errors: [] });
    expect(t.slack).toHaveLength(1);
    expect(t.templates.updates).toHaveLength(2);
  });

  it('leaves a rollout alone while its execution is active and young enough', async () => {
    const t = await verifyingRollout();
    t.advance(600);
    expect(await t.sweep()).toEqual({ checked: 1, recovered: [], errors: [] });
    expect((await t.store.get(t.id))!.status).toBe('RUNNING');
    expect(t.templates.jobs.get(US)!.template).not.toBe(V1);
    expect(t.cancelled).toEqual([]);
    expect(t.slack).toEqual([]);
  });

  it('cancels an overdue execution before ending its rollout', async () => {
    const t = await verifyingRollout();
    const lockWait = (await t.store.get(t.id))!.lockWaitSeconds!;
    // The longest healthy run of ledger (the policy's defaults): 3 × (3600 + 2 × 10 s) + 2 × 600 s backoff
    // + a wait of 3600 + 10 s for the lock.
    expect(lockWait).toBe(15_670);
    t.advance(lockWait + 10 + 3 * (60 + 10 + 180) + 60 + 900 + 1);
    const report = await t.sweep();
    expect(report.recovered.map((r) => r.reason)).toEqual([
      expect.stringMatching(
        /^workflow execution .* is still ACTIVE after \d+m, longer than any healthy job rollout/,
      ),
    ]);
    expect(t.cancelled).toEqual([EXECUTION]);
    expect(t.templates.jobs.get(US)!.template).toBe(V1);
    expect((await t.store.get(t.id))!.status).toBe('FAILED');
  });

  it('two sweeps at once restore once and tell Slack once', async () => {
    const t = await verifyingRollout();
    t.executions.set(EXECUTION, { state: 'FAILED', error: 'killed' });
    const reports = await Promise.all([t.sweep(), t.sweep()]);
    expect(reports.flatMap((r) => r.recovered.map((x) => x.jobRolloutId))).toContain(t.id);
    expect(t.templates.jobs.get(US)!.template).toBe(V1);
    expect(t.templates.updates).toHaveLength(2); // the update, and one restore
    expect(t.slack).toHaveLength(1);
    expect((await t.store.get(t.id))!.regions[US].status).toBe('RESTORED');
    expect(await t.sweep()).toEqual({ checked: 0, recovered: [], errors: [] });
  });

  it('reports a rollout it could not end, and ends it at the next sweep', async () => {
    const t = await verifyingRollout();
    t.executions.set(EXECUTION, { state: 'MISSING' });
    const getJob = t.templates.getJob.bind(t.templates);
    t.templates.getJob = async () => {
      throw new GlidepathError('unavailable', 'Cloud Run is unavailable');
    };
    expect(await t.sweep()).toEqual({
      checked: 1,
      recovered: [],
      errors: [{ jobRolloutId: t.id, error: 'Cloud Run is unavailable' }],
    });
    expect((await t.store.get(t.id))!.status).toBe('RUNNING');
    t.templates.getJob = getJob;
    expect((await t.sweep()).recovered).toHaveLength(1);
    expect(t.templates.jobs.get(US)!.template).toBe(V1);
  });
});
