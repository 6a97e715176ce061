/** The judge's looks in Google's Firestore emulator: one document per look, read back oldest first and validated. */
import { Firestore } from '@google-cloud/firestore';
import { describeWithEmulators, testProjectId } from '../../helpers/emulators';
import { FirestoreLookStore } from '../../../functions/adapters/look-store';
import { lookRecord, MAX_POINTS } from '../../../functions/domain/looks';
import { SETTINGS } from '../../unit/analysis/helpers';

const minutes = (n: number) => ({
  revision: 'api-new',
  intervals: Array.from({ length: n }, (_, m) => ({
    startTime: new Date(Date.UTC(2026, 0, 1, 0, m)).toISOString(),
    endTime: new Date(Date.UTC(2026, 0, 1, 0, m + 1)).toISOString(),
    requests: { '2xx': 95, '5xx': 5 },
  })),
});

const look = (step: number, minute: number, n = 3) =>
  lookRecord({
    region: 'us-central1',
    step,
    percent: 10,
    at: new Date(Date.UTC(2026, 0, 1, 0, minute)),
    windowStart: new Date(Date.UTC(2026, 0, 1)),
    canary: minutes(n),
    settings: SETTINGS,
    judgement: { verdict: 'INCONCLUSIVE', reasons: ['too few requests'] },
  });

describeWithEmulators('FirestoreLookStore', () => {
  const db = new Firestore({ projectId: testProjectId(__filename) });
  const store = new FirestoreLookStore(db);
  afterAll(() => db.terminate());

  it('keeps each look in the rollout’s looks subcollection and lists them oldest first', async () => {
    await store.record('api-1', look(1, 9));
    await store.record('api-1', look(0, 4));
    await store.record('api-2', look(0, 1));
    const looks = await store.list('api-1');
    expect(looks.map((l) => [l.step, l.at])).toEqual([
      [0, '2026-01-01T00:04:00.000Z'],
      [1, '2026-01-01T00:09:00.000Z'],
    ]);
    expect(looks[0].canary.errors).toEqual([5, 5, 5]);
    expect((await db.doc('rollouts/api-1').get()).exists).toBe(false);
  });

  it('stores a look at its size bound (MAX_POINTS minutes kept of 5,000)', async () => {
    await store.record('api-3', look(0, 1, 5000));
    const [back] = await store.list('api-3');
    expect(back.canary.t).toHaveLength(MAX_POINTS);
  });

  it('refuses a corrupt look on read, naming the document and the field', async () => {
    await db.doc('rollouts/api-4/looks/bad').set({ ...look(0, 1), verdict: 'MAYBE' });
    await expect(store.list('api-4')).rejects.toThrow(/corrupt look api-4\/bad.*verdict/s);
  });
});
