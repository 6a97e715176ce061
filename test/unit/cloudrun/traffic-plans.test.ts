/** The pure traffic plans of functions/domain/traffic.ts: every function, with the expected lists written out. */
import {
  composeTraffic,
  promoted,
  restored,
  servingSplit,
  shifted,
  stableRevision,
  trafficMap,
  withCandidateAtZero,
} from '../../../functions/domain/traffic';
import type { ServiceSnapshot, TrafficTarget } from '../../../functions/ports';

function snapshot(traffic: TrafficTarget[], latest: { ready: string; created: string }): ServiceSnapshot {
  return {
    ref: { project: 'p', region: 'us-central1', service: 'api' },
    etag: '"e"',
    generation: 3,
    image: 'img',
    latestReadyRevision: latest.ready,
    latestCreatedRevision: latest.created,
    traffic,
    tagUrls: {},
  };
}

const DURING = [
  { type: 'REVISION', revision: 'api-00001-abc', percent: 50 },
  { type: 'REVISION', revision: 'api-cand', percent: 50, tag: 'gp-cand' },
  { type: 'REVISION', revision: 'api-00001-abc', percent: 0, tag: 'blue' },
] as TrafficTarget[];

describe('promoted', () => {
  it('hands the traffic to LATEST when the candidate is the latest revision, keeping every tag pinned', () => {
    expect(
      promoted(snapshot(DURING, { ready: 'api-cand', created: 'api-cand' }), 'api-cand', 'gp-cand'),
    ).toEqual([
      { type: 'LATEST', percent: 100 },
      { type: 'REVISION', revision: 'api-00001-abc', percent: 0, tag: 'blue' },
      { type: 'REVISION', revision: 'api-cand', percent: 0, tag: 'gp-cand' },
    ]);
  });

  it.each([
    ['a newer revision is being created', { ready: 'api-cand', created: 'api-00003-new' }],
    ['a newer revision is ready', { ready: 'api-00003-new', created: 'api-00003-new' }],
  ])('pins the candidate by name when %s: LATEST would serve an unjudged revision', (_, latest) => {
    expect(promoted(snapshot(DURING, latest), 'api-cand', 'gp-cand')).toEqual([
      { type: 'REVISION', revision: 'api-cand', percent: 100, tag: 'gp-cand' },
      { type: 'REVISION', revision: 'api-00001-abc', percent: 0, tag: 'blue' },
    ]);
  });
});

/** A service split 70/30 between two revisions, LATEST among them, with a user tag and an old Glidepath tag. */
const SPLIT = [
  { type: 'LATEST', percent: 70 },
  { type: 'REVISION', revision: 'api-00001-abc', percent: 30 },
  { type: 'REVISION', revision: 'api-00001-abc', percent: 0, tag: 'blue' },
  { type: 'REVISION', revision: 'api-old-cand', percent: 0, tag: 'gp-old' },
] as TrafficTarget[];
const LATEST = { ready: 'api-00002-def', created: 'api-00002-def' };

describe('servingSplit and stableRevision', () => {
  it('resolves LATEST to the latest ready revision, sums shares per revision and drops 0% targets', () => {
    const split = servingSplit(snapshot(SPLIT, LATEST));
    expect(split).toEqual([
      { revision: 'api-00002-def', percent: 70 },
      { revision: 'api-00001-abc', percent: 30 },
    ]);
    expect(stableRevision(split)).toBe('api-00002-def');
    expect(stableRevision([])).toBeUndefined();
  });

  it('adds up two targets of the same revision', () => {
    const twice = [
      { type: 'REVISION', revision: 'api-00001-abc', percent: 40 },
      { type: 'LATEST', percent: 60 },
    ] as TrafficTarget[];
    expect(servingSplit(snapshot(twice, { ready: 'api-00001-abc', created: 'api-00001-abc' }))).toEqual([
      { revision: 'api-00001-abc', percent: 100 },
    ]);
  });
});

describe('composeTraffic', () => {
  it('refuses shares that do not sum to 100, naming the sum', () => {
    expect(() => composeTraffic([{ revision: 'a', percent: 60 }], [])).toThrow(
      'traffic must sum to 100, got 60 ([{"revision":"a","percent":60}])',
    );
  });

  it('rides a tag on its revision’s share and keeps a tag of a revision that no longer serves at 0%', () => {
    expect(
      composeTraffic(
        [{ revision: 'a', percent: 100 }],
        [
          { revision: 'a', tag: 'green' },
          { revision: 'b', tag: 'blue' },
        ],
      ),
    ).toEqual([
      { type: 'REVISION', revision: 'a', percent: 100, tag: 'green' },
      { type: 'REVISION', revision: 'b', percent: 0, tag: 'blue' },
    ]);
  });
});

describe('withCandidateAtZero, shifted, restored', () => {
  it('deploy: pins today’s split by name, keeps the user’s tags, drops old Glidepath tags, adds the candidate at 0%', () => {
    expect(withCandidateAtZero(snapshot(SPLIT, LATEST), 'api-cand', 'gp-cand')).toEqual([
      { type: 'REVISION', revision: 'api-00002-def', percent: 70 },
      { type: 'REVISION', revision: 'api-00001-abc', percent: 30, tag: 'blue' },
      { type: 'REVISION', revision: 'api-cand', percent: 0, tag: 'gp-cand' },
    ]);
  });

  it('shift: the candidate takes its share, the stable the rest, other revisions stop serving', () => {
    expect(shifted(snapshot(SPLIT, LATEST), 'api-00002-def', 'api-cand', 'gp-cand', 25)).toEqual([
      { type: 'REVISION', revision: 'api-00002-def', percent: 75 },
      { type: 'REVISION', revision: 'api-cand', percent: 25, tag: 'gp-cand' },
      { type: 'REVISION', revision: 'api-00001-abc', percent: 0, tag: 'blue' },
    ]);
    expect(shifted(snapshot(SPLIT, LATEST), 'api-00002-def', 'api-cand', 'gp-cand', 100)).toEqual([
      { type: 'REVISION', revision: 'api-cand', percent: 100, tag: 'gp-cand' },
      { type: 'REVISION', revision: 'api-00001-abc', percent: 0, tag: 'blue' },
    ]);
  });

  it('rollback: exactly the recorded split, the user’s tags kept, every Glidepath tag gone', () => {
    expect(
      restored(snapshot(DURING, { ready: 'api-cand', created: 'api-cand' }), [
        { revision: 'api-00002-def', percent: 70 },
        { revision: 'api-00001-abc', percent: 30 },
      ]),
    ).toEqual([
      { type: 'REVISION', revision: 'api-00002-def', percent: 70 },
      { type: 'REVISION', revision: 'api-00001-abc', percent: 30, tag: 'blue' },
    ]);
  });
});

describe('trafficMap', () => {
  it('counts what serves, per revision, with LATEST resolved; 0% tags do not serve', () => {
    expect(trafficMap(SPLIT, 'api-00002-def')).toEqual({ 'api-00002-def': 70, 'api-00001-abc': 30 });
    expect(trafficMap([{ type: 'LATEST', percent: 100 }])).toEqual({});
  });
});
