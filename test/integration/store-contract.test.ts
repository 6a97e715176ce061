/**
 * One contract for every store implementation: the Firestore adapters on
 * Google's Firestore emulator and the in-memory stores the fast use-case tests
 * run on (test/helpers/memory-stores.ts). The same cases run against both, so
 * the fake cannot drift from the real store. Expected values are written out
 * here, never computed by the code under test.
 */
import { Firestore } from '@google-cloud/firestore';
import { describeWithEmulators, testProjectId } from '../helpers/emulators';
import {
  InMemoryDeadLetterStore,
  InMemoryJobLocks,
  InMemoryJobRolloutStore,
  InMemoryJobStore,
  InMemoryRolloutStore,
} from '../helpers/memory-stores';
import { FirestoreRolloutStore } from '../../functions/adapters/firestore-store';
import { FirestoreJobStore } from '../../functions/adapters/job-store';
import { FirestoreDeadLetterStore } from '../../functions/adapters/dead-letter-store';
import { FirestoreJobLocks, FirestoreJobRolloutStore } from '../../functions/adapters/job-rollout-store';
import { firestoreEmulatorOptions } from '../../functions/shared/endpoint';
import type {
  AdmitInput,
  DeadLetterStore,
  JobLocks,
  JobRolloutStore,
  JobStore,
  OnNewImage,
  RolloutStore,
} from '../../functions/ports';
import type { JobRolloutRecord } from '../../functions/domain/job-rollout';
import type { JobRunRecord } from '../../functions/domain/jobs';
import type { DeadLetterRecord } from '../../functions/domain/records';

interface Stores {
  rollouts: RolloutStore;
  jobs: JobStore;
  deadLetters: DeadLetterStore;
  jobRollouts: JobRolloutStore;
  jobLocks: JobLocks;
  /** The rollout's events (types and messages), in any order. */
  events(rolloutId: string): Promise<Array<{ type: string; message: string; region?: string }>>;
  close(): Promise<void>;
}

const T0 = new Date('2026-11-30T08:00:00.000Z');
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);
const digest = (c: string) => 'sha256:' + c.repeat(64);

function admitInput(id: string, d: string, onNewImage: OnNewImage = 'supersede', now = T0): AdmitInput {
  return {
    rollout: {
      id,
      service: 'api',
      project: 'p',
      image: `us-docker.pkg.dev/p/apps/api@${d}`,
      digest: d,
      source: 'gcr',
      plan: { rolloutId: id },
    },
    dedupKey: `key-${d}`,
    onNewImage,
    now,
    dedupTtlSeconds: 3600,
  };
}

function jobRun(id: string, createdAt: Date, job = 'nightly'): JobRunRecord {
  return {
    id,
    job,
    project: 'p',
    region: 'us-central1',
    status: 'PENDING',
    trigger: 'schedule',
    retry: {
      maxAttempts: 3,
      initialBackoffSeconds: 10,
      multiplier: 2,
      maxBackoffSeconds: 60,
      retryOn: ['exit-code'],
    },
    timeoutSeconds: 600,
    message: { topic: 'glidepath-job-triggers', attributes: {} },
    launchClaimedAt: createdAt.toISOString(),
    attempts: [],
    createdAt: createdAt.toISOString(),
    updatedAt: createdAt.toISOString(),
  };
}

function deadLetter(id: string, createdAt: Date): DeadLetterRecord {
  return {
    id,
    kind: 'rejected',
    source: 'gcr',
    reason: 'data: expected JSON',
    attributes: {},
    createdAt: createdAt.toISOString(),
    replayed: false,
  };
}

function jobRollout(id: string, createdAt: Date): JobRolloutRecord {
  return {
    id,
    job: 'ledger',
    project: 'p',
    repository: 'us-docker.pkg.dev/p/jobs/ledger',
    digest: digest('d'),
    image: `us-docker.pkg.dev/p/jobs/ledger@${digest('d')}`,
    tag: 'v2',
    source: 'gcr',
    status: 'PENDING',
    waves: [['us-central1'], ['europe-west1']],
    verify: { args: ['--check'], timeoutSeconds: 60 },
    regions: { 'us-central1': { status: 'PENDING' }, 'europe-west1': { status: 'PENDING' } },
    launchClaimedAt: createdAt.toISOString(),
    createdAt: createdAt.toISOString(),
    updatedAt: createdAt.toISOString(),
  };
}

