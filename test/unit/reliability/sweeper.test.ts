/**
 * The sweeper use case (functions/usecases/sweep.ts), fast: the in-memory
 * store and the small Cloud Run of test/helpers/fast-rollout.ts. A rollout
 * that no live execution drives is brought back to its recorded split and
 * ended; a live one is left alone. (Its decision alone: sweep.test.ts.)
 */
import { DEFAULT_SWEEP_SETTINGS } from '../../../functions/domain/sweep';
import { deploy, promote, shift, smoke } from '../../../functions/usecases/rollout';
import { sweep, type SweepDeps } from '../../../functions/usecases/sweep';
import {
  admitRunning,
  EXECUTION,
  REGION,
  serveStable,
  STABLE,
  world,
  ID,
  CANDIDATE,
  lastWrite,
  type World,
} from '../../helpers/fast-rollout';

function sweepDeps(w: World, flushed: number[] = []): SweepDeps {
  return {
    ...w.deps,
    outbox: { flush: async () => (flushed.push(1), { delivered: 2, pending: 0 }) },
    settings: DEFAULT_SWEEP_SETTINGS,
  };
}

/** A rollout at 10% in its region, its execution in `state`. */
async function shiftedRollout(state: 'ACTIVE' | 'FAILED' | 'MISSING'): Promise<World> {
  const w = world();
  serveStable(w);
  await admitRunning(w, ID);
  await deploy(w.deps, ID, REGION, 'e1');
  await smoke(w.deps, ID, REGION, 'e1');
  await shift(w.deps, ID, REGION, 0, 'e1');
  w.executions.set(EXECUTION, { state, ...(state === 'FAILED' ? { error: 'step analyze: HTTP 500' } : {}) });
  return w;
}

describe('the sweeper', () => {
  it('takes a rollout whose execution failed back to the recorded split, ends it FAILED and frees the service', async () => {
    const w = await shiftedRollout('FAILED');
    const flushed: number[] = [];
    const report = await sweep(sweepDeps(w, flushed));
    expect(report.recovered).toEqual([
      {
        rolloutId: ID,
        service: 'api',
        regions: [REGION],
        reason: `workflow execution ${EXECUTION} is FAILED (step analyze: HTTP 500) but rollout ${ID} is RUNNING and still holds api`,
      },
    ]);
    expect(report.errors).toEqual([]);
    expect(lastWrite(w)).toEqual([{ type: 'REVISION', revision: STABLE, percent: 100 }]);
    const rollout = (await w.store.getRollout(ID))!;
    expect(rollout.status).toBe('FAILED');
    expect(rollout.outcomeReason).toMatch(/^recovered by the sweeper: workflow execution .* is FAILED/);
    expect(rollout.regions[REGION]).toMatchObject({ status: 'ROLLED_BACK', traffic: { [STABLE]: 100 } });
    expect(await w.store.getService('api')).toMatchObject({ activeRollout: null, candidates: {} });
    expect(w.cancelled).toEqual([]); // it had ended already
    expect(report.outbox).toEqual({ delivered: 2, pending: 0 });
    expect(flushed).toHaveLength(1);
  });

  it('leaves a rollout alone while its execution is active and its heartbeat fresh', async () => {
    const w = await shiftedRollout('ACTIVE');
    const writes = w.run.writes.length;
    w.tick(1200); // under the 300 s bake + 15 s + 15 min grace
    const report = await sweep(sweepDeps(w));
    expect(report).toMatchObject({ checked: 1, recovered: [], errors: [] });
    expect(w.run.writes).toHaveLength(writes);
    expect((await w.store.getRollout(ID))?.status).toBe('RUNNING');
  });

  it('cancels a silent execution and rolls its region back', async () => {
    const w = await shiftedRollout('ACTIVE');
    w.tick(1216); // just over the limit
    const report = await sweep(sweepDeps(w));
    expect(report.recovered.map((r) => r.reason)).toEqual([
      `no heartbeat from workflow execution ${EXECUTION} for 20m (limit 20m)`,
    ]);
    expect(w.cancelled).toEqual([EXECUTION]);
    expect(lastWrite(w)).toEqual([{ type: 'REVISION', revision: STABLE, percent: 100 }]);
  });

  it('leaves a promoted region promoted when the plan does not roll promoted regions back', async () => {
    const w = await shiftedRollout('MISSING');
    await promote(w.deps, ID, REGION, 'e1');
    const writes = w.run.writes.length;
    const report = await sweep(sweepDeps(w));
    expect(report.recovered).toEqual([expect.objectContaining({ rolloutId: ID, regions: [] })]);
    expect(w.run.writes).toHaveLength(writes);
    expect((await w.store.getRollout(ID))!.regions[REGION].status).toBe('PROMOTED');
    expect((await w.store.getRollout(ID))!.status).toBe('FAILED');
  });

  it('rolls back the regions of a rollout whose stored plan is corrupt, naming the field', async () => {
    const w = await shiftedRollout('ACTIVE');
    const stored = (await w.store.getRollout(ID))!;
    w.store.put({ ...stored, plan: { ...stored.plan, waves: [] } });
    const report = await sweep(sweepDeps(w));
    expect(report.recovered).toEqual([
      expect.objectContaining({
        regions: [REGION],
        reason: expect.stringMatching(
          /^the stored plan of rollout api-cccccccccccc-1 is corrupt: plan\.waves/,
        ),
      }),
    ]);
    expect(w.cancelled).toEqual([EXECUTION]);
    expect(lastWrite(w)).toEqual([{ type: 'REVISION', revision: STABLE, percent: 100 }]);
    expect(CANDIDATE in ((await w.store.getRollout(ID))!.regions[REGION].traffic ?? {})).toBe(false);
  });

  it('reports a rollout it could not recover and still flushes the outbox', async () => {
    const w = await shiftedRollout('FAILED');
    w.run.beforeWrite = async () => {
      throw new Error('Cloud Run is unavailable');
    };
    const flushed: number[] = [];
    const report = await sweep(sweepDeps(w, flushed));
    expect(report.recovered).toEqual([]);
    expect(report.errors).toEqual([{ rolloutId: ID, error: 'Cloud Run is unavailable' }]);
    expect(flushed).toHaveLength(1);
    expect((await w.store.getRollout(ID))?.status).toBe('RUNNING');
  });
});
