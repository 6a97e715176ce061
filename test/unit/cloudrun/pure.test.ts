/** The pure rules behind the Cloud Run and Monitoring emulators. */
import { join } from 'node:path';
import {
  imageRepository,
  loadProfilesFile,
  lognormalSampler,
  lookupProfile,
  parseImageProfile,
  seededRandom,
  HEALTHY,
} from '../../../emulators/cloudrun/profiles';
import {
  resolveRoutes,
  validateRevisionName,
  validateTraffic,
  missingRevision,
  LATEST,
  REVISION,
} from '../../../emulators/cloudrun/traffic';
import { parseFilter } from '../../../emulators/monitoring/filter';
import {
  bucketBounds,
  histogramPercentile,
  latencyBucket,
  MetricStore,
} from '../../../emulators/monitoring/store';

describe('traffic validation', () => {
  const revisions = new Set(['api-1', 'api-2']);
  test('accepts a split that sums to 100 with unique tags', () => {
    expect(() =>
      validateTraffic(
        [
          { type: REVISION, revision: 'api-1', percent: 90 },
          { type: REVISION, revision: 'api-2', percent: 10, tag: 'canary' },
          { type: LATEST, percent: 0, tag: 'latest' },
        ],
        'api',
      ),
    ).not.toThrow();
  });
  test.each([
    [
      [{ type: REVISION, revision: 'api-1', percent: 99 }],
      'service.traffic: Traffic targets sum to 99, want 100',
    ],
    [
      [{ type: REVISION, revision: 'api-1', percent: 101 }],
      'service.traffic[0].percent: 101 is out of range; expected an integer from 0 to 100',
    ],
    [
      [{ percent: 100 }],
      'service.traffic[0].type: "TRAFFIC_TARGET_ALLOCATION_TYPE_UNSPECIFIED" is not allowed',
    ],
    [
      [
        { type: REVISION, revision: 'api-1', percent: 100, tag: 'x' },
        { type: REVISION, revision: 'api-2', percent: 0, tag: 'x' },
      ],
      'service.traffic[1].tag: Multiple definitions for "x"',
    ],
    [
      [{ type: REVISION, revision: 'api-1', percent: 100, tag: 'Bad_Tag' }],
      'service.traffic[0].tag: "Bad_Tag" is not a valid tag',
    ],
  ])('rejects %j', (traffic, message) => {
    expect(() => validateTraffic(traffic, 'api')).toThrow(message);
  });
  test("a target naming a missing revision is left to the operation, with Cloud Run's message", () => {
    expect(missingRevision([{ type: REVISION, revision: 'api-1', percent: 100 }], revisions)).toBeUndefined();
    expect(
      missingRevision(
        [
          { type: REVISION, revision: 'api-1', percent: 90 },
          { type: REVISION, revision: 'api-9', percent: 10 },
        ],
        revisions,
      ),
    ).toBe(
      "Revision 'api-9' does not exist or is deleted. Update all traffic to route to currently available revisions.",
    );
  });
  test('revision names must carry the service prefix', () => {
    expect(() => validateRevisionName('api-v2', 'api')).not.toThrow();
    expect(() => validateRevisionName('web-v2', 'api')).toThrow('"web-v2" must have prefix "api-"');
  });
  test('routes resolve LATEST and merge shares; 0% tags stay reachable', () => {
    const routes = resolveRoutes(
      [
        { type: LATEST, percent: 50 },
        { type: REVISION, revision: 'api-2', percent: 50, tag: 'b' },
        { type: REVISION, revision: 'api-1', percent: 0, tag: 'old' },
      ],
      'api-2',
    );
    expect(routes.weights).toEqual([{ revision: 'api-2', percent: 100 }]);
    expect([...routes.tags]).toEqual([
      ['b', 'api-2'],
      ['old', 'api-1'],
    ]);
  });
});

describe('image profiles', () => {
  test('lookup tries the exact reference, then the repository; unknown images are healthy', () => {
    const profiles = loadProfilesFile(join(__dirname, '../../fixtures/profiles.json'));
    expect(
      lookupProfile(profiles, 'us-docker.pkg.dev/test-project/apps/api:crash').service.startupFailure,
    ).toBe(true);
    expect(lookupProfile(profiles, 'us-docker.pkg.dev/test-project/apps/api:v9').service.latencyMs).toEqual({
      p50: 40,
      p99: 180,
    });
    expect(lookupProfile(profiles, 'other.io/x/y:1')).toBe(HEALTHY);
    expect(imageRepository('localhost:5000/a/b@sha256:' + 'f'.repeat(64))).toBe('localhost:5000/a/b');
  });
  test('bad profiles name the image, the field and what was expected', () => {
    expect(() => parseImageProfile('x.io/a/b', { errorRate: 2 })).toThrow(
      /profiles\["x.io\/a\/b"\]\.errorRate: .*<=1/,
    );
    expect(() => parseImageProfile('x.io/a/b', { latencyMs: { p50: 100, p99: 10 } })).toThrow(
      /latencyMs: p99 must be >= p50/,
    );
    expect(() => parseImageProfile('x.io/a/b', { errorrate: 0.1 })).toThrow(/errorrate/);
  });
  test('the lognormal sampler reproduces p50 and p99', () => {
    const sample = lognormalSampler({ p50: 50, p99: 400 }, seededRandom(3));
    const xs = Array.from({ length: 20000 }, sample).sort((a, b) => a - b);
    expect(xs[10000]).toBeGreaterThan(47);
    expect(xs[10000]).toBeLessThan(53);
    expect(xs[19800]).toBeGreaterThan(360);
    expect(xs[19800]).toBeLessThan(440);
  });
});

