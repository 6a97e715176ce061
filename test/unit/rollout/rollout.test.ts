/**
 * The rollout use case's traffic decisions (functions/usecases/rollout.ts),
 * fast: the in-memory store (held to the Firestore store by the contract
 * suite) and a small Cloud Run (test/helpers/fast-rollout.ts). Every
 * expected traffic list is written out here.
 */
import {
  abort,
  analyze,
  complete,
  deploy,
  promote,
  rollbackRegion,
  RolloutStopped,
  shift,
  smoke,
} from '../../../functions/usecases/rollout';
import { GlidepathError } from '../../../functions/shared/errors';
import {
  admitQueued,
  admitRunning,
  DIGEST,
  EXECUTION,
  PROJECT,
  REGION,
  serveStable,
  STABLE,
  world,
  ID,
  CANDIDATE,
  lastWrite,
  type World,
} from '../../helpers/fast-rollout';

const TAG = 'gp-cccccccccccc';
const TAG_URL = `https://${TAG}---api-abc-uc.a.run.app`;
const OTHER = 'api-dddddddddddd-2';
const OTHER_DIGEST = 'sha256:' + 'd'.repeat(64);

const region = async (w: World, id = ID) => (await w.store.getRollout(id))!.regions[REGION];

async function started(): Promise<World> {
  const w = world();
  serveStable(w);
  await admitRunning(w, ID);
  return w;
}

/** A rollout deployed, smoke-tested and shifted to its first step (10%). */
async function atFirstStep(): Promise<World> {
  const w = await started();
  await deploy(w.deps, ID, REGION, 'e1');
  await smoke(w.deps, ID, REGION, 'e1');
  await shift(w.deps, ID, REGION, 0, 'e1');
  return w;
}

describe('deploy', () => {
  it('records the serving split before anything moves, then adds the candidate at 0% under its tag', async () => {
    const w = await started();
    const out = await deploy(w.deps, ID, REGION, 'e1');
    expect(out).toEqual({ outcome: 'deployed', candidate: CANDIDATE, stable: STABLE, tagUrl: TAG_URL });
    // LATEST is pinned to the revision it meant: a new revision must not take the traffic.
    expect(w.run.writes).toEqual([
      {
        region: REGION,
        traffic: [
          { type: 'REVISION', revision: STABLE, percent: 100 },
          { type: 'REVISION', revision: CANDIDATE, percent: 0, tag: TAG },
        ],
      },
    ]);
    expect(await region(w)).toMatchObject({
      status: 'SMOKE',
      stableRevision: STABLE,
      recordedSplit: [{ revision: STABLE, percent: 100 }],
      candidateRevision: CANDIDATE,
      tagUrl: TAG_URL,
      traffic: { [STABLE]: 100 },
    });
    expect((await w.store.getService('api'))?.candidates).toEqual({ [REGION]: ID });
  });

  it('does not deploy twice when the workflow retries it', async () => {
    const w = await started();
    await deploy(w.deps, ID, REGION, 'e1');
    const again = await deploy(w.deps, ID, REGION, 'e1');
    expect(again).toEqual({ outcome: 'deployed', candidate: CANDIDATE, stable: STABLE, tagUrl: TAG_URL });
    expect(w.run.writes).toHaveLength(1);
  });

  it('fails the region, naming it, when the service does not exist there', async () => {
    const w = await started();
    const out = await deploy(w.deps, ID, 'europe-west1', 'e1');
    expect(out).toEqual({
      outcome: 'failed',
      reason: 'service api not found in europe-west1; create it first',
    });
    expect((await w.store.getRollout(ID))!.regions['europe-west1']).toMatchObject({ status: 'FAILED' });
    expect(w.run.writes).toEqual([]);
  });

  it('fails the region when the revision cannot start, and leaves a transient error to the workflow’s retry', async () => {
    const w = await started();
    w.run.failNextDeploy = new GlidepathError('failed', 'the user-provided container failed to start');
    expect(await deploy(w.deps, ID, REGION, 'e1')).toEqual({
      outcome: 'failed',
      reason: `revision ${CANDIDATE} did not become ready: the user-provided container failed to start`,
    });
    expect((await region(w)).status).toBe('FAILED');

    const v = await started();
    v.run.failNextDeploy = new GlidepathError('unavailable', 'Cloud Run is unavailable');
    await expect(deploy(v.deps, ID, REGION, 'e1')).rejects.toThrow('Cloud Run is unavailable');
    expect((await region(v)).status).toBe('DEPLOYING');
  });

  it('takes a superseded rollout’s candidate down to its recorded split before deploying the new one', async () => {
    const w = await atFirstStep();
    expect(lastWrite(w)).toContainEqual({ type: 'REVISION', revision: CANDIDATE, percent: 10, tag: TAG });
    await admitRunning(w, OTHER, { digest: OTHER_DIGEST, revisionTag: 'gp-dddddddddddd' }, `${EXECUTION}2`);
    await deploy(w.deps, OTHER, REGION, 'e12');
    expect(w.run.writes.slice(-2).map((x) => x.traffic)).toEqual([
      [{ type: 'REVISION', revision: STABLE, percent: 100 }],
      [
        { type: 'REVISION', revision: STABLE, percent: 100 },
        { type: 'REVISION', revision: 'api-dddddddddddd-2', percent: 0, tag: 'gp-dddddddddddd' },
      ],
    ]);
    expect(await region(w, ID)).toMatchObject({ status: 'ROLLED_BACK', reason: `superseded by ${OTHER}` });
    expect(await region(w, OTHER)).toMatchObject({ stableRevision: STABLE, status: 'SMOKE' });
    expect((await w.store.getService('api'))?.candidates).toEqual({ [REGION]: OTHER });
  });

  it('refuses a corrupt stored plan with the field named, before touching Cloud Run', async () => {
    const w = await started();
    const rollout = (await w.store.getRollout(ID))!;
    w.store.put({ ...rollout, plan: { ...rollout.plan, steps: [{ percent: 'ten', bakeSeconds: 300 }] } });
    await expect(deploy(w.deps, ID, REGION, 'e1')).rejects.toThrow(
      /the stored plan of rollout api-cccccccccccc-1 is corrupt: plan\.steps\[0\]\.percent/,
    );
    expect(w.run.writes).toEqual([]);
  });

  it('stops (HTTP 409) a call from an execution that does not drive the rollout', async () => {
    const w = await started();
    await expect(deploy(w.deps, ID, REGION, 'e7')).rejects.toThrow(RolloutStopped);
    expect(w.run.writes).toEqual([]);
  });
});

