/**
 * The job image rollout's verification start (functions/usecases/job-rollout.ts,
 * `verifyJobRegion`), fast: the in-memory job rollout store (held to
 * Firestore's by the contract suite) and an in-memory Cloud Run Jobs. One
 * verification execution per region, however the workflow's calls overlap.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parsePolicyYaml } from '../../../functions/domain/policy';
import { VERIFY_MARKER, newJobRollout } from '../../../functions/domain/job-rollout';
import { GlidepathError } from '../../../functions/shared/errors';
import { createLogger } from '../../../functions/shared/log';
import type { SlackMessage } from '../../../functions/ports';
import { verifyJobRegion, type JobRolloutDeps } from '../../../functions/usecases/job-rollout';
import { InMemoryJobLocks, InMemoryJobRolloutStore } from '../../helpers/memory-stores';
import { FakeJobs } from '../../helpers/fake-jobs';

const policy = parsePolicyYaml(readFileSync(join(__dirname, '../../fixtures/e2e/jobs.policy.yaml'), 'utf8'));
const US = 'us-central1';
const REPOSITORY = 'us-docker.pkg.dev/e2e-jobs/jobs/ledger';
const DIGEST = `sha256:${'c'.repeat(64)}`;

async function setup() {
  let now = new Date('2026-11-30T10:00:00Z').getTime();
  const store = new InMemoryJobRolloutStore();
  const jobs = new FakeJobs();
  const slack: SlackMessage[] = [];
  const deps: JobRolloutDeps = {
    store,
    locks: new InMemoryJobLocks(),
    templates: {
      getJob: async () => Promise.reject(new Error('not used by the verification')),
      updateTemplate: async () => Promise.reject(new Error('not used by the verification')),
    },
    jobs,
    notifier: { notify: async (m: SlackMessage) => (slack.push(m), true) },
    clock: { now: () => new Date(now) },
    log: createLogger({}, () => undefined),
  };
  const record = newJobRollout(
    policy.jobs[0],
    { repository: REPOSITORY, digest: DIGEST, tag: 'v2', source: 'gcr' },
    new Date(now),
  );
  await store.create(record);
  // The region's image was updated: its verification is next.
  await store.updateRegion(record.id, US, { status: 'UPDATED', previousTemplate: '{}' }, new Date(now));
  return {
    deps,
    store,
    jobs,
    id: record.id,
    verify: () => verifyJobRegion(deps, record.id, US, false),
    advance: (ms: number) => (now += ms),
  };
}

describe('the verification of a region starts once', () => {
  it('two calls at the same moment: one starts the execution, the other is told to retry (503), and its retry reads the same execution', async () => {
    const t = await setup();
    const held = t.jobs.holdNextRun();
    const first = t.verify();
    await held.entered; // the first call is inside run(): Cloud Run is creating its execution
    const second = t.verify();
    await expect(second).rejects.toMatchObject({ code: 'conflict', transient: true });
    held.release();
    await expect(first).resolves.toMatchObject({ region: US, status: 'UPDATED', done: false });

    expect([...t.jobs.executions.keys()]).toEqual([
      'projects/e2e-jobs/locations/us-central1/jobs/ledger/executions/x1',
    ]);
    const retried = await t.verify();
    expect(retried).toMatchObject({ status: 'UPDATED', done: false });
    expect(t.jobs.executions.size).toBe(1);
    expect((await t.store.get(t.id))!.regions[US].verifyExecution).toBe(
      'projects/e2e-jobs/locations/us-central1/jobs/ledger/executions/x1',
    );
  });

  it('many calls at once start one execution', async () => {
    const t = await setup();
    const results = await Promise.allSettled(Array.from({ length: 5 }, () => t.verify()));
    expect(t.jobs.executions.size).toBe(1);
    // The calls that lost the claim were told to retry (a conflict); none failed the region.
    const outcomes = results.map((r) =>
      r.status === 'fulfilled' ? 'answered' : (r.reason as GlidepathError).code,
    );
    expect(outcomes).toContain('answered');
    expect(outcomes.filter((o) => o !== 'answered' && o !== 'conflict')).toEqual([]);
    expect((await t.store.get(t.id))!.regions[US]).toMatchObject({
      status: 'UPDATED',
      verifyExecution: 'projects/e2e-jobs/locations/us-central1/jobs/ledger/executions/x1',
    });
  });

  it('a call that finds the claim taken by a call that died after Cloud Run started the execution records that execution', async () => {
    const t = await setup();
    // The dead call: claimed, and Cloud Run started its execution (marker in the env); nothing recorded.
    await t.store.claimVerify(t.id, US, t.deps.clock.now());
    const started = await t.jobs.run(
      { project: 'e2e-jobs', region: US, job: 'ledger' },
      { env: { [VERIFY_MARKER]: `${t.id}/${US}` } },
    );
    await t.verify();
    expect(t.jobs.executions.size).toBe(1);
    expect((await t.store.get(t.id))!.regions[US].verifyExecution).toBe(started);
  });

  it('a claim whose call died before starting anything is taken over once it is 30 s old', async () => {
    const t = await setup();
    await t.store.claimVerify(t.id, US, t.deps.clock.now());
    await expect(t.verify()).rejects.toMatchObject({ code: 'conflict' });
    expect(t.jobs.executions.size).toBe(0);
    t.advance(30_000);
    await t.verify();
    expect(t.jobs.executions.size).toBe(1);
  });

  it('a transient failure to start releases the claim, so the workflow’s retry starts it at once', async () => {
    const t = await setup();
    t.jobs.failNextRun = new GlidepathError('unavailable', 'Cloud Run is unavailable');
    await expect(t.verify()).rejects.toMatchObject({ code: 'unavailable' });
    await t.verify();
    expect(t.jobs.executions.size).toBe(1);
    expect((await t.store.get(t.id))!.regions[US].verifyExecution).toBeDefined();
  });
});