/** The resource labels of one Cloud Run revision, for the Monitoring emulator's store. */
const labels = {
  project_id: 'p',
  service_name: 's',
  revision_name: 'r',
  location: 'l',
  configuration_name: 's',
};

describe('monitoring filter and store', () => {
  test('parses AND-joined equality clauses and rejects anything else', () => {
    expect(
      parseFilter(
        'metric.type = "a/b" AND resource.labels.revision_name="r-1" AND metric.label.response_code_class = "5xx"',
      ),
    ).toEqual([
      { selector: { kind: 'metric.type' }, value: 'a/b' },
      { selector: { kind: 'resource.label', key: 'revision_name' }, value: 'r-1' },
      { selector: { kind: 'metric.label', key: 'response_code_class' }, value: '5xx' },
    ]);
    expect(() => parseFilter('metric.type != "a"')).toThrow(/position 12 .*expected the operator =/);
    expect(() => parseFilter('resource.labels.service_name = "x"')).toThrow(
      /must specify a metric.type clause/,
    );
    expect(() => parseFilter('metric.type = starts_with("run")')).toThrow(/expected a double-quoted string/);
  });
  test('bucket bounds contain their values, and percentiles stay inside the right bucket', () => {
    for (const ms of [0.005, 0.01, 1, 37.5, 1000, 1e9]) {
      const [lower, upper] = bucketBounds(latencyBucket(ms));
      expect(ms).toBeGreaterThanOrEqual(lower);
      expect(ms).toBeLessThan(upper);
    }
    const store = new MetricStore({ ingestionDelayMs: 0, now: () => 0 });
    store.inject({
      revision: labels,
      responseCode: 200,
      atMs: 0,
      latenciesMs: Array.from({ length: 100 }, (_, i) => i + 1),
    });
    const [series] = store.query({
      projects: ['p'],
      clauses: parseFilter('metric.type = "run.googleapis.com/request_latencies"'),
      startMs: 0,
      endMs: 60_000,
      alignmentSeconds: 60,
      aligner: 'ALIGN_PERCENTILE_99',
      reducer: 'REDUCE_NONE',
      groupByFields: [],
      headersOnly: false,
    }) as { points: { value: { doubleValue: number } }[] }[];
    const p99 = series.points[0].value.doubleValue;
    const [lower, upper] = bucketBounds(latencyBucket(99));
    expect(p99).toBeGreaterThanOrEqual(lower);
    expect(p99).toBeLessThan(upper);
    expect(histogramPercentile({ count: 0, sum: 0, sumOfSquares: 0, bucketCounts: [] }, 50)).toBe(0);
  });
});

describe('Monitoring emulator: sampling and ingestion delay', () => {
  // Cloud Run's request metrics: "Sampled every 60 seconds. After sampling, data is not visible
  // for up to 180 seconds." A write is visible 180 s after the end of its sampling period.
  const countAt = (
    nowMs: number,
    writes: number[],
    timing = { ingestionDelayMs: 180_000, samplePeriodMs: 60_000 },
  ) => {
    let clock = 0;
    const store = new MetricStore({ ...timing, now: () => clock });
    for (const at of writes) {
      clock = at;
      store.recordRequest(labels, 200, 5, at);
    }
    clock = nowMs;
    const series = store.query({
      projects: ['p'],
      clauses: parseFilter('metric.type = "run.googleapis.com/request_count"'),
      startMs: 0,
      endMs: 600_000,
      alignmentSeconds: 60,
      aligner: 'ALIGN_DELTA',
      reducer: 'REDUCE_SUM',
      groupByFields: [],
      headersOnly: false,
    }) as { points: { value: { int64Value: string } }[] }[];
    return series.flatMap((s) => s.points).reduce((a, p) => a + Number(p.value.int64Value), 0);
  };

  test('a request is visible 180 s after the end of the minute it was sampled in, not before', () => {
    expect(countAt(239_999, [10_000, 59_999])).toBe(0);
    expect(countAt(240_000, [10_000, 59_999])).toBe(2);
    // The next sampling period waits for its own end.
    expect(countAt(240_000, [10_000, 60_000])).toBe(1);
    expect(countAt(300_000, [10_000, 60_000])).toBe(2);
  });

  test('sped up, a second that straddles two samples becomes visible part by part (found by the e2e suite)', () => {
    // At 40×: sampled every 1.5 s, visible 4.5 s later. Second 1 holds writes of two samples.
    const sped = { ingestionDelayMs: 4_500, samplePeriodMs: 1_500 };
    expect(countAt(5_999, [1_000, 1_600], sped)).toBe(0);
    expect(countAt(6_000, [1_000, 1_600], sped)).toBe(1);
    expect(countAt(7_500, [1_000, 1_600], sped)).toBe(2);
  });
});