describe('smoke', () => {
  it('passes on the first expected status, calling the tag URL with a token for the service URL', async () => {
    const w = await started();
    await deploy(w.deps, ID, REGION, 'e1');
    w.probeAnswers = [503, new Error('socket hang up'), 200];
    expect(await smoke(w.deps, ID, REGION, 'e1')).toEqual({
      passed: true,
      reason: 'GET /health answered 200 on attempt 3',
    });
    expect(w.probed).toEqual([`${TAG_URL}/health`, `${TAG_URL}/health`, `${TAG_URL}/health`]);
    expect((await region(w)).status).toBe('SHIFTING');
  });

  it('fails after its attempts with every answer named, and moves no traffic', async () => {
    const w = await started();
    await deploy(w.deps, ID, REGION, 'e1');
    w.probeAnswers = [500, new Error('socket hang up'), 404];
    expect(await smoke(w.deps, ID, REGION, 'e1')).toEqual({
      passed: false,
      reason: 'smoke test failed: GET /health expected 200, got 500, socket hang up, 404 in 3 attempts',
    });
    expect(w.run.writes).toHaveLength(1); // the deploy's, at 0%
    expect((await region(w)).status).toBe('SMOKE');
  });
});

describe('shift', () => {
  it('gives the candidate the step’s share and the stable the rest', async () => {
    const w = await atFirstStep();
    expect(lastWrite(w)).toEqual([
      { type: 'REVISION', revision: STABLE, percent: 90 },
      { type: 'REVISION', revision: CANDIDATE, percent: 10, tag: TAG },
    ]);
    expect(await region(w)).toMatchObject({ traffic: { [STABLE]: 90, [CANDIDATE]: 10 } });
    await shift(w.deps, ID, REGION, 1, 'e1');
    expect(lastWrite(w)).toEqual([
      { type: 'REVISION', revision: STABLE, percent: 50 },
      { type: 'REVISION', revision: CANDIDATE, percent: 50, tag: TAG },
    ]);
  });

  it('keeps a step’s start when retried, so the analysis window never shrinks', async () => {
    const w = await atFirstStep();
    const first = (await region(w)).steps[0].startedAt;
    w.tick(90);
    await shift(w.deps, ID, REGION, 0, 'e1');
    expect((await region(w)).steps[0].startedAt).toBe(first);
  });

  it('refuses a step the plan does not have', async () => {
    const w = await atFirstStep();
    await expect(shift(w.deps, ID, REGION, 2, 'e1')).rejects.toThrow('step: expected 0–1, got 2');
  });

  it('never writes once the rollout has lost its lease between the read and the write', async () => {
    const w = await atFirstStep();
    const writes = w.run.writes.length;
    w.run.beforeWrite = async () => {
      w.run.beforeWrite = undefined;
      await w.store.admit({
        rollout: {
          id: OTHER,
          service: 'api',
          project: PROJECT,
          image: 'img',
          digest: OTHER_DIGEST,
          source: 'gcr',
          plan: {},
        },
        dedupKey: 'other',
        onNewImage: 'supersede',
        now: w.now(),
        dedupTtlSeconds: 60,
      });
    };
    await expect(shift(w.deps, ID, REGION, 1, 'e1')).rejects.toThrow(
      new RolloutStopped(`rollout ${ID} is SUPERSEDED`),
    );
    expect(w.run.writes).toHaveLength(writes);
  });
});