/** A conflict is transient: Pub/Sub redelivers, the workflow retries. */
const conflict = expect.objectContaining({ name: 'GlidepathError', code: 'conflict', transient: true });

function contract(open: () => Promise<Stores>): void {
  let s: Stores;
  beforeEach(async () => {
    s = await open();
  });
  afterEach(() => s.close());

  describe('RolloutStore', () => {
    it('admits a first image: PENDING, holding the lease and the launch claim', async () => {
      const a = await s.rollouts.admit(admitInput('api-1', digest('a')));
      expect(a).toMatchObject({ kind: 'started', rollout: { id: 'api-1', status: 'PENDING' } });
      expect(await s.rollouts.getService('api')).toMatchObject({
        name: 'api',
        activeRollout: 'api-1',
        activeDigest: digest('a'),
        queue: [],
      });
      expect((await s.rollouts.getRollout('api-1'))?.launchClaimedAt).toBe(T0.toISOString());
      expect(await s.events('api-1')).toEqual([{ type: 'admitted', message: 'admitted from gcr' }]);
    });

    it('answers a redelivered image as a duplicate of the rollout it admitted, writing nothing', async () => {
      await s.rollouts.admit(admitInput('api-1', digest('a')));
      const again = await s.rollouts.admit({ ...admitInput('api-2', digest('a')), now: at(5) });
      expect(again).toMatchObject({
        kind: 'duplicate',
        rollout: { id: 'api-1' },
        reason: 'same image already admitted as rollout api-1 (PENDING)',
      });
      expect(await s.rollouts.getRollout('api-2')).toBeUndefined();
    });

    it('after the dedup entry expires, the running rollout of the same digest still makes it a duplicate', async () => {
      await s.rollouts.admit(admitInput('api-1', digest('a')));
      const later = await s.rollouts.admit({ ...admitInput('api-2', digest('a')), now: at(3601) });
      expect(later).toMatchObject({
        kind: 'duplicate',
        rollout: { id: 'api-1' },
        reason: 'rollout api-1 of this image is already PENDING',
      });
      await s.rollouts.finish('api-1', 'FAILED', 'smoke test failed', at(3602));
      const retry = await s.rollouts.admit({ ...admitInput('api-3', digest('a')), now: at(3603) });
      expect(retry).toMatchObject({ kind: 'started', rollout: { id: 'api-3' } });
    });

    it('supersedes the running rollout with a new image: one active rollout at any time', async () => {
      await s.rollouts.admit(admitInput('api-1', digest('a')));
      const b = await s.rollouts.admit(admitInput('api-2', digest('b'), 'supersede', at(10)));
      expect(b).toMatchObject({
        kind: 'started',
        rollout: { id: 'api-2' },
        superseded: { id: 'api-1', status: 'SUPERSEDED', supersededBy: 'api-2' },
      });
      expect(await s.rollouts.getRollout('api-1')).toMatchObject({
        status: 'SUPERSEDED',
        outcomeReason: 'superseded by api-2',
        endedAt: at(10).toISOString(),
      });
      expect((await s.rollouts.getService('api'))?.activeRollout).toBe('api-2');
      expect(await s.events('api-1')).toContainEqual({
        type: 'superseded',
        message: 'superseded by rollout api-2',
      });
    });

    it('ignores a new image under "ignore", writing nothing', async () => {
      await s.rollouts.admit(admitInput('api-1', digest('a')));
      const b = await s.rollouts.admit(admitInput('api-2', digest('b'), 'ignore', at(10)));
      expect(b).toMatchObject({ kind: 'ignored', active: { id: 'api-1' } });
      expect(await s.rollouts.getRollout('api-2')).toBeUndefined();
      expect((await s.rollouts.getService('api'))?.activeRollout).toBe('api-1');
    });

    it('queues a new image under "queue" and hands it the lease when the running one finishes', async () => {
      await s.rollouts.admit(admitInput('api-1', digest('a')));
      const b = await s.rollouts.admit(admitInput('api-2', digest('b'), 'queue', at(10)));
      expect(b).toEqual(expect.objectContaining({ kind: 'queued', behind: 'api-1' }));
      expect(await s.rollouts.getService('api')).toMatchObject({ activeRollout: 'api-1', queue: ['api-2'] });
      // A queued rollout may not act and may not be launched.
      expect(await s.rollouts.authorize('api-2')).toEqual({ stop: 'rollout api-2 is PENDING' });
      expect(await s.rollouts.claimLaunch('api-2', at(100))).toBe(false);

      const { rollout, next } = await s.rollouts.finish('api-1', 'FAILED', 'smoke test failed', at(20));
      expect(rollout).toMatchObject({ status: 'FAILED', outcomeReason: 'smoke test failed' });
      expect(next?.id).toBe('api-2');
      expect(next?.queuedBehind).toBeUndefined();
      expect((await s.rollouts.getRollout('api-2'))?.queuedBehind).toBeUndefined();
      expect(await s.rollouts.getService('api')).toMatchObject({
        activeRollout: 'api-2',
        activeDigest: digest('b'),
        queue: [],
        lastFailedDigest: digest('a'),
      });
    });

    it('ends a rollout once: a second finish keeps the first status and passes nothing on', async () => {
      await s.rollouts.admit(admitInput('api-1', digest('a')));
      await s.rollouts.finish('api-1', 'PROMOTED', 'all regions promoted', at(10));
      const again = await s.rollouts.finish('api-1', 'FAILED', 'recovered by the sweeper', at(20));
      expect(again.rollout).toMatchObject({ status: 'PROMOTED', outcomeReason: 'all regions promoted' });
      expect(again.next).toBeUndefined();
      expect(await s.rollouts.getService('api')).toMatchObject({
        activeRollout: null,
        lastFailedDigest: null,
      });
      expect((await s.events('api-1')).filter((e) => e.type === 'finished')).toEqual([
        { type: 'finished', message: 'PROMOTED: all regions promoted' },
      ]);
    });

    it("claims a stopped rollout's end notice once", async () => {
      await s.rollouts.admit(admitInput('api-1', digest('a')));
      await s.rollouts.finish('api-1', 'ABORTED', 'aborted by ops', at(10));
      expect(await s.rollouts.claimEndNotice('api-1', at(11))).toBe(true);
      expect(await s.rollouts.claimEndNotice('api-1', at(12))).toBe(false);
      expect(await s.rollouts.getRollout('api-1')).toMatchObject({ endNoticeAt: at(11).toISOString() });
      await expect(s.rollouts.claimEndNotice('nope', at(13))).rejects.toThrow('rollout nope not found');
    });

    it('lets one delivery launch: a fresh claim is a conflict, a stale or released one is taken over', async () => {
      await s.rollouts.admit(admitInput('api-1', digest('a')));
      await expect(s.rollouts.claimLaunch('api-1', at(29))).rejects.toEqual(conflict);
      expect(await s.rollouts.claimLaunch('api-1', at(30))).toBe(true);
      await s.rollouts.releaseLaunch('api-1');
      expect(await s.rollouts.claimLaunch('api-1', at(31))).toBe(true);
      await s.rollouts.recordExecution(
        'api-1',
        'projects/p/locations/l/workflows/rollout/executions/e1',
        at(32),
      );
      expect((await s.rollouts.getRollout('api-1'))?.status).toBe('RUNNING');
      expect(await s.rollouts.claimLaunch('api-1', at(120))).toBe(false);
      expect(await s.rollouts.claimLaunch('missing', at(120))).toBe(false);
    });

    it('authorizes only the rollout holding the lease, driven by its own execution', async () => {
      await s.rollouts.admit(admitInput('api-1', digest('a')));
      expect(await s.rollouts.authorize('api-1', 'e1')).toMatchObject({ rollout: { id: 'api-1' } });
      await s.rollouts.recordExecution(
        'api-1',
        'projects/p/locations/l/workflows/rollout/executions/e1',
        at(1),
      );
      expect(await s.rollouts.authorize('api-1', 'e1')).toMatchObject({
        service: { activeRollout: 'api-1' },
      });
      expect(await s.rollouts.authorize('api-1', 'e2')).toEqual({
        stop: 'rollout api-1 is driven by projects/p/locations/l/workflows/rollout/executions/e1, not execution e2',
      });
      await s.rollouts.admit(admitInput('api-2', digest('b'), 'supersede', at(2)));
      expect(await s.rollouts.authorize('api-1', 'e1')).toEqual({ stop: 'rollout api-1 is SUPERSEDED' });
      expect(await s.rollouts.authorize('nope')).toEqual({ stop: 'rollout nope not found' });
    });

    it('replaces a region’s traffic map whole and keeps the rest of the region', async () => {
      await s.rollouts.admit(admitInput('api-1', digest('a')));
      await s.rollouts.updateRegion('api-1', 'us-central1', at(1), {
        status: 'SHIFTING',
        stableRevision: 'api-old',
        candidateRevision: 'api-new',
        traffic: { 'api-old': 90, 'api-new': 10 },
      });
      const region = await s.rollouts.updateRegion(
        'api-1',
        'us-central1',
        at(2),
        { status: 'ROLLED_BACK', traffic: { 'api-old': 100 } },
        { type: 'rolled_back', message: '5xx too high' },
      );
      expect(region).toMatchObject({
        status: 'ROLLED_BACK',
        stableRevision: 'api-old',
        candidateRevision: 'api-new',
        traffic: { 'api-old': 100 },
      });
      const stored = await s.rollouts.getRollout('api-1');
      expect(stored?.regions['us-central1'].traffic).toEqual({ 'api-old': 100 });
      expect(stored?.updatedAt).toBe(at(2).toISOString());
      expect(await s.events('api-1')).toContainEqual({
        type: 'rolled_back',
        message: '5xx too high',
        region: 'us-central1',
      });
      await expect(s.rollouts.updateRegion('nope', 'us-central1', at(3), {})).rejects.toMatchObject({
        code: 'not_found',
      });
    });

    it('gives a region’s candidate slot only to the lease holder, and hands it over only from `replacing`', async () => {
      await s.rollouts.admit(admitInput('api-1', digest('a')));
      await s.rollouts.claimRegion('api', 'us-central1', 'api-1', at(1));
      await s.rollouts.claimRegion('api', 'us-central1', 'api-1', at(2)); // a retry: harmless
      await s.rollouts.admit(admitInput('api-2', digest('b'), 'supersede', at(3)));
      await expect(s.rollouts.claimRegion('api', 'us-central1', 'api-1', at(4))).resolves.toBeUndefined();
      await expect(s.rollouts.claimRegion('api', 'europe-west1', 'api-1', at(4))).rejects.toEqual(
        expect.objectContaining({
          code: 'conflict',
          message: 'rollout api-1 does not hold the lease of api',
        }),
      );
      await expect(s.rollouts.claimRegion('api', 'us-central1', 'api-2', at(5))).rejects.toEqual(
        expect.objectContaining({
          code: 'conflict',
          message:
            'the us-central1 candidate slot of api is held by api-1, whose candidate is not taken down yet',
        }),
      );
      await s.rollouts.claimRegion('api', 'us-central1', 'api-2', at(6), 'api-1');
      expect((await s.rollouts.getService('api'))?.candidates).toEqual({ 'us-central1': 'api-2' });

      await s.rollouts.releaseRegion('api', 'us-central1', 'api-1', at(7)); // not the holder: no change
      expect((await s.rollouts.getService('api'))?.candidates).toEqual({ 'us-central1': 'api-2' });
      await s.rollouts.releaseRegion('api', 'us-central1', 'api-2', at(8), 'api-00002-new');
      expect(await s.rollouts.getService('api')).toMatchObject({
        candidates: {},
        lastGood: { 'us-central1': 'api-00002-new' },
      });
    });

    it('lists every service it has seen', async () => {
      await s.rollouts.admit(admitInput('api-1', digest('a')));
      await s.rollouts.admit({
        ...admitInput('web-1', digest('c')),
        rollout: { ...admitInput('web-1', digest('c')).rollout, service: 'web' },
      });
      expect((await s.rollouts.listServices()).map((x) => x.name).sort()).toEqual(['api', 'web']);
    });

    it('hands out copies: changing a returned record changes nothing stored', async () => {
      const a = await s.rollouts.admit(admitInput('api-1', digest('a')));
      if (a.kind !== 'started') throw new Error(`expected started, got ${a.kind}`);
      a.rollout.status = 'PROMOTED';
      const read = await s.rollouts.getRollout('api-1');
      read!.regions['us-central1'] = { status: 'PROMOTED', traffic: {}, steps: [] };
      expect(await s.rollouts.getRollout('api-1')).toMatchObject({ status: 'PENDING', regions: {} });
    });
  });

  describe('JobStore', () => {
    it('creates a run once; a duplicate delivery gets the stored run', async () => {
      expect(await s.jobs.createRun(jobRun('nightly-1', T0))).toMatchObject({ kind: 'created' });
      const again = await s.jobs.createRun({ ...jobRun('nightly-1', at(5)), trigger: 'manual' });
      expect(again).toMatchObject({
        kind: 'duplicate',
        run: { trigger: 'schedule', createdAt: T0.toISOString() },
      });
    });

    it('lets one delivery launch a run; the execution makes it RUNNING and ends the claims', async () => {
      await s.jobs.createRun(jobRun('nightly-1', T0));
      await expect(s.jobs.claimLaunch('nightly-1', at(29))).rejects.toEqual(conflict);
      await s.jobs.releaseLaunch('nightly-1');
      expect(await s.jobs.claimLaunch('nightly-1', at(29))).toBe(true);
      await s.jobs.recordExecution('nightly-1', 'executions/e1', at(30));
      expect(await s.jobs.getRun('nightly-1')).toMatchObject({
        status: 'RUNNING',
        executionName: 'executions/e1',
      });
      expect(await s.jobs.claimLaunch('nightly-1', at(200))).toBe(false);
      await expect(s.jobs.claimLaunch('missing', at(200))).rejects.toMatchObject({ code: 'not_found' });
    });

    it('claims attempts in order, once each, until the run has finished', async () => {
      await s.jobs.createRun(jobRun('nightly-1', T0));
      await expect(s.jobs.claimAttempt('nightly-1', 2, at(1))).rejects.toEqual(
        expect.objectContaining({
          code: 'invalid',
          message: 'attempt: expected 1 (the next attempt of nightly-1), got 2',
        }),
      );
      expect(await s.jobs.claimAttempt('nightly-1', 1, at(1))).toMatchObject({ kind: 'start' });
      await expect(s.jobs.claimAttempt('nightly-1', 1, at(2))).rejects.toEqual(conflict);
      await s.jobs.releaseAttempt('nightly-1', 1, at(3));
      expect((await s.jobs.getRun('nightly-1'))?.attempts).toEqual([]);
      expect(await s.jobs.claimAttempt('nightly-1', 1, at(4))).toMatchObject({ kind: 'start' });
      await s.jobs.updateAttempt(
        'nightly-1',
        1,
        { result: 'RUNNING', executionName: 'jobs/x/executions/a1' },
        at(5),
      );
      expect(await s.jobs.claimAttempt('nightly-1', 1, at(6))).toMatchObject({
        kind: 'started',
        attempt: { number: 1, result: 'RUNNING', executionName: 'jobs/x/executions/a1' },
      });
      await s.jobs.updateAttempt('nightly-1', 1, { result: 'FAILED', error: 'exit 1' }, at(7));
      // A final result is kept: a retried update cannot turn a failure into a success.
      const kept = await s.jobs.updateAttempt('nightly-1', 1, { result: 'SUCCEEDED' }, at(8));
      expect(kept).toMatchObject({ result: 'FAILED', error: 'exit 1' });
      await s.jobs.finishRun('nightly-1', 'FAILED', at(9));
      expect(await s.jobs.claimAttempt('nightly-1', 2, at(10))).toMatchObject({ kind: 'finished' });
      await expect(s.jobs.updateAttempt('nightly-1', 5, {}, at(11))).rejects.toMatchObject({
        code: 'not_found',
      });
    });

    it('finishes a run once, and claims its final Slack message once', async () => {
      await s.jobs.createRun(jobRun('nightly-1', T0));
      const ended = await s.jobs.finishRun('nightly-1', 'FAILED', at(10), 'execution vanished');
      expect(ended).toMatchObject({
        status: 'FAILED',
        finishedAt: at(10).toISOString(),
        endReason: 'execution vanished',
      });
      const again = await s.jobs.finishRun('nightly-1', 'SUCCEEDED', at(20));
      expect(again).toMatchObject({ status: 'FAILED', finishedAt: at(10).toISOString() });
      expect(await s.jobs.claimNotification('nightly-1', at(21))).toBe(true);
      expect(await s.jobs.claimNotification('nightly-1', at(22))).toBe(false);
      await s.jobs.updateRun('nightly-1', { deadLetterId: 'dl-1' }, at(23));
      expect(await s.jobs.getRun('nightly-1')).toMatchObject({ deadLetterId: 'dl-1', status: 'FAILED' });
    });

    it('lists a job’s runs newest first, and unfinished runs oldest first', async () => {
      await s.jobs.createRun(jobRun('nightly-1', at(0)));
      await s.jobs.createRun(jobRun('nightly-3', at(20)));
      await s.jobs.createRun(jobRun('nightly-2', at(10)));
      await s.jobs.createRun(jobRun('other-1', at(5), 'other'));
      expect((await s.jobs.listRuns('nightly', 2)).map((r) => r.id)).toEqual(['nightly-3', 'nightly-2']);
      await s.jobs.finishRun('nightly-2', 'SUCCEEDED', at(30));
      expect((await s.jobs.listUnfinishedRuns(10)).map((r) => r.id)).toEqual([
        'nightly-1',
        'other-1',
        'nightly-3',
      ]);
    });
  });

  describe('JobRolloutStore', () => {
    it('creates a rollout once; a second delivery gets the stored one', async () => {
      expect(await s.jobRollouts.create(jobRollout('ledger-1', T0))).toMatchObject({
        kind: 'created',
        rollout: { id: 'ledger-1', status: 'PENDING' },
      });
      const again = await s.jobRollouts.create({ ...jobRollout('ledger-1', at(5)), tag: 'other' });
      expect(again).toMatchObject({ kind: 'duplicate', rollout: { tag: 'v2', createdAt: T0.toISOString() } });
      expect(await s.jobRollouts.get('nope')).toBeUndefined();
    });

    it('lets one delivery launch; the execution makes it RUNNING', async () => {
      await s.jobRollouts.create(jobRollout('ledger-1', T0));
      await expect(s.jobRollouts.claimLaunch('ledger-1', at(1))).rejects.toEqual(conflict);
      expect(await s.jobRollouts.claimLaunch('ledger-1', at(31))).toBe(true);
      await s.jobRollouts.releaseLaunch('ledger-1');
      expect(await s.jobRollouts.claimLaunch('ledger-1', at(32))).toBe(true);
      await s.jobRollouts.recordExecution('ledger-1', 'workflows/job-rollout/executions/e1', at(33));
      expect(await s.jobRollouts.get('ledger-1')).toMatchObject({
        status: 'RUNNING',
        executionName: 'workflows/job-rollout/executions/e1',
        updatedAt: at(33).toISOString(),
      });
      expect(await s.jobRollouts.claimLaunch('ledger-1', at(100))).toBe(false);
    });

    it('merges a region’s patch, keeps the other regions, and refuses an unknown region', async () => {
      await s.jobRollouts.create(jobRollout('ledger-1', T0));
      await s.jobRollouts.updateRegion('ledger-1', 'us-central1', { previousTemplate: '{"a":1}' }, at(1));
      const r = await s.jobRollouts.updateRegion('ledger-1', 'us-central1', { status: 'UPDATED' }, at(2));
      const expected = { status: 'UPDATED', previousTemplate: '{"a":1}', updatedAt: at(2).toISOString() };
      expect(r.regions['us-central1']).toEqual(expected);
      expect((await s.jobRollouts.get('ledger-1'))?.regions).toEqual({
        'us-central1': expected,
        'europe-west1': { status: 'PENDING' },
      });
      await expect(
        s.jobRollouts.updateRegion('ledger-1', 'mars-north1', { status: 'FAILED' }, at(3)),
      ).rejects.toMatchObject({
        code: 'invalid',
        message: 'region: expected one of us-central1, europe-west1 (job rollout ledger-1), got mars-north1',
      });
    });

    it('gives the start of a region’s verification to one call: a fresh claim is a conflict, a stale or released one is taken over', async () => {
      await s.jobRollouts.create(jobRollout('ledger-1', T0));
      // Not UPDATED yet: nothing to start.
      expect(await s.jobRollouts.claimVerify('ledger-1', 'us-central1', at(1))).toMatchObject({
        kind: 'taken',
      });
      await s.jobRollouts.updateRegion('ledger-1', 'us-central1', { status: 'UPDATED' }, at(1));
      expect(await s.jobRollouts.claimVerify('ledger-1', 'us-central1', at(2))).toMatchObject({
        kind: 'start',
        rollout: { regions: { 'us-central1': { verifyClaimedAt: at(2).toISOString() } } },
      });
      await expect(s.jobRollouts.claimVerify('ledger-1', 'us-central1', at(3))).rejects.toEqual(conflict);
      expect(await s.jobRollouts.claimVerify('ledger-1', 'us-central1', at(32))).toMatchObject({
        kind: 'start',
      });
      await s.jobRollouts.releaseVerify('ledger-1', 'us-central1', at(33));
      expect((await s.jobRollouts.get('ledger-1'))?.regions['us-central1'].verifyClaimedAt).toBeNull();
      expect(await s.jobRollouts.claimVerify('ledger-1', 'us-central1', at(34))).toMatchObject({
        kind: 'start',
      });
      await s.jobRollouts.updateRegion('ledger-1', 'us-central1', { verifyExecution: 'ex-1' }, at(35));
      expect(await s.jobRollouts.claimVerify('ledger-1', 'us-central1', at(36))).toMatchObject({
        kind: 'taken',
        rollout: { regions: { 'us-central1': { verifyExecution: 'ex-1' } } },
      });
    });

    it('ends a rollout once, and lists a job’s rollouts newest first', async () => {
      await s.jobRollouts.create(jobRollout('ledger-1', T0));
      await s.jobRollouts.create({ ...jobRollout('ledger-2', at(10)), digest: digest('e') });
      await s.jobRollouts.create({ ...jobRollout('other-1', at(20)), job: 'other' });
      const ended = await s.jobRollouts.finish(
        'ledger-1',
        'FAILED',
        'us-central1: verification failed',
        at(40),
      );
      expect(ended).toMatchObject({
        changed: true,
        rollout: {
          status: 'FAILED',
          reason: 'us-central1: verification failed',
          finishedAt: at(40).toISOString(),
        },
      });
      const again = await s.jobRollouts.finish('ledger-1', 'SUCCEEDED', undefined, at(41));
      expect(again).toMatchObject({ changed: false, rollout: { status: 'FAILED' } });
      expect((await s.jobRollouts.get('ledger-1'))?.status).toBe('FAILED');
      expect((await s.jobRollouts.listForJob('ledger', 10)).map((r) => r.id)).toEqual([
        'ledger-2',
        'ledger-1',
      ]);
      expect((await s.jobRollouts.listForJob('ledger', 1)).map((r) => r.id)).toEqual(['ledger-2']);
    });

    it('lists unfinished rollouts of every job, oldest first', async () => {
      await s.jobRollouts.create({ ...jobRollout('ledger-2', at(10)), digest: digest('e') });
      await s.jobRollouts.create(jobRollout('ledger-1', T0));
      await s.jobRollouts.create({ ...jobRollout('other-1', at(5)), job: 'other' });
      await s.jobRollouts.create({ ...jobRollout('ledger-3', at(20)), digest: digest('f') });
      await s.jobRollouts.recordExecution('ledger-2', 'workflows/job-rollout/executions/e2', at(21));
      await s.jobRollouts.finish('ledger-3', 'SUCCEEDED', undefined, at(30));
      expect((await s.jobRollouts.listUnfinished(10)).map((r) => [r.id, r.status])).toEqual([
        ['ledger-1', 'PENDING'],
        ['other-1', 'PENDING'],
        ['ledger-2', 'RUNNING'],
      ]);
      await s.jobRollouts.finish('other-1', 'FAILED', 'gone', at(31));
      expect((await s.jobRollouts.listUnfinished(10)).map((r) => r.id)).toEqual(['ledger-1', 'ledger-2']);
    });
  });

  describe('JobLocks', () => {
    it('holds a job for one holder until it is released or expires; the holder renews it', async () => {
      expect(await s.jobLocks.acquire('ledger', 'run:r1', at(60), T0)).toEqual({ acquired: true });
      expect(await s.jobLocks.acquire('ledger', 'rollout:x', at(120), at(1))).toEqual({ heldBy: 'run:r1' });
      expect(await s.jobLocks.acquire('other', 'rollout:x', at(120), at(1))).toEqual({ acquired: true });
      expect(await s.jobLocks.acquire('ledger', 'run:r1', at(180), at(50))).toEqual({ acquired: true });
      // Renewed: still held past the first `until`.
      expect(await s.jobLocks.acquire('ledger', 'rollout:x', at(240), at(90))).toEqual({ heldBy: 'run:r1' });
      await s.jobLocks.release('ledger', 'rollout:x'); // not the holder: nothing happens
      expect(await s.jobLocks.acquire('ledger', 'rollout:x', at(240), at(91))).toEqual({ heldBy: 'run:r1' });
      await s.jobLocks.release('ledger', 'run:r1');
      expect(await s.jobLocks.acquire('ledger', 'rollout:x', at(240), at(92))).toEqual({ acquired: true });
      // Expired: a dead holder cannot keep the job.
      expect(await s.jobLocks.acquire('ledger', 'run:r2', at(400), at(241))).toEqual({ acquired: true });
    });
  });

  describe('DeadLetterStore', () => {
    it('writes a dead letter once and lists those not replayed, newest first', async () => {
      expect(await s.deadLetters.createDeadLetter(deadLetter('dl-1', at(0)))).toBe(true);
      expect(await s.deadLetters.createDeadLetter({ ...deadLetter('dl-1', at(9)), reason: 'other' })).toBe(
        false,
      );
      expect((await s.deadLetters.getDeadLetter('dl-1'))?.reason).toBe('data: expected JSON');
      await s.deadLetters.createDeadLetter(deadLetter('dl-2', at(1)));
      await s.deadLetters.createDeadLetter(deadLetter('dl-3', at(2)));
      await s.deadLetters.claimReplay('dl-3', 'alice', at(3));
      const open = await s.deadLetters.listDeadLetters({ all: false, limit: 10 });
      expect(open.map((d) => d.id)).toEqual(['dl-2', 'dl-1']);
      const all = await s.deadLetters.listDeadLetters({ all: true, limit: 2 });
      expect(all.map((d) => d.id)).toEqual(['dl-3', 'dl-2']);
    });

    it('replays a dead letter at most once; a failed publish gives the claim back', async () => {
      await s.deadLetters.createDeadLetter(deadLetter('dl-1', at(0)));
      expect(await s.deadLetters.claimReplay('dl-1', 'alice', at(1))).toMatchObject({
        kind: 'claimed',
        record: { replayed: true, replayedBy: 'alice', replayedAt: at(1).toISOString() },
      });
      expect(await s.deadLetters.claimReplay('dl-1', 'bob', at(2))).toEqual({
        kind: 'refused',
        reason: `dead letter dl-1 was already replayed by alice at ${at(1).toISOString()} (publish in progress or failed); a dead letter is replayed at most once`,
      });
      await s.deadLetters.releaseReplay('dl-1');
      const back = await s.deadLetters.getDeadLetter('dl-1');
      expect(back?.replayed).toBe(false);
      expect(back).not.toHaveProperty('replayedBy');
      expect(await s.deadLetters.claimReplay('dl-1', 'bob', at(3))).toMatchObject({ kind: 'claimed' });
      await s.deadLetters.recordReplay('dl-1', 'm-42');
      await s.deadLetters.releaseReplay('dl-1'); // published: nothing to give back
      expect(await s.deadLetters.claimReplay('dl-1', 'carol', at(4))).toEqual({
        kind: 'refused',
        reason: `dead letter dl-1 was already replayed by bob at ${at(3).toISOString()} as message m-42; a dead letter is replayed at most once`,
      });
      await expect(s.deadLetters.claimReplay('nope', 'alice', at(5))).rejects.toMatchObject({
        code: 'not_found',
      });
    });
  });
}

