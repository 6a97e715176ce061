/** The pure traffic plans of functions/domain/traffic.ts. */
import { promoted } from '../../../functions/domain/traffic';
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