describe('analyze', () => {
  it('WATCHes while no minute of data is visible yet (Monitoring’s 180 s delay)', async () => {
    const w = await atFirstStep();
    w.profiles[CANDIDATE] = { perMinute: 1000, errorRate: 0.5 };
    w.profiles[STABLE] = { perMinute: 9000, errorRate: 0 };
    w.tick(170);
    const look = await analyze(w.deps, ID, REGION, 0, 'e1');
    expect(look).toMatchObject({ verdict: 'WATCH', judged: 'INCONCLUSIVE' });
  });

  it('FAILs at the first look whose data shows the candidate’s 5xx far above the stable’s', async () => {
    const w = await atFirstStep();
    w.profiles[CANDIDATE] = { perMinute: 1000, errorRate: 0.2 };
    w.profiles[STABLE] = { perMinute: 9000, errorRate: 0 };
    w.tick(240);
    const look = await analyze(w.deps, ID, REGION, 0, 'e1');
    expect(look.verdict).toBe('FAIL');
    expect(look.reasons.join('; ')).toMatch(/5xx 20\.0% vs stable 0\.0%/);
    expect((await region(w)).steps[0]).toMatchObject({ verdict: 'FAIL' });
    expect(w.looks.map((l) => [l.step, l.verdict])).toEqual([[0, 'FAIL']]);
  });

  it('WATCHes a healthy candidate until the bake ends, then PASSes', async () => {
    const w = await atFirstStep();
    w.profiles[CANDIDATE] = { perMinute: 1000, errorRate: 0 };
    w.profiles[STABLE] = { perMinute: 9000, errorRate: 0 };
    w.tick(240);
    expect(await analyze(w.deps, ID, REGION, 0, 'e1')).toMatchObject({ verdict: 'WATCH', judged: 'PASS' });
    w.tick(60); // 300 s: the bake's end
    expect(await analyze(w.deps, ID, REGION, 0, 'e1')).toMatchObject({ verdict: 'PASS', judged: 'PASS' });
    expect((await region(w)).steps[0]).toMatchObject({ verdict: 'PASS', passPointsTaken: 1 });
  });

  it('refuses to analyze a step that has not started', async () => {
    const w = await atFirstStep();
    await expect(analyze(w.deps, ID, REGION, 1, 'e1')).rejects.toThrow(
      `step 1 in ${REGION} has not started; shift first`,
    );
  });
});