describe('store contract, in memory', () => {
  contract(async () => {
    const rollouts = new InMemoryRolloutStore();
    return {
      rollouts,
      jobs: new InMemoryJobStore(),
      deadLetters: new InMemoryDeadLetterStore(),
      jobRollouts: new InMemoryJobRolloutStore(),
      jobLocks: new InMemoryJobLocks(),
      events: async (id) =>
        rollouts
          .events(id)
          .map(({ type, message, region }) => ({ type, message, ...(region ? { region } : {}) })),
      close: async () => undefined,
    };
  });
});

describeWithEmulators('store contract, in Firestore', () => {
  let n = 0;
  contract(async () => {
    // A project of each case's own: listings see only that case's documents.
    const db = new Firestore({
      projectId: testProjectId(__filename, String(n++)),
      ignoreUndefinedProperties: true,
      ...firestoreEmulatorOptions(),
    });
    return {
      rollouts: new FirestoreRolloutStore(db),
      jobs: new FirestoreJobStore(db),
      deadLetters: new FirestoreDeadLetterStore(db),
      jobRollouts: new FirestoreJobRolloutStore(db),
      jobLocks: new FirestoreJobLocks(db),
      events: async (id) =>
        (await db.collection(`rollouts/${id}/events`).get()).docs.map((d) => {
          const { type, message, region } = d.data() as { type: string; message: string; region?: string };
          return { type, message, ...(region ? { region } : {}) };
        }),
      close: () => db.terminate(),
    };
  });
});