describe('promote, rollback, complete, abort', () => {
  it('promotes: the candidate serves everything (through LATEST, being the latest revision), the slot is freed', async () => {
    const w = await atFirstStep();
    await promote(w.deps, ID, REGION, 'e1');
    expect(lastWrite(w)).toEqual([
      { type: 'LATEST', percent: 100 },
      { type: 'REVISION', revision: CANDIDATE, percent: 0, tag: TAG },
    ]);
    expect(await region(w)).toMatchObject({ status: 'PROMOTED', traffic: { [CANDIDATE]: 100 } });
    expect(await w.store.getService('api')).toMatchObject({
      candidates: {},
      lastGood: { [REGION]: CANDIDATE },
    });
  });

  it('rolls back to exactly the recorded split, the candidate’s tag gone, and tells Slack', async () => {
    const w = await atFirstStep();
    const slackBefore = w.slack.length;
    const out = await rollbackRegion(w.deps, ID, REGION, 'FAIL: 5xx 20%', { executionId: 'e1' });
    expect(out).toEqual({ traffic: { [STABLE]: 100 } });
    expect(lastWrite(w)).toEqual([{ type: 'REVISION', revision: STABLE, percent: 100 }]);
    expect(await region(w)).toMatchObject({ status: 'ROLLED_BACK', reason: 'FAIL: 5xx 20%' });
    expect((await w.store.getService('api'))?.candidates).toEqual({});
    expect(w.slack.length).toBe(slackBefore + 1);
  });

  it('leaves a promoted region alone unless told to include it, and ignores a stale execution', async () => {
    const w = await atFirstStep();
    await promote(w.deps, ID, REGION, 'e1');
    const writes = w.run.writes.length;
    await rollbackRegion(w.deps, ID, REGION, 'a later region failed');
    expect(w.run.writes).toHaveLength(writes);

    const v = await atFirstStep();
    const before = v.run.writes.length;
    await rollbackRegion(v.deps, ID, REGION, 'from a second execution', { executionId: 'e9' });
    expect(v.run.writes).toHaveLength(before);
    expect((await region(v)).status).toBe('SHIFTING');

    await rollbackRegion(w.deps, ID, REGION, 'promoted regions roll back too', { includePromoted: true });
    expect(lastWrite(w)).toEqual([{ type: 'REVISION', revision: STABLE, percent: 100 }]);
  });

  it('a promoted region rolled back (Roll back now, rollbackPromotedRegions) no longer names the candidate as last good', async () => {
    const w = await atFirstStep();
    await promote(w.deps, ID, REGION, 'e1');
    expect((await w.store.getService('api'))?.lastGood).toEqual({ [REGION]: CANDIDATE });
    await rollbackRegion(w.deps, ID, REGION, 'Roll back now', { includePromoted: true });
    expect((await w.store.getService('api'))?.lastGood).toEqual({ [REGION]: STABLE });
  });

  it('completes once and starts the queued rollout, which then holds the lease', async () => {
    const w = await atFirstStep();
    const queued = await admitQueued(w, OTHER, OTHER_DIGEST);
    expect(await complete(w.deps, ID, 'ROLLED_BACK', 'FAIL at 10%', 'e1')).toEqual({ status: 'ROLLED_BACK' });
    expect(w.started).toEqual([{ workflow: 'rollout', argument: queued.plan }]);
    expect(await w.store.getRollout(OTHER)).toMatchObject({ status: 'RUNNING' });
    expect(await w.store.getService('api')).toMatchObject({ activeRollout: OTHER, lastFailedDigest: DIGEST });
    expect(await complete(w.deps, ID, 'PROMOTED', 'retried', 'e1')).toEqual({ status: 'ROLLED_BACK' });
    expect(w.started).toHaveLength(1);
  });

  it('aborts: cancels the execution and takes every region it touched back to the recorded split', async () => {
    const w = await atFirstStep();
    const aborted = await abort(w.deps, ID, 'alice');
    expect(w.cancelled).toEqual([EXECUTION]);
    expect(aborted).toMatchObject({ status: 'ABORTED', outcomeReason: 'aborted by alice' });
    expect(aborted.regions[REGION]).toMatchObject({ status: 'ROLLED_BACK', traffic: { [STABLE]: 100 } });
    expect(lastWrite(w)).toEqual([{ type: 'REVISION', revision: STABLE, percent: 100 }]);
  });

  it("posts a stopped rollout's end once, with its report, as a completed one's", async () => {
    const w = await atFirstStep();
    const published: Array<{ id: string; html: string }> = [];
    const deps = {
      ...w.deps,
      reports: {
        publish: async (r: { id: string }, html: string) => {
          published.push({ id: r.id, html });
          return { url: `https://reports.example/${r.id}.html` };
        },
      },
    };
    const before = w.slack.length;
    await abort(deps, ID, 'alice');
    await abort(deps, ID, 'alice');
    // The region's rollback is told as before; the end once, though the abort came twice.
    const posted = w.slack
      .slice(before)
      .map((m) => JSON.stringify(m))
      .filter((m) => m.includes('ABORTED'));
    expect(posted).toHaveLength(1);
    expect(posted[0]).toContain(`rollout \`${ID}\` *ABORTED*: aborted by alice`);
    expect(posted[0]).toContain(`<https://reports.example/${ID}.html|Report: what the judge saw>`);
    expect(published.map((p) => p.id)).toEqual([ID]);
    expect(published[0].html).toContain('ABORTED');
  });
});
